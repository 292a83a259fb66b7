//! Ringing the agents of one offer, on a thread of its own: the agent legs are originated
//! with no A-leg (the dispatcher has no session) the moment the reservation is won, with the
//! same injection-proof dial-string builder as `bridge`, the caller's variables and a cancel
//! cause the caller's thread sets when it leaves. An answered leg is left idle for the
//! caller's thread to bridge; whichever side gives up hangs it up.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustflow_cc::engine_host::agent_offer;
use rustflow_cc::model::AgentContact;
use rustflow_cc::store::{Offer, OfferedAgent, Store, StoreError};
use rustflow_engine::causes;
use rustflow_engine::{
    BridgeLeg, BridgeRequest, BridgeStrategy, BridgeTarget, HangupCause, RingOutcome,
};

use super::events;
use super::hub::{AnsweredLeg, Centre, Slot, Unwritten, agent_state, now_ms};
use crate::dial;
use crate::switch::log::{self, Level};
use crate::switch::session::{LockedSession, originate_detached};

/// A fresh version-4 UUID for an agent leg (`origination_uuid`, `cc_agent_call_id`).
pub fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    for half in bytes.chunks_mut(8) {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        hasher.write_i64(now_ms());
        half.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Hangs up an agent leg nobody will bridge (a no-op when it is already gone).
pub fn hang_up_leg(uuid: &str, cause: HangupCause) {
    if let Some(leg) = LockedSession::locate(uuid) {
        let _ = leg.session().channel().hangup(cause.code);
    }
}

/// Why an agent did not take the call, as `missed` records it; `None` = the ring was
/// cancelled (the caller left or another leg won), which is no fault of the agent.
fn miss_reason(cause: u32) -> Option<&'static str> {
    use rustflow_engine::BridgeResult;
    if cause == causes::CALL_REJECTED.code {
        return Some("rejected");
    }
    match causes::bridge_result(cause) {
        BridgeResult::Busy => Some("busy"),
        BridgeResult::NoAnswer => Some("no_answer"),
        BridgeResult::Cancelled => None,
        BridgeResult::Answered | BridgeResult::Failed => Some("failed"),
    }
}

pub(super) fn target(contact: &AgentContact) -> BridgeTarget {
    match contact {
        AgentContact::User { extension, domain } => BridgeTarget::User {
            extension: extension.clone(),
            domain: domain.clone(),
        },
        AgentContact::Gateway { gateway, number } => BridgeTarget::Gateway {
            gateway: gateway.clone(),
            number: number.clone(),
        },
        AgentContact::Sip { profile, uri } => BridgeTarget::Sip {
            profile: Some(profile.clone()),
            uri: uri.clone(),
        },
    }
}

/// The originate request of an offer: one leg per agent (ring-all rings several at once).
fn request(slot: &Slot, offer: &Offer, uuids: &[String]) -> BridgeRequest {
    let context = &slot.context;
    let legs = offer
        .agents
        .iter()
        .zip(uuids)
        .map(|(agent, uuid)| BridgeLeg {
            target: target(&agent.contact),
            variables: vec![
                ("origination_uuid".to_string(), uuid.clone()),
                ("cc_agent_id".to_string(), agent.id.clone()),
            ],
            idle_only: false,
        })
        .collect();
    let mut variables = context.variables.clone();
    variables.extend([
        // As for bridge: originate's timeout, sent as `leg_timeout` too for `user/` legs,
        // which ring in a nested originate of their own (dial::build).
        (
            "call_timeout".to_string(),
            offer.ring_timeout_secs.to_string(),
        ),
        ("cc_side".to_string(), "agent".to_string()),
        ("cc_queue_id".to_string(), offer.queue_id.clone()),
        ("cc_attempt_id".to_string(), offer.attempt.to_string()),
        ("cc_member_session_uuid".to_string(), offer.call_id.clone()),
        // Only an answer counts: early media from a phone is not the agent taking the call.
        ("ignore_early_media".to_string(), "true".to_string()),
        (
            "origination_caller_id_number".to_string(),
            context.caller_number.clone(),
        ),
        (
            "origination_caller_id_name".to_string(),
            context.caller_name.clone(),
        ),
    ]);
    BridgeRequest {
        legs,
        strategy: BridgeStrategy::Simultaneous,
        variables,
        codecs: Vec::new(),
        send_on_answer: None,
        pickup: None,
    }
}

/// Rings the offer's agents and reports to the store, the events and the caller's slot.
pub fn run(centre: &Centre, slot: &Slot, offer: &Offer, uuids: &[String]) {
    let originated =
        dial::build(&request(slot, offer, uuids), &slot.context.domain).and_then(|plan| {
            let variables = crate::host::originate_variables(&plan)?;
            let timeout = u32::try_from(offer.ring_timeout_secs).unwrap_or(u32::MAX);
            originate_detached(&plan.dial_string, &variables, timeout, &slot.cancel)
                .map_err(|e| e.to_string())
        });
    let outcome = match originated {
        Ok(Ok(leg)) => {
            let session = leg.session();
            let uuid = session.uuid();
            let agent_id = session.channel().var("cc_agent_id");
            drop(leg);
            answered(centre, slot, offer, &uuids[0], uuid, agent_id)
        }
        Ok(Err(cause)) => match miss_reason(cause) {
            Some(reason) => missed(centre, offer, reason),
            None => RingOutcome::Missed {
                reason: "cancelled".to_string(),
            },
        },
        Err(e) => {
            log::global(
                Level::Error,
                &format!(
                    "rustflow: cannot ring the agents of attempt {} in queue {}: {e}",
                    offer.attempt, offer.queue_id
                ),
            );
            missed(centre, offer, "failed")
        }
    };
    if let RingOutcome::Missed { .. } = outcome {
        slot.post_ring(&uuids[0], outcome, None);
    }
}

