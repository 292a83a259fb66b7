//! The node's dispatcher and the waiting callers it serves.
//!
//! One thread per node runs the janitor and a distributor pass whenever something changes
//! (a join, a leave, a ring that ended, a `rustflow cc` command: [`Centre::poke`]) and
//! otherwise sleeps until the next thing falls due (a rest or a lease that ends, a tier that
//! escalates, a caller's timer), with a slow safety tick behind. Each waiting caller has a
//! [`Slot`]: its session thread holds the caller (hold audio) until the dispatcher or a
//! ring thread posts something for it, and is woken by CF_BREAK, which ends the hold audio
//! within a frame. Only uuids cross threads; sessions are located where they are used.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::{Condvar, Mutex};
use rustflow_cc::distributor::Distributor;
use rustflow_cc::store::{AttemptState, Ms, NODE_LEASE_MS, Offer, Store};
use rustflow_engine::causes;
use rustflow_engine::{AgentOffer, RingOutcome};

use super::{events, outbound, ring};
use crate::switch::log::{self, Level};
use crate::switch::session::LockedSession;

/// The longest the dispatcher sleeps when nothing is due: a safety net, not the mechanism.
const SAFETY_TICK_MS: Ms = 2_000;

/// How often the node tells the store it is alive: a fifth of the lease after which other
/// nodes close its callers' attempts and free its agents.
pub const HEARTBEAT_MS: Ms = NODE_LEASE_MS / 5;

/// Unix milliseconds.
pub fn now_ms() -> Ms {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The contact centre of this node: the store, the dispatcher's state and the waiting
/// callers.
pub struct Centre {
    pub store: Box<dyn Store>,
    /// This node's name in the store (attempts record where their call is).
    pub node: String,
    hub: Mutex<Hub>,
    wake: Condvar,
    /// Ring and dialer threads still running (unload waits for them).
    rings: Mutex<usize>,
    /// Set to a hangup cause when the centre stops: outbound dials still ringing end with it.
    pub dial_cancel: AtomicU32,
    rings_done: Condvar,
}

#[derive(Default)]
struct Hub {
    callers: HashMap<String, Arc<Slot>>,
    /// Agent legs that hung up while talking to a caller (uuids), for the next round.
    agent_hangups: Vec<String>,
    /// What a caller's side could not write while the store was unreachable, retried each
    /// round until the store takes it, so no gone caller stays in line and no agent stays
    /// reserved.
    unwritten: Vec<Unwritten>,
    poked: bool,
    stop: bool,
    /// The last dispatcher error logged (the same one is not repeated every tick).
    last_error: Option<String>,
}

/// A caller's write the store could not take yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwritten {
    /// The caller left with `result`.
    Leave { attempt: i64, result: String },
    /// The offer to these agents ended without a conversation.
    Missed {
        attempt: i64,
        agents: Vec<String>,
        reason: String,
    },
}

impl std::fmt::Display for Unwritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unwritten::Leave { attempt, result } => {
                write!(f, "the leave ({result}) of attempt {attempt}")
            }
            Unwritten::Missed {
                attempt,
                agents,
                reason,
            } => write!(
                f,
                "the missed offer ({reason}) of attempt {attempt} to {}",
                agents.join(", ")
            ),
        }
    }
}

/// The dispatcher's heartbeat bookkeeping.
#[derive(Default)]
struct Heartbeat {
    /// When the next beat is due.
    next: Ms,
    /// The last beat the store took.
    last_ok: Option<Ms>,
    /// The last beat failed (logged once until one succeeds).
    failing: bool,
}

impl Centre {
    pub fn new(store: Box<dyn Store>, node: String) -> Centre {
        Centre {
            store,
            node,
            hub: Mutex::new(Hub::default()),
            wake: Condvar::new(),
            rings: Mutex::new(0),
            dial_cancel: AtomicU32::new(0),
            rings_done: Condvar::new(),
        }
    }

    /// Something changed: the dispatcher runs a pass now.
    pub fn poke(&self) {
        let mut hub = self.hub.lock();
        hub.poked = true;
        self.wake.notify_one();
    }

    /// An agent's leg hung up (reported from FreeSWITCH's thread that hung it up): if it was
    /// talking to a caller, the next round ends the conversation at once, so the agent is free
    /// for the next caller without waiting for the caller's bridge to unwind.
    pub fn agent_hung_up(&self, uuid: &str) {
        let mut hub = self.hub.lock();
        hub.agent_hangups.push(uuid.to_string());
        hub.poked = true;
        self.wake.notify_one();
    }

