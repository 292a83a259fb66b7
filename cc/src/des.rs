//! Capacity planning by discrete-event simulation, next to the Erlang C prediction.
//!
//! The simulated queue: calls arrive as a Poisson stream (exponential gaps), each is handled
//! for an exponentially distributed time of mean AHT, callers wait in one FIFO queue, and a
//! caller who arrives while agents are free goes to the one idle the longest. A waiting caller
//! hangs up after an exponentially distributed patience (when a mean patience is given).
//! Arrivals stop after `hours`; the calls already in the system are then played out, so every
//! call ends answered or abandoned.
//!
//! Without abandonment this is exactly the M/M/N queue Erlang C describes, so over enough calls
//! the simulation must agree with [`crate::erlang::forecast`] (the tests hold it to 2 points of
//! service level and 10 % of ASA). With abandonment the simulation shows what Erlang C cannot:
//! fewer and shorter waits, at the price of lost callers.
//!
//! Deterministic: the same setup and seed give the same report, on every platform (the
//! generator is xoshiro256** seeded through splitmix64, written out below).

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use crate::erlang::{self, Forecast};

/// More simulated calls than this (arrivals per hour × hours) are refused: a planning run
/// needs a few million at most, and an overloaded queue where nobody abandons keeps every
/// waiting caller in memory (16 bytes each).
pub const MAX_EXPECTED_CALLS: f64 = 10_000_000.0;

/// More agents than this are refused.
pub const MAX_AGENTS: u32 = 1_000_000;

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimSetup {
    pub agents: u32,
    pub arrivals_per_hour: f64,
    /// Mean handle time, seconds.
    pub aht_secs: f64,
    /// Mean of the exponential patience of a waiting caller, seconds; `None` = nobody abandons.
    pub patience_secs: Option<f64>,
    /// How long calls keep arriving.
    pub hours: f64,
    pub seed: u64,
    /// The service-level threshold T, seconds.
    pub sl_secs: f64,
}

/// A setup that cannot be simulated: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSetupError {
    pub field: &'static str,
    pub problem: &'static str,
}

impl fmt::Display for SimSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulation setup: {} {}", self.field, self.problem)
    }
}

impl std::error::Error for SimSetupError {}

/// What the simulation measured, and what Erlang C predicts for the same queue.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    pub setup: SimSetup,
    pub calls: u64,
    pub answered: u64,
    pub abandoned: u64,
    /// Share of calls that found no agent free and had to queue.
    pub wait_probability: f64,
    /// Answered within T ÷ answered (SL1 of [`crate::metrics`]); 1 when nothing was answered.
    pub service_level: f64,
    /// (Answered within T + abandoned within T) ÷ (answered + abandoned) (SL2 of
    /// [`crate::metrics`], as Asterisk).
    pub service_level_with_abandons: f64,
    /// Mean wait of the answered calls, seconds.
    pub asa_secs: f64,
    /// Abandoned ÷ calls.
    pub abandon_rate: f64,
    /// Agent busy time while calls arrived ÷ (agents × that time).
    pub occupancy: f64,
    /// Erlang C for the same agents, arrival rate, AHT and T; `None` when traffic ≥ agents.
    pub forecast: Option<Forecast>,
}

/// Runs the simulation; refuses a setup that makes no sense, naming the field.
pub fn simulate(setup: &SimSetup) -> Result<SimReport, SimSetupError> {
    validate(setup)?;
    Ok(Simulation::new(setup).run())
}

fn validate(setup: &SimSetup) -> Result<(), SimSetupError> {
    let positive = |value: f64| value.is_finite() && value > 0.0;
    let error = |field, problem| Err(SimSetupError { field, problem });
    if setup.agents == 0 {
        return error("agents", "must be at least 1");
    }
    if setup.agents > MAX_AGENTS {
        return error("agents", "must be at most 1000000");
    }
    if !positive(setup.arrivals_per_hour) {
        return error("arrivals_per_hour", "must be a number above 0");
    }
    if !positive(setup.aht_secs) {
        return error("aht_secs", "must be a number above 0");
    }
    if setup
        .patience_secs
        .is_some_and(|patience| !positive(patience))
    {
        return error(
            "patience_secs",
            "must be a number above 0 (or absent: nobody abandons)",
        );
    }
    if !positive(setup.hours) {
        return error("hours", "must be a number above 0");
    }
    if setup.arrivals_per_hour * setup.hours > MAX_EXPECTED_CALLS {
        return error(
            "hours",
            "times arrivals_per_hour must be at most 10000000 calls",
        );
    }
    if !(setup.sl_secs.is_finite() && setup.sl_secs >= 0.0) {
        return error("sl_secs", "must be a number of at least 0");
    }
    Ok(())
}

