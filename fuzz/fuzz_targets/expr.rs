//! Flow expressions from any text: compiling and evaluating never panics, and whatever
//! compiles to the native form evaluates as QuickJS evaluates it. The input is the
//! expression, then optionally a 0xFF byte and the value of `${x}` (also `$1`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustflow_engine::expr::Expression;

#[allow(dead_code)]
#[path = "../../engine/tests/expr_support/mod.rs"]
mod expr_support;

fuzz_target!(|data: &[u8]| {
    let (source, value) = match data.iter().position(|&b| b == 0xFF) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(source), value) = (std::str::from_utf8(source), String::from_utf8_lossy(value)) else {
        return;
    };
    let Ok(expr) = Expression::compile(source) else {
        return;
    };
    let mut env = expr_support::TestEnv::new().var("x", &value).var("y", "10");
    env.args = vec![value.to_string()];
    env.globals.insert("g".into(), value.to_string());
    let text = expr.eval_string(&mut env);
    let truth = expr.eval_bool(&mut env);
    // Math.random() differs between any two evaluations.
    if expr.is_native() && !source.contains("random") {
        assert_eq!(
            text,
            expr.eval_string_on_engine(&mut env),
            "String({source}) with x={value:?}"
        );
        assert_eq!(
            truth,
            expr.eval_bool_on_engine(&mut env),
            "!!({source}) with x={value:?}"
        );
    }
});