    /// A caller's write the store refused (unreachable): the dispatcher writes it once the
    /// store is back.
    pub fn write_later(&self, write: Unwritten) {
        let mut hub = self.hub.lock();
        hub.unwritten.push(write);
        hub.poked = true;
        self.wake.notify_one();
    }

    /// True once [`Centre::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.hub.lock().stop
    }

    /// Registers a caller about to join; `None` if the call already waits in a queue.
    pub fn register(&self, call_id: &str, context: CallContext) -> Option<Arc<Slot>> {
        let mut hub = self.hub.lock();
        if hub.callers.contains_key(call_id) {
            return None;
        }
        let slot = Arc::new(Slot {
            call_id: call_id.to_string(),
            context,
            cancel: AtomicU32::new(0),
            inner: Mutex::new(SlotInner::default()),
            posted: Condvar::new(),
        });
        hub.callers.insert(call_id.to_string(), slot.clone());
        Some(slot)
    }

    pub fn unregister(&self, call_id: &str) {
        self.hub.lock().callers.remove(call_id);
    }

    fn slot(&self, call_id: &str) -> Option<Arc<Slot>> {
        self.hub.lock().callers.get(call_id).cloned()
    }

    /// The waiting callers now (taken out of the hub's lock before their slots are locked).
    fn slots(&self) -> Vec<Arc<Slot>> {
        self.hub.lock().callers.values().cloned().collect()
    }

    /// Stops the dispatcher loop ([`Centre::run`] returns), ends the outbound dials still
    /// ringing, and waits up to `patience` for ring and dialer threads.
    pub fn stop(&self, patience: Duration) -> usize {
        {
            let mut hub = self.hub.lock();
            hub.stop = true;
            self.wake.notify_one();
        }
        self.dial_cancel.store(
            causes::ORIGINATOR_CANCEL.code,
            std::sync::atomic::Ordering::SeqCst,
        );
        let mut rings = self.rings.lock();
        if *rings > 0 {
            self.rings_done.wait_for(&mut rings, patience);
        }
        *rings
    }

    pub(super) fn ring_started(&self) {
        *self.rings.lock() += 1;
    }

    pub(super) fn ring_finished(&self) {
        let mut rings = self.rings.lock();
        *rings = rings.saturating_sub(1);
        if *rings == 0 {
            self.rings_done.notify_all();
        }
    }

    /// The dispatcher thread's loop.
    pub fn run(self: &Arc<Self>) {
        let seed = u64::try_from(now_ms()).unwrap_or(1);
        let mut distributor = Distributor::new(seed);
        let mut dialer = outbound::Dialer::default();
        let mut beat = Heartbeat::default();
        loop {
            let now = now_ms();
            let next_beat = self.heartbeat(&mut beat, now);
            let next = self
                .dispatch(&mut distributor, &mut dialer, now)
                .map_or(next_beat, |due| due.min(next_beat));
            let mut hub = self.hub.lock();
            if hub.stop {
                return;
            }
            if !hub.poked {
                let wait = (next - now_ms()).clamp(0, SAFETY_TICK_MS);
                if wait > 0 {
                    self.wake
                        .wait_for(&mut hub, Duration::from_millis(wait.unsigned_abs()));
                }
            }
            hub.poked = false;
            if hub.stop {
                return;
            }
        }
    }

    /// Tells the store this node is alive when a beat is due; returns when the next is.
    /// After a silence longer than the lease (the store was unreachable, or this thread
    /// stalled) other nodes may have closed this node's callers as lost: each caller whose
    /// attempt the store closed is told so, instead of holding for an offer that cannot come.
    fn heartbeat(&self, beat: &mut Heartbeat, now: Ms) -> Ms {
        if now < beat.next {
            return beat.next;
        }
        match self.store.heartbeat(&self.node, now) {
            Ok(()) => {
                if beat.failing {
                    log::global(
                        Level::Notice,
                        &format!(
                            "rustflow: contact-centre heartbeat of node {} is back",
                            self.node
                        ),
                    );
                    beat.failing = false;
                }
                let silent = beat.last_ok.is_some_and(|t| now - t > NODE_LEASE_MS);
                beat.last_ok = Some(now);
                if silent {
                    self.reconcile_callers();
                }
            }
            // Once per outage, not every second.
            Err(e) if !beat.failing => {
                beat.failing = true;
                log::global(
                    Level::Warning,
                    &format!(
                        "rustflow: contact-centre heartbeat of node {}: {e}",
                        self.node
                    ),
                );
            }
            Err(_) => {}
        }
        beat.next = now + HEARTBEAT_MS;
        beat.next
    }

    /// Tells the callers whose attempts the store closed behind this node's back.
    fn reconcile_callers(&self) {
        for slot in self.slots() {
            let Some(attempt) = slot.attempt() else {
                continue;
            };
            if let Ok(Some(record)) = self.store.attempt(attempt)
                && record.state == AttemptState::Left
            {
                let result = record.result.unwrap_or_else(|| "error".to_string());
                log::global(
                    Level::Warning,
                    &format!(
                        "rustflow: attempt {attempt} of call {} was closed ({result}) while this node was silent",
                        slot.call_id
                    ),
                );
                slot.post_left(attempt, &result);
            }
        }
    }

    /// One round: what is due, the callers' timers, a distributor pass. Returns when the
    /// next round is due.
    fn dispatch(
        self: &Arc<Self>,
        distributor: &mut Distributor,
        dialer: &mut outbound::Dialer,
        now: Ms,
    ) -> Option<Ms> {
        let mut next: Option<Ms> = None;
        let mut soonest = |t: Option<Ms>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Ms| n.min(t)));
            }
        };
        let result = (|| -> Result<(), String> {
            self.write_unwritten(now)?;
            self.end_conversations(now)?;
            let janitor = self.store.janitor(now).map_err(|e| e.to_string())?;
            for (attempt, call_id, _node, result) in &janitor.closed {
                if let Some(slot) = self.slot(call_id) {
                    slot.post_left(*attempt, result);
                }
                let attempt = attempt.to_string();
                events::fire(
                    &self.node,
                    "leave",
                    &[
                        ("CC-Attempt-ID", &attempt),
                        ("CC-Member-UUID", call_id),
                        ("CC-Result", result),
                    ],
                );
            }
            let callers = self.slots();
            for (attempt, agents) in &janitor.expired_offers {
                // The ring thread never reported (it should within the ring timeout): the
                // caller must not wait for it for ever.
                if let Some(slot) = callers.iter().find(|s| s.is_attempt(*attempt)) {
                    slot.expire_ring();
                }
                log::global(
                    Level::Warning,
                    &format!(
                        "rustflow: the offer of attempt {attempt} to {} outlived its lease and was ended",
                        agents.join(", ")
                    ),
                );
                for agent in agents {
                    agent_state(&self.node, agent, "waiting");
                }
            }
            for agent in &janitor.rested {
                agent_state(&self.node, agent, "waiting");
            }
            // Outbound attempts nobody gave an outcome (no after-attempt flow answered, no
            // wrap-up result, or their node went away): the store wrote the default.
            for after in &janitor.outbound_defaults {
                outbound::fire_outcome(&self.node, after, None);
            }
            for member in &janitor.expired_members {
                events::fire(
                    &self.node,
                    "member-expired",
                    &[("CC-Member-ID", &member.to_string())],
                );
            }
            for (node, closed) in &janitor.lost_nodes {
                log::global(
                    Level::Warning,
                    &format!(
                        "rustflow: contact-centre node {node} stopped its heartbeat: its {closed} open attempts are closed and its agents free"
                    ),
                );
            }
            for slot in &callers {
                soonest(slot.timer(now));
            }
            // Claims only for the callers waiting here; other nodes claim for theirs.
            let here: std::collections::HashSet<i64> =
                callers.iter().filter_map(|slot| slot.attempt()).collect();
            let pass = distributor
                .pass_for(&self.store, now, &|a| here.contains(&a.id))
                .map_err(|e| e.to_string())?;
            soonest(pass.next_wake);
            for offer in pass.offers {
                self.offer(offer);
            }
            // After the callers waiting now were served: what is left of the free agents
            // paces the outbound queues.
            dialer.round(self, now)?;
            soonest(self.store.next_due(now).map_err(|e| e.to_string())?);
            Ok(())
        })();
        let mut hub = self.hub.lock();
        match result {
            Ok(()) => hub.last_error = None,
            Err(e) => {
                if hub.last_error.as_deref() != Some(e.as_str()) {
                    log::global(
                        Level::Error,
                        &format!("rustflow: contact-centre dispatcher: {e}"),
                    );
                }
                hub.last_error = Some(e);
            }
        }
        next
    }

    /// Writes what the store refused before, oldest first; stops at the first refusal (the
    /// store is still down: the round fails and the next one retries).
    fn write_unwritten(&self, now: Ms) -> Result<(), String> {
        let pending = std::mem::take(&mut self.hub.lock().unwritten);
        let mut left = pending.into_iter();
        while let Some(write) = left.next() {
            let written = match &write {
                Unwritten::Leave { attempt, result } => {
                    self.store.leave(*attempt, result, now).map(|_| ())
                }
                Unwritten::Missed {
                    attempt,
                    agents,
                    reason,
                } => self.store.missed(*attempt, agents, reason, now).map(|_| ()),
            };
            if let Err(e) = written {
                let mut hub = self.hub.lock();
                let newer = std::mem::take(&mut hub.unwritten);
                let message = format!("writing {write}: {e}");
                hub.unwritten = std::iter::once(write).chain(left).chain(newer).collect();
                return Err(message);
            }
            log::global(Level::Notice, &format!("rustflow: {write} is written now"));
        }
        Ok(())
    }

    /// Ends the conversations whose agent leg hung up (the caller's `leave` later finds the
    /// attempt closed and keeps its result).
    fn end_conversations(&self, now: Ms) -> Result<(), String> {
        let hangups = std::mem::take(&mut self.hub.lock().agent_hangups);
        if hangups.is_empty() {
            return Ok(());
        }
        let callers = self.slots();
        for uuid in hangups {
            let Some((attempt, agent)) = callers.iter().find_map(|slot| slot.talking_with(&uuid))
            else {
                continue;
            };
            self.store
                .leave(attempt, "success", now)
                .map_err(|e| e.to_string())?;
            agent_state(&self.node, &agent, "wrap_time");
        }
        Ok(())
    }

    /// A won reservation: tell the caller and ring the agents at once.
    fn offer(self: &Arc<Self>, offer: Offer) {
        let Some(slot) = self.slot(&offer.call_id) else {
            // The caller left between the pass's read and its claim (the pass claims only for
            // callers waiting here): its leave releases the agents, or the lease ends the offer.
            log::global(
                Level::Debug,
                &format!(
                    "rustflow: attempt {} was offered but its call {} waits on no queue here",
                    offer.attempt, offer.call_id
                ),
            );
            return;
        };
        let uuids: Vec<String> = offer.agents.iter().map(|_| ring::new_uuid()).collect();
        let Some(first) = offer.agents.first() else {
            return;
        };
        let shown = rustflow_cc::engine_host::agent_offer(first, uuids[0].clone());
        if !slot.post_offer(offer.attempt, shown) {
            return;
        }
        let attempt = offer.attempt.to_string();
        for (agent, uuid) in offer.agents.iter().zip(&uuids) {
            events::fire(
                &self.node,
                "offer",
                &[
                    ("CC-Queue-ID", &offer.queue_id),
                    ("CC-Attempt-ID", &attempt),
                    ("CC-Member-UUID", &offer.call_id),
                    ("CC-Agent-ID", &agent.id),
                    ("CC-Agent-Name", &agent.name),
                    ("CC-Agent-UUID", uuid),
                ],
            );
            agent_state(&self.node, &agent.id, "offering");
        }
        self.ring_started();
        let centre = self.clone();
        let spawned = std::thread::Builder::new()
            .name("rustflow-ring".to_string())
            .spawn(move || {
                let rung = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ring::run(&centre, &slot, &offer, &uuids);
                }));
                if rung.is_err() {
                    log::global(
                        Level::Critical,
                        &format!(
                            "rustflow: ringing the agents of attempt {} panicked",
                            offer.attempt
                        ),
                    );
                    slot.expire_ring();
                }
                centre.ring_finished();
                centre.poke();
            });
        if let Err(e) = spawned {
            self.ring_finished();
            log::global(
                Level::Error,
                &format!("rustflow: cannot start a thread to ring an agent: {e}"),
            );
        }
    }
}

