//! Binds the FreeSWITCH C API the module uses and checks the ABI-subset header's layout.
//!
//! Header discovery, first match wins:
//! 1. `FREESWITCH_INCLUDE_DIR` (must contain `switch.h` and `switch_am_config.h`);
//! 2. `pkg-config --cflags freeswitch`;
//! 3. the project's own ABI-subset header `include/rustflow_abi.h`.
//!
//! The subset header is always bound too: it is the list of what the module mirrors. With real
//! headers, `ffi` comes from them and the generated check compares the subset's bindings with
//! the real ones; without, `ffi` comes from the subset and the check compares it with the
//! measured figures in `include/abi-facts.jsonl`. Either way a mismatch fails the build.
//!
//! libfreeswitch is never linked: FreeSWITCH resolves the module's symbols when it loads it.

#[path = "build/abi_check.rs"]
#[allow(dead_code)] // the JSON reader is for tests/abi_check.rs
mod abi_check;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use abi_check::Mirrored;
use bindgen::callbacks::{
    DiscoveredItem, DiscoveredItemId, EnumVariantValue, IntKind, ParseCallbacks,
};

/// Every function the module calls. One list drives both bindings.
const FUNCTIONS: &[&str] = &[
    "switch_loadable_module_create_module_interface",
    "switch_loadable_module_create_interface",
    "switch_console_set_complete",
    "switch_xml_open_cfg",
    "switch_xml_child",
    "switch_xml_attr_soft",
    "switch_xml_free",
    "switch_log_printf",
    "switch_core_session_ctl",
    "switch_core_session_get_loglevel",
    "switch_core_session_get_channel",
    "switch_core_session_get_uuid",
    "switch_channel_perform_answer",
    "switch_channel_perform_pre_answer",
    "switch_channel_perform_ring_ready_value",
    "switch_channel_perform_hangup",
    "switch_channel_get_variable_strdup",
    "switch_channel_set_variable_var_check",
    "switch_channel_export_variable_var_check",
    "switch_core_get_variable_dup",
    "switch_ivr_play_file",
    "switch_ivr_sleep",
    "switch_ivr_parse_all_signal_data",
    "switch_ivr_session_echo",
    "switch_ivr_delay_echo",
    "switch_channel_flush_dtmf",
    "switch_ivr_inband_dtmf_session",
    "switch_ivr_stop_inband_dtmf_session",
    "switch_play_and_get_digits",
    "switch_ivr_play_and_detect_speech",
    "switch_channel_get_state",
    "switch_channel_test_flag",
    "switch_channel_set_profile_var",
    "switch_loadable_module_exists",
    "switch_core_session_execute_application_get_flags",
    "switch_event_create_subclass_detailed",
    "switch_event_add_header_string",
    "switch_event_fire_detailed",
    "switch_event_destroy",
    "switch_event_reserve_subclass_detailed",
    "switch_event_free_subclass_detailed",
    "switch_core_session_findall_matching_var",
    "switch_console_free_matches",
    "switch_ivr_originate",
    "switch_ivr_multi_threaded_bridge",
    "switch_core_session_rwunlock",
    "switch_ivr_record_file",
    "switch_ivr_record_session",
    "switch_ivr_stop_record_session",
    "switch_ivr_displace_session",
    "switch_ivr_stop_displace_session",
];

/// Every type the module names (the functions pull in their own argument types).
const TYPES: &[&str] = &[
    "switch_loadable_module_function_table_t",
    "switch_application_interface_t",
    "switch_api_interface_t",
    "switch_stream_handle_t",
    "switch_application_flag_enum_t",
    "switch_status_t",
    "switch_bool_t",
    "switch_log_level_t",
    "switch_session_ctl_t",
    "switch_text_channel_t",
    "switch_channel_state_t",
    "switch_call_cause_t",
    "switch_ring_ready_t",
    "switch_module_interface_name_t",
    "switch_input_args_t",
    "switch_input_type_t",
    "switch_xml",
    "switch_xml_t",
    "switch_event_types_t",
    "switch_stack_t",
    "switch_channel_flag_t",
    "switch_file_handle",
    "switch_file_handle_t",
    "switch_mm_s",
    "switch_mm_t",
    "switch_audio_resampler_t",
];

