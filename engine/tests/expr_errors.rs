//! Compile-time errors: syntax errors and bad date-helper arguments are load errors with
//! clear messages; runtime errors come back as `Err`.

mod expr_support;

use expr_support::TestEnv;
use rustflow_engine::expr::Expression;

fn err(source: &str) -> String {
    Expression::compile(source).expect_err(source)
}

#[test]
fn syntax_errors_are_compile_errors() {
    let e = err("${x} ==");
    assert!(e.starts_with("syntax error: SyntaxError: "), "{e}");
    assert!(e.contains("(line "), "{e}");
    assert_eq!(
        err("${x} == 'abc"),
        "syntax error: line 1, column 9: unterminated string literal"
    );
    assert_eq!(
        err("${x == 1"),
        "syntax error: line 1, column 1: '${' without a closing '}'"
    );
    assert_eq!(
        err("${} == 1"),
        "syntax error: line 1, column 1: empty variable name in '${}'"
    );
    assert_eq!(
        err("(${x} == 1"),
        "syntax error: line 1, column 1: '(' is never closed"
    );
    assert_eq!(
        err("1) || (1"),
        "syntax error: line 1, column 2: ')' without an opening bracket"
    );
    assert_eq!(err("   "), "empty expression");
    // an expression is one expression: statements do not compile
    assert!(err("${x} == 1; ${y} == 2").starts_with("syntax error: SyntaxError: "));
    assert!(err("while (true) {}").starts_with("syntax error: SyntaxError: "));
    assert!(err("var a = 1").starts_with("syntax error: SyntaxError: "));
    assert!(err("/abc(/.test(${x})").starts_with("syntax error: SyntaxError: "));
}

#[test]
fn bad_helper_arguments_are_compile_errors() {
    assert_eq!(
        err(r#"&wday("2-6")"#),
        r#"&wday("2-6"): '"2-6"' is not a number or an A-B range"#
    );
    assert_eq!(
        err("&hour(9-)"),
        "&hour(9-): '9-' is not a number or an A-B range"
    );
    assert_eq!(
        err("&time_of_day(9-18)"),
        "&time_of_day(9-18): bad time '9'"
    );
    assert_eq!(
        err("&time_of_day(09:00)"),
        "&time_of_day(09:00): '09:00' is not a HH:MM-HH:MM range"
    );
    assert_eq!(
        err("&date_time(2026-01-01~tomorrow)"),
        "&date_time(2026-01-01~tomorrow): bad date-time '2026-01-01'"
    );
}

#[test]
fn keywords_are_not_deleted() {
    // the original deleted `do`, `new`, `typeof`… even inside string literals
    let mut env = TestEnv::new()
        .var("answer", "do not call")
        .var("status", "new");
    let e = Expression::compile("${answer} == 'do not call' && ${status} == 'new'").unwrap();
    assert!(e.is_native());
    assert_eq!(e.eval_bool(&mut env), Ok(true));
    let e = Expression::compile("typeof ${status} == 'string'").unwrap();
    assert_eq!(e.eval_bool(&mut env), Ok(true));
}

#[test]
fn runtime_errors_are_errors() {
    let mut env = TestEnv::new();
    let e = Expression::compile("${x}.noSuchMethod()").unwrap();
    assert!(!e.is_native());
    let msg = e.eval_bool(&mut env).unwrap_err();
    assert!(msg.starts_with("TypeError: "), "{msg}");
    let e = Expression::compile("undefinedName == 1").unwrap();
    let msg = e.eval_bool(&mut env).unwrap_err();
    assert!(msg.starts_with("ReferenceError: "), "{msg}");
    // an endless loop inside an expression meets the time limit
    let mut env = TestEnv::with_limits(rustflow_engine::js::JsLimits {
        time_limit_ms: 100,
        memory_limit_bytes: 16 << 20,
    });
    let e = Expression::compile("(function () { for (;;) {} })()").unwrap();
    assert_eq!(
        e.eval_bool(&mut env),
        Err("time limit of 100 ms exceeded".to_string())
    );
    let e = Expression::compile("${x} == ''").unwrap();
    assert_eq!(e.eval_bool_on_engine(&mut env), Ok(true));
}

#[test]
fn dialect_tokens_inside_literals_and_comments() {
    let mut env = TestEnv::new().var("x", "1");
    env.args = vec!["a".into(), "b".into()];
    let e = Expression::compile(r#"'${x}' + "$1" /* ${x} */"#).unwrap();
    assert_eq!(e.eval_string(&mut env).as_deref(), Ok("${x}$1"));
    assert_eq!(e.variables().len(), 0);
    let e = Expression::compile("`<${x}>` + $1").unwrap();
    assert_eq!(e.eval_string(&mut env).as_deref(), Ok("<1>b"));
    // `&&` followed by a helper name is the operator, `&` alone the helper
    let e = Expression::compile("${x} == '1' && &year() > 2000").unwrap();
    assert!(e.is_native());
    assert_eq!(e.eval_bool(&mut env), Ok(true));
}

#[test]
fn deep_expressions_do_not_exhaust_the_stack() {
    // the native tree is bounded; deeper expressions run on the engine, whose parser
    // has its own stack check (too deep is a load error, never a crash)
    let mut env = TestEnv::new().var("x", "1");
    let chain = vec!["${x}"; 3000].join(" + ");
    let e = Expression::compile(&chain).unwrap();
    assert!(!e.is_native());
    assert_eq!(e.eval_string(&mut env).map(|s| s.len()), Ok(3000));
    let shallow = vec!["${x}"; 20].join(" + ");
    assert!(Expression::compile(&shallow).unwrap().is_native());
    let nots = format!("{}${{x}}", "!".repeat(5000));
    let _ = Expression::compile(&nots).map(|e| assert!(!e.is_native()));
    let parens = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    match Expression::compile(&parens) {
        Ok(e) => assert!(!e.is_native()),
        Err(msg) => assert!(msg.starts_with("syntax error: "), "{msg}"),
    }
}