/// `agent-state` event.
pub fn agent_state(node: &str, agent: &str, state: &str) {
    events::fire(
        node,
        "agent-state",
        &[("CC-Agent-ID", agent), ("CC-Agent-State", state)],
    );
}

/// What the ring thread needs to know about the caller, fixed at join.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// Domain of `user/EXT` agents without one of their own.
    pub domain: String,
    pub caller_number: String,
    pub caller_name: String,
    /// Variables carried to the agent leg.
    pub variables: Vec<(String, String)>,
}

/// The agent leg that answered and waits (idle) to be bridged.
#[derive(Debug, Clone)]
pub struct AnsweredLeg {
    pub uuid: String,
    pub offer: AgentOffer,
}

/// A waiting caller, shared by its session thread, the dispatcher and its ring thread.
pub struct Slot {
    pub call_id: String,
    pub context: CallContext,
    /// The ring's cancel cause: the caller's thread sets ORIGINATOR_CANCEL when it leaves.
    pub cancel: AtomicU32,
    inner: Mutex<SlotInner>,
    /// Wakes a waiter with no session ([`Slot::wait_for`]).
    posted: Condvar,
}

#[derive(Default)]
struct SlotInner {
    attempt: Option<i64>,
    /// The caller's thread is in the hold loop (a post must break its audio).
    holding: bool,
    /// The flow's next timer (queue_wait's `until`), and whether it came.
    timer_at: Option<Ms>,
    timer_due: bool,
    offers: VecDeque<AgentOffer>,
    /// The offer being rung (its `agent_call_id`), and the result of the last one that
    /// ended, with its id: the caller takes the result of the offer it rings, never a stale one.
    ringing: Option<String>,
    rung: Option<(String, RingOutcome)>,
    left: Option<String>,
    answered: Option<AnsweredLeg>,
    /// The agent leg the caller is bridged to (uuid, agent id), while they talk.
    talking: Option<(String, String)>,
    closed: bool,
}

