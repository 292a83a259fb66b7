//! The module's queue on the PostgreSQL store (`store` = a postgres:// URL), on a private
//! server: a caller served through it, and a database that stops while a caller waits.

use pgserver::PgServer;
use rustflow_harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CALLER_FLOW: &str =
    r#"[{"answer":""},{"joinQueue":{"queue":{"name":"q1"}}},{"set":{"after":"${cc_result}"}}]"#;

/// A loaded module on `url` with q1 served by a1 (1001), offline.
fn pg_harness(url: &str) -> Harness {
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    h.set_params(&[("flows-dir", &flows), ("store", url)]);
    h.write_flow("queue", CALLER_FLOW);
    h.load();
    let setup = json!({
        "queues": [{"id": "q1", "name": "q1", "ring_timeout_secs": 5}],
        "agents": [{"id": "a1", "name": "Ann", "extension": "1001"}],
        "tiers": [{"queue": "q1", "agent": "a1"}],
    });
    h.cc_import(&setup);
    h
}

fn caller(uuid: &str) -> Session {
    Session::new(json!({
        "uuid": uuid,
        "variables": {"domain_name": "example.com"},
        "profile": {"caller_id_number": "5551234", "caller_id_name": "Pat"},
        "script": {},
    }))
}

fn snapshot(h: &Harness) -> Value {
    h.api("cc snapshot json").json()
}

#[test]
fn a_database_that_stops_while_a_caller_waits_loses_nobody_and_reserves_no_agent() {
    let test = "a_database_that_stops_while_a_caller_waits_loses_nobody_and_reserves_no_agent";
    let Some(mut server) = PgServer::start(test) else {
        return;
    };
    let url = server.database("cc");
    let h = pg_harness(&url);
    assert!(
        FakeCore::logs_text().contains("contact-centre store postgres://"),
        "the load names the store: {}",
        FakeCore::logs_text()
    );
    FakeCore::set_agents(json!({"user/1001@example.com": {"ring_ms": 100, "talk_ms": 200}}));

    let waiting = caller("caller-pg-waits");
    let leaving = caller("caller-pg-leaves");
    let held = |s: &Session| !s.info().calls_to("switch_ivr_play_file").is_empty();
    std::thread::scope(|scope| {
        let flow = scope.spawn(|| waiting.exec("rustflow", "queue"));
        FakeCore::wait_until(
            "the first caller to be held",
            Duration::from_secs(20),
            || held(&waiting),
        );
        let second = scope.spawn(|| leaving.exec("rustflow", "queue"));
        FakeCore::wait_until(
            "the second caller to be held",
            Duration::from_secs(20),
            || held(&leaving),
        );

        server.stop();
        // A new caller cannot join while the database is away: cc_result=error, at once.
        let refused = caller("caller-pg-refused");
        let started = Instant::now();
        refused.exec("rustflow", "queue");
        assert_eq!(
            refused.info().var("after"),
            Some("error"),
            "logs:\n{}",
            FakeCore::logs_text()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the join gave up in bounded time: {:?}",
            started.elapsed()
        );
        // The second caller hangs up now: the store cannot take its leave yet.
        assert!(FakeCore::remote_hangup(
            "caller-pg-leaves",
            CAUSE_NORMAL_CLEARING
        ));
        second.join().expect("the second caller's thread");
        // The dispatcher keeps running through the outage (its heartbeat fails, loudly).
        FakeCore::wait_until("a failed heartbeat", Duration::from_secs(10), || {
            FakeCore::logs_text().contains("contact-centre heartbeat of node")
        });
        assert!(waiting.info().up, "the first caller still holds");

        server.restart();
        // The agent comes online once the store answers again; the caller who waited through
        // the outage is the one served.
        FakeCore::wait_until("the store to answer again", Duration::from_secs(30), || {
            !h.api("cc agent status a1 online")
                .output
                .starts_with("-ERR")
        });
        flow.join().expect("the first caller's thread");
    });
    let logs = FakeCore::logs_text();
    assert_eq!(
        waiting.info().var("after"),
        Some("success"),
        "logs:\n{logs}"
    );
    let originates = FakeCore::originates();
    assert_eq!(originates.len(), 1, "{originates:#?}");
    assert!(
        logs.contains("the leave (abandoned) of attempt"),
        "the second caller's leave was kept and written: {logs}"
    );

    // Nobody waits, no agent is reserved.
    FakeCore::wait_until("a1 to be free again", Duration::from_secs(10), || {
        let s = snapshot(&h);
        s["agents"][0]["attempt"].is_null() && s["agents"][0]["state"] != "bridged"
    });
    let s = snapshot(&h);
    assert_eq!(s["queues"][0]["waiting"], json!([]), "{s:#}");
}
