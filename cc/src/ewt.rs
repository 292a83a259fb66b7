//! Estimated waiting time (EWT) of one waiting caller.
//!
//! # How the estimate is made
//!
//! A caller at position *k* in the queue (1 = next to be served; the same order the
//! distributor uses) with *f* agents free for them needs *k − f* agents to finish a call before
//! one is theirs. Agents finish calls at a rate of N_eff / AHT, so
//!
//! ```text
//! model = max(0, k − f) · AHT / N_eff
//! ```
//!
//! - **AHT** is the average handle time of the calls that finished within the look-back
//!   window (default 60 minutes, Webitel's `min`), each weighted by how recent it is: a call
//!   that finished one half-life ago (default 5 minutes) counts half as much as one that just
//!   finished, two half-lives ago a quarter, and so on (an exponentially weighted moving
//!   average, EWMA, over time).
//! - **N_eff** (effective agents) is the number of staffed, non-paused agents who can take this
//!   caller (skills and bucket already matched), each counted as 1 / (number of queues the
//!   agent serves): an agent shared by 4 queues gives this queue a quarter of their time.
//! - **Calls in progress.** No separate term is added for the time the busy agents still need:
//!   with exponentially distributed handle times the time until the next agent frees up is
//!   AHT / N_eff on average however long the calls have lasted, which the formula already
//!   counts for position 1.
//!
//! The model is then blended with what callers really waited recently: the time-weighted
//! average (same half-life) of the waits of callers answered within the look-back window.
//! When at least the minimum number of such waits exist, the estimate is
//! `(1 − w) · model + w · recent wait` with w = 0.5 by default; otherwise the model alone. A
//! caller for whom an agent is free (k ≤ f) gets 0, not a blend. The estimate never decreases
//! as the position grows.
//!
//! # When the answer is "unknown"
//!
//! Fewer than `min_samples` (default 5) calls finished within the look-back window, or no agent
//! can take the caller (N_eff = 0): a number would be a guess, so none is given. (Webitel
//! multiplies the position by the mean of the last 2 waits in its window, 2 samples being
//! enough.)

/// A call that finished: when, and how long the agent handled it (talk + wrap-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandleSample {
    pub finished_at_ms: i64,
    pub handle_secs: f64,
}

/// A caller who was answered: when, and how long they had waited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitSample {
    pub bridged_at_ms: i64,
    pub wait_secs: f64,
}

/// The tunable parts of the estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwtSettings {
    /// Samples older than this are ignored.
    pub lookback_minutes: u32,
    /// Fewer finished calls than this in the window → unknown; also the number of recent waits
    /// needed before they are blended in.
    pub min_samples: usize,
    /// A sample this old weighs half as much as a fresh one; 0 (or less) weighs all alike.
    pub half_life_secs: f64,
    /// w: the share of the recent real waits in the estimate, clamped to 0..=1.
    pub recent_wait_weight: f64,
}

impl Default for EwtSettings {
    fn default() -> Self {
        EwtSettings {
            lookback_minutes: 60,
            min_samples: 5,
            half_life_secs: 300.0,
            recent_wait_weight: 0.5,
        }
    }
}

/// Everything the estimate depends on; the store and the live state fill it in.
#[derive(Debug, Clone, Copy)]
pub struct EwtInput<'a> {
    /// The caller's place in the queue order, 1 = next.
    pub position: u32,
    /// Agents free right now who can take this caller.
    pub free_agents: u32,
    /// One entry per staffed, non-paused agent who can take this caller: the number of queues
    /// that agent serves (0 is read as 1).
    pub agent_queue_counts: &'a [u32],
    pub handle_samples: &'a [HandleSample],
    pub wait_samples: &'a [WaitSample],
    pub now_ms: i64,
    pub settings: EwtSettings,
}

/// The estimate and the figures it was made from (for logs and the wallboard).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ewt {
    /// What to tell the caller, seconds.
    pub secs: f64,
    /// max(0, k − f) · AHT / N_eff, seconds.
    pub model_secs: f64,
    /// Time-weighted average of recent real waits, when enough exist to be blended in.
    pub recent_wait_secs: Option<f64>,
    pub aht_secs: f64,
    pub effective_agents: f64,
    /// Finished calls in the look-back window the AHT comes from.
    pub handle_sample_count: usize,
}

