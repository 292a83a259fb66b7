//! The mod_rustflow flow engine: parses, validates, compiles and runs Webitel call-flow
//! schemas. Pure Rust: no FreeSWITCH, no FFI. Everything that touches a call goes through
//! the [`Host`] trait.
//!
//! Pipeline: [`json`] (a parser that keeps byte offsets, so every diagnostic names
//! file, JSON pointer and line:column) → `compile` (validation as docs/semantics.md says, collecting every
//! problem; blocks flattened into jump-resolved instruction lists, tags resolved to
//! indices, templates pre-split by [`template`], expressions and `js` bodies compiled
//! once by [`expr`]/[`js`]) → [`Flow`] (immutable, shared by all calls) → [`run`] (the
//! interpreter: budgets, error semantics of docs/semantics.md, forks, `trigger.disconnected`).
//! Applications live in [`apps`], one file per family, behind one registry that the
//! compiler, the interpreter, the JSON Schema, the graph and the docs check all read.
//! [`sim`] is a call simulator with a virtual clock for tests and `rustflow run`.
//!
//! `execute`/`schema` with `async: true`: this engine never runs flow code in parallel on a
//! session thread. An async function is validated at load to contain no media step
//! (media would race the caller's), and runs on the caller right after the step that
//! started it, with a DEBUG line saying so; its `break` does not stop the caller.
#![forbid(unsafe_code)]

pub mod apps;
pub mod apps_outputs;
pub mod causes;
mod compile;
pub mod expr;
pub mod flow;
pub mod graph;
pub mod host;
mod interp;
pub mod js;
pub mod json;
pub mod lint;
mod program;
pub mod schema;
pub mod sim;
pub mod template;

/// The call properties `lastBridged` can set (plus `variables.KEY`).
pub use apps::contact_centre::BRIDGED_PROPERTIES as LAST_BRIDGED_PROPERTIES;
/// The member properties `memberInfo` can set (plus `variables.KEY`).
pub use apps::contact_centre::MEMBER_PROPERTIES;
pub use causes::hangup_cause;
pub use compile::{
    NOT_YET_SUPPORTED_APPS, RESERVED_KEYS, SUPPORTED_APPS, application_names, compile_source,
};
pub use flow::{
    CompileOptions, Diagnostic, Flow, FlowSet, FlowSource, FlowSummary, SkippedApp, UnknownApps,
    compile_file, content_version, is_valid_flow_id, read_dir_sources, read_source,
};
pub use host::*;
pub use interp::{Limits, RunOutcome, run, run_with};
pub use lint::{Severity, Warning};
