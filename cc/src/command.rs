//! The `cc` command language: one implementation for fs_cli (`rustflow cc …`) and the offline
//! `rustflow cc …` tool, on the same store.
//!
//! The syntax is made for one fs_cli line, with no shell quoting for the common cases:
//!
//! ```text
//! queue add sales strategy=ring-all max_wait_secs=120
//! queue add sales {"strategy":"ring-all","max_wait_secs":120}
//! queue set sales max_wait_secs=90 calendar=null
//! agent add a1 extension=1001 name=Ann Smith
//! tier add sales a1 level=2 position=1
//! agent status a1 pause Lunch break
//! queue list [json] · tier list [QUEUE] [json] · snapshot [json] · export
//! import FILE.json · simulate SETUP.json --arrivals-per-hour N --aht S
//! ```
//!
//! `FIELD=VALUE` values are typed by the entity's JSON shape: a value that reads as JSON (a
//! number, `true`, `null`, `[…]`, `{…}`) is taken as such unless the field wants text, so
//! `extension=1001` is the text "1001" and `max_wait_secs=abc` is an error naming
//! `max_wait_secs`. A word that is not `FIELD=…` with a field of the entity continues the
//! value before it (`name=Ann Smith`, `name=<img src=x onerror=alert(1)>`). A JSON object may
//! replace the fields as the rest of the line.
//!
//! Every change is one [`Store::apply`]: validated as a whole setup, written all or nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::calendar::{Calendar, CalendarState};
use crate::des::{self, SimSetup};
use crate::metrics::{Finished, QueueStats, Trend};
use crate::model::{self, Agent, Bucket, FieldError, Queue, Setup, Skill, Tier};
use crate::store::{AgentStatus, AttemptRecord, Change, Ms, Store, StoreError, diff};

/// The service-level threshold of `snapshot` (queues have no threshold of their own yet).
pub const SNAPSHOT_SL_SECS: f64 = 20.0;
/// The history `snapshot`'s EWT looks at: the `ewt` application's default (`min`).
const SNAPSHOT_EWT_LOOKBACK_MINUTES: u64 = 60;
/// The window of `snapshot`'s figures; the history read for it also serves the EWT.
const LAST_HOUR_MS: Ms = 3_600_000;
const _: () = assert!(SNAPSHOT_EWT_LOOKBACK_MINUTES * 60_000 <= LAST_HOUR_MS as u64);

/// The usage summary shown with a usage error.
pub const USAGE: &str = "\
usage: cc queue|agent|skill|bucket|calendar add|set ID FIELD=VALUE…|{JSON}
       cc queue|agent|skill|bucket|calendar del ID
       cc queue|agent|skill|bucket|calendar list [json]
       cc tier add|set QUEUE AGENT [FIELD=VALUE…|{JSON}] · cc tier del QUEUE AGENT · cc tier list [QUEUE] [json]
       cc agent status ID online|offline|pause [REASON…]
       cc snapshot [json] · cc import FILE.json · cc export
       cc simulate SETUP.json --arrivals-per-hour N --aht S [--patience S] [--hours H] [--seed N] [--sl-secs T] [--queue ID]
       cc member add QUEUE DESTINATION [FIELD=VALUE…] · cc member set ID FIELD=VALUE… · cc member del ID
       cc member list [QUEUE] [--all] [json] · cc member import FILE [QUEUE]
       cc attempt-result ATTEMPT STATUS [FIELD=VALUE…]";

/// Why a command did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The words do not make a command: the reason and the usage of what was meant.
    Usage { message: String, usage: String },
    /// The command was understood but refused or failed; nothing was written.
    Failed(String),
}

impl CommandError {
    fn usage(message: impl Into<String>, usage: &str) -> CommandError {
        CommandError::Usage {
            message: message.into(),
            usage: usage.to_string(),
        }
    }
    /// True for a usage error (exit status 2 in the offline tool).
    pub fn is_usage(&self) -> bool {
        matches!(self, CommandError::Usage { .. })
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Usage { message, usage } => write!(f, "{message}\n{usage}"),
            CommandError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> CommandError {
        CommandError::Failed(e.to_string())
    }
}

type Outcome = Result<String, CommandError>;

/// Runs one `cc` command (the words after `cc`) on `store`; returns the text to print,
/// ending with a newline.
pub fn execute(store: &dyn Store, args: &[String], now_ms: Ms) -> Outcome {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => Err(CommandError::usage("cc: which command?", USAGE)),
        ["snapshot"] => snapshot(store, now_ms, false),
        ["snapshot", "json"] => snapshot(store, now_ms, true),
        ["snapshot", ..] => Err(CommandError::usage(
            "snapshot takes only `json`",
            "usage: cc snapshot [json]",
        )),
        ["export"] | ["export", "json"] => export(store),
        ["export", ..] => Err(CommandError::usage(
            "export takes only `json`",
            "usage: cc export [json]",
        )),
        ["import", file] => import(store, file),
        ["import", ..] => Err(CommandError::usage(
            "import takes one file",
            "usage: cc import FILE.json",
        )),
        ["simulate", rest @ ..] => simulate(rest),
        ["member", rest @ ..] => member_command(store, rest, now_ms),
        ["attempt-result", rest @ ..] => attempt_result(store, rest, now_ms),
        ["agent", "status", rest @ ..] => agent_status(store, rest, now_ms),
        [kind, rest @ ..] => match Kind::parse(kind) {
            Some(kind) => entity_command(store, kind, rest, now_ms),
            None => Err(CommandError::usage(
                format!("unknown command `{}`", kind.escape_debug()),
                USAGE,
            )),
        },
    }
}

/// Runs a command given as one line (fs_cli's argument text): words split on whitespace,
/// no quoting, as the syntax above expects (runs of spaces inside a value become one).
pub fn execute_line(store: &dyn Store, line: &str, now_ms: Ms) -> Outcome {
    let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    execute(store, &words, now_ms)
}

/// The provisioned entity kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Queue,
    Agent,
    Tier,
    Skill,
    Bucket,
    Calendar,
}

impl Kind {
    fn parse(word: &str) -> Option<Kind> {
        Some(match word {
            "queue" => Kind::Queue,
            "agent" => Kind::Agent,
            "tier" => Kind::Tier,
            "skill" => Kind::Skill,
            "bucket" => Kind::Bucket,
            "calendar" => Kind::Calendar,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::Agent => "agent",
            Kind::Tier => "tier",
            Kind::Skill => "skill",
            Kind::Bucket => "bucket",
            Kind::Calendar => "calendar",
        }
    }
    fn usage(self) -> String {
        match self {
            Kind::Tier => "usage: cc tier add|set QUEUE AGENT [FIELD=VALUE…|{JSON}]\n       \
                 cc tier del QUEUE AGENT\n       cc tier list [QUEUE] [json]"
                .to_string(),
            Kind::Agent => {
                "usage: cc agent add|set ID FIELD=VALUE…|{JSON}\n       cc agent del ID\n       \
                 cc agent list [json]\n       cc agent status ID online|offline|pause [REASON…]"
                    .to_string()
            }
            kind => {
                let k = kind.name();
                format!(
                    "usage: cc {k} add|set ID FIELD=VALUE…|{{JSON}}\n       cc {k} del ID\n       \
                     cc {k} list [json]"
                )
            }
        }
    }
    /// The entity's JSON fields (a test holds them to the model's serde shape). A `WORD=…`
    /// starts a new field only when WORD is one of them, so a value may hold `=`.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Queue => &[
                "id",
                "name",
                "enabled",
                "strategy",
                "priority",
                "max_wait_secs",
                "max_waiting",
                "no_agents_timeout_secs",
                "ringtone",
                "calendar",
                "wrap_up_secs",
                "no_answer_delay_secs",
                "max_no_answer",
                "ring_timeout_secs",
                "sticky_agent",
                "sticky_window_secs",
                "abandon_resume_secs",
                "tier_escalation_secs",
                "skills",
                "type",
                "max_attempts",
                "wait_between_retries_secs",
                "max_attempts_per_number",
                "dial_timeout_secs",
                "pre_attempt_flow",
                "after_attempt_flow",
                "lines_per_agent",
                "max_abandon_percent",
                "abandon_window_mins",
                "min_agents",
                "max_lines_per_agent",
                "safe_message",
                "gateway",
                "sip_profile",
                "caller_id_number",
                "caller_id_name",
            ],
            Kind::Agent => &["id", "name", "extension", "domain", "contact", "skills"],
            Kind::Tier => &["queue", "agent", "level", "position", "weight"],
            Kind::Skill => &["id", "name"],
            Kind::Bucket => &["id", "name", "priority"],
            Kind::Calendar => &["id", "name", "timezone", "week", "exceptions", "expires"],
        }
    }
    /// Fields that name the entity: given by the command's words, not by FIELD=VALUE.
    fn key_fields(self) -> &'static [&'static str] {
        match self {
            Kind::Tier => &["queue", "agent"],
            _ => &["id"],
        }
    }
}

fn entity_command(store: &dyn Store, kind: Kind, words: &[&str], now_ms: Ms) -> Outcome {
    let usage = |message: String| Err(CommandError::usage(message, &kind.usage()));
    let key_len = kind.key_fields().len();
    match words {
        ["list", rest @ ..] => list(store, kind, rest, now_ms),
        [verb @ ("add" | "set"), rest @ ..] if rest.len() >= key_len => {
            let (key, fields) = rest.split_at(key_len);
            if let Some(bad) = key.iter().find(|w| w.contains('=') || w.starts_with('{')) {
                return usage(format!(
                    "{} {verb}: `{}` is not an id; the {} comes first",
                    kind.name(),
                    bad.escape_debug(),
                    kind.key_fields().join(" and ")
                ));
            }
            let fields = parse_fields(kind, fields).map_err(|m| {
                CommandError::usage(format!("{} {verb}: {m}", kind.name()), &kind.usage())
            })?;
            if *verb == "add" {
                add(store, kind, key, fields)
            } else {
                set(store, kind, key, fields)
            }
        }
        ["del", rest @ ..] if rest.len() == key_len => del(store, kind, rest),
        [verb @ ("add" | "set" | "del"), ..] => usage(format!(
            "{} {verb} needs the {}",
            kind.name(),
            kind.key_fields().join(" and ")
        )),
        [] => usage(format!("{}: which verb?", kind.name())),
        [verb, ..] => usage(format!(
            "{}: unknown verb `{}`",
            kind.name(),
            verb.escape_debug()
        )),
    }
}

/// Reads `FIELD=VALUE…` or one JSON object as the rest of the line. A word that is not
/// `FIELD=…` with a field of the entity continues the value before it (`name=Ann Smith`,
/// `ringtone=tone_stream://%(1000,0,440);loops=2`); one before any field is an error.
fn parse_fields(kind: Kind, words: &[&str]) -> Result<Vec<(String, FieldValue)>, String> {
    parse_fields_of(&format!("a {}", kind.name()), kind.fields(), words)
}

