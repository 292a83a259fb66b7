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
fn corpus_fails_under_error_naming_each_unknown_application() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("note: ../shared/corpus is absent; corpus check skipped");
        return;
    };
    let file = corpus.join("webitel-call-001.json").display().to_string();
    let out = rustflow(&["check", &file]);
    assert_eq!(out.status, 1, "{}", out.stdout);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            is_problem_line(line, &file),
            "not FILE:LINE:COL: POINTER: MESSAGE: {line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("callbackQueue")),
        "{}",
        out.stdout
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
