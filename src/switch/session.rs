//! Sessions and their channels: variables, answer/hangup, readiness, playback and sleep.

use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::ptr::NonNull;

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

const FUNC: &CStr = c"mod_rustflow";

impl<'a> Session<'a> {
    /// Wraps the session FreeSWITCH passed to a callback; `None` for NULL.
    ///
    /// # Safety
    /// `raw` must be NULL or a live session that stays valid (FreeSWITCH holds its read lock)
    /// for the lifetime the caller picks, used only on the current thread.
    pub unsafe fn from_raw(raw: *mut ffi::switch_core_session_t) -> Option<Session<'a>> {
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

    /// Whether the call is up (`switch_channel_ready`).
    pub fn ready(&self) -> bool {
        let Ok(raw) = self.raw() else { return false };
        // SAFETY: the channel lives as long as its session, which outlives `self`.
        unsafe {
            ffi::switch_channel_test_ready(
                raw,
                ffi::switch_bool_t::SWITCH_TRUE,
                ffi::switch_bool_t::SWITCH_FALSE,
            ) != 0
        }
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
            ffi::switch_channel_perform_answer(raw, site.file.as_ptr(), FUNC.as_ptr(), site.line)
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
                FUNC.as_ptr(),
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
                FUNC.as_ptr(),
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
                FUNC.as_ptr(),
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
