//! `rustflow cc wallboard`: a read-only live board for supervisors, served by the offline
//! tool (never by the module). One page at `/` and a server-sent-events feed at `/events`
//! carrying the JSON of `rustflow cc snapshot json`, sent at connect, whenever another
//! writer changes the store, and every second (so wait times count up).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;

/// The page, embedded so the board needs no files and loads nothing from elsewhere.
const PAGE_HTML: &str = include_str!("wallboard/index.html");

/// How often the snapshot is re-read without a change (wait times grow by themselves).
const TICK: Duration = Duration::from_secs(1);

/// The least time between two updates: a busy centre changes the store many times a second,
/// and four updates a second keep every change on the page within a second without
/// rebuilding the snapshot (tens of milliseconds at scale) back to back.
const MIN_INTERVAL: Duration = Duration::from_millis(250);

const USAGE: &str = "usage: rustflow cc wallboard [--store PATH|URL] [--listen ADDR:PORT] \
                     [--token TOKEN] [--sl-target PERCENT]";

/// The service level under which the board shows a queue's SL as an alert, by default.
const DEFAULT_SL_TARGET_PERCENT: u8 = 80;

/// The options after `wallboard`.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    store: Option<String>,
    listen: SocketAddr,
    token: Option<String>,
    sl_target_percent: u8,
}

fn parse_options(words: &[String]) -> Result<Options, String> {
    let mut store = None;
    let mut listen = "127.0.0.1:8089".to_string();
    let mut token = None;
    let mut sl_target = DEFAULT_SL_TARGET_PERCENT.to_string();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value.to_string())),
            _ => (word.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| format!("wallboard: {name} needs a value\n{USAGE}"))
        };
        match name {
            "--store" => store = Some(value()?),
            "--listen" => listen = value()?,
            "--token" => token = Some(value()?),
            "--sl-target" => sl_target = value()?,
            other => return Err(format!("wallboard: unknown option {other:?}\n{USAGE}")),
        }
    }
    let listen: SocketAddr = listen
        .parse()
        .map_err(|e| format!("wallboard: --listen {listen:?}: {e} (expected ADDR:PORT)"))?;
    if token.as_deref() == Some("") {
        return Err("wallboard: --token is empty".to_string());
    }
    let sl_target_percent = sl_target
        .parse()
        .ok()
        .filter(|percent| (1..=100).contains(percent))
        .ok_or_else(|| {
            format!("wallboard: --sl-target {sl_target:?}: expected a percentage from 1 to 100")
        })?;
    Ok(Options {
        store,
        listen,
        token,
        sl_target_percent,
    })
}

/// Why a listening address is refused, if it is: the board shows callers' numbers and
/// agents' names, so anything reachable beyond this machine needs a token.
fn refusal(listen: &SocketAddr, token: Option<&str>) -> Option<String> {
    (!listen.ip().is_loopback() && token.is_none()).then(|| {
        format!(
            "wallboard: refusing to listen on {listen} without --token: the board shows callers' \
             numbers and agents' names to anyone who can reach it; pass --token TOKEN, or \
             --listen 127.0.0.1:PORT"
        )
    })
}

/// `rustflow cc wallboard …`; `default_store` is the store `rustflow cc` would use.
pub fn command(words: &[String], default_store: &str) -> ExitCode {
    let options = match parse_options(words) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("rustflow cc {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(message) = refusal(&options.listen, options.token.as_deref()) {
        eprintln!("rustflow cc {message}");
        return ExitCode::from(2);
    }
    let store = options
        .store
        .clone()
        .unwrap_or_else(|| default_store.to_string());
    match serve(&store, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rustflow cc wallboard: {message}");
            ExitCode::from(1)
        }
    }
}

/// The snapshot `rustflow cc snapshot json` prints, on one line.
fn snapshot_json(store: &dyn rustflow_cc::store::Store) -> Result<String, String> {
    rustflow_cc::command::snapshot_json_line(store, crate::cc::now_ms()).map_err(|e| e.to_string())
}