/// [`parse_fields`] for an entity with these fields (`entity` with its article: "a member").
fn parse_fields_of(
    entity: &str,
    known: &[&str],
    words: &[&str],
) -> Result<Vec<(String, FieldValue)>, String> {
    if words.first().is_some_and(|w| w.starts_with('{')) {
        let text = words.join(" ");
        let value: Value = serde_json::from_str(&text).map_err(|e| format!("the JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("the JSON must be an object".to_string());
        };
        return Ok(object
            .into_iter()
            .map(|(k, v)| (k, FieldValue::Json(v)))
            .collect());
    }
    let mut fields: Vec<(String, FieldValue)> = Vec::new();
    for word in words {
        let field = word
            .split_once('=')
            .filter(|(name, _)| known.contains(name));
        match (field, fields.last_mut()) {
            (Some((name, value)), _) => {
                if fields.iter().any(|(n, _)| n == name) {
                    return Err(format!("`{name}` is given twice"));
                }
                fields.push((name.to_string(), FieldValue::Text(value.to_string())));
            }
            (None, Some((_, FieldValue::Text(value)))) => {
                value.push(' ');
                value.push_str(word);
            }
            (None, _) => {
                let hint = match word.split_once('=') {
                    Some((name, _)) => format!(
                        "`{}` is not a field of {entity}; the fields are {}",
                        name.escape_debug(),
                        known.join(", ")
                    ),
                    None => format!(
                        "`{}` is not FIELD=VALUE (or a JSON object)",
                        word.escape_debug()
                    ),
                };
                return Err(hint);
            }
        }
    }
    Ok(fields)
}

/// A field's value as given: text from `FIELD=VALUE`, typed later by the entity's shape, or a
/// value from a JSON object, taken as it is.
#[derive(Debug, Clone)]
enum FieldValue {
    Text(String),
    Json(Value),
}

/// The top-level field a serde error path starts with: `skills[0].skill` → `skills`.
fn top_field(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

/// Merges `fields` into `base` and reads the entity. A text value is read as JSON when it
/// parses (numbers, booleans, null, arrays, objects) and as a string when the field then
/// refuses it, so each field gets the type it wants.
fn build<T: DeserializeOwned>(
    mut base: Map<String, Value>,
    fields: &[(String, FieldValue)],
) -> Result<T, FieldError> {
    let mut as_text: Vec<&str> = Vec::new();
    loop {
        for (name, value) in fields {
            let value = match value {
                FieldValue::Json(v) => v.clone(),
                FieldValue::Text(text) if as_text.contains(&name.as_str()) => {
                    Value::String(text.clone())
                }
                FieldValue::Text(text) => serde_json::from_str::<Value>(text)
                    .unwrap_or_else(|_| Value::String(text.clone())),
            };
            base.insert(name.clone(), value);
        }
        match model::from_value::<T>(&Value::Object(base.clone())) {
            Ok(entity) => return Ok(entity),
            Err(e) => {
                // Retry a typed text value as a string once, when the error is about it.
                let field = top_field(&e.path).to_string();
                let retry = fields.iter().find(|(name, value)| {
                    *name == field
                        && matches!(value, FieldValue::Text(_))
                        && !as_text.contains(&name.as_str())
                });
                match retry {
                    Some((name, _)) => as_text.push(name),
                    None => return Err(e),
                }
            }
        }
    }
}

fn to_object<T: Serialize>(entity: &T) -> Map<String, Value> {
    match serde_json::to_value(entity) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The key fields of an entity of `kind` with these key words.
fn key_object(kind: Kind, key: &[&str]) -> Map<String, Value> {
    kind.key_fields()
        .iter()
        .zip(key)
        .map(|(f, k)| (f.to_string(), Value::String(k.to_string())))
        .collect()
}

fn label(kind: Kind, key: &[&str]) -> String {
    format!("{} {}", kind.name(), key.join("/"))
}

/// The stored entity of `kind` with this key, as a JSON object.
fn find(setup: &Setup, kind: Kind, key: &[&str]) -> Option<Map<String, Value>> {
    match kind {
        Kind::Queue => setup.queues.iter().find(|x| x.id == key[0]).map(to_object),
        Kind::Agent => setup.agents.iter().find(|x| x.id == key[0]).map(to_object),
        Kind::Tier => setup
            .tiers
            .iter()
            .find(|x| x.queue == key[0] && x.agent == key[1])
            .map(to_object),
        Kind::Skill => setup.skills.iter().find(|x| x.id == key[0]).map(to_object),
        Kind::Bucket => setup.buckets.iter().find(|x| x.id == key[0]).map(to_object),
        Kind::Calendar => setup
            .calendars
            .iter()
            .find(|x| x.id == key[0])
            .map(to_object),
    }
}

/// Reads the entity from `base` + `fields` into its put change.
fn put_change(
    kind: Kind,
    key: &[&str],
    base: Map<String, Value>,
    fields: &[(String, FieldValue)],
) -> Result<Change, CommandError> {
    for (name, value) in fields {
        if let Some(i) = kind.key_fields().iter().position(|f| f == name) {
            let same = match value {
                FieldValue::Text(t) => t == key[i],
                FieldValue::Json(v) => v.as_str() == Some(key[i]),
            };
            if !same {
                return Err(CommandError::Failed(format!(
                    "{}: {name}: is `{}` on the command line; to rename, add a new one and delete this one",
                    label(kind, key),
                    key[i]
                )));
            }
        }
    }
    let fail = |e: FieldError| {
        let message = format!("{}: {e}", label(kind, key));
        // An unknown field is a mistake in the command, not a refused value.
        if e.message.starts_with("unknown field") {
            CommandError::usage(message, &kind.usage())
        } else {
            CommandError::Failed(message)
        }
    };
    Ok(match kind {
        Kind::Queue => Change::PutQueue(build::<Queue>(base, fields).map_err(fail)?),
        Kind::Agent => Change::PutAgent(build::<Agent>(base, fields).map_err(fail)?),
        Kind::Tier => Change::PutTier(build::<Tier>(base, fields).map_err(fail)?),
        Kind::Skill => Change::PutSkill(build::<Skill>(base, fields).map_err(fail)?),
        Kind::Bucket => Change::PutBucket(build::<Bucket>(base, fields).map_err(fail)?),
        Kind::Calendar => Change::PutCalendar(build::<Calendar>(base, fields).map_err(fail)?),
    })
}

fn add(store: &dyn Store, kind: Kind, key: &[&str], fields: Vec<(String, FieldValue)>) -> Outcome {
    let setup = store.setup()?;
    if find(&setup, kind, key).is_some() {
        return Err(CommandError::Failed(format!(
            "{} exists already; change it with `{} set`",
            label(kind, key),
            kind.name()
        )));
    }
    let change = put_change(kind, key, key_object(kind, key), &fields)?;
    store.apply(&[change])?;
    Ok(format!("added {}\n", label(kind, key)))
}

fn set(store: &dyn Store, kind: Kind, key: &[&str], fields: Vec<(String, FieldValue)>) -> Outcome {
    if fields.is_empty() {
        return Err(CommandError::usage(
            format!("{} set: which fields?", kind.name()),
            &kind.usage(),
        ));
    }
    let setup = store.setup()?;
    let Some(current) = find(&setup, kind, key) else {
        return Err(CommandError::Failed(format!(
            "no {}; create it with `{} add`",
            label(kind, key),
            kind.name()
        )));
    };
    let change = put_change(kind, key, current, &fields)?;
    store.apply(&[change])?;
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    Ok(format!(
        "updated {}: {}\n",
        label(kind, key),
        names.join(", ")
    ))
}

fn del(store: &dyn Store, kind: Kind, key: &[&str]) -> Outcome {
    let setup = store.setup()?;
    if find(&setup, kind, key).is_none() {
        return Err(CommandError::Failed(format!("no {}", label(kind, key))));
    }
    let id = key[0].to_string();
    let (change, tiers) = match kind {
        Kind::Queue => (
            Change::DelQueue(id),
            setup.tiers.iter().filter(|t| t.queue == key[0]).count(),
        ),
        Kind::Agent => (
            Change::DelAgent(id),
            setup.tiers.iter().filter(|t| t.agent == key[0]).count(),
        ),
        Kind::Tier => (
            Change::DelTier {
                queue: id,
                agent: key[1].to_string(),
            },
            0,
        ),
        Kind::Skill => (Change::DelSkill(id), 0),
        Kind::Bucket => (Change::DelBucket(id), 0),
        Kind::Calendar => (Change::DelCalendar(id), 0),
    };
    store.apply(&[change])?;
    Ok(match tiers {
        0 => format!("deleted {}\n", label(kind, key)),
        1 => format!("deleted {} and its tier\n", label(kind, key)),
        n => format!("deleted {} and its {n} tiers\n", label(kind, key)),
    })
}

fn agent_status(store: &dyn Store, words: &[&str], now_ms: Ms) -> Outcome {
    let usage = "usage: cc agent status ID online|offline|pause [REASON…]";
    let [agent, status, reason @ ..] = words else {
        return Err(CommandError::usage(
            "agent status needs the agent and a status",
            usage,
        ));
    };
    let Some(status) = AgentStatus::parse(status) else {
        return Err(CommandError::usage(
            format!(
                "agent status: `{}` is not online, offline or pause",
                status.escape_debug()
            ),
            usage,
        ));
    };
    if !reason.is_empty() && status != AgentStatus::Pause {
        return Err(CommandError::usage(
            "agent status: only a pause takes a reason",
            usage,
        ));
    }
    let reason = reason.join(" ");
    let reason = (!reason.is_empty()).then_some(reason);
    store.set_agent_status(agent, status, reason.as_deref(), now_ms)?;
    Ok(match reason {
        Some(r) => format!("agent {agent}: {} ({r})\n", status.as_str()),
        None => format!("agent {agent}: {}\n", status.as_str()),
    })
}

/// Text for one table cell: control characters shown escaped, so a value from a caller
/// can never break a line.
fn cell(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.escape_debug().to_string()
    } else {
        text.to_string()
    }
}

/// An aligned plain-text table: a header and rows, columns two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(c);
            if i + 1 < cells.len() {
                text.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("the model always serialises");
    text.push('\n');
    text
}

fn list(store: &dyn Store, kind: Kind, words: &[&str], now_ms: Ms) -> Outcome {
    let (json, filter) = match (kind, words) {
        (_, []) => (false, None),
        (_, ["json"]) => (true, None),
        (Kind::Tier, [queue]) => (false, Some(*queue)),
        (Kind::Tier, [queue, "json"]) => (true, Some(*queue)),
        _ => {
            return Err(CommandError::usage(
                format!("{} list: unexpected `{}`", kind.name(), words.join(" ")),
                &kind.usage(),
            ));
        }
    };
    let setup = store.setup()?;
    let plural = format!("{}s", kind.name());
    let empty = |rows: usize| (!json && rows == 0).then(|| format!("no {plural}\n"));
    match kind {
        Kind::Queue => {
            if json {
                return Ok(json_text(&setup.queues));
            }
            if let Some(none) = empty(setup.queues.len()) {
                return Ok(none);
            }
            let rows = setup
                .queues
                .iter()
                .map(|q| {
                    let agents = setup.tiers.iter().filter(|t| t.queue == q.id).count();
                    vec![
                        q.id.clone(),
                        cell(&q.name),
                        q.strategy.as_str().to_string(),
                        if q.enabled { "yes" } else { "no" }.to_string(),
                        q.priority.to_string(),
                        q.max_wait_secs.to_string(),
                        q.calendar.clone().unwrap_or_else(|| "-".into()),
                        agents.to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            Ok(table(
                &[
                    "ID", "NAME", "STRATEGY", "ENABLED", "PRIORITY", "MAX_WAIT", "CALENDAR",
                    "AGENTS",
                ],
                &rows,
            ))
        }
        Kind::Agent => {
            if json {
                return Ok(json_text(&setup.agents));
            }
            if let Some(none) = empty(setup.agents.len()) {
                return Ok(none);
            }
            let views = store.agents(now_ms)?;
            let rows = setup
                .agents
                .iter()
                .map(|a| {
                    let reach = match (&a.extension, &a.domain, &a.contact) {
                        (Some(e), Some(d), _) => format!("{e}@{d}"),
                        (Some(e), None, _) => e.clone(),
                        (None, _, Some(c)) => c.clone(),
                        _ => "-".into(),
                    };
                    let skills: Vec<String> = a
                        .skills
                        .iter()
                        .map(|s| format!("{}:{}", s.skill, s.capacity))
                        .collect();
                    let view = views.iter().find(|v| v.id == a.id);
                    vec![
                        a.id.clone(),
                        cell(&a.name),
                        cell(&reach),
                        if skills.is_empty() {
                            "-".into()
                        } else {
                            skills.join(",")
                        },
                        view.map_or("-", |v| v.status.as_str()).to_string(),
                        view.map_or("-", |v| v.state.as_str()).to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            Ok(table(
                &["ID", "NAME", "REACH", "SKILLS", "STATUS", "STATE"],
                &rows,
            ))
        }
        Kind::Tier => {
            let mut tiers: Vec<&Tier> = setup
                .tiers
                .iter()
                .filter(|t| filter.is_none_or(|q| t.queue == q))
                .collect();
            // In the order they are offered: by queue, level, position.
            tiers.sort_by(|a, b| {
                (&a.queue, a.level, a.position, &a.agent)
                    .cmp(&(&b.queue, b.level, b.position, &b.agent))
            });
            if json {
                return Ok(json_text(&tiers));
            }
            if let Some(none) = empty(tiers.len()) {
                return Ok(none);
            }
            let rows = tiers
                .iter()
                .map(|t| {
                    vec![
                        t.queue.clone(),
                        t.agent.clone(),
                        t.level.to_string(),
                        t.position.to_string(),
                        t.weight.to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            Ok(table(
                &["QUEUE", "AGENT", "LEVEL", "POSITION", "WEIGHT"],
                &rows,
            ))
        }
        Kind::Skill => {
            if json {
                return Ok(json_text(&setup.skills));
            }
            if let Some(none) = empty(setup.skills.len()) {
                return Ok(none);
            }
            let rows = setup
                .skills
                .iter()
                .map(|s| vec![s.id.clone(), cell(&s.name)])
                .collect::<Vec<_>>();
            Ok(table(&["ID", "NAME"], &rows))
        }
        Kind::Bucket => {
            if json {
                return Ok(json_text(&setup.buckets));
            }
            if let Some(none) = empty(setup.buckets.len()) {
                return Ok(none);
            }
            let rows = setup
                .buckets
                .iter()
                .map(|b| vec![b.id.clone(), cell(&b.name), b.priority.to_string()])
                .collect::<Vec<_>>();
            Ok(table(&["ID", "NAME", "PRIORITY"], &rows))
        }
        Kind::Calendar => {
            if json {
                return Ok(json_text(&setup.calendars));
            }
            if let Some(none) = empty(setup.calendars.len()) {
                return Ok(none);
            }
            let rows = setup
                .calendars
                .iter()
                .map(|c| {
                    let week: Vec<String> = c
                        .week
                        .iter()
                        .map(|w| format!("{} {}-{}", w.days.join(","), w.open, w.close))
                        .collect();
                    let now = match c.state_at(now_ms) {
                        CalendarState::Open => "open".to_string(),
                        CalendarState::Closed => "closed".to_string(),
                        CalendarState::Expired => "expired".to_string(),
                        CalendarState::Exception(name) => format!("closed ({})", cell(&name)),
                    };
                    vec![
                        c.id.clone(),
                        cell(&c.name),
                        c.timezone.clone(),
                        if week.is_empty() {
                            "-".into()
                        } else {
                            week.join("; ")
                        },
                        c.exceptions.len().to_string(),
                        now,
                    ]
                })
                .collect::<Vec<_>>();
            Ok(table(
                &["ID", "NAME", "TIMEZONE", "WEEK", "EXCEPTIONS", "NOW"],
                &rows,
            ))
        }
    }
}

fn export(store: &dyn Store) -> Outcome {
    Ok(json_text(&store.setup()?))
}

/// Reads and validates a setup file; an error names the file and the field path.
pub fn read_setup_file(file: &str) -> Result<Setup, CommandError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CommandError::Failed(format!("{file}: cannot read: {e}")))?;
    let mut setup: Setup =
        model::from_json(&text).map_err(|e| CommandError::Failed(format!("{file}: {e}")))?;
    setup
        .validate()
        .map_err(|e| CommandError::Failed(format!("{file}: {e}")))?;
    Ok(setup)
}

fn import(store: &dyn Store, file: &str) -> Outcome {
    let wanted = read_setup_file(file)?;
    let changes = diff(&store.setup()?, &wanted);
    if changes.is_empty() {
        return Ok("no changes\n".to_string());
    }
    store
        .apply(&changes)
        .map_err(|e| CommandError::Failed(format!("{file}: {e}")))?;
    let mut out: String = changes.iter().map(|c| c.describe() + "\n").collect();
    out.push_str(&format!(
        "{} change{} applied\n",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    ));
    Ok(out)
}

/// Whole seconds from `since` to `now` (0 for a time in the future).
fn secs_since(now_ms: Ms, since_ms: Ms) -> i64 {
    (now_ms - since_ms).max(0) / 1000
}

#[derive(Debug, Serialize)]
struct WaitingCaller {
    attempt: i64,
    call_id: String,
    caller_number: String,
    caller_name: String,
    /// 1 = next to be served in its queue.
    position: usize,
    /// Since the caller's place in the queue (a resumed wait counts from the first one).
    waited_secs: i64,
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct QueueAgents {
    online: u32,
    pause: u32,
    offline: u32,
    /// Online, waiting, rested and not reserved: could take a caller now.
    free: u32,
}

#[derive(Debug, Serialize)]
struct LastHour {
    sl_threshold_secs: f64,
    answered: usize,
    abandoned: usize,
    /// Answered within the threshold ÷ answered (fraction; null when nothing was answered).
    service_level_1: Option<f64>,
    /// (Answered + abandoned within the threshold) ÷ (answered + abandoned).
    service_level_2: Option<f64>,
    asa_secs: Option<f64>,
    /// Minute by minute: callers waiting; five-minute intervals: SL1.
    trend: Trend,
}

#[derive(Debug, Serialize)]
struct QueueSnapshot {
    id: String,
    name: String,
    enabled: bool,
    waiting: Vec<WaitingCaller>,
    longest_wait_secs: i64,
    /// The estimated wait of a caller joining now, as the `ewt` application gives it over
    /// its default hour of history; null when unknown.
    ewt_secs: Option<f64>,
    agents: QueueAgents,
    last_hour: LastHour,
}

#[derive(Debug, Serialize)]
struct AgentSnapshot {
    id: String,
    name: String,
    status: &'static str,
    pause_reason: Option<String>,
    state: &'static str,
    /// Seconds in this state; null when the state was never set (a new agent).
    state_secs: Option<i64>,
    calls_today: i64,
    talk_secs_today: i64,
    attempt: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Snapshot {
    at_ms: Ms,
    queues: Vec<QueueSnapshot>,
    agents: Vec<AgentSnapshot>,
    /// Every queue together.
    trend: Trend,
}

fn read_snapshot(store: &dyn Store, now_ms: Ms) -> Result<Snapshot, CommandError> {
    let setup = store.setup()?;
    let waiting = store.waiting()?;
    let agent_views = store.agents(now_ms)?;
    let history = store.history(None, now_ms - LAST_HOUR_MS)?;
    let ewts = crate::service::estimated_waits_joining_now(
        store,
        &setup,
        &waiting,
        &agent_views,
        &history,
        SNAPSHOT_EWT_LOOKBACK_MINUTES,
        now_ms,
    )?;
    let agent_counts = store.agent_counts_by_queue(now_ms)?;
    let mut finished_by_queue: HashMap<&str, Vec<Finished>> = HashMap::new();
    for record in &history {
        if let Some(finished) = record.finished() {
            finished_by_queue
                .entry(&record.queue_id)
                .or_default()
                .push(finished);
        }
    }
    let mut waiting_by_queue: HashMap<&str, Vec<&AttemptRecord>> = HashMap::new();
    for attempt in &waiting {
        waiting_by_queue
            .entry(&attempt.queue_id)
            .or_default()
            .push(attempt);
    }
    let no_history = Vec::new();
    let mut queues = Vec::new();
    for (queue, ewt_secs) in setup.queues.iter().zip(ewts) {
        let waiting_here = waiting_by_queue
            .get(queue.id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let callers: Vec<WaitingCaller> = waiting_here
            .iter()
            .enumerate()
            .map(|(i, a)| WaitingCaller {
                attempt: a.id,
                call_id: a.call_id.clone(),
                caller_number: a.caller_number.clone(),
                caller_name: a.caller_name.clone(),
                position: i + 1,
                waited_secs: secs_since(now_ms, a.since_ms),
                state: a.state.as_str(),
            })
            .collect();
        let counts = agent_counts.get(&queue.id).copied().unwrap_or_default();
        let history = finished_by_queue
            .get(queue.id.as_str())
            .unwrap_or(&no_history);
        let trend = Trend::compute(
            history,
            waiting_here.iter().map(|a| a.joined_at_ms),
            now_ms,
            SNAPSHOT_SL_SECS,
        );
        let stats = QueueStats::compute(history, SNAPSHOT_SL_SECS, None);
        queues.push(QueueSnapshot {
            id: queue.id.clone(),
            name: queue.name.clone(),
            enabled: queue.enabled,
            longest_wait_secs: callers.iter().map(|c| c.waited_secs).max().unwrap_or(0),
            ewt_secs,
            waiting: callers,
            agents: QueueAgents {
                online: counts.online,
                pause: counts.pause,
                offline: counts.offline,
                free: counts.waiting,
            },
            last_hour: LastHour {
                sl_threshold_secs: SNAPSHOT_SL_SECS,
                answered: stats.answered,
                abandoned: stats.abandoned,
                service_level_1: stats.service_levels.answered_within_over_answered,
                service_level_2: stats.service_levels.within_over_answered_plus_abandoned,
                asa_secs: stats.asa_secs,
                trend,
            },
        });
    }
    let trend = Trend::compute(
        finished_by_queue.values().flatten(),
        waiting.iter().map(|a| a.joined_at_ms),
        now_ms,
        SNAPSHOT_SL_SECS,
    );
    let agents = agent_views
        .into_iter()
        .map(|a| {
            let (state, since) = a.state_at(now_ms);
            AgentSnapshot {
                state_secs: (since > 0).then(|| secs_since(now_ms, since)),
                state: state.as_str(),
                id: a.id,
                name: a.name,
                status: a.status.as_str(),
                pause_reason: a.pause_reason,
                calls_today: a.calls_today,
                talk_secs_today: a.talk_secs_today,
                attempt: a.attempt,
            }
        })
        .collect();
    Ok(Snapshot {
        at_ms: now_ms,
        queues,
        agents,
        trend,
    })
}

fn percent(fraction: Option<f64>) -> String {
    fraction.map_or("-".to_string(), |f| format!("{:.1} %", f * 100.0))
}

/// `snapshot json` on one line (no indentation): what the wallboard's feed sends.
pub fn snapshot_json_line(store: &dyn Store, now_ms: Ms) -> Result<String, CommandError> {
    let snap = read_snapshot(store, now_ms)?;
    Ok(serde_json::to_string(&snap).expect("the model always serialises"))
}

fn snapshot(store: &dyn Store, now_ms: Ms, json: bool) -> Outcome {
    let snap = read_snapshot(store, now_ms)?;
    if json {
        return Ok(json_text(&snap));
    }
    let mut out = String::new();
    if snap.queues.is_empty() {
        out.push_str("no queues\n");
    }
    for q in &snap.queues {
        let h = &q.last_hour;
        out.push_str(&format!(
            "queue {} ({}){}: {} waiting, longest {} s; agents {} online ({} free), {} pause, {} offline\n",
            q.id,
            cell(&q.name),
            if q.enabled { "" } else { " disabled" },
            q.waiting.len(),
            q.longest_wait_secs,
            q.agents.online,
            q.agents.free,
            q.agents.pause,
            q.agents.offline,
        ));
        out.push_str(&format!(
            "  last hour: {} answered, {} abandoned, SL1 {}, SL2 {} (within {} s), ASA {}\n",
            h.answered,
            h.abandoned,
            percent(h.service_level_1),
            percent(h.service_level_2),
            h.sl_threshold_secs,
            h.asa_secs.map_or("-".to_string(), |s| format!("{s:.1} s")),
        ));
        if !q.waiting.is_empty() {
            let rows: Vec<Vec<String>> = q
                .waiting
                .iter()
                .map(|c| {
                    vec![
                        c.position.to_string(),
                        c.attempt.to_string(),
                        cell(&c.caller_number),
                        cell(&c.caller_name),
                        format!("{} s", c.waited_secs),
                        c.state.to_string(),
                    ]
                })
                .collect();
            for line in table(
                &["#", "ATTEMPT", "NUMBER", "NAME", "WAITED", "STATE"],
                &rows,
            )
            .lines()
            {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if snap.agents.is_empty() {
        out.push_str("no agents\n");
    } else {
        let rows: Vec<Vec<String>> = snap
            .agents
            .iter()
            .map(|a| {
                let status = match &a.pause_reason {
                    Some(r) => format!("{} ({})", a.status, cell(r)),
                    None => a.status.to_string(),
                };
                vec![
                    a.id.clone(),
                    cell(&a.name),
                    status,
                    a.state.to_string(),
                    a.state_secs.map_or("-".to_string(), |n| format!("{n} s")),
                    a.calls_today.to_string(),
                    format!("{} s", a.talk_secs_today),
                    a.attempt.map_or("-".to_string(), |n| n.to_string()),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "AGENT", "NAME", "STATUS", "STATE", "FOR", "CALLS", "TALK", "ATTEMPT",
            ],
            &rows,
        ));
    }
    Ok(out)
}

const SIMULATE_USAGE: &str = "usage: cc simulate SETUP.json --arrivals-per-hour N --aht S [--patience S] [--hours H] [--seed N] [--sl-secs T] [--queue ID]";

/// `simulate SETUP.json --arrivals-per-hour N --aht S …` (the words after `simulate`): the
/// agents are those with a tier on the queue; needs no store.
pub fn simulate(words: &[&str]) -> Outcome {
    let usage = |m: String| Err(CommandError::usage(m, SIMULATE_USAGE));
    let mut file = None;
    let mut options: BTreeMap<&str, &str> = BTreeMap::new();
    let known = [
        "arrivals-per-hour",
        "aht",
        "patience",
        "hours",
        "seed",
        "sl-secs",
        "queue",
    ];
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        if let Some(option) = word.strip_prefix("--") {
            let (name, value) = match option.split_once('=') {
                Some((n, v)) => (n, v),
                None => {
                    i += 1;
                    match words.get(i) {
                        Some(v) => (option, *v),
                        None => return usage(format!("simulate: --{option} needs a value")),
                    }
                }
            };
            if !known.contains(&name) {
                return usage(format!(
                    "simulate: unknown option --{}",
                    name.escape_debug()
                ));
            }
            if options.insert(name, value).is_some() {
                return usage(format!("simulate: --{name} is given twice"));
            }
        } else if file.is_none() {
            file = Some(word);
        } else {
            return usage(format!(
                "simulate: unexpected `{}`; one setup file",
                word.escape_debug()
            ));
        }
        i += 1;
    }
    let Some(file) = file else {
        return usage("simulate: which setup file?".to_string());
    };
    let number = |name: &str, default: Option<f64>| -> Result<Option<f64>, CommandError> {
        match options.get(name) {
            Some(text) => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Some(v)),
                _ => Err(CommandError::usage(
                    format!(
                        "simulate: --{name}: `{}` is not a number",
                        text.escape_debug()
                    ),
                    SIMULATE_USAGE,
                )),
            },
            None => Ok(default),
        }
    };
    let (Some(arrivals), Some(aht)) = (number("arrivals-per-hour", None)?, number("aht", None)?)
    else {
        return usage("simulate: --arrivals-per-hour and --aht are required".to_string());
    };
    let seed = match options.get("seed") {
        Some(text) => match text.parse::<u64>() {
            Ok(seed) => seed,
            Err(_) => {
                return usage(format!(
                    "simulate: --seed: `{}` is not a whole number",
                    text.escape_debug()
                ));
            }
        },
        None => 1,
    };
    let setup = read_setup_file(file)?;
    let queue = match (options.get("queue"), setup.queues.as_slice()) {
        (Some(id), _) => setup
            .queues
            .iter()
            .find(|q| q.id == *id)
            .ok_or_else(|| CommandError::Failed(format!("{file}: no queue `{id}`")))?,
        (None, [only]) => only,
        (None, []) => return Err(CommandError::Failed(format!("{file}: no queue"))),
        (None, several) => {
            let ids: Vec<&str> = several.iter().map(|q| q.id.as_str()).collect();
            return usage(format!(
                "simulate: {file} has {} queues ({}); choose one with --queue",
                ids.len(),
                ids.join(", ")
            ));
        }
    };
    let agents = setup.tiers.iter().filter(|t| t.queue == queue.id).count();
    if agents == 0 {
        return Err(CommandError::Failed(format!(
            "{file}: queue `{}` has no agents (no tier)",
            queue.id
        )));
    }
    let sim = SimSetup {
        agents: u32::try_from(agents).unwrap_or(u32::MAX),
        arrivals_per_hour: arrivals,
        aht_secs: aht,
        patience_secs: number("patience", None)?,
        hours: number("hours", Some(8.0))?.unwrap_or(8.0),
        seed,
        sl_secs: number("sl-secs", Some(20.0))?.unwrap_or(20.0),
    };
    let report = des::simulate(&sim).map_err(|e| CommandError::Failed(e.to_string()))?;
    Ok(format!(
        "queue {} ({}): {agents} agents with a tier\n{}",
        queue.id,
        cell(&queue.name),
        report.render()
    ))
}

// Members and attempt outcomes.

const MEMBER_USAGE: &str = "\
usage: cc member add QUEUE DESTINATION [FIELD=VALUE…]
       cc member set ID FIELD=VALUE…
       cc member del ID
       cc member list [QUEUE] [--all] [json]
       cc member import FILE [QUEUE]   (CSV with a header row, or JSON: a list of members)";

/// `member add` fields: the member's, then its one communication's.
const MEMBER_ADD_FIELDS: &[&str] = &[
    "name",
    "priority",
    "bucket",
    "timezone",
    "sticky_agent",
    "variables",
    "ready_at_ms",
    "hold_secs",
    "expire_at_ms",
    "type",
    "display",
    "resource",
    "description",
];
const COMMUNICATION_FIELDS: &[&str] = &["type", "display", "resource", "description"];

const MEMBER_SET_FIELDS: &[&str] = &[
    "name",
    "priority",
    "bucket",
    "queue",
    "ready_at_ms",
    "hold_secs",
    "stop_cause",
    "variables",
    "communications",
];

/// At most this many members are listed.
const MEMBER_LIST_LIMIT: usize = 1000;

fn member_command(store: &dyn Store, words: &[&str], now_ms: Ms) -> Outcome {
    let usage = |m: String| Err(CommandError::usage(m, MEMBER_USAGE));
    match words {
        ["add", queue, destination, rest @ ..] => {
            let fields = parse_fields_of("a member", MEMBER_ADD_FIELDS, rest)
                .map_err(|m| CommandError::usage(format!("member add: {m}"), MEMBER_USAGE))?;
            member_add(store, queue, destination, &fields, now_ms)
        }
        ["add", ..] => usage("member add needs the queue and a destination".into()),
        ["set", id, rest @ ..] => {
            let id = member_id(id)?;
            let fields = parse_fields_of("a member", MEMBER_SET_FIELDS, rest)
                .map_err(|m| CommandError::usage(format!("member set: {m}"), MEMBER_USAGE))?;
            if fields.is_empty() {
                return usage("member set: which fields?".into());
            }
            member_set(store, id, &fields, now_ms)
        }
        ["set"] => usage("member set needs the member id".into()),
        ["del", id] => {
            let id = member_id(id)?;
            let filter = crate::store::MemberFilter {
                id: Some(id),
                ..Default::default()
            };
            match store.delete_members(&filter)? {
                0 => Err(CommandError::Failed(format!("no member {id}"))),
                _ => Ok(format!("deleted member {id}\n")),
            }
        }
        ["del", ..] => usage("member del takes one member id".into()),
        ["list", rest @ ..] => member_list(store, rest, now_ms),
        ["import", file] => member_import(store, file, None, now_ms),
        ["import", file, queue] => member_import(store, file, Some(queue), now_ms),
        ["import", ..] => usage("member import takes a file and an optional queue".into()),
        [] => usage("member: which verb?".into()),
        [verb, ..] => usage(format!("member: unknown verb `{}`", verb.escape_debug())),
    }
}

fn member_id(word: &str) -> Result<i64, CommandError> {
    word.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            CommandError::usage(
                format!("`{}` is not a member id (a number)", word.escape_debug()),
                MEMBER_USAGE,
            )
        })
}

/// The store's `members[0].field: …` of a single member, without the list index.
fn one_member_error(e: StoreError) -> CommandError {
    let text = e.to_string();
    CommandError::Failed(
        text.strip_prefix("members[0].")
            .unwrap_or(&text)
            .to_string(),
    )
}

/// A field's value as JSON (a text value read as JSON when it parses, else as a string).
fn field_json(value: &FieldValue) -> Value {
    match value {
        FieldValue::Json(v) => v.clone(),
        FieldValue::Text(t) => {
            serde_json::from_str::<Value>(t).unwrap_or_else(|_| Value::String(t.clone()))
        }
    }
}

/// `hold_secs=N` as a ready time (`callbackQueue`'s holdSec).
fn hold_until(value: &FieldValue, now_ms: Ms) -> Result<Ms, CommandError> {
    match field_json(value).as_u64() {
        Some(secs) if secs <= 365 * 86_400 => Ok(now_ms + secs as i64 * 1000),
        _ => Err(CommandError::Failed(
            "hold_secs: must be a whole number of seconds up to a year".into(),
        )),
    }
}

fn member_add(
    store: &dyn Store,
    queue: &str,
    destination: &str,
    fields: &[(String, FieldValue)],
    now_ms: Ms,
) -> Outcome {
    let mut communication = Map::new();
    communication.insert("destination".into(), Value::String(destination.into()));
    let mut member_fields = Vec::new();
    let mut communication_fields = Vec::new();
    let mut hold = None;
    for (name, value) in fields {
        if name == "hold_secs" {
            hold = Some(hold_until(value, now_ms)?);
        } else if COMMUNICATION_FIELDS.contains(&name.as_str()) {
            communication_fields.push((name.clone(), value.clone()));
        } else {
            member_fields.push((name.clone(), value.clone()));
        }
    }
    let communication: crate::model::Communication = build(communication, &communication_fields)
        .map_err(|e| CommandError::Failed(format!("communications[0].{e}")))?;
    let mut base = Map::new();
    base.insert("queue".into(), Value::String(queue.into()));
    base.insert("communications".into(), Value::Array(Vec::new()));
    let mut member: crate::model::Member =
        build(base, &member_fields).map_err(|e| CommandError::Failed(e.to_string()))?;
    member.communications.push(communication);
    if let Some(ready) = hold {
        member.ready_at_ms = Some(ready);
    }
    let ids = store
        .add_members(&[member], now_ms)
        .map_err(one_member_error)?;
    Ok(format!("added member {} to queue {queue}\n", ids[0]))
}

fn member_set(store: &dyn Store, id: i64, fields: &[(String, FieldValue)], now_ms: Ms) -> Outcome {
    let mut patch = crate::store::MemberPatch::default();
    let fail = |field: &str, message: &str| CommandError::Failed(format!("{field}: {message}"));
    for (name, value) in fields {
        let json = field_json(value);
        let text = || match value {
            FieldValue::Text(t) => t.clone(),
            FieldValue::Json(Value::String(t)) => t.clone(),
            FieldValue::Json(v) => v.to_string(),
        };
        match name.as_str() {
            "name" => patch.name = Some(text()),
            "bucket" => patch.bucket = Some(text()),
            "queue" => patch.queue = Some(text()),
            "stop_cause" => patch.stop_cause = Some(text()),
            "priority" => {
                patch.priority = Some(
                    json.as_i64()
                        .ok_or_else(|| fail(name, "must be a whole number"))?,
                )
            }
            "ready_at_ms" => {
                patch.ready_at_ms = Some(
                    json.as_i64()
                        .ok_or_else(|| fail(name, "must be a time in Unix milliseconds"))?,
                )
            }
            "hold_secs" => patch.ready_at_ms = Some(hold_until(value, now_ms)?),
            "variables" => {
                if !json.is_object() {
                    return Err(fail(name, "must be a JSON object"));
                }
                patch.variables = Some(json.to_string());
            }
            "communications" => patch.communications = communication_patches(&json)?,
            _ => unreachable!("parse_fields_of keeps only MEMBER_SET_FIELDS"),
        }
    }
    let filter = crate::store::MemberFilter {
        id: Some(id),
        ..Default::default()
    };
    match store.patch_members(&filter, &patch, now_ms)? {
        0 => Err(CommandError::Failed(format!("no member {id}"))),
        _ => {
            let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            Ok(format!("updated member {id}: {}\n", names.join(", ")))
        }
    }
}

/// `communications=[{"id":0,"destination":"…"}]`: Webitel's partial communications, `id`
/// the 0-based index.
fn communication_patches(
    json: &Value,
) -> Result<Vec<(usize, crate::store::CommunicationPatch)>, CommandError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Partial {
        id: usize,
        destination: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
        display: Option<String>,
        priority: Option<i64>,
        resource: Option<String>,
        description: Option<String>,
    }
    let list: Vec<Partial> = model::from_value(json)
        .map_err(|e| CommandError::Failed(format!("communications{}", path_suffix(&e))))?;
    Ok(list
        .into_iter()
        .map(|p| {
            (
                p.id,
                crate::store::CommunicationPatch {
                    destination: p.destination,
                    kind: p.kind,
                    display: p.display,
                    priority: p.priority,
                    resource: p.resource,
                    description: p.description,
                },
            )
        })
        .collect())
}

/// `[0].id: message` for an error inside a list field (`: message` at its top).
fn path_suffix(e: &FieldError) -> String {
    if e.path.is_empty() {
        format!(": {}", e.message)
    } else if e.path.starts_with('[') {
        format!("{}: {}", e.path, e.message)
    } else {
        format!(".{}: {}", e.path, e.message)
    }
}

/// A time for a table: `2026-12-03 10:00:00 UTC`.
fn utc_time(ms: Ms) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn member_list(store: &dyn Store, words: &[&str], now_ms: Ms) -> Outcome {
    let mut queue = None;
    let mut all = false;
    let mut json = false;
    for word in words {
        match *word {
            "--all" if !all => all = true,
            "json" if !json => json = true,
            w if queue.is_none() && !w.starts_with('-') => queue = Some(w),
            w => {
                return Err(CommandError::usage(
                    format!("member list: unexpected `{}`", w.escape_debug()),
                    MEMBER_USAGE,
                ));
            }
        }
    }
    let filter = crate::store::MemberFilter {
        queues: queue.map(|q| vec![q.to_string()]).unwrap_or_default(),
        completed: (!all).then_some(false),
        ..Default::default()
    };
    let members = store.members(&filter, MEMBER_LIST_LIMIT + 1)?;
    let more = members.len() > MEMBER_LIST_LIMIT;
    let members = &members[..members.len().min(MEMBER_LIST_LIMIT)];
    if json {
        return Ok(json_text(members));
    }
    if members.is_empty() {
        return Ok(if all {
            "no members\n".to_string()
        } else {
            "no active members (--all shows finished ones)\n".to_string()
        });
    }
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let numbers: Vec<String> = m
                .communications
                .iter()
                .map(|c| {
                    let mark = if c.excluded { " (excluded)" } else { "" };
                    format!("{}{mark}", cell(&c.destination))
                })
                .collect();
            let state = match (&m.stop_cause, m.open_attempt, m.ready_at_ms) {
                (Some(cause), _, _) => format!("stopped ({})", cell(cause)),
                (None, Some(attempt), _) => format!("attempt {attempt}"),
                (None, None, Some(ready)) if ready > now_ms => {
                    format!("ready {}", utc_time(ready))
                }
                _ => "ready".to_string(),
            };
            vec![
                m.id.to_string(),
                m.queue.clone(),
                if m.name.is_empty() {
                    "-".to_string()
                } else {
                    cell(&m.name)
                },
                m.priority.to_string(),
                numbers.join(", "),
                m.attempts.to_string(),
                state,
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID",
            "QUEUE",
            "NAME",
            "PRIORITY",
            "DESTINATIONS",
            "ATTEMPTS",
            "STATE",
        ],
        &rows,
    );
    if more {
        out.push_str(&format!(
            "(the first {MEMBER_LIST_LIMIT}; narrow with a queue)\n"
        ));
    }
    Ok(out)
}

/// The 1-based line of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// serde_json's ` at line L column C` (positions inside one element) left out: the import
/// names the file's line instead.
fn without_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// `member import FILE [QUEUE]`: every member is read and validated, then added in one
/// transaction; the first bad one names its line, and nothing is imported.
fn member_import(store: &dyn Store, file: &str, queue: Option<&str>, now_ms: Ms) -> Outcome {
    let text = std::fs::read_to_string(file)
        .map_err(|e| CommandError::Failed(format!("{file}: cannot read: {e}")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let fail = |line: usize, message: String| {
        CommandError::Failed(format!("{file}: line {line}: {message}"))
    };
    let rows = if text.trim_start().starts_with(['[', '{']) {
        json_members(text).map_err(|(line, m)| fail(line, m))?
    } else {
        csv_members(text).map_err(|(line, m)| fail(line, m))?
    };
    if rows.is_empty() {
        return Err(CommandError::Failed(format!("{file}: no members in it")));
    }
    let mut members = Vec::with_capacity(rows.len());
    for (i, (line, mut object)) in rows.iter().cloned().enumerate() {
        if let Some(q) = queue {
            object
                .entry("queue")
                .or_insert_with(|| Value::String(q.to_string()));
        }
        let member: crate::model::Member =
            model::from_value(&Value::Object(object)).map_err(|e| {
                let message = without_position(&e.message);
                match e.path.as_str() {
                    "" => fail(line, format!("members[{i}]: {message}")),
                    path => fail(line, format!("members[{i}].{path}: {message}")),
                }
            })?;
        member
            .validate(&format!("members[{i}]"))
            .map_err(|e| fail(line, e.to_string()))?;
        members.push(member);
    }
    store.add_members(&members, now_ms).map_err(|e| match &e {
        StoreError::Invalid(field) => {
            let index = field
                .path
                .strip_prefix("members[")
                .and_then(|rest| rest.split(']').next())
                .and_then(|n| n.parse::<usize>().ok());
            match index.and_then(|i| rows.get(i)) {
                Some((line, _)) => fail(*line, e.to_string()),
                None => CommandError::Failed(format!("{file}: {e}")),
            }
        }
        _ => CommandError::Failed(format!("{file}: {e}")),
    })?;
    Ok(format!(
        "imported {} member{}\n",
        members.len(),
        if members.len() == 1 { "" } else { "s" }
    ))
}

/// A result whose error names the line of the file it is about.
type Lined<T> = Result<T, (usize, String)>;

/// The members of a JSON import (a list, or `{"members": […]}`), each with its line.
fn json_members(text: &str) -> Lined<Vec<(usize, Map<String, Value>)>> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        members: Vec<&'a RawValue>,
    }
    let list: Vec<&RawValue> = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Wrapped<'_>>(text)
            .map_err(|e| (e.line(), format!("not a member list: {e}")))?
            .members
    } else {
        serde_json::from_str(text).map_err(|e| (e.line(), format!("not a member list: {e}")))?
    };
    let base = text.as_ptr() as usize;
    let mut out = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        // The element's text is a slice of `text`: its address says where it starts.
        let line = line_of(text, (raw.get().as_ptr() as usize).saturating_sub(base));
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(object)) => out.push((line, object)),
            _ => return Err((line, format!("members[{i}]: must be a JSON object"))),
        }
    }
    Ok(out)
}

/// CSV records with the line each starts on: `,` separated, `"…"` quoted with `""` for a
/// quote (a quoted cell may hold commas and line breaks); blank lines are skipped.
fn csv_records(text: &str) -> Lined<Vec<(usize, Vec<String>)>> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err((start, "a quoted cell is not closed".to_string()));
                }
                break;
            };
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        cell.push('\n');
                    }
                    c => cell.push(c),
                }
                continue;
            }
            match c {
                '"' if cell.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                ',' => {
                    cells.push(std::mem::take(&mut cell));
                    was_quoted = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    break;
                }
                c => cell.push(c),
            }
        }
        cells.push(cell);
        if cells.len() == 1 && cells[0].trim().is_empty() {
            continue;
        }
        records.push((start, cells));
    }
    Ok(records)
}