/// The estimated waiting time, or `None` for "unknown" (see the module doc).
pub fn estimate(input: &EwtInput) -> Option<Ewt> {
    let settings = &input.settings;
    let handle = decayed_mean(
        input
            .handle_samples
            .iter()
            .map(|sample| (sample.finished_at_ms, sample.handle_secs)),
        input.now_ms,
        settings,
    );
    if handle.count < settings.min_samples.max(1) {
        return None;
    }
    let effective_agents: f64 = input
        .agent_queue_counts
        .iter()
        .map(|&queues| 1.0 / f64::from(queues.max(1)))
        .sum();
    if effective_agents <= 0.0 {
        return None;
    }
    let aht_secs = handle.mean;
    let ahead = input.position.saturating_sub(input.free_agents);
    let model_secs = f64::from(ahead) * aht_secs / effective_agents;

    let waits = decayed_mean(
        input
            .wait_samples
            .iter()
            .map(|sample| (sample.bridged_at_ms, sample.wait_secs)),
        input.now_ms,
        settings,
    );
    let recent_wait_secs = (waits.count >= settings.min_samples.max(1)).then_some(waits.mean);
    let weight = if settings.recent_wait_weight.is_nan() {
        0.0
    } else {
        settings.recent_wait_weight.clamp(0.0, 1.0)
    };
    let secs = match recent_wait_secs {
        _ if ahead == 0 => 0.0,
        Some(recent) => (1.0 - weight) * model_secs + weight * recent,
        None => model_secs,
    };
    Some(Ewt {
        secs,
        model_secs,
        recent_wait_secs,
        aht_secs,
        effective_agents,
        handle_sample_count: handle.count,
    })
}

struct DecayedMean {
    count: usize,
    mean: f64,
}

