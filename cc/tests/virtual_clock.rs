//! The core on a virtual clock: 10,000 callers, 50 agents, 5 queues sharing agents, scripted
//! agents that answer, ring out, reject, or whose report is lost; callers who hang up.
//! After every event the invariants of the contact centre are checked:
//! - no agent ever holds two offers;
//! - no caller is lost: every join ends exactly once, with a result;
//! - no lease outlives its expiry (lost reports are ended by the janitor on time);
//! - callers are offered in the order of the ordering function: the callers of a queue that
//!   a pass offers are always the head of that queue's line.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rustflow_cc::distributor::Distributor;
use rustflow_cc::model::{Setup, from_json};
use rustflow_cc::store::sqlite::SqliteStore;
use rustflow_cc::store::{AgentStatus, AttemptState, JoinOutcome, JoinRequest, Offer, Store, diff};
use rustflow_cc::strategy::Rng;

const CALLS: usize = 10_000;
const AGENTS: usize = 50;
const QUEUES: usize = 5;
const T0: i64 = 1_796_292_000_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival(usize),
    /// The caller's patience ran out.
    Abandon(i64),
    /// The agent's phone stopped ringing: answered by the first agent, or missed.
    RingEnd {
        attempt: i64,
        offer: u64,
        answered: bool,
    },
    /// The conversation ends.
    Hangup(i64),
    /// The distributor's own wake-up (a rest or lease due).
    Wake,
}

fn setup() -> Setup {
    let strategies = [
        "longest-idle-agent",
        "round-robin",
        "top-down",
        "agent-with-fewest-calls",
        "ring-all",
    ];
    let queues: Vec<String> = (0..QUEUES)
        .map(|q| {
            format!(
                r#"{{"id":"q{q}","strategy":"{}","max_wait_secs":600,"wrap_up_secs":{},"no_answer_delay_secs":3,
                    "max_no_answer":0,"ring_timeout_secs":10,"priority":{}}}"#,
                strategies[q],
                q * 2,
                if q == 4 { 1 } else { 0 }
            )
        })
        .collect();
    let agents: Vec<String> = (0..AGENTS)
        .map(|a| format!(r#"{{"id":"a{a:02}","extension":"{}"}}"#, 1000 + a))
        .collect();
    // Every agent serves two queues; a fifth of them at level 2 in the second.
    let tiers: Vec<String> = (0..AGENTS)
        .flat_map(|a| {
            let first = a % QUEUES;
            let second = (first + 1 + (a / QUEUES) % (QUEUES - 1)) % QUEUES;
            [
                format!(
                    r#"{{"queue":"q{first}","agent":"a{a:02}","position":{}}}"#,
                    a / QUEUES + 1
                ),
                format!(
                    r#"{{"queue":"q{second}","agent":"a{a:02}","level":{},"position":{}}}"#,
                    if a % 5 == 0 { 2 } else { 1 },
                    a + 1
                ),
            ]
        })
        .collect();
    let mut s: Setup = from_json(&format!(
        r#"{{"queues":[{}],"agents":[{}],"tiers":[{}]}}"#,
        queues.join(","),
        agents.join(","),
        tiers.join(",")
    ))
    .unwrap();
    s.validate().unwrap();
    s
}

/// Exponential sample with the given mean, in ms.
fn exp_ms(rng: &mut Rng, mean_secs: f64) -> i64 {
    let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-(1.0 - u).ln() * mean_secs * 1000.0) as i64
}

