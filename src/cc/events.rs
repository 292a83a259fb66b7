//! CUSTOM `rustflow::cc` events: what happens to callers and agents, for wallboards and
//! monitoring on the event socket. Every event has `CC-Action` and `CC-Node`; the other
//! headers depend on the action (docs/contact-centre.md, "Events", lists them).

use std::ffi::CStr;

use crate::switch::event::Event;
use crate::switch::log::{self, Level};

/// The event subclass (reserved at load, freed at unload).
pub const SUBCLASS: &CStr = c"rustflow::cc";

/// Fires one event; a failure is logged, never fatal (the call goes on).
pub fn fire(node: &str, action: &str, headers: &[(&str, &str)]) {
    let result = (|| -> Result<(), String> {
        let mut event = Event::custom(SUBCLASS).map_err(|s| s.to_string())?;
        event.add("CC-Action", action).map_err(|e| e.to_string())?;
        event.add("CC-Node", node).map_err(|e| e.to_string())?;
        for (name, value) in headers {
            event.add(name, value).map_err(|e| e.to_string())?;
        }
        event.fire().map_err(|s| s.to_string())
    })();
    if let Err(e) = result {
        log::global(
            Level::Warning,
            &format!("rustflow: cannot fire the rustflow::cc {action} event: {e}"),
        );
    }
}
