//! The `rustflow` API command: parsing and output formats (pure; the glue runs it).
//!
//! Plain text by default, JSON with a trailing `json` word. Text answers follow FreeSWITCH
//! habits: `+OK …` / `-ERR …` on the first line where a command succeeds or fails.

use std::collections::BTreeMap;

use rustflow_engine::{Diagnostic, Flow, Warning};
use serde_json::{Value, json};

/// Usage line, shown for an empty or unknown command.
pub const USAGE: &str =
    "rustflow reload|list|show ID|validate PATH|ID|stats|version [json] | rustflow cc WORDS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Reload,
    List,
    Show(String),
    Validate(String),
    Stats,
    Version,
    /// `cc WORDS`: the contact centre's command language, the words as typed.
    Cc(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Parses the words after `rustflow`. `Err` carries the complete answer text (usage).
/// A trailing `json` selects JSON output when the words before it form a command, so a flow
/// called `json` can still be shown (`show json`, `show json json`).
pub fn parse(args: &str) -> Result<(Command, Format), String> {
    // `cc` takes the rest of the line as its own language (`json` is one of its words).
    let trimmed = args.trim_start();
    if let Some(rest) = trimmed.strip_prefix("cc")
        && (rest.is_empty() || rest.starts_with(char::is_whitespace))
    {
        return Ok((Command::Cc(rest.trim().to_string()), Format::Text));
    }
    let words: Vec<&str> = args.split_whitespace().collect();
    if let [rest @ .., "json"] = words.as_slice()
        && let Ok(command) = parse_words(rest)
    {
        return Ok((command, Format::Json));
    }
    parse_words(&words).map(|command| (command, Format::Text))
}

fn parse_words(words: &[&str]) -> Result<Command, String> {
    Ok(match words {
        ["reload"] => Command::Reload,
        ["list"] => Command::List,
        ["show", id] => Command::Show(id.to_string()),
        ["validate", target] => Command::Validate(target.to_string()),
        ["stats"] => Command::Stats,
        ["version"] => Command::Version,
        [] => return Err(format!("-ERR usage: {USAGE}\n")),
        [word @ ("show" | "validate"), ..] => {
            return Err(format!(
                "-ERR `{word}` takes exactly one argument; usage: {USAGE}\n"
            ));
        }
        [other, ..] => return Err(format!("-ERR unknown command `{other}`; usage: {USAGE}\n")),
    })
}

/// Answer for an error, in either format.
pub fn error(format: Format, message: &str) -> String {
    match format {
        Format::Text => format!("-ERR {message}\n"),
        Format::Json => json_line(json!({"ok": false, "error": message})),
    }
}

fn json_line(value: Value) -> String {
    format!("{value}\n")
}

fn diagnostic_json(d: &Diagnostic) -> Value {
    json!({"file": d.file, "pointer": d.pointer, "line": d.line, "column": d.column, "message": d.message})
}

/// `rustflow list`.
pub fn list<'a>(format: Format, flows: impl Iterator<Item = &'a Flow>) -> String {
    let flows: Vec<&Flow> = flows.collect();
    match format {
        Format::Text => {
            let mut out = format!("+OK {} flow{}\n", flows.len(), plural(flows.len()));
            for f in &flows {
                out.push_str(&format!("{}\t{}\t{}\n", f.id(), f.version(), f.file()));
            }
            out
        }
        Format::Json => json_line(json!({
            "ok": true,
            "flows": flows.iter().map(|f| json!({"id": f.id(), "version": f.version(), "file": f.file(), "steps": f.summary().steps})).collect::<Vec<_>>(),
        })),
    }
}

/// `rustflow show ID`.
pub fn show(format: Format, flow: &Flow) -> String {
    let s = flow.summary();
    match format {
        Format::Text => {
            let apps: Vec<String> = s.apps.iter().map(|(app, n)| format!("{app}={n}")).collect();
            let skipped: Vec<String> = s
                .skipped
                .iter()
                .map(|k| format!("{} at {}", k.app, k.pointer))
                .collect();
            format!(
                "+OK {id}\nid: {id}\nversion: {version}\nfile: {file}\nsteps: {steps}\napps: {apps}\ntags: {tags}\nfunctions: {functions}\nskipped: {skipped}\n",
                id = flow.id(),
                version = flow.version(),
                file = flow.file(),
                steps = s.steps,
                apps = dash_if_empty(&apps.join(" ")),
                tags = dash_if_empty(&s.tags.join(", ")),
                functions = dash_if_empty(&s.functions.join(", ")),
                skipped = dash_if_empty(&skipped.join(", ")),
            )
        }
        Format::Json => json_line(json!({
            "ok": true,
            "id": flow.id(),
            "version": flow.version(),
            "file": flow.file(),
            "steps": s.steps,
            "apps": s.apps.iter().collect::<BTreeMap<_, _>>(),
            "tags": s.tags,
            "functions": s.functions,
            "skipped": s.skipped.iter().map(|k| json!({"app": k.app, "pointer": k.pointer})).collect::<Vec<_>>(),
        })),
    }
}

