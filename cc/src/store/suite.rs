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

/// How long the concurrent tests may take before they count as stuck.
const NO_PROGRESS_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

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
    let started = std::time::Instant::now();
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
                    // A broken store must fail the test, not spin in it.
                    assert!(
                        started.elapsed() < NO_PROGRESS_LIMIT,
                        "callers still waiting after {NO_PROGRESS_LIMIT:?}"
                    );
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
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for node in 0..2u64 {
            let handle = open();
            let (holder, offers, doubles) = (&holder, &offers, &doubles);
            scope.spawn(move || {
                let mut d = Distributor::new(node);
                let now = T0 + ATTEMPTS as i64;
                loop {
                    // A broken store must fail the test, not spin in it.
                    assert!(
                        started.elapsed() < NO_PROGRESS_LIMIT,
                        "callers still waiting after {NO_PROGRESS_LIMIT:?}"
                    );
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
    members_are_added_listed_patched_and_deleted(open);
    dial_candidates_follow_the_rules(open);
    calendar_windows_in_the_members_zone_across_dst(open);
    outbound_attempts_and_their_outcomes(open);
    outbound_janitor_defaults_and_expiry(open);
    dial_stats_count_what_the_pacer_needs(open);
    eight_threads_never_start_a_member_twice(open);
}

// Members of outbound queues.

const OUTBOUND: &str = r#"{
  "buckets": [{"id": "vip", "priority": 10}],
  "queues": [{"id": "calls", "type": "offline", "max_attempts": 3, "wait_between_retries_secs": 60,
              "max_attempts_per_number": 2, "gateway": "pstn", "wrap_up_secs": 5, "ring_timeout_secs": 15},
             {"id": "dialer", "type": "predictive", "safe_message": "safe.wav", "max_wait_secs": 0},
             {"id": "in"}],
  "agents": [{"id": "a1", "extension": "1001"}, {"id": "a2", "extension": "1002"}],
  "tiers": [{"queue": "calls", "agent": "a1"}, {"queue": "calls", "agent": "a2"},
            {"queue": "dialer", "agent": "a1"}]
}"#;

fn new_member(queue: &str, name: &str, numbers: &[&str]) -> crate::model::Member {
    let mut m = crate::model::Member::new(queue, numbers[0]);
    m.name = name.to_string();
    for n in &numbers[1..] {
        m.communications
            .push(crate::model::Communication::number(*n));
    }
    m
}

fn add_one(store: &dyn Store, m: crate::model::Member, now: Ms) -> i64 {
    store.add_members(&[m], now).unwrap()[0]
}

fn names(members: &[crate::model::Member]) -> Vec<&str> {
    members.iter().map(|m| m.name.as_str()).collect()
}

fn filter() -> MemberFilter {
    MemberFilter::default()
}

/// Members are added all or nothing with errors naming the field; listed with Webitel's
/// filters (name ILIKE, exact destination, created since, completed, bucket, queues);
/// patched in one transaction (stop_cause sets stop_at, variables merged, communications by
/// index, unknown indices ignored); deleted.
pub fn members_are_added_listed_patched_and_deleted(open: Open<'_>) {
    let store = open();
    provision(&*store, OUTBOUND, T0);
    let mut ann = new_member("calls", "Ann Smith", &["+1555001"]);
    ann.bucket = Some("vip".into());
    ann.variables = r#"{"k":"v"}"#.into();
    let bob = new_member("calls", "Bob", &["+1555002", "sip:bob@example.com"]);
    let ids = store.add_members(&[ann, bob], T0).unwrap();
    let marie = add_one(
        &*store,
        new_member("calls", "ann-marie", &["+1555003"]),
        T0 + 1_000,
    );
    assert_eq!(ids.len(), 2);
    let err =
        |members: &[crate::model::Member]| store.add_members(members, T0).unwrap_err().to_string();
    let good = new_member("calls", "ok", &["+1"]);
    assert_eq!(
        err(&[good.clone(), new_member("in", "x", &["+1"])]),
        "members[1].queue: queue `in` is inbound; members belong to offline (callback), preview, progressive or predictive queues"
    );
    assert_eq!(
        err(&[new_member("nope", "x", &["+1"])]),
        "members[0].queue: no queue `nope`"
    );
    let mut empty = good.clone();
    empty.communications.clear();
    assert_eq!(
        err(&[empty]),
        "members[0].communications: a member needs at least one communication (a destination to dial)"
    );
    assert_eq!(
        err(&[
            good.clone(),
            good.clone(),
            new_member("calls", "x", &["+1", "1555 001"])
        ]),
        "members[2].communications[1].destination: the number `1555 001` holds ' '"
    );
    let mut zone = good.clone();
    zone.timezone = Some("Mars/Base".into());
    assert_eq!(
        err(&[zone]),
        "members[0].timezone: `Mars/Base` is not an IANA time zone"
    );
    let mut bucket = good.clone();
    bucket.bucket = Some("gold".into());
    assert_eq!(err(&[bucket]), "members[0].bucket: no bucket `gold`");
    let all = store.members(&filter(), 100).unwrap();
    assert_eq!(
        names(&all),
        ["Ann Smith", "Bob", "ann-marie"],
        "nothing of a refused batch was written"
    );
    assert_eq!(all[0].created_at_ms, T0);
    assert_eq!(all[0].bucket.as_deref(), Some("vip"));
    let find = |f: MemberFilter| names(&store.members(&f, 100).unwrap()).join(",");
    let by_name = |n: &str| MemberFilter {
        name: Some(n.into()),
        ..filter()
    };
    assert_eq!(find(by_name("ann%")), "Ann Smith,ann-marie");
    assert_eq!(find(by_name("%SMITH")), "Ann Smith");
    assert_eq!(find(by_name("b_b")), "Bob");
    assert_eq!(find(by_name("ann")), "", "no wildcard: the whole name");
    assert_eq!(
        find(by_name("")),
        "",
        "an empty name matches only nameless members"
    );
    assert_eq!(
        find(MemberFilter {
            destination: Some("sip:bob@example.com".into()),
            ..filter()
        }),
        "Bob"
    );
    assert_eq!(
        find(MemberFilter {
            destination: Some("+155500".into()),
            ..filter()
        }),
        "",
        "destinations match exactly"
    );
    assert_eq!(
        find(MemberFilter {
            created_since_ms: Some(T0 + 1),
            ..filter()
        }),
        "ann-marie"
    );
    assert_eq!(
        find(MemberFilter {
            created_before_ms: Some(T0 + 1),
            ..filter()
        }),
        "Ann Smith,Bob",
        "`today: false`: created before midnight"
    );
    assert_eq!(
        find(MemberFilter {
            bucket: Some("vip".into()),
            ..filter()
        }),
        "Ann Smith"
    );
    assert_eq!(
        find(MemberFilter {
            queues: vec!["calls".into()],
            completed: Some(false),
            ..filter()
        }),
        "Ann Smith,Bob,ann-marie"
    );
    assert_eq!(
        store
            .members(
                &MemberFilter {
                    queues: vec!["nope".into()],
                    ..filter()
                },
                10
            )
            .unwrap_err()
            .to_string(),
        "queue `nope` not found"
    );
    assert_eq!(
        names(&store.members(&filter(), 2).unwrap()),
        ["Ann Smith", "Bob"]
    );
    // A patch of every Ann: variables merged, priority set, a communication by index; an
    // index nobody has is ignored.
    let patched = store
        .patch_members(
            &by_name("ann%"),
            &MemberPatch {
                priority: Some(5),
                variables: Some(r#"{"x":1}"#.into()),
                communications: vec![
                    (
                        0,
                        CommunicationPatch {
                            display: Some("+1800".into()),
                            ..CommunicationPatch::default()
                        },
                    ),
                    (
                        7,
                        CommunicationPatch {
                            destination: Some("+1999".into()),
                            ..CommunicationPatch::default()
                        },
                    ),
                ],
                ..MemberPatch::default()
            },
            T0 + 2_000,
        )
        .unwrap();
    assert_eq!(patched, 2);
    let ann = store.member(ids[0]).unwrap().unwrap();
    assert_eq!(ann.priority, 5);
    let vars: serde_json::Value = serde_json::from_str(&ann.variables).unwrap();
    assert_eq!(vars, serde_json::json!({"k": "v", "x": 1}));
    assert_eq!(ann.communications.len(), 1);
    assert_eq!(ann.communications[0].display.as_deref(), Some("+1800"));
    assert_eq!(ann.communications[0].destination, "+1555001");
    // One transaction: Bob's bad second number refuses the whole patch, Ann's rename too.
    let err = store
        .patch_members(
            &MemberFilter {
                queues: vec!["calls".into()],
                ..filter()
            },
            &MemberPatch {
                name: Some("Renamed".into()),
                communications: vec![(
                    1,
                    CommunicationPatch {
                        destination: Some("sip:a b".into()),
                        ..CommunicationPatch::default()
                    },
                )],
                ..MemberPatch::default()
            },
            T0 + 3_000,
        )
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "member {}.communications[1].destination: the SIP address `sip:a b` holds ' '",
            ids[1]
        )
    );
    assert_eq!(store.member(ids[0]).unwrap().unwrap().name, "Ann Smith");
    let err = store
        .patch_members(
            &MemberFilter {
                id: Some(marie),
                ..filter()
            },
            &MemberPatch {
                queue: Some("in".into()),
                ..MemberPatch::default()
            },
            T0,
        )
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("queue: queue `in` is inbound; members belong to offline (callback), preview, progressive or predictive queues"), "{err}");
    // stop_cause finishes the member now.
    let stopped = store
        .patch_members(
            &MemberFilter {
                destination: Some("+1555002".into()),
                ..filter()
            },
            &MemberPatch {
                stop_cause: Some("do_not_call".into()),
                ..MemberPatch::default()
            },
            T0 + 4_000,
        )
        .unwrap();
    assert_eq!(stopped, 1);
    let bob = store.member(ids[1]).unwrap().unwrap();
    assert_eq!(
        (bob.stop_at_ms, bob.stop_cause.as_deref()),
        (Some(T0 + 4_000), Some("do_not_call"))
    );
    assert_eq!(
        find(MemberFilter {
            completed: Some(true),
            ..filter()
        }),
        "Bob"
    );
    assert_eq!(
        store
            .delete_members(&MemberFilter {
                completed: Some(true),
                ..filter()
            })
            .unwrap(),
        1
    );
    assert_eq!(store.member(ids[1]).unwrap(), None);
    assert_eq!(store.members(&filter(), 100).unwrap().len(), 2);
    // A deleted member's id is never given again: events and reports name members by id.
    let newest = store.members(&filter(), 100).unwrap().last().unwrap().id;
    store
        .delete_members(&MemberFilter {
            id: Some(newest),
            ..filter()
        })
        .unwrap();
    let next = add_one(&*store, new_member("calls", "next", &["+9"]), T0);
    assert!(next > newest, "member id {next} after deleting {newest}");
}

