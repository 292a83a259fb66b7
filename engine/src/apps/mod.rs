//! The application registry: every application the engine knows, one family per file.
//!
//! Each family file holds, for each of its applications, everything about it: the registry
//! entry ([`App`]: name, one-line summary, channel variables it sets, nested blocks, JSON
//! Schema of its argument, graph label), the compile step (a `Compiler` method reading the
//! argument object into the family's compiled `Step`), and the run step (a `Machine` method
//! that expands the step's templates and calls the [`Host`](crate::Host)). The supported
//! and not-yet-supported lists, the JSON Schema (`crate::schema`), the graph labels
//! (`crate::graph`) and the docs cross-check (`cli/tests/docs.rs`) all read this registry.
//!
//! | family | file | applications |
//! |---|---|---|
//! | control | `control.rs` | `if`, `switch`, `while`, `goto`, `break`, `execute`, `schema`, `function`, `trigger` |
//! | call | `call.rs` | call control: `answer`, `hangup`, `bridge`, `park`, `sipRedirect`, ... |
//! | media | `media.rs` | `playback`, `tts`, recordings, DTMF, `echo`, `sleep`, ... |
//! | data | `data.rs` | variables, `log`, `js`, `math`, `string`, `httpRequest`, `generateLink`, ... |
//! | contact centre | `contact_centre.rs` (+ `contact_centre/members.rs`) | `joinQueue`, `joinAgent`, `cancelQueue`, queue statistics, `lastBridged`; members (`callbackQueue`, `memberInfo`, `patchMembers`), attempt-flow answers (`confirm`, `cancel`, `success`, `abandoned`, `retry`), `attemptResult` |
//!
//! **Adding an application to a family**: in its family file, add a variant to `Step`
//! (call and media steps count as media steps unless `Step::uses_media` excepts them), its
//! compile method, its arm in the family's `run`, and an [`App`] entry in `APPS`; then a
//! section under the family's heading in `docs/apps.md` (a test checks it). Media and
//! call-control applications usually need a new [`Host`](crate::Host) method too: a
//! default that fails with "... is not available on this host", the simulator's
//! (`sim.rs`) and the module's (`src/host.rs`).
//!
//! **Adding a family** (as the contact centre did): a file here with its `Step`, `APPS` and
//! `run`, one line in [`FAMILIES`], one `Code` variant (`program.rs`) and one arm in the
//! interpreter's `dispatch` (`interp.rs`).
//!
//! Dispatch stays a `match` on the compiled `Code` (two levels for family steps): no
//! trait objects and no per-step allocation. The registry is only consulted at load.

pub(crate) mod call;
pub(crate) mod contact_centre;
pub(crate) mod control;
pub(crate) mod data;
pub(crate) mod media;

use serde_json::Value;

use crate::compile::{AppCx, Compiler};
use crate::program::Code;

/// A family of applications (one file each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Control,
    Call,
    Media,
    Data,
    ContactCentre,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Control => "control",
            Family::Call => "call",
            Family::Media => "media",
            Family::Data => "data",
            Family::ContactCentre => "contact centre",
        }
    }
    /// The heading of the family in `docs/apps.md`.
    pub fn title(self) -> &'static str {
        match self {
            Family::Control => "Control flow",
            Family::Call => "Call control",
            Family::Media => "Media",
            Family::Data => "Data and scripts",
            Family::ContactCentre => "Contact centre",
        }
    }
}

/// Where a step is being compiled: its flow object (unit) and the index it takes there.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub unit: usize,
    pub index: usize,
}

/// Compiles one application object into its step (`None`: errors were reported, or the
/// step is filled in later, as `execute` is once every function is known).
pub(crate) type StepFn = for<'a> fn(&mut Compiler<'a>, &AppCx<'a>, At) -> Option<Code>;

/// Reads a definition (`function`, `trigger`): not a step of the sequence it sits in.
pub(crate) type DefineFn = for<'a> fn(&mut Compiler<'a>, &AppCx<'a>);

#[derive(Clone, Copy)]
pub(crate) enum Compile {
    Step(StepFn),
    Definition(DefineFn),
    /// A Webitel application the engine knows of but does not run yet.
    NotYet,
}

