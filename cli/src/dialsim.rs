//! The simulated dialer of `rustflow run --cc`: after the simulated call, the outbound
//! queues' members are called on the same virtual clock, step by step as the module's
//! dialer does (src/cc/outbound.rs), with the same shared functions
//! (rustflow_cc::engine_host::outbound), so the simulator and FreeSWITCH agree:
//!
//! per round and enabled outbound queue, lines = free agents (offline, preview) or free
//! agents × `lines_per_agent` (progressive, predictive) minus attempts in flight; the
//! store's `dial_candidates`, `start_outbound`; the pre-attempt flow (`cancel` ends the
//! attempt, `confirm` may change the number or caller id); agent first (offline, preview):
//! `member_answered`, the distributor offers an agent, it rings (its script), answers, the
//! member is dialled; member first (progressive, predictive): the member is dialled,
//! answers, `member_answered`, the distributor offers an agent (predictive: none within 2 s
//! → the safe message, `abandoned`); busy, no answer, failed → `leave` with that result; a
//! conversation → `leave` `success`; then the after-attempt flow (or the default for the
//! result) → `finish_outbound`.
//!
//! Time jumps from event to event: the other callers' and the store's next due times, the
//! dialer's own (a ring's or a conversation's end), members' `ready_at`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use rustflow_cc::dialer::{Pacers, dials_in_window};
use rustflow_cc::engine_host::outbound::{
    AttemptFacts, after_outcome, attempt_lease_ms, cancel_outcome, default_outcome, dial_result,
};
use rustflow_cc::model::{Queue, QueueKind};
use rustflow_cc::store::{
    AttemptOutcome, MemberAfter, MemberFilter, Ms, Offer, OutboundStart, Store,
};
use rustflow_engine::causes;
use rustflow_engine::sim::{Event, Script, simulate_attempt};
use rustflow_engine::{AttemptDecision, FlowSet, LogLevel, RunContext};
use serde_json::{Value, json};

use crate::ccsim::{Answers, CcHandle, CcSim, CustomerAnswer};

/// A predictive call must reach an agent within this long after the member answered (the
/// module's PREDICTIVE_PATIENCE_MS).
const PREDICTIVE_PATIENCE_MS: Ms = 2_000;

/// Same-instant turns allowed before the dialer gives up on a time (a safety net: each
/// turn either changes something or the clock moves).
const TURNS_PER_INSTANT: usize = 1_000;

/// One line of the dialer's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialerLine {
    /// Virtual ms since the start of the simulated call.
    pub at_ms: i64,
    pub attempt: Option<i64>,
    pub about: About,
    pub what: String,
}

/// Whom a dialer line is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About {
    Member {
        id: i64,
        destination: String,
    },
    /// Another caller of the setup, whose conversations keep agents busy.
    Caller {
        call_id: String,
        queue: String,
    },
}

impl DialerLine {
    pub fn text(&self) -> String {
        let attempt = self
            .attempt
            .map(|a| format!("attempt {a} "))
            .unwrap_or_default();
        let who = match &self.about {
            About::Member { id, destination } => format!("member {id} ({destination})"),
            About::Caller { call_id, queue } => format!("caller {call_id} (queue {queue})"),
        };
        format!(
            "dialer {} {attempt}{who}: {}",
            relative(self.at_ms),
            self.what
        )
    }

    pub fn json(&self) -> Value {
        let mut value = json!({
            "at_ms": self.at_ms,
            "attempt": self.attempt,
            "what": self.what,
        });
        match &self.about {
            About::Member { id, destination } => {
                value["member"] = json!(id);
                value["destination"] = json!(destination);
            }
            About::Caller { call_id, queue } => {
                value["caller"] = json!(call_id);
                value["queue"] = json!(queue);
            }
        }
        value
    }
}

/// `+95s`, `+95.5s`: virtual time since the start of the call.
pub fn relative(ms: i64) -> String {
    if ms % 1000 == 0 {
        format!("+{}s", ms / 1000)
    } else {
        let text = format!("{:.3}", ms as f64 / 1000.0);
        format!("+{}s", text.trim_end_matches('0'))
    }
}

