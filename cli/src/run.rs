//! `rustflow run`: runs a flow on the call simulator and prints what happened.

use clap::ArgMatches;
use rustflow_engine::BridgeResult;
use rustflow_engine::sim::{HttpFixture, Script};

use crate::Status;
use crate::check::UnknownAppsMode;

const CALLER: &str = "Caller script";
const LOADING: &str = "Flow loading";
const OUTPUT: &str = "Output";

/// Run a flow on the call simulator and print what happened
///
/// Runs the flow on the built-in call simulator (virtual clock, scripted caller) and prints
/// every step with what it did: prompts played, digits and speech collected, variables set,
/// HTTP requests, the branch taken by if/switch/while, and the final hangup cause.
///
/// The caller script options add to the lists of a --script file and replace its single
/// values.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    // a repeated single-value option (`--time`, `--max-steps`, ...): the last one counts
    args_override_self = true,
    after_help = "\
Exit status:
  0  the flow ran, however it ended (hangup, end of the flow, a failed step)
  1  the flow does not load (problems printed as by `rustflow check`), or a script,
     fixture or flows file cannot be read
  2  usage error"
)]
pub struct RunArgs {
    /// The flow file
    #[arg(value_name = "FILE")]
    pub file: String,

    /// What the caller presses at the next digit collection, e.g. `2` or `1#`
    ///
    /// Repeat for later prompts; when none is left, the collection times out.
    #[arg(long, value_name = "KEYS", value_parser = dtmf_keys, help_heading = CALLER)]
    pub dtmf: Vec<String>,
    /// The next speech recognition result (repeatable, one per prompt)
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true, help_heading = CALLER)]
    pub speech: Vec<String>,
    /// The caller hangs up after N steps, or at virtual time Ns / Nms
    ///
    /// A time can fall in the middle of a prompt.
    #[arg(long, value_name = "N|Ns|Nms", value_parser = hangup_after, help_heading = CALLER)]
    pub hangup_after: Option<HangupAfter>,
    /// A channel variable present at the start (repeatable)
    ///
    /// The caller is caller_id_number=1000, destination_number=100 unless set.
    #[arg(
        long,
        value_name = "NAME=VALUE",
        value_parser = name_value,
        allow_hyphen_values = true,
        help_heading = CALLER
    )]
    pub var: Vec<(String, String)>,
    /// A global variable, read as $${NAME} (repeatable)
    #[arg(
        long,
        value_name = "NAME=VALUE",
        value_parser = name_value,
        allow_hyphen_values = true,
        help_heading = CALLER
    )]
    pub global: Vec<(String, String)>,
    /// An invocation argument: $1, $2, ... (repeatable)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true, help_heading = CALLER)]
    pub arg: Vec<String>,
    /// Start of the virtual clock, RFC 3339 [default: 2026-01-05T09:00:00Z, a Monday]
    #[arg(long, value_name = "WHEN", help_heading = CALLER)]
    pub time: Option<String>,
    /// Answer requests to URL with status 200 and FILE as the body (repeatable)
    ///
    /// URL is matched exactly, after expansion; it may contain `=` (FILE follows the last).
    #[arg(long, value_name = "URL=FILE", value_parser = url_file, help_heading = CALLER)]
    http: Vec<(String, String)>,
    /// HTTP answers from a JSON file (repeatable)
    ///
    ///   {"http": [{"url": "https://...", "method": "POST", "status": 200,
    ///              "headers": {...}, "body": "text" or JSON, "delay_ms": 50}]}
    /// Entries matching URL and method answer in turn, the last one repeatedly; a request
    /// nothing matches fails like a network error and the flow goes on. With --http, the
    /// answers for one URL come in command-line order.
    #[arg(long, value_name = "FILE", verbatim_doc_comment, help_heading = CALLER)]
    http_fixtures: Vec<String>,
    /// A whole simulator script (JSON)
    ///
    /// Keys: vars, globals, args, dtmf, speech, bridge, bridge_talk_ms, pickup,
    /// hangup_after_steps, hangup_at_ms, http, limits, start, uuid. The options add to its
    /// lists and replace its single values.
    #[arg(long, value_name = "FILE", verbatim_doc_comment, help_heading = CALLER)]
    pub script: Option<String>,
    /// A contact centre for the queue applications (JSON)
    ///
    ///   {"setup": {...an import file...},
    ///    "agents": {"a1": {"answers": "yes|no|reject|busy",
    ///                      "answer_after_secs": 2, "talk_secs": 60}},
    ///    "offline": ["a2"], "pause": {"a3": "lunch"},
    ///    "waiting": [{"queue": "sales", "count": 2, "priority": 0}],
    ///    "customers": {"+380441234567": {"answers": ["busy", "yes"],
    ///                  "answer_after_secs": 5, "talk_secs": 60}},
    ///    "dialer": {"horizon_secs": 3600}}
    /// The real contact-centre core runs on an in-memory store on the virtual clock;
    /// agents are online unless listed, and `waiting` callers join just before this one.
    /// After the call, the dialer calls the outbound queues' members (scripted by
    /// `customers`, one answer per attempt) for up to `horizon_secs`; the queues'
    /// attempt flows come from --flows DIR or FILE's directory.
    #[arg(long = "cc", value_name = "SETUP", verbatim_doc_comment, help_heading = CALLER)]
    pub cc: Option<String>,
    /// Outcome of every bridge leg, or with LEG= of one leg (repeatable)
    ///
    /// OUTCOME: answered (default), busy, no_answer, failed or cancelled.
    /// LEG: user/EXT[@DOMAIN], gateway/NAME/NUMBER, sip/URI or pickup/GROUP (a pickup
    /// group is not picked up unless named here).
    #[arg(
        long,
        value_name = "[LEG=]OUTCOME",
        value_parser = bridge_spec,
        verbatim_doc_comment,
        help_heading = CALLER
    )]
    bridge: Vec<BridgeSpec>,

    /// The other flows, for the `schema` application [default: only FILE]
    #[arg(long = "flows", value_name = "DIR", help_heading = LOADING)]
    pub flows_dir: Option<String>,
    /// How to treat an application the engine does not run
    ///
    /// As in `rustflow check`; under skip, such a step fails when it runs and the flow
    /// goes on.
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        default_value_t = UnknownAppsMode::Error,
        verbatim_doc_comment,
        help_heading = LOADING
    )]
    pub unknown_apps: UnknownAppsMode,
    /// Step budget of the call [default: 100000]
    #[arg(long, value_name = "N", help_heading = LOADING)]
    pub max_steps: Option<u64>,

    /// The machine transcript (JSON) instead of the readable trace
    #[arg(long, help_heading = OUTPUT)]
    pub json: bool,

    /// `--http` and `--http-fixtures` in command-line order (see `order_http_sources`).
    #[arg(skip)]
    http_sources: Vec<HttpSource>,
}

