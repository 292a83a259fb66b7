//! Sessions and their channels: variables, answer/hangup, readiness, playback and sleep.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::event::Event;
use super::{NulError, Status, c_string};
use crate::ffi;

/// A call leg, borrowed for the duration of a FreeSWITCH callback (the dialplan app).
///
/// Not `Send`: FreeSWITCH owns the session thread and the session must be used only on it.
pub struct Session<'a> {
    raw: NonNull<ffi::switch_core_session_t>,
    _callback: PhantomData<&'a ffi::switch_core_session_t>,
    _not_send: PhantomData<*mut ()>,
}

/// The `file, func, line` FreeSWITCH's `*_perform_*` functions log with: our caller's.
struct CallSite {
    file: std::ffi::CString,
    line: i32,
}

impl CallSite {
    #[track_caller]
    fn here() -> CallSite {
        let location = std::panic::Location::caller();
        CallSite {
            file: super::c_string_lossy(location.file()),
            line: i32::try_from(location.line()).unwrap_or(i32::MAX),
        }
    }
}

impl<'a> Session<'a> {
    /// Wraps the session FreeSWITCH passed to a callback; `None` for NULL.
    ///
    /// # Safety
    /// `raw` must be NULL or a live session that stays valid (FreeSWITCH holds its read lock)
    /// for the lifetime the caller picks, used only on the current thread.
    pub(crate) unsafe fn from_raw(raw: *mut ffi::switch_core_session_t) -> Option<Session<'a>> {
        NonNull::new(raw).map(|raw| Session {
            raw,
            _callback: PhantomData,
            _not_send: PhantomData,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::switch_core_session_t {
        self.raw.as_ptr()
    }

    /// The call's uuid.
    pub fn uuid(&self) -> String {
        // SAFETY: the session is live (from_raw's contract); the uuid is a NUL-terminated
        // string owned by the session, copied before we return.
        unsafe {
            let uuid = ffi::switch_core_session_get_uuid(self.raw.as_ptr());
            if uuid.is_null() {
                String::new()
            } else {
                CStr::from_ptr(uuid).to_string_lossy().into_owned()
            }
        }
    }

    /// The session's channel.
    pub fn channel(&self) -> Channel<'_> {
        // SAFETY: the session is live; every session has a channel for its whole life.
        let raw = unsafe { ffi::switch_core_session_get_channel(self.raw.as_ptr()) };
        Channel {
            raw: NonNull::new(raw),
            _session: PhantomData,
        }
    }

    /// Plays one file string (`tone_stream://…`, `silence_stream://…`, a path, `say:…`, ...).
    pub fn play_file(&self, file: &str) -> Result<(), PlayError> {
        let file = c_string(file, "file name").map_err(PlayError::Nul)?;
        // SAFETY: live session; `file` is NUL-terminated; no file handle and no input args
        // (NULL is allowed for both).
        let status = unsafe {
            ffi::switch_ivr_play_file(
                self.raw.as_ptr(),
                std::ptr::null_mut(),
                file.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Pauses with media flowing (FreeSWITCH `sleep`).
    pub fn sleep(&self, ms: u32) -> Result<(), Status> {
        // SAFETY: live session; NULL input args are allowed.
        let status = unsafe {
            ffi::switch_ivr_sleep(
                self.raw.as_ptr(),
                ms,
                ffi::switch_bool_t::SWITCH_TRUE,
                std::ptr::null_mut(),
            )
        };
        Status::check(status)
    }

    /// Plays `file` and collects digits (FreeSWITCH's play-and-get-digits). Returns the digits
    /// (also stored in `var_name`; "" when nothing valid came).
    pub fn play_and_get_digits(
        &self,
        capture: &DigitRequest<'_>,
        file: &str,
    ) -> Result<String, PlayError> {
        let c = |text: &str, what| c_string(text, what).map_err(PlayError::Nul);
        let terminators = c(capture.terminators, "terminators")?;
        let file = c(file, "file name")?;
        let invalid = c"silence_stream://250";
        let var = c(capture.var_name, "variable name")?;
        let regex = capture
            .regex
            .map(|r| c(r, "regular expression"))
            .transpose()?;
        let mut buffer = vec![0u8; 128];
        // SAFETY: live session; every string is NUL-terminated and outlives the call; the
        // digit buffer is writable for the length passed (one byte kept for the NUL).
        let status = unsafe {
            ffi::switch_play_and_get_digits(
                self.raw.as_ptr(),
                capture.min,
                capture.max,
                capture.tries,
                capture.timeout_ms,
                terminators.as_ptr(),
                file.as_ptr(),
                invalid.as_ptr(),
                var.as_ptr(),
                buffer.as_mut_ptr().cast(),
                (buffer.len() - 1) as u32,
                regex.as_ref().map_or(std::ptr::null(), |r| r.as_ptr()),
                capture.digit_timeout_ms,
                std::ptr::null(),
            )
        };
        let digits = CStr::from_bytes_until_nul(&buffer)
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Status::check(status) {
            Ok(()) => Ok(digits),
            // No valid input after every try: not an error, the flow sees empty digits. The
            // core leaves the last (invalid) input in `var_name`: clear it.
            Err(_) if self.channel().up() => {
                let _ = self.channel().unset_var(capture.var_name);
                Ok(String::new())
            }
            Err(s) => Err(PlayError::Status(s)),
        }
    }

    /// Plays `file` while an ASR engine listens; returns the engine's raw result.
    pub fn play_and_detect_speech(
        &self,
        file: &str,
        engine: &str,
        grammar: &str,
        timeout_ms: u32,
    ) -> Result<String, PlayError> {
        let c = |text: &str, what| c_string(text, what).map_err(PlayError::Nul);
        let (file, engine, grammar) = (
            c(file, "file name")?,
            c(engine, "ASR engine")?,
            c(grammar, "grammar")?,
        );
        let mut result: *mut c_char = std::ptr::null_mut();
        // SAFETY: live session; NUL-terminated strings; `result` is a valid out-pointer that
        // receives NULL or a malloc()ed string; NULL input args are allowed.
        let status = unsafe {
            ffi::switch_ivr_play_and_detect_speech(
                self.raw.as_ptr(),
                file.as_ptr(),
                engine.as_ptr(),
                grammar.as_ptr(),
                &mut result,
                timeout_ms,
                std::ptr::null_mut(),
            )
        };
        // The result belongs to the session (its pool, or a literal ""): copy, never free.
        let text = if result.is_null() {
            String::new()
        } else {
            // SAFETY: non-NULL, NUL-terminated and alive as long as the session.
            unsafe { CStr::from_ptr(result) }
                .to_string_lossy()
                .into_owned()
        };
        Status::check(status).map_err(PlayError::Status)?;
        Ok(text)
    }

    /// Handles signalling queued for this session (e.g. a remote hangup) without media.
    pub fn process_signals(&self) {
        // SAFETY: live session, on its own thread.
        unsafe {
            ffi::switch_ivr_parse_all_signal_data(self.raw.as_ptr());
        }
    }

    /// Echoes the caller's audio back (after `delay_ms` when not 0) until the call ends.
    pub fn echo(&self, delay_ms: u32) {
        // SAFETY: live session on its own thread; NULL input args are allowed.
        unsafe {
            if delay_ms == 0 {
                ffi::switch_ivr_session_echo(self.raw.as_ptr(), std::ptr::null_mut());
            } else {
                ffi::switch_ivr_delay_echo(self.raw.as_ptr(), delay_ms);
            }
        }
    }

    /// Starts or stops in-band DTMF detection.
    pub fn inband_dtmf(&self, start: bool) -> Result<(), Status> {
        // SAFETY: live session.
        let status = unsafe {
            if start {
                ffi::switch_ivr_inband_dtmf_session(self.raw.as_ptr())
            } else {
                ffi::switch_ivr_stop_inband_dtmf_session(self.raw.as_ptr())
            }
        };
        Status::check(status)
    }

    /// Records the caller into `path` until silence, a terminator key, `limit_s` or hangup.
    pub fn record_file(
        &self,
        path: &str,
        limit_s: u32,
        silence_threshold: u32,
        silence_hits: u32,
    ) -> Result<(), PlayError> {
        let path = c_string(path, "file name").map_err(PlayError::Nul)?;
        // A zeroed handle with only the silence detection set: what mod_dptools' record does.
        let mut handle = ffi::switch_file_handle_t {
            thresh: silence_threshold,
            silence_hits,
            ..Default::default()
        };
        // SAFETY: live session; the handle is a zero-initialised switch_file_handle_t that
        // outlives the call; NUL-terminated path; NULL input args are allowed.
        let status = unsafe {
            ffi::switch_ivr_record_file(
                self.raw.as_ptr(),
                &mut handle,
                path.as_ptr(),
                std::ptr::null_mut(),
                limit_s,
            )
        };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Starts recording the whole call into `path` in the background (a media bug).
    pub fn record_session(&self, path: &str) -> Result<(), PlayError> {
        let path = c_string(path, "file name").map_err(PlayError::Nul)?;
        // SAFETY: live session; NUL-terminated path; NULL file handle is allowed.
        let status = unsafe {
            ffi::switch_ivr_record_session(
                self.raw.as_ptr(),
                path.as_ptr(),
                0,
                std::ptr::null_mut(),
            )
        };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Stops the background recording into `path`.
    pub fn stop_record_session(&self, path: &str) -> Result<(), PlayError> {
        let path = c_string(path, "file name").map_err(PlayError::Nul)?;
        // SAFETY: live session; NUL-terminated path.
        let status =
            unsafe { ffi::switch_ivr_stop_record_session(self.raw.as_ptr(), path.as_ptr()) };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Mixes `file` under the call's audio (`flags` as FreeSWITCH's displace: `m` = mux).
    pub fn displace(&self, file: &str, flags: &str) -> Result<(), PlayError> {
        let file = c_string(file, "file name").map_err(PlayError::Nul)?;
        let flags = c_string(flags, "flags").map_err(PlayError::Nul)?;
        // SAFETY: live session; NUL-terminated strings copied by FreeSWITCH.
        let status = unsafe {
            ffi::switch_ivr_displace_session(self.raw.as_ptr(), file.as_ptr(), 0, flags.as_ptr())
        };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Stops mixing `file`.
    pub fn stop_displace(&self, file: &str) -> Result<(), PlayError> {
        let file = c_string(file, "file name").map_err(PlayError::Nul)?;
        // SAFETY: live session; NUL-terminated string.
        let status =
            unsafe { ffi::switch_ivr_stop_displace_session(self.raw.as_ptr(), file.as_ptr()) };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Runs a FreeSWITCH dialplan application on this session (blocking, like the dialplan).
    /// `arg` is passed as data: FreeSWITCH's `${...}` expansion of it is switched off for the
    /// call (`app_disable_expand_variables`) and the previous setting restored afterwards.
    pub fn execute_application(&self, app: &str, arg: &str) -> Result<(), PlayError> {
        const NO_EXPAND: &str = "app_disable_expand_variables";
        let channel = self.channel();
        let previous = channel.var(NO_EXPAND);
        channel
            .set_var(NO_EXPAND, "true")
            .map_err(|_| PlayError::Status(Status(ffi::switch_status_t::SWITCH_STATUS_GENERR)))?;
        let result = self.execute_application_raw(app, arg);
        let _ = match previous {
            Some(value) => channel.set_var(NO_EXPAND, &value),
            None => channel.unset_var(NO_EXPAND),
        };
        result
    }

    fn execute_application_raw(&self, app: &str, arg: &str) -> Result<(), PlayError> {
        let app = c_string(app, "application name").map_err(PlayError::Nul)?;
        let arg = c_string(arg, "application argument").map_err(PlayError::Nul)?;
        // SAFETY: live session on its own thread; NUL-terminated strings; NULL flags allowed.
        let status = unsafe {
            ffi::switch_core_session_execute_application_get_flags(
                self.raw.as_ptr(),
                app.as_ptr(),
                arg.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        Status::check(status).map_err(PlayError::Status)
    }

    /// Bridges this call (on its own thread) with `peer`, an idle leg such as one
    /// [`originate_detached`] answered; returns when the bridge ends. If this call is already
    /// gone, FreeSWITCH hangs the peer up.
    pub fn bridge_with(&self, peer: &LockedSession) -> Result<(), Status> {
        // SAFETY: this session is live and we are on its thread; the peer is live (we hold its
        // read lock for the whole call); NULL callback and data are allowed.
        let status = unsafe {
            ffi::switch_ivr_multi_threaded_bridge(
                self.raw.as_ptr(),
                peer.raw.as_ptr(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        Status::check(status)
    }

    /// Calls `dial_string` with `variables` on every leg; on answer bridges this call to the
    /// answering leg until either side hangs up. `Ok(())` = a leg answered and was bridged;
    /// `Err(cause)` = no leg answered, with FreeSWITCH's cause.
    pub fn originate_and_bridge(
        &self,
        dial_string: &str,
        variables: &Event,
        timeout_s: u32,
    ) -> Result<Result<(), u32>, NulError> {
        let dial = c_string(dial_string, "dial string")?;
        // SAFETY: this session is live and we are on its thread; no cancel cause.
        let peer = unsafe {
            originate(
                self.raw.as_ptr(),
                &dial,
                variables,
                timeout_s,
                std::ptr::null_mut(),
            )
        };
        Ok(peer.map(|peer| {
            // As the dialplan's bridge: the bridge's own outcome is the call's, not ours.
            let _ = self.bridge_with(&peer);
        }))
    }
}

/// A session found by uuid ([`LockedSession::locate`]) or answered by
/// [`originate_detached`], read-locked until dropped.
///
/// Not `Send`: FreeSWITCH wants the read lock released on the thread that took it, so threads
/// pass uuids, never locked sessions. Only thread-safe operations are offered on it (variables,
/// flags, hangup); media stays on the session's own thread, except [`Session::bridge_with`],
/// where the calling session's thread runs the bridge and the peer is idle.
pub struct LockedSession {
    raw: NonNull<ffi::switch_core_session_t>,
    _not_send: PhantomData<*mut ()>,
}

impl LockedSession {
    /// The live session with this uuid, or `None` when there is none or it is hanging up.
    #[track_caller]
    pub fn locate(uuid: &str) -> Option<LockedSession> {
        let uuid = c_string(uuid, "uuid").ok()?;
        let site = CallSite::here();
        // SAFETY: NUL-terminated strings that outlive the call; the result is NULL or a
        // session read-locked for us, released exactly once by Drop.
        let raw = unsafe {
            ffi::switch_core_session_perform_locate(
                uuid.as_ptr(),
                site.file.as_ptr(),
                c"rustflow".as_ptr(),
                site.line,
            )
        };
        NonNull::new(raw).map(|raw| LockedSession {
            raw,
            _not_send: PhantomData,
        })
    }

    /// The session, for its uuid and channel.
    pub fn session(&self) -> Session<'_> {
        Session {
            raw: self.raw,
            _callback: PhantomData,
            _not_send: PhantomData,
        }
    }
}

impl Drop for LockedSession {
    fn drop(&mut self) {
        // SAFETY: we hold exactly one read lock on this live session (locate or originate
        // gave it to us) and release it once, on the thread that took it (not Send).
        unsafe { ffi::switch_core_session_rwunlock(self.raw.as_ptr()) };
    }
}

/// What the module wants to hear when a watched leg hangs up: its uuid, on the thread that
/// hung it up (keep it short: that is FreeSWITCH's signalling thread).
static HANGUP_NOTIFY: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Sets, once per process, what [`LockedSession::watch_hangup`] reports to.
pub fn set_hangup_notify(notify: fn(&str)) {
    let _ = HANGUP_NOTIFY.set(notify);
}

/// The state-change hook: reports the leg's uuid once it is hanging up.
unsafe extern "C" fn state_changed(raw: *mut ffi::switch_core_session_t) -> ffi::switch_status_t {
    super::guard::edge("a state-change hook", || {
        // SAFETY: FreeSWITCH calls the hook with the live session whose state changed, on
        // the thread that changed it, for the length of this call.
        let Some(session) = (unsafe { Session::from_raw(raw) }) else {
            return;
        };
        if !session.channel().up()
            && let Some(notify) = HANGUP_NOTIFY.get()
        {
            notify(&session.uuid());
        }
    });
    ffi::switch_status_t::SWITCH_STATUS_SUCCESS
}

/// A hangup watch on a leg ([`LockedSession::watch_hangup`]); removed when dropped.
pub struct HangupWatch<'l> {
    leg: &'l LockedSession,
}

impl Drop for HangupWatch<'_> {
    fn drop(&mut self) {
        // SAFETY: the leg is live (its read lock is held for the watch's whole life) and the
        // hook was added to it by `watch_hangup`.
        unsafe {
            ffi::switch_core_event_hook_remove_state_change(
                self.leg.raw.as_ptr(),
                Some(state_changed),
            );
        }
    }
}

impl LockedSession {
    /// Hands an idle leg (one [`originate_detached`] answered) to a dialplan application of
    /// this module, which then runs on the leg's own thread: what `originate … &app(data)`
    /// does, through the inline dialplan. `data` may hold no `,` (the inline dialplan's
    /// separator of applications).
    pub fn run_application(&self, app: &str, data: &str) -> Result<(), String> {
        if data.contains(',') || app.contains([',', ':']) {
            return Err(format!("cannot hand a leg to `{app}` with data {data:?}"));
        }
        let extension =
            c_string(&format!("{app}:{data}"), "extension").map_err(|e| e.to_string())?;
        // SAFETY: the leg is live (read-locked); NUL-terminated strings that outlive the call,
        // which copies them; a NULL context is allowed (FreeSWITCH uses "default").
        let status = unsafe {
            ffi::switch_ivr_session_transfer(
                self.raw.as_ptr(),
                extension.as_ptr(),
                c"inline".as_ptr(),
                std::ptr::null(),
            )
        };
        Status::check(status).map_err(|s| format!("the transfer to `{app}` failed: {s}"))
    }

    /// Reports this leg's uuid to the [`set_hangup_notify`] function when it hangs up, until
    /// the watch is dropped (which must happen while this lock is held: the borrow sees to it).
    pub fn watch_hangup(&self) -> Result<HangupWatch<'_>, Status> {
        // SAFETY: the leg is live (read-locked); the hook is a plain function that stays valid
        // as long as the module is loaded, and it is removed before the lock is released.
        let status = unsafe {
            ffi::switch_core_event_hook_add_state_change(self.raw.as_ptr(), Some(state_changed))
        };
        Status::check(status)?;
        Ok(HangupWatch { leg: self })
    }
}

/// Calls `dial_string` with no A-leg (from a thread that has no session: a queue offer). The
/// answered leg comes back read-locked and idle (CS_CONSUME_MEDIA) until someone bridges or
/// hangs it up. `cancel`, set to a hangup cause from another thread while ringing, ends the
/// originate with that cause. `Err(cause)` = no leg answered.
pub fn originate_detached(
    dial_string: &str,
    variables: &Event,
    timeout_s: u32,
    cancel: &std::sync::atomic::AtomicU32,
) -> Result<Result<LockedSession, u32>, NulError> {
    let dial = c_string(dial_string, "dial string")?;
    // SAFETY: no A-leg; `cancel` outlives the call (originate returns before the borrow ends)
    // and is a u32 like switch_call_cause_t (repr(transparent) over c_uint); FreeSWITCH only
    // reads it, and we write it atomically.
    Ok(unsafe {
        originate(
            std::ptr::null_mut(),
            &dial,
            variables,
            timeout_s,
            cancel.as_ptr().cast::<ffi::switch_call_cause_t>(),
        )
    })
}

/// `switch_ivr_originate` as both callers use it: the answered leg read-locked, or the cause.
///
/// # Safety
/// `session` is NULL or a live session of the calling thread; `cancel` is NULL or valid for
/// reads until this returns.
unsafe fn originate(
    session: *mut ffi::switch_core_session_t,
    dial: &std::ffi::CStr,
    variables: &Event,
    timeout_s: u32,
    cancel: *mut ffi::switch_call_cause_t,
) -> Result<LockedSession, u32> {
    let mut peer: *mut ffi::switch_core_session_t = std::ptr::null_mut();
    let mut cause = ffi::switch_call_cause_t::SWITCH_CAUSE_NONE;
    // SAFETY: the caller's contract for `session` and `cancel`; valid out-pointers; a
    // NUL-terminated dial string; the variables event stays ours (originate only adds to it);
    // every other argument may be NULL/0.
    let status = unsafe {
        ffi::switch_ivr_originate(
            session,
            &mut peer,
            &mut cause,
            dial.as_ptr(),
            timeout_s,
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null_mut(),
            variables.as_ptr(),
            0,
            cancel,
            std::ptr::null_mut(),
        )
    };
    match NonNull::new(peer).filter(|_| Status::check(status).is_ok()) {
        // The peer is read-locked for us: LockedSession releases it, exactly once.
        Some(raw) => Ok(LockedSession {
            raw,
            _not_send: PhantomData,
        }),
        None => Err(cause.0),
    }
}

/// What `play_and_get_digits` collects.
pub struct DigitRequest<'r> {
    pub min: u32,
    pub max: u32,
    pub tries: u32,
    pub timeout_ms: u32,
    pub digit_timeout_ms: u32,
    pub terminators: &'r str,
    pub var_name: &'r str,
    pub regex: Option<&'r str>,
}

/// Whether any call has the channel variable `name` set to exactly `value`.
pub fn any_session_with_var(name: &str, value: &str) -> bool {
    let (Ok(name), Ok(value)) = (
        c_string(name, "variable name"),
        c_string(value, "variable value"),
    ) else {
        return false;
    };
    // SAFETY: NUL-terminated strings; the result is NULL or a list we own and free once.
    unsafe {
        let mut matches =
            ffi::switch_core_session_findall_matching_var(name.as_ptr(), value.as_ptr());
        if matches.is_null() {
            return false;
        }
        ffi::switch_console_free_matches(&mut matches);
        true
    }
}

/// Whether the FreeSWITCH module `name` (e.g. `mod_conference`) is loaded.
pub fn module_loaded(name: &str) -> bool {
    let Ok(name) = c_string(name, "module name") else {
        return false;
    };
    // SAFETY: NUL-terminated string.
    Status::check(unsafe { ffi::switch_loadable_module_exists(name.as_ptr()) }).is_ok()
}

/// Why a file did not play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayError {
    Nul(NulError),
    Status(Status),
}

impl std::fmt::Display for PlayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlayError::Nul(e) => e.fmt(f),
            PlayError::Status(s) => s.fmt(f),
        }
    }
}

/// A session's channel. `None` inside only if FreeSWITCH returned no channel, in which case
/// every operation reports the call as gone.
pub struct Channel<'s> {
    raw: Option<NonNull<ffi::switch_channel_t>>,
    _session: PhantomData<&'s Session<'s>>,
}

/// Why a channel operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// The session has no channel.
    NoChannel,
    Nul(NulError),
    Status(Status),
}

impl std::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChannelError::NoChannel => f.write_str("the session has no channel"),
            ChannelError::Nul(e) => e.fmt(f),
            ChannelError::Status(s) => s.fmt(f),
        }
    }
}

