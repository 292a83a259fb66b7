//! `rustflow cc`: the contact centre's provisioning and reports on a store file, with the
//! same command language as fs_cli (`rustflow_cc::command`), and capacity planning.

use std::path::PathBuf;
use std::process::ExitCode;

use rustflow_cc::command::{self, CommandError};

/// Provision and inspect the contact centre; plan capacity
///
/// The words after `cc` are the command language of fs_cli's `rustflow cc`, run here on the
/// store file (the module's store when they share the file):
///   queue|agent|skill|bucket|calendar add|set ID FIELD=VALUE...|{JSON}
///   queue|agent|skill|bucket|calendar del ID
///   queue|agent|skill|bucket|calendar list [json]
///   tier add|set QUEUE AGENT [FIELD=VALUE...|{JSON}] · tier del QUEUE AGENT · tier list [QUEUE] [json]
///   agent status ID online|offline|pause [REASON...]
///   member add QUEUE DESTINATION [FIELD=VALUE...] · member set ID FIELD=VALUE... · member del ID
///   member list [QUEUE] [--all] [json] · member import FILE [QUEUE]   (CSV with a header, or JSON)
///   attempt-result ATTEMPT STATUS [FIELD=VALUE...]   an agent's outcome of an outbound attempt
///   snapshot [json]        queues, waiting callers in dispatch order, agents, last hour's SL
///   import FILE.json       makes the store match the file; prints each change
///   export                 the current setup as an import file
///   wallboard [--listen ADDR:PORT] [--token TOKEN] [--sl-target PERCENT]   a read-only live
///            board for supervisors at http://127.0.0.1:8089/ (a page and its event feed
///            /events); a non-loopback address needs --token; SL under the target (80) is red
///   simulate SETUP.json --arrivals-per-hour N --aht S [--patience S] [--hours H]
///            [--seed N] [--sl-secs T] [--queue ID]     (needs no store)
/// Each change is one transaction: a bad value is an error naming the field, and nothing is
/// written. See docs/contact-centre.md.
///
/// The store: --store PATH|URL, else $RUSTFLOW_CC_STORE, else ./rustflow-cc.sqlite (created
/// when missing). A postgres:// (postgresql://) URL names the PostgreSQL database several
/// nodes share.
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Examples:
  rustflow cc import examples/cc/setup.json
  rustflow cc queue set sales max_wait_secs=90
  rustflow cc agent status a1 pause Lunch break
  rustflow cc member import examples/cc/members.csv autumn
  rustflow cc snapshot
  rustflow cc simulate examples/cc/setup.json --queue sales --arrivals-per-hour 120 --aht 180

Exit status:
  0  done
  1  refused or failed (nothing was written)
  2  usage error"
)]
pub struct CcArgs {
    /// The store: a SQLite file or a postgres:// URL [default: $RUSTFLOW_CC_STORE, else ./rustflow-cc.sqlite]
    #[arg(long, value_name = "PATH|URL")]
    store: Option<PathBuf>,
    /// The command, e.g. `queue list json`
    #[arg(
        value_name = "WORDS",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    words: Vec<String>,
}

/// The store (file or URL): the option, else `$RUSTFLOW_CC_STORE`, else `./rustflow-cc.sqlite`.
fn store_path(args: &CcArgs) -> PathBuf {
    args.store.clone().unwrap_or_else(|| {
        std::env::var_os("RUSTFLOW_CC_STORE")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from("rustflow-cc.sqlite"), PathBuf::from)
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn command(args: &CcArgs) -> ExitCode {
    if args.words.first().map(String::as_str) == Some("wallboard") {
        let default_store = store_path(args);
        return crate::wallboard::command(&args.words[1..], &default_store.to_string_lossy());
    }
    let result = if args.words.first().map(String::as_str) == Some("simulate") {
        let words: Vec<&str> = args.words[1..].iter().map(String::as_str).collect();
        command::simulate(&words)
    } else {
        let path = store_path(args);
        let Some(path_text) = path.to_str() else {
            eprintln!("{}: the store path is not UTF-8", path.display());
            return ExitCode::from(1);
        };
        match rustflow_cc::store::open(path_text) {
            Ok(store) => command::execute(&*store, &args.words, now_ms()),
            Err(e) => Err(CommandError::Failed(e.to_string())),
        }
    };
    match result {
        Ok(text) => {
            crate::write_stdout(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rustflow cc: {e}");
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}
