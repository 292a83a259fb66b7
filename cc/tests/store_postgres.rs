//! The store suite on PostgreSQL: every suite function unchanged, each test on its own
//! private server (stopped when the test ends, even when it fails), opened through several
//! handles as several nodes would. Without a server binary each test prints one SKIP line.

use std::time::{Duration, Instant};

use pgserver::PgServer;
use rustflow_cc::store::postgres::{PgOptions, PgStore};
use rustflow_cc::store::{AgentStatus, JoinOutcome, JoinRequest, Store, suite};

/// Runs `test` on a fresh database of a private server.
fn on_postgres(name: &str, test: fn(suite::Open<'_>)) {
    let Some(server) = PgServer::start(name) else {
        return;
    };
    let url = server.database("cc");
    let open = move || -> Box<dyn Store> { Box::new(PgStore::open(&url).unwrap()) };
    test(&open);
    drop(server);
}

macro_rules! suite_on_postgres {
    ($($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                on_postgres(stringify!($test), suite::$test);
            }
        )*
    };
}

suite_on_postgres!(
    provisioning_is_all_or_nothing,
    joins_are_checked,
    claims_are_leases,
    missed_and_wrap_up,
    answered_then_gone,
    order_timeout_and_resume,
    eight_threads_never_double_reserve,
    two_nodes_serve_in_one_order,
    callers_for_one_agent_wait_for_it,
    lost_nodes_are_released,
    concurrent_janitors_report_a_loss_once,
    an_outage_of_the_store_loses_no_live_node,
    change_feed_wakes_other_handles,
    members_are_added_listed_patched_and_deleted,
    dial_candidates_follow_the_rules,
    calendar_windows_in_the_members_zone_across_dst,
    outbound_attempts_and_their_outcomes,
    a_retry_through_another_gateway_keeps_it,
    outbound_janitor_defaults_and_expiry,
    dial_stats_count_what_the_pacer_needs,
    eight_threads_never_start_a_member_twice,
);

/// A handle's own writes do not wake its own feed (its node knows already); another
/// handle's do.
#[test]
fn a_feed_ignores_its_own_handles_writes() {
    let Some(server) = PgServer::start("a_feed_ignores_its_own_handles_writes") else {
        return;
    };
    let url = server.database("cc");
    let own = PgStore::open(&url).unwrap();
    let other = PgStore::open(&url).unwrap();
    suite::provision(&own, r#"{"queues":[{"id":"q"}],"agents":[],"tiers":[]}"#, 0);
    let mut feed = own.change_feed().unwrap();
    join(&own, "c1", suite::T0);
    own.heartbeat("node-1", suite::T0).unwrap();
    assert!(
        !feed.wait(Duration::from_millis(300)).unwrap(),
        "own writes"
    );
    other.heartbeat("node-2", suite::T0).unwrap();
    assert!(
        !feed.wait(Duration::from_millis(300)).unwrap(),
        "a heartbeat changes nothing shared"
    );
    join(&other, "c2", suite::T0);
    assert!(feed.wait(Duration::from_secs(2)).unwrap(), "another's join");
    // A janitor pass that ends nothing does not notify either.
    other.janitor(suite::T0 + 1).unwrap();
    assert!(!feed.wait(Duration::from_millis(300)).unwrap());
}

#[test]
fn two_nodes_opening_at_once_migrate_once() {
    let Some(server) = PgServer::start("two_nodes_opening_at_once_migrate_once") else {
        return;
    };
    let url = server.database("cc");
    let stores: Vec<PgStore> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| PgStore::open(&url).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    suite::provision(
        &stores[0],
        r#"{"queues":[{"id":"q"}],"agents":[],"tiers":[]}"#,
        0,
    );
    assert_eq!(stores[3].setup().unwrap().queues.len(), 1);
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let count =
        |raw: &mut postgres::Client, sql: &str| -> i64 { raw.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(count(&mut raw, "SELECT COUNT(*) FROM cc_schema"), 1);
    assert_eq!(
        count(&mut raw, "SELECT version FROM cc_schema"),
        4,
        "every migration"
    );
    assert_eq!(
        count(&mut raw, "SELECT COUNT(*) FROM cc_setup_version"),
        1,
        "applied once"
    );
}

fn join(store: &dyn Store, call: &str, now: i64) -> i64 {
    match store
        .join(
            &JoinRequest {
                queue: "q".into(),
                call_id: call.into(),
                node: "node-1".into(),
                variables: "{}".into(),
                ..JoinRequest::default()
            },
            now,
        )
        .unwrap()
    {
        JoinOutcome::Joined { attempt, .. } => attempt,
        other => panic!("expected a join, got {other:?}"),
    }
}

/// The server going away fails operations quickly with a clear error; after it is back
/// the same store works again (the pool reconnected) and nothing was lost.
#[test]
fn the_server_going_away_is_a_bounded_error_and_the_pool_recovers() {
    let Some(mut server) =
        PgServer::start("the_server_going_away_is_a_bounded_error_and_the_pool_recovers")
    else {
        return;
    };
    let url = server.database("cc");
    let store = PgStore::open_with(&url, PgOptions::default()).unwrap();
    suite::provision(
        &store,
        r#"{"queues":[{"id":"q"}],"agents":[{"id":"a1","extension":"1001"}],
            "tiers":[{"queue":"q","agent":"a1"}]}"#,
        suite::T0,
    );
    let waiting = join(&store, "c1", suite::T0);
    let other = PgStore::open(&url).unwrap();
    let mut feed = store.change_feed().unwrap();
    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.join(
            &JoinRequest {
                queue: "q".into(),
                call_id: "c2".into(),
                variables: "{}".into(),
                ..JoinRequest::default()
            },
            suite::T0 + 1,
        );
        let elapsed = started.elapsed();
        let err = err.unwrap_err().to_string();
        eprintln!("server down: {err} (after {elapsed:?})");
        assert!(elapsed <= Duration::from_secs(3), "took {elapsed:?}: {err}");
        assert!(
            err.starts_with(&format!("contact-centre store: {}: ", store.describe())),
            "{err}"
        );
        assert!(
            err.contains("connect") || err.contains("closed") || err.contains("connection"),
            "the error says the connection failed: {err}"
        );
    }
    // The feed notices and keeps trying, each wait bounded.
    let started = Instant::now();
    let down = feed.wait(Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_secs(2), "{down:?}");
    server.restart();
    // The pool may still be backing off (at most 2 s) before it reconnects.
    let deadline = Instant::now() + Duration::from_secs(5);
    let agents = loop {
        match store.agents(suite::T0) {
            Ok(agents) => break agents,
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    };
    assert_eq!(agents[0].status, AgentStatus::Online);
    let record = store.attempt(waiting).unwrap().unwrap();
    assert_eq!(record.call_id, "c1", "the waiting caller was kept");
    assert_eq!(store.waiting().unwrap().len(), 1, "and nothing else");
    join(&store, "c3", suite::T0 + 2);
    assert_eq!(store.waiting().unwrap().len(), 2);
    // The feed reconnected: it reports once (something may have been missed), then
    // wakes for other writers again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !matches!(feed.wait(Duration::from_millis(500)), Ok(true)) {
        assert!(Instant::now() < deadline, "the feed did not reconnect");
    }
    while feed.wait(Duration::from_millis(200)).unwrap() {}
    join(&other, "c4", suite::T0 + 3);
    assert!(
        feed.wait(Duration::from_secs(2)).unwrap(),
        "woken after the outage"
    );
}

