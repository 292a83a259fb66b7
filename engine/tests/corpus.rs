//! Every real Webitel flow of the shared corpus compiles under `unknown-apps=skip`, and
//! runs in the simulator without the engine failing on its own constructs.

use std::path::PathBuf;

use rustflow_engine::sim::{Script, simulate};
use rustflow_engine::{CompileOptions, FlowSet, UnknownApps, compile_file};

fn corpus_dir() -> Option<PathBuf> {
    // engine/ → repository root → ../shared/corpus
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("note: {} is absent; corpus tests skipped", dir.display());
        None
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

const SKIP: CompileOptions = CompileOptions {
    unknown_apps: UnknownApps::Skip,
    allow_insecure_skip_verify: false,
    skip_lint: false,
};

#[test]
fn corpus_compiles_with_skip() {
    let files = corpus_files();
    for path in &files {
        let flow = compile_file(path, &SKIP).unwrap_or_else(|diags| {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("{} does not compile:\n{}", path.display(), lines.join("\n"))
        });
        let summary = flow.summary();
        println!(
            "{}: {} steps, {} tags, {} functions, skipped: {:?}",
            flow.id(),
            summary.steps,
            summary.tags.len(),
            summary.functions.len(),
            summary
                .skipped
                .iter()
                .map(|s| s.app.as_str())
                .collect::<std::collections::BTreeSet<_>>()
        );
        // Everything skipped is named with its pointer.
        assert!(summary.skipped.iter().all(|s| s.pointer.starts_with('/')));
    }
}

#[test]
fn corpus_is_rejected_without_skip_only_for_unsupported_apps() {
    for path in corpus_files() {
        if let Err(diags) = compile_file(&path, &CompileOptions::default()) {
            for d in diags {
                assert!(
                    d.message.contains("is not supported by rustflow yet"),
                    "{}: unexpected error {d}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn corpus_runs_in_the_simulator() {
    let Some(dir) = corpus_dir() else {
        return;
    };
    let flows = FlowSet::load_dir(&dir, &SKIP).unwrap();
    assert_eq!(flows.len(), corpus_files().len());
    for flow in flows.iter() {
        let script = Script {
            hangup_at_ms: Some(120_000),
            ..Script::default()
        };
        let (outcome, host) = simulate(flow, &flows, script);
        assert!(outcome.steps > 0, "{}: no step ran", flow.id());
        // Budgets are not what ends a real flow.
        let error = outcome.error.unwrap_or_default();
        assert!(
            !error.starts_with("rustflow:"),
            "{}: {error}\n{}",
            flow.id(),
            host.transcript_text()
        );
    }
}
