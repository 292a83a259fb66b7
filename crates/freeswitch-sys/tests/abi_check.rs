//! Proves the ABI layout check of build.rs can fail: the same generator build.rs uses
//! (`build/abi_check.rs`) is run on the figures or bindings with one value broken, and the
//! result is compiled with rustc next to this build's bindings. Unbroken, it compiles;
//! broken, the compile fails with a message naming the struct field or constant.

#[path = "../build/abi_check.rs"]
#[allow(dead_code)]
mod abi_check;

use std::path::{Path, PathBuf};
use std::process::Command;

const OUT_DIR: &str = env!("OUT_DIR");

fn mirrored() -> abi_check::Mirrored {
    let text = std::fs::read_to_string(Path::new(OUT_DIR).join("mirrored.json"))
        .expect("build.rs wrote mirrored.json");
    abi_check::mirrored_from_json(&text).expect("mirrored.json parses")
}

fn facts() -> abi_check::Facts {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/abi-facts.jsonl");
    abi_check::parse_facts(&std::fs::read_to_string(path).unwrap()).expect("abi-facts.jsonl parses")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("rustflow-abi-check-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `source` as a library (metadata only: enough for const evaluation) and returns
/// rustc's verdict and messages.
fn compile(name: &str, source: &str) -> (bool, String) {
    let dir = scratch(name);
    let file = dir.join("check.rs");
    std::fs::write(&file, source).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "lib",
            "--emit",
            "metadata",
            "--crate-name",
            "abi_check_probe",
        ])
        .arg("--out-dir")
        .arg(&dir)
        .arg(&file)
        .output()
        .expect("run rustc");
    let _ = std::fs::remove_dir_all(&dir);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const ALLOWS: &str = "#![allow(dead_code, non_camel_case_types, non_upper_case_globals, non_snake_case, \
                      unsafe_op_in_unsafe_fn, clashing_extern_declarations, improper_ctypes)]\n";

fn against_facts_source(facts: &abi_check::Facts) -> String {
    let check = abi_check::against_facts(&mirrored(), facts).expect("the figures cover the subset");
    format!(
        "{ALLOWS}include!({:?});\n{check}",
        Path::new(OUT_DIR).join("bindings.rs")
    )
}

#[test]
fn figures_cover_every_mirrored_item() {
    let m = mirrored();
    assert!(
        m.structs.contains_key("switch_stream_handle"),
        "{:?}",
        m.structs.keys()
    );
    assert!(
        m.structs
            .contains_key("switch_loadable_module_function_table")
    );
    assert!(m.enums.contains_key("switch_status_t"));
    assert!(m.int_consts.contains_key("SWITCH_API_VERSION"));
    assert!(m.str_consts.contains_key("SWITCH_EXPORT_VARS_VARIABLE"));
    assert!(abi_check::against_facts(&m, &facts()).is_ok());
}

#[test]
fn missing_figures_are_named() {
    let mut facts = facts();
    facts.types.remove("switch_stream_handle_t");
    facts.ints.remove("SWITCH_STATUS_BREAK");
    let missing = abi_check::against_facts(&mirrored(), &facts).unwrap_err();
    assert!(
        missing.contains(&"struct `switch_stream_handle`".to_string()),
        "{missing:?}"
    );
    assert!(
        missing.contains(&"constant `SWITCH_STATUS_BREAK`".to_string()),
        "{missing:?}"
    );
}

#[test]
fn facts_check_compiles_when_figures_match() {
    let (ok, stderr) = compile("facts-ok", &against_facts_source(&facts()));
    assert!(ok, "the unbroken check must compile:\n{stderr}");
}

#[test]
fn facts_check_fails_on_a_wrong_field_offset() {
    let mut facts = facts();
    let stream = facts.types.get_mut("switch_stream_handle_t").unwrap();
    stream.fields.insert("write_function".to_string(), 16);
    let (ok, stderr) = compile("facts-offset", &against_facts_source(&facts));
    assert!(!ok, "a wrong offset must fail the build");
    assert!(
        stderr.contains("ABI mismatch: offset of `switch_stream_handle.write_function`"),
        "{stderr}"
    );
}

#[test]
fn facts_check_fails_on_a_wrong_size_or_constant() {
    let mut facts = facts();
    facts.types.get_mut("struct switch_xml").unwrap().size = 104;
    facts.ints.insert("SWITCH_API_VERSION".to_string(), 6);
    facts
        .ints
        .insert("SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE".to_string(), 42);
    facts.strs.insert(
        "SWITCH_EXPORT_VARS_VARIABLE".to_string(),
        "export_var".to_string(),
    );
    let (ok, stderr) = compile("facts-const", &against_facts_source(&facts));
    assert!(!ok);
    assert!(
        stderr.contains("ABI mismatch: size of `switch_xml`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ABI mismatch: value of `SWITCH_API_VERSION`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ABI mismatch: value of `SWITCH_CAUSE_NORMAL_TEMPORARY_FAILURE`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ABI mismatch: value of `SWITCH_EXPORT_VARS_VARIABLE`"),
        "{stderr}"
    );
}

/// The real-header mode: "real" = this build's bindings, mirror = the same bindings with
/// one change, compared by the generator exactly as build.rs does.
fn against_bindings_source(mirror_edit: impl Fn(String) -> String) -> String {
    let ffi = std::fs::read_to_string(Path::new(OUT_DIR).join("bindings.rs")).unwrap();
    let mirror = mirror_edit(ffi.clone());
    let check = abi_check::against_bindings(&mirrored(), "abi_mirror");
    format!("{ALLOWS}{ffi}\nmod abi_mirror {{\n{mirror}\n}}\n{check}")
}

#[test]
fn bindings_check_compiles_when_identical() {
    let (ok, stderr) = compile("bindings-ok", &against_bindings_source(|m| m));
    assert!(ok, "identical bindings must pass:\n{stderr}");
}

#[test]
fn bindings_check_fails_on_a_shifted_field_and_a_wrong_constant() {
    let source = against_bindings_source(|m| {
        let m = m.replacen(
            "pub write_function:",
            "pub extra: u64,\n    pub write_function:",
            1,
        );
        assert!(m.contains("pub extra: u64"), "the edit applies");
        let version = m
            .find("pub const SWITCH_API_VERSION")
            .expect("SWITCH_API_VERSION is bound");
        let end = version + m[version..].find(';').unwrap();
        format!(
            "{}pub const SWITCH_API_VERSION: u32 = 6{}",
            &m[..version],
            &m[end..]
        )
    });
    let (ok, stderr) = compile("bindings-broken", &source);
    assert!(!ok);
    assert!(
        stderr.contains("ABI mismatch: offset of `switch_stream_handle.write_function`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ABI mismatch: size of `switch_stream_handle`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ABI mismatch: value of `SWITCH_API_VERSION`"),
        "{stderr}"
    );
}
