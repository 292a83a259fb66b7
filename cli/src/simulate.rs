//! Runs a flow on the engine's call simulator and renders the transcript: for a person
//! (each step with what it did under it) or as JSON.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use rustflow_engine::sim::{Entry, Event, Script, SimHost, SimQueues, simulate_with};
use rustflow_engine::{CompileOptions, Flow, FlowSet, LogLevel, RunOutcome};
use serde_json::{Value, json};

use crate::Status;
use crate::ccsim::CcHandle;
use crate::dialsim::{DialerLine, SimDialer};
use crate::run::RunArgs;

/// Longest variable value or request body shown in the readable trace, in characters.
const SHOWN_CHARS: usize = 100;

pub fn run(options: &RunArgs, script: Script) -> Status {
    let compile = CompileOptions {
        unknown_apps: options.unknown_apps.into(),
        ..CompileOptions::default()
    };
    let flow = match rustflow_engine::compile_file(Path::new(&options.file), &compile) {
        Ok(flow) => Arc::new(flow),
        Err(diagnostics) => {
            diagnostics.iter().for_each(|d| println!("{d}"));
            return Status::Problems;
        }
    };
    let flows = match &options.flows_dir {
        Some(dir) => match FlowSet::load_dir(Path::new(dir), &compile) {
            Ok(set) => set,
            Err(diagnostics) => {
                diagnostics.iter().for_each(|d| println!("{d}"));
                return Status::Problems;
            }
        },
        // Only this flow, so a `schema` step naming it works and any other id fails clearly.
        None => match rustflow_engine::compile_file(Path::new(&options.file), &compile) {
            Ok(again) => FlowSet::from_flows([again]),
            Err(_) => FlowSet::empty(),
        },
    };
    let start_micros = script.start_micros;
    let cc = match &options.cc {
        Some(path) => {
            let loaded = std::fs::read_to_string(path)
                .map_err(|e| format!("{path}: {e}"))
                .and_then(|text| crate::ccsim::CcSim::load(path, &text, start_micros / 1000));
            match loaded {
                Ok(cc) => Some(Rc::new(RefCell::new(cc))),
                Err(message) => {
                    println!("{message}");
                    return Status::Problems;
                }
            }
        }
        None => None,
    };
    let queues: Option<Box<dyn SimQueues>> = cc
        .as_ref()
        .map(|cc| Box::new(CcHandle(cc.clone())) as Box<dyn SimQueues>);
    let (outcome, host) = simulate_with(&flow, &flows, script, queues);
    // After the call, the dialer calls the outbound queues' members back on the same clock.
    let mut dialer_lines = Vec::new();
    if let Some(cc) = cc {
        // Only a queue that names an attempt flow needs the directory loaded.
        let needed = rustflow_cc::store::Store::setup(&*cc.borrow().store).is_ok_and(|setup| {
            setup
                .queues
                .iter()
                .any(|q| q.pre_attempt_flow.is_some() || q.after_attempt_flow.is_some())
        });
        let attempt_flows = match attempt_flows(options, &compile, &flows, needed) {
            Ok(set) => set,
            Err(message) => {
                println!("{message}");
                return Status::Problems;
            }
        };
        let origin = start_micros / 1000;
        let mut dialer = SimDialer::new(cc, &attempt_flows, origin);
        let ended = origin + i64::try_from(host.elapsed_ms()).unwrap_or(0);
        if let Err(message) = dialer.run(ended) {
            println!("the simulated dialer failed: {message}");
            return Status::Problems;
        }
        dialer_lines = dialer.lines;
    }
    let report = Report {
        flow: &flow,
        outcome: &outcome,
        host: &host,
        start_micros,
        dialer: &dialer_lines,
    };
    if options.json {
        let text = serde_json::to_string_pretty(&report.json()).expect("JSON values serialise");
        crate::write_stdout(&format!("{text}\n"));
    } else {
        crate::write_stdout(&report.text());
    }
    Status::Ok
}

