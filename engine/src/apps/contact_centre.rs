//! The contact centre: queues, agents and the queue statistics a flow reads.
//!
//! `joinQueue` and `joinAgent` put the caller in line and run the flow's nested blocks
//! while the host (the simulator, or the module's store and distributor) keeps the
//! attempt. The engine drives one loop per attempt on the caller's thread:
//!
//! 1. [`Host::queue_join`](crate::Host::queue_join): refused → `cc_result`, the flow goes on;
//!    a join the host cannot make (its store unreachable) sets `cc_result=error` and fails
//!    the step (logged), and the flow goes on too.
//! 2. `waiting` runs once, then [`Host::queue_wait`](crate::Host::queue_wait) until the
//!    next timer is due, an agent is offered or the queue ends the wait.
//! 3. A due timer runs its `actions` (the hold audio is paused: the wait returned) and the
//!    loop waits again; `cancelQueue` in any of these blocks leaves the queue.
//! 4. An offer sets `cc_agent_*`, runs `offering`, rings the agent; missed → back to 2,
//!    answered → `bridged` (the agent answered, the audio is not joined yet), the
//!    conversation, `queue_leave("success")`, `reporting`, then `transferAfterBridge`.
//!
//! Every way out of the loop closes the attempt exactly once (`queue_leave`), except a
//! `Left` event, which the queue already closed: a hangup anywhere (also inside a nested
//! block) closes it as `abandoned`, a host failure as `error` (logged, `cc_result=error`,
//! the flow goes on), `cancelQueue` as `cancel`.
//!
//! Timers (`timers[]`: `interval`, `tries` = 999, `offset`, `actions`): a timer with
//! interval 0 is ignored. Timer *k* first fires `interval` seconds after the join; after
//! its n-th firing (n = 1, 2, …) its actions run, and it fires again `interval + n × offset`
//! seconds after they ended (Webitel's timer adds `offset` to its interval at each firing
//! and waits again once the actions returned), until it fired `tries` times.
//!
//! The nested blocks run inside the step (they are units compiled like function bodies),
//! so their steps count toward the call's budgets and a `break` ends only the block.
//!
//! Members of outbound queues (`callbackQueue`, `memberInfo`, `patchMembers`), the answers of
//! a queue's call-less attempt flows (`confirm`, `cancel`, `success`, `abandoned`, `retry`)
//! and `attemptResult` are compiled and run in [`members`] (its docs list the Webitel quirks
//! fixed on purpose); their steps are variants of the one [`Step`] below.

mod members;

use serde_json::{Value as Json, json};

use members::DecisionKind;
pub use members::MEMBER_PROPERTIES;

use super::media::FileSpec;
use super::{App, At, Family};
use crate::compile::{AppCx, Compiler, find_ci};
use crate::flow::Flow;
use crate::graph::scalar;
use crate::host::*;
use crate::interp::{Control, End, MAX_DEPTH, Machine, StepError, StepResult, new_counters};
use crate::json::{Kind, Member, pointer_join};
use crate::program::*;
use crate::schema::{actions, args, flag, free_object, number, reference, string_list, text};
use crate::template::Template;

/// The contact-centre applications.
pub(crate) const APPS: &[App] = &[
    App::step(
        Family::ContactCentre,
        "joinQueue",
        "Puts the caller in an inbound queue until an agent answers or the wait ends.",
        |c, acx, at| c.app_join_queue(acx, at).map(Code::ContactCentre),
        schema_join_queue,
    )
    .outputs(&[
        "cc_result",
        "cc_cancel",
        "cc_agent_name",
        "cc_agent_id",
        "cc_agent_call_id",
        "cc_agent_extension",
    ])
    .nested(&[
        "waiting",
        "offering",
        "bridged",
        "reporting",
        "timers[].actions",
    ])
    .label(|args| ref_label(args, "queue")),
    App::step(
        Family::ContactCentre,
        "joinAgent",
        "Puts the caller in line for one agent until it answers or the wait ends.",
        |c, acx, at| c.app_join_agent(acx, at).map(Code::ContactCentre),
        schema_join_agent,
    )
    .outputs(&[
        "cc_result",
        "cc_agent_name",
        "cc_agent_id",
        "cc_agent_call_id",
        "cc_agent_extension",
    ])
    .nested(&["bridged"])
    .label(|args| ref_label(args, "agent")),
    App::step(
        Family::ContactCentre,
        "cancelQueue",
        "Inside a `joinQueue` block: leaves the queue (`cc_cancel`).",
        |_, _, _| Some(Code::ContactCentre(Step::Cancel)),
        schema_cancel_queue,
    )
    .outputs(&["cc_cancel"]),
    App::step(
        Family::ContactCentre,
        "getQueueAgents",
        "Sets variables to agent counts of a queue (count, online, offline, pause, waiting).",
        |c, acx, at| c.app_get_queue_agents(acx, at).map(Code::ContactCentre),
        schema_get_queue_agents,
    )
    .label(|args| ref_label(args, "queue")),
    App::step(
        Family::ContactCentre,
        "getQueueMetrics",
        "Sets a variable to a statistic of a queue's finished attempts (wait, talk, service level).",
        |c, acx, at| c.app_get_queue_metrics(acx, at).map(Code::ContactCentre),
        schema_get_queue_metrics,
    )
    .label(|args| format!("{} {}", scalar(args, "metric"), scalar(args, "field"))),
    App::step(
        Family::ContactCentre,
        "ccPosition",
        "Sets a variable to the caller's place in its queue (1 = next, 0 = not in a queue).",
        |c, acx, at| c.app_cc_position(acx, at).map(Code::ContactCentre),
        schema_cc_position,
    ),
    App::step(
        Family::ContactCentre,
        "ewt",
        "Sets a variable to the estimated wait in seconds (`unknown` without history).",
        |c, acx, at| c.app_ewt(acx, at).map(Code::ContactCentre),
        schema_ewt,
    ),
    App::step(
        Family::ContactCentre,
        "lastBridged",
        "Sets variables from the newest bridged call of a number (last agent, queue, ...).",
        |c, acx, at| c.app_last_bridged(acx, at).map(Code::ContactCentre),
        schema_last_bridged,
    )
    .label(|args| scalar(args, "number")),
    App::step(
        Family::ContactCentre,
        "callbackQueue",
        "Adds a member to an outbound queue: the dialer calls it back (a callback request).",
        |c, acx, _| c.app_callback_queue(acx).map(Code::ContactCentre),
        schema_callback_queue,
    )
    .label(|args| ref_label(args, "queue")),
    App::step(
        Family::ContactCentre,
        "memberInfo",
        "Sets variables from the first member of outbound queues that matches a search.",
        |c, acx, _| c.app_member_info(acx).map(Code::ContactCentre),
        schema_member_info,
    ),
    App::step(
        Family::ContactCentre,
        "patchMembers",
        "Changes every member of outbound queues that matches a search, in one transaction.",
        |c, acx, _| c.app_patch_members(acx).map(Code::ContactCentre),
        schema_patch_members,
    ),
    App::step(
        Family::ContactCentre,
        "confirm",
        "A queue's pre-attempt flow: dial the member (optionally another number or caller id); ends the flow.",
        |c, acx, _| c.app_decision(acx, DecisionKind::Confirm).map(Code::ContactCentre),
        schema_confirm,
    )
    .label(|args| scalar(args, "destination")),
    App::step(
        Family::ContactCentre,
        "cancel",
        "A queue's pre-attempt flow: do not dial now (retry later, or stop the member); ends the flow.",
        |c, acx, _| c.app_decision(acx, DecisionKind::Cancel).map(Code::ContactCentre),
        schema_cancel,
    )
    .label(|args| scalar(args, "description")),
    App::step(
        Family::ContactCentre,
        "success",
        "A queue's after-attempt flow: the member is done; ends the flow.",
        |c, acx, _| c.app_decision(acx, DecisionKind::Success).map(Code::ContactCentre),
        schema_success,
    ),
    App::step(
        Family::ContactCentre,
        "abandoned",
        "A queue's after-attempt flow: not a success, retry while attempts remain; ends the flow.",
        |c, acx, _| c.app_decision(acx, DecisionKind::Abandoned).map(Code::ContactCentre),
        schema_abandoned,
    )
    .label(|args| scalar(args, "status")),
    App::step(
        Family::ContactCentre,
        "retry",
        "A queue's after-attempt flow: dial the member again now through another gateway; ends the flow.",
        |c, acx, _| c.app_decision(acx, DecisionKind::Retry).map(Code::ContactCentre),
        schema_retry,
    ),
    App::step(
        Family::ContactCentre,
        "attemptResult",
        "Closes or reschedules the outbound attempt named by `attempt_id` (an agent's wrap-up).",
        |c, acx, _| c.app_attempt_result(acx).map(Code::ContactCentre),
        schema_attempt_result,
    )
    .label(|args| scalar(args, "status")),
    App::not_yet(Family::ContactCentre, "ccOutbound"),
    App::not_yet(Family::ContactCentre, "getQueueInfo"),
];

