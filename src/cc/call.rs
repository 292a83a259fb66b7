//! A caller in a queue, on its own session thread: join, hold, ring, bridge, leave. The
//! session host (`host.rs`) forwards the engine's queue requests here.

use std::sync::Arc;

use rustflow_cc::engine_host::{self, Caller, failed};
use rustflow_cc::store::{JoinOutcome, Store};
use rustflow_engine::causes;
use rustflow_engine::{
    AgentOffer, HostError, HostResult, QueueBridge, QueueEvent, QueueJoin, QueueJoinOutcome,
    RingOutcome,
};

use super::hub::{CallContext, Centre, Slot, Unwritten, Wake, now_ms};
use super::{events, ring};
use crate::switch::log::{self, Level};
use crate::switch::session::{LockedSession, PlayError, Session};

/// What the caller hears when neither the flow nor the queue names anything.
const DEFAULT_HOLD: &str = "local_stream://moh";
/// Played when the hold audio cannot be: the caller waits in silence rather than not at all.
const SILENCE: &str = "silence_stream://-1";

/// The call's attempt while it is open.
pub struct QueueCall {
    centre: Arc<Centre>,
    slot: Arc<Slot>,
    attempt: i64,
    queue_id: String,
    hold: String,
    /// The hold audio failed once: silence from then on.
    hold_failed: bool,
    /// The agent the caller was bridged to (for the leave event).
    agent: Option<AgentOffer>,
    closed: bool,
}

