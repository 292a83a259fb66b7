//! `rustflow cc wallboard`: the page, the event feed and its snapshots, the token and the
//! refusal to listen beyond loopback without one, over real HTTP on a scratch SQLite store.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{Board, get, next_event, read_head, rustflow, scratch_dir, start_board};
use pgserver::PgServer;

const SETUP: &str = "examples/cc/setup.json";

/// A snapshot without what moves with the clock.
fn timeless(json: &str) -> serde_json::Value {
    let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
    value.as_object_mut().unwrap().remove("at_ms");
    value.as_object_mut().unwrap().remove("trend");
    for queue in value["queues"].as_array_mut().unwrap() {
        queue["last_hour"].as_object_mut().unwrap().remove("trend");
    }
    for agent in value["agents"].as_array_mut().unwrap() {
        agent.as_object_mut().unwrap().remove("state_secs");
    }
    value
}

fn scratch_store(name: &str) -> String {
    let store = scratch_dir(name).join("cc.sqlite");
    let store = store.to_str().unwrap().to_string();
    let import = rustflow(&["cc", "--store", &store, "import", SETUP]);
    assert_eq!(import.status, 0, "{}", import.stderr);
    store
}

#[test]
fn the_page_is_self_contained_and_the_feed_sends_the_snapshot_then_changes() {
    let store = scratch_store("wallboard-feed");
    let board = start_board(&store, &[]);

    let mut page = get(&board, "/", "");
    let (status, headers) = read_head(&mut page);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|h| h.starts_with("content-type: text/html"))
    );
    let mut html = String::new();
    page.read_to_string(&mut html).unwrap();
    assert!(html.contains("new EventSource("), "{html}");
    assert!(
        html.contains(r#"data-sl-target-percent="80""#),
        "the default target is in the page"
    );
    // The SVG namespace is a name, not an address anything is loaded from.
    let html = html.replace(r#""http://www.w3.org/2000/svg""#, "SVG_NAMESPACE");
    for external in ["http://", "https://", "//fonts", "<link", "src=\""] {
        assert!(!html.contains(external), "the page loads {external:?}");
    }
    for html_sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
    ] {
        assert!(
            !html.contains(html_sink),
            "names are set with textContent only, not {html_sink}"
        );
    }

    let mut feed = get(&board, "/events", "");
    let (status, headers) = read_head(&mut feed);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|h| h == "content-type: text/event-stream")
    );
    let first = next_event(&mut feed);
    let snapshot = rustflow(&["cc", "--store", &store, "snapshot", "json"]);
    assert_eq!(snapshot.status, 0, "{}", snapshot.stderr);
    assert_eq!(timeless(&first), timeless(&snapshot.stdout));
    drop(feed);

    a_pause_written_elsewhere_reaches_the_feed_within_a_second(&board, &store);
}

/// The same live board on a PostgreSQL store: another writer's change arrives through
/// LISTEN/NOTIFY.
#[test]
fn on_postgres_a_change_reaches_the_feed_within_a_second() {
    let Some(server) = PgServer::start("wallboard on_postgres") else {
        return;
    };
    let store = server.database("wallboard");
    let import = rustflow(&["cc", "--store", &store, "import", SETUP]);
    assert_eq!(import.status, 0, "{}", import.stderr);
    let board = start_board(&store, &[]);
    a_pause_written_elsewhere_reaches_the_feed_within_a_second(&board, &store);
}

