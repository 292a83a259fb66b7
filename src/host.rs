//! The engine's [`Host`] over a real FreeSWITCH session.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustflow_cc::engine_host::{self, outbound};
use rustflow_engine::{
    AgentCounts, AgentOffer, AttemptResultRequest, BridgeRequest, BridgeResult, BridgeTarget,
    BridgedCall, CalendarQuery, CalendarStatus, CallbackRequest, CallerIdUpdate, CcRef,
    ConferenceRequest, DigitCapture, EwtQuery, ExportScope, HangupCause, Host, HostError,
    HostResult, HttpRequest, HttpResponse, LastBridgedQuery, LinkFormat, LinkSettings, LogLevel,
    MemberFacts, MemberQuery, MembersPatch, MetricQuery, ParkRequest, PlayFile, PlayOutcome,
    QueueBridge, QueueEvent, QueueJoin, QueueJoinOutcome, RecordRequest, RingOutcome, Ringback,
    SessionRecording, SpeechCapture, SpeechOutcome, StepEvent,
};

use crate::cc;
use crate::cc::call::QueueCall;
use crate::cc::hub::CallContext;
use crate::config::{self, Config};
use crate::dial;
use crate::http;
use crate::state::Snapshot;
use crate::switch::event::Event;
use crate::switch::globals;
use crate::switch::log::{self, Level};
use crate::switch::session::{
    ChannelError, DigitRequest, PlayError, Session, any_session_with_var, module_loaded,
};

/// Subclass of the per-step event (`step-events=true`).
pub const STEP_EVENT: &std::ffi::CStr = c"rustflow::step";

/// How long `softSleep` waits between readiness checks.
const SOFT_SLEEP_SLICE: Duration = Duration::from_millis(20);

pub struct SessionHost<'s, 'a> {
    session: &'s Session<'a>,
    config: &'s Config,
    /// `httpRequest`'s TLS configuration (`http-ca-file`), if any.
    http_tls: Option<&'s Arc<rustls::ClientConfig>>,
    uuid: String,
    /// Steps run so far (for `rustflow_steps` when a panic cuts the flow short).
    pub steps: u64,
    /// The session recording this call started (what `recordSession stop` stops).
    recording: Option<String>,
    /// The file mixed in by `backgroundPlayback` (what its stop removes).
    background: Option<String>,
    /// The queue attempt this call is in (`joinQueue` / `joinAgent`).
    queue: Option<QueueCall>,
}

impl<'s, 'a> SessionHost<'s, 'a> {
    pub fn new(session: &'s Session<'a>, snapshot: &'s Snapshot) -> Self {
        SessionHost {
            session,
            config: &snapshot.config,
            http_tls: snapshot.http_tls.as_ref(),
            uuid: session.uuid(),
            steps: 0,
            recording: None,
            background: None,
            queue: None,
        }
    }

    /// The file strings of `files`, in order (a bad entry fails before anything plays).
    fn file_strings(&self, files: &[PlayFile]) -> HostResult<Vec<String>> {
        let strings = files
            .iter()
            .map(|f| file_string(f, self.config))
            .collect::<Result<Vec<_>, _>>()
            .map_err(HostError::Failed)?;
        for file in files {
            if let PlayFile::Tts { engine, .. } = file {
                let (engine, _) = self
                    .config
                    .tts_for(engine.as_deref(), None)
                    .map_err(HostError::Failed)?;
                require_module(
                    &engine_module(&engine),
                    &format!("the TTS engine {engine:?}"),
                )?;
            }
            if let PlayFile::Http(_) = file {
                require_module("mod_http_cache", "http_audio playback")?;
            }
        }
        // Only once everything can play: `say:` has no language slot, so engines that take
        // one read it from the channel.
        for file in files {
            if let PlayFile::Tts {
                language: Some(language),
                ..
            } = file
            {
                self.session
                    .channel()
                    .set_var("tts_language", language)
                    .map_err(|e| self.channel_error("tts language", e))?;
            }
        }
        Ok(strings)
    }

    /// Several files as one FreeSWITCH file string (`file_string://a!b`).
    fn joined(&self, files: &[PlayFile]) -> HostResult<String> {
        let strings = self.file_strings(files)?;
        match strings.len() {
            0 => Err(HostError::Failed("no file to play".to_string())),
            1 => Ok(strings.into_iter().next().unwrap_or_default()),
            _ => {
                if let Some(bad) = strings.iter().find(|s| s.contains('!')) {
                    return Err(HostError::Failed(format!(
                        "{bad:?} contains '!', which separates files in a file list; play it on its own"
                    )));
                }
                Ok(format!("file_string://{}", strings.join("!")))
            }
        }
    }

    /// A media failure: `Hangup` if the call went away, else the reason.
    fn media_error(&self, what: &str, error: PlayError) -> HostError {
        if !self.session.channel().up() {
            HostError::Hangup
        } else {
            HostError::Failed(format!("{what}: {error}"))
        }
    }

    fn step_event(&self, step: &StepEvent<'_>) -> Result<(), String> {
        let mut event = Event::custom(STEP_EVENT).map_err(|s| s.to_string())?;
        let duration = step.duration_us.to_string();
        for (name, value) in [
            ("Unique-ID", self.uuid.as_str()),
            ("Rustflow-Flow", step.flow_id),
            ("Rustflow-Version", step.flow_version),
            ("Rustflow-Pointer", step.pointer),
            ("Rustflow-App", step.app),
            ("Rustflow-Duration-Us", duration.as_str()),
            ("Rustflow-Result", step.result),
        ] {
            event.add(name, value).map_err(|e| e.to_string())?;
        }
        event.fire().map_err(|s| s.to_string())
    }

