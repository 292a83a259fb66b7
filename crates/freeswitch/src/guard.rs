//! The one panic guard used at every `extern "C"` edge.
//!
//! A Rust panic must never unwind into FreeSWITCH (since Rust 1.81 it aborts the whole PBX).
//! [`catch`] runs the edge's body under `catch_unwind`; a panic hook installed at load
//! records where the panic happened so the edge can log it through FreeSWITCH. The hook is
//! removed at shutdown, because the module's code disappears with `unload`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};

use parking_lot::Mutex;

type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// The hook that was in place before ours, restored at shutdown.
static PREVIOUS_HOOK: Mutex<Option<Hook>> = Mutex::new(None);

thread_local! {
    /// How many guards are active on this thread (edges can nest: app → API is possible).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Message and location of the last panic caught on this thread.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the location-recording panic hook (at module load).
pub fn install_panic_hook() {
    let mut previous = PREVIOUS_HOOK.lock();
    if previous.is_some() {
        return;
    }
    *previous = Some(panic::take_hook());
    panic::set_hook(Box::new(|info| {
        if DEPTH.with(Cell::get) > 0 {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_else(|| "unknown location".to_string());
            let text = format!("{} at {location}", payload_text(info.payload()));
            LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(text));
        } else if let Some(previous) = PREVIOUS_HOOK.lock().as_ref() {
            previous(info);
        }
    }));
}

/// Puts the previous panic hook back (at module shutdown).
pub fn remove_panic_hook() {
    if let Some(previous) = PREVIOUS_HOOK.lock().take() {
        drop(panic::take_hook());
        panic::set_hook(previous);
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// A caught panic: message and location (`file:line:column`) when the hook saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs `body`, turning a panic into `Err` with its message and location. Every `extern "C"`
/// function of the module calls this around its whole body.
pub fn catch<R>(body: impl FnOnce() -> R) -> Result<R, Panicked> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(body));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|payload| {
        let recorded = LAST_PANIC.with(|slot| slot.borrow_mut().take());
        Panicked(recorded.unwrap_or_else(|| payload_text(payload.as_ref())))
    })
}

/// The whole body of an `extern "C"` function: `None` when it panicked. The panic is logged
/// (`what` says which edge, e.g. "an API command") if logging itself does not panic; the
/// caller returns its failure status. Bodies catch the panics they can answer better (hang
/// up the call, write `-ERR`) themselves; this is the last line.
pub fn edge<R>(what: &str, body: impl FnOnce() -> R) -> Option<R> {
    match catch(body) {
        Ok(value) => Some(value),
        Err(panic) => {
            let _ = catch(|| {
                super::log::global(
                    super::log::Level::Critical,
                    &format!(
                        "{}: panic at the edge of {what}: {panic}",
                        super::module::name().to_string_lossy()
                    ),
                );
            });
            None
        }
    }
}
