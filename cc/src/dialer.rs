//! Outbound pacing: how many new lines a campaign queue starts now.
//!
//! Pure: the caller (the module's dialer, the simulator in [`crate::campaign`]) gathers the
//! agents, the lines in flight and the statistics of the recent window, and starts what
//! [`Pacer::lines_to_start`] answers, once a second or so.
//!
//! - **Offline / preview**: one line per free agent, the agent reserved first (a reserved agent
//!   is no longer free), so nobody can be abandoned.
//! - **Progressive**: lines in flight never above `lines_per_agent` × free agents; with 1 this
//!   is the agent-first dialer (every answered call finds its agent).
//! - **Predictive**: dials ahead of the agents from the measured live-answer rate, regulated so
//!   that the share of live answers abandoned over the window stays under the target (the US
//!   TSR's 3 %; the 2 s rule makes an answered call with no agent free within 2 s an abandon,
//!   the safe message plays).
//!
//! # How predictive pacing keeps the bound
//!
//! Every decision looks at all lines that will be ringing after it (those in flight plus the
//! new ones, `n` in all). Each answers live with probability `p`, so the live answers are
//! `X ~ Binomial(n, p)`. They compete for the agents `A`: the free ones and those whose wrap-up
//! ends within the 2 s are certain (minus answered calls already waiting); every other busy
//! agent is in time with a probability (see `agent_supply`), so `A` is the certain agents plus a
//! Poisson-binomial number. The calls that will find nobody are `(X − A)⁺`, so the pacer takes
//! the largest `n` whose **expected abandon share** `E[(X − A)⁺] / E[X]` stays within a
//! budget. That ratio grows with `n` (each extra line adds `p · P(X ≥ A)`, which grows), so a
//! binary search finds `n`.
//!
//! Why this rather than Webitel's `1 / hit rate` nudged by a load factor, or Vicidial's
//! adaptive dial level: those steer on the abandon rate *after* it happened, so they
//! overshoot when the agents' load changes (a wave of long calls) and the abandons are
//! already counted. The binomial bound reacts at once to the agents actually free, and the
//! window only corrects the model's errors:
//!
//! - the answer rate is taken at its upper one-sigma bound (`p + √(p(1−p)/samples)`): an
//!   answer rate estimated too high only under-dials, too low would over-dial;
//! - the budget is `target − measured abandon rate of the window`: with the window at 0 the
//!   pacer may spend the whole target per decision, near the target it spends almost
//!   nothing, and at or above it the pacer goes back to **one line per free agent** (busy
//!   agents not counted), which cannot abandon anyone. If the realised abandons are `k`
//!   times the model's, the window settles near `k / (1 + k)` of the target, under it for
//!   any `k` (half the target when the model is right), and the fallback holds it there even
//!   when the model is badly wrong;
//! - the model itself leans to too few agents: the ring time is taken as exponential (more
//!   early answers than real ring times), and an agent counts for sure only when free within
//!   2 s of an immediate answer. Counting every talking agent as about to be free instead
//!   (a tempting shortcut) gave 5.5 % abandons in the 30 % campaign test;
//! - until the window holds [`DEFAULT_MIN_SAMPLES`] finished dials, and while fewer than
//!   `min_agents` agents are logged in (the variance of a few agents is too large for any
//!   over-dial), it dials one line per free agent;
//! - lines in flight never exceed `max_lines_per_agent` × the agents counted available.
//!
//! The campaign tests in [`crate::campaign`] hold this to ≤ 3 % over 8 simulated hours at
//! 30 % and 60 % answer rates for several seeds, over the campaign and in every window; the
//! bench (`cargo bench -p rustflow-cc --bench campaign`, five seeds) measured, with 20 agents
//! and 3 min talks, 0.43 % abandons and 80 % occupancy at 30 % answers (one line per agent:
//! 0 % and 66 %), 0.23 % and 85 % at 60 % (81 % one per agent); with 200 agents 0.02 % and
//! 87 % at 30 %, 0.01 % and 90 % at 60 % (half a second of CPU per simulated 8 hours,
//! a pacing decision every simulated second included).