/// The EWMA over time of `(at_ms, value)` samples within the look-back window: each weighs
/// 0.5^(age / half-life). Samples stamped after `now` (clock skew between nodes) count as
/// fresh; negative or non-finite values are skipped.
fn decayed_mean(
    samples: impl Iterator<Item = (i64, f64)>,
    now_ms: i64,
    settings: &EwtSettings,
) -> DecayedMean {
    let since_ms = now_ms.saturating_sub(i64::from(settings.lookback_minutes) * 60_000);
    let (mut count, mut weighted_sum, mut total_weight) = (0usize, 0.0, 0.0);
    for (at_ms, value) in samples {
        if at_ms < since_ms || !value.is_finite() || value < 0.0 {
            continue;
        }
        let age_secs = (now_ms - at_ms).max(0) as f64 / 1000.0;
        let weight = if settings.half_life_secs > 0.0 {
            0.5f64.powf(age_secs / settings.half_life_secs)
        } else {
            1.0
        };
        count += 1;
        weighted_sum += weight * value;
        total_weight += weight;
    }
    // Only a half-life far shorter than the window can underflow every weight to 0.
    let mean = if total_weight > 0.0 {
        weighted_sum / total_weight
    } else {
        0.0
    };
    DecayedMean { count, mean }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn handles(values: &[(i64, f64)]) -> Vec<HandleSample> {
        values
            .iter()
            .map(|&(ago_s, handle_secs)| HandleSample {
                finished_at_ms: NOW - ago_s * 1000,
                handle_secs,
            })
            .collect()
    }

    fn waits(values: &[(i64, f64)]) -> Vec<WaitSample> {
        values
            .iter()
            .map(|&(ago_s, wait_secs)| WaitSample {
                bridged_at_ms: NOW - ago_s * 1000,
                wait_secs,
            })
            .collect()
    }

    /// Five fresh calls averaging 200 s; agents in 1, 1, 2 and 2 queues → N_eff = 3.
    fn base<'a>(
        handle_samples: &'a [HandleSample],
        wait_samples: &'a [WaitSample],
    ) -> EwtInput<'a> {
        EwtInput {
            position: 4,
            free_agents: 1,
            agent_queue_counts: &[1, 1, 2, 2],
            handle_samples,
            wait_samples,
            now_ms: NOW,
            settings: EwtSettings::default(),
        }
    }

    fn five_fresh_handles() -> Vec<HandleSample> {
        handles(&[(0, 100.0), (0, 200.0), (0, 300.0), (0, 200.0), (0, 200.0)])
    }

    #[test]
    fn model_alone_without_enough_recent_waits() {
        let handle_samples = five_fresh_handles();
        let few_waits = waits(&[(0, 50.0), (0, 50.0)]);
        let ewt = estimate(&base(&handle_samples, &few_waits)).unwrap();
        // (4 − 1) · 200 / (1 + 1 + ½ + ½) = 200.
        assert_eq!(ewt.effective_agents, 3.0);
        assert_eq!(ewt.aht_secs, 200.0);
        assert_eq!(ewt.model_secs, 200.0);
        assert_eq!(ewt.recent_wait_secs, None);
        assert_eq!(ewt.secs, 200.0);
        assert_eq!(ewt.handle_sample_count, 5);
    }

    #[test]
    fn blended_half_and_half_with_recent_waits() {
        let handle_samples = five_fresh_handles();
        let recent = waits(&[(0, 60.0), (0, 80.0), (0, 100.0), (0, 120.0), (0, 140.0)]);
        let ewt = estimate(&base(&handle_samples, &recent)).unwrap();
        assert_eq!(ewt.recent_wait_secs, Some(100.0));
        // ½ · 200 + ½ · 100.
        assert_eq!(ewt.secs, 150.0);
        let model_only = EwtInput {
            settings: EwtSettings {
                recent_wait_weight: 0.0,
                ..EwtSettings::default()
            },
            ..base(&handle_samples, &recent)
        };
        assert_eq!(estimate(&model_only).unwrap().secs, 200.0);
    }

    #[test]
    fn older_samples_weigh_less() {
        // One half-life (300 s) old: weight ½. (1·100 + ½·400) / 1.5 = 200.
        let handle_samples = handles(&[(0, 100.0), (300, 400.0)]);
        let input = EwtInput {
            position: 1,
            free_agents: 0,
            agent_queue_counts: &[1, 1],
            settings: EwtSettings {
                min_samples: 2,
                ..EwtSettings::default()
            },
            ..base(&handle_samples, &[])
        };
        let ewt = estimate(&input).unwrap();
        assert!((ewt.aht_secs - 200.0).abs() < 1e-9, "{}", ewt.aht_secs);
        assert!((ewt.secs - 100.0).abs() < 1e-9, "{}", ewt.secs);
        // Without decay both weigh the same: 250.
        let flat = EwtInput {
            settings: EwtSettings {
                min_samples: 2,
                half_life_secs: 0.0,
                ..EwtSettings::default()
            },
            ..input
        };
        assert_eq!(estimate(&flat).unwrap().aht_secs, 250.0);
    }

    #[test]
    fn unknown_below_the_minimum_sample_count_in_the_window() {
        // Five calls, but one finished 61 minutes ago: four in the 60-minute window.
        let handle_samples = handles(&[
            (0, 100.0),
            (10, 200.0),
            (20, 300.0),
            (30, 200.0),
            (61 * 60, 200.0),
        ]);
        assert_eq!(estimate(&base(&handle_samples, &[])), None);
        // A longer window takes it in.
        let longer = EwtInput {
            settings: EwtSettings {
                lookback_minutes: 90,
                ..EwtSettings::default()
            },
            ..base(&handle_samples, &[])
        };
        assert!(estimate(&longer).is_some());
        // Unusable values do not count as samples.
        let broken = handles(&[(0, 100.0), (0, 200.0), (0, 300.0), (0, f64::NAN), (0, -5.0)]);
        assert_eq!(estimate(&base(&broken, &[])), None);
    }

    #[test]
    fn unknown_without_agents_for_the_caller() {
        let handle_samples = five_fresh_handles();
        let nobody = EwtInput {
            agent_queue_counts: &[],
            ..base(&handle_samples, &[])
        };
        assert_eq!(estimate(&nobody), None);
    }

    #[test]
    fn zero_when_an_agent_is_free_for_the_caller() {
        let handle_samples = five_fresh_handles();
        let recent = waits(&[(0, 60.0); 5]);
        for position in 1..=2 {
            let input = EwtInput {
                position,
                free_agents: 2,
                ..base(&handle_samples, &recent)
            };
            assert_eq!(estimate(&input).unwrap().secs, 0.0, "position {position}");
        }
    }

    #[test]
    fn a_queue_count_of_zero_counts_as_one_queue() {
        let handle_samples = five_fresh_handles();
        let input = EwtInput {
            agent_queue_counts: &[0, 4],
            ..base(&handle_samples, &[])
        };
        assert_eq!(estimate(&input).unwrap().effective_agents, 1.25);
    }

    #[test]
    fn never_decreases_as_the_position_grows() {
        let handle_samples = handles(&[
            (0, 90.0),
            (40, 250.0),
            (200, 180.0),
            (900, 320.0),
            (1800, 60.0),
            (2400, 500.0),
        ]);
        let recent = waits(&[
            (5, 30.0),
            (100, 200.0),
            (400, 45.0),
            (700, 90.0),
            (1200, 10.0),
        ]);
        for weight in [0.0, 0.5, 1.0] {
            let settings = EwtSettings {
                recent_wait_weight: weight,
                ..EwtSettings::default()
            };
            let mut previous = 0.0;
            for position in 1..=50 {
                let input = EwtInput {
                    position,
                    free_agents: 3,
                    agent_queue_counts: &[1, 2, 3, 1, 5],
                    settings,
                    ..base(&handle_samples, &recent)
                };
                let secs = estimate(&input).unwrap().secs;
                assert!(
                    secs >= previous,
                    "weight {weight}: position {position} gives {secs} < {previous}"
                );
                if weight < 1.0 && position > 3 {
                    assert!(
                        secs > previous,
                        "weight {weight}: position {position} should wait longer"
                    );
                }
                previous = secs;
            }
        }
    }
}
