//! A call simulator: a [`Host`] with a virtual clock and a scripted caller, recording a
//! transcript of everything the flow did. Used by `rustflow run` and the golden tests.
//!
//! Time only moves when the flow plays media, sleeps or waits for the network, by a
//! plausible amount (a tone by its cadence, silence by its length, a prompt by 2 s, TTS
//! by its text length), so transcripts are deterministic.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::{self, Write as _};

use serde_json::{Value as Json, json};

use crate::flow::{Flow, FlowSet};
use crate::host::*;
use crate::interp::{Limits, RunOutcome, run, run_with};

/// 2026-01-05 09:00:00 UTC, a Monday morning: the default start of the virtual clock.
pub const DEFAULT_START_MICROS: i64 = 1_767_603_600_000_000;

/// A canned HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpFixture {
    /// Exact URL (after expansion) this fixture answers.
    pub url: String,
    /// Method to match (`None` = any).
    pub method: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Virtual time the request takes.
    pub delay_ms: u64,
}

/// What the simulated caller and network do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Channel variables present at the start.
    pub vars: BTreeMap<String, String>,
    /// Global variables (`$${name}`).
    pub globals: BTreeMap<String, String>,
    /// Invocation arguments (`$1`…).
    pub args: Vec<String>,
    /// Key presses, one entry per digit-collection attempt, in order (`"1#"`).
    pub dtmf: Vec<String>,
    /// Speech results, one per `getSpeech`, in order.
    pub speech: Vec<String>,
    /// The caller hangs up after this many steps.
    pub hangup_after_steps: Option<u64>,
    /// The caller hangs up at this virtual time (ms since the start).
    pub hangup_at_ms: Option<u64>,
    pub http: Vec<HttpFixture>,
    /// Bridge outcome per leg (`user/1001`, `user/1001@example.org`,
    /// `gateway/NAME/NUMBER`, `sip/URI`); legs not listed get `bridge_default`.
    pub bridge: BTreeMap<String, BridgeResult>,
    pub bridge_default: BridgeResult,
    /// How long an answered bridge lasts (the conversation), in ms.
    pub bridge_talk_ms: u64,
    /// Calendar states by name or id; calendars not listed are open.
    pub calendars: BTreeMap<String, CalendarStatus>,
    /// Pickup groups with a call ringing in them (for `pickup`); a `bridge.pickup` group
    /// is picked up when `bridge` scripts `pickup/GROUP` as answered.
    pub pickup: Vec<String>,
    /// `generateLink` configuration (`None` = no `link-secret`).
    pub link: Option<LinkSettings>,
    pub limits: Limits,
    /// Virtual clock start, µs since the Unix epoch.
    pub start_micros: i64,
    pub uuid: String,
    /// Record DEBUG log lines too (off by default: one per step).
    pub debug_log: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            vars: default_caller_vars(),
            globals: BTreeMap::new(),
            args: Vec::new(),
            dtmf: Vec::new(),
            speech: Vec::new(),
            hangup_after_steps: None,
            hangup_at_ms: None,
            http: Vec::new(),
            bridge: BTreeMap::new(),
            bridge_default: BridgeResult::Answered,
            bridge_talk_ms: 30_000,
            calendars: BTreeMap::new(),
            pickup: Vec::new(),
            link: Some(LinkSettings {
                secret: "simulator-secret".to_string(),
                base_url: "https://files.example.test".to_string(),
                format: LinkFormat::HmacSha256,
            }),
            limits: Limits::default(),
            start_micros: DEFAULT_START_MICROS,
            uuid: "00000000-0000-4000-8000-000000000001".to_string(),
            debug_log: false,
        }
    }
}

/// Caller-profile variables every simulated call has (a script's `vars` add to them).
fn default_caller_vars() -> BTreeMap<String, String> {
    [
        ("caller_id_name", "Caller"),
        ("caller_id_number", "1000"),
        ("destination_number", "100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn string_map(value: &Json, what: &str) -> Result<BTreeMap<String, String>, String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("`{what}` must be an object of name → value"))?;
    Ok(object
        .iter()
        .map(|(k, v)| (k.clone(), crate::template::json_value_text(v)))
        .collect())
}

fn string_list(value: &Json, what: &str) -> Result<Vec<String>, String> {
    match value {
        Json::String(s) => Ok(vec![s.clone()]),
        Json::Array(items) => items
            .iter()
            .map(|v| match v {
                Json::String(s) => Ok(s.clone()),
                Json::Number(n) => Ok(n.to_string()),
                _ => Err(format!("`{what}` entries must be strings")),
            })
            .collect(),
        _ => Err(format!("`{what}` must be an array of strings")),
    }
}

/// `what` names the field as the message shows it (with its backquotes).
fn string<'j>(value: &'j Json, what: &str) -> Result<&'j str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{what} must be a string"))
}

fn uint(value: &Json, what: &str) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("`{what}` must be a non-negative integer"))
}

impl Script {
    /// Reads a script from JSON:
    /// `{"vars": {}, "globals": {}, "args": [], "dtmf": ["1#"], "speech": ["yes"],
    ///   "hangup_after_steps": 3, "hangup_at_ms": 5000,
    ///   "http": [{"url": "...", "method": "POST", "status": 200, "body": "...",
    ///             "headers": {}, "delay_ms": 50}],
    ///   "limits": {"max_steps": 100, "max_goto": 10}, "start": "2026-01-05T09:00:00Z",
    ///   "uuid": "...", "debug_log": false}`. Unknown keys are errors.
    pub fn from_json(text: &str) -> Result<Script, String> {
        let root: Json =
            serde_json::from_str(text).map_err(|e| format!("script is not valid JSON: {e}"))?;
        let object = root
            .as_object()
            .ok_or_else(|| "a script is a JSON object".to_string())?;
        let mut script = Script::default();
        for (key, value) in object {
            match key.as_str() {
                "vars" => script.vars.extend(string_map(value, key)?),
                "globals" => script.globals = string_map(value, key)?,
                "args" => script.args = string_list(value, key)?,
                "dtmf" => script.dtmf = string_list(value, key)?,
                "speech" => script.speech = string_list(value, key)?,
                "pickup" => script.pickup = string_list(value, key)?,
                "hangup_after_steps" => script.hangup_after_steps = Some(uint(value, key)?),
                "hangup_at_ms" => script.hangup_at_ms = Some(uint(value, key)?),
                "uuid" => {
                    script.uuid = string(value, "`uuid`")?.to_string();
                }
                "debug_log" => {
                    script.debug_log = value
                        .as_bool()
                        .ok_or_else(|| "`debug_log` must be a boolean".to_string())?;
                }
                "start" => {
                    let text = value
                        .as_str()
                        .ok_or_else(|| "`start` must be an RFC 3339 time".to_string())?;
                    let time = chrono::DateTime::parse_from_rfc3339(text)
                        .map_err(|e| format!("`start` is not an RFC 3339 time: {e}"))?;
                    script.start_micros = time.timestamp_micros();
                }
                "limits" => {
                    let limits = value
                        .as_object()
                        .ok_or_else(|| "`limits` must be an object".to_string())?;
                    for (name, v) in limits {
                        match name.as_str() {
                            "max_steps" => script.limits.max_steps = uint(v, name)?,
                            "max_goto" => {
                                script.limits.max_goto = u32::try_from(uint(v, name)?)
                                    .map_err(|_| "`max_goto` is too large".to_string())?;
                            }
                            other => return Err(format!("unknown limit `{other}`")),
                        }
                    }
                }
                "bridge" => {
                    let outcomes = value.as_object().ok_or_else(|| {
                        "`bridge` must be an object of leg → outcome (key `default` for the rest)"
                            .to_string()
                    })?;
                    for (leg, outcome) in outcomes {
                        let text = outcome.as_str().unwrap_or("");
                        let result = BridgeResult::parse(text).ok_or_else(|| {
                            format!("bridge outcome `{text}` for `{leg}` is not one of answered, busy, no_answer, failed, cancelled")
                        })?;
                        if leg == "default" {
                            script.bridge_default = result;
                        } else {
                            script.bridge.insert(leg.clone(), result);
                        }
                    }
                }
                "bridge_talk_ms" => script.bridge_talk_ms = uint(value, key)?,
                "link" => script.link = parse_link(value)?,
                "calendars" => {
                    let states = value.as_object().ok_or_else(|| {
                        "`calendars` must be an object of calendar → open|closed|expired|exception:NAME"
                            .to_string()
                    })?;
                    for (calendar, state) in states {
                        let text = state.as_str().unwrap_or("");
                        let status = match text {
                            "open" => CalendarStatus::Open,
                            "closed" => CalendarStatus::Closed,
                            "expired" => CalendarStatus::Expired,
                            _ => match text.strip_prefix("exception:") {
                                Some(name) if !name.is_empty() => {
                                    CalendarStatus::Exception(name.to_string())
                                }
                                _ => {
                                    return Err(format!(
                                        "calendar state `{text}` for `{calendar}` is not open, closed, expired or exception:NAME"
                                    ));
                                }
                            },
                        };
                        script.calendars.insert(calendar.clone(), status);
                    }
                }
                "http" => {
                    let items = value
                        .as_array()
                        .ok_or_else(|| "`http` must be an array of fixtures".to_string())?;
                    for item in items {
                        script.http.push(parse_fixture(item)?);
                    }
                }
                other => return Err(format!("unknown script key `{other}`")),
            }
        }
        Ok(script)
    }
}

