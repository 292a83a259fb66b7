//! The fake core reads dial strings with the shared model in tests/dialparse.

pub use dialparse::{DialString, Leg, parse};
