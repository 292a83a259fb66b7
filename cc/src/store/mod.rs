//! The contact centre's state: what is provisioned, agents' status and state, and attempts
//! (one per caller per queue visit, kept afterwards as history).
//!
//! [`Store`] is the contract; [`sqlite::SqliteStore`] is the embedded implementation and
//! [`postgres::PgStore`] the one several nodes share ([`open`] picks one from the `store`
//! setting). Both run the same semantics (`logic`, written once against the `sql`
//! interface). Every method is one transaction. Every
//! reservation is one conditional write that reports whether it won (`claim`), and every
//! reservation is a lease with an expiry that [`Store::janitor`] ends, so no agent or caller
//! can stay reserved when a thread, a call or a node goes away. The generic tests in
//! [`suite`] run against any implementation.

mod logic;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod suite;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::model::{AgentContact, Communication, FieldError, Member, Setup};

/// Unix time in milliseconds.
pub type Ms = i64;

/// A node whose last heartbeat ([`Store::heartbeat`]) is older than this is lost: the
/// janitor ends what it held. A node that never heartbeated is never lost.
pub const NODE_LEASE_MS: Ms = 5_000;

/// The result of the attempts of a lost node.
pub const NODE_LOST: &str = "node_lost";

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store could not be opened or migrated; names the file (or URL).
    Open { store: String, message: String },
    /// A provisioning change was refused; nothing was written.
    Invalid(FieldError),
    /// No such entity.
    NotFound(String),
    /// The database failed during an operation.
    Database(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { store, message } => {
                write!(f, "contact-centre store {store}: {message}")
            }
            StoreError::Invalid(e) => write!(f, "{e}"),
            StoreError::NotFound(what) => write!(f, "{what} not found"),
            StoreError::Database(message) => write!(f, "contact-centre store: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<FieldError> for StoreError {
    fn from(e: FieldError) -> StoreError {
        StoreError::Invalid(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// An agent's availability, set by the agent or a supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Online,
    Offline,
    Pause,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Offline => "offline",
            AgentStatus::Pause => "pause",
        }
    }
    pub fn parse(text: &str) -> Option<AgentStatus> {
        Some(match text {
            "online" => AgentStatus::Online,
            "offline" => AgentStatus::Offline,
            "pause" => AgentStatus::Pause,
            _ => return None,
        })
    }
}

/// What an agent is doing, set by the distributor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Free for the next offer (when online).
    Waiting,
    /// Reserved for a caller; its phone rings.
    Offering,
    /// Talking to a caller.
    Bridged,
    /// Resting after a call until `ready_at`.
    WrapTime,
    /// Skipped after a missed offer until `ready_at`.
    Missed,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Waiting => "waiting",
            AgentState::Offering => "offering",
            AgentState::Bridged => "bridged",
            AgentState::WrapTime => "wrap_time",
            AgentState::Missed => "missed",
        }
    }
    pub fn parse(text: &str) -> Option<AgentState> {
        Some(match text {
            "waiting" => AgentState::Waiting,
            "offering" => AgentState::Offering,
            "bridged" => AgentState::Bridged,
            "wrap_time" => AgentState::WrapTime,
            "missed" => AgentState::Missed,
            _ => return None,
        })
    }
}

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptState {
    /// An outbound attempt: the member's number is being rung, no agent yet.
    Dialling,
    Waiting,
    Offering,
    Bridged,
    /// Over; `result` says how.
    Left,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Dialling => "dialling",
            AttemptState::Waiting => "waiting",
            AttemptState::Offering => "offering",
            AttemptState::Bridged => "bridged",
            AttemptState::Left => "left",
        }
    }
    pub fn parse(text: &str) -> Option<AttemptState> {
        Some(match text {
            "dialling" => AttemptState::Dialling,
            "waiting" => AttemptState::Waiting,
            "offering" => AttemptState::Offering,
            "bridged" => AttemptState::Bridged,
            "left" => AttemptState::Left,
            _ => return None,
        })
    }
}

/// One provisioning change. [`Store::apply`] takes a list and writes all or nothing.
// A change list is short and built once per command or import: the size of a queue's
// variant costs nothing worth a box at every use.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    PutQueue(crate::model::Queue),
    PutAgent(crate::model::Agent),
    PutTier(crate::model::Tier),
    PutSkill(crate::model::Skill),
    PutBucket(crate::model::Bucket),
    PutCalendar(crate::calendar::Calendar),
    DelQueue(String),
    /// Deletes the agent and its tiers.
    DelAgent(String),
    DelTier {
        queue: String,
        agent: String,
    },
    DelSkill(String),
    DelBucket(String),
    DelCalendar(String),
}

