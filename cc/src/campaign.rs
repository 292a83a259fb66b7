//! An outbound campaign on a virtual clock, paced by [`crate::dialer::Pacer`].
//!
//! Agents are logged in for the whole campaign. Every second the pacer sees the free agents,
//! the busy ones (a known remaining time in wrap-up, unknown while talking), the lines in
//! flight, the answered calls waiting and the statistics of the last `abandon_window_mins`,
//! and the lines it asks for start, one member each (members are not redialled here: retries
//! are the store's business). A line answers live with `answer_probability` after a ring time
//! drawn from `ring_to_answer`; an answer later than `dial_timeout_secs`, and every other
//! line, ends as no answer at the timeout.
//!
//! Offline and preview reserve an agent per line (freed again on no answer). Progressive and
//! predictive lines are not reserved: an answered call goes to the agent idle the longest;
//! with none free it waits [`AGENT_CONNECT_SECS`] (the 2 s rule) for one to finish, else it is
//! abandoned (the safe message plays). An agent talks for `handle`, then wraps up for
//! `wrap_up`.
//!
//! Dialling stops after `hours`; the calls then in progress play out. Deterministic: the same
//! setup and seed give the same report (the generator of [`crate::des`]).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use crate::des::Xoshiro256StarStar;
use crate::dialer::{
    AGENT_CONNECT_SECS, BusyAgent, DialMode, Pacer, PacingDecision, PacingInput, PacingSettings,
    WindowStats,
};

/// More agents than this are refused (the simulation keeps a few words per agent and line).
pub const MAX_AGENTS: u32 = 100_000;

/// A duration drawn for each call, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    Fixed(f64),
    Uniform { min: f64, max: f64 },
    Exponential { mean: f64 },
}

impl Distribution {
    fn draw(&self, rng: &mut Xoshiro256StarStar) -> f64 {
        match *self {
            Distribution::Fixed(secs) => secs,
            Distribution::Uniform { min, max } => min + (max - min) * rng.uniform_open_closed(),
            Distribution::Exponential { mean } => rng.exponential(mean),
        }
    }

    fn is_valid(&self) -> bool {
        let usable = |secs: f64| secs.is_finite() && secs >= 0.0;
        match *self {
            Distribution::Fixed(secs) => usable(secs),
            Distribution::Uniform { min, max } => usable(min) && usable(max) && min <= max,
            Distribution::Exponential { mean } => usable(mean) && mean > 0.0,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CampaignSetup {
    pub pacing: PacingSettings,
    pub agents: u32,
    /// Members to dial; the campaign ends early when every one was dialled.
    pub members: u64,
    /// Probability that a line is answered live.
    pub answer_probability: f64,
    /// Ring time of the lines answered live.
    pub ring_to_answer: Distribution,
    /// A line not answered by then ends as no answer.
    pub dial_timeout_secs: f64,
    /// Talk time.
    pub handle: Distribution,
    pub wrap_up: Distribution,
    /// How long lines are started.
    pub hours: f64,
    /// The window of the pacer's statistics.
    pub abandon_window_mins: f64,
    pub seed: u64,
}

impl CampaignSetup {
    /// 20 agents for 8 hours, 3 min mean talk (exponential), 10 s wrap-up, answers after 4 to
    /// 20 s of ringing, 30 s dial timeout, 60 min window, the queue defaults for `mode`.
    pub fn typical(mode: DialMode, answer_probability: f64, seed: u64) -> CampaignSetup {
        CampaignSetup {
            pacing: PacingSettings {
                wrap_up_secs: 10.0,
                ..PacingSettings::new(mode)
            },
            agents: 20,
            members: 1_000_000,
            answer_probability,
            ring_to_answer: Distribution::Uniform {
                min: 4.0,
                max: 20.0,
            },
            dial_timeout_secs: 30.0,
            handle: Distribution::Exponential { mean: 180.0 },
            wrap_up: Distribution::Fixed(10.0),
            hours: 8.0,
            abandon_window_mins: 60.0,
            seed,
        }
    }
}

/// A setup that cannot be simulated: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSetupError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl fmt::Display for CampaignSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "campaign setup: {} {}", self.field, self.problem)
    }
}

impl std::error::Error for CampaignSetupError {}

/// What the campaign measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignReport {
    pub setup: CampaignSetup,
    pub dialled: u64,
    /// Answered live.
    pub answered: u64,
    /// Answered live, no agent within 2 s: the safe message played.
    pub abandoned: u64,
    pub no_answer: u64,
    /// Answered and talked to an agent.
    pub connected: u64,
    /// Abandoned ÷ answered live (0 without answers).
    pub abandon_rate: f64,
    /// The highest abandon rate of the pacer's window at any second after its first 100
    /// answers (the regulator's view).
    pub window_abandon_rate_max: f64,
    /// Agents' talk time while dialling ÷ their logged-in time.
    pub occupancy: f64,
    /// The most lines in flight per agent after a pacing step that started lines: agents the
    /// pacer counted available (free, soon free), plus those reserved for their lines.
    pub lines_per_agent_max: f64,
    /// Connected calls ÷ (agents × hours).
    pub calls_per_agent_hour: f64,
}