/// `rustflow validate` of one file that compiled, then its warnings and notes (one line
/// each, as `rustflow check` prints them).
pub fn valid(format: Format, flow: &Flow) -> String {
    let steps = flow.summary().steps;
    match format {
        Format::Text => format!(
            "+OK {} is valid: flow {}, version {}, {} step{}\n{}",
            flow.file(),
            flow.id(),
            flow.version(),
            steps,
            plural(steps),
            warning_lines(flow.warnings())
        ),
        Format::Json => json_line(json!({
            "ok": true, "valid": true, "file": flow.file(), "id": flow.id(), "version": flow.version(), "steps": steps,
            "warnings": flow.warnings().iter().map(warning_json).collect::<Vec<_>>(),
        })),
    }
}

/// `rustflow validate` of a directory whose flows all compiled, then their warnings.
pub fn valid_dir(format: Format, dir: &str, count: usize, warnings: &[Warning]) -> String {
    match format {
        Format::Text => format!(
            "+OK {dir}: {count} flow{} valid\n{}",
            plural(count),
            warning_lines(warnings)
        ),
        Format::Json => json_line(json!({
            "ok": true, "valid": true, "dir": dir, "flows": count,
            "warnings": warnings.iter().map(warning_json).collect::<Vec<_>>(),
        })),
    }
}

fn warning_lines(warnings: &[Warning]) -> String {
    warnings.iter().map(|w| format!("{w}\n")).collect()
}

fn warning_json(w: &Warning) -> Value {
    json!({
        "file": w.file, "pointer": w.pointer, "line": w.line, "column": w.column,
        "severity": w.severity.as_str(), "code": w.code, "message": w.message,
    })
}

/// `rustflow validate` that found problems.
pub fn invalid(format: Format, target: &str, diagnostics: &[Diagnostic]) -> String {
    match format {
        Format::Text => {
            let n = diagnostics.len();
            let mut out = format!("-ERR {target}: {n} problem{}\n", plural(n));
            for d in diagnostics {
                out.push_str(&format!("{d}\n"));
            }
            out
        }
        Format::Json => json_line(json!({
            "ok": false, "valid": false, "target": target,
            "diagnostics": diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
        })),
    }
}

/// `rustflow reload` that swapped in a new set.
pub fn reloaded(format: Format, dir: &str, count: usize) -> String {
    match format {
        Format::Text => format!("+OK reloaded {count} flow{} from {dir}\n", plural(count)),
        Format::Json => {
            json_line(json!({"ok": true, "reloaded": true, "dir": dir, "flows": count}))
        }
    }
}

/// `rustflow reload` that failed: the old set keeps serving.
pub fn reload_failed(format: Format, dir: &str, kept: usize, diagnostics: &[Diagnostic]) -> String {
    match format {
        Format::Text => {
            let n = diagnostics.len();
            let mut out = format!(
                "-ERR reload of {dir} failed with {n} problem{}; still serving the {kept} flow{} loaded before\n",
                plural(n),
                plural(kept)
            );
            for d in diagnostics {
                out.push_str(&format!("{d}\n"));
            }
            out
        }
        Format::Json => json_line(json!({
            "ok": false, "reloaded": false, "dir": dir, "kept": kept,
            "diagnostics": diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
        })),
    }
}

/// Figures for `rustflow stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsView {
    pub flows_loaded: usize,
    pub calls_running: u64,
    /// `httpRequest` workers running, some possibly for calls already over.
    pub http_workers: usize,
    pub calls_total: u64,
    pub steps_run: u64,
    pub errors: u64,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Unix seconds of the last load/reload attempt and whether it succeeded.
    pub last_reload: Option<(u64, bool)>,
}

