//! `rustflow run`: runs a flow on the call simulator and prints what happened.

use rustflow_engine::BridgeResult;
use rustflow_engine::sim::{HttpFixture, Script};

use crate::Status;
use crate::args::{self, Arg, UsageError};

pub const USAGE: &str = "\
Usage: rustflow run FILE [options]

Runs the flow on the built-in call simulator (virtual clock, scripted caller) and prints
every step with what it did: prompts played, digits and speech collected, variables set,
HTTP requests, the branch taken by if/switch/while, and the final hangup cause.

Caller script (lists add to those of a --script file, single values replace them):
  --dtmf KEYS            what the caller presses at the next digit collection, e.g. `2`
                         or `1#`; repeat for later prompts (none left = timeout)
  --speech TEXT          the next speech recognition result; repeat for later prompts
  --hangup-after N       the caller hangs up after N steps (`Ns`/`Nms`: at that virtual
                         time, e.g. in the middle of a prompt)
  --var NAME=VALUE       a channel variable present at the start (repeatable; the caller
                         is caller_id_number=1000, destination_number=100 unless set)
  --global NAME=VALUE    a global variable, read as $${NAME} (repeatable)
  --arg VALUE            an invocation argument ($1, $2, ...; repeatable)
  --time WHEN            start of the virtual clock, RFC 3339
                         (default 2026-01-05T09:00:00Z, a Monday morning)
  --http URL=FILE        answer requests to URL (exact, after expansion) with status 200
                         and FILE as the body (repeatable)
  --http-fixtures FILE   HTTP answers from a JSON file:
                         {\"http\": [{\"url\": \"https://...\", \"method\": \"POST\", \"status\": 200,
                                    \"headers\": {...}, \"body\": \"text\" or JSON, \"delay_ms\": 50}]}
                         (entries matching URL and method answer in turn, the last one
                         repeatedly; a request nothing matches fails like a network error
                         and the flow goes on)
  --script FILE          a whole simulator script (JSON: vars, globals, args, dtmf, speech,
                         bridge, bridge_talk_ms, pickup, hangup_after_steps, hangup_at_ms,
                         http, limits, start, uuid)
  --bridge OUTCOME       outcome of every bridge leg: answered (default)|busy|no_answer|
                         failed|cancelled
  --bridge LEG=OUTCOME   outcome of one leg, named user/EXT[@DOMAIN], gateway/NAME/NUMBER,
                         sip/URI or pickup/GROUP (repeatable; a pickup group is not
                         picked up unless named here)
Flow loading:
  --flows DIR            the other flows, for the `schema` application (default: only FILE)
  --unknown-apps skip|error  as in `rustflow check` (default error; under skip, such a
                         step fails when it runs and the flow goes on)
  --max-steps N          step budget of the call (default 100000)
Output:
  --json                 the machine transcript (JSON) instead of the readable trace

Exit status:
  0  the flow ran, however it ended (hangup, end of the flow, a failed step)
  1  the flow does not load (problems printed as by `rustflow check`), or a script,
     fixture or flows file cannot be read
  2  usage error
";

/// Every option of `run`, parsed.
#[derive(Debug, Default)]
pub struct RunOptions {
    pub file: String,
    pub script_file: Option<String>,
    pub dtmf: Vec<String>,
    pub speech: Vec<String>,
    pub bridge_default: Option<BridgeResult>,
    pub bridge_legs: Vec<(String, BridgeResult)>,
    pub hangup_after: Option<HangupAfter>,
    pub vars: Vec<(String, String)>,
    pub globals: Vec<(String, String)>,
    pub args: Vec<String>,
    pub start_time: Option<String>,
    /// HTTP answer sources in command-line order, read after parsing.
    pub http_sources: Vec<HttpSource>,
    pub flows_dir: Option<String>,
    pub unknown_apps_skip: bool,
    pub max_steps: Option<u64>,
    pub json: bool,
}

/// Where HTTP answers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpSource {
    /// `--http URL=FILE`.
    UrlFile(String),
    /// `--http-fixtures FILE`.
    FixturesFile(String),
}

/// When the scripted caller hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupAfter {
    Steps(u64),
    Millis(u64),
}

pub const BRIDGE_OUTCOMES: &[&str] = &["answered", "busy", "no_answer", "failed", "cancelled"];

fn name_value(option: &str, value: &str) -> Result<(String, String), UsageError> {
    value
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .ok_or_else(|| UsageError(format!("--{option} takes NAME=VALUE, not `{value}`")))
}

fn bridge_outcome(value: &str) -> Result<BridgeResult, UsageError> {
    BridgeResult::parse(value).ok_or_else(|| {
        UsageError(format!(
            "--bridge outcome must be one of {}, not `{value}`",
            BRIDGE_OUTCOMES.join("|")
        ))
    })
}

fn hangup_after(value: &str) -> Result<HangupAfter, UsageError> {
    let bad = || {
        UsageError(format!(
            "--hangup-after takes N (steps), Ns or Nms, not `{value}`"
        ))
    };
    let number = |digits: &str| digits.parse::<u64>().map_err(|_| bad());
    if let Some(ms) = value.strip_suffix("ms") {
        Ok(HangupAfter::Millis(number(ms)?))
    } else if let Some(seconds) = value.strip_suffix('s') {
        Ok(HangupAfter::Millis(
            number(seconds)?.checked_mul(1000).ok_or_else(bad)?,
        ))
    } else {
        Ok(HangupAfter::Steps(number(value)?))
    }
}

