//! The interpreter: runs a compiled flow against a [`Host`].
//!
//! Semantics (docs/semantics.md, "Running a flow"): a failing step is logged at WARNING, sets `rustflow_error` and
//! execution continues; hangup stops the flow at once and then `trigger.disconnected`
//! runs with media refused; `break` stops the current flow object (and a synchronous
//! caller); budgets end the flow with a logged error.

use std::borrow::Cow;
use std::sync::Arc;

use crate::compile::{parse_bool, parse_count};
use crate::expr::ExprEnv;
use crate::flow::{Flow, FlowSet};
use crate::host::*;
use crate::program::*;
use crate::template::{Scope, Template};

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
    /// The answer an attempt flow gave and its host accepted (`confirm`, `cancel`, …);
    /// `None` when the flow ended without one.
    pub decision: Option<AttemptDecision>,
}

/// Nested `execute`/`schema` forks deeper than this fail (recursion guard).
pub(crate) const MAX_DEPTH: usize = 64;

/// Runs `flow` on the call. `args` are the invocation arguments (`$1`…).
pub fn run(
    flow: &Flow,
    flows: &FlowSet,
    host: &mut dyn Host,
    args: &[String],
    limits: &Limits,
) -> RunOutcome {
    run_with(flow, flows, host, args, limits, RunContext::Call)
}

/// Runs `flow` as [`run`] does, for `context`. A queue's attempt flows
/// ([`RunContext::PreAttempt`], [`RunContext::AfterAttempt`]) run without a call: every step
/// that needs one (media, call control, `joinQueue`) fails with "`playback` needs a call: a
/// queue's pre-attempt flow runs without one" and the flow goes on; `confirm`/`cancel`
/// (pre-attempt) and `success`/`abandoned`/`retry` (after-attempt) hand their decision to
/// [`Host::attempt_decision`] and end the flow ([`RunOutcome::decision`]). The host of such
/// a run keeps the attempt's variables (`attempt_id`, `member_id`, `destination`, …) as its
/// "channel" variables and answers [`Host::is_up`] with `true` while the flow may go on
/// (`false` stops it, e.g. when its time is up).
pub fn run_with(
    flow: &Flow,
    flows: &FlowSet,
    host: &mut dyn Host,
    args: &[String],
    limits: &Limits,
    context: RunContext,
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
        queue_waiting: false,
        queue_cancelled: false,
        context,
        decision: None,
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
        decision: machine.decision,
    }
}

pub(crate) fn new_counters(flow: &Flow) -> Vec<Vec<u64>> {
    flow.units.iter().map(|u| vec![0; u.counters]).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Finished,
    Break,
    Hangup,
    /// A budget ran out: everything stops.
    Fatal,
}