struct WaitingCaller {
    arrived_at: f64,
    gives_up_at: f64,
}

/// An agent's call ends at `at` (seconds of simulated time).
#[derive(Clone, Copy)]
struct Completion {
    at: f64,
    agent: u32,
}

impl PartialEq for Completion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Completion {}

impl PartialOrd for Completion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Completion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at
            .total_cmp(&other.at)
            .then(self.agent.cmp(&other.agent))
    }
}

struct Simulation {
    setup: SimSetup,
    rng: Xoshiro256StarStar,
    horizon_secs: f64,
    /// Idle agents, the longest idle first.
    idle: VecDeque<u32>,
    busy: BinaryHeap<Reverse<Completion>>,
    queue: VecDeque<WaitingCaller>,
    calls: u64,
    queued: u64,
    answered: u64,
    answered_within: u64,
    answered_wait_secs: f64,
    abandoned: u64,
    abandoned_within: u64,
    busy_secs_in_horizon: f64,
}

impl Simulation {
    fn new(setup: &SimSetup) -> Simulation {
        Simulation {
            setup: *setup,
            rng: Xoshiro256StarStar::seeded(setup.seed),
            horizon_secs: setup.hours * 3600.0,
            idle: (0..setup.agents).collect(),
            busy: BinaryHeap::with_capacity(setup.agents as usize),
            queue: VecDeque::new(),
            calls: 0,
            queued: 0,
            answered: 0,
            answered_within: 0,
            answered_wait_secs: 0.0,
            abandoned: 0,
            abandoned_within: 0,
            busy_secs_in_horizon: 0.0,
        }
    }

    fn run(mut self) -> SimReport {
        let mean_gap_secs = 3600.0 / self.setup.arrivals_per_hour;
        let mut next_arrival = self.rng.exponential(mean_gap_secs);
        loop {
            let next_completion = self.busy.peek().map(|Reverse(completion)| completion.at);
            let arrival_first = next_arrival < self.horizon_secs
                && next_completion.is_none_or(|at| next_arrival < at);
            if arrival_first {
                self.arrive(next_arrival);
                next_arrival += self.rng.exponential(mean_gap_secs);
            } else if let Some(Reverse(completion)) = self.busy.pop() {
                self.complete(completion);
            } else {
                break;
            }
        }
        // Every agent is idle and no call arrives any more, so nobody can still be waiting: an
        // agent only goes idle when the queue is empty.
        debug_assert!(self.queue.is_empty());
        self.report()
    }

    fn arrive(&mut self, now: f64) {
        self.calls += 1;
        if let Some(agent) = self.idle.pop_front() {
            self.answer(now, now, agent);
        } else {
            self.queued += 1;
            let gives_up_at = match self.setup.patience_secs {
                Some(mean) => now + self.rng.exponential(mean),
                None => f64::INFINITY,
            };
            self.queue.push_back(WaitingCaller {
                arrived_at: now,
                gives_up_at,
            });
        }
    }

    /// The agent is free at `completion.at`: the first caller still waiting gets them. Callers
    /// whose patience ran out before are abandoned when reached (FIFO, so removing them then
    /// changes nobody's turn).
    fn complete(&mut self, completion: Completion) {
        let now = completion.at;
        while let Some(caller) = self.queue.pop_front() {
            if caller.gives_up_at < now {
                self.abandoned += 1;
                let waited = caller.gives_up_at - caller.arrived_at;
                self.abandoned_within += u64::from(waited <= self.setup.sl_secs);
            } else {
                self.answer(now, caller.arrived_at, completion.agent);
                return;
            }
        }
        self.idle.push_back(completion.agent);
    }

    fn answer(&mut self, now: f64, arrived_at: f64, agent: u32) {
        let waited = now - arrived_at;
        self.answered += 1;
        self.answered_wait_secs += waited;
        self.answered_within += u64::from(waited <= self.setup.sl_secs);
        let ends_at = now + self.rng.exponential(self.setup.aht_secs);
        self.busy_secs_in_horizon +=
            (ends_at.min(self.horizon_secs) - now.min(self.horizon_secs)).max(0.0);
        self.busy.push(Reverse(Completion { at: ends_at, agent }));
    }

