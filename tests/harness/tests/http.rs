//! `httpRequest` through the module against a local HTTP server started by the test: method,
//! URL, headers and body as sent; responseCode and exportVariables; errors; a caller hanging
//! up during a slow request ends the step without waiting for the server.

use rustflow_harness::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1:0 answering every request with `status` and
/// `body` after `delay`.
struct Server {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn start(status: u16, body: &str, delay: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let body = body.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let length = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut request_body = vec![0; length];
                let _ = reader.read_exact(&mut request_body);
                log.lock().unwrap().push(Received {
                    method,
                    path,
                    headers,
                    body: request_body,
                });
                std::thread::sleep(delay);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Server { port, received }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn load(flow: &Value) -> Harness {
    let mut h = Harness::new();
    h.write_flow("f", &flow.to_string());
    h.load();
    h
}

#[test]
fn http_request_sends_method_headers_and_json_data_and_exports_the_answer() {
    let server = Server::start(
        201,
        r#"{"items": [{"id": 42}], "name": "Ann"}"#,
        Duration::ZERO,
    );
    let flow = json!([
        {"httpRequest": {
            "url": server.url("/users/:id?q=${uid.uri()}"),
            "path": {"id": "7"},
            "method": "post",
            "headers": {"X-Token": "t0k"},
            "data": {"user": "${uid}", "n": 5},
            "timeout": 2000,
            "responseCode": "status",
            "exportVariables": {"first": "items.0.id", "who": "name"}
        }}
    ]);
    let h = load(&flow);
    let call = h.run(json!({"variables": {"uid": "a b"}}), "f");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/users/7?q=a%20b");
    assert_eq!(r.header("X-Token"), Some("t0k"));
    let sent: Value = serde_json::from_slice(&r.body).expect("JSON body");
    assert_eq!(sent, json!({"user": "a b", "n": 5}));
    assert_eq!(call.var("status"), Some("201"));
    assert_eq!(call.var("first"), Some("42"));
    assert_eq!(call.var("who"), Some("Ann"));
    assert_eq!(call.var("rustflow_error"), None);
    // While the request runs the session thread only keeps media flowing (short sleeps).
    for c in call.call_control() {
        assert_eq!(c["fn"], "switch_ivr_sleep", "{:#?}", call.record);
    }
}

#[test]
fn http_request_errors_are_step_errors() {
    // Nothing listens on this port (bound, then dropped).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let flow = json!([
        {"httpRequest": {"url": format!("http://127.0.0.1:{port}/"), "timeout": 1000}},
        {"set": {"after": "yes"}},
        {"httpRequest": {"url": "file:///etc/passwd"}},
    ]);
    let h = load(&flow);
    let call = h.run(json!({}), "f");
    assert_eq!(
        call.var("after"),
        Some("yes"),
        "a failed request does not stop the flow"
    );
    let error = call.var("rustflow_error").unwrap_or("");
    assert!(
        error.contains("http") && error.contains("file:///etc/passwd"),
        "{error}"
    );
}

#[test]
fn a_missing_url_is_a_load_error() {
    let mut h = Harness::new();
    h.write_flow("bad", r#"[{"httpRequest": {"method": "GET"}}]"#);
    h.load();
    let errors = FakeCore::error_text();
    assert!(
        errors.contains("bad.json") && errors.contains("/0/httpRequest") && errors.contains("url"),
        "{errors}"
    );
}

#[test]
fn a_hangup_during_a_slow_request_ends_the_step_before_the_server_answers() {
    let server = Server::start(200, "{}", Duration::from_secs(10));
    let flow = json!([
        {"answer": ""},
        {"httpRequest": {"url": server.url("/slow"), "timeout": 20000, "responseCode": "code"}},
        {"set": {"after": "yes"}},
    ]);
    let mut h = Harness::new();
    // The flow's 20 s are cut to this, so the worker ends while shutdown waits for it.
    let flows = h.flows_dir().display().to_string();
    h.set_params(&[("flows-dir", &flows), ("http-timeout-ms", "3000")]);
    h.write_flow("f", &flow.to_string());
    h.load();
    let started = Instant::now();
    // 1.5 s: time for the worker to send the request even under valgrind (make memcheck).
    let call = h.run(json!({"script": {"hangup_after_ms": 1500}}), "f");
    let took = started.elapsed();
    // Generous bound: the step must not wait for the server's 10 s (nor the 20 s timeout).
    assert!(
        took < Duration::from_millis(7000),
        "the step waited for the server: {took:?}"
    );
    assert_eq!(server.requests().len(), 1, "the request was sent");
    assert!(!call.up);
    assert_eq!(call.var("code"), None);
    assert_eq!(call.var("after"), None);
}

#[test]
fn hostile_values_in_http_data_and_headers_stay_data() {
    let server = Server::start(200, "{}", Duration::ZERO);
    let flow = json!([
        {"httpRequest": {"url": server.url("/h"), "method": "POST",
                         "headers": {"X-Caller": "${caller_id_name}"},
                         "data": {"name": "${caller_id_name}", "raw": "${evil}"}}}
    ]);
    let h = load(&flow);
    let values = [
        "a,b|{x=y}${system ls}",
        "\"}, \"admin\": true, \"x\": {\"",
        "x:_:y",
        "it's",
        "line1\r\nX-Injected: yes",
    ];
    for (n, value) in values.iter().enumerate() {
        let call = h.run(
            json!({"variables": {"evil": value}, "profile": {"caller_id_name": value}}),
            "f",
        );
        let requests = server.requests();
        if value.contains('\n') {
            // A line break cannot go into a header: refused before anything is sent.
            assert_eq!(requests.len(), n, "{value:?} was sent");
            let error = call.var("rustflow_error").unwrap_or("");
            assert!(error.contains("line break"), "{value:?}: {error}");
            continue;
        }
        let r = requests.last().expect("a request");
        assert_eq!(r.header("X-Caller"), Some(*value), "{value:?}");
        assert!(r.header("X-Injected").is_none());
        let sent: Value = serde_json::from_slice(&r.body).expect("JSON body");
        assert_eq!(sent, json!({"name": value, "raw": value}), "{value:?}");
    }
}