fn parse_link(value: &Json) -> Result<Option<LinkSettings>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let object = value
        .as_object()
        .ok_or_else(|| "`link` must be {secret, base_url, format} or null".to_string())?;
    let text = |key: &str| -> Result<String, String> {
        object
            .get(key)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("`link.{key}` must be a string"))
    };
    let format = match object
        .get("format")
        .and_then(Json::as_str)
        .unwrap_or("hmac-sha256")
    {
        "hmac-sha256" => LinkFormat::HmacSha256,
        "nginx-secure-link" => LinkFormat::NginxSecureLink,
        other => return Err(format!("unknown link format `{other}`")),
    };
    Ok(Some(LinkSettings {
        secret: text("secret")?,
        base_url: text("base_url")?,
        format,
    }))
}

fn parse_fixture(item: &Json) -> Result<HttpFixture, String> {
    let object = item
        .as_object()
        .ok_or_else(|| "an http fixture is an object".to_string())?;
    let mut fixture = HttpFixture {
        url: String::new(),
        method: None,
        status: 200,
        headers: Vec::new(),
        body: String::new(),
        delay_ms: 50,
    };
    for (key, value) in object {
        match key.as_str() {
            "url" => {
                fixture.url = string(value, "fixture `url`")?.to_string();
            }
            "method" => {
                fixture.method = Some(string(value, "fixture `method`")?.to_ascii_uppercase());
            }
            "status" => {
                fixture.status = u16::try_from(uint(value, key)?)
                    .map_err(|_| "fixture `status` is out of range".to_string())?;
            }
            "headers" => fixture.headers = string_map(value, key)?.into_iter().collect(),
            "body" => {
                fixture.body = match value {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
            }
            "delay_ms" => fixture.delay_ms = uint(value, key)?,
            other => return Err(format!("unknown fixture key `{other}`")),
        }
    }
    if fixture.url.is_empty() {
        return Err("an http fixture needs `url`".to_string());
    }
    Ok(fixture)
}

/// One thing that happened, at a virtual time (ms since the start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at_ms: u64,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Step {
        flow: String,
        pointer: String,
        app: String,
        result: String,
    },
    Log {
        level: LogLevel,
        message: String,
    },
    SetVar {
        name: String,
        value: String,
    },
    UnsetVar {
        name: String,
    },
    ExportVar {
        name: String,
        value: String,
        scope: ExportScope,
    },
    RingReady,
    PreAnswer,
    Answer,
    Hangup {
        cause: String,
    },
    /// The simulated caller hung up.
    CallerHangup,
    FlushDtmf,
    InBandDtmf {
        start: bool,
    },
    Background {
        file: Option<String>,
        volume_reduction: u32,
    },
    Redirect {
        uris: Vec<String>,
    },
    UpdateCallerId {
        update: CallerIdUpdate,
    },
    Park {
        request: ParkRequest,
    },
    Conference {
        request: ConferenceRequest,
    },
    Ringback {
        call: Option<String>,
        transfer: Option<String>,
        hold: Option<String>,
        all: bool,
    },
    Play {
        files: Vec<String>,
        /// `Some` when digits were asked for.
        digits: Option<String>,
        interrupted: bool,
    },
    Speech {
        files: Vec<String>,
        transcript: String,
    },
    Sleep {
        ms: u64,
        soft: bool,
    },
    /// A bridge: each leg with its outcome (`None` = not tried: a failover leg after the
    /// one that answered).
    Bridge {
        legs: Vec<(String, Option<BridgeResult>)>,
        failover: bool,
        /// `pickup/GROUP` ringing alongside the legs, and how it ended.
        pickup: Option<(String, BridgeResult)>,
        result: BridgeResult,
    },
    /// `pickup` of a call ringing in `group`.
    Pickup {
        group: String,
        picked: bool,
    },
    /// Echo of the caller's audio (`delay_ms` 0 = plain echo) until the caller hangs up.
    Echo {
        delay_ms: u64,
    },
    Record {
        path: String,
        max_seconds: u64,
    },
    RecordSession {
        start: bool,
        path: String,
    },
    Http {
        method: String,
        url: String,
        body: Option<String>,
        result: String,
    },
    /// A contact-centre happening: a join, an offer, a ring, a bridge, a leave.
    Queue {
        what: String,
    },
}

fn describe_file(file: &PlayFile) -> String {
    match file {
        PlayFile::Tone(t) => format!("tone:{t}"),
        PlayFile::Silence { ms } => format!("silence:{ms}ms"),
        PlayFile::Local(p) => format!("local:{p}"),
        PlayFile::MediaName(n) => format!("media:{n}"),
        PlayFile::MediaId(id) => format!("media-id:{id}"),
        PlayFile::Http(u) => format!("http:{u}"),
        PlayFile::Tts {
            text,
            engine,
            voice,
            language,
            ssml,
        } => {
            let settings: Vec<String> = [
                engine.as_ref().map(|e| format!("engine={e}")),
                voice.clone(),
                language.as_ref().map(|l| format!("lang={l}")),
                ssml.then(|| "ssml".to_string()),
            ]
            .into_iter()
            .flatten()
            .collect();
            if settings.is_empty() {
                format!("tts:{text}")
            } else {
                format!("tts[{}]:{text}", settings.join(","))
            }
        }
    }
}

/// The script's name for a bridge leg: `user/EXT[@DOMAIN]`, `gateway/NAME/NUMBER`,
/// `sip/URI`.
pub fn describe_leg(target: &BridgeTarget) -> String {
    match target {
        BridgeTarget::User {
            extension,
            domain: Some(domain),
        } => format!("user/{extension}@{domain}"),
        BridgeTarget::User { extension, .. } => format!("user/{extension}"),
        BridgeTarget::Gateway { gateway, number } => format!("gateway/{gateway}/{number}"),
        BridgeTarget::Sip { uri, .. } => format!("sip/{uri}"),
    }
}

/// How long a file plays, virtually.
fn file_ms(file: &PlayFile) -> u64 {
    match file {
        PlayFile::Tone(t) => tone_ms(t),
        PlayFile::Silence { ms } => *ms,
        PlayFile::Tts { text, .. } => (text.chars().count() as u64 * 60).max(500),
        _ => 2000,
    }
}

