//! `rustflow graph`: DOT with clusters, labelled branches and dashed jumps.

mod common;

use common::{corpus_dir, rustflow, scratch_dir};

#[test]
fn menu_graph_shows_branches_and_jumps() {
    let out = rustflow(&["graph", "examples/flows/menu.json"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let dot = &out.stdout;
    assert!(dot.starts_with("digraph \"menu\" {"), "{dot}");
    assert!(dot.trim_end().ends_with('}'));
    // The switch's cases are clusters reached by labelled edges.
    assert!(
        dot.contains("subgraph \"cluster_/schema/4/switch/case/2\""),
        "{dot}"
    );
    assert!(
        dot.contains("\"/schema/4\" -> \"/schema/4/switch/case/2/0\" [label=\"case \\\"2\\\"\"];"),
        "{dot}"
    );
    assert!(dot.contains("[label=\"default\"]"), "{dot}");
    // goto back to the menu and the limit failover are dashed.
    assert!(
        dot.contains(
            "\"/schema/4/switch/case/default/1\" -> \"/schema/3\" [label=\"goto\", style=dashed];"
        ),
        "{dot}"
    );
    assert!(
        dot.contains("\"/schema/3\" -> \"/schema/5\" [label=\"limit 3\", style=dashed];"),
        "{dot}"
    );
}

#[test]
fn graph_errors_exit_1() {
    let out = rustflow(&["graph", "no/such/file.json"]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr.starts_with("no/such/file.json: cannot read:"),
        "{}",
        out.stderr
    );
    let dir = scratch_dir("graph-test");
    let file = dir.join("bad.json");
    std::fs::write(&file, "{\"schema\": 5}").unwrap();
    let out = rustflow(&["graph", file.to_str().unwrap()]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr
            .contains("/schema: expected an array of applications"),
        "{}",
        out.stderr
    );
}

#[test]
fn corpus_graphs_are_complete() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("note: ../shared/corpus is absent; corpus graphs not drawn");
        return;
    };
    let file = corpus.join("webitel-call-001.json");
    let out = rustflow(&["graph", file.to_str().unwrap()]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    // 543 application objects in the largest corpus file: each one is a node.
    let nodes = out
        .stdout
        .lines()
        .filter(|line| line.contains("\" [label=") && !line.contains("->"))
        .count();
    assert_eq!(nodes, 543);
    assert!(!out.stdout.contains("missing:"), "every goto target exists");
}

#[test]
fn graphviz_renders_every_example_and_corpus_flow() {
    let Ok(probe) = std::process::Command::new("dot").arg("-V").output() else {
        eprintln!("note: Graphviz `dot` is not installed; DOT output not rendered");
        return;
    };
    assert!(probe.status.success());
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for dir in std::iter::once(common::examples_dir()).chain(corpus_dir()) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    for file in files {
        let out = rustflow(&["graph", file.to_str().unwrap()]);
        assert_eq!(out.status, 0, "{}: {}", file.display(), out.stderr);
        let mut child = std::process::Command::new("dot")
            .args(["-Tsvg", "-o", "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(out.stdout.as_bytes())
            .unwrap();
        let rendered = child.wait_with_output().unwrap();
        assert!(
            rendered.status.success(),
            "{}: dot failed: {}",
            file.display(),
            String::from_utf8_lossy(&rendered.stderr)
        );
    }
}
