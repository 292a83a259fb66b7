//! The bindgen configuration, shared by `build.rs` (real headers) and `tests/bindings.rs`
//! (regenerates the committed subset bindings and compares them).
//!
//! One list of functions, types and constants drives every binding: the real headers', the
//! subset header's and the committed `src/rustflow_abi.rs`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use bindgen::callbacks::{
    DiscoveredItem, DiscoveredItemId, EnumVariantValue, IntKind, ParseCallbacks,
};

use crate::abi_check::Mirrored;

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
    "switch_core_get_switchname",
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
    "switch_ivr_session_transfer",
    "switch_ivr_multi_threaded_bridge",
    "switch_core_session_rwunlock",
    "switch_core_session_perform_locate",
    "switch_channel_set_flag_value",
    "switch_channel_clear_flag",
    "switch_channel_test_ready",
    "switch_core_event_hook_add_state_change",
    "switch_core_event_hook_remove_state_change",
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

/// The subset header, relative to the crate root.
pub const SUBSET_HEADER: &str = "include/rustflow_abi.h";
/// The project's top directory (where `include/` is), relative to this crate's.
pub const PROJECT_DIR: &str = "../..";
/// The committed bindings of the subset header and what it mirrors, relative to the crate root.
pub const COMMITTED_BINDINGS: &str = "src/rustflow_abi.rs";
pub const COMMITTED_MIRRORED: &str = "src/rustflow_abi.mirrored.json";
/// How to regenerate the committed files (written at their top, printed by the test).
/// (build.rs does it when `RUSTFLOW_REGEN_BINDINGS=1`, before it reads them, so it works even
/// when they are broken; tests/bindings.rs fails while they are out of date.)
pub const REGEN_COMMAND: &str = "RUSTFLOW_REGEN_BINDINGS=1 cargo build -p freeswitch-sys";

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
pub fn builder(header: &Path, clang_args: &[String], functions: bool) -> bindgen::Builder {
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

/// Binds the subset header with its functions: the text of the committed bindings (with their
/// heading) and what the header mirrors. `Err` is bindgen's message.
pub fn subset(crate_dir: &Path) -> Result<(String, Mirrored), String> {
    let collector = Collector::default();
    let bindings = builder(&crate_dir.join(PROJECT_DIR).join(SUBSET_HEADER), &[], true)
        .parse_callbacks(Box::new(collector.clone()))
        .generate()
        .map_err(|e| format!("bindgen failed on {SUBSET_HEADER}: {e}"))?;
    let text = format!(
        "// Generated by bindgen from {SUBSET_HEADER} (the project's own header); do not edit.\n\
         // Regenerate: {REGEN_COMMAND}\n\n{bindings}"
    );
    Ok((text, collector.mirrored()))
}

/// The subset header's types and constants only, with the collector: the mirror compiled
/// beside the real bindings (two declarations of one C function with distinct Rust types
/// would clash).
pub fn subset_types(crate_dir: &Path) -> Result<(String, Mirrored), String> {
    let collector = Collector::default();
    let bindings = builder(&crate_dir.join(PROJECT_DIR).join(SUBSET_HEADER), &[], false)
        .parse_callbacks(Box::new(collector.clone()))
        .generate()
        .map_err(|e| format!("bindgen failed on {SUBSET_HEADER}: {e}"))?;
    Ok((bindings.to_string(), collector.mirrored()))
}

/// The committed files as bindgen makes them today: (path, text) for the bindings and for the
/// mirrored items (pretty JSON, so a change reads well in a diff).
pub fn committed_files(crate_dir: &Path) -> Result<[(&'static str, String); 2], String> {
    let (text, mirrored) = subset(crate_dir)?;
    let value: serde_json::Value =
        serde_json::from_str(&crate::abi_check::mirrored_to_json(&mirrored))
            .map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    Ok([
        (COMMITTED_BINDINGS, text),
        (COMMITTED_MIRRORED, format!("{json}\n")),
    ])
}
