//! The contact centre in the module: the store named by `store`, opened at load; the node's
//! dispatcher thread ([`hub`]); the queue applications' caller side ([`call`]) and agent
//! side ([`ring`]); the `rustflow::cc` events; and the `rustflow cc …` API command (fs_cli),
//! the same command language as the offline tool's (`rustflow_cc::command`).

pub mod call;
pub mod events;
pub mod hub;
pub mod outbound;
pub mod ring;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use rustflow_cc::command::execute_line;
use rustflow_cc::store::Store;

use crate::config::Config;
use crate::switch::globals;
use crate::switch::log::{self, Level};
use hub::{Centre, now_ms};

/// The centre, or why it could not be opened (kept for `rustflow cc` and joins to report).
type Opened = Arc<Result<Arc<Centre>, String>>;

static CENTRE: Mutex<Option<Opened>> = Mutex::new(None);
static DISPATCHER: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);
static FEED: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// How long the change-feed thread waits before it looks at the stop flag again.
const FEED_WAIT: Duration = Duration::from_millis(500);

/// How long unload waits for agents still being rung.
const UNLOAD_PATIENCE: Duration = Duration::from_secs(5);

/// This node's name in the store: FreeSWITCH's `switchname` (switch.conf), else its host name.
/// The core's answer, not a global variable: switch.conf's `switchname` sets none, and two
/// instances on one machine share the `hostname` variable.
fn node_name() -> String {
    globals::switchname()
        .filter(|v| !v.is_empty())
        .or_else(|| globals::get("hostname").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "freeswitch".to_string())
}

/// Opens the store at load and starts the dispatcher. A store that cannot be opened is one
/// ERROR line naming it; flows keep working, and `rustflow cc` and the queue applications
/// answer with the same message.
pub fn open(config: &Config) {
    let result = if config.store.is_empty() {
        Err(
            "no contact-centre store: FreeSWITCH gave no db_dir; set `store` in mod_rustflow.conf"
                .to_string(),
        )
    } else {
        // A postgres:// URL is the store several nodes share; anything else a SQLite file.
        rustflow_cc::store::open(&config.store).map_err(|e| e.to_string())
    };
    let result = result.map(|store| Arc::new(Centre::new(store, node_name())));
    match &result {
        Ok(centre) => {
            log::global(
                Level::Notice,
                &format!(
                    "rustflow: contact-centre store {} (node {})",
                    centre.store.describe(),
                    centre.node
                ),
            );
            // Callers of this node still open in the store are from a run that ended: their
            // calls are gone, and their agents must not stay reserved.
            match centre.store.close_node(&centre.node, "error", now_ms()) {
                Ok(0) => {}
                Ok(n) => log::global(
                    Level::Warning,
                    &format!("rustflow: closed {n} queue attempts left open by the previous run"),
                ),
                Err(e) => log::global(
                    Level::Error,
                    &format!("rustflow: cannot close the previous run's queue attempts: {e}"),
                ),
            }
            crate::switch::session::set_hangup_notify(agent_hung_up);
            start_dispatcher(centre.clone());
            start_feed(centre.clone());
        }
        Err(e) => log::global(
            Level::Error,
            &format!("rustflow: {e}; flows keep working, `rustflow cc` is unavailable"),
        ),
    }
    *CENTRE.lock() = Some(Arc::new(result));
}

fn start_dispatcher(centre: Arc<Centre>) {
    let spawned = std::thread::Builder::new()
        .name("rustflow-cc".to_string())
        .spawn(move || {
            // A panic here must not take FreeSWITCH down: the queue stops, loudly.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| centre.run()));
            if run.is_err() {
                log::global(
                    Level::Critical,
                    "rustflow: the contact-centre dispatcher panicked and stopped; reload the module",
                );
            }
        });
    match spawned {
        Ok(handle) => *DISPATCHER.lock() = Some(handle),
        Err(e) => log::global(
            Level::Error,
            &format!("rustflow: cannot start the contact-centre dispatcher: {e}"),
        ),
    }
}

