//! `rustflow check`: the examples and the corpus, skip/error policies, problem lines.

mod common;

use std::path::{Path, PathBuf};

use rustflow_engine::RESERVED_KEYS;
use rustflow_engine::schema::{nested_paths, not_run_apps};
use serde_json::Value;

use common::{corpus_dir, rustflow, scratch_dir};

/// Whether `line` has the shape `FILE:LINE:COLUMN: POINTER: MESSAGE`.
fn is_problem_line(line: &str, file: &str) -> bool {
    let Some(rest) = line.strip_prefix(file).and_then(|r| r.strip_prefix(':')) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let numbers_ok = (0..2).all(|_| {
        parts
            .next()
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    });
    let Some(tail) = parts.next() else {
        return false;
    };
    let Some((pointer, message)) = tail.trim_start().split_once(": ") else {
        return false;
    };
    numbers_ok && pointer.starts_with('/') && !message.is_empty()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn example_flows_pass() {
    let out = rustflow(&["check", "examples/flows"]);
    assert_eq!(
        out.status, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    for name in ["menu", "business-hours", "support-line", "voicemail"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains(&format!("{name}.json: ok ("))),
            "{name} not reported ok:\n{}",
            out.stdout
        );
    }
}

/// (application, pointer) of every Webitel-only application in a document, walking nested
/// blocks as the schema describes them.
fn webitel_only_uses(value: &Value, pointer: &str, found: &mut Vec<(String, String)>) {
    let Some(items) = value.as_array() else {
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            continue;
        };
        let here = format!("{pointer}/{index}");
        let Some(app) = object.keys().find(|k| !RESERVED_KEYS.contains(&k.as_str())) else {
            continue;
        };
        if not_run_apps().contains(&app.as_str()) {
            found.push((app.clone(), format!("{here}/{app}")));
        }
        let args = &object[app];
        for path in nested_paths(app) {
            if let Some(parent) = path.strip_suffix(".*") {
                if let Some(map) = args.get(parent).and_then(Value::as_object) {
                    for (key, block) in map {
                        webitel_only_uses(block, &format!("{here}/{app}/{parent}/{key}"), found);
                    }
                }
            } else if !path.contains("[]") {
                if let Some(block) = args.get(*path) {
                    webitel_only_uses(block, &format!("{here}/{app}/{path}"), found);
                }
            }
        }
    }
}

