//! Outbound queues on this node: callbacks and campaigns.
//!
//! Each dispatcher round asks the pacer how many members of each outbound queue to call now
//! and starts that many attempts (the store's `start_outbound` is the one conditional write
//! that links a member to an attempt, so two nodes never call the same member). Each attempt
//! then runs on a thread of its own ([`attempt_thread`]):
//!
//! 1. the queue's pre-attempt flow, with no call: `cancel` ends the attempt there (retry
//!    later or stop), `confirm` may change the number or the caller id shown;
//! 2. **member first** (progressive, predictive): the member's number is called with no
//!    A-leg; once answered, the leg is handed to the [`ATTEMPT_APP`] application, which holds
//!    it in line like an inbound caller (first in its queue) until an agent is offered, rung
//!    and bridged. A predictive call nobody takes within [`PREDICTIVE_PATIENCE`] of the answer
//!    hears the queue's safe message and ends as `abandoned`;
//!    **agent first** (offline / callback, preview): the attempt waits for an agent like a
//!    caller with no call; the agent's phone rings showing the member; once the agent answers
//!    (accepts), its leg runs [`ATTEMPT_APP`], which calls the member from the agent's own
//!    thread (the agent hears the ringing) and bridges them;
//! 3. the attempt's call part is closed (`leave`), then the queue's after-attempt flow (or
//!    the default for the result) decides what becomes of the member (`finish_outbound`,
//!    idempotent). A conversation of a queue with wrap-up and no after-attempt flow waits for
//!    the agent's `rustflow cc attempt-result` (or the store's default after the wrap-up).
//!
//! Every transition fires a `rustflow::cc` event (docs/contact-centre.md, "Events").

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustflow_cc::dialer::{Pacers, dials_in_window};
use rustflow_cc::engine_host::outbound::{
    AttemptFacts, AttemptHost, after_outcome, attempt_lease_ms, cancel_outcome, default_outcome,
    dial_result,
};
use rustflow_cc::model::{Queue, QueueKind};
use rustflow_cc::store::{AttemptOutcome, MemberAfter, Ms, OutboundAttempt, OutboundStart};
use rustflow_engine::causes;
use rustflow_engine::{
    AttemptDecision, BridgeLeg, BridgeRequest, BridgeStrategy, HostError, HttpRequest,
    HttpResponse, Limits, LogLevel, QueueBridge, QueueEvent, RingOutcome, RunContext,
};

use super::call::QueueCall;
use super::hub::{CallContext, Centre, Wake, now_ms};
use super::{events, ring};
use crate::dial;
use crate::http;
use crate::switch::globals;
use crate::switch::log::{self, Level};
use crate::switch::session::{LockedSession, Session, originate_detached};

/// The application an answered outbound leg is handed to (`ATTEMPT member ANSWERED_MS` or
/// `ATTEMPT agent MEMBER_UUID`); registered at load, not meant for dialplans.
pub const ATTEMPT_APP: &std::ffi::CStr = c"rustflow_attempt";

/// A predictive call must reach an agent within this long after the member answered, or hear
/// the safe message (the TSR's 2-second rule).
pub const PREDICTIVE_PATIENCE_MS: Ms = 2_000;

/// How long an agent-first attempt waits for an agent before it gives the member back (the
/// pacer starts one only for a free agent, so this is a safety net).
const AGENT_PATIENCE: Duration = Duration::from_secs(120);

/// How often a dialer thread waiting with no call looks whether the module unloads.
const STOP_CHECK: Duration = Duration::from_millis(500);

/// The dialer's memory between rounds: each outbound queue's pacer.
#[derive(Default)]
pub struct Dialer {
    pacers: Pacers,
}

