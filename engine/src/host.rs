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
    Tts {
        text: String,
        engine: Option<String>,
        voice: Option<String>,
        /// Language of the text, e.g. `en-US` (`tts.language`); `None` = the voice's own.
        language: Option<String>,
        /// `text` is an SSML document (`textType: "ssml"`, or the `ssml` field): pass it to
        /// the engine unchanged.
        ssml: bool,
    },
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

/// Speech recognition while playing (`getSpeech`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeechCapture {
    /// Channel variable that receives the transcript (the engine sets it from
    /// [`SpeechOutcome::transcript`]).
    pub set_var: String,
    /// How long to listen after the prompt, in ms (0 = the engine's default).
    pub timeout_ms: u64,
    /// Recognition language, e.g. `en-US` (`None` = the host's default).
    pub language: Option<String>,
    pub min_words: u32,
    pub max_words: u32,
    pub vad_timeout_ms: u64,
}

/// What speech recognition returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeechOutcome {
    /// Best transcript ("" when nothing was recognised).
    pub transcript: String,
    /// The recogniser's raw result, stored in `rustflow_speech_result`.
    pub raw: String,
}

/// Who a bridge leg calls. Fields are data: a host quotes or rejects them when it builds
/// a dial string; they never add legs or variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeTarget {
    /// A directory user: `user/EXTENSION@DOMAIN` (`None` = the configured default domain).
    User {
        extension: String,
        domain: Option<String>,
    },
    /// A gateway: `sofia/gateway/NAME/NUMBER`.
    Gateway { gateway: String, number: String },
    /// A SIP URI through a profile: `sofia/PROFILE/URI` (`None` = the host's default profile).
    Sip {
        profile: Option<String>,
        uri: String,
    },
}

/// One leg of a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeLeg {
    pub target: BridgeTarget,
    /// Channel variables for this leg only.
    pub variables: Vec<(String, String)>,
    /// Skip a user who is already on a call (`idle: true`).
    pub idle_only: bool,
}

/// How the legs are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeStrategy {
    /// All legs ring at once; the first to answer wins.
    Simultaneous,
    /// One after another.
    Failover,
}

/// A `bridge` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRequest {
    pub legs: Vec<BridgeLeg>,
    pub strategy: BridgeStrategy,
    /// Channel variables for every leg.
    pub variables: Vec<(String, String)>,
    /// Codec names for the B-legs (`absolute_codec_string`).
    pub codecs: Vec<String>,
    /// DTMF digits sent when a leg answers.
    pub send_on_answer: Option<String>,
    /// Pickup group that rings alongside the legs: a phone in the group can answer the call
    /// with the `pickup` application.
    pub pickup: Option<String>,
}

/// How a bridge ended, stored in `rustflow_bridge_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeResult {
    Answered,
    Busy,
    NoAnswer,
    Failed,
    Cancelled,
}

impl BridgeResult {
    pub fn as_str(self) -> &'static str {
        match self {
            BridgeResult::Answered => "answered",
            BridgeResult::Busy => "busy",
            BridgeResult::NoAnswer => "no_answer",
            BridgeResult::Failed => "failed",
            BridgeResult::Cancelled => "cancelled",
        }
    }

    /// Parses `answered|busy|no_answer|failed|cancelled`.
    pub fn parse(text: &str) -> Option<BridgeResult> {
        Some(match text {
            "answered" => BridgeResult::Answered,
            "busy" => BridgeResult::Busy,
            "no_answer" => BridgeResult::NoAnswer,
            "failed" => BridgeResult::Failed,
            "cancelled" => BridgeResult::Cancelled,
            _ => return None,
        })
    }
}

/// A `recordFile` request: record the caller into `recordings-dir/NAME.FORMAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRequest {
    /// File name without extension; a host must refuse path separators.
    pub name: String,
    /// Extension / format, e.g. `mp3`, `wav`.
    pub format: String,
    pub max_seconds: u64,
    pub silence_threshold: u64,
    /// Seconds of silence that end the recording.
    pub silence_hits: u64,
    /// DTMF keys that end the recording.
    pub terminators: String,
    /// Tag the recording as voicemail.
    pub voicemail: bool,
}

/// A `recordSession` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRecording {
    Start {
        name: String,
        format: String,
        stereo: bool,
        /// Only record while bridged.
        bridged: bool,
        min_seconds: u64,
        follow_transfer: bool,
    },
    /// Stops the recording this call started.
    Stop,
}

