//! The distributor: who gets which caller, decided on a consistent view of the store and
//! made real by the store's conditional claims.
//!
//! A pass reads one [`DispatchView`], plans a claim for every caller (in the one order of
//! [`crate::order`]) that has an eligible free agent, and asks the store to claim each. A
//! claim that loses a race (another thread or node took the agent or the caller) is simply
//! not an offer; the pass then plans again on a fresh view. Nothing here waits or polls: the
//! caller of [`Distributor::pass`] runs it when something happened (a join, an agent freed,
//! a status change, a rest or lease due) and sleeps until [`Store::next_due`] or
//! [`next_wake`] otherwise.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Queue, Tier};
use crate::store::sqlite::skills_fit;
use crate::store::{Claim, DispatchView, Ms, Offer, Store, StoreResult, WaitingAttempt};
use crate::strategy::{Candidate, Rng, Strategy, StrategyMemory, choose};

/// Seconds an offer's lease outlives the ring timeout before the janitor ends it: the
/// caller's side reports long before, unless it is gone.
pub const LEASE_GRACE_SECS: u64 = 10;

/// Passes that may lose races before a pass gives up (the next wake-up retries).
const MAX_ROUNDS: usize = 8;

fn queues_by_id(view: &DispatchView) -> BTreeMap<&str, &Queue> {
    view.setup
        .queues
        .iter()
        .map(|q| (q.id.as_str(), q))
        .collect()
}