/// A row another connection keeps locked makes an operation fail after the statement
/// timeout with a clear error, not hang; once the lock is gone the same store goes on.
#[test]
fn a_lock_held_elsewhere_is_a_bounded_wait() {
    let Some(server) = PgServer::start("a_lock_held_elsewhere_is_a_bounded_wait") else {
        return;
    };
    let url = server.database("cc");
    let store = PgStore::open(&url).unwrap();
    suite::provision(
        &store,
        r#"{"queues":[{"id":"q"}],"agents":[],"tiers":[]}"#,
        0,
    );
    let attempt = join(&store, "c1", suite::T0);
    let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut stuck = other.transaction().unwrap();
    stuck
        .execute(
            "SELECT id FROM cc_attempts WHERE id = $1 FOR UPDATE",
            &[&attempt],
        )
        .unwrap();
    let started = Instant::now();
    let err = store
        .leave(attempt, "abandoned", suite::T0 + 1)
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}: {err}");
    assert_eq!(
        err,
        format!(
            "contact-centre store: {}: canceling statement due to statement timeout",
            store.describe()
        )
    );
    stuck.rollback().unwrap();
    assert_eq!(
        store.leave(attempt, "abandoned", suite::T0 + 2).unwrap(),
        "abandoned"
    );
}

/// Provisioning (a queue and its agents rewritten in one transaction) while another node
/// claims and releases the same agents: every operation succeeds; none is chosen as a
/// deadlock victim (a claim takes the queue's row before the agents', as provisioning does).
#[test]
fn provisioning_while_claiming_never_deadlocks() {
    let Some(server) = PgServer::start("provisioning_while_claiming_never_deadlocks") else {
        return;
    };
    let url = server.database("cc");
    let setup = |wrap: u32| {
        format!(
            r#"{{"queues": [{{"id": "q", "wrap_up_secs": {wrap}}}],
                "agents": [{{"id": "a1", "extension": "1001"}}, {{"id": "a2", "extension": "1002"}}],
                "tiers": [{{"queue": "q", "agent": "a1"}}, {{"queue": "q", "agent": "a2"}}]}}"#
        )
    };
    let admin = PgStore::open(&url).unwrap();
    suite::provision(&admin, &setup(0), suite::T0);
    let node = PgStore::open(&url).unwrap();
    let rounds = 300;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for i in 0..rounds {
                // Rewrites the queue, then both agents (import order), in one transaction.
                let wanted: rustflow_cc::model::Setup =
                    rustflow_cc::model::from_json(&setup(i % 2)).unwrap();
                let mut changes = rustflow_cc::store::diff(&admin.setup().unwrap(), &wanted);
                for a in &wanted.agents {
                    changes.push(rustflow_cc::store::Change::PutAgent(a.clone()));
                }
                admin
                    .apply(&changes)
                    .unwrap_or_else(|e| panic!("provisioning, round {i}: {e}"));
            }
        });
        let mut distributor = rustflow_cc::distributor::Distributor::new(3);
        for i in 0..rounds {
            let now = suite::T0 + 1_000 + i as i64;
            let attempt = join(&node, &format!("c{i}"), now);
            let pass = distributor
                .pass(&node, now)
                .unwrap_or_else(|e| panic!("claiming, round {i}: {e}"));
            for offer in &pass.offers {
                node.leave(offer.attempt, "abandoned", now).unwrap();
            }
            node.leave(attempt, "abandoned", now).unwrap();
        }
    });
}
