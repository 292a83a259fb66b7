//! flows-source = a postgres:// URL: the thread that reloads the flows on every
//! `rustflow flow push` (a `NOTIFY` on the flows table's channel), through the same reload
//! as `rustflow reload`, keeping the configuration the module runs with. Started at load,
//! replaced when `rustflow reload` changes the source, stopped and joined at unload.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rustflow_flowstore::{ListenEvent, Listener, redact};

use crate::config::FlowsSource;
use crate::loader;
use crate::state::{self, Instance};
use crate::switch::log::{self, Level};

/// Makes the instance's listener match `source`: none for a directory, one on the URL for
/// a table (the running one is kept when the URL is the same).
pub fn follow(instance: &Instance, source: &FlowsSource) {
    let wanted = match source {
        FlowsSource::Dir => None,
        FlowsSource::Postgres(url) => Some(url.as_str()),
    };
    let mut slot = instance.listener.lock();
    if slot.as_ref().map(Listener::url) == wanted {
        return;
    }
    if let Some(old) = slot.take() {
        let url = redact(old.url());
        old.stop();
        log::global(
            Level::Info,
            &format!("rustflow: stopped listening for flow pushes on {url}"),
        );
    }
    let Some(url) = wanted else {
        return;
    };
    let shown = redact(url);
    let on_event = move |event: ListenEvent| {
        // Nothing may unwind out of the thread's work; the flowstore loop catches too, but
        // this keeps the message ours.
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| on_event(&shown, event))) {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::global(
                Level::Error,
                &format!("rustflow: the flows listener caught a panic: {what}"),
            );
        }
    };
    match Listener::start(url, on_event) {
        Ok(listener) => *slot = Some(listener),
        Err(error) => log::global(
            Level::Error,
            &format!(
                "rustflow: cannot start the thread listening for flow pushes on {}: {error}; pushes need `rustflow reload`",
                redact(url)
            ),
        ),
    }
}

/// Stops and joins the listener (at unload: bounded by the connection's timeouts).
pub fn stop(instance: &Instance) {
    let listener = instance.listener.lock().take();
    if let Some(listener) = listener {
        listener.stop();
    }
}

fn on_event(url: &str, event: ListenEvent) {
    match event {
        ListenEvent::Listening { again, revision } => {
            let what = if again { "again" } else { "from now on" };
            log::global(
                Level::Info,
                &format!("rustflow: listening for flow pushes on {url} {what}"),
            );
            // A push before LISTEN (during load, or while disconnected) was not heard.
            reload(revision);
        }
        ListenEvent::Notified { payload } => reload(payload.parse().ok()),
        ListenEvent::Lost { error, retry_in } => log::global(
            Level::Warning,
            &format!(
                "rustflow: flows listener: {error}; retrying in {} ms (the flows loaded keep serving)",
                retry_in.as_millis()
            ),
        ),
    }
}

/// Reloads with the configuration of the current snapshot, unless it already holds
/// `revision` (loaded at load, or a `rustflow reload` got there first). Without a
/// revision (the table could not be read), it reloads.
fn reload(revision: Option<i64>) {
    let Some(instance) = state::instance() else {
        return; // unloading
    };
    let current = instance.current();
    if let (Some(pushed), Some(loaded)) = (revision, current.revision)
        && loaded >= pushed
    {
        return;
    }
    let config = current.config.clone();
    drop(current);
    // Success and failure are logged by the reload itself.
    let _ = loader::reload(&instance, config);
}