#[test]
fn ten_thousand_callers_on_a_virtual_clock() {
    let store = SqliteStore::in_memory().unwrap();
    let wanted = setup();
    store
        .apply(&diff(&store.setup().unwrap(), &wanted))
        .unwrap();
    for a in &wanted.agents {
        store
            .set_agent_status(&a.id, AgentStatus::Online, None, T0)
            .unwrap();
    }
    let mut rng = Rng::new(2026);
    let mut distributor = Distributor::new(7);
    let mut events: BinaryHeap<Reverse<(i64, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |events: &mut BinaryHeap<Reverse<(i64, u64, Event)>>, at: i64, e: Event| {
        seq += 1;
        events.push(Reverse((at, seq, e)));
    };
    // About 90 % of 50 agents busy: 50 agents x 0.9 / 60 s handle time.
    let mean_gap_secs = 60.0 / (AGENTS as f64 * 0.9);
    push(&mut events, T0, Event::Arrival(0));

    // Ledger of what the callers' side knows.
    let mut holder: BTreeMap<String, i64> = BTreeMap::new(); // agent -> attempt offered or talking
    let mut offers: BTreeMap<i64, (u64, Offer)> = BTreeMap::new(); // attempt -> current offer
    let mut lost_reports: BTreeMap<i64, (u64, i64)> = BTreeMap::new(); // attempt -> (offer, lease)
    let mut joined: BTreeSet<i64> = BTreeSet::new();
    let mut ended: BTreeMap<i64, String> = BTreeMap::new();
    let mut next_offer = 0u64;
    let mut wakes: BTreeSet<i64> = BTreeSet::new();
    let (mut doubles, mut out_of_order, mut passes, mut expired) = (0, 0, 0, 0);

    while let Some(Reverse((now, _, event))) = events.pop() {
        match event {
            Event::Arrival(i) => {
                if i + 1 < CALLS {
                    push(
                        &mut events,
                        now + exp_ms(&mut rng, mean_gap_secs),
                        Event::Arrival(i + 1),
                    );
                }
                let queue = format!("q{}", rng.below(QUEUES as u64));
                let request = JoinRequest {
                    queue,
                    call_id: format!("call-{i}"),
                    caller_number: format!("+1555{i:06}"),
                    node: "sim".into(),
                    priority: (rng.below(10) == 0) as i64 * 3,
                    variables: "{}".into(),
                    ..JoinRequest::default()
                };
                match store.join(&request, now).unwrap() {
                    JoinOutcome::Joined { attempt, .. } => {
                        joined.insert(attempt);
                        push(
                            &mut events,
                            now + exp_ms(&mut rng, 240.0),
                            Event::Abandon(attempt),
                        );
                    }
                    other => panic!("join refused: {other:?}"),
                }
            }
            Event::Abandon(attempt) => {
                let record = store.attempt(attempt).unwrap().unwrap();
                if matches!(record.state, AttemptState::Waiting | AttemptState::Offering) {
                    if let Some((_, offer)) = offers.remove(&attempt) {
                        for a in &offer.agents {
                            holder.remove(&a.id);
                        }
                    }
                    lost_reports.remove(&attempt);
                    let result = store.leave(attempt, "abandoned", now).unwrap();
                    assert!(
                        ended.insert(attempt, result).is_none(),
                        "attempt {attempt} ended twice"
                    );
                }
            }
            Event::RingEnd {
                attempt,
                offer,
                answered,
            } => {
                let Some((current, o)) = offers.get(&attempt) else {
                    continue;
                };
                if *current != offer {
                    continue;
                }
                let o = o.clone();
                offers.remove(&attempt);
                if answered {
                    let winner = o.agents[0].id.clone();
                    for a in o.agents.iter().skip(1) {
                        holder.remove(&a.id);
                    }
                    assert!(
                        store.answered(attempt, &winner, now).unwrap(),
                        "an answer of a live offer counts"
                    );
                    push(
                        &mut events,
                        now + exp_ms(&mut rng, 55.0),
                        Event::Hangup(attempt),
                    );
                } else {
                    for a in &o.agents {
                        holder.remove(&a.id);
                    }
                    let ids: Vec<String> = o.agents.iter().map(|a| a.id.clone()).collect();
                    store.missed(attempt, &ids, "no_answer", now).unwrap();
                }
            }
            Event::Hangup(attempt) => {
                let record = store.attempt(attempt).unwrap().unwrap();
                assert_eq!(record.state, AttemptState::Bridged);
                holder.remove(record.agent_id.as_deref().unwrap());
                let result = store.leave(attempt, "success", now).unwrap();
                assert!(
                    ended.insert(attempt, result).is_none(),
                    "attempt {attempt} ended twice"
                );
            }
            Event::Wake => {}
        }

        // The janitor ends what is due; a lost report's lease ends exactly at expiry.
        let janitor = store.janitor(now).unwrap();
        for (attempt, call, _, result) in &janitor.closed {
            assert!(call.starts_with("call-"));
            if let Some((_, offer)) = offers.remove(attempt) {
                for a in &offer.agents {
                    holder.remove(&a.id);
                }
            }
            assert!(ended.insert(*attempt, result.clone()).is_none());
        }
        for (attempt, agents) in &janitor.expired_offers {
            let (offer, lease) = lost_reports
                .remove(attempt)
                .expect("only lost reports expire");
            expired += 1;
            assert!(lease <= now, "offer {offer} expired before its lease");
            for a in agents {
                holder.remove(a);
            }
            offers.remove(attempt);
        }
        for (attempt, (offer, lease)) in &lost_reports {
            assert!(
                *lease > now,
                "offer {offer} of attempt {attempt} outlived its lease"
            );
        }

        // One distributor pass; the offered callers of each queue must be its head.
        let line: Vec<(i64, String)> = store
            .waiting()
            .unwrap()
            .into_iter()
            .filter(|r| r.state == AttemptState::Waiting)
            .map(|r| (r.id, r.queue_id))
            .collect();
        let pass = distributor.pass(&store, now).unwrap();
        passes += 1;
        let offered: BTreeSet<i64> = pass.offers.iter().map(|o| o.attempt).collect();
        for q in 0..QUEUES {
            let queue = format!("q{q}");
            let order: Vec<i64> = line
                .iter()
                .filter(|(_, qq)| *qq == queue)
                .map(|(id, _)| *id)
                .collect();
            let served = order.iter().filter(|id| offered.contains(id)).count();
            if !order[..served].iter().all(|id| offered.contains(id)) {
                out_of_order += 1;
            }
        }
        for offer in pass.offers {
            next_offer += 1;
            for a in &offer.agents {
                if holder.insert(a.id.clone(), offer.attempt).is_some() {
                    doubles += 1;
                }
            }
            let roll = rng.below(100);
            if roll < 1 {
                // The caller's side never reports (a crashed thread): the lease must end it.
                lost_reports.insert(offer.attempt, (next_offer, offer.lease_until_ms));
                if wakes.insert(offer.lease_until_ms) {
                    push(&mut events, offer.lease_until_ms, Event::Wake);
                }
            } else {
                let (delay, answered) = match roll {
                    1..=8 => (offer.ring_timeout_secs as i64 * 1000, false), // rings out
                    9..=12 => (1_000, false),                                // rejects
                    _ => (1_000 + rng.below(4_000) as i64, true),
                };
                push(
                    &mut events,
                    now + delay,
                    Event::RingEnd {
                        attempt: offer.attempt,
                        offer: next_offer,
                        answered,
                    },
                );
            }
            offers.insert(offer.attempt, (next_offer, offer));
        }
        if let Some(wake) = pass.next_wake
            && wake > now
            && wakes.insert(wake)
        {
            push(&mut events, wake, Event::Wake);
        }
    }

    assert_eq!(doubles, 0, "an agent held two offers");
    assert_eq!(
        out_of_order, 0,
        "a caller was passed over by one behind it in its queue"
    );
    assert_eq!(joined.len(), CALLS, "every caller joined");
    let unended: Vec<&i64> = joined.iter().filter(|a| !ended.contains_key(a)).collect();
    assert!(unended.is_empty(), "callers lost: {unended:?}");
    for attempt in &joined {
        let record = store.attempt(*attempt).unwrap().unwrap();
        assert_eq!(record.state, AttemptState::Left);
        assert_eq!(record.result.as_deref(), Some(ended[attempt].as_str()));
    }
    let agents = store.agents(T0).unwrap();
    assert!(
        agents.iter().all(|a| a.attempt.is_none()),
        "an agent is still reserved"
    );
    let mut results: BTreeMap<&str, usize> = BTreeMap::new();
    for r in ended.values() {
        *results.entry(r.as_str()).or_default() += 1;
    }
    eprintln!(
        "{CALLS} callers, {passes} passes, {expired} lost reports ended by their lease: {results:?}"
    );
    assert!(expired > 0, "the lease path was exercised");
    assert!(results["success"] > CALLS / 2, "{results:?}");
    assert!(
        results.get("abandoned").copied().unwrap_or(0) > 0,
        "{results:?}"
    );
}