/// The agent answered: the store decides whether the caller still wants it.
fn answered(
    centre: &Centre,
    slot: &Slot,
    offer: &Offer,
    offer_id: &str,
    leg_uuid: String,
    agent_id: Option<String>,
) -> RingOutcome {
    let agent: &OfferedAgent = agent_id
        .and_then(|id| offer.agents.iter().find(|a| a.id == id))
        .unwrap_or(&offer.agents[0]);
    match write_answer(centre, offer.attempt, &agent.id) {
        Ok(true) => {}
        Ok(false) => {
            hang_up_leg(&leg_uuid, causes::ORIGINATOR_CANCEL);
            return RingOutcome::Missed {
                reason: "the offer had ended".to_string(),
            };
        }
        Err(e) => {
            // Whether the answer was written is unknown: the agent's leg goes, and the
            // attempt is given back (`missed` also undoes a written answer), now or once the
            // store is back, so neither the caller nor the agent stays bridged to nobody.
            log::global(
                Level::Error,
                &format!("rustflow: attempt {}: {e}", offer.attempt),
            );
            hang_up_leg(&leg_uuid, causes::ORIGINATOR_CANCEL);
            return missed_agents(centre, offer, std::slice::from_ref(&agent.id), "failed");
        }
    }
    agent_state(&centre.node, &agent.id, "bridged");
    let leg = AnsweredLeg {
        uuid: leg_uuid.clone(),
        offer: agent_offer(agent, leg_uuid.clone()),
    };
    if !slot.post_ring(offer_id, RingOutcome::Answered, Some(leg)) {
        // The caller left after the store took the answer: nobody will bridge the leg.
        hang_up_leg(&leg_uuid, causes::ORIGINATOR_CANCEL);
    }
    RingOutcome::Answered
}

/// How long an agent who answered waits for the store to take the answer (it is idempotent,
/// so a retry after a lost reply is safe) before the offer is given up.
const ANSWER_PATIENCE: Duration = Duration::from_secs(2);

fn write_answer(centre: &Centre, attempt: i64, agent: &str) -> Result<bool, StoreError> {
    let started = Instant::now();
    loop {
        match centre.store.answered(attempt, agent, now_ms()) {
            Err(e) if started.elapsed() < ANSWER_PATIENCE => {
                log::global(
                    Level::Warning,
                    &format!("rustflow: attempt {attempt}: writing the answer of {agent}: {e}"),
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            written => return written,
        }
    }
}

/// Nobody answered: the agents rest (or pause at max no-answer); the caller keeps its place.
fn missed(centre: &Centre, offer: &Offer, reason: &str) -> RingOutcome {
    let ids: Vec<String> = offer.agents.iter().map(|a| a.id.clone()).collect();
    missed_agents(centre, offer, &ids, reason)
}

fn missed_agents(centre: &Centre, offer: &Offer, agents: &[String], reason: &str) -> RingOutcome {
    record_missed(
        centre,
        offer.attempt,
        &offer.queue_id,
        &offer.call_id,
        agents,
        reason,
    );
    RingOutcome::Missed {
        reason: reason.to_string(),
    }
}

/// Records a missed offer in the store and fires its events (`missed`, the agents' state,
/// `agent-status` for those paused at max no-answer).
pub fn record_missed(
    centre: &Centre,
    attempt: i64,
    queue_id: &str,
    call_id: &str,
    agents: &[String],
    reason: &str,
) {
    let attempt_text = attempt.to_string();
    match centre.store.missed(attempt, agents, reason, now_ms()) {
        Ok(paused) => {
            for id in agents {
                events::fire(
                    &centre.node,
                    "missed",
                    &[
                        ("CC-Queue-ID", queue_id),
                        ("CC-Attempt-ID", &attempt_text),
                        ("CC-Member-UUID", call_id),
                        ("CC-Agent-ID", id),
                        ("CC-Reason", reason),
                    ],
                );
                agent_state(&centre.node, id, "missed");
            }
            for p in paused {
                events::fire(
                    &centre.node,
                    "agent-status",
                    &[
                        ("CC-Agent-ID", &p.agent),
                        ("CC-Agent-Status", "pause"),
                        ("CC-Agent-Status-Reason", &p.reason),
                    ],
                );
            }
        }
        Err(e) => {
            log::global(
                Level::Error,
                &format!("rustflow: attempt {attempt}: recording the missed offer: {e}"),
            );
            centre.write_later(Unwritten::Missed {
                attempt,
                agents: agents.to_vec(),
                reason: reason.to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn causes_become_miss_reasons() {
        assert_eq!(miss_reason(causes::USER_BUSY.code), Some("busy"));
        assert_eq!(miss_reason(causes::NO_ANSWER.code), Some("no_answer"));
        assert_eq!(miss_reason(causes::CALL_REJECTED.code), Some("rejected"));
        assert_eq!(miss_reason(causes::ORIGINATOR_CANCEL.code), None);
        assert_eq!(miss_reason(causes::LOSE_RACE.code), None);
        assert_eq!(
            miss_reason(causes::NORMAL_TEMPORARY_FAILURE.code),
            Some("failed")
        );
    }
}
