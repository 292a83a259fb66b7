//! An `httpRequest` worker that outlives its call (the caller hung up): the module's shutdown
//! waits a bounded time, then refuses the unload (SWITCH_STATUS_NOUNLOAD) with a WARNING
//! saying why, and the switch keeps the library mapped (for good, as FreeSWITCH does); the
//! module loads again on the same image, and once the worker is done a later unload succeeds.

use rustflow_harness::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A flow whose `js` body needs QuickJS.
fn js_flow() -> String {
    json!([
        {"js": {"data": "let s = 0;\nfor (let i = 1; i <= 10; i++) { s += i; }\nreturn s;",
                "setVar": "sum"}}
    ])
    .to_string()
}

fn assert_js_call_works(h: &Harness) {
    let call = h.run_flow("js");
    assert_eq!(
        call.var("rustflow_error"),
        None,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(call.var("sum"), Some("55"));
}

/// An HTTP server for one request: it reports when the request arrived and answers only
/// when told to.
fn held_server() -> (u16, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().unwrap().port();
    let (arrived, arrivals) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let _ = arrived.send(());
        let _ = released.recv();
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    });
    (port, arrivals, release)
}

#[test]
fn an_http_worker_outliving_its_call_keeps_the_module_mapped_until_it_ends() {
    let (port, arrivals, release) = held_server();
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    // Long enough for the worker to outlive shutdown's wait.
    h.set_params(&[("flows-dir", &flows), ("http-timeout-ms", "60000")]);
    h.write_flow(
        "slow",
        &json!([
            {"answer": ""},
            {"httpRequest": {"url": format!("http://127.0.0.1:{port}/slow"), "responseCode": "code"}},
            {"set": {"after": "yes"}}
        ])
        .to_string(),
    );
    h.write_flow("js", &js_flow());
    h.load();

    let call = h.run(json!({"script": {"hangup_after_ms": 300}}), "slow");
    assert_eq!((call.up, call.var("code")), (false, None));
    arrivals
        .recv_timeout(Duration::from_secs(30))
        .expect("the request reached the server");
    let stats = h.api("stats json").json();
    assert_eq!(stats["http_workers"], 1, "{stats}");
    assert!(h.api_ok("stats").contains("http workers: 1\n"));

    let kept_before = FakeCore::kept_modules();
    let started = Instant::now();
    assert_eq!(h.shutdown(), STATUS_NOUNLOAD);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(9),
        "shutdown waited {waited:?}"
    );
    let warning = FakeCore::logs()
        .into_iter()
        .find(|l| l.level == LOG_WARNING && l.text.contains("refusing to unload"))
        .unwrap_or_else(|| panic!("no WARNING about the refusal:\n{}", FakeCore::logs_text()));
    assert_eq!(
        warning.text.trim_end(),
        "rustflow: 1 httpRequest worker(s) still running after 3000 ms; refusing to unload, so FreeSWITCH keeps mod_rustflow's code mapped for them (they end within http-timeout-ms)"
    );
    // The switch keeps the module (mapped, out of its tables): the application is gone.
    assert_eq!(FakeCore::kept_modules(), kept_before + 1);
    assert!(!Session::new(json!({})).try_exec("rustflow", "js"));

    // `load mod_rustflow` while the worker still runs: the same image, loaded again.
    h.reopen_module();
    h.load();
    assert_js_call_works(&h);
    release.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.api("stats json").json()["http_workers"] != 0 {
        assert!(Instant::now() < deadline, "the worker did not end");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Nothing runs the module's code any more: the unload goes through.
    let started = Instant::now();
    assert_eq!(h.shutdown(), STATUS_SUCCESS);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(FakeCore::kept_modules(), kept_before + 1);
    h.reopen_module();
    h.load();
    assert_js_call_works(&h);
}
