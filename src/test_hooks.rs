//! Test-only panics at the module's `extern "C"` edges, to prove each edge's guard.
//!
//! With the `test-hooks` feature (the harness builds with it; `make` never does), a body
//! panics on purpose when the switch-wide variable `rustflow_test_panic` names its edge:
//! `load`, `shutdown`, `api` (the `rustflow` API command) or `app` (the `rustflow` dialplan
//! application, before the flow runs). Without the feature this is an empty function.

/// The switch-wide variable naming the edge that panics.
#[cfg(feature = "test-hooks")]
const VARIABLE: &str = "rustflow_test_panic";

/// Panics when `rustflow_test_panic` is `edge` (test-hooks builds only).
#[cfg(feature = "test-hooks")]
pub fn panic_at(edge: &str) {
    if crate::switch::globals::get(VARIABLE).as_deref() == Some(edge) {
        panic!("{VARIABLE}={edge} (test-hooks)");
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn panic_at(_edge: &str) {}