impl Dialer {
    /// Starts the attempts the pacers ask for in every enabled outbound queue.
    pub fn round(&mut self, centre: &Arc<Centre>, now: Ms) -> Result<(), String> {
        let setup = centre.store.setup().map_err(|e| e.to_string())?;
        self.pacers.keep_only(&setup.queues);
        let counts = centre
            .store
            .agent_counts_by_queue(now)
            .map_err(|e| e.to_string())?;
        for queue in setup
            .queues
            .iter()
            .filter(|q| q.enabled && q.kind != QueueKind::Inbound)
        {
            let stats = dials_in_window(&*centre.store, queue, now).map_err(|e| e.to_string())?;
            let counts = counts.get(&queue.id).copied().unwrap_or_default();
            let lines = match self.pacers.lines(queue, &counts, &stats) {
                Ok(lines) => lines,
                Err(e) => {
                    log::global(
                        Level::Error,
                        &format!(
                            "rustflow: queue {}: {e}; its members are not dialled",
                            queue.id
                        ),
                    );
                    0
                }
            };
            if lines == 0 {
                continue;
            }
            let candidates = centre
                .store
                .dial_candidates(&queue.id, now, lines)
                .map_err(|e| e.to_string())?;
            for candidate in candidates {
                // The member's leg gets this uuid: offers find it by it.
                let member_uuid = ring::new_uuid();
                let start = OutboundStart {
                    queue: queue.id.clone(),
                    member: candidate.member.id,
                    communication: candidate.communication,
                    agent: None,
                    node: centre.node.clone(),
                    call_id: member_uuid.clone(),
                    lease_until_ms: now + attempt_lease_ms(queue),
                };
                if let Some(attempt) = centre
                    .store
                    .start_outbound(&start, now)
                    .map_err(|e| e.to_string())?
                {
                    spawn_attempt(centre, queue.clone(), attempt, member_uuid);
                }
            }
        }
        Ok(())
    }
}

fn spawn_attempt(
    centre: &Arc<Centre>,
    queue: Queue,
    attempt: OutboundAttempt,
    member_uuid: String,
) {
    centre.ring_started();
    let id = attempt.attempt;
    let thread_centre = centre.clone();
    let spawned = std::thread::Builder::new()
        .name("rustflow-dial".to_string())
        .spawn(move || {
            let centre = thread_centre;
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                attempt_thread(&centre, &queue, &attempt, &member_uuid);
            }));
            if run.is_err() {
                log::global(
                    Level::Critical,
                    &format!("rustflow: outbound attempt {id} panicked; its member is given back by the janitor"),
                );
            }
            centre.ring_finished();
            centre.poke();
        });
    if let Err(e) = spawned {
        centre.ring_finished();
        log::global(
            Level::Error,
            &format!("rustflow: cannot start a thread for outbound attempt {id}: {e}"),
        );
        let _ = centre.store.leave(id, "error", now_ms());
    }
}

/// What is dialled: the member's communication, or what the pre-attempt flow confirmed.
#[derive(Debug, Clone)]
struct DialTarget {
    destination: String,
    /// The caller id number the member sees.
    display: Option<String>,
}

