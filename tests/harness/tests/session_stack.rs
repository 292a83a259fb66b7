//! The release module on FreeSWITCH-sized threads: every call runs on a thread of 240 KiB
//! (`SWITCH_THREAD_STACKSIZE`, what the switch gives a session), and so do `rustflow reload`
//! and `rustflow validate` (API threads). A stack overflow kills the test process, so these
//! tests pass only if the deepest flows fit.
//!
//! The release build is what runs in FreeSWITCH (a debug build's frames are several times
//! larger); the harness builds it on first use (see `use_release_build`).

use rustflow_harness::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Runs `f` on a new thread with a session thread's stack and returns what it returns.
fn on_session_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("session-240k".to_string())
            .stack_size(SESSION_STACK_BYTES)
            .spawn_scoped(scope, f)
            .expect("spawn a 240 KiB thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// `rustflow ARGS` on a 240 KiB thread.
fn api_on_session_stack(args: &str) -> ApiResult {
    on_session_stack(|| FakeCore::api("rustflow", Some(args)))
}

/// Runs flow `id` on a new call on a 240 KiB thread; the call hangs up after `hangup_ms`
/// whatever the flow waits for.
fn call_on_session_stack(id: &str, hangup_ms: u64) -> SessionInfo {
    on_session_stack(|| {
        let session = Session::new(json!({"script": {"hangup_after_ms": hangup_ms}}));
        session.exec("rustflow", id);
        session.info()
    })
}

fn golden_dir() -> PathBuf {
    workspace_root().join("engine/tests/golden")
}

fn flow_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

/// No panic was caught anywhere (the guard logs them at CRIT).
fn assert_no_panic() {
    let crit: Vec<String> = FakeCore::logs()
        .into_iter()
        .filter(|l| l.level <= LOG_CRIT)
        .map(|l| l.text)
        .collect();
    assert!(crit.is_empty(), "critical log lines: {crit:#?}");
}

/// `depth` functions, each executing the next; the last runs `bottom`. The flow executes the
/// first, then records that it came back.
fn execute_chain(depth: usize, bottom: Value) -> Value {
    let mut steps: Vec<Value> = (1..=depth)
        .map(|n| {
            let actions = if n == depth {
                vec![bottom.clone()]
            } else {
                vec![json!({"execute": {"name": format!("f{}", n + 1)}})]
            };
            json!({"function": {"name": format!("f{n}"), "actions": actions}})
        })
        .collect();
    steps.push(json!({"execute": {"name": "f1"}}));
    steps.push(json!({"set": {"back": "yes"}}));
    Value::Array(steps)
}

/// A JavaScript body the native evaluator does not take: it starts QuickJS.
const JS_SUM: &str = "let s = 0;\nfor (let i = 0; i < 1000; i++) { s += i; }\nreturn s;";

/// Recursion without end: QuickJS's own stack limit must stop it, not the thread's stack.
const JS_RUNAWAY: &str = "function down(n) { return down(n + 1) + 1; }\nreturn down(0);";

/// `if` blocks nested as deep as the JSON reader allows a flow file to go (256 levels;
/// each `if` takes three), with JavaScript at the bottom.
fn nested_ifs(levels: usize) -> Value {
    let mut inner = json!({"js": {"data": JS_SUM, "setVar": "deep_sum"}});
    for _ in 0..levels {
        inner = json!({"if": {"expression": "1 == 1", "then": [inner]}});
    }
    json!([inner])
}

#[test]
fn the_golden_flows_run_on_session_sized_stacks() {
    use_release_build();
    let mut h = Harness::new();
    let dir = golden_dir();
    let dir_text = dir.display().to_string();
    // Requests of the golden flows go to hosts that do not exist: keep them short.
    h.set_params(&[("flows-dir", &dir_text), ("http-timeout-ms", "300")]);
    h.load();
    let reply = api_on_session_stack("reload");
    assert!(reply.output.starts_with("+OK"), "{}", reply.output);
    let reply = api_on_session_stack(&format!("validate {dir_text}"));
    assert!(reply.output.starts_with("+OK"), "{}", reply.output);

    let ids = flow_ids(&dir);
    assert!(ids.len() > 50, "golden flows: {ids:?}");
    let started = std::time::Instant::now();
    for id in &ids {
        // Whatever the flow does, the call ends with it (or with the hangup after 300 ms).
        call_on_session_stack(id, 300);
    }
    eprintln!("{} golden flows in {:?}", ids.len(), started.elapsed());
    assert_no_panic();
    let stats = h.api("stats json").json();
    assert_eq!(stats["calls_total"], ids.len(), "{stats}");
    assert_eq!(stats["calls_running"], 0, "{stats}");
    assert!(
        stats["steps_run"].as_u64().unwrap_or(0) > 2 * ids.len() as u64,
        "{stats}"
    );
}

#[test]
fn a_64_deep_execute_chain_with_javascript_at_the_bottom_fits_a_session_stack() {
    use_release_build();
    let mut h = Harness::new();
    h.write_flow(
        "deep",
        &execute_chain(64, json!({"js": {"data": JS_SUM, "setVar": "sum"}})).to_string(),
    );
    h.write_flow(
        "runaway",
        &execute_chain(64, json!({"js": {"data": JS_RUNAWAY, "setVar": "never"}})).to_string(),
    );
    h.write_flow(
        "too_deep",
        &execute_chain(65, json!({"set": {"bottom": "reached"}})).to_string(),
    );
    h.write_flow("nested", &nested_ifs(84).to_string());
    h.load();
    // Compiling them (every `js` body is syntax-checked in QuickJS) on an API thread.
    for id in ["deep", "runaway", "too_deep", "nested"] {
        let reply = api_on_session_stack(&format!("validate {id}"));
        assert!(reply.output.starts_with("+OK"), "{id}: {}", reply.output);
    }
    let reply = api_on_session_stack("reload");
    assert!(reply.output.starts_with("+OK"), "{}", reply.output);

    let call = call_on_session_stack("deep", 5000);
    assert_eq!(
        call.var("rustflow_error"),
        None,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(call.var("sum"), Some("499500"));
    assert_eq!(call.var("back"), Some("yes"));

    let call = call_on_session_stack("runaway", 5000);
    let error = call.var("rustflow_error").unwrap_or("");
    assert!(
        error.contains("RangeError") && error.contains("stack"),
        "runaway recursion: {error:?}"
    );
    assert_eq!(call.var("never"), None);
    assert_eq!(call.var("back"), Some("yes"));

    let call = call_on_session_stack("too_deep", 5000);
    let error = call.var("rustflow_error").unwrap_or("");
    assert!(
        error.contains("function `f65`: calls nested deeper than 64"),
        "{error:?}"
    );
    assert_eq!(call.var("bottom"), None);

    let call = call_on_session_stack("nested", 5000);
    assert_eq!(
        call.var("rustflow_error"),
        None,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(call.var("deep_sum"), Some("499500"));
    assert_no_panic();
}