/// Where HTTP answers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpSource {
    /// `--http URL=FILE`.
    UrlFile { url: String, file: String },
    /// `--http-fixtures FILE`.
    FixturesFile(String),
}

/// When the scripted caller hangs up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangupAfter {
    Steps(u64),
    Millis(u64),
}

/// One `--bridge`: the outcome of every leg, or of the one named.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BridgeSpec {
    Every(BridgeResult),
    Leg(String, BridgeResult),
}

pub const BRIDGE_OUTCOMES: &[&str] = &["answered", "busy", "no_answer", "failed", "cancelled"];

impl RunArgs {
    /// `--http` and `--http-fixtures`, in command-line order.
    pub fn http_sources(&self) -> &[HttpSource] {
        &self.http_sources
    }

    /// Interleaves the `--http` and `--http-fixtures` values as they were given: entries
    /// for the same URL answer in that order.
    pub fn order_http_sources(&mut self, matches: &ArgMatches) {
        let at = |id: &str| {
            matches
                .indices_of(id)
                .map(Iterator::collect::<Vec<_>>)
                .unwrap_or_default()
        };
        let mut sources: Vec<(usize, HttpSource)> = at("http")
            .into_iter()
            .zip(&self.http)
            .map(|(index, (url, file))| {
                let (url, file) = (url.clone(), file.clone());
                (index, HttpSource::UrlFile { url, file })
            })
            .chain(
                at("http_fixtures")
                    .into_iter()
                    .zip(&self.http_fixtures)
                    .map(|(index, file)| (index, HttpSource::FixturesFile(file.clone()))),
            )
            .collect();
        sources.sort_by_key(|(index, _)| *index);
        self.http_sources = sources.into_iter().map(|(_, source)| source).collect();
    }
}