/// Reads snapshots on its own thread (the store API is blocking) and publishes each one.
/// Returns once the first snapshot is published, or the error opening the store.
fn start_snapshot_reader(store_spec: &str) -> Result<watch::Receiver<String>, String> {
    let (first_tx, first_rx) =
        std::sync::mpsc::channel::<Result<watch::Receiver<String>, String>>();
    let store_spec = store_spec.to_string();
    std::thread::Builder::new()
        .name("wallboard-store".to_string())
        .spawn(move || {
            // The store's errors name it without its password; the spec itself may hold one,
            // so it is never printed.
            let opened = rustflow_cc::store::open(&store_spec)
                .map_err(|e| e.to_string())
                .and_then(|store| {
                    let feed = store
                        .change_feed()
                        .map_err(|e| format!("change feed: {e}"))?;
                    let first = snapshot_json(&*store)?;
                    Ok((store, feed, first))
                });
            let (store, mut feed, first) = match opened {
                Ok(opened) => opened,
                Err(message) => {
                    let _ = first_tx.send(Err(message));
                    return;
                }
            };
            let (snapshot_tx, snapshot_rx) = watch::channel(first);
            let _ = first_tx.send(Ok(snapshot_rx));
            loop {
                let published = std::time::Instant::now();
                // A change or the tick: either way a fresh snapshot. An unreachable store
                // keeps the last snapshot on the board and is retried at the next tick.
                if let Err(e) = feed.wait(TICK) {
                    eprintln!("rustflow cc wallboard: change feed: {e}");
                    std::thread::sleep(TICK);
                }
                // Changes meanwhile stay in the feed for the next round.
                std::thread::sleep(MIN_INTERVAL.saturating_sub(published.elapsed()));
                match snapshot_json(&*store) {
                    Ok(json) => {
                        if snapshot_tx.send(json).is_err() {
                            return; // the server is gone
                        }
                    }
                    Err(e) => eprintln!("rustflow cc wallboard: {e}"),
                }
            }
        })
        .map_err(|e| format!("cannot start the store thread: {e}"))?;
    first_rx
        .recv()
        .map_err(|_| "the store thread ended before the first snapshot".to_string())?
}

#[derive(Clone)]
struct Board {
    snapshots: watch::Receiver<String>,
    token: Option<String>,
    /// The page with this board's settings in it.
    page: std::sync::Arc<str>,
}

impl Board {
    /// With a token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` (an EventSource
    /// cannot set headers).
    fn authorized(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let from_header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|given| given.as_bytes().to_vec());
        let from_query = uri.query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .map(query_value)
        });
        [from_header, from_query]
            .into_iter()
            .flatten()
            .any(|given| constant_time_eq(&given, token.as_bytes()))
    }
}

/// A query string's value as the page's `URLSearchParams` reads it: `%XX` escapes decoded,
/// `+` a space (so a token with `/`, `+` or `=` works once the page has encoded it).
fn query_value(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut value = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(byte), _) => {
                value.push(byte);
                i += 3;
            }
            (None, b'+') => {
                value.push(b' ');
                i += 1;
            }
            (None, other) => {
                value.push(other);
                i += 1;
            }
        }
    }
    value
}

/// Compares without stopping at the first difference (the time says nothing of the token).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "401: this wallboard needs its token (Authorization: Bearer TOKEN, or ?token=TOKEN)\n",
    )
        .into_response()
}

async fn page(State(board): State<Board>, headers: HeaderMap, uri: Uri) -> Response {
    if !board.authorized(&headers, &uri) {
        return unauthorized();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Belt and braces with textContent: no script but the page's own, nothing fetched
            // from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        board.page.to_string(),
    )
        .into_response()
}

async fn events(State(board): State<Board>, headers: HeaderMap, uri: Uri) -> Response {
    if !board.authorized(&headers, &uri) {
        return unauthorized();
    }
    let mut snapshots = board.snapshots.clone();
    // The current snapshot at connect, then each new one.
    snapshots.mark_changed();
    let stream = futures_util::stream::unfold(snapshots, |mut snapshots| async move {
        snapshots.changed().await.ok()?;
        let json = snapshots.borrow_and_update().clone();
        Some((
            Ok::<Event, std::convert::Infallible>(Event::default().event("snapshot").data(json)),
            snapshots,
        ))
    });
    Sse::new(stream).into_response()
}

