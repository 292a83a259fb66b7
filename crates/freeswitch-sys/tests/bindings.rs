//! The committed bindings (`src/rustflow_abi.rs`, `src/rustflow_abi.mirrored.json`) are what
//! bindgen makes of `include/rustflow_abi.h` today, with build.rs's configuration.
//!
//! Needs libclang; where there is none the test says so in one line and passes (the build
//! itself never needs libclang without real FreeSWITCH headers).
//! Regenerate after editing the header: `RUSTFLOW_REGEN_BINDINGS=1 cargo build -p freeswitch-sys`.

#[path = "../build/abi_check.rs"]
#[allow(dead_code)]
mod abi_check;
#[path = "../build/bindings.rs"]
#[allow(dead_code)]
mod bindings;

use std::path::Path;

#[test]
fn committed_bindings_are_those_of_the_subset_header() {
    if clang_sys::load().is_err() {
        eprintln!(
            "SKIP committed_bindings_are_those_of_the_subset_header: no libclang here; install \
             libclang-dev to compare the committed bindings with {}",
            bindings::SUBSET_HEADER
        );
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = bindings::committed_files(dir).unwrap_or_else(|e| panic!("{e}"));
    for (path, generated) in &files {
        let committed = std::fs::read_to_string(dir.join(path)).unwrap_or_default();
        if committed != *generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            panic!(
                "{path} is not what bindgen makes of {} (first difference at line {}); \
                 regenerate it: {}",
                bindings::SUBSET_HEADER,
                line + 1,
                bindings::REGEN_COMMAND
            );
        }
    }
}

#[path = "../build/prototypes.rs"]
mod prototypes;

fn committed() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(bindings::COMMITTED_BINDINGS),
    )
    .expect("committed bindings")
}

#[test]
fn prototype_check_accepts_the_same_functions_through_other_typedef_names() {
    let ours = committed();
    // The real headers may reach the same C type through another typedef.
    let theirs = ours.replace(
        "pub type switch_originate_flag_t = u32;",
        "pub type switch_originate_flag_t = originate_flags;\npub type originate_flags = ::std::os::raw::c_uint;",
    );
    assert_ne!(ours, theirs, "the edit applies");
    prototypes::compare(&ours, &theirs).expect("same prototypes");
}

#[test]
fn prototype_check_names_a_function_declared_differently_or_missing() {
    let ours = committed();
    let theirs = ours
        .replace(
            "pub fn switch_ivr_sleep(\n        session: *mut switch_core_session_t,\n        ms: u32,",
            "pub fn switch_ivr_sleep(\n        session: *mut switch_core_session_t,\n        ms: i32,",
        )
        .replace("pub fn switch_core_get_variable_dup(", "pub fn switch_core_get_variable_pdup(");
    let mismatches = prototypes::compare(&ours, &theirs).unwrap_err();
    assert_eq!(mismatches.len(), 2, "{mismatches:?}");
    assert!(
        mismatches[0].starts_with("`switch_core_get_variable_dup` is not declared there"),
        "{mismatches:?}"
    );
    assert!(
        mismatches[1]
            .starts_with("`switch_ivr_sleep` is declared `fn(*mut switch_core_session, u32,"),
        "{mismatches:?}"
    );
    assert!(mismatches[1].contains("there"), "{mismatches:?}");
}
