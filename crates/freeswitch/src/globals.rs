//! Switch-wide (global) variables: `$${name}`, `conf_dir`, `sounds_dir`, ...

use super::c_string;
use crate::ffi;

/// The global variable `name`, if set. A name with a NUL byte is never set.
pub fn get(name: &str) -> Option<String> {
    let name = c_string(name, "variable name").ok()?;
    // SAFETY: `name` is NUL-terminated; the result is NULL or a malloc()ed copy we own.
    let value = unsafe { ffi::switch_core_get_variable_dup(name.as_ptr()) };
    // SAFETY: `value` is NULL or a malloc()ed NUL-terminated string that we own.
    unsafe { super::session::take_malloced(value.cast_const()) }
}

/// The core's name: switch.conf's `switchname`, else the host name. switch.conf's param sets
/// no global variable, so [`get`] cannot read it.
pub fn switchname() -> Option<String> {
    // SAFETY: no arguments; the result is NULL or a NUL-terminated string the core owns for
    // its lifetime (it is copied here, never freed).
    let value = unsafe { ffi::switch_core_get_switchname() };
    if value.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated (above).
    Some(
        unsafe { std::ffi::CStr::from_ptr(value) }
            .to_string_lossy()
            .into_owned(),
    )
}
