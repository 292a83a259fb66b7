//! Expression and `js` costs (run: `cargo bench -p rustflow-engine --bench expr_eval`).
//! A plain timing harness (no extra dependency): each case is run in batches and the
//! median time per evaluation is printed.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use rustflow_engine::expr::{ExprEnv, Expression};
use rustflow_engine::js::{JsFunction, JsSandbox};

struct Env {
    vars: HashMap<String, String>,
    sandbox: JsSandbox,
}

impl ExprEnv for Env {
    fn var(&mut self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_default()
    }
    fn global(&mut self, _name: &str) -> String {
        String::new()
    }
    fn arg(&self, _n: usize) -> String {
        String::new()
    }
    fn now_micros(&mut self) -> i64 {
        1_795_820_400_000_000
    }
    fn timezone(&self) -> Option<String> {
        Some("Europe/Kyiv".to_string())
    }
    fn js(&mut self) -> &mut JsSandbox {
        &mut self.sandbox
    }
}

fn env() -> Env {
    let mut vars = HashMap::new();
    vars.insert("x".to_string(), "1".to_string());
    vars.insert("counter".to_string(), "41".to_string());
    vars.insert("chatgpt".to_string(), "Interested|Promo".to_string());
    vars.insert("google_transcript".to_string(), "так, цікаво".to_string());
    Env {
        vars,
        sandbox: JsSandbox::new(),
    }
}

/// Median nanoseconds per call over `batches` batches of `per_batch` calls.
fn median_ns(batches: usize, per_batch: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..per_batch {
        f();
    }
    let mut samples: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / per_batch as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn report(name: &str, ns: f64) {
    if ns >= 10_000.0 {
        println!("{name:<60} {:>10.1} µs", ns / 1000.0);
    } else {
        println!("{name:<60} {ns:>10.0} ns");
    }
}

fn main() {
    let mut e = env();
    let natives = [
        r#"${x} == "1""#,
        r#"${google_transcript} == ''"#,
        r#"${x} != '' && parseInt(${counter}) > 40"#,
        r#"/так|yes/i.test(${google_transcript})"#,
        r#"${chatgpt}.split("|")[1].toLowerCase() == "promo""#,
        "&wday(2-6) && &time_of_day(09:00-18:00)",
    ];
    for source in natives {
        let expr = Expression::compile(source).unwrap();
        assert!(expr.is_native(), "{source}");
        let ns = median_ns(31, 20_000, || {
            black_box(expr.eval_bool(&mut e).unwrap());
        });
        report(&format!("native  {source}"), ns);
    }
    let engine_only = r#"${chatgpt}.replace("|", " ") == "Interested Promo""#;
    let expr = Expression::compile(engine_only).unwrap();
    assert!(!expr.is_native());
    let ns = median_ns(31, 2_000, || {
        black_box(expr.eval_bool(&mut e).unwrap());
    });
    report(&format!("engine  {engine_only}"), ns);
    let expr = Expression::compile(r#"${x} == "1""#).unwrap();
    let ns = median_ns(31, 2_000, || {
        black_box(expr.eval_bool_on_engine(&mut e).unwrap());
    });
    report(r#"engine  ${x} == "1" (forced, for comparison)"#, ns);

    let bodies = [
        ("js counter", "var x = +${counter} + 1;\nreturn x;"),
        (
            "js getAfterPipe",
            "function getAfterPipe(input) {\n  return input.split('|')[1];\n}\n\nvar input= ${chatgpt};\nvar result = getAfterPipe(input);\n\nreturn result;",
        ),
        (
            "js Date",
            "var utc = Date.now();\nvar zaTime = new Date(utc);\nreturn zaTime;",
        ),
    ];
    for (name, body) in bodies {
        let f = JsFunction::compile(body).unwrap();
        let ns = median_ns(31, 2_000, || {
            let mut sandbox = std::mem::take(&mut e.sandbox);
            black_box(sandbox.call(&f, &mut e).unwrap());
            e.sandbox = sandbox;
        });
        report(&format!("{name} (repeated step, cached)"), ns);
    }
    let f = JsFunction::compile("var x = +${counter} + 1;\nreturn x;").unwrap();
    let ns = median_ns(11, 20, || {
        let mut fresh = env();
        let mut sandbox = std::mem::take(&mut fresh.sandbox);
        black_box(sandbox.call(&f, &mut fresh).unwrap());
    });
    report("js first step of a call (sandbox start + compile)", ns);
    let ns = median_ns(11, 200, || {
        black_box(Expression::compile(r#"${x} == "1" && &hour(9-18)"#).unwrap());
    });
    report("compile an expression (syntax check + native form)", ns);
    let ns = median_ns(11, 200, || {
        black_box(JsFunction::compile("var x = +${counter} + 1;\nreturn x;").unwrap());
    });
    report("compile a js body (syntax check)", ns);
}
