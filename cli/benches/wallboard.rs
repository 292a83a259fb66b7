//! The wallboard at the issue's size: 100 queues, 1,000 agents (each in three queues),
//! 5,000 callers waiting, an hour of finished calls. Prints what one update costs (the
//! snapshot the feed sends: time to build it and its size), how long a change written by
//! another process takes to reach a client of the running board's feed, and, with Debian's
//! chromium, the page in a real headless browser at 1920×1080: the time it takes to draw an
//! update, a change from the write to the DOM, how quickly the page answers while updates
//! keep arriving, its long tasks and its JavaScript heap.
//!
//! `cargo bench -p rustflow-cli --bench wallboard` (SQLite), `… -- --postgres` (a private
//! PostgreSQL server started for the run, see tests/pgserver); `-- --keep-store` leaves the
//! SQLite store behind to look at (`rustflow cc --store PATH wallboard`).

#[path = "../tests/browser/mod.rs"]
mod browser;
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pgserver::PgServer;
use rustflow_cc::distributor::Distributor;
use rustflow_cc::model::{Setup, from_json};
use rustflow_cc::store::{AgentStatus, JoinOutcome, JoinRequest, Ms, Store, diff};
use rustflow_cc::strategy::Rng;

const QUEUES: usize = 100;
const AGENTS: usize = 1_000;
const WAITING: usize = 5_000;
/// Finished calls in the last hour (answered and abandoned).
const HISTORY_ROUNDS: usize = 3;
/// Changes timed through the running board.
const CHANGES: usize = 20;

fn now_ms() -> Ms {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as Ms
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(samples, 0.5).as_secs_f64() * 1e3,
        percentile(samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    )
}

fn join(store: &dyn Store, queue: usize, call: &str, at: Ms) -> i64 {
    let request = JoinRequest {
        queue: format!("q{queue}"),
        call_id: call.to_string(),
        caller_number: format!("+1555{:07}", call.len() * 1_000_003 % 10_000_000),
        caller_name: format!("Caller {call}"),
        node: "bench".into(),
        variables: "{}".into(),
        ..JoinRequest::default()
    };
    match store.join(&request, at).unwrap() {
        JoinOutcome::Joined { attempt, .. } => attempt,
        other => panic!("{other:?}"),
    }
}

