//! The store tests, written against [`Store`] so every implementation runs them unchanged
//! (`cargo test -p rustflow-cc` runs them on SQLite; the PostgreSQL store will call the same
//! functions). Each takes `open`, which returns a new handle on one fresh, empty store
//! (several handles of one `open` share the store, as threads or nodes would).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::*;
use crate::distributor::Distributor;
use crate::model::{Setup, from_json};
use crate::order::OrderKey;

/// Opens a new handle on the store under test.
pub type Open<'a> = &'a dyn Fn() -> Box<dyn Store>;

/// A start time: 2026-12-03 10:00 UTC (a Thursday).
pub const T0: Ms = 1_796_292_000_000;

fn setup(text: &str) -> Setup {
    let mut s: Setup = from_json(text).expect("test setup parses");
    s.validate().expect("test setup is valid");
    s
}

/// Provisions `text` (an import file) and puts every agent online.
pub fn provision(store: &dyn Store, text: &str, now: Ms) {
    let wanted = setup(text);
    let changes = diff(&store.setup().unwrap(), &wanted);
    store.apply(&changes).unwrap();
    for a in &wanted.agents {
        store
            .set_agent_status(&a.id, AgentStatus::Online, None, now)
            .unwrap();
    }
}

fn join(store: &dyn Store, queue: &str, call: &str, priority: i64, now: Ms) -> JoinOutcome {
    store
        .join(
            &JoinRequest {
                queue: queue.into(),
                call_id: call.into(),
                caller_number: format!("+1555{call}"),
                node: "node-1".into(),
                priority,
                variables: "{}".into(),
                ..JoinRequest::default()
            },
            now,
        )
        .unwrap()
}

fn joined(outcome: JoinOutcome) -> i64 {
    match outcome {
        JoinOutcome::Joined { attempt, .. } => attempt,
        other => panic!("expected a join, got {other:?}"),
    }
}

fn agent<'a>(views: &'a [AgentView], id: &str) -> &'a AgentView {
    views.iter().find(|a| a.id == id).expect("agent exists")
}

const ONE_QUEUE: &str = r#"{
  "queues": [{"id": "sales", "max_wait_secs": 300, "no_answer_delay_secs": 5, "max_no_answer": 2,
              "wrap_up_secs": 10, "ring_timeout_secs": 15}],
  "agents": [{"id": "a1", "extension": "1001"}, {"id": "a2", "extension": "1002"}],
  "tiers": [{"queue": "sales", "agent": "a1"}, {"queue": "sales", "agent": "a2", "level": 2}]
}"#;

