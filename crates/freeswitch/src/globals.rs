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
