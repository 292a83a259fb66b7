//! Strategies: which free agent gets the caller at the head of the line.
//!
//! Every strategy first prefers lower tier levels (with escalation, higher levels are not
//! candidates at all until the caller has waited long enough; see the distributor), then
//! orders agents of the same level by its own key, with the agent id as the last tie-break
//! so a run is reproducible.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::model::FieldError;

/// How a queue picks among its free agents (names as mod_callcenter's, plus
/// `weighted-random`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Every free agent of the lowest eligible level rings at once; the first to answer
    /// takes the call.
    RingAll,
    /// The agent idle for the longest time (since its last call ended, or since it became
    /// available).
    #[default]
    LongestIdleAgent,
    /// The next agent by tier position after the one the queue offered last, wrapping round.
    RoundRobin,
    /// Tier position order, from the top for each caller; an agent this caller already
    /// missed is tried again only after everyone below it.
    TopDown,
    /// The agent with the least talk time today.
    AgentWithLeastTalkTime,
    /// The agent with the fewest answered calls today.
    AgentWithFewestCalls,
    /// Tier position order, always from the top.
    SequentiallyByAgentOrder,
    /// Any free agent, uniformly.
    Random,
    /// Any free agent, in proportion to its tier weight.
    WeightedRandom,
    /// Rings one agent, then adds the next while the first still rings (mod_callcenter).
    /// Not supported yet: a queue using it is refused when provisioned.
    RingProgressively,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring-all",
            Strategy::LongestIdleAgent => "longest-idle-agent",
            Strategy::RoundRobin => "round-robin",
            Strategy::TopDown => "top-down",
            Strategy::AgentWithLeastTalkTime => "agent-with-least-talk-time",
            Strategy::AgentWithFewestCalls => "agent-with-fewest-calls",
            Strategy::SequentiallyByAgentOrder => "sequentially-by-agent-order",
            Strategy::Random => "random",
            Strategy::WeightedRandom => "weighted-random",
            Strategy::RingProgressively => "ring-progressively",
        }
    }

    pub fn parse(text: &str) -> Option<Strategy> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    /// Refuses the strategies this build cannot run, naming the field.
    pub fn check_supported(self, path: &str) -> Result<(), FieldError> {
        match self {
            Strategy::RingProgressively => Err(FieldError::new(
                path,
                "ring-progressively is not supported yet; use ring-all or top-down",
            )),
            _ => Ok(()),
        }
    }
}

/// A free agent that may take a caller of the queue, with what strategies compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: String,
    pub level: u32,
    pub position: u32,
    pub weight: u32,
    /// When the agent last became free (end of its last call, or going online).
    pub idle_since_ms: i64,
    pub talk_secs_today: i64,
    pub calls_today: i64,
}

/// Per-queue and per-caller memory some strategies use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrategyMemory {
    /// Tier position of the agent the queue offered last (round-robin).
    pub queue_last_position: Option<u32>,
    /// Tier position of the agent this caller was offered last (top-down).
    pub caller_last_position: Option<u32>,
}

