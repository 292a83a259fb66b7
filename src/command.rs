//! The API command `rustflow` (fs_cli): runs what `api::parse` understood.

use std::path::Path;

use rustflow_engine::{FlowSet, compile_file, is_valid_flow_id};

use crate::api::{self, Command, Format};
use crate::config::FlowsSource;
use crate::flows_listener;
use crate::loader;
use crate::state::{self, Instance, Snapshot};
use crate::switch::module::Api;
use crate::switch::session::Session;
use crate::switch::stream::Stream;

pub struct RustflowApi;

impl Api for RustflowApi {
    fn run(args: &str, _session: Option<&Session<'_>>, stream: &mut Stream<'_>) {
        crate::test_hooks::panic_at("api");
        stream.write(&answer(args));
    }
}

fn answer(args: &str) -> String {
    let (command, format) = match api::parse(args) {
        Ok(parsed) => parsed,
        Err(usage) => return usage,
    };
    let Some(instance) = state::instance() else {
        return api::error(format, "mod_rustflow is not loaded");
    };
    match command {
        Command::Reload => reload(&instance, format),
        Command::List => api::list(format, instance.current().flows.iter().map(|f| f.as_ref())),
        Command::Show(id) => match instance.current().flows.get(&id) {
            Some(flow) => api::show(format, flow),
            None => api::error(format, &format!("no flow with id \"{id}\" is loaded")),
        },
        Command::Validate(target) => validate(&instance.current(), &target, format),
        Command::Stats => instance
            .stats
            .view(instance.current().flows.len())
            .pipe(|v| api::stats(format, &v)),
        Command::Cc(line) => crate::cc::command(&line),
        Command::Version => api::version(
            format,
            env!("CARGO_PKG_VERSION"),
            crate::API_VERSION,
            crate::switch::HEADERS,
        ),
    }
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

fn reload(instance: &Instance, format: Format) -> String {
    let config = loader::read_config();
    let origin = config.flows_origin();
    let source = config.flows_source.clone();
    let result = loader::reload(instance, config);
    // After the reload, outside its lock: a listener of another source is stopped (it may
    // be waiting for that lock) and one for the new source started.
    flows_listener::follow(instance, &source);
    match result {
        Ok(count) => api::reloaded(format, &origin, count),
        Err((kept, error)) => api::reload_failed(format, &origin, kept, &error.diagnostics()),
    }
}

/// `validate PATH|ID`: a path (has a `/` or ends in `.json`) is a file or directory; anything
/// else is a flow id in flows-dir (with flows from the table, pushes are validated by
/// `rustflow flow push`).
fn validate(snapshot: &Snapshot, target: &str, format: Format) -> String {
    let options = loader::compile_options(&snapshot.config);
    let path = if target.contains('/') || target.ends_with(".json") {
        Path::new(target).to_path_buf()
    } else if let FlowsSource::Postgres(_) = snapshot.config.flows_source {
        return api::error(
            format,
            &format!(
                "flows come from the flows table of {} (flows-source): validate a file by its path, or see the loaded flow with `rustflow show {target}`",
                snapshot.config.flows_origin()
            ),
        );
    } else if is_valid_flow_id(target) {
        snapshot.config.flows_dir.join(format!("{target}.json"))
    } else {
        return api::error(
            format,
            &format!("{target:?} is neither a path nor a valid flow id"),
        );
    };
    if path.is_dir() {
        return match FlowSet::load_dir(&path, &options) {
            Ok(set) => {
                let warnings: Vec<_> = set.iter().flat_map(|f| f.warnings()).cloned().collect();
                api::valid_dir(format, &path.display().to_string(), set.len(), &warnings)
            }
            Err(diagnostics) => api::invalid(format, &path.display().to_string(), &diagnostics),
        };
    }
    if !path.is_file() {
        return api::error(format, &format!("{} does not exist", path.display()));
    }
    match compile_file(&path, &options) {
        Ok(flow) => api::valid(format, &flow),
        Err(diagnostics) => api::invalid(format, &path.display().to_string(), &diagnostics),
    }
}
