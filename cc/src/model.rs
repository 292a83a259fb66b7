//! What an operator provisions: queues, agents, tiers, skills, buckets and calendars.
//!
//! Every entity reads from JSON (an import file, a `cc … add` argument) with unknown fields
//! refused, and then [`Setup::validate`] checks what JSON cannot say (ranges, references,
//! one way to reach an agent). An error names the field path, e.g.
//! `queues[1] (sales): max_no_answer: must be at most 100`.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::strategy::Strategy;

/// A provisioning error: the field path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Reads `T` from JSON text; an error names the path of the bad field.
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        FieldError::new(
            if path == "." { String::new() } else { path },
            inner.to_string(),
        )
    })?;
    de.end()
        .map_err(|e| FieldError::new("", format!("after the value: {e}")))?;
    Ok(value)
}

/// Reads `T` from a JSON value; an error names the path of the bad field.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        FieldError::new(
            if path == "." { String::new() } else { path },
            e.into_inner().to_string(),
        )
    })
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_max_wait() -> u64 {
    60
}
fn default_no_answer_delay() -> u64 {
    10
}
fn default_max_no_answer() -> u32 {
    3
}
fn default_ring_timeout() -> u64 {
    20
}
fn default_sticky_window() -> u64 {
    30
}
fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn default_max_attempts() -> u32 {
    3
}
pub(crate) fn default_wait_between_retries() -> u64 {
    600
}
fn default_dial_timeout() -> u64 {
    30
}
fn default_abandon_window() -> u64 {
    60
}
fn default_min_agents() -> u32 {
    3
}
fn default_max_lines_per_agent() -> u32 {
    3
}
fn is_inbound(kind: &QueueKind) -> bool {
    *kind == QueueKind::Inbound
}
fn is_three(n: &u32) -> bool {
    *n == 3
}
fn is_one(n: &u32) -> bool {
    *n == 1
}
fn is_zero(n: &u32) -> bool {
    *n == 0
}
fn is_600(n: &u64) -> bool {
    *n == 600
}
fn is_30(n: &u64) -> bool {
    *n == 30
}
fn is_60(n: &u64) -> bool {
    *n == 60
}

/// What a queue serves: inbound callers, or members it calls (outbound kinds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    /// Callers join it (`joinQueue`).
    #[default]
    Inbound,
    /// Callbacks: an agent is offered the next member, then the member is dialled.
    #[serde(alias = "callback")]
    Offline,
    /// The agent sees the member first and accepts, then the member is dialled.
    Preview,
    /// `lines_per_agent` lines dialled per free agent.
    Progressive,
    /// Over-dials from the live answer rate, abandons kept under `max_abandon_percent`.
    Predictive,
}

impl QueueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueKind::Inbound => "inbound",
            QueueKind::Offline => "offline",
            QueueKind::Preview => "preview",
            QueueKind::Progressive => "progressive",
            QueueKind::Predictive => "predictive",
        }
    }
    /// True for the kinds that dial members.
    pub fn is_outbound(self) -> bool {
        self != QueueKind::Inbound
    }
}

/// A percentage kept in hundredths (3.25 % = 325), so a queue stays `Eq`; JSON reads and
/// writes it as a decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent(pub u32);

impl Percent {
    pub fn hundredths(self) -> u32 {
        self.0
    }
    /// The percentage as a number (3.0 for 3 %).
    pub fn value(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl Default for Percent {
    fn default() -> Percent {
        Percent(300)
    }
}

impl Serialize for Percent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.value())
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        let v = f64::deserialize(d)?;
        if !(0.0..=100.0).contains(&v) {
            return Err(serde::de::Error::custom(format!(
                "{v} is not a percentage from 0 to 100"
            )));
        }
        Ok(Percent((v * 100.0).round() as u32))
    }
}

fn is_three_percent(p: &Percent) -> bool {
    *p == Percent::default()
}