/// Joins the session's call (`destination`: what it dialled); `Ok((None, Refused))` when the
/// queue does not admit the caller.
pub fn join(
    session: &Session<'_>,
    join: &QueueJoin,
    destination: String,
    context: CallContext,
    ringtone: Option<String>,
) -> HostResult<(Option<QueueCall>, QueueJoinOutcome)> {
    let centre = super::centre().map_err(HostError::Failed)?;
    let call_id = session.uuid();
    let number = context.caller_number.clone();
    // The carried variables are kept with the attempt too (history, `lastBridged`).
    let variables = serde_json::Value::Object(
        context
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
    .to_string();
    let caller = Caller {
        call_id: call_id.clone(),
        number: number.clone(),
        name: context.caller_name.clone(),
        destination,
        node: centre.node.clone(),
        variables,
    };
    let Some(slot) = centre.register(&call_id, context) else {
        return Err(HostError::Failed(
            "this call already waits in a queue".to_string(),
        ));
    };
    let request = engine_host::join_request(join, caller);
    let joined = centre.store.join(&request, now_ms());
    let (attempt, queue_id, queue_ringtone) = match joined {
        Ok(JoinOutcome::Joined {
            attempt,
            queue_id,
            ringtone,
        }) => (attempt, queue_id, ringtone),
        Ok(JoinOutcome::Refused { result, reason }) => {
            centre.unregister(&call_id);
            return Ok((None, QueueJoinOutcome::Refused { result, reason }));
        }
        Err(e) => {
            centre.unregister(&call_id);
            return Err(failed(e));
        }
    };
    let position = centre.store.position(attempt).unwrap_or(0).to_string();
    let attempt_text = attempt.to_string();
    events::fire(
        &centre.node,
        "join",
        &[
            ("CC-Queue-ID", &queue_id),
            ("CC-Attempt-ID", &attempt_text),
            ("CC-Member-UUID", &call_id),
            ("CC-Member-CID-Number", &number),
            ("CC-Position", &position),
        ],
    );
    let call = QueueCall::hold(
        session,
        centre,
        slot,
        attempt,
        queue_id,
        ringtone.or(queue_ringtone),
    );
    Ok((Some(call), QueueJoinOutcome::Joined))
}

impl QueueCall {
    /// Holds the call in line for `attempt` (its slot registered): the dispatcher claims for
    /// it from now on. `hold`: the audio named by the flow or the queue, else music on hold.
    fn hold(
        session: &Session<'_>,
        centre: Arc<Centre>,
        slot: Arc<Slot>,
        attempt: i64,
        queue_id: String,
        hold: Option<String>,
    ) -> QueueCall {
        slot.set_attempt(attempt);
        centre.poke();
        let _ = session
            .channel()
            .set_var("cc_attempt_id", &attempt.to_string());
        let hold = hold
            .or_else(|| crate::switch::globals::get("hold_music").filter(|m| !m.is_empty()))
            .unwrap_or_else(|| DEFAULT_HOLD.to_string());
        QueueCall {
            centre,
            slot,
            attempt,
            queue_id,
            hold,
            hold_failed: false,
            agent: None,
            closed: false,
        }
    }

    /// Holds an outbound queue's answered member leg in line for its attempt (created by the
    /// dialer, already waiting for an agent in the store); `None` when the leg already waits.
    pub fn adopt(
        session: &Session<'_>,
        centre: Arc<Centre>,
        attempt: i64,
        queue_id: String,
        context: CallContext,
        hold: Option<String>,
    ) -> Option<QueueCall> {
        let slot = centre.register(&session.uuid(), context)?;
        Some(QueueCall::hold(
            session, centre, slot, attempt, queue_id, hold,
        ))
    }

    pub fn attempt(&self) -> i64 {
        self.attempt
    }

    pub fn centre(&self) -> &Centre {
        &self.centre
    }

    /// Plays the hold audio until `take` finds what the caller waits for.
    fn hold_until<T>(
        &mut self,
        session: &Session<'_>,
        mut take: impl FnMut(&mut super::hub::SlotInnerView<'_>) -> Option<T>,
    ) -> HostResult<T> {
        let channel = session.channel();
        loop {
            // Cleared before the check: a post after it sets the flag again and ends the
            // play below at once.
            channel.clear_break();
            if let Some(found) = self.slot.check(&mut take) {
                channel.clear_break();
                return Ok(found);
            }
            if !channel.ready() {
                self.slot.stop_holding();
                return Err(HostError::Hangup);
            }
            let file = if self.hold_failed {
                SILENCE
            } else {
                &self.hold
            };
            match session.play_file(file) {
                Ok(()) => {}
                Err(PlayError::Status(s)) if s.is_break() => {}
                Err(e) => {
                    if !channel.ready() {
                        self.slot.stop_holding();
                        return Err(HostError::Hangup);
                    }
                    if self.hold_failed {
                        self.slot.stop_holding();
                        return Err(HostError::Failed(format!(
                            "the caller cannot be held: even silence fails to play ({e})"
                        )));
                    }
                    log::session(
                        session,
                        Level::Warning,
                        &format!(
                            "rustflow: hold audio {:?} cannot play ({e}); the caller waits in silence",
                            self.hold
                        ),
                    );
                    self.hold_failed = true;
                }
            }
        }
    }

    /// Waits for an offer, the queue's end of the wait, or the flow's timer.
    pub fn wait(
        &mut self,
        session: &Session<'_>,
        until_micros: Option<i64>,
    ) -> HostResult<QueueEvent> {
        let until = until_micros.map(|u| u.div_euclid(1000));
        let wake = if until.is_some_and(|u| u <= now_ms()) {
            // The timer is due already: still, an offer or the end of the wait comes first.
            let posted = self.slot.check(|view| view.take_wake());
            self.slot.stop_holding();
            posted.unwrap_or(Wake::Timer)
        } else {
            self.slot.set_timer(until);
            if until.is_some() {
                self.centre.poke();
            }
            self.hold_until(session, |view| view.take_wake())?
        };
        Ok(match wake {
            Wake::Timer => QueueEvent::TimerDue,
            Wake::Offer(offer) => QueueEvent::Offer(offer),
            Wake::Left(result) => {
                // Closed by the queue: nothing left to leave.
                self.close_slot();
                QueueEvent::Left { result }
            }
        })
    }

    /// Waits (holding) for the ring of the current offer; the answering agent when another
    /// leg of a ring-all won.
    pub fn ring(
        &mut self,
        session: &Session<'_>,
        offer: &AgentOffer,
    ) -> HostResult<(RingOutcome, Option<AgentOffer>)> {
        match self.hold_until(session, |view| view.take_ring(&offer.agent_call_id)) {
            Ok(RingOutcome::Answered) => {
                let agent = self.slot.answered_offer();
                Ok((RingOutcome::Answered, agent))
            }
            Ok(missed) => Ok((missed, None)),
            Err(e) => {
                // The caller is gone: stop ringing the agents.
                self.slot.cancel_ring();
                Err(e)
            }
        }
    }

    /// Bridges the caller with the answered agent until the conversation ends; `AgentGone`
    /// (the caller back in line, the agent resting as after a missed offer) when the agent's
    /// leg hung up before the caller was connected.
    pub fn bridge(&mut self, session: &Session<'_>) -> HostResult<QueueBridge> {
        let Some(leg) = self.slot.take_answered() else {
            return Err(HostError::Failed("no answered agent to bridge".to_string()));
        };
        let bridged = match LockedSession::locate(&leg.uuid) {
            Some(peer) => {
                let attempt = self.attempt.to_string();
                events::fire(
                    &self.centre.node,
                    "bridge",
                    &[
                        ("CC-Queue-ID", &self.queue_id),
                        ("CC-Attempt-ID", &attempt),
                        ("CC-Member-UUID", &self.slot.call_id),
                        ("CC-Agent-ID", &leg.offer.agent_id),
                        ("CC-Agent-Name", &leg.offer.agent_name),
                        ("CC-Agent-UUID", &leg.uuid),
                    ],
                );
                // The agent is free the moment its leg hangs up (the dispatcher ends the
                // conversation), not a frame later when this bridge has unwound.
                let watch = peer.watch_hangup();
                self.slot
                    .set_talking(Some((leg.uuid.clone(), leg.offer.agent_id.clone())));
                let bridged = session.bridge_with(&peer);
                self.slot.set_talking(None);
                drop(watch);
                drop(peer);
                bridged.map_err(|status| status.to_string())
            }
            None => Err("its leg is gone".to_string()),
        };
        match bridged {
            Ok(()) => {
                self.agent = Some(leg.offer);
                Ok(QueueBridge::Talked)
            }
            Err(_) if !session.channel().up() => Err(HostError::Hangup),
            Err(why) => {
                log::session(
                    session,
                    Level::Notice,
                    &format!(
                        "rustflow: agent {} hung up before the caller was connected ({why}); the caller is back in line",
                        leg.offer.agent_id
                    ),
                );
                ring::hang_up_leg(&leg.uuid, causes::NORMAL_CLEARING);
                ring::record_missed(
                    &self.centre,
                    self.attempt,
                    &self.queue_id,
                    &self.slot.call_id,
                    &[leg.offer.agent_id],
                    "agent_hangup",
                );
                self.centre.poke();
                Ok(QueueBridge::AgentGone)
            }
        }
    }

    /// The slot is done: no more posts; an agent leg nobody bridged is hung up, a ring in
    /// progress cancelled.
    fn close_slot(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let (answered, ringing) = self.slot.close();
        if ringing {
            self.slot.cancel_ring();
        }
        if let Some(leg) = answered {
            ring::hang_up_leg(&leg.uuid, causes::ORIGINATOR_CANCEL);
        }
        self.centre.unregister(&self.slot.call_id);
    }

    /// Closes the attempt with `result`; returns the stored result.
    pub fn leave(&mut self, result: &str) -> HostResult<String> {
        let was_closed = self.closed;
        self.close_slot();
        if was_closed {
            // Closed by the queue (`Left`): the store already has the result.
            return Ok(result.to_string());
        }
        let stored = match self.centre.store.leave(self.attempt, result, now_ms()) {
            Ok(stored) => stored,
            Err(e) => {
                // The caller is gone from this node either way; the dispatcher writes the
                // leave when the store is back, so the attempt does not wait on for ever.
                self.centre.write_later(Unwritten::Leave {
                    attempt: self.attempt,
                    result: result.to_string(),
                });
                return Err(failed(e));
            }
        };
        self.centre.poke();
        let attempt = self.attempt.to_string();
        let mut headers = vec![
            ("CC-Queue-ID", self.queue_id.as_str()),
            ("CC-Attempt-ID", attempt.as_str()),
            ("CC-Member-UUID", self.slot.call_id.as_str()),
            ("CC-Result", stored.as_str()),
        ];
        if let Some(agent) = &self.agent {
            headers.push(("CC-Agent-ID", agent.agent_id.as_str()));
        }
        events::fire(&self.centre.node, "leave", &headers);
        if let Some(agent) = &self.agent {
            super::hub::agent_state(&self.centre.node, &agent.agent_id, "wrap_time");
        }
        Ok(stored)
    }
}

impl Drop for QueueCall {
    /// The engine leaves on every way out; this catches a panic that skipped it, so no
    /// attempt stays open and no agent stays reserved.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.leave("error");
        }
    }
}