/// One application: what the compiler, the schema, the graph and the docs know of it.
pub struct App {
    pub name: &'static str,
    pub family: Family,
    /// One line: the schema's description, and what `docs/apps.md` expands on.
    pub summary: &'static str,
    /// Channel variables the application sets under fixed names (the docs must name them).
    pub outputs: &'static [&'static str],
    /// Where it keeps nested application arrays: `*` = every member, `[]` = every element.
    pub nested: &'static [&'static str],
    pub(crate) compile: Compile,
    /// The JSON Schema of its argument (without the summary).
    arguments: fn() -> Value,
    /// A short summary of its argument for a graph node; `None`: the generic one.
    label: Option<fn(&Value) -> String>,
}

impl App {
    pub(crate) const fn step(
        family: Family,
        name: &'static str,
        summary: &'static str,
        compile: StepFn,
        arguments: fn() -> Value,
    ) -> App {
        App {
            name,
            family,
            summary,
            outputs: &[],
            nested: &[],
            compile: Compile::Step(compile),
            arguments,
            label: None,
        }
    }

    pub(crate) const fn definition(
        family: Family,
        name: &'static str,
        summary: &'static str,
        define: DefineFn,
        arguments: fn() -> Value,
    ) -> App {
        App {
            compile: Compile::Definition(define),
            ..App::step(family, name, summary, |_, _, _| None, arguments)
        }
    }

    /// A Webitel application the engine does not run yet.
    pub(crate) const fn not_yet(family: Family, name: &'static str) -> App {
        App {
            compile: Compile::NotYet,
            ..App::step(family, name, "", |_, _, _| None, Value::default)
        }
    }

    pub(crate) const fn outputs(self, outputs: &'static [&'static str]) -> App {
        App { outputs, ..self }
    }

    pub(crate) const fn nested(self, nested: &'static [&'static str]) -> App {
        App { nested, ..self }
    }

    pub(crate) const fn label(self, label: fn(&Value) -> String) -> App {
        App {
            label: Some(label),
            ..self
        }
    }

    /// Whether the engine runs it.
    pub fn is_supported(&self) -> bool {
        !matches!(self.compile, Compile::NotYet)
    }

    /// The JSON Schema of its argument (`{}` when the registry has none).
    pub fn arguments_schema(&self) -> Value {
        match (self.arguments)() {
            Value::Null => Value::Object(serde_json::Map::new()),
            schema => schema,
        }
    }

    /// Its own summary of an argument for a graph node, if it has one.
    pub fn graph_label(&self, argument: &Value) -> Option<String> {
        self.label.map(|label| label(argument))
    }
}

/// Every family, in the order the docs present them.
const FAMILIES: &[&[App]] = &[
    control::APPS,
    call::APPS,
    media::APPS,
    data::APPS,
    contact_centre::APPS,
    #[cfg(feature = "test-hooks")]
    control::TEST_HOOKS,
];

/// Every application the registry knows, family by family.
pub fn all() -> impl Iterator<Item = &'static App> {
    FAMILIES.iter().flat_map(|family| family.iter())
}

/// The registry entry of an application (names are case-sensitive).
///
/// A scan, not a map: it runs at load only, and a heap-allocated static would outlive the
/// module's code after `unload mod_rustflow` (a leak per reload).
pub fn find(name: &str) -> Option<&'static App> {
    all().find(|app| app.name == name)
}

/// Names of the applications the engine runs (without test hooks), sorted.
pub(crate) fn supported_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all()
        .filter(|app| app.is_supported() && !app.name.starts_with('_'))
        .map(|app| app.name)
        .collect();
    names.sort_unstable();
    names
}

/// Names of the applications known but not run yet, sorted.
pub(crate) fn not_yet_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all()
        .filter(|app| !app.is_supported())
        .map(|app| app.name)
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_not_reserved_keys() {
        let names: Vec<&str> = all().map(|app| app.name).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(!names[i + 1..].contains(name), "{name} is registered twice");
            if *name != "break" {
                assert!(
                    !crate::RESERVED_KEYS.contains(name),
                    "{name} is a reserved key"
                );
            }
        }
    }

    #[test]
    fn every_supported_application_has_a_summary_and_a_schema() {
        for app in all().filter(|app| app.is_supported()) {
            assert!(!app.summary.is_empty(), "{}: add its summary", app.name);
            assert!(
                app.arguments_schema().is_object(),
                "{}: its argument schema is not an object",
                app.name
            );
        }
    }
}