/// One attempt from start to the member's outcome, on the dialer's thread (see the module
/// documentation). The answered leg's part continues on that leg's thread.
fn attempt_thread(
    centre: &Arc<Centre>,
    queue: &Queue,
    attempt: &OutboundAttempt,
    member_uuid: &str,
) {
    let facts = AttemptFacts::new(queue, attempt, now_ms());
    fire(centre, "attempt-start", &facts, &[]);
    let mut target = DialTarget {
        destination: facts.destination.clone(),
        display: facts.display.clone(),
    };
    if let Some(flow) = &queue.pre_attempt_flow {
        let variables = facts.variables(None, now_ms());
        match attempt_flow(centre, flow, RunContext::PreAttempt, &facts, variables) {
            Ok(Some(cancel @ AttemptDecision::Cancel { .. })) => {
                let outcome = cancel_outcome(&cancel, now_ms());
                let description = outcome.description.clone().unwrap_or_default();
                fire(
                    centre,
                    "attempt-cancel",
                    &facts,
                    &[("CC-Description", &description)],
                );
                finish(centre, &facts, &outcome);
                return;
            }
            Ok(Some(AttemptDecision::Confirm {
                destination,
                display,
                ..
            })) => {
                if let Some(d) = destination.filter(|d| !d.is_empty()) {
                    target.destination = d;
                }
                if let Some(d) = display.filter(|d| !d.is_empty()) {
                    target.display = Some(d);
                }
            }
            Ok(Some(other)) => log::global(
                Level::Warning,
                &format!(
                    "rustflow: pre-attempt flow {flow} of queue {} answered `{}`, which only an after-attempt flow may: the attempt goes ahead",
                    queue.id,
                    other.app()
                ),
            ),
            // As Webitel: a flow that decides nothing (or fails) lets the attempt go ahead.
            Ok(None) => {}
            Err(e) => log::global(
                Level::Error,
                &format!(
                    "rustflow: pre-attempt flow {flow} of queue {} failed ({e}); the attempt goes ahead",
                    queue.id
                ),
            ),
        }
    }
    match queue.kind {
        QueueKind::Offline | QueueKind::Preview => {
            agent_first(centre, queue, &facts, &target, member_uuid)
        }
        _ => member_first(centre, queue, &facts, &target, member_uuid),
    }
}

/// The originate request that calls the member (through the same injection-proof builder
/// as `bridge`); `uuid` becomes the member leg's uuid.
fn member_request(
    queue: &Queue,
    facts: &AttemptFacts,
    target: &DialTarget,
    uuid: &str,
) -> Result<dial::DialPlan, String> {
    let mut communication = facts.communication.clone();
    communication.destination = target.destination.clone();
    let contact = communication
        .reach(queue)
        .map_err(|e| format!("member {} cannot be dialled: {e}", facts.member_id))?;
    let mut variables = vec![
        ("origination_uuid".to_string(), uuid.to_string()),
        (
            "call_timeout".to_string(),
            queue.dial_timeout_secs.to_string(),
        ),
        ("cc_side".to_string(), "member".to_string()),
        ("cc_queue_id".to_string(), queue.id.clone()),
        ("cc_attempt_id".to_string(), facts.attempt.to_string()),
        ("cc_member_id".to_string(), facts.member_id.to_string()),
        ("ignore_early_media".to_string(), "true".to_string()),
    ];
    if let Some(number) = target
        .display
        .clone()
        .or_else(|| queue.caller_id_number.clone())
    {
        variables.push(("origination_caller_id_number".to_string(), number));
    }
    if let Some(name) = &queue.caller_id_name {
        variables.push(("origination_caller_id_name".to_string(), name.clone()));
    }
    let request = BridgeRequest {
        legs: vec![BridgeLeg {
            target: ring::target(&contact),
            variables: Vec::new(),
            idle_only: false,
        }],
        strategy: BridgeStrategy::Simultaneous,
        variables,
        codecs: Vec::new(),
        send_on_answer: None,
        pickup: None,
    };
    dial::build(&request, &default_domain())
}

fn default_domain() -> String {
    globals::get("domain").unwrap_or_default()
}