    /// A failed channel operation: `Hangup` if the call went away, else the reason.
    fn channel_error(&self, what: &str, error: ChannelError) -> HostError {
        if !self.session.channel().up() {
            HostError::Hangup
        } else {
            HostError::Failed(format!("{what} failed: {error}"))
        }
    }

    fn up_or_hangup(&self) -> HostResult<()> {
        if self.session.channel().up() {
            Ok(())
        } else {
            Err(HostError::Hangup)
        }
    }

    fn queue_call(&mut self) -> HostResult<&mut QueueCall> {
        self.queue
            .as_mut()
            .ok_or_else(|| HostError::Failed("this call waits in no queue".to_string()))
    }

    /// What the agent legs of this caller's offers need: the domain of `user/EXT` agents
    /// (the call's, else `$${domain}`), the caller id, and the variables carried to the agent:
    /// those named in `cc_export_vars` (comma-separated, as mod_callcenter), each only if set.
    fn queue_context(&mut self) -> CallContext {
        let domain = Some(self.domain())
            .filter(|d| !d.is_empty())
            .or_else(|| globals::get("domain"))
            .unwrap_or_default();
        let names = self.var("cc_export_vars").unwrap_or_default();
        let variables = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .filter_map(|n| self.var(n).map(|v| (n.to_string(), v)))
            .collect();
        CallContext {
            domain,
            caller_number: self.var("caller_id_number").unwrap_or_default(),
            caller_name: self.var("caller_id_name").unwrap_or_default(),
            variables,
        }
    }

    /// The call's domain: `domain_name`, else the configured `default-domain` (may be empty).
    fn domain(&mut self) -> String {
        self.var("domain_name")
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| self.config.default_domain.clone())
    }
}

/// The FreeSWITCH file string for one thing to play.
pub fn file_string(file: &PlayFile, config: &Config) -> Result<String, String> {
    match file {
        PlayFile::Tone(tone) => Ok(format!("tone_stream://{tone}")),
        PlayFile::Silence { ms } => Ok(format!("silence_stream://{ms}")),
        PlayFile::Local(path) => {
            if path.is_empty() {
                Err("local file: empty path".to_string())
            } else {
                Ok(path.clone())
            }
        }
        PlayFile::MediaName(name) => media_path(&config.media_dir, name),
        PlayFile::MediaId(id) => {
            let file = media_index_lookup(&config.media_dir, id)?;
            media_path(&config.media_dir, &file)
        }
        PlayFile::Http(url) => {
            let lower = url.to_ascii_lowercase();
            if lower.starts_with("http://") || lower.starts_with("https://") {
                Ok(format!("http_cache://{url}"))
            } else {
                Err(format!("http_audio: {url:?} is not an http(s) URL"))
            }
        }
        PlayFile::Tts {
            text,
            engine,
            voice,
            ssml,
            ..
        } => {
            let (engine, voice) = config.tts_for(engine.as_deref(), voice.as_deref())?;
            if engine.contains(':') || voice.contains(':') {
                return Err(format!(
                    "tts: engine {engine:?} and voice {voice:?} must not contain ':'"
                ));
            }
            if *ssml {
                // SSML goes to the engine unchanged (a list refuses it if it holds `!`).
                return Ok(format!("say:{engine}:{voice}:{text}"));
            }
            // `!` separates files in a file list (as the original, spoken as a full stop).
            Ok(format!("say:{engine}:{voice}:{}", text.replace('!', ".")))
        }
    }
}

/// A file inside `media_dir`, refusing anything that could leave it or be read as a URI.
fn media_path(media_dir: &Path, name: &str) -> Result<String, String> {
    let safe = !name.is_empty()
        && !name.starts_with('/')
        && !name.starts_with('{')
        && !name.contains("://")
        && !name.contains(['\0', '!'])
        && !name.split(['/', '\\']).any(|part| part == "..");
    if !safe {
        return Err(format!(
            "media name {name:?} must be a relative file name inside media-dir"
        ));
    }
    Ok(media_dir.join(name).to_string_lossy().into_owned())
}

/// The media index: `media-dir/index.json`, an object id → file (relative to media-dir).
pub fn media_index_lookup(media_dir: &Path, id: &str) -> Result<String, String> {
    let path = media_dir.join("index.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "media id {id:?}: cannot read the media index {}: {e}",
            path.display()
        )
    })?;
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "media id {id:?}: the media index {} is not JSON: {e}",
            path.display()
        )
    })?;
    match index.get(id) {
        Some(serde_json::Value::String(file)) => Ok(file.clone()),
        Some(_) => Err(format!(
            "media id {id:?}: the entry in {} is not a file name (a string)",
            path.display()
        )),
        None => Err(format!(
            "media id {id:?} is not in the media index {}",
            path.display()
        )),
    }
}

/// `recordings-dir/NAME.FORMAT`, with a name that cannot leave the directory or carry
/// FreeSWITCH file-string syntax.
pub fn recording_path(dir: &Path, name: &str, format: &str) -> Result<String, String> {
    if dir.as_os_str().is_empty() {
        return Err(
            "no recordings-dir configured (and FreeSWITCH has no recordings_dir)".to_string(),
        );
    }
    let name_ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '@' | '='))
        && !name.contains("..");
    if !name_ok {
        return Err(format!(
            "recording name {name:?} must be letters, digits and _ - . + @ = (no path)"
        ));
    }
    if format.is_empty() || format.len() > 8 || !format.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "recording type {format:?} must be a short extension such as mp3 or wav"
        ));
    }
    Ok(dir
        .join(format!("{name}.{format}"))
        .to_string_lossy()
        .into_owned())
}