/// What the caller's hold loop waits for.
pub enum Wake {
    Timer,
    Offer(AgentOffer),
    Left(String),
}

impl Slot {
    /// Wakes the caller's thread if it holds (called with the slot locked, so the caller
    /// cannot be between its check and its play unseen).
    fn wake(&self, inner: &SlotInner) {
        self.posted.notify_all();
        if inner.holding
            && let Some(caller) = LockedSession::locate(&self.call_id)
        {
            caller.session().channel().request_break();
        }
    }

    pub fn set_attempt(&self, attempt: i64) {
        self.inner.lock().attempt = Some(attempt);
    }

    fn post_left(&self, attempt: i64, result: &str) {
        let mut inner = self.inner.lock();
        if inner.closed || inner.attempt.is_some_and(|a| a != attempt) {
            return;
        }
        inner.left = Some(result.to_string());
        self.wake(&inner);
    }

    fn attempt(&self) -> Option<i64> {
        self.inner.lock().attempt
    }

    fn is_attempt(&self, attempt: i64) -> bool {
        self.inner.lock().attempt == Some(attempt)
    }

    /// False when the caller has already left (its leave frees the agents).
    fn post_offer(&self, attempt: i64, offer: AgentOffer) -> bool {
        let mut inner = self.inner.lock();
        if inner.closed || inner.attempt.is_some_and(|a| a != attempt) {
            return false;
        }
        inner.attempt = Some(attempt);
        inner.ringing = Some(offer.agent_call_id.clone());
        self.cancel.store(0, std::sync::atomic::Ordering::SeqCst);
        inner.offers.push_back(offer);
        self.wake(&inner);
        true
    }

