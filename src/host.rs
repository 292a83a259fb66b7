//! The engine's [`Host`] over a real FreeSWITCH session.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustflow_engine::{
    DigitCapture, ExportScope, HangupCause, Host, HostError, HostResult, HttpRequest, HttpResponse,
    LogLevel, PlayFile, PlayOutcome, StepEvent,
};

use crate::config::Config;
use crate::switch::globals;
use crate::switch::log::{self, Level};
use crate::switch::session::{ChannelError, PlayError, Session};

/// How long `softSleep` waits between readiness checks.
const SOFT_SLEEP_SLICE: Duration = Duration::from_millis(20);

pub struct SessionHost<'s, 'a> {
    session: &'s Session<'a>,
    config: &'s Config,
    uuid: String,
}

impl<'s, 'a> SessionHost<'s, 'a> {
    pub fn new(session: &'s Session<'a>, config: &'s Config) -> Self {
        SessionHost {
            session,
            config,
            uuid: session.uuid(),
        }
    }

    /// A failed channel operation: `Hangup` if the call went away, else the reason.
    fn channel_error(&self, what: &str, error: ChannelError) -> HostError {
        if !self.session.channel().ready() {
            HostError::Hangup
        } else {
            HostError::Failed(format!("{what} failed: {error}"))
        }
    }

    fn up_or_hangup(&self) -> HostResult<()> {
        if self.session.channel().ready() {
            Ok(())
        } else {
            Err(HostError::Hangup)
        }
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
        PlayFile::MediaName(name) => {
            let safe = !name.is_empty()
                && !name.starts_with('/')
                && !name.starts_with('{')
                && !name.contains("://")
                && !name.split(['/', '\\']).any(|part| part == "..");
            if !safe {
                return Err(format!(
                    "media name {name:?} must be a relative file name inside media-dir"
                ));
            }
            Ok(config.media_dir.join(name).to_string_lossy().into_owned())
        }
        PlayFile::MediaId(id) => Err(format!(
            "media id {id:?}: playing media by id (media index) is not supported yet; use `name`"
        )),
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
        } => {
            let (engine, voice) = config.tts_for(engine.as_deref(), voice.as_deref())?;
            if engine.contains(':') || voice.contains(':') {
                return Err(format!(
                    "tts: engine {engine:?} and voice {voice:?} must not contain ':'"
                ));
            }
            Ok(format!("say:{engine}:{voice}:{text}"))
        }
    }
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
        self.session.channel().ready()
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

    fn step_done(&mut self, step: &StepEvent<'_>) {
        log::session(
            self.session,
            Level::Debug,
            &format!(
                "rustflow: {} {} {} ({} us): {}",
                step.flow_id, step.pointer, step.app, step.duration_us, step.result
            ),
        );
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
        if capture.is_some() {
            return Err(HostError::Failed(
                "getDigits is not available yet in the module".to_string(),
            ));
        }
        // Resolve every file first: a bad entry fails the step before anything plays.
        let strings = files
            .iter()
            .map(|f| file_string(f, self.config))
            .collect::<Result<Vec<_>, _>>()
            .map_err(HostError::Failed)?;
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
            left -= slice;
        }
        self.up_or_hangup()
    }

    fn http(&mut self, _request: &HttpRequest) -> HostResult<HttpResponse> {
        Err(HostError::Failed(
            "httpRequest is not available yet in the module".to_string(),
        ))
    }
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
                voice: None
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
                .contains("not supported yet")
        );
        let tts = PlayFile::Tts {
            text: "x".into(),
            engine: Some("a:b".into()),
            voice: None,
        };
        assert!(
            file_string(&tts, &c)
                .unwrap_err()
                .contains("must not contain ':'")
        );
    }
}
