//! `rustflow check`'s warnings (issue 15): for each trap, a flow that falls into it with the
//! exact message, and the corrected flow, which gets no warning. The flows all load.

use rustflow_engine::{CompileOptions, compile_source};

/// Every warning and note of a flow that must load, as `check` prints them.
fn findings(text: &str) -> Vec<String> {
    match compile_source("t", "t.json", text, &CompileOptions::default()) {
        Ok(flow) => flow.warnings().iter().map(ToString::to_string).collect(),
        Err(diags) => {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("expected the flow to load:\n{text}\n{}", lines.join("\n"))
        }
    }
}

fn one(text: &str) -> String {
    let found = findings(text);
    assert_eq!(found.len(), 1, "expected one finding, got {found:#?}");
    found[0].clone()
}

fn none(text: &str) {
    assert_eq!(findings(text), Vec::<String>::new(), "{text}");
}

/// A flow that sets `said` and then runs `steps` (JSON objects, comma-separated).
fn after_said(steps: &str) -> String {
    format!("[\n{{\"set\": {{\"said\": \"agent\", \"name\": \"Ann\"}}}},\n{steps}\n]")
}

#[test]
fn quoted_variable_in_an_if_expression() {
    assert_eq!(
        one(&after_said(
            r#"{"if": {"expression": "'${said}' == 'agent'", "then": [{"log": "agent"}]}}"#
        )),
        "t.json:3:24: /1/if/expression: warning[quoted-variable]: `'${said}'` is a quoted string, so it is the text `${said}`, not the variable's value; fix: write `${said}` without quotes"
    );
    none(&after_said(
        r#"{"if": {"expression": "${said} == 'agent'", "then": [{"log": "agent"}]}}"#,
    ));
}

#[test]
fn quoted_variable_in_a_while_condition_and_a_global() {
    assert_eq!(
        one(&after_said(
            r#"{"while": {"condition": "\"$${domain}\" != ''", "maxSteps": 2, "do": [{"log": "x"}]}}"#
        )),
        "t.json:3:25: /1/while/condition: warning[quoted-variable]: `\"$${domain}\"` is a quoted string, so it is the text `$${domain}`, not the variable's value; fix: write `$${domain}` without quotes"
    );
    none(&after_said(
        r#"{"while": {"condition": "$${domain} != ''", "maxSteps": 2, "do": [{"log": "x"}]}}"#,
    ));
}

#[test]
fn quoted_variable_in_a_js_body_with_text_around_it() {
    assert_eq!(
        one(&after_said(
            r#"{"js": {"data": "return 'Hello ${name}!';", "setVar": "greeting"}}"#
        )),
        "t.json:3:25: /1/js/data: warning[quoted-variable]: `'Hello ${name}!'` is a quoted string, so it is the text `Hello ${name}!`, not the variable's value; fix: write `'Hello ' + ${name} + '!'` without quotes"
    );
    none(&after_said(
        r#"{"js": {"data": "return 'Hello ' + ${name} + '!';", "setVar": "greeting"}}"#,
    ));
    // A JavaScript template literal reads the variable: nothing to say.
    none(&after_said(
        r#"{"js": {"data": "return `Hello ${name}!`;", "setVar": "greeting"}}"#,
    ));
}

#[test]
fn steps_after_a_hangup_never_run() {
    assert_eq!(
        one(r#"[
  {"answer": ""},
  {"hangup": "USER_BUSY"},
  {"log": "never"},
  {"log": "never either"}
]"#),
        "t.json:4:3: /2: warning[unreachable]: this step and the one after it never run: `hangup` at /1/hangup ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `hangup`"
    );
    // A step a `goto` jumps to runs, and so does everything after it.
    none(
        r#"[
  {"answer": "", "tag": "top"},
  {"if": {"expression": "${attempt} == 1", "then": [{"goto": "again"}]}},
  {"hangup": "USER_BUSY"},
  {"log": "again", "tag": "again"},
  {"set": {"attempt": 1}},
  {"goto": "top"}
]"#,
    );
    // A cause from a variable may be unknown: that hangup fails and the flow goes on.
    none(r#"[{"set": {"cause": "x"}}, {"hangup": "${cause}"}, {"log": "on"}]"#);
    // After hangup, `trigger.disconnected` refuses media: its hangup does not end it.
    none(
        r#"[{"trigger": {"disconnected": [{"hangup": ""}, {"log": "still runs"}]}}, {"answer": ""}]"#,
    );
}

