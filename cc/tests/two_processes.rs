//! Two distributor processes on one store: 1,000 callers, alternately on node A and node B,
//! and 20 shared agents who answer at once and talk a few milliseconds.
//!
//! The test re-runs its own binary as the two nodes (`--node NAME --store SPEC`). Each node
//! heartbeats, runs the janitor and its distributor pass (`pass_for`: it claims only for its
//! own callers), plays the agents of the offers it wins, and sleeps on the store's change
//! feed; it prints one line per offer and per leave with wall-clock times taken around the
//! store calls. The parent then checks, from those lines and the store:
//! - no double offer: an agent is claimed again only after the leave that freed it began;
//! - every attempt ends exactly once, with `success` (offered once when nothing failed);
//! - the global order: when a node claims a caller, fewer callers that joined before it are
//!   still waiting than there are agents (the plan gives agents to earlier callers first,
//!   so only callers another node is claiming at that moment can be behind).
//!
//! Scenarios, on SQLite (two processes on one file) and on PostgreSQL (a private server; one
//! SKIP line without one, a failure under CI): both nodes serve everyone; node B is killed
//! (SIGKILL) while its agents talk, and node A's janitor must close B's callers as
//! `node_lost` and free B's agents once B's heartbeat is older than the node lease; and
//! (PostgreSQL) the server stops and restarts while the nodes work.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgserver::PgServer;
use rustflow_cc::distributor::Distributor;
use rustflow_cc::store::suite::provision;
use rustflow_cc::store::{
    AttemptState, JoinOutcome, JoinRequest, Ms, NODE_LEASE_MS, NODE_LOST, Store, StoreResult,
};

const CALLERS: usize = 1_000;
const AGENTS: usize = 20;
const NODES: [&str; 2] = ["node-a", "node-b"];
/// A node gives up (and the test fails) when the callers are not all served by then.
const PATIENCE: Duration = Duration::from_secs(120);
/// How often a node heartbeats (the module: a fifth of the lease).
const HEARTBEAT: Duration = Duration::from_millis(200);

fn open(spec: &str) -> Box<dyn Store> {
    rustflow_cc::store::open(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// Wall-clock microseconds: comparable across the processes.
fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The store's clock: real time (leases, rests and heartbeats are real).
fn now_ms() -> Ms {
    wall_us() / 1000
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
                          "ring_timeout_secs": 5}}],
            "agents": [{}], "tiers": [{}]}}"#,
        agents.join(","),
        tiers.join(",")
    )
}

