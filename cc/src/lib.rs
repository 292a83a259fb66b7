//! The contact-centre core: everything the queue applications need that is not a call.
//!
//! No FFI and no clock of its own: every function that depends on time takes `now` (Unix
//! milliseconds), so the module, the simulator and the tests drive it on a real or virtual
//! clock alike.
//!
//! - [`model`] and [`calendar`]: what an operator provisions, validated field by field;
//! - [`order`]: the one ordering of waiting callers;
//! - [`strategy`] and [`distributor`]: who gets which caller;
//! - [`store`]: the state, behind the [`store::Store`] trait (SQLite embedded).
#![forbid(unsafe_code)]

pub mod calendar;
pub mod distributor;
pub mod model;
pub mod order;
pub mod store;
pub mod strategy;
