//! Every call application of issue 4 through the module and the fake core: the exact core
//! calls and their arguments, the variables the flow sees afterwards, and the error cases
//! (missing required field = load error naming the file and JSON pointer, bad value = a
//! step error in `rustflow_error`, call hung up = the flow stops with nothing more sent).

use rustflow_harness::*;
use serde_json::{Value, json};

/// Loads `flow` as flow `f` (with extra config params), runs it on a session from `spec`,
/// shuts the module down (the harness checks the core saw no contract violation) and returns
/// the call's final state.
fn run_with(params: &[(&str, &str)], flow: &str, spec: Value) -> SessionInfo {
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    let mut all: Vec<(&str, &str)> = vec![("flows-dir", flows.as_str())];
    all.extend_from_slice(params);
    h.set_params(&all);
    h.write_flow("f", flow);
    h.load();
    assert!(
        h.api_ok("list").lines().any(|l| l.starts_with("f\t")),
        "flow f did not load:\n{}",
        FakeCore::logs_text()
    );
    h.run(spec, "f")
}

fn run(flow: &str, spec: Value) -> SessionInfo {
    run_with(&[], flow, spec)
}

/// The ERROR lines logged when loading a flow directory holding only `flow` (the module
/// loads, with no flows).
fn load_errors(flow: &str) -> String {
    let mut h = Harness::new();
    h.write_flow("bad", flow);
    h.load();
    let errors = FakeCore::error_text();
    assert!(
        !errors.is_empty(),
        "flow {flow} loaded without errors:\n{}",
        FakeCore::logs_text()
    );
    assert!(
        !h.api_ok("list").contains("bad"),
        "a broken flow was loaded"
    );
    errors
}

fn step_error(call: &SessionInfo) -> &str {
    call.var("rustflow_error")
        .unwrap_or_else(|| panic!("no rustflow_error; record: {:#?}", call.record))
}

/// The failing step's `rustflow_error` contains `reason`.
fn assert_step_error(call: &SessionInfo, reason: &str) {
    assert!(step_error(call).contains(reason), "{}", step_error(call));
}

/// The step was refused before reaching the core: `core_fn` was never called and
/// `rustflow_error` contains `reason`. `what` (the case tried) starts each failure message.
fn assert_refused(what: &str, call: &SessionInfo, core_fn: &str, reason: &str) {
    assert!(
        call.calls_to(core_fn).is_empty(),
        "{what}: {core_fn} was called: {:#?}",
        call.record
    );
    assert!(
        step_error(call).contains(reason),
        "{what}: {}",
        step_error(call)
    );
}

/// Loads `flow` as flow `f` (with extra config params) while the FreeSWITCH module `module`
/// is absent from the core, and runs it on a plain session.
fn run_without_module(module: &str, params: &[(&str, &str)], flow: &str) -> SessionInfo {
    let mut h = Harness::new();
    if !params.is_empty() {
        let flows = h.flows_dir().display().to_string();
        let mut all: Vec<(&str, &str)> = vec![("flows-dir", flows.as_str())];
        all.extend_from_slice(params);
        h.set_params(&all);
    }
    h.write_flow("f", flow);
    FakeCore::set_module(module, false);
    h.load();
    h.run(json!({}), "f")
}

fn exec_app(app: &str, arg: &str) -> Value {
    json!({"fn": "switch_core_session_execute_application_get_flags", "app": app, "arg": arg, "flags": false, "expands": false})
}

// ---- answer, preAnswer, ringReady, hangup ----------------------------------------------------