/// Sum of on+off times of a teletone string (`%(on,off,freq…)` segments), else 1 s.
fn tone_ms(tone: &str) -> u64 {
    let mut total = 0;
    for segment in tone.split("%(").skip(1) {
        let inner = segment.split(')').next().unwrap_or("");
        let mut numbers = inner
            .split(',')
            .map(|n| n.trim().parse::<u64>().unwrap_or(0));
        total += numbers.next().unwrap_or(0) + numbers.next().unwrap_or(0);
    }
    if total == 0 { 1000 } else { total }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = format!("{}.{:03}", self.at_ms / 1000, self.at_ms % 1000);
        match &self.event {
            Event::Step {
                flow,
                pointer,
                app,
                result,
            } => write!(f, "{time:>8} step {flow} {pointer} {app}: {result}"),
            other => {
                write!(f, "{time:>8}      ")?;
                match other {
                    Event::Step { .. } => unreachable!(),
                    Event::Log { level, message } => write!(f, "log {level:?}: {message}"),
                    Event::SetVar { name, value } => write!(f, "set {name}={value:?}"),
                    Event::UnsetVar { name } => write!(f, "unset {name}"),
                    Event::ExportVar { name, value, scope } => {
                        let scope = match scope {
                            ExportScope::LocalAndBLegs => "local+b-legs",
                            ExportScope::BLegsOnly => "b-legs only",
                        };
                        write!(f, "export ({scope}) {name}={value:?}")
                    }
                    Event::RingReady => f.write_str("ring-ready"),
                    Event::PreAnswer => f.write_str("pre-answer"),
                    Event::Answer => f.write_str("answer"),
                    Event::Hangup { cause } => write!(f, "hangup {cause}"),
                    Event::CallerHangup => f.write_str("caller hangs up"),
                    Event::Queue { what } => write!(f, "queue {what}"),
                    Event::FlushDtmf => f.write_str("flush DTMF"),
                    Event::Background {
                        file: Some(file),
                        volume_reduction,
                    } => write!(f, "background start {file} (-{volume_reduction})"),
                    Event::Background { file: None, .. } => f.write_str("background stop"),
                    Event::Redirect { uris } => write!(f, "redirect {}", uris.join(", ")),
                    Event::Park { request } => write!(
                        f,
                        "park {} lot {} slots {}-{}",
                        if request.retrieve { "out of" } else { "into" },
                        request.lot,
                        request.from,
                        request.to
                    ),
                    Event::Conference { request } => write!(
                        f,
                        "conference {}@{} pin={:?} flags={:?}",
                        request.name, request.profile, request.pin, request.flags
                    ),
                    Event::UpdateCallerId { update } => write!(
                        f,
                        "caller id name={:?} number={:?} destination={:?}",
                        update.name, update.number, update.destination
                    ),
                    Event::Ringback {
                        call,
                        transfer,
                        hold,
                        all,
                    } => write!(
                        f,
                        "ringback call={call:?} transfer={transfer:?} hold={hold:?}{}",
                        if *all { " (exported to b-legs)" } else { "" }
                    ),
                    Event::InBandDtmf { start } => {
                        write!(f, "in-band DTMF {}", if *start { "start" } else { "stop" })
                    }
                    Event::Play {
                        files,
                        digits,
                        interrupted,
                    } => {
                        write!(f, "play {}", files.join(" + "))?;
                        if let Some(d) = digits {
                            write!(f, " -> digits {d:?}")?;
                        }
                        if *interrupted {
                            f.write_str(" (interrupted by hangup)")?;
                        }
                        Ok(())
                    }
                    Event::Speech { files, transcript } => {
                        write!(
                            f,
                            "play+listen {} -> speech {transcript:?}",
                            files.join(" + ")
                        )
                    }
                    Event::Sleep { ms, soft } => {
                        write!(f, "{} {ms}ms", if *soft { "soft-sleep" } else { "sleep" })
                    }
                    Event::Bridge {
                        legs,
                        failover,
                        pickup,
                        result,
                    } => {
                        let legs: Vec<String> = legs
                            .iter()
                            .map(|(name, outcome)| {
                                format!("{name}={}", outcome.map_or("not tried", |o| o.as_str()))
                            })
                            .collect();
                        // As the dial string: the pickup group rings in parallel (`:_:`).
                        let pickup = pickup.as_ref().map_or(String::new(), |(group, outcome)| {
                            format!("pickup/{group}={} :_: ", outcome.as_str())
                        });
                        write!(
                            f,
                            "bridge {pickup}{} -> {}",
                            legs.join(if *failover { " | " } else { " , " }),
                            result.as_str()
                        )
                    }
                    Event::Pickup { group, picked } => write!(
                        f,
                        "pickup {group} -> {}",
                        if *picked {
                            "picked up"
                        } else {
                            "nothing ringing"
                        }
                    ),
                    Event::Echo { delay_ms } => {
                        if *delay_ms == 0 {
                            write!(f, "echo")
                        } else {
                            write!(f, "echo (delay {delay_ms}ms)")
                        }
                    }
                    Event::Record { path, max_seconds } => {
                        write!(f, "record {path} (max {max_seconds}s)")
                    }
                    Event::RecordSession { start, path } => {
                        if *start {
                            write!(f, "record session start {path}")
                        } else {
                            write!(f, "record session stop {path}")
                        }
                    }
                    Event::Http {
                        method,
                        url,
                        body,
                        result,
                    } => {
                        write!(f, "http {method} {url}")?;
                        if let Some(b) = body {
                            write!(f, " body {b:?}")?;
                        }
                        write!(f, " -> {result}")
                    }
                }
            }
        }
    }
}

impl Entry {
    /// The entry as JSON (`{"at_ms": …, "event": "…", …}`).
    pub fn to_json(&self) -> Json {
        let mut value = match &self.event {
            Event::Step {
                flow,
                pointer,
                app,
                result,
            } => {
                json!({"event": "step", "flow": flow, "pointer": pointer, "app": app, "result": result})
            }
            Event::Log { level, message } => {
                json!({"event": "log", "level": format!("{level:?}").to_ascii_lowercase(), "message": message})
            }
            Event::SetVar { name, value } => json!({"event": "set", "name": name, "value": value}),
            Event::UnsetVar { name } => json!({"event": "unset", "name": name}),
            Event::ExportVar { name, value, scope } => json!({
                "event": "export", "name": name, "value": value,
                "scope": match scope { ExportScope::LocalAndBLegs => "local_and_b_legs", ExportScope::BLegsOnly => "b_legs_only" }
            }),
            Event::RingReady => json!({"event": "ring_ready"}),
            Event::PreAnswer => json!({"event": "pre_answer"}),
            Event::Answer => json!({"event": "answer"}),
            Event::Hangup { cause } => json!({"event": "hangup", "cause": cause}),
            Event::CallerHangup => json!({"event": "caller_hangup"}),
            Event::Queue { what } => json!({"event": "queue", "what": what}),
            Event::FlushDtmf => json!({"event": "flush_dtmf"}),
            Event::Background {
                file,
                volume_reduction,
            } => json!({"event": "background", "file": file, "volume_reduction": volume_reduction}),
            Event::Redirect { uris } => json!({"event": "redirect", "uris": uris}),
            Event::Park { request } => json!({
                "event": "park", "lot": request.lot, "from": request.from, "to": request.to,
                "retrieve": request.retrieve
            }),
            Event::Conference { request } => json!({
                "event": "conference", "name": request.name, "profile": request.profile,
                "pin": request.pin, "flags": request.flags
            }),
            Event::UpdateCallerId { update } => json!({
                "event": "update_caller_id", "name": update.name, "number": update.number,
                "destination": update.destination
            }),
            Event::Ringback {
                call,
                transfer,
                hold,
                all,
            } => {
                json!({"event": "ringback", "call": call, "transfer": transfer, "hold": hold, "all": all})
            }
            Event::InBandDtmf { start } => json!({"event": "inband_dtmf", "start": start}),
            Event::Play {
                files,
                digits,
                interrupted,
            } => {
                json!({"event": "play", "files": files, "digits": digits, "interrupted": interrupted})
            }
            Event::Speech { files, transcript } => {
                json!({"event": "speech", "files": files, "transcript": transcript})
            }
            Event::Bridge {
                legs,
                failover,
                pickup,
                result,
            } => {
                let legs: Vec<Json> = legs
                    .iter()
                    .map(|(name, outcome)| json!({"leg": name, "outcome": outcome.map(BridgeResult::as_str)}))
                    .collect();
                let pickup = pickup
                    .as_ref()
                    .map(|(group, outcome)| json!({"group": group, "outcome": outcome.as_str()}));
                json!({"event": "bridge", "legs": legs, "strategy": if *failover { "failover" } else { "simultaneous" }, "pickup": pickup, "result": result.as_str()})
            }
            Event::Pickup { group, picked } => {
                json!({"event": "pickup", "group": group, "picked": picked})
            }
            Event::Echo { delay_ms } => json!({"event": "echo", "delay_ms": delay_ms}),
            Event::Record { path, max_seconds } => {
                json!({"event": "record", "path": path, "max_seconds": max_seconds})
            }
            Event::RecordSession { start, path } => {
                json!({"event": "record_session", "action": if *start { "start" } else { "stop" }, "path": path})
            }
            Event::Sleep { ms, soft } => {
                json!({"event": if *soft { "soft_sleep" } else { "sleep" }, "ms": ms})
            }
            Event::Http {
                method,
                url,
                body,
                result,
            } => {
                json!({"event": "http", "method": method, "url": url, "body": body, "result": result})
            }
        };
        value["at_ms"] = json!(self.at_ms);
        value
    }
}

