//! The outbound dialer on simulated 8-hour campaigns: for each dial mode and live-answer rate,
//! the abandon rate (share of live answers that met no agent within 2 s), the agents'
//! occupancy (talk ÷ logged-in time), connected calls per agent hour and the most lines per
//! agent, over five seeds (mean, and the worst seed for the abandon rates).
//!
//! `cargo bench -p rustflow-cc --bench campaign` (20 agents, 3 min mean talk, 10 s wrap-up,
//! answers after 4–20 s of ringing, 30 s dial timeout, 60 min window, 3 % target);
//! `-- --agents N` for another team size.

use std::time::Instant;

use rustflow_cc::campaign::{CampaignReport, CampaignSetup, simulate};
use rustflow_cc::dialer::DialMode;

const SEEDS: u64 = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let agents = args
        .iter()
        .position(|arg| arg == "--agents")
        .and_then(|at| args.get(at + 1))
        .map(|value| value.parse().expect("--agents takes a whole number"))
        .unwrap_or(20);
    println!(
        "{agents} agents, 8 h, talk exp. mean 180 s, wrap-up 10 s, ring to answer 4-20 s, \
         dial timeout 30 s, window 60 min, {SEEDS} seeds\n"
    );
    println!(
        "{:<16}{:>8}{:>11}{:>11}{:>11}{:>12}{:>11}{:>10}{:>10}",
        "mode",
        "answer",
        "abandon",
        "worst",
        "worst win",
        "occupancy",
        "calls/ah",
        "lines/ag",
        "ms/run"
    );
    let modes = [
        ("preview", DialMode::Preview, 1),
        ("progressive", DialMode::Progressive, 1),
        ("progressive x2", DialMode::Progressive, 2),
        ("predictive", DialMode::Predictive, 1),
    ];
    for answer_probability in [0.1, 0.3, 0.6, 0.9] {
        for (label, mode, lines_per_agent) in modes {
            let started = Instant::now();
            let reports: Vec<CampaignReport> = (1..=SEEDS)
                .map(|seed| {
                    let mut setup = CampaignSetup::typical(mode, answer_probability, seed);
                    setup.agents = agents;
                    setup.pacing.lines_per_agent = lines_per_agent;
                    simulate(&setup).expect("the bench's setups are valid")
                })
                .collect();
            let per_run_ms = started.elapsed().as_secs_f64() * 1000.0 / SEEDS as f64;
            let mean = |figure: fn(&CampaignReport) -> f64| {
                reports.iter().map(figure).sum::<f64>() / reports.len() as f64
            };
            let worst =
                |figure: fn(&CampaignReport) -> f64| reports.iter().map(figure).fold(0.0, f64::max);
            println!(
                "{:<16}{:>6.0} %{:>9.2} %{:>9.2} %{:>9.2} %{:>10.1} %{:>11.1}{:>10.2}{:>10.0}",
                label,
                answer_probability * 100.0,
                mean(|r| r.abandon_rate) * 100.0,
                worst(|r| r.abandon_rate) * 100.0,
                worst(|r| r.window_abandon_rate_max) * 100.0,
                mean(|r| r.occupancy) * 100.0,
                mean(|r| r.calls_per_agent_hour),
                worst(|r| r.lines_per_agent_max),
                per_run_ms,
            );
        }
        println!();
    }
    println!(
        "abandon: abandoned ÷ answered live over the campaign; worst win: the highest rate of \
         the pacer's 60 min window\n(after its first 100 answers); lines/ag: the most lines in \
         flight per available agent after a step that dialled."
    );
}