use std::fmt;

use std::collections::HashMap;

use crate::model::{Queue, QueueKind};
use crate::store::{AgentCounts, DialStats, Ms, Store, StoreResult};

/// How a queue's members are dialled (the queue's `type`, outbound kinds only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialMode {
    /// Callbacks: the agent is reserved, then the member is dialled.
    Offline,
    /// The agent sees the member first, then the member is dialled.
    Preview,
    /// Dialled for free agents, `lines_per_agent` lines each.
    Progressive,
    /// Dialled ahead of the agents from the answer rate, abandons regulated.
    Predictive,
}

/// Finished dials the window must hold before a predictive queue dials ahead of its agents.
pub const DEFAULT_MIN_SAMPLES: u64 = 100;

/// The queue's pacing settings (the lead fills them from the queue).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingSettings {
    pub mode: DialMode,
    /// Progressive: lines in flight per free agent.
    pub lines_per_agent: u32,
    /// Predictive: the abandon target, percent of live answers over the window (3.0).
    pub max_abandon_percent: f64,
    /// Predictive: below this many logged-in agents, one line per free agent.
    pub min_agents: u32,
    /// Predictive: lines in flight per available agent, at most.
    pub max_lines_per_agent: u32,
    /// Predictive: finished dials (answered + not answered) in the window before over-dialling.
    pub min_samples: u64,
    /// The queue's wrap-up after each call, seconds: a talking agent is not free before it ends.
    pub wrap_up_secs: f64,
}

impl PacingSettings {
    /// The queue defaults of the shared design for the given mode.
    pub fn new(mode: DialMode) -> PacingSettings {
        PacingSettings {
            mode,
            lines_per_agent: 1,
            max_abandon_percent: 3.0,
            min_agents: 3,
            max_lines_per_agent: 3,
            min_samples: DEFAULT_MIN_SAMPLES,
            wrap_up_secs: 0.0,
        }
    }
}

impl PacingSettings {
    /// The pacing of an outbound queue, from its fields; `None` for an inbound queue.
    pub fn of_queue(queue: &Queue) -> Option<PacingSettings> {
        let mode = match queue.kind {
            QueueKind::Inbound => return None,
            QueueKind::Offline => DialMode::Offline,
            QueueKind::Preview => DialMode::Preview,
            QueueKind::Progressive => DialMode::Progressive,
            QueueKind::Predictive => DialMode::Predictive,
        };
        Some(PacingSettings {
            lines_per_agent: queue.lines_per_agent,
            max_abandon_percent: queue.max_abandon_percent.value(),
            min_agents: queue.min_agents,
            max_lines_per_agent: queue.max_lines_per_agent,
            wrap_up_secs: queue.wrap_up_secs as f64,
            ..PacingSettings::new(mode)
        })
    }
}

/// The queue's dials over the recent window (`abandon_window_mins`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowStats {
    /// Lines started (for logs; the pacer's answer rate counts finished dials only).
    pub dialled: u64,
    /// Answered live (including those then abandoned).
    pub answered: u64,
    /// Answered live but no agent within 2 s: the safe message played. Part of `answered`.
    pub abandoned: u64,
    /// Ended without a live answer (no answer, busy, failed, machine).
    pub no_answer: u64,
    /// Mean time from the start of the line to the live answer, seconds.
    pub ring_to_answer_secs_avg: f64,
    /// Mean time an agent spends on an answered call, talk and wrap-up, seconds.
    pub handle_secs_avg: f64,
    /// Calls agents finished in the window: the number behind `handle_secs_avg`.
    pub handled: u64,
}

