//! Calls through the `rustflow` dialplan app: the exact core calls a flow makes, a caller
//! hanging up mid-flow, hostile flow ids, and how per-call lines are logged.

use rustflow_harness::*;
use serde_json::{Value, json};

const TONE: &str = "%(1000,0,440)";

fn busy_flow() -> String {
    format!(
        r#"[{{"answer": ""}},
            {{"playback": {{"files": [{{"type": "tone", "name": "{TONE}"}}]}}}},
            {{"hangup": "USER_BUSY"}}]"#
    )
}

fn set_var(name: &str, value: &str) -> Value {
    json!({"fn": "switch_channel_set_variable_var_check", "name": name, "value": value, "var_check": false})
}

/// The `rustflow_flow_version` the API reports for a loaded flow.
fn api_version_of(h: &Harness, id: &str) -> String {
    let shown = h.api(&format!("show {id} json")).json();
    shown["version"]
        .as_str()
        .unwrap_or_else(|| panic!("`show {id} json` has no version: {shown}"))
        .to_string()
}

#[test]
fn answer_playback_hangup_makes_exactly_those_core_calls() {
    let mut h = Harness::new();
    h.write_flow("busy", &busy_flow());
    h.load();
    let call = h.run(
        json!({"profile": {"caller_id_number": "1000", "destination_number": "700"}}),
        "busy",
    );

    let version = call
        .var("rustflow_flow_version")
        .expect("rustflow_flow_version is set")
        .to_string();
    assert!(
        version.len() == 16 && version.chars().all(|c| c.is_ascii_hexdigit()),
        "{version}"
    );
    assert_eq!(version, api_version_of(&h, "busy"));

    assert_eq!(
        call.call_control(),
        vec![
            json!({"fn": "switch_channel_perform_answer"}),
            json!({"fn": "switch_ivr_play_file", "file": format!("tone_stream://{TONE}"), "fh": false, "args": false}),
            json!({"fn": "switch_channel_perform_hangup", "cause": CAUSE_USER_BUSY}),
        ],
        "full record: {:#?}",
        call.record
    );
    // The whole ordered record, variable traffic included (polling calls aside).
    assert_eq!(
        call.calls(),
        vec![
            // The engine reads the call's timezone once (time functions, spec section 3).
            json!({"fn": "switch_channel_get_variable_strdup", "name": "timezone"}),
            set_var("rustflow_flow_id", "busy"),
            set_var("rustflow_flow_version", &version),
            json!({"fn": "switch_channel_perform_answer"}),
            json!({"fn": "switch_ivr_play_file", "file": format!("tone_stream://{TONE}"), "fh": false, "args": false}),
            json!({"fn": "switch_channel_perform_hangup", "cause": CAUSE_USER_BUSY}),
            set_var("rustflow_steps", "3"),
        ],
        "full record: {:#?}",
        call.record
    );
    assert!(!call.up);
    assert!(call.answered);
    assert_eq!(call.hangup_cause, Some(CAUSE_USER_BUSY));
    assert_eq!(call.var("rustflow_error"), None);
    // Each step is logged at DEBUG with the call's uuid (spec section 5).
    let logs = FakeCore::logs();
    for pointer in ["/0/answer", "/1/playback", "/2/hangup"] {
        assert!(
            logs.iter().any(|l| l.level == LOG_DEBUG
                && l.uuid.as_deref() == Some(call.uuid.as_str())
                && l.text.contains(pointer)),
            "no DEBUG line for step {pointer}:\n{}",
            FakeCore::logs_text()
        );
    }
    // Before every step the engine asks whether the call is still up (the channel state),
    // so a caller who hung up ends the flow at the next step instead of meeting a dead
    // channel.
    let mut state_read = false;
    for entry in &call.record {
        match entry["fn"].as_str() {
            Some("switch_channel_get_state") => state_read = true,
            Some(
                step @ ("switch_channel_perform_answer"
                | "switch_ivr_play_file"
                | "switch_channel_perform_hangup"),
            ) => {
                assert!(
                    state_read,
                    "no channel-state check before {step}: {:#?}",
                    call.record
                );
                state_read = false;
            }
            _ => {}
        }
    }
}