/// Wakes the dispatcher when another node or process changed the store (PostgreSQL:
/// LISTEN/NOTIFY; SQLite: the file's data version), so a caller joining on another node or
/// an agent freed there is matched at once, not at the next safety tick.
fn start_feed(centre: Arc<Centre>) {
    let mut feed = match centre.store.change_feed() {
        Ok(feed) => feed,
        Err(e) => {
            log::global(
                Level::Error,
                &format!(
                    "rustflow: no change feed from the contact-centre store ({e}); changes made elsewhere are seen within 2 s"
                ),
            );
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("rustflow-cc-feed".to_string())
        .spawn(move || {
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut failing = false;
                while !centre.stopping() {
                    match feed.wait(FEED_WAIT) {
                        Ok(changed) => {
                            if failing {
                                log::global(
                                    Level::Notice,
                                    "rustflow: the contact-centre change feed is back",
                                );
                                failing = false;
                            }
                            if changed {
                                centre.poke();
                            }
                        }
                        Err(e) => {
                            if !failing {
                                log::global(
                                    Level::Warning,
                                    &format!("rustflow: contact-centre change feed: {e}"),
                                );
                                failing = true;
                            }
                            std::thread::sleep(FEED_WAIT);
                        }
                    }
                }
            }));
            if run.is_err() {
                log::global(
                    Level::Critical,
                    "rustflow: the contact-centre change feed panicked and stopped; changes made elsewhere are seen within 2 s",
                );
            }
        });
    match spawned {
        Ok(handle) => *FEED.lock() = Some(handle),
        Err(e) => log::global(
            Level::Error,
            &format!("rustflow: cannot start the contact-centre change feed: {e}"),
        ),
    }
}

/// Stops the dispatcher and closes the store at unload.
pub fn close() {
    let opened = CENTRE.lock().take();
    if let Some(opened) = opened
        && let Ok(centre) = opened.as_ref()
    {
        let ringing = centre.stop(UNLOAD_PATIENCE);
        if ringing > 0 {
            log::global(
                Level::Warning,
                &format!("rustflow: unloading while {ringing} agent or member calls still ring"),
            );
        }
    }
    for thread in [&DISPATCHER, &FEED] {
        if let Some(handle) = thread.lock().take() {
            let _ = handle.join();
        }
    }
}

/// The open centre, or why there is none.
pub fn centre() -> Result<Arc<Centre>, String> {
    let Some(opened) = CENTRE.lock().clone() else {
        return Err("mod_rustflow is not loaded".to_string());
    };
    match opened.as_ref() {
        Ok(centre) => Ok(centre.clone()),
        Err(e) => Err(e.clone()),
    }
}

/// A watched agent leg hung up (FreeSWITCH's thread, keep it short).
fn agent_hung_up(uuid: &str) {
    if let Ok(centre) = centre() {
        centre.agent_hung_up(uuid);
    }
}

/// Answers `rustflow cc WORDS`: the command's text, or `-ERR` and the reason.
pub fn command(line: &str) -> String {
    let centre = match centre() {
        Ok(centre) => centre,
        Err(e) => return format!("-ERR {e}\n"),
    };
    match execute_line(&centre.store, line, now_ms()) {
        Ok(text) => {
            // Provisioning and status changes can free agents or end waits: dispatch now.
            centre.poke();
            command_event(&centre, line);
            text
        }
        Err(e) => format!("-ERR {}\n", e.to_string().trim_end()),
    }
}

/// The event of a command that succeeded: `agent status ID STATUS [REASON]` →
/// `agent-status`; `attempt-result ATTEMPT STATUS …` → `attempt-result` (the member as the
/// store keeps it: asking again for the attempt's outcome changes nothing and returns it).
fn command_event(centre: &Centre, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["agent", "status", id, status, reason @ ..] => {
            let reason = reason.join(" ");
            events::fire(
                &centre.node,
                "agent-status",
                &[
                    ("CC-Agent-ID", id),
                    ("CC-Agent-Status", status),
                    ("CC-Agent-Status-Reason", &reason),
                ],
            );
        }
        ["attempt-result", attempt, status, ..] => {
            let Ok(attempt) = attempt.parse::<i64>() else {
                return;
            };
            let written = rustflow_cc::store::AttemptOutcome::result(*status);
            if let Ok(after) = centre.store.finish_outbound(attempt, &written, now_ms()) {
                outbound::fire_outcome(&centre.node, &after, None);
            }
        }
        _ => {}
    }
}