impl WindowStats {
    /// The window as the store counts it: every dial that ended unanswered (no answer, busy,
    /// failed) is a no-answer; the calls agents finished are the answered ones not abandoned;
    /// an agent's time on a call is its conversation plus the queue's wrap-up.
    pub fn from_dial_stats(stats: &DialStats, wrap_up_secs: u64) -> WindowStats {
        WindowStats {
            dialled: stats.dialled,
            answered: stats.answered,
            abandoned: stats.abandoned,
            no_answer: stats.no_answer + stats.busy + stats.failed,
            ring_to_answer_secs_avg: stats.answer_ms_avg.unwrap_or(0.0) / 1_000.0,
            handle_secs_avg: stats
                .handle_ms_avg
                .map_or(0.0, |ms| ms / 1_000.0 + wrap_up_secs as f64),
            handled: stats.answered.saturating_sub(stats.abandoned),
        }
    }

    /// Abandoned ÷ answered live; 0 before any answer.
    pub fn abandon_rate(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            self.abandoned as f64 / self.answered as f64
        }
    }
}

/// An agent on a call of the queue (or in its wrap-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusyAgent {
    /// Seconds until the agent is free again, when known (a wrap-up timer); `None` while
    /// talking: the pacer then assumes the handle time is memoryless with the window's mean.
    pub remaining_secs: Option<f64>,
}

/// What the pacer looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingInput<'a> {
    pub logged_in_agents: usize,
    /// Ready for a call of this queue and not reserved for a line.
    pub free_agents: usize,
    pub busy_agents: &'a [BusyAgent],
    /// Lines started and not yet answered or ended.
    pub lines_in_flight: usize,
    /// Answered live calls waiting for an agent (inside their 2 s).
    pub answered_waiting: usize,
    pub window: WindowStats,
}

/// Why the pacer chose its number (for logs and the simulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacingReason {
    /// Offline / preview: one line per free agent, agent reserved.
    AgentReserved,
    /// Progressive: `lines_per_agent` × free agents.
    LinesPerFreeAgent,
    /// Predictive, fewer than `min_agents` logged in.
    TooFewAgents,
    /// Predictive, fewer than `min_samples` finished dials in the window.
    TooFewSamples,
    /// Predictive, the window's abandon rate is at or above the target.
    AbandonTargetReached,
    /// Predictive, the binomial bound chose the number.
    Regulated,
    /// Predictive, `max_lines_per_agent` stopped it.
    Capped,
}

/// The pacer's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingDecision {
    pub start: usize,
    /// Agents the decision counted on (free, plus soon free for predictive).
    pub available_agents: f64,
    /// The answer rate used (predictive), else 1.
    pub answer_rate: f64,
    /// The expected abandon share of the lines after the decision (predictive), else 0.
    pub expected_abandon_share: f64,
    pub reason: PacingReason,
}

/// Settings a pacer cannot work with: the field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacingSettingsError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl fmt::Display for PacingSettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pacing settings: {} {}", self.field, self.problem)
    }
}

impl std::error::Error for PacingSettingsError {}

/// One pacer per outbound queue, made again when the queue's settings change: what the
/// module's dialer and the simulator's keep between rounds, so both pace alike.
/// The store's record of `queue`'s dials over its abandon window (`abandon_window_mins`)
/// ending at `now`: the figures [`Pacers::lines`] paces from.
pub fn dials_in_window(store: &dyn Store, queue: &Queue, now: Ms) -> StoreResult<DialStats> {
    let window = i64::try_from(queue.abandon_window_mins).unwrap_or(60) * 60_000;
    store.dial_stats(&queue.id, now - window, now)
}

#[derive(Debug, Default)]
pub struct Pacers {
    by_queue: HashMap<String, (PacingSettings, Result<Pacer, PacingSettingsError>)>,
}