    /// The ring of offer `offer_id` ended. With an answered leg: false when nobody will
    /// bridge it (the caller left, or the offer was given up), so the leg is the ring
    /// thread's to hang up.
    pub(super) fn post_ring(
        &self,
        offer_id: &str,
        outcome: RingOutcome,
        answered: Option<AnsweredLeg>,
    ) -> bool {
        let mut inner = self.inner.lock();
        if inner.closed || inner.ringing.as_deref() != Some(offer_id) {
            return false;
        }
        inner.ringing = None;
        inner.answered = answered;
        inner.rung = Some((offer_id.to_string(), outcome));
        self.wake(&inner);
        true
    }

    /// The ring in progress will never report (its lease expired, or its thread died):
    /// the caller goes on as after a missed offer.
    fn expire_ring(&self) {
        let ringing = self.inner.lock().ringing.clone();
        if let Some(offer_id) = ringing {
            let missed = RingOutcome::Missed {
                reason: "the offer's lease expired".to_string(),
            };
            self.post_ring(&offer_id, missed, None);
        }
    }

    /// Marks a timer due when its time has come; returns when the next one is due.
    fn timer(&self, now: Ms) -> Option<Ms> {
        let mut inner = self.inner.lock();
        match inner.timer_at {
            Some(at) if at <= now => {
                inner.timer_at = None;
                inner.timer_due = true;
                self.wake(&inner);
                None
            }
            other => other,
        }
    }