impl Change {
    /// `put queue sales`, for the "what changes" lines of an import.
    pub fn describe(&self) -> String {
        match self {
            Change::PutQueue(q) => format!("put queue {}", q.id),
            Change::PutAgent(a) => format!("put agent {}", a.id),
            Change::PutTier(t) => format!("put tier {}/{}", t.queue, t.agent),
            Change::PutSkill(s) => format!("put skill {}", s.id),
            Change::PutBucket(b) => format!("put bucket {}", b.id),
            Change::PutCalendar(c) => format!("put calendar {}", c.id),
            Change::DelQueue(id) => format!("delete queue {id}"),
            Change::DelAgent(id) => format!("delete agent {id}"),
            Change::DelTier { queue, agent } => format!("delete tier {queue}/{agent}"),
            Change::DelSkill(id) => format!("delete skill {id}"),
            Change::DelBucket(id) => format!("delete bucket {id}"),
            Change::DelCalendar(id) => format!("delete calendar {id}"),
        }
    }
}

/// Applies changes to a setup in memory (the store then writes the difference).
pub fn apply_to(setup: &mut Setup, changes: &[Change]) -> Result<(), FieldError> {
    fn put<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
        match list.iter_mut().find(|x| same(x)) {
            Some(slot) => *slot = item,
            None => list.push(item),
        }
    }
    fn del<T>(
        list: &mut Vec<T>,
        kind: &str,
        id: &str,
        same: impl Fn(&T) -> bool,
    ) -> Result<(), FieldError> {
        let before = list.len();
        list.retain(|x| !same(x));
        if list.len() == before {
            return Err(FieldError::new("", format!("no {kind} `{id}`")));
        }
        Ok(())
    }
    for change in changes {
        match change.clone() {
            Change::PutQueue(q) => put(&mut setup.queues, q.clone(), |x| x.id == q.id),
            Change::PutAgent(a) => put(&mut setup.agents, a.clone(), |x| x.id == a.id),
            Change::PutTier(t) => put(&mut setup.tiers, t.clone(), |x| {
                x.queue == t.queue && x.agent == t.agent
            }),
            Change::PutSkill(s) => put(&mut setup.skills, s.clone(), |x| x.id == s.id),
            Change::PutBucket(b) => put(&mut setup.buckets, b.clone(), |x| x.id == b.id),
            Change::PutCalendar(c) => put(&mut setup.calendars, c.clone(), |x| x.id == c.id),
            Change::DelQueue(id) => {
                del(&mut setup.queues, "queue", &id, |x| x.id == id)?;
                setup.tiers.retain(|t| t.queue != id);
            }
            Change::DelAgent(id) => {
                del(&mut setup.agents, "agent", &id, |x| x.id == id)?;
                setup.tiers.retain(|t| t.agent != id);
            }
            Change::DelTier { queue, agent } => {
                del(&mut setup.tiers, "tier", &format!("{queue}/{agent}"), |x| {
                    x.queue == queue && x.agent == agent
                })?
            }
            Change::DelSkill(id) => del(&mut setup.skills, "skill", &id, |x| x.id == id)?,
            Change::DelBucket(id) => del(&mut setup.buckets, "bucket", &id, |x| x.id == id)?,
            Change::DelCalendar(id) => del(&mut setup.calendars, "calendar", &id, |x| x.id == id)?,
        }
    }
    setup.validate()
}