/// What the caller hears while a bridge rings, is transferred, or is on hold
/// (`ringback`); the host sets `ringback`, `transfer_ringback`, `hold_music`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ringback {
    pub call: Option<PlayFile>,
    pub transfer: Option<PlayFile>,
    pub hold: Option<PlayFile>,
    /// Also add the three variables to `bridge_export_vars` (B-legs inherit them).
    pub export_to_b_legs: bool,
}

/// A caller-id change (`updateCid`); `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerIdUpdate {
    pub name: Option<String>,
    pub number: Option<String>,
    pub destination: Option<String>,
}

/// A `park` request: valet parking in a lot, into (`retrieve == false`) or out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkRequest {
    /// Lot name as the flow gave it; the host scopes it (domain prefix).
    pub lot: String,
    /// Slot range, inclusive.
    pub from: u32,
    pub to: u32,
    /// `auto out`: take the first parked call out of the lot.
    pub retrieve: bool,
}

/// A `conference` request: join `name@profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceRequest {
    pub name: String,
    pub profile: String,
    pub pin: Option<String>,
    /// Member flags (`mute`, `moderator`, `endconf`, …).
    pub flags: Vec<String>,
}

/// How `generateLink` signs URLs (config `link-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFormat {
    /// `signature` = hex HMAC-SHA256 of `EXPIRES + PATH` with the secret.
    HmacSha256,
    /// nginx `secure_link_md5 "$secure_link_expires$uri SECRET"`: `signature` = base64url
    /// (no padding) of MD5(`EXPIRES + PATH + " " + SECRET`).
    NginxSecureLink,
}

/// The module's link configuration (`link-secret`, `link-base-url`, `link-format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    pub secret: String,
    /// Used when the flow gives no `server`.
    pub base_url: String,
    pub format: LinkFormat,
}

/// Which calendar `calendar` asks about (by store id, or by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarQuery {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// A calendar's state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarStatus {
    Open,
    Closed,
    /// The calendar's validity period is over.
    Expired,
    /// Closed by a named exception (a holiday).
    Exception(String),
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
    /// 0 = the flow did not ask: the host applies its configured default
    /// (`http-timeout-ms`).
    pub timeout_ms: u64,
    /// `insecureSkipVerify: true`: accept any TLS server certificate (only compiled when
    /// [`crate::CompileOptions::allow_insecure_skip_verify`] allowed it).
    pub insecure_skip_verify: bool,
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

// ---- contact centre ----

/// A queue, agent or bucket as the flow named it: by store id, or by name (for an agent:
/// its extension). At least one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CcRef {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// What the caller joins: a queue (`joinQueue`) or one agent (`joinAgent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueTarget {
    Queue(CcRef),
    Agent(CcRef),
}

/// A `joinQueue` / `joinAgent` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueJoin {
    pub target: QueueTarget,
    /// Higher is served first (`priority`).
    pub priority: i64,
    pub bucket: Option<CcRef>,
    /// joinQueue's preferred agent (`agent` or `stickyAgentId`).
    pub sticky_agent: Option<CcRef>,
    /// What the caller hears while waiting; `None` = the queue's ringtone or music on hold.
    pub ringtone: Option<PlayFile>,
    /// joinAgent: seconds the agent rings (0 = the store's default).
    pub timeout_secs: u64,
    /// joinAgent: name shown to the agent (`queue_name`).
    pub queue_name: Option<String>,
}

/// Whether the caller got into the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueJoinOutcome {
    Joined,
    /// Not admitted; `result` goes to `cc_result` (`closed`, `disabled`, `max_wait_size`,
    /// `no_agents`, `error`, ...), `reason` to the log.
    Refused {
        result: String,
        reason: String,
    },
}

/// The agent the distributor reserved for this caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOffer {
    pub agent_id: String,
    pub agent_name: String,
    /// Empty for an agent reached by a contact dial string.
    pub extension: String,
    /// The uuid the agent's leg will have (`cc_agent_call_id`).
    pub agent_call_id: String,
}

/// Why `queue_wait` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// The time given as `until_micros` came: run the due timer.
    TimerDue,
    /// An agent is reserved: run `offering`, then ring it with `queue_ring`.
    Offer(AgentOffer),
    /// The queue ended the wait (max wait, no agents, store error...): the attempt is
    /// already closed with this result; do not call `queue_leave`.
    Left { result: String },
}

