//! The thread that `LISTEN`s on [`CHANNEL`] on its own connection and tells its owner what
//! happens: listening (again), a push, a lost connection. It reconnects with backoff
//! forever, and [`Listener::stop`] ends it within one poll, one connection attempt or one
//! ping (each bounded by the connection's timeouts).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::NoTls;
use postgres::fallible_iterator::FallibleIterator;

use crate::{CHANNEL, META_TABLE, connection_config, redact};

/// How often the thread looks at its stop signal while waiting for notifications.
const POLL: Duration = Duration::from_millis(200);
/// How often an idle connection is checked with a query (a server that vanished without
/// closing the connection is noticed then, within the connection's TCP timeout).
const PING_EVERY: Duration = Duration::from_secs(10);
/// Backoff between connection attempts: doubles from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// What the listener reports to its owner, on the listener's thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenEvent {
    /// `LISTEN` is in place. `again`: after a lost connection. `revision`: the table's
    /// revision right after `LISTEN` (None when it cannot be read, e.g. no table yet): a
    /// push made before — while the owner loaded, or while disconnected — was not heard, so
    /// the owner compares this with the revision it has.
    Listening { again: bool, revision: Option<i64> },
    /// One or more pushes were committed; `payload` is the latest one's (its revision).
    Notified { payload: String },
    /// The connection failed or dropped (the URL is shown without its password); the next
    /// attempt is in `retry_in`.
    Lost { error: String, retry_in: Duration },
}