/// The changes that turn `current` into `wanted` (what an import writes): puts for new or
/// different entities, deletes for those `wanted` no longer lists.
pub fn diff(current: &Setup, wanted: &Setup) -> Vec<Change> {
    fn sync<T: PartialEq + Clone>(
        out: &mut Vec<Change>,
        current: &[T],
        wanted: &[T],
        key: impl Fn(&T) -> String,
        put: impl Fn(T) -> Change,
        del: impl Fn(&T) -> Change,
    ) {
        for w in wanted {
            match current.iter().find(|c| key(c) == key(w)) {
                Some(c) if c == w => {}
                _ => out.push(put(w.clone())),
            }
        }
        for c in current {
            if !wanted.iter().any(|w| key(w) == key(c)) {
                out.push(del(c));
            }
        }
    }
    let mut out = Vec::new();
    // Order matters for a reader, not for correctness: apply_to validates the end state.
    sync(
        &mut out,
        &current.skills,
        &wanted.skills,
        |x| x.id.clone(),
        Change::PutSkill,
        |x| Change::DelSkill(x.id.clone()),
    );
    sync(
        &mut out,
        &current.buckets,
        &wanted.buckets,
        |x| x.id.clone(),
        Change::PutBucket,
        |x| Change::DelBucket(x.id.clone()),
    );
    sync(
        &mut out,
        &current.calendars,
        &wanted.calendars,
        |x| x.id.clone(),
        Change::PutCalendar,
        |x| Change::DelCalendar(x.id.clone()),
    );
    sync(
        &mut out,
        &current.queues,
        &wanted.queues,
        |x| x.id.clone(),
        Change::PutQueue,
        |x| Change::DelQueue(x.id.clone()),
    );
    sync(
        &mut out,
        &current.agents,
        &wanted.agents,
        |x| x.id.clone(),
        Change::PutAgent,
        |x| Change::DelAgent(x.id.clone()),
    );
    // Tiers of a deleted queue or agent go with it; do not list them twice.
    let gone = |t: &crate::model::Tier| {
        !wanted.queues.iter().any(|q| q.id == t.queue)
            || !wanted.agents.iter().any(|a| a.id == t.agent)
    };
    let current_tiers: Vec<_> = current.tiers.iter().filter(|t| !gone(t)).cloned().collect();
    sync(
        &mut out,
        &current_tiers,
        &wanted.tiers,
        |x| format!("{}/{}", x.queue, x.agent),
        Change::PutTier,
        |x| Change::DelTier {
            queue: x.queue.clone(),
            agent: x.agent.clone(),
        },
    );
    out
}

/// A caller asking to join a queue (or one agent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinRequest {
    /// Queue id or name (`joinQueue`); for `joinAgent` the queue name shown, optional.
    pub queue: String,
    /// `joinAgent`: the agent id or extension the caller waits for.
    pub target_agent: Option<String>,
    /// The caller's channel uuid.
    pub call_id: String,
    pub caller_number: String,
    pub caller_name: String,
    pub destination: String,
    /// The node that holds the caller's channel.
    pub node: String,
    pub priority: i64,
    /// Bucket id or name.
    pub bucket: Option<String>,
    /// Preferred agent id or extension (sticky).
    pub sticky_agent: Option<String>,
    /// `joinAgent`: ring seconds (0 = the default).
    pub ring_timeout_secs: u64,
    /// The caller's variables (JSON object text), carried to the agent leg and kept in history.
    pub variables: String,
}

/// The result of a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined {
        attempt: i64,
        queue_id: String,
        /// The queue's hold audio (none = music on hold).
        ringtone: Option<String>,
    },
    /// Not admitted: `result` for `cc_result`, `reason` for the log.
    Refused { result: String, reason: String },
}

/// A waiting caller as dispatch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingAttempt {
    pub id: i64,
    pub version: i64,
    pub queue_id: String,
    pub band: i64,
    pub since_ms: Ms,
    pub joined_at_ms: Ms,
    pub sticky_agent: Option<String>,
    pub target_agent: Option<String>,
    pub last_position: Option<u32>,
    pub ring_timeout_secs: u64,
    /// Agents this caller missed (ids), tried again only when nobody else is free.
    pub missed_agents: Vec<String>,
    /// The node holding the caller.
    pub node: String,
}

/// An agent free for an offer, with its tiers and the figures strategies compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreeAgent {
    pub id: String,
    pub idle_since_ms: Ms,
    pub talk_secs_today: i64,
    pub calls_today: i64,
    /// Skill id → capacity.
    pub skills: Vec<(String, u32)>,
}

/// Everything one dispatch pass needs, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DispatchView {
    /// Waiting callers (not being offered), in dispatch order.
    pub attempts: Vec<WaitingAttempt>,
    /// Online agents in state waiting whose rest is over and who hold no lease.
    pub agents: Vec<FreeAgent>,
    pub setup: std::sync::Arc<Setup>,
    /// Queue id → tier position of the agent offered last (round-robin memory).
    pub queue_last_position: Vec<(String, u32)>,
}