/// The FreeSWITCH module that provides a TTS/ASR engine name (`flite` → `mod_flite`,
/// `unimrcp:profile` → `mod_unimrcp`).
fn engine_module(engine: &str) -> String {
    let base = engine.split(':').next().unwrap_or(engine);
    format!("mod_{base}")
}

/// A clear error when an optional FreeSWITCH module is not loaded.
fn require_module(module: &str, what: &str) -> HostResult<()> {
    if module_loaded(module) {
        Ok(())
    } else {
        Err(HostError::Failed(format!(
            "{what} needs the FreeSWITCH module {module}, which is not loaded"
        )))
    }
}

/// A conference/park name part: no syntax of the application's argument.
fn check_app_word(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{what} {value:?} must be letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(())
}

/// The `conference` application's argument: `NAME@PROFILE[+PIN][+flags{a|b}]`.
pub fn conference_arg(request: &ConferenceRequest) -> Result<String, String> {
    check_app_word(&request.name, "name")?;
    check_app_word(&request.profile, "profile")?;
    let mut arg = format!("{}@{}", request.name, request.profile);
    if let Some(pin) = request.pin.as_deref().filter(|p| !p.is_empty()) {
        if !pin
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#'))
        {
            return Err(format!("pin {pin:?} must be DTMF digits"));
        }
        arg.push('+');
        arg.push_str(pin);
    }
    if !request.flags.is_empty() {
        for flag in &request.flags {
            check_app_word(flag, "flag")?;
        }
        arg.push_str(&format!("+flags{{{}}}", request.flags.join("|")));
    }
    Ok(arg)
}

/// The `valet_park` application's argument: `[DOMAIN@]LOT auto in|out FROM TO`.
pub fn park_arg(request: &ParkRequest, domain: &str) -> Result<String, String> {
    check_app_word(&request.lot, "lot name")?;
    if request.from > request.to {
        return Err(format!(
            "lot range {}-{} is empty",
            request.from, request.to
        ));
    }
    let lot = if domain.is_empty() {
        request.lot.clone()
    } else {
        check_app_word(domain, "domain")?;
        format!("{domain}@{}", request.lot)
    };
    let direction = if request.retrieve { "out" } else { "in" };
    Ok(format!(
        "{lot} auto {direction} {} {}",
        request.from, request.to
    ))
}

fn level(level: LogLevel) -> Level {
    match level {
        LogLevel::Debug => Level::Debug,
        LogLevel::Info => Level::Info,
        LogLevel::Notice => Level::Notice,
        LogLevel::Warning => Level::Warning,
        LogLevel::Error => Level::Error,
    }
}

impl Host for SessionHost<'_, '_> {
    fn uuid(&self) -> &str {
        &self.uuid
    }

    fn is_up(&mut self) -> bool {
        self.session.channel().up()
    }

    fn now_micros(&mut self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
    }

    fn log(&mut self, lvl: LogLevel, message: &str) {
        log::session(self.session, level(lvl), message);
    }

    fn log_enabled(&mut self, lvl: LogLevel) -> bool {
        log::session_enabled(self.session, level(lvl))
    }

    // The engine already logs each step at DEBUG through `log`; this only counts and
    // publishes it.
    fn step_done(&mut self, step: &StepEvent<'_>) {
        self.steps += 1;
        if self.config.step_events {
            if let Err(e) = self.step_event(step) {
                log::session(
                    self.session,
                    Level::Warning,
                    &format!("rustflow: cannot fire the rustflow::step event: {e}"),
                );
            }
        }
    }

    fn var(&mut self, name: &str) -> Option<String> {
        self.session.channel().var(name)
    }

    fn global_var(&mut self, name: &str) -> Option<String> {
        globals::get(name)
    }

    fn set_var(&mut self, name: &str, value: &str) -> HostResult<()> {
        self.session
            .channel()
            .set_var(name, value)
            .map_err(|e| self.channel_error("set", e))
    }

    fn unset_var(&mut self, name: &str) -> HostResult<()> {
        self.session
            .channel()
            .unset_var(name)
            .map_err(|e| self.channel_error("unset", e))
    }

    fn export_var(&mut self, name: &str, value: &str, scope: ExportScope) -> HostResult<()> {
        let local = scope == ExportScope::LocalAndBLegs;
        self.session
            .channel()
            .export_var(name, value, local)
            .map_err(|e| self.channel_error("export", e))
    }

    fn ring_ready(&mut self) -> HostResult<()> {
        self.up_or_hangup()?;
        self.session
            .channel()
            .ring_ready()
            .map_err(|e| self.channel_error("ringReady", e))
    }

    fn pre_answer(&mut self) -> HostResult<()> {
        self.up_or_hangup()?;
        self.session
            .channel()
            .pre_answer()
            .map_err(|e| self.channel_error("preAnswer", e))
    }

    fn answer(&mut self) -> HostResult<()> {
        self.up_or_hangup()?;
        self.session
            .channel()
            .answer()
            .map_err(|e| self.channel_error("answer", e))
    }

    fn hangup(&mut self, cause: HangupCause) -> HostResult<()> {
        self.session
            .channel()
            .hangup(cause.code)
            .map_err(|e| self.channel_error("hangup", e))
    }

