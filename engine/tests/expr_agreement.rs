//! Native evaluation agrees with the embedded JavaScript engine: every expression of the
//! table is evaluated both ways, for several variable sets, and compared by `typeof`,
//! `String(value)` and truthiness.

mod expr_support;

use expr_support::TestEnv;
use rustflow_engine::expr::Expression;

/// Expressions that must compile to the native form.
const NATIVE: &[&str] = &[
    r#"${x} == "1""#,
    r#"${x} === "1""#,
    r#"${x} != '' && ${y} != ''"#,
    r#"${x} == 1"#,
    r#"${x} === 1"#,
    r#"${x} > ${y}"#,
    r#"${x} < ${y}"#,
    r#"${x} >= 9"#,
    r#"${x} <= "9""#,
    r#""10" > "9""#,
    r#""10" > 9"#,
    r#"null == undefined"#,
    r#"null === undefined"#,
    r#"NaN == NaN"#,
    r#"${x} * 1 == ${x}"#,
    r#"+${x} + 1"#,
    r#"${x} + 1"#,
    r#"${x} - 1"#,
    r#"${x} / ${y}"#,
    r#"${x} % 3"#,
    r#"-${x} % 3"#,
    r#"2 ** 10"#,
    r#"${x} ** 0.5"#,
    r#"!${x}"#,
    r#"!!${x}"#,
    r#"${x} || "default""#,
    r#"${x} && ${y}"#,
    r#"${x} ?? "n""#,
    r#"${x} ? "yes" : "no""#,
    r#"${x} == "" ? 0 : ${x}.length > 3 ? 2 : 1"#,
    r#"${x}.length"#,
    r#"${x}.length > 3"#,
    r#"${x}.indexOf("a")"#,
    r#"${x}.indexOf("a", 2)"#,
    r#"${x}.lastIndexOf("a")"#,
    r#"${x}.indexOf('a') > -1"#,
    r#"${x}.toLowerCase() == "yes""#,
    r#"${x}.toUpperCase()"#,
    r#"${x}.startsWith("+38")"#,
    r#"${x}.endsWith("0")"#,
    r#"${x}.includes("|")"#,
    r#"${x}.substring(1, 3)"#,
    r#"${x}.substring(3, 1)"#,
    r#"${x}.substr(-3)"#,
    r#"${x}.substr(1, 2)"#,
    r#"${x}.slice(-10)"#,
    r#"${x}.slice(2, -1)"#,
    r#"${x}.trim()"#,
    r#"${x}.trim() == """#,
    r#"${x}.trimStart().length"#,
    r#"${x}.charAt(0)"#,
    r#"${x}.charCodeAt(0)"#,
    r#"${x}[0]"#,
    r#"${x}[1] == "b""#,
    r#"${x}.split("|").length"#,
    r#"${x}.split("|")[0]"#,
    r#"${x}.split("|")[1]"#,
    r#"${x}.split("")"#,
    r#"${x}.split(",", 2).join(";")"#,
    r#"${x}.split(",").includes("b")"#,
    r#"${x}.split(",").indexOf("c")"#,
    r#"${x}.concat("-", ${y})"#,
    r#"/^[0-9]+$/.test(${x})"#,
    r#"/^\d{3,}$/.test(${x})"#,
    r#"/yes|так|да/i.test(${x})"#,
    r#"/\s/.test(${x})"#,
    r#"/^.$/.test(${x})"#,
    r#"/\bcat\b/.test(${x})"#,
    r#"/[a-c\d]+/.test(${x})"#,
    r#"/^\w+@\w+\.\w+$/.test(${x})"#,
    r#"parseInt(${x})"#,
    r#"parseInt(${x}, 16)"#,
    r#"parseInt(${x}) > 5"#,
    r#"parseFloat(${x})"#,
    r#"Number(${x})"#,
    r#"Number(${x}) > 100"#,
    r#"String(${x} == 1)"#,
    r#"Boolean(${x})"#,
    r#"isNaN(${x})"#,
    r#"isFinite(${x})"#,
    r#"Math.floor(${x})"#,
    r#"Math.round(${x})"#,
    r#"Math.ceil(${x} / 2)"#,
    r#"Math.abs(${x})"#,
    r#"Math.max(${x}, ${y}, 3)"#,
    r#"Math.min(${x}, ${y})"#,
    r#"Math.pow(${x}, 2)"#,
    r#"Math.sqrt(${x})"#,
    r#"Math.trunc(${x})"#,
    r#"Math.sign(${x})"#,
    r#"Math.PI * 2"#,
    r#"typeof ${x}"#,
    r#"typeof ${x}.split(",")"#,
    r#"${x} + ${y}"#,
    r#"${x} - ${y}"#,
    r#"${x} + 0.1 + 0.2"#,
    r#"1e21 + ${x}"#,
    r#"${x} / 3"#,
    r#"1 / ${x}"#,
    r#"0.000001 * ${x}"#,
    r#"${x}.split(",") == ${y}"#,
    r#"$1 == "100""#,
    r#"$${g} == ${x}"#,
    r#"'${x}' == ${x}"#,
    r#""\u0041\x42\n" + ${x}"#,
    r#"0x1F + ${x}"#,
];