/// `getQueueAgents` metric names.
const AGENT_METRICS: &[&str] = &["count", "online", "offline", "pause", "waiting"];

/// `lastBridged` properties (plus `variables.KEY`).
pub const BRIDGED_PROPERTIES: &[&str] = &[
    "id",
    "created_at",
    "extension",
    "queue_id",
    "agent_id",
    "description",
    "gateway_id",
    "destination",
];

/// A compiled contact-centre step.
#[derive(Debug)]
pub(crate) enum Step {
    Join(Box<JoinSpec>),
    Cancel,
    Agents {
        queue: RefSpec,
        /// (variable, metric name from [`AGENT_METRICS`]).
        set: Vec<(Template, &'static str)>,
    },
    Metrics(Box<MetricSpec>),
    Position {
        set: Template,
    },
    Ewt {
        set_var: Template,
        queues: Vec<Template>,
        buckets: Vec<Template>,
        lookback_minutes: Num,
    },
    LastBridged(Box<LastBridgedSpec>),
    Callback(Box<members::CallbackSpec>),
    MemberInfo(Box<members::MemberInfoSpec>),
    PatchMembers(Box<members::PatchSpec>),
    /// `confirm`, `cancel`, `success`, `abandoned`, `retry`.
    Decision(Box<members::Decision>),
    AttemptResult(Box<members::AttemptResultSpec>),
}

impl Step {
    /// Whether the step needs the call's media (only the waits do).
    pub(crate) fn uses_media(&self) -> bool {
        matches!(self, Step::Join(_))
    }
}

/// A queue, agent or bucket reference: `id` and/or `name` (for agents: `extension`).
#[derive(Debug, Clone)]
pub(crate) struct RefSpec {
    pub id: Option<Template>,
    pub name: Option<Template>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Queue,
    Agent,
}

#[derive(Debug)]
pub(crate) struct TimerSpec {
    pub interval: Num,
    pub tries: Num,
    pub offset: Num,
    pub actions: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct JoinSpec {
    pub kind: JoinKind,
    pub target: RefSpec,
    pub priority: Num,
    pub bucket: Option<RefSpec>,
    pub sticky_agent: Option<RefSpec>,
    pub ringtone: Option<FileSpec>,
    pub timeout: Num,
    pub queue_name: Option<Template>,
    pub waiting: Option<usize>,
    pub offering: Option<usize>,
    pub bridged: Option<usize>,
    pub reporting: Option<usize>,
    pub timers: Vec<TimerSpec>,
    /// Flow id run when the caller is still up after the agent conversation.
    pub transfer_after_bridge: Option<Template>,
}

#[derive(Debug)]
pub(crate) struct MetricSpec {
    pub queue: RefSpec,
    pub bucket: Option<RefSpec>,
    pub set: Template,
    pub measure: Measure,
    pub last_minutes: Num,
}

#[derive(Debug)]
pub(crate) enum Measure {
    WaitTime(MetricAggregate),
    TalkTime(MetricAggregate),
    ServiceLevel(Num),
}

#[derive(Debug)]
pub(crate) struct LastBridgedSpec {
    pub number: Template,
    pub hours: Num,
    pub dialer: Option<Template>,
    pub inbound: Option<Template>,
    pub outbound: Option<Template>,
    pub queue_ids: Option<Vec<Template>>,
    /// (variable, property).
    pub set: Vec<(Template, Box<str>)>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn app_join_queue(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_join(acx, JoinKind::Queue)
            .map(|spec| Step::Join(Box::new(spec)))
    }

    pub(crate) fn app_join_agent(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_join(acx, JoinKind::Agent)
            .map(|spec| Step::Join(Box::new(spec)))
    }

    fn compile_join(&mut self, acx: &AppCx<'a>, kind: JoinKind) -> Option<JoinSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let mut ok = true;
        let (target_key, target_names): (&str, &[&str]) = match kind {
            JoinKind::Queue => ("queue", &["name"]),
            JoinKind::Agent => ("agent", &["extension"]),
        };
        let target = match self.cc_ref(members, target_key, pointer, target_names) {
            Ok(Some(target)) => Some(target),
            Ok(None) => {
                self.missing(acx, target_key);
                None
            }
            Err(()) => None,
        };
        let priority = self.opt_num(members, "priority", pointer, 0);
        let bucket = match self.cc_ref(members, "bucket", pointer, &["name"]) {
            Ok(None) if kind == JoinKind::Queue => {
                self.opt_text(members, "bucket_id", pointer).map(|id| {
                    id.map(|id| RefSpec {
                        id: Some(id),
                        name: None,
                    })
                })
            }
            other => other,
        };
        let sticky_agent = match kind {
            JoinKind::Queue => match self.cc_ref(members, "agent", pointer, &["extension"]) {
                Ok(None) => self.opt_text(members, "stickyAgentId", pointer).map(|id| {
                    id.map(|id| RefSpec {
                        id: Some(id),
                        name: None,
                    })
                }),
                other => other,
            },
            JoinKind::Agent => Ok(None),
        };
        let ringtone = self.optional(members, "ringtone", pointer, Self::compile_file_spec);
        let timeout = self.opt_num(members, "timeout", pointer, 0);
        let queue_name = match kind {
            JoinKind::Agent => self.opt_text(members, "queue_name", pointer),
            JoinKind::Queue => Ok(None),
        };
        let transfer_after_bridge = match (kind, find_ci(members, "transferAfterBridge")) {
            (JoinKind::Queue, Some(m)) => {
                let p = pointer_join(pointer, &m.key);
                let id = match m.value.as_object() {
                    Some(fields) => match find_ci(fields, "id") {
                        Some(id) => self.text(&id.value, &pointer_join(&p, &id.key), "id"),
                        None => {
                            self.error(
                                &p,
                                m.value.start,
                                "`transferAfterBridge` needs the flow `id`".to_string(),
                            );
                            None
                        }
                    },
                    None => self.text(&m.value, &p, "transferAfterBridge"),
                };
                ok &= id.is_some();
                id.filter(|id| id.as_literal() != Some(""))
            }
            _ => None,
        };
        if !ok {
            return None;
        }
        let block = |this: &mut Self, key: &str| this.queue_block(members, key, pointer, acx.app);
        let (waiting, offering, reporting) = match kind {
            JoinKind::Queue => (
                block(self, "waiting"),
                block(self, "offering"),
                block(self, "reporting"),
            ),
            JoinKind::Agent => (Ok(None), Ok(None), Ok(None)),
        };
        let bridged = block(self, "bridged");
        let timers = match kind {
            JoinKind::Queue => self.compile_timers(members, pointer),
            JoinKind::Agent => Some(Vec::new()),
        };
        Some(JoinSpec {
            kind,
            target: target?,
            priority: priority.ok()?,
            bucket: bucket.ok()?,
            sticky_agent: sticky_agent.ok()?,
            ringtone: ringtone.ok()?,
            timeout: timeout.ok()?,
            queue_name: queue_name.ok()?,
            waiting: waiting.ok()?,
            offering: offering.ok()?,
            bridged: bridged.ok()?,
            reporting: reporting.ok()?,
            timers: timers?,
            transfer_after_bridge,
        })
    }

