//! Properties of flow expressions: compiling and evaluating arbitrary text never panics, and
//! on generated well-formed expressions the native evaluator agrees with the embedded
//! JavaScript engine (QuickJS) on `String(value)`, truthiness and `typeof`, for arbitrary
//! variable values.

mod expr_support;

use expr_support::TestEnv;
use proptest::prelude::*;
use rustflow_engine::expr::Expression;

/// 256 cases (a few seconds); `PROPTEST_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Variable values: numbers in JavaScript's many spellings, whitespace, Unicode, anything.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "",
                "0",
                "-0",
                "1",
                "10",
                "9",
                "-2.5",
                "0.5",
                ".5",
                "5.",
                "1e3",
                "1e21",
                "1e-7",
                "0x1A",
                "0b11",
                "0o7",
                "Infinity",
                "-Infinity",
                "NaN",
                "undefined",
                "null",
                "true",
                " 12 ",
                "\u{a0}12\u{feff}",
                "\t\n",
                "1_000",
                "12abc",
                "abc",
                "a|b|c",
                "a,b,c",
                "Так",
                "😀x",
                "é",
                "ß",
                "İ",
                "ǅ",
                "\u{2028}",
                "nul\0byte",
                "${x}",
                "\"'\\",
                "9007199254740993",
                "123456789012345680000",
                "4.35",
                "0.1",
            ][..]
        )
        .prop_map(String::from),
        "[ 0-9.eE+-]{0,6}",
        "[a-cA-C|, ]{0,6}",
        any::<String>(),
    ]
}

fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..20).prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        prop::sample::select(&["0.1", "0.2", "1e21", "1e-7", "0x1A", "2.5", "1000000"][..])
            .prop_map(String::from),
    ]
}

fn string_literal() -> impl Strategy<Value = String> {
    "[a-cA-C0-9|,. ]{0,4}".prop_map(|s| format!("'{s}'"))
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(&["${x}", "${y}"][..]).prop_map(String::from),
        2 => number_literal(),
        2 => string_literal(),
        1 => prop::sample::select(
            &["true", "false", "null", "undefined", "NaN", "Infinity", "$1", "$${g}", "Math.PI"][..]
        )
        .prop_map(String::from),
    ]
}

const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "**", "==", "===", "!=", "!==", "<", ">", "<=", ">=", "&&", "||", "??",
];

const STRING_METHODS: &[&str] = &[
    ".length",
    ".toLowerCase()",
    ".toUpperCase()",
    ".trim()",
    ".trimStart()",
    ".trimEnd()",
    ".toString()",
];

const STRING_METHODS_1: &[&str] = &[
    ".indexOf",
    ".lastIndexOf",
    ".includes",
    ".startsWith",
    ".endsWith",
    ".concat",
    ".split",
];

const INDEX_METHODS_2: &[&str] = &[".substring", ".substr", ".slice"];

const FUNCTIONS: &[&str] = &[
    "parseInt",
    "parseFloat",
    "Number",
    "String",
    "Boolean",
    "isNaN",
    "isFinite",
    "Math.abs",
    "Math.floor",
    "Math.ceil",
    "Math.round",
    "Math.trunc",
    "Math.sign",
    "Math.sqrt",
];

const REGEX_TESTS: &[&str] = &[
    "/^[0-9]+$/.test",
    "/^\\d{3,}$/.test",
    "/yes|так/i.test",
    "/\\s/.test",
    "/^.$/.test",
    "/[a-c\\d]+/.test",
];

/// A well-formed expression (parenthesised where precedence would change its meaning).
fn expression() -> impl Strategy<Value = String> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let small = number_literal().boxed();
        prop_oneof![
            (inner.clone(), prop::sample::select(BINARY), inner.clone())
                .prop_map(|(a, op, b)| format!("({a}) {op} ({b})")),
            (
                prop::sample::select(&["!", "-", "+", "typeof "][..]),
                inner.clone()
            )
                .prop_map(|(op, a)| format!("{op}({a})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("({c}) ? ({a}) : ({b})")),
            (inner.clone(), prop::sample::select(STRING_METHODS))
                .prop_map(|(a, m)| format!("String({a}){m}")),
            (
                inner.clone(),
                prop::sample::select(STRING_METHODS_1),
                inner.clone()
            )
                .prop_map(|(a, m, b)| format!("String({a}){m}(String({b}))")),
            (
                inner.clone(),
                prop::sample::select(INDEX_METHODS_2),
                small.clone(),
                small.clone()
            )
                .prop_map(|(a, m, i, j)| format!("String({a}){m}({i}, {j})")),
            (
                inner.clone(),
                prop::sample::select(&[".charAt", ".charCodeAt"][..]),
                small.clone()
            )
                .prop_map(|(a, m, i)| format!("String({a}){m}({i})")),
            (inner.clone(), string_literal(), small.clone())
                .prop_map(|(a, sep, i)| format!("String({a}).split({sep})[{i}]")),
            (inner.clone(), string_literal(), string_literal())
                .prop_map(|(a, sep, with)| format!("String({a}).split({sep}).join({with})")),
            (inner.clone(), small).prop_map(|(a, i)| format!("String({a})[{i}]")),
            (prop::sample::select(FUNCTIONS), inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            (
                prop::sample::select(&["Math.max", "Math.min", "Math.pow"][..]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            (prop::sample::select(REGEX_TESTS), inner).prop_map(|(r, a)| format!("{r}({a})")),
        ]
    })
}

fn env(x: &str, y: &str) -> TestEnv {
    let mut env = TestEnv::new().var("x", x).var("y", y);
    env.args = vec!["7".into()];
    env.globals.insert("g".into(), "1".into());
    env
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_never_panics(source in prop_oneof![
        any::<String>(),
        prop::collection::vec(prop_oneof![
            expression(),
            prop::sample::select(&["${", "$${", "}", "$", "&", "(", ")", "'", "\"", "`", "/", "\\", "&mday(", "${x", "//", "/*", "."][..]).prop_map(String::from),
        ], 0..6).prop_map(|p| p.concat()),
    ], x in value()) {
        if let Ok(expr) = Expression::compile(&source) {
            let mut env = env(&x, &x);
            let _ = expr.eval_string(&mut env);
            let _ = expr.eval_bool(&mut env);
        }
    }

    #[test]
    fn native_evaluation_agrees_with_quickjs(source in expression(), x in value(), y in value()) {
        // Some generated text is still not JavaScript (`-a ** b`): both refuse it at load.
        let Ok(expr) = Expression::compile(&source) else { return Ok(()) };
        let mut env = env(&x, &y);
        prop_assert_eq!(
            expr.eval_string(&mut env),
            expr.eval_string_on_engine(&mut env),
            "String({}) with x={:?} y={:?}", source, x, y
        );
        prop_assert_eq!(
            expr.eval_bool(&mut env),
            expr.eval_bool_on_engine(&mut env),
            "!!({}) with x={:?} y={:?}", source, x, y
        );
        let typed = Expression::compile(&format!("typeof ({source})")).unwrap();
        prop_assert_eq!(
            typed.eval_string(&mut env),
            typed.eval_string_on_engine(&mut env),
            "typeof ({}) with x={:?} y={:?}", source, x, y
        );
    }
}