/// Progressive and predictive: call the member, then hand the answered leg to
/// [`ATTEMPT_APP`], which holds it in line for an agent.
fn member_first(
    centre: &Arc<Centre>,
    queue: &Queue,
    facts: &AttemptFacts,
    target: &DialTarget,
    uuid: &str,
) {
    fire(
        centre,
        "dial",
        facts,
        &[
            ("CC-Destination", &target.destination),
            ("CC-Member-UUID", uuid),
        ],
    );
    let dialled = member_request(queue, facts, target, uuid).and_then(|plan| {
        let variables = crate::host::originate_variables(&plan)?;
        let timeout = u32::try_from(queue.dial_timeout_secs).unwrap_or(u32::MAX);
        // Unloading the module ends a dial still ringing.
        originate_detached(&plan.dial_string, &variables, timeout, &centre.dial_cancel)
            .map_err(|e| e.to_string())
    });
    let leg = match dialled {
        Ok(Ok(leg)) => leg,
        Ok(Err(cause)) => {
            let result = dial_result(cause);
            let cause_name = cause_name(cause);
            fire(
                centre,
                "dial-result",
                facts,
                &[("CC-Result", result), ("CC-Cause", &cause_name)],
            );
            close(
                centre,
                queue,
                facts,
                result,
                &CallFacts {
                    cause: cause_name,
                    talked: false,
                },
            );
            return;
        }
        Err(e) => {
            log::global(
                Level::Error,
                &format!("rustflow: outbound attempt {}: {e}", facts.attempt),
            );
            fire(centre, "dial-result", facts, &[("CC-Result", "failed")]);
            close(centre, queue, facts, "failed", &CallFacts::default());
            return;
        }
    };
    let answered_at = now_ms();
    fire(
        centre,
        "dial-result",
        facts,
        &[("CC-Result", "answered"), ("CC-Member-UUID", uuid)],
    );
    let waiting = centre.store.member_answered(facts.attempt, answered_at);
    let handed = match waiting {
        Ok(true) => leg.run_application(
            &ATTEMPT_APP.to_string_lossy(),
            &format!("{} member {answered_at}", facts.attempt),
        ),
        Ok(false) => Err("the attempt was closed while the member's phone rang".to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = handed {
        log::global(
            Level::Error,
            &format!("rustflow: outbound attempt {}: {e}", facts.attempt),
        );
        let _ = leg
            .session()
            .channel()
            .hangup(causes::NORMAL_TEMPORARY_FAILURE.code);
        drop(leg);
        close(centre, queue, facts, "error", &CallFacts::default());
    }
}

/// FreeSWITCH's name of a hangup cause (`USER_BUSY`), or its number.
fn cause_name(code: u32) -> String {
    causes::hangup_cause(&code.to_string()).map_or_else(|| code.to_string(), |c| c.name.to_string())
}

/// Offline and preview: the attempt waits for an agent like a caller with no call; the
/// agent's phone rings showing the member; the agent's answer accepts it, and its leg runs
/// [`ATTEMPT_APP`], which calls the member.
fn agent_first(
    centre: &Arc<Centre>,
    queue: &Queue,
    facts: &AttemptFacts,
    target: &DialTarget,
    member_uuid: &str,
) {
    let context = CallContext {
        domain: default_domain(),
        caller_number: target.destination.clone(),
        caller_name: facts.member_name.clone(),
        variables: vec![
            ("cc_member_id".to_string(), facts.member_id.to_string()),
            ("cc_member_name".to_string(), facts.member_name.clone()),
            ("cc_destination".to_string(), target.destination.clone()),
        ],
    };
    let Some(slot) = centre.register(member_uuid, context) else {
        return;
    };
    slot.set_attempt(facts.attempt);
    let waiting = centre.store.member_answered(facts.attempt, now_ms());
    if !matches!(waiting, Ok(true)) {
        centre.unregister(member_uuid);
        close(centre, queue, facts, "error", &CallFacts::default());
        return;
    }
    centre.poke();
    let deadline = Instant::now() + AGENT_PATIENCE;
    let result = loop {
        // In slices, so that unloading the module is noticed within one.
        let slice = (Instant::now() + STOP_CHECK).min(deadline);
        let Some(wake) = slot.wait_for(slice, |view| view.take_wake()) else {
            if centre.stopping() {
                break "error".to_string();
            }
            if Instant::now() >= deadline {
                break "timeout".to_string();
            }
            continue;
        };
        let offer = match wake {
            Wake::Offer(offer) => offer,
            Wake::Left(result) => {
                // Closed by the queue (its max wait, or a lost node): nothing to leave.
                slot.close();
                centre.unregister(member_uuid);
                conclude(centre, queue, facts, &result, &CallFacts::default());
                return;
            }
            Wake::Timer => continue,
        };
        let rung = slot.wait_for(deadline, |view| view.take_ring(&offer.agent_call_id));
        match rung {
            Some(RingOutcome::Answered) => {
                let Some(leg) = slot.take_answered() else {
                    continue;
                };
                slot.close();
                centre.unregister(member_uuid);
                let handed = match LockedSession::locate(&leg.uuid) {
                    Some(agent_leg) => {
                        let _ = agent_leg
                            .session()
                            .channel()
                            .set_var("cc_destination", &target.destination);
                        if let Some(display) = &target.display {
                            let _ = agent_leg.session().channel().set_var("cc_display", display);
                        }
                        agent_leg.run_application(
                            &ATTEMPT_APP.to_string_lossy(),
                            &format!("{} agent {member_uuid}", facts.attempt),
                        )
                    }
                    None => Err("the agent's leg is gone".to_string()),
                };
                match handed {
                    Ok(()) => return,
                    Err(e) => {
                        log::global(
                            Level::Warning,
                            &format!("rustflow: outbound attempt {}: {e}", facts.attempt),
                        );
                        ring::hang_up_leg(&leg.uuid, causes::NORMAL_TEMPORARY_FAILURE);
                        break "error".to_string();
                    }
                }
            }
            Some(RingOutcome::Missed { .. }) => continue,
            None => {
                slot.cancel_ring();
                break "timeout".to_string();
            }
        }
    };
    let (answered, _) = slot.close();
    if let Some(leg) = answered {
        ring::hang_up_leg(&leg.uuid, causes::ORIGINATOR_CANCEL);
    }
    centre.unregister(member_uuid);
    close(centre, queue, facts, &result, &CallFacts::default());
}

/// What the after-attempt flow learns about the call.
#[derive(Debug, Clone, Default)]
struct CallFacts {
    /// FreeSWITCH's hangup cause of the member's leg, when it was dialled.
    cause: String,
    /// The member talked to an agent.
    talked: bool,
}

/// Closes the attempt's call part with `result`, then decides the member's outcome.
fn close(centre: &Centre, queue: &Queue, facts: &AttemptFacts, result: &str, call: &CallFacts) {
    let stored = match centre.store.leave(facts.attempt, result, now_ms()) {
        Ok(stored) => stored,
        Err(e) => {
            log::global(
                Level::Error,
                &format!("rustflow: outbound attempt {}: {e}", facts.attempt),
            );
            centre.write_later(super::hub::Unwritten::Leave {
                attempt: facts.attempt,
                result: result.to_string(),
            });
            result.to_string()
        }
    };
    centre.poke();
    fire(centre, "leave", facts, &[("CC-Result", &stored)]);
    conclude(centre, queue, facts, &stored, call);
}

/// The member's outcome: the after-attempt flow's decision, or the default for `result`.
fn conclude(centre: &Centre, queue: &Queue, facts: &AttemptFacts, result: &str, call: &CallFacts) {
    let outcome = match &queue.after_attempt_flow {
        Some(flow) => match attempt_flow(
            centre,
            flow,
            RunContext::AfterAttempt,
            facts,
            facts.variables(Some((result, &call.cause)), now_ms()),
        ) {
            Ok(Some(decision)) => after_outcome(&decision, result, now_ms()),
            Ok(None) => default_outcome(result),
            Err(e) => {
                log::global(
                    Level::Error,
                    &format!(
                        "rustflow: after-attempt flow {flow} of queue {} failed ({e}); the result {result} stands",
                        queue.id
                    ),
                );
                default_outcome(result)
            }
        },
        // The agent reports the result in its wrap-up (`rustflow cc attempt-result`); the
        // store writes the default once the wrap-up is over.
        None if call.talked && queue.wrap_up_secs > 0 => return,
        None => default_outcome(result),
    };
    finish(centre, facts, &outcome);
}

/// Writes the member's outcome (idempotent: a later one changes nothing) and reports it.
fn finish(centre: &Centre, facts: &AttemptFacts, outcome: &AttemptOutcome) {
    match centre
        .store
        .finish_outbound(facts.attempt, outcome, now_ms())
    {
        Ok(after) => fire_outcome(&centre.node, &after, Some(facts)),
        Err(e) => log::global(
            Level::Error,
            &format!(
                "rustflow: outbound attempt {}: writing its outcome: {e} (the store writes the default later)",
                facts.attempt
            ),
        ),
    }
    centre.poke();
}

/// The `attempt-result` event: what became of the member after an attempt.
pub fn fire_outcome(node: &str, after: &MemberAfter, facts: Option<&AttemptFacts>) {
    let attempt = after.attempt.to_string();
    let member = after.member.to_string();
    let next = after.ready_at_ms.map(|t| t.to_string()).unwrap_or_default();
    let stop = after.stop_cause.clone().unwrap_or_default();
    let attempts = after.attempts.to_string();
    let mut headers = vec![
        ("CC-Attempt-ID", attempt.as_str()),
        ("CC-Member-ID", member.as_str()),
        ("CC-Result", after.result.as_str()),
        ("CC-Member-Attempts", attempts.as_str()),
        ("CC-Member-Ready-At", next.as_str()),
        ("CC-Member-Stop-Cause", stop.as_str()),
    ];
    if let Some(facts) = facts {
        headers.push(("CC-Queue-ID", facts.queue_id.as_str()));
        headers.push(("CC-Member-Name", facts.member_name.as_str()));
    }
    events::fire(node, "attempt-result", &headers);
}

/// A `rustflow::cc` event about an outbound attempt.
fn fire(centre: &Centre, action: &str, facts: &AttemptFacts, extra: &[(&str, &str)]) {
    let attempt = facts.attempt.to_string();
    let member = facts.member_id.to_string();
    let mut headers = vec![
        ("CC-Queue-ID", facts.queue_id.as_str()),
        ("CC-Attempt-ID", attempt.as_str()),
        ("CC-Member-ID", member.as_str()),
        ("CC-Member-Name", facts.member_name.as_str()),
    ];
    headers.extend_from_slice(extra);
    events::fire(&centre.node, action, &headers);
}

/// The [`ATTEMPT_APP`] application: an outbound attempt's answered leg, on its own thread.
pub struct AttemptApp;

impl crate::switch::module::Application for AttemptApp {
    fn run(session: &Session<'_>, data: &str) {
        let centre = match super::centre() {
            Ok(centre) => centre,
            Err(e) => {
                log::session(
                    session,
                    Level::Error,
                    &format!("rustflow: {}: {e}", ATTEMPT_APP.to_string_lossy()),
                );
                return;
            }
        };
        let words: Vec<&str> = data.split_whitespace().collect();
        let parsed = match words.as_slice() {
            [attempt, "member", answered_at] => attempt
                .parse::<i64>()
                .ok()
                .zip(answered_at.parse::<Ms>().ok())
                .map(|(a, t)| (a, Leg::Member { answered_at: t })),
            [attempt, "agent", member_uuid] => attempt.parse::<i64>().ok().map(|a| {
                (
                    a,
                    Leg::Agent {
                        member_uuid: member_uuid.to_string(),
                    },
                )
            }),
            _ => None,
        };
        let Some((attempt, leg)) = parsed else {
            log::session(
                session,
                Level::Error,
                &format!(
                    "rustflow: {} runs only on legs the dialer hands it (got {data:?})",
                    ATTEMPT_APP.to_string_lossy()
                ),
            );
            return;
        };
        let loaded = AttemptFacts::load(&centre.store, attempt)
            .map_err(|e| e.to_string())
            .and_then(|found| found.ok_or_else(|| "no such outbound attempt".to_string()));
        let (queue, facts) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                log::session(
                    session,
                    Level::Error,
                    &format!("rustflow: outbound attempt {attempt}: {e}"),
                );
                return;
            }
        };
        match leg {
            Leg::Member { answered_at } => {
                member_leg(session, &centre, &queue, &facts, answered_at)
            }
            Leg::Agent { member_uuid } => agent_leg(session, &centre, &queue, &facts, &member_uuid),
        }
    }
}

