//! `rustflow`: the offline tool of mod_rustflow. Checks flow files with the module's own
//! validation, runs them on the call simulator, draws them, and prints the JSON Schema of
//! the format. No FreeSWITCH needed.
#![forbid(unsafe_code)]

mod cc;
mod ccsim;
mod check;
mod dialsim;
mod flow;
mod run;
mod simulate;
mod wallboard;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  rustflow check examples/flows/
  rustflow run examples/flows/menu.json --dtmf 2 --bridge busy
  rustflow graph examples/flows/menu.json | dot -Tsvg > menu.svg
  rustflow schema > flow.schema.json
  rustflow cc import examples/cc/setup.json && rustflow cc snapshot
  rustflow flow push examples/flows/ --source postgres://flows@db/pbx

Exit status: 0 success, 1 the flow has problems (cc: refused or failed), 2 usage error.";

/// rustflow — check, run and draw mod_rustflow call flows offline
#[derive(Debug, Parser)]
#[command(
    name = "rustflow",
    version,
    after_help = EXAMPLES,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Check(check::CheckArgs),
    // boxed: many options, and the other commands have few
    Run(Box<run::RunArgs>),
    Graph(GraphArgs),
    Schema(SchemaArgs),
    Cc(cc::CcArgs),
    Flow(flow::FlowArgs),
    /// Print the version (as --version)
    #[command(hide = true)]
    Version,
}

/// Print the flow as Graphviz DOT
///
/// One node per application (id = its JSON pointer), nested blocks as clusters, branch
/// edges labelled then/else/case values, goto and limit-failover edges dashed, execute
/// edges dotted. Render with e.g. `rustflow graph f.json | dot -Tsvg`.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Exit status:
  0  printed
  1  the file cannot be read or is not a flow
  2  usage error"
)]
struct GraphArgs {
    /// The flow file
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Print the JSON Schema of the flow file format
///
/// The JSON Schema (draft 2020-12) of the flow file format, for editors: both file shapes,
/// reserved keys, every application the engine runs with its fields, nested blocks.
/// Webitel applications the engine does not run are listed as deprecated.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Exit status:
  0  printed
  2  usage error"
)]
struct SchemaArgs {}

/// Outcome of a command: the process exit status.
pub enum Status {
    Ok,
    Problems,
}

/// Parses the command line. `--http` and `--http-fixtures` of `run` answer in the order
/// they were given, which only the raw matches know.
fn parse<I, T>(argv: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(argv)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::Run(args), Some(("run", sub))) = (&mut cli.command, matches.subcommand()) {
        args.order_http_sources(sub);
    }
    Ok(cli)
}

fn main() -> ExitCode {
    let cli = match parse(std::env::args_os()) {
        Ok(cli) => cli,
        // help and --version print on stdout and exit 0; usage errors on stderr, exit 2
        Err(err) => err.exit(),
    };
    let status = match &cli.command {
        // its own statuses: 1 refused or failed, 2 a usage error of the cc language
        Command::Cc(args) => return cc::command(args),
        // its own statuses: 1 refused or failed, 2 a usage error (--source not a URL)
        Command::Flow(args) => return flow::command(args),
        Command::Check(args) => check::command(args),
        Command::Run(args) => run::command(args),
        Command::Graph(args) => graph(args),
        Command::Schema(SchemaArgs {}) => schema(),
        Command::Version => {
            println!("rustflow {}", env!("CARGO_PKG_VERSION"));
            Status::Ok
        }
    };
    match status {
        Status::Ok => ExitCode::SUCCESS,
        Status::Problems => ExitCode::from(1),
    }
}

fn schema() -> Status {
    let text = serde_json::to_string_pretty(&rustflow_engine::schema::flow_schema())
        .expect("a serde_json::Value always serialises");
    write_stdout(&format!("{text}\n"));
    Status::Ok
}

fn graph(args: &GraphArgs) -> Status {
    let file = args.file.display();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("{file}: cannot read: {err}");
            return Status::Problems;
        }
    };
    let name = args.file.file_stem().map_or_else(
        || file.to_string(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    match rustflow_engine::graph::flow_graph_source(&name, &text) {
        Ok(dot) => {
            write_stdout(&dot);
            Status::Ok
        }
        Err(message) => {
            eprintln!("{file}: {message}");
            Status::Problems
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`rustflow schema | head`).
pub fn write_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn run_args(argv: &[&str]) -> run::RunArgs {
        match parse(["rustflow", "run"].iter().chain(argv)) {
            Ok(Cli {
                command: Command::Run(args),
            }) => *args,
            other => panic!("{argv:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn options_go_before_or_after_the_file_in_both_spellings() {
        let args = run_args(&[
            "--dtmf",
            "1",
            "f.json",
            "--var=a=b=c",
            "--dtmf=2#",
            "--json",
        ]);
        assert_eq!(args.file, "f.json");
        assert_eq!(args.dtmf, ["1", "2#"]);
        assert_eq!(args.var, [("a".to_string(), "b=c".to_string())]);
        assert!(args.json);
    }

    #[test]
    fn a_repeated_single_value_option_keeps_the_last_value() {
        let args = run_args(&["f.json", "--max-steps", "5", "--max-steps", "7"]);
        assert_eq!(args.max_steps, Some(7));
    }

    #[test]
    fn double_dash_ends_the_options_and_values_may_start_with_a_dash() {
        let args = run_args(&["--speech", "-one", "--arg", "-5", "--", "--json"]);
        assert_eq!(args.file, "--json");
        assert!(!args.json);
        assert_eq!(args.speech, ["-one"]);
        assert_eq!(args.arg, ["-5"]);
    }

    #[test]
    fn http_answers_keep_their_command_line_order() {
        let args = run_args(&[
            "f.json",
            "--http-fixtures",
            "a.json",
            "--http",
            "https://x/?q=1=body.txt",
            "--http-fixtures",
            "b.json",
        ]);
        assert_eq!(
            args.http_sources(),
            [
                run::HttpSource::FixturesFile("a.json".into()),
                run::HttpSource::UrlFile {
                    url: "https://x/?q=1".into(),
                    file: "body.txt".into()
                },
                run::HttpSource::FixturesFile("b.json".into()),
            ]
        );
    }
}