    fn play(
        &mut self,
        files: &[PlayFile],
        capture: Option<&DigitCapture>,
    ) -> HostResult<PlayOutcome> {
        if let Some(capture) = capture {
            let file = self.joined(files)?;
            self.up_or_hangup()?;
            if capture.flush_dtmf {
                self.flush_dtmf()?;
            }
            let ms = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
            let request = DigitRequest {
                min: capture.min,
                max: capture.max,
                tries: capture.tries,
                timeout_ms: ms(capture.timeout_ms),
                digit_timeout_ms: ms(capture.digit_timeout_ms),
                terminators: &capture.terminators,
                var_name: &capture.set_var,
                regex: capture.regexp.as_deref(),
            };
            let digits = self
                .session
                .play_and_get_digits(&request, &file)
                .map_err(|e| self.media_error("getDigits", e))?;
            self.up_or_hangup()?;
            return Ok(PlayOutcome { digits });
        }
        let strings = self.file_strings(files)?;
        for file in &strings {
            self.up_or_hangup()?;
            let played = self.session.play_file(file);
            self.up_or_hangup()?;
            match played {
                Ok(()) => {}
                Err(PlayError::Status(status)) => {
                    return Err(HostError::Failed(format!("cannot play {file}: {status}")));
                }
                Err(PlayError::Nul(e)) => {
                    return Err(HostError::Failed(format!("cannot play {file:?}: {e}")));
                }
            }
        }
        Ok(PlayOutcome::default())
    }

    fn sleep(&mut self, ms: u64) -> HostResult<()> {
        self.up_or_hangup()?;
        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
        let slept = self.session.sleep(ms);
        self.up_or_hangup()?;
        slept.map_err(|status| HostError::Failed(format!("sleep failed: {status}")))
    }

    fn soft_sleep(&mut self, ms: u64) -> HostResult<()> {
        let mut left = Duration::from_millis(ms);
        while !left.is_zero() {
            self.up_or_hangup()?;
            let slice = left.min(SOFT_SLEEP_SLICE);
            std::thread::sleep(slice);
            // No media is read, but a remote hangup must still end the wait.
            self.session.process_signals();
            left -= slice;
        }
        self.up_or_hangup()
    }

    fn http(&mut self, request: &HttpRequest) -> HostResult<HttpResponse> {
        let timeout = http::timeout_for(request, self.config.http_timeout_ms);
        // The request runs on a worker while this thread watches the call: a hangup during
        // the request ends the step. A request made after the hangup (trigger.disconnected)
        // runs to completion, bounded by its timeout.
        let session = self.session;
        let watch = session.channel().up();
        let slice = u32::try_from(http::POLL.as_millis()).unwrap_or(20);
        let wait = || {
            if !watch {
                std::thread::sleep(http::POLL);
                return true;
            }
            // Media keeps flowing and signalling (a BYE, a CANCEL) is handled while we wait;
            // without media the core's sleep only yields, hence the explicit signal parse.
            let _ = session.sleep(slice);
            session.process_signals();
            session.channel().up()
        };
        http::perform(request, timeout, self.http_tls, wait).map_err(|e| match e {
            http::Interrupted::Abandoned => HostError::Hangup,
            http::Interrupted::Failed(message) => HostError::Failed(message),
        })
    }

    fn echo(&mut self, delay_ms: u64) -> HostResult<()> {
        self.up_or_hangup()?;
        self.session
            .echo(u32::try_from(delay_ms).unwrap_or(u32::MAX));
        // Echo only ends when the call does (or media breaks): report which.
        self.up_or_hangup()
    }

    fn flush_dtmf(&mut self) -> HostResult<()> {
        self.session
            .channel()
            .flush_dtmf()
            .map_err(|e| self.channel_error("flushDTMF", e))
    }

    fn inband_dtmf(&mut self, start: bool) -> HostResult<()> {
        self.up_or_hangup()?;
        self.session.inband_dtmf(start).map_err(|status| {
            HostError::Failed(format!(
                "in-band DTMF {} failed: {status}",
                if start { "start" } else { "stop" }
            ))
        })
    }

    fn bridge(&mut self, request: &BridgeRequest) -> HostResult<BridgeResult> {
        let domain = self.domain();
        // `idle: true`: a user with a call in progress (a channel whose presence_id is the
        // user, as FreeSWITCH sets for calls to and from directory users) is skipped.
        let mut request = request.clone();
        let before = request.legs.len();
        request.legs.retain(|leg| match &leg.target {
            BridgeTarget::User { extension, domain: own } if leg.idle_only => {
                let domain = own.as_deref().filter(|d| !d.is_empty()).unwrap_or(&domain);
                let busy = any_session_with_var("presence_id", &format!("{extension}@{domain}"));
                if busy {
                    log::session(
                        self.session,
                        Level::Debug,
                        &format!("rustflow: bridge skips {extension}@{domain}: already on a call (idle: true)"),
                    );
                }
                !busy
            }
            _ => true,
        });
        if before > 0 && request.legs.is_empty() {
            return Ok(BridgeResult::Busy);
        }
        let request = &request;
        let plan = dial::build(request, &domain).map_err(HostError::Failed)?;
        self.up_or_hangup()?;
        let variables = originate_variables(&plan).map_err(HostError::Failed)?;
        // As mod_dptools' bridge: `call_timeout` (the flow's, else the caller channel's) bounds
        // the ringing; 0 = FreeSWITCH's default (60 s).
        let timeout = match plan.call_timeout {
            Some(seconds) => seconds,
            None => self
                .var("call_timeout")
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(0),
        };
        log::session(
            self.session,
            Level::Debug,
            &format!(
                "rustflow: bridge to {} (timeout {timeout} s)",
                plan.dial_string
            ),
        );
        let outcome = self
            .session
            .originate_and_bridge(&plan.dial_string, &variables, timeout)
            .map_err(|e| HostError::Failed(e.to_string()))?;
        match outcome {
            Ok(()) => Ok(BridgeResult::Answered),
            Err(cause) => {
                if !self.session.channel().up() {
                    return Err(HostError::Hangup);
                }
                Ok(rustflow_engine::causes::bridge_result(cause))
            }
        }
    }

