//! `rustflow`: the offline tool of mod_rustflow. Checks flow files with the module's own
//! validation, runs them on the call simulator, draws them, and prints the JSON Schema of
//! the format. No FreeSWITCH needed.
#![forbid(unsafe_code)]

mod args;
mod check;
mod run;
mod simulate;

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use args::UsageError;

const USAGE: &str = "\
rustflow — check, run and draw mod_rustflow call flows offline

Usage:
  rustflow check [--unknown-apps skip|error] FILE|DIR
  rustflow run FILE [options]           (see `rustflow run --help`)
  rustflow graph FILE
  rustflow schema
  rustflow help [COMMAND]

Each command has --help. Exit status: 0 success, 1 the flow has problems, 2 usage error.
";

const GRAPH_USAGE: &str = "\
Usage: rustflow graph FILE

Prints the flow as Graphviz DOT: one node per application (id = its JSON pointer), nested
blocks as clusters, branch edges labelled then/else/case values, goto and limit-failover
edges dashed, execute edges dotted. Render with e.g. `rustflow graph f.json | dot -Tsvg`.

Exit status: 0 printed, 1 the file cannot be read or is not a flow, 2 usage error.
";

const SCHEMA_USAGE: &str = "\
Usage: rustflow schema

Prints the JSON Schema (draft 2020-12) of the flow file format, for editors: both file
shapes, reserved keys, every application the engine runs with its fields, nested blocks.
Webitel applications the engine does not run are listed as deprecated.

Exit status: 0 printed, 2 usage error.
";

/// Outcome of a command: the process exit status.
pub enum Status {
    Ok,
    Problems,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match argv.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (result, usage) = match command {
        "check" => (check::command(rest), check::USAGE),
        "run" => (run::command(rest), run::USAGE),
        "graph" => (graph(rest), GRAPH_USAGE),
        "schema" => (schema(rest), SCHEMA_USAGE),
        "help" | "--help" | "-h" => (help(rest), USAGE),
        "--version" | "version" => {
            println!("rustflow {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        other => (Err(UsageError(format!("unknown command `{other}`"))), USAGE),
    };
    match result {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Problems) => ExitCode::from(1),
        Err(UsageError(message)) => {
            eprintln!("rustflow {command}: {message}\n");
            eprint!("{usage}");
            ExitCode::from(2)
        }
    }
}

fn help(rest: &[String]) -> Result<Status, UsageError> {
    let text = match rest.first().map(String::as_str) {
        None => USAGE,
        Some("check") => check::USAGE,
        Some("run") => run::USAGE,
        Some("graph") => GRAPH_USAGE,
        Some("schema") => SCHEMA_USAGE,
        Some(other) => return Err(UsageError(format!("unknown command `{other}`"))),
    };
    print!("{text}");
    Ok(Status::Ok)
}

/// Prints `--help` text when asked; true when it did.
pub fn printed_help(parsed: &[args::Arg], usage: &str) -> bool {
    if args::wants_help(parsed) {
        print!("{usage}");
        return true;
    }
    false
}

fn schema(rest: &[String]) -> Result<Status, UsageError> {
    let parsed = args::parse(rest, &[], &[])?;
    if printed_help(&parsed, SCHEMA_USAGE) {
        return Ok(Status::Ok);
    }
    if let Some(extra) = args::positionals(&parsed).first() {
        return Err(UsageError(format!("unexpected argument `{extra}`")));
    }
    let text = serde_json::to_string_pretty(&rustflow_engine::schema::flow_schema())
        .expect("a serde_json::Value always serialises");
    write_stdout(&format!("{text}\n"));
    Ok(Status::Ok)
}

fn graph(rest: &[String]) -> Result<Status, UsageError> {
    let parsed = args::parse(rest, &[], &[])?;
    if printed_help(&parsed, GRAPH_USAGE) {
        return Ok(Status::Ok);
    }
    let file = args::single_positional(&parsed, "FILE")?;
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{file}: cannot read: {err}");
            return Ok(Status::Problems);
        }
    };
    let name = Path::new(file).file_stem().map_or_else(
        || file.to_string(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    match rustflow_engine::graph::flow_graph_source(&name, &text) {
        Ok(dot) => {
            write_stdout(&dot);
            Ok(Status::Ok)
        }
        Err(message) => {
            eprintln!("{file}: {message}");
            Ok(Status::Problems)
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`rustflow schema | head`).
pub fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
