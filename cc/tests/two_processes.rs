//! Two distributor processes on one store: 1,000 callers, alternately on node A and node B,
//! and 20 shared agents who answer at once and talk a few milliseconds.
//!
//! The test re-runs its own binary as the two nodes (support/two_nodes.rs). Each node
//! heartbeats, runs the janitor and its distributor pass (`pass_for`: it claims only for its
//! own callers), plays the agents of the offers it wins, and sleeps on the store's change
//! feed; it prints one line per offer and per leave with wall-clock times taken around the
//! store calls. The parent then checks, from those lines and the store:
//! - no double offer: an agent is claimed again only after the leave that freed it began;
//! - every attempt ends exactly once, with `success` (offered once when nothing failed);
//! - the global order: when a node claims a caller, fewer callers that joined before it are
//!   still waiting (claimed only by a pass that started later) than there are agents: the
//!   plan gives agents to earlier callers first, so only callers another node is about to
//!   claim can be behind.
//!
//! Scenarios, on SQLite (two processes on one file) and on PostgreSQL (a private server; one
//! SKIP line without one, a failure under CI): both nodes serve everyone; node B is killed
//! (SIGKILL) while its agents talk, and node A's janitor must close B's callers as
//! `node_lost` and free B's agents once B's heartbeat is older than the node lease; and
//! (PostgreSQL) the server stops and restarts while the nodes work.

#[path = "support/two_nodes.rs"]
mod two_nodes;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pgserver::PgServer;
use rustflow_cc::store::{AttemptState, NODE_LEASE_MS, NODE_LOST};
use two_nodes::{HEARTBEAT, NODES, PATIENCE, now_ms, open};

const CALLERS: usize = 1_000;
const AGENTS: usize = 20;
/// Talk times: short, varied so the nodes' claims interleave.
const TALK_MS: (u64, u64) = (2, 9);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// Both nodes serve every caller.
    Serve,
    /// Node B is killed while its agents talk.
    KillB,
    /// The database stops and restarts while the nodes work.
    RestartDatabase,
}