/// A change list is written whole or not at all; an import of the same file changes nothing.
pub fn provisioning_is_all_or_nothing(open: Open<'_>) {
    let store = open();
    provision(&*store, ONE_QUEUE, T0);
    let before = store.setup().unwrap();
    let bad = setup(r#"{"queues":[{"id":"support"}]}"#).queues[0].clone();
    let err = store
        .apply(&[
            Change::PutQueue(bad),
            Change::PutTier(crate::model::Tier {
                queue: "support".into(),
                agent: "ghost".into(),
                level: 1,
                position: 1,
                weight: 1,
            }),
        ])
        .unwrap_err();
    assert_eq!(err.to_string(), "tiers[2].agent: no agent `ghost`");
    assert_eq!(
        store.setup().unwrap(),
        before,
        "nothing partial was written"
    );
    assert!(
        diff(&before, &setup(ONE_QUEUE)).is_empty(),
        "a second import changes nothing"
    );
    let err = store.apply(&[Change::DelQueue("nope".into())]).unwrap_err();
    assert_eq!(err.to_string(), "no queue `nope`");
    // Runtime state survives a redefinition of the agent.
    store
        .apply(&[Change::PutAgent(
            setup(r#"{"agents":[{"id":"a1","name":"Ann","extension":"1001"}]}"#).agents[0].clone(),
        )])
        .unwrap();
    let views = store.agents(T0).unwrap();
    assert_eq!(agent(&views, "a1").status, AgentStatus::Online);
    assert_eq!(agent(&views, "a1").name, "Ann");
}

/// Joins are checked in order and refused with the documented results.
pub fn joins_are_checked(open: Open<'_>) {
    let store = open();
    provision(
        &*store,
        r#"{"calendars": [{"id": "nights", "timezone": "UTC", "week": [{"days": ["thu"], "open": "20:00", "close": "23:00"}]}],
            "queues": [{"id": "off", "enabled": false}, {"id": "night", "calendar": "nights"},
                       {"id": "small", "max_waiting": 1}, {"id": "empty", "no_agents_timeout_secs": 30}],
            "agents": [], "tiers": []}"#,
        T0,
    );
    let refused = |outcome: JoinOutcome| match outcome {
        JoinOutcome::Refused { result, reason } => format!("{result}: {reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refused(join(&*store, "nope", "c1", 0, T0)),
        "error: no queue `nope`"
    );
    assert_eq!(
        refused(join(&*store, "off", "c1", 0, T0)),
        "disabled: queue `off` is disabled"
    );
    assert_eq!(
        refused(join(&*store, "night", "c1", 0, T0)),
        "closed: calendar `nights` is closed"
    );
    joined(join(&*store, "night", "c1", 0, T0 + 10 * 3_600_000));
    joined(join(&*store, "small", "c2", 0, T0));
    assert_eq!(
        refused(join(&*store, "small", "c3", 0, T0)),
        "max_wait_size: queue `small` already has 1 callers waiting"
    );
    assert_eq!(
        refused(join(&*store, "small", "c2", 0, T0)),
        "error: the call already waits in queue `small`"
    );
    assert_eq!(
        refused(join(&*store, "empty", "c4", 0, T0)),
        "no_agents: no agent of queue `empty` is online"
    );
}

/// An offer reserves the agent once; its lease ends at expiry; a leave is idempotent.
pub fn claims_are_leases(open: Open<'_>) {
    let store = open();
    provision(&*store, ONE_QUEUE, T0);
    let attempt = joined(join(&*store, "sales", "c1", 0, T0));
    let mut distributor = Distributor::new(1);
    let pass = distributor.pass(&*store, T0).unwrap();
    assert_eq!(pass.offers.len(), 1);
    let offer = &pass.offers[0];
    assert_eq!(offer.agents[0].id, "a1", "level 1 first");
    assert_eq!(
        offer.lease_until_ms,
        T0 + 25_000,
        "ring timeout 15 s + 10 s grace"
    );
    // The same agent cannot be claimed again, nor the same caller.
    let second = joined(join(&*store, "sales", "c2", 0, T0 + 1));
    let again = store
        .claim(
            &Claim {
                attempt: second,
                attempt_version: 0,
                agents: vec!["a1".into()],
                position: 1,
                lease_until_ms: T0 + 9_000,
            },
            T0 + 2,
        )
        .unwrap();
    assert_eq!(again, None);
    assert_eq!(
        store.attempt(second).unwrap().unwrap().state,
        AttemptState::Waiting
    );
    // Nobody reports: the janitor ends the lease at its expiry, not before.
    assert!(
        store
            .janitor(T0 + 24_999)
            .unwrap()
            .expired_offers
            .is_empty()
    );
    let j = store.janitor(T0 + 25_000).unwrap();
    assert_eq!(j.expired_offers, vec![(attempt, vec!["a1".to_string()])]);
    assert_eq!(
        agent(&store.agents(T0).unwrap(), "a1").state,
        AgentState::Waiting
    );
    assert_eq!(
        store.attempt(attempt).unwrap().unwrap().state,
        AttemptState::Waiting
    );
    // A leave is final and idempotent, and frees an agent offered to the caller.
    let pass = distributor.pass(&*store, T0 + 25_001).unwrap();
    assert_eq!(
        pass.offers[0].attempt, attempt,
        "the first caller keeps its place"
    );
    assert_eq!(
        store.leave(attempt, "abandoned", T0 + 26_000).unwrap(),
        "abandoned"
    );
    assert_eq!(
        store.leave(attempt, "cancel", T0 + 27_000).unwrap(),
        "abandoned"
    );
    assert_eq!(
        agent(&store.agents(T0).unwrap(), "a1").state,
        AgentState::Waiting
    );
    assert!(
        !store.answered(attempt, "a1", T0 + 27_000).unwrap(),
        "a late answer is refused"
    );
}

/// Missed offers rest the agent, then pause it at max no-answer; a call wraps up.
pub fn missed_and_wrap_up(open: Open<'_>) {
    let store = open();
    provision(&*store, ONE_QUEUE, T0);
    let mut d = Distributor::new(1);
    let attempt = joined(join(&*store, "sales", "c1", 0, T0));
    let offer = d.pass(&*store, T0).unwrap().offers.remove(0);
    assert!(
        store
            .missed(attempt, &["a1".into()], "no_answer", T0 + 15_000)
            .unwrap()
            .is_empty()
    );
    let a1 = agent(&store.agents(T0).unwrap(), "a1").clone();
    assert_eq!(
        (a1.state, a1.ready_at_ms),
        (AgentState::Missed, Some(T0 + 20_000))
    );
    // a2 (level 2) takes the caller meanwhile; a1 rests.
    let offer2 = d.pass(&*store, T0 + 15_000).unwrap().offers.remove(0);
    assert_eq!(offer2.agents[0].id, "a2");
    assert_eq!(offer.attempt, offer2.attempt);
    assert!(
        store
            .missed(attempt, &["a2".into()], "busy", T0 + 16_000)
            .unwrap()
            .is_empty()
    );
    // Rested a1 gets it again (a2 rests too); a second miss pauses a1.
    assert!(d.pass(&*store, T0 + 19_999).unwrap().offers.is_empty());
    let offer3 = d.pass(&*store, T0 + 20_000).unwrap().offers.remove(0);
    assert_eq!(offer3.agents[0].id, "a1");
    let paused = store
        .missed(attempt, &["a1".into()], "rejected", T0 + 21_000)
        .unwrap();
    assert_eq!(
        paused,
        vec![Paused {
            agent: "a1".into(),
            reason: "max no answer (2 missed offers, last: rejected)".into()
        }]
    );
    let a1 = agent(&store.agents(T0).unwrap(), "a1").clone();
    assert_eq!(
        (a1.status, a1.pause_reason.as_deref()),
        (
            AgentStatus::Pause,
            Some("max no answer (2 missed offers, last: rejected)")
        )
    );
    // a2 answers; the conversation ends; a2 wraps up for 10 s.
    let offer4 = d.pass(&*store, T0 + 21_000).unwrap().offers.remove(0);
    assert_eq!(offer4.agents[0].id, "a2");
    assert!(store.answered(attempt, "a2", T0 + 22_000).unwrap());
    assert_eq!(
        store.leave(attempt, "success", T0 + 82_000).unwrap(),
        "success"
    );
    let a2 = agent(&store.agents(T0).unwrap(), "a2").clone();
    assert_eq!(
        (a2.state, a2.ready_at_ms, a2.calls_today, a2.talk_secs_today),
        (AgentState::WrapTime, Some(T0 + 92_000), 1, 60)
    );
    let record = store.attempt(attempt).unwrap().unwrap();
    assert_eq!(
        (record.bridged_at_ms, record.ended_at_ms, record.offers),
        (Some(T0 + 22_000), Some(T0 + 82_000), 4)
    );
    assert_eq!(store.next_due(T0 + 82_000).unwrap(), Some(T0 + 92_000));
    // `waiting` counts agents free now: not a2 while it wraps up, a2 once its rest is over.
    let counts = store.agent_counts("sales", T0 + 91_999).unwrap();
    assert_eq!(
        (counts.count, counts.online, counts.pause, counts.waiting),
        (2, 1, 1, 0)
    );
    assert_eq!(store.agent_counts("sales", T0 + 92_000).unwrap().waiting, 1);
    assert_eq!(
        store.janitor(T0 + 92_000).unwrap().rested,
        vec!["a2".to_string()]
    );
}

/// An answer is idempotent. An agent who answered but was gone before the caller was
/// connected: the caller is back in its place and the agent rests as after a missed offer; a `missed` naming another agent
/// changes nothing.
pub fn answered_then_gone(open: Open<'_>) {
    let store = open();
    provision(&*store, ONE_QUEUE, T0);
    let mut d = Distributor::new(1);
    let attempt = joined(join(&*store, "sales", "c1", 0, T0));
    let offer = d.pass(&*store, T0).unwrap().offers.remove(0);
    assert_eq!(offer.agents[0].id, "a1");
    assert!(store.answered(attempt, "a1", T0 + 2_000).unwrap());
    // The same answer again (a retry after a lost reply) still wins; another agent does not.
    assert!(store.answered(attempt, "a1", T0 + 2_100).unwrap());
    assert!(!store.answered(attempt, "a2", T0 + 2_100).unwrap());
    assert!(
        store
            .missed(attempt, &["a2".into()], "agent_hangup", T0 + 2_500)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        agent(&store.agents(T0).unwrap(), "a1").state,
        AgentState::Bridged
    );
    assert!(
        store
            .missed(attempt, &["a1".into()], "agent_hangup", T0 + 3_000)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.position(attempt).unwrap(), 1);
    let a1 = agent(&store.agents(T0).unwrap(), "a1").clone();
    assert_eq!(
        (a1.state, a1.ready_at_ms),
        (AgentState::Missed, Some(T0 + 8_000))
    );
    let record = store.attempt(attempt).unwrap().unwrap();
    assert_eq!((record.bridged_at_ms, record.agent_id), (None, None));
    let again = d.pass(&*store, T0 + 3_000).unwrap().offers.remove(0);
    assert_eq!(
        (again.attempt, again.agents[0].id.as_str()),
        (attempt, "a2")
    );
}

/// Positions follow the one ordering; max wait closes a caller with `timeout`; a caller who
/// rejoins within the resume window keeps the time it had waited.
pub fn order_timeout_and_resume(open: Open<'_>) {
    let store = open();
    provision(
        &*store,
        r#"{"buckets": [{"id": "vip", "priority": 10}],
            "queues": [{"id": "q", "max_wait_secs": 60, "abandon_resume_secs": 120}], "agents": [], "tiers": []}"#,
        T0,
    );
    let a = joined(join(&*store, "q", "c1", 0, T0));
    let b = joined(join(&*store, "q", "c2", 0, T0 + 1_000));
    let c = joined(join(&*store, "q", "c3", 5, T0 + 2_000));
    let v = joined(
        store
            .join(
                &JoinRequest {
                    queue: "q".into(),
                    call_id: "c4".into(),
                    bucket: Some("vip".into()),
                    variables: "{}".into(),
                    ..JoinRequest::default()
                },
                T0 + 3_000,
            )
            .unwrap(),
    );
    let order: Vec<i64> = store.waiting().unwrap().iter().map(|r| r.id).collect();
    assert_eq!(order, vec![v, c, a, b]);
    let keys: Vec<OrderKey> = store
        .waiting()
        .unwrap()
        .iter()
        .map(|r| OrderKey {
            band: r.band,
            since_ms: r.since_ms,
            id: r.id,
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "the store's order is the comparator's"
    );
    for (i, id) in order.iter().enumerate() {
        assert_eq!(store.position(*id).unwrap(), i as u32 + 1);
    }
    // c1 hangs up after 30 s and calls again 20 s later: it counts as waiting for 30 s.
    assert_eq!(
        store.leave(a, "abandoned", T0 + 30_000).unwrap(),
        "abandoned"
    );
    assert_eq!(store.position(a).unwrap(), 0);
    let again = joined(join(&*store, "q", "c1", 0, T0 + 50_000));
    assert_eq!(store.attempt(again).unwrap().unwrap().since_ms, T0 + 20_000);
    // Behind c2, who has counted since T0 + 1 s.
    assert_eq!(store.position(again).unwrap(), 4);
    let j = store.janitor(T0 + 61_000).unwrap();
    let closed: Vec<(i64, String)> = j
        .closed
        .iter()
        .map(|(id, _, _, r)| (*id, r.clone()))
        .collect();
    assert_eq!(closed, vec![(b, "timeout".to_string())]);
    assert_eq!(
        store.attempt(b).unwrap().unwrap().result.as_deref(),
        Some("timeout")
    );
}

/// Eight threads, each with its own handle, claim 10,000 attempts against 20 agents: no
/// agent is ever reserved twice and every attempt is served exactly once.
pub fn eight_threads_never_double_reserve(open: Open<'_>) {
    const ATTEMPTS: usize = 10_000;
    let store = open();
    let agents: Vec<String> = (1..=20)
        .map(|i| format!(r#"{{"id":"a{i}","extension":"{}"}}"#, 1000 + i))
        .collect();
    let tiers: Vec<String> = (1..=20)
        .map(|i| format!(r#"{{"queue":"q","agent":"a{i}"}}"#))
        .collect();
    provision(
        &*store,
        &format!(
            r#"{{"queues":[{{"id":"q","max_wait_secs":0}}],"agents":[{}],"tiers":[{}]}}"#,
            agents.join(","),
            tiers.join(",")
        ),
        T0,
    );
    for i in 0..ATTEMPTS {
        joined(join(&*store, "q", &format!("c{i}"), 0, T0 + i as i64));
    }
    let holder: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let served: Arc<Mutex<BTreeMap<i64, usize>>> = Arc::default();
    let doubles = Arc::new(AtomicUsize::new(0));
    let lost = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for t in 0..8u64 {
            let handle = open();
            let (holder, served, doubles, lost) = (
                holder.clone(),
                served.clone(),
                doubles.clone(),
                lost.clone(),
            );
            scope.spawn(move || {
                let mut d = Distributor::new(t);
                let now = T0 + ATTEMPTS as i64;
                loop {
                    let pass = d.pass(&*handle, now).unwrap();
                    lost.fetch_add(pass.lost, Ordering::Relaxed);
                    if pass.offers.is_empty() {
                        if handle.waiting().unwrap().is_empty() {
                            break;
                        }
                        std::thread::yield_now();
                        continue;
                    }
                    for offer in pass.offers {
                        let agent = offer.agents[0].id.clone();
                        if holder.lock().insert(agent.clone(), offer.attempt).is_some() {
                            doubles.fetch_add(1, Ordering::Relaxed);
                        }
                        *served.lock().entry(offer.attempt).or_default() += 1;
                        assert!(handle.answered(offer.attempt, &agent, now).unwrap());
                        // Give the agent back before the store frees it.
                        holder.lock().remove(&agent);
                        assert_eq!(
                            handle.leave(offer.attempt, "success", now).unwrap(),
                            "success"
                        );
                    }
                }
            });
        }
    });
    assert_eq!(
        doubles.load(Ordering::Relaxed),
        0,
        "an agent was reserved twice"
    );
    let served = served.lock();
    assert_eq!(served.len(), ATTEMPTS, "every attempt was served");
    assert!(
        served.values().all(|&n| n == 1),
        "an attempt was offered twice"
    );
    let history = store.history(Some("q"), 0).unwrap();
    assert!(
        history
            .iter()
            .all(|r| r.state == AttemptState::Left && r.result.as_deref() == Some("success"))
    );
    assert!(
        store
            .agents(T0)
            .unwrap()
            .iter()
            .all(|a| a.state == AgentState::Waiting && a.attempt.is_none())
    );
    eprintln!(
        "eight threads: {} claims lost to another thread and retried",
        lost.load(Ordering::Relaxed)
    );
}

/// Callers waiting for one agent (`joinAgent`) are offered that agent only, the earliest
/// first, and the next one when it is free again.
pub fn callers_for_one_agent_wait_for_it(open: Open<'_>) {
    let store = open();
    provision(&*store, ONE_QUEUE, T0);
    let for_a1 = |call: &str, now: Ms| {
        joined(
            store
                .join(
                    &JoinRequest {
                        target_agent: Some("1001".into()),
                        call_id: call.into(),
                        node: "node-1".into(),
                        variables: "{}".into(),
                        ..JoinRequest::default()
                    },
                    now,
                )
                .unwrap(),
        )
    };
    let first = for_a1("t1", T0);
    let second = for_a1("t2", T0 + 1);
    let mut d = Distributor::new(1);
    let offers = d.pass(&*store, T0 + 2).unwrap().offers;
    let offered: Vec<(i64, &str)> = offers
        .iter()
        .map(|o| (o.attempt, o.agents[0].id.as_str()))
        .collect();
    assert_eq!(offered, vec![(first, "a1")], "a2 is free but not asked for");
    assert!(store.answered(first, "a1", T0 + 3).unwrap());
    assert_eq!(store.leave(first, "success", T0 + 4).unwrap(), "success");
    let offers = d.pass(&*store, T0 + 5).unwrap().offers;
    assert_eq!(
        offers
            .iter()
            .map(|o| (o.attempt, o.agents[0].id.as_str()))
            .collect::<Vec<_>>(),
        vec![(second, "a1")]
    );
}

fn join_on(store: &dyn Store, call: &str, node: &str, now: Ms) -> i64 {
    joined(
        store
            .join(
                &JoinRequest {
                    queue: "q".into(),
                    call_id: call.into(),
                    node: node.into(),
                    variables: "{}".into(),
                    ..JoinRequest::default()
                },
                now,
            )
            .unwrap(),
    )
}

/// A node that stops heartbeating is lost after [`NODE_LEASE_MS`]: its waiting, offered and
/// bridged callers are closed with `node_lost` (agents offered to them free, the bridged
/// agent wrapping up), once; a live node's callers are untouched; a node that never
/// heartbeated is never lost.
pub fn lost_nodes_are_released(open: Open<'_>) {
    let store = open();
    provision(
        &*store,
        r#"{"queues": [{"id": "q", "max_wait_secs": 0, "wrap_up_secs": 10, "ring_timeout_secs": 15}],
            "agents": [{"id": "a1", "extension": "1001"}, {"id": "a2", "extension": "1002"}],
            "tiers": [{"queue": "q", "agent": "a1"}, {"queue": "q", "agent": "a2"}]}"#,
        T0,
    );
    store.heartbeat("node-1", T0).unwrap();
    store.heartbeat("node-2", T0).unwrap();
    let bridged = join_on(&*store, "c1", "node-2", T0);
    let offered = join_on(&*store, "c2", "node-2", T0 + 1);
    let lost_waiting = join_on(&*store, "c3", "node-2", T0 + 2);
    let live = join_on(&*store, "c4", "node-1", T0 + 3);
    let never = join_on(&*store, "c5", "node-3", T0 + 4);
    let view = store.dispatch_view(T0 + 10).unwrap();
    let nodes: Vec<(i64, &str)> = view
        .attempts
        .iter()
        .map(|a| (a.id, a.node.as_str()))
        .collect();
    assert_eq!(
        nodes,
        vec![
            (bridged, "node-2"),
            (offered, "node-2"),
            (lost_waiting, "node-2"),
            (live, "node-1"),
            (never, "node-3")
        ],
        "dispatch sees which node holds each caller"
    );
    let offers = Distributor::new(1).pass(&*store, T0 + 10).unwrap().offers;
    let agent_of = |attempt: i64| {
        offers
            .iter()
            .find(|o| o.attempt == attempt)
            .map(|o| o.agents[0].id.clone())
            .expect("the first two callers are offered")
    };
    let (talking, ringing) = (agent_of(bridged), agent_of(offered));
    assert!(store.answered(bridged, &talking, T0 + 1_000).unwrap());
    store.heartbeat("node-1", T0 + 4_000).unwrap();
    // Lost means a heartbeat older than the lease, not as old.
    let j = store.janitor(T0 + NODE_LEASE_MS).unwrap();
    assert!(j.lost_nodes.is_empty() && j.closed.is_empty(), "{j:?}");
    let j = store.janitor(T0 + NODE_LEASE_MS + 1).unwrap();
    assert_eq!(j.lost_nodes, vec![("node-2".to_string(), 3)]);
    let closed: Vec<(i64, &str, &str)> = j
        .closed
        .iter()
        .map(|(id, _, node, result)| (*id, node.as_str(), result.as_str()))
        .collect();
    assert_eq!(
        closed,
        vec![
            (bridged, "node-2", NODE_LOST),
            (offered, "node-2", NODE_LOST),
            (lost_waiting, "node-2", NODE_LOST)
        ]
    );
    for attempt in [bridged, offered, lost_waiting] {
        let record = store.attempt(attempt).unwrap().unwrap();
        assert_eq!(
            (record.state, record.result.as_deref()),
            (AttemptState::Left, Some(NODE_LOST))
        );
    }
    assert_eq!(
        store.attempt(bridged).unwrap().unwrap().ended_at_ms,
        Some(T0 + NODE_LEASE_MS + 1),
        "the conversation ended"
    );
    let views = store.agents(T0).unwrap();
    let talking = agent(&views, &talking);
    assert_eq!(
        (talking.state, talking.ready_at_ms, talking.calls_today),
        (
            AgentState::WrapTime,
            Some(T0 + NODE_LEASE_MS + 1 + 10_000),
            1
        ),
        "the agent who talked wraps up as after a normal end"
    );
    let ringing = agent(&views, &ringing);
    assert_eq!(
        (ringing.state, ringing.attempt),
        (AgentState::Waiting, None),
        "the agent who was ringing is free"
    );
    for attempt in [live, never] {
        assert_eq!(
            store.attempt(attempt).unwrap().unwrap().state,
            AttemptState::Waiting
        );
    }
    // Reported once.
    let j = store.janitor(T0 + NODE_LEASE_MS + 2).unwrap();
    assert!(j.lost_nodes.is_empty() && j.closed.is_empty(), "{j:?}");
    // Much later node-1 is lost too, found by a node alive for a whole lease by then; node-3,
    // which never heartbeated, never is.
    store
        .heartbeat("watcher", T0 + 3_600_000 - NODE_LEASE_MS)
        .unwrap();
    store.heartbeat("watcher", T0 + 3_600_000).unwrap();
    let j = store.janitor(T0 + 3_600_000).unwrap();
    assert_eq!(j.lost_nodes, vec![("node-1".to_string(), 1)]);
    assert_eq!(
        store.attempt(never).unwrap().unwrap().state,
        AttemptState::Waiting
    );
    // A lost node that comes back is a node again.
    store.heartbeat("node-2", T0 + 3_600_000).unwrap();
    assert!(
        store
            .janitor(T0 + 3_600_000 + NODE_LEASE_MS)
            .unwrap()
            .lost_nodes
            .is_empty()
    );
}

/// After an outage of the store itself every heartbeat is old: the node that comes back first
/// loses nobody until it has been alive for a whole lease, so the others can come back too;
/// one that does not come back by then is lost.
pub fn an_outage_of_the_store_loses_no_live_node(open: Open<'_>) {
    let store = open();
    provision(
        &*store,
        r#"{"queues": [{"id": "q", "max_wait_secs": 0}], "agents": [], "tiers": []}"#,
        T0,
    );
    for node in ["node-1", "node-2", "node-3"] {
        store.heartbeat(node, T0).unwrap();
        join_on(&*store, &format!("c-{node}"), node, T0);
    }
    // Twenty seconds without the store; node-1 is back first, node-2 a moment later, node-3
    // never.
    let back = T0 + 20_000;
    store.heartbeat("node-1", back).unwrap();
    let j = store.janitor(back).unwrap();
    assert!(j.lost_nodes.is_empty() && j.closed.is_empty(), "{j:?}");
    let due = store.next_due(back).unwrap();
    assert_eq!(
        due,
        Some(back + NODE_LEASE_MS),
        "the loss is due a lease later"
    );
    store.heartbeat("node-2", back + 1_500).unwrap();
    for t in [1_000, 2_000, 3_000, 4_000, 5_000] {
        store.heartbeat("node-1", back + t).unwrap();
        if t >= 2_500 {
            store.heartbeat("node-2", back + t).unwrap();
        }
    }
    let j = store.janitor(back + NODE_LEASE_MS - 1).unwrap();
    assert!(j.lost_nodes.is_empty(), "{j:?}");
    let j = store.janitor(back + NODE_LEASE_MS).unwrap();
    assert_eq!(j.lost_nodes, vec![("node-3".to_string(), 1)]);
}

/// Four handles run the janitor at once while three nodes are lost: each loss and each
/// attempt is reported by exactly one of them, and nothing is left open.
pub fn concurrent_janitors_report_a_loss_once(open: Open<'_>) {
    let store = open();
    provision(
        &*store,
        r#"{"queues": [{"id": "q", "max_wait_secs": 0}], "agents": [], "tiers": []}"#,
        T0,
    );
    // The node whose janitors find the losses, alive through the lease.
    store.heartbeat("watcher", T0).unwrap();
    store.heartbeat("watcher", T0 + NODE_LEASE_MS).unwrap();
    for n in 0..3 {
        let node = format!("node-{n}");
        store.heartbeat(&node, T0).unwrap();
        for c in 0..20 {
            join_on(&*store, &format!("c{n}-{c}"), &node, T0);
        }
    }
    let reports: Mutex<Vec<Janitor>> = Mutex::default();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let handle = open();
            let reports = &reports;
            scope.spawn(move || {
                for step in 0..5 {
                    let j = handle.janitor(T0 + NODE_LEASE_MS + 1 + step).unwrap();
                    reports.lock().push(j);
                }
            });
        }
    });
    let reports = reports.into_inner();
    let mut lost: Vec<(String, usize)> =
        reports.iter().flat_map(|j| j.lost_nodes.clone()).collect();
    lost.sort();
    assert_eq!(
        lost,
        (0..3)
            .map(|n| (format!("node-{n}"), 20))
            .collect::<Vec<_>>()
    );
    let mut closed: Vec<i64> = reports
        .iter()
        .flat_map(|j| j.closed.iter().map(|c| c.0))
        .collect();
    closed.sort();
    closed.dedup();
    assert_eq!(closed.len(), 60, "every attempt reported once");
    assert_eq!(
        reports.iter().map(|j| j.closed.len()).sum::<usize>(),
        60,
        "and by one janitor only"
    );
    assert!(store.waiting().unwrap().is_empty());
}