    fn record_file(&mut self, request: &RecordRequest) -> HostResult<String> {
        let path = recording_path(&self.config.recordings_dir, &request.name, &request.format)
            .map_err(HostError::Failed)?;
        self.up_or_hangup()?;
        if !request.terminators.is_empty() {
            self.set_var("playback_terminators", &request.terminators)?;
        }
        if request.voicemail {
            self.set_var("rustflow_voicemail", "true")?;
        }
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        self.session
            .record_file(
                &path,
                clamp(request.max_seconds),
                clamp(request.silence_threshold),
                clamp(request.silence_hits),
            )
            .map_err(|e| self.media_error("recording failed", e))?;
        Ok(path)
    }

    fn record_session(&mut self, request: &SessionRecording) -> HostResult<String> {
        match request {
            SessionRecording::Start {
                name,
                format,
                stereo,
                bridged,
                min_seconds,
                follow_transfer,
            } => {
                let path = recording_path(&self.config.recordings_dir, name, format)
                    .map_err(HostError::Failed)?;
                self.up_or_hangup()?;
                if let Some(previous) = &self.recording {
                    return Err(HostError::Failed(format!(
                        "already recording to {previous}; stop it first"
                    )));
                }
                let flag = |b: &bool| if *b { "true" } else { "false" };
                self.set_var("RECORD_STEREO", flag(stereo))?;
                self.set_var("RECORD_BRIDGE_REQ", flag(bridged))?;
                self.set_var("media_bug_answer_req", flag(bridged))?;
                self.set_var("RECORD_MIN_SEC", &min_seconds.to_string())?;
                self.set_var("recording_follow_transfer", flag(follow_transfer))?;
                self.session
                    .record_session(&path)
                    .map_err(|e| self.media_error("start failed", e))?;
                self.recording = Some(path.clone());
                Ok(path)
            }
            SessionRecording::Stop => {
                let Some(path) = self.recording.take() else {
                    return Err(HostError::Failed(
                        "stop: this call started no session recording".to_string(),
                    ));
                };
                self.session
                    .stop_record_session(&path)
                    .map_err(|e| self.media_error("stop failed", e))?;
                Ok(path)
            }
        }
    }

    fn background_start(&mut self, file: &PlayFile, volume_reduction: u32) -> HostResult<()> {
        let file = self.joined(std::slice::from_ref(file))?;
        self.up_or_hangup()?;
        if self.background.is_some() {
            self.background_stop()?;
        }
        if volume_reduction > 0 {
            // FreeSWITCH's displace has no level control: say so rather than pretend.
            log::session(
                self.session,
                Level::Warning,
                &format!(
                    "rustflow: backgroundPlayback: volumeReduction {volume_reduction} is not applied (FreeSWITCH's displace has no volume control); the file plays at its own level"
                ),
            );
        }
        // "m": mixed under the call's audio (mux), heard by the caller.
        self.session
            .displace(&file, "m")
            .map_err(|e| self.media_error("cannot start", e))?;
        self.background = Some(file);
        Ok(())
    }

    fn background_stop(&mut self) -> HostResult<()> {
        let Some(file) = self.background.take() else {
            return Err(HostError::Failed(
                "no background playback was started by this call".to_string(),
            ));
        };
        match self.session.stop_displace(&file) {
            Ok(()) => Ok(()),
            // FALSE: the file already finished and the core removed it; nothing left to stop.
            Err(PlayError::Status(_)) if self.session.channel().up() => Ok(()),
            Err(e) => Err(self.media_error("cannot stop", e)),
        }
    }

    fn redirect(&mut self, uris: &[String]) -> HostResult<()> {
        if uris.is_empty() {
            return Err(HostError::Failed("no URI given".to_string()));
        }
        for uri in uris {
            if uri.is_empty()
                || uri.chars().any(|c| {
                    c.is_whitespace() || c.is_control() || matches!(c, ',' | '<' | '>' | '"' | '\'')
                })
            {
                return Err(HostError::Failed(format!("{uri:?} is not a plain SIP URI")));
            }
        }
        self.up_or_hangup()?;
        let answered = self.session.channel().answered();
        // No core function sends a 302 / REFER: mod_dptools' redirect/deflect applications
        // send the indication to the endpoint.
        let (app, arg) = if answered {
            ("deflect", uris[0].clone())
        } else {
            ("redirect", uris.join(","))
        };
        self.session
            .execute_application(app, &arg)
            .map_err(|e| self.media_error(&format!("{app} failed"), e))
    }

    fn update_caller_id(&mut self, update: &CallerIdUpdate) -> HostResult<()> {
        let channel = self.session.channel();
        let mut changed = false;
        for (value, field, effective) in [
            (
                &update.name,
                "caller_id_name",
                Some("effective_caller_id_name"),
            ),
            (
                &update.number,
                "caller_id_number",
                Some("effective_caller_id_number"),
            ),
            (&update.destination, "destination_number", None),
        ] {
            let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            channel
                .set_profile_var(field, value)
                .map_err(|e| self.channel_error("caller profile update", e))?;
            if let Some(effective) = effective {
                self.set_var(effective, value)?;
            }
            changed = true;
        }
        if !changed {
            return Err(HostError::Failed(
                "name, number or destination is required".to_string(),
            ));
        }
        Ok(())
    }

