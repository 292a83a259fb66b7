//! What a loaded module instance holds: the current flow set (an immutable snapshot swapped
//! atomically on reload; calls in flight keep the `Arc` they started with) and the counters
//! of `rustflow stats`. Created at load, dropped at shutdown, so `reload mod_rustflow` starts
//! from scratch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use rustflow_engine::FlowSet;

use crate::api::StatsView;
use crate::config::Config;

/// The configuration and the flows compiled with it, swapped together.
pub struct Snapshot {
    pub config: Config,
    pub flows: FlowSet,
    /// `httpRequest`'s TLS configuration when `http-ca-file` is set.
    pub http_tls: Option<Arc<rustls::ClientConfig>>,
    /// The flows table's revision these flows are, when they came from it.
    pub revision: Option<i64>,
}

#[derive(Default)]
pub struct Stats {
    calls_running: AtomicU64,
    calls_total: AtomicU64,
    steps_run: AtomicU64,
    errors: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    last_reload: Mutex<Option<(u64, bool)>>,
}

impl Stats {
    /// Counts a call as running until the returned token drops (also on panic).
    pub fn call_started(&self) -> RunningCall<'_> {
        self.calls_running.fetch_add(1, Ordering::Relaxed);
        self.calls_total.fetch_add(1, Ordering::Relaxed);
        RunningCall { stats: self }
    }

    pub fn add_steps(&self, steps: u64) {
        self.steps_run.fetch_add(steps, Ordering::Relaxed);
    }

    pub fn add_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reload_done(&self, ok: bool) {
        let counter = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        *self.last_reload.lock() = Some((now, ok));
    }

    pub fn view(&self, flows_loaded: usize) -> StatsView {
        StatsView {
            flows_loaded,
            calls_running: self.calls_running.load(Ordering::Relaxed),
            http_workers: crate::http::live_workers(),
            calls_total: self.calls_total.load(Ordering::Relaxed),
            steps_run: self.steps_run.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            reloads_ok: self.reloads_ok.load(Ordering::Relaxed),
            reloads_failed: self.reloads_failed.load(Ordering::Relaxed),
            last_reload: *self.last_reload.lock(),
        }
    }
}

/// A running call; dropping it (normally or while a panic unwinds) ends it in the counters.
pub struct RunningCall<'a> {
    stats: &'a Stats,
}

impl Drop for RunningCall<'_> {
    fn drop(&mut self) {
        self.stats.calls_running.fetch_sub(1, Ordering::Relaxed);
        if std::thread::panicking() {
            self.stats.add_error();
        }
    }
}

/// One loaded instance of the module.
pub struct Instance {
    current: RwLock<Arc<Snapshot>>,
    /// Serialises reloads (the swap itself is a pointer store under the write lock).
    pub reload_lock: Mutex<()>,
    pub stats: Stats,
    /// The thread that reloads on every push to the flows table (flows-source = a URL);
    /// emptied by `flows_listener::stop` before the instance goes.
    pub listener: Mutex<Option<rustflow_flowstore::Listener>>,
}

impl Instance {
    pub fn new(snapshot: Snapshot) -> Instance {
        Instance {
            current: RwLock::new(Arc::new(snapshot)),
            reload_lock: Mutex::new(()),
            stats: Stats::default(),
            listener: Mutex::new(None),
        }
    }

    /// The snapshot new calls start with.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.read().clone()
    }

    /// Makes `snapshot` the one new calls start with; calls in flight keep theirs.
    pub fn replace(&self, snapshot: Snapshot) {
        let old = std::mem::replace(&mut *self.current.write(), Arc::new(snapshot));
        // The old set is freed outside the lock, by whoever drops the last Arc.
        drop(old);
    }
}

/// The loaded instance; `None` before load and after shutdown.
static INSTANCE: RwLock<Option<Arc<Instance>>> = RwLock::new(None);

pub fn instance() -> Option<Arc<Instance>> {
    INSTANCE.read().clone()
}

pub fn install(instance: Instance) {
    *INSTANCE.write() = Some(Arc::new(instance));
}

pub fn remove() -> Option<Arc<Instance>> {
    INSTANCE.write().take()
}