/// A queue: inbound (callers join it) or outbound (it dials its members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub id: String,
    /// Shown to people and accepted by flows as `queue.name`; defaults to the id.
    #[serde(default)]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub strategy: Strategy,
    /// Added to every caller's priority band: callers of a higher-priority queue are
    /// served first by agents shared between queues.
    #[serde(default)]
    pub priority: i64,
    /// Seconds a caller waits before leaving with `timeout` (0 = no limit).
    #[serde(default = "default_max_wait")]
    pub max_wait_secs: u64,
    /// Callers allowed to wait at once; the next one is refused with `max_wait_size`
    /// (0 = no limit).
    #[serde(default)]
    pub max_waiting: u64,
    /// Seconds a caller may wait while no agent of the queue is online; then it leaves
    /// with `no_agents` (0 = wait for `max_wait_secs` anyway). A join while no agent is
    /// online is refused with `no_agents` when this is set.
    #[serde(default)]
    pub no_agents_timeout_secs: u64,
    /// Hold audio: a file, `local_stream://…` or `tone_stream://…` (none = music on hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ringtone: Option<String>,
    /// Calendar id: joins outside its open hours are refused with `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
    /// Seconds an agent rests after a call of this queue before the next offer.
    #[serde(default)]
    pub wrap_up_secs: u64,
    /// Seconds an agent who missed an offer is skipped.
    #[serde(default = "default_no_answer_delay")]
    pub no_answer_delay_secs: u64,
    /// Missed offers in a row that pause the agent (0 = never).
    #[serde(default = "default_max_no_answer")]
    pub max_no_answer: u32,
    /// Seconds an agent's phone rings before the offer counts as missed.
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
    /// Whether a caller's preferred agent (joinQueue `agent`) is waited for.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sticky_agent: bool,
    /// Seconds a caller waits for its preferred agent before anyone may take it.
    #[serde(default = "default_sticky_window")]
    pub sticky_window_secs: u64,
    /// A caller who hung up and calls again within this many seconds keeps the time it
    /// had waited (0 = off).
    #[serde(default)]
    pub abandon_resume_secs: u64,
    /// Tier escalation: agents of level L take callers who waited at least
    /// (L − lowest level) × this many seconds (0 = every level at once, lower first).
    #[serde(default)]
    pub tier_escalation_secs: u64,
    /// Skills an agent needs (any one of them, capacity in range) besides its tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<QueueSkill>,
    /// `inbound` (default), `offline` (alias `callback`), `preview`, `progressive`,
    /// `predictive`.
    #[serde(rename = "type", default, skip_serializing_if = "is_inbound")]
    pub kind: QueueKind,
    /// Attempts per member before it is stopped (0 = no limit).
    #[serde(default = "default_max_attempts", skip_serializing_if = "is_three")]
    pub max_attempts: u32,
    /// Seconds before a member is dialled again after an attempt that did not finish it.
    #[serde(
        default = "default_wait_between_retries",
        skip_serializing_if = "is_600"
    )]
    pub wait_between_retries_secs: u64,
    /// Attempts per number of a member (0 = no per-number limit).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_attempts_per_number: u32,
    /// Seconds the member's phone rings.
    #[serde(default = "default_dial_timeout", skip_serializing_if = "is_30")]
    pub dial_timeout_secs: u64,
    /// Flow run without a call before each attempt (`confirm` / `cancel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_attempt_flow: Option<String>,
    /// Flow run without a call after each attempt (`success` / `abandoned` / `retry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_attempt_flow: Option<String>,
    /// Progressive: lines in flight per free agent.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub lines_per_agent: u32,
    /// Predictive: abandoned calls allowed, in percent of live answers over the window.
    #[serde(default, skip_serializing_if = "is_three_percent")]
    pub max_abandon_percent: Percent,
    /// Predictive: the window the abandon rate is measured over, in minutes.
    #[serde(default = "default_abandon_window", skip_serializing_if = "is_60")]
    pub abandon_window_mins: u64,
    /// Predictive: below this many agents, one line per free agent.
    #[serde(default = "default_min_agents", skip_serializing_if = "is_three")]
    pub min_agents: u32,
    /// Predictive: lines per free agent at most.
    #[serde(
        default = "default_max_lines_per_agent",
        skip_serializing_if = "is_three"
    )]
    pub max_lines_per_agent: u32,
    /// Predictive: the file played when no agent is free within 2 s of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe_message: Option<String>,
    /// Gateway members' numbers are dialled through (a communication's `resource` wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// SIP profile for `sip:` destinations (none = `internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id_name: Option<String>,
}

/// A skill a queue asks for, with the capacity range it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSkill {
    pub skill: String,
    #[serde(default)]
    pub min_capacity: u32,
    #[serde(default = "hundred")]
    pub max_capacity: u32,
}

fn hundred() -> u32 {
    100
}

/// How an agent's phone is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentContact {
    /// A directory user, dialled as `user/EXTENSION@DOMAIN`.
    User {
        extension: String,
        domain: Option<String>,
    },
    /// A gateway: `sofia/gateway/NAME/NUMBER`.
    Gateway { gateway: String, number: String },
    /// A SIP URI through a profile: `sofia/PROFILE/URI`.
    Sip { profile: String, uri: String },
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Directory extension (dialled as `user/EXT@DOMAIN`). Exactly one of `extension`
    /// and `contact` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Domain of the extension (none = the module's default domain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// A contact dial string: `user/EXT[@DOMAIN]`, `sofia/gateway/NAME/NUMBER` or
    /// `sofia/PROFILE/URI`. It is read into its parts here and dialled through the same
    /// dial-string builder as `bridge`, so it can hold no variables or extra legs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<AgentSkill>,
}

/// A skill an agent has, with its capacity (0–100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSkill {
    pub skill: String,
    #[serde(default = "hundred")]
    pub capacity: u32,
}

/// An agent serving a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub queue: String,
    pub agent: String,
    /// Lower levels are offered first (and, with escalation, alone at first).
    #[serde(default = "one")]
    pub level: u32,
    /// Order inside a level for top-down, sequential and round-robin.
    #[serde(default = "one")]
    pub position: u32,
    /// Share of offers under weighted-random (relative to the other agents).
    #[serde(default = "one")]
    pub weight: u32,
}

/// A skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// A bucket: a label on callers (and later members) for priority and statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Added to the priority band of callers in this bucket.
    #[serde(default)]
    pub priority: i64,
}

/// Everything provisioned: the shape of an import file and of `cc export`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    #[serde(default)]
    pub queues: Vec<Queue>,
    #[serde(default)]
    pub agents: Vec<Agent>,
    #[serde(default)]
    pub tiers: Vec<Tier>,
    #[serde(default)]
    pub skills: Vec<Skill>,
    #[serde(default)]
    pub buckets: Vec<Bucket>,
    #[serde(default)]
    pub calendars: Vec<Calendar>,
}

/// Longest id accepted; ids name things in fs_cli and events.
const MAX_ID_LEN: usize = 64;
/// Longest name accepted.
const MAX_NAME_LEN: usize = 200;

