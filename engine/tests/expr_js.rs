//! The `js` application's sandbox: results as text, `LocalDate()`, errors with positions,
//! the time and memory limits (and the sandbox staying usable after them), no host access,
//! and one-line `return` bodies evaluated natively with the engine's results.

mod expr_support;

use expr_support::{TestEnv, run_js};
use rustflow_engine::js::{JsFunction, JsLimits};

#[test]
fn results_become_text() {
    let mut env = TestEnv::new();
    let cases = [
        ("return 1 + 1;", "2"),
        ("return 'a' + 1;", "a1"),
        ("return 0.1 + 0.2;", "0.30000000000000004"),
        ("return true;", "true"),
        ("return null;", "null"),
        ("return;", ""),
        ("var x = 1;", ""),
        ("return [1, 'a', null];", r#"[1,"a",null]"#),
        ("return {a: 1, b: [true]};", r#"{"a":1,"b":[true]}"#),
        ("return new Date(0);", "1970-01-01T00:00:00.000Z"),
        ("return 1e21;", "1e+21"),
        ("return function () {};", "function () {}"),
    ];
    for (body, expected) in cases {
        assert_eq!(run_js(&mut env, body).as_deref(), Ok(expected), "{body}");
    }
}

#[test]
fn local_date_is_the_flow_time_zone_wall_clock() {
    let mut env = TestEnv::new();
    env.tz = Some("Europe/Kyiv".into()); // 2026-11-27 23:00 UTC = 2026-11-28 01:00 in Kyiv
    let body = "var d = LocalDate(); return [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes()].join('-');";
    assert_eq!(run_js(&mut env, body).as_deref(), Ok("2026-11-28-1-0"));
    env.tz = Some("America/New_York".into());
    assert_eq!(run_js(&mut env, body).as_deref(), Ok("2026-11-27-18-0"));
}

#[test]
fn variables_and_globals_are_string_arguments() {
    let mut env = TestEnv::new().var("a", "5").var("b", "7");
    env.globals.insert("api".into(), "https://x".into());
    assert_eq!(run_js(&mut env, "return ${a} + ${b};").as_deref(), Ok("57"));
    assert_eq!(
        run_js(&mut env, "return typeof ${a};").as_deref(),
        Ok("string")
    );
    assert_eq!(
        run_js(&mut env, "return $${api} + '/' + ${a};").as_deref(),
        Ok("https://x/5")
    );
    assert_eq!(
        run_js(&mut env, "return `${a}-${b}`;").as_deref(),
        Ok("5-7")
    );
    // inside a string literal `${a}` is text
    assert_eq!(run_js(&mut env, "return '${a}';").as_deref(), Ok("${a}"));
    let f = JsFunction::compile("return ${a} + ${b} + ${a};").unwrap();
    assert_eq!(f.variables(), ["a", "b"]);
}

#[test]
fn errors_name_the_kind_and_the_line() {
    let mut env = TestEnv::new();
    let err = run_js(&mut env, "var a = 1;\nnull.x;").unwrap_err();
    assert!(err.starts_with("TypeError: "), "{err}");
    assert!(err.contains("(line 2"), "{err}");
    let err = run_js(&mut env, "throw new Error('boom');").unwrap_err();
    assert!(err.starts_with("Error: boom"), "{err}");
    let err = run_js(&mut env, "throw 'plain';").unwrap_err();
    assert_eq!(err, "uncaught exception: plain");
    let err = run_js(&mut env, "return undefinedName + 1;").unwrap_err();
    assert!(err.starts_with("ReferenceError: "), "{err}");
}

#[test]
fn syntax_errors_are_load_errors() {
    let err = JsFunction::compile("var x = ;").unwrap_err();
    assert!(err.starts_with("SyntaxError: "), "{err}");
    assert!(err.contains("line 1"), "{err}");
    let err = JsFunction::compile("var a = 1;\nvar b = 'open;").unwrap_err();
    assert_eq!(err, "line 2, column 9: unterminated string literal");
    // a body cannot close the wrapper function and run code at load
    let err = JsFunction::compile("}); while (true) {} (function () {").unwrap_err();
    assert_eq!(err, "line 1, column 1: '}' without an opening bracket");
    let err = JsFunction::compile("return ${a;").unwrap_err();
    assert!(err.contains("'${' without a closing '}'"), "{err}");
}

#[test]
fn an_endless_loop_hits_the_time_limit_and_the_sandbox_survives() {
    let mut env = TestEnv::with_limits(JsLimits {
        time_limit_ms: 200,
        memory_limit_bytes: 32 << 20,
    });
    let started = std::time::Instant::now();
    let err = run_js(&mut env, "while (true) {}").unwrap_err();
    assert_eq!(err, "time limit of 200 ms exceeded");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // a try/catch cannot swallow the interrupt
    let err = run_js(
        &mut env,
        "for (;;) { try { while (true) {} } catch (e) {} }",
    )
    .unwrap_err();
    assert_eq!(err, "time limit of 200 ms exceeded");
    assert_eq!(
        run_js(&mut env, "return 'still here';").as_deref(),
        Ok("still here")
    );
}

/// A body that fills the heap step by step up to the limit. QuickJS can crash building the
/// out-of-memory error's backtrace when the heap is full (upstream: bellard/quickjs#533,
/// hmsk/quickjs.rb#116): it did in about half of the parallel runs (SIGSEGV in
/// `find_own_property` under `build_backtrace`) before the sandbox counted its memory itself
/// (crates/js-budget: the limit refuses once, a reserve serves the error). Also a body that
/// catches the error and goes on is stopped.
#[test]
fn memory_limit_stops_a_growing_heap() {
    let mut env = TestEnv::with_limits(JsLimits {
        time_limit_ms: 5000,
        memory_limit_bytes: 8 << 20,
    });
    let err = run_js(
        &mut env,
        "var a = []; for (;;) a.push('x'.repeat(1000) + a.length);",
    )
    .unwrap_err();
    assert_eq!(err, "memory limit of 8388608 bytes exceeded");
    assert_eq!(run_js(&mut env, "return 'ok';").as_deref(), Ok("ok"));
    let err = run_js(
        &mut env,
        "var a = []; for (;;) { try { a.push('y'.repeat(1000) + a.length); } catch (e) {} }",
    )
    .unwrap_err();
    assert_eq!(err, "memory limit of 8388608 bytes exceeded");
    assert_eq!(run_js(&mut env, "return 'ok';").as_deref(), Ok("ok"));
}

#[test]
fn memory_limit_stops_a_run_and_the_sandbox_survives() {
    let mut env = TestEnv::with_limits(JsLimits {
        time_limit_ms: 5000,
        memory_limit_bytes: 8 << 20,
    });
    let err = run_js(&mut env, "return 'y'.repeat(64 * 1024 * 1024).length;").unwrap_err();
    assert_eq!(err, "memory limit of 8388608 bytes exceeded");
    assert_eq!(
        run_js(&mut env, "return [1, 2].length;").as_deref(),
        Ok("2")
    );
    // reasonable recursion works; endless recursion is a RangeError, not a crash (the
    // engine's stack budget is kept below a FreeSWITCH session thread's 240 KiB)
    let body = "function f(n) { return n === 0 ? 0 : 1 + f(n - 1); } return f(30);";
    assert_eq!(run_js(&mut env, body).as_deref(), Ok("30"));
    let err = run_js(
        &mut env,
        "function f(n) { return f(n + 1) + 1; } return f(0);",
    )
    .unwrap_err();
    assert!(err.starts_with("RangeError: "), "{err}");
    assert_eq!(run_js(&mut env, "return 'ok';").as_deref(), Ok("ok"));
}

#[test]
fn no_host_access() {
    let mut env = TestEnv::new();
    let body = "return [typeof require, typeof process, typeof std, typeof os, typeof scriptArgs, typeof print, typeof fetch, typeof XMLHttpRequest, typeof import_meta].join(',');";
    assert_eq!(
        run_js(&mut env, body).as_deref(),
        Ok(
            "undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined,undefined"
        )
    );
    // import() has no module loader behind it and hands back a promise, which nothing
    // here would run: a promise result is refused, not printed as `{}`
    let refusal = Err(
        "TypeError: a js step cannot return a Promise: asynchronous code is not run".to_string(),
    );
    assert_eq!(run_js(&mut env, "return import('os');"), refusal);
    assert_eq!(run_js(&mut env, "return Promise.resolve(1);"), refusal);
    assert_eq!(run_js(&mut env, "return (async () => 1)();"), refusal);
}

#[test]
fn compiled_functions_are_cached_per_sandbox() {
    let mut env = TestEnv::new().var("n", "1");
    let f =
        JsFunction::compile("globalThis.runs = (globalThis.runs || 0) + 1; return runs + +${n};")
            .unwrap();
    for i in 1..=3 {
        let mut sandbox = std::mem::take(&mut env.sandbox);
        let r = sandbox.call(&f, &mut env);
        env.sandbox = sandbox;
        assert_eq!(r, Ok((i + 1).to_string()));
    }
    // run() takes the sandbox from the env itself
    assert_eq!(f.run(&mut env).as_deref(), Ok("5"));
}

#[test]
fn one_line_return_bodies_run_natively_with_the_engines_result() {
    let base = TestEnv::new()
        .var("a", "5")
        .var("b", "7")
        .var("name", "Alice")
        .var("big", "12");
    let native = [
        "return ${a} * 2 + Number(${b});",
        "return ${a} + ${b}",
        "return   0.1 + 0.2 ;",
        "return 1e21;",
        "return ${missing};",
        "return null;",
        "return ${a} == 5;",
        "return ${big} > 10 ? 'yes' : 'no';",
        "return ${name}.toUpperCase() + '-' + ${name}.length;",
        "return parseInt(${b}) / 0;",
        "return $${api} + '/' + ${a};",
        // An array is JSON as a `js` result: the native form leaves it to the engine.
        "return ${name}.split('');",
    ];
    let engine_only = [
        // `return` then a line break returns undefined (automatic semicolon insertion).
        "return\n${a} * 2;",
        "var x = ${a} * 2; return x;",
        "return ${a}; return ${b};",
        "return $1;",
        "return LocalDate().getFullYear();",
        "return Date.now();",
        "return {a: ${a}};",
        "return 'x;y';",
        "return `${a}-${b}`;",
    ];
    for (body, expect_native) in native
        .iter()
        .map(|b| (b, true))
        .chain(engine_only.iter().map(|b| (b, false)))
    {
        let f = JsFunction::compile(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(f.is_native(), expect_native, "{body}");
        let mut env = base_clone(&base);
        env.globals.insert("api".into(), "https://x".into());
        let got = f.run(&mut env);
        assert_eq!(
            env.sandbox.is_started(),
            !expect_native || body.contains("split"),
            "{body}: sandbox started?"
        );
        let mut engine_env = base_clone(&base);
        engine_env.globals.insert("api".into(), "https://x".into());
        let mut sandbox = std::mem::take(&mut engine_env.sandbox);
        let expected = sandbox.call(&f, &mut engine_env);
        assert_eq!(got, expected, "{body}");
    }
}

#[test]
fn a_native_body_fails_like_the_engine_on_a_bad_time_zone() {
    let f = JsFunction::compile("return 1 + 1;").unwrap();
    assert!(f.is_native());
    let mut env = TestEnv::new();
    env.tz = Some("Mars/Olympus".into());
    let native = f.run(&mut env);
    let mut sandbox = std::mem::take(&mut env.sandbox);
    assert_eq!(native, sandbox.call(&f, &mut env));
    assert_eq!(native, Err("unknown time zone 'Mars/Olympus'".to_string()));
}

fn base_clone(base: &TestEnv) -> TestEnv {
    TestEnv {
        vars: base.vars.clone(),
        ..TestEnv::new()
    }
}