/// What was dialled: the member's communication, or what the pre-attempt flow confirmed.
#[derive(Debug, Clone)]
struct Target {
    destination: String,
    /// The caller id number the member sees.
    display: Option<String>,
}

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for an agent (agent first before the member is called; member first after
    /// the member answered).
    WaitingAgent,
    AgentRinging,
    MemberRinging,
    Talking,
    /// Left; the member's outcome is the agent's wrap-up result (or the store's default).
    WrapUp,
}

#[derive(Debug)]
struct Attempt {
    queue: Queue,
    facts: AttemptFacts,
    target: Target,
    stage: Stage,
    agent: Option<String>,
    /// The customer's answer to this call and how long it talks.
    answer: CustomerAnswer,
    answer_after_ms: Ms,
    talk_ms: Ms,
    /// Predictive: the 2 s after the member's answer are over (an agent who misses now
    /// leaves the member to the safe message, as the module's wait does).
    patience_over: bool,
}

/// The dialer's own timed events.
#[derive(Debug)]
enum Due {
    AgentRingEnd {
        offer: Offer,
        answered: bool,
        reason: &'static str,
    },
    MemberRingEnd,
    TalkEnd,
    Patience,
    /// The store writes the default outcome of a conversation left without a wrap-up result.
    WrapUpOver,
}

pub struct SimDialer<'f> {
    cc: Rc<RefCell<CcSim>>,
    flows: &'f FlowSet,
    /// The call's start (virtual Unix ms); lines are relative to it.
    origin_ms: Ms,
    attempts: BTreeMap<i64, Attempt>,
    due: Vec<(Ms, i64, Due)>,
    /// Calls made to each destination so far (picks the customer's answer).
    calls: BTreeMap<String, usize>,
    /// The outbound queues' pacers, as the module's dialer keeps them.
    pacers: Pacers,
    pub lines: Vec<DialerLine>,
}