/// The caller as the contact centre sees it when it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCaller {
    pub call_id: String,
    pub number: String,
    pub name: String,
    pub destination: String,
}

/// The contact centre behind the simulator's queue applications. The offline tool plugs in
/// the real core (an in-memory store, the distributor and scripted agents); the simulator
/// owns the clock, so nothing here advances time: it says when things happen and the
/// simulator moves the clock there (or stops earlier when the caller hangs up).
/// Times are virtual Unix milliseconds.
pub trait SimQueues: fmt::Debug {
    fn join(
        &mut self,
        now_ms: i64,
        caller: &SimCaller,
        join: &QueueJoin,
    ) -> HostResult<QueueJoinOutcome>;
    /// Runs what is due at `now_ms` (the janitor, a distributor pass); returns the event
    /// for this caller, if one happened.
    fn poll(&mut self, now_ms: i64) -> HostResult<Option<QueueEvent>>;
    /// When something is next due; `None` = nothing will ever happen by itself.
    fn next_due(&mut self, now_ms: i64) -> HostResult<Option<i64>>;
    /// How ringing the offered agent goes: after how many ms, with which outcome.
    fn ring(&mut self, offer: &AgentOffer) -> (u64, RingOutcome);
    /// Records the ring's end at `now_ms`; returns the outcome that holds (an answer the
    /// queue no longer accepts is a miss).
    fn ring_done(
        &mut self,
        now_ms: i64,
        offer: &AgentOffer,
        outcome: RingOutcome,
    ) -> HostResult<RingOutcome>;
    /// The length of the conversation with the agent who answered, in ms.
    fn talk_ms(&mut self) -> u64;
    fn leave(&mut self, now_ms: i64, result: &str) -> HostResult<String>;
    fn position(&mut self) -> HostResult<u32>;
    fn ewt(&mut self, now_ms: i64, query: &EwtQuery) -> HostResult<Option<f64>>;
    fn agents(&mut self, now_ms: i64, queue: &CcRef) -> HostResult<AgentCounts>;
    fn metric(&mut self, now_ms: i64, query: &MetricQuery) -> HostResult<Option<f64>>;
    fn last_bridged(
        &mut self,
        now_ms: i64,
        query: &LastBridgedQuery,
    ) -> HostResult<Option<BridgedCall>>;

    // Members of outbound queues and the answers of attempt flows; a contact centre without
    // them refuses (the offline tool's answers them from its store).

    /// `callbackQueue`: creates the member, returns its id.
    fn member_create(&mut self, _now_ms: i64, _request: &CallbackRequest) -> HostResult<i64> {
        Err(no_members())
    }
    /// `memberInfo`: the first matching member, lowest id first.
    fn member_info(
        &mut self,
        _now_ms: i64,
        _query: &MemberQuery,
    ) -> HostResult<Option<MemberFacts>> {
        Err(no_members())
    }
    /// `patchMembers`: how many members changed.
    fn patch_members(
        &mut self,
        _now_ms: i64,
        _query: &MemberQuery,
        _patch: &MembersPatch,
    ) -> HostResult<usize> {
        Err(no_members())
    }
    /// The answer of the attempt flow the simulator runs ([`simulate_attempt`]).
    fn attempt_decision(&mut self, _now_ms: i64, _decision: &AttemptDecision) -> HostResult<()> {
        Err(no_members())
    }
    /// `attemptResult`.
    fn attempt_result(&mut self, _now_ms: i64, _request: &AttemptResultRequest) -> HostResult<()> {
        Err(no_members())
    }
}

fn no_members() -> HostError {
    HostError::Failed("members of outbound queues are not available in this simulation".to_string())
}

/// A decision as a transcript line: `confirm destination=+380441112233`,
/// `abandoned busy wait=60s redial`.
pub fn describe_decision(decision: &AttemptDecision) -> String {
    let mut parts = vec![decision.app().to_string()];
    fn opt(parts: &mut Vec<String>, name: &str, value: &Option<String>) {
        if let Some(v) = value {
            parts.push(format!("{name}={v:?}"));
        }
    }
    let export = match decision {
        AttemptDecision::Confirm {
            destination,
            display,
            export,
        } => {
            opt(&mut parts, "destination", destination);
            opt(&mut parts, "display", display);
            export
        }
        AttemptDecision::Cancel {
            description,
            wait_between_retries_secs,
            stop,
            exclude_current_communication,
            min_offering_at_ms,
            export,
        } => {
            opt(&mut parts, "description", description);
            opt(
                &mut parts,
                "wait",
                &wait_between_retries_secs.map(|s| format!("{s}s")),
            );
            opt(
                &mut parts,
                "min_offering_at_ms",
                &min_offering_at_ms.map(|s| s.to_string()),
            );
            if *stop {
                parts.push("stop".to_string());
            }
            if *exclude_current_communication {
                parts.push("exclude-number".to_string());
            }
            export
        }
        AttemptDecision::Success { export } => export,
        AttemptDecision::Abandoned {
            status,
            max_attempts,
            wait_between_retries_secs,
            exclude_current_communication,
            redial,
            sticky_agent,
            description,
            export,
        } => {
            parts.push(format!("status={status:?}"));
            opt(
                &mut parts,
                "max_attempts",
                &max_attempts.map(|n| n.to_string()),
            );
            opt(
                &mut parts,
                "wait",
                &wait_between_retries_secs.map(|s| format!("{s}s")),
            );
            opt(&mut parts, "agent", sticky_agent);
            opt(&mut parts, "description", description);
            if *exclude_current_communication {
                parts.push("exclude-number".to_string());
            }
            if *redial {
                parts.push("redial".to_string());
            }
            export
        }
        AttemptDecision::Retry {
            sleep_ms,
            next_resource,
            resource,
            export,
        } => {
            parts.push(format!("sleep={sleep_ms}ms"));
            opt(&mut parts, "resource", resource);
            if *next_resource {
                parts.push("next-resource".to_string());
            }
            export
        }
    };
    for (name, value) in export {
        parts.push(format!("export {name}={value:?}"));
    }
    parts.join(" ")
}

/// The simulated call.
#[derive(Debug)]
pub struct SimHost {
    script: Script,
    now_micros: i64,
    up: bool,
    answered: bool,
    vars: BTreeMap<String, String>,
    dtmf: VecDeque<String>,
    speech: VecDeque<String>,
    /// How many times each fixture (by index) answered.
    http_uses: Vec<u32>,
    steps: u64,
    transcript: Vec<Entry>,
    /// The session recording in progress.
    session_recording: Option<String>,
    /// The contact centre, when the run has one (`rustflow run --cc`).
    queues: Option<Box<dyn SimQueues>>,
    /// A call, or a queue's call-less attempt flow ([`simulate_attempt`]).
    context: RunContext,
}

