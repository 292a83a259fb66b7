//! Switch events: building an event with headers, firing it, or handing it to `originate` as
//! its variables. The event stays opaque: only pointers cross.

use std::ffi::CStr;
use std::ptr::NonNull;

use super::{NulError, Status, c_string};
use crate::ffi;

/// An event we own until it is fired (or dropped, which destroys it).
pub struct Event {
    raw: NonNull<ffi::switch_event_t>,
}

impl Event {
    /// A `CUSTOM` event with `subclass` (e.g. `rustflow::step`).
    #[track_caller]
    pub fn custom(subclass: &CStr) -> Result<Event, Status> {
        Event::create(
            ffi::switch_event_types_t::SWITCH_EVENT_CUSTOM,
            Some(subclass),
        )
    }

    /// A bare variables holder (a `CLONE` event: FreeSWITCH adds none of its own headers),
    /// what `originate` takes as the variables of every leg.
    #[track_caller]
    pub fn variables() -> Result<Event, Status> {
        Event::create(ffi::switch_event_types_t::SWITCH_EVENT_CLONE, None)
    }

    #[track_caller]
    fn create(id: ffi::switch_event_types_t, subclass: Option<&CStr>) -> Result<Event, Status> {
        let location = std::panic::Location::caller();
        let file = super::c_string_lossy(location.file());
        let line = i32::try_from(location.line()).unwrap_or(i32::MAX);
        let mut raw: *mut ffi::switch_event_t = std::ptr::null_mut();
        // SAFETY: valid out-pointer; file/func/subclass are NUL-terminated (subclass may be
        // NULL) and copied by FreeSWITCH.
        let status = unsafe {
            ffi::switch_event_create_subclass_detailed(
                file.as_ptr(),
                super::module::name().as_ptr(),
                line,
                &mut raw,
                id,
                subclass.map_or(std::ptr::null(), CStr::as_ptr),
            )
        };
        Status::check(status)?;
        NonNull::new(raw)
            .map(|raw| Event { raw })
            .ok_or(Status(ffi::switch_status_t::SWITCH_STATUS_GENERR))
    }

    /// Appends a header; the value is copied verbatim (never expanded).
    pub fn add(&mut self, name: &str, value: &str) -> Result<(), NulError> {
        let name = c_string(name, "event header name")?;
        let value = c_string(value, "event header value")?;
        // SAFETY: we own the live event; both strings are NUL-terminated and copied.
        unsafe {
            ffi::switch_event_add_header_string(
                self.raw.as_ptr(),
                ffi::switch_stack_t::SWITCH_STACK_BOTTOM,
                name.as_ptr(),
                value.as_ptr(),
            );
        }
        Ok(())
    }

    pub(crate) fn as_ptr(&self) -> *mut ffi::switch_event_t {
        self.raw.as_ptr()
    }

    /// Fires the event; FreeSWITCH takes it over (on failure it is destroyed here).
    #[track_caller]
    pub fn fire(self) -> Result<(), Status> {
        let location = std::panic::Location::caller();
        let file = super::c_string_lossy(location.file());
        let line = i32::try_from(location.line()).unwrap_or(i32::MAX);
        let mut raw = self.raw.as_ptr();
        std::mem::forget(self);
        // SAFETY: we own `raw`; fire takes it and sets the pointer to NULL on success.
        let status = unsafe {
            ffi::switch_event_fire_detailed(
                file.as_ptr(),
                super::module::name().as_ptr(),
                line,
                &mut raw,
                std::ptr::null_mut(),
            )
        };
        if !raw.is_null() {
            // SAFETY: not taken by FreeSWITCH: still ours, destroyed once.
            unsafe { ffi::switch_event_destroy(&mut raw) };
        }
        Status::check(status)
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let mut raw = self.raw.as_ptr();
        // SAFETY: we own the event and destroy it exactly once.
        unsafe { ffi::switch_event_destroy(&mut raw) };
    }
}

/// Reserves a custom event subclass for this module (at load).
pub fn reserve_subclass(subclass: &CStr) -> Result<(), Status> {
    // SAFETY: both strings are 'static and NUL-terminated.
    Status::check(unsafe {
        ffi::switch_event_reserve_subclass_detailed(
            super::module::name().as_ptr(),
            subclass.as_ptr(),
        )
    })
}

/// Releases a subclass reserved by [`reserve_subclass`] (at shutdown).
pub fn free_subclass(subclass: &CStr) {
    // SAFETY: both strings are 'static and NUL-terminated.
    unsafe {
        ffi::switch_event_free_subclass_detailed(super::module::name().as_ptr(), subclass.as_ptr());
    }
}