/// Runs a store call until it answers (the database may be restarting), within PATIENCE.
fn retry<T>(what: &str, mut call: impl FnMut() -> StoreResult<T>) -> T {
    let start = Instant::now();
    loop {
        match call() {
            Ok(v) => return v,
            Err(e) if start.elapsed() < PATIENCE => {
                eprintln!("retrying {what}: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// One node: serves its own callers until no attempt is open in the store.
fn node(name: &str, spec: &str) -> ExitCode {
    let store = open(spec);
    let mut feed = retry("change feed", || store.change_feed());
    let start = Instant::now();
    let mine: BTreeSet<i64> = retry("waiting", || store.waiting())
        .into_iter()
        .filter(|a| a.node == name)
        .map(|a| a.id)
        .collect();
    let mut distributor = Distributor::new(if name == NODES[0] { 11 } else { 22 });
    // Conversations in progress: attempt → when it ends.
    let mut talking: BTreeMap<i64, Instant> = BTreeMap::new();
    let mut talk = 0u64;
    let mut next_beat = Instant::now();
    let mut next_check = Instant::now();
    loop {
        if start.elapsed() > PATIENCE {
            eprintln!("{name}: attempts still open after {PATIENCE:?}");
            return ExitCode::FAILURE;
        }
        if Instant::now() >= next_beat {
            retry("heartbeat", || store.heartbeat(name, now_ms()));
            next_beat = Instant::now() + HEARTBEAT;
        }
        let due: Vec<i64> = talking
            .iter()
            .filter(|(_, end)| **end <= Instant::now())
            .map(|(id, _)| *id)
            .collect();
        for attempt in due {
            talking.remove(&attempt);
            let before = wall_us();
            retry("leave", || store.leave(attempt, "success", now_ms()));
            println!("leave {attempt} {before}");
        }
        retry("janitor", || store.janitor(now_ms()));
        let Ok(pass) = distributor.pass_for(store.as_ref(), now_ms(), &|a| mine.contains(&a.id))
        else {
            // The store is away; the next round tries again.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let after = wall_us();
        for offer in pass.offers {
            let agent = &offer.agents[0].id;
            println!("offer {} {agent} {after}", offer.attempt);
            if !retry("answered", || {
                store.answered(offer.attempt, agent, now_ms())
            }) {
                eprintln!("{name}: the offer of attempt {} had ended", offer.attempt);
                return ExitCode::FAILURE;
            }
            // 2–9 ms of talk, varied so the nodes' claims interleave.
            talk = (talk * 7 + 3) % 8;
            talking.insert(
                offer.attempt,
                Instant::now() + Duration::from_millis(2 + talk),
            );
        }
        if talking.is_empty() && Instant::now() >= next_check {
            next_check = Instant::now() + Duration::from_millis(50);
            let open = retry("history", || store.history(None, 0))
                .iter()
                .filter(|a| a.state != AttemptState::Left)
                .count();
            if open == 0 {
                return ExitCode::SUCCESS;
            }
        }
        // Asleep until another node changes something or the next conversation ends.
        let wait = talking
            .values()
            .min()
            .map_or(Duration::from_millis(20), |end| {
                end.saturating_duration_since(Instant::now())
            })
            .min(Duration::from_millis(20));
        let _ = feed.wait(wait);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// Both nodes serve every caller.
    Serve,
    /// Node B is killed while its agents talk.
    KillB,
    /// The database stops and restarts while the nodes work.
    RestartDatabase,
}

struct Offer {
    attempt: i64,
    agent: String,
    /// When the pass that won it returned.
    after: i64,
}

/// A node's output lines, read as they come (so the parent can act on progress).
struct Running {
    name: &'static str,
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

fn spawn(name: &'static str, spec: &str) -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(&exe)
        .args(["--node", name, "--store", spec])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Ok(Running {
        name,
        child,
        lines,
        reader,
    })
}

/// Runs the two nodes on `spec` through `scenario` and checks what they did.
fn two_nodes(
    spec: &str,
    scenario: Scenario,
    server: Option<&mut PgServer>,
) -> Result<String, String> {
    let store = open(spec);
    provision(store.as_ref(), &setup(), now_ms());
    // Join order = attempt order: one queue, one priority.
    let mut joined = Vec::new();
    let mut node_of = BTreeMap::new();
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
                now_ms(),
            )
            .map_err(|e| e.to_string())?;
        let JoinOutcome::Joined { attempt, .. } = outcome else {
            return Err(format!("caller {i} was refused: {outcome:?}"));
        };
        joined.push(attempt);
        node_of.insert(attempt, NODES[i % 2]);
    }

    let started = Instant::now();
    let mut nodes = vec![spawn(NODES[0], spec)?, spawn(NODES[1], spec)?];
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
                b.child.kill().map_err(|e| format!("kill node B: {e}"))?;
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
        let status = n
            .child
            .wait_with_output()
            .map_err(|e| e.to_string())?
            .status;
        n.reader.join().map_err(|_| "reader panicked")?;
        lines.extend(n.lines.try_iter());
        let killed = scenario == Scenario::KillB && n.name == NODES[1];
        if !status.success() && !killed {
            return Err(format!("{} failed: {status}", n.name));
        }
    }
    let elapsed = started.elapsed();

    let mut offers = Vec::new();
    let mut leaves: BTreeMap<i64, i64> = BTreeMap::new();
    for line in &lines {
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
            _ => return Err(format!("a node printed `{line}`")),
        }
    }

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
    offers.sort_by_key(|o| o.after);
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for o in &offers {
        if let Some(previous) = last.insert(&o.agent, o.attempt) {
            // A conversation the killed node never ended was closed by the janitor.
            let Some(freed) = leaves.get(&previous) else {
                continue;
            };
            if o.after < *freed {
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
        if scenario == Scenario::Serve {
            worst = worst.max(waiting.range(..r).count());
        }
        waiting.remove(&r);
    }
    if worst >= AGENTS {
        return Err(format!(
            "a caller was claimed while {worst} callers who joined before it still waited"
        ));
    }
    let mut summary = format!(
        "every attempt left once, no agent claimed twice, no agent left reserved; {:.1} s",
        elapsed.as_secs_f64()
    );
    if scenario == Scenario::Serve {
        summary += &format!(", at most {worst} earlier callers still waiting at a claim");
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
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, name, store_flag, spec] = args.as_slice()
        && flag == "--node"
        && store_flag == "--store"
    {
        return node(name, spec);
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
