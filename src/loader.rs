//! Reading `mod_rustflow.conf` through the XML registry and compiling the flows it points at.

use std::path::Path;
use std::sync::Arc;

use rustflow_engine::{CompileOptions, Diagnostic, FlowSet, Severity, UnknownApps};

use crate::api;
use crate::config::{CONFIG_NAME, Config, Globals};
use crate::http;
use crate::state::Snapshot;
use crate::switch::log::{self, Level};
use crate::switch::module::set_completion;
use crate::switch::{globals, xml::ConfigFile};

/// Reads the configuration, logging every problem (unknown params, bad values).
pub fn read_config() -> Config {
    let globals = Globals {
        conf_dir: globals::get("conf_dir"),
        sounds_dir: globals::get("sounds_dir"),
        recordings_dir: globals::get("recordings_dir"),
        db_dir: globals::get("db_dir"),
    };
    let (params, providers) = match ConfigFile::open(CONFIG_NAME) {
        Some(file) => {
            let settings = file.section().child("settings");
            let params = settings
                .iter()
                .flat_map(|s| s.children("param"))
                .map(|p| (p.attr("name"), p.attr("value")))
                .collect::<Vec<_>>();
            let providers = settings
                .iter()
                .flat_map(|s| s.children("tts-provider"))
                .map(|p| (p.attr("name"), p.attr("engine"), p.attr("voice")))
                .collect::<Vec<_>>();
            (params, providers)
        }
        None => {
            log::global(
                Level::Notice,
                &format!("rustflow: no {CONFIG_NAME} configuration found; using the defaults"),
            );
            (Vec::new(), Vec::new())
        }
    };
    let (config, problems) = Config::parse(&globals, &params, &providers);
    for problem in problems {
        log::global(Level::Warning, &format!("rustflow: {problem}"));
    }
    config
}

/// Everything a configuration needs before calls can use it: its flows and its TLS
/// configuration (all or nothing; the problems otherwise).
pub fn load(
    config: &Config,
) -> Result<(FlowSet, Option<Arc<rustls::ClientConfig>>), Vec<Diagnostic>> {
    let http_tls = http_tls(config).map_err(|problem| vec![problem])?;
    Ok((load_flows(config)?, http_tls))
}

/// The TLS configuration with the CAs of `http-ca-file`, when it is set.
fn http_tls(config: &Config) -> Result<Option<Arc<rustls::ClientConfig>>, Diagnostic> {
    if config.http_ca_file.as_os_str().is_empty() {
        return Ok(None);
    }
    http::tls_with_ca_file(&config.http_ca_file)
        .map(Some)
        .map_err(|message| Diagnostic {
            file: CONFIG_NAME.to_string(),
            pointer: String::new(),
            line: 1,
            column: 1,
            message: format!("http-ca-file: {message}"),
        })
}

/// Compiles every flow of the configured directory (all or nothing).
fn load_flows(config: &Config) -> Result<FlowSet, Vec<Diagnostic>> {
    if config.flows_dir.as_os_str().is_empty() {
        return Err(vec![Diagnostic {
            file: CONFIG_NAME.to_string(),
            pointer: String::new(),
            line: 1,
            column: 1,
            message: "no flows-dir configured and FreeSWITCH has no conf_dir".to_string(),
        }]);
    }
    let flows = FlowSet::load_dir(&config.flows_dir, &compile_options(config))?;
    if config.unknown_apps == UnknownApps::Skip {
        for flow in flows.iter() {
            for skipped in flow.summary().skipped {
                log::global(
                    Level::Warning,
                    &format!(
                        "rustflow: {}: unknown application `{}` at {} will fail when reached (unknown-apps=skip)",
                        flow.file(),
                        skipped.app,
                        skipped.pointer
                    ),
                );
            }
        }
    }
    log_warnings(&flows);
    Ok(flows)
}

/// What `rustflow check` warns about, once per load or reload: warnings at WARNING, notes
/// (a variable nothing sets, which the dialplan may) at INFO.
fn log_warnings(flows: &FlowSet) {
    for warning in flows.iter().flat_map(|flow| flow.warnings()) {
        let level = match warning.severity {
            Severity::Note => Level::Info,
            Severity::Warning | Severity::Error => Level::Warning,
        };
        log::global(level, &format!("rustflow: {warning}"));
    }
}

pub fn compile_options(config: &Config) -> CompileOptions {
    CompileOptions {
        unknown_apps: config.unknown_apps,
        allow_insecure_skip_verify: config.http_allow_insecure,
        skip_lint: false,
    }
}

/// The first snapshot, at load: a broken flow directory leaves the module up with no flows
/// (fix the files, then `rustflow reload`).
pub fn initial_snapshot() -> (Snapshot, bool) {
    let config = read_config();
    match load(&config) {
        Ok((flows, http_tls)) => {
            log::global(
                Level::Notice,
                &format!(
                    "rustflow: loaded {} flows from {}",
                    flows.len(),
                    config.flows_dir.display()
                ),
            );
            let snapshot = Snapshot {
                config,
                flows,
                http_tls,
            };
            (snapshot, true)
        }
        Err(diagnostics) => {
            log_diagnostics(&config.flows_dir, &diagnostics, "loading no flows");
            (
                Snapshot {
                    config,
                    flows: FlowSet::empty(),
                    http_tls: None,
                },
                false,
            )
        }
    }
}

pub fn log_diagnostics(dir: &Path, diagnostics: &[Diagnostic], consequence: &str) {
    log::global(
        Level::Error,
        &format!(
            "rustflow: {} problem(s) in the flows of {}; {consequence}",
            diagnostics.len(),
            dir.display()
        ),
    );
    for d in diagnostics {
        log::global(Level::Error, &format!("rustflow: {d}"));
    }
}

/// Replaces the fs_cli completion entries with the current ids.
pub fn update_completion(flows: &FlowSet) {
    set_completion("del rustflow");
    for entry in api::completion_entries(flows.iter().map(|f| f.id())) {
        set_completion(&entry);
    }
}