    /// Sets the flow's next timer for the coming wait.
    pub fn set_timer(&self, at: Option<Ms>) {
        let mut inner = self.inner.lock();
        inner.timer_at = at;
        inner.timer_due = false;
    }

    /// The hold loop's check: takes what `take` wants if it was posted; otherwise marks the
    /// caller as holding, so the next post breaks its hold audio.
    pub fn check<T>(&self, take: impl FnOnce(&mut SlotInnerView<'_>) -> Option<T>) -> Option<T> {
        let mut inner = self.inner.lock();
        let taken = take(&mut SlotInnerView { inner: &mut inner });
        inner.holding = taken.is_none();
        taken
    }

    /// A waiter with no session (the dialer's thread of an agent-first outbound attempt):
    /// blocks until `take` finds what it waits for, or until `deadline` (then `None`).
    pub fn wait_for<T>(
        &self,
        deadline: Instant,
        mut take: impl FnMut(&mut SlotInnerView<'_>) -> Option<T>,
    ) -> Option<T> {
        let mut inner = self.inner.lock();
        loop {
            if let Some(found) = take(&mut SlotInnerView { inner: &mut inner }) {
                return Some(found);
            }
            if self.posted.wait_until(&mut inner, deadline).timed_out() {
                return take(&mut SlotInnerView { inner: &mut inner });
            }
        }
    }

    /// The caller's thread left the hold loop without taking anything.
    pub fn stop_holding(&self) {
        self.inner.lock().holding = false;
    }

    /// Closes the slot for good: no more posts. Returns the answered leg nobody bridged (the
    /// caller's to hang up) and whether agents still ring (to cancel).
    pub fn close(&self) -> (Option<AnsweredLeg>, bool) {
        let mut inner = self.inner.lock();
        inner.closed = true;
        inner.holding = false;
        (inner.answered.take(), inner.ringing.take().is_some())
    }

    /// The caller gave up while its agents ring: originate (and the nested originate of a
    /// `user/` leg, which is handed the same cause) stops within a frame.
    pub fn cancel_ring(&self) {
        self.cancel.store(
            causes::ORIGINATOR_CANCEL.code,
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The caller is (`Some`: leg uuid, agent id) or is no longer (`None`) bridged to an agent.
    pub fn set_talking(&self, talking: Option<(String, String)>) {
        self.inner.lock().talking = talking;
    }

    /// The attempt and agent, if this caller talks to the agent leg `uuid`; only once (a leg
    /// reports every state it passes on its way down).
    fn talking_with(&self, uuid: &str) -> Option<(i64, String)> {
        let mut inner = self.inner.lock();
        let attempt = inner.attempt?;
        match inner.talking.take() {
            Some((leg, agent)) if leg == uuid => Some((attempt, agent)),
            other => {
                inner.talking = other;
                None
            }
        }
    }

    /// The agent whose leg answered (not taken: the leg stays for bridging).
    pub fn answered_offer(&self) -> Option<AgentOffer> {
        self.inner
            .lock()
            .answered
            .as_ref()
            .map(|leg| leg.offer.clone())
    }

    /// Takes the answered leg for bridging (so a later leave does not hang it up).
    pub fn take_answered(&self) -> Option<AnsweredLeg> {
        self.inner.lock().answered.take()
    }
}

/// What the hold loop may take from its slot.
pub struct SlotInnerView<'a> {
    inner: &'a mut SlotInner,
}

impl SlotInnerView<'_> {
    /// An offer, the queue's end of the wait, or the timer, in that order.
    pub fn take_wake(&mut self) -> Option<Wake> {
        if let Some(offer) = self.inner.offers.pop_front() {
            return Some(Wake::Offer(offer));
        }
        if let Some(result) = self.inner.left.take() {
            return Some(Wake::Left(result));
        }
        if std::mem::take(&mut self.inner.timer_due) {
            return Some(Wake::Timer);
        }
        None
    }

    /// The result of the ring of offer `offer_id`.
    pub fn take_ring(&mut self, offer_id: &str) -> Option<RingOutcome> {
        match &self.inner.rung {
            Some((id, _)) if id == offer_id => self.inner.rung.take().map(|(_, outcome)| outcome),
            _ => None,
        }
    }
}