/// `rustflow stats`.
pub fn stats(format: Format, s: &StatsView) -> String {
    match format {
        Format::Text => {
            let last = match s.last_reload {
                Some((at, ok)) => format!("{} ({})", rfc3339(at), if ok { "ok" } else { "failed" }),
                None => "never".to_string(),
            };
            format!(
                "+OK\nflows loaded: {}\ncalls running: {}\nhttp workers: {}\ncalls total: {}\nsteps run: {}\nerrors: {}\nreloads: {} ok, {} failed\nlast reload: {}\n",
                s.flows_loaded,
                s.calls_running,
                s.http_workers,
                s.calls_total,
                s.steps_run,
                s.errors,
                s.reloads_ok,
                s.reloads_failed,
                last
            )
        }
        Format::Json => json_line(json!({
            "ok": true,
            "flows_loaded": s.flows_loaded,
            "calls_running": s.calls_running,
            "http_workers": s.http_workers,
            "calls_total": s.calls_total,
            "steps_run": s.steps_run,
            "errors": s.errors,
            "reloads_ok": s.reloads_ok,
            "reloads_failed": s.reloads_failed,
            "last_reload": s.last_reload.map(|(at, _)| rfc3339(at)),
            "last_reload_ok": s.last_reload.map(|(_, ok)| ok),
        })),
    }
}

/// `rustflow version`.
pub fn version(format: Format, module: &str, api_version: i64, headers: &str) -> String {
    match format {
        Format::Text => format!(
            "+OK mod_rustflow {module} (FreeSWITCH module API {api_version}; built against {headers})\n"
        ),
        Format::Json => json_line(json!({
            "ok": true, "module": "mod_rustflow", "version": module, "api_version": api_version, "headers": headers,
        })),
    }
}