/// How ringing the offered agent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingOutcome {
    /// The agent answered; `queue_bridge` connects the caller.
    Answered,
    /// No answer, busy, rejected or failed (`reason`); the caller keeps its place.
    Missed { reason: String },
}

/// How connecting the caller to the answered agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueBridge {
    /// They talked; the conversation is over.
    Talked,
    /// The agent's leg was gone before the caller was connected: the caller is back in line
    /// (the store treats it as a missed offer) and waits on.
    AgentGone,
}

/// `getQueueAgents` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentCounts {
    pub count: u32,
    pub online: u32,
    pub offline: u32,
    pub pause: u32,
    pub waiting: u32,
}

/// How `getQueueMetrics` aggregates a duration (`metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricAggregate {
    Avg,
    Min,
    Max,
}

/// What `getQueueMetrics` measures (`field` with its `metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMetric {
    /// avg/min/max of seconds waited (bridged − joined when answered, else left − joined).
    WaitTime(MetricAggregate),
    /// avg/min/max of seconds talked (ended − bridged).
    TalkTime(MetricAggregate),
    /// % of attempts bridged within `sl_secs` of joining, over all attempts.
    ServiceLevel { sl_secs: u64 },
}

/// A `getQueueMetrics` question over finished attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricQuery {
    pub queue: CcRef,
    pub bucket: Option<CcRef>,
    pub metric: QueueMetric,
    /// Attempts that joined in the last N minutes.
    pub last_minutes: u64,
}

/// An `ewt` question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EwtQuery {
    /// Queue ids; empty = the queue this call waits in.
    pub queues: Vec<String>,
    pub buckets: Vec<String>,
    /// Look-back of history, minutes (`min`, default 60).
    pub lookback_minutes: u64,
}

/// Which calls `lastBridged` considers (`filter`, Part C): each category `None` = off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastBridgedQuery {
    pub number: String,
    pub hours: u64,
    pub dialer: Option<String>,
    pub inbound: Option<String>,
    pub outbound: Option<String>,
    pub queue_ids: Option<Vec<String>>,
}

/// The call `lastBridged` found; `property` answers the names of Part C (`id`,
/// `created_at`, `extension`, `queue_id`, `agent_id`, `description`, `gateway_id`,
/// `destination`, `variables.KEY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgedCall {
    pub fields: Vec<(String, String)>,
}

// ---- members and attempt flows (callbacks, outbound campaigns) ----

/// One number of a member: `callbackQueue.communication`, `attemptResult.addCommunications[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberCommunication {
    /// The number or SIP address to dial (never empty).
    pub destination: String,
    /// Communication type id (`type.id`, old `type_id`).
    pub kind: Option<String>,
    /// Caller id shown to the member when this number is dialled.
    pub display: Option<String>,
    /// Higher is dialled first among the member's numbers.
    pub priority: i64,
    /// Gateway (resource) id to dial through (`resource.id`, old `resource_id`).
    pub resource: Option<String>,
    pub description: Option<String>,
}

/// A `callbackQueue` request: one new member of an outbound queue, for the dialer to call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackRequest {
    /// The outbound (offline/callback, preview, progressive, predictive) queue.
    pub queue: CcRef,
    pub name: String,
    pub communication: MemberCommunication,
    /// Not dialled before now + this many seconds (`holdSec`; 0 = at once).
    pub hold_secs: u64,
    pub priority: i64,
    pub bucket: Option<CcRef>,
    /// The agent to offer the member to (`agent`).
    pub sticky_agent: Option<CcRef>,
    /// IANA time zone of the member (`timezone.id` / `timezone.name`): the queue's calendar
    /// is read in it.
    pub timezone: Option<String>,
    /// Member variables: a JSON object text (`"{}"` when the flow gave none).
    pub variables: String,
    /// Not dialled after this instant (ms since the Unix epoch, UTC).
    pub expire_at_ms: Option<i64>,
    /// Created already finished with this stop cause (`stop_at` = now).
    pub stop_cause: Option<String>,
}

