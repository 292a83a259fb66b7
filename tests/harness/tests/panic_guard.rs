//! A panic inside a flow step is caught at the module's edge: logged with its location, the
//! call hung up with NORMAL_TEMPORARY_FAILURE, and the module keeps serving calls.
//! (`_testPanic` exists because the harness builds the module with `--features test-hooks`.)

use rustflow_harness::*;
use serde_json::json;

#[test]
fn a_panicking_step_is_caught_logged_and_the_call_hung_up_with_a_temporary_failure() {
    let mut h = Harness::new();
    h.write_flow(
        "boom",
        r#"[{"answer": ""}, {"_testPanic": ""}, {"set": {"after_panic": "yes"}}, {"hangup": "USER_BUSY"}]"#,
    );
    h.write_flow("busy", r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#);
    h.load();

    for round in 0..3 {
        let before = FakeCore::logs().len();
        let call = h.run(json!({}), "boom");
        assert_eq!(
            call.call_control(),
            vec![
                json!({"fn": "switch_channel_perform_answer"}),
                json!({"fn": "switch_channel_perform_hangup", "cause": CAUSE_NORMAL_TEMPORARY_FAILURE}),
            ],
            "round {round}: {:#?}",
            call.record
        );
        assert_eq!(call.hangup_cause, Some(CAUSE_NORMAL_TEMPORARY_FAILURE));
        assert_eq!(
            call.var("after_panic"),
            None,
            "the flow went on after the panic"
        );
        let logs = FakeCore::logs();
        let line = logs[before..]
            .iter()
            .find(|l| l.text.to_lowercase().contains("panic"))
            .unwrap_or_else(|| panic!("no panic log line:\n{}", FakeCore::logs_text()));
        assert!(
            line.level <= LOG_ERROR,
            "a caught panic is logged at ERROR or worse: {line}"
        );
        assert_eq!(line.uuid.as_deref(), Some(call.uuid.as_str()), "{line}");
        assert!(
            line.text
                .starts_with("rustflow: panic in flow boom, hanging up: _testPanic step reached"),
            "{line}"
        );
        let location = line.text.trim_end().rsplit(" at ").next().unwrap_or("");
        let parts: Vec<&str> = location.split(':').collect();
        assert!(
            parts.len() == 3
                && parts[0].ends_with(".rs")
                && parts[1].parse::<u32>().is_ok()
                && parts[2].parse::<u32>().is_ok(),
            "the panic's file:line:column is logged: {line}"
        );

        // The CDR carries why the call ended: rustflow_error names the panic and its location,
        // rustflow_steps counts the steps completed before it (answer).
        let error = call
            .var("rustflow_error")
            .unwrap_or_else(|| panic!("no rustflow_error after a panic: {:#?}", call.variables));
        assert!(
            error.starts_with("panic: _testPanic step reached") && error.contains(".rs:"),
            "{error}"
        );
        assert_eq!(
            call.var("rustflow_steps"),
            Some("1"),
            "{:#?}",
            call.variables
        );

        // The process and the module keep running calls normally.
        let next = h.run_flow("busy");
        assert_eq!(
            next.hangup_cause,
            Some(CAUSE_USER_BUSY),
            "round {round}: {:#?}",
            next.record
        );
        assert_eq!(next.var("rustflow_error"), None);
    }
    let stats = h.api_ok("stats");
    assert!(!stats.is_empty());
}
