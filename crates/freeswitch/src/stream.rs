//! API output: `switch_stream_handle_t` written through its `write_function` with `"%s"`.

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::c_string_lossy;
use crate::ffi;

/// The output stream of an API call, borrowed for the call.
pub struct Stream<'a> {
    raw: NonNull<ffi::switch_stream_handle_t>,
    _call: PhantomData<&'a mut ffi::switch_stream_handle_t>,
}

impl Stream<'_> {
    /// Wraps the stream FreeSWITCH passed to an API function; `None` for NULL.
    ///
    /// # Safety
    /// `raw` must be NULL or a valid stream handle that stays valid, and is used by no one
    /// else, for the lifetime the caller picks (the API call).
    pub(crate) unsafe fn from_raw<'a>(raw: *mut ffi::switch_stream_handle_t) -> Option<Stream<'a>> {
        NonNull::new(raw).map(|raw| Stream {
            raw,
            _call: PhantomData,
        })
    }

    /// Appends text (NUL bytes shown as `\0`).
    pub fn write(&mut self, text: &str) {
        let text = c_string_lossy(text);
        // SAFETY: `raw` is valid for the call (from_raw's contract) and we hold it exclusively.
        let write = unsafe { self.raw.as_ref().write_function };
        if let Some(write) = write {
            // SAFETY: write_function is FreeSWITCH's printf-like appender for this handle; the
            // format is the constant "%s" with one NUL-terminated argument.
            unsafe {
                write(self.raw.as_ptr(), c"%s".as_ptr(), text.as_ptr());
            }
        }
    }
}