#[test]
fn answer_pre_answer_ring_ready_and_hangup_causes() {
    let call = run(
        r##"[{"ringReady": ""}, {"preAnswer": ""}, {"answer": ""}, {"hangup": "call_rejected"}]"##,
        json!({}),
    );
    assert_eq!(
        call.call_control(),
        vec![
            json!({"fn": "switch_channel_perform_ring_ready_value", "value": 1}),
            json!({"fn": "switch_channel_perform_pre_answer"}),
            json!({"fn": "switch_channel_perform_answer"}),
            json!({"fn": "switch_channel_perform_hangup", "cause": 21}),
        ]
    );
    // Numbers work as causes too.
    let call = run(r##"[{"hangup": "806"}]"##, json!({}));
    assert_eq!(
        call.hangup_cause,
        Some(806),
        "USER_NOT_REGISTERED by number"
    );
    // No cause: NORMAL_CLEARING.
    let call = run(r##"[{"hangup": ""}]"##, json!({}));
    assert_eq!(call.hangup_cause, Some(CAUSE_NORMAL_CLEARING));
}

#[test]
fn an_unknown_hangup_cause_is_a_load_error() {
    let errors = load_errors(r##"[{"answer": ""}, {"hangup": "NOT_A_CAUSE"}]"##);
    assert!(
        errors.contains("bad.json")
            && errors.contains("/1/hangup")
            && errors.contains("NOT_A_CAUSE"),
        "{errors}"
    );
}

#[test]
fn a_call_already_gone_gets_no_answer() {
    let call = run(
        r##"[{"answer": ""}, {"set": {"after": "yes"}}]"##,
        json!({"script": {"hangup_after_ms": 0}}),
    );
    assert!(
        call.calls_to("switch_channel_perform_answer").is_empty(),
        "{:#?}",
        call.record
    );
    assert_eq!(call.var("after"), None);
}

// ---- sipRedirect -------------------------------------------------------------------------

#[test]
fn sip_redirect_sends_302_before_answer_and_refer_after() {
    let flow =
        r##"[{"sipRedirect": ["sip:queue@pbx2.example.test", "sip:backup@pbx3.example.test"]}]"##;
    let call = run(flow, json!({}));
    assert_eq!(
        call.calls_to("switch_core_session_execute_application_get_flags"),
        vec![exec_app(
            "redirect",
            "sip:queue@pbx2.example.test,sip:backup@pbx3.example.test"
        )]
    );
    // Answered: REFER to the first URI (deflect).
    let answered = format!(r#"[{{"answer": ""}}, {}"#, &flow[1..]);
    let call = run(&answered, json!({}));
    assert_eq!(
        call.calls_to("switch_core_session_execute_application_get_flags"),
        vec![exec_app("deflect", "sip:queue@pbx2.example.test")]
    );
}

#[test]
fn sip_redirect_refuses_uris_that_would_add_contacts() {
    for uri in [
        "sip:a@b,sip:evil@x",
        "sip:a b@c",
        "sip:<x>",
        "sip:a@b\nX: y",
    ] {
        let flow = json!([{"sipRedirect": [uri]}]).to_string();
        let call = run(&flow, json!({}));
        assert_refused(
            &format!("{uri:?}"),
            &call,
            "switch_core_session_execute_application_get_flags",
            "is not a plain SIP URI",
        );
    }
}

// ---- ringback, updateCid -------------------------------------------------------------------

#[test]
fn ringback_sets_the_three_variables_and_exports_them() {
    let call = run(
        r##"[{"ringback": {"call": {"type": "tone", "name": "%(2000,4000,440,480)"},
                          "transfer": {"type": "silence", "name": "200"},
                          "hold": {"type": "tone", "name": "%(500,500,350)"}, "all": true}}]"##,
        json!({}),
    );
    assert_eq!(
        call.var("ringback"),
        Some("tone_stream://%(2000,4000,440,480)")
    );
    assert_eq!(call.var("transfer_ringback"), Some("silence_stream://200"));
    assert_eq!(call.var("hold_music"), Some("tone_stream://%(500,500,350)"));
    let exported: Vec<&str> = call
        .var("bridge_export_vars")
        .unwrap_or("")
        .split(',')
        .collect();
    for v in ["ringback", "transfer_ringback", "hold_music"] {
        assert!(exported.contains(&v), "{exported:?}");
    }
    assert!(
        call.call_control().is_empty(),
        "ringback only sets variables: {:#?}",
        call.record
    );
}

#[test]
fn update_cid_changes_the_caller_profile_and_effective_ids() {
    let call = run(
        r##"[{"updateCid": {"name": "Support ${team}", "number": "+380440000000"}}]"##,
        json!({"variables": {"team": "Kyiv"}}),
    );
    assert_eq!(
        call.calls_to("switch_channel_set_profile_var"),
        vec![
            json!({"fn": "switch_channel_set_profile_var", "name": "caller_id_name", "value": "Support Kyiv"}),
            json!({"fn": "switch_channel_set_profile_var", "name": "caller_id_number", "value": "+380440000000"}),
        ]
    );
    assert_eq!(call.var("effective_caller_id_name"), Some("Support Kyiv"));
    assert_eq!(
        call.var("effective_caller_id_number"),
        Some("+380440000000")
    );
    assert_eq!(call.raw["profile"]["caller_id_name"], "Support Kyiv");
}

// ---- park, conference ------------------------------------------------------------------------

#[test]
fn park_runs_valet_park_in_the_domain_lot() {
    let flow = r##"[{"answer": ""}, {"park": {"name": "lobby", "lot": "100-110", "auto": "in"}}]"##;
    let call = run(flow, json!({"variables": {"domain_name": "example.org"}}));
    assert_eq!(
        call.calls_to("switch_core_session_execute_application_get_flags"),
        vec![exec_app("valet_park", "example.org@lobby auto in 100 110")]
    );
    // Without mod_valet_parking: a clear error naming it, and no application run.
    let call = run_without_module("mod_valet_parking", &[], flow);
    assert_refused(
        "without mod_valet_parking",
        &call,
        "switch_core_session_execute_application_get_flags",
        "mod_valet_parking",
    );
}

#[test]
fn pickup_answers_a_call_ringing_in_the_group_and_ends_the_flow() {
    let flow = r##"[{"answer": ""},
        {"pickup": {"name": "support"}},
        {"set": {"after_nothing": "yes"}},
        {"pickup": {"name": "${group}"}},
        {"set": {"after_pickup": "yes"}}]"##;
    let call = run(
        flow,
        json!({"variables": {"domain_name": "example.org", "group": "sales"},
               "script": {"pickup_ringing": ["sales@example.org"]}}),
    );
    assert_eq!(
        call.calls_to("switch_core_session_execute_application_get_flags"),
        vec![
            exec_app("pickup", "support@example.org"),
            exec_app("pickup", "sales@example.org"),
        ]
    );
    assert!(
        call.record
            .contains(&json!({"event": "picked_up", "key": "sales@example.org"})),
        "{:#?}",
        call.record
    );
    // Nothing rang in `support`: the flow went on; `sales` was picked up: the flow ended
    // there, the channel now belongs to the other call's bridge (not hung up by us).
    assert_eq!(call.var("after_nothing"), Some("yes"));
    assert_eq!(call.var("after_pickup"), None);
    assert_eq!(call.var("rustflow_steps"), Some("4"));
    assert_eq!(call.var("rustflow_error"), None);
    assert!(call.calls_to("switch_channel_perform_hangup").is_empty());
    // Without mod_dptools: a clear error naming it, and no application run.
    let call = run_without_module("mod_dptools", &[], r##"[{"pickup": {"name": "support"}}]"##);
    assert_refused(
        "without mod_dptools",
        &call,
        "switch_core_session_execute_application_get_flags",
        "mod_dptools",
    );
}

#[test]
fn bridge_pickup_rings_the_group_alongside_the_legs() {
    let call = run(
        r##"[{"answer": ""}, {"set": {"team": "sales"}},
            {"bridge": {"pickup": "${team}", "strategy": "failover",
                        "endpoints": [{"type": "user", "extension": "1001"}, {"type": "user", "extension": "1002"}]}}]"##,
        json!({"variables": {"domain_name": "example.org"}, "script": {"bridge_ms": 10}}),
    );
    let originate = call.only_call("switch_ivr_originate");
    assert_eq!(
        originate["dial_string"],
        "pickup/sales@example.org:_:user/1001@example.org|user/1002@example.org"
    );
    assert_eq!(originate["parsed"]["enterprise"], true, "{originate:#}");
    assert_eq!(call.var("rustflow_bridge_result"), Some("answered"));
}