/// Plans the claims of one pass, best caller first. No agent appears in two claims.
pub fn plan(view: &DispatchView, now: Ms, rng: &mut Rng) -> Vec<Claim> {
    let queues = queues_by_id(view);
    let agents: BTreeMap<&str, &crate::model::Agent> = view
        .setup
        .agents
        .iter()
        .map(|a| (a.id.as_str(), a))
        .collect();
    let mut tiers: BTreeMap<&str, Vec<&Tier>> = BTreeMap::new();
    for t in &view.setup.tiers {
        tiers.entry(t.queue.as_str()).or_default().push(t);
    }
    let last_position: BTreeMap<&str, u32> = view
        .queue_last_position
        .iter()
        .map(|(q, p)| (q.as_str(), *p))
        .collect();
    let free: BTreeMap<&str, &crate::store::FreeAgent> =
        view.agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    let mut claims = Vec::new();
    for attempt in &view.attempts {
        if taken.len() == free.len() {
            break;
        }
        let waited = now - attempt.since_ms;
        let candidate = |agent_id: &str, tier: Option<&Tier>| {
            let a = free.get(agent_id)?;
            Some(Candidate {
                agent_id: a.id.clone(),
                level: tier.map_or(1, |t| t.level),
                position: tier.map_or(1, |t| t.position),
                weight: tier.map_or(1, |t| t.weight),
                idle_since_ms: a.idle_since_ms,
                talk_secs_today: a.talk_secs_today,
                calls_today: a.calls_today,
            })
        };
        let (strategy, memory, candidates) = if let Some(target) = &attempt.target_agent {
            let list: Vec<Candidate> = if taken.contains(target.as_str()) {
                Vec::new()
            } else {
                candidate(target, None).into_iter().collect()
            };
            (Strategy::LongestIdleAgent, StrategyMemory::default(), list)
        } else {
            let Some(queue) = queues.get(attempt.queue_id.as_str()) else {
                continue;
            };
            let queue_tiers = tiers
                .get(queue.id.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            let list = eligible(
                queue,
                queue_tiers,
                attempt,
                waited,
                &taken,
                &candidate,
                &agents,
            );
            let memory = StrategyMemory {
                queue_last_position: last_position.get(queue.id.as_str()).copied(),
                caller_last_position: attempt.last_position,
            };
            (queue.strategy, memory, list)
        };
        if candidates.is_empty() {
            continue;
        }
        // An agent this caller just missed rings again only when nobody else can.
        let fresh: Vec<Candidate> = candidates
            .iter()
            .filter(|c| !attempt.missed_agents.contains(&c.agent_id))
            .cloned()
            .collect();
        let candidates = if fresh.is_empty() { candidates } else { fresh };
        let chosen = choose(strategy, candidates, memory, rng);
        for c in &chosen {
            if let Some((id, _)) = free.get_key_value(c.agent_id.as_str()) {
                taken.insert(id);
            }
        }
        claims.push(Claim {
            attempt: attempt.id,
            attempt_version: attempt.version,
            position: chosen[0].position,
            agents: chosen.into_iter().map(|c| c.agent_id).collect(),
            lease_until_ms: now + ((attempt.ring_timeout_secs + LEASE_GRACE_SECS) * 1000) as i64,
        });
    }
    claims
}

/// The free agents that may take `attempt` of `queue` now: a tier on the queue, skills in
/// range, a level the caller's wait has reached, and only the preferred agent while the
/// sticky window lasts.
fn eligible(
    queue: &Queue,
    tiers: &[&Tier],
    attempt: &WaitingAttempt,
    waited: Ms,
    taken: &BTreeSet<&str>,
    candidate: &dyn Fn(&str, Option<&Tier>) -> Option<Candidate>,
    agents: &BTreeMap<&str, &crate::model::Agent>,
) -> Vec<Candidate> {
    let lowest = tiers.iter().map(|t| t.level).min().unwrap_or(1);
    let max_level = if queue.tier_escalation_secs == 0 {
        u32::MAX
    } else {
        let steps = (waited.max(0) as u64) / (queue.tier_escalation_secs * 1000);
        lowest.saturating_add(u32::try_from(steps).unwrap_or(u32::MAX))
    };
    let sticky = attempt
        .sticky_agent
        .as_deref()
        .filter(|_| waited < (queue.sticky_window_secs * 1000) as i64);
    tiers
        .iter()
        .filter(|t| t.level <= max_level && !taken.contains(t.agent.as_str()))
        .filter(|t| sticky.is_none_or(|s| s == t.agent))
        .filter(|t| {
            agents
                .get(t.agent.as_str())
                .is_some_and(|a| skills_fit(queue, &a.skills))
        })
        .filter_map(|t| candidate(&t.agent, Some(t)))
        .collect()
}

/// The next time a waiting caller becomes eligible for more agents (its sticky window ends,
/// or its wait reaches the next tier level), for the distributor's sleep.
pub fn next_wake(view: &DispatchView, now: Ms) -> Option<Ms> {
    let queues = queues_by_id(view);
    let mut wake: Option<Ms> = None;
    let mut take = |t: Ms| {
        if t > now {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
    };
    for a in &view.attempts {
        let Some(q) = queues.get(a.queue_id.as_str()) else {
            continue;
        };
        if a.sticky_agent.is_some() {
            take(a.since_ms + (q.sticky_window_secs * 1000) as i64);
        }
        if q.tier_escalation_secs > 0 {
            let step = (q.tier_escalation_secs * 1000) as i64;
            let waited = (now - a.since_ms).max(0);
            take(a.since_ms + (waited / step + 1) * step);
        }
    }
    wake
}

/// Runs passes; holds the generator of the random strategies.
pub struct Distributor {
    rng: Rng,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    pub offers: Vec<Offer>,
    /// Claims lost to another thread or node (each retried on a fresh view).
    pub lost: usize,
    /// When to run again if nothing happens before.
    pub next_wake: Option<Ms>,
}

impl Distributor {
    pub fn new(seed: u64) -> Distributor {
        Distributor {
            rng: Rng::new(seed),
        }
    }

    /// Claims an agent for every caller that can have one now.
    pub fn pass(&mut self, store: &dyn Store, now: Ms) -> StoreResult<Pass> {
        self.run(store, now, None)
    }

    /// The pass of one node among several: it plans over every waiting caller in the one
    /// order, wherever the caller waits, but claims only for the callers `here` accepts
    /// (those whose call this node holds). Another node's caller keeps the agent the plan
    /// gave it, and that node claims it (the store's change feed wakes it), so an agent freed
    /// on one node goes to the best caller of all nodes and no caller is passed over.
    pub fn pass_for(
        &mut self,
        store: &dyn Store,
        now: Ms,
        here: &dyn Fn(&WaitingAttempt) -> bool,
    ) -> StoreResult<Pass> {
        self.run(store, now, Some(here))
    }

    fn run(
        &mut self,
        store: &dyn Store,
        now: Ms,
        here: Option<&dyn Fn(&WaitingAttempt) -> bool>,
    ) -> StoreResult<Pass> {
        let mut pass = Pass::default();
        for _ in 0..MAX_ROUNDS {
            let view = store.dispatch_view(now)?;
            let mut claims = plan(&view, now, &mut self.rng);
            if let Some(here) = here {
                let ours: BTreeSet<i64> = view
                    .attempts
                    .iter()
                    .filter(|a| here(a))
                    .map(|a| a.id)
                    .collect();
                claims.retain(|claim| ours.contains(&claim.attempt));
            }
            pass.next_wake = next_wake(&view, now);
            if claims.is_empty() {
                break;
            }
            let mut lost = 0;
            for claim in &claims {
                match store.claim(claim, now)? {
                    Some(offer) => pass.offers.push(offer),
                    None => lost += 1,
                }
            }
            pass.lost += lost;
            if lost == 0 {
                break;
            }
        }
        let due = store.next_due(now)?;
        pass.next_wake = match (pass.next_wake, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(pass)
    }
}