/// The flows the dialer runs as queues' pre- and after-attempt flows: `--flows DIR`, else
/// the flow file's directory.
fn attempt_flows(
    options: &RunArgs,
    compile: &CompileOptions,
    flows: &FlowSet,
    needed: bool,
) -> Result<FlowSet, String> {
    if options.flows_dir.is_some() {
        return Ok(flows.clone());
    }
    if !needed {
        return Ok(FlowSet::empty());
    }
    let dir = Path::new(&options.file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    FlowSet::load_dir(dir, compile).map_err(|diagnostics| {
        let mut text = format!(
            "{}: the attempt flows of the queues are loaded from this directory (or give --flows DIR):",
            dir.display()
        );
        for d in diagnostics {
            text.push_str(&format!("\n{d}"));
        }
        text
    })
}

struct Report<'a> {
    flow: &'a Flow,
    outcome: &'a RunOutcome,
    host: &'a SimHost,
    start_micros: i64,
    dialer: &'a [DialerLine],
}

/// How the call ended.
enum Ending {
    Flow(String),
    Caller(u64),
    StillUp,
}

impl Report<'_> {
    fn ending(&self) -> Ending {
        for entry in self.host.transcript() {
            match &entry.event {
                Event::Hangup { cause } => return Ending::Flow(cause.clone()),
                Event::CallerHangup => return Ending::Caller(entry.at_ms),
                _ => {}
            }
        }
        Ending::StillUp
    }

    fn prompts(&self) -> Vec<String> {
        self.host
            .transcript()
            .iter()
            .flat_map(|entry| match &entry.event {
                Event::Play { files, .. } | Event::Speech { files, .. } => files.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn json(&self) -> Value {
        let (hangup_by, cause) = match self.ending() {
            Ending::Flow(cause) => (Some("flow"), Some(cause)),
            Ending::Caller(_) => (Some("caller"), None),
            Ending::StillUp => (None, None),
        };
        json!({
            "flow": { "id": self.flow.id(), "file": self.flow.file(), "version": self.flow.version() },
            "start_micros": self.start_micros,
            "steps": self.outcome.steps,
            "hung_up": self.outcome.hung_up,
            "hangup": { "by": hangup_by, "cause": cause },
            "error": self.outcome.error,
            "elapsed_ms": self.host.elapsed_ms(),
            "prompts": self.prompts(),
            "skipped": self.flow.summary().skipped.iter()
                .map(|s| json!({ "app": s.app, "pointer": s.pointer }))
                .collect::<Vec<_>>(),
            "transcript": self.host.transcript_json(),
            "vars": self.host.vars(),
            "dialer": self.dialer.iter().map(DialerLine::json).collect::<Vec<_>>(),
        })
    }

    fn text(&self) -> String {
        let mut out = format!(
            "run {} ({}, version {})\n",
            self.flow.id(),
            self.flow.file(),
            self.flow.version()
        );
        for skipped in self.flow.summary().skipped {
            out.push_str(&format!(
                "note: {}: unknown application `{}` is skipped; it fails when it runs\n",
                skipped.pointer, skipped.app
            ));
        }
        let transcript = self.host.transcript();
        // What the engine sets before the first step (flow id and version).
        let start: Vec<String> = transcript
            .iter()
            .map_while(|entry| match &entry.event {
                Event::SetVar { name, value } if name.starts_with("rustflow_") => {
                    Some(format!("{name} = {}", shown(value)))
                }
                _ => None,
            })
            .collect();
        if !start.is_empty() {
            out.push_str(&format!(
                "{}  start: set {}\n",
                seconds(0),
                start.join(", ")
            ));
        }
        let mut effects: Vec<&Entry> = Vec::new();
        let mut last_pointer: Option<&str> = None;
        for (index, entry) in transcript.iter().enumerate().skip(start.len()) {
            let Event::Step {
                flow,
                pointer,
                app,
                result,
            } = &entry.event
            else {
                effects.push(entry);
                continue;
            };
            // A failing step logs its warning (and sets rustflow_error) after it is
            // reported: those lines still belong under it.
            let trailing =
                last_pointer.map_or(0, |last| failure_lines(&effects, self.flow.id(), last));
            for effect in effects.drain(..trailing) {
                push_effect(&mut out, &effect.event);
            }
            let started = effects
                .first()
                .map_or(entry.at_ms, |first| first.at_ms.min(entry.at_ms));
            let outcome = step_outcome(
                result,
                pointer,
                app,
                next_step_within(&transcript[index + 1..], pointer),
            );
            // Steps of another flow (run by `schema`) carry its id.
            let place = if flow == self.flow.id() {
                pointer.clone()
            } else {
                format!("{flow}:{pointer}")
            };
            out.push_str(&format!("{}  {place}  {app}{outcome}\n", seconds(started)));
            for effect in effects.drain(..) {
                push_effect(&mut out, &effect.event);
            }
            last_pointer = Some(pointer);
        }
        let trailing = last_pointer.map_or(0, |last| failure_lines(&effects, self.flow.id(), last));
        for effect in effects.drain(..trailing) {
            push_effect(&mut out, &effect.event);
        }
        if !effects.is_empty() {
            out.push_str("          (after the last step)\n");
            for effect in effects {
                if let Some(line) = effect_line(&effect.event) {
                    out.push_str(&format!("{}    {line}\n", seconds(effect.at_ms)));
                }
            }
        }
        let prompts = self.prompts();
        if prompts.is_empty() {
            out.push_str("prompts played: none\n");
        } else {
            out.push_str(&format!(
                "prompts played ({}): {}\n",
                prompts.len(),
                prompts.join(", ")
            ));
        }
        if let Some(error) = &self.outcome.error {
            out.push_str(&format!("last error: {error}\n"));
        }
        let steps = self.outcome.steps;
        let elapsed = seconds(self.host.elapsed_ms());
        let elapsed = elapsed.trim();
        out.push_str(&match self.ending() {
            Ending::Flow(cause) => {
                format!("end: the flow hung up with {cause} after {steps} steps, {elapsed} into the call\n")
            }
            Ending::Caller(at_ms) => format!(
                "end: the caller hung up at {} after {steps} steps\n",
                seconds(at_ms).trim()
            ),
            Ending::StillUp => format!(
                "end: the flow finished without hanging up after {steps} steps, {elapsed} into the call (the dialplan would continue)\n"
            ),
        });
        for line in self.dialer {
            out.push_str(&line.text());
            out.push('\n');
        }
        out
    }
}

/// How many of the leading `effects` report the failure of the step at `pointer`: its
/// WARNING line and the `rustflow_error` it sets.
fn failure_lines(effects: &[&Entry], flow_id: &str, pointer: &str) -> usize {
    let warning = format!("flow {flow_id}: {pointer}: ");
    let mut count = 0;
    while let Some(entry) = effects.get(count) {
        match &entry.event {
            Event::Log {
                level: LogLevel::Warning,
                message,
            } if message.starts_with(&warning) => count += 1,
            Event::SetVar { name, .. } if name == "rustflow_error" && count > 0 => count += 1,
            _ => break,
        }
    }
    count
}

fn push_effect(out: &mut String, event: &Event) {
    if let Some(line) = effect_line(event) {
        out.push_str(&format!("            {line}\n"));
    }
}

/// The pointer of the next step that ran inside the block at `pointer` (before that block
/// ran again), or else of the next step: where a branch or a jump went. Steps of a function
/// called from the branch report before the `execute` that called them, hence the search.
fn next_step_within<'t>(rest: &'t [Entry], pointer: &str) -> Option<&'t str> {
    let steps = || {
        rest.iter().filter_map(|entry| match &entry.event {
            Event::Step { pointer, .. } => Some(pointer.as_str()),
            _ => None,
        })
    };
    let inside = format!("{pointer}/");
    steps()
        .take_while(|next| *next != pointer)
        .find(|next| next.starts_with(&inside))
        .or_else(|| steps().next())
}