#[test]
fn debug_lines_are_not_written_when_freeswitch_would_drop_them() {
    let mut h = Harness::new();
    h.write_flow(
        "quiet",
        r#"[{"set": {"a": "1"}}, {"js": {"data": "throw 'no'", "setVar": "x"}}, {"hangup": "USER_BUSY"}]"#,
    );
    h.load();
    let uuid_lines = |uuid: &str, level: i64| {
        FakeCore::logs()
            .into_iter()
            .filter(|l| l.level == level && l.uuid.as_deref() == Some(uuid))
            .count()
    };

    // Hard level WARNING, session level unset: no DEBUG line reaches switch_log_printf, the
    // WARNING of the failing `js` step does.
    FakeCore::set_hard_log_level(LOG_WARNING);
    let quiet = h.run(json!({}), "quiet");
    assert_eq!(quiet.hangup_cause, Some(CAUSE_USER_BUSY));
    assert_eq!(
        uuid_lines(&quiet.uuid, LOG_DEBUG),
        0,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(
        uuid_lines(&quiet.uuid, LOG_WARNING),
        1,
        "{}",
        FakeCore::logs_text()
    );

    // The session's own level (session_loglevel debug) lifts it for that call alone.
    let traced = h.run(json!({"script": {"loglevel": LOG_DEBUG}}), "quiet");
    assert_eq!(
        uuid_lines(&traced.uuid, LOG_DEBUG),
        5, // the flow's start, its three steps, its end
        "{}",
        FakeCore::logs_text()
    );

    // Back at DEBUG (fsctl loglevel debug), every step is logged again.
    FakeCore::set_hard_log_level(LOG_DEBUG);
    let loud = h.run(json!({}), "quiet");
    assert_eq!(
        uuid_lines(&loud.uuid, LOG_DEBUG),
        5, // the flow's start, its three steps, its end
        "{}",
        FakeCore::logs_text()
    );
}

#[test]
fn caller_hanging_up_during_playback_stops_the_flow() {
    let mut h = Harness::new();
    h.write_flow(
        "long",
        r#"[{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(500,0,350)"}]}},
            {"set": {"after_first": "yes"}},
            {"playback": {"files": [{"type": "tone", "name": "%(500,0,440)"}]}},
            {"hangup": "USER_BUSY"}]"#,
    );
    h.load();
    let call = h.run(json!({"script": {"hangup_on_play": 1}}), "long");
    assert_eq!(
        call.call_control(),
        vec![
            json!({"fn": "switch_channel_perform_answer"}),
            json!({"fn": "switch_ivr_play_file", "file": "tone_stream://%(500,0,350)", "fh": false, "args": false}),
            json!({"event": "remote_hangup", "cause": CAUSE_NORMAL_CLEARING, "why": "hangup_on_play"}),
        ],
        "full record: {:#?}",
        call.record
    );
    // Nothing of the flow after the hangup; only what the module records when a flow ends.
    let hangup_at = call
        .record
        .iter()
        .position(|e| e["event"] == "remote_hangup")
        .expect("hangup recorded");
    for later in &call.record[hangup_at + 1..] {
        let f = later["fn"].as_str().unwrap_or("");
        let allowed = POLLING_CALLS.contains(&f)
            || (f == "switch_channel_set_variable_var_check"
                && later["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("rustflow_")));
        assert!(
            allowed,
            "core call after the caller hung up: {later}\nfull record: {:#?}",
            call.record
        );
    }
    assert_eq!(call.var("after_first"), None);
    assert_eq!(call.hangup_cause, Some(CAUSE_NORMAL_CLEARING));
}

#[test]
fn caller_hanging_up_during_a_sleep_stops_the_flow() {
    let mut h = Harness::new();
    h.write_flow(
        "sleepy",
        r#"[{"answer": ""}, {"sleep": 10000}, {"set": {"woke": "yes"}},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}]}}]"#,
    );
    h.load();
    let call = h.run(json!({"script": {"hangup_after_ms": 50}}), "sleepy");
    let control = call.call_control();
    assert_eq!(
        control[0],
        json!({"fn": "switch_channel_perform_answer"}),
        "{control:#?}"
    );
    assert!(
        control.iter().any(|e| e["fn"] == "switch_ivr_sleep"),
        "{control:#?}"
    );
    assert_eq!(
        control.last(),
        Some(
            &json!({"event": "remote_hangup", "cause": CAUSE_NORMAL_CLEARING, "why": "hangup_after_ms"})
        ),
        "{control:#?}"
    );
    assert!(
        !control.iter().any(|e| e["fn"] == "switch_ivr_play_file"),
        "{control:#?}"
    );
    assert_eq!(call.var("woke"), None);
}

#[test]
fn hostile_and_unknown_flow_ids_are_rejected_before_any_file_is_touched() {
    let mut h = Harness::new();
    h.write_flow("busy", &busy_flow());
    // Flows that must never run: next to flows-dir, and at an absolute path.
    let evil = r#"[{"answer": ""}, {"set": {"evil_ran": "yes"}}, {"hangup": "USER_BUSY"}]"#;
    std::fs::write(h.root().join("evil.json"), evil).unwrap();
    std::fs::create_dir_all(h.flows_dir().join("sub")).unwrap();
    std::fs::write(h.flows_dir().join("sub").join("nested.json"), evil).unwrap();
    h.load();
    let absolute = h.root().join("evil").display().to_string();
    let hostile = [
        "../evil",
        "sub/../../evil",
        absolute.as_str(),
        "sub/nested",
        "..",
        "busy/..",
        "nosuch",
        "",
        "bad id with spaces", // the id is the first word: `bad` is unknown
    ];
    for data in hostile {
        let before = FakeCore::logs().len();
        let call = h.run(json!({}), data);
        let calls = call.calls();
        assert!(
            calls.is_empty(),
            "`rustflow {data}` touched the call: {calls:#?}"
        );
        assert_eq!(
            call.var("evil_ran"),
            None,
            "`rustflow {data}` ran a flow outside flows-dir"
        );
        assert!(call.up, "`rustflow {data}` hung up the call");
        let logs = FakeCore::logs();
        let new: Vec<&LogLine> = logs[before..].iter().collect();
        assert_eq!(new.len(), 1, "one log line for `rustflow {data}`: {new:#?}");
        let line = new[0];
        assert_eq!(line.level, LOG_ERROR, "{line}");
        assert_eq!(line.uuid.as_deref(), Some(call.uuid.as_str()), "{line}");
        let id = data.split_whitespace().next().unwrap_or("");
        let expected = if id.is_empty() {
            "rustflow: no flow id given; usage: rustflow FLOW_ID [ARG ...]".to_string()
        } else if id == "nosuch" || id == "bad" {
            format!(
                "rustflow: unknown flow id \"{id}\" (1 flows loaded from {})",
                h.flows_dir().display()
            )
        } else {
            format!(
                "rustflow: invalid flow id \"{id}\": an id is 1-128 characters of A-Z a-z 0-9 _ . - without \"..\""
            )
        };
        assert_eq!(line.text.trim_end(), expected, "for `rustflow {data}`");
    }
    // The module keeps serving good ids.
    let call = h.run_flow("busy");
    assert_eq!(call.hangup_cause, Some(CAUSE_USER_BUSY));
    // And flows outside flows-dir were never loaded either.
    let list = h.api_ok("list");
    assert!(!list.contains("evil") && !list.contains("nested"), "{list}");
}

#[test]
fn per_call_log_lines_carry_the_session_uuid_and_escape_nul() {
    let mut h = Harness::new();
    h.write_flow(
        "loggy",
        r#"[{"log": "hello from loggy"}, {"log": "before-nul\u0000after-nul"}, {"set": {"x": "1"}}]"#,
    );
    h.load();
    let before = FakeCore::logs().len();
    let session = Session::new(json!({"uuid": "6c2a1f0e-0000-4000-8000-00000000beef"}));
    session.exec("rustflow", "loggy");
    let logs = FakeCore::logs();
    let during = &logs[before..];
    assert!(!during.is_empty());
    for line in during {
        assert_eq!(
            line.uuid.as_deref(),
            Some("6c2a1f0e-0000-4000-8000-00000000beef"),
            "per-call line without the uuid: {line}"
        );
        assert!(
            !line.file.is_empty() && line.line > 0,
            "log line without a source location: {line}"
        );
    }
    assert!(
        during.iter().any(|l| l.text.contains("hello from loggy")),
        "{}",
        FakeCore::logs_text()
    );
    assert!(
        during
            .iter()
            .any(|l| l.text.contains("before-nul") && l.text.contains("after-nul")),
        "a NUL in a message must be escaped, not cut or dropped:\n{}",
        FakeCore::logs_text()
    );
    // Every line so far used the constant "%s" format (the core records any other).
    h.assert_no_core_errors();
}

#[test]
fn arguments_after_the_flow_id_reach_the_flow() {
    let mut h = Harness::new();
    h.write_flow("args", r#"[{"set": {"first": "$1", "all": "$0"}}]"#);
    h.load();
    let call = h.run_flow("args  alpha beta");
    assert_eq!(call.var("first"), Some("alpha"), "{:#?}", call.record);
    assert_eq!(call.var("all"), Some("alpha beta"), "{:#?}", call.record);
}

#[test]
fn early_media_variables_exports_and_globals_go_through_the_core() {
    let mut h = Harness::new();
    h.write_flow(
        "vars",
        r#"[{"ringReady": ""},
            {"preAnswer": ""},
            {"set": {"who": "${caller_id_number}", "dest": "${destination_number}", "me": "${uuid}", "dom": "$${domain}"}},
            {"setAll": {"shared": "s1"}},
            {"setNoLocal": {"bonly": "b1"}},
            {"unSet": ["preset"]}]"#,
    );
    h.load();
    FakeCore::set_global("domain", Some("example.org"));
    let uuid = "0f0e0d0c-0000-4000-8000-000000000abc";
    let call = h.run(
        json!({
            "uuid": uuid,
            "variables": {"preset": "p"},
            "profile": {"caller_id_number": "1000", "destination_number": "700"},
        }),
        "vars",
    );
    assert_eq!(
        call.call_control(),
        vec![
            json!({"fn": "switch_channel_perform_ring_ready_value", "value": 1}),
            json!({"fn": "switch_channel_perform_pre_answer"}),
        ],
        "{:#?}",
        call.record
    );
    // Caller-profile names resolve through the channel; globals through the core.
    assert_eq!(call.var("who"), Some("1000"));
    assert_eq!(call.var("dest"), Some("700"));
    assert_eq!(call.var("me"), Some(uuid));
    assert_eq!(call.var("dom"), Some("example.org"));
    assert!(
        FakeCore::global_record()
            .contains(&json!({"fn": "switch_core_get_variable_dup", "name": "domain"})),
        "globals are read with switch_core_get_variable_dup"
    );
    // setAll exports and sets; setNoLocal exports only (FreeSWITCH's `nolocal:` prefix).
    let exports: Vec<Value> = call
        .record
        .iter()
        .filter(|e| e["fn"] == "switch_channel_export_variable_var_check")
        .cloned()
        .collect();
    assert_eq!(
        exports,
        vec![
            json!({"fn": "switch_channel_export_variable_var_check", "name": "shared", "value": "s1", "export_varname": "export_vars", "var_check": false}),
            json!({"fn": "switch_channel_export_variable_var_check", "name": "nolocal:bonly", "value": "b1", "export_varname": "export_vars", "var_check": false}),
        ]
    );
    assert_eq!(call.var("shared"), Some("s1"));
    assert_eq!(call.var("bonly"), None);
    assert_eq!(call.var("export_vars"), Some("shared,nolocal:bonly"));
    // unSet removes with a NULL value.
    assert!(
        call.var_writes().contains(&("preset".to_string(), None)),
        "{:#?}",
        call.record
    );
    assert_eq!(call.var("preset"), None);
    // The flow ended without hanging up: the dialplan continues.
    assert!(call.up);
    assert_eq!(call.var("rustflow_steps"), Some("6"));
}
