//! `--help` of every subcommand, usage errors and their exit status.

mod common;

use common::rustflow;

#[test]
fn every_subcommand_has_help() {
    for (command, usage) in [
        ("check", "Usage: rustflow check [OPTIONS] <FILE|DIR>\n"),
        ("run", "Usage: rustflow run [OPTIONS] <FILE>\n"),
        ("graph", "Usage: rustflow graph <FILE>\n"),
        ("schema", "Usage: rustflow schema\n"),
        ("cc", "Usage: rustflow cc [OPTIONS] <WORDS>...\n"),
        ("flow", "Usage: rustflow flow <COMMAND>\n"),
    ] {
        let out = rustflow(&[command, "--help"]);
        assert_eq!(out.status, 0, "{command} --help: {}", out.stderr);
        assert!(
            out.stdout.contains(usage),
            "{command} --help printed:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("Exit status"),
            "{command} --help documents its exit status"
        );
        let via_help = rustflow(&["help", command]);
        assert_eq!(via_help.stdout, out.stdout);
        let short = rustflow(&[command, "-h"]);
        assert_eq!(short.status, 0);
        assert!(short.stdout.contains(usage), "{}", short.stdout);
    }
    let top = rustflow(&["--help"]);
    assert_eq!(top.status, 0);
    for command in ["check", "run", "graph", "schema", "cc", "flow"] {
        assert!(
            top.stdout.contains(&format!("\n  {command} ")),
            "{command} is listed:\n{}",
            top.stdout
        );
        assert!(
            top.stdout.contains(&format!("rustflow {command}")),
            "{command} has an example:\n{}",
            top.stdout
        );
    }
    let version = rustflow(&["--version"]);
    assert_eq!(
        version.stdout,
        format!("rustflow {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(rustflow(&["version"]).stdout, version.stdout);
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
    // clap's wording: what was wrong, the usage line, and where to read more
    let cases: &[(&[&str], &str)] = &[
        (&[], "Usage: rustflow <COMMAND>"),
        (
            &["frobnicate"],
            "error: unrecognized subcommand 'frobnicate'",
        ),
        (
            &["check"],
            "error: the following required arguments were not provided:\n  <FILE|DIR>",
        ),
        (
            &["check", "a.json", "b.json"],
            "error: unexpected argument 'b.json' found",
        ),
        (
            &["check", "--unknown-apps", "maybe", "x.json"],
            "error: invalid value 'maybe' for '--unknown-apps <MODE>'\n  [possible values: error, skip]",
        ),
        (
            &["check", "--unknown-apps"],
            "error: a value is required for '--unknown-apps <MODE>' but none was supplied",
        ),
        (
            &["graph", "--dot", "x.json"],
            "error: unexpected argument '--dot' found",
        ),
        (
            &["schema", "extra"],
            "error: unexpected argument 'extra' found",
        ),
        (
            &["run"],
            "error: the following required arguments were not provided:\n  <FILE>",
        ),
        (
            &["cc"],
            "error: the following required arguments were not provided:\n  <WORDS>...",
        ),
        (
            &["cc", "simulate", "x.json", "--speed", "3"],
            "rustflow cc: simulate: unknown option --speed\nusage: cc simulate SETUP.json",
        ),
        (
            &["run", "x.json", "--bridge", "maybe"],
            "error: invalid value 'maybe' for '--bridge <[LEG=]OUTCOME>': the outcome must be one of",
        ),
        (
            &["run", "x.json", "--bridge", "user/1001=maybe"],
            "the outcome must be one of answered|busy|no_answer|failed|cancelled, not `maybe`",
        ),
        (
            &["run", "x.json", "--dtmf", "12x"],
            "error: invalid value '12x' for '--dtmf <KEYS>': `x` is not a DTMF key (0-9 * # A-D)",
        ),
        (
            &["run", "x.json", "--var", "novalue"],
            "error: invalid value 'novalue' for '--var <NAME=VALUE>': expected NAME=VALUE",
        ),
        (
            &["run", "x.json", "--http", "no-file"],
            "error: invalid value 'no-file' for '--http <URL=FILE>': expected URL=FILE",
        ),
        (
            &["run", "x.json", "--hangup-after", "soon"],
            "error: invalid value 'soon' for '--hangup-after <N|Ns|Nms>': expected N (steps), Ns or Nms",
        ),
        (
            &["run", "x.json", "--json=1"],
            "error: unexpected value '1' for '--json' found",
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
