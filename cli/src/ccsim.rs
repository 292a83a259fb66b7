//! `rustflow run --cc SETUP.json`: the simulated call's queue applications on the real
//! contact-centre core (an in-memory store, the distributor, the janitor) with scripted
//! agents and, optionally, other callers already waiting, all on the simulator's clock.
//!
//! The setup file:
//! ```json
//! {"setup": "setup.json" (an import file, relative to this one) or the import file inline,
//!  "agents": {"a1": {"answer_after_secs": 3, "talk_secs": 60},
//!             "a2": {"answers": "no"}, "a3": {"answers": "reject"}},
//!  "offline": ["a4"], "pause": {"a5": "lunch"},
//!  "waiting": [{"queue": "sales", "count": 2, "priority": 0}],
//!  "customers": {"+380441234567": {"answers": ["busy", "yes"], "answer_after_secs": 5,
//!                                  "talk_secs": 60}},
//!  "dialer": {"horizon_secs": 3600}}
//! ```
//! Agents not listed answer after 2 s and talk 60 s; every agent is online unless listed
//! under `offline` or `pause`. `waiting` callers join just before the simulated caller
//! (or before its first member request); their offers are answered by the agents' scripts
//! too. `customers` script the members the simulated dialer calls (by destination; one
//! answer per attempt, the last one repeating); customers not listed answer after 5 s and
//! talk 60 s. After the call, the dialer runs for `dialer.horizon_secs` (1 h) at most
//! (cli/src/dialsim.rs).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use rustflow_cc::distributor::Distributor;
use rustflow_cc::engine_host::outbound;
use rustflow_cc::engine_host::{self, Caller, failed};
use rustflow_cc::model::{FieldError, Setup, from_value};
use rustflow_cc::store::sqlite::SqliteStore;
use rustflow_cc::store::{AgentStatus, JoinOutcome, JoinRequest, MemberAfter, Offer, Store, diff};
use rustflow_engine::sim::{SimCaller, SimQueues};
use rustflow_engine::{
    AgentCounts, AgentOffer, AttemptDecision, AttemptResultRequest, BridgedCall, CallbackRequest,
    CcRef, EwtQuery, HostError, HostResult, LastBridgedQuery, MemberFacts, MemberQuery,
    MembersPatch, MetricQuery, QueueEvent, QueueJoin, QueueJoinOutcome, RingOutcome,
};
use serde::Deserialize;

/// How a scripted agent treats an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Answers {
    #[default]
    Yes,
    /// Rings until the queue's ring timeout.
    No,
    /// Rejects after 1 s.
    Reject,
    /// Busy at once.
    Busy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentScript {
    #[serde(default)]
    pub(crate) answers: Answers,
    #[serde(default = "two")]
    pub(crate) answer_after_secs: u64,
    #[serde(default = "sixty")]
    pub(crate) talk_secs: u64,
}

/// How a scripted customer treats the dialer's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CustomerAnswer {
    /// Answers after `answer_after_secs` and talks `talk_secs`.
    Yes,
    /// Rings until the queue's dial timeout.
    No,
    /// Busy at once.
    Busy,
    /// Rejects after 1 s.
    Reject,
}

/// A member's phone, by destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CustomerScript {
    /// One answer per attempt, the last one repeating (`"yes"` or `["busy", "yes"]`).
    #[serde(default = "answers_yes", deserialize_with = "one_or_many")]
    pub(crate) answers: Vec<CustomerAnswer>,
    #[serde(default = "five")]
    pub(crate) answer_after_secs: u64,
    #[serde(default = "sixty")]
    pub(crate) talk_secs: u64,
}

impl Default for CustomerScript {
    fn default() -> Self {
        CustomerScript {
            answers: answers_yes(),
            answer_after_secs: 5,
            talk_secs: 60,
        }
    }
}

impl CustomerScript {
    /// The answer to the `n`th call (0 = first).
    pub(crate) fn answer(&self, n: usize) -> CustomerAnswer {
        self.answers
            .get(n)
            .or(self.answers.last())
            .copied()
            .unwrap_or(CustomerAnswer::Yes)
    }
}

fn answers_yes() -> Vec<CustomerAnswer> {
    vec![CustomerAnswer::Yes]
}

fn five() -> u64 {
    5
}