fn serve(store_spec: &str, options: Options) -> Result<(), String> {
    // Opening a SQLite path creates the store; a board that only reads would then show an
    // empty centre for a mistyped path.
    if !rustflow_cc::store::postgres::is_url(store_spec)
        && !std::path::Path::new(store_spec).exists()
    {
        return Err(format!(
            "no contact-centre store at {store_spec} (the board only reads one: give the module's \
             `store` setting, or make it with `rustflow cc import`)"
        ));
    }
    let snapshots = start_snapshot_reader(store_spec)?;
    let board = Board {
        snapshots,
        token: options.token,
        page: PAGE_HTML
            .replace(
                "__SL_TARGET_PERCENT__",
                &options.sl_target_percent.to_string(),
            )
            .into(),
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .with_state(board);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|e| format!("--listen {}: {e}", options.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--listen {}: {e}", options.listen))?;
        // The bound address (port 0 picks a free one); tests and scripts read this line.
        println!("wallboard listening on http://{bound}/");
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("serving on {bound}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_default_to_loopback_and_parse_both_forms() {
        let defaults = parse_options(&[]).unwrap();
        assert_eq!(defaults.listen, "127.0.0.1:8089".parse().unwrap());
        assert_eq!(defaults.token, None);
        assert_eq!(defaults.sl_target_percent, 80);
        let given =
            parse_options(&words("--store x.sqlite --listen=0.0.0.0:9000 --token s3")).unwrap();
        assert_eq!(given.store.as_deref(), Some("x.sqlite"));
        assert_eq!(given.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(given.token.as_deref(), Some("s3"));
        assert!(
            parse_options(&words("--listen nowhere"))
                .unwrap_err()
                .contains("--listen")
        );
        assert!(
            parse_options(&words("--token"))
                .unwrap_err()
                .contains("needs a value")
        );
        assert_eq!(
            parse_options(&words("--sl-target 90"))
                .unwrap()
                .sl_target_percent,
            90
        );
        for bad in ["0", "101", "80%", "high"] {
            assert!(
                parse_options(&words(&format!("--sl-target {bad}")))
                    .unwrap_err()
                    .contains("expected a percentage from 1 to 100"),
                "{bad}"
            );
        }
        assert!(
            parse_options(&words("--colour red"))
                .unwrap_err()
                .contains("--colour")
        );
    }

    #[test]
    fn non_loopback_needs_a_token() {
        let anywhere: SocketAddr = "0.0.0.0:8089".parse().unwrap();
        let loopback6: SocketAddr = "[::1]:8089".parse().unwrap();
        assert!(
            refusal(&anywhere, None)
                .unwrap()
                .contains("without --token")
        );
        assert_eq!(refusal(&anywhere, Some("t")), None);
        assert_eq!(refusal(&loopback6, None), None);
    }

    #[test]
    fn token_from_header_or_query_only_when_equal() {
        let (_tx, rx) = watch::channel(String::new());
        let board = Board {
            snapshots: rx,
            token: Some("s3cret".to_string()),
            page: PAGE_HTML.into(),
        };
        let mut headers = HeaderMap::new();
        let plain: Uri = "/events".parse().unwrap();
        assert!(!board.authorized(&headers, &plain));
        assert!(board.authorized(&headers, &"/events?x=1&token=s3cret".parse().unwrap()));
        assert!(!board.authorized(&headers, &"/events?token=s3cre".parse().unwrap()));
        // As the page sends it: encodeURIComponent of the token.
        let odd = Board {
            token: Some("a/b+c=d e%".to_string()),
            ..board.clone()
        };
        assert!(odd.authorized(
            &headers,
            &"/events?token=a%2Fb%2Bc%3Dd%20e%25".parse().unwrap()
        ));
        assert!(!odd.authorized(
            &headers,
            &"/events?token=a%2Fb+c%3Dd%20e%25".parse().unwrap()
        ));
        headers.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(board.authorized(&headers, &plain));
        headers.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(!board.authorized(&headers, &plain));
    }
}