#[test]
fn a_pickup_group_from_the_caller_never_changes_the_dial_string() {
    for hostile in [
        "x,user/666",
        "x:_:user/666",
        "{a=b}x",
        "x|sofia/gateway/gw/1",
        "x y",
    ] {
        let call = run(
            r##"[{"pickup": {"name": "${group}"}}]"##,
            json!({"variables": {"domain_name": "example.org", "group": hostile}}),
        );
        assert_refused(
            hostile,
            &call,
            "switch_core_session_execute_application_get_flags",
            "pickup group",
        );
        let call = run(
            r##"[{"bridge": {"pickup": "${group}", "endpoints": [{"type": "user", "extension": "1001"}]}}]"##,
            json!({"variables": {"domain_name": "example.org", "group": hostile}}),
        );
        assert_refused(hostile, &call, "switch_ivr_originate", "pickup group");
    }
}

#[test]
fn conference_joins_name_at_profile_with_pin_and_flags() {
    let flow = r##"[{"answer": ""},
        {"conference": {"name": "room_${room}", "profile": "wideband", "pin": "1234", "tags": ["moderator", "endconf"]}},
        {"set": {"after": "left"}}]"##;
    let call = run(
        flow,
        json!({"variables": {"room": "7"}, "script": {"block_ms": 20}}),
    );
    assert_eq!(
        call.calls_to("switch_core_session_execute_application_get_flags"),
        vec![exec_app(
            "conference",
            "room_7@wideband+1234+flags{moderator|endconf}"
        )]
    );
    assert_eq!(call.var("after"), Some("left"));
    // A pin that is not DTMF is refused before anything runs.
    let call = run(
        r##"[{"conference": {"name": "r", "profile": "default", "pin": "12+flags{endconf}"}}]"##,
        json!({}),
    );
    assert_refused(
        "a pin that is not DTMF",
        &call,
        "switch_core_session_execute_application_get_flags",
        "must be DTMF digits",
    );
    // Without mod_conference: an error naming it.
    let call = run_without_module("mod_conference", &[], flow);
    assert_refused(
        "without mod_conference",
        &call,
        "switch_core_session_execute_application_get_flags",
        "mod_conference",
    );
}

#[test]
fn a_caller_hanging_up_in_a_conference_ends_the_flow() {
    let call = run(
        r##"[{"answer": ""}, {"conference": {"name": "r", "profile": "default"}}, {"set": {"after": "yes"}}]"##,
        json!({"script": {"block_ms": 5000, "hangup_after_ms": 50}}),
    );
    assert!(!call.up);
    assert_eq!(call.var("after"), None);
}