/// `"busy"` or `["busy", "yes"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<CustomerAnswer>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let texts = match OneOrMany::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom("expected one of yes, no, busy, reject or an array of them")
    })? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    };
    if texts.is_empty() {
        return Err(serde::de::Error::custom("expected at least one answer"));
    }
    texts
        .iter()
        .map(|text| match text.as_str() {
            "yes" => Ok(CustomerAnswer::Yes),
            "no" => Ok(CustomerAnswer::No),
            "busy" => Ok(CustomerAnswer::Busy),
            "reject" => Ok(CustomerAnswer::Reject),
            other => Err(serde::de::Error::custom(format!(
                "`{other}` is not one of yes, no, busy, reject"
            ))),
        })
        .collect()
}

/// How long the simulated dialer runs after the call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DialerSettings {
    #[serde(default = "hour")]
    pub(crate) horizon_secs: u64,
}

impl Default for DialerSettings {
    fn default() -> Self {
        DialerSettings {
            horizon_secs: hour(),
        }
    }
}

fn hour() -> u64 {
    3600
}

fn two() -> u64 {
    2
}
fn sixty() -> u64 {
    60
}

impl Default for AgentScript {
    fn default() -> Self {
        AgentScript {
            answers: Answers::Yes,
            answer_after_secs: 2,
            talk_secs: 60,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Waiting {
    queue: String,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    priority: i64,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupFile {
    /// The import file inline, or its path relative to this file.
    setup: serde_json::Value,
    #[serde(default)]
    agents: BTreeMap<String, AgentScript>,
    #[serde(default)]
    offline: Vec<String>,
    #[serde(default)]
    pause: BTreeMap<String, String>,
    #[serde(default)]
    waiting: Vec<Waiting>,
    #[serde(default)]
    customers: BTreeMap<String, CustomerScript>,
    #[serde(default)]
    dialer: DialerSettings,
}

/// What happens to another caller's offer, and when.
#[derive(Debug)]
enum Pending {
    RingEnd {
        at: i64,
        offer: Offer,
        answered: bool,
    },
    Hangup {
        at: i64,
        attempt: i64,
        /// Who talks: (caller's call id, queue, agent), for the dialer's transcript.
        who: (String, String, String),
    },
}

impl Pending {
    fn at(&self) -> i64 {
        match self {
            Pending::RingEnd { at, .. } | Pending::Hangup { at, .. } => *at,
        }
    }
}

/// The contact centre of one simulated run.
pub struct CcSim {
    /// Shared with the simulated dialer, which reads and writes it between the CcSim's turns.
    pub(crate) store: Rc<SqliteStore>,
    distributor: Distributor,
    scripts: BTreeMap<String, AgentScript>,
    waiting: Vec<Waiting>,
    /// The simulated caller's attempt.
    attempt: Option<i64>,
    /// The agent the simulated caller talks to.
    talking: Option<String>,
    /// Offers of the simulated caller not yet handed over, and other callers' pending events.
    mine: Vec<Offer>,
    others: Vec<Pending>,
    offer_agents: BTreeMap<String, Vec<String>>,
    pub(crate) customers: BTreeMap<String, CustomerScript>,
    pub(crate) dialer: DialerSettings,
    /// The simulated dialer's attempts: their offers, closes and default outcomes go to it.
    pub(crate) outbound: BTreeSet<i64>,
    pub(crate) outbound_offers: Vec<Offer>,
    pub(crate) outbound_closed: Vec<(i64, String)>,
    pub(crate) outbound_defaults: Vec<MemberAfter>,
    /// While the dialer runs: what happens to the other callers (time, call id, queue, what),
    /// so its transcript shows why agents are busy.
    pub(crate) others_log: Option<Vec<(i64, String, String, String)>>,
}

impl std::fmt::Debug for CcSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CcSim")
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl CcSim {
    /// Reads the setup file and provisions a fresh in-memory store at `now_ms`.
    pub fn load(path: &str, text: &str, now_ms: i64) -> Result<CcSim, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("{path}: not JSON: {e}"))?;
        let file: SetupFile = from_value(&value).map_err(|e: FieldError| format!("{path}: {e}"))?;
        let (setup_name, setup_value) = match &file.setup {
            serde_json::Value::String(name) => {
                let full = std::path::Path::new(path)
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(name);
                let shown = full.display().to_string();
                let text = std::fs::read_to_string(&full)
                    .map_err(|e| format!("{path}: setup: {shown}: {e}"))?;
                let v =
                    serde_json::from_str(&text).map_err(|e| format!("{shown}: not JSON: {e}"))?;
                (shown, v)
            }
            inline => (format!("{path}: setup"), inline.clone()),
        };
        let mut setup: Setup =
            from_value(&setup_value).map_err(|e| format!("{setup_name}: {e}"))?;
        setup.validate().map_err(|e| format!("{setup_name}: {e}"))?;
        for (what, ids) in [
            ("agents", file.agents.keys().cloned().collect::<Vec<_>>()),
            ("offline", file.offline.clone()),
            ("pause", file.pause.keys().cloned().collect()),
        ] {
            if let Some(id) = ids
                .iter()
                .find(|id| !setup.agents.iter().any(|a| &a.id == *id))
            {
                return Err(format!("{path}: {what}: no agent `{id}` in the setup"));
            }
        }
        let store = SqliteStore::in_memory().map_err(|e| e.to_string())?;
        store
            .apply(&diff(&Setup::default(), &setup))
            .map_err(|e| format!("{path}: {e}"))?;
        for agent in &setup.agents {
            let (status, reason) = if file.offline.contains(&agent.id) {
                (AgentStatus::Offline, None)
            } else if let Some(reason) = file.pause.get(&agent.id) {
                (AgentStatus::Pause, Some(reason.as_str()))
            } else {
                (AgentStatus::Online, None)
            };
            store
                .set_agent_status(&agent.id, status, reason, now_ms)
                .map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(CcSim {
            store: Rc::new(store),
            distributor: Distributor::new(1),
            scripts: file.agents,
            waiting: file.waiting,
            attempt: None,
            talking: None,
            mine: Vec::new(),
            others: Vec::new(),
            offer_agents: BTreeMap::new(),
            customers: file.customers,
            dialer: file.dialer,
            outbound: BTreeSet::new(),
            outbound_offers: Vec::new(),
            outbound_closed: Vec::new(),
            outbound_defaults: Vec::new(),
            others_log: None,
        })
    }

    /// Callers the setup says are already waiting join just before `now_ms` (the simulated
    /// caller's join or first member request, or the dialer's start), once.
    pub(crate) fn join_waiting(&mut self, now_ms: i64) -> HostResult<()> {
        let waiting: Vec<Waiting> = std::mem::take(&mut self.waiting);
        let callers: Vec<&Waiting> = waiting
            .iter()
            .flat_map(|w| (0..w.count).map(move |_| w))
            .collect();
        for (n, w) in callers.iter().enumerate() {
            let request = JoinRequest {
                queue: w.queue.clone(),
                call_id: format!("waiting-{}", n + 1),
                caller_number: format!("waiting-{}", n + 1),
                node: "simulator".into(),
                priority: w.priority,
                variables: "{}".into(),
                ..JoinRequest::default()
            };
            // One second apart, the last one a second before the simulated caller.
            let at = now_ms - 1000 * (callers.len() - n) as i64;
            if let JoinOutcome::Refused { result, reason } =
                self.store.join(&request, at).map_err(failed)?
            {
                return Err(HostError::Failed(format!(
                    "a waiting caller of the setup could not join `{}`: {result} ({reason})",
                    w.queue
                )));
            }
        }
        Ok(())
    }

    fn note_other(&mut self, now: i64, call_id: &str, queue: &str, what: String) {
        if let Some(log) = &mut self.others_log {
            log.push((now, call_id.to_string(), queue.to_string(), what));
        }
    }

    pub(crate) fn script(&self, agent: &str) -> AgentScript {
        self.scripts.get(agent).cloned().unwrap_or_default()
    }

    /// The janitor, the other callers' due events, then a distributor pass, at `now`.
    pub(crate) fn run_due(&mut self, now: i64) -> HostResult<Option<QueueEvent>> {
        let mut due: Vec<Pending> = Vec::new();
        self.others.retain_mut(|p| {
            if p.at() <= now {
                due.push(std::mem::replace(
                    p,
                    Pending::Hangup {
                        at: i64::MAX,
                        attempt: 0,
                        who: Default::default(),
                    },
                ));
                false
            } else {
                true
            }
        });
        due.sort_by_key(Pending::at);
        for p in due {
            match p {
                Pending::RingEnd {
                    offer, answered, ..
                } => {
                    let agent = offer.agents[0].id.clone();
                    if answered
                        && self
                            .store
                            .answered(offer.attempt, &agent, now)
                            .map_err(failed)?
                    {
                        let talk = self.script(&agent).talk_secs as i64 * 1000;
                        self.note_other(
                            now,
                            &offer.call_id,
                            &offer.queue_id,
                            format!("agent {agent} answers: bridged"),
                        );
                        self.others.push(Pending::Hangup {
                            at: now + talk,
                            attempt: offer.attempt,
                            who: (offer.call_id.clone(), offer.queue_id.clone(), agent),
                        });
                    } else if !answered {
                        let ids: Vec<String> = offer.agents.iter().map(|a| a.id.clone()).collect();
                        self.note_other(
                            now,
                            &offer.call_id,
                            &offer.queue_id,
                            format!("agent {agent} missed: no_answer"),
                        );
                        self.store
                            .missed(offer.attempt, &ids, "no_answer", now)
                            .map_err(failed)?;
                    }
                }
                Pending::Hangup { attempt, who, .. } => {
                    let result = self.store.leave(attempt, "success", now).map_err(failed)?;
                    self.note_other(
                        now,
                        &who.0,
                        &who.1,
                        format!("talked to agent {}: leave {result}", who.2),
                    );
                }
            }
        }
        let janitor = self.store.janitor(now).map_err(failed)?;
        for (attempt, call_id, _, result) in &janitor.closed {
            if self.outbound.contains(attempt) {
                self.outbound_closed.push((*attempt, result.clone()));
            } else if Some(*attempt) != self.attempt && self.others_log.is_some() {
                let queue = self
                    .store
                    .attempt(*attempt)
                    .map_err(failed)?
                    .map(|a| a.queue_id)
                    .unwrap_or_default();
                self.note_other(
                    now,
                    call_id,
                    &queue,
                    format!("closed by the queue: {result}"),
                );
            }
        }
        self.outbound_defaults
            .extend(janitor.outbound_defaults.iter().cloned());
        let mut event = None;
        if let Some(mine) = self.attempt
            && let Some((_, _, _, result)) = janitor.closed.iter().find(|(id, ..)| *id == mine)
        {
            event = Some(QueueEvent::Left {
                result: result.clone(),
            });
        }
        let pass = self.distributor.pass(&*self.store, now).map_err(failed)?;
        for offer in pass.offers {
            if Some(offer.attempt) == self.attempt {
                self.mine.push(offer);
            } else if self.outbound.contains(&offer.attempt) {
                self.outbound_offers.push(offer);
            } else {
                let script = self.script(&offer.agents[0].id);
                self.note_other(
                    now,
                    &offer.call_id,
                    &offer.queue_id,
                    format!("agent {} rung", offer.agents[0].id),
                );
                let (after, answered) = match script.answers {
                    Answers::Yes => (script.answer_after_secs, true),
                    Answers::No => (offer.ring_timeout_secs, false),
                    Answers::Reject => (1, false),
                    Answers::Busy => (0, false),
                };
                self.others.push(Pending::RingEnd {
                    at: now + after as i64 * 1000,
                    offer,
                    answered,
                });
            }
        }
        if event.is_none()
            && let Some(offer) = self.mine.pop()
        {
            let agent = &offer.agents[0];
            self.offer_agents.insert(
                agent.id.clone(),
                offer.agents.iter().map(|a| a.id.clone()).collect(),
            );
            event = Some(QueueEvent::Offer(engine_host::agent_offer(
                agent,
                format!("agent-leg-{}-{}", offer.attempt, agent.id),
            )));
        }
        Ok(event)
    }
}

impl SimQueues for CcSim {
    fn join(
        &mut self,
        now_ms: i64,
        caller: &SimCaller,
        join: &QueueJoin,
    ) -> HostResult<QueueJoinOutcome> {
        self.join_waiting(now_ms)?;
        let request = engine_host::join_request(
            join,
            Caller {
                call_id: caller.call_id.clone(),
                number: caller.number.clone(),
                name: caller.name.clone(),
                destination: caller.destination.clone(),
                node: "simulator".into(),
                variables: String::new(),
            },
        );
        Ok(match self.store.join(&request, now_ms).map_err(failed)? {
            JoinOutcome::Joined { attempt, .. } => {
                self.attempt = Some(attempt);
                QueueJoinOutcome::Joined
            }
            JoinOutcome::Refused { result, reason } => QueueJoinOutcome::Refused { result, reason },
        })
    }

    fn poll(&mut self, now_ms: i64) -> HostResult<Option<QueueEvent>> {
        self.run_due(now_ms)
    }

    fn next_due(&mut self, now_ms: i64) -> HostResult<Option<i64>> {
        let store = self.store.next_due(now_ms).map_err(failed)?;
        let others = self.others.iter().map(Pending::at).min();
        let view = self.store.dispatch_view(now_ms).map_err(failed)?;
        let wake = rustflow_cc::distributor::next_wake(&view, now_ms);
        Ok([store, others, wake]
            .into_iter()
            .flatten()
            .filter(|&t| t > now_ms)
            .min())
    }

    fn ring(&mut self, offer: &AgentOffer) -> (u64, RingOutcome) {
        let script = self.script(&offer.agent_id);
        let timeout = self
            .attempt
            .and_then(|a| self.store.attempt(a).ok().flatten())
            .and_then(|a| {
                self.store
                    .setup()
                    .ok()?
                    .queues
                    .into_iter()
                    .find(|q| q.id == a.queue_id)
            })
            .map_or(20, |q| q.ring_timeout_secs);
        match script.answers {
            Answers::Yes => (script.answer_after_secs * 1000, RingOutcome::Answered),
            Answers::No => (
                timeout * 1000,
                RingOutcome::Missed {
                    reason: "no_answer".into(),
                },
            ),
            Answers::Reject => (
                1000,
                RingOutcome::Missed {
                    reason: "rejected".into(),
                },
            ),
            Answers::Busy => (
                0,
                RingOutcome::Missed {
                    reason: "busy".into(),
                },
            ),
        }
    }

    fn ring_done(
        &mut self,
        now_ms: i64,
        offer: &AgentOffer,
        outcome: RingOutcome,
    ) -> HostResult<RingOutcome> {
        let Some(attempt) = self.attempt else {
            return Err(HostError::Failed("ringing an agent without a queue".into()));
        };
        let agents = self
            .offer_agents
            .remove(&offer.agent_id)
            .unwrap_or_else(|| vec![offer.agent_id.clone()]);
        match outcome {
            RingOutcome::Answered => {
                if self
                    .store
                    .answered(attempt, &offer.agent_id, now_ms)
                    .map_err(failed)?
                {
                    self.talking = Some(offer.agent_id.clone());
                    Ok(RingOutcome::Answered)
                } else {
                    Ok(RingOutcome::Missed {
                        reason: "the offer had ended".into(),
                    })
                }
            }
            RingOutcome::Missed { reason } => {
                self.store
                    .missed(attempt, &agents, &reason, now_ms)
                    .map_err(failed)?;
                Ok(RingOutcome::Missed { reason })
            }
        }
    }

    fn talk_ms(&mut self) -> u64 {
        self.talking
            .as_deref()
            .map_or(60, |a| self.script(a).talk_secs)
            * 1000
    }

    fn leave(&mut self, now_ms: i64, result: &str) -> HostResult<String> {
        let Some(attempt) = self.attempt.take() else {
            return Ok(String::new());
        };
        self.talking = None;
        self.store.leave(attempt, result, now_ms).map_err(failed)
    }

    fn position(&mut self) -> HostResult<u32> {
        engine_host::position(&*self.store, self.attempt)
    }

    fn ewt(&mut self, now_ms: i64, query: &EwtQuery) -> HostResult<Option<f64>> {
        engine_host::estimated_wait(&*self.store, self.attempt, query, now_ms)
    }

    fn agents(&mut self, now_ms: i64, queue: &CcRef) -> HostResult<AgentCounts> {
        engine_host::agent_counts(&*self.store, queue, now_ms)
    }

    fn metric(&mut self, now_ms: i64, query: &MetricQuery) -> HostResult<Option<f64>> {
        engine_host::metric(&*self.store, query, now_ms)
    }

    fn last_bridged(
        &mut self,
        now_ms: i64,
        query: &LastBridgedQuery,
    ) -> HostResult<Option<BridgedCall>> {
        engine_host::last_bridged(&*self.store, query, now_ms)
    }

    fn member_create(&mut self, now_ms: i64, request: &CallbackRequest) -> HostResult<i64> {
        self.join_waiting(now_ms)?;
        outbound::member_create(&*self.store, request, now_ms)
    }

    fn member_info(&mut self, now_ms: i64, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        self.join_waiting(now_ms)?;
        outbound::member_info(&*self.store, query)
    }

    fn patch_members(
        &mut self,
        now_ms: i64,
        query: &MemberQuery,
        patch: &MembersPatch,
    ) -> HostResult<usize> {
        outbound::patch_members(&*self.store, query, patch, now_ms)
    }

    /// The dialer reads the decision from the attempt flow's outcome.
    fn attempt_decision(&mut self, _now_ms: i64, _decision: &AttemptDecision) -> HostResult<()> {
        Ok(())
    }

    fn attempt_result(&mut self, now_ms: i64, request: &AttemptResultRequest) -> HostResult<()> {
        outbound::attempt_result(&*self.store, request, now_ms).map(|_| ())
    }
}

/// The contact centre shared by the simulated call, the attempt flows the dialer runs and
/// the dialer itself (each borrows it only for the length of one request).
#[derive(Debug, Clone)]
pub struct CcHandle(pub Rc<RefCell<CcSim>>);

impl SimQueues for CcHandle {
    fn join(
        &mut self,
        now_ms: i64,
        caller: &SimCaller,
        join: &QueueJoin,
    ) -> HostResult<QueueJoinOutcome> {
        self.0.borrow_mut().join(now_ms, caller, join)
    }
    fn poll(&mut self, now_ms: i64) -> HostResult<Option<QueueEvent>> {
        self.0.borrow_mut().poll(now_ms)
    }
    fn next_due(&mut self, now_ms: i64) -> HostResult<Option<i64>> {
        self.0.borrow_mut().next_due(now_ms)
    }
    fn ring(&mut self, offer: &AgentOffer) -> (u64, RingOutcome) {
        self.0.borrow_mut().ring(offer)
    }
    fn ring_done(
        &mut self,
        now_ms: i64,
        offer: &AgentOffer,
        outcome: RingOutcome,
    ) -> HostResult<RingOutcome> {
        self.0.borrow_mut().ring_done(now_ms, offer, outcome)
    }
    fn talk_ms(&mut self) -> u64 {
        self.0.borrow_mut().talk_ms()
    }
    fn leave(&mut self, now_ms: i64, result: &str) -> HostResult<String> {
        self.0.borrow_mut().leave(now_ms, result)
    }
    fn position(&mut self) -> HostResult<u32> {
        self.0.borrow_mut().position()
    }
    fn ewt(&mut self, now_ms: i64, query: &EwtQuery) -> HostResult<Option<f64>> {
        self.0.borrow_mut().ewt(now_ms, query)
    }
    fn agents(&mut self, now_ms: i64, queue: &CcRef) -> HostResult<AgentCounts> {
        self.0.borrow_mut().agents(now_ms, queue)
    }
    fn metric(&mut self, now_ms: i64, query: &MetricQuery) -> HostResult<Option<f64>> {
        self.0.borrow_mut().metric(now_ms, query)
    }
    fn last_bridged(
        &mut self,
        now_ms: i64,
        query: &LastBridgedQuery,
    ) -> HostResult<Option<BridgedCall>> {
        self.0.borrow_mut().last_bridged(now_ms, query)
    }
    fn member_create(&mut self, now_ms: i64, request: &CallbackRequest) -> HostResult<i64> {
        self.0.borrow_mut().member_create(now_ms, request)
    }
    fn member_info(&mut self, now_ms: i64, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        self.0.borrow_mut().member_info(now_ms, query)
    }
    fn patch_members(
        &mut self,
        now_ms: i64,
        query: &MemberQuery,
        patch: &MembersPatch,
    ) -> HostResult<usize> {
        self.0.borrow_mut().patch_members(now_ms, query, patch)
    }
    fn attempt_decision(&mut self, now_ms: i64, decision: &AttemptDecision) -> HostResult<()> {
        self.0.borrow_mut().attempt_decision(now_ms, decision)
    }
    fn attempt_result(&mut self, now_ms: i64, request: &AttemptResultRequest) -> HostResult<()> {
        self.0.borrow_mut().attempt_result(now_ms, request)
    }
}
