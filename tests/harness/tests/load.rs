//! Loading and unloading mod_rustflow in the fake switch core: what it registers, how it
//! reads its configuration, and that shutdown + load works repeatedly.

use rustflow_harness::*;
use serde_json::{Value, json};

const BUSY_FLOW: &str = r#"[{"answer": ""}, {"hangup": "USER_BUSY"}]"#;

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("an array of interfaces")
        .iter()
        .map(|i| i["name"].as_str().expect("interface has a name"))
        .collect()
}

/// Asserts the interface registers the `rustflow` app and API, and `rustflow_attempt` (the
/// outbound dialer's answered legs), with functions and descriptions, parented to the module
/// interface.
fn assert_rustflow_interfaces(interface: &Value) {
    assert_eq!(interface["name"], "mod_rustflow", "{interface}");
    assert_eq!(
        names(&interface["apps"]),
        ["rustflow", "rustflow_attempt"],
        "{interface}"
    );
    assert_eq!(names(&interface["apis"]), ["rustflow"], "{interface}");
    let (app, attempt_app) = (&interface["apps"][0], &interface["apps"][1]);
    let api = &interface["apis"][0];
    for interface in [app, attempt_app, api] {
        assert_eq!(interface["has_function"], true);
        assert_eq!(interface["parent_ok"], true);
    }
    for field in [
        &app["short_desc"],
        &app["syntax"],
        &attempt_app["short_desc"],
        &attempt_app["syntax"],
        &api["desc"],
        &api["syntax"],
    ] {
        assert!(
            field.as_str().is_some_and(|s| !s.is_empty()),
            "empty description field in {interface}"
        );
    }
}

#[test]
fn fake_core_implements_every_function_of_the_abi_header() {
    let functions = header_functions();
    assert!(
        functions.len() >= 15,
        "header parse found too few functions: {functions:?}"
    );
    for f in &functions {
        assert!(fakecore_exports(f), "libfakecore.so does not export {f}");
    }
    assert!(module_exports("mod_rustflow_module_interface"));
}

#[test]
fn fake_core_exports_no_switch_function_the_abi_header_does_not_declare() {
    // A function the module no longer declares must leave the fake core too: otherwise the
    // harness keeps passing for calls the module cannot make.
    let declared = header_functions();
    let exported = fakecore_switch_exports();
    assert!(
        exported.len() >= 15,
        "nm found too few switch_ exports: {exported:?}"
    );
    let extra: Vec<&String> = exported.iter().filter(|f| !declared.contains(f)).collect();
    assert!(
        extra.is_empty(),
        "libfakecore.so exports functions {ABI_HEADER} does not declare: {extra:?}"
    );
}

#[test]
fn load_registers_exactly_the_rustflow_app_and_api() {
    let mut h = Harness::new();
    h.write_flow("busy", BUSY_FLOW);
    h.write_flow("other.flow-1", BUSY_FLOW);
    let loaded = h.load();
    assert_rustflow_interfaces(&loaded.interface);

    // The configuration came through the XML registry and the tree was handed back.
    let record = FakeCore::global_record();
    assert!(
        record.contains(
            &json!({"fn": "switch_xml_open_cfg", "file": "mod_rustflow.conf", "params": false})
        ),
        "{record:?}"
    );
    let xml = FakeCore::xml_stats();
    assert_eq!(xml["opened"], 1, "{xml}");
    assert_eq!(xml["freed"], 1, "{xml}");

    // Tab completion: the old entries dropped, then the subcommands and the flow ids.
    let complete = FakeCore::complete_strings();
    assert_eq!(
        complete.first().map(String::as_str),
        Some("del rustflow"),
        "{complete:?}"
    );
    for word in ["reload", "list", "stats", "version"] {
        assert!(
            complete
                .iter()
                .any(|c| c == &format!("add rustflow {word}")),
            "no completion for {word}: {complete:?}"
        );
    }
    for id in ["busy", "other.flow-1"] {
        for word in ["show", "validate"] {
            assert!(
                complete
                    .iter()
                    .any(|c| c == &format!("add rustflow {word} {id}")),
                "no completion `{word} {id}`: {complete:?}"
            );
        }
    }

    // Load is logged through the switch logger (global channel, no uuid).
    let expected = format!("rustflow: loaded 2 flows from {}", h.flows_dir().display());
    assert!(
        FakeCore::logs()
            .iter()
            .any(|l| l.level == LOG_NOTICE && l.uuid.is_none() && l.text.trim_end() == expected),
        "no `{expected}` line:\n{}",
        FakeCore::logs_text()
    );

    assert_eq!(h.shutdown(), STATUS_SUCCESS);
    let complete = FakeCore::complete_strings();
    assert_eq!(
        complete.last().map(String::as_str),
        Some("del rustflow"),
        "shutdown removes completions: {complete:?}"
    );
}

#[test]
fn shutdown_then_load_again_works_twice() {
    let mut h = Harness::new();
    h.write_flow("busy", BUSY_FLOW);
    for round in 0..3 {
        let loaded = h.load();
        assert_rustflow_interfaces(&loaded.interface);
        let call = h.run_flow("busy");
        assert_eq!(
            call.hangup_cause,
            Some(CAUSE_USER_BUSY),
            "round {round}: {:?}",
            call.record
        );
        assert!(h.api_ok("list").contains("busy"), "round {round}");
        assert_eq!(h.shutdown(), STATUS_SUCCESS, "round {round}");
        assert!(!h.is_loaded());
    }
    h.assert_no_core_errors();
}

