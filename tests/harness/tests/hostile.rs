//! Hostile values (issue 4 done-when 2, issue 3 done-when 3) through the module and the fake
//! core: caller-controlled text in bridge parameters, dial strings, file names, TTS text, HTTP
//! data, SIP URIs, variable values and log text reaches FreeSWITCH byte-for-byte as data, or is
//! refused with a clear error before any core call; it never changes the structure of what is
//! sent (legs, variable blocks, enterprise `:_:` parts, file lists, paths, header lines) and
//! never reaches a core function that would expand `${...}`.
//!
//! The fake core parses every dial string exactly as `switch_ivr_originate` does (see
//! tests/fakecore/src/dialstring.rs), so "structure" here is FreeSWITCH's reading of it.

use rustflow_harness::*;
use serde_json::{Value, json};

/// The hostile values: each one tries a different way to break out of a value.
const HOSTILE: &[&str] = &[
    "a,b|{x=y}${system ls}",
    "a,b|{x=y}$ {system ls}",
    "{origination_caller_id_number=1}user/1000",
    "1000,1001",
    "a|b",
    "x:_:y",
    "^^:a:b",
    "it's \"quoted\"",
    "line1\nline2",
    "${api args}",
    "$${global}",
    "[leg=1]user/1",
    "back\\slash\\,",
    "a=b=c",
    "tab\tand\rcr",
];

fn harness_with(params: &[(&str, &str)], flow: &Value) -> Harness {
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    let mut all: Vec<(&str, &str)> = vec![("flows-dir", flows.as_str())];
    all.extend_from_slice(params);
    h.set_params(&all);
    h.write_flow("f", &flow.to_string());
    h.load();
    assert!(
        h.api_ok("list").lines().any(|l| l.starts_with("f\t")),
        "the flow did not load:\n{}",
        FakeCore::logs_text()
    );
    h
}

/// A session whose caller id name, number and a variable `evil` all hold `value`.
fn hostile_caller(value: &str) -> Value {
    json!({
        "variables": {"evil": value, "domain_name": "example.org"},
        "profile": {"caller_id_name": value, "caller_id_number": value},
    })
}

/// Every executed application call must not be one FreeSWITCH would expand.
fn assert_no_expansion(call: &SessionInfo, what: &str) {
    for e in call.calls_to("switch_core_session_execute_application_get_flags") {
        assert_eq!(
            e["expands"], false,
            "{what}: FreeSWITCH would expand ${{..}} in this application argument: {e}"
        );
    }
}