/// Another process pauses an agent: the board's feed shows it within a second of the write.
/// Just after a tick's event the next tick is a second away, so an event sooner than that
/// comes from the store's change feed, not the tick.
fn a_pause_written_elsewhere_reaches_the_feed_within_a_second(board: &Board, store: &str) {
    let mut feed = get(board, "/events", "");
    let (status, _) = read_head(&mut feed);
    assert_eq!(status, 200);
    let agent_status = |json: &str| {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        value["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == "remote-1")
            .map(|a| a["status"].as_str().unwrap().to_string())
            .expect("agent remote-1 on the board")
    };
    assert_ne!(agent_status(&next_event(&mut feed)), "pause");
    next_event(&mut feed);
    let tick_seen = Instant::now();
    let pause = rustflow(&[
        "cc", "--store", store, "agent", "status", "remote-1", "pause", "Lunch",
    ]);
    assert_eq!(pause.status, 0, "{}", pause.stderr);
    let written = Instant::now();
    while agent_status(&next_event(&mut feed)) != "pause" {}
    assert!(
        written.elapsed() < Duration::from_secs(1),
        "the pause reached the board {:?} after the write",
        written.elapsed()
    );
    let command_took = written - tick_seen;
    if command_took < Duration::from_millis(400) {
        assert!(
            tick_seen.elapsed() < Duration::from_millis(900),
            "the pause came {:?} after the last tick: the change feed did not wake the board",
            tick_seen.elapsed()
        );
    }
}

#[test]
fn with_a_token_every_request_needs_it() {
    let store = scratch_store("wallboard-token");
    let board = start_board(&store, &["--token", "s3cret"]);
    for path in ["/", "/events", "/events?token=wrong"] {
        let (status, headers) = read_head(&mut get(&board, path, ""));
        assert_eq!(status, 401, "{path}");
        assert!(
            headers.iter().any(|h| h == "www-authenticate: bearer"),
            "{path}"
        );
    }
    let (status, _) = read_head(&mut get(&board, "/", "Authorization: Bearer wrong\r\n"));
    assert_eq!(status, 401);
    let (status, _) = read_head(&mut get(&board, "/", "Authorization: Bearer s3cret\r\n"));
    assert_eq!(status, 200);
    let mut feed = get(&board, "/events?token=s3cret", "");
    assert_eq!(read_head(&mut feed).0, 200);
    assert!(next_event(&mut feed).contains("\"agents\""));
}

#[test]
fn beyond_loopback_without_a_token_it_refuses_to_start() {
    let store = scratch_dir("wallboard-refuse").join("cc.sqlite");
    let refused = rustflow(&[
        "cc",
        "--store",
        store.to_str().unwrap(),
        "wallboard",
        "--listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(refused.status, 2);
    assert!(
        refused.stderr.contains(
            "refusing to listen on 0.0.0.0:0 without --token: the board shows callers' numbers"
        ),
        "{}",
        refused.stderr
    );
    assert!(!store.exists(), "nothing was opened or created");
}

/// A PostgreSQL store that is not there: one clear error, and the password is not printed.
#[test]
fn an_unreachable_postgres_store_is_one_error_without_the_password() {
    let port = pgserver::free_port().unwrap();
    let url = format!("postgres://cc:s3cret@127.0.0.1:{port}/cc");
    let out = rustflow(&[
        "cc",
        "--store",
        &url,
        "wallboard",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with(&format!(
            "rustflow cc wallboard: contact-centre store postgres://cc@127.0.0.1:{port}/cc: cannot connect: "
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    assert!(
        out.stdout.is_empty(),
        "it did not start listening: {}",
        out.stdout
    );
}

/// A mistyped SQLite path is an error, not an empty store made and shown as a quiet centre.
#[test]
fn a_store_that_is_not_there_is_an_error_and_is_not_created() {
    let store = scratch_dir("wallboard-missing").join("typo.sqlite");
    let out = rustflow(&[
        "cc",
        "--store",
        store.to_str().unwrap(),
        "wallboard",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status, 1, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "rustflow cc wallboard: no contact-centre store at {} (the board only reads one: \
             give the module's `store` setting, or make it with `rustflow cc import`)\n",
            store.display()
        )
    );
    assert!(!store.exists());
}

/// A name that is markup reaches the page as the same text (wallboard_browser.rs checks, in a
/// real browser, that the page shows it as text and runs nothing).
#[test]
fn a_hostile_name_reaches_the_feed_unchanged() {
    let store = scratch_store("wallboard-hostile");
    let hostile = "<img src=x onerror=alert(1)>";
    let add = rustflow(&[
        "cc",
        "--store",
        &store,
        "agent",
        "add",
        "evil",
        &format!(r#"{{"extension":"1099","name":"{hostile}"}}"#),
    ]);
    assert_eq!(add.status, 0, "{}", add.stderr);
    let board = start_board(&store, &[]);
    let mut feed = get(&board, "/events", "");
    assert_eq!(read_head(&mut feed).0, 200);
    let snapshot: serde_json::Value = serde_json::from_str(&next_event(&mut feed)).unwrap();
    let evil = snapshot["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "evil")
        .expect("agent evil on the board");
    assert_eq!(evil["name"], hostile);
}