    fn ringback(&mut self, ringback: &Ringback) -> HostResult<()> {
        let mut names = Vec::new();
        for (file, var) in [
            (&ringback.call, "ringback"),
            (&ringback.transfer, "transfer_ringback"),
            (&ringback.hold, "hold_music"),
        ] {
            if let Some(file) = file {
                let value = self.joined(std::slice::from_ref(file))?;
                self.set_var(var, &value)?;
                names.push(var);
            }
        }
        if ringback.export_to_b_legs {
            let existing = self.var("bridge_export_vars").unwrap_or_default();
            let mut list: Vec<&str> = existing.split(',').filter(|s| !s.is_empty()).collect();
            for name in ["hold_music", "ringback", "transfer_ringback"] {
                if !list.contains(&name) {
                    list.push(name);
                }
            }
            self.set_var("bridge_export_vars", &list.join(","))?;
        }
        Ok(())
    }

    fn park(&mut self, request: &ParkRequest) -> HostResult<()> {
        let domain = self.domain();
        let arg = park_arg(request, &domain).map_err(HostError::Failed)?;
        require_module("mod_valet_parking", "parking")?;
        self.up_or_hangup()?;
        // Valet parking has no core function: the valet_park application of mod_valet_parking.
        self.session
            .execute_application("valet_park", &arg)
            .map_err(|e| self.media_error("valet_park failed", e))
    }

    fn pickup(&mut self, group: &str) -> HostResult<bool> {
        let domain = self.domain();
        let key = dial::pickup_key(group, &domain).map_err(HostError::Failed)?;
        require_module("mod_dptools", "call pickup")?;
        self.up_or_hangup()?;
        // No core function picks up a call: the pickup application of mod_dptools. When a
        // call rings in the group it hands this channel to that call's originate (the state
        // leaves CS_EXECUTE) and returns at once; otherwise it just returns.
        self.session
            .execute_application("pickup", &key)
            .map_err(|e| self.media_error("pickup failed", e))?;
        self.up_or_hangup()?;
        Ok(!self.session.channel().executing())
    }

    fn conference(&mut self, request: &ConferenceRequest) -> HostResult<()> {
        let arg = conference_arg(request).map_err(HostError::Failed)?;
        require_module("mod_conference", "joining a conference")?;
        self.up_or_hangup()?;
        // Joining a conference has no core function: the conference application of
        // mod_conference (blocks until the caller leaves).
        self.session
            .execute_application("conference", &arg)
            .map_err(|e| self.media_error("conference failed", e))
    }

    fn link_settings(&mut self) -> Option<LinkSettings> {
        if self.config.link_secret.is_empty() {
            return None;
        }
        Some(LinkSettings {
            secret: self.config.link_secret.clone(),
            base_url: self.config.link_base_url.clone(),
            format: match self.config.link_format {
                config::LinkFormat::HmacSha256 => LinkFormat::HmacSha256,
                config::LinkFormat::NginxSecureLink => LinkFormat::NginxSecureLink,
            },
        })
    }

    fn detect_speech(
        &mut self,
        files: &[PlayFile],
        speech: &SpeechCapture,
    ) -> HostResult<SpeechOutcome> {
        if self.config.asr_engine.is_empty() {
            return Err(HostError::Failed(
                "getSpeech needs an ASR engine: none configured (set asr-engine in mod_rustflow.conf)"
                    .to_string(),
            ));
        }
        let engine = self.config.asr_engine.clone();
        require_module(
            &engine_module(&engine),
            &format!("getSpeech with the ASR engine {engine:?}"),
        )?;
        let file = self.joined(files)?;
        let grammar = if self.config.asr_grammar.is_empty() {
            "default".to_string()
        } else {
            self.config.asr_grammar.clone()
        };
        if let Some(lang) = &speech.language {
            self.set_var("speech_language", lang)?;
        }
        self.up_or_hangup()?;
        let timeout = u32::try_from(speech.timeout_ms).unwrap_or(u32::MAX);
        let raw = self
            .session
            .play_and_detect_speech(&file, &engine, &grammar, timeout)
            .map_err(|e| self.media_error("getSpeech", e))?;
        Ok(SpeechOutcome {
            transcript: transcript_of(&raw),
            raw,
        })
    }

    fn queue_join(&mut self, join: &QueueJoin) -> HostResult<QueueJoinOutcome> {
        if self.queue.is_some() {
            return Err(HostError::Failed(
                "this call already waits in a queue".to_string(),
            ));
        }
        self.up_or_hangup()?;
        let ringtone = join
            .ringtone
            .as_ref()
            .map(|f| file_string(f, self.config))
            .transpose()
            .map_err(HostError::Failed)?;
        let context = self.queue_context();
        let destination = self.var("destination_number").unwrap_or_default();
        let (call, outcome) = cc::call::join(self.session, join, destination, context, ringtone)?;
        self.queue = call;
        Ok(outcome)
    }

    fn queue_wait(&mut self, until_micros: Option<i64>) -> HostResult<QueueEvent> {
        let session = self.session;
        let call = self.queue_call()?;
        let event = call.wait(session, until_micros)?;
        if let QueueEvent::Left { .. } = event {
            self.queue = None;
        }
        Ok(event)
    }

    fn queue_ring(&mut self, offer: &AgentOffer) -> HostResult<RingOutcome> {
        let session = self.session;
        let (outcome, answerer) = self.queue_call()?.ring(session, offer)?;
        // Ring-all: the flow's `cc_agent_*` name the agent who took the call.
        if let Some(agent) = answerer {
            self.set_var("cc_agent_name", &agent.agent_name)?;
            self.set_var("cc_agent_id", &agent.agent_id)?;
            self.set_var("cc_agent_call_id", &agent.agent_call_id)?;
            self.set_var("cc_agent_extension", &agent.extension)?;
        }
        Ok(outcome)
    }