/// Which leg [`AttemptApp`] runs on.
enum Leg {
    Member { answered_at: Ms },
    Agent { member_uuid: String },
}

/// The member answered: in line for an agent (first in its queue), rung, bridged; a
/// predictive call no agent takes in time hears the safe message.
fn member_leg(
    session: &Session<'_>,
    centre: &Arc<Centre>,
    queue: &Queue,
    facts: &AttemptFacts,
    answered_at: Ms,
) {
    let context = CallContext {
        domain: default_domain(),
        caller_number: facts.destination.clone(),
        caller_name: facts.member_name.clone(),
        variables: vec![
            ("cc_member_id".to_string(), facts.member_id.to_string()),
            ("cc_member_name".to_string(), facts.member_name.clone()),
        ],
    };
    let Some(mut call) = QueueCall::adopt(
        session,
        centre.clone(),
        facts.attempt,
        queue.id.clone(),
        context,
        queue.ringtone.clone(),
    ) else {
        return;
    };
    let patience =
        (queue.kind == QueueKind::Predictive).then_some(answered_at + PREDICTIVE_PATIENCE_MS);
    let channel = session.channel();
    let mut talked = false;
    let result = loop {
        match call.wait(session, patience.map(|ms| ms * 1_000)) {
            Ok(QueueEvent::Offer(offer)) => {
                let _ = channel.set_var("cc_agent_id", &offer.agent_id);
                let _ = channel.set_var("cc_agent_name", &offer.agent_name);
                let _ = channel.set_var("cc_agent_call_id", &offer.agent_call_id);
                match call.ring(session, &offer) {
                    Ok((RingOutcome::Answered, _)) => match call.bridge(session) {
                        Ok(QueueBridge::Talked) => {
                            talked = true;
                            break "success".to_string();
                        }
                        Ok(QueueBridge::AgentGone) => continue,
                        Err(e) => break leg_error(session, facts, e),
                    },
                    Ok((RingOutcome::Missed { .. }, _)) => continue,
                    Err(e) => break leg_error(session, facts, e),
                }
            }
            Ok(QueueEvent::TimerDue) => {
                // No agent within 2 s of the answer: the safe message, then the call ends.
                if let Some(message) = &queue.safe_message
                    && let Err(e) = session.play_file(message)
                {
                    log::session(
                        session,
                        Level::Warning,
                        &format!(
                            "rustflow: queue {}: the safe message {message:?} cannot play ({e})",
                            queue.id
                        ),
                    );
                }
                break "abandoned".to_string();
            }
            Ok(QueueEvent::Left { result }) => {
                conclude(centre, queue, facts, &result, &CallFacts::default());
                return;
            }
            Err(e) => break leg_error(session, facts, e),
        }
    };
    let stored = call.leave(&result).unwrap_or(result);
    let cause = channel.var("hangup_cause").unwrap_or_default();
    conclude(centre, queue, facts, &stored, &CallFacts { cause, talked });
}