/// Which members `memberInfo` reads and `patchMembers` changes (the `member` object). Every
/// field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberQuery {
    /// Queue ids (`queue_ids`, or `queues: [{id}]`); never empty.
    pub queues: Vec<String>,
    pub id: Option<i64>,
    /// Name pattern, case-insensitive, `%` = any run of characters (SQL ILIKE).
    pub name: Option<String>,
    /// A communication has exactly this destination.
    pub destination: Option<String>,
    /// Created at or after this instant (`today: true`: the flow's midnight today), ms.
    pub created_since_ms: Option<i64>,
    /// Created before this instant (`today: false`: before the flow's midnight today), ms.
    pub created_before_ms: Option<i64>,
    /// `true`: finished members (stop_at set); `false`: still active.
    pub completed: Option<bool>,
    pub bucket: Option<CcRef>,
}

/// The member `memberInfo` found (the first match, lowest id first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFacts {
    pub id: i64,
    pub name: String,
    pub priority: i64,
    pub attempts: u32,
    pub stop_cause: Option<String>,
    pub bucket: Option<String>,
    /// Numbers still dialable (not excluded, attempts left): `count_destinations`.
    pub dialable_destinations: u32,
    /// All its numbers: `all_destinations`.
    pub destinations: u32,
    /// Member variables: a JSON object text.
    pub variables: String,
}

/// A change to one of a member's numbers, by its 0-based position (`communications[].id`);
/// `None` fields stay as they are. A position the member does not have is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommunicationPatch {
    pub index: usize,
    pub destination: Option<String>,
    pub kind: Option<String>,
    pub display: Option<String>,
    pub priority: Option<i64>,
    pub resource: Option<String>,
    pub description: Option<String>,
}

/// What `patchMembers` changes on every member of its query (one transaction); `None` fields
/// stay as they are. Never empty: the engine refuses a patch that changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembersPatch {
    pub name: Option<String>,
    pub priority: Option<i64>,
    pub bucket: Option<CcRef>,
    /// Move to this queue (`queueId`).
    pub queue: Option<CcRef>,
    /// Not dialled before this instant (`readyAt`, old `ready_at`), ms since the epoch.
    pub ready_at_ms: Option<i64>,
    /// Finishes the member: sets this stop cause and `stop_at` = now (`stopCause`).
    pub stop_cause: Option<String>,
    /// Merged into the member's variables: a JSON object text.
    pub variables: Option<String>,
    pub communications: Vec<CommunicationPatch>,
}

/// Which of a queue's attempt flows a call-less run is ([`crate::run_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunContext {
    /// A flow on a call (the module's sessions, `rustflow run`).
    #[default]
    Call,
    /// A queue's pre-attempt flow, before a member is dialled: no call; it answers with
    /// `confirm` or `cancel` (ending without one confirms).
    PreAttempt,
    /// A queue's after-attempt flow, when an attempt ended: no call; it answers with
    /// `success`, `abandoned` or `retry`.
    AfterAttempt,
}

impl RunContext {
    /// How messages name the flow: `pre-attempt`, `after-attempt`, `call`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunContext::Call => "call",
            RunContext::PreAttempt => "pre-attempt",
            RunContext::AfterAttempt => "after-attempt",
        }
    }
}

/// The answer of a queue's attempt flow ([`Host::attempt_decision`]); the flow ends with it.
/// `export` holds the variables the flow named in `export`, with their values now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptDecision {
    /// Pre-attempt: dial the member, optionally another number / caller id.
    Confirm {
        destination: Option<String>,
        display: Option<String>,
        export: Vec<(String, String)>,
    },
    /// Pre-attempt: do not dial now; the attempt closes as `cancel` without counting.
    Cancel {
        description: Option<String>,
        /// Seconds until the member may be dialled again (`None`: the flow gave none; the
        /// queue's `wait_between_retries_secs` applies).
        wait_between_retries_secs: Option<u64>,
        /// Finish the member (stop cause `cancel`).
        stop: bool,
        /// Do not dial this number again.
        exclude_current_communication: bool,
        /// Not offered before this instant (`minOfferingAt`), ms since the epoch.
        min_offering_at_ms: Option<i64>,
        export: Vec<(String, String)>,
    },
    /// After-attempt: the member is done (also `abandoned` with status `success`).
    Success { export: Vec<(String, String)> },
    /// After-attempt: not a success; retried while attempts remain, else finished with
    /// `status` as stop cause.
    Abandoned {
        /// The attempt's result (`abandoned` unless the flow gave another, never `success`).
        status: String,
        /// Overrides the queue's `max_attempts` for this member.
        max_attempts: Option<u32>,
        /// Overrides the queue's `wait_between_retries_secs`.
        wait_between_retries_secs: Option<u64>,
        exclude_current_communication: bool,
        /// Dial the same number next time.
        redial: bool,
        /// Offer the next attempt to this agent (`agentId`).
        sticky_agent: Option<String>,
        description: Option<String>,
        export: Vec<(String, String)>,
    },
    /// After-attempt: dial the member again now through another resource (gateway).
    Retry {
        /// Pause before the new dial, ms (under 60 000).
        sleep_ms: u64,
        /// Take the next resource of the queue (`nextResource`).
        next_resource: bool,
        /// Or this one (`resource.id`).
        resource: Option<String>,
        export: Vec<(String, String)>,
    },
}