/// UTC milliseconds of `YYYY-MM-DD HH:MM`.
fn utc(text: &str) -> Ms {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

/// Candidates: not stopped, not expired, no open attempt, ready, a number left (excluded
/// numbers and per-number attempts); in order of priority, then ready time, then id.
pub fn dial_candidates_follow_the_rules(open: Open<'_>) {
    let store = open();
    provision(&*store, OUTBOUND, T0);
    let plain = add_one(&*store, new_member("calls", "plain", &["+1"]), T0);
    let mut high = new_member("calls", "high", &["+2", "+22"]);
    high.priority = 5;
    let high = add_one(&*store, high, T0 + 1);
    let mut later = new_member("calls", "later", &["+3"]);
    later.ready_at_ms = Some(T0 + 60_000);
    add_one(&*store, later, T0);
    let mut expired = new_member("calls", "expired", &["+4"]);
    expired.expire_at_ms = Some(T0 - 1);
    add_one(&*store, expired, T0);
    let mut stopped = new_member("calls", "stopped", &["+5"]);
    stopped.stop_cause = Some("do_not_call".into());
    add_one(&*store, stopped, T0);
    let open_one = add_one(&*store, new_member("calls", "open", &["+6"]), T0);
    let candidates = |now: Ms| -> Vec<(String, usize)> {
        store
            .dial_candidates("calls", now, 10)
            .unwrap()
            .into_iter()
            .map(|c| (c.member.name, c.communication))
            .collect()
    };
    let list = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
        v.iter().map(|(n, c)| (n.to_string(), *c)).collect()
    };
    assert_eq!(
        candidates(T0 + 10),
        list(&[("high", 0), ("plain", 0), ("open", 0)])
    );
    assert_eq!(store.dial_candidates("calls", T0 + 10, 1).unwrap().len(), 1);
    let start = |member: i64, communication: usize, now: Ms| {
        store
            .start_outbound(
                &OutboundStart {
                    queue: "calls".into(),
                    member,
                    communication,
                    agent: None,
                    node: "node-1".into(),
                    call_id: String::new(),
                    lease_until_ms: now + 60_000,
                },
                now,
            )
            .unwrap()
            .expect("the member may be dialled")
    };
    start(open_one, 0, T0 + 20);
    assert_eq!(
        candidates(T0 + 60_000),
        list(&[("high", 0), ("plain", 0), ("later", 0)]),
        "an open attempt is not dialled again; `later` is ready now"
    );
    // Per-number attempts (2 here): the least tried number next, a used-up one never.
    let finish = |member: i64, communication: usize, outcome: AttemptOutcome, now: Ms| {
        let a = start(member, communication, now);
        store.leave(a.attempt, &outcome.result, now).unwrap();
        store.finish_outbound(a.attempt, &outcome, now).unwrap()
    };
    let no_answer = || AttemptOutcome {
        wait_between_retries_secs: Some(0),
        ..AttemptOutcome::result("no_answer")
    };
    finish(high, 0, no_answer(), T0 + 100);
    assert_eq!(candidates(T0 + 100)[0], ("high".to_string(), 1));
    finish(high, 1, no_answer(), T0 + 200);
    assert_eq!(candidates(T0 + 200)[0], ("high".to_string(), 0));
    // The third counted attempt is the queue's last (max_attempts 3): it stops the member.
    let after = finish(
        high,
        0,
        AttemptOutcome {
            exclude_current_communication: true,
            ..no_answer()
        },
        T0 + 300,
    );
    assert_eq!(
        (after.stopped, after.stop_cause.as_deref(), after.attempts),
        (true, Some("no_answer"), 3)
    );
    let high = store.member(high).unwrap().unwrap();
    assert!(high.communications[0].excluded);
    assert_eq!(
        (
            high.communications[0].attempts,
            high.communications[1].attempts
        ),
        (2, 1)
    );
    // Numbers used up before attempts: plain (one number) with two no-answers.
    finish(plain, 0, no_answer(), T0 + 400);
    let after = finish(plain, 0, no_answer(), T0 + 500);
    assert_eq!(
        (after.stopped, after.stop_cause.as_deref(), after.attempts),
        (true, Some("no_answer"), 2),
        "no number left"
    );
    assert_eq!(candidates(T0 + 60_000), list(&[("later", 0)]));
    assert_eq!(
        store.dial_candidates("in", T0, 10).unwrap_err().to_string(),
        "queue: queue `in` is inbound; members belong to offline (callback), preview, progressive or predictive queues"
    );
}

