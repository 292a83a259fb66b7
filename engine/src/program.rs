//! The executable form of a flow: flat instruction lists with resolved jumps.
//!
//! Every flow object (main sequence, function body, `trigger.disconnected`) is one
//! [`Unit`]. Nested blocks are laid out inline with jumps, so a `goto` into another
//! `switch` branch, out of a `while` or into a nested block is a plain jump to an index.

use crate::template::Template;

#[derive(Debug)]
pub(crate) struct Unit {
    /// `main`, `function NAME`, `trigger.disconnected`.
    pub name: String,
    pub ops: Vec<Op>,
    /// Number of counter slots (`limit` passes, `while` passes) this unit uses.
    pub counters: usize,
}

/// One instruction.
#[derive(Debug)]
pub(crate) struct Op {
    /// JSON pointer of the application object.
    pub pointer: Box<str>,
    /// Application name as written (`""` for internal jumps).
    pub app: Box<str>,
    pub code: Code,
    /// `break: true`: stop the flow object after this step.
    pub stop_after: bool,
    pub limit: Option<Limit>,
}

#[derive(Debug)]
pub(crate) struct Limit {
    pub max: u64,
    /// Op index of the failover tag.
    pub failover: usize,
    pub slot: usize,
}

/// A number argument: known at load, or a template parsed when the step runs.
#[derive(Debug, Clone)]
pub(crate) enum Num {
    Const(u64),
    Dynamic(Template),
}

/// A boolean argument.
#[derive(Debug, Clone)]
pub(crate) enum Flag {
    Const(bool),
    Dynamic(Template),
}

/// A string-valued argument tree for raw-JSON fields (`httpRequest.data`).
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    /// Literal JSON text (numbers, booleans, null).
    Raw(Box<str>),
    /// A string whose expansion is JSON-escaped; when the whole string is one variable
    /// holding a JSON object or array, that JSON is spliced in unquoted.
    Text {
        template: Template,
        splice: bool,
    },
    Array(Vec<JsonTemplate>),
    Object(Vec<(Box<str>, JsonTemplate)>),
}

#[derive(Debug, Clone)]
pub(crate) enum VarValue {
    Text(Template),
    /// Written verbatim: numbers as JSON wrote them, booleans, JSON of objects/arrays.
    Raw(Box<str>),
}

#[derive(Debug)]
pub(crate) enum Code {
    /// Internal jump (end of a branch); not a step.
    Jump(usize),
    If {
        /// Index into `Flow::expressions`.
        expr: usize,
        else_target: usize,
        end: usize,
    },
    Switch {
        variable: Template,
        cases: Vec<(Box<str>, usize)>,
        default: Option<usize>,
        end: usize,
    },
    /// Entry of a do-while; the body follows.
    WhileEnter,
    WhileTest(crate::apps::control::WhileTest),
    Goto(usize),
    Break,
    Execute {
        unit: usize,
        function: Box<str>,
        is_async: bool,
    },
    Schema {
        id: Template,
        is_async: bool,
    },
    /// An application the engine does not run (`UnknownApps::Skip`); fails when reached.
    Unsupported {
        reason: Box<str>,
    },
    #[cfg(feature = "test-hooks")]
    TestPanic,
    /// A call-control step (`apps/call.rs`).
    Call(crate::apps::call::Step),
    /// A media step (`apps/media.rs`).
    Media(crate::apps::media::Step),
    /// A data step (`apps/data.rs`).
    Data(crate::apps::data::Step),
    /// A contact-centre step (`apps/contact_centre.rs`).
    ContactCentre(crate::apps::contact_centre::Step),
}

impl Code {
    /// Whether the step needs the call's media (refused after hangup and in async
    /// functions).
    pub fn uses_media(&self) -> bool {
        match self {
            Code::Call(step) => step.uses_media(),
            Code::Media(step) => step.uses_media(),
            Code::ContactCentre(step) => step.uses_media(),
            _ => false,
        }
    }

    /// Whether the step needs a call: media, and every call-control step (`ringback` sets
    /// channel variables of a call). Refused in a queue's call-less attempt flows.
    pub fn needs_call(&self) -> bool {
        matches!(self, Code::Call(_)) || self.uses_media()
    }
}
