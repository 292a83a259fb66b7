//! Golden flows: every `golden/NAME.json` runs in the simulator with the caller script
//! `golden/NAME.script` (JSON, optional) and must produce exactly `golden/NAME.transcript`.
//! `RUSTFLOW_BLESS=1 cargo test -p rustflow-engine --test golden` rewrites the expected
//! transcripts (review the diff before committing).

use std::path::{Path, PathBuf};

use rustflow_engine::sim::{Script, simulate};
use rustflow_engine::{CompileOptions, FlowSet};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Transcript text plus the run outcome and the final channel variables the flow set.
fn render(id: &str, flows: &FlowSet) -> String {
    let flow = flows.get(id).expect("flow loaded");
    let script_path = golden_dir().join(format!("{id}.script"));
    let script = match std::fs::read_to_string(&script_path) {
        Ok(text) => {
            Script::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", script_path.display()))
        }
        Err(_) => Script::default(),
    };
    let (outcome, host) = simulate(flow, flows, script);
    let mut text = host.transcript_text();
    text.push_str(&format!(
        "outcome: steps={} hung_up={} error={}\n",
        outcome.steps,
        outcome.hung_up,
        outcome.error.as_deref().unwrap_or("-")
    ));
    text
}

#[test]
fn golden_flows() {
    let dir = golden_dir();
    let flows = FlowSet::load_dir(&dir, &CompileOptions::default()).unwrap_or_else(|diags| {
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        panic!("golden flows do not compile:\n{}", lines.join("\n"))
    });
    let bless = std::env::var_os("RUSTFLOW_BLESS").is_some();
    let mut failures = Vec::new();
    let mut count = 0;
    for flow in flows.iter() {
        let id = flow.id();
        eprintln!("golden: {id}");
        let actual = render(id, &flows);
        let expected_path = dir.join(format!("{id}.transcript"));
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            count += 1;
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{id}: transcript differs\n--- expected\n{expected}--- actual\n{actual}"
            )),
            Err(_) => failures.push(format!(
                "{id}: no {id}.transcript (run with RUSTFLOW_BLESS=1 to create it)\n{actual}"
            )),
        }
        count += 1;
    }
    assert!(count > 0, "no golden flows found in {}", dir.display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{count} golden flows checked");
}
