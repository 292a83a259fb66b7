//! A panic inside a flow step is caught at the module's edge: logged with its location, the
//! call hung up with NORMAL_TEMPORARY_FAILURE, and the module keeps serving calls.
//! (`_testPanic` exists because the harness builds the module with `--features test-hooks`.)
//! Below: a panic forced at each `extern "C"` edge (load, shutdown, API command, application).

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

// ---- a panic at each extern "C" edge -------------------------------------------------------
//
// The module's test hook (`--features test-hooks`) panics at the edge named by the switch-wide
// variable `rustflow_test_panic`. Each test proves the guard of that edge: the right status
// goes back to the core, one CRIT line names the panic and its location, and the core and the
// module go on working once the variable is cleared.

const PANIC_VAR: &str = "rustflow_test_panic";

/// The CRIT line logged since `before` that starts with `prefix`; asserts it ends with the
/// panic's message and a `file.rs:line:column` location.
fn panic_line(before: usize, prefix: &str, edge: &str) -> LogLine {
    let logs = FakeCore::logs();
    let line = logs[before..]
        .iter()
        .find(|l| l.text.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{}", FakeCore::logs_text()))
        .clone();
    assert_eq!(line.level, LOG_CRIT, "{line}");
    let message = format!("{prefix}{PANIC_VAR}={edge} (test-hooks) at ");
    assert!(line.text.starts_with(&message), "{line}");
    let location = line.text.trim_end().rsplit(" at ").next().unwrap_or("");
    let parts: Vec<&str> = location.split(':').collect();
    assert!(
        parts.len() == 3
            && parts[0].ends_with(".rs")
            && parts[1].parse::<u32>().is_ok()
            && parts[2].parse::<u32>().is_ok(),
        "the panic's file:line:column is logged: {line}"
    );
    line
}

#[test]
fn a_panic_in_load_fails_the_load_and_the_next_load_works() {
    let mut h = Harness::new();
    h.write_flow("busy", r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#);
    FakeCore::set_global(PANIC_VAR, Some("load"));
    let before = FakeCore::logs().len();
    let failed = h.try_load();
    assert_eq!(failed.status, STATUS_GENERR, "{:?}", failed.interface);
    panic_line(
        before,
        "mod_rustflow: load failed: panic while loading: ",
        "load",
    );

    FakeCore::set_global(PANIC_VAR, None);
    h.load();
    let call = h.run_flow("busy");
    assert_eq!(
        call.hangup_cause,
        Some(CAUSE_USER_BUSY),
        "{:#?}",
        call.record
    );
}

#[test]
fn a_panic_in_shutdown_answers_a_failure_and_the_module_loads_again() {
    let mut h = Harness::new();
    h.write_flow("busy", r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#);
    h.load();
    FakeCore::set_global(PANIC_VAR, Some("shutdown"));
    let before = FakeCore::logs().len();
    assert_eq!(h.shutdown(), STATUS_GENERR);
    panic_line(before, "mod_rustflow: panic during shutdown: ", "shutdown");

    FakeCore::set_global(PANIC_VAR, None);
    h.load();
    // The panic cut shutdown short before it freed the event subclasses (steps and the
    // contact centre's): the next load finds them reserved (the module logs that and goes on;
    // the fake core counts it).
    assert_eq!(
        FakeCore::take_errors(),
        ["rustflow::step", "rustflow::cc"]
            .map(|subclass| format!(
                "switch_event_reserve_subclass_detailed: {subclass:?} is already reserved \
                 (not freed at shutdown?)"
            ))
            .to_vec()
    );
    let call = h.run_flow("busy");
    assert_eq!(
        call.hangup_cause,
        Some(CAUSE_USER_BUSY),
        "{:#?}",
        call.record
    );
    assert!(h.api_ok("list").contains("busy"));
}

#[test]
fn a_panic_in_the_api_command_answers_err_and_the_next_command_works() {
    let mut h = Harness::new();
    h.write_flow("busy", r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#);
    h.load();
    FakeCore::set_global(PANIC_VAR, Some("api"));
    let before = FakeCore::logs().len();
    let answer = h.api("list");
    assert_eq!(answer.status, STATUS_FALSE, "{}", answer.output);
    assert_eq!(answer.output, "-ERR internal error (logged)\n");
    panic_line(before, "mod_rustflow: panic in the API command: ", "api");

    FakeCore::set_global(PANIC_VAR, None);
    assert!(h.api_ok("list").contains("busy"));
}

#[test]
fn a_panic_in_the_application_hangs_the_call_up_and_the_next_call_runs() {
    let mut h = Harness::new();
    h.write_flow("busy", r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#);
    h.load();
    FakeCore::set_global(PANIC_VAR, Some("app"));
    let before = FakeCore::logs().len();
    let call = h.run_flow("busy");
    assert_eq!(
        call.call_control(),
        vec![
            json!({"fn": "switch_channel_perform_hangup", "cause": CAUSE_NORMAL_TEMPORARY_FAILURE})
        ],
        "the flow never started: {:#?}",
        call.record
    );
    let line = panic_line(
        before,
        "mod_rustflow: panic in the application, hanging up: ",
        "app",
    );
    assert_eq!(line.uuid.as_deref(), Some(call.uuid.as_str()), "{line}");

    FakeCore::set_global(PANIC_VAR, None);
    let next = h.run_flow("busy");
    assert_eq!(
        next.hangup_cause,
        Some(CAUSE_USER_BUSY),
        "{:#?}",
        next.record
    );
}