#[test]
fn corpus_passes_under_skip_and_lists_each_unknown_application() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("note: ../shared/corpus is absent; corpus check skipped");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for file in &files {
        let name = file.display().to_string();
        let out = rustflow(&["check", "--unknown-apps", "skip", &name]);
        assert_eq!(out.status, 0, "{name}:\n{}{}", out.stdout, out.stderr);
        let document: Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut expected = Vec::new();
        let (items, base) = match &document {
            Value::Object(map) => (
                map.get("schema").or(map.get("scheme")).unwrap().clone(),
                "/schema",
            ),
            other => (other.clone(), ""),
        };
        webitel_only_uses(&items, base, &mut expected);
        let notes: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.contains(": note: "))
            .collect();
        for (app, pointer) in &expected {
            let note = format!(": {pointer}: note: unknown application `{app}` skipped");
            assert!(
                notes
                    .iter()
                    .any(|l| l.contains(&note) && is_problem_line(l, &name)),
                "missing `FILE:LINE:COL{note}` in:\n{}",
                out.stdout
            );
        }
        assert_eq!(notes.len(), expected.len(), "{name}:\n{}", out.stdout);
        assert!(
            out.stdout.lines().last().unwrap().contains(": ok ("),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn corpus_passes_under_error_and_an_application_not_run_yet_is_named() {
    if let Some(corpus) = corpus_dir() {
        // The corpus's last application not run was `callbackQueue` (issue 13): every real
        // flow now loads under the default `--unknown-apps error`, nothing skipped.
        let file = corpus.join("webitel-call-001.json").display().to_string();
        let out = rustflow(&["check", &file]);
        assert_eq!(out.status, 0, "{}", out.stdout);
        assert!(
            out.stderr.contains("0 problem(s)") && out.stderr.contains("0 skipped application(s)"),
            "{}",
            out.stderr
        );
    } else {
        eprintln!("note: ../shared/corpus is absent; corpus check skipped");
    }
    let dir = scratch_dir("not-yet");
    let file = write(
        &dir,
        "outbound.json",
        "[{\"log\": \"x\"},\n {\"ccOutbound\": {}}, {\"getQueueInfo\": {}}]",
    );
    let out = rustflow(&["check", &file]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    for line in &lines {
        assert!(
            is_problem_line(line, &file),
            "not FILE:LINE:COL: POINTER: MESSAGE: {line}"
        );
    }
    assert!(
        lines[0].ends_with(
            ":2:17: /1/ccOutbound: application `ccOutbound` is not supported by rustflow yet"
        ),
        "{}",
        lines[0]
    );
    // The same under an explicit `--unknown-apps error`.
    let explicit = rustflow(&["check", "--unknown-apps", "error", &file]);
    assert_eq!(explicit.stdout, out.stdout);
}

#[test]
fn problems_are_one_line_each_with_position() {
    let dir = scratch_dir("problems");
    let cases = [
        ("malformed.json", "[{\"answer\": \"\"},\n {\"hangup\": }]"),
        (
            "two-apps.json",
            "[\n  {\"answer\": \"\", \"hangup\": \"\"}\n]",
        ),
        (
            "dup-tag.json",
            "[{\"tag\": \"a\", \"answer\": \"\"},\n {\"tag\": \"a\", \"hangup\": \"\"}]",
        ),
        ("bad-goto.json", "[{\"goto\": \"nowhere\"}]"),
        ("bad-cause.json", "[{\"hangup\": \"NOT_A_CAUSE\"}]"),
        (
            "bad-expr.json",
            "[{\"if\": {\"expression\": \"1 +\", \"then\": []}}]",
        ),
        ("unknown.json", "[{\"anwser\": \"\"}]"),
    ];
    for (name, text) in cases {
        let file = write(&dir, name, text);
        let out = rustflow(&["check", &file]);
        assert_eq!(out.status, 1, "{name} passed:\n{}", out.stdout);
        assert!(!out.stdout.is_empty(), "{name}: no problem printed");
        for line in out.stdout.lines() {
            assert!(is_problem_line(line, &file), "{name}: bad line: {line}");
        }
    }
    // Positions point at the offending object.
    let out = rustflow(&["check", &dir.join("two-apps.json").display().to_string()]);
    assert!(
        out.stdout.contains("two-apps.json:2:18: /0: "),
        "{}",
        out.stdout
    );
    let out = rustflow(&["check", &dir.join("bad-goto.json").display().to_string()]);
    assert!(out.stdout.contains("nowhere"), "{}", out.stdout);
    let out = rustflow(&["check", &dir.join("unknown.json").display().to_string()]);
    assert!(out.stdout.contains("anwser"), "{}", out.stdout);
}

#[test]
fn a_directory_with_one_bad_flow_fails() {
    let dir = scratch_dir("dir");
    write(
        &dir,
        "good.json",
        "[{\"answer\": \"\"}, {\"hangup\": \"\"}]",
    );
    let bad = write(&dir, "bad.json", "[{\"hangup\": 5, \"answer\": \"\"}]");
    let out = rustflow(&["check", &dir.display().to_string()]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    assert!(
        out.stdout.lines().all(|l| is_problem_line(l, &bad)),
        "{}",
        out.stdout
    );
    std::fs::remove_file(&bad).unwrap();
    let out = rustflow(&["check", &dir.display().to_string()]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    assert!(out.stdout.contains("good.json: ok ("), "{}", out.stdout);
}

#[test]
fn unreadable_paths_are_problems_not_usage_errors() {
    let out = rustflow(&["check", "no/such/flow.json"]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout
            .starts_with("no/such/flow.json:1:1: /: cannot read: "),
        "{}",
        out.stdout
    );
}

/// A flow that loads, with one warning (a quoted variable) and one note (`vip` is never set).
const TRAPPED: &str = "[\n  {\"set\": {\"said\": \"agent\"}},\n  {\"if\": {\"expression\": \"'${said}' == 'agent' || ${vip} == 'yes'\", \"then\": [{\"log\": \"agent\"}]}}\n]\n";

#[test]
fn warnings_and_notes_are_listed_and_fail_only_under_deny_warnings() {
    let dir = scratch_dir("warnings");
    let file = write(&dir, "trapped.json", TRAPPED);
    let out = rustflow(&["check", &file]);
    assert_eq!(out.status, 0, "{}{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{file}:3:26: /1/if/expression: warning[quoted-variable]: `'${{said}}'` is a quoted string, so it is the text `${{said}}`, not the variable's value; fix: write `${{said}}` without quotes"
        )
    );
    assert!(
        lines[1].starts_with(&format!(
            "{file}:3:50: /1/if/expression: note[unset-variable]: `vip` is read"
        )),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with(&format!("{file}: ok (")),
        "{}",
        out.stdout
    );
    for line in &lines[..2] {
        assert!(is_problem_line(line, &file), "{line}");
    }
    assert!(
        out.stderr
            .contains("1 flow(s) checked: 0 problem(s), 1 warning(s), 1 note(s)"),
        "{}",
        out.stderr
    );
    let denied = rustflow(&["check", "--deny-warnings", &file]);
    assert_eq!(denied.status, 1, "{}", denied.stdout);
    assert_eq!(denied.stdout, out.stdout);

    // Notes alone never fail, even under --deny-warnings.
    let noted = write(&dir, "noted.json", "[{\"log\": \"${vip}\"}]");
    let out = rustflow(&["check", "--deny-warnings", &noted]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("note[unset-variable]"),
        "{}",
        out.stdout
    );
}

/// Every stdout line of `--json` is one JSON object with the seven fields.
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            let object = value.as_object().expect("a JSON object");
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "code", "column", "file", "line", "message", "pointer", "severity"
                ],
                "{line}"
            );
            value
        })
        .collect()
}