    fn queue_bridge(&mut self) -> HostResult<QueueBridge> {
        let session = self.session;
        self.queue_call()?.bridge(session)
    }

    fn queue_leave(&mut self, result: &str) -> HostResult<String> {
        match self.queue.take() {
            Some(mut call) => call.leave(result),
            None => Ok(String::new()),
        }
    }

    fn queue_position(&mut self) -> HostResult<u32> {
        match &self.queue {
            Some(call) => engine_host::position(&call.centre().store, Some(call.attempt())),
            None => Ok(0),
        }
    }

    fn queue_ewt(&mut self, query: &EwtQuery) -> HostResult<Option<f64>> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        let attempt = self.queue.as_ref().map(|c| c.attempt());
        engine_host::estimated_wait(&centre.store, attempt, query, cc::hub::now_ms())
    }

    fn queue_agents(&mut self, queue: &CcRef) -> HostResult<AgentCounts> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        engine_host::agent_counts(&centre.store, queue, cc::hub::now_ms())
    }

    fn queue_metric(&mut self, query: &MetricQuery) -> HostResult<Option<f64>> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        engine_host::metric(&centre.store, query, cc::hub::now_ms())
    }

    fn last_bridged(&mut self, query: &LastBridgedQuery) -> HostResult<Option<BridgedCall>> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        engine_host::last_bridged(&centre.store, query, cc::hub::now_ms())
    }

    fn calendar(&mut self, query: &CalendarQuery) -> HostResult<CalendarStatus> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        engine_host::calendar(&centre.store, query, cc::hub::now_ms())
    }

    fn member_create(&mut self, request: &CallbackRequest) -> HostResult<i64> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        let id = outbound::member_create(&centre.store, request, cc::hub::now_ms())?;
        // The dialer looks at the queue now, not at its next round.
        centre.poke();
        Ok(id)
    }

    fn member_info(&mut self, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        outbound::member_info(&centre.store, query)
    }

    fn patch_members(&mut self, query: &MemberQuery, patch: &MembersPatch) -> HostResult<usize> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        let changed = outbound::patch_members(&centre.store, query, patch, cc::hub::now_ms())?;
        centre.poke();
        Ok(changed)
    }

    fn attempt_result(&mut self, request: &AttemptResultRequest) -> HostResult<()> {
        let centre = cc::centre().map_err(HostError::Failed)?;
        let after = outbound::attempt_result(&centre.store, request, cc::hub::now_ms())?;
        cc::outbound::fire_outcome(&centre.node, &after, None);
        centre.poke();
        Ok(())
    }
}

/// The variables event of an originate: a dial plan's variables for every leg, which
/// FreeSWITCH takes unparsed (the bridge, a queue's agent legs, an outbound member's leg).
pub(crate) fn originate_variables(plan: &dial::DialPlan) -> Result<Event, String> {
    let mut variables =
        Event::variables().map_err(|s| format!("cannot create the originate variables: {s}"))?;
    for (name, value) in &plan.global_variables {
        variables.add(name, value).map_err(|e| e.to_string())?;
    }
    Ok(variables)
}