/// ` → …` after a step: the branch it took, or its non-`ok` result.
fn step_outcome(result: &str, pointer: &str, app: &str, next: Option<&str>) -> String {
    match (app, result) {
        ("goto", "ok") => next.map(|next| format!(" → {next}")).unwrap_or_default(),
        // A step is reported when it ends, so the steps it ran are listed above it.
        ("execute", "ok") => " (done: the function's steps are listed above)".to_string(),
        ("schema", "ok") => " (done: the other flow's steps are listed above)".to_string(),
        (_, "ok") => String::new(),
        ("if", "true") => " → then (expression true)".to_string(),
        ("if", "false") => " → else (expression false)".to_string(),
        ("switch", "case") => {
            // The case key is in the pointer of the first step the case ran:
            // `<switch pointer>[/switch]/case/<key>/…`.
            let case = next
                .and_then(|next| next.strip_prefix(pointer))
                .and_then(|rest| {
                    let mut segments = rest
                        .split('/')
                        .skip_while(|s| !s.eq_ignore_ascii_case("case"));
                    segments.next()?;
                    segments.next()
                })
                .map(|key| key.replace("~1", "/").replace("~0", "~"));
            match case {
                Some(key) => format!(" → case {key:?}"),
                None => " → case (empty)".to_string(),
            }
        }
        ("hangup", "hangup") => String::new(),
        (_, other) => format!(" → {other}"),
    }
}