/// Expressions that go to the engine (outside the subset) but must still agree.
const ENGINE: &[&str] = &[
    r#"${x}.replace("a", "b")"#,
    r#"${x}.match(/a/) != null"#,
    r#"[${x}, ${y}].indexOf("b")"#,
    r#"(function () { return ${x} + "!"; })()"#,
    r#"${x}.split(/,\s*/).length"#,
    r#"/(a)\1/.test(${x})"#,
    r#"/^a/m.test(${x})"#,
    r#"`<${x}>`"#,
    r#"${x} | 0"#,
    r#"JSON.stringify({a: ${x}})"#,
];

/// Variable sets: `(x, y)`.
const VALUES: &[(&str, &str)] = &[
    ("", ""),
    ("1", "1"),
    ("10", "9"),
    ("9", "10"),
    ("abc", "b"),
    ("a|b|c", "x"),
    ("a,b,c", "a,b,c"),
    ("  yes ", "YES"),
    ("Так", "так"),
    ("0x1A", "1e3"),
    ("-2.5", "2.5"),
    ("0.5", "-0.5"),
    ("Infinity", "-Infinity"),
    ("NaN", "undefined"),
    ("+380441234567", "0"),
    ("😀x", "é"),
    ("\u{a0}12\u{feff}", "\t\n"),
    ("12abc", "1_000"),
    ("user@example.com", "cat dog"),
    ("catalog", " cat "),
    ("1e21", "123456789012345680000"),
    // halfway between two shortest forms (`+${x} + 1` prints …745.12, not …745.13)
    ("255710272925744.125", "684908567976417.25"),
    ("\"); process.exit(1); (\"", "${system ls}"),
    ("line\nbreak\u{2028}", "nul\0byte"),
];

