//! Raw bindings to the part of the FreeSWITCH C API mod_rustflow uses, followed by the
//! generated ABI layout check (`const` assertions: a mismatch fails the build).
//!
//! Where they come from (build.rs): the real headers when `FREESWITCH_INCLUDE_DIR` or
//! `pkg-config freeswitch` finds them (bindgen, needs libclang); otherwise the committed
//! bindings of the project's own `include/rustflow_abi.h` in `src/rustflow_abi.rs` (no
//! libclang needed). Only the `freeswitch` crate and the tests (fake core, harness) use it.
#![allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
include!(concat!(env!("OUT_DIR"), "/abi_check.rs"));

/// Which headers these bindings come from, e.g. `FREESWITCH_INCLUDE_DIR=/usr/include/freeswitch`
/// or `bundled include/rustflow_abi.h (no FreeSWITCH headers found)`.
pub const HEADERS: &str = env!("FREESWITCH_SYS_HEADERS");