/// The queue's calendar is read in the member's time zone: a 09:00–18:00 window opens at
/// 09:00 New York time on both sides of the DST changes (2026-03-08, 2026-11-01), a member
/// without a zone follows the calendar's own (Kyiv), and an exception date shortens a day.
pub fn calendar_windows_in_the_members_zone_across_dst(open: Open<'_>) {
    let store = open();
    provision(
        &*store,
        r#"{"calendars": [{"id": "office", "timezone": "Europe/Kyiv",
              "week": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "open": "09:00", "close": "18:00"}],
              "exceptions": [{"date": "2026-03-10", "name": "Short day", "open": "09:00", "close": "12:00"}]}],
            "queues": [{"id": "calls", "type": "offline", "calendar": "office", "gateway": "pstn"}],
            "agents": [], "tiers": []}"#,
        T0,
    );
    let mut ny = new_member("calls", "ny", &["+12125550100"]);
    ny.timezone = Some("America/New_York".into());
    store.add_members(&[ny], 0).unwrap();
    add_one(&*store, new_member("calls", "kyiv", &["+380441234567"]), 0);
    let open_for = |at: &str| -> Vec<String> {
        store
            .dial_candidates("calls", utc(at), 10)
            .unwrap()
            .into_iter()
            .map(|c| c.member.name)
            .collect()
    };
    let cases: &[(&str, &[&str])] = &[
        // Before the spring change New York is UTC−5: 09:00 is 14:00 UTC.
        ("2026-03-07 13:59", &["kyiv"]),
        ("2026-03-07 14:00", &["ny", "kyiv"]),
        // The day of the change and after: UTC−4, 09:00 is 13:00 UTC (Kyiv, UTC+2, is open
        // 07:00–16:00 UTC).
        ("2026-03-08 12:59", &["kyiv"]),
        ("2026-03-08 13:00", &["ny", "kyiv"]),
        ("2026-03-09 13:00", &["ny", "kyiv"]),
        ("2026-03-09 16:00", &["ny"]),
        ("2026-03-09 21:59", &["ny"]),
        ("2026-03-09 22:00", &[]),
        // The exception (a date in each member's own zone): open 09:00–12:00 only.
        ("2026-03-10 15:59", &["ny"]),
        ("2026-03-10 16:00", &[]),
        ("2026-03-10 08:00", &["kyiv"]),
        ("2026-03-10 10:00", &[]),
        // Autumn: UTC−4 until 2026-11-01, UTC−5 from that day on.
        ("2026-10-31 12:59", &["kyiv"]),
        ("2026-10-31 13:00", &["ny", "kyiv"]),
        ("2026-11-01 13:59", &["kyiv"]),
        ("2026-11-01 14:00", &["ny", "kyiv"]),
        ("2026-11-02 13:59", &["kyiv"]),
        ("2026-11-02 14:00", &["ny", "kyiv"]),
        ("2026-11-02 22:59", &["ny"]),
        ("2026-11-02 23:00", &[]),
    ];
    for (at, expected) in cases {
        assert_eq!(open_for(at), *expected, "at {at} UTC");
    }
}

