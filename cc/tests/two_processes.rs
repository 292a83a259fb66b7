//! Two distributor processes on one store: 1,000 callers, alternately on node A and node B,
//! and 20 shared agents who answer at once and talk a few milliseconds.
//!
//! The test re-runs its own binary as the two nodes (`--node NAME --store SPEC`). Each node
//! runs the janitor and its distributor pass (`pass_for`: it claims only for its own callers)
//! and plays the agents of the offers it wins; it prints one line per offer with wall-clock
//! times taken around the store calls. The parent then checks, from those lines and the
//! store:
//! - no double offer: an agent is claimed again only after the leave that freed it began;
//! - every attempt ends exactly once: offered once, left with `success`;
//! - the global order: when a node claims a caller, fewer callers that joined before it are
//!   still waiting than there are agents (the plan gives agents to earlier callers first,
//!   so only callers another node is claiming at that moment can be behind).
//!
//! Runs on SQLite (two processes on one file) and, when a PostgreSQL server is found, on
//! PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustflow_cc::distributor::Distributor;
use rustflow_cc::store::sqlite::SqliteStore;
use rustflow_cc::store::suite::{T0, provision};
use rustflow_cc::store::{AttemptState, JoinOutcome, JoinRequest, Ms, Store};

const CALLERS: usize = 1_000;
const AGENTS: usize = 20;
const NODES: [&str; 2] = ["node-a", "node-b"];
/// A node gives up (and the test fails) when its callers are not all served by then.
const PATIENCE: Duration = Duration::from_secs(120);

fn open(spec: &str) -> Box<dyn Store> {
    Box::new(SqliteStore::open(spec).unwrap_or_else(|e| panic!("{spec}: {e}")))
}

/// Wall-clock microseconds: comparable across the two processes.
fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The store's clock: real time (leases and rests are real), shifted to the test's epoch.
fn now_ms(start: Instant) -> Ms {
    T0 + 10_000 + start.elapsed().as_millis() as Ms
}

fn setup() -> String {
    let agents: Vec<String> = (0..AGENTS)
        .map(|i| format!(r#"{{"id": "a{i:02}", "extension": "{}"}}"#, 1000 + i))
        .collect();
    let tiers: Vec<String> = (0..AGENTS)
        .map(|i| format!(r#"{{"queue": "q", "agent": "a{i:02}"}}"#))
        .collect();
    format!(
        r#"{{"queues": [{{"id": "q", "strategy": "longest-idle-agent", "wrap_up_secs": 0,
                          "ring_timeout_secs": 30}}],
            "agents": [{}], "tiers": [{}]}}"#,
        agents.join(","),
        tiers.join(",")
    )
}