    fn report(self) -> SimReport {
        let ratio = |part: u64, whole: u64, empty: f64| {
            if whole == 0 {
                empty
            } else {
                part as f64 / whole as f64
            }
        };
        let setup = self.setup;
        SimReport {
            setup,
            calls: self.calls,
            answered: self.answered,
            abandoned: self.abandoned,
            wait_probability: ratio(self.queued, self.calls, 0.0),
            service_level: ratio(self.answered_within, self.answered, 1.0),
            service_level_with_abandons: ratio(
                self.answered_within + self.abandoned_within,
                self.answered + self.abandoned,
                1.0,
            ),
            asa_secs: if self.answered == 0 {
                0.0
            } else {
                self.answered_wait_secs / self.answered as f64
            },
            abandon_rate: ratio(self.abandoned, self.calls, 0.0),
            occupancy: self.busy_secs_in_horizon / (f64::from(setup.agents) * self.horizon_secs),
            forecast: erlang::forecast(
                setup.arrivals_per_hour,
                setup.aht_secs,
                setup.agents,
                setup.sl_secs,
            ),
        }
    }
}

impl SimReport {
    /// A plain-text table: the simulated figures, the Erlang C prediction and the difference.
    pub fn render(&self) -> String {
        let setup = &self.setup;
        let patience = match setup.patience_secs {
            Some(mean) => format!("mean patience {} s", short(mean)),
            None => "nobody abandons".to_owned(),
        };
        let mut out = format!(
            "{} agents, {} calls/h, AHT {} s, {patience}, {} h, seed {}\n\
             {} calls: {} answered, {} abandoned\n\n",
            setup.agents,
            short(setup.arrivals_per_hour),
            short(setup.aht_secs),
            short(setup.hours),
            setup.seed,
            self.calls,
            self.answered,
            self.abandoned,
        );
        out.push_str(&format!(
            "{:<26}{:>12}{:>12}{:>12}\n",
            "", "simulated", "Erlang C", "difference"
        ));
        let forecast = self.forecast.as_ref();
        let percent_row = |label: &str, simulated: f64, predicted: Option<f64>| {
            row(
                label,
                format!("{:.1} %", simulated * 100.0),
                predicted,
                |p| {
                    (
                        format!("{:.1} %", p * 100.0),
                        format!("{:+.1} pp", (simulated - p) * 100.0),
                    )
                },
            )
        };
        out.push_str(&percent_row(
            "occupancy",
            self.occupancy,
            forecast.map(|f| f.occupancy),
        ));
        out.push_str(&percent_row(
            "waited (P(wait))",
            self.wait_probability,
            forecast.map(|f| f.wait_probability),
        ));
        out.push_str(&percent_row(
            &format!("service level ({} s)", short(setup.sl_secs)),
            self.service_level,
            forecast.map(|f| f.service_level),
        ));
        out.push_str(&percent_row(
            "SL counting abandons",
            self.service_level_with_abandons,
            None,
        ));
        out.push_str(&row(
            "ASA",
            format!("{:.1} s", self.asa_secs),
            forecast.map(|f| f.asa_secs),
            |p| (format!("{p:.1} s"), format!("{:+.1} s", self.asa_secs - p)),
        ));
        out.push_str(&percent_row("abandon rate", self.abandon_rate, None));
        out.push('\n');
        match forecast {
            None => out.push_str(&format!(
                "Erlang C: no steady state, the traffic ({:.1} Erlangs) is not below the {} agents.\n",
                setup.arrivals_per_hour / 3600.0 * setup.aht_secs,
                setup.agents
            )),
            Some(f) if setup.patience_secs.is_some() => out.push_str(&format!(
                "Erlang C ({:.1} Erlangs) assumes nobody abandons; callers who do make the real queue wait less.\n",
                f.traffic_erlangs
            )),
            Some(f) => out.push_str(&format!("Erlang C: {:.1} Erlangs offered.\n", f.traffic_erlangs)),
        }
        out
    }
}

