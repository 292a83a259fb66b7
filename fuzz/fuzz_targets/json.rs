//! The engine's JSON parser on any text: no panic, the same verdict and values as
//! serde_json, spans that hold their values (engine/tests/json_support).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../engine/tests/json_support/mod.rs"]
mod json_support;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(difference) = json_support::check(&text) {
        panic!("{difference}");
    }
});