impl Pacers {
    /// How many lines to start now in `queue` from the store's figures: its agents' counts
    /// and its dials over the window. 0 for an inbound queue. Settings no pacer can work with
    /// are an `Err` once per change of the queue's settings (for the caller to report), then
    /// 0 until they change.
    pub fn lines(
        &mut self,
        queue: &Queue,
        counts: &AgentCounts,
        stats: &DialStats,
    ) -> Result<usize, PacingSettingsError> {
        let Some(settings) = PacingSettings::of_queue(queue) else {
            return Ok(0);
        };
        let fresh = self
            .by_queue
            .get(&queue.id)
            .is_none_or(|(kept, _)| kept != &settings);
        if fresh {
            self.by_queue
                .insert(queue.id.clone(), (settings, Pacer::new(settings)));
        }
        let pacer = match &self.by_queue[&queue.id].1 {
            Ok(pacer) => pacer,
            Err(e) if fresh => return Err(e.clone()),
            Err(_) => return Ok(0),
        };
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        // An agent on a call (of any queue) is busy; the pacer takes a talking agent's handle
        // time as memoryless with the window's mean.
        let busy = vec![
            BusyAgent {
                remaining_secs: None
            };
            count(counts.online.saturating_sub(counts.waiting))
        ];
        Ok(pacer.lines_to_start(&PacingInput {
            logged_in_agents: count(counts.online),
            free_agents: count(counts.waiting),
            busy_agents: &busy,
            // Answered members waiting for an agent are counted as lines still out: the store
            // does not tell them apart, and counting them so dials fewer, never more.
            lines_in_flight: usize::try_from(stats.in_flight).unwrap_or(usize::MAX),
            answered_waiting: 0,
            window: WindowStats::from_dial_stats(stats, queue.wrap_up_secs),
        }))
    }

    /// Forgets the queues no longer provisioned.
    pub fn keep_only(&mut self, queues: &[Queue]) {
        self.by_queue
            .retain(|id, _| queues.iter().any(|q| &q.id == id));
    }
}

/// A queue's pacer; stateless, all memory is in the window the caller passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacer {
    settings: PacingSettings,
}

/// The 2 s rule: an answered call waits this long for an agent before the safe message.
pub const AGENT_CONNECT_SECS: f64 = 2.0;

impl Pacer {
    pub fn new(settings: PacingSettings) -> Result<Pacer, PacingSettingsError> {
        let error = |field, problem| Err(PacingSettingsError { field, problem });
        if settings.lines_per_agent == 0 {
            return error("lines_per_agent", "must be at least 1");
        }
        if settings.max_lines_per_agent == 0 {
            return error("max_lines_per_agent", "must be at least 1");
        }
        if !(settings.max_abandon_percent.is_finite()
            && (0.0..=100.0).contains(&settings.max_abandon_percent))
        {
            return error("max_abandon_percent", "must be between 0 and 100");
        }
        if !(settings.wrap_up_secs.is_finite() && settings.wrap_up_secs >= 0.0) {
            return error("wrap_up_secs", "must be a number of at least 0");
        }
        Ok(Pacer { settings })
    }

    pub fn settings(&self) -> &PacingSettings {
        &self.settings
    }

    /// How many new lines to start now.
    pub fn lines_to_start(&self, input: &PacingInput) -> usize {
        self.decide(input).start
    }

    /// [`Pacer::lines_to_start`] with the reasons.
    pub fn decide(&self, input: &PacingInput) -> PacingDecision {
        let settings = &self.settings;
        let free = input.free_agents;
        let simple = |start: usize, available: usize, reason| PacingDecision {
            start,
            available_agents: available as f64,
            answer_rate: 1.0,
            expected_abandon_share: 0.0,
            reason,
        };
        match settings.mode {
            DialMode::Offline | DialMode::Preview => {
                simple(free, free, PacingReason::AgentReserved)
            }
            DialMode::Progressive => {
                let allowed = free.saturating_mul(settings.lines_per_agent as usize);
                simple(
                    allowed.saturating_sub(input.lines_in_flight),
                    free,
                    PacingReason::LinesPerFreeAgent,
                )
            }
            DialMode::Predictive => self.predictive(input),
        }
    }

