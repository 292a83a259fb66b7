//! `rustflow cc` on a store file: import of the example setup, lists, a refused change,
//! the store chosen by `$RUSTFLOW_CC_STORE`, and capacity planning without a store.

mod common;

use std::process::Command;

use common::{Output, repo_root, rustflow, scratch_dir};

const SETUP: &str = "examples/cc/setup.json";

fn cc(store: &str, words: &[&str]) -> Output {
    let mut args = vec!["cc", "--store", store];
    args.extend_from_slice(words);
    rustflow(&args)
}

#[test]
fn import_is_idempotent_and_lists_read_the_same_store_file() {
    let dir = scratch_dir("cc-import");
    let store = dir.join("cc.sqlite");
    let store = store.to_str().unwrap();

    let first = cc(store, &["import", SETUP]);
    assert_eq!(first.status, 0, "{}", first.stderr);
    assert!(
        first.stdout.starts_with("put skill uk\n"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("put agent remote-1\n"),
        "{}",
        first.stdout
    );
    assert!(
        first.stdout.ends_with("20 changes applied\n"),
        "{}",
        first.stdout
    );
    let again = cc(store, &["import", SETUP]);
    assert_eq!((again.status, again.stdout.as_str()), (0, "no changes\n"));

    let queues = cc(store, &["queue", "list", "json"]);
    assert_eq!(queues.status, 0, "{}", queues.stderr);
    let queues: serde_json::Value = serde_json::from_str(&queues.stdout).unwrap();
    let ids: Vec<&str> = queues
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sales", "support"]);
    assert_eq!(queues[0]["calendar"], "office");

    let tiers = cc(store, &["tier", "list", "support"]);
    assert_eq!(
        tiers.stdout,
        "\
QUEUE    AGENT   LEVEL  POSITION  WEIGHT
support  iryna   1      1         1
support  mykola  1      2         1
support  taras   2      1         1
support  olena   2      2         1
"
    );

    // A refused change: exit 1, the field named, nothing written.
    let bad = cc(store, &["queue", "set", "sales", "max_wait_secs=abc"]);
    assert_eq!(bad.status, 1);
    assert_eq!(
        bad.stderr,
        "rustflow cc: queue sales: max_wait_secs: invalid type: string \"abc\", expected u64\n"
    );
    let usage = cc(store, &["queue", "frobnicate"]);
    assert_eq!(usage.status, 2);
    assert!(
        usage.stderr.contains("usage: cc queue add|set"),
        "{}",
        usage.stderr
    );

    let paused = cc(
        store,
        &["agent", "status", "olena", "pause", "Lunch", "break"],
    );
    assert_eq!(paused.stdout, "agent olena: pause (Lunch break)\n");
    let snapshot = cc(store, &["snapshot", "json"]);
    let snapshot: serde_json::Value = serde_json::from_str(&snapshot.stdout).unwrap();
    assert_eq!(snapshot["queues"][0]["agents"]["pause"], 1);
    let olena = snapshot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "olena")
        .unwrap();
    assert_eq!(olena["pause_reason"], "Lunch break");

    // The environment names the store when --store does not.
    let via_env = Command::new(env!("CARGO_BIN_EXE_rustflow"))
        .args(["cc", "queue", "list"])
        .env("RUSTFLOW_CC_STORE", store)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let text = String::from_utf8(via_env.stdout).unwrap();
    assert!(
        text.contains(
            "\nsales    Sales    longest-idle-agent  yes      5         300       office    4\n"
        ),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn simulate_prints_the_erlang_c_column_without_a_store() {
    let dir = scratch_dir("cc-simulate");
    let missing_store = dir.join("never-created.sqlite");
    let out = cc(
        missing_store.to_str().unwrap(),
        &[
            "simulate",
            SETUP,
            "--queue",
            "sales",
            "--arrivals-per-hour",
            "40",
            "--aht",
            "180",
            "--hours",
            "50",
            "--seed",
            "3",
        ],
    );
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with(
            "queue sales (Sales): 4 agents with a tier\n4 agents, 40 calls/h, AHT 180 s, nobody abandons, 50 h, seed 3\n"
        ),
        "{}",
        out.stdout
    );
    let header = out
        .stdout
        .lines()
        .find(|l| l.contains("simulated"))
        .unwrap();
    assert!(header.contains("Erlang C"), "{header}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("service level (20 s)")),
        "{}",
        out.stdout
    );
    assert!(!missing_store.exists(), "simulate opened no store");

    let ambiguous = cc(
        missing_store.to_str().unwrap(),
        &[
            "simulate",
            SETUP,
            "--arrivals-per-hour",
            "40",
            "--aht",
            "180",
        ],
    );
    assert_eq!(ambiguous.status, 2);
    assert!(
        ambiguous
            .stderr
            .contains("has 2 queues (sales, support); choose one with --queue"),
        "{}",
        ambiguous.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `rustflow cc …` lines of the code blocks of docs/contact-centre.md, in order.
fn documented_commands() -> Vec<String> {
    let page = std::fs::read_to_string(repo_root().join("docs/contact-centre.md"))
        .expect("docs/contact-centre.md exists");
    let mut in_block = false;
    let mut lines = Vec::new();
    for line in page.lines() {
        if line.starts_with("```") {
            in_block = !in_block;
        } else if in_block && line.starts_with("rustflow cc ") {
            // The wallboard serves until stopped: cli/tests/wallboard.rs runs it.
            if !line.starts_with("rustflow cc wallboard ") {
                lines.push(line.to_string());
            }
        }
    }
    lines
}

#[test]
fn every_documented_example_runs_and_every_verb_has_one() {
    let lines = documented_commands();
    for kind in ["queue", "agent", "tier", "skill", "bucket", "calendar"] {
        for verb in ["add", "set", "del", "list"] {
            let prefix = format!("rustflow cc {kind} {verb}");
            assert!(
                lines.iter().any(|l| l.starts_with(&prefix)),
                "docs/contact-centre.md has no example of `{prefix}`"
            );
        }
    }
    for command in [
        "agent status",
        "snapshot",
        "import",
        "export",
        "simulate",
        "queue list json",
    ] {
        let prefix = format!("rustflow cc {command}");
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix)),
            "docs/contact-centre.md has no example of `{prefix}`"
        );
    }
    let dir = scratch_dir("cc-docs");
    let store = dir.join("cc.sqlite");
    let store = store.to_str().unwrap();
    let mut queue_list = None;
    for line in &lines {
        // split as fs_cli splits its line: on spaces, no quoting
        let words: Vec<&str> = line
            .strip_prefix("rustflow cc ")
            .unwrap()
            .split_whitespace()
            .collect();
        let out = cc(store, &words);
        assert_eq!(out.status, 0, "`{line}` failed: {}", out.stderr);
        if words == ["queue", "list"] && queue_list.is_none() {
            queue_list = Some(out.stdout);
        }
    }
    // The table shown on the page is what `queue list` printed at that point.
    let page = std::fs::read_to_string(repo_root().join("docs/contact-centre.md")).unwrap();
    let table = queue_list.expect("the page lists queues");
    assert!(
        page.contains(&format!("```\n{table}```\n")),
        "the page should show this `queue list` output:\n{table}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--store` takes a PostgreSQL URL: a server that is not there is one clear error, quickly,
/// without the password.
#[test]
fn a_postgres_url_store_that_is_unreachable_is_one_clear_error() {
    let port = pgserver::free_port().unwrap();
    let url = format!("postgres://cc:s3cret@127.0.0.1:{port}/cc");
    let started = std::time::Instant::now();
    let out = cc(&url, &["queue", "list"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "rustflow cc: contact-centre store postgres://cc@127.0.0.1:{port}/cc: cannot connect: "
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
}