// ---- DTMF ------------------------------------------------------------------------------------

#[test]
fn inband_dtmf_start_stop_and_flush() {
    let call = run(
        r##"[{"answer": ""}, {"inBandDTMF": "start"}, {"flushDTMF": ""}, {"flushDtmf": ""}, {"inBandDTMF": "stop"}]"##,
        json!({}),
    );
    assert_eq!(
        call.call_control(),
        vec![
            json!({"fn": "switch_channel_perform_answer"}),
            json!({"fn": "switch_ivr_inband_dtmf_session"}),
            json!({"fn": "switch_channel_flush_dtmf"}),
            json!({"fn": "switch_channel_flush_dtmf"}),
            json!({"fn": "switch_ivr_stop_inband_dtmf_session"}),
        ]
    );
    assert_eq!(call.var("rustflow_error"), None);
}

#[test]
fn stopping_inband_dtmf_that_never_started_is_an_error() {
    let call = run(r##"[{"answer": ""}, {"inBandDTMF": "stop"}]"##, json!({}));
    assert_step_error(&call, "in-band DTMF stop failed");
}

// ---- playback with getDigits -------------------------------------------------------------------

#[test]
fn get_digits_passes_every_field_and_sets_the_variable() {
    let call = run(
        r##"[{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}, {"type": "silence", "name": "100"}],
                          "getDigits": {"setVar": "choice", "min": "1", "max": "3", "tries": "2", "timeout": "2000",
                                        "digitTimeout": 700, "terminators": "#", "regexp": "^[1-3]+$"}}},
            {"set": {"seen": "${choice}"}}]"##,
        json!({"script": {"digits": ["9", "12#"]}}),
    );
    let pagd = call.only_call("switch_play_and_get_digits");
    assert_eq!(
        pagd["file"],
        "file_string://tone_stream://%(100,0,440)!silence_stream://100"
    );
    assert_eq!(pagd["min"], 1);
    assert_eq!(pagd["max"], 3);
    assert_eq!(pagd["tries"], 2);
    assert_eq!(pagd["timeout"], 2000);
    assert_eq!(pagd["digit_timeout"], 700);
    assert_eq!(pagd["terminators"], "#");
    assert_eq!(pagd["regex"], "^[1-3]+$");
    assert_eq!(pagd["var_name"], "choice");
    assert_eq!(pagd["transfer_on_failure"], Value::Null);
    // "9" failed the regex (retried), "12#" was accepted.
    assert_eq!(call.var("choice"), Some("12"));
    assert_eq!(call.var("seen"), Some("12"));
    // As FreeSWITCH: the rejected input stays visible in VAR_invalid.
    assert_eq!(call.var("choice_invalid"), Some("9"));
}

#[test]
fn get_digits_with_no_valid_input_leaves_the_variable_empty() {
    let call = run(
        r##"[{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}],
                          "getDigits": {"setVar": "choice", "min": 2, "max": 2, "tries": 2}}},
            {"set": {"seen": "[${choice}]"}}]"##,
        json!({"script": {"digits": ["1", ""]}}),
    );
    assert_eq!(call.var("seen"), Some("[]"), "{:#?}", call.record);
    assert_eq!(call.raw["digits_left"], 0);
}

#[test]
fn get_digits_input_too_short_on_the_last_try_is_not_the_answer() {
    // FreeSWITCH's switch_ivr_read leaves what was keyed in VAR even when it is too short and
    // play_and_get_digits fails; the flow must not see it as the answer.
    let call = run(
        r##"[{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}],
                          "getDigits": {"setVar": "choice", "min": 2, "max": 2, "tries": 1}}},
            {"set": {"seen": "[${choice}]"}}]"##,
        json!({"script": {"digits": ["1"]}}),
    );
    assert_eq!(call.var("seen"), Some("[]"), "{:#?}", call.record);
}

#[test]
fn flush_dtmf_in_get_digits_drops_keys_pressed_before_the_prompt() {
    let flow = |flush: bool| {
        json!([{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}],
                          "getDigits": {"setVar": "d", "max": 1, "flushDTMF": flush}}}])
        .to_string()
    };
    let spec = json!({"script": {"queued_dtmf": "9", "digits": ["5"]}});
    let call = run(&flow(true), spec.clone());
    let control = call.call_control();
    let flush = control
        .iter()
        .position(|e| e["fn"] == "switch_channel_flush_dtmf");
    let pagd = control
        .iter()
        .position(|e| e["fn"] == "switch_play_and_get_digits");
    assert!(flush.is_some() && flush < pagd, "{control:#?}");
    assert_eq!(call.var("d"), Some("5"));
    let call = run(&flow(false), spec);
    assert_eq!(
        call.var("d"),
        Some("9"),
        "without flushDTMF the queued key counts"
    );
}

