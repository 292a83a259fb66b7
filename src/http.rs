//! `httpRequest`: one HTTP(S) request with `ureq` (rustls) on a worker thread, so the session
//! thread stays free to notice a hangup.
//!
//! A worker can outlive its call (the call hangs up, the request goes on until its timeout),
//! so every worker is registered: the module's shutdown waits for them ([`wait_for_workers`])
//! and refuses to be unloaded while one still runs, because FreeSWITCH unmaps an unloaded
//! module's code.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::switch::log::{self, Level};
use crate::switch::module::Unload;
use rustflow_engine::{HttpRequest, HttpResponse};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// How often the session thread looks at the call while a request runs.
pub const POLL: Duration = Duration::from_millis(20);

/// How long the module's shutdown waits for request workers: well under the 10 s FreeSWITCH
/// gives an unload.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// How many redirects are followed (ureq refuses to follow any to a non-http(s) scheme).
const MAX_REDIRECTS: u32 = 5;

/// Every worker started and not yet joined. Joining (not only counting) matters: a worker
/// that has sent its answer still runs the module's code until its thread ends.
static WORKERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// The timeout of `request`: what the flow asked for, capped by `http-timeout-ms` (`cap_ms`),
/// which is also the timeout when the flow asks for none. The cap bounds how long a worker
/// can outlive its call.
pub fn timeout_for(request: &HttpRequest, cap_ms: u64) -> Duration {
    let ms = match request.timeout_ms {
        0 => cap_ms,
        asked => asked.min(cap_ms),
    };
    Duration::from_millis(ms)
}

/// How many request workers are running (started and not yet ended).
pub fn live_workers() -> usize {
    let mut workers = WORKERS.lock();
    join_finished(&mut workers);
    workers.len()
}

/// Waits up to `limit` for every request worker to end. Returns how many still run (0: none,
/// the module's code is no longer used by any of them).
pub fn wait_for_workers(limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let mut workers = WORKERS.lock();
        join_finished(&mut workers);
        if workers.is_empty() {
            // Give the allocation back: a module unloaded with it would leak it.
            *workers = Vec::new();
            return 0;
        }
        if Instant::now() >= deadline {
            return workers.len();
        }
        drop(workers);
        std::thread::sleep(POLL);
    }
}

/// The module's shutdown: waits up to [`SHUTDOWN_WAIT`] for the request workers; if any is
/// still running, the module must stay mapped (its code is what they run).
pub fn shutdown() -> Unload {
    match wait_for_workers(SHUTDOWN_WAIT) {
        0 => Unload::Allow,
        running => {
            log::global(
                Level::Warning,
                &format!(
                    "rustflow: {running} httpRequest worker(s) still running after {} ms; refusing to unload, so FreeSWITCH keeps mod_rustflow's code mapped for them (they end within http-timeout-ms)",
                    SHUTDOWN_WAIT.as_millis()
                ),
            );
            Unload::Refuse
        }
    }
}

/// Joins the workers whose request is over (their thread is ending or has ended).
fn join_finished(workers: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < workers.len() {
        if workers[i].is_finished() {
            // A worker that panicked has ended too; its panic was already reported.
            let _ = workers.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

/// Why a request ended early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interrupted {
    /// `keep_going` said stop (the call hung up).
    Abandoned,
    Failed(String),
}

/// The TLS configuration of requests when `http-ca-file` is set: the Mozilla roots ureq
/// trusts anyway, plus every certificate of the PEM file (an internal CA). Built once per
/// load or reload.
pub fn tls_with_ca_file(path: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let shown = path.display();
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("{shown}: no PEM certificate in the file"));
    }
    for (index, certificate) in certificates.into_iter().enumerate() {
        roots
            .add(certificate)
            .map_err(|e| format!("{shown}: certificate {}: {e}", index + 1))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS configuration that accepts any server certificate (`insecureSkipVerify: true`),
/// for this one request. The handshake's signatures are still checked, so the connection is
/// encrypted to whoever holds the presented certificate's key; who that is goes unchecked.
fn tls_without_verification() -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate verifier of [`tls_without_verification`].
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks what can be checked before anything is sent.
pub fn validate(request: &HttpRequest) -> Result<(), String> {
    let lower = request.url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!(
            "{:?} is not an http:// or https:// URL",
            request.url
        ));
    }
    let method = request.method.to_ascii_uppercase();
    if !matches!(
        method.as_str(),
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
    ) {
        return Err(format!("unsupported method {:?}", request.method));
    }
    for (name, value) in &request.headers {
        let bad_name = name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if bad_name {
            return Err(format!("header name {name:?} is not a valid HTTP token"));
        }
        if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
            return Err(format!("header {name}: the value contains a line break"));
        }
    }
    Ok(())
}

