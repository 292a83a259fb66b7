//! The call as the engine sees it.
//!
//! Everything that touches a call goes through [`Host`]: the FreeSWITCH module implements it
//! on a real session (calling the switch core), the simulator implements it with a virtual
//! clock and a scripted caller. The engine never knows which one it drives.
//!
//! Conventions:
//! - Values passed in are already expanded and are data: a host must never re-expand them or
//!   let them change the structure of what it builds (dial strings, variable blocks).
//! - A method returns [`HostError::Hangup`] when the call went away before or during the
//!   operation; the interpreter then stops the flow and runs `trigger.disconnected`.

use std::fmt;

/// Why a host operation did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The call is gone (hung up before or during the operation).
    Hangup,
    /// The operation failed; the message says why, for the log and `rustflow_error`.
    Failed(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Hangup => f.write_str("call hung up"),
            HostError::Failed(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for HostError {}

/// Result of a host operation.
pub type HostResult<T> = Result<T, HostError>;

/// Log severity, mapped by each host onto its own levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

/// A hangup cause: its Q.850 / FreeSWITCH number and canonical upper-case name
/// (`USER_BUSY`). Built only from the engine's cause table, so it is always one
/// FreeSWITCH knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HangupCause {
    pub code: u32,
    pub name: &'static str,
}

/// Who sees an exported variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportScope {
    /// Set on this channel and copied to every B-leg created later (`setAll`).
    LocalAndBLegs,
    /// Only copied to B-legs created later (`setNoLocal`).
    BLegsOnly,
}

/// One thing to play, as the flow described it. The host turns it into its own
/// form (a FreeSWITCH file string, a simulator transcript line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayFile {
    /// A tone in FreeSWITCH teletone notation, e.g. `%(1000,0,440)`.
    Tone(String),
    /// Silence of the given length.
    Silence { ms: u64 },
    /// A local path or URI, played as given.
    Local(String),
    /// A file name inside the configured media directory.
    MediaName(String),
    /// A media id, resolved through the media index of the media directory.
    MediaId(String),
    /// An HTTP(S) URL, fetched through FreeSWITCH's http_cache.
    Http(String),
    /// Text spoken through a TTS engine.
    Tts { text: String, engine: Option<String>, voice: Option<String> },
}

/// Digit collection while playing (`getDigits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitCapture {
    pub min: u32,
    pub max: u32,
    pub tries: u32,
    pub timeout_ms: u64,
    pub digit_timeout_ms: u64,
    /// Keys that end input early, e.g. `#`.
    pub terminators: String,
    /// A regular expression the input must match (source text), if any.
    pub regexp: Option<String>,
    /// Channel variable that receives the digits.
    pub set_var: String,
    /// Discard DTMF queued before the prompt starts.
    pub flush_dtmf: bool,
}

/// What a playback returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayOutcome {
    /// Digits collected (empty when nothing was asked for or nothing came).
    pub digits: String,
}

/// An HTTP request for `httpRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u64,
}

/// An HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One executed step, for transcripts, DEBUG logs and `rustflow::step` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEvent<'a> {
    pub flow_id: &'a str,
    pub flow_version: &'a str,
    /// JSON pointer of the application object in the flow file.
    pub pointer: &'a str,
    pub app: &'a str,
    pub duration_us: u64,
    /// `ok`, or the error text.
    pub result: &'a str,
}

/// The call, as seen by the engine.
pub trait Host {
    /// The call's unique id (FreeSWITCH uuid), for logs.
    fn uuid(&self) -> &str;
    /// Whether the call is still up.
    fn is_up(&mut self) -> bool;
    /// Wall-clock time in microseconds since the Unix epoch (virtual in the simulator).
    fn now_micros(&mut self) -> i64;
    /// Writes a line to the host's log, tagged with the call.
    fn log(&mut self, level: LogLevel, message: &str);
    /// Called after every step; hosts record or publish it.
    fn step_done(&mut self, _step: &StepEvent<'_>) {}

    /// A channel variable (caller-profile names such as `caller_id_number` included).
    fn var(&mut self, name: &str) -> Option<String>;
    /// A global (switch-wide) variable: `$${name}`.
    fn global_var(&mut self, name: &str) -> Option<String>;
    fn set_var(&mut self, name: &str, value: &str) -> HostResult<()>;
    fn unset_var(&mut self, name: &str) -> HostResult<()>;
    fn export_var(&mut self, name: &str, value: &str, scope: ExportScope) -> HostResult<()>;

    fn ring_ready(&mut self) -> HostResult<()>;
    fn pre_answer(&mut self) -> HostResult<()>;
    fn answer(&mut self) -> HostResult<()>;
    /// Hangs the call up with the cause. The flow stops after this.
    fn hangup(&mut self, cause: HangupCause) -> HostResult<()>;
    /// Plays the files in order, optionally collecting digits.
    fn play(&mut self, files: &[PlayFile], capture: Option<&DigitCapture>) -> HostResult<PlayOutcome>;
    /// Pauses with media flowing (FreeSWITCH `sleep`).
    fn sleep(&mut self, ms: u64) -> HostResult<()>;
    /// Waits without touching media (`softSleep`); ends early with `Hangup` if the call goes.
    fn soft_sleep(&mut self, ms: u64) -> HostResult<()>;
    /// Performs an HTTP request (blocking, bounded by `timeout_ms`).
    fn http(&mut self, request: &HttpRequest) -> HostResult<HttpResponse>;
}