/// Checks an id: 1–64 characters of letters, digits, `_`, `-`, `.`, `@`.
pub fn check_id(path: &str, id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(FieldError::new(path, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(FieldError::new(
            path,
            format!("is {} characters long; at most {MAX_ID_LEN}", id.len()),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@')))
    {
        return Err(FieldError::new(
            path,
            format!(
                "`{}` holds {bad:?}; ids use letters, digits, `_`, `-`, `.` and `@`",
                id.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// Checks a free-text name: any printable text (it stays data everywhere), no control
/// characters, at most 200 characters.
fn check_name(path: &str, name: &str) -> Result<(), FieldError> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(
            path,
            format!("is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(path, "holds a control character"));
    }
    Ok(())
}

/// Checks an entity's `id` and `name` (at `AT.id`, `AT.name`), filling an empty name with
/// the id.
pub(crate) fn check_id_and_name(at: &str, id: &str, name: &mut String) -> Result<(), FieldError> {
    check_id(&format!("{at}.id"), id)?;
    if name.is_empty() {
        *name = id.to_string();
    }
    check_name(&format!("{at}.name"), name)
}

fn check_max(path: &str, value: u64, max: u64) -> Result<(), FieldError> {
    if value > max {
        return Err(FieldError::new(path, format!("is {value}; at most {max}")));
    }
    Ok(())
}

/// One day, the upper bound of every duration setting.
const DAY_SECS: u64 = 86_400;

impl Queue {
    /// Checks the fields JSON cannot check, and fills `name` from `id`.
    pub fn validate(&mut self, at: &str) -> Result<(), FieldError> {
        let p = |field: &str| format!("{at}.{field}");
        check_id_and_name(at, &self.id, &mut self.name)?;
        self.strategy.check_supported(&p("strategy"))?;
        for (field, value) in [
            ("max_wait_secs", self.max_wait_secs),
            ("no_agents_timeout_secs", self.no_agents_timeout_secs),
            ("wrap_up_secs", self.wrap_up_secs),
            ("no_answer_delay_secs", self.no_answer_delay_secs),
            ("sticky_window_secs", self.sticky_window_secs),
            ("abandon_resume_secs", self.abandon_resume_secs),
            ("tier_escalation_secs", self.tier_escalation_secs),
        ] {
            check_max(&p(field), value, DAY_SECS)?;
        }
        if !(5..=600).contains(&self.ring_timeout_secs) {
            return Err(FieldError::new(
                p("ring_timeout_secs"),
                format!("is {}; must be 5 to 600", self.ring_timeout_secs),
            ));
        }
        check_max(&p("max_no_answer"), self.max_no_answer.into(), 100)?;
        check_max(&p("max_waiting"), self.max_waiting, 1_000_000)?;
        if self.priority.abs() > 1_000_000 {
            return Err(FieldError::new(
                p("priority"),
                "must be between -1000000 and 1000000",
            ));
        }
        if let Some(ringtone) = &self.ringtone {
            check_name(&p("ringtone"), ringtone)?;
            if ringtone.is_empty() {
                return Err(FieldError::new(
                    p("ringtone"),
                    "must not be empty (leave it out for music on hold)",
                ));
            }
        }
        if let Some(calendar) = &self.calendar {
            check_id(&p("calendar"), calendar)?;
        }
        self.validate_outbound(at)?;
        for (i, skill) in self.skills.iter().enumerate() {
            let sp = format!("{at}.skills[{i}]");
            check_id(&format!("{sp}.skill"), &skill.skill)?;
            check_max(
                &format!("{sp}.max_capacity"),
                skill.max_capacity.into(),
                100,
            )?;
            if skill.min_capacity > skill.max_capacity {
                return Err(FieldError::new(
                    format!("{sp}.min_capacity"),
                    format!(
                        "{} is above max_capacity {}",
                        skill.min_capacity, skill.max_capacity
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Queue {
    /// The outbound settings: ranges, flow ids, dial parts, and a predictive queue's
    /// safe message.
    fn validate_outbound(&self, at: &str) -> Result<(), FieldError> {
        let p = |field: &str| format!("{at}.{field}");
        check_max(&p("max_attempts"), self.max_attempts.into(), 1000)?;
        check_max(
            &p("wait_between_retries_secs"),
            self.wait_between_retries_secs,
            30 * DAY_SECS,
        )?;
        check_max(
            &p("max_attempts_per_number"),
            self.max_attempts_per_number.into(),
            1000,
        )?;
        if !(5..=600).contains(&self.dial_timeout_secs) {
            return Err(FieldError::new(
                p("dial_timeout_secs"),
                format!("is {}; must be 5 to 600", self.dial_timeout_secs),
            ));
        }
        for (field, value) in [
            ("lines_per_agent", self.lines_per_agent),
            ("min_agents", self.min_agents),
            ("max_lines_per_agent", self.max_lines_per_agent),
        ] {
            if field != "min_agents" && value == 0 {
                return Err(FieldError::new(p(field), "must be at least 1"));
            }
            check_max(&p(field), value.into(), 100)?;
        }
        if !(1..=1440).contains(&self.abandon_window_mins) {
            return Err(FieldError::new(
                p("abandon_window_mins"),
                format!("is {}; must be 1 to 1440", self.abandon_window_mins),
            ));
        }
        for (field, flow) in [
            ("pre_attempt_flow", &self.pre_attempt_flow),
            ("after_attempt_flow", &self.after_attempt_flow),
        ] {
            if let Some(flow) = flow {
                check_id(&p(field), flow)?;
            }
        }
        for (field, part, what) in [
            ("gateway", &self.gateway, "the gateway"),
            ("sip_profile", &self.sip_profile, "the profile"),
            ("caller_id_number", &self.caller_id_number, "the number"),
        ] {
            if let Some(part) = part {
                check_dial_part(part, what, false).map_err(|m| FieldError::new(p(field), m))?;
            }
        }
        if let Some(name) = &self.caller_id_name {
            check_name(&p("caller_id_name"), name)?;
        }
        match &self.safe_message {
            Some(file) => {
                check_name(&p("safe_message"), file)?;
                if file.is_empty() {
                    return Err(FieldError::new(p("safe_message"), "must not be empty"));
                }
            }
            None if self.kind == QueueKind::Predictive => {
                return Err(FieldError::new(
                    p("safe_message"),
                    "a predictive queue needs a safe_message: the file played when no agent \
                     is free within 2 s of the answer",
                ));
            }
            None => {}
        }
        Ok(())
    }
}

impl Agent {
    /// Checks the fields JSON cannot check, and fills `name` from `id`.
    pub fn validate(&mut self, at: &str) -> Result<(), FieldError> {
        let p = |field: &str| format!("{at}.{field}");
        check_id_and_name(at, &self.id, &mut self.name)?;
        match (&self.extension, &self.contact) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    p("contact"),
                    "give either `extension` or `contact`, not both",
                ));
            }
            (None, None) => {
                return Err(FieldError::new(
                    p("extension"),
                    "an agent needs an `extension` or a `contact`",
                ));
            }
            _ => {}
        }
        if self.domain.is_some() && self.extension.is_none() {
            return Err(FieldError::new(p("domain"), "only goes with `extension`"));
        }
        self.reach().map_err(|message| {
            let field = if self.contact.is_some() {
                "contact"
            } else {
                "extension"
            };
            FieldError::new(p(field), message)
        })?;
        for (i, skill) in self.skills.iter().enumerate() {
            let sp = format!("{at}.skills[{i}]");
            check_id(&format!("{sp}.skill"), &skill.skill)?;
            check_max(&format!("{sp}.capacity"), skill.capacity.into(), 100)?;
        }
        Ok(())
    }

    /// How the agent's phone is reached, read from `extension`/`domain` or `contact`.
    pub fn reach(&self) -> Result<AgentContact, String> {
        if let Some(extension) = &self.extension {
            check_dial_part(extension, "the extension", false)?;
            if let Some(domain) = &self.domain {
                check_dial_part(domain, "the domain", false)?;
            }
            return Ok(AgentContact::User {
                extension: extension.clone(),
                domain: self.domain.clone(),
            });
        }
        let contact = self.contact.as_deref().unwrap_or_default();
        parse_contact(contact)
    }
}

/// Parses a contact dial string into the parts the dial-string builder takes.
pub fn parse_contact(contact: &str) -> Result<AgentContact, String> {
    let shape = "must look like user/EXT[@DOMAIN], sofia/gateway/NAME/NUMBER or sofia/PROFILE/URI";
    if let Some(user) = contact.strip_prefix("user/") {
        let (extension, domain) = match user.split_once('@') {
            Some((e, d)) => (e, Some(d)),
            None => (user, None),
        };
        check_dial_part(extension, "the extension", false)?;
        if let Some(d) = domain {
            check_dial_part(d, "the domain", false)?;
        }
        return Ok(AgentContact::User {
            extension: extension.to_string(),
            domain: domain.map(str::to_string),
        });
    }
    if let Some(rest) = contact.strip_prefix("sofia/gateway/") {
        let Some((gateway, number)) = rest.split_once('/') else {
            return Err(format!("`{}` {shape}", contact.escape_debug()));
        };
        check_dial_part(gateway, "the gateway", false)?;
        check_dial_part(number, "the number", false)?;
        return Ok(AgentContact::Gateway {
            gateway: gateway.to_string(),
            number: number.to_string(),
        });
    }
    if let Some(rest) = contact.strip_prefix("sofia/") {
        let Some((profile, uri)) = rest.split_once('/') else {
            return Err(format!("`{}` {shape}", contact.escape_debug()));
        };
        check_dial_part(profile, "the profile", false)?;
        check_dial_part(uri, "the URI", true)?;
        return Ok(AgentContact::Sip {
            profile: profile.to_string(),
            uri: uri.to_string(),
        });
    }
    Err(format!("`{}` {shape}", contact.escape_debug()))
}

/// A part of a dial string must not be able to change its structure: no separators of
/// legs or variable blocks, no variables, quotes, spaces or control characters. Only a SIP
/// URI may hold `:` (`sip:agent@host:5080`).
fn check_dial_part(part: &str, what: &str, allow_colon: bool) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("{what} is empty"));
    }
    let forbidden = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || (c == ':' && !allow_colon)
            || ",|[]{}<>$'\"\\".contains(c)
    };
    match part.chars().find(|&c| forbidden(c)) {
        Some(bad) => Err(format!("{what} `{}` holds {bad:?}", part.escape_debug())),
        None => Ok(()),
    }
}

/// One way to reach a member: a number or a SIP address, with how to dial it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Communication {
    /// A number (dialled through `resource` or the queue's gateway), `sip:…`, or a
    /// contact `user/…` / `sofia/…`.
    pub destination: String,
    /// The number's type (`mobile`, `work`…), free text.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Caller id shown to the member for this number (overrides the queue's number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Higher is dialled first among numbers tried as often.
    #[serde(default)]
    pub priority: i64,
    /// Gateway for this number (overrides the queue's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Attempts on this number (kept by the store).
    #[serde(default, skip_deserializing)]
    pub attempts: u32,
    /// Result of the last attempt on this number (kept by the store).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
    /// Not dialled any more (`exclude_current_communication`; kept by the store).
    #[serde(default, skip_deserializing, skip_serializing_if = "is_false")]
    pub excluded: bool,
}

impl Communication {
    /// A number with no other settings.
    pub fn number(destination: impl Into<String>) -> Communication {
        Communication {
            destination: destination.into(),
            kind: None,
            display: None,
            priority: 0,
            resource: None,
            description: None,
            attempts: 0,
            last_result: None,
            excluded: false,
        }
    }

    /// Checks the destination and the dial parts (at `AT.destination`…).
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        let p = |field: &str| format!("{at}.{field}");
        check_destination(&self.destination).map_err(|m| FieldError::new(p("destination"), m))?;
        if let Some(resource) = &self.resource {
            check_dial_part(resource, "the gateway", false)
                .map_err(|m| FieldError::new(p("resource"), m))?;
        }
        for (field, text) in [
            ("type", &self.kind),
            ("display", &self.display),
            ("description", &self.description),
        ] {
            if let Some(text) = text {
                check_name(&p(field), text)?;
            }
        }
        if self.priority.abs() > 1_000_000 {
            return Err(FieldError::new(
                p("priority"),
                "must be between -1000000 and 1000000",
            ));
        }
        Ok(())
    }

    /// How this number is dialled for `queue`: the communication's `resource` or the
    /// queue's `gateway` → a gateway call; `user/…` or `sofia/…` → that contact; `sip:…`
    /// → through the queue's SIP profile (`internal` when none).
    pub fn reach(&self, queue: &Queue) -> Result<AgentContact, String> {
        let destination = self.destination.as_str();
        if destination.starts_with("user/") || destination.starts_with("sofia/") {
            return parse_contact(destination);
        }
        if destination.starts_with("sip:") || destination.starts_with("sips:") {
            check_dial_part(destination, "the SIP address", true)?;
            return Ok(AgentContact::Sip {
                profile: queue
                    .sip_profile
                    .clone()
                    .unwrap_or_else(|| "internal".to_string()),
                uri: destination.to_string(),
            });
        }
        check_dial_part(destination, "the number", false)?;
        match self.resource.as_ref().or(queue.gateway.as_ref()) {
            Some(gateway) => {
                check_dial_part(gateway, "the gateway", false)?;
                Ok(AgentContact::Gateway {
                    gateway: gateway.clone(),
                    number: destination.to_string(),
                })
            }
            None => Err(format!(
                "`{}` is a number, and neither the communication's `resource` nor queue `{}`'s \
                 `gateway` says how to dial it; set `gateway` on the queue",
                destination.escape_debug(),
                queue.id
            )),
        }
    }
}

/// A gateway name (a queue's `gateway`, a communication's `resource`) that cannot change a
/// dial string's structure.
pub fn check_gateway(gateway: &str) -> Result<(), String> {
    check_dial_part(gateway, "the gateway", false)
}

/// A destination must be a contact, a SIP address or a number that cannot change a dial
/// string's structure.
fn check_destination(destination: &str) -> Result<(), String> {
    if destination.starts_with("user/") || destination.starts_with("sofia/") {
        return parse_contact(destination).map(|_| ());
    }
    if destination.starts_with("sip:") || destination.starts_with("sips:") {
        return check_dial_part(destination, "the SIP address", true);
    }
    check_dial_part(destination, "the number", false)
}

/// Reads and writes a JSON object kept as its text (member variables).
mod object_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        let value: serde_json::Value =
            serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!({}));
        value.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        Ok(serde_json::Value::Object(map).to_string())
    }
}

fn empty_object() -> String {
    "{}".to_string()
}

/// Someone an outbound queue calls: a callback request or a campaign's list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Given by the store (0 = not stored yet).
    #[serde(default, skip_deserializing)]
    pub id: i64,
    /// The outbound queue that dials it (id or name).
    pub queue: String,
    #[serde(default)]
    pub name: String,
    /// Higher is dialled first.
    #[serde(default)]
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// A JSON object (its text).
    #[serde(default = "empty_object", with = "object_text")]
    pub variables: String,
    /// IANA zone the queue's calendar is read in for this member (none = the calendar's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub communications: Vec<Communication>,
    /// Not dialled before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at_ms: Option<crate::store::Ms>,
    /// Stopped with `expired` at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_at_ms: Option<crate::store::Ms>,
    /// When it was finished (kept by the store; set with `stop_cause`).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub stop_at_ms: Option<crate::store::Ms>,
    /// Why it was finished; given on creation, the member is created finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_cause: Option<String>,
    /// Attempts made (kept by the store).
    #[serde(default, skip_deserializing)]
    pub attempts: u32,
    /// Agent (id) preferred for its next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_agent: Option<String>,
    /// Kept by the store.
    #[serde(default, skip_deserializing)]
    pub created_at_ms: crate::store::Ms,
    /// The attempt in progress or waiting for its outcome (kept by the store).
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub open_attempt: Option<i64>,
}

impl Member {
    /// A new member of `queue` with one number.
    pub fn new(queue: impl Into<String>, destination: impl Into<String>) -> Member {
        Member {
            id: 0,
            queue: queue.into(),
            name: String::new(),
            priority: 0,
            bucket: None,
            variables: empty_object(),
            timezone: None,
            communications: vec![Communication::number(destination)],
            ready_at_ms: None,
            expire_at_ms: None,
            stop_at_ms: None,
            stop_cause: None,
            attempts: 0,
            sticky_agent: None,
            created_at_ms: 0,
            open_attempt: None,
        }
    }

    /// Checks what JSON cannot (at `AT.field`, e.g. `members[3].communications[0].destination`):
    /// the queue and bucket ids, the name, the time zone, at least one well-formed
    /// communication, variables that are a JSON object.
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        let p = |field: &str| format!("{at}.{field}");
        check_id(&p("queue"), &self.queue)?;
        check_name(&p("name"), &self.name)?;
        if self.priority.abs() > 1_000_000 {
            return Err(FieldError::new(
                p("priority"),
                "must be between -1000000 and 1000000",
            ));
        }
        if let Some(bucket) = &self.bucket {
            check_id(&p("bucket"), bucket)?;
        }
        if let Some(agent) = &self.sticky_agent {
            check_id(&p("sticky_agent"), agent)?;
        }
        if let Some(zone) = &self.timezone {
            zone.parse::<chrono_tz::Tz>().map_err(|_| {
                FieldError::new(
                    p("timezone"),
                    format!("`{}` is not an IANA time zone", zone.escape_debug()),
                )
            })?;
        }
        if let Some(cause) = &self.stop_cause {
            check_name(&p("stop_cause"), cause)?;
        }
        match serde_json::from_str::<serde_json::Value>(&self.variables) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => return Err(FieldError::new(p("variables"), "must be a JSON object")),
        }
        if self.communications.is_empty() {
            return Err(FieldError::new(
                p("communications"),
                "a member needs at least one communication (a destination to dial)",
            ));
        }
        if self.communications.len() > 100 {
            return Err(FieldError::new(p("communications"), "at most 100"));
        }
        for (i, c) in self.communications.iter().enumerate() {
            c.validate(&format!("{at}.communications[{i}]"))?;
        }
        Ok(())
    }
}

