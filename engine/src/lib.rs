//! The mod_rustflow flow engine: parses, validates, compiles and runs Webitel call-flow
//! schemas. Pure Rust: no FreeSWITCH, no FFI. Everything that touches a call goes through
//! the [`Host`] trait.
#![forbid(unsafe_code)]

pub mod host;

pub use host::*;