/// One pacing step, for observers: the input's figures, the decision and the lines in flight
/// after the new ones started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingStep {
    pub at_secs: f64,
    pub free_agents: usize,
    pub logged_in_agents: usize,
    pub window: WindowStats,
    pub decision: PacingDecision,
    pub lines_in_flight_after: usize,
}

/// Runs the campaign; refuses a setup that makes no sense, naming the field.
pub fn simulate(setup: &CampaignSetup) -> Result<CampaignReport, CampaignSetupError> {
    simulate_observed(setup, |_| {})
}

/// [`simulate`], calling `observe` after every pacing step.
pub fn simulate_observed(
    setup: &CampaignSetup,
    observe: impl FnMut(&PacingStep),
) -> Result<CampaignReport, CampaignSetupError> {
    validate(setup)?;
    let pacer = Pacer::new(setup.pacing).map_err(|error| CampaignSetupError {
        field: error.field,
        problem: error.problem,
    })?;
    Ok(Campaign::new(setup, pacer).run(observe))
}

fn validate(setup: &CampaignSetup) -> Result<(), CampaignSetupError> {
    let error = |field, problem| Err(CampaignSetupError { field, problem });
    let positive = |value: f64| value.is_finite() && value > 0.0;
    if setup.agents == 0 || setup.agents > MAX_AGENTS {
        return error("agents", "must be between 1 and 100000");
    }
    if !(0.0..=1.0).contains(&setup.answer_probability) {
        return error("answer_probability", "must be between 0 and 1");
    }
    if !setup.ring_to_answer.is_valid() {
        return error("ring_to_answer", "must be durations of at least 0 s");
    }
    if !positive(setup.dial_timeout_secs) {
        return error("dial_timeout_secs", "must be a number above 0");
    }
    if !setup.handle.is_valid() {
        return error("handle", "must be durations of at least 0 s");
    }
    if !setup.wrap_up.is_valid() {
        return error("wrap_up", "must be durations of at least 0 s");
    }
    if !positive(setup.hours) || setup.hours > 24.0 * 31.0 {
        return error("hours", "must be above 0 and at most 744 (a month)");
    }
    if !positive(setup.abandon_window_mins) {
        return error("abandon_window_mins", "must be a number above 0");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Tick,
    Answered { line: usize },
    NoAnswer { line: usize },
    TalkEnds { agent: usize },
    WrapUpEnds { agent: usize },
    SafeMessage { line: usize },
}

/// An event at `at` seconds; `sequence` keeps equal times in the order they were scheduled.
struct Scheduled {
    at: f64,
    sequence: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at
            .total_cmp(&other.at)
            .then(self.sequence.cmp(&other.sequence))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AgentState {
    Idle,
    /// Offline / preview: reserved for a ringing line.
    Reserved,
    Talking,
    WrappingUp {
        until: f64,
    },
}

/// Samples of the last `span` seconds with their running sum.
struct Window {
    span: f64,
    samples: VecDeque<(f64, f64)>,
    sum: f64,
}

impl Window {
    fn new(span: f64) -> Window {
        Window {
            span,
            samples: VecDeque::new(),
            sum: 0.0,
        }
    }

    fn push(&mut self, at: f64, value: f64) {
        self.samples.push_back((at, value));
        self.sum += value;
    }

    fn evict(&mut self, now: f64) {
        while let Some(&(at, value)) = self.samples.front() {
            if at > now - self.span {
                break;
            }
            self.samples.pop_front();
            self.sum -= value;
        }
    }

    fn count(&self) -> u64 {
        self.samples.len() as u64
    }

    fn mean(&self) -> f64 {
        if self.samples.is_empty() {
            0.0
        } else {
            self.sum / self.samples.len() as f64
        }
    }
}

struct Campaign {
    setup: CampaignSetup,
    pacer: Pacer,
    rng: Xoshiro256StarStar,
    horizon: f64,
    events: BinaryHeap<Reverse<Scheduled>>,
    sequence: u64,
    agents: Vec<AgentState>,
    /// Idle agents, the longest idle first.
    idle: VecDeque<usize>,
    /// Per line: its start, and the agent reserved for it (offline / preview).
    lines: Vec<(f64, Option<usize>)>,
    in_flight: usize,
    /// Answered lines waiting for an agent, oldest first (each leaves at its 2 s).
    waiting: VecDeque<usize>,
    dial_window: Window,
    answer_window: Window,
    no_answer_window: Window,
    abandon_window: Window,
    handle_window: Window,
    /// When each talking agent started, for the handle time.
    talk_started: Vec<f64>,
    dialled: u64,
    answered: u64,
    abandoned: u64,
    no_answer: u64,
    connected: u64,
    talk_secs_in_horizon: f64,
    lines_per_agent_max: f64,
    window_abandon_rate_max: f64,
}

impl Campaign {
    fn new(setup: &CampaignSetup, pacer: Pacer) -> Campaign {
        let agents = setup.agents as usize;
        let span = setup.abandon_window_mins * 60.0;
        Campaign {
            setup: *setup,
            pacer,
            rng: Xoshiro256StarStar::seeded(setup.seed),
            horizon: setup.hours * 3600.0,
            events: BinaryHeap::new(),
            sequence: 0,
            agents: vec![AgentState::Idle; agents],
            idle: (0..agents).collect(),
            lines: Vec::new(),
            in_flight: 0,
            waiting: VecDeque::new(),
            dial_window: Window::new(span),
            answer_window: Window::new(span),
            no_answer_window: Window::new(span),
            abandon_window: Window::new(span),
            handle_window: Window::new(span),
            talk_started: vec![0.0; agents],
            dialled: 0,
            answered: 0,
            abandoned: 0,
            no_answer: 0,
            connected: 0,
            talk_secs_in_horizon: 0.0,
            lines_per_agent_max: 0.0,
            window_abandon_rate_max: 0.0,
        }
    }

    fn schedule(&mut self, at: f64, event: Event) {
        self.sequence += 1;
        self.events.push(Reverse(Scheduled {
            at,
            sequence: self.sequence,
            event,
        }));
    }

    fn run(mut self, mut observe: impl FnMut(&PacingStep)) -> CampaignReport {
        self.schedule(0.0, Event::Tick);
        while let Some(Reverse(Scheduled { at, event, .. })) = self.events.pop() {
            match event {
                Event::Tick => {
                    let step = self.pace(at);
                    observe(&step);
                    if at + 1.0 < self.horizon && self.dialled < self.setup.members {
                        self.schedule(at + 1.0, Event::Tick);
                    }
                }
                Event::Answered { line } => self.answered_live(at, line),
                Event::NoAnswer { line } => self.not_answered(at, line),
                Event::TalkEnds { agent } => self.talk_ends(at, agent),
                Event::WrapUpEnds { agent } => self.agent_free(at, agent),
                Event::SafeMessage { line } => {
                    if self.waiting.front() == Some(&line) {
                        self.waiting.pop_front();
                        self.abandoned += 1;
                        self.abandon_window.push(at, 0.0);
                    }
                }
            }
        }
        self.report()
    }

    fn window_stats(&mut self, now: f64) -> WindowStats {
        for window in [
            &mut self.dial_window,
            &mut self.answer_window,
            &mut self.no_answer_window,
            &mut self.abandon_window,
            &mut self.handle_window,
        ] {
            window.evict(now);
        }
        WindowStats {
            dialled: self.dial_window.count(),
            answered: self.answer_window.count(),
            abandoned: self.abandon_window.count(),
            no_answer: self.no_answer_window.count(),
            ring_to_answer_secs_avg: self.answer_window.mean(),
            handle_secs_avg: self.handle_window.mean(),
            handled: self.handle_window.count(),
        }
    }

    fn pace(&mut self, now: f64) -> PacingStep {
        let window = self.window_stats(now);
        if window.answered >= 100 {
            self.window_abandon_rate_max = self.window_abandon_rate_max.max(window.abandon_rate());
        }
        let busy: Vec<BusyAgent> = self
            .agents
            .iter()
            .filter_map(|state| match *state {
                AgentState::Talking => Some(BusyAgent {
                    remaining_secs: None,
                }),
                AgentState::WrappingUp { until } => Some(BusyAgent {
                    remaining_secs: Some(until - now),
                }),
                AgentState::Idle | AgentState::Reserved => None,
            })
            .collect();
        let input = PacingInput {
            logged_in_agents: self.agents.len(),
            free_agents: self.idle.len(),
            busy_agents: &busy,
            lines_in_flight: self.in_flight,
            answered_waiting: self.waiting.len(),
            window,
        };
        let decision = self.pacer.decide(&input);
        // Offline / preview lines in flight each hold their reserved agent.
        let reserved_lines = match self.setup.pacing.mode {
            DialMode::Offline | DialMode::Preview => self.in_flight,
            DialMode::Progressive | DialMode::Predictive => 0,
        };
        let members_left = self.setup.members - self.dialled;
        let start = (decision.start as u64).min(members_left) as usize;
        for _ in 0..start {
            self.start_line(now);
        }
        if start > 0 {
            let agents = decision.available_agents + reserved_lines as f64;
            self.lines_per_agent_max = self.lines_per_agent_max.max(self.in_flight as f64 / agents);
        }
        PacingStep {
            at_secs: now,
            free_agents: input.free_agents,
            logged_in_agents: input.logged_in_agents,
            window,
            decision,
            lines_in_flight_after: self.in_flight,
        }
    }

    fn start_line(&mut self, now: f64) {
        let reserved = match self.setup.pacing.mode {
            DialMode::Offline | DialMode::Preview => {
                let Some(agent) = self.idle.pop_front() else {
                    return;
                };
                self.agents[agent] = AgentState::Reserved;
                Some(agent)
            }
            DialMode::Progressive | DialMode::Predictive => None,
        };
        let line = self.lines.len();
        self.lines.push((now, reserved));
        self.in_flight += 1;
        self.dialled += 1;
        self.dial_window.push(now, 0.0);
        let answers = self.rng.uniform_open_closed() <= self.setup.answer_probability;
        let ring = self.setup.ring_to_answer.draw(&mut self.rng);
        if answers && ring < self.setup.dial_timeout_secs {
            self.schedule(now + ring, Event::Answered { line });
        } else {
            self.schedule(now + self.setup.dial_timeout_secs, Event::NoAnswer { line });
        }
    }

    fn not_answered(&mut self, now: f64, line: usize) {
        self.in_flight -= 1;
        self.no_answer += 1;
        self.no_answer_window.push(now, 0.0);
        if let Some(agent) = self.lines[line].1 {
            self.agents[agent] = AgentState::Idle;
            self.idle.push_back(agent);
        }
    }

    fn answered_live(&mut self, now: f64, line: usize) {
        self.in_flight -= 1;
        self.answered += 1;
        let (started, reserved) = self.lines[line];
        self.answer_window.push(now, now - started);
        let agent = reserved.or_else(|| self.idle.pop_front());
        match agent {
            Some(agent) => self.talk(now, agent),
            None => {
                self.waiting.push_back(line);
                self.schedule(now + AGENT_CONNECT_SECS, Event::SafeMessage { line });
            }
        }
    }

    fn talk(&mut self, now: f64, agent: usize) {
        self.connected += 1;
        self.agents[agent] = AgentState::Talking;
        self.talk_started[agent] = now;
        let ends = now + self.setup.handle.draw(&mut self.rng);
        self.talk_secs_in_horizon += (ends.min(self.horizon) - now.min(self.horizon)).max(0.0);
        self.schedule(ends, Event::TalkEnds { agent });
    }

    fn talk_ends(&mut self, now: f64, agent: usize) {
        let until = now + self.setup.wrap_up.draw(&mut self.rng);
        self.agents[agent] = AgentState::WrappingUp { until };
        self.schedule(until, Event::WrapUpEnds { agent });
    }

    fn agent_free(&mut self, now: f64, agent: usize) {
        self.handle_window.push(now, now - self.talk_started[agent]);
        // A call still waiting is inside its 2 s: its safe message has not played yet.
        if self.waiting.pop_front().is_some() {
            self.talk(now, agent);
        } else {
            self.agents[agent] = AgentState::Idle;
            self.idle.push_back(agent);
        }
    }

    fn report(self) -> CampaignReport {
        let agent_hours = f64::from(self.setup.agents) * self.setup.hours;
        CampaignReport {
            setup: self.setup,
            dialled: self.dialled,
            answered: self.answered,
            abandoned: self.abandoned,
            no_answer: self.no_answer,
            connected: self.connected,
            abandon_rate: if self.answered == 0 {
                0.0
            } else {
                self.abandoned as f64 / self.answered as f64
            },
            window_abandon_rate_max: self.window_abandon_rate_max,
            occupancy: self.talk_secs_in_horizon / (agent_hours * 3600.0),
            lines_per_agent_max: self.lines_per_agent_max,
            calls_per_agent_hour: self.connected as f64 / agent_hours,
        }
    }
}

impl CampaignReport {
    /// One line: mode, answer rate, and the figures.
    pub fn summary(&self) -> String {
        format!(
            "{:<12}{:>7.0} %{:>10}{:>10}{:>10.2} %{:>11.1} %{:>10.1}{:>10.2}",
            format!("{:?}", self.setup.pacing.mode).to_lowercase(),
            self.setup.answer_probability * 100.0,
            self.dialled,
            self.answered,
            self.abandon_rate * 100.0,
            self.occupancy * 100.0,
            self.calls_per_agent_hour,
            self.lines_per_agent_max,
        )
    }

    /// The header of [`CampaignReport::summary`].
    pub fn summary_header() -> String {
        format!(
            "{:<12}{:>9}{:>10}{:>10}{:>12}{:>13}{:>10}{:>10}",
            "mode",
            "answer",
            "dialled",
            "answered",
            "abandoned",
            "occupancy",
            "calls/ah",
            "lines/ag"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialer::PacingReason;

    fn run(setup: &CampaignSetup) -> CampaignReport {
        simulate(setup).unwrap()
    }

    /// The acceptance criterion: 8 hours, 20 agents, 3 min mean talk; over the whole
    /// campaign and at every second of the pacer's 60 min window (once it holds 100 answers)
    /// at most 3 % of live answers abandoned, for several seeds; and the agents talk clearly
    /// more than with progressive dialling of the same members.
    #[test]
    fn predictive_keeps_abandons_within_3_percent_and_beats_progressive_occupancy() {
        for (answer_probability, occupancy_gain) in [(0.3, 0.08), (0.6, 0.02)] {
            for seed in 1..=4 {
                let predictive = run(&CampaignSetup::typical(
                    DialMode::Predictive,
                    answer_probability,
                    seed,
                ));
                let progressive = run(&CampaignSetup::typical(
                    DialMode::Progressive,
                    answer_probability,
                    seed,
                ));
                let table = format!(
                    "{}\n{}\n{}",
                    CampaignReport::summary_header(),
                    predictive.summary(),
                    progressive.summary()
                );
                assert!(predictive.answered > 2_000, "{table}");
                assert!(predictive.abandon_rate <= 0.03, "{table}");
                assert!(
                    predictive.window_abandon_rate_max <= 0.03,
                    "window {}\n{table}",
                    predictive.window_abandon_rate_max
                );
                assert!(
                    predictive.occupancy >= progressive.occupancy + occupancy_gain,
                    "{table}"
                );
                assert!(
                    predictive.calls_per_agent_hour > progressive.calls_per_agent_hour,
                    "{table}"
                );
                assert!(predictive.lines_per_agent_max <= 3.0, "{table}");
                assert!(predictive.lines_per_agent_max > 1.0, "{table}");
            }
        }
    }

    /// 200 agents starting together: the first calls to end are the short ones, so the early
    /// mean handle time is far too low; the pacer must not take it for the agents' pace
    /// (without that check this test saw windows with 8 to 24 % abandoned).
    #[test]
    fn a_large_team_starting_together_stays_within_the_target() {
        for (answer_probability, seed) in [(0.6, 1), (0.6, 2), (0.9, 3)] {
            let mut setup = CampaignSetup::typical(DialMode::Predictive, answer_probability, seed);
            setup.agents = 200;
            setup.hours = 1.0;
            let report = run(&setup);
            assert!(report.answered > 2_000, "{}", report.summary());
            assert!(
                report.window_abandon_rate_max <= 0.03,
                "window {}\n{}",
                report.window_abandon_rate_max,
                report.summary()
            );
        }
    }

    #[test]
    fn progressive_never_starts_lines_beyond_its_lines_per_agent() {
        let mut setup = CampaignSetup::typical(DialMode::Progressive, 0.3, 5);
        setup.pacing.lines_per_agent = 2;
        setup.hours = 2.0;
        let mut steps_at_the_limit = 0;
        let report = simulate_observed(&setup, |step| {
            let limit = 2 * step.free_agents;
            assert!(
                step.decision.start == 0 || step.lines_in_flight_after <= limit,
                "{step:?}"
            );
            steps_at_the_limit +=
                usize::from(step.decision.start > 0 && step.lines_in_flight_after == limit);
        })
        .unwrap();
        assert!(steps_at_the_limit > 100, "{steps_at_the_limit}");
        assert_eq!(report.lines_per_agent_max, 2.0);
        // Two lines per agent can answer together: some callers find nobody.
        assert!(report.abandoned > 0);
        // One line per agent never abandons anyone.
        setup.pacing.lines_per_agent = 1;
        let one = run(&setup);
        assert_eq!(one.abandoned, 0);
        assert_eq!(one.lines_per_agent_max, 1.0);
    }

    #[test]
    fn below_min_agents_predictive_dials_one_line_per_free_agent() {
        let mut setup = CampaignSetup::typical(DialMode::Predictive, 0.3, 6);
        setup.agents = 5;
        setup.pacing.min_agents = 6;
        setup.hours = 2.0;
        let mut steps = 0;
        let report = simulate_observed(&setup, |step| {
            steps += 1;
            assert_eq!(step.decision.reason, PacingReason::TooFewAgents, "{step:?}");
            assert!(
                step.decision.start == 0 || step.lines_in_flight_after <= step.free_agents,
                "{step:?}"
            );
        })
        .unwrap();
        assert_eq!(steps, 7_200);
        assert_eq!(report.abandoned, 0);
        assert_eq!(report.lines_per_agent_max, 1.0);
        // With min_agents lowered to 5 the same agents are dialled for ahead.
        setup.pacing.min_agents = 5;
        let ahead = run(&setup);
        assert!(ahead.lines_per_agent_max > 1.0, "{}", ahead.summary());
    }

    #[test]
    fn preview_and_offline_reserve_an_agent_per_line() {
        for mode in [DialMode::Preview, DialMode::Offline] {
            let mut setup = CampaignSetup::typical(mode, 0.6, 7);
            setup.hours = 2.0;
            let report = run(&setup);
            assert_eq!(report.abandoned, 0);
            assert_eq!(report.connected, report.answered);
            assert_eq!(report.lines_per_agent_max, 1.0);
            assert_eq!(
                report.dialled,
                report.answered + report.no_answer,
                "every line ended"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let mut setup = CampaignSetup::typical(DialMode::Predictive, 0.3, 42);
        setup.hours = 1.0;
        let first = run(&setup);
        assert_eq!(first, run(&setup));
        setup.seed = 43;
        assert_ne!(first.dialled, run(&setup).dialled);
    }

    #[test]
    fn the_campaign_ends_when_every_member_was_dialled() {
        let mut setup = CampaignSetup::typical(DialMode::Predictive, 0.3, 8);
        setup.members = 500;
        let report = run(&setup);
        assert_eq!(report.dialled, 500);
        assert_eq!(report.answered + report.no_answer, 500);
    }

    #[test]
    fn nonsense_setups_are_refused_naming_the_field() {
        let good = CampaignSetup::typical(DialMode::Predictive, 0.3, 1);
        let mut cases = vec![
            (CampaignSetup { agents: 0, ..good }, "agents"),
            (
                CampaignSetup {
                    answer_probability: 1.5,
                    ..good
                },
                "answer_probability",
            ),
            (
                CampaignSetup {
                    ring_to_answer: Distribution::Uniform { min: 5.0, max: 1.0 },
                    ..good
                },
                "ring_to_answer",
            ),
            (
                CampaignSetup {
                    dial_timeout_secs: 0.0,
                    ..good
                },
                "dial_timeout_secs",
            ),
            (
                CampaignSetup {
                    handle: Distribution::Exponential { mean: 0.0 },
                    ..good
                },
                "handle",
            ),
            (
                CampaignSetup {
                    wrap_up: Distribution::Fixed(f64::NAN),
                    ..good
                },
                "wrap_up",
            ),
            (CampaignSetup { hours: 0.0, ..good }, "hours"),
            (
                CampaignSetup {
                    abandon_window_mins: -1.0,
                    ..good
                },
                "abandon_window_mins",
            ),
        ];
        let mut no_lines = good;
        no_lines.pacing.max_lines_per_agent = 0;
        cases.push((no_lines, "max_lines_per_agent"));
        for (setup, field) in cases {
            let error = simulate(&setup).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(field), "{error}");
        }
    }
}
