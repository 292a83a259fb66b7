//! `rustflow flow push|list|delete` against a private PostgreSQL (a SKIP line without one).

mod common;

use std::path::Path;

use common::{rustflow, scratch_dir};
use pgserver::PgServer;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// `ID: CHANGE` lines of a push, sorted as printed.
fn changes(stdout: &str) -> Vec<&str> {
    stdout.lines().collect()
}

/// The (id, revision, size) of each row `flow list` printed.
fn listed(stdout: &str) -> Vec<(String, String, String)> {
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("ID\tREVISION\tUPDATED_AT\tSIZE\tPUSHED_BY"),
        "{stdout}"
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 5, "{line}");
            assert!(fields[2].ends_with('Z'), "UTC time: {line}");
            (fields[0].into(), fields[1].into(), fields[3].into())
        })
        .collect()
}

#[test]
fn push_list_refuse_and_delete() {
    let Some(server) = PgServer::start("push_list_refuse_and_delete") else {
        return;
    };
    let url = server.database("flows");
    let dir = scratch_dir("flow-push");
    let main = r#"[{"answer": ""}, {"schema": {"id": "sub"}}]"#;
    let sub = r#"[{"hangup": "16"}]"#;
    write(&dir, "main.json", main);
    write(&dir, "sub.json", sub);
    let dir_arg = dir.display().to_string();

    let out = rustflow(&["flow", "push", &dir_arg, "--source", &url, "--by", "ops"]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(changes(&out.stdout), ["main: added", "sub: added"]);
    assert_eq!(out.stderr.lines().last(), Some("revision 1"), "{out:?}");

    let out = rustflow(&["flow", "list", "--source", &url]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(
        listed(&out.stdout),
        [
            ("main".into(), "1".into(), main.len().to_string()),
            ("sub".into(), "1".into(), sub.len().to_string())
        ]
    );
    assert!(
        out.stdout
            .lines()
            .all(|l| l.ends_with("\tops") || l.starts_with("ID"))
    );

    // One bad flow next to a changed good one: nothing is written.
    let bad_dir = scratch_dir("flow-push-bad");
    write(&bad_dir, "main.json", r#"[{"answer": ""}]"#);
    write(&bad_dir, "broken.json", r#"[{"hangup": {}}]"#);
    let bad_arg = bad_dir.display().to_string();
    let out = rustflow(&["flow", "push", &bad_arg, "--source", &url]);
    assert_eq!(out.status, 1, "{out:?}");
    let broken = bad_dir.join("broken.json").display().to_string();
    assert!(
        out.stderr
            .contains("refused, nothing written: 1 problem(s)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(&format!("{broken}:1:"))
                && l.contains("`hangup` must be a string")),
        "the problem names the file:\n{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    let out = rustflow(&["flow", "list", "--source", &url]);
    assert_eq!(
        listed(&out.stdout),
        [
            ("main".into(), "1".into(), main.len().to_string()),
            ("sub".into(), "1".into(), sub.len().to_string())
        ],
        "the table is unchanged"
    );
    assert!(
        out.stderr.contains("revision 1, 2 flow(s)"),
        "{}",
        out.stderr
    );

    // The same files again: unchanged, no new revision.
    let out = rustflow(&["flow", "push", &dir_arg, "--source", &url]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(changes(&out.stdout), ["main: unchanged", "sub: unchanged"]);
    assert_eq!(out.stderr.lines().last(), Some("revision 1"), "{out:?}");

    // One file, changed; the URL from the environment.
    let one = scratch_dir("flow-push-one");
    write(&one, "sub.json", r#"[{"hangup": "17"}]"#);
    let sub_file = one.join("sub.json").display().to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rustflow"))
        .args(["flow", "push", &sub_file])
        .env("RUSTFLOW_FLOWS_SOURCE", &url)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "sub: changed\n");

    // `sub` is still run by `main`: deleting it alone is refused, naming the row.
    let out = rustflow(&["flow", "delete", "sub", "--source", &url]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.contains("rustflow_flows/main:")
            && out
                .stderr
                .contains("runs flow `sub`, which is not in the flows table"),
        "{}",
        out.stderr
    );
    let out = rustflow(&["flow", "delete", "main", "sub", "nope", "--source", &url]);
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(changes(&out.stdout), ["main: deleted", "sub: deleted"]);
    assert!(
        out.stderr.contains("nope: no such flow in the table"),
        "{}",
        out.stderr
    );
    let out = rustflow(&["flow", "list", "--source", &url]);
    assert!(listed(&out.stdout).is_empty(), "{out:?}");
    assert!(
        out.stderr.contains("revision 3, 0 flow(s)"),
        "{}",
        out.stderr
    );

    for dir in [dir, bad_dir, one] {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn a_source_that_is_not_a_url_is_a_usage_error_and_a_dead_one_names_the_url() {
    let out = rustflow(&["flow", "list", "--source", "/etc/flows"]);
    assert_eq!(out.status, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("expected a postgres:// or postgresql:// URL")
    );

    let port = pgserver::free_port().unwrap();
    let url = format!("postgres://flows:s3cret@127.0.0.1:{port}/flows");
    let out = rustflow(&["flow", "list", "--source", &url]);
    assert_eq!(out.status, 1, "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "postgres://flows:***@127.0.0.1:{port}/flows: cannot connect"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"));
}
