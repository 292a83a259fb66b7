//! Erlang B and Erlang C (the M/M/N queue): the forecast a queue's live arrival rate and
//! handle time imply, and the number of agents a service-level target needs.
//!
//! Model: calls arrive as a Poisson stream at rate λ, handle times are exponential with mean
//! AHT, N identical agents serve one FIFO queue, and nobody hangs up while waiting.
//!
//! - Offered traffic A = λ · AHT (Erlangs); occupancy ρ = A / N.
//! - P(wait) = C(N, A), computed through the Erlang B recursion B₀ = 1,
//!   Bₖ = A·Bₖ₋₁ / (k + A·Bₖ₋₁), then C = N·B / (N − A·(1 − B)). The recursion never forms
//!   Aᴺ or N!, so it stays exact for hundreds of agents where the textbook sum overflows.
//! - Service level SL(T) = P(W ≤ T) = 1 − C · e^(−(N − A)·T / AHT).
//! - Average speed of answer ASA = C · AHT / (N − A) (mean wait over all calls, the ones
//!   answered at once included).
//!
//! All of this only holds for A < N: at or above it the queue grows without bound, and every
//! function here says so with `None` instead of a number. Callers who abandon make real queues
//! do better than Erlang C predicts (Erlang A models that); `des` simulates it.

/// Erlang B: the probability that a call finds all `servers` busy when blocked calls are lost,
/// for `traffic` Erlangs offered. Stable recursion (see the module doc); `servers = 0` gives 1.
/// A negative or non-finite `traffic` is treated as 0.
pub fn erlang_b(servers: u32, traffic: f64) -> f64 {
    let traffic = sanitize(traffic);
    let mut blocking = 1.0;
    for k in 1..=servers {
        blocking = next_erlang_b(blocking, k, traffic);
    }
    blocking
}

/// Erlang C: the probability that a call has to wait (all `servers` busy) when waiting calls
/// queue. `None` when `traffic >= servers` (no steady state) or `traffic` is not finite;
/// 0 for no traffic.
pub fn erlang_c(servers: u32, traffic: f64) -> Option<f64> {
    if !traffic.is_finite() || traffic >= f64::from(servers) {
        return None;
    }
    let traffic = traffic.max(0.0);
    Some(erlang_c_from_b(
        servers,
        traffic,
        erlang_b(servers, traffic),
    ))
}

/// What Erlang C predicts for a queue (see the module doc for each formula).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// A = λ · AHT, in Erlangs.
    pub traffic_erlangs: f64,
    /// ρ = A / N, a fraction (0.87 = 87 %).
    pub occupancy: f64,
    /// C(N, A): the share of calls that wait at all, a fraction.
    pub wait_probability: f64,
    /// ASA = C · AHT / (N − A), seconds, over all calls.
    pub asa_secs: f64,
    /// SL(T) = 1 − C · e^(−(N − A)·T / AHT): the share of calls answered within T, a fraction.
    pub service_level: f64,
}

/// The Erlang C forecast for `agents` agents, `arrivals_per_hour` calls an hour of `aht_secs`
/// average handle time, with the service-level threshold `sl_secs`.
///
/// `None` when the queue has no steady state (traffic ≥ agents) or an input is negative or not
/// finite. No traffic gives a forecast with no waiting and a service level of 1.
pub fn forecast(
    arrivals_per_hour: f64,
    aht_secs: f64,
    agents: u32,
    sl_secs: f64,
) -> Option<Forecast> {
    let traffic = offered_traffic(arrivals_per_hour, aht_secs)?;
    if !(sl_secs.is_finite() && sl_secs >= 0.0) {
        return None;
    }
    let wait_probability = erlang_c(agents, traffic)?;
    Some(forecast_from_c(
        agents,
        traffic,
        aht_secs,
        sl_secs,
        wait_probability,
    ))
}

