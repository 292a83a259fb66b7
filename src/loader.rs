//! Reading `mod_rustflow.conf` through the XML registry and compiling the flows it points at.

use std::sync::Arc;

use rustflow_engine::{
    CompileOptions, Diagnostic, FlowSet, Severity, UnknownApps, read_dir_sources,
};
use rustflow_flowstore::{self as flowstore, FlowTable};

use crate::api;
use crate::config::{CONFIG_NAME, Config, FlowsSource, Globals};
use crate::http;
use crate::state::{Instance, Snapshot};
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

/// Why a load or reload has no new set.
pub enum LoadError {
    /// Problems in the flows or in `http-ca-file`, every one.
    Problems(Vec<Diagnostic>),
    /// The flows table cannot be read: one message naming the URL without its password.
    Source(String),
}

impl LoadError {
    /// The problems as `rustflow reload` answers them.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            LoadError::Problems(diagnostics) => diagnostics.clone(),
            LoadError::Source(message) => vec![Diagnostic {
                file: CONFIG_NAME.to_string(),
                pointer: String::new(),
                line: 1,
                column: 1,
                message: format!("flows-source: {message}"),
            }],
        }
    }

    /// Logs the failure at ERROR: a table that cannot be read is one line.
    pub fn log(&self, origin: &str, consequence: &str) {
        match self {
            LoadError::Problems(diagnostics) => log_diagnostics(origin, diagnostics, consequence),
            LoadError::Source(message) => log::global(
                Level::Error,
                &format!(
                    "rustflow: cannot read the flows (flows-source): {message}; {consequence}"
                ),
            ),
        }
    }
}

/// A configuration's flows and TLS configuration, ready for calls.
pub struct Loaded {
    pub flows: FlowSet,
    pub http_tls: Option<Arc<rustls::ClientConfig>>,
    /// The flows table's revision, when the flows came from it.
    pub revision: Option<i64>,
}

/// Everything a configuration needs before calls can use it: its flows and its TLS
/// configuration (all or nothing; the problems otherwise).
pub fn load(config: &Config) -> Result<Loaded, LoadError> {
    let http_tls = http_tls(config).map_err(|problem| LoadError::Problems(vec![problem]))?;
    let (flows, revision) = load_flows(config)?;
    Ok(Loaded {
        flows,
        http_tls,
        revision,
    })
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

/// Reads the texts of every flow from the configured source, then compiles them as one set
/// (all or nothing, the same for a directory and the table). Returns the table's revision
/// when the flows came from it.
fn load_flows(config: &Config) -> Result<(FlowSet, Option<i64>), LoadError> {
    let (sources, problems, revision) = match &config.flows_source {
        FlowsSource::Dir => {
            if config.flows_dir.as_os_str().is_empty() {
                return Err(LoadError::Problems(vec![Diagnostic {
                    file: CONFIG_NAME.to_string(),
                    pointer: String::new(),
                    line: 1,
                    column: 1,
                    message: "no flows-dir configured and FreeSWITCH has no conf_dir".to_string(),
                }]));
            }
            let (sources, unreadable) =
                read_dir_sources(&config.flows_dir).map_err(LoadError::Problems)?;
            (sources, unreadable, None)
        }
        FlowsSource::Postgres(url) => {
            let set = FlowTable::connect(url)
                .and_then(|mut table| table.read_all())
                .map_err(|error| LoadError::Source(error.0))?;
            (
                flowstore::sources(&set.flows),
                Vec::new(),
                Some(set.revision),
            )
        }
    };
    let flows = FlowSet::compile_sources(
        sources,
        problems,
        &config.flows_origin(),
        &compile_options(config),
    )
    .map_err(LoadError::Problems)?;
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
    Ok((flows, revision))
}

/// `origin`, with the table's revision when there is one.
fn described(origin: &str, revision: Option<i64>) -> String {
    match revision {
        Some(revision) => format!("{origin} (revision {revision})"),
        None => origin.to_string(),
    }
}

/// Loads `config`'s flows and makes them current with it, all or nothing, logging either
/// way: the one reload of `rustflow reload` and of the flows listener. Calls in flight
/// keep the snapshot they started with. Returns the number of flows, or the number still
/// served and why.
pub fn reload(instance: &Instance, config: Config) -> Result<usize, (usize, LoadError)> {
    let _one_at_a_time = instance.reload_lock.lock();
    let origin = config.flows_origin();
    match load(&config) {
        Ok(loaded) => {
            let count = loaded.flows.len();
            update_completion(&loaded.flows);
            let revision = loaded.revision;
            instance.replace(Snapshot {
                config,
                flows: loaded.flows,
                http_tls: loaded.http_tls,
                revision,
            });
            instance.stats.reload_done(true);
            log::global(
                Level::Notice,
                &format!(
                    "rustflow: reloaded {count} flows from {}",
                    described(&origin, revision)
                ),
            );
            Ok(count)
        }
        Err(error) => {
            instance.stats.reload_done(false);
            let kept = instance.current().flows.len();
            error.log(&origin, "keeping the flows loaded before");
            Err((kept, error))
        }
    }
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

/// The first snapshot, at load: broken flows (or a table that cannot be read) leave the
/// module up with no flows (fix them, then `rustflow reload`; a table is reread by itself
/// once its listener connects).
pub fn initial_snapshot() -> (Snapshot, bool) {
    let config = read_config();
    let origin = config.flows_origin();
    match load(&config) {
        Ok(loaded) => {
            log::global(
                Level::Notice,
                &format!(
                    "rustflow: loaded {} flows from {}",
                    loaded.flows.len(),
                    described(&origin, loaded.revision)
                ),
            );
            let snapshot = Snapshot {
                config,
                flows: loaded.flows,
                http_tls: loaded.http_tls,
                revision: loaded.revision,
            };
            (snapshot, true)
        }
        Err(error) => {
            error.log(&origin, "loading no flows");
            (
                Snapshot {
                    config,
                    flows: FlowSet::empty(),
                    http_tls: None,
                    revision: None,
                },
                false,
            )
        }
    }
}

pub fn log_diagnostics(origin: &str, diagnostics: &[Diagnostic], consequence: &str) {
    log::global(
        Level::Error,
        &format!(
            "rustflow: {} problem(s) in the flows of {origin}; {consequence}",
            diagnostics.len(),
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
