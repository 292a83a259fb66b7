//! The contact centre in the module: the store named by `store`, opened at load, and the
//! `rustflow cc …` API command (fs_cli) on it — the same command language as the offline
//! tool's `rustflow cc` (`rustflow_cc::command`). The queue applications do not run in the
//! module yet (flows using them are refused at load).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rustflow_cc::command::execute_line;
use rustflow_cc::store::sqlite::SqliteStore;

use crate::config::Config;
use crate::switch::log::{self, Level};

/// The store, or why it could not be opened (kept for `rustflow cc` to report).
type Opened = Arc<Result<SqliteStore, String>>;

static STORE: Mutex<Option<Opened>> = Mutex::new(None);

/// Opens the store at load. A store that cannot be opened is one ERROR line naming it;
/// flows keep working and `rustflow cc` answers with the same message.
pub fn open(config: &Config) {
    let result = if config.store.is_empty() {
        Err(
            "no contact-centre store: FreeSWITCH gave no db_dir; set `store` in mod_rustflow.conf"
                .to_string(),
        )
    } else if config.store.contains("://") {
        Err("contact-centre store: only a SQLite file path is supported yet (PostgreSQL comes with a later release)".to_string())
    } else {
        SqliteStore::open(&config.store).map_err(|e| e.to_string())
    };
    match &result {
        Ok(_) => log::global(
            Level::Notice,
            &format!("rustflow: contact-centre store {}", config.store),
        ),
        Err(e) => log::global(
            Level::Error,
            &format!("rustflow: {e}; flows keep working, `rustflow cc` is unavailable"),
        ),
    }
    *STORE.lock() = Some(Arc::new(result));
}

/// Closes the store at unload.
pub fn close() {
    *STORE.lock() = None;
}

/// Answers `rustflow cc WORDS`: the command's text, or `-ERR` and the reason.
pub fn command(line: &str) -> String {
    let Some(opened) = STORE.lock().clone() else {
        return "-ERR mod_rustflow is not loaded\n".to_string();
    };
    let store = match opened.as_ref() {
        Ok(store) => store,
        Err(e) => return format!("-ERR {e}\n"),
    };
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    match execute_line(store, line, now_ms) {
        Ok(text) => text,
        Err(e) => format!("-ERR {}\n", e.to_string().trim_end()),
    }
}