/// The issue's centre, with the last hour's calls behind it and everyone busy now.
fn populate(store: &dyn Store) {
    let queues: Vec<String> = (0..QUEUES)
        .map(|q| format!(r#"{{"id":"q{q}","name":"Queue {q}","max_wait_secs":0}}"#))
        .collect();
    let agents: Vec<String> = (0..AGENTS)
        .map(|a| {
            format!(
                r#"{{"id":"a{a}","name":"Agent {a}","extension":"{}"}}"#,
                10_000 + a
            )
        })
        .collect();
    let tiers: Vec<String> = (0..AGENTS)
        .flat_map(|a| {
            [a % QUEUES, (a + 1) % QUEUES, (a + 37) % QUEUES]
                .map(|q| format!(r#"{{"queue":"q{q}","agent":"a{a}","position":{a}}}"#))
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

    let now = now_ms();
    let start = now - 55 * 60_000;
    for a in 0..AGENTS {
        store
            .set_agent_status(&format!("a{a}"), AgentStatus::Online, None, start)
            .unwrap();
    }
    let mut distributor = Distributor::new(1);
    let mut rng = Rng::new(7);
    // Rounds of calls over the hour: ten callers per queue, every agent takes one (some
    // quickly, some after the 20 s threshold), talks three minutes; a few abandon.
    for round in 0..HISTORY_ROUNDS {
        let at = start + round as Ms * 15 * 60_000;
        let callers: Vec<i64> = (0..QUEUES * 10)
            .map(|i| join(store, i % QUEUES, &format!("h{round}-{i}"), at))
            .collect();
        let answer_at = at + 5_000 + rng.below(40_000) as Ms;
        let pass = distributor.pass(store, answer_at).unwrap();
        for offer in &pass.offers {
            assert!(
                store
                    .answered(offer.attempt, &offer.agents[0].id, answer_at)
                    .unwrap()
            );
            store
                .leave(offer.attempt, "success", answer_at + 180_000)
                .unwrap();
        }
        for &attempt in &callers {
            if store
                .attempt(attempt)
                .unwrap()
                .unwrap()
                .left_at_ms
                .is_none()
            {
                store
                    .leave(attempt, "abandoned", answer_at + 10_000)
                    .unwrap();
            }
        }
    }
    // Now: a quarter of the agents paused or away, the others talking, 5,000 waiting.
    let busy_from = now - 120_000;
    for a in (0..AGENTS).filter(|a| a % 4 == 0) {
        let (status, reason) = if a % 8 == 0 {
            (AgentStatus::Pause, Some("lunch"))
        } else {
            (AgentStatus::Offline, None)
        };
        store
            .set_agent_status(&format!("a{a}"), status, reason, busy_from)
            .unwrap();
    }
    for i in 0..WAITING {
        let at = now - 900_000 + (i as Ms * 700_000 / WAITING as Ms);
        join(store, i % QUEUES, &format!("w{i}"), at);
    }
    let claim_at = now - 150_000;
    let pass = distributor.pass(store, claim_at).unwrap();
    for offer in &pass.offers {
        store
            .answered(offer.attempt, &offer.agents[0].id, claim_at)
            .unwrap();
    }
    // Callers to replace those just taken: 5,000 still wait.
    for i in 0..pass.offers.len() {
        join(store, i % QUEUES, &format!("x{i}"), now - 100_000);
    }
    assert_eq!(store.waiting().unwrap().len(), WAITING);
}

/// What the feed sends.
fn snapshot(store: &dyn Store) -> String {
    rustflow_cc::command::snapshot_json_line(store, now_ms()).unwrap()
}

/// Pauses `agent` and puts it back online, [`CHANGES`] times in all, each time until
/// `seen(status)` returns; how long each took from the write.
fn time_changes(store: &dyn Store, agent: &str, mut seen: impl FnMut(&str)) -> Vec<Duration> {
    (0..CHANGES)
        .map(|change| {
            let (status, expected) = if change % 2 == 0 {
                (AgentStatus::Pause, "pause")
            } else {
                (AgentStatus::Online, "online")
            };
            let t = Instant::now();
            store
                .set_agent_status(agent, status, None, now_ms())
                .unwrap();
            seen(expected);
            t.elapsed()
        })
        .collect()
}

fn agent_status(snapshot: &str, agent: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(snapshot).unwrap();
    value["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent)
        .map(|a| a["status"].as_str().unwrap().to_string())
        .unwrap()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("rustflow-wallboard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server;
    let store_spec = if std::env::args().any(|a| a == "--postgres") {
        let Some(started) = PgServer::start("wallboard --postgres") else {
            return;
        };
        server = started;
        println!("store: PostgreSQL (private server, fsync off)");
        server.database("wallboard")
    } else {
        println!("store: SQLite file (WAL)");
        dir.join("cc.sqlite").to_string_lossy().into_owned()
    };
    let store = rustflow_cc::store::open(&store_spec).unwrap();
    let started = Instant::now();
    populate(&*store);
    println!(
        "centre: {QUEUES} queues, {AGENTS} agents, {WAITING} callers waiting, {} calls in the last hour (set up in {:.1} s)",
        HISTORY_ROUNDS * QUEUES * 10,
        started.elapsed().as_secs_f64()
    );

    let mut builds: Vec<Duration> = Vec::new();
    let mut bytes = 0;
    for _ in 0..10 {
        let t = Instant::now();
        bytes = snapshot(&*store).len();
        builds.push(t.elapsed());
    }
    println!(
        "one update (snapshot read and serialised): {}; {:.0} KiB of JSON",
        summary(&mut builds),
        bytes as f64 / 1024.0
    );

    let board = common::start_board(&store_spec, &[]);
    let mut feed = common::get(&board, "/events", "");
    assert_eq!(common::read_head(&mut feed).0, 200);
    let first = common::next_event(&mut feed);
    assert_eq!(agent_status(&first, "a1"), "online");
    let mut latencies = time_changes(&*store, "a1", |expected| {
        while agent_status(&common::next_event(&mut feed), "a1") != expected {}
    });
    println!(
        "a change written by another process -> on the feed of the running board: {} over {CHANGES} changes (target < 1 s)",
        summary(&mut latencies)
    );
    drop(feed);
    match browser::chromium_path() {
        Some(chromium) => in_the_browser(&chromium, &board.address, &*store),
        None => println!("browser: SKIP no chromium (install Debian's chromium)"),
    }
    if std::env::args().any(|a| a == "--keep-store") {
        println!("store kept: {store_spec}");
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Milliseconds as a Duration, from a number the page gave.
fn page_ms(value: &serde_json::Value) -> Duration {
    let ms = match value {
        serde_json::Value::String(text) => text.parse::<f64>().unwrap(),
        other => other.as_f64().unwrap(),
    };
    Duration::from_secs_f64(ms / 1e3)
}

/// The page at the issue's size in headless Chromium on a 1080p viewport.
fn in_the_browser(chromium: &std::path::Path, address: &str, store: &dyn Store) {
    let browser = browser::Browser::launch(chromium).unwrap();
    let mut page = browser.new_page().unwrap();
    page.call(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": false}),
    )
    .unwrap();
    page.navigate(&format!("http://{address}/")).unwrap();
    page.wait_until(
        "document.body?.dataset.snapshotAt !== undefined",
        Duration::from_secs(30),
    )
    .unwrap();
    page.evaluate(
        "window.longTasks = []; new PerformanceObserver((list) => \
         window.longTasks.push(...list.getEntries().map((e) => e.duration))) \
         .observe({type: 'longtask'}); true",
    )
    .unwrap();

    // Each update drawn: the page's own measure of render().
    let mut draws: Vec<Duration> = Vec::new();
    for _ in 0..CHANGES {
        let shown = page.evaluate("document.body.dataset.snapshotAt").unwrap();
        page.wait_until(
            &format!(
                "document.body.dataset.snapshotAt !== {}",
                serde_json::Value::from(shown.as_str().unwrap())
            ),
            Duration::from_secs(10),
        )
        .unwrap();
        draws.push(page_ms(
            &page.evaluate("document.body.dataset.renderMs").unwrap(),
        ));
    }
    println!(
        "browser: one update drawn (parse + DOM): {}",
        summary(&mut draws)
    );

    // A change from the write in the store to the agent's row on the page.
    let mut latencies = time_changes(store, "a2", |expected| {
        page.wait_until(
            &format!(
                "document.querySelector('tr[data-agent=\"a2\"] td.status')?.textContent === '{expected}'"
            ),
            Duration::from_secs(10),
        )
        .unwrap();
    });
    println!(
        "browser: a change written by another process -> in the page's DOM: {} (target < 1 s)",
        summary(&mut latencies)
    );

    // Responsiveness while updates keep arriving: how long the page takes to answer.
    let mut answers: Vec<Duration> = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let t = Instant::now();
        page.evaluate("1 + 1").unwrap();
        answers.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(25));
    }
    let samples = answers.len();
    println!(
        "browser: the page answers a script while updates arrive: {} over {samples} samples in 5 s",
        summary(&mut answers)
    );
    let long_tasks = page
        .evaluate("[window.longTasks.length, Math.max(0, ...window.longTasks)]")
        .unwrap();
    let heap = page
        .evaluate("performance.memory ? performance.memory.usedJSHeapSize : null")
        .unwrap();
    println!(
        "browser: long tasks (> 50 ms) since load: {} (longest {:.0} ms); JavaScript heap {:.1} MiB",
        long_tasks[0],
        long_tasks[1].as_f64().unwrap(),
        heap.as_f64().unwrap_or(0.0) / 1024.0 / 1024.0
    );
}