fn outbound_start(queue: &str, member: i64, agent: Option<&str>, now: Ms) -> OutboundStart {
    OutboundStart {
        queue: queue.into(),
        member,
        communication: 0,
        agent: agent.map(str::to_string),
        node: "node-1".into(),
        call_id: String::new(),
        lease_until_ms: now + 40_000,
    }
}

/// An attempt with a reserved agent, a dialled one answered and served like a caller, and
/// the outcome rules: idempotent, cancel counts no attempt, wait or explicit ready_at,
/// redial, added numbers, sticky agent, max-attempts override, stop, expiry.
pub fn outbound_attempts_and_their_outcomes(open: Open<'_>) {
    let store = open();
    provision(&*store, OUTBOUND, T0);
    let first = add_one(&*store, new_member("calls", "first", &["+1", "+11"]), T0);
    let other = add_one(&*store, new_member("calls", "other", &["+2"]), T0);
    let started = store
        .start_outbound(&outbound_start("calls", first, Some("a1"), T0), T0)
        .unwrap()
        .expect("a free agent and a ready member");
    assert_eq!(started.agent.as_ref().map(|a| a.id.as_str()), Some("a1"));
    assert_eq!(started.member.open_attempt, Some(started.attempt));
    let record = store.attempt(started.attempt).unwrap().unwrap();
    assert_eq!(
        (
            record.state,
            record.member_id,
            record.communication,
            record.caller_number.as_str()
        ),
        (AttemptState::Offering, Some(first), Some(0), "+1")
    );
    assert_eq!(
        agent(&store.agents(T0).unwrap(), "a1").state,
        AgentState::Offering
    );
    // Neither the member nor the agent can be started twice.
    assert_eq!(
        store
            .start_outbound(&outbound_start("calls", first, Some("a2"), T0), T0)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .start_outbound(&outbound_start("calls", other, Some("a1"), T0), T0)
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .delete_members(&MemberFilter {
                id: Some(first),
                ..MemberFilter::default()
            })
            .unwrap_err()
            .to_string(),
        format!(
            "member {first} has attempt {} in progress; delete it once the attempt's outcome is written",
            started.attempt
        )
    );
    assert!(store.answered(started.attempt, "a1", T0 + 5_000).unwrap());
    assert!(store.member_answered(started.attempt, T0 + 9_000).unwrap());
    assert_eq!(
        store
            .leave(started.attempt, "success", T0 + 60_000)
            .unwrap(),
        "success"
    );
    let a1 = agent(&store.agents(T0).unwrap(), "a1").clone();
    assert_eq!(
        (a1.state, a1.ready_at_ms),
        (AgentState::WrapTime, Some(T0 + 65_000)),
        "the agent wraps up"
    );
    assert_eq!(
        store.member(first).unwrap().unwrap().open_attempt,
        Some(started.attempt),
        "the member waits for its outcome"
    );
    let success = store
        .finish_outbound(
            started.attempt,
            &AttemptOutcome::result("success"),
            T0 + 61_000,
        )
        .unwrap();
    assert_eq!(
        success,
        MemberAfter {
            attempt: started.attempt,
            member: first,
            result: "success".into(),
            stopped: true,
            stop_cause: Some("success".into()),
            ready_at_ms: None,
            attempts: 1
        }
    );
    let member_after = store.member(first).unwrap().unwrap();
    // The same outcome again, or another one, changes nothing and returns the first.
    for again in ["success", "abandoned"] {
        assert_eq!(
            store
                .finish_outbound(started.attempt, &AttemptOutcome::result(again), T0 + 70_000)
                .unwrap(),
            success
        );
    }
    assert_eq!(store.member(first).unwrap().unwrap(), member_after);
    assert_eq!(member_after.stop_at_ms, Some(T0 + 61_000));

    // Callers join inbound queues only; a predictive line waits before those that do.
    match join(&*store, "calls", "inbound-0", 0, T0) {
        JoinOutcome::Refused { result, reason } => assert_eq!(
            (result.as_str(), reason.as_str()),
            (
                "error",
                "queue `calls` is an outbound queue (offline): it calls its members; callers join inbound queues (callbackQueue adds a member)"
            )
        ),
        other => panic!("a caller joined an outbound queue: {other:?}"),
    }
    store
        .apply(&[Change::PutTier(crate::model::Tier {
            queue: "in".into(),
            agent: "a1".into(),
            level: 1,
            position: 1,
            weight: 1,
        })])
        .unwrap();
    let caller = joined(join(&*store, "in", "inbound-1", 0, T0));
    let live = add_one(
        &*store,
        new_member("dialer", "live", &["sip:live@example.com"]),
        T0,
    );
    let dialled = store
        .start_outbound(&outbound_start("dialer", live, None, T0), T0 + 1_000)
        .unwrap()
        .unwrap();
    assert_eq!(dialled.agent, None);
    assert_eq!(
        store.attempt(dialled.attempt).unwrap().unwrap().state,
        AttemptState::Dialling
    );
    assert_eq!(
        store.position(dialled.attempt).unwrap(),
        0,
        "not waiting yet"
    );
    assert!(store.member_answered(dialled.attempt, T0 + 4_000).unwrap());
    assert!(
        store.member_answered(dialled.attempt, T0 + 4_100).unwrap(),
        "an answer reported twice is still an answer"
    );
    assert_eq!(
        store.attempt(dialled.attempt).unwrap().unwrap().state,
        AttemptState::Waiting
    );
    assert_eq!(store.position(dialled.attempt).unwrap(), 1);
    // a1 serves both queues: the live member goes before the caller who waited longer.
    let offers = Distributor::new(1)
        .pass(&*store, T0 + 65_000)
        .unwrap()
        .offers;
    let offered: Vec<(i64, &str)> = offers
        .iter()
        .map(|o| (o.attempt, o.agents[0].id.as_str()))
        .collect();
    assert_eq!(offered, vec![(dialled.attempt, "a1")]);
    assert_eq!(store.position(caller).unwrap(), 1, "still waiting");
    store
        .leave(dialled.attempt, "abandoned", T0 + 66_000)
        .unwrap();
    assert!(!store.member_answered(dialled.attempt, T0 + 67_000).unwrap());
    store.leave(caller, "abandoned", T0 + 66_000).unwrap();

    // Retries on `other` (queue: 3 attempts, 60 s between, 2 per number).
    let mut now = T0 + 100_000;
    let attempt_on = |member: i64, outcome: AttemptOutcome, now: Ms| {
        let a = store
            .start_outbound(&outbound_start("calls", member, None, now), now)
            .unwrap()
            .expect("the member is dialable");
        assert_eq!(
            store
                .start_outbound(&outbound_start("calls", member, None, now), now)
                .unwrap(),
            None
        );
        store.finish_outbound(a.attempt, &outcome, now).unwrap()
    };
    let after = attempt_on(other, AttemptOutcome::result("abandoned"), now);
    assert_eq!(
        (after.stopped, after.attempts, after.ready_at_ms),
        (false, 1, Some(now + 60_000)),
        "the queue's wait"
    );
    assert!(
        store
            .dial_candidates("calls", now + 59_999, 10)
            .unwrap()
            .is_empty()
    );
    now += 60_000;
    // A cancel before dialling counts no attempt.
    let after = attempt_on(
        other,
        AttemptOutcome {
            counts_attempt: false,
            wait_between_retries_secs: Some(10),
            ..AttemptOutcome::result("cancel")
        },
        now,
    );
    assert_eq!(
        (after.stopped, after.attempts, after.ready_at_ms),
        (false, 1, Some(now + 10_000))
    );
    now += 10_000;
    // Its only number is used up now (2 per number), but an added one keeps it going; an
    // explicit ready_at wins; variables merge; a sticky agent is kept.
    let after = attempt_on(
        other,
        AttemptOutcome {
            ready_at_ms: Some(now + 3_600_000),
            sticky_agent: Some("a2".into()),
            variables: Some(r#"{"note":"call after lunch"}"#.into()),
            add_communications: vec![crate::model::Communication::number("+222")],
            ..AttemptOutcome::result("busy")
        },
        now,
    );
    assert_eq!(
        (after.stopped, after.attempts, after.ready_at_ms),
        (false, 2, Some(now + 3_600_000))
    );
    let m = store.member(other).unwrap().unwrap();
    assert_eq!(m.sticky_agent.as_deref(), Some("a2"));
    assert_eq!(m.variables, r#"{"note":"call after lunch"}"#);
    assert_eq!(
        (
            m.communications[0].attempts,
            m.communications[0].last_result.as_deref()
        ),
        (2, Some("busy"))
    );
    now += 3_600_000;
    let next = store.dial_candidates("calls", now, 10).unwrap();
    assert_eq!(
        (next[0].member.id, next[0].communication),
        (other, 1),
        "the added number"
    );
    // An override of max attempts lets a third one retry.
    let a = store
        .start_outbound(
            &OutboundStart {
                communication: 1,
                ..outbound_start("calls", other, None, now)
            },
            now,
        )
        .unwrap()
        .unwrap();
    let after = store
        .finish_outbound(
            a.attempt,
            &AttemptOutcome {
                max_attempts: Some(10),
                ..AttemptOutcome::result("no_answer")
            },
            now,
        )
        .unwrap();
    assert_eq!((after.stopped, after.attempts), (false, 3));
    now += 60_000;
    // Max attempts (3) reached without an override: stopped with the result.
    let a = store
        .start_outbound(
            &OutboundStart {
                communication: 1,
                ..outbound_start("calls", other, None, now)
            },
            now,
        )
        .unwrap()
        .unwrap();
    let after = store
        .finish_outbound(a.attempt, &AttemptOutcome::result("abandoned"), now)
        .unwrap();
    assert_eq!(
        (after.stopped, after.stop_cause.as_deref(), after.attempts),
        (true, Some("abandoned"), 4)
    );
    assert_eq!(
        store.attempt(a.attempt).unwrap().unwrap().state,
        AttemptState::Left,
        "the outcome closes the attempt"
    );

    // Redial: the same number again although the other was tried less.
    let redial = add_one(&*store, new_member("calls", "redial", &["+3", "+33"]), now);
    attempt_on(
        redial,
        AttemptOutcome {
            redial: true,
            wait_between_retries_secs: Some(0),
            ..AttemptOutcome::result("no_answer")
        },
        now,
    );
    let next = store.dial_candidates("calls", now, 10).unwrap();
    assert_eq!((next[0].member.id, next[0].communication), (redial, 0));
    // A cancel with stop finishes the member as `cancel`.
    let after = attempt_on(
        redial,
        AttemptOutcome {
            stop: true,
            counts_attempt: false,
            ..AttemptOutcome::result("cancel")
        },
        now,
    );
    assert_eq!(
        (after.stopped, after.stop_cause.as_deref(), after.attempts),
        (true, Some("cancel"), 1)
    );
    // An expiry that passed stops the member as `expired`.
    let short = add_one(&*store, new_member("calls", "short", &["+4"]), now);
    let after = attempt_on(
        short,
        AttemptOutcome {
            expire_at_ms: Some(now),
            ..AttemptOutcome::result("busy")
        },
        now,
    );
    assert_eq!(
        (after.stopped, after.stop_cause.as_deref()),
        (true, Some("expired"))
    );
    // An inbound attempt has no member.
    let inbound = joined(join(&*store, "in", "inbound-2", 0, now));
    assert_eq!(
        store
            .finish_outbound(inbound, &AttemptOutcome::result("success"), now)
            .unwrap_err()
            .to_string(),
        format!("attempt: attempt {inbound} is not an outbound attempt")
    );
}

/// The janitor ends outbound leases (`timeout`), writes the default outcome for an attempt
/// nobody finished within the wrap-up + 30 s, and stops expired members.
/// `retry` through another resource: the number is dialled through that gateway from then
/// on, as soon as the pause is over; a gateway that could change a dial string is refused.
pub fn a_retry_through_another_gateway_keeps_it(open: Open<'_>) {
    let store = open();
    provision(&*store, OUTBOUND, T0);
    let id = add_one(&*store, new_member("calls", "retry", &["+1"]), T0);
    let started = store
        .start_outbound(&outbound_start("calls", id, None, T0), T0)
        .unwrap()
        .expect("a ready member");
    let bad = AttemptOutcome {
        resource: Some("evil,gw".into()),
        ..AttemptOutcome::result("retry")
    };
    assert_eq!(
        store
            .finish_outbound(started.attempt, &bad, T0 + 1_000)
            .unwrap_err()
            .to_string(),
        "resource: the gateway `evil,gw` holds ','"
    );
    let retry = AttemptOutcome {
        resource: Some("backup".into()),
        redial: true,
        ready_at_ms: Some(T0 + 3_000),
        ..AttemptOutcome::result("retry")
    };
    let after = store
        .finish_outbound(started.attempt, &retry, T0 + 1_000)
        .unwrap();
    assert_eq!(
        (after.stopped, after.ready_at_ms, after.attempts),
        (false, Some(T0 + 3_000), 1)
    );
    let member = store.member(id).unwrap().unwrap();
    assert_eq!(member.communications[0].resource.as_deref(), Some("backup"));
    assert_eq!(
        store.next_due(T0 + 1_000).unwrap(),
        Some(T0 + 3_000),
        "the dialer wakes when the member is ready again"
    );
    assert_eq!(store.dial_candidates("calls", T0 + 2_999, 10).unwrap(), []);
    let again = store.dial_candidates("calls", T0 + 3_000, 10).unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        again[0].member.communications[0].resource.as_deref(),
        Some("backup")
    );
}

pub fn outbound_janitor_defaults_and_expiry(open: Open<'_>) {
    let store = open();
    provision(&*store, OUTBOUND, T0);
    let ringing = add_one(&*store, new_member("calls", "ringing", &["+1"]), T0);
    let reserved = add_one(&*store, new_member("calls", "reserved", &["+2"]), T0);
    let mut soon = new_member("calls", "soon", &["+3"]);
    soon.expire_at_ms = Some(T0 + 10_000);
    let soon = add_one(&*store, soon, T0);
    let dialling = store
        .start_outbound(&outbound_start("calls", ringing, None, T0), T0)
        .unwrap()
        .unwrap();
    let offered = store
        .start_outbound(&outbound_start("calls", reserved, Some("a2"), T0), T0)
        .unwrap()
        .unwrap();
    assert_eq!(store.next_due(T0).unwrap(), Some(T0 + 10_000));
    let j = store.janitor(T0 + 10_000).unwrap();
    assert_eq!(j.expired_members, vec![soon]);
    assert_eq!(
        store.member(soon).unwrap().unwrap().stop_cause.as_deref(),
        Some("expired")
    );
    assert!(j.closed.is_empty());
    let j = store.janitor(T0 + 40_000).unwrap();
    let closed: Vec<(i64, &str)> = j.closed.iter().map(|c| (c.0, c.3.as_str())).collect();
    assert_eq!(
        closed,
        vec![(dialling.attempt, "timeout"), (offered.attempt, "timeout")]
    );
    assert_eq!(
        agent(&store.agents(T0).unwrap(), "a2").state,
        AgentState::Waiting,
        "the reserved agent is free"
    );
    assert!(j.outbound_defaults.is_empty(), "wrap-up + 30 s first");
    // wrap_up_secs 5 + 30 s after they left.
    assert_eq!(store.next_due(T0 + 40_000).unwrap(), Some(T0 + 75_000));
    assert!(
        store
            .janitor(T0 + 74_999)
            .unwrap()
            .outbound_defaults
            .is_empty()
    );
    let j = store.janitor(T0 + 75_000).unwrap();
    let defaults: Vec<(i64, &str, bool, u32, Option<Ms>)> = j
        .outbound_defaults
        .iter()
        .map(|a| {
            (
                a.member,
                a.result.as_str(),
                a.stopped,
                a.attempts,
                a.ready_at_ms,
            )
        })
        .collect();
    assert_eq!(
        defaults,
        vec![
            (ringing, "timeout", false, 1, Some(T0 + 135_000)),
            (reserved, "timeout", false, 1, Some(T0 + 135_000))
        ]
    );
    assert_eq!(store.member(ringing).unwrap().unwrap().open_attempt, None);
    assert!(
        store
            .janitor(T0 + 80_000)
            .unwrap()
            .outbound_defaults
            .is_empty()
    );
    // An outcome written later is the janitor's, not a second one.
    assert_eq!(
        store
            .finish_outbound(
                dialling.attempt,
                &AttemptOutcome::result("success"),
                T0 + 90_000
            )
            .unwrap()
            .result,
        "timeout"
    );
}

/// Outbound figures for the pacer: dialled, answered, abandoned (answered, no agent),
/// no answer, busy, mean handle and answer times, lines in flight.
pub fn dial_stats_count_what_the_pacer_needs(open: Open<'_>) {
    let store = open();
    provision(&*store, OUTBOUND, T0);
    let start = |name: &str| {
        let id = add_one(
            &*store,
            new_member("dialer", name, &["sip:x@example.com"]),
            T0,
        );
        store
            .start_outbound(&outbound_start("dialer", id, None, T0), T0)
            .unwrap()
            .unwrap()
            .attempt
    };
    let talked = start("talked");
    let abandoned = start("abandoned");
    let no_answer = start("no answer");
    let busy = start("busy");
    let ringing = start("ringing");
    assert!(store.member_answered(talked, T0 + 2_000).unwrap());
    let offer = Distributor::new(1)
        .pass(&*store, T0 + 2_000)
        .unwrap()
        .offers;
    assert_eq!(offer[0].attempt, talked);
    assert!(store.answered(talked, "a1", T0 + 3_000).unwrap());
    store.leave(talked, "success", T0 + 63_000).unwrap();
    assert!(store.member_answered(abandoned, T0 + 4_000).unwrap());
    store.leave(abandoned, "abandoned", T0 + 6_000).unwrap();
    store.leave(no_answer, "no_answer", T0 + 30_000).unwrap();
    store.leave(busy, "busy", T0 + 1_000).unwrap();
    // An agent reserved first accepts, the member never answers: no answer, though the
    // agent was busy with it.
    let preview = add_one(&*store, new_member("dialer", "preview", &["+1"]), T0);
    let accepted = store
        .start_outbound(&outbound_start("dialer", preview, Some("a1"), T0), T0)
        .unwrap()
        .unwrap()
        .attempt;
    assert!(store.answered(accepted, "a1", T0 + 64_000).unwrap());
    store.leave(accepted, "no_answer", T0 + 69_000).unwrap();
    let stats = store.dial_stats("dialer", T0, T0 + 70_000).unwrap();
    assert_eq!(
        stats,
        DialStats {
            dialled: 6,
            answered: 2,
            abandoned: 1,
            no_answer: 2,
            busy: 1,
            failed: 0,
            handle_ms_avg: Some(32_500.0),
            answer_ms_avg: Some(3_000.0),
            in_flight: 1
        }
    );
    assert_eq!(
        store
            .dial_stats("dialer", T0 + 1, T0 + 70_000)
            .unwrap()
            .dialled,
        0
    );
    store.leave(ringing, "no_answer", T0 + 70_000).unwrap();
    assert_eq!(
        store
            .dial_stats("dialer", T0, T0 + 70_000)
            .unwrap()
            .in_flight,
        0
    );
}

/// Eight threads, each with its own handle, start attempts on 400 members with 20 agents:
/// no member is started twice and no agent is reserved twice.
pub fn eight_threads_never_start_a_member_twice(open: Open<'_>) {
    const MEMBERS: usize = 400;
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
            r#"{{"queues":[{{"id":"q","type":"progressive","gateway":"pstn"}}],"agents":[{}],"tiers":[{}]}}"#,
            agents.join(","),
            tiers.join(",")
        ),
        T0,
    );
    let members: Vec<crate::model::Member> = (0..MEMBERS)
        .map(|i| new_member("q", &format!("m{i}"), &[&format!("+1555{i:04}")]))
        .collect();
    store.add_members(&members, T0).unwrap();
    let holder: Mutex<BTreeMap<String, i64>> = Mutex::default();
    let started_members: Mutex<BTreeMap<i64, usize>> = Mutex::default();
    let doubles = AtomicUsize::new(0);
    let lost = AtomicUsize::new(0);
    let began = std::time::Instant::now();
    std::thread::scope(|scope| {
        for t in 0..8usize {
            let handle = open();
            let (holder, started_members, doubles, lost) =
                (&holder, &started_members, &doubles, &lost);
            scope.spawn(move || {
                let now = T0 + 1_000;
                let mut turn = t;
                loop {
                    assert!(
                        began.elapsed() < NO_PROGRESS_LIMIT,
                        "members still waiting after {NO_PROGRESS_LIMIT:?}"
                    );
                    let candidates = handle.dial_candidates("q", now, AGENTS).unwrap();
                    if candidates.is_empty() {
                        break;
                    }
                    for c in candidates {
                        turn += 1;
                        let agent = format!("a{}", turn % AGENTS + 1);
                        let start = OutboundStart {
                            communication: c.communication,
                            ..outbound_start("q", c.member.id, Some(&agent), now)
                        };
                        let Some(a) = handle.start_outbound(&start, now).unwrap() else {
                            lost.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        if holder.lock().insert(agent.clone(), a.attempt).is_some() {
                            doubles.fetch_add(1, Ordering::Relaxed);
                        }
                        *started_members.lock().entry(c.member.id).or_default() += 1;
                        assert!(handle.answered(a.attempt, &agent, now).unwrap());
                        holder.lock().remove(&agent);
                        handle.leave(a.attempt, "success", now).unwrap();
                        let after = handle
                            .finish_outbound(a.attempt, &AttemptOutcome::result("success"), now)
                            .unwrap();
                        assert!(after.stopped);
                    }
                }
            });
        }
    });
    assert_eq!(doubles.into_inner(), 0, "an agent was reserved twice");
    let started_members = started_members.into_inner();
    assert_eq!(started_members.len(), MEMBERS, "every member was started");
    assert!(
        started_members.values().all(|&n| n == 1),
        "a member was started twice"
    );
    assert!(
        store
            .members(&MemberFilter::default(), MEMBERS)
            .unwrap()
            .iter()
            .all(|m| m.stop_cause.as_deref() == Some("success") && m.open_attempt.is_none())
    );
    eprintln!(
        "eight threads: {} starts lost to another thread",
        lost.into_inner()
    );
}