/// Member columns of a CSV import. `destination` starts a communication; `type`,
/// `display`, `resource`, `description` after it belong to it (repeat the group for more
/// numbers); `variables.KEY` sets a variable.
const CSV_COLUMNS: &[&str] = &[
    "queue",
    "name",
    "priority",
    "bucket",
    "timezone",
    "sticky_agent",
    "ready_at_ms",
    "expire_at_ms",
    "destination",
    "type",
    "display",
    "resource",
    "description",
    "variables.KEY",
];

fn csv_members(text: &str) -> Lined<Vec<(usize, Map<String, Value>)>> {
    let records = csv_records(text)?;
    let Some(((header_line, header), rows)) = records.split_first() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    let mut seen_destination = false;
    for (i, column) in header.iter().enumerate() {
        let known = CSV_COLUMNS.contains(&column.as_str())
            || column
                .strip_prefix("variables.")
                .is_some_and(|k| !k.is_empty());
        if !known {
            return Err((
                *header_line,
                format!(
                    "column {} `{}` is not a member column; the columns are {}",
                    i + 1,
                    column.escape_debug(),
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
        if column == "destination" {
            seen_destination = true;
        } else if COMMUNICATION_FIELDS.contains(&column.as_str()) && !seen_destination {
            return Err((
                *header_line,
                format!("column {} `{column}` comes before any `destination`", i + 1),
            ));
        } else if !COMMUNICATION_FIELDS.contains(&column.as_str())
            && !column.starts_with("variables.")
            && header.iter().filter(|h| *h == column).count() > 1
        {
            return Err((*header_line, format!("column `{column}` is given twice")));
        }
    }
    if !seen_destination {
        return Err((*header_line, "no `destination` column".to_string()));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (line, cells) in rows {
        if cells.len() != header.len() {
            return Err((
                *line,
                format!("{} cells; the header has {}", cells.len(), header.len()),
            ));
        }
        let mut member = Map::new();
        let mut variables = Map::new();
        let mut communications: Vec<Value> = Vec::new();
        // Cells of the current communication; `None` when its destination cell is empty.
        let mut current: Option<Map<String, Value>> = None;
        for (column, cell) in header.iter().zip(cells) {
            let value = cell.trim();
            if column == "destination" {
                if let Some(done) = current.take() {
                    communications.push(Value::Object(done));
                }
                if !value.is_empty() {
                    let mut c = Map::new();
                    c.insert("destination".into(), Value::String(value.to_string()));
                    current = Some(c);
                }
            } else if COMMUNICATION_FIELDS.contains(&column.as_str()) {
                if let Some(c) = current.as_mut()
                    && !value.is_empty()
                {
                    c.insert(column.clone(), Value::String(value.to_string()));
                }
            } else if let Some(key) = column.strip_prefix("variables.") {
                if !value.is_empty() {
                    variables.insert(key.to_string(), Value::String(value.to_string()));
                }
            } else if !value.is_empty() {
                let typed = match column.as_str() {
                    "priority" | "ready_at_ms" | "expire_at_ms" => value
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::String(value.to_string())),
                    _ => Value::String(value.to_string()),
                };
                member.insert(column.clone(), typed);
            }
        }
        if let Some(done) = current.take() {
            communications.push(Value::Object(done));
        }
        member.insert("communications".into(), Value::Array(communications));
        member.insert("variables".into(), Value::Object(variables));
        out.push((*line, member));
    }
    Ok(out)
}

/// The fields `attempt-result` takes besides the status (`attemptResult`'s arguments).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeArgs {
    description: Option<String>,
    #[serde(default)]
    stop: bool,
    wait_between_retries_secs: Option<u64>,
    ready_at_ms: Option<Ms>,
    max_attempts: Option<u32>,
    #[serde(default)]
    exclude_current_communication: bool,
    #[serde(default)]
    redial: bool,
    sticky_agent: Option<String>,
    expire_at_ms: Option<Ms>,
    variables: Option<Map<String, Value>>,
}

const OUTCOME_FIELDS: &[&str] = &[
    "description",
    "stop",
    "wait_between_retries_secs",
    "ready_at_ms",
    "max_attempts",
    "exclude_current_communication",
    "redial",
    "sticky_agent",
    "expire_at_ms",
    "variables",
];

const ATTEMPT_RESULT_USAGE: &str = "usage: cc attempt-result ATTEMPT STATUS [FIELD=VALUE…]
       STATUS: success, abandoned, busy, no_answer, cancel or another word; FIELDS: description, stop,
       wait_between_retries_secs, ready_at_ms, max_attempts, exclude_current_communication, redial,
       sticky_agent, expire_at_ms, variables";

/// `attempt-result ATTEMPT STATUS [FIELD=VALUE…]`: an agent's wrap-up of an outbound
/// attempt, written once (a second result is refused by showing the first).
fn attempt_result(store: &dyn Store, words: &[&str], now_ms: Ms) -> Outcome {
    let usage = |m: String| Err(CommandError::usage(m, ATTEMPT_RESULT_USAGE));
    let [attempt, status, rest @ ..] = words else {
        return usage("attempt-result needs the attempt and a status".into());
    };
    let Some(attempt) = attempt.parse::<i64>().ok().filter(|a| *a > 0) else {
        return usage(format!(
            "attempt-result: `{}` is not an attempt id (a number)",
            attempt.escape_debug()
        ));
    };
    if status.contains('=') {
        return usage(format!(
            "attempt-result: `{}` is not a status; the status comes before the fields",
            status.escape_debug()
        ));
    }
    let fields = parse_fields_of("an attempt result", OUTCOME_FIELDS, rest)
        .map_err(|m| CommandError::usage(format!("attempt-result: {m}"), ATTEMPT_RESULT_USAGE))?;
    let args: OutcomeArgs =
        build(Map::new(), &fields).map_err(|e| CommandError::Failed(e.to_string()))?;
    let mut outcome = crate::store::AttemptOutcome::result(*status);
    outcome.description = args.description;
    outcome.stop = args.stop;
    outcome.wait_between_retries_secs = args.wait_between_retries_secs;
    outcome.ready_at_ms = args.ready_at_ms;
    outcome.max_attempts = args.max_attempts;
    outcome.exclude_current_communication = args.exclude_current_communication;
    outcome.redial = args.redial;
    outcome.sticky_agent = args.sticky_agent;
    outcome.expire_at_ms = args.expire_at_ms;
    outcome.variables = args.variables.map(|v| Value::Object(v).to_string());
    let after = store.finish_outbound(attempt, &outcome, now_ms)?;
    let member = match (&after.stop_cause, after.ready_at_ms) {
        (Some(cause), _) if after.stopped => format!("member {} finished ({cause})", after.member),
        (_, Some(ready)) => format!(
            "member {} is dialled again from {} ({} attempt{} made)",
            after.member,
            utc_time(ready),
            after.attempts,
            if after.attempts == 1 { "" } else { "s" }
        ),
        _ => format!("member {}", after.member),
    };
    if after.result != *status {
        return Ok(format!(
            "attempt {attempt} already has the result {}; {member}\n",
            after.result
        ));
    }
    Ok(format!("attempt {attempt}: {}; {member}\n", after.result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{JoinOutcome, JoinRequest};

    const NOW: Ms = 1_790_000_000_000;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn run(store: &SqliteStore, line: &str) -> Result<String, CommandError> {
        execute_line(store, line, NOW)
    }

    fn ok(store: &SqliteStore, line: &str) -> String {
        run(store, line).unwrap_or_else(|e| panic!("`{line}` failed: {e}"))
    }

    fn failed(store: &SqliteStore, line: &str) -> String {
        match run(store, line) {
            Err(CommandError::Failed(m)) => m,
            other => panic!("`{line}` gave {other:?}"),
        }
    }

    fn usage(store: &SqliteStore, line: &str) -> String {
        match run(store, line) {
            Err(e @ CommandError::Usage { .. }) => e.to_string(),
            other => panic!("`{line}` gave {other:?}"),
        }
    }

    fn store() -> SqliteStore {
        SqliteStore::in_memory().unwrap()
    }

    /// A store with a skill, a calendar, two queues, three agents and their tiers.
    fn provisioned() -> SqliteStore {
        let s = store();
        for line in [
            "skill add en name=English",
            r#"calendar add office {"timezone":"Europe/Kyiv","week":[{"days":["mon","tue","wed","thu","fri"],"open":"09:00","close":"18:00"}]}"#,
            "queue add sales strategy=ring-all max_wait_secs=120 name=Sales line",
            "queue add support",
            "agent add a1 extension=1001 name=Ann Smith",
            "agent add a2 extension=1002 domain=example.com",
            "agent add a3 contact=sofia/gateway/pstn/380441234567",
            "tier add sales a1 level=1 position=1",
            "tier add sales a2 level=2 position=2",
            "tier add support a3",
        ] {
            ok(&s, line);
        }
        s
    }

    #[test]
    fn add_then_list_prints_aligned_tables() {
        let s = provisioned();
        assert_eq!(
            ok(&s, "queue list"),
            "\
ID       NAME        STRATEGY            ENABLED  PRIORITY  MAX_WAIT  CALENDAR  AGENTS
sales    Sales line  ring-all            yes      0         120       -         2
support  support     longest-idle-agent  yes      0         60        -         1
"
        );
        assert_eq!(
            ok(&s, "agent list"),
            "\
ID  NAME       REACH                            SKILLS  STATUS   STATE
a1  Ann Smith  1001                             -       offline  waiting
a2  a2         1002@example.com                 -       offline  waiting
a3  a3         sofia/gateway/pstn/380441234567  -       offline  waiting
"
        );
        assert_eq!(
            ok(&s, "tier list"),
            "\
QUEUE    AGENT  LEVEL  POSITION  WEIGHT
sales    a1     1      1         1
sales    a2     2      2         1
support  a3     1      1         1
"
        );
        assert_eq!(
            ok(&s, "tier list support"),
            "QUEUE    AGENT  LEVEL  POSITION  WEIGHT\nsupport  a3     1      1         1\n"
        );
        assert_eq!(ok(&s, "skill list"), "ID  NAME\nen  English\n");
        assert_eq!(ok(&s, "bucket list"), "no buckets\n");
        // NOW is a Monday (2026-09-21) at 17:13 in Kyiv: open.
        assert_eq!(
            ok(&s, "calendar list"),
            "\
ID      NAME    TIMEZONE     WEEK                             EXCEPTIONS  NOW
office  office  Europe/Kyiv  mon,tue,wed,thu,fri 09:00-18:00  0           open
"
        );
    }

    #[test]
    fn lists_in_json_are_the_import_shape() {
        let s = provisioned();
        let queues: Vec<Queue> = serde_json::from_str(&ok(&s, "queue list json")).unwrap();
        assert_eq!(queues.len(), 2);
        assert_eq!(queues[0].max_wait_secs, 120);
        assert_eq!(queues[0].name, "Sales line");
        let agents: Vec<Agent> = serde_json::from_str(&ok(&s, "agent list json")).unwrap();
        assert_eq!(
            agents[0].extension.as_deref(),
            Some("1001"),
            "typed as text"
        );
        let tiers: Vec<Tier> = serde_json::from_str(&ok(&s, "tier list sales json")).unwrap();
        assert_eq!(tiers.len(), 2);
        let calendars: Vec<Calendar> = serde_json::from_str(&ok(&s, "calendar list json")).unwrap();
        assert_eq!(calendars[0].timezone, "Europe/Kyiv");
        assert_eq!(ok(&s, "bucket list json"), "[]\n");
        assert_eq!(ok(&s, "skill list json").matches("\"id\"").count(), 1);
    }

    #[test]
    fn every_entity_adds_sets_and_deletes() {
        let s = provisioned();
        assert_eq!(ok(&s, "bucket add vip priority=10"), "added bucket vip\n");
        assert_eq!(
            ok(&s, "bucket set vip priority=20 name=Very important"),
            "updated bucket vip: priority, name\n"
        );
        assert_eq!(
            ok(&s, "bucket list"),
            "ID   NAME            PRIORITY\nvip  Very important  20\n"
        );
        assert_eq!(
            ok(&s, "skill set en name=English (UK)"),
            "updated skill en: name\n"
        );
        assert_eq!(
            ok(
                &s,
                r#"queue set sales {"calendar": "office", "enabled": false}"#
            ),
            "updated queue sales: calendar, enabled\n"
        );
        assert_eq!(
            ok(&s, "queue set sales calendar=null"),
            "updated queue sales: calendar\n"
        );
        assert_eq!(
            ok(
                &s,
                "agent set a1 skills=[{\"skill\":\"en\",\"capacity\":80}]"
            ),
            "updated agent a1: skills\n"
        );
        assert!(ok(&s, "agent list").contains("en:80"));
        assert_eq!(
            ok(&s, "tier set sales a2 level=3 weight=5"),
            "updated tier sales/a2: level, weight\n"
        );
        assert!(ok(&s, "tier list").contains("sales    a2     3      2         5"));
        assert_eq!(
            ok(&s, "calendar set office name=Main office"),
            "updated calendar office: name\n"
        );
        assert_eq!(ok(&s, "tier del sales a2"), "deleted tier sales/a2\n");
        assert_eq!(ok(&s, "agent del a1"), "deleted agent a1 and its tier\n");
        assert_eq!(ok(&s, "queue del sales"), "deleted queue sales\n");
        assert_eq!(ok(&s, "bucket del vip"), "deleted bucket vip\n");
        assert_eq!(ok(&s, "calendar del office"), "deleted calendar office\n");
        // A skill still used by an agent cannot go: the whole setup is validated.
        ok(&s, "agent set a2 skills=[{\"skill\":\"en\"}]");
        assert_eq!(
            failed(&s, "skill del en"),
            "agents[0] (a2).skills[0].skill: no skill `en`"
        );
        ok(&s, "agent set a2 skills=[]");
        assert_eq!(ok(&s, "skill del en"), "deleted skill en\n");
        assert_eq!(
            ok(&s, "queue del support"),
            "deleted queue support and its tier\n"
        );
        let setup = s.setup().unwrap();
        assert!(setup.queues.is_empty() && setup.tiers.is_empty() && setup.skills.is_empty());
        assert_eq!(setup.agents.len(), 2);
    }

    #[test]
    fn add_refuses_an_existing_id_and_set_and_del_a_missing_one() {
        let s = provisioned();
        assert_eq!(
            failed(&s, "queue add sales"),
            "queue sales exists already; change it with `queue set`"
        );
        assert_eq!(
            failed(&s, "tier add sales a1"),
            "tier sales/a1 exists already; change it with `tier set`"
        );
        assert_eq!(
            failed(&s, "agent set zz name=x"),
            "no agent zz; create it with `agent add`"
        );
        assert_eq!(failed(&s, "bucket del zz"), "no bucket zz");
        assert_eq!(
            failed(&s, "queue set sales id=other"),
            "queue sales: id: is `sales` on the command line; to rename, add a new one and delete this one"
        );
    }

    #[test]
    fn a_bad_value_names_the_field_and_writes_nothing() {
        let s = provisioned();
        let before = s.setup().unwrap();
        assert_eq!(
            failed(&s, "queue set sales max_wait_secs=abc"),
            "queue sales: max_wait_secs: invalid type: string \"abc\", expected u64"
        );
        assert_eq!(
            failed(&s, "queue set sales max_wait_secs=90 max_no_answer=1000"),
            "queues[0] (sales).max_no_answer: is 1000; at most 100"
        );
        assert!(
            usage(&s, r#"queue set sales {"max_wait":5}"#).starts_with(
                "queue sales: max_wait: unknown field `max_wait`, expected one of `id`"
            )
        );
        assert_eq!(
            failed(&s, "tier add sales nobody"),
            "tiers[3].agent: no agent `nobody`"
        );
        assert!(
            failed(&s, "queue add q2 strategy=fastest")
                .starts_with("queue q2: strategy: unknown variant `fastest`")
        );
        assert_eq!(s.setup().unwrap(), before, "nothing was written");
    }

    #[test]
    fn import_is_declarative_and_idempotent() {
        let s = store();
        let dir = std::env::temp_dir().join(format!("rustflow-cc-import-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("setup.json");
        let file_name = file.to_str().unwrap().to_string();
        std::fs::write(
            &file,
            r#"{"queues":[{"id":"sales","strategy":"ring-all"}],
                "agents":[{"id":"a1","extension":"1001"},{"id":"a2","extension":"1002"}],
                "tiers":[{"queue":"sales","agent":"a1"},{"queue":"sales","agent":"a2","level":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            ok(&s, &format!("import {file_name}")),
            "put queue sales\nput agent a1\nput agent a2\nput tier sales/a1\nput tier sales/a2\n5 changes applied\n"
        );
        assert_eq!(ok(&s, &format!("import {file_name}")), "no changes\n");
        // The export is an import file that changes nothing.
        let export = dir.join("export.json");
        std::fs::write(&export, ok(&s, "export")).unwrap();
        assert_eq!(
            ok(&s, &format!("import {}", export.to_str().unwrap())),
            "no changes\n"
        );
        // A broken reference: the file and the field path, and the store is unchanged.
        let before = s.setup().unwrap();
        std::fs::write(
            &file,
            r#"{"queues":[{"id":"sales"}],"agents":[{"id":"a1","extension":"1001"}],
                "tiers":[{"queue":"sales","agent":"a1"},{"queue":"sales","agent":"ghost"}]}"#,
        )
        .unwrap();
        assert_eq!(
            failed(&s, &format!("import {file_name}")),
            format!("{file_name}: tiers[1].agent: no agent `ghost`")
        );
        std::fs::write(&file, r#"{"queues":[{"id":"sales","max_wait_secs":"x"}]}"#).unwrap();
        assert!(
            failed(&s, &format!("import {file_name}")).starts_with(&format!(
                "{file_name}: queues[0].max_wait_secs: invalid type"
            )),
        );
        assert_eq!(s.setup().unwrap(), before);
        // Leaving an agent out deletes it with its tier.
        std::fs::write(
            &file,
            r#"{"queues":[{"id":"sales","strategy":"ring-all"}],
                "agents":[{"id":"a1","extension":"1001"}],
                "tiers":[{"queue":"sales","agent":"a1"}]}"#,
        )
        .unwrap();
        assert_eq!(
            ok(&s, &format!("import {file_name}")),
            "delete agent a2\n1 change applied\n"
        );
        assert!(
            failed(&s, "import /nonexistent/setup.json")
                .starts_with("/nonexistent/setup.json: cannot read")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A store with an offline queue for members and an inbound one.
    fn with_outbound_queue() -> SqliteStore {
        let s = store();
        ok(
            &s,
            "queue add calls type=callback gateway=pstn max_attempts=2 wait_between_retries_secs=60",
        );
        ok(&s, "queue add in");
        s
    }

    #[test]
    fn members_are_added_set_listed_and_deleted() {
        let s = with_outbound_queue();
        assert_eq!(
            ok(
                &s,
                r#"member add calls +15551234 name=Ann Smith priority=5 timezone=America/New_York display=+18005550100 variables={"order":42}"#
            ),
            "added member 1 to queue calls\n"
        );
        assert_eq!(
            ok(&s, "member add calls sip:bob@example.com hold_secs=60"),
            "added member 2 to queue calls\n"
        );
        let ann = s.member(1).unwrap().unwrap();
        assert_eq!(
            (ann.name.as_str(), ann.priority, ann.timezone.as_deref()),
            ("Ann Smith", 5, Some("America/New_York"))
        );
        assert_eq!(ann.variables, r#"{"order":42}"#);
        assert_eq!(
            ann.communications[0].display.as_deref(),
            Some("+18005550100")
        );
        assert_eq!(
            s.member(2).unwrap().unwrap().ready_at_ms,
            Some(NOW + 60_000)
        );
        assert_eq!(
            ok(&s, "member list"),
            "\
ID  QUEUE  NAME       PRIORITY  DESTINATIONS         ATTEMPTS  STATE
1   calls  Ann Smith  5         +15551234            0         ready
2   calls  -          0         sip:bob@example.com  0         ready 2026-09-21 14:14:20 UTC
"
        );
        // Refusals name the field; nothing is added.
        assert_eq!(
            failed(&s, "member add in +1"),
            "queue: queue `in` is inbound; members belong to offline (callback), preview, progressive or predictive queues"
        );
        assert_eq!(
            failed(&s, "member add calls +1,user/1002"),
            "communications[0].destination: the number `+1,user/1002` holds ','"
        );
        assert_eq!(
            failed(&s, "member add calls +1 timezone=Mars/Base"),
            "timezone: `Mars/Base` is not an IANA time zone"
        );
        assert!(
            failed(&s, "member add calls +1 priority=high")
                .starts_with("priority: invalid type: string \"high\", expected i64")
        );
        assert!(usage(&s, "member add calls +1 colour=red").starts_with(
            "member add: `colour` is not a field of a member; the fields are name, priority,"
        ));
        assert!(usage(&s, "member add calls 1555 1234").contains("`1234` is not FIELD=VALUE"));
        assert!(
            usage(&s, "member add calls")
                .starts_with("member add needs the queue and a destination\nusage: cc member add")
        );
        assert_eq!(s.members(&Default::default(), 10).unwrap().len(), 2);
        // set: fields by name; a stop cause finishes the member now.
        assert_eq!(
            ok(&s, "member set 1 priority=7 stop_cause=do_not_call"),
            "updated member 1: priority, stop_cause\n"
        );
        let ann = s.member(1).unwrap().unwrap();
        assert_eq!(
            (ann.priority, ann.stop_at_ms, ann.stop_cause.as_deref()),
            (7, Some(NOW), Some("do_not_call"))
        );
        assert_eq!(
            ok(
                &s,
                r#"member set 2 communications=[{"id":0,"display":"+1800"},{"id":5,"display":"x"}]"#
            ),
            "updated member 2: communications\n"
        );
        let bob = s.member(2).unwrap().unwrap();
        assert_eq!(bob.communications.len(), 1);
        assert_eq!(bob.communications[0].display.as_deref(), Some("+1800"));
        assert_eq!(failed(&s, "member set 9 name=x"), "no member 9");
        assert_eq!(
            failed(&s, "member set 1 priority=high"),
            "priority: must be a whole number"
        );
        assert_eq!(
            failed(&s, "member set 1 variables=[1]"),
            "variables: must be a JSON object"
        );
        assert!(
            failed(
                &s,
                r#"member set 2 communications=[{"id":0,"colour":"red"}]"#
            )
            .starts_with("communications[0].colour: unknown field `colour`")
        );
        assert!(usage(&s, "member set x name=y").starts_with("`x` is not a member id (a number)"));
        assert!(usage(&s, "member set 1").starts_with("member set: which fields?"));
        // list hides finished members unless --all; json for tools.
        assert_eq!(
            ok(&s, "member list calls"),
            "\
ID  QUEUE  NAME  PRIORITY  DESTINATIONS         ATTEMPTS  STATE
2   calls  -     0         sip:bob@example.com  0         ready 2026-09-21 14:14:20 UTC
"
        );
        assert!(
            ok(&s, "member list --all")
                .contains("\n1   calls  Ann Smith  7         +15551234            0         stopped (do_not_call)\n")
        );
        let listed: Value = serde_json::from_str(&ok(&s, "member list calls --all json")).unwrap();
        assert_eq!(listed[0]["variables"]["order"], 42);
        assert_eq!(listed[0]["communications"][0]["destination"], "+15551234");
        assert_eq!(failed(&s, "member list nope"), "queue `nope` not found");
        assert!(usage(&s, "member list calls in").starts_with("member list: unexpected `in`"));
        assert_eq!(ok(&s, "member del 2"), "deleted member 2\n");
        assert_eq!(failed(&s, "member del 2"), "no member 2");
        assert_eq!(
            ok(&s, "member list"),
            "no active members (--all shows finished ones)\n"
        );
        assert!(
            usage(&s, "member frob")
                .starts_with("member: unknown verb `frob`\nusage: cc member add")
        );
        assert!(ok(&s, "member list --all").starts_with("ID  QUEUE"));
    }

    #[test]
    fn member_import_reads_csv_or_json_and_names_the_bad_line() {
        let s = with_outbound_queue();
        let dir = std::env::temp_dir().join(format!("rustflow-cc-members-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let file = dir.join(name);
            std::fs::write(&file, text).unwrap();
            file.to_str().unwrap().to_string()
        };
        let csv = write(
            "list.csv",
            "queue,name,priority,destination,type,destination,variables.order\n\
             calls,Ann,5,+15551234,mobile,+15559999,42\n\
             \n\
             calls,\"Smith, \"\"Bob\"\"\",0,sip:bob@example.com,,,\n",
        );
        assert_eq!(
            ok(&s, &format!("member import {csv}")),
            "imported 2 members\n"
        );
        let all = s.members(&Default::default(), 10).unwrap();
        assert_eq!(all[0].communications.len(), 2);
        assert_eq!(all[0].communications[0].kind.as_deref(), Some("mobile"));
        assert_eq!(all[0].variables, r#"{"order":"42"}"#);
        assert_eq!(all[0].priority, 5);
        assert_eq!(all[1].name, "Smith, \"Bob\"");
        assert_eq!(all[1].communications.len(), 1);
        // A bad row names its line, and none of the file is imported.
        let bad = write(
            "bad.csv",
            "queue,name,destination\ncalls,ok,+1\ncalls,two,+2\ncalls,bad,+1 555\n",
        );
        assert_eq!(
            failed(&s, &format!("member import {bad}")),
            format!(
                "{bad}: line 4: members[2].communications[0].destination: the number `+1 555` holds ' '"
            )
        );
        let inbound = write("inbound.csv", "queue,destination\ncalls,+1\nin,+2\n");
        assert_eq!(
            failed(&s, &format!("member import {inbound}")),
            format!(
                "{inbound}: line 3: members[1].queue: queue `in` is inbound; members belong to offline (callback), preview, progressive or predictive queues"
            )
        );
        let column = write("column.csv", "queue,destination,colour\ncalls,+1,red\n");
        assert!(
            failed(&s, &format!("member import {column}")).starts_with(&format!(
                "{column}: line 1: column 3 `colour` is not a member column; the columns are queue, name,"
            ))
        );
        let cells = write("cells.csv", "queue,destination\ncalls,+1,x\n");
        assert_eq!(
            failed(&s, &format!("member import {cells}")),
            format!("{cells}: line 2: 3 cells; the header has 2")
        );
        let quote = write("quote.csv", "queue,destination\ncalls,\"+1\n");
        assert_eq!(
            failed(&s, &format!("member import {quote}")),
            format!("{quote}: line 2: a quoted cell is not closed")
        );
        let priority = write(
            "priority.csv",
            "queue,destination,priority\ncalls,+1,high\n",
        );
        assert!(
            failed(&s, &format!("member import {priority}")).starts_with(&format!(
                "{priority}: line 2: members[0].priority: invalid type: string \"high\", expected i64"
            ))
        );
        assert_eq!(s.members(&Default::default(), 10).unwrap().len(), 2);
        // JSON: a list (or {"members": […]}); the queue may come from the command.
        let json = write(
            "list.json",
            r#"[
  {"queue": "calls", "name": "J1", "communications": [{"destination": "+1"}]},
  {"name": "J2",
   "communications": [{"destination": "+2", "colour": "red"}]}
]"#,
        );
        assert!(
            failed(&s, &format!("member import {json} calls")).starts_with(&format!(
                "{json}: line 3: members[1].communications[0].colour: unknown field `colour`, expected one of"
            ))
        );
        assert!(
            failed(&s, &format!("member import {json}")).starts_with(&format!(
                "{json}: line 3: members[1].communications[0].colour"
            ))
        );
        let json = write(
            "wrapped.json",
            r#"{"members": [
  {"name": "J1", "communications": [{"destination": "+1"}]},
  {"name": "J2", "variables": {"vip": true}, "communications": [{"destination": "+2"}]}
]}"#,
        );
        assert_eq!(
            failed(&s, &format!("member import {json}")),
            format!("{json}: line 2: members[0]: missing field `queue`")
        );
        assert_eq!(
            ok(&s, &format!("member import {json} calls")),
            "imported 2 members\n"
        );
        assert_eq!(
            s.members(&Default::default(), 10).unwrap()[3].variables,
            r#"{"vip":true}"#
        );
        let broken = write("broken.json", "[\n{\"queue\": \"calls\",\n");
        assert!(
            failed(&s, &format!("member import {broken}"))
                .starts_with(&format!("{broken}: line 3: not a member list:"))
        );
        let empty = write("empty.csv", "queue,destination\n");
        assert_eq!(
            failed(&s, &format!("member import {empty}")),
            format!("{empty}: no members in it")
        );
        assert!(
            failed(&s, "member import /nonexistent/list.csv")
                .starts_with("/nonexistent/list.csv: cannot read")
        );
        assert!(
            usage(&s, "member import")
                .starts_with("member import takes a file and an optional queue")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn attempt_result_writes_an_outcome_once() {
        let s = with_outbound_queue();
        ok(&s, "member add calls +15551234");
        let attempt = s
            .start_outbound(
                &crate::store::OutboundStart {
                    queue: "calls".into(),
                    member: 1,
                    communication: 0,
                    agent: None,
                    node: "n1".into(),
                    call_id: String::new(),
                    lease_until_ms: NOW + 60_000,
                },
                NOW,
            )
            .unwrap()
            .unwrap()
            .attempt;
        assert_eq!(
            ok(
                &s,
                &format!(
                    "attempt-result {attempt} busy wait_between_retries_secs=30 description=line busy"
                )
            ),
            format!(
                "attempt {attempt}: busy; member 1 is dialled again from 2026-09-21 14:13:50 UTC (1 attempt made)\n"
            )
        );
        assert_eq!(
            s.attempt(attempt).unwrap().unwrap().result.as_deref(),
            Some("busy"),
            "the outcome closed the attempt"
        );
        assert_eq!(
            ok(&s, &format!("attempt-result {attempt} success")),
            format!(
                "attempt {attempt} already has the result busy; member 1 is dialled again from 2026-09-21 14:13:50 UTC (1 attempt made)\n"
            )
        );
        let second = s
            .start_outbound(
                &crate::store::OutboundStart {
                    queue: "calls".into(),
                    member: 1,
                    communication: 0,
                    agent: None,
                    node: "n1".into(),
                    call_id: String::new(),
                    lease_until_ms: NOW + 200_000,
                },
                NOW + 100_000,
            )
            .unwrap()
            .unwrap()
            .attempt;
        assert_eq!(
            ok(
                &s,
                &format!(r#"attempt-result {second} no_answer variables={{"why":"out"}}"#)
            ),
            format!("attempt {second}: no_answer; member 1 finished (no_answer)\n"),
            "max_attempts 2 reached"
        );
        assert_eq!(s.member(1).unwrap().unwrap().variables, r#"{"why":"out"}"#);
        assert!(usage(&s, "attempt-result").starts_with(
            "attempt-result needs the attempt and a status\nusage: cc attempt-result"
        ));
        assert!(
            usage(&s, "attempt-result x busy")
                .starts_with("attempt-result: `x` is not an attempt id")
        );
        assert!(
            usage(&s, "attempt-result 1 redial=true").contains("`redial=true` is not a status")
        );
        assert!(
            usage(&s, &format!("attempt-result {attempt} busy colour=red"))
                .starts_with("attempt-result: `colour` is not a field of an attempt result")
        );
        assert!(
            failed(
                &s,
                &format!("attempt-result {attempt} busy max_attempts=-1")
            )
            .starts_with("max_attempts: invalid type: string \"-1\", expected u32")
        );
        assert_eq!(
            failed(&s, "attempt-result 999 success"),
            "attempt 999 not found"
        );
    }

    #[test]
    fn agent_status_takes_a_reason_for_a_pause() {
        let s = provisioned();
        assert_eq!(
            ok(&s, "agent status a1 pause Lunch break"),
            "agent a1: pause (Lunch break)\n"
        );
        let a1 = s
            .agents(NOW)
            .unwrap()
            .into_iter()
            .find(|a| a.id == "a1")
            .unwrap();
        assert_eq!(a1.status, AgentStatus::Pause);
        assert_eq!(a1.pause_reason.as_deref(), Some("Lunch break"));
        assert_eq!(ok(&s, "agent status a1 online"), "agent a1: online\n");
        assert!(
            usage(&s, "agent status a1 online now")
                .starts_with("agent status: only a pause takes a reason\nusage: cc agent status")
        );
        assert!(
            usage(&s, "agent status a1 away").contains("`away` is not online, offline or pause")
        );
        assert_eq!(
            failed(&s, "agent status nobody online"),
            "agent `nobody` not found"
        );
    }

    #[test]
    fn unknown_words_are_usage_errors() {
        let s = provisioned();
        assert!(usage(&s, "").starts_with("cc: which command?\nusage: cc queue|agent"));
        assert!(usage(&s, "frob add x").starts_with("unknown command `frob`\nusage:"));
        assert!(
            usage(&s, "queue frob")
                .starts_with("queue: unknown verb `frob`\nusage: cc queue add|set")
        );
        assert!(usage(&s, "queue add").starts_with("queue add needs the id"));
        assert!(usage(&s, "tier del sales").starts_with("tier del needs the queue and agent"));
        assert!(usage(&s, "queue add sales ring-all").contains("`ring-all` is not FIELD=VALUE"));
        assert!(usage(&s, "queue add max_wait_secs=5").contains("`max_wait_secs=5` is not an id"));
        assert!(
            usage(&s, "queue add q priority=1 priority=2").contains("`priority` is given twice")
        );
        assert!(
            usage(&s, "queue add q max_wiat=5")
                .contains("`max_wiat` is not a field of a queue; the fields are id, name,")
        );
        assert!(usage(&s, "queue add q {not json").contains("the JSON:"));
        assert!(usage(&s, "queue set sales").starts_with("queue set: which fields?"));
        assert!(usage(&s, "queue list xml").starts_with("queue list: unexpected `xml`"));
        assert!(usage(&s, "snapshot now").starts_with("snapshot takes only `json`"));
    }

    fn join(s: &SqliteStore, queue: &str, call: &str, number: &str, priority: i64, at: Ms) -> i64 {
        let request = JoinRequest {
            queue: queue.into(),
            call_id: call.into(),
            caller_number: number.into(),
            caller_name: format!("caller {call}"),
            node: "n1".into(),
            priority,
            variables: "{}".into(),
            ..JoinRequest::default()
        };
        match s.join(&request, at).unwrap() {
            JoinOutcome::Joined { attempt, .. } => attempt,
            refused => panic!("{refused:?}"),
        }
    }

    #[test]
    fn snapshot_shows_callers_in_dispatch_order_and_agents() {
        let s = provisioned();
        ok(&s, "queue set sales max_wait_secs=0");
        ok(&s, "agent status a1 pause Lunch");
        ok(&s, "agent status a2 online");
        let first = join(&s, "sales", "c1", "+380501", 0, NOW - 50_000);
        let vip = join(&s, "sales", "c2", "+380502", 5, NOW - 10_000);
        let other = join(&s, "support", "c3", "+380503", 0, NOW - 5_000);
        let snap: Value = serde_json::from_str(&ok(&s, "snapshot json")).unwrap();
        assert_eq!(snap["at_ms"], NOW);
        let sales = &snap["queues"][0];
        assert_eq!(sales["id"], "sales");
        let order: Vec<i64> = sales["waiting"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["attempt"].as_i64().unwrap())
            .collect();
        assert_eq!(order, [vip, first], "the higher priority goes first");
        assert_eq!(sales["waiting"][0]["position"], 1);
        assert_eq!(sales["waiting"][0]["waited_secs"], 10);
        assert_eq!(sales["waiting"][1]["caller_number"], "+380501");
        assert_eq!(sales["waiting"][1]["state"], "waiting");
        assert_eq!(sales["longest_wait_secs"], 50);
        // The chart's last point is now: two waiting in sales, three in all queues; a minute
        // earlier nobody was (the first joined 50 s ago).
        assert_eq!(sales["last_hour"]["trend"]["waiting"][59], 2);
        assert_eq!(snap["trend"]["waiting"][59], 3);
        assert_eq!(snap["trend"]["waiting"][58], 0);
        assert_eq!(snap["trend"]["service_level_1"][11], Value::Null);
        assert!(
            sales["ewt_secs"].is_null(),
            "no finished calls: no estimate"
        );
        assert_eq!(sales["agents"]["online"], 1);
        assert_eq!(sales["agents"]["pause"], 1);
        assert_eq!(sales["agents"]["free"], 1);
        assert_eq!(sales["last_hour"]["answered"], 0);
        assert_eq!(sales["last_hour"]["sl_threshold_secs"], 20.0);
        assert!(sales["last_hour"]["service_level_1"].is_null());
        assert_eq!(snap["queues"][1]["waiting"][0]["attempt"], other);
        let a1 = &snap["agents"][0];
        assert_eq!(a1["id"], "a1");
        assert_eq!(a1["status"], "pause");
        assert_eq!(a1["pause_reason"], "Lunch");
        // A caller who gave up counts in the last hour.
        s.leave(other, "abandoned", NOW - 1_000).unwrap();
        let text = ok(&s, "snapshot");
        assert!(
            text.starts_with(
                "queue sales (Sales line): 2 waiting, longest 50 s; agents 1 online (1 free), 1 pause, 0 offline\n  \
                 last hour: 0 answered, 0 abandoned, SL1 -, SL2 - (within 20 s), ASA -\n  \
                 #  ATTEMPT  NUMBER   NAME       WAITED  STATE\n  \
                 1  2        +380502  caller c2  10 s    waiting\n  \
                 2  1        +380501  caller c1  50 s    waiting\n"
            ),
            "{text}"
        );
        assert!(text.contains("queue support (support): 0 waiting, longest 0 s; agents 0 online (0 free), 0 pause, 1 offline\n  last hour: 0 answered, 1 abandoned, SL1 -, SL2 100.0 % (within 20 s), ASA -\n"), "{text}");
        assert!(text.contains("\na1     Ann Smith  pause (Lunch)"), "{text}");
    }

    #[test]
    fn snapshot_counts_the_last_hour_and_shows_a_bridged_agent() {
        let s = provisioned();
        ok(&s, "agent status a3 online");
        let attempt = join(&s, "support", "c1", "+380501", 0, NOW - 100_000);
        let pass = crate::distributor::Distributor::new(1)
            .pass(&s, NOW - 90_000)
            .unwrap();
        assert_eq!(pass.offers.len(), 1);
        assert!(s.answered(attempt, "a3", NOW - 85_000).unwrap());
        let snap: Value = serde_json::from_str(&ok(&s, "snapshot json")).unwrap();
        let a3 = &snap["agents"][2];
        assert_eq!(a3["id"], "a3");
        assert_eq!(a3["state"], "bridged");
        assert_eq!(a3["state_secs"], 85);
        assert_eq!(a3["attempt"], attempt);
        let support = &snap["queues"][1];
        assert_eq!(support["waiting"].as_array().unwrap().len(), 0);
        assert_eq!(
            support["last_hour"]["answered"], 1,
            "answered, still talking"
        );
        assert_eq!(support["last_hour"]["service_level_1"], 1.0);
        assert_eq!(support["last_hour"]["asa_secs"], 15.0);
        assert!(
            support["ewt_secs"].is_null(),
            "one finished call is too few to estimate"
        );
        // A caller who joined more than an hour ago is not in the last hour.
        s.leave(attempt, "success", NOW - 10_000).unwrap();
        let later = execute(&s, &words("snapshot json"), NOW + 3_600_000).unwrap();
        let later: Value = serde_json::from_str(&later).unwrap();
        assert_eq!(later["queues"][1]["last_hour"]["answered"], 0);
        assert!(
            ok(&s, "snapshot").contains(
                "last hour: 1 answered, 0 abandoned, SL1 100.0 %, SL2 100.0 % (within 20 s), ASA 15.0 s\n"
            )
        );
    }

    #[test]
    fn snapshot_shows_a_wrap_up_that_is_over_as_waiting_since_it_ended() {
        let s = provisioned();
        ok(&s, "queue set support wrap_up_secs=30");
        ok(&s, "agent status a3 online");
        let attempt = join(&s, "support", "c1", "+380501", 0, NOW);
        let pass = crate::distributor::Distributor::new(1)
            .pass(&s, NOW + 1_000)
            .unwrap();
        assert_eq!(pass.offers.len(), 1);
        assert!(s.answered(attempt, "a3", NOW + 5_000).unwrap());
        s.leave(attempt, "success", NOW + 65_000).unwrap();
        let agent = |at: Ms| {
            let snap: Value =
                serde_json::from_str(&execute(&s, &words("snapshot json"), at).unwrap()).unwrap();
            let a3 = snap["agents"][2].clone();
            assert_eq!(a3["id"], "a3");
            (
                a3["state"].as_str().unwrap().to_string(),
                a3["state_secs"].as_i64(),
            )
        };
        assert_eq!(agent(NOW + 75_000), ("wrap_time".to_string(), Some(10)));
        // The rest ended at +95 s: free since then, as the distributor counts it.
        assert_eq!(agent(NOW + 155_000), ("waiting".to_string(), Some(60)));
    }

    #[test]
    fn snapshot_gives_the_ewt_of_a_caller_joining_now() {
        let s = provisioned();
        ok(&s, "agent status a3 online");
        // Five calls handled in the last hour: enough history for an estimate.
        for i in 0..5 {
            let start = NOW - 1_800_000 + i * 300_000;
            let attempt = join(&s, "support", &format!("c{i}"), "+380501", 0, start);
            let pass = crate::distributor::Distributor::new(1)
                .pass(&s, start + 1_000)
                .unwrap();
            assert_eq!(pass.offers.len(), 1, "call {i} offered");
            assert!(s.answered(attempt, "a3", start + 5_000).unwrap());
            s.leave(attempt, "success", start + 65_000).unwrap();
        }
        let snap: Value = serde_json::from_str(&ok(&s, "snapshot json")).unwrap();
        let support = &snap["queues"][1];
        assert_eq!(support["id"], "support");
        let ewt = crate::service::estimated_wait(&s, None, &["support".to_string()], 60, NOW)
            .unwrap()
            .expect("an estimate from five calls");
        assert_eq!(support["ewt_secs"], ewt, "the `ewt` application's figure");
        // With a3 paused nobody can take a newcomer: unknown.
        ok(&s, "agent status a3 pause");
        let snap: Value = serde_json::from_str(&ok(&s, "snapshot json")).unwrap();
        assert!(snap["queues"][1]["ewt_secs"].is_null());
    }

    #[test]
    fn hostile_names_stay_text() {
        let s = store();
        let hostile = "<img src=x onerror=alert(1)>";
        ok(
            &s,
            &format!(r#"agent add a1 {{"extension":"1001","name":"{hostile}"}}"#),
        );
        // In FIELD=VALUE form `onerror=` is no agent field, so it stays part of the name.
        ok(&s, &format!("agent add a2 extension=1002 name={hostile}"));
        assert!(ok(&s, "agent list").contains(&format!("a2  {hostile}  1002")));
        ok(&s, "agent add a3 extension=1003 name=Tom & Jerry <b>");
        assert!(ok(&s, "agent list").contains("\na3  Tom & Jerry <b>  "));
        assert!(ok(&s, "agent list").contains(&format!("a1  {hostile}  1001")));
        let agents: Value = serde_json::from_str(&ok(&s, "agent list json")).unwrap();
        assert_eq!(agents[0]["name"], hostile);
        assert!(ok(&s, "snapshot").contains(hostile));
        // A newline reaches a name only through JSON, and validation refuses it.
        assert_eq!(
            failed(&s, r#"agent set a1 {"name":"x\ny"}"#),
            "agents[0] (a1).name: holds a control character"
        );
        // Control characters from callers are shown escaped in tables.
        assert_eq!(cell("a\nb"), "a\\nb");
    }

    #[test]
    fn values_are_typed_by_the_field() {
        let s = store();
        ok(
            &s,
            "queue add q name=123 priority=-5 sticky_agent=true ringtone=tone_stream://%(1000,0,440)",
        );
        let q = &s.setup().unwrap().queues[0];
        assert_eq!(q.name, "123");
        assert_eq!(q.priority, -5);
        assert!(q.sticky_agent);
        assert_eq!(q.ringtone.as_deref(), Some("tone_stream://%(1000,0,440)"));
        ok(&s, "queue set q name=\"Quoted name\"");
        assert_eq!(s.setup().unwrap().queues[0].name, "Quoted name");
    }

    #[test]
    fn field_lists_match_the_model() {
        fn expected<T: DeserializeOwned>() -> String {
            let Err(e) = model::from_json::<T>(r#"{"zz":1}"#) else {
                panic!("an unknown field was accepted");
            };
            let e = e.message;
            e[e.find("expected").unwrap()..e.find(" at line").unwrap()].to_string()
        }
        for (kind, message) in [
            (Kind::Queue, expected::<Queue>()),
            (Kind::Agent, expected::<Agent>()),
            (Kind::Tier, expected::<Tier>()),
            (Kind::Skill, expected::<Skill>()),
            (Kind::Bucket, expected::<Bucket>()),
            (Kind::Calendar, expected::<Calendar>()),
        ] {
            let listed: Vec<String> = kind.fields().iter().map(|f| format!("`{f}`")).collect();
            let serde_wording = match listed.as_slice() {
                [a, b] => format!("expected {a} or {b}"),
                _ => format!("expected one of {}", listed.join(", ")),
            };
            assert_eq!(message, serde_wording, "{kind:?}");
        }
    }

    fn write_setup(name: &str, text: &str) -> String {
        let file =
            std::env::temp_dir().join(format!("rustflow-cc-{name}-{}.json", std::process::id()));
        std::fs::write(&file, text).unwrap();
        file.to_str().unwrap().to_string()
    }

    #[test]
    fn simulate_uses_the_agents_with_a_tier_on_the_queue() {
        let s = store();
        let file = write_setup(
            "sim",
            r#"{"queues":[{"id":"sales"},{"id":"support"}],
                "agents":[{"id":"a1","extension":"1"},{"id":"a2","extension":"2"},{"id":"a3","extension":"3"}],
                "tiers":[{"queue":"sales","agent":"a1"},{"queue":"sales","agent":"a2"},{"queue":"support","agent":"a3"}]}"#,
        );
        let text = ok(
            &s,
            &format!(
                "simulate {file} --queue sales --arrivals-per-hour 60 --aht=60 --hours 100 --seed 7"
            ),
        );
        assert!(text.starts_with("queue sales (sales): 2 agents with a tier\n2 agents, 60 calls/h, AHT 60 s, nobody abandons, 100 h, seed 7\n"), "{text}");
        assert!(text.contains("Erlang C"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("service level (20 s)")),
            "{text}"
        );
        let again = simulate(&[
            "--arrivals-per-hour",
            "60",
            "--aht",
            "60",
            "--hours",
            "100",
            "--seed",
            "7",
            "--queue",
            "sales",
            &file,
        ])
        .unwrap();
        assert_eq!(again, text, "same seed, same report");
        assert!(
            usage(
                &s,
                &format!("simulate {file} --arrivals-per-hour 60 --aht 60")
            )
            .contains("has 2 queues (sales, support); choose one with --queue")
        );
        assert!(
            usage(&s, &format!("simulate {file} --queue sales --aht 60"))
                .contains("--arrivals-per-hour and --aht are required")
        );
        assert!(
            usage(
                &s,
                &format!("simulate {file} --queue sales --aht x --arrivals-per-hour 1")
            )
            .contains("--aht: `x` is not a number")
        );
        assert!(
            usage(&s, &format!("simulate {file} --speed 3")).contains("unknown option --speed")
        );
        assert_eq!(
            failed(
                &s,
                &format!("simulate {file} --queue sales --aht 0 --arrivals-per-hour 1")
            ),
            "simulation setup: aht_secs must be a number above 0"
        );
        assert_eq!(
            failed(
                &s,
                &format!("simulate {file} --queue nope --aht 1 --arrivals-per-hour 1")
            ),
            format!("{file}: no queue `nope`")
        );
        std::fs::remove_file(&file).unwrap();
    }
}
