//! `rustflow flow push|list|delete`: the flows nodes read from PostgreSQL
//! (`flows-source` = a `postgres://` URL in mod_rustflow.conf).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rustflow_engine::{
    CompileOptions, Diagnostic, FlowSet, FlowSource, read_dir_sources, read_source,
};
use rustflow_flowstore::{self as flowstore, FlowTable, Refused, StoredFlow};

use crate::check::UnknownAppsMode;

/// The environment variable `--source` falls back to.
const SOURCE_ENV: &str = "RUSTFLOW_FLOWS_SOURCE";

/// Push, list and delete the flows shared from PostgreSQL
///
/// Nodes whose mod_rustflow.conf sets `flows-source` to a postgres:// URL run the flows of
/// the table rustflow_flows in that database (created when missing) and reload on every push.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Exit status:
  0  done
  1  refused (a flow has a problem: nothing written) or the database failed
  2  usage error"
)]
pub struct FlowArgs {
    #[command(subcommand)]
    command: FlowCommand,
}

#[derive(Debug, clap::Subcommand)]
enum FlowCommand {
    Push(PushArgs),
    List(ListArgs),
    Delete(DeleteArgs),
}

/// Where the flows are.
#[derive(Debug, clap::Args)]
struct Source {
    /// The database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (also from
    /// RUSTFLOW_FLOWS_SOURCE)
    #[arg(long, value_name = "URL", env = SOURCE_ENV, hide_env_values = true)]
    source: String,
}

/// Validate flows and write them to the table, all or nothing
///
/// A FILE (its id is the file name without .json), or every *.json of DIR. The set the
/// table would hold afterwards (its flows with these replacing theirs) is compiled exactly
/// as `rustflow check` and the module compile it; on any problem nothing is written and the
/// problems are listed on stderr as FILE:LINE:COLUMN: JSON-POINTER: message. Otherwise one
/// transaction writes the flows that changed, raises the revision by one and notifies every
/// node, which reloads. Prints ID: added|changed|unchanged per flow.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Exit status:
  0  written (or nothing changed)
  1  refused (nothing written), or the files or the database cannot be read
  2  usage error"
)]
struct PushArgs {
    #[command(flatten)]
    source: Source,
    /// How to treat an application the engine does not run (use the nodes' `unknown-apps`)
    #[arg(long, value_enum, value_name = "MODE", default_value_t = UnknownAppsMode::Error)]
    unknown_apps: UnknownAppsMode,
    /// Who pushed, as the table records it (default: $USER@HOSTNAME)
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// A flow file, or a directory of them
    #[arg(value_name = "FILE|DIR")]
    path: PathBuf,
}

/// List the flows of the table: ID, REVISION, UPDATED_AT (UTC), SIZE (bytes), PUSHED_BY
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status:
  0  listed
  1  the database cannot be read
  2  usage error")]
struct ListArgs {
    #[command(flatten)]
    source: Source,
}

/// Delete flows from the table (refused when a remaining flow runs one of them)
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status:
  0  deleted (ids that were not there are named on stderr)
  1  refused (nothing deleted) or the database failed
  2  usage error")]
struct DeleteArgs {
    #[command(flatten)]
    source: Source,
    /// How to treat an application the engine does not run, when the remaining flows are
    /// compiled (use the nodes' `unknown-apps`)
    #[arg(long, value_enum, value_name = "MODE", default_value_t = UnknownAppsMode::Error)]
    unknown_apps: UnknownAppsMode,
    /// The flow ids
    #[arg(value_name = "ID", required = true)]
    ids: Vec<String>,
}

pub fn command(args: &FlowArgs) -> ExitCode {
    let source = match &args.command {
        FlowCommand::Push(push) => &push.source,
        FlowCommand::List(list) => &list.source,
        FlowCommand::Delete(delete) => &delete.source,
    };
    if !flowstore::is_postgres_url(&source.source) {
        eprintln!(
            "--source: expected a postgres:// or postgresql:// URL, got {:?}",
            flowstore::redact(&source.source)
        );
        return ExitCode::from(2);
    }
    let result = match &args.command {
        FlowCommand::Push(push) => self::push(push),
        FlowCommand::List(list) => self::list(list),
        FlowCommand::Delete(delete) => self::delete(delete),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}

/// `$USER@HOSTNAME`, as far as they are known.
fn default_pusher() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}