    fn predictive(&self, input: &PacingInput) -> PacingDecision {
        let settings = &self.settings;
        let window = &input.window;
        // One line per free agent: every answer finds an agent, nobody is abandoned.
        let one_per_agent = |reason| {
            let free = input.free_agents.saturating_sub(input.answered_waiting);
            PacingDecision {
                start: free.saturating_sub(input.lines_in_flight),
                available_agents: free as f64,
                answer_rate: 1.0,
                expected_abandon_share: 0.0,
                reason,
            }
        };
        if input.logged_in_agents < settings.min_agents as usize {
            return one_per_agent(PacingReason::TooFewAgents);
        }
        let outcomes = window.answered + window.no_answer;
        if outcomes < settings.min_samples.max(1) || window.answered == 0 {
            return one_per_agent(PacingReason::TooFewSamples);
        }
        let target = settings.max_abandon_percent / 100.0;
        let measured = window.abandon_rate();
        if measured >= target {
            return one_per_agent(PacingReason::AbandonTargetReached);
        }
        let budget = target - measured;

        let rate = window.answered as f64 / outcomes as f64;
        let answer_rate = (rate + (rate * (1.0 - rate) / outcomes as f64).sqrt()).min(1.0);

        let supply = self.agent_supply(input);
        let available = supply.expected();
        let in_flight = input.lines_in_flight;
        let cap = (available * f64::from(settings.max_lines_per_agent)).floor() as usize;
        // Never fewer than one line per truly free agent: those lines cannot abandon anyone.
        let floor = input
            .free_agents
            .saturating_sub(input.answered_waiting)
            .max(in_flight);
        let within_budget = |lines: usize| supply.abandon_share(lines, answer_rate) <= budget;
        let (mut low, mut high) = (floor, cap.max(floor));
        // The largest `lines` in [low, high] within the budget (low always is: see `floor`).
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            if within_budget(middle) {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        let total = low;
        PacingDecision {
            start: total - in_flight,
            available_agents: available,
            answer_rate,
            expected_abandon_share: supply.abandon_share(total, answer_rate),
            reason: if total == cap && cap > floor {
                PacingReason::Capped
            } else {
                PacingReason::Regulated
            },
        }
    }

    /// The agents for the lines after this decision. Certain: the free ones and those whose
    /// wrap-up ends within the 2 s (they serve even an immediate answer), minus the answered
    /// calls already waiting. Every other busy agent is in time for a line with a
    /// probability: with `T` the line's ring-to-answer, taken as exponential with the window's
    /// mean (more spread than real ring times, so it errs towards too few agents), an agent in
    /// wrap-up for `r` more seconds is in time when `T ≥ r − 2`; a talking agent, whose talk is
    /// taken as memoryless with the window's mean handle time minus the wrap-up, when talk and
    /// wrap-up end before the mean `T` + 2 (once the window has seen enough calls end).
    fn agent_supply(&self, input: &PacingInput) -> AgentSupply {
        let window = &input.window;
        let ring_mean = window.ring_to_answer_secs_avg.max(0.0);
        let mut certain = input.free_agents as i64 - input.answered_waiting as i64;
        let wrap_up = self.settings.wrap_up_secs.max(0.0);
        let talk_mean = window.handle_secs_avg - wrap_up;
        // The first calls to end are the short ones: until the agents have finished about two
        // calls each, the mean handle time is far too low (200 agents, 3 min talks: 12 s after
        // the first 100), and talking agents are not counted at all.
        let handle_time_known = window.handled
            >= self
                .settings
                .min_samples
                .max(2 * input.logged_in_agents as u64);
        let talking_in_time =
            if handle_time_known && talk_mean > 0.0 && ring_mean + AGENT_CONNECT_SECS > wrap_up {
                1.0 - (-(ring_mean + AGENT_CONNECT_SECS - wrap_up) / talk_mean).exp()
            } else {
                0.0
            };
        let mut in_time = Vec::new();
        for agent in input.busy_agents {
            let probability = match agent.remaining_secs {
                Some(remaining) if remaining <= AGENT_CONNECT_SECS => {
                    certain += 1;
                    continue;
                }
                Some(remaining) if ring_mean > 0.0 => {
                    (-(remaining - AGENT_CONNECT_SECS) / ring_mean).exp()
                }
                Some(_) => 0.0,
                None => talking_in_time,
            };
            if probability > 0.0 {
                in_time.push(probability);
            }
        }
        AgentSupply {
            certain,
            expected_uncertain: in_time.iter().sum(),
            uncertain: poisson_binomial_pmf(&in_time),
        }
    }
}

/// Agents for the answers to come: `certain` plus a random number of the busy ones, with the
/// given distribution; `certain` is negative when more answered calls wait than agents are free.
#[derive(Debug, Clone)]
struct AgentSupply {
    certain: i64,
    expected_uncertain: f64,
    /// `uncertain[k]` = P(k busy agents are in time).
    uncertain: Vec<f64>,
}

impl AgentSupply {
    fn expected(&self) -> f64 {
        (self.certain as f64 + self.expected_uncertain).max(0.0)
    }