/// The best transcript in an ASR result: NLSML `<input>…</input>`, JSON `text`/`transcript`,
/// else the text itself.
pub fn transcript_of(raw: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(raw) {
        for key in ["text", "transcript"] {
            if let Some(text) = value.get(key).and_then(|v| v.as_str()) {
                return text.to_string();
            }
        }
    }
    if let Some(start) = raw.find("<input") {
        if let Some(open_end) = raw[start..].find('>') {
            let body = &raw[start + open_end + 1..];
            if let Some(end) = body.find("</input>") {
                return body[..end].trim().to_string();
            }
        }
    }
    raw.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Globals;

    fn config() -> Config {
        let globals = Globals {
            conf_dir: Some("/etc/fs".into()),
            sounds_dir: Some("/snd".into()),
            recordings_dir: None,
            db_dir: None,
        };
        let params = vec![
            ("tts-engine".to_string(), "flite".to_string()),
            ("tts-voice".to_string(), "kal".to_string()),
        ];
        Config::parse(&globals, &params, &[]).0
    }

    #[test]
    fn file_strings() {
        let c = config();
        let f = |p: PlayFile| file_string(&p, &c);
        assert_eq!(
            f(PlayFile::Tone("%(1000,0,440)".into())).unwrap(),
            "tone_stream://%(1000,0,440)"
        );
        assert_eq!(
            f(PlayFile::Silence { ms: 500 }).unwrap(),
            "silence_stream://500"
        );
        assert_eq!(
            f(PlayFile::Local("/tmp/a.wav".into())).unwrap(),
            "/tmp/a.wav"
        );
        assert_eq!(
            f(PlayFile::MediaName("ivr/hello.wav".into())).unwrap(),
            "/snd/ivr/hello.wav"
        );
        assert_eq!(
            f(PlayFile::Http("https://x.example/a.mp3".into())).unwrap(),
            "http_cache://https://x.example/a.mp3"
        );
        assert_eq!(
            f(PlayFile::Tts {
                text: "Hello: world".into(),
                engine: None,
                voice: None,
                language: None,
                ssml: false,
            })
            .unwrap(),
            "say:flite:kal:Hello: world"
        );
    }

    #[test]
    fn hostile_media_names_are_refused() {
        let c = config();
        for name in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "{vars}x.wav",
            "shout://x",
            "",
        ] {
            let err = file_string(&PlayFile::MediaName(name.into()), &c).unwrap_err();
            assert!(err.contains("inside media-dir"), "{name}: {err}");
        }
        assert!(
            file_string(&PlayFile::Http("file:///etc/passwd".into()), &c)
                .unwrap_err()
                .contains("not an http(s) URL")
        );
        assert!(
            file_string(&PlayFile::MediaId("42".into()), &c)
                .unwrap_err()
                .contains("cannot read the media index /snd/index.json")
        );
        let tts = PlayFile::Tts {
            text: "x".into(),
            engine: Some("a:b".into()),
            voice: None,
            language: None,
            ssml: false,
        };
        assert!(
            file_string(&tts, &c)
                .unwrap_err()
                .contains("must not contain ':'")
        );
    }

    #[test]
    fn media_ids_resolve_through_the_index() {
        let dir = std::env::temp_dir().join(format!("rustflow-media-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.json"),
            r#"{"42": "ivr/hello.wav", "7": "../../etc/passwd", "8": 5}"#,
        )
        .unwrap();
        let mut c = config();
        c.media_dir = dir.clone();
        let f = |id: &str| file_string(&PlayFile::MediaId(id.into()), &c);
        assert_eq!(
            f("42").unwrap(),
            dir.join("ivr/hello.wav").to_string_lossy()
        );
        assert!(f("7").unwrap_err().contains("inside media-dir"));
        assert!(f("8").unwrap_err().contains("not a file name"));
        assert!(f("9").unwrap_err().contains("is not in the media index"));
        std::fs::write(dir.join("index.json"), "{oops").unwrap();
        assert!(f("42").unwrap_err().contains("is not JSON"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recording_names_cannot_escape_the_directory() {
        let dir = Path::new("/rec");
        assert_eq!(
            recording_path(dir, "recordFile_1700000000", "mp3").unwrap(),
            "/rec/recordFile_1700000000.mp3"
        );
        assert_eq!(
            recording_path(dir, "1700_+15551234_100", "wav").unwrap(),
            "/rec/1700_+15551234_100.wav"
        );
        for name in [
            "../x", "a/b", "a\\b", ".hidden", "a..b", "", "{x=y}a", "a,b|c", "$(ls)", "a b", "a!b",
        ] {
            let err = recording_path(dir, name, "mp3").unwrap_err();
            assert!(err.contains("recording name"), "{name}: {err}");
        }
        for format in ["", "mp3/../x", "wav;", "averyverylongext"] {
            assert!(
                recording_path(dir, "a", format)
                    .unwrap_err()
                    .contains("recording type")
            );
        }
        assert!(
            recording_path(Path::new(""), "a", "wav")
                .unwrap_err()
                .contains("no recordings-dir")
        );
    }

    #[test]
    fn tts_text_cannot_split_a_file_list() {
        let c = config();
        let tts = PlayFile::Tts {
            text: "Hi! a,b|{x=y}${system ls}".into(),
            engine: None,
            voice: None,
            language: None,
            ssml: false,
        };
        assert_eq!(
            file_string(&tts, &c).unwrap(),
            "say:flite:kal:Hi. a,b|{x=y}${system ls}"
        );
        let ssml = PlayFile::Tts {
            text: "<speak>Hi!</speak>".into(),
            engine: None,
            voice: None,
            language: Some("en-US".into()),
            ssml: true,
        };
        assert_eq!(
            file_string(&ssml, &c).unwrap(),
            "say:flite:kal:<speak>Hi!</speak>"
        );
        assert!(
            file_string(&PlayFile::MediaName("a!b.wav".into()), &c)
                .unwrap_err()
                .contains("inside media-dir")
        );
    }

    #[test]
    fn transcripts_are_taken_from_common_asr_results() {
        assert_eq!(
            transcript_of(
                r#"<?xml version="1.0"?><result><interpretation confidence="90"><input mode="speech">sales please</input></interpretation></result>"#
            ),
            "sales please"
        );
        assert_eq!(transcript_of(r#"{"text": "yes"}"#), "yes");
        assert_eq!(transcript_of(" plain "), "plain");
    }

    #[test]
    fn conference_and_park_arguments_keep_their_shape() {
        let mut conf = ConferenceRequest {
            name: "sales".into(),
            profile: "default".into(),
            pin: Some("1234".into()),
            flags: vec!["mute".into(), "moderator".into()],
        };
        assert_eq!(
            conference_arg(&conf).unwrap(),
            "sales@default+1234+flags{mute|moderator}"
        );
        conf.pin = None;
        conf.flags.clear();
        assert_eq!(conference_arg(&conf).unwrap(), "sales@default");
        for name in ["a b", "x@evil", "a+flags{endconf}", "${system ls}", ""] {
            conf.name = name.into();
            assert!(
                conference_arg(&conf).unwrap_err().contains("name"),
                "{name}"
            );
        }
        conf.name = "sales".into();
        conf.pin = Some("12+flags{endconf}".into());
        assert!(conference_arg(&conf).unwrap_err().contains("pin"));
        conf.pin = None;
        conf.flags = vec!["mute|endconf".into()];
        assert!(conference_arg(&conf).unwrap_err().contains("flag"));

        let mut park = ParkRequest {
            lot: "lot1".into(),
            from: 100,
            to: 110,
            retrieve: false,
        };
        assert_eq!(
            park_arg(&park, "example.com").unwrap(),
            "example.com@lot1 auto in 100 110"
        );
        park.retrieve = true;
        assert_eq!(park_arg(&park, "").unwrap(), "lot1 auto out 100 110");
        park.lot = "lot1 auto out 1 2".into();
        assert!(park_arg(&park, "").unwrap_err().contains("lot name"));
        park.lot = "lot1".into();
        assert!(park_arg(&park, "a b").unwrap_err().contains("domain"));
        park.from = 120;
        assert!(park_arg(&park, "").unwrap_err().contains("is empty"));
    }
}