impl Channel<'_> {
    fn raw(&self) -> Result<*mut ffi::switch_channel_t, ChannelError> {
        self.raw.map(NonNull::as_ptr).ok_or(ChannelError::NoChannel)
    }

    /// The channel's state; None without a channel.
    fn state(&self) -> Option<ffi::switch_channel_state_t> {
        let raw = self.raw().ok()?;
        // SAFETY: the channel lives as long as its session, which outlives `self`.
        Some(unsafe { ffi::switch_channel_get_state(raw) })
    }

    /// Whether the channel exists and is not hanging up (flows start on unanswered calls).
    pub fn up(&self) -> bool {
        self.state()
            .is_some_and(|s| s.0 < ffi::switch_channel_state_t::CS_HANGUP.0)
    }

    /// Whether the channel is ready (`switch_channel_ready`): up, and not being transferred or
    /// redirected away from the application.
    pub fn ready(&self) -> bool {
        let Ok(raw) = self.raw() else { return false };
        // SAFETY: live channel; reads state and flags.
        unsafe {
            ffi::switch_channel_test_ready(
                raw,
                ffi::switch_bool_t::SWITCH_TRUE,
                ffi::switch_bool_t::SWITCH_FALSE,
            ) != 0
        }
    }

    /// Ends the file the channel's thread is playing (a whole file list) at its next frame;
    /// safe from any thread. One-shot: a break requested between two plays ends the next one,
    /// so the owner clears it ([`Channel::clear_break`]) before playing anything else.
    pub fn request_break(&self) {
        let Ok(raw) = self.raw() else { return };
        // SAFETY: live channel; setting a flag takes the channel's flag mutex (any thread).
        unsafe { ffi::switch_channel_set_flag_value(raw, ffi::switch_channel_flag_t::CF_BREAK, 2) };
    }

    /// Drops a pending [`Channel::request_break`].
    pub fn clear_break(&self) {
        let Ok(raw) = self.raw() else { return };
        // SAFETY: live channel; clearing a flag takes the channel's flag mutex.
        unsafe { ffi::switch_channel_clear_flag(raw, ffi::switch_channel_flag_t::CF_BREAK) };
    }

    /// Whether the channel is still executing its dialplan applications (CS_EXECUTE): a
    /// channel handed to another call's bridge (call pickup) is not.
    pub fn executing(&self) -> bool {
        self.state() == Some(ffi::switch_channel_state_t::CS_EXECUTE)
    }

    /// Whether the call has been answered (not only pre-answered).
    pub fn answered(&self) -> bool {
        let Ok(raw) = self.raw() else { return false };
        // SAFETY: live channel; a plain flag read.
        unsafe { ffi::switch_channel_test_flag(raw, ffi::switch_channel_flag_t::CF_ANSWERED) != 0 }
    }

    /// Discards DTMF queued on the channel.
    pub fn flush_dtmf(&self) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        // SAFETY: live channel.
        unsafe { ffi::switch_channel_flush_dtmf(raw) };
        Ok(())
    }

    /// Sets a caller-profile field (`caller_id_name`, `caller_id_number`, ...).
    pub fn set_profile_var(&self, name: &str, value: &str) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let name = c_string(name, "profile field").map_err(ChannelError::Nul)?;
        let value = c_string(value, "profile value").map_err(ChannelError::Nul)?;
        // SAFETY: live channel; NUL-terminated strings copied into the profile's pool.
        let status =
            unsafe { ffi::switch_channel_set_profile_var(raw, name.as_ptr(), value.as_ptr()) };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// A channel variable; caller-profile names (`caller_id_number`, `uuid`, ...) resolve too.
    pub fn var(&self, name: &str) -> Option<String> {
        let raw = self.raw().ok()?;
        let name = c_string(name, "variable name").ok()?;
        // SAFETY: live channel, NUL-terminated name; the result is NULL or a malloc()ed copy.
        let value = unsafe { ffi::switch_channel_get_variable_strdup(raw, name.as_ptr()) };
        // SAFETY: `value` is NULL or a malloc()ed NUL-terminated string that we own.
        unsafe { take_malloced(value) }
    }

    /// Sets a channel variable, verbatim (no variable checks, no expansion).
    pub fn set_var(&self, name: &str, value: &str) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let name = c_string(name, "variable name").map_err(ChannelError::Nul)?;
        let value = c_string(value, "variable value").map_err(ChannelError::Nul)?;
        // SAFETY: live channel; both strings NUL-terminated and copied by FreeSWITCH.
        let status = unsafe {
            ffi::switch_channel_set_variable_var_check(
                raw,
                name.as_ptr(),
                value.as_ptr(),
                ffi::switch_bool_t::SWITCH_FALSE,
            )
        };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// Removes a channel variable.
    pub fn unset_var(&self, name: &str) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let name = c_string(name, "variable name").map_err(ChannelError::Nul)?;
        // SAFETY: live channel; NUL-terminated name; a NULL value removes the variable.
        let status = unsafe {
            ffi::switch_channel_set_variable_var_check(
                raw,
                name.as_ptr(),
                std::ptr::null(),
                ffi::switch_bool_t::SWITCH_FALSE,
            )
        };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// Exports a variable to legs created later; `local` also sets it on this channel.
    pub fn export_var(&self, name: &str, value: &str, local: bool) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        // FreeSWITCH strips a `nolocal:` prefix and then skips the local copy.
        let name = if local {
            name.to_string()
        } else {
            format!("nolocal:{name}")
        };
        let name = c_string(&name, "variable name").map_err(ChannelError::Nul)?;
        let value = c_string(value, "variable value").map_err(ChannelError::Nul)?;
        // SAFETY: live channel; all strings NUL-terminated and copied by FreeSWITCH.
        let status = unsafe {
            ffi::switch_channel_export_variable_var_check(
                raw,
                name.as_ptr(),
                value.as_ptr(),
                ffi::SWITCH_EXPORT_VARS_VARIABLE.as_ptr(),
                ffi::switch_bool_t::SWITCH_FALSE,
            )
        };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// Answers the call.
    #[track_caller]
    pub fn answer(&self) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let site = CallSite::here();
        // SAFETY: live channel; file/func are NUL-terminated and outlive the call.
        let status = unsafe {
            ffi::switch_channel_perform_answer(
                raw,
                site.file.as_ptr(),
                super::module::name().as_ptr(),
                site.line,
            )
        };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// Sends early media (183).
    #[track_caller]
    pub fn pre_answer(&self) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let site = CallSite::here();
        // SAFETY: as in `answer`.
        let status = unsafe {
            ffi::switch_channel_perform_pre_answer(
                raw,
                site.file.as_ptr(),
                super::module::name().as_ptr(),
                site.line,
            )
        };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// Signals ringing (180).
    #[track_caller]
    pub fn ring_ready(&self) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let site = CallSite::here();
        // SAFETY: as in `answer`.
        let status = unsafe {
            ffi::switch_channel_perform_ring_ready_value(
                raw,
                ffi::switch_ring_ready_t::SWITCH_RING_READY_RINGING,
                site.file.as_ptr(),
                super::module::name().as_ptr(),
                site.line,
            )
        };
        Status::check(status).map_err(ChannelError::Status)
    }

    /// Hangs the call up with a Q.850 / FreeSWITCH cause code.
    #[track_caller]
    pub fn hangup(&self, cause: u32) -> Result<(), ChannelError> {
        let raw = self.raw()?;
        let site = CallSite::here();
        // SAFETY: as in `answer`; any cause number is accepted (unknown ones log as UNKNOWN).
        unsafe {
            ffi::switch_channel_perform_hangup(
                raw,
                site.file.as_ptr(),
                super::module::name().as_ptr(),
                site.line,
                ffi::switch_call_cause_t(cause as _),
            );
        }
        Ok(())
    }
}

/// Copies and frees a malloc()ed C string FreeSWITCH handed over.
///
/// # Safety
/// `value` must be NULL or a NUL-terminated string allocated with malloc() that nobody else
/// frees.
pub(crate) unsafe fn take_malloced(value: *const c_char) -> Option<String> {
    if value.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated (caller's contract).
    let text = unsafe { CStr::from_ptr(value) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: malloc()ed and ours to free (caller's contract).
    unsafe { libc::free(value.cast_mut().cast()) };
    Some(text)
}

/// The call cause FreeSWITCH uses for "temporary failure" (41): a flow that crashed.
pub const NORMAL_TEMPORARY_FAILURE: u32 =
    ffi::switch_call_cause_t::SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE.0;