/// The result of a member leg whose wait, ring or bridge failed: the member hung up
/// (`abandoned`: no agent reached it), or an error (logged).
fn leg_error(session: &Session<'_>, facts: &AttemptFacts, e: rustflow_engine::HostError) -> String {
    match e {
        rustflow_engine::HostError::Hangup => "abandoned".to_string(),
        other => {
            log::session(
                session,
                Level::Error,
                &format!("rustflow: outbound attempt {}: {other}", facts.attempt),
            );
            "error".to_string()
        }
    }
}

/// The agent accepted (offline / preview): call the member from the agent's thread (the
/// agent hears it ring) and bridge them.
fn agent_leg(
    session: &Session<'_>,
    centre: &Arc<Centre>,
    queue: &Queue,
    facts: &AttemptFacts,
    member_uuid: &str,
) {
    let channel = session.channel();
    let target = DialTarget {
        destination: channel
            .var("cc_destination")
            .unwrap_or_else(|| facts.destination.clone()),
        display: channel.var("cc_display").or_else(|| facts.display.clone()),
    };
    fire(
        centre,
        "dial",
        facts,
        &[
            ("CC-Destination", &target.destination),
            ("CC-Member-UUID", member_uuid),
        ],
    );
    let dialled = member_request(queue, facts, &target, member_uuid).and_then(|plan| {
        let variables = crate::host::originate_variables(&plan)?;
        let timeout = u32::try_from(queue.dial_timeout_secs).unwrap_or(u32::MAX);
        session
            .originate_and_bridge(&plan.dial_string, &variables, timeout)
            .map_err(|e| e.to_string())
    });
    let (result, call) = match dialled {
        Ok(Ok(())) => (
            "success".to_string(),
            CallFacts {
                cause: "NORMAL_CLEARING".to_string(),
                talked: true,
            },
        ),
        Ok(Err(cause)) => {
            let result = dial_result(cause);
            let cause = cause_name(cause);
            fire(
                centre,
                "dial-result",
                facts,
                &[("CC-Result", result), ("CC-Cause", &cause)],
            );
            (
                result.to_string(),
                CallFacts {
                    cause,
                    talked: false,
                },
            )
        }
        Err(e) => {
            log::session(
                session,
                Level::Error,
                &format!("rustflow: outbound attempt {}: {e}", facts.attempt),
            );
            ("failed".to_string(), CallFacts::default())
        }
    };
    close(centre, queue, facts, &result, &call);
}

