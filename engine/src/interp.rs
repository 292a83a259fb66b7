//! The interpreter: runs a compiled flow against a [`Host`].
//!
//! Semantics (docs/semantics.md, "Running a flow"): a failing step is logged at WARNING, sets `rustflow_error` and
//! execution continues; hangup stops the flow at once and then `trigger.disconnected`
//! runs with media refused; `break` stops the current flow object (and a synchronous
//! caller); budgets end the flow with a logged error.

use std::borrow::Cow;
use std::sync::Arc;

use crate::causes::hangup_cause;
use crate::compile::{parse_bool, parse_count};
use crate::expr::ExprEnv;
use crate::flow::{Flow, FlowSet};
use crate::host::*;
use crate::program::*;
use crate::template::{Scope, Template, json_value_text, uri_encode_into};

/// Per-call budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Steps per call, all flow objects together.
    pub max_steps: u64,
    /// Jumps (`goto`, `limit` failovers) per flow object.
    pub max_goto: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 100_000,
            max_goto: 1000,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunOutcome {
    pub steps: u64,
    /// The last error (`<app>: <reason>`), as stored in `rustflow_error`.
    pub error: Option<String>,
    pub hung_up: bool,
}

/// Nested `execute`/`schema` forks deeper than this fail (recursion guard).
const MAX_DEPTH: usize = 64;

/// Runs `flow` on the call. `args` are the invocation arguments (`$1`…).
pub fn run(
    flow: &Flow,
    flows: &FlowSet,
    host: &mut dyn Host,
    args: &[String],
    limits: &Limits,
) -> RunOutcome {
    let debug = host.log_enabled(LogLevel::Debug);
    let mut machine = Machine {
        host,
        flows,
        args,
        limits: *limits,
        steps: 0,
        error: None,
        hung_up: false,
        in_disconnected: false,
        exported: Vec::new(),
        pending: Vec::new(),
        js: None,
        timezone: None,
        buffers: Vec::new(),
        depth: 0,
        debug,
    };
    machine.timezone = flow
        .timezone
        .clone()
        .or_else(|| machine.host.var("timezone").filter(|tz| !tz.is_empty()));
    let started = machine
        .host
        .set_var("rustflow_flow_id", &flow.id)
        .and_then(|()| machine.host.set_var("rustflow_flow_version", &flow.version));
    let mut counters = new_counters(flow);
    let end = match started {
        Err(HostError::Hangup) => {
            machine.hung_up = true;
            End::Hangup
        }
        _ => machine.exec(flow, &mut counters, 0),
    };
    if end == End::Hangup {
        machine.hung_up = true;
    }
    if machine.hung_up {
        if let Some(unit) = flow.disconnected {
            machine.in_disconnected = true;
            if machine.debug {
                machine.host.log(
                    LogLevel::Debug,
                    &format!("flow {}: running trigger.disconnected", flow.id),
                );
            }
            machine.exec(flow, &mut counters, unit);
        }
    }
    let steps = machine.steps.to_string();
    let _ = machine.host.set_var("rustflow_steps", &steps);
    RunOutcome {
        steps: machine.steps,
        error: machine.error,
        hung_up: machine.hung_up,
    }
}

fn new_counters(flow: &Flow) -> Vec<Vec<u64>> {
    flow.units.iter().map(|u| vec![0; u.counters]).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Finished,
    Break,
    Hangup,
    /// A budget ran out: everything stops.
    Fatal,
}

/// What a step asks the interpreter to do next.
enum Control {
    Next,
    /// Run a function body as a fork, then continue by its end.
    Call(usize),
    /// Run another flow as a fork.
    CallFlow(Arc<Flow>),
    Jump(usize),
    Goto(usize),
    Stop,
    HungUp,
}

enum StepError {
    Hangup,
    Failed(String),
    /// Failed, and execution continues at this index (an `if` whose expression failed).
    FailedJump(String, usize),
    Fatal,
}

impl From<HostError> for StepError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::Hangup => StepError::Hangup,
            HostError::Failed(reason) => StepError::Failed(reason),
        }
    }
}

/// What a step did: where to go next, and the result text of its step line when it has
/// more to say than "ok" (`true`, `case`, `again`, a bridge result…).
struct Done {
    control: Control,
    note: Option<&'static str>,
}

impl From<Control> for Done {
    fn from(control: Control) -> Self {
        Done {
            control,
            note: None,
        }
    }
}

impl Control {
    fn noted(self, note: &'static str) -> Done {
        Done {
            control: self,
            note: Some(note),
        }
    }
}

type StepResult = Result<Done, StepError>;

/// A fork started with `async: true`: run on the caller right after the current step.
enum Pending {
    Function(usize),
    Schema(Arc<Flow>),
    /// `bridge.bridged` after a bridge in which a leg answered.
    Bridged(usize),
}

struct Machine<'a> {
    host: &'a mut dyn Host,
    flows: &'a FlowSet,
    args: &'a [String],
    limits: Limits,
    steps: u64,
    error: Option<String>,
    hung_up: bool,
    in_disconnected: bool,
    exported: Vec<String>,
    pending: Vec<Pending>,
    js: Option<crate::js::JsSandbox>,
    timezone: Option<String>,
    /// String buffers reused by expression variable reads.
    buffers: Vec<String>,
    depth: usize,
    debug: bool,
}

