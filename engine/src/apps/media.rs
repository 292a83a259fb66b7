//! Media: playing files and speech, collecting digits and speech, recordings, DTMF, echo,
//! background playback and waiting. Each step calls one [`Host`](crate::Host) method.

use serde_json::{Value as Json, json};

use super::{App, At, Family};
use crate::compile::{AppCx, Args, Compiler, find_ci, first_line};
use crate::graph::{field, scalar};
use crate::host::*;
use crate::interp::{Control, Machine, StepError, StepResult, clamp_u32};
use crate::json::{Kind, Member, Value, pointer_join};
use crate::program::*;
use crate::schema::{args, capture_fields, flag, no_args, number, reference, text};
use crate::template::Template;

/// The media applications.
pub(crate) const APPS: &[App] = &[
    App::step(
        Family::Media,
        "playback",
        "Plays files in order, optionally collecting digits or speech.",
        |c, acx, at| c.app_playback(acx, at).map(Code::Media),
        schema_playback,
    )
    .outputs(&["rustflow_speech_result"])
    .label(playback_label),
    App::step(
        Family::Media,
        "tts",
        "Speaks text through the TTS engine, optionally collecting digits or speech.",
        |c, acx, at| c.app_tts(acx, at).map(Code::Media),
        schema_tts,
    )
    .outputs(&["rustflow_speech_result"]),
    App::step(
        Family::Media,
        "backgroundPlayback",
        "Mixes a file under the call's audio.",
        |c, acx, at| c.app_background_playback(acx, at).map(Code::Media),
        schema_background_playback,
    ),
    App::step(
        Family::Media,
        "backgroundPlaybackStop",
        "Stops the background playback.",
        |_, _, _| Some(Code::Media(Step::BackgroundStop)),
        no_args,
    ),
    App::step(
        Family::Media,
        "recordFile",
        "Records the caller to a file in the recordings directory.",
        |c, acx, at| c.app_record_file(acx, at).map(Code::Media),
        schema_record_file,
    )
    .outputs(&["rustflow_record_file"]),
    App::step(
        Family::Media,
        "recordSession",
        "Starts or stops a recording of the whole session.",
        |c, acx, at| c.app_record_session(acx, at).map(Code::Media),
        schema_record_session,
    )
    .outputs(&["rustflow_record_session_file"]),
    App::step(
        Family::Media,
        "flushDTMF",
        "Discards queued DTMF.",
        |_, _, _| Some(Code::Media(Step::FlushDtmf)),
        no_args,
    ),
    App::step(
        Family::Media,
        "flushDtmf",
        "Discards queued DTMF (the original's spelling).",
        |_, _, _| Some(Code::Media(Step::FlushDtmf)),
        no_args,
    ),
    App::step(
        Family::Media,
        "inBandDTMF",
        "`start`/`stop` in-band DTMF detection.",
        |c, acx, at| c.app_in_band_dtmf(acx, at).map(Code::Media),
        schema_in_band_dtmf,
    ),
    App::step(
        Family::Media,
        "echo",
        "Echoes the caller's audio back until hangup (a delay in ms uses `delay_echo`).",
        |c, acx, at| c.app_echo(acx, at).map(Code::Media),
        schema_echo,
    ),
    App::step(
        Family::Media,
        "sleep",
        "Pauses with media flowing, in milliseconds.",
        |c, acx, at| c.app_sleep(acx, at).map(Code::Media),
        schema_sleep,
    ),
    App::step(
        Family::Media,
        "softSleep",
        "Waits without touching media, in milliseconds.",
        |c, acx, at| c.app_sleep(acx, at).map(Code::Media),
        schema_sleep,
    ),
    App::not_yet(Family::Media, "say"),
    App::not_yet(Family::Media, "setSounds"),
    App::not_yet(Family::Media, "speechAi"),
    App::not_yet(Family::Media, "speechAiV2"),
    App::not_yet(Family::Media, "voiceBot"),
    App::not_yet(Family::Media, "cv"),
];