/// Runs a queue's attempt flow without a call (`context`: pre- or after-attempt) on this
/// thread; its decision, `None` when it gave none.
fn attempt_flow(
    centre: &Centre,
    flow_id: &str,
    context: RunContext,
    facts: &AttemptFacts,
    variables: Vec<(String, String)>,
) -> Result<Option<AttemptDecision>, String> {
    let instance = crate::state::instance().ok_or("the module is not loaded")?;
    let snapshot = instance.current();
    let flow = snapshot
        .flows
        .get(flow_id)
        .cloned()
        .ok_or_else(|| format!("no flow `{flow_id}` is loaded"))?;
    let clock = now_ms;
    let attempt = facts.attempt;
    let what = context.as_str();
    let logger = move |level: LogLevel, message: &str| {
        let level = match level {
            LogLevel::Debug => Level::Debug,
            LogLevel::Info => Level::Info,
            LogLevel::Notice => Level::Notice,
            LogLevel::Warning => Level::Warning,
            LogLevel::Error => Level::Error,
        };
        log::global(
            level,
            &format!("rustflow: {what} flow {flow_id} of attempt {attempt}: {message}"),
        );
    };
    let timeout_cap = snapshot.config.http_timeout_ms;
    let tls = snapshot.http_tls.clone();
    let fetch = move |request: &HttpRequest| -> rustflow_engine::HostResult<HttpResponse> {
        let timeout = http::timeout_for(request, timeout_cap);
        http::perform(request, timeout, tls.as_ref(), || {
            std::thread::sleep(http::POLL);
            true
        })
        .map_err(|e| match e {
            http::Interrupted::Abandoned => {
                HostError::Failed("the request was abandoned".to_string())
            }
            http::Interrupted::Failed(message) => HostError::Failed(message),
        })
    };
    let mut host = AttemptHost::new(
        &centre.store,
        format!("attempt-{attempt}"),
        variables,
        &clock,
        &logger,
    )
    .with_http(&fetch);
    let limits = Limits {
        max_steps: snapshot.config.max_steps,
        max_goto: snapshot.config.max_goto,
    };
    let outcome =
        rustflow_engine::run_with(&flow, &snapshot.flows, &mut host, &[], &limits, context);
    if let Some(error) = &outcome.error {
        log::global(
            Level::Warning,
            &format!("rustflow: {what} flow {flow_id} of attempt {attempt}: {error}"),
        );
    }
    Ok(outcome.decision)
}