/// At most two decimals, without trailing zeros: 69.44, 720, 0.5.
fn short(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One table row; `predicted` turns the Erlang C figure into its text and the difference.
fn row(
    label: &str,
    simulated: String,
    predicted: Option<f64>,
    describe: impl FnOnce(f64) -> (String, String),
) -> String {
    let (predicted, difference) = predicted.map_or(("—".to_owned(), "—".to_owned()), describe);
    format!("{label:<26}{simulated:>12}{predicted:>12}{difference:>12}\n")
}

/// xoshiro256** (Blackman and Vigna), seeded through splitmix64 as its authors recommend.
pub(crate) struct Xoshiro256StarStar {
    state: [u64; 4],
}

impl Xoshiro256StarStar {
    pub(crate) fn seeded(seed: u64) -> Self {
        let mut splitmix = seed;
        let mut next = || {
            splitmix = splitmix.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = splitmix;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        // splitmix64 never yields four zeros in a row, the one state xoshiro cannot leave.
        Xoshiro256StarStar {
            state: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in (0, 1]: never 0, so its logarithm is finite.
    pub(crate) fn uniform_open_closed(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with the given mean, by inversion: −mean · ln(U).
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform_open_closed().ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An M/M/N queue at the given occupancy, with about `calls` calls arriving.
    fn erlang_setup(agents: u32, occupancy: f64, calls: f64, seed: u64) -> SimSetup {
        let aht_secs = 180.0;
        let arrivals_per_hour = occupancy * f64::from(agents) * 3600.0 / aht_secs;
        SimSetup {
            agents,
            arrivals_per_hour,
            aht_secs,
            patience_secs: None,
            hours: calls / arrivals_per_hour,
            seed,
            sl_secs: 20.0,
        }
    }

    /// The acceptance criterion: without abandonment the simulation agrees with Erlang C, SL
    /// within 2 points and ASA within 10 %.
    ///
    /// Why a million calls and more: the simulated ASA is an average over a strongly
    /// autocorrelated queue, so its error shrinks slowly. Over 30 seeds with ~50,000 calls
    /// the ASA was off by 7 % (ρ 0.70) to 23 % (ρ 0.92) in standard deviation, so a ±10 %
    /// check at 50,000 calls would pass or fail by the seed. At the counts below the standard
    /// deviations were about 1.9 %, 2.2 % and 2.0 % (SL 0.2, 0.3 and 0.4 points): the bounds
    /// sit 4 to 5 of them away, for any seed.
    fn assert_agrees_with_erlang_c(agents: u32, occupancy: f64, calls: f64) {
        let report = simulate(&erlang_setup(agents, occupancy, calls, 7)).unwrap();
        let forecast = report.forecast.expect("A < N");
        assert!(
            report.calls as f64 >= 0.99 * calls,
            "{} calls",
            report.calls
        );
        assert_eq!(report.abandoned, 0);
        assert_eq!(report.answered, report.calls);
        let sl_gap = (report.service_level - forecast.service_level).abs();
        assert!(
            sl_gap <= 0.02,
            "N={agents} ρ={occupancy}: SL gap {sl_gap}\n{}",
            report.render()
        );
        let asa_gap = (report.asa_secs - forecast.asa_secs).abs() / forecast.asa_secs;
        assert!(
            asa_gap <= 0.10,
            "N={agents} ρ={occupancy}: ASA gap {asa_gap}\n{}",
            report.render()
        );
        // The figures the criterion does not name, more loosely.
        assert!(
            (report.occupancy - occupancy).abs() <= 0.01,
            "{}",
            report.render()
        );
        assert!(
            (report.wait_probability - forecast.wait_probability).abs() <= 0.02,
            "{}",
            report.render()
        );
    }

    #[test]
    fn agrees_with_erlang_c_at_occupancy_70_percent() {
        assert_agrees_with_erlang_c(10, 0.70, 1_000_000.0);
    }

    #[test]
    fn agrees_with_erlang_c_at_occupancy_85_percent() {
        assert_agrees_with_erlang_c(20, 0.85, 1_500_000.0);
    }

    #[test]
    fn agrees_with_erlang_c_at_occupancy_92_percent() {
        assert_agrees_with_erlang_c(20, 0.92, 2_000_000.0);
    }

    #[test]
    fn the_same_seed_gives_the_same_report() {
        let setup = SimSetup {
            patience_secs: Some(60.0),
            ..erlang_setup(20, 0.9, 5_000.0, 42)
        };
        let first = simulate(&setup).unwrap();
        assert_eq!(first, simulate(&setup).unwrap());
        let other = simulate(&SimSetup { seed: 43, ..setup }).unwrap();
        assert_ne!(first.calls, other.calls);
    }

    #[test]
    fn abandonment_shortens_waits_and_loses_callers() {
        let patient = erlang_setup(30, 0.95, 100_000.0, 3);
        let impatient = SimSetup {
            patience_secs: Some(60.0),
            ..patient
        };
        let without = simulate(&patient).unwrap();
        let with = simulate(&impatient).unwrap();
        assert!(with.abandon_rate > 0.0);
        assert_eq!(with.answered + with.abandoned, with.calls);
        assert!(
            with.asa_secs < without.asa_secs,
            "{} vs {}",
            with.asa_secs,
            without.asa_secs
        );
        assert!(with.service_level > without.service_level);
        assert!(with.occupancy < without.occupancy);
        // Abandons within T count as met in the second definition, and some happen within 20 s
        // of a 60 s mean patience, so it differs from the first.
        assert_ne!(with.service_level_with_abandons, with.service_level);
        assert_eq!(without.service_level_with_abandons, without.service_level);
    }

    #[test]
    fn overload_simulates_without_a_forecast() {
        // Traffic 12 Erlangs on 10 agents: Erlang C has no answer, the simulation still has one.
        let setup = SimSetup {
            patience_secs: Some(120.0),
            ..erlang_setup(10, 1.2, 2_000.0, 1)
        };
        let report = simulate(&setup).unwrap();
        assert_eq!(report.forecast, None);
        assert!(report.abandon_rate > 0.05, "{}", report.render());
        assert!(report.render().contains("no steady state"));
    }

    #[test]
    fn render_shows_simulated_predicted_and_difference() {
        let report = simulate(&erlang_setup(10, 0.7, 2_000.0, 5)).unwrap();
        let text = report.render();
        let forecast = report.forecast.unwrap();
        let sl_line = text
            .lines()
            .find(|line| line.starts_with("service level (20 s)"))
            .expect(&text);
        assert!(
            sl_line.contains(&format!("{:.1} %", report.service_level * 100.0)),
            "{sl_line}"
        );
        assert!(
            sl_line.contains(&format!("{:.1} %", forecast.service_level * 100.0)),
            "{sl_line}"
        );
        assert!(
            sl_line.contains(&format!(
                "{:+.1} pp",
                (report.service_level - forecast.service_level) * 100.0
            )),
            "{sl_line}"
        );
        let asa_line = text
            .lines()
            .find(|line| line.starts_with("ASA"))
            .expect(&text);
        assert!(
            asa_line.contains(&format!("{:.1} s", forecast.asa_secs)),
            "{asa_line}"
        );
        assert!(text.contains(&format!("{} calls:", report.calls)));
        assert!(
            text.starts_with(
                "10 agents, 140 calls/h, AHT 180 s, nobody abandons, 14.29 h, seed 5\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn nonsense_setups_are_refused_naming_the_field() {
        let good = erlang_setup(10, 0.7, 1_000.0, 1);
        let cases = [
            (SimSetup { agents: 0, ..good }, "agents"),
            (
                SimSetup {
                    arrivals_per_hour: 0.0,
                    ..good
                },
                "arrivals_per_hour",
            ),
            (
                SimSetup {
                    aht_secs: f64::NAN,
                    ..good
                },
                "aht_secs",
            ),
            (
                SimSetup {
                    patience_secs: Some(-1.0),
                    ..good
                },
                "patience_secs",
            ),
            (
                SimSetup {
                    hours: f64::INFINITY,
                    ..good
                },
                "hours",
            ),
            (SimSetup { hours: 1e9, ..good }, "hours"),
            (
                SimSetup {
                    sl_secs: -1.0,
                    ..good
                },
                "sl_secs",
            ),
        ];
        for (setup, field) in cases {
            let error = simulate(&setup).unwrap_err();
            assert_eq!(error.field, field);
            assert!(error.to_string().contains(field));
        }
        // The message states the same limit as the constant.
        let too_long = simulate(&SimSetup { hours: 1e9, ..good }).unwrap_err();
        assert!(
            too_long
                .to_string()
                .contains(&(MAX_EXPECTED_CALLS as u64).to_string()),
            "{too_long}"
        );
    }

    #[test]
    fn exponential_samples_have_the_asked_mean() {
        let mut rng = Xoshiro256StarStar::seeded(0);
        let n = 200_000;
        let mean = (0..n).map(|_| rng.exponential(30.0)).sum::<f64>() / f64::from(n);
        // Standard error 30 / √200000 ≈ 0.07.
        assert!((mean - 30.0).abs() < 0.3, "{mean}");
    }

    #[test]
    fn generator_matches_the_reference_splitmix64_stream() {
        // splitmix64 from seed 0 starts 0xE220A8397B1DCDAF (Vigna's reference code).
        let rng = Xoshiro256StarStar::seeded(0);
        assert_eq!(rng.state[0], 0xE220_A839_7B1D_CDAF);
    }
}