fn seconds(ms: u64) -> String {
    format!("{:>4}.{:03}s", ms / 1000, ms % 1000)
}

fn shown(text: &str) -> String {
    if text.chars().count() <= SHOWN_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(SHOWN_CHARS).collect();
        format!("{head:?}… ({} chars)", text.chars().count())
    }
}

/// One line for an effect of a step (`None`: not worth a line, e.g. DEBUG logs).
fn effect_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::Step { .. } => return None,
        Event::Log { level, message } => match level {
            LogLevel::Debug => return None,
            LogLevel::Warning | LogLevel::Error => format!("warning: {message}"),
            LogLevel::Info | LogLevel::Notice => format!("log: {message}"),
        },
        Event::SetVar { name, value } => format!("set {name} = {}", shown(value)),
        Event::UnsetVar { name } => format!("unset {name}"),
        Event::ExportVar { name, value, .. } => format!("export {name} = {}", shown(value)),
        Event::RingReady => "ringing".to_string(),
        Event::PreAnswer => "early media (pre-answer)".to_string(),
        Event::Answer => "answered".to_string(),
        Event::Hangup { cause } => format!("hangup {cause}"),
        Event::CallerHangup => "the caller hangs up".to_string(),
        Event::Play {
            files,
            digits,
            interrupted,
        } => {
            let mut line = format!("play {}", files.join(", "));
            match digits.as_deref() {
                Some("") => line.push_str(" → no digits"),
                Some(digits) => line.push_str(&format!(" → digits {digits:?}")),
                None => {}
            }
            if *interrupted {
                line.push_str(" (cut short by the hangup)");
            }
            line
        }
        Event::Speech { files, transcript } => {
            format!(
                "play {} and listen → heard {transcript:?}",
                files.join(", ")
            )
        }
        Event::Sleep { ms, soft } => {
            format!(
                "{} {ms} ms",
                if *soft { "wait (soft sleep)" } else { "sleep" }
            )
        }
        Event::Http {
            method,
            url,
            body,
            result,
        } => {
            let mut line = format!("http {method} {url}");
            if let Some(body) = body {
                line.push_str(&format!(" body {}", shown(body)));
            }
            line.push_str(&format!(" → {result}"));
            line
        }
        // Anything else the simulator records: its own wording, without the time column.
        other => {
            let text = Entry {
                at_ms: 0,
                event: other.clone(),
            }
            .to_string();
            text.trim_start()
                .split_once(char::is_whitespace)
                .map_or(text.clone(), |(_, rest)| rest.trim_start().to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_case_comes_from_the_next_pointer() {
        assert_eq!(
            step_outcome(
                "case",
                "/schema/4/switch",
                "switch",
                Some("/schema/4/switch/case/2/0/log")
            ),
            " → case \"2\""
        );
        assert_eq!(
            step_outcome("case", "/1", "switch", Some("/1/switch/case/a~1b/0")),
            " → case \"a/b\""
        );
        assert_eq!(
            step_outcome("true", "/0", "if", None),
            " → then (expression true)"
        );
        assert_eq!(step_outcome("ok", "/0", "set", None), "");
        assert_eq!(
            step_outcome("no match", "/0", "switch", None),
            " → no match"
        );
    }

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(150);
        assert_eq!(shown(&long), format!("{:?}… (150 chars)", "x".repeat(100)));
        assert_eq!(shown("a\"b"), "\"a\\\"b\"");
    }
}