/// The one leg of a one-leg originate: (global vars, leg vars, target), asserting the
/// structure (one enterprise part, one group, one leg, no parse error).
fn single_leg(call: &SessionInfo, what: &str) -> (Value, Value, String) {
    let o = call.only_call("switch_ivr_originate");
    let parsed = &o["parsed"];
    assert_eq!(
        parsed["enterprise"], false,
        "{what}: became an enterprise originate: {o}"
    );
    let parts = parsed["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 1, "{what}: {o}");
    assert_eq!(
        parts[0]["error"],
        Value::Null,
        "{what}: FreeSWITCH cannot parse it: {o}"
    );
    let groups = parts[0]["groups"].as_array().expect("groups");
    assert_eq!(
        groups.len(),
        1,
        "{what}: a new failover group appeared: {o}"
    );
    let legs = groups[0].as_array().expect("legs");
    assert_eq!(legs.len(), 1, "{what}: a new leg appeared: {o}");
    (
        parts[0]["global"].clone(),
        legs[0]["vars"].clone(),
        legs[0]["target"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn hostile_bridge_parameters_stay_values() {
    // Global parameters travel in the originate variables event; per-leg ones in [..].
    let flow = json!([{"answer": ""}, {"bridge": {
        "parameters": {"g": "${evil}", "gname": "${caller_id_name}"},
        "endpoints": [{"type": "user", "extension": "1001", "parameters": {"l": "${evil}"}}]
    }}]);
    let h = harness_with(&[], &flow);
    // These must get through as data (escaped), not merely be refused. A value holding `${`
    // is refused: a real FreeSWITCH's originate will not set it on the B-leg (e2e suite).
    let must_pass = [
        "a,b|{x=y}$ {system ls}",
        "{origination_caller_id_number=1}user/1000",
        "1000,1001",
        "a|b",
        "a=b=c",
    ];
    for value in HOSTILE {
        let call = h.run(hostile_caller(value), "f");
        let what = format!("value {value:?}");
        if call.calls_to("switch_ivr_originate").is_empty() {
            assert!(
                !must_pass.contains(value),
                "{what} was refused; it must be escaped and dialled"
            );
            // Refused: only with a clear error naming the parameter, never silently.
            let error = call.var("rustflow_error").unwrap_or("");
            assert!(
                error.contains("bridge") && error.contains('l'),
                "{what}: no originate and no clear error: {error:?}\n{:#?}",
                call.record
            );
            continue;
        }
        let (global, leg_vars, target) = single_leg(&call, &what);
        assert_eq!(target, "user/1001@example.org", "{what}");
        assert_eq!(
            global,
            json!([]),
            "{what}: global variables leaked into the dial string"
        );
        assert_eq!(
            leg_vars,
            json!([["l", value]]),
            "{what}: per-leg variable changed"
        );
        let o = call.only_call("switch_ivr_originate");
        let ovars = o["ovars"].as_array().cloned().unwrap_or_default();
        assert!(ovars.contains(&json!(["g", value])), "{what}: {ovars:?}");
        assert!(
            ovars.contains(&json!(["gname", value])),
            "{what}: {ovars:?}"
        );
        let b = &call.blegs()[0]["variables"];
        assert_eq!(b["l"], *value, "{what}: B-leg variable");
        assert_eq!(b["g"], *value, "{what}: B-leg variable");
    }
}

#[test]
fn hostile_dial_targets_are_refused_or_stay_one_leg() {
    let flow = json!([{"answer": ""}, {"bridge": {"strategy": "failover", "endpoints": [
        {"type": "gateway", "name": "pstn", "dialString": "${caller_id_number}"}
    ]}}]);
    let user_flow = json!([{"answer": ""}, {"bridge": {"endpoints": [
        {"type": "user", "extension": "${evil}"}
    ]}}]);
    let sip_flow = json!([{"answer": ""}, {"bridge": {"endpoints": [
        {"type": "sip", "uri": "sip:${evil}@pbx.example.test"}
    ]}}]);
    for (flow, prefix) in [
        (&flow, "sofia/gateway/pstn/"),
        (&user_flow, "user/"),
        (&sip_flow, "sofia/internal/sip:"),
    ] {
        let h = harness_with(&[], flow);
        for value in HOSTILE {
            let call = h.run(hostile_caller(value), "f");
            let what = format!("{prefix} with {value:?}");
            if call.calls_to("switch_ivr_originate").is_empty() {
                let error = call.var("rustflow_error").unwrap_or("");
                assert!(
                    error.contains("bridge"),
                    "{what}: refused without a clear error: {error:?}"
                );
                continue;
            }
            let (_, leg_vars, target) = single_leg(&call, &what);
            assert_eq!(leg_vars, json!([]), "{what}");
            assert!(
                target.starts_with(prefix) && target.contains(value),
                "{what}: the target changed: {target:?}"
            );
        }
    }
}

#[test]
fn hostile_text_in_variables_and_logs_is_byte_for_byte() {
    let flow = json!([
        {"set": {"copy": "${evil}", "name": "${caller_id_name}", "literal": "${evil}-${evil}"}},
        {"setAll": {"exported": "${evil}"}},
        {"log": "said: ${evil}"},
        {"updateCid": {"name": "${evil}"}},
    ]);
    let h = harness_with(&[], &flow);
    for value in HOSTILE {
        let before = FakeCore::logs().len();
        let call = h.run(hostile_caller(value), "f");
        assert_eq!(call.var("copy"), Some(*value));
        assert_eq!(call.var("name"), Some(*value));
        assert_eq!(
            call.var("literal"),
            Some(format!("{value}-{value}").as_str())
        );
        assert_eq!(call.var("exported"), Some(*value));
        assert_eq!(call.raw["profile"]["caller_id_name"], *value);
        assert_eq!(call.var("effective_caller_id_name"), Some(*value));
        let logs = FakeCore::logs();
        assert!(
            logs[before..]
                .iter()
                .any(|l| l.text.contains(&format!("said: {value}"))),
            "{value:?} not logged verbatim:\n{}",
            FakeCore::logs_text()
        );
        // set never asks the core to check or expand variables.
        for w in call.calls_to("switch_channel_set_variable_var_check") {
            assert_eq!(w["var_check"], false, "{w}");
        }
    }
}

#[test]
fn hostile_tts_text_is_one_prompt() {
    let flow = json!([{"answer": ""}, {"tts": {"text": "${evil}"}}]);
    let h = harness_with(&[("tts-engine", "flite"), ("tts-voice", "kal")], &flow);
    for value in HOSTILE {
        let call = h.run(hostile_caller(value), "f");
        let plays = call.calls_to("switch_ivr_play_file");
        assert_eq!(plays.len(), 1, "{value:?}: {plays:#?}");
        let file = plays[0]["file"].as_str().unwrap_or("");
        assert_eq!(file, format!("say:flite:kal:{value}"), "{value:?}");
    }
    drop(h);
    // With getDigits the prompts join into one file_string://: a `!` in the text must not
    // split it into another file.
    let flow = json!([{"answer": ""}, {"tts": {"text": "${evil}", "getDigits": {"setVar": "d", "max": 1}}}]);
    let h = harness_with(&[("tts-engine", "flite"), ("tts-voice", "kal")], &flow);
    for value in ["one!/etc/passwd", "a!b!c"] {
        let call = h.run(hostile_caller(value), "f");
        let pagd = call.only_call("switch_play_and_get_digits");
        let file = pagd["file"].as_str().unwrap_or("");
        let files: Vec<&str> = file
            .strip_prefix("file_string://")
            .unwrap_or(file)
            .split('!')
            .collect();
        assert_eq!(files.len(), 1, "{value:?} split the prompt: {file}");
    }
}

#[test]
fn hostile_file_names_stay_inside_their_directories() {
    let media = TempDir::new("media");
    let rec = TempDir::new("rec");
    let media_dir = media.path().display().to_string();
    let rec_dir = rec.path().display().to_string();
    let flow = json!([
        {"answer": ""},
        {"playback": {"files": [{"name": "${evil}"}]}},
        {"recordFile": {"name": "${evil}", "type": "wav"}},
    ]);
    let h = harness_with(
        &[("media-dir", &media_dir), ("recordings-dir", &rec_dir)],
        &flow,
    );
    let mut values: Vec<&str> = HOSTILE.to_vec();
    values.extend([
        "../../etc/passwd",
        "/etc/passwd",
        "a/../../b",
        "shout://evil",
        "x!y",
    ]);
    for value in values {
        let call = h.run(hostile_caller(value), "f");
        for p in call.calls_to("switch_ivr_play_file") {
            let file = p["file"].as_str().unwrap_or("");
            assert!(
                file.starts_with(&format!("{media_dir}/")) && !file.contains("/../"),
                "{value:?}: played {file:?} outside media-dir"
            );
        }
        for r in call.calls_to("switch_ivr_record_file") {
            let file = r["file"].as_str().unwrap_or("");
            let rest = file
                .strip_prefix(&format!("{rec_dir}/"))
                .unwrap_or_else(|| panic!("{value:?}: recording {file:?} outside recordings-dir"));
            assert!(
                !rest.contains('/') && !rest.contains(".."),
                "{value:?}: recording path {file:?} escapes"
            );
        }
    }
}

#[test]
fn hostile_values_never_reach_an_expanding_application() {
    let flows = [
        json!([{"answer": ""}, {"conference": {"name": "${evil}", "profile": "default"}}]),
        json!([{"answer": ""}, {"conference": {"name": "room", "profile": "default", "pin": "${evil}"}}]),
        json!([{"answer": ""}, {"conference": {"name": "room", "profile": "default", "tags": ["${evil}"]}}]),
        json!([{"answer": ""}, {"park": {"name": "${evil}", "lot": "1-2", "auto": "in"}}]),
        json!([{"sipRedirect": ["sip:${evil}@example.org"]}]),
    ];
    for flow in &flows {
        let h = harness_with(&[], flow);
        for value in HOSTILE {
            let call = h.run(hostile_caller(value), "f");
            let what = format!("{flow} with {value:?}");
            assert_no_expansion(&call, &what);
            let apps = call.calls_to("switch_core_session_execute_application_get_flags");
            if apps.is_empty() {
                assert!(
                    call.var("rustflow_error").is_some(),
                    "{what}: nothing ran and no error"
                );
                continue;
            }
            // What ran carries the value as one word of the argument: no line break, no
            // second URI/flag; `${` may only appear because expansion is off (checked above).
            let arg = apps[0]["arg"].as_str().unwrap_or("");
            assert!(
                !arg.contains('\n') && !arg.contains(',') && !arg.contains(' '),
                "{what}: {arg:?}"
            );
        }
    }
}

#[test]
fn hostile_send_on_answer_is_refused() {
    let flow = json!([{"answer": ""}, {"bridge": {"sendOnAnswer": "${evil}",
        "endpoints": [{"type": "user", "extension": "1001"}]}}]);
    let h = harness_with(&[], &flow);
    for value in HOSTILE {
        let call = h.run(hostile_caller(value), "f");
        assert!(
            call.calls_to("switch_ivr_originate").is_empty(),
            "{value:?} reached execute_on_answer: {:#?}",
            call.calls_to("switch_ivr_originate")
        );
        assert!(
            call.var("rustflow_error")
                .unwrap_or("")
                .contains("sendOnAnswer"),
            "{value:?}"
        );
    }
}