    /// `E[(X − agents)⁺] / E[X]` for `X ~ Binomial(lines, answer_rate)` independent of the
    /// agents: the expected share of live answers that find nobody.
    fn abandon_share(&self, lines: usize, answer_rate: f64) -> f64 {
        if lines == 0 || answer_rate <= 0.0 {
            return 0.0;
        }
        let answers = binomial_pmf(lines, answer_rate);
        // tail_count[c] = P(X > c), tail_sum[c] = E[X; X > c], so E[(X − c)⁺] = tail_sum − c·tail_count.
        let mut tail_count = vec![0.0; lines + 1];
        let mut tail_sum = vec![0.0; lines + 1];
        for c in (0..lines).rev() {
            tail_count[c] = tail_count[c + 1] + answers[c + 1];
            tail_sum[c] = tail_sum[c + 1] + (c + 1) as f64 * answers[c + 1];
        }
        let mean_answers = lines as f64 * answer_rate;
        let overflow_over = |agents: i64| -> f64 {
            if agents < 0 {
                mean_answers - agents as f64
            } else if agents as usize >= lines {
                0.0
            } else {
                let c = agents as usize;
                tail_sum[c] - c as f64 * tail_count[c]
            }
        };
        let overflow: f64 = self
            .uncertain
            .iter()
            .enumerate()
            .filter(|(_, probability)| **probability > 0.0)
            .map(|(freed, probability)| probability * overflow_over(self.certain + freed as i64))
            .sum();
        overflow / mean_answers
    }
}

/// `E[(X − agents)⁺] / E[X]` for `X ~ Binomial(lines, answer_rate)`: the expected share of
/// live answers that find no agent when `agents` are sure to be there.
pub fn expected_abandon_share(lines: usize, answer_rate: f64, agents: usize) -> f64 {
    AgentSupply {
        certain: agents as i64,
        expected_uncertain: 0.0,
        uncertain: vec![1.0],
    }
    .abandon_share(lines, answer_rate)
}

/// The distribution of the number of successes of independent trials with the given
/// probabilities (a dynamic programme, one trial at a time).
fn poisson_binomial_pmf(probabilities: &[f64]) -> Vec<f64> {
    let mut pmf = vec![0.0; probabilities.len() + 1];
    pmf[0] = 1.0;
    for (done, &p) in probabilities.iter().enumerate() {
        for k in (1..=done + 1).rev() {
            pmf[k] = pmf[k] * (1.0 - p) + pmf[k - 1] * p;
        }
        pmf[0] *= 1.0 - p;
    }
    pmf
}

/// The binomial probabilities, built outward from the mode so that no term underflows before
/// it is negligible (`(1 − p)ⁿ` alone underflows for a few thousand lines).
fn binomial_pmf(trials: usize, p: f64) -> Vec<f64> {
    let mut weights = vec![0.0; trials + 1];
    if p >= 1.0 {
        weights[trials] = 1.0;
        return weights;
    }
    if p <= 0.0 {
        weights[0] = 1.0;
        return weights;
    }
    let odds = p / (1.0 - p);
    let mode = (((trials + 1) as f64 * p).floor() as usize).min(trials);
    weights[mode] = 1.0;
    for k in mode..trials {
        weights[k + 1] = weights[k] * (trials - k) as f64 / (k + 1) as f64 * odds;
    }
    for k in (1..=mode).rev() {
        weights[k - 1] = weights[k] * k as f64 / (trials - k + 1) as f64 / odds;
    }
    let total: f64 = weights.iter().sum();
    weights.iter_mut().for_each(|weight| *weight /= total);
    weights
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(answered: u64, no_answer: u64, abandoned: u64) -> WindowStats {
        WindowStats {
            dialled: answered + no_answer,
            answered,
            abandoned,
            no_answer,
            ring_to_answer_secs_avg: 10.0,
            handle_secs_avg: 190.0,
            handled: answered,
        }
    }

    fn input<'a>(free: usize, in_flight: usize, window: WindowStats) -> PacingInput<'a> {
        PacingInput {
            logged_in_agents: 20,
            free_agents: free,
            busy_agents: &[],
            lines_in_flight: in_flight,
            answered_waiting: 0,
            window,
        }
    }

    fn pacer(mode: DialMode) -> Pacer {
        Pacer::new(PacingSettings::new(mode)).unwrap()
    }

    #[test]
    fn preview_and_offline_start_one_line_per_free_agent() {
        for mode in [DialMode::Preview, DialMode::Offline] {
            assert_eq!(pacer(mode).lines_to_start(&input(4, 7, window(0, 0, 0))), 4);
            assert_eq!(pacer(mode).lines_to_start(&input(0, 0, window(0, 0, 0))), 0);
        }
    }

    #[test]
    fn progressive_keeps_lines_per_free_agent() {
        let progressive = Pacer::new(PacingSettings {
            lines_per_agent: 2,
            ..PacingSettings::new(DialMode::Progressive)
        })
        .unwrap();
        assert_eq!(progressive.lines_to_start(&input(3, 0, window(0, 0, 0))), 6);
        assert_eq!(progressive.lines_to_start(&input(3, 4, window(0, 0, 0))), 2);
        assert_eq!(progressive.lines_to_start(&input(3, 9, window(0, 0, 0))), 0);
    }

    #[test]
    fn predictive_dials_one_per_agent_without_enough_samples_or_agents() {
        let predictive = pacer(DialMode::Predictive);
        let decision = predictive.decide(&input(5, 1, window(10, 20, 0)));
        assert_eq!(
            (decision.start, decision.reason),
            (4, PacingReason::TooFewSamples)
        );
        let few_agents = PacingInput {
            logged_in_agents: 2,
            ..input(2, 0, window(300, 700, 0))
        };
        let decision = predictive.decide(&few_agents);
        assert_eq!(
            (decision.start, decision.reason),
            (2, PacingReason::TooFewAgents)
        );
    }

    #[test]
    fn predictive_over_dials_from_the_answer_rate() {
        let predictive = pacer(DialMode::Predictive);
        let decision = predictive.decide(&input(10, 0, window(300, 700, 0)));
        assert_eq!(decision.reason, PacingReason::Regulated);
        // At a 30 % answer rate 10 free agents take well over 10 lines, and under 3 per agent.
        assert!(decision.start > 15 && decision.start < 30, "{decision:?}");
        assert!(decision.expected_abandon_share <= 0.03);
        // A higher answer rate dials fewer lines.
        let busier = predictive.decide(&input(10, 0, window(600, 400, 0)));
        assert!(busier.start < decision.start, "{busier:?} vs {decision:?}");
    }

    #[test]
    fn predictive_falls_back_to_one_per_agent_at_the_target() {
        let predictive = pacer(DialMode::Predictive);
        let decision = predictive.decide(&input(10, 3, window(300, 700, 9)));
        assert_eq!(decision.reason, PacingReason::AbandonTargetReached);
        assert_eq!(decision.start, 7);
        // Near the target the budget shrinks: fewer lines than with a clean window.
        let clean = predictive.lines_to_start(&input(10, 0, window(300, 700, 0)));
        let near = predictive.lines_to_start(&input(10, 0, window(300, 700, 8)));
        assert!(near < clean, "{near} vs {clean}");
    }

    #[test]
    fn predictive_is_capped_by_max_lines_per_agent() {
        let predictive = Pacer::new(PacingSettings {
            max_lines_per_agent: 2,
            ..PacingSettings::new(DialMode::Predictive)
        })
        .unwrap();
        // 5 % answer rate: the bound would allow far more than 2 lines per agent.
        let decision = predictive.decide(&input(10, 0, window(50, 950, 0)));
        assert_eq!(
            (decision.start, decision.reason),
            (20, PacingReason::Capped)
        );
    }

    #[test]
    fn predictive_counts_agents_about_to_be_free() {
        let predictive = pacer(DialMode::Predictive);
        let wrapping = [BusyAgent {
            remaining_secs: Some(5.0),
        }; 5];
        let later = [BusyAgent {
            remaining_secs: Some(100.0),
        }; 5];
        fn with(busy: &[BusyAgent]) -> PacingInput<'_> {
            PacingInput {
                busy_agents: busy,
                ..input(5, 0, window(300, 700, 0))
            }
        }
        let soon = predictive.lines_to_start(&with(&wrapping));
        let not_soon = predictive.lines_to_start(&with(&later));
        assert!(soon > not_soon, "{soon} vs {not_soon}");
    }