/// fs_cli completion entries for the current flow ids (after a `del rustflow`).
pub fn completion_entries<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut entries: Vec<String> = ["reload", "list", "stats", "version"]
        .iter()
        .map(|w| format!("add rustflow {w}"))
        .collect();
    entries.push("add rustflow validate".to_string());
    for id in ids {
        entries.push(format!("add rustflow show {id}"));
        entries.push(format!("add rustflow validate {id}"));
    }
    entries
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn dash_if_empty(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (UTC).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustflow_engine::{CompileOptions, compile_source};

    fn flow() -> Flow {
        let text = r#"[{"answer": ""}, {"playback": {"files": [{"type": "tone", "name": "%(1000,0,440)"}]}}, {"hangup": "USER_BUSY"}]"#;
        compile_source(
            "demo",
            "/etc/fs/flows/demo.json",
            text,
            &CompileOptions::default(),
        )
        .expect("demo compiles")
    }

    #[test]
    fn parses_every_command_and_the_json_word() {
        assert_eq!(parse("reload"), Ok((Command::Reload, Format::Text)));
        assert_eq!(parse("  list  "), Ok((Command::List, Format::Text)));
        assert_eq!(parse("list json"), Ok((Command::List, Format::Json)));
        assert_eq!(
            parse("show demo"),
            Ok((Command::Show("demo".into()), Format::Text))
        );
        assert_eq!(
            parse("show demo json"),
            Ok((Command::Show("demo".into()), Format::Json))
        );
        assert_eq!(
            parse("validate /tmp/x.json"),
            Ok((Command::Validate("/tmp/x.json".into()), Format::Text))
        );
        assert_eq!(parse("stats json"), Ok((Command::Stats, Format::Json)));
        assert_eq!(parse("version"), Ok((Command::Version, Format::Text)));
        // A flow may be called `json`.
        assert_eq!(
            parse("show json"),
            Ok((Command::Show("json".into()), Format::Text))
        );
        assert_eq!(
            parse("show json json"),
            Ok((Command::Show("json".into()), Format::Json))
        );
    }

    #[test]
    fn cc_takes_the_rest_of_the_line_as_typed() {
        assert_eq!(
            parse("cc agent status a1 pause Lunch  break json"),
            Ok((
                Command::Cc("agent status a1 pause Lunch  break json".into()),
                Format::Text
            ))
        );
        assert_eq!(parse("cc"), Ok((Command::Cc(String::new()), Format::Text)));
        assert!(parse("ccx").is_err());
    }

    #[test]
    fn bad_commands_get_usage() {
        assert_eq!(parse(""), Err(format!("-ERR usage: {USAGE}\n")));
        assert_eq!(
            parse("json"),
            Err(format!("-ERR unknown command `json`; usage: {USAGE}\n"))
        );
        assert_eq!(
            parse("frobnicate"),
            Err(format!(
                "-ERR unknown command `frobnicate`; usage: {USAGE}\n"
            ))
        );
        assert_eq!(
            parse("show"),
            Err(format!(
                "-ERR `show` takes exactly one argument; usage: {USAGE}\n"
            ))
        );
        assert_eq!(
            parse("show a b"),
            Err(format!(
                "-ERR `show` takes exactly one argument; usage: {USAGE}\n"
            ))
        );
        assert_eq!(
            parse("show a b json"),
            Err(format!(
                "-ERR `show` takes exactly one argument; usage: {USAGE}\n"
            ))
        );
        assert!(parse("list extra").is_err());
    }

    #[test]
    fn list_formats() {
        let f = flow();
        let text = list(Format::Text, [&f].into_iter());
        assert_eq!(
            text,
            format!(
                "+OK 1 flow\ndemo\t{}\t/etc/fs/flows/demo.json\n",
                f.version()
            )
        );
        assert_eq!(list(Format::Text, std::iter::empty()), "+OK 0 flows\n");
        let v: Value = serde_json::from_str(&list(Format::Json, [&f].into_iter())).unwrap();
        assert_eq!(v["flows"][0]["id"], "demo");
        assert_eq!(v["flows"][0]["version"], f.version());
        assert_eq!(v["ok"], true);
    }

    #[test]
    fn show_formats() {
        let f = flow();
        let text = show(Format::Text, &f);
        assert!(text.starts_with("+OK demo\nid: demo\nversion: "), "{text}");
        assert!(
            text.contains("\napps: answer=1 hangup=1 playback=1\n"),
            "{text}"
        );
        assert!(
            text.contains("\ntags: -\nfunctions: -\nskipped: -\n"),
            "{text}"
        );
        let v: Value = serde_json::from_str(&show(Format::Json, &f)).unwrap();
        assert_eq!(v["apps"]["playback"], 1);
        assert_eq!(v["file"], "/etc/fs/flows/demo.json");
    }

    #[test]
    fn diagnostics_are_listed_one_per_line() {
        let d = Diagnostic {
            file: "/f/bad.json".into(),
            pointer: "/2/hangup".into(),
            line: 3,
            column: 14,
            message: "unknown hangup cause `NOPE`".into(),
        };
        let text = reload_failed(Format::Text, "/f", 4, std::slice::from_ref(&d));
        assert_eq!(
            text,
            "-ERR reload of /f failed with 1 problem; still serving the 4 flows loaded before\n/f/bad.json:3:14: /2/hangup: unknown hangup cause `NOPE`\n"
        );
        let v: Value = serde_json::from_str(&invalid(Format::Json, "bad", &[d])).unwrap();
        assert_eq!(v["diagnostics"][0]["pointer"], "/2/hangup");
        assert_eq!(v["diagnostics"][0]["line"], 3);
        assert_eq!(v["valid"], false);
    }

    #[test]
    fn stats_formats() {
        let s = StatsView {
            flows_loaded: 2,
            calls_running: 1,
            http_workers: 2,
            calls_total: 9,
            steps_run: 40,
            errors: 3,
            reloads_ok: 2,
            reloads_failed: 1,
            last_reload: Some((1_795_824_000, false)),
        };
        assert_eq!(
            stats(Format::Text, &s),
            "+OK\nflows loaded: 2\ncalls running: 1\nhttp workers: 2\ncalls total: 9\nsteps run: 40\nerrors: 3\nreloads: 2 ok, 1 failed\nlast reload: 2026-11-28T00:00:00Z (failed)\n"
        );
        let v: Value = serde_json::from_str(&stats(Format::Json, &s)).unwrap();
        assert_eq!(v["steps_run"], 40);
        assert_eq!(v["http_workers"], 2);
        assert_eq!(v["last_reload_ok"], false);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_824_000 + 3_661), "2026-11-28T01:01:01Z");
    }

    #[test]
    fn completion_lists_ids() {
        let e = completion_entries(["a", "b"].into_iter());
        assert!(e.contains(&"add rustflow show a".to_string()));
        assert!(e.contains(&"add rustflow validate b".to_string()));
        assert!(e.contains(&"add rustflow reload".to_string()));
    }
}