impl AttemptDecision {
    /// The application that gives this decision.
    pub fn app(&self) -> &'static str {
        match self {
            AttemptDecision::Confirm { .. } => "confirm",
            AttemptDecision::Cancel { .. } => "cancel",
            AttemptDecision::Success { .. } => "success",
            AttemptDecision::Abandoned { .. } => "abandoned",
            AttemptDecision::Retry { .. } => "retry",
        }
    }

    /// The attempt flow that may give it.
    pub fn context(&self) -> RunContext {
        match self {
            AttemptDecision::Confirm { .. } | AttemptDecision::Cancel { .. } => {
                RunContext::PreAttempt
            }
            _ => RunContext::AfterAttempt,
        }
    }
}

/// An `attemptResult` request: the outcome of an outbound attempt (an agent's wrap-up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptResultRequest {
    /// From the flow variable `attempt_id`.
    pub attempt_id: i64,
    /// `abandoned` when the flow gave none. `success`, `cancel` and `canceled_by_timeout`
    /// finish the member; others retry while attempts remain.
    pub status: String,
    pub description: Option<String>,
    /// Next dial not before this instant, ms (ignored for finishing statuses).
    pub ready_at_ms: Option<i64>,
    /// The member expires at this instant (`expiredAt`), ms.
    pub expire_at_ms: Option<i64>,
    pub wait_between_retries_secs: Option<u64>,
    /// Caller id to show on the next attempts (`stickyDisplay`).
    pub sticky_display: Option<String>,
    /// Agent to offer the next attempt to (`agentId`).
    pub sticky_agent: Option<String>,
    pub redial: bool,
    pub exclude_current_communication: bool,
    pub add_communications: Vec<MemberCommunication>,
    /// Merged into the attempt's and the member's variables: a JSON object text (the
    /// flow's `variables` over its exported variables), `None` when both are empty.
    pub variables: Option<String>,
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
    fn play(
        &mut self,
        files: &[PlayFile],
        capture: Option<&DigitCapture>,
    ) -> HostResult<PlayOutcome>;
    /// Pauses with media flowing (FreeSWITCH `sleep`).
    fn sleep(&mut self, ms: u64) -> HostResult<()>;
    /// Waits without touching media (`softSleep`); ends early with `Hangup` if the call goes.
    fn soft_sleep(&mut self, ms: u64) -> HostResult<()>;
    /// Performs an HTTP request (blocking, bounded by `timeout_ms`).
    fn http(&mut self, request: &HttpRequest) -> HostResult<HttpResponse>;

    /// Appends the channel variable's value to `out`; returns whether the variable exists.
    /// Expressions and templates read variables this way (into buffers the engine reuses, or
    /// straight into the expanded text), so a host that can lend the value (no copy of its
    /// own) saves an allocation per read. Default: [`Host::var`].
    fn var_into(&mut self, name: &str, out: &mut String) -> bool {
        match self.var(name) {
            Some(value) => {
                out.push_str(&value);
                true
            }
            None => false,
        }
    }
    /// Whether a log line of this level would be written; the engine skips formatting
    /// per-step DEBUG lines when it would not.
    fn log_enabled(&mut self, _level: LogLevel) -> bool {
        true
    }
    /// Discards DTMF already queued on the channel (`flushDTMF`).
    fn flush_dtmf(&mut self) -> HostResult<()> {
        Err(HostError::Failed(
            "flushing DTMF is not available on this host".to_string(),
        ))
    }
    /// Starts (`true`) or stops in-band DTMF detection (`inBandDTMF`).
    fn inband_dtmf(&mut self, _start: bool) -> HostResult<()> {
        Err(HostError::Failed(
            "in-band DTMF detection is not available on this host".to_string(),
        ))
    }
    /// Calls the legs and bridges the first to answer; returns when the bridge ends. When a
    /// leg answered, return `Ok(Answered)` even if the caller hung up during the bridge: the
    /// engine then runs `bridge.bridged` (media refused) and checks [`Host::is_up`] itself.
    fn bridge(&mut self, _request: &BridgeRequest) -> HostResult<BridgeResult> {
        Err(HostError::Failed(
            "bridging is not available on this host".to_string(),
        ))
    }
    /// Echoes the caller's audio back (`echo`): `delay_ms == 0` is FreeSWITCH `echo`, more is
    /// `delay_echo <ms>`. Returns when the call ends (`Hangup`) or the echo is stopped.
    fn echo(&mut self, _delay_ms: u64) -> HostResult<()> {
        Err(HostError::Failed(
            "echo is not available on this host".to_string(),
        ))
    }
    /// Records the caller; returns the path of the file written.
    fn record_file(&mut self, _request: &RecordRequest) -> HostResult<String> {
        Err(HostError::Failed(
            "recording is not available on this host".to_string(),
        ))
    }
    /// Starts or stops the background recording of the call; returns the file path.
    fn record_session(&mut self, _request: &SessionRecording) -> HostResult<String> {
        Err(HostError::Failed(
            "session recording is not available on this host".to_string(),
        ))
    }
    /// Mixes `file` under the call's audio, lowered by `volume_reduction` (`backgroundPlayback`).
    fn background_start(&mut self, _file: &PlayFile, _volume_reduction: u32) -> HostResult<()> {
        Err(HostError::Failed(
            "background playback is not available on this host".to_string(),
        ))
    }
    /// Stops the background playback started by this call.
    fn background_stop(&mut self) -> HostResult<()> {
        Err(HostError::Failed(
            "background playback is not available on this host".to_string(),
        ))
    }
    /// Redirects the call: 302 with the contacts when unanswered, REFER to the first when
    /// answered (`sipRedirect`).
    fn redirect(&mut self, _uris: &[String]) -> HostResult<()> {
        Err(HostError::Failed(
            "SIP redirect is not available on this host".to_string(),
        ))
    }
    /// Changes the caller id presented from now on (`updateCid`).
    fn update_caller_id(&mut self, _update: &CallerIdUpdate) -> HostResult<()> {
        Err(HostError::Failed(
            "caller-id update is not available on this host".to_string(),
        ))
    }
    /// Sets what the caller hears while ringing / transferred / on hold (`ringback`).
    fn ringback(&mut self, _ringback: &Ringback) -> HostResult<()> {
        Err(HostError::Failed(
            "ringback is not available on this host".to_string(),
        ))
    }
    /// Valet-parks the call (blocks while parked, like the FreeSWITCH application).
    fn park(&mut self, _request: &ParkRequest) -> HostResult<()> {
        Err(HostError::Failed(
            "parking is not available on this host".to_string(),
        ))
    }
    /// Answers a call ringing in pickup group `group` (`bridge.pickup` of another call): true
    /// when one was picked up, and this call now belongs to that call's bridge; false when
    /// none was ringing.
    fn pickup(&mut self, _group: &str) -> HostResult<bool> {
        Err(HostError::Failed(
            "call pickup is not available on this host".to_string(),
        ))
    }
    /// Joins a conference; returns when the caller leaves it.
    fn conference(&mut self, _request: &ConferenceRequest) -> HostResult<()> {
        Err(HostError::Failed(
            "conferences are not available on this host".to_string(),
        ))
    }
    /// Whether a calendar of the store is open now (`calendar`).
    fn calendar(&mut self, _query: &CalendarQuery) -> HostResult<CalendarStatus> {
        Err(HostError::Failed(
            "calendars are not available on this host".to_string(),
        ))
    }
    /// The link signing configuration; `None` when no `link-secret` is configured.
    fn link_settings(&mut self) -> Option<LinkSettings> {
        None
    }
    /// Plays the files while recognising speech (`getSpeech`).
    fn detect_speech(
        &mut self,
        _files: &[PlayFile],
        _speech: &SpeechCapture,
    ) -> HostResult<SpeechOutcome> {
        Err(HostError::Failed(
            "speech recognition is not available on this host".to_string(),
        ))
    }

    // ---- contact centre (the host keeps the call's current attempt: one at a time) ----

    /// Checks and creates the call's queue attempt (`joinQueue` / `joinAgent`);
    /// `Err(Failed)` if the call is already in a queue.
    fn queue_join(&mut self, _join: &QueueJoin) -> HostResult<QueueJoinOutcome> {
        Err(cc_unavailable())
    }
    /// Plays the hold audio and waits for an offer, for the queue to end the wait, or until
    /// `until_micros` (host clock, [`Host::now_micros`]); the hold audio stops when it
    /// returns. `Err(Hangup)` when the caller hangs up (the engine then calls
    /// `queue_leave("abandoned")`).
    fn queue_wait(&mut self, _until_micros: Option<i64>) -> HostResult<QueueEvent> {
        Err(cc_unavailable())
    }
    /// Rings the offered agent (the caller keeps hearing hold audio); `Missed` puts the
    /// caller back in line (the next `queue_wait` waits again).
    fn queue_ring(&mut self, _offer: &AgentOffer) -> HostResult<RingOutcome> {
        Err(cc_unavailable())
    }
    /// Connects the caller to the answered agent; returns when the conversation ends (`Ok`
    /// even if the caller hung up during it, like `bridge`; the engine checks `is_up`), or at
    /// once with `AgentGone` when the agent hung up before the caller was connected.
    fn queue_bridge(&mut self) -> HostResult<QueueBridge> {
        Err(cc_unavailable())
    }
    /// Closes the attempt with `result` (`success`, `abandoned`, `cancel`...) and returns
    /// the attempt's final result (the stored one when the queue had already closed it).
    /// Idempotent; `Ok("")` when the call has no attempt.
    fn queue_leave(&mut self, _result: &str) -> HostResult<String> {
        Err(cc_unavailable())
    }
    /// The call's place in its queue: 1 = next; 0 = not in a queue (`ccPosition`).
    fn queue_position(&mut self) -> HostResult<u32> {
        Err(cc_unavailable())
    }
    /// Estimated wait in seconds (`ewt`); `None` = unknown.
    fn queue_ewt(&mut self, _query: &EwtQuery) -> HostResult<Option<f64>> {
        Err(cc_unavailable())
    }
    /// Agent counts of a queue (`getQueueAgents`).
    fn queue_agents(&mut self, _queue: &CcRef) -> HostResult<AgentCounts> {
        Err(cc_unavailable())
    }
    /// One metric over finished attempts (`getQueueMetrics`); `None` = no data.
    fn queue_metric(&mut self, _query: &MetricQuery) -> HostResult<Option<f64>> {
        Err(cc_unavailable())
    }
    /// The newest call matching the query (`lastBridged`); `None` = none.
    fn last_bridged(&mut self, _query: &LastBridgedQuery) -> HostResult<Option<BridgedCall>> {
        Err(cc_unavailable())
    }

    /// Creates a member of an outbound queue (`callbackQueue`); returns its id. A request
    /// the store cannot take (unknown or inbound queue, bad destination or time zone) is
    /// `Err(Failed)` naming why: never silently nothing.
    fn member_create(&mut self, _request: &CallbackRequest) -> HostResult<i64> {
        Err(cc_unavailable())
    }
    /// The first member matching the query, lowest id first (`memberInfo`).
    fn member_info(&mut self, _query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        Err(cc_unavailable())
    }
    /// Changes every member matching the query, in one transaction (`patchMembers`);
    /// returns how many changed.
    fn patch_members(&mut self, _query: &MemberQuery, _patch: &MembersPatch) -> HostResult<usize> {
        Err(cc_unavailable())
    }
    /// Records the answer of the queue's attempt flow this host runs (`confirm`, `cancel`,
    /// `success`, `abandoned`, `retry`); the engine then ends the flow. Only the host of a
    /// call-less attempt flow ([`crate::run_with`]) has an attempt to answer for.
    fn attempt_decision(&mut self, decision: &AttemptDecision) -> HostResult<()> {
        Err(HostError::Failed(format!(
            "`{}` only answers a queue's {} flow",
            decision.app(),
            decision.context().as_str()
        )))
    }
    /// Closes or reschedules an outbound attempt and its member (`attemptResult`).
    /// Idempotent: the first result of an attempt holds.
    fn attempt_result(&mut self, _request: &AttemptResultRequest) -> HostResult<()> {
        Err(cc_unavailable())
    }
}

/// The default of every contact-centre host method.
fn cc_unavailable() -> HostError {
    HostError::Failed("the contact centre is not available on this host".to_string())
}