impl<'f> SimDialer<'f> {
    pub fn new(cc: Rc<RefCell<CcSim>>, flows: &'f FlowSet, origin_ms: Ms) -> SimDialer<'f> {
        SimDialer {
            cc,
            flows,
            origin_ms,
            attempts: BTreeMap::new(),
            due: Vec::new(),
            calls: BTreeMap::new(),
            pacers: Pacers::default(),
            lines: Vec::new(),
        }
    }

    fn store(&self) -> Rc<rustflow_cc::store::sqlite::SqliteStore> {
        self.cc.borrow().store.clone()
    }

    fn say(&mut self, now: Ms, attempt: Option<i64>, member: i64, destination: &str, what: String) {
        self.lines.push(DialerLine {
            at_ms: now - self.origin_ms,
            attempt,
            about: About::Member {
                id: member,
                destination: destination.to_string(),
            },
            what,
        });
    }

    fn say_attempt(&mut self, now: Ms, attempt: i64, what: String) {
        let Some(a) = self.attempts.get(&attempt) else {
            return;
        };
        let (member, destination) = (a.facts.member_id, a.target.destination.clone());
        self.say(now, Some(attempt), member, &destination, what);
    }

    /// Runs from `from_ms` until every member of the outbound queues is finished or waits
    /// beyond the horizon (or nothing more can happen).
    pub fn run(&mut self, from_ms: Ms) -> Result<(), String> {
        // A contact centre without outbound queues has nothing to dial: no dialer lines.
        let setup = self.store().setup().map_err(|e| e.to_string())?;
        if setup.queues.iter().all(|q| q.kind == QueueKind::Inbound) {
            return Ok(());
        }
        let horizon = self.cc.borrow().dialer.horizon_secs;
        let end = from_ms.saturating_add(i64::try_from(horizon).unwrap_or(i64::MAX / 2000) * 1000);
        let mut now = from_ms;
        {
            let mut cc = self.cc.borrow_mut();
            cc.others_log = Some(Vec::new());
            cc.join_waiting(now).map_err(|e| e.to_string())?;
        }
        let mut turns = 0;
        loop {
            let changed = self.turn(now)?;
            if changed && turns < TURNS_PER_INSTANT {
                turns += 1;
                continue;
            }
            turns = 0;
            let open = self.unfinished_members()?;
            if open.is_empty() && self.attempts.is_empty() {
                break;
            }
            let next = self.next_time(now, &open)?;
            match next {
                Some(next) if next <= end => now = next,
                _ => {
                    self.report_waiting(end, &open);
                    break;
                }
            }
        }
        Ok(())
    }

    /// Everything due at `now`; true when something happened (another turn at `now`).
    fn turn(&mut self, now: Ms) -> Result<bool, String> {
        let mut changed = false;
        let (others, offers, closed, defaults) = {
            let mut cc = self.cc.borrow_mut();
            cc.run_due(now).map_err(|e| e.to_string())?;
            (
                cc.others_log.replace(Vec::new()).unwrap_or_default(),
                std::mem::take(&mut cc.outbound_offers),
                std::mem::take(&mut cc.outbound_closed),
                std::mem::take(&mut cc.outbound_defaults),
            )
        };
        for (at, call_id, queue, what) in others {
            self.lines.push(DialerLine {
                at_ms: at - self.origin_ms,
                attempt: None,
                about: About::Caller { call_id, queue },
                what,
            });
        }
        for after in defaults {
            changed = true;
            let destination = self
                .attempts
                .get(&after.attempt)
                .map(|a| a.target.destination.clone())
                .unwrap_or_default();
            self.say(
                now,
                Some(after.attempt),
                after.member,
                &destination,
                "the store writes the default outcome (no wrap-up result)".to_string(),
            );
            self.finished(now, &after, &destination);
            self.forget(after.attempt);
        }
        for (attempt, result) in closed {
            if let Some(a) = self.attempts.get(&attempt)
                && a.stage != Stage::WrapUp
            {
                changed = true;
                self.say_attempt(now, attempt, format!("closed by the queue: {result}"));
                self.conclude(now, attempt, &result, "", false)?;
            }
        }
        for offer in offers {
            changed = true;
            self.offered(now, offer);
        }
        while let Some(index) = self
            .due
            .iter()
            .enumerate()
            .filter(|(_, (at, ..))| *at <= now)
            .min_by_key(|(i, (at, ..))| (*at, *i))
            .map(|(i, _)| i)
        {
            changed = true;
            let (_, attempt, due) = self.due.remove(index);
            self.handle(now, attempt, due)?;
        }
        changed |= self.round(now)?;
        Ok(changed)
    }

    /// The distributor offered an agent to one of the dialer's attempts: its phone rings.
    fn offered(&mut self, now: Ms, offer: Offer) {
        let Some(agent) = offer.agents.first().map(|a| a.id.clone()) else {
            return;
        };
        let script = self.cc.borrow().script(&agent);
        let (after, answered, reason) = match script.answers {
            Answers::Yes => (script.answer_after_secs, true, ""),
            Answers::No => (offer.ring_timeout_secs, false, "no_answer"),
            Answers::Reject => (1, false, "rejected"),
            Answers::Busy => (0, false, "busy"),
        };
        let attempt = offer.attempt;
        if let Some(a) = self.attempts.get_mut(&attempt) {
            a.stage = Stage::AgentRinging;
            a.agent = Some(agent.clone());
        }
        self.say_attempt(now, attempt, format!("agent {agent} rung"));
        let at = now + i64::try_from(after).unwrap_or(0) * 1000;
        self.due.push((
            at,
            attempt,
            Due::AgentRingEnd {
                offer,
                answered,
                reason,
            },
        ));
    }

    fn handle(&mut self, now: Ms, attempt: i64, due: Due) -> Result<(), String> {
        let store = self.store();
        let Some(a) = self.attempts.get(&attempt) else {
            return Ok(());
        };
        let member_first = !agent_first(&a.queue);
        match due {
            Due::AgentRingEnd {
                offer,
                answered,
                reason,
            } => {
                let agent = offer.agents[0].id.clone();
                if !answered {
                    let ids: Vec<String> = offer.agents.iter().map(|a| a.id.clone()).collect();
                    store
                        .missed(attempt, &ids, reason, now)
                        .map_err(|e| e.to_string())?;
                    if let Some(a) = self.attempts.get_mut(&attempt) {
                        a.stage = Stage::WaitingAgent;
                        a.agent = None;
                    }
                    self.say_attempt(now, attempt, format!("agent {agent} missed: {reason}"));
                    if member_first && self.attempts[&attempt].patience_over {
                        self.safe_message(now, attempt)?;
                    }
                } else if !store
                    .answered(attempt, &agent, now)
                    .map_err(|e| e.to_string())?
                {
                    self.say_attempt(now, attempt, format!("agent {agent}: the offer had ended"));
                } else if member_first {
                    self.say_attempt(now, attempt, format!("agent {agent} answers: bridged"));
                    self.talk(now, attempt);
                } else {
                    // Agent first: the accepting agent's leg calls the member.
                    self.say_attempt(now, attempt, format!("agent {agent} answers"));
                    self.dial(now, attempt);
                }
            }
            Due::MemberRingEnd => {
                let answer = a.answer;
                if answer != CustomerAnswer::Yes {
                    let cause = match answer {
                        CustomerAnswer::Busy => causes::USER_BUSY,
                        CustomerAnswer::No => causes::NO_ANSWER,
                        _ => causes::CALL_REJECTED,
                    };
                    let result = dial_result(cause.code);
                    self.say_attempt(now, attempt, format!("{result} ({})", cause.name));
                    self.close(now, attempt, result, cause.name, false)?;
                } else if member_first {
                    self.say_attempt(now, attempt, "answered".to_string());
                    if store
                        .member_answered(attempt, now)
                        .map_err(|e| e.to_string())?
                    {
                        if let Some(a) = self.attempts.get_mut(&attempt) {
                            a.stage = Stage::WaitingAgent;
                        }
                        if self.attempts[&attempt].queue.kind == QueueKind::Predictive {
                            self.due
                                .push((now + PREDICTIVE_PATIENCE_MS, attempt, Due::Patience));
                        }
                    } else {
                        self.close(now, attempt, "error", "", false)?;
                    }
                } else {
                    let agent = a.agent.clone().unwrap_or_default();
                    self.say_attempt(now, attempt, format!("answered: bridged to agent {agent}"));
                    self.talk(now, attempt);
                }
            }
            Due::TalkEnd => {
                self.close(now, attempt, "success", causes::NORMAL_CLEARING.name, true)?;
            }
            Due::Patience => {
                if a.stage == Stage::WaitingAgent {
                    self.safe_message(now, attempt)?;
                } else if let Some(a) = self.attempts.get_mut(&attempt) {
                    a.patience_over = true;
                }
            }
            Due::WrapUpOver => {
                // The janitor writes the default at this time; look again a second later
                // should its pass come after ours.
                if self.attempts.contains_key(&attempt) {
                    self.due.push((now + 1000, attempt, Due::WrapUpOver));
                }
            }
        }
        Ok(())
    }

    /// Predictive: no agent took the answered member in time: the safe message, `abandoned`.
    fn safe_message(&mut self, now: Ms, attempt: i64) -> Result<(), String> {
        let message = self
            .attempts
            .get(&attempt)
            .and_then(|a| a.queue.safe_message.clone())
            .unwrap_or_default();
        self.say_attempt(
            now,
            attempt,
            format!("no agent within 2 s: safe message {message}"),
        );
        self.close(
            now,
            attempt,
            "abandoned",
            causes::NORMAL_CLEARING.name,
            false,
        )
    }

    /// The member's phone rings (the customer's script for this call).
    fn dial(&mut self, now: Ms, attempt: i64) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.stage = Stage::MemberRinging;
        let ring_ms = match a.answer {
            CustomerAnswer::Yes => a.answer_after_ms,
            CustomerAnswer::No => {
                i64::try_from(a.queue.dial_timeout_secs).unwrap_or(i64::MAX / 2000) * 1000
            }
            CustomerAnswer::Busy => 0,
            CustomerAnswer::Reject => 1000,
        };
        let what = match &a.target.display {
            Some(display) => format!("dial (caller id {display:?})"),
            None => "dial".to_string(),
        };
        self.say_attempt(now, attempt, what);
        self.due.push((now + ring_ms, attempt, Due::MemberRingEnd));
    }

