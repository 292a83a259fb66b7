//! Every expression and `js` body of the real Webitel corpus compiles, and every `js` body
//! runs (with empty variables) without a sandbox failure.

mod expr_support;

use std::path::PathBuf;

use expr_support::{TestEnv, run_js};
use rustflow_engine::expr::{Expression, MathCall, StringCall};
use rustflow_engine::js::JsFunction;
use serde_json::Value;

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    dir.is_dir().then_some(dir)
}

#[derive(Default)]
struct Found {
    js: Vec<(String, String)>,
    expressions: Vec<(String, String)>,
    string_fns: Vec<String>,
    math_fns: Vec<String>,
}

fn walk(v: &Value, pointer: &str, found: &mut Found) {
    match v {
        Value::Object(map) => {
            for (key, val) in map {
                let p = format!("{pointer}/{key}");
                match (key.as_str(), val) {
                    ("js", Value::Object(js)) => {
                        if let Some(Value::String(body)) = js.get("data") {
                            found.js.push((p.clone(), body.clone()));
                        }
                    }
                    ("if", Value::Object(o)) => {
                        if let Some(Value::String(e)) = o.get("expression") {
                            found.expressions.push((p.clone(), e.clone()));
                        }
                    }
                    ("while", Value::Object(o)) => {
                        if let Some(Value::String(e)) = o.get("condition") {
                            found.expressions.push((p.clone(), e.clone()));
                        }
                    }
                    ("string", Value::Object(o)) => {
                        if let Some(Value::String(f)) = o.get("fn") {
                            found.string_fns.push(f.clone());
                        }
                    }
                    ("math", Value::Object(o)) => {
                        let f = o.get("fn").and_then(Value::as_str).unwrap_or("random");
                        found.math_fns.push(f.to_string());
                    }
                    _ => {}
                }
                walk(val, &p, found);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{pointer}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn every_corpus_expression_and_js_body_compiles_and_runs() {
    let Some(dir) = corpus_dir() else {
        println!("note: ../shared/corpus not found; corpus test skipped");
        return;
    };
    let mut found = Found::default();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        walk(
            &json,
            &file.file_name().unwrap().to_string_lossy(),
            &mut found,
        );
    }
    assert_eq!(found.js.len(), 48, "the corpus has 48 js bodies");
    assert!(found.expressions.len() >= 22);

    for (pointer, source) in &found.expressions {
        let e = Expression::compile(source).unwrap_or_else(|err| panic!("{pointer}: {err}"));
        assert!(e.is_native(), "{pointer}: {source} should be native");
        let mut env = TestEnv::new();
        e.eval_bool(&mut env)
            .unwrap_or_else(|err| panic!("{pointer}: {err}"));
    }
    let mut env = TestEnv::new();
    for (pointer, body) in &found.js {
        JsFunction::compile(body).unwrap_or_else(|err| panic!("{pointer}: {err}"));
        // empty variables; the sandbox is shared across steps as in a call
        let result = run_js(&mut env, body);
        if let Err(err) = &result {
            let sandbox_failure = err.starts_with("time limit")
                || err.starts_with("memory limit")
                || err.starts_with("JavaScript engine failure");
            assert!(!sandbox_failure, "{pointer}: {err}");
        }
        // every corpus body returns a value without throwing
        assert!(result.is_ok(), "{pointer}: {result:?}");
    }
    for f in &found.string_fns {
        StringCall::compile(f).unwrap();
    }
    for f in &found.math_fns {
        MathCall::compile(f).unwrap();
    }
}

#[test]
fn corpus_bodies_compute_what_they_mean() {
    let mut env = TestEnv::new()
        .var("counter", "2")
        .var("chatgpt", "Interested|Promo");
    assert_eq!(
        run_js(&mut env, "var x = +${counter} + 1;\nreturn x;").as_deref(),
        Ok("3")
    );
    env.set("counter", "");
    assert_eq!(
        run_js(&mut env, "var x = +${counter} + 1;\nreturn x;").as_deref(),
        Ok("1")
    );
    let before = "function getBeforePipe(input) {\n  return input.split('|')[0];\n}\n\nvar input=  ${chatgpt};\nvar result = getBeforePipe(input);\n\nreturn result;";
    assert_eq!(run_js(&mut env, before).as_deref(), Ok("Interested"));
    let after = "function getAfterPipe(input) {\n  return input.split('|')[1];\n}\n\nvar input= ${chatgpt};\nvar result = getAfterPipe(input);\n\nreturn result;";
    assert_eq!(run_js(&mut env, after).as_deref(), Ok("Promo"));
    // Date.now() is the call's clock (virtual in the simulator)
    let date = "var utc = Date.now(); // текущее время в миллисекундах\nvar zaTime = new Date(utc); // \nreturn zaTime;";
    assert_eq!(
        run_js(&mut env, date).as_deref(),
        Ok("2026-11-27T23:00:00.000Z")
    );
}