impl Tier {
    pub fn validate(&self, at: &str) -> Result<(), FieldError> {
        check_id(&format!("{at}.queue"), &self.queue)?;
        check_id(&format!("{at}.agent"), &self.agent)?;
        check_max(&format!("{at}.level"), self.level.into(), 1000)?;
        check_max(&format!("{at}.position"), self.position.into(), 1_000_000)?;
        if self.weight == 0 || self.weight > 1000 {
            return Err(FieldError::new(
                format!("{at}.weight"),
                format!("is {}; must be 1 to 1000", self.weight),
            ));
        }
        Ok(())
    }
}

impl Skill {
    pub fn validate(&mut self, at: &str) -> Result<(), FieldError> {
        check_id_and_name(at, &self.id, &mut self.name)
    }
}

impl Bucket {
    pub fn validate(&mut self, at: &str) -> Result<(), FieldError> {
        check_id_and_name(at, &self.id, &mut self.name)?;
        if self.priority.abs() > 1_000_000 {
            return Err(FieldError::new(
                format!("{at}.priority"),
                "must be between -1000000 and 1000000",
            ));
        }
        Ok(())
    }
}

/// Labels an entity for error paths: `queues[1] (sales)`.
fn label(list: &str, index: usize, id: &str) -> String {
    if id.is_empty() {
        format!("{list}[{index}]")
    } else {
        format!("{list}[{index}] ({id})")
    }
}