#[test]
fn a_hangup_during_get_digits_stops_the_flow() {
    let call = run(
        r##"[{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}], "getDigits": {"setVar": "d"}}},
            {"set": {"after": "yes"}}]"##,
        json!({"script": {"digits": ["hangup"]}}),
    );
    assert!(!call.up);
    assert_eq!(call.var("after"), None);
}

// ---- getSpeech ---------------------------------------------------------------------------------

#[test]
fn get_speech_uses_the_configured_asr_engine_and_sets_the_transcript() {
    let call = run_with(
        &[("asr-engine", "pocketsphinx"), ("asr-grammar", "yesno")],
        r##"[{"answer": ""},
            {"playback": {"files": [{"type": "tone", "name": "%(100,0,440)"}],
                          "getSpeech": {"setVar": "heard", "timeout": 3000}}}]"##,
        json!({"script": {"speech": ["{\"text\": \"yes please\"}"]}}),
    );
    let detect = call.only_call("switch_ivr_play_and_detect_speech");
    assert_eq!(
        detect,
        json!({"fn": "switch_ivr_play_and_detect_speech", "file": "tone_stream://%(100,0,440)",
               "mod_name": "pocketsphinx", "grammar": "yesno", "input_timeout": 3000, "args": false})
    );
    assert_eq!(call.var("heard"), Some("yes please"));
    assert_eq!(
        call.var("rustflow_speech_result"),
        Some("{\"text\": \"yes please\"}")
    );
}

#[test]
fn get_speech_without_its_asr_module_names_the_module() {
    let call = run_without_module(
        "mod_unimrcp",
        &[("asr-engine", "unimrcp:profile1")],
        r##"[{"answer": ""}, {"playback": {"files": [{"type": "silence", "name": "10"}], "getSpeech": {"setVar": "x"}}}]"##,
    );
    assert_refused(
        "without mod_unimrcp",
        &call,
        "switch_ivr_play_and_detect_speech",
        "mod_unimrcp",
    );
}

// ---- recordFile, recordSession -----------------------------------------------------------------

#[test]
fn record_file_writes_inside_recordings_dir_with_every_field() {
    let dir = TempDir::new("rec");
    let rec = dir.path().display().to_string();
    let call = run_with(
        &[("recordings-dir", &rec)],
        r##"[{"answer": ""},
            {"recordFile": {"name": "vm-${caller_id_number}", "type": "wav", "maxSec": 30,
                            "silenceThresh": 200, "silenceHits": 3, "terminators": "#", "voiceMail": true}}]"##,
        json!({"profile": {"caller_id_number": "1000"}}),
    );
    let path = format!("{rec}/vm-1000.wav");
    let record = call.only_call("switch_ivr_record_file");
    assert_eq!(record["file"], path);
    assert_eq!(record["limit"], 30);
    assert_eq!(
        record["fh"], true,
        "silence settings travel in a file handle"
    );
    assert_eq!(call.var("playback_terminators"), Some("#"));
    assert_eq!(call.var("rustflow_voicemail"), Some("true"));
    assert_eq!(call.var("rustflow_record_file"), Some(path.as_str()));
    assert!(std::path::Path::new(&path).exists());
}

#[test]
fn record_names_cannot_leave_recordings_dir() {
    let dir = TempDir::new("rec");
    let rec = dir.path().display().to_string();
    for name in ["../../etc/passwd", "/tmp/x", "a/b", ".hidden", "x\ny"] {
        let flow =
            json!([{"answer": ""}, {"recordFile": {"name": name, "type": "wav"}}]).to_string();
        let call = run_with(&[("recordings-dir", &rec)], &flow, json!({}));
        assert_refused(
            &format!("{name:?}"),
            &call,
            "switch_ivr_record_file",
            "recording name",
        );
    }
}

#[test]
fn record_session_start_and_stop_use_the_same_file() {
    let dir = TempDir::new("rec");
    let rec = dir.path().display().to_string();
    let call = run_with(
        &[("recordings-dir", &rec)],
        r##"[{"answer": ""},
            {"recordSession": {"action": "start", "name": "call", "type": "wav", "stereo": true, "minSec": "3"}},
            {"recordSession": {"action": "stop"}},
            {"recordSession": {"action": "stop"}}]"##,
        json!({}),
    );
    let path = format!("{rec}/call.wav");
    let start = call.only_call("switch_ivr_record_session");
    assert_eq!(start["file"], path);
    assert_eq!(
        call.calls_to("switch_ivr_stop_record_session"),
        vec![json!({"fn": "switch_ivr_stop_record_session", "file": path})]
    );
    assert_eq!(call.var("RECORD_STEREO"), Some("true"));
    assert_eq!(call.var("RECORD_MIN_SEC"), Some("3"));
    assert_eq!(call.raw["recordings"], json!([]));
    // The second stop has nothing to stop.
    assert_step_error(&call, "started no session recording");
}

// ---- tts -------------------------------------------------------------------------------------