/// A compiled media step.
#[derive(Debug)]
pub(crate) enum Step {
    Sleep(Num),
    SoftSleep(Num),
    Playback(Box<PlaybackSpec>),
    FlushDtmf,
    InBandDtmf(Template),
    /// `echo`: delay in ms (0 = plain echo).
    Echo(Num),
    BackgroundStart {
        file: FileSpec,
        volume_reduction: Num,
    },
    BackgroundStop,
    RecordFile(Box<RecordSpec>),
    RecordSession(Box<SessionSpec>),
}

impl Step {
    /// Whether the step needs the call's media.
    pub(crate) fn uses_media(&self) -> bool {
        !matches!(self, Step::SoftSleep(_))
    }
}

#[derive(Debug)]
pub(crate) enum FileSpec {
    Tone(Template),
    Silence(Num),
    Local(Template),
    MediaName(Template),
    MediaId(Template),
    Http(Template),
    Tts {
        text: Template,
        engine: Option<Template>,
        voice: Option<Template>,
        language: Option<Template>,
        ssml: bool,
    },
}

#[derive(Debug)]
pub(crate) struct DigitsSpec {
    pub set_var: Template,
    pub min: Num,
    pub max: Num,
    pub tries: Num,
    pub timeout: Num,
    pub digit_timeout: Option<Num>,
    pub terminators: Template,
    pub regexp: Option<Template>,
    pub flush_dtmf: Flag,
}

#[derive(Debug)]
pub(crate) struct SpeechSpec {
    pub set_var: Template,
    pub timeout: Num,
    pub lang: Option<Template>,
    pub min_words: Num,
    pub max_words: Num,
    pub vad_timeout: Num,
}

#[derive(Debug)]
pub(crate) struct PlaybackSpec {
    pub files: Vec<FileSpec>,
    pub digits: Option<DigitsSpec>,
    pub speech: Option<SpeechSpec>,
}

#[derive(Debug)]
pub(crate) struct RecordSpec {
    pub name: Template,
    pub format: Template,
    pub max_seconds: Num,
    pub silence_threshold: Num,
    pub silence_hits: Num,
    pub terminators: Template,
    pub voicemail: Flag,
}

#[derive(Debug)]
pub(crate) enum SessionSpec {
    Start {
        name: Template,
        format: Template,
        stereo: Flag,
        bridged: Flag,
        min_seconds: Num,
        follow_transfer: Flag,
    },
    Stop,
}

impl<'a> Compiler<'a> {
    pub(crate) fn app_sleep(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let app = acx.app;
        let pointer = acx.pointer.as_str();
        let value = match acx.value.as_object() {
            // `{"timeout": 1000}` is accepted as well as a bare number.
            Some(members) => match find_ci(members, "timeout") {
                Some(m) => &m.value,
                None => {
                    self.missing(acx, "timeout");
                    return None;
                }
            },
            None => acx.value,
        };
        let ms = self.num(value, pointer, app)?;
        Some(if app == "sleep" {
            Step::Sleep(ms)
        } else {
            Step::SoftSleep(ms)
        })
    }

    pub(crate) fn app_playback(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_playback(acx)
            .map(|p| Step::Playback(Box::new(p)))
    }

    pub(crate) fn app_tts(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_tts(acx).map(|p| Step::Playback(Box::new(p)))
    }

    pub(crate) fn app_background_playback(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        let Some(file) = find_ci(members, "file") else {
            self.missing(acx, "file");
            return None;
        };
        let file = self.compile_file_spec(&file.value, &pointer_join(pointer, &file.key))?;
        let volume_reduction = self.opt_num(members, "volumeReduction", pointer, 0).ok()?;
        Some(Step::BackgroundStart {
            file,
            volume_reduction,
        })
    }

    pub(crate) fn app_record_file(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_record(acx)
            .map(|r| Step::RecordFile(Box::new(r)))
    }

    pub(crate) fn app_record_session(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_session(acx)
            .map(|r| Step::RecordSession(Box::new(r)))
    }