pub fn parse_options(rest: &[String]) -> Result<Option<RunOptions>, UsageError> {
    let parsed = args::parse(
        rest,
        &[
            "dtmf",
            "speech",
            "bridge",
            "hangup-after",
            "var",
            "global",
            "arg",
            "time",
            "http",
            "http-fixtures",
            "script",
            "flows",
            "unknown-apps",
            "max-steps",
        ],
        &["json"],
    )?;
    if crate::printed_help(&parsed, USAGE) {
        return Ok(None);
    }
    let mut options = RunOptions {
        file: args::single_positional(&parsed, "FILE")?.to_string(),
        ..RunOptions::default()
    };
    for arg in &parsed {
        let Arg::Option { name, value } = arg else {
            continue;
        };
        let value = value.clone().unwrap_or_default();
        match name.as_str() {
            "dtmf" => {
                if let Some(bad) = value
                    .chars()
                    .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d'))
                {
                    return Err(UsageError(format!(
                        "--dtmf: `{bad}` is not a DTMF key (0-9 * # A-D)"
                    )));
                }
                options.dtmf.push(value);
            }
            "speech" => options.speech.push(value),
            "bridge" => match value.rsplit_once('=') {
                Some((leg, outcome)) if !leg.is_empty() => {
                    options
                        .bridge_legs
                        .push((leg.to_string(), bridge_outcome(outcome)?));
                }
                _ => options.bridge_default = Some(bridge_outcome(&value)?),
            },
            "script" => options.script_file = Some(value),
            "hangup-after" => options.hangup_after = Some(hangup_after(&value)?),
            "var" => options.vars.push(name_value("var", &value)?),
            "global" => options.globals.push(name_value("global", &value)?),
            "arg" => options.args.push(value),
            "time" => options.start_time = Some(value),
            "http" => {
                if !value.contains('=') {
                    return Err(UsageError(format!("--http takes URL=FILE, not `{value}`")));
                }
                options.http_sources.push(HttpSource::UrlFile(value));
            }
            "http-fixtures" => options.http_sources.push(HttpSource::FixturesFile(value)),
            "flows" => options.flows_dir = Some(value),
            "unknown-apps" => {
                options.unknown_apps_skip = match value.as_str() {
                    "skip" => true,
                    "error" => false,
                    other => {
                        return Err(UsageError(format!(
                            "--unknown-apps takes `skip` or `error`, not `{other}`"
                        )));
                    }
                }
            }
            "max-steps" => {
                options.max_steps = Some(value.parse().map_err(|_| {
                    UsageError(format!("--max-steps takes a number, not `{value}`"))
                })?)
            }
            "json" => options.json = true,
            _ => {}
        }
    }
    Ok(Some(options))
}

fn read(file: &str) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|err| format!("{file}: cannot read: {err}"))
}

/// The simulator script: the `--script` file, then the options on top of it.
pub fn build_script(options: &RunOptions) -> Result<Script, String> {
    let mut script = match &options.script_file {
        Some(file) => Script::from_json(&read(file)?).map_err(|err| format!("{file}: {err}"))?,
        None => Script::default(),
    };
    script.dtmf.extend(options.dtmf.iter().cloned());
    script.speech.extend(options.speech.iter().cloned());
    if let Some(outcome) = options.bridge_default {
        script.bridge_default = outcome;
    }
    script.bridge.extend(options.bridge_legs.iter().cloned());
    script.vars.extend(options.vars.iter().cloned());
    script.globals.extend(options.globals.iter().cloned());
    script.args.extend(options.args.iter().cloned());
    match options.hangup_after {
        Some(HangupAfter::Steps(steps)) => script.hangup_after_steps = Some(steps),
        Some(HangupAfter::Millis(ms)) => script.hangup_at_ms = Some(ms),
        None => {}
    }
    if let Some(when) = &options.start_time {
        // The simulator's own script parser reads RFC 3339 times.
        let start = serde_json::json!({ "start": when }).to_string();
        script.start_micros = Script::from_json(&start)
            .map_err(|err| format!("--time: {err}"))?
            .start_micros;
    }
    if let Some(max_steps) = options.max_steps {
        script.limits.max_steps = max_steps;
    }
    for source in &options.http_sources {
        match source {
            HttpSource::FixturesFile(file) => {
                // The sim's script format, restricted to its `http` list.
                let text = read(file)?;
                let only_http = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.as_object().map(|o| o.keys().all(|k| k == "http")))
                    .unwrap_or(true);
                if !only_http {
                    return Err(format!(
                        "{file}: an HTTP fixtures file has only an `http` list (use --script for the rest)"
                    ));
                }
                let fixtures = Script::from_json(&text).map_err(|err| format!("{file}: {err}"))?;
                script.http.extend(fixtures.http);
            }
            HttpSource::UrlFile(spec) => {
                // The URL may contain `=` (query strings): split at the last one.
                let (url, file) = spec
                    .rsplit_once('=')
                    .filter(|(url, file)| !url.is_empty() && !file.is_empty())
                    .ok_or_else(|| format!("--http takes URL=FILE, not `{spec}`"))?;
                script.http.push(HttpFixture {
                    url: url.to_string(),
                    method: None,
                    status: 200,
                    headers: Vec::new(),
                    body: read(file)?,
                    delay_ms: 50,
                });
            }
        }
    }
    Ok(script)
}

pub fn command(rest: &[String]) -> Result<Status, UsageError> {
    let Some(options) = parse_options(rest)? else {
        return Ok(Status::Ok);
    };
    let script = match build_script(&options) {
        Ok(script) => script,
        Err(message) => {
            eprintln!("{message}");
            return Ok(Status::Problems);
        }
    };
    Ok(crate::simulate::run(&options, script))
}