#[test]
fn missing_configuration_falls_back_to_defaults() {
    let mut h = Harness::new();
    // No mod_rustflow.conf at all: flows-dir defaults to $${conf_dir}/flows.
    h.set_config_xml(None);
    FakeCore::set_global("conf_dir", Some(&h.root().display().to_string()));
    h.write_flow("busy", BUSY_FLOW);
    h.load();
    assert!(
        FakeCore::logs()
            .iter()
            .any(|l| l.level == LOG_NOTICE && l.text.contains("mod_rustflow.conf")),
        "a missing configuration is reported at NOTICE:\n{}",
        FakeCore::logs_text()
    );
    assert!(h.api_ok("list").contains("busy"));
    let call = h.run_flow("busy");
    assert_eq!(call.hangup_cause, Some(CAUSE_USER_BUSY));
}

#[test]
fn unknown_config_params_are_reported_at_load() {
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    h.set_params(&[("flows-dir", &flows), ("flows-dri", "/nowhere")]);
    h.write_flow("busy", BUSY_FLOW);
    let _ = h.try_load();
    let logs = FakeCore::logs();
    assert!(
        logs.iter()
            .any(|l| l.level <= LOG_WARNING && l.text.contains("flows-dri")),
        "unknown param not reported:\n{}",
        FakeCore::logs_text()
    );
}

#[test]
fn fake_core_flags_a_log_format_other_than_plain_string() {
    // Proves the "%s"-only check the other tests rely on can fail.
    let h = Harness::new();
    type LogPrintf =
        unsafe extern "C" fn(i32, *const i8, *const i8, i32, *const i8, i32, *const i8, ...);
    // SAFETY: switch_log_printf has exactly this C signature (include/rustflow_abi.h).
    let log: LogPrintf = unsafe { std::mem::transmute(FakeCore::symbol("switch_log_printf")) };
    // SAFETY: valid C strings; "%d" with an int argument is a well-formed C call.
    unsafe {
        log(
            0,
            c"t.rs".as_ptr(),
            c"f".as_ptr(),
            1,
            std::ptr::null(),
            4,
            c"%d".as_ptr(),
            7,
        )
    };
    // SAFETY: as above, with the format the module must use.
    unsafe {
        log(
            0,
            c"t.rs".as_ptr(),
            c"f".as_ptr(),
            2,
            std::ptr::null(),
            4,
            c"%s".as_ptr(),
            c"plain".as_ptr(),
        )
    };
    let errors = FakeCore::take_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("\"%d\""), "{errors:?}");
    let logs = FakeCore::logs();
    assert_eq!(logs.last().map(|l| l.text.as_str()), Some("plain"));
    assert_eq!(logs.last().map(|l| l.line), Some(2));
    h.assert_no_core_errors();
}

#[test]
fn unloading_the_library_and_loading_it_again_works() {
    // `reload mod_rustflow`: shutdown, dlclose, dlopen, look the table up by name, load.
    let mut h = Harness::new();
    h.write_flow("busy", BUSY_FLOW);
    for round in 0..3 {
        let loaded = h.load();
        assert_rustflow_interfaces(&loaded.interface);
        let call = h.run_flow("busy");
        assert_eq!(call.hangup_cause, Some(CAUSE_USER_BUSY), "round {round}");
        assert!(
            h.api_ok("stats").contains("calls total: 1\n"),
            "round {round}: fresh state after a reload"
        );
        assert_eq!(h.shutdown(), STATUS_SUCCESS, "round {round}");
        h.reopen_module();
    }
}

#[test]
fn warnings_are_logged_once_per_load_and_reload() {
    let mut h = Harness::new();
    // A step after hangup (a warning) reading a variable nothing sets (a note).
    h.write_flow(
        "trapped",
        "[\n  {\"hangup\": \"\"},\n  {\"log\": \"${vip}\"}\n]\n",
    );
    h.load();
    let file = h.flows_dir().join("trapped.json").display().to_string();
    let warning = format!(
        "rustflow: {file}:3:3: /1: warning[unreachable]: this step never runs: `hangup` at /0/hangup ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `hangup`"
    );
    let count = |level: i64, prefix: &str| {
        FakeCore::logs()
            .iter()
            .filter(|l| {
                l.level == level && l.uuid.is_none() && l.text.trim_end().starts_with(prefix)
            })
            .count()
    };
    let note = format!("rustflow: {file}:3:11: /1/log: note[unset-variable]: `vip` is read");
    assert_eq!(count(LOG_WARNING, &warning), 1, "{}", FakeCore::logs_text());
    assert_eq!(count(LOG_INFO, &note), 1, "{}", FakeCore::logs_text());
    h.api_ok("reload");
    assert_eq!(count(LOG_WARNING, &warning), 2, "{}", FakeCore::logs_text());
    assert_eq!(count(LOG_INFO, &note), 2, "{}", FakeCore::logs_text());
    // The flow loaded all the same.
    assert!(h.api_ok("list").contains("trapped"));
}