fn dtmf_keys(value: &str) -> Result<String, String> {
    match value
        .chars()
        .find(|c| !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D' | 'a'..='d'))
    {
        Some(bad) => Err(format!("`{bad}` is not a DTMF key (0-9 * # A-D)")),
        None => Ok(value.to_string()),
    }
}

fn name_value(value: &str) -> Result<(String, String), String> {
    value
        .split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .ok_or_else(|| "expected NAME=VALUE".to_string())
}

fn url_file(value: &str) -> Result<(String, String), String> {
    // The URL may contain `=` (query strings): split at the last one.
    value
        .rsplit_once('=')
        .filter(|(url, file)| !url.is_empty() && !file.is_empty())
        .map(|(url, file)| (url.to_string(), file.to_string()))
        .ok_or_else(|| "expected URL=FILE".to_string())
}

fn bridge_outcome(value: &str) -> Result<BridgeResult, String> {
    BridgeResult::parse(value).ok_or_else(|| {
        format!(
            "the outcome must be one of {}, not `{value}`",
            BRIDGE_OUTCOMES.join("|")
        )
    })
}

fn bridge_spec(value: &str) -> Result<BridgeSpec, String> {
    match value.rsplit_once('=') {
        Some((leg, outcome)) if !leg.is_empty() => {
            Ok(BridgeSpec::Leg(leg.to_string(), bridge_outcome(outcome)?))
        }
        _ => Ok(BridgeSpec::Every(bridge_outcome(value)?)),
    }
}

fn hangup_after(value: &str) -> Result<HangupAfter, String> {
    let bad = || "expected N (steps), Ns or Nms".to_string();
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

fn read(file: &str) -> Result<String, String> {
    std::fs::read_to_string(file).map_err(|err| format!("{file}: cannot read: {err}"))
}

/// The simulator script: the `--script` file, then the options on top of it.
pub fn build_script(options: &RunArgs) -> Result<Script, String> {
    let mut script = match &options.script {
        Some(file) => Script::from_json(&read(file)?).map_err(|err| format!("{file}: {err}"))?,
        None => Script::default(),
    };
    script.dtmf.extend(options.dtmf.iter().cloned());
    script.speech.extend(options.speech.iter().cloned());
    for bridge in &options.bridge {
        match bridge {
            BridgeSpec::Every(outcome) => script.bridge_default = *outcome,
            BridgeSpec::Leg(leg, outcome) => {
                script.bridge.insert(leg.clone(), *outcome);
            }
        }
    }
    script.vars.extend(options.var.iter().cloned());
    script.globals.extend(options.global.iter().cloned());
    script.args.extend(options.arg.iter().cloned());
    match options.hangup_after {
        Some(HangupAfter::Steps(steps)) => script.hangup_after_steps = Some(steps),
        Some(HangupAfter::Millis(ms)) => script.hangup_at_ms = Some(ms),
        None => {}
    }
    if let Some(when) = &options.time {
        // The simulator's own script parser reads RFC 3339 times.
        let start = serde_json::json!({ "start": when }).to_string();
        script.start_micros = Script::from_json(&start)
            .map_err(|err| format!("--time: {err}"))?
            .start_micros;
    }
    if let Some(max_steps) = options.max_steps {
        script.limits.max_steps = max_steps;
    }
    for source in options.http_sources() {
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
            HttpSource::UrlFile { url, file } => {
                script.http.push(HttpFixture {
                    url: url.clone(),
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

pub fn command(options: &RunArgs) -> Status {
    match build_script(options) {
        Ok(script) => crate::simulate::run(options, script),
        Err(message) => {
            eprintln!("{message}");
            Status::Problems
        }
    }
}
