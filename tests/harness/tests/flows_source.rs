//! flows-source = a postgres:// URL: the module loads the flows table, reloads on every push
//! through its LISTEN thread (and on `rustflow reload`), keeps the set it has when the table
//! holds a broken flow, and starts and unloads promptly without a database.

use std::time::{Duration, Instant};

use pgserver::PgServer;
use rustflow_flowstore::{FlowTable, StoredFlow};
use rustflow_harness::*;
use serde_json::{Value, json};

/// A flow that sets `which` to `tag` after a playback (where a call can be held), so a
/// call shows which version it ran to the end.
fn flow(tag: &str) -> String {
    format!(
        r#"[{{"answer": ""}},
            {{"playback": {{"files": [{{"type": "tone", "name": "%(20,0,440)"}}]}}}},
            {{"set": {{"which": "{tag}"}}}},
            {{"hangup": "16"}}]"#
    )
}

/// Pushes `greet` as the CLI does, but without validation when `validated` is false (a row
/// written by hand, or by an older tool).
fn push(table: &mut FlowTable, body: &str, validated: bool) -> i64 {
    let rows = [("greet".to_string(), body.to_string())];
    let result = table.push(&rows, "harness", |next: &[StoredFlow]| {
        if validated {
            let sources = rustflow_flowstore::sources(next);
            rustflow_engine::FlowSet::compile_sources(
                sources,
                Vec::new(),
                "the flows table",
                &Default::default(),
            )
            .map(drop)
        } else {
            Ok(())
        }
    });
    match result {
        Ok(written) => written.revision,
        Err(_) => panic!("push of {body} refused"),
    }
}

fn version_of(h: &Harness) -> Value {
    h.api("show greet json").json()["version"].clone()
}

fn which(h: &Harness) -> Option<String> {
    h.run_flow("greet").var("which").map(str::to_string)
}

#[test]
fn the_table_is_loaded_and_every_push_reloads_it() {
    let Some(mut server) = PgServer::start("the_table_is_loaded_and_every_push_reloads_it") else {
        return;
    };
    let url = server.database("flows");
    let mut table = FlowTable::connect(&url).unwrap();
    push(&mut table, &flow("one"), true);

    let mut h = Harness::new();
    h.set_params(&[("flows-source", &url)]);
    h.load();
    let logs = FakeCore::logs_text();
    assert!(
        logs.contains(&format!("rustflow: loaded 1 flows from {url} (revision 1)")),
        "{logs}"
    );
    assert_eq!(which(&h).as_deref(), Some("one"));

    // A push while a call is held in its playback: the next calls run the new version,
    // within a bounded time, and the held call ends in the version it started with.
    let held = std::thread::spawn(|| {
        let session = Session::new(json!({"script": {"play_gate": "held"}}));
        session.exec("rustflow", "greet");
        session.info()
    });
    FakeCore::wait_until(
        "the call held in its playback",
        Duration::from_secs(20),
        || FakeCore::gate_waiting("held") == 1,
    );
    let before = version_of(&h);
    let revision = push(&mut table, &flow("two"), true);
    FakeCore::wait_until("the pushed version", Duration::from_secs(20), || {
        version_of(&h) != before
    });
    assert_eq!(which(&h).as_deref(), Some("two"));
    FakeCore::open_gate("held");
    let held = held.join().expect("the held call's thread");
    assert_eq!(
        held.var("which"),
        Some("one"),
        "the call in flight kept its version"
    );
    assert_eq!(
        held.var("rustflow_flow_version").map(Value::from),
        Some(before)
    );
    assert!(
        FakeCore::logs_text().contains(&format!(
            "rustflow: reloaded 1 flows from {url} (revision {revision})"
        )),
        "{}",
        FakeCore::logs_text()
    );

    // A broken row (not written through push's validation): the set loaded keeps serving
    // and the error names the flow.
    push(&mut table, r#"[{"hangup": {}}]"#, false);
    FakeCore::wait_until("the failed reload", Duration::from_secs(20), || {
        FakeCore::logs_text().contains("rustflow: rustflow_flows/greet:1:")
    });
    assert!(
        FakeCore::logs_text().contains(&format!(
            "problem(s) in the flows of {url}; keeping the flows loaded before"
        )),
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(which(&h).as_deref(), Some("two"));

    // The database restarts: the listener comes back and hears the next push.
    server.restart();
    let mut table = FlowTable::connect(&url).unwrap();
    let before = version_of(&h);
    push(&mut table, &flow("three"), true);
    FakeCore::wait_until(
        "the version pushed after a restart",
        Duration::from_secs(30),
        || version_of(&h) != before,
    );
    assert_eq!(which(&h).as_deref(), Some("three"));

    // `rustflow reload` rereads the table (a row changed without NOTIFY).
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .execute("UPDATE rustflow_flows SET body = $1", &[&flow("four")])
        .unwrap();
    assert_eq!(
        h.api_ok("reload"),
        format!("+OK reloaded 1 flow from {url}\n")
    );
    assert_eq!(which(&h).as_deref(), Some("four"));

    // An id names no file here: validate says where the flows are.
    let validate = h.api("validate greet").output;
    assert!(
        validate.starts_with(&format!("-ERR flows come from the flows table of {url}")),
        "{validate}"
    );

    let started = Instant::now();
    h.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "unload took {:?}",
        started.elapsed()
    );
    h.assert_no_core_errors();
}

#[test]
fn a_database_that_is_not_there_is_one_error_line_and_unload_does_not_hang() {
    let port = pgserver::free_port().unwrap();
    let url = format!("postgres://flows:s3cret@127.0.0.1:{port}/flows?connect_timeout=2");
    let mut h = Harness::new();
    h.set_params(&[("flows-source", &url)]);
    h.load();
    let errors: Vec<String> = FakeCore::logs()
        .into_iter()
        .filter(|line| line.text.starts_with("rustflow:") && line.level == LOG_ERROR)
        // The harness gives no db_dir: the contact centre says so, whatever the flows do.
        .filter(|line| !line.text.contains("no contact-centre store"))
        .map(|line| line.text)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].starts_with(&format!(
            "rustflow: cannot read the flows (flows-source): postgres://flows:***@127.0.0.1:{port}/flows?connect_timeout=2: cannot connect"
        )) && errors[0].trim_end().ends_with("; loading no flows"),
        "{}",
        errors[0]
    );
    // The listener retries in the background, with the password hidden too.
    FakeCore::wait_until("a listener retry", Duration::from_secs(10), || {
        FakeCore::logs_text().contains("rustflow: flows listener: postgres://flows:***@")
    });
    assert!(!FakeCore::logs_text().contains("s3cret"));
    assert!(h.api_ok("list").starts_with("+OK 0 flows"));

    let started = Instant::now();
    h.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "unload took {:?}",
        started.elapsed()
    );
}