/// Every macro constant the module uses.
const VARS: &[&str] = &["SWITCH_API_VERSION", "SWITCH_EXPORT_VARS_VARIABLE"];

/// Handles the module only passes around: opaque, so the real headers' internals stay out.
const OPAQUE: &[&str] = &[
    "switch_core_session",
    "switch_channel",
    "switch_loadable_module_interface",
    "switch_event",
    "switch_frame",
    "switch_file_interface",
    "switch_buffer",
    "switch_audio_resampler_s",
    "switch_audio_resampler_t",
    "switch_caller_profile",
    "switch_state_handler_table",
    "switch_dial_handle_s",
    "switch_console_callback_match",
    "switch_ivr_dmachine",
    "switch_thread_rwlock",
    "switch_mutex",
    "fspr_.*",
];

const SUBSET_HEADER: &str = "include/rustflow_abi.h";
const FACTS: &str = "include/abi-facts.jsonl";

enum Headers {
    /// Real FreeSWITCH headers: clang arguments and the directory holding `switch.h`.
    Real {
        how: String,
        clang_args: Vec<String>,
        dir: PathBuf,
    },
    Subset,
}

fn env_tracked(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn has_fs_headers(dir: &Path) -> bool {
    dir.join("switch.h").is_file() && dir.join("switch_am_config.h").is_file()
}

fn discover() -> Headers {
    if let Some(dir) = env_tracked("FREESWITCH_INCLUDE_DIR") {
        let dir = PathBuf::from(dir);
        if !has_fs_headers(&dir) {
            panic!(
                "FREESWITCH_INCLUDE_DIR={} does not contain switch.h and switch_am_config.h \
                 (a configured FreeSWITCH include directory); unset it to use pkg-config or \
                 the bundled {SUBSET_HEADER}",
                dir.display()
            );
        }
        return Headers::Real {
            how: format!("FREESWITCH_INCLUDE_DIR={}", dir.display()),
            clang_args: vec![format!("-I{}", dir.display())],
            dir,
        };
    }
    for var in [
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        env_tracked(var);
    }
    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    if let Ok(output) = Command::new(&pkg_config)
        .args(["--cflags", "freeswitch"])
        .output()
        && output.status.success()
    {
        let cflags = String::from_utf8_lossy(&output.stdout).to_string();
        let clang_args: Vec<String> = cflags.split_whitespace().map(str::to_string).collect();
        let dir = clang_args
            .iter()
            .filter_map(|a| a.strip_prefix("-I"))
            .map(PathBuf::from)
            .find(|d| has_fs_headers(d));
        match dir {
            Some(dir) => {
                return Headers::Real {
                    how: format!("pkg-config freeswitch ({})", dir.display()),
                    clang_args,
                    dir,
                };
            }
            None => println!(
                "cargo:warning=pkg-config freeswitch answered `{}` but no directory there holds \
                 switch.h and switch_am_config.h; ignoring it",
                cflags.trim()
            ),
        }
    }
    Headers::Subset
}

/// Records what the subset header declares while bindgen parses it.
#[derive(Debug, Default)]
struct Collected {
    structs: Vec<(DiscoveredItemId, String)>,
    aliases: Vec<(String, DiscoveredItemId)>,
    fields: Vec<(String, String)>,
    enums: Vec<String>,
    variants: Vec<(String, String, i64)>,
    ints: Vec<(String, i64)>,
    strs: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
struct Collector(Arc<Mutex<Collected>>);

impl ParseCallbacks for Collector {
    fn new_item_found(&self, id: DiscoveredItemId, item: DiscoveredItem) {
        let mut c = self.0.lock().unwrap();
        match item {
            DiscoveredItem::Struct { final_name, .. } => c.structs.push((id, final_name)),
            DiscoveredItem::Alias {
                alias_name,
                alias_for,
            } => c.aliases.push((alias_name, alias_for)),
            DiscoveredItem::Enum { final_name } => c.enums.push(final_name),
            _ => {}
        }
    }

    fn field_visibility(
        &self,
        info: bindgen::callbacks::FieldInfo<'_>,
    ) -> Option<bindgen::FieldVisibilityKind> {
        let mut c = self.0.lock().unwrap();
        c.fields
            .push((info.type_name.to_string(), info.field_name.to_string()));
        None
    }

    fn enum_variant_name(
        &self,
        enum_name: Option<&str>,
        variant: &str,
        value: EnumVariantValue,
    ) -> Option<String> {
        let value = match value {
            EnumVariantValue::Boolean(b) => i64::from(b),
            EnumVariantValue::Signed(v) => v,
            EnumVariantValue::Unsigned(v) => v as i64,
        };
        let name = enum_name.unwrap_or_default();
        let name = name.strip_prefix("enum ").unwrap_or(name).to_string();
        self.0
            .lock()
            .unwrap()
            .variants
            .push((name, variant.to_string(), value));
        None
    }

    fn int_macro(&self, name: &str, value: i64) -> Option<IntKind> {
        self.0.lock().unwrap().ints.push((name.to_string(), value));
        None
    }

    fn str_macro(&self, name: &str, value: &[u8]) {
        let text = String::from_utf8_lossy(value).to_string();
        self.0.lock().unwrap().strs.push((name.to_string(), text));
    }
}

impl Collector {
    fn mirrored(&self) -> Mirrored {
        let c = self.0.lock().unwrap();
        let mut m = Mirrored::default();
        for (_, name) in &c.structs {
            let fields: Vec<String> = c
                .fields
                .iter()
                .filter(|(t, _)| t == name)
                .map(|(_, f)| f.clone())
                .collect();
            // Forward-declared handles have no fields: nothing to mirror.
            if !fields.is_empty() {
                m.structs.insert(name.clone(), fields);
            }
        }
        for (alias, target) in &c.aliases {
            if let Some((_, name)) = c.structs.iter().find(|(id, _)| id == target) {
                m.aliases.insert(alias.clone(), name.clone());
            }
        }
        for name in &c.enums {
            let variants = c
                .variants
                .iter()
                .filter(|(e, _, _)| e == name)
                .map(|(_, v, n)| (v.clone(), *n))
                .collect();
            m.enums.insert(name.clone(), variants);
        }
        for (name, value) in &c.ints {
            if VARS.contains(&name.as_str()) {
                m.int_consts.insert(name.clone(), *value);
            }
        }
        for (name, value) in &c.strs {
            if VARS.contains(&name.as_str()) {
                m.str_consts.insert(name.clone(), value.clone());
            }
        }
        m
    }
}

/// `functions: false` binds only types and constants: the subset's mirror beside the real
/// bindings (two declarations of one C function with distinct Rust types would clash).
fn builder(header: &Path, clang_args: &[String], functions: bool) -> bindgen::Builder {
    let mut b = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_args(clang_args)
        .rust_target(bindgen::RustTarget::stable(85, 0).expect("bindgen knows Rust 1.85"))
        .rust_edition(bindgen::RustEdition::Edition2024)
        .default_enum_style(bindgen::EnumVariation::NewType {
            is_bitfield: false,
            is_global: false,
        })
        .layout_tests(false)
        .generate_comments(false)
        .generate_cstr(true)
        .derive_default(true)
        .prepend_enum_name(false)
        .allowlist_recursively(true);
    if functions {
        for f in FUNCTIONS {
            b = b.allowlist_function(f);
        }
    }
    for t in TYPES {
        b = b.allowlist_type(t);
    }
    for v in VARS {
        b = b.allowlist_var(v);
    }
    for o in OPAQUE {
        b = b.opaque_type(o);
    }
    b
}

fn main() {
    // FreeSWITCH must never see a Rust panic; the guards need unwinding to catch one.
    let panic = env::var("CARGO_CFG_PANIC").unwrap_or_default();
    assert_eq!(
        panic, "unwind",
        "mod_rustflow must be built with panic = \"unwind\" (found {panic:?}): every extern \"C\" \
         edge catches panics, which abort cannot do"
    );

    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    for input in ["build.rs", "build/abi_check.rs", SUBSET_HEADER, FACTS] {
        println!("cargo:rerun-if-changed={input}");
    }

    // The subset header, bound with a collector: the list of mirrored items. With real headers
    // it is only the mirror, so it needs no functions.
    let headers = discover();
    let collector = Collector::default();
    let subset = builder(
        &manifest.join(SUBSET_HEADER),
        &[],
        matches!(headers, Headers::Subset),
    )
    .parse_callbacks(Box::new(collector.clone()))
    .generate()
    .expect("bindgen failed on include/rustflow_abi.h");
    let mirrored = collector.mirrored();

    let check = match &headers {
        Headers::Real {
            how,
            clang_args,
            dir,
        } => {
            println!("cargo:warning=mod_rustflow: binding the FreeSWITCH headers from {how}");
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.path().extension().is_some_and(|e| e == "h") {
                    println!("cargo:rerun-if-changed={}", entry.path().display());
                }
            }
            let wrapper = out.join("rustflow_real.h");
            fs::write(&wrapper, "#include <switch.h>\n").unwrap();
            let real = builder(&wrapper, clang_args, true)
                .generate()
                .unwrap_or_else(|e| {
                    panic!("bindgen failed on the FreeSWITCH headers ({how}): {e}")
                });
            real.write_to_file(out.join("ffi.rs")).unwrap();
            subset.write_to_file(out.join("abi_mirror.rs")).unwrap();
            let mut check = String::from(
                "#[allow(dead_code, non_camel_case_types, non_upper_case_globals, non_snake_case, \
                 unsafe_op_in_unsafe_fn, clippy::all)]\nmod abi_mirror {\n    \
                 include!(concat!(env!(\"OUT_DIR\"), \"/abi_mirror.rs\"));\n}\n",
            );
            check.push_str(&abi_check::against_bindings(&mirrored, "abi_mirror"));
            println!("cargo:rustc-env=RUSTFLOW_HEADERS={how}");
            check
        }
        Headers::Subset => {
            println!(
                "cargo:warning=mod_rustflow: no FreeSWITCH headers found (FREESWITCH_INCLUDE_DIR, \
                 pkg-config freeswitch); binding {SUBSET_HEADER}, checked against {FACTS}"
            );
            subset.write_to_file(out.join("ffi.rs")).unwrap();
            let text =
                fs::read_to_string(manifest.join(FACTS)).expect("read include/abi-facts.jsonl");
            let facts = abi_check::parse_facts(&text).unwrap_or_else(|e| panic!("{e}"));
            let check = abi_check::against_facts(&mirrored, &facts).unwrap_or_else(|missing| {
                panic!(
                    "{SUBSET_HEADER} mirrors items {FACTS} has no figures for: {}. Measure them \
                     against real FreeSWITCH headers and add them.",
                    missing.join(", ")
                )
            });
            println!("cargo:rustc-env=RUSTFLOW_HEADERS=bundled {SUBSET_HEADER}");
            check
        }
    };
    fs::write(out.join("abi_check.rs"), check).unwrap();
    // For tests/abi_check.rs, which proves the check fails on a mismatch.
    fs::write(
        out.join("mirrored.json"),
        abi_check::mirrored_to_json(&mirrored),
    )
    .unwrap();
}
