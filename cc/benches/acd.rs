//! The contact-centre core on a SQLite file: 1,000 agents in 10 queues (each agent in two),
//! 10,000 callers waiting. Prints claims per second (a distributor pass: read the view, plan,
//! claim), the cost of giving the agent back (answer + end of the call), and `ccPosition`
//! latency (p50 / p99 / max) — the issue's targets are ≥ 1,000 claims/s and ccPosition ≤ 1 ms.
//!
//! `cargo bench -p rustflow-cc --bench acd` (SQLite), `cargo bench -p rustflow-cc --bench acd --
//! --postgres` (the same on a private PostgreSQL server started for the run, see
//! tests/pgserver).

use std::time::{Duration, Instant};

use pgserver::PgServer;
use rustflow_cc::distributor::Distributor;
use rustflow_cc::model::{Setup, from_json};
use rustflow_cc::store::postgres::PgStore;
use rustflow_cc::store::sqlite::SqliteStore;
use rustflow_cc::store::{AgentStatus, JoinOutcome, JoinRequest, Store, diff};
use rustflow_cc::strategy::Rng;

const AGENTS: usize = 1_000;
const QUEUES: usize = 10;
const WAITING: usize = 10_000;
const T0: i64 = 1_796_292_000_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rustflow-cc-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cc.sqlite");
    let server;
    let store: Box<dyn Store> = if std::env::args().any(|a| a == "--postgres") {
        let Some(started) = PgServer::start("acd --postgres") else {
            return;
        };
        server = started;
        println!("store: PostgreSQL (private server, fsync off)");
        Box::new(PgStore::open(&server.database("acd")).unwrap())
    } else {
        println!("store: SQLite file (WAL)");
        Box::new(SqliteStore::open(path.to_str().unwrap()).unwrap())
    };

    let queues: Vec<String> = (0..QUEUES)
        .map(|q| format!(r#"{{"id":"q{q}","max_wait_secs":0}}"#))
        .collect();
    let agents: Vec<String> = (0..AGENTS)
        .map(|a| format!(r#"{{"id":"a{a}","extension":"{}"}}"#, 10_000 + a))
        .collect();
    let tiers: Vec<String> = (0..AGENTS)
        .flat_map(|a| {
            let q = a % QUEUES;
            [
                format!(r#"{{"queue":"q{q}","agent":"a{a}","position":{a}}}"#),
                format!(
                    r#"{{"queue":"q{}","agent":"a{a}","level":2,"position":{a}}}"#,
                    (q + 1) % QUEUES
                ),
            ]
        })
        .collect();
    let mut setup: Setup = from_json(&format!(
        r#"{{"queues":[{}],"agents":[{}],"tiers":[{}]}}"#,
        queues.join(","),
        agents.join(","),
        tiers.join(",")
    ))
    .unwrap();
    setup.validate().unwrap();
    store.apply(&diff(&store.setup().unwrap(), &setup)).unwrap();

    let started = Instant::now();
    let mut attempts = Vec::with_capacity(WAITING);
    for i in 0..WAITING {
        let request = JoinRequest {
            queue: format!("q{}", i % QUEUES),
            call_id: format!("c{i}"),
            caller_number: format!("+1555{i:06}"),
            node: "bench".into(),
            variables: "{}".into(),
            ..JoinRequest::default()
        };
        match store.join(&request, T0 + i as i64).unwrap() {
            JoinOutcome::Joined { attempt, .. } => attempts.push(attempt),
            other => panic!("{other:?}"),
        }
    }
    let join_time = started.elapsed();
    println!(
        "join: {WAITING} callers in {:.2} s = {:.0} joins/s",
        join_time.as_secs_f64(),
        WAITING as f64 / join_time.as_secs_f64()
    );

    // ccPosition with 10,000 waiting.
    let mut rng = Rng::new(1);
    let mut samples: Vec<Duration> = (0..2_000)
        .map(|_| {
            let attempt = attempts[rng.below(WAITING as u64) as usize];
            let t = Instant::now();
            let p = store.position(attempt).unwrap();
            let d = t.elapsed();
            assert!(p >= 1);
            d
        })
        .collect();
    samples.sort();
    println!(
        "ccPosition with {WAITING} waiting: p50 {:?}, p99 {:?}, max {:?} (target p99 <= 1 ms)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().unwrap()
    );

    // Agents come online; each pass claims for every free agent; each claimed agent answers
    // and finishes at once, so the next pass finds it free again.
    let now = T0 + WAITING as i64;
    for a in 0..AGENTS {
        store
            .set_agent_status(&format!("a{a}"), AgentStatus::Online, None, now)
            .unwrap();
    }
    let mut distributor = Distributor::new(1);
    let (mut claims, mut claim_time, mut release_time) = (0usize, Duration::ZERO, Duration::ZERO);
    let mut pass_latency: Vec<Duration> = Vec::new();
    while claims < WAITING {
        let t = Instant::now();
        let pass = distributor.pass(&store, now).unwrap();
        let d = t.elapsed();
        claim_time += d;
        if pass.offers.is_empty() {
            break;
        }
        pass_latency.push(d / pass.offers.len() as u32);
        claims += pass.offers.len();
        let t = Instant::now();
        for offer in &pass.offers {
            assert!(
                store
                    .answered(offer.attempt, &offer.agents[0].id, now)
                    .unwrap()
            );
            store.leave(offer.attempt, "success", now).unwrap();
        }
        release_time += t.elapsed();
    }
    println!(
        "claims: {claims} in {:.2} s of passes = {:.0} claims/s (target >= 1000); {} passes",
        claim_time.as_secs_f64(),
        claims as f64 / claim_time.as_secs_f64(),
        pass_latency.len()
    );
    println!(
        "answer + end of call: {:.0} per second ({:.3} ms each)",
        claims as f64 / release_time.as_secs_f64(),
        release_time.as_secs_f64() * 1000.0 / claims as f64
    );

    // One agent freed with callers waiting: the time from its call ending to its next claim.
    let mut freed: Vec<Duration> = Vec::new();
    let more: Vec<i64> = (0..200)
        .map(|i| {
            let request = JoinRequest {
                queue: "q0".into(),
                call_id: format!("late{i}"),
                node: "bench".into(),
                variables: "{}".into(),
                ..JoinRequest::default()
            };
            match store.join(&request, now + 1).unwrap() {
                JoinOutcome::Joined { attempt, .. } => attempt,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let pass = distributor.pass(&store, now + 2).unwrap();
    let mut offers = pass.offers;
    for _ in 0..200 {
        let Some(offer) = offers.pop() else { break };
        store
            .answered(offer.attempt, &offer.agents[0].id, now + 3)
            .unwrap();
        let t = Instant::now();
        store.leave(offer.attempt, "success", now + 4).unwrap();
        let next = distributor.pass(&store, now + 4).unwrap();
        freed.push(t.elapsed());
        offers.extend(next.offers);
    }
    freed.sort();
    if !freed.is_empty() {
        println!(
            "agent free -> next claim (end of call + one pass, in process): p50 {:?}, p99 {:?} over {} frees ({} late callers)",
            percentile(&freed, 0.5),
            percentile(&freed, 0.99),
            freed.len(),
            more.len()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