/// A reservation the distributor asks for: these agents for this attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub attempt: i64,
    /// The attempt's version read in the view; the claim fails if it changed.
    pub attempt_version: i64,
    pub agents: Vec<String>,
    /// Tier position of the first agent (round-robin and top-down memory).
    pub position: u32,
    pub lease_until_ms: Ms,
}

/// An agent reserved for a caller: what the caller's side needs to ring it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferedAgent {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub contact: AgentContact,
}

/// A won reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub attempt: i64,
    pub call_id: String,
    pub node: String,
    pub queue_id: String,
    pub agents: Vec<OfferedAgent>,
    pub ring_timeout_secs: u64,
    pub lease_until_ms: Ms,
}

/// An agent paused by max no-answer during `missed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub agent: String,
    pub reason: String,
}

/// What a janitor pass ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Janitor {
    /// Attempts closed by the queue: (attempt, call id, node, result).
    pub closed: Vec<(i64, String, String, String)>,
    /// Offers whose lease expired: (attempt, agents released).
    pub expired_offers: Vec<(i64, Vec<String>)>,
    /// Agents whose wrap-up or no-answer rest ended.
    pub rested: Vec<String>,
    /// Nodes found lost (no heartbeat for [`NODE_LEASE_MS`]): (node, attempts closed with
    /// [`NODE_LOST`]; those attempts are in `closed` too). Reported once per loss.
    pub lost_nodes: Vec<(String, usize)>,
    /// Outbound attempts nobody wrote an outcome for within the queue's wrap-up + 30 s:
    /// the default outcome (from the attempt's result) written for each.
    pub outbound_defaults: Vec<MemberAfter>,
    /// Members stopped because their `expire_at` passed (ids).
    pub expired_members: Vec<i64>,
}

/// Which members a list, patch or delete is about (Webitel's search fields). Every field
/// set must match; an empty `queues` means every queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFilter {
    /// Queue ids or names.
    pub queues: Vec<String>,
    pub id: Option<i64>,
    /// Case-insensitive, `%` any run of characters, `_` one character (SQL ILIKE); `""`
    /// matches only members without a name.
    pub name: Option<String>,
    /// A communication with exactly this destination.
    pub destination: Option<String>,
    /// Created at or after this time (`today: true` = since midnight).
    pub created_since_ms: Option<Ms>,
    /// Created before this time (`today: false` = before midnight).
    pub created_before_ms: Option<Ms>,
    /// true: finished (`stop_at` set); false: still active.
    pub completed: Option<bool>,
    /// Bucket id or name.
    pub bucket: Option<String>,
}

/// Fields of one communication to change (`patchMembers` `communications[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommunicationPatch {
    pub destination: Option<String>,
    pub kind: Option<String>,
    pub display: Option<String>,
    pub priority: Option<i64>,
    pub resource: Option<String>,
    pub description: Option<String>,
}

/// What `patch_members` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPatch {
    pub name: Option<String>,
    pub priority: Option<i64>,
    /// Bucket id or name.
    pub bucket: Option<String>,
    /// Move to this queue (id or name; an outbound one).
    pub queue: Option<String>,
    pub ready_at_ms: Option<Ms>,
    /// Finishes the member: sets `stop_cause` and `stop_at = now`.
    pub stop_cause: Option<String>,
    /// A JSON object merged into the member's variables (keys replaced).
    pub variables: Option<String>,
    /// By 0-based index into the member's communications; unknown indices are ignored
    /// (as Webitel does: a patch cannot add numbers).
    pub communications: Vec<(usize, CommunicationPatch)>,
}

/// A member that may be dialled now, with the communication to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialCandidate {
    pub member: Member,
    /// Index into `member.communications`.
    pub communication: usize,
}

/// A dialler's request to start an attempt on a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundStart {
    /// Queue id.
    pub queue: String,
    /// Member id.
    pub member: i64,
    /// Index into the member's communications.
    pub communication: usize,
    /// Offline, preview and progressive reserve an agent first; predictive dials without.
    pub agent: Option<String>,
    /// The node that will place the call.
    pub node: String,
    /// The uuid the member's leg will have (the dialer picks it before it dials), so an
    /// offer finds the leg waiting for it; empty when unknown.
    pub call_id: String,
    /// The reservation (agent and attempt) ends here unless the call reports first.
    pub lease_until_ms: Ms,
}

/// A started outbound attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttempt {
    pub attempt: i64,
    pub member: Member,
    pub communication: usize,
    /// The reserved agent (with what its phone needs), when one was asked for.
    pub agent: Option<OfferedAgent>,
}