impl SimHost {
    pub fn new(script: Script) -> SimHost {
        SimHost {
            now_micros: script.start_micros,
            up: true,
            answered: false,
            vars: script.vars.clone(),
            dtmf: script.dtmf.iter().cloned().collect(),
            speech: script.speech.iter().cloned().collect(),
            http_uses: vec![0; script.http.len()],
            steps: 0,
            transcript: Vec::new(),
            session_recording: None,
            queues: None,
            context: RunContext::Call,
            script,
        }
    }

    /// Gives the queue applications a contact centre.
    pub fn with_queues(mut self, queues: Box<dyn SimQueues>) -> SimHost {
        self.queues = Some(queues);
        self
    }

    fn now_ms(&self) -> i64 {
        self.now_micros / 1000
    }

    /// The contact centre, or the error every queue application gives without one.
    fn queues(&mut self) -> HostResult<&mut Box<dyn SimQueues>> {
        self.queues.as_mut().ok_or_else(|| {
            HostError::Failed(
                "the contact centre is not available on this host (give the simulator one with --cc SETUP.json)"
                    .to_string(),
            )
        })
    }

    fn queue_note(&mut self, what: String) {
        self.record(Event::Queue { what });
    }

    /// Virtual ms since the start.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from((self.now_micros - self.script.start_micros) / 1000).unwrap_or(0)
    }

    fn record(&mut self, event: Event) {
        let entry = Entry {
            at_ms: self.elapsed_ms(),
            event,
        };
        self.transcript.push(entry);
    }

    /// Records an event that started at `at_ms` (kept in time order).
    fn record_at(&mut self, at_ms: u64, event: Event) {
        let position = self
            .transcript
            .iter()
            .rposition(|e| e.at_ms <= at_ms)
            .map_or(0, |i| i + 1);
        self.transcript.insert(position, Entry { at_ms, event });
    }

    /// Everything recorded so far, in order: effects as they happen, and each step's
    /// line when the step completes.
    pub fn transcript(&self) -> &[Entry] {
        &self.transcript
    }

    /// The transcript as text, one line per entry.
    pub fn transcript_text(&self) -> String {
        let mut out = String::new();
        for entry in &self.transcript {
            let _ = writeln!(out, "{entry}");
        }
        out
    }

    pub fn transcript_json(&self) -> Json {
        Json::Array(self.transcript().iter().map(Entry::to_json).collect())
    }

    /// Channel variables now.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// Advances the clock by `ms`, unless the caller hangs up first: then the clock stops
    /// at the hangup time and `Hangup` is returned.
    fn advance(&mut self, ms: u64) -> HostResult<()> {
        if !self.up {
            return Err(HostError::Hangup);
        }
        let target = self.elapsed_ms() + ms;
        if let Some(at) = self.script.hangup_at_ms {
            if at <= target {
                self.now_micros = self.script.start_micros
                    + i64::try_from(at.max(self.elapsed_ms())).unwrap_or(0) * 1000;
                self.caller_hangs_up();
                return Err(HostError::Hangup);
            }
        }
        self.now_micros += i64::try_from(ms).unwrap_or(i64::MAX / 2) * 1000;
        Ok(())
    }

    /// Network waits: the call may already be gone (`trigger.disconnected` posts results),
    /// but a hangup while waiting on a live call still ends the wait.
    fn advance_network(&mut self, ms: u64) -> HostResult<()> {
        if self.up {
            self.advance(ms)
        } else {
            self.now_micros += i64::try_from(ms).unwrap_or(i64::MAX / 2) * 1000;
            Ok(())
        }
    }

    fn caller_hangs_up(&mut self) {
        if self.up {
            self.up = false;
            self.record(Event::CallerHangup);
        }
    }

    fn check_up(&mut self) -> HostResult<()> {
        if let Some(at) = self.script.hangup_at_ms {
            if self.elapsed_ms() >= at {
                self.caller_hangs_up();
            }
        }
        if self.up {
            Ok(())
        } else {
            Err(HostError::Hangup)
        }
    }

    /// One digit-collection attempt from the script: the digits before a terminator,
    /// at most `max`.
    fn collect_digits(&mut self, capture: &DigitCapture) -> Option<String> {
        let pressed = self.dtmf.pop_front()?;
        let mut digits = String::new();
        for c in pressed.chars() {
            if capture.terminators.contains(c) {
                break;
            }
            digits.push(c);
            if digits.chars().count() as u32 >= capture.max {
                break;
            }
        }
        Some(digits)
    }
}

impl Host for SimHost {
    fn uuid(&self) -> &str {
        &self.script.uuid
    }

    fn is_up(&mut self) -> bool {
        self.check_up().is_ok()
    }

    fn now_micros(&mut self) -> i64 {
        self.now_micros
    }

    fn log(&mut self, level: LogLevel, message: &str) {
        self.record(Event::Log {
            level,
            message: message.to_string(),
        });
    }

    fn log_enabled(&mut self, level: LogLevel) -> bool {
        level > LogLevel::Debug || self.script.debug_log
    }

    fn step_done(&mut self, step: &StepEvent<'_>) {
        self.transcript.push(Entry {
            at_ms: self.elapsed_ms(),
            event: Event::Step {
                flow: step.flow_id.to_string(),
                pointer: step.pointer.to_string(),
                app: step.app.to_string(),
                result: step.result.to_string(),
            },
        });
        self.steps += 1;
        if self.script.hangup_after_steps == Some(self.steps) {
            self.caller_hangs_up();
        }
    }

    fn var(&mut self, name: &str) -> Option<String> {
        match name {
            "uuid" => Some(self.script.uuid.clone()),
            _ => self.vars.get(name).cloned(),
        }
    }

    fn var_into(&mut self, name: &str, out: &mut String) -> bool {
        let value = match name {
            "uuid" => Some(&self.script.uuid),
            _ => self.vars.get(name),
        };
        value.map(|v| out.push_str(v)).is_some()
    }

    fn global_var(&mut self, name: &str) -> Option<String> {
        self.script.globals.get(name).cloned()
    }

    fn set_var(&mut self, name: &str, value: &str) -> HostResult<()> {
        self.vars.insert(name.to_string(), value.to_string());
        self.record(Event::SetVar {
            name: name.to_string(),
            value: value.to_string(),
        });
        Ok(())
    }

    fn unset_var(&mut self, name: &str) -> HostResult<()> {
        self.vars.remove(name);
        self.record(Event::UnsetVar {
            name: name.to_string(),
        });
        Ok(())
    }

    fn export_var(&mut self, name: &str, value: &str, scope: ExportScope) -> HostResult<()> {
        if scope == ExportScope::LocalAndBLegs {
            self.vars.insert(name.to_string(), value.to_string());
        }
        self.record(Event::ExportVar {
            name: name.to_string(),
            value: value.to_string(),
            scope,
        });
        Ok(())
    }

