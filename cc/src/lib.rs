//! The contact-centre core: everything the queue applications need that is not a call.
//!
//! No FFI and no clock of its own: every function that depends on time takes `now` (Unix
//! milliseconds), so the module, the simulator and the tests drive it on a real or virtual
//! clock alike.
//!
//! - [`model`] and [`calendar`]: what an operator provisions, validated field by field;
//! - [`order`]: the one ordering of waiting callers;
//! - [`strategy`] and [`distributor`]: who gets which caller;
//! - [`store`]: the state, behind the [`store::Store`] trait (SQLite embedded);
//! - [`metrics`], [`ewt`] and [`erlang`]: service level, waits, the estimated wait time and
//!   the Erlang C forecast;
//! - [`command`]: the `cc` command language of fs_cli and the offline tool;
//! - [`des`]: the capacity-planning simulation behind `rustflow cc simulate`;
//! - `engine_host` (feature `engine`): the queue applications' requests as store calls, for
//!   every host of the engine.
#![forbid(unsafe_code)]

pub mod calendar;
pub mod campaign;
pub mod command;
pub mod des;
pub mod dialer;
pub mod distributor;
#[cfg(feature = "engine")]
pub mod engine_host;
pub mod erlang;
pub mod ewt;
pub mod metrics;
pub mod model;
pub mod order;
pub mod service;
pub mod store;
pub mod strategy;