/// The change feed of one handle wakes when another handle writes, within a bounded time,
/// and stays quiet while nobody writes.
pub fn change_feed_wakes_other_handles(open: Open<'_>) {
    let writer = open();
    let reader = open();
    provision(
        &*writer,
        r#"{"queues": [{"id": "q"}], "agents": [], "tiers": []}"#,
        T0,
    );
    let mut feed = reader.change_feed().unwrap();
    // Whatever happened before is old news.
    while feed.wait(std::time::Duration::from_millis(200)).unwrap() {}
    assert!(
        !feed.wait(std::time::Duration::from_millis(200)).unwrap(),
        "quiet while nobody writes"
    );
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            join_on(&*writer, "c1", "node-1", T0);
        });
        assert!(
            feed.wait(std::time::Duration::from_secs(5)).unwrap(),
            "the join woke the feed"
        );
    });
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(1),
        "woken {took:?} after the join was started"
    );
}

/// Two nodes (own handles, own distributors) serve 1,000 callers of one priority with 20
/// agents: no agent is offered twice, every attempt is offered and ends exactly once, and
/// offers follow the one order: when an attempt is offered, fewer callers that joined
/// before it are still unserved than the two nodes can have claims in flight.
pub fn two_nodes_serve_in_one_order(open: Open<'_>) {
    const ATTEMPTS: usize = 1_000;
    const AGENTS: usize = 20;
    let store = open();
    let agents: Vec<String> = (1..=AGENTS)
        .map(|i| format!(r#"{{"id":"a{i}","extension":"{}"}}"#, 1000 + i))
        .collect();
    let tiers: Vec<String> = (1..=AGENTS)
        .map(|i| format!(r#"{{"queue":"q","agent":"a{i}"}}"#))
        .collect();
    provision(
        &*store,
        &format!(
            r#"{{"queues":[{{"id":"q","max_wait_secs":0}}],"agents":[{}],"tiers":[{}]}}"#,
            agents.join(","),
            tiers.join(",")
        ),
        T0,
    );
    let ids: Vec<i64> = (0..ATTEMPTS)
        .map(|i| join_on(&*store, &format!("c{i}"), "node-1", T0 + i as i64))
        .collect();
    let holder: Mutex<BTreeMap<String, i64>> = Mutex::default();
    let offers: Mutex<Vec<i64>> = Mutex::default();
    let doubles = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for node in 0..2u64 {
            let handle = open();
            let (holder, offers, doubles) = (&holder, &offers, &doubles);
            scope.spawn(move || {
                let mut d = Distributor::new(node);
                let now = T0 + ATTEMPTS as i64;
                loop {
                    let pass = d.pass(&*handle, now).unwrap();
                    if pass.offers.is_empty() {
                        if handle.waiting().unwrap().is_empty() {
                            break;
                        }
                        std::thread::yield_now();
                        continue;
                    }
                    for offer in pass.offers {
                        let agent = offer.agents[0].id.clone();
                        if holder.lock().insert(agent.clone(), offer.attempt).is_some() {
                            doubles.fetch_add(1, Ordering::Relaxed);
                        }
                        offers.lock().push(offer.attempt);
                        assert!(handle.answered(offer.attempt, &agent, now).unwrap());
                        holder.lock().remove(&agent);
                        assert_eq!(
                            handle.leave(offer.attempt, "success", now).unwrap(),
                            "success"
                        );
                    }
                }
            });
        }
    });
    assert_eq!(doubles.into_inner(), 0, "an agent was offered twice");
    let offers = offers.into_inner();
    let mut once = offers.clone();
    once.sort();
    assert_eq!(once, ids, "every attempt offered exactly once");
    let mut unserved: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    let mut worst = 0;
    for attempt in &offers {
        let ahead = unserved.range(..*attempt).count();
        worst = worst.max(ahead);
        unserved.remove(attempt);
    }
    eprintln!("two nodes: at most {worst} earlier callers unserved when an attempt was offered");
    assert!(
        worst < 2 * AGENTS,
        "an attempt was offered while {worst} earlier callers were still unserved"
    );
    assert!(
        store
            .history(Some("q"), 0)
            .unwrap()
            .iter()
            .all(|r| r.state == AttemptState::Left && r.result.as_deref() == Some("success")),
        "every attempt ended once, with success"
    );
}

/// Every test of the suite, in order.
pub fn run_all(open: Open<'_>) {
    provisioning_is_all_or_nothing(open);
    joins_are_checked(open);
    claims_are_leases(open);
    missed_and_wrap_up(open);
    answered_then_gone(open);
    order_timeout_and_resume(open);
    eight_threads_never_double_reserve(open);
    two_nodes_serve_in_one_order(open);
    callers_for_one_agent_wait_for_it(open);
    lost_nodes_are_released(open);
    concurrent_janitors_report_a_loss_once(open);
    an_outage_of_the_store_loses_no_live_node(open);
    change_feed_wakes_other_handles(open);
}