#[test]
fn tts_plays_through_say_with_the_configured_engine() {
    let call = run_with(
        &[("tts-engine", "flite"), ("tts-voice", "kal")],
        r##"[{"answer": ""}, {"tts": {"text": "Hello, world"}}]"##,
        json!({}),
    );
    assert_eq!(
        call.calls_to("switch_ivr_play_file"),
        vec![
            json!({"fn": "switch_ivr_play_file", "file": "say:flite:kal:Hello, world", "fh": false, "args": false})
        ]
    );
}

#[test]
fn tts_without_its_engine_module_names_the_module() {
    let call = run_without_module(
        "mod_flite",
        &[("tts-engine", "flite"), ("tts-voice", "kal")],
        r##"[{"answer": ""}, {"tts": {"text": "Hello"}}]"##,
    );
    assert_refused(
        "without mod_flite",
        &call,
        "switch_ivr_play_file",
        "mod_flite",
    );
}

// ---- set / setAll / setNoLocal / unSet / export, sleep, echo --------------------------------------

#[test]
fn export_and_set_variants() {
    let call = run(
        r##"[{"set": {"a": "1", "b": "2"}}, {"export": ["b"]}, {"setAll": {"c": "3"}}, {"setNoLocal": {"d": "4"}}, {"unSet": "a"}]"##,
        json!({}),
    );
    assert!(
        call.var_writes()
            .contains(&("a".to_string(), Some("1".to_string())))
    );
    assert!(call.var_writes().contains(&("a".to_string(), None)));
    assert_eq!(call.var("a"), None);
    let exports: Vec<Value> = call
        .calls_to("switch_channel_export_variable_var_check")
        .iter()
        .map(|e| json!([e["name"], e["value"]]))
        .collect();
    // Webitel's export: the value goes to `usr_NAME` (what the CDR exports).
    assert_eq!(call.var("usr_b"), Some("2"));
    assert!(exports.contains(&json!(["c", "3"])), "{exports:?}");
    assert!(exports.contains(&json!(["nolocal:d", "4"])), "{exports:?}");
    assert_eq!(call.var("c"), Some("3"));
    assert_eq!(call.var("d"), None);
}

#[test]
fn sleep_sleeps_with_media_and_echo_is_clear_about_support() {
    let call = run(r##"[{"answer": ""}, {"sleep": 20}]"##, json!({}));
    assert_eq!(
        call.calls_to("switch_ivr_sleep"),
        vec![json!({"fn": "switch_ivr_sleep", "ms": 20, "sync": true, "args": false})]
    );
}

// ---- bridge --------------------------------------------------------------------------------------

fn originate_parse(call: &SessionInfo) -> Value {
    call.only_call("switch_ivr_originate")["parsed"].clone()
}

#[test]
fn bridge_to_a_user_that_answers() {
    let call = run(
        r##"[{"answer": ""},
            {"bridge": {"parameters": {"call_timeout": 20}, "codecs": ["PCMA", "opus"], "sendOnAnswer": "1",
                        "endpoints": [{"type": "user", "extension": "1001", "parameters": {"leg_timeout": "10"}}]}},
            {"set": {"after": "${rustflow_bridge_result}"}}]"##,
        json!({"variables": {"domain_name": "example.org"}, "script": {"bridge_ms": 10}}),
    );
    let originate = call.only_call("switch_ivr_originate");
    assert_eq!(
        originate["dial_string"],
        "[leg_timeout=10]user/1001@example.org"
    );
    // As mod_dptools' bridge: call_timeout is originate's time limit.
    assert_eq!(originate["timelimit_sec"], 20);
    assert_eq!(
        originate["parsed"]["parts"],
        json!([{"error": null, "ultra": [], "global": [],
                "groups": [[{"vars": [["leg_timeout", "10"]], "target": "user/1001@example.org"}]]}])
    );
    let ovars = originate["ovars"].as_array().cloned().unwrap_or_default();
    for expected in [
        json!(["call_timeout", "20"]),
        json!(["absolute_codec_string", "PCMA,opus"]),
        json!(["execute_on_answer", "send_dtmf 1"]),
    ] {
        assert!(
            ovars.contains(&expected),
            "{expected} missing from {ovars:?}"
        );
    }
    let blegs = call.blegs();
    assert_eq!(blegs.len(), 1);
    assert_eq!(blegs[0]["released"], true);
    let peer = blegs[0]["uuid"].as_str().unwrap();
    let bridge = call.only_call("switch_ivr_multi_threaded_bridge");
    assert_eq!(bridge["peer"], peer);
    assert_eq!(
        call.only_call("switch_core_session_rwunlock"),
        json!({"fn": "switch_core_session_rwunlock", "session": peer})
    );
    assert_eq!(call.var("after"), Some("answered"));
    assert_eq!(call.var("rustflow_bridge_result"), Some("answered"));
}