/// The flows of FILE or DIR, or every problem reading them.
fn read_flows(path: &Path) -> Result<Vec<FlowSource>, Vec<Diagnostic>> {
    if path.is_dir() {
        let (sources, unreadable) = read_dir_sources(path)?;
        if !unreadable.is_empty() {
            return Err(unreadable);
        }
        Ok(sources)
    } else {
        read_source(path).map(|source| vec![source])
    }
}

/// The problems as `rustflow check` prints them, after one line saying nothing was written.
fn refusal(what: &str, problems: &[Diagnostic]) -> String {
    let mut text = format!(
        "{what}: refused, nothing written: {} problem(s)",
        problems.len()
    );
    for problem in problems {
        text.push('\n');
        text.push_str(&problem.to_string());
    }
    text
}

/// Compiles the set the table would hold, each flow named by the file it came from when it
/// is one of `pushed`, else by its row.
fn validate(
    next: &[StoredFlow],
    pushed: &[FlowSource],
    options: &CompileOptions,
) -> Result<FlowSet, Vec<Diagnostic>> {
    let sources = next.iter().map(|row| {
        pushed
            .iter()
            .find(|source| source.id == row.id)
            .cloned()
            .unwrap_or_else(|| FlowSource {
                id: row.id.clone(),
                file: flowstore::source_name(&row.id),
                text: row.body.clone(),
            })
    });
    FlowSet::compile_sources(sources, Vec::new(), "the flows table", options)
}

fn push(args: &PushArgs) -> Result<(), String> {
    let what = format!("push {}", args.path.display());
    let pushed = read_flows(&args.path).map_err(|problems| refusal(&what, &problems))?;
    if pushed.is_empty() {
        return Err(format!("{what}: no *.json flow files"));
    }
    let options = CompileOptions {
        unknown_apps: args.unknown_apps.into(),
        ..CompileOptions::default()
    };
    let mut table = FlowTable::connect(&args.source.source).map_err(|e| e.to_string())?;
    let flows: Vec<(String, String)> = pushed
        .iter()
        .map(|source| (source.id.clone(), source.text.clone()))
        .collect();
    let by = args.by.clone().unwrap_or_else(default_pusher);
    let mut compiled = None;
    let written = table
        .push(&flows, &by, |next| -> Result<(), Vec<Diagnostic>> {
            compiled = Some(validate(next, &pushed, &options)?);
            Ok(())
        })
        .map_err(|refused| match refused {
            Refused::Invalid(problems) => refusal(&what, &problems),
            Refused::Store(error) => error.to_string(),
        })?;
    // What `check` would warn about in the pushed flows.
    if let Some(set) = compiled {
        for source in &pushed {
            if let Some(flow) = set.get(&source.id) {
                for warning in flow.warnings() {
                    eprintln!("{warning}");
                }
            }
        }
    }
    let mut out = String::new();
    for (id, change) in &written.flows {
        out.push_str(&format!("{id}: {change}\n"));
    }
    crate::write_stdout(&out);
    eprintln!("revision {}", written.revision);
    Ok(())
}

fn list(args: &ListArgs) -> Result<(), String> {
    let mut table = FlowTable::connect(&args.source.source).map_err(|e| e.to_string())?;
    let set = table.read_all().map_err(|e| e.to_string())?;
    let mut out = String::from("ID\tREVISION\tUPDATED_AT\tSIZE\tPUSHED_BY\n");
    for flow in &set.flows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            flow.id,
            flow.revision,
            flow.updated_at,
            flow.body.len(),
            flow.pushed_by
        ));
    }
    crate::write_stdout(&out);
    eprintln!("revision {}, {} flow(s)", set.revision, set.flows.len());
    Ok(())
}

fn delete(args: &DeleteArgs) -> Result<(), String> {
    let what = format!("delete {}", args.ids.join(" "));
    let mut table = FlowTable::connect(&args.source.source).map_err(|e| e.to_string())?;
    let options = CompileOptions {
        unknown_apps: args.unknown_apps.into(),
        ..CompileOptions::default()
    };
    let written = table
        .delete(&args.ids, |next| validate(next, &[], &options).map(drop))
        .map_err(|refused| match refused {
            Refused::Invalid(problems) => refusal(&what, &problems),
            Refused::Store(error) => error.to_string(),
        })?;
    let mut out = String::new();
    for (id, was_there) in &written.flows {
        if *was_there {
            out.push_str(&format!("{id}: deleted\n"));
        } else {
            eprintln!("{id}: no such flow in the table");
        }
    }
    crate::write_stdout(&out);
    eprintln!("revision {}", written.revision);
    Ok(())
}