impl Machine<'_> {
    fn expand<'t>(&mut self, template: &'t Template) -> Cow<'t, str> {
        let mut scope = Scope {
            host: &mut *self.host,
            args: self.args,
        };
        template.expand(&mut scope)
    }

    /// An optional template, expanded: `None` when absent or when it expands to nothing.
    fn expand_opt(&mut self, template: &Option<Template>) -> Option<String> {
        template
            .as_ref()
            .map(|t| self.expand(t).into_owned())
            .filter(|v| !v.is_empty())
    }

    /// Templates, expanded, leaving out those that expand to nothing.
    fn expand_list(&mut self, templates: &[Template]) -> Vec<String> {
        templates
            .iter()
            .map(|t| self.expand(t).into_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn number(&mut self, num: &Num, field: &str) -> Result<u64, StepError> {
        match num {
            Num::Const(n) => Ok(*n),
            Num::Dynamic(t) => {
                let text = self.expand(t);
                parse_count(&text)
                    .map_err(|reason| StepError::Failed(format!("`{field}` {reason}")))
            }
        }
    }

    fn flag(&mut self, flag: &Flag, field: &str) -> Result<bool, StepError> {
        match flag {
            Flag::Const(b) => Ok(*b),
            Flag::Dynamic(t) => {
                let text = self.expand(t);
                parse_bool(&text).ok_or_else(|| {
                    StepError::Failed(format!("`{field}` must be a boolean, found `{text}`"))
                })
            }
        }
    }

    fn record_error(&mut self, flow: &Flow, op: &Op, reason: &str) {
        let message = format!("{}: {reason}", op.app);
        self.host.log(
            LogLevel::Warning,
            &format!("flow {}: {}: {message}", flow.id, op.pointer),
        );
        let _ = self.host.set_var("rustflow_error", &message);
        self.error = Some(message);
    }

    fn fatal(&mut self, flow: &Flow, op: &Op, reason: String) {
        self.host.log(
            LogLevel::Error,
            &format!(
                "flow {}: {}: {reason}; ending the flow",
                flow.id, op.pointer
            ),
        );
        let message = format!("rustflow: {reason}");
        let _ = self.host.set_var("rustflow_error", &message);
        self.error = Some(message);
    }

    /// Runs one flow object to its end.
    fn exec(&mut self, flow: &Flow, counters: &mut [Vec<u64>], unit: usize) -> End {
        let ops = &flow.units[unit].ops;
        let mut pc = 0;
        let mut jumps: u32 = 0;
        while let Some(op) = ops.get(pc) {
            if let Code::Jump(target) = op.code {
                pc = target;
                continue;
            }
            if !self.in_disconnected && !self.host.is_up() {
                return End::Hangup;
            }
            if self.steps >= self.limits.max_steps {
                let reason = format!("max-steps budget ({}) exhausted", self.limits.max_steps);
                self.fatal(flow, op, reason);
                return End::Fatal;
            }
            self.steps += 1;
            if let Some(limit) = &op.limit {
                let count = &mut counters[unit][limit.slot];
                *count += 1;
                if *count > limit.max {
                    jumps += 1;
                    if jumps > self.limits.max_goto {
                        let reason =
                            format!("max-goto budget ({}) exhausted", self.limits.max_goto);
                        self.fatal(flow, op, reason);
                        return End::Fatal;
                    }
                    if self.debug {
                        let line = format!(
                            "flow {}: {}: {} limit of {} passes reached, going to the failover tag",
                            flow.id, op.pointer, op.app, limit.max
                        );
                        self.host.log(LogLevel::Debug, &line);
                    }
                    let event = StepEvent {
                        flow_id: &flow.id,
                        flow_version: &flow.version,
                        pointer: &op.pointer,
                        app: &op.app,
                        duration_us: 0,
                        result: "limit reached",
                    };
                    self.host.step_done(&event);
                    pc = limit.failover;
                    continue;
                }
            }
            let started = self.host.now_micros();
            // Forks recurse from here, not from inside `dispatch`, to keep the stack
            // shallow (the JavaScript sandbox measures it).
            let result = match self.step(flow, counters, unit, op) {
                Ok(Done {
                    control: Control::Call(target),
                    ..
                }) => {
                    self.depth += 1;
                    let end = self.exec(flow, counters, target);
                    self.depth -= 1;
                    self.fork_result(end)
                }
                Ok(Done {
                    control: Control::CallFlow(other),
                    ..
                }) => {
                    let mut other_counters = new_counters(&other);
                    self.depth += 1;
                    let end = self.exec(&other, &mut other_counters, 0);
                    self.depth -= 1;
                    self.fork_result(end)
                }
                result => result,
            };
            let duration_us = u64::try_from(self.host.now_micros() - started).unwrap_or(0);
            let (Done { control, note }, failure) = match result {
                Ok(done) => (done, None),
                Err(StepError::Failed(reason)) => (Control::Next.into(), Some(reason)),
                Err(StepError::FailedJump(reason, target)) => {
                    (Control::Jump(target).into(), Some(reason))
                }
                Err(StepError::Hangup) => (Control::HungUp.into(), None),
                Err(StepError::Fatal) => return End::Fatal,
            };
            let result_text = match (&failure, &control) {
                (Some(reason), _) => reason.as_str(),
                (None, Control::HungUp) => "hangup",
                (None, Control::Stop) => note.unwrap_or("break"),
                _ => note.unwrap_or("ok"),
            };
            self.host.step_done(&StepEvent {
                flow_id: &flow.id,
                flow_version: &flow.version,
                pointer: &op.pointer,
                app: &op.app,
                duration_us,
                result: result_text,
            });
            if self.debug {
                let line = format!(
                    "flow {}: {}: {} -> {result_text} ({duration_us} us)",
                    flow.id, op.pointer, op.app
                );
                self.host.log(LogLevel::Debug, &line);
            }
            if let Some(reason) = failure {
                self.record_error(flow, op, &reason);
            }
            match control {
                Control::Next => pc += 1,
                Control::Call(_) | Control::CallFlow(_) => unreachable!("forks run above"),
                Control::Jump(target) => pc = target,
                Control::Goto(target) => {
                    jumps += 1;
                    if jumps > self.limits.max_goto {
                        let reason =
                            format!("max-goto budget ({}) exhausted", self.limits.max_goto);
                        self.fatal(flow, op, reason);
                        return End::Fatal;
                    }
                    pc = target;
                }
                Control::Stop => return End::Break,
                Control::HungUp => {
                    self.hung_up = true;
                    return End::Hangup;
                }
            }
            if !self.pending.is_empty() {
                match self.run_pending(flow, counters) {
                    End::Hangup => return End::Hangup,
                    End::Fatal => return End::Fatal,
                    _ => {}
                }
            }
            if op.stop_after {
                return End::Break;
            }
        }
        End::Finished
    }

    /// Runs `bridge.bridged` after a bridge in which a leg answered. If the caller hung up
    /// meanwhile, the actions run like `trigger.disconnected` (media refused), and the
    /// flow then stops as on any hangup.
    fn run_bridged(&mut self, flow: &Flow, counters: &mut [Vec<u64>], unit: usize) -> End {
        let caller_gone = !self.in_disconnected && !self.host.is_up();
        if self.debug {
            let line = format!(
                "flow {}: running bridge.bridged{}",
                flow.id,
                if caller_gone {
                    " (caller gone: media refused)"
                } else {
                    ""
                }
            );
            self.host.log(LogLevel::Debug, &line);
        }
        let was_disconnected = self.in_disconnected;
        self.in_disconnected |= caller_gone;
        self.depth += 1;
        let end = self.exec(flow, counters, unit);
        self.depth -= 1;
        self.in_disconnected = was_disconnected;
        match end {
            End::Fatal => End::Fatal,
            _ if caller_gone => {
                self.hung_up = true;
                End::Hangup
            }
            other => other,
        }
    }

    /// Runs async forks queued by the step that just finished. This engine never runs
    /// flow code in parallel on a session: an async fork runs on the caller, right after
    /// the step that started it, and its `break` does not stop the caller.
    fn run_pending(&mut self, flow: &Flow, counters: &mut [Vec<u64>]) -> End {
        while !self.pending.is_empty() {
            let pending = self.pending.remove(0);
            let end = match pending {
                Pending::Function(unit) => {
                    if self.debug {
                        let line = format!(
                            "flow {}: running async {} on the caller (no parallel execution)",
                            flow.id, flow.units[unit].name
                        );
                        self.host.log(LogLevel::Debug, &line);
                    }
                    self.depth += 1;
                    let end = self.exec(flow, counters, unit);
                    self.depth -= 1;
                    end
                }
                Pending::Bridged(unit) => self.run_bridged(flow, counters, unit),
                Pending::Schema(other) => {
                    if self.debug {
                        let line = format!(
                            "flow {}: running async schema {} on the caller (no parallel execution)",
                            flow.id, other.id
                        );
                        self.host.log(LogLevel::Debug, &line);
                    }
                    let mut other_counters = new_counters(&other);
                    self.depth += 1;
                    let end = self.exec(&other, &mut other_counters, 0);
                    self.depth -= 1;
                    end
                }
            };
            if matches!(end, End::Hangup | End::Fatal) {
                self.pending.clear();
                return end;
            }
        }
        End::Finished
    }

    fn step(&mut self, flow: &Flow, counters: &mut [Vec<u64>], unit: usize, op: &Op) -> StepResult {
        if self.in_disconnected && op.code.uses_media() {
            return Err(StepError::Failed(
                "not allowed after hangup (media applications are refused in trigger.disconnected)"
                    .to_string(),
            ));
        }
        let result = self.dispatch(flow, counters, unit, op);
        if self.in_disconnected {
            // After hangup the host may report the call gone for anything; that must not
            // stop the disconnected handler.
            if let Err(StepError::Hangup) = result {
                return Err(StepError::Failed("call hung up".to_string()));
            }
        }
        result
    }

    fn dispatch(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        unit: usize,
        op: &Op,
    ) -> StepResult {
        match &op.code {
            Code::Jump(target) => Ok(Control::Jump(*target).into()),
            Code::Goto(target) => Ok(Control::Goto(*target).into()),
            Code::Break => Ok(Control::Stop.into()),
            Code::If {
                expr,
                else_target,
                end,
            } => match flow.expressions[*expr].eval_bool(self) {
                Ok(true) => Ok(Control::Next.noted("true")),
                Ok(false) => Ok(Control::Jump(*else_target).noted("false")),
                Err(reason) => Err(StepError::FailedJump(
                    format!("expression failed: {reason}"),
                    *end,
                )),
            },
            Code::Switch {
                variable,
                cases,
                default,
                end,
            } => {
                let value = self.expand(variable);
                let matched = cases.iter().find(|(key, _)| **key == *value);
                let (target, note) = match (matched, default) {
                    (Some((_, target)), _) => (*target, "case"),
                    (None, Some(target)) => (*target, "default"),
                    (None, None) => (*end, "no match"),
                };
                Ok(Control::Jump(target).noted(note))
            }
            Code::WhileEnter => Ok(Control::Next.noted("enter")),
            Code::WhileTest {
                condition,
                body,
                max_passes,
                slot,
            } => {
                let passes = &mut counters[unit][*slot];
                *passes += 1;
                if *passes >= *max_passes {
                    if self.debug {
                        let line = format!(
                            "flow {}: {}: while reached maxSteps ({max_passes}), leaving the loop",
                            flow.id, op.pointer
                        );
                        self.host.log(LogLevel::Debug, &line);
                    }
                    return Ok(Control::Next.noted("maxSteps reached"));
                }
                match flow.expressions[*condition].eval_bool(self) {
                    Ok(true) => Ok(Control::Jump(*body).noted("again")),
                    Ok(false) => Ok(Control::Next.noted("done")),
                    Err(reason) => Err(StepError::Failed(format!("condition failed: {reason}"))),
                }
            }
            Code::Execute {
                unit,
                function,
                is_async,
            } => {
                if self.depth >= MAX_DEPTH {
                    return Err(StepError::Failed(format!(
                        "function `{function}`: calls nested deeper than {MAX_DEPTH}"
                    )));
                }
                if *is_async {
                    self.pending.push(Pending::Function(*unit));
                    return Ok(Control::Next.noted("async: runs after this step"));
                }
                Ok(Control::Call(*unit).into())
            }
            Code::Schema { id, is_async } => {
                let id = self.expand(id);
                let Some(other) = self.flows.get(&id).cloned() else {
                    return Err(StepError::Failed(format!("flow `{id}` is not loaded")));
                };
                if self.depth >= MAX_DEPTH {
                    return Err(StepError::Failed(format!(
                        "schema `{id}`: flows nested deeper than {MAX_DEPTH}"
                    )));
                }
                if *is_async {
                    if other.uses_media {
                        return Err(StepError::Failed(format!(
                            "async schema `{id}` uses media; async forks may only contain non-media steps"
                        )));
                    }
                    self.pending.push(Pending::Schema(other));
                    return Ok(Control::Next.noted("async: runs after this step"));
                }
                Ok(Control::CallFlow(other).into())
            }
            Code::Answer => Ok(self.host.answer().map(|()| Control::Next)?.into()),
            Code::PreAnswer => Ok(self.host.pre_answer().map(|()| Control::Next)?.into()),
            Code::RingReady => Ok(self.host.ring_ready().map(|()| Control::Next)?.into()),
            Code::Hangup(cause) => {
                let cause = match cause {
                    CauseSpec::Known(cause) => *cause,
                    CauseSpec::Dynamic(template) => {
                        let text = self.expand(template);
                        if text.trim().is_empty() {
                            crate::causes::NORMAL_CLEARING
                        } else {
                            hangup_cause(&text).ok_or_else(|| {
                                StepError::Failed(format!("unknown hangup cause `{text}`"))
                            })?
                        }
                    }
                };
                self.host.hangup(cause)?;
                Ok(Control::HungUp.into())
            }
            Code::Log(template) => {
                let text = self.expand(template);
                self.host.log(LogLevel::Info, &text);
                Ok(Control::Next.into())
            }
            Code::Sleep(ms) => {
                let ms = self.number(ms, "sleep")?;
                self.host.sleep(ms)?;
                Ok(Control::Next.into())
            }
            Code::SoftSleep(ms) => {
                let ms = self.number(ms, "softSleep")?;
                self.host.soft_sleep(ms)?;
                Ok(Control::Next.into())
            }
            Code::Set(vars) => {
                for (name, value) in vars {
                    let name = self.expand(name);
                    let value = self.var_value(value);
                    self.host.set_var(&name, &value)?;
                }
                Ok(Control::Next.into())
            }
            Code::SetExport(vars, scope) => {
                for (name, value) in vars {
                    let name = self.expand(name);
                    let value = self.var_value(value);
                    self.host.export_var(&name, &value, *scope)?;
                }
                Ok(Control::Next.into())
            }
            Code::UnSet(names) => {
                for name in names {
                    let name = self.expand(name);
                    self.host.unset_var(&name)?;
                }
                Ok(Control::Next.into())
            }
            Code::Export(names) => {
                for name in names {
                    let name = self.expand(name).into_owned();
                    let value = self.host.var(&name).unwrap_or_default();
                    self.host.set_var(&format!("usr_{name}"), &value)?;
                    if !self.exported.contains(&name) {
                        self.exported.push(name);
                    }
                }
                Ok(Control::Next.into())
            }
            Code::Playback(spec) => self.playback(spec),
            Code::Bridge(spec) => {
                let request = self.bridge_request(spec)?;
                let result = self.host.bridge(&request)?;
                // The caller may be gone already (hung up during the bridge): the result
                // still matters to `bridged` and `trigger.disconnected`.
                match self.host.set_var("rustflow_bridge_result", result.as_str()) {
                    Ok(()) | Err(HostError::Hangup) => {}
                    Err(e) => return Err(e.into()),
                }
                if let (BridgeResult::Answered, Some(unit)) = (result, spec.bridged) {
                    // Runs right after this step (its step line first), like an async fork.
                    self.pending.push(Pending::Bridged(unit));
                }
                Ok(Control::Next.noted(result.as_str()))
            }
            Code::RecordFile(spec) => {
                let request = RecordRequest {
                    name: self.expand(&spec.name).replace(' ', "_"),
                    format: self.expand(&spec.format).into_owned(),
                    max_seconds: self.number(&spec.max_seconds, "maxSec")?,
                    silence_threshold: self.number(&spec.silence_threshold, "silenceThresh")?,
                    silence_hits: self.number(&spec.silence_hits, "silenceHits")?,
                    terminators: self.expand(&spec.terminators).into_owned(),
                    voicemail: self.flag(&spec.voicemail, "voiceMail")?,
                };
                check_file_name(&request.name, &request.format)?;
                let path = self.host.record_file(&request)?;
                self.host.set_var("rustflow_record_file", &path)?;
                Ok(Control::Next.into())
            }
            Code::RecordSession(spec) => {
                let request = match &**spec {
                    SessionSpec::Stop => SessionRecording::Stop,
                    SessionSpec::Start {
                        name,
                        format,
                        stereo,
                        bridged,
                        min_seconds,
                        follow_transfer,
                    } => {
                        let name = self.expand(name).replace(' ', "_");
                        let format = self.expand(format).into_owned();
                        check_file_name(&name, &format)?;
                        SessionRecording::Start {
                            name,
                            format,
                            stereo: self.flag(stereo, "stereo")?,
                            bridged: self.flag(bridged, "bridged")?,
                            min_seconds: self.number(min_seconds, "minSec")?,
                            follow_transfer: self.flag(follow_transfer, "followTransfer")?,
                        }
                    }
                };
                let path = self.host.record_session(&request)?;
                if matches!(request, SessionRecording::Start { .. }) {
                    self.host.set_var("rustflow_record_session_file", &path)?;
                    Ok(Control::Next.noted("start"))
                } else {
                    Ok(Control::Next.noted("stop"))
                }
            }
            Code::BackgroundStart {
                file,
                volume_reduction,
            } => {
                let file = self.play_file(file)?;
                let volume = clamp_u32(self.number(volume_reduction, "volumeReduction")?);
                self.host.background_start(&file, volume)?;
                Ok(Control::Next.into())
            }
            Code::BackgroundStop => {
                self.host.background_stop()?;
                Ok(Control::Next.into())
            }
            Code::Redirect(uris) => {
                let uris: Vec<String> = uris
                    .iter()
                    .map(|u| self.expand(u).trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                if uris.is_empty() {
                    return Err(StepError::Failed("no SIP URI to redirect to".to_string()));
                }
                self.host.redirect(&uris)?;
                Ok(Control::Next.into())
            }
            Code::UpdateCid {
                name,
                number,
                destination,
            } => {
                let update = CallerIdUpdate {
                    name: self.expand_opt(name),
                    number: self.expand_opt(number),
                    destination: self.expand_opt(destination),
                };
                if update == CallerIdUpdate::default() {
                    return Err(StepError::Failed(
                        "name, number and destination all expanded to nothing".to_string(),
                    ));
                }
                self.host.update_caller_id(&update)?;
                Ok(Control::Next.into())
            }
            Code::Ringback(spec) => {
                let ringback = Ringback {
                    call: spec.call.as_ref().map(|f| self.play_file(f)).transpose()?,
                    transfer: spec
                        .transfer
                        .as_ref()
                        .map(|f| self.play_file(f))
                        .transpose()?,
                    hold: spec.hold.as_ref().map(|f| self.play_file(f)).transpose()?,
                    export_to_b_legs: self.flag(&spec.all, "all")?,
                };
                self.host.ringback(&ringback)?;
                Ok(Control::Next.into())
            }
            Code::Park {
                lot,
                range,
                retrieve,
            } => {
                let range = self.expand(range);
                let (from, to) =
                    crate::compile::parse_lot_range(&range).map_err(StepError::Failed)?;
                let direction = self.expand(retrieve);
                let request = ParkRequest {
                    lot: self.expand(lot).into_owned(),
                    from,
                    to,
                    retrieve: !direction.trim().eq_ignore_ascii_case("in"),
                };
                if request.lot.is_empty() {
                    return Err(StepError::Failed(
                        "the lot name expanded to nothing".to_string(),
                    ));
                }
                self.host.park(&request)?;
                Ok(Control::Next.into())
            }
            Code::Pickup(group) => {
                let group = self.expand(group);
                if group.is_empty() {
                    return Err(StepError::Failed(
                        "the pickup group expanded to nothing".to_string(),
                    ));
                }
                if self.host.pickup(&group)? {
                    // The call now belongs to the bridge of the call it picked up.
                    Ok(Control::Stop.noted("picked up a call, the flow ends"))
                } else {
                    Ok(Control::Next.noted("no call ringing in the group"))
                }
            }
            Code::Conference {
                name,
                profile,
                pin,
                flags,
            } => {
                let request = ConferenceRequest {
                    name: self.expand(name).into_owned(),
                    profile: self.expand(profile).into_owned(),
                    pin: self.expand_opt(pin),
                    flags: self.expand_list(flags),
                };
                if request.name.is_empty() || request.profile.is_empty() {
                    return Err(StepError::Failed(
                        "conference name or profile expanded to nothing".to_string(),
                    ));
                }
                self.host.conference(&request)?;
                Ok(Control::Next.into())
            }
            Code::Calendar {
                id,
                name,
                set_var,
                extended,
            } => {
                let query = CalendarQuery {
                    id: self.expand_opt(id),
                    name: self.expand_opt(name),
                };
                let extended = self.flag(extended, "extended")?;
                let status = self.host.calendar(&query)?;
                let value = match (&status, extended) {
                    (CalendarStatus::Open, _) => "true",
                    (CalendarStatus::Expired, true) => "expire",
                    (CalendarStatus::Exception(name), true) => name.as_str(),
                    _ => "false",
                };
                let var = self.expand(set_var);
                self.host.set_var(&var, value)?;
                Ok(Control::Next.noted(if value == "true" { "open" } else { "closed" }))
            }
            Code::GenerateLink(spec) => {
                let url = self.generate_link(spec)?;
                let name = self.expand(&spec.set_var);
                self.host.set_var(&name, &url)?;
                Ok(Control::Next.into())
            }
            Code::Echo(delay) => {
                let delay_ms = self.number(delay, "echo")?;
                self.host.echo(delay_ms)?;
                Ok(Control::Next.into())
            }
            Code::FlushDtmf => {
                self.host.flush_dtmf()?;
                Ok(Control::Next.into())
            }
            Code::InBandDtmf(mode) => {
                let mode = self.expand(mode);
                let start = !mode.trim().eq_ignore_ascii_case("stop");
                self.host.inband_dtmf(start)?;
                Ok(Control::Next.noted(if start { "start" } else { "stop" }))
            }
            Code::Timezone(zone) => {
                let zone = self.expand(zone);
                if zone.parse::<chrono_tz::Tz>().is_err() {
                    return Err(StepError::Failed(format!("unknown time zone `{zone}`")));
                }
                self.timezone = Some(zone.into_owned());
                Ok(Control::Next.into())
            }
            Code::Http(spec) => self.http(spec),
            Code::Js { function, set_var } => {
                let value = flow.scripts[*function]
                    .run(self)
                    .map_err(StepError::Failed)?;
                let name = self.expand(set_var);
                self.host.set_var(&name, &value)?;
                Ok(Control::Next.into())
            }
            Code::Math(step) => {
                let args: Vec<String> = step
                    .args
                    .iter()
                    .map(|a| self.expand(a).into_owned())
                    .collect();
                let value = step.call.call(&args, self).map_err(StepError::Failed)?;
                let name = self.expand(&step.set_var);
                self.host.set_var(&name, &value)?;
                Ok(Control::Next.into())
            }
            Code::Str(step) => {
                let data = self.expand(&step.data).into_owned();
                let args: Vec<String> = step
                    .args
                    .iter()
                    .map(|a| self.expand(a).into_owned())
                    .collect();
                let value = step
                    .call
                    .call(&data, &args, self)
                    .map_err(StepError::Failed)?;
                let name = self.expand(&step.set_var);
                self.host.set_var(&name, &value)?;
                Ok(Control::Next.into())
            }
            Code::Unsupported { reason } => Err(StepError::Failed(reason.to_string())),
            #[cfg(feature = "test-hooks")]
            Code::TestPanic => panic!("_testPanic step reached (test-hooks)"),
        }
    }

    /// The caller's view of a synchronous fork's end.
    fn fork_result(&mut self, end: End) -> StepResult {
        match end {
            End::Finished => Ok(Control::Next.into()),
            End::Break => Ok(Control::Stop.into()),
            End::Hangup => {
                self.hung_up = true;
                Err(StepError::Hangup)
            }
            End::Fatal => Err(StepError::Fatal),
        }
    }

    fn var_value<'t>(&mut self, value: &'t VarValue) -> Cow<'t, str> {
        match value {
            VarValue::Text(t) => self.expand(t),
            VarValue::Raw(raw) => Cow::Borrowed(raw),
        }
    }

    fn variables(&mut self, vars: &[(Box<str>, VarValue)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(name, value)| (name.to_string(), self.var_value(value).into_owned()))
            .collect()
    }

    fn bridge_request(&mut self, spec: &BridgeSpec) -> Result<BridgeRequest, StepError> {
        let mut legs = Vec::with_capacity(spec.legs.len());
        for leg in &spec.legs {
            let target = match &leg.target {
                LegTarget::User { extension, domain } => BridgeTarget::User {
                    extension: self.expand(extension).into_owned(),
                    domain: self.expand_opt(domain),
                },
                LegTarget::Gateway { gateway, number } => BridgeTarget::Gateway {
                    gateway: self.expand(gateway).into_owned(),
                    number: self.expand(number).into_owned(),
                },
                LegTarget::Sip { profile, uri } => BridgeTarget::Sip {
                    profile: self.expand_opt(profile),
                    uri: self.expand(uri).into_owned(),
                },
            };
            let empty = match &target {
                BridgeTarget::User { extension, .. } => extension.is_empty(),
                BridgeTarget::Gateway { gateway, number } => {
                    gateway.is_empty() || number.is_empty()
                }
                BridgeTarget::Sip { uri, .. } => uri.is_empty(),
            };
            if empty {
                return Err(StepError::Failed(
                    "an endpoint expanded to an empty destination".to_string(),
                ));
            }
            legs.push(BridgeLeg {
                target,
                variables: self.variables(&leg.variables),
                idle_only: self.flag(&leg.idle_only, "idle")?,
            });
        }
        Ok(BridgeRequest {
            legs,
            strategy: spec.strategy,
            variables: self.variables(&spec.variables),
            codecs: self.expand_list(&spec.codecs),
            send_on_answer: self.expand_opt(&spec.send_on_answer),
            pickup: self.expand_opt(&spec.pickup).filter(|g| !g.is_empty()),
        })
    }

    fn generate_link(&mut self, spec: &LinkSpec) -> Result<String, StepError> {
        let settings = self.host.link_settings().ok_or_else(|| {
            StepError::Failed(
                "no `link-secret` is configured, so links cannot be signed".to_string(),
            )
        })?;
        let source = self.expand(&spec.source).into_owned();
        let id = self.expand_opt(&spec.file_id);
        let name = self.expand_opt(&spec.file_name);
        // What the link points at: a media file by id or name, else this call's last recording.
        let (area, file) = match (source.as_str(), id, name) {
            ("media", Some(id), _) => ("media", id),
            ("media", None, Some(name)) => ("media", name),
            (_, Some(id), _) | (_, None, Some(id)) if source != "media" => ("recordings", id),
            _ => {
                let last = self.host.var("rustflow_record_file").unwrap_or_default();
                let base = last.rsplit('/').next().unwrap_or("").to_string();
                if base.is_empty() {
                    return Err(StepError::Failed(
                        "no `file` given and this call has no recording to link to".to_string(),
                    ));
                }
                ("recordings", base)
            }
        };
        if file.contains(['/', '\\']) || file.contains("..") {
            return Err(StepError::Failed(format!(
                "`{file}` is not a plain file name"
            )));
        }
        let mut path = format!("/{area}/");
        uri_encode_into(&mut path, &file);
        let seconds = self.number(&spec.expire_seconds, "expire")?;
        let expires = self.host.now_micros().div_euclid(1_000_000)
            + i64::try_from(seconds).unwrap_or(i64::MAX / 4);
        let message = format!("{expires}{path}");
        let signature = match settings.format {
            LinkFormat::HmacSha256 => crate::expr::digest::hex(&hmac_sha256(
                settings.secret.as_bytes(),
                message.as_bytes(),
            )),
            LinkFormat::NginxSecureLink => {
                let digest =
                    crate::expr::digest::md5(format!("{message} {}", settings.secret).as_bytes());
                crate::expr::digest::base64_encode(&digest)
                    .trim_end_matches('=')
                    .replace('+', "-")
                    .replace('/', "_")
            }
        };
        let server = match &spec.server {
            Some(t) => self.expand(t).into_owned(),
            None => settings.base_url.clone(),
        };
        let mut url = format!("{}{path}?expires={expires}", server.trim_end_matches('/'));
        for (key, value) in &spec.query {
            let value = self.expand(value);
            url.push('&');
            uri_encode_into(&mut url, key);
            url.push('=');
            uri_encode_into(&mut url, &value);
        }
        url.push_str("&signature=");
        url.push_str(&signature);
        Ok(url)
    }

    fn play_file(&mut self, file: &FileSpec) -> Result<PlayFile, StepError> {
        Ok(match file {
            FileSpec::Tone(t) => PlayFile::Tone(self.expand(t).into_owned()),
            FileSpec::Silence(ms) => PlayFile::Silence {
                ms: self.number(ms, "silence")?,
            },
            FileSpec::Local(t) => PlayFile::Local(self.expand(t).into_owned()),
            FileSpec::MediaName(t) => PlayFile::MediaName(self.expand(t).into_owned()),
            FileSpec::MediaId(t) => PlayFile::MediaId(self.expand(t).into_owned()),
            FileSpec::Http(t) => PlayFile::Http(self.expand(t).into_owned()),
            FileSpec::Tts {
                text,
                engine,
                voice,
                language,
                ssml,
            } => {
                let engine = self.expand_opt(engine);
                let voice = self.expand_opt(voice);
                let language = self.expand_opt(language);
                let text = self.expand(text).into_owned();
                if text.trim().is_empty() {
                    return Err(StepError::Failed(
                        "the tts text expanded to nothing".to_string(),
                    ));
                }
                PlayFile::Tts {
                    text,
                    engine,
                    voice,
                    language,
                    ssml: *ssml,
                }
            }
        })
    }

    fn play_files(&mut self, files: &[FileSpec]) -> Result<Vec<PlayFile>, StepError> {
        files.iter().map(|f| self.play_file(f)).collect()
    }

    fn playback(&mut self, spec: &PlaybackSpec) -> StepResult {
        let files = self.play_files(&spec.files)?;
        if let Some(speech) = &spec.speech {
            let capture = SpeechCapture {
                set_var: self.expand(&speech.set_var).into_owned(),
                timeout_ms: self.number(&speech.timeout, "timeout")?,
                language: self.expand_opt(&speech.lang),
                min_words: clamp_u32(self.number(&speech.min_words, "minWords")?),
                max_words: clamp_u32(self.number(&speech.max_words, "maxWords")?),
                vad_timeout_ms: self.number(&speech.vad_timeout, "vadTimeout")?,
            };
            let outcome = self.host.detect_speech(&files, &capture)?;
            self.host.set_var(&capture.set_var, &outcome.transcript)?;
            self.host.set_var("rustflow_speech_result", &outcome.raw)?;
            return Ok(Control::Next.into());
        }
        let capture = match &spec.digits {
            Some(d) => {
                let timeout_ms = self.number(&d.timeout, "timeout")?;
                let digit_timeout_ms = match &d.digit_timeout {
                    Some(n) => self.number(n, "digitTimeout")?,
                    None => timeout_ms,
                };
                let regexp = match &d.regexp {
                    Some(t) => {
                        let source = self.expand(t).into_owned();
                        if t.as_literal().is_none() {
                            regex::Regex::new(&source).map_err(|e| {
                                StepError::Failed(format!(
                                    "`regexp` does not compile: {}",
                                    crate::compile::first_line(&e.to_string())
                                ))
                            })?;
                        }
                        Some(source).filter(|s| !s.is_empty())
                    }
                    None => None,
                };
                let min = clamp_u32(self.number(&d.min, "min")?);
                let max = clamp_u32(self.number(&d.max, "max")?);
                if max < min || max == 0 {
                    return Err(StepError::Failed(format!(
                        "getDigits needs 0 < min <= max, found min {min}, max {max}"
                    )));
                }
                Some(DigitCapture {
                    min,
                    max,
                    tries: clamp_u32(self.number(&d.tries, "tries")?).max(1),
                    timeout_ms,
                    digit_timeout_ms,
                    terminators: self.expand(&d.terminators).into_owned(),
                    regexp,
                    set_var: self.expand(&d.set_var).into_owned(),
                    flush_dtmf: self.flag(&d.flush_dtmf, "flushDTMF")?,
                })
            }
            None => None,
        };
        self.host.play(&files, capture.as_ref())?;
        Ok(Control::Next.into())
    }

    fn http(&mut self, spec: &HttpSpec) -> StepResult {
        let mut url = self.expand(&spec.url).into_owned();
        for (name, value) in &spec.path {
            let value = self.expand(value);
            let mut encoded = String::new();
            uri_encode_into(&mut encoded, &value);
            url = url.replace(&format!(":{name}"), &encoded);
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StepError::Failed(format!("url `{url}` is not http(s)")));
        }
        let method = self.expand(&spec.method).trim().to_ascii_uppercase();
        let method = if method.is_empty() {
            "GET".to_string()
        } else {
            method
        };
        let mut headers: Vec<(String, String)> = Vec::with_capacity(spec.headers.len() + 1);
        for (name, value) in &spec.headers {
            let value = self.expand(value).into_owned();
            headers.push((name.to_string(), value));
        }
        let body = match &spec.body {
            None => None,
            Some(JsonTemplate::Text { template, .. }) => Some(self.expand(template).into_owned()),
            Some(json) => {
                let mut text = String::new();
                self.write_json(json, &mut text);
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    headers.push(("Content-Type".to_string(), "application/json".to_string()));
                }
                Some(text)
            }
        };
        let timeout_ms = match &spec.timeout {
            Some(n) => self.number(n, "timeout")?,
            None => 0,
        };
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
            timeout_ms,
            insecure_skip_verify: spec.insecure_skip_verify,
        };
        let response = self.host.http(&request)?;
        if let Some(var) = &spec.response_code {
            let name = self.expand(var).into_owned();
            if !name.is_empty() {
                self.host.set_var(&name, &response.status.to_string())?;
            }
        }
        if let Some(var) = &spec.export_cookie {
            let name = self.expand(var).into_owned();
            let cookies: Vec<&str> = response
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
                .map(|(_, v)| v.split(';').next().unwrap_or("").trim())
                .collect();
            if !name.is_empty() && !cookies.is_empty() {
                self.host.set_var(&name, &cookies.join("; "))?;
            }
        }
        if !spec.export.is_empty() {
            let root: serde_json::Value = serde_json::from_str(&response.body).map_err(|_| {
                StepError::Failed(format!(
                    "response (status {}) is not JSON; cannot export variables",
                    response.status
                ))
            })?;
            for (var, path) in &spec.export {
                let name = self.expand(var).into_owned();
                let mut current = Some(&root);
                for step in path.iter() {
                    current = current.and_then(|v| match v {
                        serde_json::Value::Object(map) => map.get(&**step),
                        serde_json::Value::Array(items) => {
                            step.parse::<usize>().ok().and_then(|i| items.get(i))
                        }
                        _ => None,
                    });
                }
                let value = current.map(json_value_text).unwrap_or_default();
                self.host.set_var(&name, &value)?;
            }
        }
        Ok(Control::Next.into())
    }

    fn write_json(&mut self, json: &JsonTemplate, out: &mut String) {
        match json {
            JsonTemplate::Raw(raw) => out.push_str(raw),
            JsonTemplate::Text { template, splice } => {
                let text = self.expand(template);
                let trimmed = text.trim_start();
                if *splice
                    && (trimmed.starts_with('{') || trimmed.starts_with('['))
                    && serde_json::from_str::<serde_json::Value>(&text).is_ok()
                {
                    out.push_str(&text);
                } else {
                    crate::json::write_json_string(out, &text);
                }
            }
            JsonTemplate::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.write_json(item, out);
                }
                out.push(']');
            }
            JsonTemplate::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    crate::json::write_json_string(out, key);
                    out.push(':');
                    self.write_json(value, out);
                }
                out.push('}');
            }
        }
    }
}