/// What a step asks the interpreter to do next.
pub(crate) enum Control {
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

pub(crate) enum StepError {
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
pub(crate) struct Done {
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
    pub(crate) fn noted(self, note: &'static str) -> Done {
        Done {
            control: self,
            note: Some(note),
        }
    }
}

pub(crate) type StepResult = Result<Done, StepError>;

/// A fork started with `async: true`: run on the caller right after the current step.
pub(crate) enum Pending {
    Function(usize),
    Schema(Arc<Flow>),
    /// `bridge.bridged` after a bridge in which a leg answered.
    Bridged(usize),
}

pub(crate) struct Machine<'a> {
    pub(crate) host: &'a mut dyn Host,
    pub(crate) flows: &'a FlowSet,
    pub(crate) args: &'a [String],
    pub(crate) limits: Limits,
    pub(crate) steps: u64,
    pub(crate) error: Option<String>,
    pub(crate) hung_up: bool,
    pub(crate) in_disconnected: bool,
    pub(crate) exported: Vec<String>,
    pub(crate) pending: Vec<Pending>,
    pub(crate) js: Option<crate::js::JsSandbox>,
    pub(crate) timezone: Option<String>,
    /// String buffers reused by expression variable reads.
    pub(crate) buffers: Vec<String>,
    pub(crate) depth: usize,
    pub(crate) debug: bool,
    /// A `joinQueue` is waiting (its `waiting`, timer and `offering` blocks run):
    /// `cancelQueue` may leave the queue.
    pub(crate) queue_waiting: bool,
    /// `cancelQueue` ran while waiting; `joinQueue` leaves the queue.
    pub(crate) queue_cancelled: bool,
    /// A call, or a queue's call-less attempt flow.
    pub(crate) context: RunContext,
    /// The attempt flow answered: every flow object stops.
    pub(crate) decision: Option<AttemptDecision>,
}

impl Machine<'_> {
    pub(crate) fn expand<'t>(&mut self, template: &'t Template) -> Cow<'t, str> {
        let mut scope = Scope {
            host: &mut *self.host,
            args: self.args,
        };
        template.expand(&mut scope)
    }

    /// An optional template, expanded: `None` when absent or when it expands to nothing.
    pub(crate) fn expand_opt(&mut self, template: &Option<Template>) -> Option<String> {
        template
            .as_ref()
            .map(|t| self.expand(t).into_owned())
            .filter(|v| !v.is_empty())
    }

    /// Templates, expanded, leaving out those that expand to nothing.
    pub(crate) fn expand_list(&mut self, templates: &[Template]) -> Vec<String> {
        templates
            .iter()
            .map(|t| self.expand(t).into_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub(crate) fn number(&mut self, num: &Num, field: &str) -> Result<u64, StepError> {
        match num {
            Num::Const(n) => Ok(*n),
            Num::Dynamic(t) => {
                let text = self.expand(t);
                parse_count(&text)
                    .map_err(|reason| StepError::Failed(format!("`{field}` {reason}")))
            }
        }
    }

    pub(crate) fn flag(&mut self, flag: &Flag, field: &str) -> Result<bool, StepError> {
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

    pub(crate) fn record_error(&mut self, flow: &Flow, op: &Op, reason: &str) {
        let message = format!("{}: {reason}", op.app);
        self.host.log(
            LogLevel::Warning,
            &format!("flow {}: {}: {message}", flow.id, op.pointer),
        );
        let _ = self.host.set_var("rustflow_error", &message);
        self.error = Some(message);
    }

    pub(crate) fn fatal(&mut self, flow: &Flow, op: &Op, reason: String) {
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
    pub(crate) fn exec(&mut self, flow: &Flow, counters: &mut [Vec<u64>], unit: usize) -> End {
        let ops = &flow.units[unit].ops;
        let mut pc = 0;
        let mut jumps: u32 = 0;
        while let Some(op) = ops.get(pc) {
            if self.decision.is_some() {
                // An attempt flow answered (Webitel "stops the schema"), maybe in a fork.
                return End::Break;
            }
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
    pub(crate) fn run_bridged(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        unit: usize,
    ) -> End {
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
    pub(crate) fn run_pending(&mut self, flow: &Flow, counters: &mut [Vec<u64>]) -> End {
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

    pub(crate) fn step(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        unit: usize,
        op: &Op,
    ) -> StepResult {
        if self.in_disconnected && op.code.uses_media() {
            return Err(StepError::Failed(
                "not allowed after hangup (media applications are refused in trigger.disconnected)"
                    .to_string(),
            ));
        }
        if self.context != RunContext::Call && op.code.needs_call() {
            return Err(StepError::Failed(format!(
                "`{}` needs a call: a queue's {} flow runs without one",
                op.app,
                self.context.as_str()
            )));
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

    pub(crate) fn dispatch(
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
            } => self.run_if(flow, *expr, *else_target, *end),
            Code::Switch {
                variable,
                cases,
                default,
                end,
            } => self.run_switch(variable, cases, *default, *end),
            Code::WhileEnter => Ok(Control::Next.noted("enter")),
            Code::WhileTest(test) => {
                self.run_while_test(flow, op, &mut counters[unit][test.slot], test)
            }
            Code::Execute {
                unit,
                function,
                is_async,
            } => self.run_execute(*unit, function, *is_async),
            Code::Schema { id, is_async } => self.run_schema(id, *is_async),
            Code::Unsupported { reason } => Err(StepError::Failed(reason.to_string())),
            #[cfg(feature = "test-hooks")]
            Code::TestPanic => panic!("_testPanic step reached (test-hooks)"),
            Code::Call(step) => self.run_call(step),
            Code::Media(step) => self.run_media(step),
            Code::Data(step) => self.run_data(flow, step),
            Code::ContactCentre(step) => self.run_contact_centre(flow, counters, step),
        }
    }

    /// The caller's view of a synchronous fork's end.
    pub(crate) fn fork_result(&mut self, end: End) -> StepResult {
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

    pub(crate) fn var_value<'t>(&mut self, value: &'t VarValue) -> Cow<'t, str> {
        match value {
            VarValue::Text(t) => self.expand(t),
            VarValue::Raw(raw) => Cow::Borrowed(raw),
        }
    }

    pub(crate) fn variables(&mut self, vars: &[(Box<str>, VarValue)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(name, value)| (name.to_string(), self.var_value(value).into_owned()))
            .collect()
    }
}

pub(crate) fn clamp_u32(n: u64) -> u32 {
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