/// How an outbound attempt ended, for the member: from an attempt flow (`confirm`…
/// `retry`), `attemptResult`, an agent's wrap-up, or the janitor's default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// `success`, `cancel`, `abandoned`, `no_answer`, `busy`, a custom status…
    pub result: String,
    pub description: Option<String>,
    /// Finish the member whatever the result.
    pub stop: bool,
    /// Overrides the queue's wait before the next attempt.
    pub wait_between_retries_secs: Option<u64>,
    /// The next attempt not before this time (ignored when the member finishes).
    pub ready_at_ms: Option<Ms>,
    /// Overrides the queue's max attempts for this member (0 = no limit).
    pub max_attempts: Option<u32>,
    /// Do not dial this attempt's communication again.
    pub exclude_current_communication: bool,
    /// Dial the same communication next time.
    pub redial: bool,
    /// Dial this attempt's communication through this gateway from now on (`retry` through
    /// another resource).
    pub resource: Option<String>,
    /// Agent (id) preferred for the next attempt.
    pub sticky_agent: Option<String>,
    pub expire_at_ms: Option<Ms>,
    /// False for a `cancel` decided before dialling: the member's attempts stay as they are.
    pub counts_attempt: bool,
    /// A JSON object merged into the member's variables.
    pub variables: Option<String>,
    pub add_communications: Vec<Communication>,
}

impl AttemptOutcome {
    /// An outcome with only its result; an attempt counts.
    pub fn result(result: impl Into<String>) -> AttemptOutcome {
        let result = result.into();
        AttemptOutcome {
            counts_attempt: result != "cancel",
            result,
            description: None,
            stop: false,
            wait_between_retries_secs: None,
            ready_at_ms: None,
            max_attempts: None,
            exclude_current_communication: false,
            redial: false,
            resource: None,
            sticky_agent: None,
            expire_at_ms: None,
            variables: None,
            add_communications: Vec::new(),
        }
    }
}

/// The member after an outcome was written (what events name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MemberAfter {
    pub attempt: i64,
    pub member: i64,
    /// The outcome's result, as written first.
    pub result: String,
    /// Finished: no more attempts.
    pub stopped: bool,
    pub stop_cause: Option<String>,
    /// When it may be dialled next (not stopped).
    pub ready_at_ms: Option<Ms>,
    pub attempts: u32,
}

/// Outbound figures of a queue since a time, for the pacer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DialStats {
    /// Outbound attempts started.
    pub dialled: u64,
    /// The member answered ([`Store::member_answered`], which the caller's side reports for
    /// every kind: an agent who accepted a preview is not an answer).
    pub answered: u64,
    /// Answered, then left before an agent was connected.
    pub abandoned: u64,
    /// Results `no_answer`, `busy`, `failed`.
    pub no_answer: u64,
    pub busy: u64,
    pub failed: u64,
    /// Mean conversation time of attempts that ended after an agent was connected.
    pub handle_ms_avg: Option<f64>,
    /// Mean time from the start of an attempt to the member's answer.
    pub answer_ms_avg: Option<f64>,
    /// Attempts of the queue open now and not talking to an agent (dialling, waiting
    /// for an agent, or being offered).
    pub in_flight: u64,
}

/// Wakes a node or process when another writer changed the store.
pub trait ChangeFeed: Send {
    /// Waits up to `timeout`; true when another writer changed attempts, agents or
    /// provisioning (or something may have been missed, after a reconnection). An error
    /// says the store cannot be reached now; the next call tries again.
    fn wait(&mut self, timeout: Duration) -> StoreResult<bool>;
}

/// An attempt as kept (for history, metrics, lastBridged and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub id: i64,
    pub queue_id: String,
    pub call_id: String,
    pub caller_number: String,
    pub caller_name: String,
    pub destination: String,
    pub node: String,
    pub bucket_id: Option<String>,
    pub band: i64,
    pub since_ms: Ms,
    pub state: AttemptState,
    pub agent_id: Option<String>,
    pub joined_at_ms: Ms,
    pub offered_at_ms: Option<Ms>,
    pub bridged_at_ms: Option<Ms>,
    pub left_at_ms: Option<Ms>,
    pub ended_at_ms: Option<Ms>,
    pub result: Option<String>,
    pub offers: i64,
    pub variables: String,
    /// Outbound attempts: the member and the index of the communication dialled.
    pub member_id: Option<i64>,
    pub communication: Option<usize>,
}

