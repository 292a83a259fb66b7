//! `unload mod_rustflow` / `load mod_rustflow` in one process, as FreeSWITCH does them (the
//! module's shutdown, then dlclose, then dlopen and load again), after other threads compiled
//! flows: QuickJS syntax checks keep a runtime in a thread-local of each such thread. Both
//! when such a thread has ended and when it lives across the unload and uses the module
//! again afterwards. (An unload refused while an HTTP worker runs: http_unload.rs, its own
//! process, since the switch then never closes that library.)

use rustflow_harness::*;
use serde_json::json;
use std::sync::mpsc;

/// A flow whose `js` body needs QuickJS (compiling it runs a syntax check there).
fn js_flow() -> String {
    json!([
        {"js": {"data": "let s = 0;\nfor (let i = 1; i <= 10; i++) { s += i; }\nreturn s;",
                "setVar": "sum"}}
    ])
    .to_string()
}

fn validate_on_new_thread(path: &str) -> String {
    let path = path.to_string();
    std::thread::spawn(move || FakeCore::api("rustflow", Some(&format!("validate {path}"))))
        .join()
        .expect("validating thread")
        .output
}

fn assert_js_call_works(h: &Harness) {
    let call = h.run_flow("js");
    assert_eq!(
        call.var("rustflow_error"),
        None,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(call.var("sum"), Some("55"));
}

#[test]
fn the_module_unloads_and_loads_again_after_other_threads_validated_flows() {
    let mut h = Harness::new();
    let path = h.write_flow("js", &js_flow()).display().to_string();
    h.load();

    // A thread that validated and has ended.
    assert!(validate_on_new_thread(&path).starts_with("+OK"));

    // A thread that validated and lives on across the unload, like an API thread of the
    // switch's pool.
    let (ask, asked) = mpsc::channel::<Option<String>>();
    let (answer, answers) = mpsc::channel::<String>();
    let api_thread = std::thread::spawn(move || {
        while let Ok(Some(command)) = asked.recv() {
            let reply = FakeCore::api("rustflow", Some(&command)).output;
            answer.send(reply).expect("the test waits for the answer");
        }
    });
    ask.send(Some(format!("validate {path}"))).unwrap();
    assert!(answers.recv().unwrap().starts_with("+OK"));
    assert_js_call_works(&h);

    for round in 0..2 {
        assert_eq!(h.shutdown(), STATUS_SUCCESS, "round {round}");
        h.reopen_module();
        h.load();
        assert_js_call_works(&h);
        assert!(
            validate_on_new_thread(&path).starts_with("+OK"),
            "round {round}"
        );
        // The long-lived thread uses the module loaded anew.
        ask.send(Some(format!("validate {path}"))).unwrap();
        assert!(answers.recv().unwrap().starts_with("+OK"), "round {round}");
    }

    // The long-lived thread ends while the module is loaded, then after an unload.
    ask.send(None).unwrap();
    api_thread.join().expect("API thread");
    assert_eq!(h.shutdown(), STATUS_SUCCESS);
    h.reopen_module();
    h.load();
    assert_js_call_works(&h);
}