    /// A nested block of a queue step (`waiting`, `bridged`, ...): a unit of its own,
    /// compiled like a function body.
    fn queue_block(
        &mut self,
        members: &'a [Member],
        key: &str,
        pointer: &str,
        app: &str,
    ) -> Result<Option<usize>, ()> {
        let Some(m) = find_ci(members, key) else {
            return Ok(None);
        };
        let block_pointer = pointer_join(pointer, &m.key);
        if m.value.as_array().is_none() {
            self.error(
                &block_pointer,
                m.value.start,
                format!(
                    "`{app}.{key}` must be an array of applications, found {}",
                    m.value.type_name()
                ),
            );
            return Err(());
        }
        let unit = self.new_unit(&format!("{app}.{key}"));
        self.function_defs.push((unit, &m.value, block_pointer));
        Ok(Some(unit))
    }

    fn compile_timers(&mut self, members: &'a [Member], pointer: &str) -> Option<Vec<TimerSpec>> {
        let Some(m) = find_ci(members, "timers") else {
            return Some(Vec::new());
        };
        let timers_pointer = pointer_join(pointer, &m.key);
        let Some(items) = m.value.as_array() else {
            self.error(
                &timers_pointer,
                m.value.start,
                format!(
                    "`timers` must be an array of {{interval, tries, offset, actions}}, found {}",
                    m.value.type_name()
                ),
            );
            return None;
        };
        let mut timers = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let timer_pointer = format!("{timers_pointer}/{i}");
            let Some(fields) = item.as_object() else {
                self.error(
                    &timer_pointer,
                    item.start,
                    format!(
                        "`timers/{i}` must be an object {{interval, tries, offset, actions}}, found {}",
                        item.type_name()
                    ),
                );
                ok = false;
                continue;
            };
            let interval = self.opt_num(fields, "interval", &timer_pointer, 0);
            let tries = self.opt_num(fields, "tries", &timer_pointer, 999);
            let offset = self.opt_num(fields, "offset", &timer_pointer, 0);
            let actions = self.queue_block(fields, "actions", &timer_pointer, "timers");
            match (interval, tries, offset, actions) {
                (Ok(interval), Ok(tries), Ok(offset), Ok(actions)) => timers.push(TimerSpec {
                    interval,
                    tries,
                    offset,
                    actions,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(timers)
    }

    /// An optional reference object `{id, name}` (`names`: the keys that name it).
    fn cc_ref(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
        names: &[&str],
    ) -> Result<Option<RefSpec>, ()> {
        let Some(m) = find_ci(members, key) else {
            return Ok(None);
        };
        let p = pointer_join(pointer, &m.key);
        let Some(fields) = m.value.as_object() else {
            self.error(
                &p,
                m.value.start,
                format!(
                    "`{key}` must be an object {{id, {}}}, found {}",
                    names.join(", "),
                    m.value.type_name()
                ),
            );
            return Err(());
        };
        let id = self.opt_text(fields, "id", &p)?;
        let mut name = None;
        for field in names {
            if let Some(found) = self.opt_text(fields, field, &p)? {
                name = Some(found);
                break;
            }
        }
        let empty = |t: &Option<Template>| t.as_ref().is_none_or(|t| t.as_literal() == Some(""));
        if empty(&id) && empty(&name) {
            self.error(
                &p,
                m.value.start,
                format!("`{key}` needs `id` or `{}`", names.join("` or `")),
            );
            return Err(());
        }
        Ok(Some(RefSpec { id, name }))
    }

    /// A required reference object.
    fn required_ref(&mut self, acx: &AppCx<'_>, members: &[Member], key: &str) -> Option<RefSpec> {
        match self.cc_ref(members, key, &acx.pointer, &["name"]) {
            Ok(Some(r)) => Some(r),
            Ok(None) => {
                self.missing(acx, key);
                None
            }
            Err(()) => None,
        }
    }

    /// A required variable-name field (`set`, `setVar`): a non-empty string.
    fn var_name_field(
        &mut self,
        acx: &AppCx<'_>,
        members: &[Member],
        key: &str,
    ) -> Option<Template> {
        let Some(m) = find_ci(members, key) else {
            self.missing(acx, key);
            return None;
        };
        let p = pointer_join(&acx.pointer, &m.key);
        match &m.value.kind {
            Kind::String(s) if !s.trim().is_empty() => Some(Template::parse(s)),
            _ => {
                self.error(
                    &p,
                    m.value.start,
                    format!("`{key}` must be a variable name (a non-empty string)"),
                );
                None
            }
        }
    }

    /// A required `set` object of variable → name, each name checked by `check`.
    fn set_map<T>(
        &mut self,
        acx: &AppCx<'_>,
        members: &[Member],
        check: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Option<Vec<(Template, T)>> {
        let Some(m) = find_ci(members, "set") else {
            self.missing(acx, "set");
            return None;
        };
        let p = pointer_join(&acx.pointer, &m.key);
        let entries = match m.value.as_object() {
            Some(entries) if !entries.is_empty() => entries,
            _ => {
                self.error(
                    &p,
                    m.value.start,
                    format!("`set` must be a non-empty object of variable → {expected}"),
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for entry in entries {
            let entry_pointer = pointer_join(&p, &entry.key);
            let value = entry.value.as_str().unwrap_or_default();
            match check(value) {
                Some(found) if !entry.key.trim().is_empty() => {
                    out.push((Template::parse(&entry.key), found));
                }
                Some(_) => {
                    self.error(
                        &entry_pointer,
                        entry.value.start,
                        "`set` has an empty variable name".to_string(),
                    );
                    ok = false;
                }
                None => {
                    let shown = match &entry.value.kind {
                        Kind::String(s) => format!("`{s}`"),
                        _ => entry.value.type_name().to_string(),
                    };
                    self.error(
                        &entry_pointer,
                        entry.value.start,
                        format!("`set.{}`: unknown {expected} {shown}", entry.key),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub(crate) fn app_get_queue_agents(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let members = self.object(acx)?;
        let queue = self.required_ref(acx, members, "queue");
        // `channel`: this engine serves calls only; any other channel is refused.
        if let Some(m) = find_ci(members, "channel") {
            if m.value
                .as_str()
                .is_some_and(|c| !c.is_empty() && c != "call")
            {
                self.error(
                    &pointer_join(&acx.pointer, &m.key),
                    m.value.start,
                    "`channel` must be `call` (the only channel of a call flow)".to_string(),
                );
                return None;
            }
        }
        let set = self.set_map(
            acx,
            members,
            |metric| AGENT_METRICS.iter().find(|m| **m == metric).copied(),
            "agent metric (count, online, offline, pause, waiting)",
        );
        Some(Step::Agents {
            queue: queue?,
            set: set?,
        })
    }

    pub(crate) fn app_get_queue_metrics(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let queue = self.required_ref(acx, members, "queue");
        let bucket = self.cc_ref(members, "bucket", pointer, &["name"]);
        let set = self.var_name_field(acx, members, "set");
        let last_minutes = self.opt_num(members, "lastMinutes", pointer, 60);
        let mut ok = true;
        if let Some(m) = find_ci(members, "calls") {
            if m.value.as_str() != Some("complete") {
                self.error(
                    &pointer_join(pointer, &m.key),
                    m.value.start,
                    "`calls` must be `complete` (the only statistic: finished attempts)"
                        .to_string(),
                );
                ok = false;
            }
        }
        // A constant string field with where it is: (text, pointer, offset).
        type Literal = Option<(String, String, usize)>;
        let literal = |this: &mut Self, key: &str| -> Result<Literal, ()> {
            match find_ci(members, key) {
                None => Ok(None),
                Some(m) => match m.value.as_str() {
                    Some(s) => Ok(Some((
                        s.to_string(),
                        pointer_join(pointer, &m.key),
                        m.value.start,
                    ))),
                    None => {
                        this.error(
                            &pointer_join(pointer, &m.key),
                            m.value.start,
                            format!("`{key}` must be a string, found {}", m.value.type_name()),
                        );
                        Err(())
                    }
                },
            }
        };
        let field = literal(self, "field");
        let metric = literal(self, "metric");
        let (Ok(field), Ok(metric)) = (field, metric) else {
            return None;
        };
        let start = acx.value.start;
        let aggregate = |this: &mut Self| -> Option<MetricAggregate> {
            match &metric {
                Some((m, _, _)) if m == "avg" => Some(MetricAggregate::Avg),
                Some((m, _, _)) if m == "min" => Some(MetricAggregate::Min),
                Some((m, _, _)) if m == "max" => Some(MetricAggregate::Max),
                Some((m, p, at)) => {
                    this.error(
                        p,
                        *at,
                        format!("`metric` `{m}` does not apply here: wait_time and talk_time take avg, min or max"),
                    );
                    None
                }
                None => {
                    this.error(
                        pointer,
                        start,
                        "`metric` (avg, min or max) is required with this `field`".to_string(),
                    );
                    None
                }
            }
        };
        let measure = match field.as_ref().map(|(f, p, at)| (f.as_str(), p, *at)) {
            Some(("wait_time", _, _)) => aggregate(self).map(Measure::WaitTime),
            Some(("talk_time", _, _)) => aggregate(self).map(Measure::TalkTime),
            Some(("sl", _, _)) => {
                if let Some((m, p, at)) = &metric {
                    if !["avg", "min", "max", "sl"].contains(&m.as_str()) {
                        self.error(
                            p,
                            *at,
                            format!("unknown `metric` `{m}` (expected avg, min, max or sl)"),
                        );
                        ok = false;
                    }
                }
                match find_ci(members, "slSec") {
                    Some(m) => self
                        .num(&m.value, &pointer_join(pointer, &m.key), "slSec")
                        .map(Measure::ServiceLevel),
                    None => {
                        self.error(
                            pointer,
                            start,
                            "`field` `sl` needs `slSec` (the service-level threshold in seconds)"
                                .to_string(),
                        );
                        None
                    }
                }
            }
            Some((other, p, at)) => {
                self.error(
                    p,
                    at,
                    format!("unknown `field` `{other}` (expected sl, wait_time or talk_time)"),
                );
                None
            }
            None => {
                self.missing(acx, "field");
                None
            }
        };
        if !ok {
            return None;
        }
        Some(Step::Metrics(Box::new(MetricSpec {
            queue: queue?,
            bucket: bucket.ok()?,
            set: set?,
            measure: measure?,
            last_minutes: last_minutes.ok()?,
        })))
    }

    pub(crate) fn app_cc_position(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let members = self.object(acx)?;
        let set = self.var_name_field(acx, members, "set")?;
        Some(Step::Position { set })
    }

    pub(crate) fn app_ewt(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.var_name_field(acx, members, "setVar");
        let queues = self.id_list(members, "queue_ids", pointer);
        let buckets = self.id_list(members, "bucket_ids", pointer);
        let lookback_minutes = self.opt_num(members, "min", pointer, 60);
        // `strategy` is accepted and ignored: Webitel has one algorithm.
        let _ = self.opt_text(members, "strategy", pointer);
        Some(Step::Ewt {
            set_var: set_var?,
            queues: queues.ok()?.unwrap_or_default(),
            buckets: buckets.ok()?.unwrap_or_default(),
            lookback_minutes: lookback_minutes.ok()?,
        })
    }

    /// An optional array of ids (numbers or strings).
    fn id_list(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
    ) -> Result<Option<Vec<Template>>, ()> {
        let Some(m) = find_ci(members, key) else {
            return Ok(None);
        };
        let p = pointer_join(pointer, &m.key);
        let Some(items) = m.value.as_array() else {
            self.error(
                &p,
                m.value.start,
                format!(
                    "`{key}` must be an array of ids, found {}",
                    m.value.type_name()
                ),
            );
            return Err(());
        };
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            ids.push(self.text(item, &format!("{p}/{i}"), key).ok_or(())?);
        }
        Ok(Some(ids))
    }

    pub(crate) fn app_last_bridged(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let number = self.required_text(acx, members, "number");
        let hours = match find_ci(members, "hours") {
            Some(m) => self.num(&m.value, &pointer_join(pointer, &m.key), "hours"),
            None => {
                self.missing(acx, "hours");
                None
            }
        };
        let set = self.set_map(
            acx,
            members,
            |property| {
                (BRIDGED_PROPERTIES.contains(&property)
                    || property
                        .strip_prefix("variables.")
                        .is_some_and(|key| !key.is_empty()))
                .then(|| Box::<str>::from(property))
            },
            "property (id, created_at, extension, queue_id, agent_id, description, gateway_id, destination, variables.KEY)",
        );
        let filter = find_ci(members, "filter").or_else(|| find_ci(members, "calls"));
        let (mut dialer, mut inbound, mut outbound, mut queue_ids) = (None, None, None, None);
        if let Some(m) = filter {
            let p = pointer_join(pointer, &m.key);
            let fields = self.object_at(&m.value, &p, &m.key)?;
            dialer = self.opt_text(fields, "dialer", &p).ok()?;
            inbound = self.opt_text(fields, "inbound", &p).ok()?;
            outbound = self.opt_text(fields, "outbound", &p).ok()?;
            queue_ids = self.id_list(fields, "queue_ids", &p).ok()?;
        }
        Some(Step::LastBridged(Box::new(LastBridgedSpec {
            number: number?,
            hours: hours?,
            dialer,
            inbound,
            outbound,
            queue_ids,
            set: set?,
        })))
    }
}

/// How the wait in a queue ended (before anything closed the attempt).
enum Waited {
    Answered,
    Cancelled,
    /// The queue closed the attempt itself with this result.
    Left(String),
    /// The host failed (store error, ...): the attempt is closed as `error`.
    Failed(String),
}

/// One timer of a running `joinQueue`.
struct TimerState {
    interval: u64,
    offset: u64,
    tries: u64,
    fired: u64,
    due_micros: i64,
    actions: Option<usize>,
}

/// The call's attempt as the engine sees it: whether someone still has to close it.
struct Attempt {
    open: bool,
}

const MICROS: i64 = 1_000_000;

impl Machine<'_> {
    pub(crate) fn run_contact_centre(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        step: &Step,
    ) -> StepResult {
        match step {
            Step::Join(spec) => self.run_join(flow, counters, spec),
            Step::Cancel => {
                if self.queue_waiting {
                    self.queue_cancelled = true;
                    self.host.set_var("cc_cancel", "true")?;
                    // Ends the block it sits in; `joinQueue` then leaves the queue.
                    Ok(Control::Stop.noted("leaving the queue"))
                } else {
                    self.host.set_var("cc_cancel", "false")?;
                    Ok(Control::Next.noted("not waiting in a queue"))
                }
            }
            Step::Agents { queue, set } => {
                let queue = self.cc_ref(queue, "queue")?;
                let counts = self.host.queue_agents(&queue)?;
                for (var, metric) in set {
                    let value = match *metric {
                        "count" => counts.count,
                        "online" => counts.online,
                        "offline" => counts.offline,
                        "pause" => counts.pause,
                        _ => counts.waiting,
                    };
                    let var = self.var_name(var)?;
                    self.host.set_var(&var, &value.to_string())?;
                }
                Ok(Control::Next.into())
            }
            Step::Metrics(spec) => {
                let metric = match &spec.measure {
                    Measure::WaitTime(aggregate) => QueueMetric::WaitTime(*aggregate),
                    Measure::TalkTime(aggregate) => QueueMetric::TalkTime(*aggregate),
                    Measure::ServiceLevel(sl) => QueueMetric::ServiceLevel {
                        sl_secs: self.number(sl, "slSec")?,
                    },
                };
                let query = MetricQuery {
                    queue: self.cc_ref(&spec.queue, "queue")?,
                    bucket: self.opt_cc_ref(&spec.bucket, "bucket")?,
                    metric,
                    last_minutes: self.number(&spec.last_minutes, "lastMinutes")?,
                };
                let value = self.host.queue_metric(&query)?;
                let var = self.var_name(&spec.set)?;
                self.host.set_var(&var, &format_number(value))?;
                Ok(Control::Next.noted(if value.is_some() { "ok" } else { "unknown" }))
            }
            Step::Position { set } => {
                let position = self.host.queue_position()?;
                let var = self.var_name(set)?;
                self.host.set_var(&var, &position.to_string())?;
                Ok(Control::Next.into())
            }
            Step::Ewt {
                set_var,
                queues,
                buckets,
                lookback_minutes,
            } => {
                let query = EwtQuery {
                    queues: self.expand_list(queues),
                    buckets: self.expand_list(buckets),
                    lookback_minutes: self.number(lookback_minutes, "min")?,
                };
                let seconds = self.host.queue_ewt(&query)?;
                let var = self.var_name(set_var)?;
                self.host.set_var(&var, &format_number(seconds))?;
                Ok(Control::Next.noted(if seconds.is_some() { "ok" } else { "unknown" }))
            }
            Step::LastBridged(spec) => {
                let category = |this: &mut Self, t: &Option<Template>| {
                    this.expand_opt(t)
                        .filter(|v| !v.trim().eq_ignore_ascii_case("false"))
                };
                let query = LastBridgedQuery {
                    number: self.expand(&spec.number).into_owned(),
                    hours: self.number(&spec.hours, "hours")?,
                    dialer: category(self, &spec.dialer),
                    inbound: category(self, &spec.inbound),
                    outbound: category(self, &spec.outbound),
                    queue_ids: spec.queue_ids.as_ref().map(|ids| self.expand_list(ids)),
                };
                if query.number.trim().is_empty() {
                    return Err(StepError::Failed(
                        "`number` expanded to nothing".to_string(),
                    ));
                }
                let Some(call) = self.host.last_bridged(&query)? else {
                    return Err(StepError::Failed(format!(
                        "no bridged call for {} in the last {} hours",
                        query.number, query.hours
                    )));
                };
                for (var, property) in &spec.set {
                    let value = call
                        .fields
                        .iter()
                        .find(|(name, _)| **name == **property)
                        .map(|(_, value)| value.as_str())
                        .unwrap_or_default();
                    let var = self.var_name(var)?;
                    self.host.set_var(&var, value)?;
                }
                Ok(Control::Next.into())
            }
            Step::Callback(spec) => self.run_callback(spec),
            Step::MemberInfo(spec) => self.run_member_info(spec),
            Step::PatchMembers(spec) => self.run_patch_members(spec),
            Step::Decision(decision) => self.run_decision(decision),
            Step::AttemptResult(spec) => self.run_attempt_result(spec),
        }
    }

    fn var_name(&mut self, template: &Template) -> Result<String, StepError> {
        let name = self.expand(template).trim().to_string();
        if name.is_empty() {
            return Err(StepError::Failed(
                "the variable name expanded to nothing".to_string(),
            ));
        }
        Ok(name)
    }

    fn cc_ref(&mut self, spec: &RefSpec, field: &str) -> Result<CcRef, StepError> {
        let reference = CcRef {
            id: self.expand_opt(&spec.id),
            name: self.expand_opt(&spec.name),
        };
        if reference.id.is_none() && reference.name.is_none() {
            return Err(StepError::Failed(format!(
                "`{field}`: id and name expanded to nothing"
            )));
        }
        Ok(reference)
    }

    fn opt_cc_ref(
        &mut self,
        spec: &Option<RefSpec>,
        field: &str,
    ) -> Result<Option<CcRef>, StepError> {
        spec.as_ref().map(|s| self.cc_ref(s, field)).transpose()
    }

    fn join_request(&mut self, spec: &JoinSpec) -> Result<QueueJoin, StepError> {
        let target = match spec.kind {
            JoinKind::Queue => QueueTarget::Queue(self.cc_ref(&spec.target, "queue")?),
            JoinKind::Agent => QueueTarget::Agent(self.cc_ref(&spec.target, "agent")?),
        };
        let priority = self.number(&spec.priority, "priority")?;
        Ok(QueueJoin {
            target,
            priority: i64::try_from(priority).unwrap_or(i64::MAX),
            bucket: self.opt_cc_ref(&spec.bucket, "bucket")?,
            sticky_agent: self.opt_cc_ref(&spec.sticky_agent, "agent")?,
            ringtone: spec
                .ringtone
                .as_ref()
                .map(|f| self.play_file(f))
                .transpose()?,
            timeout_secs: self.number(&spec.timeout, "timeout")?,
            queue_name: self.expand_opt(&spec.queue_name),
        })
    }

    fn run_join(&mut self, flow: &Flow, counters: &mut [Vec<u64>], spec: &JoinSpec) -> StepResult {
        let request = self.join_request(spec)?;
        let mut timers = Vec::with_capacity(spec.timers.len());
        for (i, timer) in spec.timers.iter().enumerate() {
            let interval = self.number(&timer.interval, &format!("timers/{i}/interval"))?;
            let tries = self.number(&timer.tries, &format!("timers/{i}/tries"))?;
            let offset = self.number(&timer.offset, &format!("timers/{i}/offset"))?;
            if interval > 0 && tries > 0 {
                timers.push(TimerState {
                    interval,
                    offset,
                    tries,
                    fired: 0,
                    due_micros: 0,
                    actions: timer.actions,
                });
            }
        }
        match self.host.queue_join(&request) {
            Ok(QueueJoinOutcome::Joined) => {}
            Ok(QueueJoinOutcome::Refused { result, reason }) => {
                self.host.log(
                    LogLevel::Notice,
                    &format!(
                        "flow {}: not admitted to the queue: {reason} (cc_result={result})",
                        flow.id
                    ),
                );
                self.host.set_var("cc_result", &result)?;
                return Ok(Control::Next.noted("refused"));
            }
            Err(HostError::Hangup) => {
                // The host may have created the attempt before noticing; closing is idempotent.
                let _ = self.host.queue_leave("abandoned");
                return Err(StepError::Hangup);
            }
            Err(e) => {
                // Not joined (the store is unreachable, the call already waits…): the flow
                // goes on and can tell from `cc_result`.
                self.host.set_var("cc_result", "error")?;
                return Err(e.into());
            }
        }
        let joined_at = self.host.now_micros();
        for timer in &mut timers {
            timer.due_micros = joined_at.saturating_add(secs(timer.interval));
        }
        let saved = (self.queue_waiting, self.queue_cancelled);
        let mut attempt = Attempt { open: true };
        let result = self.queue_attempt(flow, counters, spec, &mut timers, &mut attempt);
        (self.queue_waiting, self.queue_cancelled) = saved;
        if attempt.open {
            let closing = match result {
                Err(StepError::Fatal) => "error",
                _ => "abandoned",
            };
            let _ = self.host.queue_leave(closing);
        }
        result
    }

    /// Everything after the join; closes `attempt` on every way out but a hangup or a
    /// budget (the caller, `run_join`, closes it then).
    fn queue_attempt(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        spec: &JoinSpec,
        timers: &mut [TimerState],
        attempt: &mut Attempt,
    ) -> StepResult {
        self.queue_cancelled = false;
        let mut first_wait = true;
        loop {
            self.queue_waiting = true;
            let waited = self.queue_wait_loop(flow, counters, spec, timers, first_wait);
            self.queue_waiting = false;
            first_wait = false;
            return match waited? {
                Waited::Cancelled => {
                    let result = self.leave_queue(attempt, "cancel");
                    self.set_after_leave("cc_cancel", "true")?;
                    self.set_after_leave("cc_result", &result)?;
                    self.queue_reporting(flow, counters, spec)?;
                    Ok(Control::Next.noted("cancelled"))
                }
                Waited::Left(result) => {
                    attempt.open = false;
                    self.set_after_leave("cc_result", &result)?;
                    self.queue_reporting(flow, counters, spec)?;
                    Ok(Control::Next.noted("left the queue"))
                }
                Waited::Failed(reason) => self.queue_failed(flow, counters, spec, attempt, reason),
                Waited::Answered => {
                    // The agent answered; its audio is joined by `queue_bridge` below.
                    self.queue_nested(flow, counters, spec.bridged)?;
                    match self.host.queue_bridge() {
                        Ok(QueueBridge::Talked) => {}
                        Ok(QueueBridge::AgentGone) => {
                            if self.debug {
                                let line = format!(
                                    "flow {}: the agent hung up before the caller was connected; waiting again",
                                    flow.id
                                );
                                self.host.log(LogLevel::Debug, &line);
                            }
                            continue;
                        }
                        Err(HostError::Hangup) => return Err(StepError::Hangup),
                        Err(HostError::Failed(reason)) => {
                            return self.queue_failed(flow, counters, spec, attempt, reason);
                        }
                    }
                    let result = self.leave_queue(attempt, "success");
                    self.set_after_leave("cc_result", &result)?;
                    self.queue_reporting(flow, counters, spec)?;
                    match &spec.transfer_after_bridge {
                        Some(id) => self.transfer_after_bridge(id),
                        None => Ok(Control::Next.noted("bridged")),
                    }
                }
            };
        }
    }

    fn queue_wait_loop(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        spec: &JoinSpec,
        timers: &mut [TimerState],
        first_wait: bool,
    ) -> Result<Waited, StepError> {
        // `waiting` runs once, not again when an agent lost before the bridge sends the
        // caller back in line.
        if first_wait {
            self.queue_nested(flow, counters, spec.waiting)?;
        }
        loop {
            if self.queue_cancelled {
                return Ok(Waited::Cancelled);
            }
            let next_timer = timers
                .iter()
                .enumerate()
                .filter(|(_, t)| t.fired < t.tries)
                .min_by_key(|(i, t)| (t.due_micros, *i))
                .map(|(i, _)| i);
            let until = next_timer.map(|i| timers[i].due_micros);
            let event = match self.host.queue_wait(until) {
                Ok(event) => event,
                Err(HostError::Hangup) => return Err(StepError::Hangup),
                Err(HostError::Failed(reason)) => return Ok(Waited::Failed(reason)),
            };
            match event {
                QueueEvent::TimerDue => {
                    let Some(i) = next_timer else {
                        return Ok(Waited::Failed(
                            "the queue reported a timer due, but no timer is set".to_string(),
                        ));
                    };
                    let timer = &mut timers[i];
                    timer.fired += 1;
                    let actions = timer.actions;
                    self.queue_nested(flow, counters, actions)?;
                    let timer = &mut timers[i];
                    let wait = timer
                        .interval
                        .saturating_add(timer.offset.saturating_mul(timer.fired));
                    timer.due_micros = self.host.now_micros().saturating_add(secs(wait));
                }
                QueueEvent::Offer(offer) => {
                    self.set_offer_vars(&offer)?;
                    self.queue_nested(flow, counters, spec.offering)?;
                    if self.queue_cancelled {
                        return Ok(Waited::Cancelled);
                    }
                    match self.host.queue_ring(&offer) {
                        Ok(RingOutcome::Answered) => return Ok(Waited::Answered),
                        Ok(RingOutcome::Missed { reason }) => {
                            if self.debug {
                                let line = format!(
                                    "flow {}: agent {} did not take the call ({reason}); still waiting",
                                    flow.id, offer.agent_name
                                );
                                self.host.log(LogLevel::Debug, &line);
                            }
                        }
                        Err(HostError::Hangup) => return Err(StepError::Hangup),
                        Err(HostError::Failed(reason)) => return Ok(Waited::Failed(reason)),
                    }
                }
                QueueEvent::Left { result } => return Ok(Waited::Left(result)),
            }
        }
    }

    fn set_offer_vars(&mut self, offer: &AgentOffer) -> Result<(), StepError> {
        self.host.set_var("cc_agent_name", &offer.agent_name)?;
        self.host.set_var("cc_agent_id", &offer.agent_id)?;
        self.host
            .set_var("cc_agent_call_id", &offer.agent_call_id)?;
        self.host.set_var("cc_agent_extension", &offer.extension)?;
        Ok(())
    }

    /// Runs a nested block while the caller waits (or talks): a hangup or a budget
    /// aborts the queue; a `break` ends only the block.
    fn queue_nested(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        unit: Option<usize>,
    ) -> Result<(), StepError> {
        let Some(unit) = unit else {
            return Ok(());
        };
        self.depth += 1;
        let end = self.exec(flow, counters, unit);
        self.depth -= 1;
        match end {
            End::Finished | End::Break => Ok(()),
            End::Hangup => Err(StepError::Hangup),
            End::Fatal => Err(StepError::Fatal),
        }
    }

    /// Runs `reporting` after the attempt closed; if the caller is gone it runs with media
    /// refused (like `trigger.disconnected`) and the flow then stops as on any hangup.
    fn queue_reporting(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        spec: &JoinSpec,
    ) -> Result<(), StepError> {
        let caller_gone = !self.in_disconnected && !self.host.is_up();
        if let Some(unit) = spec.reporting {
            if caller_gone {
                let end = self.run_bridged(flow, counters, unit);
                return Err(match end {
                    End::Fatal => StepError::Fatal,
                    _ => StepError::Hangup,
                });
            }
            self.queue_nested(flow, counters, Some(unit))?;
        }
        if caller_gone {
            return Err(StepError::Hangup);
        }
        Ok(())
    }

    /// A host failure while in the queue: the attempt is closed as `error`, `reporting`
    /// runs, and the step fails (logged, `rustflow_error`) while the flow goes on.
    fn queue_failed(
        &mut self,
        flow: &Flow,
        counters: &mut [Vec<u64>],
        spec: &JoinSpec,
        attempt: &mut Attempt,
        reason: String,
    ) -> StepResult {
        self.leave_queue(attempt, "error");
        self.set_after_leave("cc_result", "error")?;
        self.queue_reporting(flow, counters, spec)?;
        Err(StepError::Failed(format!("the queue failed: {reason}")))
    }

    fn leave_queue(&mut self, attempt: &mut Attempt, result: &str) -> String {
        attempt.open = false;
        match self.host.queue_leave(result) {
            Ok(stored) if !stored.is_empty() => stored,
            Ok(_) | Err(HostError::Hangup) => result.to_string(),
            Err(HostError::Failed(reason)) => {
                self.host.log(
                    LogLevel::Warning,
                    &format!("closing the queue attempt as `{result}` failed: {reason}"),
                );
                result.to_string()
            }
        }
    }

    /// Sets a result variable after the attempt closed: the caller may be gone already,
    /// and the value still matters to `reporting` and `trigger.disconnected`.
    fn set_after_leave(&mut self, name: &str, value: &str) -> Result<(), StepError> {
        match self.host.set_var(name, value) {
            Ok(()) | Err(HostError::Hangup) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `transferAfterBridge`: the caller continues in that flow (as with `schema`), and
    /// this flow ends when it does (Webitel transfers the call into it).
    fn transfer_after_bridge(&mut self, id: &Template) -> StepResult {
        let id = self.expand(id).into_owned();
        let Some(other) = self.flows.get(&id).cloned() else {
            return Err(StepError::Failed(format!(
                "transferAfterBridge: flow `{id}` is not loaded"
            )));
        };
        if self.depth >= MAX_DEPTH {
            return Err(StepError::Failed(format!(
                "transferAfterBridge `{id}`: flows nested deeper than {MAX_DEPTH}"
            )));
        }
        let mut other_counters = new_counters(&other);
        self.depth += 1;
        let end = self.exec(&other, &mut other_counters, 0);
        self.depth -= 1;
        match end {
            End::Finished | End::Break => Ok(Control::Stop.noted("transferred")),
            End::Hangup => Err(StepError::Hangup),
            End::Fatal => Err(StepError::Fatal),
        }
    }
}

fn secs(seconds: u64) -> i64 {
    i64::try_from(seconds)
        .unwrap_or(i64::MAX / MICROS)
        .saturating_mul(MICROS)
}

/// A statistic as Webitel prints it (Go's `%v` of a float64: `87.5`, `12`, `1e+21`), or
/// `unknown` when there is no data.
pub(crate) fn format_number(value: Option<f64>) -> String {
    let Some(value) = value else {
        return "unknown".to_string();
    };
    if !value.is_finite() {
        return "unknown".to_string();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-4..1e21).contains(&magnitude) {
        // Go's %v switches to an exponent with a sign and at least two digits.
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').expect("{:e} writes an exponent");
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{value}")
}

/// A graph label: the queue's or agent's name, else its id.
fn ref_label(args: &Json, key: &str) -> String {
    let Some(target) = crate::graph::field(args, key).map(|(_, v)| v) else {
        return String::new();
    };
    ["name", "extension", "id"]
        .iter()
        .map(|k| scalar(target, k))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
}

// ---- argument schemas ----

fn cc_ref_schema(description: &str, name: &str) -> Json {
    json!({
        "type": "object",
        "description": description,
        "properties": { "id": reference("scalar"), name: text("Name.") }
    })
}

fn schema_join_queue() -> Json {
    args(
        &[
            (
                "queue",
                cc_ref_schema("The inbound queue: `id` or `name`.", "name"),
            ),
            ("priority", number("Higher is served first (default 0).")),
            ("bucket", cc_ref_schema("Bucket of the attempt.", "name")),
            ("bucket_id", reference("scalar")),
            (
                "agent",
                cc_ref_schema("Preferred agent: `id` or `extension`.", "extension"),
            ),
            ("stickyAgentId", reference("scalar")),
            ("ringtone", reference("playbackFile")),
            (
                "waiting",
                actions("Runs once when the caller starts waiting."),
            ),
            (
                "timers",
                json!({ "type": "array", "description": "Repeated prompts while waiting.",
                        "items": { "type": "object", "properties": {
                            "interval": number("Seconds before the first firing (0 = timer ignored)."),
                            "tries": number("Firings at most (default 999)."),
                            "offset": number("Seconds added to the interval at each firing."),
                            "actions": actions("Runs at each firing (hold audio paused).")
                        } } }),
            ),
            (
                "offering",
                actions("Runs when an agent is offered the call, before it rings."),
            ),
            (
                "bridged",
                actions("Runs when the agent answered, before the audio is joined."),
            ),
            ("reporting", actions("Runs when the caller left the queue.")),
            (
                "transferAfterBridge",
                json!({ "type": "object", "properties": { "id": reference("scalar") },
                        "description": "Flow the caller continues in after the agent conversation." }),
            ),
        ],
        &["queue"],
    )
}

fn schema_join_agent() -> Json {
    args(
        &[
            (
                "agent",
                cc_ref_schema("The agent: `id` or `extension`.", "extension"),
            ),
            ("queue_name", text("Name shown to the agent.")),
            ("ringtone", reference("playbackFile")),
            (
                "timeout",
                number("Seconds the agent rings (0 = the store's default)."),
            ),
            (
                "bridged",
                actions("Runs when the agent answered, before the audio is joined."),
            ),
            (
                "processing",
                free_object("Accepted, not used yet (post-call forms)."),
            ),
            ("cancel_distribute", flag("Accepted, not used.")),
        ],
        &["agent"],
    )
}

fn schema_cancel_queue() -> Json {
    json!({ "description": "No argument; conventionally \"\". Used in joinQueue's blocks." })
}

fn schema_get_queue_agents() -> Json {
    args(
        &[
            ("queue", cc_ref_schema("The queue: `id` or `name`.", "name")),
            (
                "channel",
                text("`call` (the default; the only channel of a call flow)."),
            ),
            (
                "set",
                json!({ "type": "object", "description": "Variable → metric.",
                        "additionalProperties": { "enum": AGENT_METRICS } }),
            ),
        ],
        &["queue", "set"],
    )
}

fn schema_get_queue_metrics() -> Json {
    args(
        &[
            ("queue", cc_ref_schema("The queue: `id` or `name`.", "name")),
            (
                "bucket",
                cc_ref_schema("Only this bucket's attempts.", "name"),
            ),
            ("set", text("Variable for the result.")),
            (
                "calls",
                json!({ "enum": ["complete"], "description": "Finished attempts (the only choice)." }),
            ),
            ("metric", json!({ "enum": ["avg", "min", "max", "sl"] })),
            ("field", json!({ "enum": ["sl", "wait_time", "talk_time"] })),
            (
                "lastMinutes",
                number("Attempts that joined in the last N minutes (default 60)."),
            ),
            (
                "slSec",
                number("Service-level threshold, seconds (field `sl`)."),
            ),
        ],
        &["queue", "set", "field"],
    )
}

fn schema_cc_position() -> Json {
    args(&[("set", text("Variable for the position."))], &["set"])
}

fn schema_ewt() -> Json {
    let ids = json!({ "type": "array", "items": reference("scalar") });
    args(
        &[
            ("setVar", text("Variable for the seconds.")),
            ("queue_ids", ids.clone()),
            ("bucket_ids", ids),
            ("min", number("Look-back of history, minutes (default 60).")),
            ("strategy", text("Accepted and ignored (one algorithm).")),
        ],
        &["setVar"],
    )
}

fn schema_last_bridged() -> Json {
    let filter = json!({ "type": "object", "properties": {
        "dialer": text("Calls of the dialer: `bridged`, `attempt`, `all`; absent/`false` = off."),
        "inbound": text("Inbound calls: `bridged`, `attempt`, `all`; absent/`false` = off."),
        "outbound": text("Outbound calls: `bridged`, `attempt`, `all`; absent/`false` = off."),
        "queue_ids": { "type": "array", "items": reference("scalar") }
    } });
    args(
        &[
            ("number", text("Number matched (SQL LIKE, `%` wildcards).")),
            ("hours", number("Look-back window, hours.")),
            ("filter", filter.clone()),
            ("calls", filter),
            (
                "set",
                json!({ "type": "object", "description": "Variable → property.",
                        "additionalProperties": { "type": "string" } }),
            ),
        ],
        &["number", "hours", "set"],
    )
}

fn communication_schema(description: &str) -> Json {
    json!({ "type": "object", "description": description, "properties": {
        "destination": text("The number or SIP address to dial (required)."),
        "type": { "type": "object", "properties": { "id": reference("scalar") },
                  "description": "Communication type (old: `type_id`)." },
        "type_id": reference("scalar"),
        "display": text("Caller id shown to the member."),
        "priority": number("Higher is dialled first among the member's numbers."),
        "resource": { "type": "object", "properties": { "id": reference("scalar") },
                      "description": "Gateway to dial through (old: `resource_id`)." },
        "resource_id": reference("scalar"),
        "description": text("A note on the number.")
    }, "required": ["destination"] })
}

fn export_schema() -> Json {
    string_list("Variables whose values go back to the attempt.")
}

fn member_search_schema() -> Json {
    let ids = json!({ "type": "array", "items": reference("scalar") });
    json!({ "type": "object", "description": "Which members: every field given must match.",
        "properties": {
            "queue_ids": ids,
            "queues": { "type": "array", "items": { "type": "object", "properties": { "id": reference("scalar") } } },
            "id": reference("scalar"),
            "name": text("Name, case-insensitive; `%` matches any run of characters."),
            "destination": text("A number of the member, exactly."),
            "today": flag("true: created today; false: created before today (the flow's time zone)."),
            "completed": flag("true: finished members; false: active ones."),
            "bucket": cc_ref_schema("Bucket of the member.", "name"),
            "bucket_id": reference("scalar")
        } })
}

fn schema_callback_queue() -> Json {
    args(
        &[
            (
                "queue",
                cc_ref_schema(
                    "The outbound queue: `id` or `name` (old: `queue_id`).",
                    "name",
                ),
            ),
            ("queue_id", reference("scalar")),
            ("name", text("Member name.")),
            (
                "communication",
                communication_schema("The number to call back."),
            ),
            (
                "holdSec",
                number("Seconds before the member may be dialled (0 = at once)."),
            ),
            ("priority", number("Higher is dialled first.")),
            ("bucket", cc_ref_schema("Bucket of the member.", "name")),
            (
                "agent",
                cc_ref_schema(
                    "Agent to offer the member to: `id` or `extension`.",
                    "extension",
                ),
            ),
            (
                "timezone",
                json!({ "description": "The member's IANA time zone: a string, or `{id}` / `{name}`." }),
            ),
            (
                "variables",
                free_object("Member variables (variable → value)."),
            ),
            (
                "expire_at",
                number("Not dialled after this instant (ms since the epoch)."),
            ),
            (
                "stop_cause",
                text("Create the member already finished with this cause."),
            ),
        ],
        &["communication"],
    )
}

fn schema_member_info() -> Json {
    args(
        &[
            ("member", member_search_schema()),
            (
                "set",
                json!({ "type": "object", "description": "Variable → property (id, name, priority, attempts, stop_cause, bucket_id, count_destinations, all_destinations, variables.KEY).",
                        "additionalProperties": { "type": "string" } }),
            ),
        ],
        &["member", "set"],
    )
}

fn schema_patch_members() -> Json {
    let patch = json!({ "type": "object", "description": "What changes (at least one field).",
        "properties": {
            "name": text("New name."),
            "priority": number("New priority."),
            "bucket": cc_ref_schema("Move to this bucket.", "name"),
            "queueId": reference("scalar"),
            "readyAt": number("Not dialled before this instant (ms since the epoch; old: `ready_at`)."),
            "ready_at": number("Old name of `readyAt`."),
            "stopCause": text("Finish the member with this cause (old: `stop_cause`)."),
            "stop_cause": text("Old name of `stopCause`."),
            "variables": free_object("Merged into the member's variables."),
            "communications": { "type": "array", "description": "Changes to numbers by position: `id` 0 = the first.",
                "items": { "type": "object", "properties": {
                    "id": number("Position of the number (0 = the first)."),
                    "destination": text("New number."),
                    "type": { "type": "object", "properties": { "id": reference("scalar") } },
                    "display": text("New caller id."),
                    "priority": number("New priority."),
                    "resource": { "type": "object", "properties": { "id": reference("scalar") } },
                    "description": text("New note.")
                }, "required": ["id"] } }
        } });
    args(
        &[("member", member_search_schema()), ("patch", patch)],
        &["member", "patch"],
    )
}

fn schema_confirm() -> Json {
    args(
        &[
            (
                "destination",
                text("Dial this number instead (empty = the member's)."),
            ),
            ("display", text("Caller id to show (empty = the queue's).")),
            ("export", export_schema()),
        ],
        &[],
    )
}

fn schema_cancel() -> Json {
    args(
        &[
            ("description", text("Why, stored on the attempt.")),
            (
                "waitBetweenRetries",
                number("Seconds before the member may be dialled again (default: the queue's)."),
            ),
            ("stop", flag("Finish the member: no more attempts.")),
            (
                "excludeCurrentCommunication",
                flag("Do not dial this number again."),
            ),
            (
                "minOfferingAt",
                number("Not offered before this instant (ms since the epoch)."),
            ),
            ("export", export_schema()),
        ],
        &[],
    )
}

fn schema_success() -> Json {
    args(&[("export", export_schema())], &[])
}

fn schema_abandoned() -> Json {
    args(
        &[
            (
                "status",
                text("The attempt's result (default `abandoned`; `success` is a success)."),
            ),
            (
                "maxAttempts",
                number("Attempts allowed for this member (0 = the queue's)."),
            ),
            (
                "waitBetweenRetries",
                number("Seconds before the next attempt (0 = the queue's)."),
            ),
            (
                "excludeCurrentCommunication",
                flag("Do not dial this number again."),
            ),
            ("redial", flag("Dial the same number next time.")),
            ("agentId", reference("scalar")),
            ("description", text("Stored on the attempt.")),
            ("display", flag("Accepted, not used (nor by Webitel).")),
            ("export", export_schema()),
        ],
        &[],
    )
}

fn schema_retry() -> Json {
    args(
        &[
            (
                "sleep",
                number("Milliseconds before dialling again (under 60000)."),
            ),
            (
                "nextResource",
                flag("Dial through the queue's next gateway."),
            ),
            (
                "resource",
                json!({ "type": "object", "properties": { "id": reference("scalar") },
                        "description": "Dial through this gateway." }),
            ),
            ("export", export_schema()),
        ],
        &[],
    )
}

fn schema_attempt_result() -> Json {
    args(
        &[
            (
                "status",
                text(
                    "Result (default `abandoned`; success, cancel, canceled_by_timeout finish the member).",
                ),
            ),
            ("description", text("Stored on the attempt.")),
            (
                "readyAt",
                number("Next dial not before this instant (ms since the epoch)."),
            ),
            (
                "expiredAt",
                number("The member expires at this instant (ms)."),
            ),
            (
                "waitBetweenRetries",
                number("Seconds before the next attempt."),
            ),
            ("stickyDisplay", text("Caller id for the next attempts.")),
            ("agentId", reference("scalar")),
            ("redial", flag("Dial the same number next time.")),
            (
                "excludeCurrentCommunication",
                flag("Do not dial this number again."),
            ),
            (
                "addCommunications",
                json!({ "type": "array", "items": communication_schema("A number added to the member.") }),
            ),
            (
                "variables",
                free_object("Merged into the attempt's and the member's variables."),
            ),
        ],
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::format_number;

    #[test]
    fn numbers_print_like_go_percent_v() {
        assert_eq!(format_number(Some(87.5)), "87.5");
        assert_eq!(format_number(Some(12.0)), "12");
        assert_eq!(format_number(Some(0.0)), "0");
        assert_eq!(format_number(Some(12.3456)), "12.3456");
        assert_eq!(format_number(Some(1e21)), "1e+21");
        assert_eq!(format_number(Some(0.00001)), "1e-05");
        assert_eq!(format_number(None), "unknown");
    }
}
