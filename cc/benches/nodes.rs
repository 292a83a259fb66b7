//! Several nodes on one store: distributor processes (tests/support/two_nodes.rs) serving
//! callers who all joined up front, on SQLite (processes sharing one file) and on a private
//! PostgreSQL server, with one node and with two.
//!
//! - **calls/s**: 5,000 callers, 100 agents who answer at once and hang up at once: callers
//!   per second through claim, answer and end of the call;
//! - **agent free → offer**: 2,000 callers, 20 agents talking 20–60 ms: from the moment a
//!   leave frees an agent (before the leave is written) to the end of the pass that claimed
//!   that agent for the next caller, p50 / p99, split by whether the next caller waited on
//!   the node that freed the agent or on the other one (woken by the store's change feed:
//!   LISTEN/NOTIFY on PostgreSQL, the file's data version polled every 50 ms on SQLite).
//!
//! `cargo bench -p rustflow-cc --bench nodes` (prints numbers; asserts nothing about them).

#[path = "../tests/support/two_nodes.rs"]
mod two_nodes;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use pgserver::PgServer;
use two_nodes::NODES;

struct Load {
    callers: usize,
    agents: usize,
    talk_ms: (u64, u64),
}

const CLAIMS: Load = Load {
    callers: 5_000,
    agents: 100,
    talk_ms: (0, 0),
};
const LATENCY: Load = Load {
    callers: 2_000,
    agents: 20,
    talk_ms: (20, 60),
};

struct Run {
    calls_per_s: f64,
    /// (freed on, claimed on, µs)
    free_to_offer: Vec<(&'static str, &'static str, i64)>,
}

fn run(spec: &str, nodes: &[&'static str], load: &Load) -> Result<Run, String> {
    let store = two_nodes::open(spec);
    two_nodes::provision_queue(store.as_ref(), load.agents);
    let joined = two_nodes::join_callers(store.as_ref(), load.callers, nodes)?;
    drop(store);
    let node_of: BTreeMap<i64, &'static str> = joined.into_iter().collect();
    let running = nodes
        .iter()
        .map(|n| two_nodes::spawn(n, spec, load.talk_ms))
        .collect::<Result<Vec<_>, _>>()?;
    let mut lines = Vec::new();
    for node in running {
        let name = node.name;
        let (status, out) = node.finish()?;
        if !status.success() {
            return Err(format!("{name} failed: {status}"));
        }
        lines.extend(out);
    }
    let printed = two_nodes::parse(&lines)?;
    if printed.offers.len() != load.callers {
        return Err(format!(
            "{} offers for {} callers",
            printed.offers.len(),
            load.callers
        ));
    }
    let first = printed.offers.iter().map(|o| o.started).min().unwrap_or(0);
    let last = printed.offers.iter().map(|o| o.after).max().unwrap_or(0);
    Ok(Run {
        calls_per_s: load.callers as f64 / ((last - first).max(1) as f64 / 1e6),
        free_to_offer: two_nodes::free_to_offer(&printed, &node_of),
    })
}

fn percentile(sorted: &[i64], p: f64) -> String {
    if sorted.is_empty() {
        return "–".to_string();
    }
    let us = sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    format!("{:.1}", us as f64 / 1000.0)
}

fn latency_cells(samples: &[(&str, &str, i64)], cross: Option<bool>) -> String {
    let mut us: Vec<i64> = samples
        .iter()
        .filter(|(freed, claimed, _)| cross.is_none_or(|c| (freed != claimed) == c))
        .map(|s| s.2)
        .collect();
    us.sort_unstable();
    format!(
        "{} | {} / {}",
        us.len(),
        percentile(&us, 0.5),
        percentile(&us, 0.99)
    )
}

fn bench(store_name: &str, spec: &dyn Fn(&str) -> String) -> Result<Vec<String>, String> {
    let mut rows = Vec::new();
    for nodes in [&NODES[..1], &NODES[..]] {
        let started = Instant::now();
        let claims = run(&spec(&format!("claims_{}", nodes.len())), nodes, &CLAIMS)?;
        let latency = run(&spec(&format!("latency_{}", nodes.len())), nodes, &LATENCY)?;
        let samples = &latency.free_to_offer;
        rows.push(format!(
            "| {store_name} | {} | {:.0} | {} | {} | {} |",
            nodes.len(),
            claims.calls_per_s,
            latency_cells(samples, None),
            latency_cells(samples, Some(false)),
            if nodes.len() > 1 {
                latency_cells(samples, Some(true))
            } else {
                "– | –".to_string()
            },
        ));
        eprintln!(
            "{store_name}, {} node(s): {:.1} s",
            nodes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(rows)
}

fn main() -> ExitCode {
    if let Some(code) = two_nodes::node_main() {
        return code;
    }
    println!(
        "calls/s: {} callers, {} agents answering and hanging up at once; free → offer: {} callers, {} agents talking {}–{} ms",
        CLAIMS.callers,
        CLAIMS.agents,
        LATENCY.callers,
        LATENCY.agents,
        LATENCY.talk_ms.0,
        LATENCY.talk_ms.1
    );
    println!();
    println!(
        "| store | nodes | calls/s | free → offer n | p50 / p99 ms | same node n | p50 / p99 ms | other node n | p50 / p99 ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let dir = std::env::temp_dir().join(format!("rustflow-nodes-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = |name: &str| dir.join(format!("{name}.sqlite")).display().to_string();
    let mut failed = false;
    match bench("SQLite", &sqlite) {
        Ok(rows) => rows.iter().for_each(|r| println!("{r}")),
        Err(e) => {
            eprintln!("SQLite: {e}");
            failed = true;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(server) = PgServer::start("nodes bench on PostgreSQL") {
        let postgres = |name: &str| server.database(name);
        match bench("PostgreSQL", &postgres) {
            Ok(rows) => rows.iter().for_each(|r| println!("{r}")),
            Err(e) => {
                eprintln!("PostgreSQL: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