impl Setup {
    /// Checks every entity and every reference between them (a tier's queue and agent, a
    /// queue's calendar and skills, an agent's skills), and that no id is used twice.
    pub fn validate(&mut self) -> Result<(), FieldError> {
        fn unique<'a>(
            list: &str,
            ids: impl Iterator<Item = &'a str>,
        ) -> Result<BTreeSet<&'a str>, FieldError> {
            let mut seen = BTreeSet::new();
            for (i, id) in ids.enumerate() {
                if !seen.insert(id) {
                    return Err(FieldError::new(
                        label(list, i, id),
                        format!("id `{id}` is used twice"),
                    ));
                }
            }
            Ok(seen)
        }
        for (i, q) in self.queues.iter_mut().enumerate() {
            q.validate(&label("queues", i, &q.id.clone()))?;
        }
        for (i, a) in self.agents.iter_mut().enumerate() {
            a.validate(&label("agents", i, &a.id.clone()))?;
        }
        for (i, s) in self.skills.iter_mut().enumerate() {
            s.validate(&label("skills", i, &s.id.clone()))?;
        }
        for (i, b) in self.buckets.iter_mut().enumerate() {
            b.validate(&label("buckets", i, &b.id.clone()))?;
        }
        for (i, c) in self.calendars.iter_mut().enumerate() {
            c.validate(&label("calendars", i, &c.id.clone()))?;
        }
        let queues = unique("queues", self.queues.iter().map(|q| q.id.as_str()))?;
        let agents = unique("agents", self.agents.iter().map(|a| a.id.as_str()))?;
        let skills = unique("skills", self.skills.iter().map(|s| s.id.as_str()))?;
        unique("buckets", self.buckets.iter().map(|b| b.id.as_str()))?;
        let calendars = unique("calendars", self.calendars.iter().map(|c| c.id.as_str()))?;
        unique("queues", self.queues.iter().map(|q| q.name.as_str())).map_err(|e| {
            FieldError::new(
                e.path.replace("id `", "name `"),
                e.message.replace("id `", "name `"),
            )
        })?;
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(c) = &q.calendar
                && !calendars.contains(c.as_str())
            {
                return Err(FieldError::new(
                    format!("{}.calendar", label("queues", i, &q.id)),
                    format!("no calendar `{c}`"),
                ));
            }
            for (k, s) in q.skills.iter().enumerate() {
                if !skills.contains(s.skill.as_str()) {
                    return Err(FieldError::new(
                        format!("{}.skills[{k}].skill", label("queues", i, &q.id)),
                        format!("no skill `{}`", s.skill),
                    ));
                }
            }
        }
        for (i, a) in self.agents.iter().enumerate() {
            for (k, s) in a.skills.iter().enumerate() {
                if !skills.contains(s.skill.as_str()) {
                    return Err(FieldError::new(
                        format!("{}.skills[{k}].skill", label("agents", i, &a.id)),
                        format!("no skill `{}`", s.skill),
                    ));
                }
            }
        }
        let mut pairs = BTreeSet::new();
        for (i, t) in self.tiers.iter().enumerate() {
            let at = format!("tiers[{i}]");
            t.validate(&at)?;
            if !queues.contains(t.queue.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.queue"),
                    format!("no queue `{}`", t.queue),
                ));
            }
            if !agents.contains(t.agent.as_str()) {
                return Err(FieldError::new(
                    format!("{at}.agent"),
                    format!("no agent `{}`", t.agent),
                ));
            }
            if !pairs.insert((t.queue.as_str(), t.agent.as_str())) {
                return Err(FieldError::new(
                    at,
                    format!("agent `{}` is in queue `{}` twice", t.agent, t.queue),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(text: &str) -> Result<Setup, String> {
        let mut s: Setup = from_json(text).map_err(|e| e.to_string())?;
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }

    #[test]
    fn defaults_fill_in_and_names_default_to_ids() {
        let s = setup(
            r#"{"queues":[{"id":"sales"}],"agents":[{"id":"a1","extension":"1001"}],
                          "tiers":[{"queue":"sales","agent":"a1"}]}"#,
        )
        .unwrap();
        let q = &s.queues[0];
        assert_eq!(q.name, "sales");
        assert_eq!(q.max_wait_secs, 60);
        assert_eq!(q.strategy, Strategy::LongestIdleAgent);
        assert_eq!(s.tiers[0].level, 1);
        assert_eq!(s.agents[0].name, "a1");
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            setup(r#"{"queues":[{"id":"sales","max_wait":5}]}"#).unwrap_err(),
            "queues[0].max_wait: unknown field `max_wait`, expected one of `id`, `name`, `enabled`, `strategy`, `priority`, `max_wait_secs`, `max_waiting`, `no_agents_timeout_secs`, `ringtone`, `calendar`, `wrap_up_secs`, `no_answer_delay_secs`, `max_no_answer`, `ring_timeout_secs`, `sticky_agent`, `sticky_window_secs`, `abandon_resume_secs`, `tier_escalation_secs`, `skills`, `type`, `max_attempts`, `wait_between_retries_secs`, `max_attempts_per_number`, `dial_timeout_secs`, `pre_attempt_flow`, `after_attempt_flow`, `lines_per_agent`, `max_abandon_percent`, `abandon_window_mins`, `min_agents`, `max_lines_per_agent`, `safe_message`, `gateway`, `sip_profile`, `caller_id_number`, `caller_id_name` at line 1 column 35"
        );
        assert_eq!(
            setup(r#"{"queues":[{"id":"a"},{"id":"sales","max_no_answer":1000}]}"#).unwrap_err(),
            "queues[1] (sales).max_no_answer: is 1000; at most 100"
        );
        assert_eq!(
            setup(r#"{"queues":[{"id":"sales","max_wait_secs":-1}]}"#).unwrap_err(),
            "queues[0].max_wait_secs: invalid value: integer `-1`, expected u64 at line 1 column 43"
        );
        assert_eq!(
            setup(r#"{"tiers":[{"queue":"nope","agent":"a"}]}"#).unwrap_err(),
            "tiers[0].queue: no queue `nope`"
        );
        assert_eq!(
            setup(r#"{"queues":[{"id":"q"},{"id":"q"}]}"#).unwrap_err(),
            "queues[1] (q): id `q` is used twice"
        );
        assert_eq!(
            setup(r#"{"agents":[{"id":"a"}]}"#).unwrap_err(),
            "agents[0] (a).extension: an agent needs an `extension` or a `contact`"
        );
        assert_eq!(
            setup(r#"{"queues":[{"id":"sales; drop"}]}"#).unwrap_err(),
            "queues[0] (sales; drop).id: `sales; drop` holds ';'; ids use letters, digits, `_`, `-`, `.` and `@`"
        );
    }

    #[test]
    fn contacts_cannot_inject_legs_or_variables() {
        for bad in [
            "user/1001,user/1002",
            "user/1001|user/1002",
            "{x=y}user/1001",
            "user/${evil}",
            "sofia/gateway/gw/123 456",
            "sofia/internal/sip:a@b,sofia/internal/sip:c@d",
            "loopback/1234",
            "user/",
        ] {
            assert!(parse_contact(bad).is_err(), "{bad} was accepted");
        }
        assert_eq!(
            parse_contact("sofia/internal/sip:agent@10.0.0.5:5080").unwrap(),
            AgentContact::Sip {
                profile: "internal".into(),
                uri: "sip:agent@10.0.0.5:5080".into()
            }
        );
        assert_eq!(
            parse_contact("user/1001@example.com").unwrap(),
            AgentContact::User {
                extension: "1001".into(),
                domain: Some("example.com".into())
            }
        );
    }

    #[test]
    fn queue_kinds_and_outbound_settings() {
        let s = setup(
            r#"{"queues":[{"id":"cb","type":"callback","gateway":"pstn"},
                          {"id":"pd","type":"predictive","safe_message":"/sounds/hold-on.wav",
                           "max_abandon_percent":2.5},
                          {"id":"in"}]}"#,
        )
        .unwrap();
        assert_eq!(s.queues[0].kind, QueueKind::Offline);
        assert_eq!(s.queues[0].max_attempts, 3);
        assert_eq!(s.queues[0].wait_between_retries_secs, 600);
        assert_eq!(s.queues[1].max_abandon_percent, Percent(250));
        assert_eq!(s.queues[1].max_abandon_percent.value(), 2.5);
        assert_eq!(s.queues[2].max_abandon_percent.value(), 3.0);
        // An inbound queue writes none of the outbound settings: old exports stay as they were.
        assert_eq!(
            serde_json::to_string(&s.queues[2]).unwrap(),
            r#"{"id":"in","name":"in","enabled":true,"strategy":"longest-idle-agent","priority":0,"max_wait_secs":60,"max_waiting":0,"no_agents_timeout_secs":0,"wrap_up_secs":0,"no_answer_delay_secs":10,"max_no_answer":3,"ring_timeout_secs":20,"sticky_window_secs":30,"abandon_resume_secs":0,"tier_escalation_secs":0}"#
        );
        let back: Queue = from_json(&serde_json::to_string(&s.queues[1]).unwrap()).unwrap();
        assert_eq!(back, s.queues[1]);
        assert_eq!(
            setup(r#"{"queues":[{"id":"a"},{"id":"pd","type":"predictive"}]}"#).unwrap_err(),
            "queues[1] (pd).safe_message: a predictive queue needs a safe_message: the file played when no agent is free within 2 s of the answer"
        );
        assert_eq!(
            setup(r#"{"queues":[{"id":"q","type":"offline","gateway":"pstn,evil"}]}"#).unwrap_err(),
            "queues[0] (q).gateway: the gateway `pstn,evil` holds ','"
        );
        assert!(
            setup(r#"{"queues":[{"id":"q","max_abandon_percent":101}]}"#)
                .unwrap_err()
                .starts_with(
                    "queues[0].max_abandon_percent: 101 is not a percentage from 0 to 100"
                )
        );
        assert!(
            setup(r#"{"queues":[{"id":"q","type":"blast"}]}"#)
                .unwrap_err()
                .starts_with("queues[0].type: unknown variant `blast`")
        );
    }

    #[test]
    fn members_name_the_bad_field_and_numbers_are_dialled_safely() {
        let member = |text: &str| -> Result<Member, String> {
            let m: Member = from_json(text).map_err(|e| e.to_string())?;
            m.validate("members[3]").map_err(|e| e.to_string())?;
            Ok(m)
        };
        let m = member(
            r#"{"queue":"cb","name":"Ann","variables":{"order":42},"timezone":"America/New_York",
                "communications":[{"destination":"+15551234","type":"mobile","resource":"gw2"},
                                  {"destination":"sip:ann@example.com"},{"destination":"user/1001"}]}"#,
        )
        .unwrap();
        assert_eq!(m.variables, r#"{"order":42}"#);
        assert_eq!(
            member(r#"{"queue":"cb","communications":[{"destination":"+1"},{"destination":"+1,user/1002"}]}"#)
                .unwrap_err(),
            "members[3].communications[1].destination: the number `+1,user/1002` holds ','"
        );
        assert_eq!(
            member(r#"{"queue":"cb","communications":[]}"#).unwrap_err(),
            "members[3].communications: a member needs at least one communication (a destination to dial)"
        );
        assert!(
            member(r#"{"queue":"cb","attempts":3,"communications":[{"destination":"+1"}]}"#)
                .unwrap_err()
                .starts_with("attempts: unknown field `attempts`"),
            "the store's counters are not input"
        );
        assert!(
            member(r#"{"queue":"cb","variables":[1],"communications":[{"destination":"+1"}]}"#)
                .unwrap_err()
                .starts_with("variables: invalid type: sequence, expected a map")
        );
        let mut queue = setup(r#"{"queues":[{"id":"cb","type":"offline"}]}"#)
            .unwrap()
            .queues[0]
            .clone();
        let reach = |c: &Communication, q: &Queue| c.reach(q);
        assert_eq!(
            reach(&m.communications[0], &queue).unwrap(),
            AgentContact::Gateway {
                gateway: "gw2".into(),
                number: "+15551234".into()
            }
        );
        assert_eq!(
            reach(&m.communications[1], &queue).unwrap(),
            AgentContact::Sip {
                profile: "internal".into(),
                uri: "sip:ann@example.com".into()
            }
        );
        assert_eq!(
            reach(&m.communications[2], &queue).unwrap(),
            AgentContact::User {
                extension: "1001".into(),
                domain: None
            }
        );
        let plain = Communication::number("+15550000");
        assert_eq!(
            reach(&plain, &queue).unwrap_err(),
            "`+15550000` is a number, and neither the communication's `resource` nor queue `cb`'s `gateway` says how to dial it; set `gateway` on the queue"
        );
        queue.gateway = Some("pstn".into());
        queue.sip_profile = Some("external".into());
        assert_eq!(
            reach(&plain, &queue).unwrap(),
            AgentContact::Gateway {
                gateway: "pstn".into(),
                number: "+15550000".into()
            }
        );
        assert_eq!(
            reach(&m.communications[1], &queue).unwrap(),
            AgentContact::Sip {
                profile: "external".into(),
                uri: "sip:ann@example.com".into()
            }
        );
    }

    #[test]
    fn hostile_names_are_kept_as_text() {
        let s = setup(
            r#"{"agents":[{"id":"a","name":"<img src=x onerror=alert(1)>","extension":"1"}]}"#,
        )
        .unwrap();
        assert_eq!(s.agents[0].name, "<img src=x onerror=alert(1)>");
        assert_eq!(
            setup("{\"agents\":[{\"id\":\"a\",\"name\":\"x\\ny\",\"extension\":\"1\"}]}")
                .unwrap_err(),
            "agents[0] (a).name: holds a control character"
        );
    }
}
