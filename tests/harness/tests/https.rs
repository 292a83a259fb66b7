//! `httpRequest` over HTTPS to a server whose certificate an internal CA signed: refused with
//! the Mozilla roots alone, accepted once `http-ca-file` names that CA; a CA file that cannot
//! be used is a load error that names it, and a reload with it keeps the flows of before.
//! `insecureSkipVerify: true` is a load error naming `http-allow-insecure` unless that is
//! true; then that request alone accepts any certificate.
//!
//! tests/harness/fixtures/tls: `ca.pem` (test CA, 100 years) and `server.pem`/`server.key`
//! (127.0.0.1 and localhost, signed by it), made with openssl (P-256).

use rustflow_harness::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("tests/harness/fixtures/tls")
        .join(name)
}

/// An HTTPS server on 127.0.0.1 answering every request `200 {"ok": "tls"}`; returns its port.
fn https_server() -> u16 {
    let certs = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                // A refused handshake ends here with an error: nothing to answer.
                let mut reader = BufReader::new(&mut tls);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let body = r#"{"ok": "tls"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

fn flow(port: u16) -> String {
    json!([
        {"httpRequest": {"url": format!("https://127.0.0.1:{port}/check"), "timeout": 5000,
                         "responseCode": "code", "exportVariables": {"answer": "ok"}}}
    ])
    .to_string()
}

/// Loads flow `f` with `http-ca-file` (None: not set).
fn harness(port: u16, ca_file: Option<&str>) -> Harness {
    let mut h = Harness::new();
    let flows = h.flows_dir().display().to_string();
    let mut params = vec![("flows-dir", flows.as_str())];
    if let Some(ca) = ca_file {
        params.push(("http-ca-file", ca));
    }
    h.set_params(&params);
    h.write_flow("f", &flow(port));
    h.load();
    h
}

#[test]
fn an_internal_ca_is_trusted_only_when_http_ca_file_names_it() {
    let port = https_server();

    let h = harness(port, None);
    let call = h.run(json!({}), "f");
    let error = call.var("rustflow_error").unwrap_or("");
    assert!(
        error.contains("UnknownIssuer"),
        "without http-ca-file: {error:?}"
    );
    assert_eq!(call.var("code"), None);
    drop(h); // one harness at a time: it holds the fake core

    let ca = fixture("ca.pem").display().to_string();
    let h = harness(port, Some(&ca));
    let call = h.run(json!({}), "f");
    assert_eq!(
        call.var("rustflow_error"),
        None,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(call.var("code"), Some("200"));
    assert_eq!(call.var("answer"), Some("tls"));
}

#[test]
fn a_ca_file_that_cannot_be_used_is_a_load_error_and_a_reload_keeps_the_flows() {
    let port = https_server();
    let missing = "/nonexistent/rustflow-ca.pem";
    let mut h = harness(port, Some(missing));
    let errors = FakeCore::error_text();
    assert!(
        errors.contains("http-ca-file") && errors.contains(missing),
        "{errors}"
    );
    let listed = |h: &Harness| h.api_ok("list").lines().any(|l| l.starts_with("f\t"));
    assert!(!listed(&h), "flows loaded despite the bad CA file");

    // Fixed, reloaded: flows up. Then a file without any certificate: the reload fails,
    // names it, and the flows stay.
    let ca = fixture("ca.pem").display().to_string();
    let flows = h.flows_dir().display().to_string();
    h.set_params(&[("flows-dir", flows.as_str()), ("http-ca-file", ca.as_str())]);
    assert!(h.api_ok("reload").starts_with("+OK"));
    assert!(listed(&h));
    let not_pem = fixture("../../Cargo.toml").display().to_string();
    h.set_params(&[
        ("flows-dir", flows.as_str()),
        ("http-ca-file", not_pem.as_str()),
    ]);
    let reply = h.api("reload").output;
    assert!(
        reply.starts_with("-ERR")
            && reply.contains("http-ca-file")
            && reply.contains("no PEM certificate"),
        "{reply}"
    );
    assert!(listed(&h));
}

fn insecure_flow(port: u16) -> String {
    json!([
        {"httpRequest": {"url": format!("https://127.0.0.1:{port}/check"), "timeout": 5000,
                         "insecureSkipVerify": true,
                         "responseCode": "code", "exportVariables": {"answer": "ok"}}}
    ])
    .to_string()
}

#[test]
fn insecure_skip_verify_is_refused_at_load_unless_http_allow_insecure_is_true() {
    let port = https_server();
    let mut h = Harness::new();
    h.write_flow("insecure", &insecure_flow(port));
    h.write_flow("f", &flow(port));
    h.load();
    let errors = FakeCore::error_text();
    assert!(
        errors.contains(
            "insecure.json:1:73: /0/httpRequest/insecureSkipVerify: `httpRequest.insecureSkipVerify: true` turns off TLS certificate checks; it is refused unless http-allow-insecure is true in mod_rustflow.conf"
        ),
        "{errors}"
    );
    let listed = |h: &Harness, id: &str| {
        h.api_ok("list")
            .lines()
            .any(|l| l.starts_with(&format!("{id}\t")))
    };
    assert!(!listed(&h, "insecure"));

    // Allowed: that request accepts the certificate no configured CA signed; a request
    // without the flag still checks it.
    let flows = h.flows_dir().display().to_string();
    h.set_params(&[("flows-dir", &flows), ("http-allow-insecure", "true")]);
    assert!(h.api_ok("reload").starts_with("+OK"));
    let call = h.run(json!({}), "insecure");
    assert_eq!(
        call.var("rustflow_error"),
        None,
        "{}",
        FakeCore::logs_text()
    );
    assert_eq!(call.var("code"), Some("200"));
    assert_eq!(call.var("answer"), Some("tls"));
    let call = h.run(json!({}), "f");
    let error = call.var("rustflow_error").unwrap_or("");
    assert!(error.contains("UnknownIssuer"), "{error:?}");

    // Taken back: the reload fails naming the param, and the flows of before stay.
    h.set_params(&[("flows-dir", &flows)]);
    let reply = h.api("reload").output;
    assert!(
        reply.starts_with("-ERR") && reply.contains("http-allow-insecure"),
        "{reply}"
    );
    assert!(listed(&h, "insecure"));
}