/// Recording names become file names: no path separators, no climbing out.
fn check_file_name(name: &str, format: &str) -> Result<(), StepError> {
    for (what, text) in [("name", name), ("type", format)] {
        if text.is_empty() || text.contains(['/', '\\', '\0']) || text.contains("..") {
            return Err(StepError::Failed(format!(
                "recording {what} `{text}` is not a plain file name"
            )));
        }
    }
    Ok(())
}

/// HMAC-SHA256 (RFC 2104), from RustCrypto.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn clamp_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl ExprEnv for Machine<'_> {
    /// `name` is the raw text inside `${…}`: JSON paths and `.uri()` apply as in templates.
    fn var(&mut self, name: &str) -> String {
        if !name.contains(['.', '(']) {
            return self.host.var(name).unwrap_or_default();
        }
        let mut scope = Scope {
            host: &mut *self.host,
            args: self.args,
        };
        crate::template::lookup(&mut scope, name)
    }
    fn plain_var(&mut self, name: &str) -> String {
        self.host.var(name).unwrap_or_default()
    }
    fn plain_var_into(&mut self, name: &str, out: &mut String) {
        self.host.var_into(name, out);
    }
    fn buffer(&mut self) -> String {
        self.buffers.pop().unwrap_or_default()
    }
    fn recycle(&mut self, mut buffer: String) {
        if self.buffers.len() < 16 && buffer.capacity() <= 4096 {
            buffer.clear();
            self.buffers.push(buffer);
        }
    }
    fn global(&mut self, name: &str) -> String {
        self.host.global_var(name).unwrap_or_default()
    }
    fn arg(&self, n: usize) -> String {
        if n == 0 {
            self.args.join(" ")
        } else {
            self.args.get(n - 1).cloned().unwrap_or_default()
        }
    }
    fn now_micros(&mut self) -> i64 {
        self.host.now_micros()
    }
    fn timezone(&self) -> Option<String> {
        self.timezone.clone()
    }
    fn js(&mut self) -> &mut crate::js::JsSandbox {
        self.js.get_or_insert_with(crate::js::JsSandbox::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_rfc4231_vectors() {
        // RFC 4231 test case 2 and 6 (key longer than a block).
        assert_eq!(
            crate::expr::digest::hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            crate::expr::digest::hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
