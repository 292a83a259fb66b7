//! `--help` of every subcommand, usage errors and their exit status.

mod common;

use common::rustflow;

#[test]
fn every_subcommand_has_help() {
    for (command, expected) in [
        (
            "check",
            "Usage: rustflow check [--unknown-apps skip|error] [--deny-warnings] [--json] FILE|DIR",
        ),
        ("run", "Usage: rustflow run FILE"),
        ("graph", "Usage: rustflow graph FILE"),
        ("schema", "Usage: rustflow schema"),
    ] {
        let out = rustflow(&[command, "--help"]);
        assert_eq!(out.status, 0, "{command} --help: {}", out.stderr);
        assert!(
            out.stdout.starts_with(expected),
            "{command} --help printed:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("Exit status"),
            "{command} --help documents its exit status"
        );
        let via_help = rustflow(&["help", command]);
        assert_eq!(via_help.stdout, out.stdout);
    }
    let top = rustflow(&["--help"]);
    assert_eq!(top.status, 0);
    for command in ["check", "run", "graph", "schema"] {
        assert!(
            top.stdout.contains(&format!("rustflow {command}")),
            "{}",
            top.stdout
        );
    }
}

#[test]
fn check_help_documents_the_exit_statuses() {
    let out = rustflow(&["check", "--help"]);
    for line in [
        "0  every flow is valid",
        "1  at least one problem",
        "2  usage error",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing `{line}` in:\n{}",
            out.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2_with_the_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage:"),
        (
            &["frobnicate"],
            "rustflow frobnicate: unknown command `frobnicate`",
        ),
        (&["check"], "rustflow check: missing FILE or DIR"),
        (
            &["check", "a.json", "b.json"],
            "rustflow check: unexpected argument `b.json`",
        ),
        (
            &["check", "--unknown-apps", "maybe", "x.json"],
            "--unknown-apps takes `skip` or `error`, not `maybe`",
        ),
        (
            &["check", "--unknown-apps"],
            "option `--unknown-apps` needs a value",
        ),
        (
            &["graph", "--dot", "x.json"],
            "rustflow graph: unknown option `--dot`",
        ),
        (
            &["schema", "extra"],
            "rustflow schema: unexpected argument `extra`",
        ),
        (&["run"], "rustflow run: missing FILE"),
        (
            &["run", "x.json", "--bridge", "maybe"],
            "--bridge outcome must be one of",
        ),
        (
            &["run", "x.json", "--bridge", "user/1001=maybe"],
            "--bridge outcome must be one of answered|busy|no_answer|failed|cancelled, not `maybe`",
        ),
        (
            &["run", "x.json", "--dtmf", "12x"],
            "--dtmf: `x` is not a DTMF key",
        ),
        (
            &["run", "x.json", "--var", "novalue"],
            "--var takes NAME=VALUE",
        ),
        (
            &["run", "x.json", "--hangup-after", "soon"],
            "--hangup-after",
        ),
    ];
    for (args, expected) in cases {
        let out = rustflow(args);
        assert_eq!(
            out.status, 2,
            "{args:?}: stdout {} stderr {}",
            out.stdout, out.stderr
        );
        assert!(
            out.stderr.contains(expected),
            "{args:?}: stderr was:\n{}",
            out.stderr
        );
    }
}
