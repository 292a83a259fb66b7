//! `rustflow check`: the module's own validation, one line per problem.

use std::path::{Path, PathBuf};

use rustflow_engine::{CompileOptions, Diagnostic, Flow, FlowSet, Severity, UnknownApps, Warning};

use crate::Status;

/// Validate flow files exactly as the module does when it loads them
///
/// A FILE, or every *.json in DIR as one flow set (all or nothing, like a module reload:
/// when any file has a problem, only the problems are listed).
/// Each problem is one line on stdout:
///   FILE:LINE:COLUMN: JSON-POINTER: message
/// A flow that loads may still get warnings and notes about traps of the flow language (see
/// "Common mistakes" in docs/apps.md), each with a fix:
///   FILE:LINE:COLUMN: JSON-POINTER: warning[CODE]: message; fix: ...
///   FILE:LINE:COLUMN: JSON-POINTER: note[CODE]: message; fix: ...
#[derive(Debug, clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "\
Exit status:
  0  every flow is valid (warnings and notes do not count, unless --deny-warnings)
  1  at least one problem, or a warning under --deny-warnings (or the path cannot be read)
  2  usage error (unknown option, missing or extra argument)"
)]
pub struct CheckArgs {
    /// How to treat an application the engine does not run
    #[arg(long, value_enum, value_name = "MODE", default_value_t = UnknownAppsMode::Error)]
    unknown_apps: UnknownAppsMode,
    /// Warnings fail the check (exit status 1); notes never do
    #[arg(long)]
    deny_warnings: bool,
    /// One JSON object per line for every problem, warning and note: {file, pointer, line,
    /// column, severity, code, message}, severity error|warning|note; nothing else on stdout
    #[arg(long)]
    json: bool,
    /// A flow file, or a directory of them
    #[arg(value_name = "FILE|DIR")]
    path: PathBuf,
}

/// `--unknown-apps` of `check` and `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownAppsMode {
    /// It is an error: the flow does not load
    Error,
    /// It is accepted: a note (FILE:LINE:COLUMN: JSON-POINTER: note: ...), not a problem
    Skip,
}

impl From<UnknownAppsMode> for UnknownApps {
    fn from(mode: UnknownAppsMode) -> Self {
        match mode {
            UnknownAppsMode::Error => UnknownApps::Error,
            UnknownAppsMode::Skip => UnknownApps::Skip,
        }
    }
}

pub fn command(args: &CheckArgs) -> Status {
    let options = CompileOptions {
        unknown_apps: args.unknown_apps.into(),
        ..CompileOptions::default()
    };
    let report = check_path(&args.path, &options);
    for finding in &report.findings {
        match (args.json, &finding.json) {
            (false, _) => println!("{}", finding.text),
            (true, Some(line)) => println!("{line}"),
            (true, None) => {}
        }
    }
    eprintln!(
        "{} flow(s) checked: {} problem(s), {} warning(s), {} note(s), {} skipped application(s)",
        report.flows, report.problems, report.warnings, report.notes, report.skipped
    );
    if report.problems == 0 && !(args.deny_warnings && report.warnings > 0) {
        Status::Ok
    } else {
        Status::Problems
    }
}

/// One line of the report: its text, and its JSON object unless it is a flow's "ok" line.
#[derive(Debug)]
pub struct Finding {
    pub text: String,
    pub json: Option<String>,
}

impl Finding {
    fn of(item: &Warning, text: String) -> Finding {
        Finding {
            text,
            json: Some(item.to_json()),
        }
    }
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub flows: usize,
    pub problems: usize,
    pub warnings: usize,
    pub notes: usize,
    pub skipped: usize,
}

pub fn check_path(target: &Path, options: &CompileOptions) -> Report {
    let mut report = Report::default();
    if target.is_dir() {
        report.flows = flow_files(target).map_or(0, |files| files.len());
        match FlowSet::load_dir(target, options) {
            Ok(set) => set.iter().for_each(|flow| report.valid(flow)),
            Err(diagnostics) => diagnostics.iter().for_each(|d| report.problem(d)),
        }
    } else {
        report.flows = 1;
        match rustflow_engine::compile_file(target, options) {
            Ok(flow) => report.valid(&flow),
            Err(diagnostics) => diagnostics.iter().for_each(|d| report.problem(d)),
        }
    }
    report
}

impl Report {
    fn problem(&mut self, diagnostic: &Diagnostic) {
        self.problems += 1;
        // Load errors have no code of their own.
        let item = Warning {
            file: diagnostic.file.clone(),
            pointer: diagnostic.pointer.clone(),
            line: diagnostic.line,
            column: diagnostic.column,
            severity: Severity::Error,
            code: "invalid",
            message: diagnostic.message.clone(),
        };
        self.findings
            .push(Finding::of(&item, diagnostic.to_string()));
    }

    fn valid(&mut self, flow: &Flow) {
        let summary = flow.summary();
        let text = if summary.skipped.is_empty() {
            None
        } else {
            std::fs::read_to_string(flow.file()).ok()
        };
        // Skipped applications and lint findings, in file order.
        let mut items: Vec<(Warning, String)> = Vec::new();
        for skipped in &summary.skipped {
            self.skipped += 1;
            let (line, column) = text
                .as_deref()
                .and_then(|text| position(text, &skipped.pointer))
                .unwrap_or((1, 1));
            let item = Warning {
                file: flow.file().to_string(),
                pointer: skipped.pointer.clone(),
                line,
                column,
                severity: Severity::Note,
                code: "unknown-app-skipped",
                message: format!(
                    "unknown application `{}` skipped (--unknown-apps skip)",
                    skipped.app
                ),
            };
            let pointer = if item.pointer.is_empty() {
                "/"
            } else {
                &item.pointer
            };
            let line_text = format!(
                "{}:{line}:{column}: {pointer}: note: {}",
                item.file, item.message
            );
            items.push((item, line_text));
        }
        for warning in flow.warnings() {
            match warning.severity {
                Severity::Warning | Severity::Error => self.warnings += 1,
                Severity::Note => self.notes += 1,
            }
            items.push((warning.clone(), warning.to_string()));
        }
        items.sort_by_key(|(item, _)| (item.line, item.column));
        for (item, line_text) in &items {
            self.findings.push(Finding::of(item, line_text.clone()));
        }
        self.findings.push(Finding {
            text: format!(
                "{}: ok ({} steps, version {})",
                flow.file(),
                summary.steps,
                flow.version()
            ),
            json: None,
        });
    }
}

/// The `*.json` files of a directory, sorted.
fn flow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Line and column of what a JSON pointer names in `text` (for an object member: its key).
fn position(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let document = rustflow_engine::json::parse(text).ok()?;
    let mut value = &document.root;
    let mut offset = value.start;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if let Some(members) = value.as_object() {
            let member = members.iter().find(|m| m.key == token)?;
            offset = member.key_start;
            value = &member.value;
        } else {
            value = value.as_array()?.get(token.parse::<usize>().ok()?)?;
            offset = value.start;
        }
    }
    Some(rustflow_engine::json::line_col(text, offset))
}

#[cfg(test)]
mod tests {
    use super::position;

    #[test]
    fn pointers_resolve_to_lines_and_columns() {
        let text = "[\n  {\"a\": 1},\n  {\"if\": {\"then\": [{\"x/y\": 2}]}}\n]";
        assert_eq!(position(text, ""), Some((1, 1)));
        assert_eq!(position(text, "/0/a"), Some((2, 4)));
        assert_eq!(position(text, "/1/if/then/0/x~1y"), Some((3, 21)));
        assert_eq!(position(text, "/7"), None);
    }
}