#[test]
fn json_output_is_one_object_per_line_for_problems_warnings_and_notes() {
    let dir = scratch_dir("json");
    let file = write(&dir, "trapped.json", TRAPPED);
    let out = rustflow(&["check", "--json", &file]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(
        lines[0],
        serde_json::json!({
            "file": file, "pointer": "/1/if/expression", "line": 3, "column": 26,
            "severity": "warning", "code": "quoted-variable",
            "message": "`'${said}'` is a quoted string, so it is the text `${said}`, not the variable's value; fix: write `${said}` without quotes",
        })
    );
    assert_eq!(
        (&lines[1]["severity"], &lines[1]["code"]),
        (
            &serde_json::json!("note"),
            &serde_json::json!("unset-variable")
        )
    );
    let out = rustflow(&["check", "--json", "--deny-warnings", &file]);
    assert_eq!(out.status, 1);

    // Load errors are `error` lines with the code `invalid`.
    let bad = write(&dir, "bad.json", "[\n  {\"hangup\": \"NOT_A_CAUSE\"}\n]");
    let out = rustflow(&["check", "--json", &bad]);
    assert_eq!(out.status, 1);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert_eq!(lines[0]["severity"], "error");
    assert_eq!(lines[0]["code"], "invalid");
    assert_eq!(lines[0]["pointer"], "/0/hangup");
    assert_eq!(lines[0]["line"], 2);

    // Skipped applications are notes.
    let skipped = write(&dir, "skipped.json", "[{\"getQueueInfo\": {}}]");
    let out = rustflow(&["check", "--json", "--unknown-apps", "skip", &skipped]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["code"], "unknown-app-skipped");
    assert_eq!(lines[0]["severity"], "note");
}

#[test]
fn corpus_has_no_warnings_under_skip() {
    let Some(corpus) = corpus_dir() else {
        println!("note: the shared corpus is absent; skipped");
        return;
    };
    let out = rustflow(&[
        "check",
        "--unknown-apps",
        "skip",
        "--deny-warnings",
        "--json",
        &corpus.display().to_string(),
    ]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    for line in json_lines(&out.stdout) {
        assert_eq!(line["severity"], "note", "{line}");
    }
}

/// Flows using every contact-centre application the engine runs pass `check` (none is
/// refused as not run yet) with no warnings (their outputs `cc_*` and the `set`/`setVar` variables are known).
#[test]
fn contact_centre_flows_pass_without_skipping() {
    let dir = scratch_dir("cc");
    let file = write(
        &dir,
        "queue.json",
        r#"[
 {"ewt": {"setVar": "wait", "queue_ids": [7]}},
 {"getQueueAgents": {"queue": {"name": "Support"}, "set": {"free": "waiting"}}},
 {"getQueueMetrics": {"queue": {"id": 7}, "field": "wait_time", "metric": "avg", "set": "avg_wait"}},
 {"lastBridged": {"number": "${caller_id_number}", "hours": 24, "set": {"last": "extension"}}},
 {"log": "${wait} ${free} ${avg_wait} ${last}"},
 {"joinQueue": {"queue": {"id": 7}, "timers": [{"interval": 30, "actions": [{"ccPosition": {"set": "pos"}}, {"log": "${pos}"}, {"cancelQueue": ""}]}],
   "offering": [{"log": "${cc_agent_name}"}], "reporting": [{"log": "${cc_result} ${cc_cancel}"}]}},
 {"joinAgent": {"agent": {"id": 3}, "bridged": [{"log": "${cc_agent_id}"}]}}
]"#,
    );
    let out = rustflow(&["check", "--deny-warnings", &file]);
    assert_eq!(out.status, 0, "{}", out.stdout);
    // Under the default `unknown-apps=error` an application not run yet is a problem.
    assert!(
        out.stdout.contains("queue.json: ok (13 steps"),
        "{}",
        out.stdout
    );
}

#[test]
fn callback_and_attempt_flow_applications_pass_without_skipping() {
    let dir = scratch_dir("cc-outbound");
    write(
        &dir,
        "members.json",
        r#"[
 {"callbackQueue": {"queue": {"id": "callbacks"}, "name": "${caller_id_name}", "holdSec": 60, "agent": {},
   "timezone": {"name": "Europe/Kyiv"}, "variables": {"why": "billing"}, "expire_at": 1893456000000,
   "communication": {"destination": "${caller_id_number}", "type": {"id": 1}, "resource_id": 2}}},
 {"callbackQueue": {"queue_id": 9, "communication": {"destination": "1000", "type_id": 1}, "stop_cause": "test"}},
 {"memberInfo": {"member": {"queue_ids": ["callbacks"], "today": true, "bucket_id": 3},
   "set": {"m": "id", "n": "count_destinations", "v": "variables.why"}}},
 {"patchMembers": {"member": {"queues": [{"id": "callbacks"}], "name": "A%", "completed": false},
   "patch": {"ready_at": 1893456000000, "stop_cause": "done", "queueId": 4,
             "communications": [{"id": 0, "destination": "1001", "resource": {"id": 2}}]}}},
 {"log": "${m} ${n} ${v}"},
 {"attemptResult": {"status": "success", "agentId": 3, "addCommunications": [{"destination": "1002", "type": {"id": 1}}]}}
]"#,
    );
    write(
        &dir,
        "pre-attempt.json",
        r#"[
 {"switch": {"variable": "${member_stop_cause}", "case": {
   "dnc": [{"cancel": {"stop": true, "description": "do not call"}}],
   "later": [{"cancel": {"waitBetweenRetries": 600, "excludeCurrentCommunication": true, "minOfferingAt": 0}}]}}},
 {"confirm": {"destination": "${destination}", "display": "Example", "export": ["member_id"]}}
]"#,
    );
    write(
        &dir,
        "after-attempt.json",
        r#"[
 {"switch": {"variable": "${cc_result}", "case": {
   "success": [{"success": ""}],
   "failed": [{"retry": {"nextResource": true, "sleep": 1000, "resource": {"id": 2}}}]}}},
 {"abandoned": {"status": "no_answer", "maxAttempts": 3, "waitBetweenRetries": 900, "redial": false,
   "agentId": "${agent_id}", "display": false, "export": ["call_cause"]}}
]"#,
    );
    let out = rustflow(&["check", "--deny-warnings", &dir.display().to_string()]);
    assert_eq!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
    for (name, steps) in [("members", 6), ("pre-attempt", 4), ("after-attempt", 4)] {
        assert!(
            out.stdout
                .contains(&format!("{name}.json: ok ({steps} steps")),
            "{}",
            out.stdout
        );
    }
    assert!(
        out.stderr.contains("0 warning(s)") && out.stderr.contains("0 skipped application(s)"),
        "{}",
        out.stderr
    );
}