#[test]
fn bridge_b_leg_gets_only_the_flow_variables() {
    let call = run(
        r##"[{"answer": ""}, {"bridge": {"parameters": {"x": "1"}, "endpoints": [{"type": "user", "extension": "1001"}]}}]"##,
        json!({"variables": {"domain_name": "d"}}),
    );
    let blegs = call.blegs();
    let vars = blegs[0]["variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&String> = vars.keys().collect();
    assert_eq!(
        names,
        vec!["x"],
        "the B-leg carries exactly the bridge parameters: {vars:?}"
    );
}

#[test]
fn bridge_failover_busy_then_gateway_and_results() {
    let flow = r##"[{"answer": ""},
        {"bridge": {"strategy": "failover", "endpoints": [
            {"type": "user", "extension": "1001"},
            {"type": "gateway", "name": "pstn", "dialString": "5551234"},
            {"type": "sip", "uri": "sip:desk@pbx.example.test", "profile": "external"}]}},
        {"set": {"r": "${rustflow_bridge_result}"}}]"##;
    let call = run(
        flow,
        json!({"variables": {"domain_name": "d"}, "script": {"originate": {"user/1001@d": "busy", "sofia/gateway/pstn/5551234": "answered"}}}),
    );
    let parsed = originate_parse(&call);
    let groups = &parsed["parts"][0]["groups"];
    let targets: Vec<Vec<&str>> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|l| l["target"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        targets,
        vec![
            vec!["user/1001@d"],
            vec!["sofia/gateway/pstn/5551234"],
            vec!["sofia/external/sip:desk@pbx.example.test"]
        ]
    );
    assert_eq!(call.var("r"), Some("answered"));

    for (outcome, result) in [
        ("busy", "busy"),
        ("no_answer", "no_answer"),
        ("no_user_response", "no_answer"),
        ("failed", "failed"),
        ("unregistered", "failed"),
    ] {
        let call = run(
            flow,
            json!({"variables": {"domain_name": "d"}, "script": {"originate": {"default": outcome}}}),
        );
        assert_eq!(call.var("r"), Some(result), "{outcome}: {:#?}", call.record);
        assert!(call.calls_to("switch_ivr_multi_threaded_bridge").is_empty());
        assert!(call.up, "a failed bridge leaves the caller up");
    }
}

#[test]
fn simultaneous_bridge_rings_every_leg_at_once() {
    let call = run(
        r##"[{"answer": ""}, {"bridge": {"strategy": "simultaneous", "endpoints": [
            {"type": "user", "extension": "1001"}, {"type": "user", "extension": "1002", "domain": "other.org"}]}}]"##,
        json!({"variables": {"domain_name": "d"}}),
    );
    let parsed = originate_parse(&call);
    let groups = parsed["parts"][0]["groups"].as_array().unwrap().clone();
    assert_eq!(groups.len(), 1);
    let targets: Vec<&str> = groups[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, vec!["user/1001@d", "user/1002@other.org"]);
}