/// Runs the two nodes on `spec` through `scenario` and checks what they did.
fn two_nodes(
    spec: &str,
    scenario: Scenario,
    server: Option<&mut PgServer>,
) -> Result<String, String> {
    let store = open(spec);
    two_nodes::provision_queue(store.as_ref(), AGENTS);
    // Join order = attempt order: one queue, one priority.
    let joined = two_nodes::join_callers(store.as_ref(), CALLERS, &NODES)?;
    let node_of: BTreeMap<i64, &str> = joined.iter().copied().collect();

    let started = Instant::now();
    let mut nodes = vec![
        two_nodes::spawn(NODES[0], spec, TALK_MS)?,
        two_nodes::spawn(NODES[1], spec, TALK_MS)?,
    ];
    let mut lines: Vec<String> = Vec::new();
    let mut lost_after = None;
    if scenario != Scenario::Serve {
        // Act once 200 calls are offered.
        let mut offered = 0;
        while offered < 200 {
            for n in &nodes {
                while let Ok(line) = n.lines.try_recv() {
                    offered += usize::from(line.starts_with("offer "));
                    lines.push(line);
                }
            }
            if started.elapsed() > PATIENCE {
                return Err("the nodes did not get going".to_string());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        match scenario {
            Scenario::KillB => {
                let b = &mut nodes[1];
                b.kill()?;
                let killed = Instant::now();
                // Node A's janitor closes B's open attempts once B's lease is over.
                loop {
                    let open_on_b = store
                        .history(None, 0)
                        .map_err(|e| e.to_string())?
                        .iter()
                        .filter(|a| a.node == NODES[1] && a.state != AttemptState::Left)
                        .count();
                    if open_on_b == 0 {
                        lost_after = Some(killed.elapsed());
                        break;
                    }
                    if killed.elapsed() > Duration::from_millis(NODE_LEASE_MS as u64) * 4 {
                        return Err(format!(
                            "{open_on_b} attempts of the killed node still open after {:?}",
                            killed.elapsed()
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Scenario::RestartDatabase => {
                let server = server.ok_or("restart needs a server")?;
                server.stop();
                std::thread::sleep(Duration::from_millis(1500));
                server.restart();
            }
            Scenario::Serve => {}
        }
    }
    for n in nodes {
        let name = n.name;
        let (status, rest) = n.finish()?;
        lines.extend(rest);
        let killed = scenario == Scenario::KillB && name == NODES[1];
        if !status.success() && !killed {
            return Err(format!("{name} failed: {status}"));
        }
    }
    let elapsed = started.elapsed();
    let printed = two_nodes::parse(&lines)?;
    let leaves = &printed.leaves;

    // Every attempt ended exactly once: `success`, or `node_lost` for the killed node's
    // callers it had not finished.
    let history = store.history(None, 0).map_err(|e| e.to_string())?;
    if history.len() != CALLERS {
        return Err(format!("{} attempts in the store", history.len()));
    }
    let mut lost = 0;
    for a in &history {
        let result = a.result.as_deref();
        let fine = match (scenario, result) {
            (_, Some("success")) => true,
            (Scenario::KillB, Some(NODE_LOST)) => {
                lost += 1;
                node_of[&a.id] == NODES[1] && !leaves.contains_key(&a.id)
            }
            _ => false,
        };
        let offered_once = a.offers == 1 || scenario == Scenario::RestartDatabase;
        if a.state != AttemptState::Left || !fine || (result == Some("success") && !offered_once) {
            return Err(format!(
                "attempt {} ({}) ended as {:?} / {result:?} after {} offers",
                a.id, node_of[&a.id], a.state, a.offers
            ));
        }
    }
    // No agent is left reserved.
    for agent in store.agents(now_ms()).map_err(|e| e.to_string())? {
        if agent.attempt.is_some() {
            return Err(format!(
                "agent {} still holds attempt {:?} in state {:?}",
                agent.id, agent.attempt, agent.state
            ));
        }
    }

    // No double offer: an agent's next claim ends after the leave that freed it began.
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for o in &printed.offers {
        if let Some(previous) = last.insert(&o.agent, o.attempt)
            // A conversation the killed node never ended was closed by the janitor.
            && let Some(freed) = leaves.get(&previous)
            && o.after < *freed
        {
            return Err(format!(
                "agent {} was claimed for attempt {} before attempt {previous} left",
                o.agent, o.attempt
            ));
        }
    }

    // The global order: a caller that joined earlier and was claimed only by a pass that
    // started after this caller's claim was written was passed over. The pass that claimed
    // this caller saw it waiting and gave it an agent first, so such callers are fewer than
    // the agents; a node planning only its own callers passes over many more.
    let rank: BTreeMap<i64, usize> = joined
        .iter()
        .enumerate()
        .map(|(i, (a, _))| (*a, i))
        .collect();
    let mut worst = 0;
    if scenario == Scenario::Serve {
        for o in &printed.offers {
            let passed_over = printed
                .offers
                .iter()
                .filter(|e| rank[&e.attempt] < rank[&o.attempt] && e.started > o.after)
                .count();
            worst = worst.max(passed_over);
        }
    }
    if worst >= AGENTS {
        return Err(format!(
            "a caller was claimed while {worst} callers who joined before it were passed over"
        ));
    }
    let mut summary = format!(
        "every attempt left once, no agent claimed twice, no agent left reserved; {:.1} s",
        elapsed.as_secs_f64()
    );
    if scenario == Scenario::Serve {
        summary += &format!(", at most {worst} earlier callers passed over at a claim");
    }
    if let Some(after) = lost_after {
        summary += &format!(
            "; node B killed: its {lost} open attempts closed as node_lost and its agents free {:.2} s after the kill (node lease {:.1} s, heartbeat every {:.1} s)",
            after.as_secs_f64(),
            NODE_LEASE_MS as f64 / 1000.0,
            HEARTBEAT.as_secs_f64()
        );
    }
    Ok(summary)
}

fn main() -> ExitCode {
    if let Some(code) = two_nodes::node_main() {
        return code;
    }
    // libtest's arguments (a filter, --nocapture…) are ignored: this binary is one test.
    let mut failed = false;
    let mut report = |store: &str, scenario: Scenario, result: Result<String, String>| match result
    {
        Ok(summary) => println!("two_processes {store} {scenario:?}: {summary}"),
        Err(e) => {
            eprintln!("two_processes {store} {scenario:?}: FAILED: {e}");
            failed = true;
        }
    };
    for scenario in [Scenario::Serve, Scenario::KillB] {
        let dir = std::env::temp_dir().join(format!(
            "rustflow-two-nodes-{}-{scenario:?}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("cc.sqlite");
        let result = two_nodes(file.to_str().unwrap(), scenario, None);
        let _ = std::fs::remove_dir_all(&dir);
        report("SQLite", scenario, result);
    }
    if let Some(mut server) = PgServer::start("two_processes on PostgreSQL") {
        for (i, scenario) in [Scenario::Serve, Scenario::KillB, Scenario::RestartDatabase]
            .into_iter()
            .enumerate()
        {
            let url = server.database(&format!("two_nodes_{i}"));
            let result = two_nodes(&url, scenario, Some(&mut server));
            report("PostgreSQL", scenario, result);
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