#[test]
fn steps_after_a_goto_break_or_redirect_never_run() {
    assert_eq!(
        one(r#"[
  {"log": "menu", "tag": "menu"},
  {"if": {"expression": "1 == 1", "then": [{"goto": "menu"}, {"log": "after goto"}]}}
]"#),
        "t.json:3:62: /1/if/then/1: warning[unreachable]: this step never runs: `goto` at /1/if/then/0/goto ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `goto`"
    );
    assert_eq!(
        one(r#"[{"log": "a", "break": true}, {"log": "b"}]"#),
        "t.json:1:31: /1: warning[unreachable]: this step never runs: `break: true` on `log` at /0/log ends the block before it, and no `goto` leads here; fix: remove it, or move it before the step with `break: true`"
    );
    // `break: true` on an `if` stops before its branches.
    assert_eq!(
        findings(r#"[{"if": {"expression": "true", "then": [{"log": "a"}]}, "break": true}]"#),
        vec![
            "t.json:1:41: /0/if/then/0: warning[unreachable]: this step never runs: `break: true` on `if` at /0/if stops the flow object before this block runs, and no `goto` leads here; fix: remove the `break: true`, or move it to the block's last step"
        ]
    );
    // Pointers that share a prefix (/1 and /10) are still siblings.
    let mut steps: Vec<String> = (0..11).map(|i| format!(r#"{{"log": "{i}"}}"#)).collect();
    steps[1] = r#"{"break": true}"#.to_string();
    let found = findings(&format!("[{}]", steps.join(", ")));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains(": /2: warning[unreachable]: this step and the 8 after it never run: `break` at /1 ends the block before it"),
        "{found:#?}"
    );
    assert_eq!(
        one(r#"[{"break": true}, {"log": "b"}]"#),
        "t.json:1:19: /1: warning[unreachable]: this step never runs: `break` at /0 ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `break`"
    );
    assert_eq!(
        one(r#"[{"sipRedirect": ["sip:1001@pbx2"]}, {"log": "b"}]"#),
        "t.json:1:38: /1: warning[unreachable]: this step never runs: `sipRedirect` at /0/sipRedirect ends the block before it, and no `goto` leads here; fix: remove it, or move it before the `sipRedirect`"
    );
    // A function defined after the end is not a step; a redirect to URIs from variables
    // may have nothing to redirect to.
    none(
        r#"[{"set": {"to": ""}}, {"sipRedirect": ["${to}"]}, {"log": "b"}, {"goto": "end"}, {"function": {"name": "f", "actions": [{"log": "f"}]}}, {"log": "end", "tag": "end"}]"#,
    );
}

#[test]
fn a_variable_nothing_sets_is_a_note() {
    assert_eq!(
        one(r#"[{"set": {"choice": "1"}}, {"log": "you chose ${choise}"}]"#),
        "t.json:1:36: /1/log: note[unset-variable]: `choise` is read, but no step of this flow sets it and it is neither a FreeSWITCH variable nor an application's output (fine if the dialplan or the caller sets it); fix: did you mean `choice`, which the flow sets?"
    );
    assert_eq!(
        one(r#"[{"if": {"expression": "${vip} == 'yes'", "then": [{"log": "vip"}]}}]"#),
        "t.json:1:25: /0/if/expression: note[unset-variable]: `vip` is read, but no step of this flow sets it and it is neither a FreeSWITCH variable nor an application's output (fine if the dialplan or the caller sets it); fix: set it before this step, or check its spelling"
    );
    // Set by a step (even a later one), by a capture, by httpRequest, FreeSWITCH's own,
    // an application's documented output, `usr_` of an export, a JSON path.
    none(
        r#"[
  {"log": "${choice} ${caller_id_number} ${sip_h_X-Id} ${rustflow_error} ${usr_choice} ${crm.name}"},
  {"playback": {"files": [{"name": "a.wav"}], "getDigits": {"setVar": "choice"}}},
  {"export": ["choice"]},
  {"httpRequest": {"url": "https://crm.example.com/", "exportVariables": {"crm": "body"}}},
  {"js": {"data": "return ${MyVar} + ${google_transcript};", "setVar": "x"}},
  {"tts": {"text": "hi", "getDigits": {"max": 2}}},
  {"tts": {"text": "hi", "getSpeech": {}}}
]"#,
    );
}

#[test]
fn get_digits_with_min_above_max() {
    assert_eq!(
        one(
            r#"[{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"setVar": "pin", "min": 4, "max": 3}}}]"#
        ),
        "t.json:1:94: /0/playback/getDigits/max: warning[digits-min-max]: `min` (4) is greater than `max` (3): the step fails every time (getDigits needs 0 < min <= max); fix: set `max` to at least 4"
    );
    none(
        r#"[{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"setVar": "pin", "min": 4, "max": 4}}}]"#,
    );
}

#[test]
fn get_digits_whose_regexp_matches_no_allowed_input() {
    // max defaults to 1: a four-digit pattern can never match.
    assert_eq!(
        one(
            r#"[{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"setVar": "pin", "regexp": "^\\d{4}$"}}}]"#
        ),
        r"t.json:1:87: /0/playback/getDigits/regexp: warning[digits-never-match]: `regexp` `^\d{4}$` needs at least 4 keys but `max` is 1 (keys 0123456789*ABCD; the terminator `#` is not part of the input): every input is rejected; fix: set `max` to 4 (or more)"
    );
    assert_eq!(
        one(
            r#"[{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"setVar": "pin", "min": 3, "max": 5, "regexp": "^[1-3]$"}}}]"#
        ),
        "t.json:1:107: /0/playback/getDigits/regexp: warning[digits-never-match]: `regexp` `^[1-3]$` matches at most 1 key but `min` is 3 (keys 0123456789*ABCD; the terminator `#` is not part of the input): every input is rejected; fix: set `min` to 1"
    );
    // `#` ends the input, so it is never in it.
    assert_eq!(
        one(r#"[{"tts": {"text": "hi", "getDigits": {"setVar": "k", "regexp": "^#$"}}}]"#),
        "t.json:1:64: /0/tts/getDigits/regexp: warning[digits-never-match]: `regexp` `^#$` matches no sequence of keys (keys 0123456789*ABCD; the terminator `#` is not part of the input): every input is rejected; fix: correct the pattern"
    );
    none(
        r#"[{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"setVar": "pin", "min": 4, "max": 4, "regexp": "^\\d{4}$"}}}]"#,
    );
    none(
        r#"[{"tts": {"text": "hi", "getDigits": {"setVar": "k", "terminators": "", "regexp": "^#$"}}}]"#,
    );
    // Unanchored, as the digit collection tests it: `5` anywhere in up to 3 keys.
    none(r#"[{"tts": {"text": "hi", "getDigits": {"setVar": "k", "max": 3, "regexp": "5"}}}]"#);
}

#[test]
fn playback_file_type_close_to_a_known_one() {
    assert_eq!(
        one(r#"[{"playback": {"files": [{"type": "audio/flack", "name": "a.flac"}]}}]"#),
        "t.json:1:35: /0/playback/files/0/type: warning[file-type]: file type `audio/flack` is not a known media type; fix: write `\"type\": \"audio/flac\"`"
    );
    assert_eq!(
        one(
            r#"[{"backgroundPlayback": {"file": {"type": "audio/tone", "name": "%(100,100,440)"}}}]"#
        ),
        "t.json:1:43: /0/backgroundPlayback/file/type: warning[file-type]: file type `audio/tone` plays a media file by `name`/`id` (every `audio/…` type does), not a `tone` file; fix: write `\"type\": \"tone\"`"
    );
    none(
        r#"[{"playback": {"files": [{"type": "audio/mpeg", "name": "a.mp3"}, {"type": "audio/x-custom", "name": "b"}, {"type": "tone", "name": "%(100,100,440)"}]}}]"#,
    );
}

#[test]
fn an_unknown_file_type_error_suggests_the_known_one() {
    let err = match compile_source(
        "t",
        "t.json",
        r#"[{"playback": {"files": [{"type": "mp3", "name": "a.mp3"}]}}]"#,
        &CompileOptions::default(),
    ) {
        Ok(_) => panic!("`mp3` is not a file type"),
        Err(diags) => diags[0].to_string(),
    };
    assert_eq!(
        err,
        "t.json:1:26: /0/playback/files/0: unknown file type `mp3` (expected tone, silence, local, http_audio, tts, or no type with `name`/`id`); did you mean `audio/mp3`?"
    );
}

#[test]
fn the_example_flows_have_no_warnings_nor_notes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/flows");
    let set = rustflow_engine::FlowSet::load_dir(&dir, &CompileOptions::default()).unwrap();
    for flow in set.iter() {
        let warnings: Vec<String> = flow.warnings().iter().map(ToString::to_string).collect();
        assert!(warnings.is_empty(), "{warnings:#?}");
    }
}