/// One node: serves its own callers until none is left waiting or talking.
fn node(name: &str, spec: &str) -> ExitCode {
    let store = open(spec);
    let start = Instant::now();
    let mine: BTreeSet<i64> = store
        .waiting()
        .unwrap()
        .into_iter()
        .filter(|a| a.node == name)
        .map(|a| a.id)
        .collect();
    let mut open_attempts = mine.clone();
    let mut distributor = Distributor::new(if name == NODES[0] { 11 } else { 22 });
    // Conversations in progress: attempt → when it ends.
    let mut talking: BTreeMap<i64, Instant> = BTreeMap::new();
    let mut talk = 0u64;
    while !open_attempts.is_empty() {
        if start.elapsed() > PATIENCE {
            eprintln!("{name}: {} callers still open", open_attempts.len());
            return ExitCode::FAILURE;
        }
        let due: Vec<i64> = talking
            .iter()
            .filter(|(_, end)| **end <= Instant::now())
            .map(|(id, _)| *id)
            .collect();
        for attempt in due {
            talking.remove(&attempt);
            let before = wall_us();
            store.leave(attempt, "success", now_ms(start)).unwrap();
            println!("leave {attempt} {before}");
            open_attempts.remove(&attempt);
        }
        store.janitor(now_ms(start)).unwrap();
        let pass = distributor
            .pass_for(store.as_ref(), now_ms(start), &|a| mine.contains(&a.id))
            .unwrap();
        let after = wall_us();
        for offer in pass.offers {
            let agent = &offer.agents[0].id;
            println!("offer {} {agent} {after}", offer.attempt);
            assert!(store.answered(offer.attempt, agent, now_ms(start)).unwrap());
            // 2–9 ms of talk, varied so the nodes' claims interleave.
            talk = (talk * 7 + 3) % 8;
            talking.insert(
                offer.attempt,
                Instant::now() + Duration::from_millis(2 + talk),
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    ExitCode::SUCCESS
}

struct Offer {
    attempt: i64,
    agent: String,
    /// When the pass that won it returned.
    after: i64,
}

/// Runs the two nodes on `spec` and checks what they did. Returns what failed.
fn two_nodes(spec: &str) -> Result<String, String> {
    let store = open(spec);
    provision(store.as_ref(), &setup(), T0);
    // Join order = attempt order: one queue, one priority.
    let mut joined = Vec::new();
    for i in 0..CALLERS {
        let outcome = store
            .join(
                &JoinRequest {
                    queue: "q".into(),
                    call_id: format!("call-{i:04}"),
                    caller_number: format!("{i}"),
                    node: NODES[i % 2].into(),
                    variables: "{}".into(),
                    ..JoinRequest::default()
                },
                T0 + i as Ms,
            )
            .map_err(|e| e.to_string())?;
        let JoinOutcome::Joined { attempt, .. } = outcome else {
            return Err(format!("caller {i} was refused: {outcome:?}"));
        };
        joined.push(attempt);
    }
    drop(store);

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let children: Vec<_> = NODES
        .iter()
        .map(|name| {
            Command::new(&exe)
                .args(["--node", name, "--store", spec])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut offers = Vec::new();
    let mut leaves: BTreeMap<i64, i64> = BTreeMap::new();
    for (name, child) in NODES.iter().zip(children) {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("{name} failed: {}", out.status));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["offer", attempt, agent, after] => offers.push(Offer {
                    attempt: attempt.parse().unwrap(),
                    agent: agent.to_string(),
                    after: after.parse().unwrap(),
                }),
                ["leave", attempt, before] => {
                    let attempt: i64 = attempt.parse().unwrap();
                    if leaves.insert(attempt, before.parse().unwrap()).is_some() {
                        return Err(format!("attempt {attempt} left twice"));
                    }
                }
                _ => return Err(format!("{name} printed `{line}`")),
            }
        }
    }
    let elapsed = started.elapsed();

    // Every attempt ended exactly once, offered once, with `success`.
    let store = open(spec);
    let history = store.history(None, 0).map_err(|e| e.to_string())?;
    if history.len() != CALLERS {
        return Err(format!("{} attempts in the store", history.len()));
    }
    for a in &history {
        if a.state != AttemptState::Left || a.result.as_deref() != Some("success") || a.offers != 1
        {
            return Err(format!(
                "attempt {} ended as {:?} / {:?} after {} offers",
                a.id, a.state, a.result, a.offers
            ));
        }
    }
    let offered: BTreeSet<i64> = offers.iter().map(|o| o.attempt).collect();
    if offers.len() != CALLERS || offered.len() != CALLERS {
        return Err(format!(
            "{} offers for {} attempts",
            offers.len(),
            offered.len()
        ));
    }

    // No double offer: an agent's next claim ends after the leave that freed it began.
    offers.sort_by_key(|o| o.after);
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for o in &offers {
        if let Some(previous) = last.insert(&o.agent, o.attempt) {
            let freed = leaves[&previous];
            if o.after < freed {
                return Err(format!(
                    "agent {} was claimed for attempt {} before attempt {} left",
                    o.agent, o.attempt, previous
                ));
            }
        }
    }

    // The global order: callers that joined earlier and still wait when a caller is
    // claimed are fewer than the agents.
    let rank: BTreeMap<i64, usize> = joined.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    let mut waiting: BTreeSet<usize> = (0..CALLERS).collect();
    let mut worst = 0;
    for o in &offers {
        let r = rank[&o.attempt];
        let ahead = waiting.range(..r).count();
        worst = worst.max(ahead);
        waiting.remove(&r);
    }
    if worst >= AGENTS {
        return Err(format!(
            "a caller was claimed while {worst} callers who joined before it still waited"
        ));
    }
    Ok(format!(
        "{CALLERS} callers, {AGENTS} agents, 2 nodes: every attempt offered once and left once, \
         no agent claimed twice, at most {worst} earlier callers still waiting at a claim; {:.1} s",
        elapsed.as_secs_f64()
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name, store_flag, spec] = args.as_slice()
        && flag == "--node"
        && store_flag == "--store"
    {
        return node(name, spec);
    }
    // libtest's arguments (a filter, --nocapture…) are ignored: this binary is one test.
    let dir = std::env::temp_dir().join(format!("rustflow-two-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cc.sqlite");
    let result = two_nodes(file.to_str().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(summary) => {
            println!("two_processes on SQLite: {summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("two_processes on SQLite: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