impl AttemptRecord {
    /// The attempt as metrics read it; `None` while the caller still waits. A caller still
    /// talking to an agent counts as answered: its wait is known.
    pub fn finished(&self) -> Option<crate::metrics::Finished> {
        Some(crate::metrics::Finished {
            joined_at_ms: self.joined_at_ms,
            bridged_at_ms: self.bridged_at_ms,
            left_at_ms: self.left_at_ms.or(self.bridged_at_ms)?,
            ended_at_ms: self.ended_at_ms,
            bucket: self.bucket_id.clone(),
        })
    }
}

/// An agent's runtime view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub status: AgentStatus,
    pub pause_reason: Option<String>,
    pub state: AgentState,
    pub state_since_ms: Ms,
    pub ready_at_ms: Option<Ms>,
    pub no_answer_count: u32,
    pub calls_today: i64,
    pub talk_secs_today: i64,
    /// The attempt it is offered or talking to.
    pub attempt: Option<i64>,
    pub lease_until_ms: Option<Ms>,
}

impl AgentView {
    /// The state at `now` and since when: a wrap-up or missed-offer rest that is over is
    /// `waiting` since it ended, as the distributor sees it (the stored state changes only at
    /// the agent's next event).
    pub fn state_at(&self, now: Ms) -> (AgentState, Ms) {
        match (self.state, self.ready_at_ms) {
            (AgentState::WrapTime | AgentState::Missed, Some(ready))
                if ready <= now && self.attempt.is_none() =>
            {
                (AgentState::Waiting, ready)
            }
            _ => (self.state, self.state_since_ms),
        }
    }
}

/// `getQueueAgents` counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentCounts {
    pub count: u32,
    pub online: u32,
    pub offline: u32,
    pub pause: u32,
    pub waiting: u32,
}

/// The contract every store implements. Times are passed in (`now`), never read.
pub trait Store: Send + Sync {
    /// Names the store for messages (the file or URL without credentials).
    fn describe(&self) -> String;

    // Provisioning.
    fn setup(&self) -> StoreResult<Setup>;
    /// Validates the setup the changes lead to and writes them, all or nothing.
    fn apply(&self, changes: &[Change]) -> StoreResult<()>;
    fn set_agent_status(
        &self,
        agent: &str,
        status: AgentStatus,
        reason: Option<&str>,
        now: Ms,
    ) -> StoreResult<()>;
    fn agents(&self, now: Ms) -> StoreResult<Vec<AgentView>>;

    // A caller's side.
    fn join(&self, request: &JoinRequest, now: Ms) -> StoreResult<JoinOutcome>;
    /// The agent answered: the attempt and that agent are bridged; the other agents of a
    /// ring-all offer are free again. False when the attempt is no longer offered to that
    /// agent (the caller left, or the lease expired): the caller's side drops the agent leg.
    fn answered(&self, attempt: i64, agent: &str, now: Ms) -> StoreResult<bool>;
    /// The offer was missed by these agents (`reason`: no_answer, busy, rejected, failed;
    /// agent_hangup for an agent who answered but was gone before the caller was connected):
    /// they rest for the no-answer delay (paused after max no-answer); the caller waits on
    /// in its place. Returns the agents that were paused.
    fn missed(
        &self,
        attempt: i64,
        agents: &[String],
        reason: &str,
        now: Ms,
    ) -> StoreResult<Vec<Paused>>;
    /// The attempt is over: a waiting or offered caller leaves with `result` (`abandoned`,
    /// `cancel`, `error`…; agents offered to it are free again); a bridged one ends its
    /// conversation (`success`; the agent wraps up). Idempotent: returns the attempt's
    /// final result, the one stored first.
    fn leave(&self, attempt: i64, result: &str, now: Ms) -> StoreResult<String>;
    fn attempt(&self, attempt: i64) -> StoreResult<Option<AttemptRecord>>;
    /// 1 = next to be served in its queue; 0 = not waiting.
    fn position(&self, attempt: i64) -> StoreResult<u32>;