/// A small seeded generator (splitmix64) for the random strategies: reproducible runs in
/// tests and simulations, no global state.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The agents to offer, best first: one for every strategy but ring-all, which offers all
/// free agents of the lowest level present. `candidates` must be non-empty.
pub fn choose(
    strategy: Strategy,
    mut candidates: Vec<Candidate>,
    memory: StrategyMemory,
    rng: &mut Rng,
) -> Vec<Candidate> {
    let lowest = candidates.iter().map(|c| c.level).min().unwrap_or(0);
    candidates.retain(|c| c.level == lowest);
    candidates.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
    let by = |key: fn(&Candidate, &Candidate) -> Ordering, mut list: Vec<Candidate>| {
        list.sort_by(|a, b| key(a, b).then_with(|| a.agent_id.cmp(&b.agent_id)));
        list.truncate(1);
        list
    };
    match strategy {
        Strategy::RingAll => candidates,
        Strategy::LongestIdleAgent | Strategy::RingProgressively => {
            by(|a, b| a.idle_since_ms.cmp(&b.idle_since_ms), candidates)
        }
        Strategy::AgentWithLeastTalkTime => by(
            |a, b| {
                a.talk_secs_today
                    .cmp(&b.talk_secs_today)
                    .then(a.idle_since_ms.cmp(&b.idle_since_ms))
            },
            candidates,
        ),
        Strategy::AgentWithFewestCalls => by(
            |a, b| {
                a.calls_today
                    .cmp(&b.calls_today)
                    .then(a.idle_since_ms.cmp(&b.idle_since_ms))
            },
            candidates,
        ),
        Strategy::SequentiallyByAgentOrder => by(|a, b| a.position.cmp(&b.position), candidates),
        Strategy::RoundRobin | Strategy::TopDown => {
            let last = if strategy == Strategy::RoundRobin {
                memory.queue_last_position
            } else {
                memory.caller_last_position
            };
            // Positions after the last one first (ascending), then wrap round to the top.
            let mut list = candidates;
            list.sort_by_key(|c| {
                (
                    last.is_some_and(|l| c.position <= l),
                    c.position,
                    c.agent_id.clone(),
                )
            });
            list.truncate(1);
            list
        }
        Strategy::Random => {
            let i = rng.below(candidates.len() as u64) as usize;
            vec![candidates.swap_remove(i)]
        }
        Strategy::WeightedRandom => {
            let total: u64 = candidates.iter().map(|c| u64::from(c.weight.max(1))).sum();
            let mut pick = rng.below(total);
            let i = candidates
                .iter()
                .position(|c| {
                    let w = u64::from(c.weight.max(1));
                    if pick < w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .unwrap_or(0);
            vec![candidates.swap_remove(i)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, level: u32, position: u32, idle: i64, talk: i64, calls: i64) -> Candidate {
        Candidate {
            agent_id: id.into(),
            level,
            position,
            weight: position,
            idle_since_ms: idle,
            talk_secs_today: talk,
            calls_today: calls,
        }
    }

    fn pool() -> Vec<Candidate> {
        vec![
            agent("a", 1, 3, 500, 10, 9),
            agent("b", 1, 1, 900, 300, 1),
            agent("c", 1, 2, 100, 200, 5),
            agent("d", 2, 1, 0, 0, 0),
        ]
    }

    fn pick(strategy: Strategy, memory: StrategyMemory) -> Vec<String> {
        choose(strategy, pool(), memory, &mut Rng::new(7))
            .into_iter()
            .map(|c| c.agent_id)
            .collect()
    }

    #[test]
    fn each_strategy_picks_as_documented() {
        let none = StrategyMemory::default();
        // Level 2 (agent d) is never chosen while level 1 has a free agent.
        assert_eq!(pick(Strategy::LongestIdleAgent, none), ["c"]);
        assert_eq!(pick(Strategy::AgentWithLeastTalkTime, none), ["a"]);
        assert_eq!(pick(Strategy::AgentWithFewestCalls, none), ["b"]);
        assert_eq!(pick(Strategy::SequentiallyByAgentOrder, none), ["b"]);
        assert_eq!(pick(Strategy::TopDown, none), ["b"]);
        assert_eq!(pick(Strategy::RingAll, none), ["a", "b", "c"]);
        let after_2 = StrategyMemory {
            queue_last_position: Some(2),
            caller_last_position: Some(1),
        };
        assert_eq!(pick(Strategy::RoundRobin, after_2), ["a"]);
        assert_eq!(pick(Strategy::TopDown, after_2), ["c"]);
        let after_3 = StrategyMemory {
            queue_last_position: Some(3),
            caller_last_position: Some(3),
        };
        assert_eq!(
            pick(Strategy::RoundRobin, after_3),
            ["b"],
            "wraps to the top"
        );
        assert_eq!(pick(Strategy::TopDown, after_3), ["b"]);
    }

    #[test]
    fn random_strategies_cover_every_agent_in_proportion() {
        let mut rng = Rng::new(1);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..6000 {
            let c = choose(
                Strategy::WeightedRandom,
                pool(),
                StrategyMemory::default(),
                &mut rng,
            );
            *counts.entry(c[0].agent_id.clone()).or_insert(0) += 1;
        }
        // Weights are the positions: a 3, b 1, c 2 (d is level 2).
        let share = |id: &str| f64::from(counts[id]) / 6000.0;
        assert!((share("a") - 0.5).abs() < 0.03, "{counts:?}");
        assert!((share("b") - 1.0 / 6.0).abs() < 0.03, "{counts:?}");
        assert!((share("c") - 1.0 / 3.0).abs() < 0.03, "{counts:?}");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(
                choose(
                    Strategy::Random,
                    pool(),
                    StrategyMemory::default(),
                    &mut rng,
                )[0]
                .agent_id
                .clone(),
            );
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn names_round_trip() {
        for s in [
            Strategy::RingAll,
            Strategy::LongestIdleAgent,
            Strategy::RoundRobin,
            Strategy::TopDown,
            Strategy::AgentWithLeastTalkTime,
            Strategy::AgentWithFewestCalls,
            Strategy::SequentiallyByAgentOrder,
            Strategy::Random,
            Strategy::WeightedRandom,
            Strategy::RingProgressively,
        ] {
            assert_eq!(Strategy::parse(s.as_str()), Some(s));
        }
        assert_eq!(Strategy::parse("fifo"), None);
    }
}