/// Performs `request` with `timeout` on a worker thread. While it runs, `wait` is called
/// repeatedly: it waits up to [`POLL`] (the session host keeps the call's media and
/// signalling going meanwhile) and says whether to keep waiting; when it says no, the step
/// ends at once with [`Interrupted::Abandoned`] (the worker finishes on its own, bounded by
/// `timeout`).
pub fn perform(
    request: &HttpRequest,
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
    mut wait: impl FnMut() -> bool,
) -> Result<HttpResponse, Interrupted> {
    validate(request).map_err(Interrupted::Failed)?;
    let (send, receive) = mpsc::channel();
    let owned = request.clone();
    let tls = tls.cloned();
    {
        // Registered under the lock it is spawned under, so shutdown never misses one.
        let mut workers = WORKERS.lock();
        join_finished(&mut workers);
        let worker = std::thread::Builder::new()
            .name("rustflow-http".to_string())
            .spawn(move || {
                // The receiver may be gone (abandoned): nothing to do then.
                let _ = send.send(blocking(&owned, timeout, tls));
            })
            .map_err(|e| Interrupted::Failed(format!("cannot start a worker thread: {e}")))?;
        workers.push(worker);
    }
    let deadline = Instant::now() + timeout + Duration::from_millis(500);
    loop {
        match receive.try_recv() {
            Ok(result) => return result.map_err(Interrupted::Failed),
            Err(mpsc::TryRecvError::Empty) => {
                if !wait() {
                    return Err(Interrupted::Abandoned);
                }
                if Instant::now() > deadline {
                    return Err(Interrupted::Failed(format!(
                        "{} timed out after {} ms",
                        request.url,
                        timeout.as_millis()
                    )));
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err(Interrupted::Failed(
                    "the request worker ended without an answer".to_string(),
                ));
            }
        }
    }
}

/// The request itself (worker thread); `tls` None = ureq's own (Mozilla roots). A request
/// with `insecure_skip_verify` (allowed by `http-allow-insecure`, checked when the flow was
/// loaded) accepts any server certificate.
pub fn blocking(
    request: &HttpRequest,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<HttpResponse, String> {
    let mut builder = ureq::AgentBuilder::new()
        .timeout(timeout)
        .redirects(MAX_REDIRECTS);
    let tls = if request.insecure_skip_verify {
        Some(tls_without_verification()?)
    } else {
        tls
    };
    if let Some(tls) = tls {
        builder = builder.tls_config(tls);
    }
    let agent = builder.build();
    let method = request.method.to_ascii_uppercase();
    let mut call = agent.request(&method, &request.url);
    for (name, value) in &request.headers {
        call = call.set(name, value);
    }
    let result = match &request.body {
        Some(body) => call.send_string(body),
        None => call.call(),
    };
    let response = match result {
        Ok(response) => response,
        // A 4xx/5xx is an answer: the flow sees its code and body.
        Err(ureq::Error::Status(_, response)) => response,
        Err(ureq::Error::Transport(e)) => {
            return Err(format!("request failed: {e}"));
        }
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| {
            let value = response.header(&name)?.to_string();
            Some((name, value))
        })
        .collect();
    let body = response
        .into_string()
        .map_err(|e| format!("{}: cannot read the body: {e}", request.url))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn poll() -> bool {
        std::thread::sleep(POLL);
        true
    }

    fn request(url: &str) -> HttpRequest {
        HttpRequest {
            method: "POST".into(),
            url: url.into(),
            headers: vec![("X-Test".into(), "a,b|{x=y}${system ls}".into())],
            body: Some("{\"k\":1}".into()),
            timeout_ms: 0,
            insecure_skip_verify: false,
        }
    }

    /// A one-shot HTTP server: answers `reply` after `delay`, returns what it received.
    fn server(reply: &'static str, delay: Duration) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/path?q=1", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            stream
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if text.contains("\r\n\r\n") && text.ends_with("{\"k\":1}") {
                    break;
                }
            }
            std::thread::sleep(delay);
            let _ = stream.write_all(reply.as_bytes());
            String::from_utf8_lossy(&seen).into_owned()
        });
        (url, handle)
    }

    #[test]
    fn a_request_goes_out_verbatim_and_its_answer_comes_back() {
        let (url, server) = server(
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}",
            Duration::ZERO,
        );
        let response = perform(&request(&url), Duration::from_secs(5), None, poll).unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.body, "{\"ok\":true}");
        assert!(
            response
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/json")
        );
        let seen = server.join().unwrap();
        assert!(seen.starts_with("POST /path?q=1 HTTP/1.1\r\n"), "{seen}");
        assert!(
            seen.contains("x-test: a,b|{x=y}${system ls}\r\n")
                || seen.contains("X-Test: a,b|{x=y}${system ls}\r\n"),
            "{seen}"
        );
        assert!(seen.ends_with("{\"k\":1}"), "{seen}");
    }

    #[test]
    fn error_statuses_are_answers() {
        let (url, server) = server(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
            Duration::ZERO,
        );
        let response = perform(&request(&url), Duration::from_secs(5), None, poll).unwrap();
        assert_eq!((response.status, response.body.as_str()), (404, "nope"));
        server.join().unwrap();
    }

    #[test]
    fn a_hangup_abandons_the_request_at_the_next_poll() {
        let (url, _server) = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Duration::from_secs(2),
        );
        let mut polls = 0;
        let result = perform(&request(&url), Duration::from_secs(5), None, || {
            polls += 1;
            poll() && polls < 3
        });
        assert_eq!(result, Err(Interrupted::Abandoned));
        assert_eq!(polls, 3);
    }

    #[test]
    fn the_timeout_bounds_the_request() {
        let (url, _server) = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Duration::from_secs(3),
        );
        let err = perform(&request(&url), Duration::from_millis(200), None, poll).unwrap_err();
        let Interrupted::Failed(message) = err else {
            panic!("expected a failure, got {err:?}")
        };
        assert!(
            message.contains("failed") || message.contains("timed out"),
            "{message}"
        );
    }

    #[test]
    fn the_configured_timeout_is_the_default_and_the_cap() {
        let mut r = request("http://127.0.0.1/");
        assert_eq!(timeout_for(&r, 5000), Duration::from_millis(5000));
        r.timeout_ms = 200;
        assert_eq!(timeout_for(&r, 5000), Duration::from_millis(200));
        r.timeout_ms = 3_600_000;
        assert_eq!(timeout_for(&r, 5000), Duration::from_millis(5000));
    }

    #[test]
    fn an_abandoned_worker_is_counted_until_it_ends() {
        let (url, server) = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Duration::from_millis(700),
        );
        let started = Instant::now();
        let result = perform(&request(&url), Duration::from_secs(5), None, || false);
        assert_eq!(result, Err(Interrupted::Abandoned));
        // Other tests of this binary run workers too: ours is at least one of them.
        assert!(live_workers() >= 1);
        assert!(wait_for_workers(Duration::from_millis(50)) >= 1);
        assert!(started.elapsed() < Duration::from_millis(700));
        assert_eq!(wait_for_workers(Duration::from_secs(10)), 0);
        assert_eq!(live_workers(), 0);
        server.join().unwrap();
    }

    #[test]
    fn bad_requests_are_refused_before_sending() {
        let mut r = request("file:///etc/passwd");
        assert!(
            validate(&r)
                .unwrap_err()
                .contains("not an http:// or https:// URL")
        );
        r.url = "https://example.invalid/".into();
        r.method = "GET /x HTTP/1.0\r\n".into();
        assert!(validate(&r).unwrap_err().contains("unsupported method"));
        r.method = "GET".into();
        r.headers = vec![("X-A".into(), "v\r\nInjected: 1".into())];
        assert!(validate(&r).unwrap_err().contains("line break"));
        r.headers = vec![("Bad Name".into(), "v".into())];
        assert!(validate(&r).unwrap_err().contains("not a valid HTTP token"));
    }
}