    // The distributor.
    fn dispatch_view(&self, now: Ms) -> StoreResult<DispatchView>;
    /// One conditional write: reserves every agent and the attempt, or nothing.
    fn claim(&self, claim: &Claim, now: Ms) -> StoreResult<Option<Offer>>;
    /// Ends what is due: expired offer leases, max-wait and no-agent timeouts, rests.
    fn janitor(&self, now: Ms) -> StoreResult<Janitor>;
    /// The next time something becomes due (for the distributor's sleep).
    fn next_due(&self, now: Ms) -> StoreResult<Option<Ms>>;
    /// Closes the open attempts of `node` (a restart: their calls are gone).
    fn close_node(&self, node: &str, result: &str, now: Ms) -> StoreResult<usize>;

    // Several nodes.
    /// `node` is alive at `now` (see [`NODE_LEASE_MS`]).
    fn heartbeat(&self, node: &str, now: Ms) -> StoreResult<()>;
    /// A feed of other writers' changes, on its own connection.
    fn change_feed(&self) -> StoreResult<Box<dyn ChangeFeed>>;

    // Reading.
    /// Attempts of a queue (all queues when `None`) that joined at or after `since`.
    fn history(&self, queue: Option<&str>, since: Ms) -> StoreResult<Vec<AttemptRecord>>;
    /// Waiting and offering attempts in dispatch order.
    fn waiting(&self) -> StoreResult<Vec<AttemptRecord>>;
    /// `waiting` counts the agents free at `now` (online, no lease, rest over).
    fn agent_counts(&self, queue: &str, now: Ms) -> StoreResult<AgentCounts>;
    /// `agent_counts` of every queue, read once (a queue nobody serves has zero counts).
    fn agent_counts_by_queue(&self, now: Ms) -> StoreResult<BTreeMap<String, AgentCounts>>;

    // Members of outbound queues.
    /// Validated (the queue exists and is outbound, communications well-formed, time zone
    /// known; errors at `members[i]…`) and written all or nothing; their new ids.
    fn add_members(&self, members: &[Member], now: Ms) -> StoreResult<Vec<i64>>;
    /// Matching members, lowest id first, at most `limit`.
    fn members(&self, filter: &MemberFilter, limit: usize) -> StoreResult<Vec<Member>>;
    fn member(&self, id: i64) -> StoreResult<Option<Member>>;
    /// Patches every matching member in one transaction; how many.
    fn patch_members(
        &self,
        filter: &MemberFilter,
        patch: &MemberPatch,
        now: Ms,
    ) -> StoreResult<usize>;
    /// Deletes every matching member, or none when one has an attempt open (the error
    /// names it).
    fn delete_members(&self, filter: &MemberFilter) -> StoreResult<usize>;

    // The dialler.
    /// Members of the queue that may be dialled at `now`, in dialling order.
    fn dial_candidates(
        &self,
        queue: &str,
        now: Ms,
        limit: usize,
    ) -> StoreResult<Vec<DialCandidate>>;
    /// One conditional write: the attempt starts (the agent reserved) or `None` when
    /// another node won the member or the agent.
    fn start_outbound(
        &self,
        start: &OutboundStart,
        now: Ms,
    ) -> StoreResult<Option<OutboundAttempt>>;
    /// The member answered a `dialling` attempt: it waits for an agent, first in its
    /// queue. False when the attempt is closed.
    fn member_answered(&self, attempt: i64, now: Ms) -> StoreResult<bool>;
    /// Writes the attempt's outcome to its member (closing the attempt if still open).
    /// Idempotent: the first outcome wins and is returned again.
    fn finish_outbound(
        &self,
        attempt: i64,
        outcome: &AttemptOutcome,
        now: Ms,
    ) -> StoreResult<MemberAfter>;
    /// Outbound attempts of the queue that started at or after `since`.
    fn dial_stats(&self, queue: &str, since: Ms, now: Ms) -> StoreResult<DialStats>;
}

/// Opens the store a `store` setting names: a `postgres://` or `postgresql://` URL is a
/// [`postgres::PgStore`], anything else a SQLite file.
pub fn open(spec: &str) -> StoreResult<Box<dyn Store>> {
    if postgres::is_url(spec) {
        Ok(Box::new(postgres::PgStore::open(spec)?))
    } else {
        Ok(Box::new(sqlite::SqliteStore::open(spec)?))
    }
}

