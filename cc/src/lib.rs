//! The contact-centre core: everything the queue applications need that is not a call.
//!
//! No FFI and no clock of its own: every function that depends on time takes `now` (Unix
//! milliseconds), so the module, the simulator and the tests drive it on a real or virtual
//! clock alike.
#![forbid(unsafe_code)]

pub mod des;
pub mod erlang;
pub mod ewt;
pub mod metrics;