/// A running listener; stopped and joined by [`Listener::stop`] or on drop.
pub struct Listener {
    url: String,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts the thread for `url`. `on_event` runs on it; a panic in it (or in the client)
    /// is caught, reported as [`ListenEvent::Lost`], and the thread reconnects.
    pub fn start(
        url: &str,
        on_event: impl FnMut(ListenEvent) + Send + 'static,
    ) -> std::io::Result<Listener> {
        let (stop, stopped) = mpsc::channel();
        let thread_url = url.to_string();
        let thread = std::thread::Builder::new()
            .name("rustflow-flows-listen".into())
            .spawn(move || run(&thread_url, &stopped, on_event))?;
        Ok(Listener {
            url: url.to_string(),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The URL it listens on.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Signals the thread and waits for it.
    pub fn stop(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        // Dropping the sender is the signal (the thread sees a disconnected channel).
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// How one connection ended.
enum Ended {
    Stopped,
    Lost { error: String, listened: bool },
}

fn stop_requested(stopped: &Receiver<()>) -> bool {
    !matches!(stopped.try_recv(), Err(TryRecvError::Empty))
}

fn run(url: &str, stopped: &Receiver<()>, mut on_event: impl FnMut(ListenEvent)) {
    let mut retry_in = FIRST_RETRY;
    let mut again = false;
    loop {
        if stop_requested(stopped) {
            return;
        }
        let ended = catch_unwind(AssertUnwindSafe(|| {
            listen_once(url, stopped, &mut on_event, again)
        }))
        .unwrap_or_else(|panic| Ended::Lost {
            error: format!("the listener panicked: {}", panic_text(panic.as_ref())),
            listened: false,
        });
        match ended {
            Ended::Stopped => return,
            Ended::Lost { error, listened } => {
                if listened {
                    retry_in = FIRST_RETRY;
                }
                let report = ListenEvent::Lost { error, retry_in };
                // A panicking owner must not end the thread either.
                let _ = catch_unwind(AssertUnwindSafe(|| on_event(report)));
            }
        }
        again = true;
        match stopped.recv_timeout(retry_in) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        retry_in = (retry_in * 2).min(LAST_RETRY);
    }
}

/// One connection: connect, LISTEN, report, then wait for notifications until the stop
/// signal or a failure.
fn listen_once(
    url: &str,
    stopped: &Receiver<()>,
    on_event: &mut impl FnMut(ListenEvent),
    again: bool,
) -> Ended {
    let lost = |what: &str, error: &dyn std::fmt::Display, listened: bool| Ended::Lost {
        error: format!("{}: {what}: {error}", redact(url)),
        listened,
    };
    let config = match connection_config(url) {
        Ok(config) => config,
        Err(error) => {
            return Ended::Lost {
                error: error.0,
                listened: false,
            };
        }
    };
    let mut client = match config.connect(NoTls) {
        Ok(client) => client,
        Err(e) => return lost("cannot connect", &e, false),
    };
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
        return lost("LISTEN", &e, false);
    }
    let revision = client
        .query_one(&format!("SELECT revision FROM {META_TABLE}"), &[])
        .ok()
        .map(|row| row.get(0));
    on_event(ListenEvent::Listening { again, revision });
    let mut last_ping = Instant::now();
    loop {
        if stop_requested(stopped) {
            return Ended::Stopped;
        }
        let mut latest = None;
        {
            let mut notifications = client.notifications();
            match notifications.timeout_iter(POLL).next() {
                Ok(Some(first)) => latest = Some(first.payload().to_string()),
                Ok(None) => {}
                Err(e) => return lost("connection lost", &e, true),
            }
            // Several pushes at once make one reload.
            if latest.is_some() {
                let mut pending = notifications.iter();
                loop {
                    match pending.next() {
                        Ok(Some(more)) => latest = Some(more.payload().to_string()),
                        Ok(None) => break,
                        Err(e) => return lost("connection lost", &e, true),
                    }
                }
            }
        }
        if client.is_closed() {
            return lost("connection lost", &"closed by the server", true);
        }
        if let Some(payload) = latest {
            on_event(ListenEvent::Notified { payload });
        } else if last_ping.elapsed() >= PING_EVERY {
            if let Err(e) = client.batch_execute("SELECT 1") {
                return lost("connection lost", &e, true);
            }
            last_ping = Instant::now();
        }
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FlowTable;
    use pgserver::PgServer;

    /// Waits for the next event, at most 30 s (a failure names what was awaited).
    fn next(events: &Receiver<ListenEvent>, awaited: &str) -> ListenEvent {
        events
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no event within 30 s; awaited {awaited}"))
    }

    /// The next event that is not `Lost` (attempts while the server is down report `Lost`).
    fn next_not_lost(events: &Receiver<ListenEvent>, awaited: &str) -> ListenEvent {
        loop {
            match next(events, awaited) {
                ListenEvent::Lost { .. } => continue,
                other => return other,
            }
        }
    }

    #[test]
    fn hears_pushes_reconnects_after_a_restart_and_stops_promptly() {
        let Some(mut server) =
            PgServer::start("hears_pushes_reconnects_after_a_restart_and_stops_promptly")
        else {
            return;
        };
        let url = server.database("flows");
        let mut table = FlowTable::connect(&url).unwrap();
        let (sender, events) = mpsc::channel();
        let listener = Listener::start(&url, move |event| {
            let _ = sender.send(event);
        })
        .unwrap();
        assert_eq!(
            next(&events, "listening"),
            ListenEvent::Listening {
                again: false,
                revision: Some(0)
            }
        );

        let push = |table: &mut FlowTable, body: &str| {
            table
                .push(&[("a".to_string(), body.to_string())], "t", |_| {
                    Ok::<(), ()>(())
                })
                .unwrap()
                .revision
        };
        let revision = push(&mut table, "[1]");
        assert_eq!(
            next(&events, "the push"),
            ListenEvent::Notified {
                payload: revision.to_string()
            }
        );

        server.restart();
        match next(&events, "the lost connection") {
            ListenEvent::Lost { error, .. } => {
                assert!(error.contains("connection lost"), "{error}");
            }
            other => panic!("expected Lost, got {other:?}"),
        }
        assert_eq!(
            next_not_lost(&events, "listening again"),
            ListenEvent::Listening {
                again: true,
                revision: Some(revision)
            }
        );
        let mut table = FlowTable::connect(&url).unwrap();
        let revision = push(&mut table, "[2]");
        assert_eq!(
            next_not_lost(&events, "the push after the restart"),
            ListenEvent::Notified {
                payload: revision.to_string()
            }
        );

        let started = Instant::now();
        listener.stop();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stop took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn every_node_hears_one_push() {
        let Some(server) = PgServer::start("every_node_hears_one_push") else {
            return;
        };
        let url = server.database("flows");
        let mut table = FlowTable::connect(&url).unwrap();
        let nodes: Vec<(Listener, Receiver<ListenEvent>)> = (0..2)
            .map(|_| {
                let (sender, events) = mpsc::channel();
                let listener = Listener::start(&url, move |event| {
                    let _ = sender.send(event);
                })
                .unwrap();
                assert!(matches!(
                    next(&events, "listening"),
                    ListenEvent::Listening { again: false, .. }
                ));
                (listener, events)
            })
            .collect();
        let written = table
            .push(&[("a".to_string(), "[1]".to_string())], "t", |_| {
                Ok::<(), ()>(())
            })
            .unwrap();
        for (listener, events) in nodes {
            assert_eq!(
                next(&events, "the push"),
                ListenEvent::Notified {
                    payload: written.revision.to_string()
                }
            );
            listener.stop();
        }
    }

    #[test]
    fn a_panicking_owner_does_not_end_the_thread() {
        let Some(server) = PgServer::start("a_panicking_owner_does_not_end_the_thread") else {
            return;
        };
        let url = server.database("flows");
        let (sender, events) = mpsc::channel();
        let mut first = true;
        let listener = Listener::start(&url, move |event| {
            let panic_now = first;
            first = false;
            let _ = sender.send(event);
            if panic_now {
                panic!("owner panics on purpose");
            }
        })
        .unwrap();
        assert_eq!(
            next(&events, "listening"),
            ListenEvent::Listening {
                again: false,
                revision: None
            },
            "no table yet"
        );
        match next(&events, "the caught panic") {
            ListenEvent::Lost { error, .. } => {
                assert!(error.contains("owner panics on purpose"), "{error}");
            }
            other => panic!("expected Lost, got {other:?}"),
        }
        assert_eq!(
            next(&events, "listening again"),
            ListenEvent::Listening {
                again: true,
                revision: None
            }
        );
        listener.stop();
    }
}