/// The fewest agents whose Erlang C service level within `sl_secs` reaches
/// `target_service_level` (a fraction: 0.8 = 80 %; clamped to 0..=1).
///
/// Always more agents than Erlangs of traffic (the queue must be stable), so a target of 0
/// still returns ⌊A⌋ + 1. No traffic, or an input that is negative or not finite, needs no
/// agent: 0. A target of 1 is met where the SL rounds to 1 (a couple of hundred agents past A
/// at most for T/AHT ≥ 0.2). The search walks N up from 1, so it costs about A steps; traffic
/// that no `u32` agent count can carry gives `u32::MAX`.
pub fn agents_required(
    arrivals_per_hour: f64,
    aht_secs: f64,
    target_service_level: f64,
    sl_secs: f64,
) -> u32 {
    let Some(traffic) = offered_traffic(arrivals_per_hour, aht_secs) else {
        return 0;
    };
    if traffic == 0.0 || !(sl_secs.is_finite() && sl_secs >= 0.0) || target_service_level.is_nan() {
        return 0;
    }
    if traffic >= f64::from(u32::MAX) {
        return u32::MAX;
    }
    let target = target_service_level.clamp(0.0, 1.0);
    // Walk N upwards, carrying the Erlang B recursion along instead of restarting it.
    let mut blocking = 1.0;
    let mut agents: u32 = 0;
    loop {
        agents += 1;
        blocking = next_erlang_b(blocking, agents, traffic);
        if f64::from(agents) <= traffic {
            continue;
        }
        let wait_probability = erlang_c_from_b(agents, traffic, blocking);
        let service_level =
            forecast_from_c(agents, traffic, aht_secs, sl_secs, wait_probability).service_level;
        if service_level >= target || agents == u32::MAX {
            return agents;
        }
    }
}

/// A = λ · AHT with λ per second; `None` for a negative or non-finite input.
fn offered_traffic(arrivals_per_hour: f64, aht_secs: f64) -> Option<f64> {
    let valid = |x: f64| x.is_finite() && x >= 0.0;
    if !valid(arrivals_per_hour) || !valid(aht_secs) {
        return None;
    }
    Some(arrivals_per_hour / 3600.0 * aht_secs)
}

fn sanitize(traffic: f64) -> f64 {
    if traffic.is_finite() {
        traffic.max(0.0)
    } else {
        0.0
    }
}

fn next_erlang_b(previous: f64, servers: u32, traffic: f64) -> f64 {
    let numerator = traffic * previous;
    numerator / (f64::from(servers) + numerator)
}

/// C = N·B / (N − A·(1 − B)), valid for A < N.
fn erlang_c_from_b(servers: u32, traffic: f64, blocking: f64) -> f64 {
    let n = f64::from(servers);
    n * blocking / (n - traffic * (1.0 - blocking))
}

