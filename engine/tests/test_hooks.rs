//! `_testPanic` exists only with the `test-hooks` feature, and its step panics (the
//! module's panic guard is proven with it). Run: `cargo test -p rustflow-engine --features test-hooks`.
#![cfg(feature = "test-hooks")]

use rustflow_engine::sim::{Script, simulate};
use rustflow_engine::{CompileOptions, FlowSet, application_names, compile_source};

#[test]
fn test_panic_step_panics() {
    let flow = compile_source(
        "boom",
        "boom.json",
        r#"[{"answer": ""}, {"_testPanic": ""}, {"log": "never"}]"#,
        &CompileOptions::default(),
    )
    .unwrap();
    assert!(application_names().contains(&"_testPanic"));
    let flows = FlowSet::empty();
    let result = std::panic::catch_unwind(|| simulate(&flow, &flows, Script::default()));
    let payload = result.expect_err("the _testPanic step must panic");
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("_testPanic"), "{message}");
}