    #[test]
    fn poisson_binomial_matches_a_hand_computation() {
        let pmf = poisson_binomial_pmf(&[0.5, 0.5, 1.0]);
        let expected = [0.0, 0.25, 0.5, 0.25];
        assert!(
            pmf.iter()
                .zip(expected)
                .all(|(got, want)| (got - want).abs() < 1e-12),
            "{pmf:?}"
        );
        assert_eq!(poisson_binomial_pmf(&[]), vec![1.0]);
    }

    #[test]
    fn expected_abandon_share_matches_a_hand_computation() {
        // 2 lines, p = 0.5, 1 agent: X = 2 with probability 1/4, one abandoned; E[X] = 1.
        assert!((expected_abandon_share(2, 0.5, 1) - 0.25).abs() < 1e-12);
        assert_eq!(expected_abandon_share(3, 0.5, 3), 0.0);
        // Thousands of lines do not underflow.
        let share = expected_abandon_share(5000, 0.3, 1500);
        assert!(share > 0.0 && share < 0.01, "{share}");
    }

    #[test]
    fn settings_that_cannot_pace_are_refused_naming_the_field() {
        let good = PacingSettings::new(DialMode::Progressive);
        for (settings, field) in [
            (
                PacingSettings {
                    lines_per_agent: 0,
                    ..good
                },
                "lines_per_agent",
            ),
            (
                PacingSettings {
                    max_lines_per_agent: 0,
                    ..good
                },
                "max_lines_per_agent",
            ),
            (
                PacingSettings {
                    max_abandon_percent: f64::NAN,
                    ..good
                },
                "max_abandon_percent",
            ),
            (
                PacingSettings {
                    wrap_up_secs: -1.0,
                    ..good
                },
                "wrap_up_secs",
            ),
        ] {
            let error = Pacer::new(settings).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(field));
        }
    }
}