fn forecast_from_c(
    agents: u32,
    traffic: f64,
    aht_secs: f64,
    sl_secs: f64,
    wait_probability: f64,
) -> Forecast {
    let spare = f64::from(agents) - traffic;
    let (asa_secs, service_level) = if aht_secs == 0.0 {
        // No handle time means no traffic and no wait.
        (0.0, 1.0)
    } else {
        (
            wait_probability * aht_secs / spare,
            1.0 - wait_probability * (-spare * sl_secs / aht_secs).exp(),
        )
    };
    Forecast {
        traffic_erlangs: traffic,
        occupancy: if agents == 0 {
            0.0
        } else {
            traffic / f64::from(agents)
        },
        wait_probability,
        asa_secs,
        service_level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds to `decimals` places, as a printed table does.
    fn rounded(value: f64, decimals: i32) -> f64 {
        let scale = 10f64.powi(decimals);
        (value * scale).round() / scale
    }

    /// The anchors' check table: 360 calls per 30 min of 240 s (A = 48), SL within 15 s.
    #[test]
    fn check_table_of_the_anchors() {
        let rows = [
            // agents, occupancy %, P(wait) %, ASA s, SL15 %
            (52, 92.3, 46.6, 28.0, 63.7),
            (55, 87.3, 23.9, 8.2, 84.6),
            (58, 82.8, 11.1, 2.7, 94.0),
        ];
        for (agents, occupancy, wait, asa, sl) in rows {
            let f = forecast(720.0, 240.0, agents, 15.0).expect("A < N");
            assert!((f.traffic_erlangs - 48.0).abs() < 1e-12);
            assert_eq!(
                rounded(f.occupancy * 100.0, 1),
                occupancy,
                "occupancy for N={agents}"
            );
            assert_eq!(
                rounded(f.wait_probability * 100.0, 1),
                wait,
                "P(wait) for N={agents}"
            );
            let asa_decimals = if asa >= 10.0 { 0 } else { 1 };
            assert_eq!(rounded(f.asa_secs, asa_decimals), asa, "ASA for N={agents}");
            assert_eq!(
                rounded(f.service_level * 100.0, 1),
                sl,
                "SL15 for N={agents}"
            );
        }
    }

    #[test]
    fn erlang_b_matches_the_closed_form_for_small_cases() {
        // B(1, A) = A / (1 + A); B(2, A) = (A²/2) / (1 + A + A²/2).
        assert!((erlang_b(1, 3.0) - 0.75).abs() < 1e-12);
        assert!((erlang_b(2, 2.0) - 2.0 / 5.0).abs() < 1e-12);
        assert_eq!(erlang_b(0, 5.0), 1.0);
        assert_eq!(erlang_b(10, 0.0), 0.0);
    }

    #[test]
    fn erlang_c_stays_finite_for_large_agent_counts() {
        // Aᴺ/N! would overflow f64 here; the recursion does not.
        let c = erlang_c(1000, 950.0).expect("A < N");
        assert!(c > 0.0 && c < 1.0, "{c}");
        // Compared with the direct sum for a small case: N = 3, A = 2.
        // Σₖ₌₀² 2ᵏ/k! = 5; 2³/3! · 3/(3−2) = 4; C = 4 / 9.
        assert!((erlang_c(3, 2.0).unwrap() - 4.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn one_agent_is_the_m_m_1_queue() {
        // M/M/1: P(wait) = ρ, ASA = ρ·AHT/(1−ρ), SL(T) = 1 − ρ·e^(−(1−ρ)T/AHT).
        let f = forecast(6.0, 300.0, 1, 60.0).unwrap(); // A = 0.5
        assert!((f.wait_probability - 0.5).abs() < 1e-12);
        assert!((f.asa_secs - 300.0).abs() < 1e-9);
        assert!((f.service_level - (1.0 - 0.5 * (-0.1f64).exp())).abs() < 1e-12);
        assert!((f.occupancy - 0.5).abs() < 1e-12);
    }

    #[test]
    fn no_traffic_means_no_wait() {
        assert_eq!(erlang_c(5, 0.0), Some(0.0));
        let f = forecast(0.0, 180.0, 5, 20.0).unwrap();
        assert_eq!(f.wait_probability, 0.0);
        assert_eq!(f.asa_secs, 0.0);
        assert_eq!(f.service_level, 1.0);
        assert_eq!(f.occupancy, 0.0);
        assert_eq!(agents_required(0.0, 180.0, 0.8, 20.0), 0);
    }

    #[test]
    fn traffic_at_or_above_the_agents_has_no_forecast() {
        assert_eq!(erlang_c(48, 48.0), None);
        assert_eq!(erlang_c(10, 12.5), None);
        assert_eq!(erlang_c(0, 0.0), None);
        assert_eq!(forecast(720.0, 240.0, 48, 15.0), None);
        assert_eq!(forecast(720.0, 240.0, 40, 15.0), None);
        assert_eq!(forecast(f64::NAN, 240.0, 60, 15.0), None);
        assert_eq!(forecast(720.0, -1.0, 60, 15.0), None);
        assert_eq!(forecast(720.0, 240.0, 60, -15.0), None);
    }

    #[test]
    fn agents_required_is_the_smallest_count_meeting_the_target() {
        // From the check table: 84.6 % at 55 agents, 63.7 % at 52.
        assert_eq!(agents_required(720.0, 240.0, 0.80, 15.0), 55);
        assert_eq!(agents_required(720.0, 240.0, 0.90, 15.0), 57);
        let at_57 = forecast(720.0, 240.0, 57, 15.0).unwrap().service_level;
        let at_56 = forecast(720.0, 240.0, 56, 15.0).unwrap().service_level;
        assert!(at_56 < 0.90 && at_57 >= 0.90, "{at_56} {at_57}");
        // A target of 0 still needs a stable queue: ⌊48⌋ + 1.
        assert_eq!(agents_required(720.0, 240.0, 0.0, 15.0), 49);
        // A target of 1 ends where the SL rounds to 1; traffic beyond any u32 count saturates.
        let all = agents_required(720.0, 240.0, 1.0, 15.0);
        assert!(all > 58 && all < 200, "{all}");
        assert_eq!(agents_required(720.0, 240.0, f64::NAN, 15.0), 0);
        assert_eq!(agents_required(1e20, 240.0, 0.8, 15.0), u32::MAX);
    }
}