    pub(crate) fn app_echo(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        // A delay in ms (`delay_echo`), or nothing / "" / 0 for a plain echo; an
        // object `{"delay": ms}` is accepted too.
        let value = match acx.value.as_object() {
            Some(members) => match find_ci(members, "delay") {
                Some(m) => &m.value,
                None => return Some(Step::Echo(Num::Const(0))),
            },
            None => acx.value,
        };
        match &value.kind {
            Kind::Null => Some(Step::Echo(Num::Const(0))),
            Kind::String(text) if text.trim().is_empty() => Some(Step::Echo(Num::Const(0))),
            _ => Some(Step::Echo(self.num(value, pointer, "echo")?)),
        }
    }

    pub(crate) fn app_in_band_dtmf(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let app = acx.app;
        let pointer = acx.pointer.as_str();
        Some(Step::InBandDtmf(self.text(acx.value, pointer, app)?))
    }

    pub(crate) fn compile_playback(&mut self, acx: &AppCx<'_>) -> Option<PlaybackSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let Some(files_member) = find_ci(members, "files") else {
            self.missing(acx, "files");
            return None;
        };
        let files_pointer = pointer_join(pointer, &files_member.key);
        let Some(items) = files_member.value.as_array() else {
            self.error(
                &files_pointer,
                files_member.value.start,
                format!(
                    "`playback.files` must be an array of files, found {}",
                    files_member.value.type_name()
                ),
            );
            return None;
        };
        let speech_member = find_ci(members, "getSpeech");
        if items.is_empty() && speech_member.is_none() {
            self.error(
                &files_pointer,
                files_member.value.start,
                "`playback.files` is empty: nothing to play".to_string(),
            );
            return None;
        }
        let mut files = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.compile_file_spec(item, &format!("{files_pointer}/{i}")) {
                Some(file) => files.push(file),
                None => ok = false,
            }
        }
        let (digits, speech) = self.capture(acx, members)?;
        ok.then_some(PlaybackSpec {
            files,
            digits,
            speech,
        })
    }

    /// The capture options of `playback` and `tts`: `getDigits` or `getSpeech`, not both.
    pub(crate) fn capture(
        &mut self,
        acx: &AppCx<'_>,
        members: &[Member],
    ) -> Option<(Option<DigitsSpec>, Option<SpeechSpec>)> {
        let pointer = acx.pointer.as_str();
        let digits = self
            .optional(members, "getDigits", pointer, Self::compile_digits)
            .ok()?;
        let speech = self
            .optional(members, "getSpeech", pointer, Self::compile_speech)
            .ok()?;
        if digits.is_some() && speech.is_some() {
            self.error(
                pointer,
                acx.value.start,
                format!("`{}` cannot have both `getDigits` and `getSpeech`", acx.app),
            );
            return None;
        }
        Some((digits, speech))
    }

    /// The `tts` application: one spoken text, with the capture options of `playback`.
    pub(crate) fn compile_tts(&mut self, acx: &AppCx<'_>) -> Option<PlaybackSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let file = self.tts_settings(members, pointer, acx.value.start, "tts")?;
        let (digits, speech) = self.capture(acx, members)?;
        Some(PlaybackSpec {
            files: vec![file],
            digits,
            speech,
        })
    }

    /// TTS settings (the `tts` app's object, or a playback file's `tts`): `text` (or `ssml`),
    /// `textType` (`text` | `ssml`), `provider`, `voice`, `language`.
    pub(crate) fn tts_settings(
        &mut self,
        members: &[Member],
        pointer: &str,
        start: usize,
        what: &str,
    ) -> Option<FileSpec> {
        let text = self.opt_text(members, "text", pointer).ok()?;
        let ssml_text = self.opt_text(members, "ssml", pointer).ok()?;
        let mut ssml = false;
        if let Some(m) = find_ci(members, "textType") {
            let p = pointer_join(pointer, &m.key);
            match m.value.as_str() {
                Some("" | "text") => {}
                Some("ssml") => ssml = true,
                Some(other) => {
                    self.error(
                        &p,
                        m.value.start,
                        format!("`textType` must be `text` or `ssml`, found `{other}`"),
                    );
                    return None;
                }
                None => {
                    self.error(
                        &p,
                        m.value.start,
                        format!("`textType` must be a string, found {}", m.value.type_name()),
                    );
                    return None;
                }
            }
        }
        let text = match (text, ssml_text) {
            (Some(_), Some(_)) => {
                self.error(
                    pointer,
                    start,
                    "give either `text` or `ssml`, not both".to_string(),
                );
                return None;
            }
            (Some(text), None) => text,
            (None, Some(document)) => {
                ssml = true;
                document
            }
            (None, None) => {
                self.error(
                    pointer,
                    start,
                    format!("`{what}` is missing the required field `text` (or `ssml`)"),
                );
                return None;
            }
        };
        Some(FileSpec::Tts {
            text,
            engine: self.opt_text(members, "provider", pointer).ok()?,
            voice: self.opt_text(members, "voice", pointer).ok()?,
            language: self.opt_text(members, "language", pointer).ok()?,
            ssml,
        })
    }

    pub(crate) fn compile_file_spec(&mut self, item: &Value, pointer: &str) -> Option<FileSpec> {
        let Some(members) = item.as_object() else {
            self.error(
                pointer,
                item.start,
                format!(
                    "a playback file must be an object {{type, name, id, ...}}, found {}",
                    item.type_name()
                ),
            );
            return None;
        };
        let field = |key: &str| find_ci(members, key);
        let file_type = match field("type") {
            Some(m) => match m.value.as_str() {
                Some(t) => t.to_string(),
                None => {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        format!(
                            "file `type` must be a string, found {}",
                            m.value.type_name()
                        ),
                    );
                    return None;
                }
            },
            None => String::new(),
        };
        let required = |this: &mut Self, key: &str, what: &str| -> Option<Template> {
            match field(key) {
                Some(m) => this.text(&m.value, &pointer_join(pointer, &m.key), key),
                None => {
                    this.error(
                        pointer,
                        item.start,
                        format!("a `{what}` file needs `{key}`"),
                    );
                    None
                }
            }
        };
        match file_type.as_str() {
            "tone" => Some(FileSpec::Tone(required(self, "name", "tone")?)),
            "silence" => match field("name") {
                Some(m) => Some(FileSpec::Silence(self.num(
                    &m.value,
                    &pointer_join(pointer, &m.key),
                    "name",
                )?)),
                None => {
                    self.error(
                        pointer,
                        item.start,
                        "a `silence` file needs `name` (milliseconds)".to_string(),
                    );
                    None
                }
            },
            "local" => Some(FileSpec::Local(required(self, "name", "local")?)),
            "http_audio" => {
                let Some(args) = field("args") else {
                    self.error(
                        pointer,
                        item.start,
                        "an `http_audio` file needs `args.url`".to_string(),
                    );
                    return None;
                };
                let args_pointer = pointer_join(pointer, &args.key);
                match args.value.as_object().and_then(|a| find_ci(a, "url")) {
                    Some(url) => Some(FileSpec::Http(self.text(
                        &url.value,
                        &pointer_join(&args_pointer, &url.key),
                        "url",
                    )?)),
                    None => {
                        self.error(
                            &args_pointer,
                            args.value.start,
                            "an `http_audio` file needs `args.url`".to_string(),
                        );
                        None
                    }
                }
            }
            "tts" => {
                let Some(tts) = field("tts") else {
                    self.error(
                        pointer,
                        item.start,
                        "a `tts` file needs a `tts` object with `text`".to_string(),
                    );
                    return None;
                };
                let tts_pointer = pointer_join(pointer, &tts.key);
                let tts_members = self.object_at(&tts.value, &tts_pointer, "tts")?;
                self.tts_settings(tts_members, &tts_pointer, tts.value.start, "tts file")
            }
            // No type (or the MIME type the designer stores): the media library.
            t if t.is_empty() || t.starts_with("audio/") || t.starts_with("video/") => {
                if let Some(id) = field("id") {
                    Some(FileSpec::MediaId(self.text(
                        &id.value,
                        &pointer_join(pointer, &id.key),
                        "id",
                    )?))
                } else if let Some(name) = field("name") {
                    Some(FileSpec::MediaName(self.text(
                        &name.value,
                        &pointer_join(pointer, &name.key),
                        "name",
                    )?))
                } else {
                    self.error(
                        pointer,
                        item.start,
                        "a media file needs `id` or `name`".to_string(),
                    );
                    None
                }
            }
            other => {
                self.error(
                    pointer,
                    item.start,
                    format!(
                        "unknown file type `{other}` (expected tone, silence, local, http_audio, tts, or no type with `name`/`id`){}",
                        crate::lint::suggest_file_type(other)
                            .map(|known| format!("; did you mean `{known}`?"))
                            .unwrap_or_default()
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn compile_digits(&mut self, value: &Value, pointer: &str) -> Option<DigitsSpec> {
        let members = self.object_at(value, pointer, "getDigits")?;
        let mut args = Args::new(members, pointer);
        let min = args.num(self, "min", 1);
        let max = args.num(self, "max", 1);
        let tries = args.num(self, "tries", 1);
        let timeout = args.num(self, "timeout", 3000);
        let digit_timeout =
            find_ci(members, "digitTimeout").map(|_| args.num(self, "digitTimeout", 0));
        let set_var = args
            .text(self, "setVar")
            .unwrap_or_else(|| Template::literal("MyVar"));
        let terminators = args
            .text(self, "terminators")
            .unwrap_or_else(|| Template::literal("#"));
        let regexp = args.text(self, "regexp");
        if let (Some(re), Some(m)) = (&regexp, find_ci(members, "regexp")) {
            if let Some(source) = re.as_literal() {
                if let Err(e) = regex::Regex::new(source) {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        format!(
                            "regular expression does not compile: {}",
                            first_line(&e.to_string())
                        ),
                    );
                    args.ok = false;
                }
            }
        }
        let flush_dtmf = args.flag(self, "flushDTMF");
        args.ok.then_some(DigitsSpec {
            set_var,
            min,
            max,
            tries,
            timeout,
            digit_timeout,
            terminators,
            regexp,
            flush_dtmf,
        })
    }

    pub(crate) fn compile_speech(&mut self, value: &Value, pointer: &str) -> Option<SpeechSpec> {
        let members = self.object_at(value, pointer, "getSpeech")?;
        let mut args = Args::new(members, pointer);
        let timeout = args.num(self, "timeout", 0);
        let min_words = args.num(self, "minWords", 0);
        let max_words = args.num(self, "maxWords", 0);
        let vad_timeout = args.num(self, "vadTimeout", 0);
        let set_var = self
            .opt_text(members, "setVar", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("google_transcript"));
        let lang = self.opt_text(members, "lang", pointer).ok()?;
        args.ok.then_some(SpeechSpec {
            set_var,
            timeout,
            lang,
            min_words,
            max_words,
            vad_timeout,
        })
    }

    pub(crate) fn compile_record(&mut self, acx: &AppCx<'_>) -> Option<RecordSpec> {
        let empty: &[Member] = &[];
        let members = match &acx.value.kind {
            Kind::Object(members) => members.as_slice(),
            Kind::String(s) if s.is_empty() => empty,
            _ => {
                self.type_error(acx, acx.value, "an object");
                return None;
            }
        };
        let pointer = acx.pointer.as_str();
        Some(RecordSpec {
            name: self
                .opt_text(members, "name", pointer)
                .ok()?
                .unwrap_or_else(|| Template::parse("recordFile_${strepoch()}")),
            format: self
                .opt_text(members, "type", pointer)
                .ok()?
                .unwrap_or_else(|| Template::literal("mp3")),
            max_seconds: self.opt_num(members, "maxSec", pointer, 60).ok()?,
            silence_threshold: self.opt_num(members, "silenceThresh", pointer, 200).ok()?,
            silence_hits: self.opt_num(members, "silenceHits", pointer, 5).ok()?,
            terminators: self
                .opt_text(members, "terminators", pointer)
                .ok()?
                .unwrap_or_else(|| Template::literal("")),
            voicemail: self.opt_flag(members, "voiceMail", pointer).ok()?,
        })
    }

    pub(crate) fn compile_session(&mut self, acx: &AppCx<'_>) -> Option<SessionSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let action = self.opt_text(members, "action", pointer).ok()?;
        if let Some(action) = &action {
            match action.as_literal() {
                Some("stop") => return Some(SessionSpec::Stop),
                Some("start" | "") | None => {}
                Some(other) => {
                    self.error(
                        pointer,
                        acx.value.start,
                        format!(
                            "`recordSession.action` must be `start` or `stop`, found `{other}`"
                        ),
                    );
                    return None;
                }
            }
        }
        Some(SessionSpec::Start {
            name: self
                .opt_text(members, "name", pointer)
                .ok()?
                .unwrap_or_else(|| {
                    Template::parse("${strepoch()}_${caller_id_number}_${destination_number}")
                }),
            format: self
                .opt_text(members, "type", pointer)
                .ok()?
                .unwrap_or_else(|| Template::literal("mp3")),
            stereo: self.opt_flag(members, "stereo", pointer).ok()?,
            bridged: self.opt_flag(members, "bridged", pointer).ok()?,
            min_seconds: self.opt_num(members, "minSec", pointer, 2).ok()?,
            follow_transfer: self.opt_flag(members, "followTransfer", pointer).ok()?,
        })
    }
}

impl Machine<'_> {
    #[inline]
    pub(crate) fn run_media(&mut self, step: &Step) -> StepResult {
        match step {
            Step::Sleep(ms) => {
                let ms = self.number(ms, "sleep")?;
                self.host.sleep(ms)?;
                Ok(Control::Next.into())
            }
            Step::SoftSleep(ms) => {
                let ms = self.number(ms, "softSleep")?;
                self.host.soft_sleep(ms)?;
                Ok(Control::Next.into())
            }
            Step::Playback(spec) => self.playback(spec),
            Step::RecordFile(spec) => {
                let request = RecordRequest {
                    name: self.expand(&spec.name).replace(' ', "_"),
                    format: self.expand(&spec.format).into_owned(),
                    max_seconds: self.number(&spec.max_seconds, "maxSec")?,
                    silence_threshold: self.number(&spec.silence_threshold, "silenceThresh")?,
                    silence_hits: self.number(&spec.silence_hits, "silenceHits")?,
                    terminators: self.expand(&spec.terminators).into_owned(),
                    voicemail: self.flag(&spec.voicemail, "voiceMail")?,
                };
                check_file_name(&request.name, &request.format)?;
                let path = self.host.record_file(&request)?;
                self.host.set_var("rustflow_record_file", &path)?;
                Ok(Control::Next.into())
            }
            Step::RecordSession(spec) => {
                let request = match &**spec {
                    SessionSpec::Stop => SessionRecording::Stop,
                    SessionSpec::Start {
                        name,
                        format,
                        stereo,
                        bridged,
                        min_seconds,
                        follow_transfer,
                    } => {
                        let name = self.expand(name).replace(' ', "_");
                        let format = self.expand(format).into_owned();
                        check_file_name(&name, &format)?;
                        SessionRecording::Start {
                            name,
                            format,
                            stereo: self.flag(stereo, "stereo")?,
                            bridged: self.flag(bridged, "bridged")?,
                            min_seconds: self.number(min_seconds, "minSec")?,
                            follow_transfer: self.flag(follow_transfer, "followTransfer")?,
                        }
                    }
                };
                let path = self.host.record_session(&request)?;
                if matches!(request, SessionRecording::Start { .. }) {
                    self.host.set_var("rustflow_record_session_file", &path)?;
                    Ok(Control::Next.noted("start"))
                } else {
                    Ok(Control::Next.noted("stop"))
                }
            }
            Step::BackgroundStart {
                file,
                volume_reduction,
            } => {
                let file = self.play_file(file)?;
                let volume = clamp_u32(self.number(volume_reduction, "volumeReduction")?);
                self.host.background_start(&file, volume)?;
                Ok(Control::Next.into())
            }
            Step::BackgroundStop => {
                self.host.background_stop()?;
                Ok(Control::Next.into())
            }
            Step::Echo(delay) => {
                let delay_ms = self.number(delay, "echo")?;
                self.host.echo(delay_ms)?;
                Ok(Control::Next.into())
            }
            Step::FlushDtmf => {
                self.host.flush_dtmf()?;
                Ok(Control::Next.into())
            }
            Step::InBandDtmf(mode) => {
                let mode = self.expand(mode);
                let start = !mode.trim().eq_ignore_ascii_case("stop");
                self.host.inband_dtmf(start)?;
                Ok(Control::Next.noted(if start { "start" } else { "stop" }))
            }
        }
    }

    pub(crate) fn play_file(&mut self, file: &FileSpec) -> Result<PlayFile, StepError> {
        Ok(match file {
            FileSpec::Tone(t) => PlayFile::Tone(self.expand(t).into_owned()),
            FileSpec::Silence(ms) => PlayFile::Silence {
                ms: self.number(ms, "silence")?,
            },
            FileSpec::Local(t) => PlayFile::Local(self.expand(t).into_owned()),
            FileSpec::MediaName(t) => PlayFile::MediaName(self.expand(t).into_owned()),
            FileSpec::MediaId(t) => PlayFile::MediaId(self.expand(t).into_owned()),
            FileSpec::Http(t) => PlayFile::Http(self.expand(t).into_owned()),
            FileSpec::Tts {
                text,
                engine,
                voice,
                language,
                ssml,
            } => {
                let engine = self.expand_opt(engine);
                let voice = self.expand_opt(voice);
                let language = self.expand_opt(language);
                let text = self.expand(text).into_owned();
                if text.trim().is_empty() {
                    return Err(StepError::Failed(
                        "the tts text expanded to nothing".to_string(),
                    ));
                }
                PlayFile::Tts {
                    text,
                    engine,
                    voice,
                    language,
                    ssml: *ssml,
                }
            }
        })
    }

    pub(crate) fn play_files(&mut self, files: &[FileSpec]) -> Result<Vec<PlayFile>, StepError> {
        files.iter().map(|f| self.play_file(f)).collect()
    }

    pub(crate) fn playback(&mut self, spec: &PlaybackSpec) -> StepResult {
        let files = self.play_files(&spec.files)?;
        if let Some(speech) = &spec.speech {
            let capture = SpeechCapture {
                set_var: self.expand(&speech.set_var).into_owned(),
                timeout_ms: self.number(&speech.timeout, "timeout")?,
                language: self.expand_opt(&speech.lang),
                min_words: clamp_u32(self.number(&speech.min_words, "minWords")?),
                max_words: clamp_u32(self.number(&speech.max_words, "maxWords")?),
                vad_timeout_ms: self.number(&speech.vad_timeout, "vadTimeout")?,
            };
            let outcome = self.host.detect_speech(&files, &capture)?;
            self.host.set_var(&capture.set_var, &outcome.transcript)?;
            self.host.set_var("rustflow_speech_result", &outcome.raw)?;
            return Ok(Control::Next.into());
        }
        let capture = match &spec.digits {
            Some(d) => {
                let timeout_ms = self.number(&d.timeout, "timeout")?;
                let digit_timeout_ms = match &d.digit_timeout {
                    Some(n) => self.number(n, "digitTimeout")?,
                    None => timeout_ms,
                };
                let regexp = match &d.regexp {
                    Some(t) => {
                        let source = self.expand(t).into_owned();
                        if t.as_literal().is_none() {
                            regex::Regex::new(&source).map_err(|e| {
                                StepError::Failed(format!(
                                    "`regexp` does not compile: {}",
                                    crate::compile::first_line(&e.to_string())
                                ))
                            })?;
                        }
                        Some(source).filter(|s| !s.is_empty())
                    }
                    None => None,
                };
                let min = clamp_u32(self.number(&d.min, "min")?);
                let max = clamp_u32(self.number(&d.max, "max")?);
                if max < min || max == 0 {
                    return Err(StepError::Failed(format!(
                        "getDigits needs 0 < min <= max, found min {min}, max {max}"
                    )));
                }
                Some(DigitCapture {
                    min,
                    max,
                    tries: clamp_u32(self.number(&d.tries, "tries")?).max(1),
                    timeout_ms,
                    digit_timeout_ms,
                    terminators: self.expand(&d.terminators).into_owned(),
                    regexp,
                    set_var: self.expand(&d.set_var).into_owned(),
                    flush_dtmf: self.flag(&d.flush_dtmf, "flushDTMF")?,
                })
            }
            None => None,
        };
        self.host.play(&files, capture.as_ref())?;
        Ok(Control::Next.into())
    }
}

/// Recording names become file names: no path separators, no climbing out.
fn check_file_name(name: &str, format: &str) -> Result<(), StepError> {
    for (what, text) in [("name", name), ("type", format)] {
        if text.is_empty() || text.contains(['/', '\\', '\0']) || text.contains("..") {
            return Err(StepError::Failed(format!(
                "recording {what} `{text}` is not a plain file name"
            )));
        }
    }
    Ok(())
}

// ---- argument schemas ----

fn schema_in_band_dtmf() -> Json {
    json!({
        "description": "`start` (default) or `stop`.",
        "type": "string"
    })
}

fn schema_playback() -> Json {
    let mut fields = vec![(
        "files",
        json!({ "type": "array", "items": reference("playbackFile"),
                    "description": "Files played in order." }),
    )];
    fields.extend(capture_fields());
    args(&fields, &["files"])
}

fn schema_record_file() -> Json {
    args(
        &[
            ("name", text("File name (default `recordFile_<epoch>`).")),
            ("type", text("Format and extension (default `mp3`).")),
            ("maxSec", number("Maximum length in seconds (default 60).")),
            (
                "silenceThresh",
                number("Energy level taken as silence (default 200)."),
            ),
            (
                "silenceHits",
                number("Seconds of silence that stop the recording (default 5)."),
            ),
            ("terminators", text("DTMF keys that stop the recording.")),
            ("voiceMail", flag("Tags the recording as voicemail.")),
        ],
        &[],
    )
}

fn schema_record_session() -> Json {
    args(
        &[
            (
                "action",
                json!({ "type": "string", "description": "`stop` stops; anything else starts." }),
            ),
            ("name", text("File name.")),
            ("type", text("Format (default `mp3`).")),
            ("stereo", flag("Each party on its own channel.")),
            ("bridged", flag("Record only while bridged.")),
            (
                "minSec",
                number("Shorter recordings are discarded (default 2)."),
            ),
            ("followTransfer", flag("Keep recording across transfers.")),
        ],
        &[],
    )
}

fn schema_tts() -> Json {
    let mut fields = vec![
        ("text", text("Text to speak (expanded).")),
        ("textType", text("`text` or `ssml`.")),
        (
            "ssml",
            text("An SSML document, instead of `text`, passed to the engine unchanged."),
        ),
        (
            "provider",
            text("TTS provider, mapped to an engine/voice by configuration."),
        ),
        ("language", text("Language of the text, e.g. `en-US`.")),
        ("voice", text("Voice.")),
        ("profile", args(&[("id", reference("scalar"))], &[])),
    ];
    fields.extend(capture_fields());
    args(&fields, &["text"])
}

fn schema_echo() -> Json {
    json!({
        "description": "Delay in milliseconds (0 or empty = plain echo), or `{delay}`.",
        "anyOf": [{ "$ref": "#/$defs/number" }, { "type": "string" }, { "type": "null" },
                  { "type": "object", "properties": { "delay": { "$ref": "#/$defs/number" } } }]
    })
}

fn schema_sleep() -> Json {
    json!({
        "description": "Milliseconds.",
        "$ref": "#/$defs/number"
    })
}

fn schema_background_playback() -> Json {
    args(
        &[
            ("file", reference("playbackFile")),
            (
                "volumeReduction",
                number("Volume reduction of the background."),
            ),
            ("name", text("Name of this background playback.")),
        ],
        &["file"],
    )
}

/// `playback` in a graph node: the names (or ids) of its files.
fn playback_label(args: &Json) -> String {
    field(args, "files")
        .and_then(|(_, files)| files.as_array())
        .map(|files| {
            files
                .iter()
                .map(|file| {
                    let name = scalar(file, "name");
                    if name.is_empty() {
                        scalar(file, "id")
                    } else {
                        name
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
