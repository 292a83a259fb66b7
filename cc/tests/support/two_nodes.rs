//! Distributor nodes as separate processes on one store, for tests/two_processes.rs and
//! benches/nodes.rs: the binary re-runs itself with `--node NAME --store SPEC --talk-ms
//! MIN,MAX`; each node heartbeats, runs the janitor and its distributor pass (claiming only
//! for its own callers), plays the agents of the offers it wins (answer at once, talk
//! MIN..MAX ms, leave `success`), sleeps on the store's change feed, and prints one line per
//! offer and per leave with wall-clock times taken around the store calls.

#![allow(dead_code)] // each includer uses its part

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustflow_cc::distributor::Distributor;
use rustflow_cc::store::suite::provision;
use rustflow_cc::store::{AttemptState, JoinOutcome, JoinRequest, Ms, Store, StoreResult};

pub const NODES: [&str; 2] = ["node-a", "node-b"];
/// A node gives up (and fails) when the callers are not all served by then.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// How often a node heartbeats (the module: a fifth of the lease).
pub const HEARTBEAT: Duration = Duration::from_millis(200);
/// The longest a node sleeps when nothing wakes it.
const SAFETY_TICK: Duration = Duration::from_millis(500);

pub fn open(spec: &str) -> Box<dyn Store> {
    rustflow_cc::store::open(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

/// Wall-clock microseconds: comparable across the processes.
pub fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The store's clock: real time (leases, rests and heartbeats are real).
pub fn now_ms() -> Ms {
    wall_us() / 1000
}

/// One queue `q` (longest idle agent, no wrap-up) served by `agents` agents, all online.
pub fn provision_queue(store: &dyn Store, agents: usize) {
    let list: Vec<String> = (0..agents)
        .map(|i| format!(r#"{{"id": "a{i:03}", "extension": "{}"}}"#, 1000 + i))
        .collect();
    let tiers: Vec<String> = (0..agents)
        .map(|i| format!(r#"{{"queue": "q", "agent": "a{i:03}"}}"#))
        .collect();
    let setup = format!(
        r#"{{"queues": [{{"id": "q", "strategy": "longest-idle-agent", "wrap_up_secs": 0,
                          "ring_timeout_secs": 5}}],
            "agents": [{}], "tiers": [{}]}}"#,
        list.join(","),
        tiers.join(",")
    );
    provision(store, &setup, now_ms());
}

/// Joins `callers` callers to `q`, the i-th on `nodes[i % nodes.len()]`; returns the
/// attempts in join order with their node.
pub fn join_callers(
    store: &dyn Store,
    callers: usize,
    nodes: &[&'static str],
) -> Result<Vec<(i64, &'static str)>, String> {
    let mut joined = Vec::with_capacity(callers);
    for i in 0..callers {
        let node = nodes[i % nodes.len()];
        let outcome = store
            .join(
                &JoinRequest {
                    queue: "q".into(),
                    call_id: format!("call-{i:05}"),
                    caller_number: format!("{i}"),
                    node: node.into(),
                    variables: "{}".into(),
                    ..JoinRequest::default()
                },
                now_ms(),
            )
            .map_err(|e| e.to_string())?;
        let JoinOutcome::Joined { attempt, .. } = outcome else {
            return Err(format!("caller {i} was refused: {outcome:?}"));
        };
        joined.push((attempt, node));
    }
    Ok(joined)
}

/// Runs a store call until it answers (the database may be restarting), within PATIENCE.
fn retry<T>(what: &str, mut call: impl FnMut() -> StoreResult<T>) -> T {
    let start = Instant::now();
    let mut told = false;
    loop {
        match call() {
            Ok(v) => return v,
            Err(e) if start.elapsed() < PATIENCE => {
                if !told {
                    eprintln!("retrying {what}: {e}");
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// `Some(exit code)` when this process was started as a node.
pub fn node_main() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let [_, flag, name, store_flag, spec, talk_flag, talk] = args.as_slice() else {
        return None;
    };
    if flag != "--node" || store_flag != "--store" || talk_flag != "--talk-ms" {
        return None;
    }
    let (min, max) = talk.split_once(',')?;
    Some(node(name, spec, (min.parse().ok()?, max.parse().ok()?)))
}

/// One node: serves its own callers until no attempt is open in the store.
fn node(name: &str, spec: &str, (talk_min, talk_max): (u64, u64)) -> ExitCode {
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
    let mut spread = 0u64;
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
        let started = wall_us();
        let Ok(pass) = distributor.pass_for(store.as_ref(), now_ms(), &|a| mine.contains(&a.id))
        else {
            // The store is away; the next round tries again.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let after = wall_us();
        for offer in pass.offers {
            let agent = &offer.agents[0].id;
            println!("offer {} {agent} {started} {after}", offer.attempt);
            if !retry("answered", || {
                store.answered(offer.attempt, agent, now_ms())
            }) {
                eprintln!("{name}: the offer of attempt {} had ended", offer.attempt);
                return ExitCode::FAILURE;
            }
            // Talk times spread over MIN..=MAX, so the nodes' claims interleave.
            spread = (spread * 7 + 3) % 8;
            let talk = talk_min + (talk_max - talk_min) * spread / 7;
            talking.insert(offer.attempt, Instant::now() + Duration::from_millis(talk));
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
        // Asleep until another node changes something or the next conversation ends (the
        // feed is what wakes a node for another node's caller or freed agent; the cap is a
        // safety tick, as in the module).
        let wait = talking
            .values()
            .min()
            .map_or(SAFETY_TICK, |end| {
                end.saturating_duration_since(Instant::now())
            })
            .min(SAFETY_TICK)
            .min(next_beat.saturating_duration_since(Instant::now()));
        if !wait.is_zero() {
            let _ = feed.wait(wait);
        }
    }
}

/// A node process and its output lines, read as they come. Dropped unfinished (a check
/// failed), it kills the node: no node outlives its test.
pub struct Running {
    pub name: &'static str,
    child: Option<Child>,
    pub lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Running {
    /// Kills the node (SIGKILL: no clean-up, as a crash).
    pub fn kill(&mut self) -> Result<(), String> {
        let child = self.child.as_mut().ok_or("already finished")?;
        child.kill().map_err(|e| format!("kill {}: {e}", self.name))
    }

    /// Waits for the node; its exit status and every line it printed.
    pub fn finish(mut self) -> Result<(std::process::ExitStatus, Vec<String>), String> {
        let child = self.child.take().ok_or("already finished")?;
        let status = child.wait_with_output().map_err(|e| e.to_string())?.status;
        if let Some(reader) = self.reader.take() {
            reader.join().map_err(|_| "reader panicked")?;
        }
        Ok((status, self.lines.try_iter().collect()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn spawn(name: &'static str, spec: &str, talk_ms: (u64, u64)) -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(&exe)
        .args(["--node", name, "--store", spec, "--talk-ms"])
        .arg(format!("{},{}", talk_ms.0, talk_ms.1))
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
        child: Some(child),
        lines,
        reader: Some(reader),
    })
}

/// An offer a node won, with the wall-clock span of the pass that won it.
#[derive(Debug)]
pub struct Claimed {
    pub attempt: i64,
    pub agent: String,
    /// Before the pass read the store.
    pub started: i64,
    /// When the pass returned (the claim was written by then).
    pub after: i64,
}

/// What the nodes printed.
#[derive(Debug, Default)]
pub struct Printed {
    /// In the order of `after`.
    pub offers: Vec<Claimed>,
    /// attempt → when its leave began.
    pub leaves: BTreeMap<i64, i64>,
}

pub fn parse(lines: &[String]) -> Result<Printed, String> {
    let mut printed = Printed::default();
    for line in lines {
        let words: Vec<&str> = line.split(' ').collect();
        let number = |w: &str| w.parse::<i64>().map_err(|e| format!("`{line}`: {e}"));
        match words.as_slice() {
            ["offer", attempt, agent, started, after] => printed.offers.push(Claimed {
                attempt: number(attempt)?,
                agent: agent.to_string(),
                started: number(started)?,
                after: number(after)?,
            }),
            ["leave", attempt, before] => {
                let attempt = number(attempt)?;
                if printed.leaves.insert(attempt, number(before)?).is_some() {
                    return Err(format!("attempt {attempt} left twice"));
                }
            }
            _ => return Err(format!("a node printed `{line}`")),
        }
    }
    printed.offers.sort_by_key(|o| o.after);
    Ok(printed)
}

/// For each offer that reused an agent another caller's leave freed: (freed on node,
/// claimed on node, microseconds from the leave's start to the claim's end).
pub fn free_to_offer(
    printed: &Printed,
    node_of: &BTreeMap<i64, &'static str>,
) -> Vec<(&'static str, &'static str, i64)> {
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for o in &printed.offers {
        if let Some(previous) = last.insert(&o.agent, o.attempt)
            && let Some(freed) = printed.leaves.get(&previous)
        {
            out.push((node_of[&previous], node_of[&o.attempt], o.after - freed));
        }
    }
    out
}