    fn talk(&mut self, now: Ms, attempt: i64) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.stage = Stage::Talking;
        let talk = a.talk_ms;
        self.due.push((now + talk, attempt, Due::TalkEnd));
    }

    /// Starts the attempts free agents allow in every enabled outbound queue (one round of
    /// the module's dialer); true when one started.
    fn round(&mut self, now: Ms) -> Result<bool, String> {
        let store = self.store();
        let setup = store.setup().map_err(|e| e.to_string())?;
        let counts = store
            .agent_counts_by_queue(now)
            .map_err(|e| e.to_string())?;
        let mut started = false;
        for queue in setup
            .queues
            .iter()
            .filter(|q| q.enabled && q.kind != QueueKind::Inbound)
        {
            let stats = dials_in_window(&*store, queue, now).map_err(|e| e.to_string())?;
            let counts = counts.get(&queue.id).copied().unwrap_or_default();
            let lines = self
                .pacers
                .lines(queue, &counts, &stats)
                .map_err(|e| format!("queue {}: {e}", queue.id))?;
            if lines == 0 {
                continue;
            }
            let candidates = store
                .dial_candidates(&queue.id, now, lines)
                .map_err(|e| e.to_string())?;
            for candidate in candidates {
                let start = OutboundStart {
                    queue: queue.id.clone(),
                    member: candidate.member.id,
                    communication: candidate.communication,
                    agent: None,
                    node: "simulator".to_string(),
                    // As the module: the member's leg is named before it is dialled.
                    call_id: format!("member-{}-leg-{now}", candidate.member.id),
                    lease_until_ms: now + attempt_lease_ms(queue),
                };
                if let Some(attempt) = store
                    .start_outbound(&start, now)
                    .map_err(|e| e.to_string())?
                {
                    started = true;
                    self.start(now, queue, &AttemptFacts::new(queue, &attempt, now))?;
                }
            }
        }
        Ok(started)
    }

    /// A started attempt: the pre-attempt flow, then the agent or the member first.
    fn start(&mut self, now: Ms, queue: &Queue, facts: &AttemptFacts) -> Result<(), String> {
        let attempt = facts.attempt;
        let (answer, answer_after_ms, talk_ms) = {
            let cc = self.cc.borrow();
            let script = cc
                .customers
                .get(&facts.destination)
                .cloned()
                .unwrap_or_default();
            let n = self.calls.get(&facts.destination).copied().unwrap_or(0);
            (
                script.answer(n),
                i64::try_from(script.answer_after_secs).unwrap_or(0) * 1000,
                i64::try_from(script.talk_secs).unwrap_or(0) * 1000,
            )
        };
        *self.calls.entry(facts.destination.clone()).or_insert(0) += 1;
        self.cc.borrow_mut().outbound.insert(attempt);
        self.attempts.insert(
            attempt,
            Attempt {
                queue: queue.clone(),
                facts: facts.clone(),
                target: Target {
                    destination: facts.destination.clone(),
                    display: facts.display.clone(),
                },
                stage: Stage::WaitingAgent,
                agent: None,
                answer,
                answer_after_ms,
                talk_ms,
                patience_over: false,
            },
        );
        self.say_attempt(
            now,
            attempt,
            format!(
                "start in queue {} (attempt {} of the member)",
                queue.id, facts.seq
            ),
        );
        if let Some(flow) = &queue.pre_attempt_flow {
            let decision = self.attempt_flow(
                now,
                attempt,
                flow,
                RunContext::PreAttempt,
                facts.variables(None, now),
            );
            match decision {
                Some(cancel @ AttemptDecision::Cancel { .. }) => {
                    let outcome = cancel_outcome(&cancel, now);
                    self.finish(now, attempt, &outcome)?;
                    return Ok(());
                }
                Some(AttemptDecision::Confirm {
                    destination,
                    display,
                    ..
                }) => {
                    if let Some(a) = self.attempts.get_mut(&attempt) {
                        if let Some(d) = destination.filter(|d| !d.is_empty()) {
                            a.target.destination = d;
                        }
                        if let Some(d) = display.filter(|d| !d.is_empty()) {
                            a.target.display = Some(d);
                        }
                    }
                }
                Some(other) => self.say_attempt(
                    now,
                    attempt,
                    format!(
                        "the pre-attempt flow answered `{}`, which only an after-attempt flow may: the attempt goes ahead",
                        other.app()
                    ),
                ),
                None => {}
            }
        }
        if agent_first(queue) {
            let store = self.store();
            if store
                .member_answered(attempt, now)
                .map_err(|e| e.to_string())?
            {
                self.say_attempt(now, attempt, "waits for an agent".to_string());
            } else {
                self.close(now, attempt, "error", "", false)?;
            }
        } else {
            self.dial(now, attempt);
        }
        Ok(())
    }

    /// Closes the attempt's call part with `result`, then decides the member's outcome.
    fn close(
        &mut self,
        now: Ms,
        attempt: i64,
        result: &str,
        cause: &str,
        talked: bool,
    ) -> Result<(), String> {
        let stored = self
            .store()
            .leave(attempt, result, now)
            .map_err(|e| e.to_string())?;
        self.say_attempt(now, attempt, format!("leave {stored}"));
        self.conclude(now, attempt, &stored, cause, talked)
    }

    /// The member's outcome: the after-attempt flow's decision, or the default for `result`.
    fn conclude(
        &mut self,
        now: Ms,
        attempt: i64,
        result: &str,
        cause: &str,
        talked: bool,
    ) -> Result<(), String> {
        let Some(a) = self.attempts.get(&attempt) else {
            return Ok(());
        };
        let queue = a.queue.clone();
        let outcome = match &queue.after_attempt_flow {
            Some(flow) => {
                let variables = a.facts.variables(Some((result, cause)), now);
                match self.attempt_flow(now, attempt, flow, RunContext::AfterAttempt, variables) {
                    Some(decision) => after_outcome(&decision, result, now),
                    None => default_outcome(result),
                }
            }
            None if talked && queue.wrap_up_secs > 0 => {
                // The agent reports the result in its wrap-up; the store writes the default
                // once the wrap-up (and 30 s) is over.
                if let Some(a) = self.attempts.get_mut(&attempt) {
                    a.stage = Stage::WrapUp;
                }
                self.say_attempt(
                    now,
                    attempt,
                    "waits for the agent's wrap-up result".to_string(),
                );
                let over = now + i64::try_from(queue.wrap_up_secs + 30).unwrap_or(0) * 1000;
                self.due.push((over, attempt, Due::WrapUpOver));
                return Ok(());
            }
            None => default_outcome(result),
        };
        self.finish(now, attempt, &outcome)
    }

    /// Writes the member's outcome (idempotent) and reports it.
    fn finish(&mut self, now: Ms, attempt: i64, outcome: &AttemptOutcome) -> Result<(), String> {
        let after = self
            .store()
            .finish_outbound(attempt, outcome, now)
            .map_err(|e| e.to_string())?;
        let destination = self
            .attempts
            .get(&attempt)
            .map(|a| a.target.destination.clone())
            .unwrap_or_default();
        self.finished(now, &after, &destination);
        self.forget(attempt);
        Ok(())
    }

    fn finished(&mut self, now: Ms, after: &MemberAfter, destination: &str) {
        let what = if after.stopped {
            format!(
                "member finished: {}",
                after.stop_cause.as_deref().unwrap_or(&after.result)
            )
        } else {
            match after.ready_at_ms {
                Some(at) => format!(
                    "{}: retry at {}",
                    after.result,
                    relative(at - self.origin_ms)
                ),
                None => format!("{}: retry when an agent is free", after.result),
            }
        };
        self.say(now, Some(after.attempt), after.member, destination, what);
    }

    fn forget(&mut self, attempt: i64) {
        self.attempts.remove(&attempt);
        self.due.retain(|(_, a, _)| *a != attempt);
        self.cc.borrow_mut().outbound.remove(&attempt);
    }

    /// Runs a queue's attempt flow without a call; its decision. Its decision and warnings
    /// join the dialer's transcript.
    fn attempt_flow(
        &mut self,
        now: Ms,
        attempt: i64,
        flow_id: &str,
        context: RunContext,
        variables: Vec<(String, String)>,
    ) -> Option<AttemptDecision> {
        let what = context.as_str();
        let Some(flow) = self.flows.get(flow_id).cloned() else {
            self.say_attempt(
                now,
                attempt,
                format!("{what} flow {flow_id}: no such flow is loaded (give --flows DIR); as the module, the attempt goes on without it"),
            );
            return None;
        };
        let script = Script {
            vars: variables.into_iter().collect(),
            start_micros: now.saturating_mul(1000),
            uuid: format!("attempt-{attempt}"),
            ..Script::default()
        };
        let handle = CcHandle(self.cc.clone());
        let (outcome, host) =
            simulate_attempt(&flow, self.flows, script, Some(Box::new(handle)), context);
        for entry in host.transcript() {
            let line = match &entry.event {
                Event::Queue { what } => what.clone(),
                Event::Log {
                    level: LogLevel::Warning | LogLevel::Error,
                    message,
                } => format!("warning: {message}"),
                Event::Log {
                    level: LogLevel::Info | LogLevel::Notice,
                    message,
                } => format!("log: {message}"),
                _ => continue,
            };
            self.say_attempt(now, attempt, format!("{what} flow {flow_id}: {line}"));
        }
        if outcome.decision.is_none() {
            self.say_attempt(now, attempt, format!("{what} flow {flow_id}: no decision"));
        }
        outcome.decision
    }

    /// Members of the outbound queues not finished yet.
    fn unfinished_members(&self) -> Result<Vec<rustflow_cc::model::Member>, String> {
        let store = self.store();
        let queues: Vec<String> = store
            .setup()
            .map_err(|e| e.to_string())?
            .queues
            .into_iter()
            .filter(|q| q.kind != QueueKind::Inbound)
            .map(|q| q.id)
            .collect();
        if queues.is_empty() {
            return Ok(Vec::new());
        }
        store
            .members(
                &MemberFilter {
                    queues,
                    completed: Some(false),
                    ..MemberFilter::default()
                },
                // Every one: a simulation holds a handful.
                usize::MAX >> 1,
            )
            .map_err(|e| e.to_string())
    }

    /// The next time anything is due after `now`.
    fn next_time(
        &mut self,
        now: Ms,
        open: &[rustflow_cc::model::Member],
    ) -> Result<Option<Ms>, String> {
        use rustflow_engine::sim::SimQueues;
        let cc = self
            .cc
            .borrow_mut()
            .next_due(now)
            .map_err(|e| e.to_string())?;
        let dialer = self.due.iter().map(|(at, ..)| *at).min();
        let ready = open
            .iter()
            .filter_map(|m| m.ready_at_ms)
            .filter(|&t| t > now)
            .min();
        Ok([cc, dialer, ready]
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min())
    }

    /// The members left when the dialer stops, reported at the horizon.
    fn report_waiting(&mut self, end: Ms, open: &[rustflow_cc::model::Member]) {
        let at = end;
        for member in open {
            let destination = member
                .communications
                .first()
                .map(|c| c.destination.clone())
                .unwrap_or_default();
            let what = match member.ready_at_ms {
                Some(ready) if ready > end => format!(
                    "still waiting at the horizon: next attempt at {}",
                    relative(ready - self.origin_ms)
                ),
                _ if member.open_attempt.is_some() => {
                    "still in an attempt at the horizon".to_string()
                }
                _ => "still waiting at the horizon (no agent free or outside the queue's hours)"
                    .to_string(),
            };
            self.say(at, None, member.id, &destination, what);
        }
    }
}

fn agent_first(queue: &Queue) -> bool {
    matches!(queue.kind, QueueKind::Offline | QueueKind::Preview)
}