#[test]
fn bridge_errors_missing_endpoints_idle_and_hangup() {
    let errors = load_errors(r##"[{"bridge": {"strategy": "failover"}}]"##);
    assert!(errors.contains("/0/bridge"), "{errors}");
    // A user leg without any domain is a clear error, nothing dialled.
    let call = run(
        r##"[{"answer": ""}, {"bridge": {"endpoints": [{"type": "user", "extension": "1001"}]}}]"##,
        json!({}),
    );
    assert_refused(
        "a user leg without a domain",
        &call,
        "switch_ivr_originate",
        "no domain",
    );
    // The caller hangs up while the B-leg rings: the flow stops, nothing is bridged.
    let call = run(
        r##"[{"answer": ""}, {"bridge": {"endpoints": [{"type": "user", "extension": "1001"}]}}, {"set": {"after": "yes"}}]"##,
        json!({"variables": {"domain_name": "d"}, "script": {"hangup_on_call": "switch_ivr_originate"}}),
    );
    assert!(!call.up);
    assert!(call.calls_to("switch_ivr_multi_threaded_bridge").is_empty());
    assert_eq!(call.var("after"), None);
}

// ---- generateLink ----------------------------------------------------------------------------------

#[test]
fn generate_link_signs_with_the_configured_secret() {
    let call = run_with(
        &[
            ("link-secret", "s3cret"),
            ("link-base-url", "https://media.example.test"),
        ],
        r##"[{"generateLink": {"set": "url", "expire": 60, "file": {"name": "promo.mp3"}}}]"##,
        json!({}),
    );
    let url = call
        .var("url")
        .unwrap_or_else(|| panic!("{:#?}", call.record));
    assert!(
        url.starts_with("https://media.example.test/media/promo.mp3?expires="),
        "{url}"
    );
    let expires: i64 = url
        .split("expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("{url}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((expires - now - 60).abs() <= 5, "{url}");
    let signature = url.split("signature=").nth(1).unwrap_or("");
    assert_eq!(signature.len(), 64, "hex HMAC-SHA256: {url}");
    assert!(
        call.call_control().is_empty(),
        "generateLink touches no media"
    );
}

#[test]
fn generate_link_without_a_secret_is_an_error() {
    let call = run(
        r##"[{"generateLink": {"set": "url", "file": {"name": "promo.mp3"}}}]"##,
        json!({}),
    );
    assert_eq!(call.var("url"), None);
    assert_step_error(&call, "link");
}

#[test]
fn bridge_idle_skips_users_already_on_a_call() {
    let flow = r##"[{"answer": ""},
        {"bridge": {"strategy": "failover", "endpoints": [
            {"type": "user", "extension": "1001", "idle": true},
            {"type": "user", "extension": "1002", "idle": true}]}},
        {"set": {"r": "${rustflow_bridge_result}"}}]"##;
    let mut h = Harness::new();
    h.write_flow("f", flow);
    h.load();
    FakeCore::set_busy_var("presence_id", "1001@d", true);
    let call = h.run(json!({"variables": {"domain_name": "d"}}), "f");
    assert_eq!(
        call.only_call("switch_ivr_originate")["dial_string"],
        "user/1002@d",
        "the busy user is not dialled"
    );
    assert_eq!(call.var("r"), Some("answered"));
    assert!(
        FakeCore::global_record().contains(&json!({"fn": "switch_core_session_findall_matching_var", "var_name": "presence_id", "var_val": "1001@d"})),
        "presence is looked up by presence_id"
    );
    // Everyone busy: `busy` without dialling anything.
    FakeCore::set_busy_var("presence_id", "1002@d", true);
    let call = h.run(json!({"variables": {"domain_name": "d"}}), "f");
    assert!(call.calls_to("switch_ivr_originate").is_empty());
    assert_eq!(call.var("r"), Some("busy"));
}

#[test]
fn echo_returns_the_audio_until_the_caller_hangs_up() {
    let call = run(
        r##"[{"answer": ""}, {"echo": ""}, {"set": {"after": "yes"}}]"##,
        json!({"script": {"block_ms": 10}}),
    );
    assert_eq!(
        call.calls_to("switch_ivr_session_echo"),
        vec![json!({"fn": "switch_ivr_session_echo", "args": false})]
    );
    assert!(!call.up);
    assert_eq!(call.var("after"), None, "echo ends with the call");
}

// ---- step events, backgroundPlayback --------------------------------------------------------

#[test]
fn step_events_fire_one_custom_event_per_step() {
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    h.set_params(&[("flows-dir", &flows), ("step-events", "true")]);
    h.write_flow("f", r##"[{"answer": ""}, {"set": {"x": "1"}}]"##);
    h.load();
    // Among others (the contact centre's rustflow::cc is reserved at every load).
    let reserved = FakeCore::event_stats()["reserved"].clone();
    assert!(
        reserved
            .as_array()
            .is_some_and(|r| r.contains(&json!(["mod_rustflow", "rustflow::step"]))),
        "the subclass is reserved at load: {reserved}"
    );
    let call = h.run(json!({}), "f");
    let events: Vec<Value> = FakeCore::events()
        .into_iter()
        .filter(|e| e["subclass"] == "rustflow::step")
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    let header = |e: &Value, name: &str| -> String {
        e["headers"]
            .as_array()
            .and_then(|hs| hs.iter().find(|h| h[0] == name))
            .and_then(|h| h[1].as_str())
            .unwrap_or_else(|| panic!("no header {name} in {e}"))
            .to_string()
    };
    assert_eq!(events[0]["id"], 0, "CUSTOM");
    assert_eq!(header(&events[0], "Unique-ID"), call.uuid);
    assert_eq!(header(&events[0], "Rustflow-Flow"), "f");
    assert_eq!(header(&events[0], "Rustflow-Pointer"), "/0/answer");
    assert_eq!(header(&events[1], "Rustflow-App"), "set");
    assert_eq!(header(&events[1], "Rustflow-Result"), "ok");
    // Shutdown (on drop) must free the subclass: the harness asserts nothing stays reserved.
}

#[test]
fn background_playback_displaces_and_stops_the_same_file() {
    let call = run(
        r##"[{"answer": ""},
            {"backgroundPlayback": {"file": {"type": "tone", "name": "%(1000,0,350)"}}},
            {"backgroundPlaybackStop": ""},
            {"backgroundPlaybackStop": ""}]"##,
        json!({}),
    );
    assert_eq!(
        call.calls_to("switch_ivr_displace_session"),
        vec![
            json!({"fn": "switch_ivr_displace_session", "file": "tone_stream://%(1000,0,350)", "limit": 0, "flags": "m"})
        ]
    );
    assert_eq!(
        call.calls_to("switch_ivr_stop_displace_session"),
        vec![
            json!({"fn": "switch_ivr_stop_displace_session", "file": "tone_stream://%(1000,0,350)"})
        ]
    );
    assert_eq!(call.raw["displaces"], json!([]));
    assert_step_error(&call, "no background playback was started");
}
