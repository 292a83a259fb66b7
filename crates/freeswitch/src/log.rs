//! Logging through `switch_log_printf`, always with the constant format `"%s"`.
//!
//! Per-call lines use `SWITCH_CHANNEL_ID_SESSION` with the session as user data (what the C
//! macro `SWITCH_CHANNEL_SESSION_LOG` does), so they carry the call uuid and honour the
//! session's log level. NUL bytes in messages are shown as `\0`, never unwrapped.

use std::ffi::c_char;
use std::panic::Location;

use super::c_string_lossy;
use super::session::Session;
use crate::ffi;

/// Log severity, mapped onto FreeSWITCH's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
    Critical,
}

impl Level {
    fn raw(self) -> ffi::switch_log_level_t {
        match self {
            Level::Debug => ffi::switch_log_level_t::SWITCH_LOG_DEBUG,
            Level::Info => ffi::switch_log_level_t::SWITCH_LOG_INFO,
            Level::Notice => ffi::switch_log_level_t::SWITCH_LOG_NOTICE,
            Level::Warning => ffi::switch_log_level_t::SWITCH_LOG_WARNING,
            Level::Error => ffi::switch_log_level_t::SWITCH_LOG_ERROR,
            Level::Critical => ffi::switch_log_level_t::SWITCH_LOG_CRIT,
        }
    }
}

/// Logs a line not tied to a call.
#[track_caller]
pub fn global(level: Level, message: &str) {
    write(
        ffi::switch_text_channel_t::SWITCH_CHANNEL_ID_LOG,
        std::ptr::null(),
        level,
        message,
    );
}

/// Logs a line for a call: FreeSWITCH tags it with the call's uuid.
#[track_caller]
pub fn session(session: &Session<'_>, level: Level, message: &str) {
    let userdata = session.as_ptr().cast::<c_char>().cast_const();
    write(
        ffi::switch_text_channel_t::SWITCH_CHANNEL_ID_SESSION,
        userdata,
        level,
        message,
    );
}

/// Whether FreeSWITCH keeps a line of `level` for this call: it drops lines above both the
/// switch's hard log level (`loglevel` in switch.conf, `fsctl loglevel`) and the session's
/// own (`session_loglevel`), so a line it would drop need not be formatted at all.
pub fn session_enabled(session: &Session<'_>, level: Level) -> bool {
    // Below SWITCH_LOG_DISABLE the value is only read back, never set.
    let mut hard: i32 = ffi::switch_log_level_t::SWITCH_LOG_DISABLE.0 - 1;
    // SAFETY: SCSC_LOGLEVEL reads and writes one int through `val`, which points at `hard`.
    let rc = unsafe {
        ffi::switch_core_session_ctl(
            ffi::switch_session_ctl_t::SCSC_LOGLEVEL,
            (&raw mut hard).cast(),
        )
    };
    if rc != 0 {
        return true; // shutting down: let FreeSWITCH decide
    }
    // SAFETY: the session is live for the lifetime of `session`.
    let own = unsafe { ffi::switch_core_session_get_loglevel(session.as_ptr()) };
    level.raw().0 <= hard.max(own.0)
}

#[track_caller]
fn write(
    channel: ffi::switch_text_channel_t,
    userdata: *const c_char,
    level: Level,
    message: &str,
) {
    let location = Location::caller();
    let file = c_string_lossy(location.file());
    let line = i32::try_from(location.line()).unwrap_or(i32::MAX);
    let mut text = c_string_lossy(message).into_bytes();
    // FreeSWITCH prints the text as is; a trailing newline ends the console line.
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    let text = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: every pointer is a NUL-terminated string that outlives the call (or NULL user
    // data for the global channel, or the live session for the session channel); the format is
    // the constant "%s" with exactly one string argument, so user text is never a format.
    unsafe {
        ffi::switch_log_printf(
            channel,
            file.as_ptr(),
            super::module::name().as_ptr(),
            line,
            userdata,
            level.raw(),
            c"%s".as_ptr(),
            text.as_ptr(),
        );
    }
}