/// A boxed store is a store (what [`open`] returns passes where `&dyn Store` is taken).
impl<S: Store + ?Sized> Store for Box<S> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn setup(&self) -> StoreResult<Setup> {
        (**self).setup()
    }
    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        (**self).apply(changes)
    }
    fn set_agent_status(
        &self,
        agent: &str,
        status: AgentStatus,
        reason: Option<&str>,
        now: Ms,
    ) -> StoreResult<()> {
        (**self).set_agent_status(agent, status, reason, now)
    }
    fn agents(&self, now: Ms) -> StoreResult<Vec<AgentView>> {
        (**self).agents(now)
    }
    fn join(&self, request: &JoinRequest, now: Ms) -> StoreResult<JoinOutcome> {
        (**self).join(request, now)
    }
    fn answered(&self, attempt: i64, agent: &str, now: Ms) -> StoreResult<bool> {
        (**self).answered(attempt, agent, now)
    }
    fn missed(
        &self,
        attempt: i64,
        agents: &[String],
        reason: &str,
        now: Ms,
    ) -> StoreResult<Vec<Paused>> {
        (**self).missed(attempt, agents, reason, now)
    }
    fn leave(&self, attempt: i64, result: &str, now: Ms) -> StoreResult<String> {
        (**self).leave(attempt, result, now)
    }
    fn attempt(&self, attempt: i64) -> StoreResult<Option<AttemptRecord>> {
        (**self).attempt(attempt)
    }
    fn position(&self, attempt: i64) -> StoreResult<u32> {
        (**self).position(attempt)
    }
    fn dispatch_view(&self, now: Ms) -> StoreResult<DispatchView> {
        (**self).dispatch_view(now)
    }
    fn claim(&self, claim: &Claim, now: Ms) -> StoreResult<Option<Offer>> {
        (**self).claim(claim, now)
    }
    fn janitor(&self, now: Ms) -> StoreResult<Janitor> {
        (**self).janitor(now)
    }
    fn next_due(&self, now: Ms) -> StoreResult<Option<Ms>> {
        (**self).next_due(now)
    }
    fn close_node(&self, node: &str, result: &str, now: Ms) -> StoreResult<usize> {
        (**self).close_node(node, result, now)
    }
    fn heartbeat(&self, node: &str, now: Ms) -> StoreResult<()> {
        (**self).heartbeat(node, now)
    }
    fn change_feed(&self) -> StoreResult<Box<dyn ChangeFeed>> {
        (**self).change_feed()
    }
    fn history(&self, queue: Option<&str>, since: Ms) -> StoreResult<Vec<AttemptRecord>> {
        (**self).history(queue, since)
    }
    fn waiting(&self) -> StoreResult<Vec<AttemptRecord>> {
        (**self).waiting()
    }
    fn agent_counts(&self, queue: &str, now: Ms) -> StoreResult<AgentCounts> {
        (**self).agent_counts(queue, now)
    }
    fn agent_counts_by_queue(&self, now: Ms) -> StoreResult<BTreeMap<String, AgentCounts>> {
        (**self).agent_counts_by_queue(now)
    }
    fn add_members(&self, members: &[Member], now: Ms) -> StoreResult<Vec<i64>> {
        (**self).add_members(members, now)
    }
    fn members(&self, filter: &MemberFilter, limit: usize) -> StoreResult<Vec<Member>> {
        (**self).members(filter, limit)
    }
    fn member(&self, id: i64) -> StoreResult<Option<Member>> {
        (**self).member(id)
    }
    fn patch_members(
        &self,
        filter: &MemberFilter,
        patch: &MemberPatch,
        now: Ms,
    ) -> StoreResult<usize> {
        (**self).patch_members(filter, patch, now)
    }
    fn delete_members(&self, filter: &MemberFilter) -> StoreResult<usize> {
        (**self).delete_members(filter)
    }
    fn dial_candidates(
        &self,
        queue: &str,
        now: Ms,
        limit: usize,
    ) -> StoreResult<Vec<DialCandidate>> {
        (**self).dial_candidates(queue, now, limit)
    }
    fn start_outbound(
        &self,
        start: &OutboundStart,
        now: Ms,
    ) -> StoreResult<Option<OutboundAttempt>> {
        (**self).start_outbound(start, now)
    }
    fn member_answered(&self, attempt: i64, now: Ms) -> StoreResult<bool> {
        (**self).member_answered(attempt, now)
    }
    fn finish_outbound(
        &self,
        attempt: i64,
        outcome: &AttemptOutcome,
        now: Ms,
    ) -> StoreResult<MemberAfter> {
        (**self).finish_outbound(attempt, outcome, now)
    }
    fn dial_stats(&self, queue: &str, since: Ms, now: Ms) -> StoreResult<DialStats> {
        (**self).dial_stats(queue, since, now)
    }
}