fn check(source: &str, expect_native: bool) {
    let expr = Expression::compile(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    assert_eq!(
        expr.is_native(),
        expect_native,
        "{source}: native form expected {expect_native}"
    );
    let typed = Expression::compile(&format!("typeof ({source})")).unwrap();
    for (x, y) in VALUES {
        let mut env = TestEnv::new().var("x", x).var("y", y);
        env.args = vec!["flow".into(), "100".into()];
        env.globals.insert("g".into(), "1".into());
        let native_text = expr.eval_string(&mut env);
        let engine_text = expr.eval_string_on_engine(&mut env);
        assert_eq!(
            native_text, engine_text,
            "String({source}) with x={x:?} y={y:?}"
        );
        let native_bool = expr.eval_bool(&mut env);
        let engine_bool = expr.eval_bool_on_engine(&mut env);
        assert_eq!(
            native_bool, engine_bool,
            "!!({source}) with x={x:?} y={y:?}"
        );
        assert_eq!(
            typed.eval_string(&mut env),
            typed.eval_string_on_engine(&mut env),
            "typeof ({source}) with x={x:?} y={y:?}"
        );
    }
}

#[test]
fn native_subset_agrees_with_the_engine() {
    for source in NATIVE {
        check(source, true);
    }
}

#[test]
fn engine_only_expressions_still_evaluate() {
    for source in ENGINE {
        check(source, false);
    }
}

#[test]
fn javascript_coercion_rules() {
    let mut env = TestEnv::new();
    let cases: &[(&str, bool)] = &[
        (r#""10" > "9""#, false),
        (r#""10" > 9"#, true),
        (r#""1" == 1"#, true),
        (r#""1" === 1"#, false),
        (r#"NaN == NaN"#, false),
        (r#"null == undefined"#, true),
        (r#"null == 0"#, false),
        (r#""" == 0"#, true),
        (r#"" \n" == 0"#, true),
        (r#""0x10" == 16"#, true),
        (r#""abc" < "abd""#, true),
        (r#"undefined < 1"#, false),
        (r#"[] + [] === """#, true), // array literals: engine path
    ];
    for (source, expected) in cases {
        let e = Expression::compile(source).unwrap();
        assert_eq!(e.eval_bool(&mut env), Ok(*expected), "{source}");
    }
}

#[test]
fn variables_are_always_string_values() {
    let e = Expression::compile("${n} === 5").unwrap();
    let mut env = TestEnv::new().var("n", "5");
    assert_eq!(e.eval_bool(&mut env), Ok(false));
    let e = Expression::compile("${n} == 5").unwrap();
    assert_eq!(e.eval_bool(&mut env), Ok(true));
    let e = Expression::compile("${missing} === ''").unwrap();
    assert_eq!(e.eval_bool(&mut env), Ok(true));
    let e = Expression::compile("${n} + 1").unwrap();
    assert_eq!(e.eval_string(&mut env).as_deref(), Ok("51"));
    let e = Expression::compile("$3 === ''").unwrap();
    assert_eq!(e.eval_bool(&mut env), Ok(true));
}

#[test]
fn hostile_values_are_data() {
    let hostile = [
        "\"); process.exit(1); (\"",
        "'); throw 1; ('",
        "${system ls}",
        "$${secret}",
        "`${x}`",
        "a\nb\rc\u{2028}d\u{2029}e",
        "nul\0byte",
        "\\\"\\'\\\\",
        "</script><!--",
        "__rf_v[0]",
    ];
    let same = Expression::compile("${v} == ${w}").unwrap();
    let length = Expression::compile("${v}.length").unwrap();
    let on_engine = Expression::compile("(function(){ return ${v}; })()").unwrap();
    assert!(!on_engine.is_native());
    for value in hostile {
        let mut env = TestEnv::new().var("v", value).var("w", value);
        assert_eq!(same.eval_bool(&mut env), Ok(true), "{value:?}");
        assert_eq!(same.eval_bool_on_engine(&mut env), Ok(true), "{value:?}");
        let units = value.encode_utf16().count().to_string();
        assert_eq!(length.eval_string(&mut env).as_deref(), Ok(units.as_str()));
        assert_eq!(
            on_engine.eval_string(&mut env).as_deref(),
            Ok(value),
            "{value:?}"
        );
        // a js body sees the same value
        let body = expr_support::run_js(&mut env, "return ${v};");
        assert_eq!(body.as_deref(), Ok(value), "{value:?}");
    }
    // the dialect tokens inside a value are never expanded again
    let mut env = TestEnv::new().var("v", "${w}").var("w", "secret");
    let e = Expression::compile("${v}").unwrap();
    assert_eq!(e.eval_string(&mut env).as_deref(), Ok("${w}"));
}

#[test]
fn each_variable_is_read_once_per_reference_and_only_when_needed() {
    let e = Expression::compile("${a} == '1' || ${b} == '2'").unwrap();
    let mut env = TestEnv::new().var("a", "1");
    assert_eq!(e.eval_bool(&mut env), Ok(true));
    assert_eq!(env.var_reads, 1, "short-circuit skips ${{b}}");
}

#[test]
fn eval_string_is_javascript_string_conversion() {
    let mut env = TestEnv::new().var("x", "a,b");
    let cases = [
        ("1 / 3", "0.3333333333333333"),
        ("0.1 + 0.2", "0.30000000000000004"),
        ("1e21", "1e+21"),
        ("123456789 * 1000000000000", "123456789000000000000"),
        ("0.0000001", "1e-7"),
        ("0.000001", "0.000001"),
        ("-0", "0"),
        ("1 / 0", "Infinity"),
        ("${x}.split(',')", "a,b"),
        ("null", "null"),
        ("undefined", "undefined"),
        ("2 > 1", "true"),
    ];
    for (source, expected) in cases {
        let e = Expression::compile(source).unwrap();
        assert!(e.is_native(), "{source}");
        assert_eq!(e.eval_string(&mut env).as_deref(), Ok(expected), "{source}");
    }
}

#[test]
fn compiled_forms_are_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Expression>();
    send_sync::<rustflow_engine::js::JsFunction>();
    send_sync::<rustflow_engine::expr::StringCall>();
    send_sync::<rustflow_engine::expr::MathCall>();
    let native = std::sync::Arc::new(Expression::compile(r#"${n} == "7""#).unwrap());
    let engine = std::sync::Arc::new(Expression::compile(r#"${n}.replace("7", "x")"#).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (native, engine) = (native.clone(), engine.clone());
            std::thread::spawn(move || {
                let mut env = TestEnv::new().var("n", &(i + 6).to_string());
                let hit = native.eval_bool(&mut env).unwrap();
                let text = engine.eval_string(&mut env).unwrap();
                (hit, text)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results,
        [
            (false, "6".to_string()),
            (true, "x".to_string()),
            (false, "8".to_string()),
            (false, "9".to_string())
        ]
    );
}