    fn ring_ready(&mut self) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::RingReady);
        Ok(())
    }

    fn pre_answer(&mut self) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::PreAnswer);
        Ok(())
    }

    fn answer(&mut self) -> HostResult<()> {
        self.check_up()?;
        self.answered = true;
        self.record(Event::Answer);
        Ok(())
    }

    fn hangup(&mut self, cause: HangupCause) -> HostResult<()> {
        self.check_up()?;
        self.up = false;
        self.record(Event::Hangup {
            cause: cause.name.to_string(),
        });
        Ok(())
    }

    fn play(
        &mut self,
        files: &[PlayFile],
        capture: Option<&DigitCapture>,
    ) -> HostResult<PlayOutcome> {
        self.check_up()?;
        let names: Vec<String> = files.iter().map(describe_file).collect();
        let prompt_ms: u64 = files.iter().map(file_ms).sum();
        let started_ms = self.elapsed_ms();
        let Some(capture) = capture else {
            let result = self.advance(prompt_ms);
            self.record_at(
                started_ms,
                Event::Play {
                    files: names,
                    digits: None,
                    interrupted: result.is_err(),
                },
            );
            result?;
            return Ok(PlayOutcome::default());
        };
        let regexp = match &capture.regexp {
            Some(source) => Some(
                regex::Regex::new(source)
                    .map_err(|e| HostError::Failed(format!("bad regexp: {e}")))?,
            ),
            None => None,
        };
        let mut collected = String::new();
        let mut attempt = |this: &mut Self| -> HostResult<()> {
            for _ in 0..capture.tries.max(1) {
                this.advance(prompt_ms)?;
                match this.collect_digits(capture) {
                    Some(digits) => {
                        this.advance(300 * digits.len() as u64)?;
                        let long_enough = digits.chars().count() as u32 >= capture.min;
                        let matches = regexp.as_ref().is_none_or(|re| re.is_match(&digits));
                        if long_enough && matches {
                            collected = digits;
                            return Ok(());
                        }
                    }
                    None => this.advance(capture.timeout_ms)?,
                }
            }
            Ok(())
        };
        if let Err(e) = attempt(self) {
            self.record_at(
                started_ms,
                Event::Play {
                    files: names,
                    digits: Some(String::new()),
                    interrupted: true,
                },
            );
            return Err(e);
        }
        self.vars.insert(capture.set_var.clone(), collected.clone());
        self.record_at(
            started_ms,
            Event::Play {
                files: names,
                digits: Some(collected.clone()),
                interrupted: false,
            },
        );
        self.record(Event::SetVar {
            name: capture.set_var.clone(),
            value: collected.clone(),
        });
        Ok(PlayOutcome { digits: collected })
    }

    fn detect_speech(
        &mut self,
        files: &[PlayFile],
        speech: &SpeechCapture,
    ) -> HostResult<SpeechOutcome> {
        self.check_up()?;
        let names: Vec<String> = files.iter().map(describe_file).collect();
        let prompt_ms: u64 = files.iter().map(file_ms).sum();
        let started_ms = self.elapsed_ms();
        self.advance(prompt_ms)?;
        let transcript = match self.speech.pop_front() {
            Some(text) => {
                self.advance(1500)?;
                text
            }
            None => {
                self.advance(speech.timeout_ms.max(1000))?;
                String::new()
            }
        };
        self.record_at(
            started_ms,
            Event::Speech {
                files: names,
                transcript: transcript.clone(),
            },
        );
        let raw = json!({"transcript": transcript, "final": true}).to_string();
        Ok(SpeechOutcome { transcript, raw })
    }

    fn bridge(&mut self, request: &BridgeRequest) -> HostResult<BridgeResult> {
        self.check_up()?;
        let names: Vec<String> = request
            .legs
            .iter()
            .map(|leg| describe_leg(&leg.target))
            .collect();
        let scripted: Vec<BridgeResult> = names
            .iter()
            .map(|name| {
                self.script
                    .bridge
                    .get(name)
                    .copied()
                    .unwrap_or(self.script.bridge_default)
            })
            .collect();
        let failover = request.strategy == BridgeStrategy::Failover;
        let ring_ms = |outcome: BridgeResult| match outcome {
            BridgeResult::Answered => 5000,
            BridgeResult::Busy | BridgeResult::Failed => 1000,
            BridgeResult::NoAnswer | BridgeResult::Cancelled => 30_000,
        };
        // Failover: legs one after another until one answers. Simultaneous: all ring at
        // once; the first (in order) that answers wins and the others are cancelled.
        let winner = scripted.iter().position(|o| *o == BridgeResult::Answered);
        let (outcomes, result, wait): (Vec<Option<BridgeResult>>, BridgeResult, u64) = if failover {
            let tried = winner.map_or(scripted.len(), |w| w + 1);
            let outcomes = (0..scripted.len())
                .map(|i| (i < tried).then_some(scripted[i]))
                .collect();
            let wait = scripted[..tried].iter().map(|o| ring_ms(*o)).sum();
            (outcomes, scripted[tried - 1], wait)
        } else {
            match winner {
                Some(w) => {
                    let outcomes = scripted
                        .iter()
                        .enumerate()
                        .map(|(i, o)| {
                            Some(if i == w || *o != BridgeResult::Answered {
                                *o
                            } else {
                                BridgeResult::Cancelled
                            })
                        })
                        .collect();
                    (outcomes, BridgeResult::Answered, 5000)
                }
                None => {
                    let wait = scripted.iter().map(|o| ring_ms(*o)).max().unwrap_or(0);
                    (
                        scripted.iter().copied().map(Some).collect(),
                        scripted[0],
                        wait,
                    )
                }
            }
        };
        // The pickup group rings alongside: picked up (scripted `pickup/GROUP` answered) after
        // 5 s, unless a leg answered first; nobody picks up unless scripted.
        let (outcomes, result, wait, pickup) = match &request.pickup {
            None => (outcomes, result, wait, None),
            Some(group) => {
                let scripted = self
                    .script
                    .bridge
                    .get(&format!("pickup/{group}"))
                    .copied()
                    .unwrap_or(BridgeResult::NoAnswer);
                let leg_first = result == BridgeResult::Answered && wait <= 5000;
                if scripted == BridgeResult::Answered && !leg_first {
                    let cancelled = outcomes
                        .iter()
                        .map(|o| o.map(|_| BridgeResult::Cancelled))
                        .collect();
                    let pickup = Some((group.clone(), BridgeResult::Answered));
                    (cancelled, BridgeResult::Answered, 5000, pickup)
                } else {
                    let outcome = if result == BridgeResult::Answered {
                        BridgeResult::Cancelled
                    } else {
                        BridgeResult::NoAnswer
                    };
                    (outcomes, result, wait, Some((group.clone(), outcome)))
                }
            }
        };
        let started_ms = self.elapsed_ms();
        let talk = if result == BridgeResult::Answered {
            self.script.bridge_talk_ms
        } else {
            0
        };
        let advanced = self.advance(wait + talk);
        self.record_at(
            started_ms,
            Event::Bridge {
                legs: names.into_iter().zip(outcomes).collect(),
                failover,
                pickup,
                result,
            },
        );
        // A leg answered: that is the result even if the caller hung up while talking.
        if result != BridgeResult::Answered {
            advanced?;
        }
        Ok(result)
    }

    fn echo(&mut self, delay_ms: u64) -> HostResult<()> {
        self.check_up()?;
        let started_ms = self.elapsed_ms();
        // An echo lasts until the caller hangs up: at the scripted time, else after the
        // script's talk time.
        let talked = self.advance(self.script.bridge_talk_ms);
        self.record_at(started_ms, Event::Echo { delay_ms });
        talked?;
        self.caller_hangs_up();
        Err(HostError::Hangup)
    }

    fn record_file(&mut self, request: &RecordRequest) -> HostResult<String> {
        self.check_up()?;
        let path = format!("recordings/{}.{}", request.name, request.format);
        let started_ms = self.elapsed_ms();
        let advanced = self.advance(request.max_seconds.min(10) * 1000);
        self.record_at(
            started_ms,
            Event::Record {
                path: path.clone(),
                max_seconds: request.max_seconds,
            },
        );
        advanced?;
        Ok(path)
    }

    fn record_session(&mut self, request: &SessionRecording) -> HostResult<String> {
        self.check_up()?;
        match request {
            SessionRecording::Start { name, format, .. } => {
                let path = format!("recordings/{name}.{format}");
                self.session_recording = Some(path.clone());
                self.record(Event::RecordSession {
                    start: true,
                    path: path.clone(),
                });
                Ok(path)
            }
            SessionRecording::Stop => match self.session_recording.take() {
                Some(path) => {
                    self.record(Event::RecordSession {
                        start: false,
                        path: path.clone(),
                    });
                    Ok(path)
                }
                None => Err(HostError::Failed(
                    "no session recording is running".to_string(),
                )),
            },
        }
    }

    fn background_start(&mut self, file: &PlayFile, volume_reduction: u32) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::Background {
            file: Some(describe_file(file)),
            volume_reduction,
        });
        Ok(())
    }

    fn background_stop(&mut self) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::Background {
            file: None,
            volume_reduction: 0,
        });
        Ok(())
    }

    /// The redirected call leaves this switch: the caller is gone afterwards.
    fn redirect(&mut self, uris: &[String]) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::Redirect {
            uris: uris.to_vec(),
        });
        self.up = false;
        Err(HostError::Hangup)
    }

    /// Parked: the simulated caller waits 60 s in the lot, then hangs up.
    fn park(&mut self, request: &ParkRequest) -> HostResult<()> {
        self.check_up()?;
        let started_ms = self.elapsed_ms();
        let waited = self.advance(60_000);
        self.record_at(
            started_ms,
            Event::Park {
                request: request.clone(),
            },
        );
        waited?;
        self.caller_hangs_up();
        Err(HostError::Hangup)
    }

    /// A call is picked up when the script lists its group in `pickup`.
    fn pickup(&mut self, group: &str) -> HostResult<bool> {
        self.check_up()?;
        let picked = self.script.pickup.iter().any(|g| g == group);
        self.record(Event::Pickup {
            group: group.to_string(),
            picked,
        });
        Ok(picked)
    }

    /// In conference for `bridge_talk_ms`, then the caller leaves the conference.
    fn conference(&mut self, request: &ConferenceRequest) -> HostResult<()> {
        self.check_up()?;
        let started_ms = self.elapsed_ms();
        let talked = self.advance(self.script.bridge_talk_ms);
        self.record_at(
            started_ms,
            Event::Conference {
                request: request.clone(),
            },
        );
        talked
    }

    fn update_caller_id(&mut self, update: &CallerIdUpdate) -> HostResult<()> {
        self.check_up()?;
        if let Some(name) = &update.name {
            self.vars.insert("caller_id_name".to_string(), name.clone());
        }
        if let Some(number) = &update.number {
            self.vars
                .insert("caller_id_number".to_string(), number.clone());
        }
        if let Some(destination) = &update.destination {
            self.vars
                .insert("destination_number".to_string(), destination.clone());
        }
        self.record(Event::UpdateCallerId {
            update: update.clone(),
        });
        Ok(())
    }

    fn ringback(&mut self, ringback: &Ringback) -> HostResult<()> {
        self.record(Event::Ringback {
            call: ringback.call.as_ref().map(describe_file),
            transfer: ringback.transfer.as_ref().map(describe_file),
            hold: ringback.hold.as_ref().map(describe_file),
            all: ringback.export_to_b_legs,
        });
        Ok(())
    }

    fn queue_join(&mut self, join: &QueueJoin) -> HostResult<QueueJoinOutcome> {
        self.check_up()?;
        let var = |host: &Self, name: &str| host.vars.get(name).cloned().unwrap_or_default();
        let caller = SimCaller {
            call_id: self.script.uuid.clone(),
            number: var(self, "caller_id_number"),
            name: var(self, "caller_id_name"),
            destination: var(self, "destination_number"),
        };
        let now = self.now_ms();
        let outcome = self.queues()?.join(now, &caller, join)?;
        let note = match &outcome {
            QueueJoinOutcome::Joined => format!("join {}", describe_target(&join.target)),
            QueueJoinOutcome::Refused { result, reason } => {
                format!(
                    "join {} refused: {result} ({reason})",
                    describe_target(&join.target)
                )
            }
        };
        self.queue_note(note);
        Ok(outcome)
    }

    fn queue_wait(&mut self, until_micros: Option<i64>) -> HostResult<QueueEvent> {
        let until_ms = until_micros.map(|u| u.div_euclid(1000));
        loop {
            self.check_up()?;
            let now = self.now_ms();
            if let Some(event) = self.queues()?.poll(now)? {
                let note = match &event {
                    QueueEvent::TimerDue => "timer due".to_string(),
                    QueueEvent::Offer(o) => {
                        format!("offer agent {} ({})", o.agent_id, o.agent_name)
                    }
                    QueueEvent::Left { result } => format!("left: {result}"),
                };
                self.queue_note(note);
                return Ok(event);
            }
            if until_ms.is_some_and(|u| u <= now) {
                return Ok(QueueEvent::TimerDue);
            }
            let due = self.queues()?.next_due(now)?;
            let next = match (due, until_ms) {
                (Some(d), Some(u)) => d.min(u),
                (Some(d), None) => d,
                (None, Some(u)) => u,
                (None, None) => {
                    return Err(HostError::Failed(
                        "the simulated caller would wait for ever: no agent can take the call and the queue has no max wait"
                            .to_string(),
                    ));
                }
            };
            self.advance(u64::try_from(next - now).unwrap_or(0).max(1))?;
        }
    }

    fn queue_ring(&mut self, offer: &AgentOffer) -> HostResult<RingOutcome> {
        self.check_up()?;
        let (ms, outcome) = self.queues()?.ring(offer);
        self.advance(ms)?;
        let now = self.now_ms();
        let outcome = self.queues()?.ring_done(now, offer, outcome)?;
        let note = match &outcome {
            RingOutcome::Answered => format!("agent {} answers", offer.agent_id),
            RingOutcome::Missed { reason } => format!("agent {} missed: {reason}", offer.agent_id),
        };
        self.queue_note(note);
        Ok(outcome)
    }

    fn queue_bridge(&mut self) -> HostResult<QueueBridge> {
        self.check_up()?;
        self.queue_note("bridged".to_string());
        let talk = self.queues()?.talk_ms();
        // A caller who hangs up during the conversation still ends it normally.
        let _ = self.advance(talk);
        self.queue_note("conversation ends".to_string());
        Ok(QueueBridge::Talked)
    }

    fn queue_leave(&mut self, result: &str) -> HostResult<String> {
        let now = self.now_ms();
        let stored = self.queues()?.leave(now, result)?;
        self.queue_note(format!("leave: {stored}"));
        Ok(stored)
    }

    fn queue_position(&mut self) -> HostResult<u32> {
        self.queues()?.position()
    }

    fn queue_ewt(&mut self, query: &EwtQuery) -> HostResult<Option<f64>> {
        let now = self.now_ms();
        self.queues()?.ewt(now, query)
    }

    fn queue_agents(&mut self, queue: &CcRef) -> HostResult<AgentCounts> {
        let now = self.now_ms();
        self.queues()?.agents(now, queue)
    }

    fn queue_metric(&mut self, query: &MetricQuery) -> HostResult<Option<f64>> {
        let now = self.now_ms();
        self.queues()?.metric(now, query)
    }

    fn last_bridged(&mut self, query: &LastBridgedQuery) -> HostResult<Option<BridgedCall>> {
        let now = self.now_ms();
        self.queues()?.last_bridged(now, query)
    }

    fn member_create(&mut self, request: &CallbackRequest) -> HostResult<i64> {
        let now = self.now_ms();
        let id = self.queues()?.member_create(now, request)?;
        let queue = request
            .queue
            .id
            .as_deref()
            .or(request.queue.name.as_deref())
            .unwrap_or("?");
        self.queue_note(format!(
            "member {id} created in queue {queue}: {} ready in {}s",
            request.communication.destination, request.hold_secs
        ));
        Ok(id)
    }

    fn member_info(&mut self, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        let now = self.now_ms();
        let found = self.queues()?.member_info(now, query)?;
        self.queue_note(match &found {
            Some(member) => format!("member info: member {}", member.id),
            None => "member info: no member matches".to_string(),
        });
        Ok(found)
    }

    fn patch_members(&mut self, query: &MemberQuery, patch: &MembersPatch) -> HostResult<usize> {
        let now = self.now_ms();
        let changed = self.queues()?.patch_members(now, query, patch)?;
        self.queue_note(format!("patch members: {changed} changed"));
        Ok(changed)
    }

    fn attempt_decision(&mut self, decision: &AttemptDecision) -> HostResult<()> {
        if self.context == RunContext::Call {
            return Err(HostError::Failed(format!(
                "`{}` only answers a queue's {} flow",
                decision.app(),
                decision.context().as_str()
            )));
        }
        let now = self.now_ms();
        if let Some(queues) = self.queues.as_mut() {
            queues.attempt_decision(now, decision)?;
        }
        self.queue_note(format!("decision: {}", describe_decision(decision)));
        Ok(())
    }

    fn attempt_result(&mut self, request: &AttemptResultRequest) -> HostResult<()> {
        let now = self.now_ms();
        self.queues()?.attempt_result(now, request)?;
        self.queue_note(format!(
            "attempt {} result: {}",
            request.attempt_id, request.status
        ));
        Ok(())
    }

    fn calendar(&mut self, query: &CalendarQuery) -> HostResult<CalendarStatus> {
        let status = [&query.name, &query.id]
            .into_iter()
            .flatten()
            .find_map(|key| self.script.calendars.get(key))
            .cloned()
            .unwrap_or(CalendarStatus::Open);
        Ok(status)
    }

    fn link_settings(&mut self) -> Option<LinkSettings> {
        self.script.link.clone()
    }

    fn flush_dtmf(&mut self) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::FlushDtmf);
        Ok(())
    }

    fn inband_dtmf(&mut self, start: bool) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::InBandDtmf { start });
        Ok(())
    }

    fn sleep(&mut self, ms: u64) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::Sleep { ms, soft: false });
        self.advance(ms)
    }

    fn soft_sleep(&mut self, ms: u64) -> HostResult<()> {
        self.check_up()?;
        self.record(Event::Sleep { ms, soft: true });
        self.advance(ms)
    }

    fn http(&mut self, request: &HttpRequest) -> HostResult<HttpResponse> {
        // Fixtures for the same request answer in turn; the last one repeats.
        let matching: Vec<usize> = (0..self.script.http.len())
            .filter(|&i| {
                let f = &self.script.http[i];
                f.url == request.url && f.method.as_ref().is_none_or(|m| *m == request.method)
            })
            .collect();
        let fixture = matching
            .iter()
            .copied()
            .find(|&i| self.http_uses[i] == 0)
            .or(matching.last().copied())
            .map(|i| {
                self.http_uses[i] += 1;
                self.script.http[i].clone()
            });
        let Some(fixture) = fixture else {
            let reason = format!("no HTTP fixture for {} {}", request.method, request.url);
            self.record(Event::Http {
                method: request.method.clone(),
                url: request.url.clone(),
                body: request.body.clone(),
                result: reason.clone(),
            });
            return Err(HostError::Failed(reason));
        };
        let timeout = if request.timeout_ms == 0 {
            5000
        } else {
            request.timeout_ms
        };
        if fixture.delay_ms > timeout {
            self.advance_network(timeout)?;
            let reason = format!("timed out after {timeout} ms");
            self.record(Event::Http {
                method: request.method.clone(),
                url: request.url.clone(),
                body: request.body.clone(),
                result: reason.clone(),
            });
            return Err(HostError::Failed(reason));
        }
        self.advance_network(fixture.delay_ms)?;
        self.record(Event::Http {
            method: request.method.clone(),
            url: request.url.clone(),
            body: request.body.clone(),
            result: format!("{}", fixture.status),
        });
        Ok(HttpResponse {
            status: fixture.status,
            headers: fixture.headers,
            body: fixture.body,
        })
    }
}

