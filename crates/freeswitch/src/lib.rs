//! Safe wrappers over the FreeSWITCH switch core: the only `unsafe` code of mod_rustflow.
//!
//! Every raw pointer handed to us by FreeSWITCH is wrapped here in a borrowed newtype whose
//! lifetime is the callback's; every string crossing the boundary is NUL-checked here; every
//! `extern "C"` edge runs its whole body inside the panic guard ([`guard::edge`]). A module
//! implements [`module::Module`] and exports its table with [`module!`]; the raw bindings
//! (`freeswitch-sys`) stay private to this crate.

pub mod event;
pub mod globals;
pub mod guard;
pub mod log;
pub mod module;
pub mod session;
pub mod stream;
pub mod xml;

use std::ffi::CString;
use std::fmt;

use freeswitch_sys as ffi;

/// The FreeSWITCH module API version these bindings speak (`SWITCH_API_VERSION`).
pub const API_VERSION: i64 = ffi::SWITCH_API_VERSION as i64;

/// Which headers the bindings come from (real ones, or the bundled subset header).
pub const HEADERS: &str = ffi::HEADERS;

/// A FreeSWITCH `switch_status_t` that was not `SWITCH_STATUS_SUCCESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub(crate) ffi::switch_status_t);

impl Status {
    pub(crate) fn check(status: ffi::switch_status_t) -> Result<(), Status> {
        if status == ffi::switch_status_t::SWITCH_STATUS_SUCCESS {
            Ok(())
        } else {
            Err(Status(status))
        }
    }

    /// SWITCH_STATUS_BREAK: the operation was interrupted on purpose (CF_BREAK, a key).
    pub fn is_break(self) -> bool {
        self.0 == ffi::switch_status_t::SWITCH_STATUS_BREAK
    }

    /// The numeric status, as FreeSWITCH documents it.
    pub fn code(self) -> u32 {
        self.0.0
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            ffi::switch_status_t::SWITCH_STATUS_FALSE => "FALSE",
            ffi::switch_status_t::SWITCH_STATUS_TIMEOUT => "TIMEOUT",
            ffi::switch_status_t::SWITCH_STATUS_GENERR => "GENERR",
            ffi::switch_status_t::SWITCH_STATUS_BREAK => "BREAK",
            ffi::switch_status_t::SWITCH_STATUS_NOTFOUND => "NOTFOUND",
            _ => return write!(f, "FreeSWITCH status {}", self.code()),
        };
        write!(f, "FreeSWITCH status {name}")
    }
}

/// A string that cannot cross into C because it holds a NUL byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NulError {
    pub what: &'static str,
}

impl fmt::Display for NulError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} contains a NUL byte", self.what)
    }
}

/// `text` as a C string, or an error naming `what` when it holds a NUL byte.
pub(crate) fn c_string(text: &str, what: &'static str) -> Result<CString, NulError> {
    CString::new(text).map_err(|_| NulError { what })
}

/// `text` as a C string with NUL bytes shown as `\0`: for text that must get through (logs,
/// API output) rather than be refused.
pub(crate) fn c_string_lossy(text: &str) -> CString {
    let escaped;
    let text = if text.contains('\0') {
        escaped = text.replace('\0', "\\0");
        escaped.as_str()
    } else {
        text
    };
    CString::new(text).unwrap_or_default()
}
