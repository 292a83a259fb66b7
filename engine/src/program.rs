//! The executable form of a flow: flat instruction lists with resolved jumps.
//!
//! Every flow object (main sequence, function body, `trigger.disconnected`) is one
//! [`Unit`]. Nested blocks are laid out inline with jumps, so a `goto` into another
//! `switch` branch, out of a `while` or into a nested block is a plain jump to an index.

use crate::host::{ExportScope, HangupCause};
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
pub(crate) enum FileSpec {
    Tone(Template),
    Silence(Num),
    Local(Template),
    MediaName(Template),
    MediaId(Template),
    Http(Template),
    Tts {
        text: Template,
        engine: Option<Template>,
        voice: Option<Template>,
        language: Option<Template>,
        ssml: bool,
    },
}

#[derive(Debug)]
pub(crate) struct DigitsSpec {
    pub set_var: Template,
    pub min: Num,
    pub max: Num,
    pub tries: Num,
    pub timeout: Num,
    pub digit_timeout: Option<Num>,
    pub terminators: Template,
    pub regexp: Option<Template>,
    pub flush_dtmf: Flag,
}

#[derive(Debug)]
pub(crate) struct SpeechSpec {
    pub set_var: Template,
    pub timeout: Num,
    pub lang: Option<Template>,
    pub min_words: Num,
    pub max_words: Num,
    pub vad_timeout: Num,
}

#[derive(Debug)]
pub(crate) struct PlaybackSpec {
    pub files: Vec<FileSpec>,
    pub digits: Option<DigitsSpec>,
    pub speech: Option<SpeechSpec>,
}

#[derive(Debug)]
pub(crate) struct HttpSpec {
    pub url: Template,
    pub method: Template,
    pub headers: Vec<(Box<str>, Template)>,
    pub body: Option<JsonTemplate>,
    /// `path` parameters: `:name` in the URL is replaced by the URL-encoded value.
    pub path: Vec<(Box<str>, Template)>,
    pub timeout: Option<Num>,
    pub response_code: Option<Template>,
    /// Variable → JSON path into the response body.
    pub export: Vec<(Template, Box<[Box<str>]>)>,
    pub export_cookie: Option<Template>,
    pub insecure_skip_verify: bool,
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
    WhileTest {
        /// Index into `Flow::expressions`.
        condition: usize,
        body: usize,
        max_passes: u64,
        slot: usize,
    },
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
    Answer,
    PreAnswer,
    RingReady,
    Hangup(CauseSpec),
    Log(Template),
    Sleep(Num),
    SoftSleep(Num),
    Set(Vec<(Template, VarValue)>),
    SetExport(Vec<(Template, VarValue)>, ExportScope),
    UnSet(Vec<Template>),
    Export(Vec<Template>),
    Playback(Box<PlaybackSpec>),
    FlushDtmf,
    InBandDtmf(Template),
    /// `echo`: delay in ms (0 = plain echo).
    Echo(Num),
    BackgroundStart {
        file: FileSpec,
        volume_reduction: Num,
    },
    BackgroundStop,
    Redirect(Vec<Template>),
    UpdateCid {
        name: Option<Template>,
        number: Option<Template>,
        destination: Option<Template>,
    },
    Ringback(Box<RingbackSpec>),
    GenerateLink(Box<LinkSpec>),
    Calendar {
        id: Option<Template>,
        name: Option<Template>,
        set_var: Template,
        extended: Flag,
    },
    Park {
        lot: Template,
        range: Template,
        retrieve: Template,
    },
    /// Answers a call ringing in a pickup group (`bridge.pickup` of another call).
    Pickup(Template),
    Conference {
        name: Template,
        profile: Template,
        pin: Option<Template>,
        flags: Vec<Template>,
    },
    Bridge(Box<BridgeSpec>),
    RecordFile(Box<RecordSpec>),
    RecordSession(Box<SessionSpec>),
    Timezone(Template),
    Http(Box<HttpSpec>),
    Js {
        /// Index into `Flow::scripts`.
        function: usize,
        set_var: Template,
    },
    Math(Box<MathStep>),
    Str(Box<StringStep>),
    /// An application the engine does not run (`UnknownApps::Skip`); fails when reached.
    Unsupported {
        reason: Box<str>,
    },
    #[cfg(feature = "test-hooks")]
    TestPanic,
}

#[derive(Debug)]
pub(crate) struct MathStep {
    pub call: crate::expr::apps::MathCall,
    pub args: Vec<Template>,
    pub set_var: Template,
}

#[derive(Debug)]
pub(crate) struct StringStep {
    pub call: crate::expr::apps::StringCall,
    pub data: Template,
    pub args: Vec<Template>,
    pub set_var: Template,
}

#[derive(Debug)]
pub(crate) enum LegTarget {
    User {
        extension: Template,
        domain: Option<Template>,
    },
    Gateway {
        gateway: Template,
        number: Template,
    },
    Sip {
        profile: Option<Template>,
        uri: Template,
    },
}

#[derive(Debug)]
pub(crate) struct LegSpec {
    pub target: LegTarget,
    pub variables: Vec<(Box<str>, VarValue)>,
    pub idle_only: Flag,
}

#[derive(Debug)]
pub(crate) struct BridgeSpec {
    pub legs: Vec<LegSpec>,
    pub strategy: crate::host::BridgeStrategy,
    pub variables: Vec<(Box<str>, VarValue)>,
    pub codecs: Vec<Template>,
    pub send_on_answer: Option<Template>,
    /// Pickup group that also rings (`bridge.pickup`).
    pub pickup: Option<Template>,
    /// Unit of the `bridged` actions, run when a leg answered.
    pub bridged: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct RingbackSpec {
    pub call: Option<FileSpec>,
    pub transfer: Option<FileSpec>,
    pub hold: Option<FileSpec>,
    pub all: Flag,
}

#[derive(Debug)]
pub(crate) struct LinkSpec {
    pub set_var: Template,
    pub server: Option<Template>,
    pub expire_seconds: Num,
    pub source: Template,
    pub file_id: Option<Template>,
    pub file_name: Option<Template>,
    pub query: Vec<(Box<str>, Template)>,
}

#[derive(Debug)]
pub(crate) struct RecordSpec {
    pub name: Template,
    pub format: Template,
    pub max_seconds: Num,
    pub silence_threshold: Num,
    pub silence_hits: Num,
    pub terminators: Template,
    pub voicemail: Flag,
}

#[derive(Debug)]
pub(crate) enum SessionSpec {
    Start {
        name: Template,
        format: Template,
        stereo: Flag,
        bridged: Flag,
        min_seconds: Num,
        follow_transfer: Flag,
    },
    Stop,
}

#[derive(Debug, Clone)]
pub(crate) enum CauseSpec {
    Known(HangupCause),
    Dynamic(Template),
}

impl Code {
    /// Whether the step needs the call's media (refused after hangup and in async
    /// functions).
    pub fn uses_media(&self) -> bool {
        matches!(
            self,
            Code::Answer
                | Code::PreAnswer
                | Code::RingReady
                | Code::Hangup(_)
                | Code::Sleep(_)
                | Code::Playback(_)
                | Code::FlushDtmf
                | Code::InBandDtmf(_)
                | Code::Echo(_)
                | Code::Bridge(_)
                | Code::BackgroundStart { .. }
                | Code::BackgroundStop
                | Code::Redirect(_)
                | Code::UpdateCid { .. }
                | Code::Park { .. }
                | Code::Pickup(_)
                | Code::Conference { .. }
                | Code::RecordFile(_)
                | Code::RecordSession(_)
        )
    }
}