fn describe_target(target: &QueueTarget) -> String {
    let (kind, r) = match target {
        QueueTarget::Queue(r) => ("queue", r),
        QueueTarget::Agent(r) => ("agent", r),
    };
    let name = r.id.as_deref().or(r.name.as_deref()).unwrap_or("?");
    format!("{kind} {name}")
}

/// Runs `flow` on a fresh simulated call described by `script`.
pub fn simulate(flow: &Flow, flows: &FlowSet, script: Script) -> (RunOutcome, SimHost) {
    simulate_with(flow, flows, script, None)
}

/// Runs `flow` like [`simulate`], with a contact centre behind the queue applications.
pub fn simulate_with(
    flow: &Flow,
    flows: &FlowSet,
    script: Script,
    queues: Option<Box<dyn SimQueues>>,
) -> (RunOutcome, SimHost) {
    let args = script.args.clone();
    let limits = script.limits;
    let mut host = SimHost::new(script);
    host.queues = queues;
    let outcome = run(flow, flows, &mut host, &args, &limits);
    (outcome, host)
}

/// Runs a queue's attempt flow (`context`: pre- or after-attempt) the way the dialer does:
/// without a call. `script.vars` are the attempt's variables (`attempt_id`, `member_id`,
/// `destination`, …); steps that need a call fail, and the decision (`confirm`, `cancel`,
/// `success`, `abandoned`, `retry`) is recorded (and handed to `queues` when given) and
/// ends the flow.
pub fn simulate_attempt(
    flow: &Flow,
    flows: &FlowSet,
    script: Script,
    queues: Option<Box<dyn SimQueues>>,
    context: RunContext,
) -> (RunOutcome, SimHost) {
    let args = script.args.clone();
    let limits = script.limits;
    let mut host = SimHost::new(script);
    host.queues = queues;
    host.context = context;
    let outcome = run_with(flow, flows, &mut host, &args, &limits, context);
    (outcome, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_reject_unknown_keys_and_bad_values() {
        assert_eq!(
            Script::from_json("{\"dtfm\": []}").unwrap_err(),
            "unknown script key `dtfm`"
        );
        assert_eq!(
            Script::from_json("{\"bridge\": {\"user/1\": \"maybe\"}}").unwrap_err(),
            "bridge outcome `maybe` for `user/1` is not one of answered, busy, no_answer, failed, cancelled"
        );
        assert!(Script::from_json("{\"start\": \"yesterday\"}").is_err());
        assert!(Script::from_json("[]").is_err());
        assert!(Script::from_json("{\"http\": [{\"status\": 200}]}").is_err());
    }

    #[test]
    fn scripts_keep_default_caller_vars() {
        let script = Script::from_json(
            "{\"vars\": {\"caller_id_number\": \"42\", \"x\": 1}, \"start\": \"2026-01-01T00:00:00Z\"}",
        )
        .unwrap();
        assert_eq!(script.vars["caller_id_number"], "42");
        assert_eq!(script.vars["destination_number"], "100");
        assert_eq!(script.vars["x"], "1");
        assert_eq!(script.start_micros, 1_767_225_600_000_000);
    }

    #[test]
    fn tone_durations() {
        assert_eq!(tone_ms("%(1000,0,440)"), 1000);
        assert_eq!(tone_ms("%(250,250,425)%(250,250,425)"), 1000);
        assert_eq!(tone_ms("v=-7;L=3;%(100,50,350)"), 150);
        assert_eq!(tone_ms("nonsense"), 1000);
    }

    #[test]
    fn http_fixtures_answer_in_turn() {
        let mut script = Script::default();
        for body in ["first", "second"] {
            script.http.push(HttpFixture {
                url: "http://x.test/".to_string(),
                method: None,
                status: 200,
                headers: Vec::new(),
                body: body.to_string(),
                delay_ms: 0,
            });
        }
        let mut host = SimHost::new(script);
        let request = HttpRequest {
            method: "GET".to_string(),
            url: "http://x.test/".to_string(),
            headers: Vec::new(),
            body: None,
            timeout_ms: 0,
            insecure_skip_verify: false,
        };
        let bodies: Vec<String> = (0..3).map(|_| host.http(&request).unwrap().body).collect();
        assert_eq!(bodies, vec!["first", "second", "second"]);
    }
}
