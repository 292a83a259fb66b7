//! Several nodes on one store: each node's distributor plans over every waiting caller in the
//! one order but claims only for its own callers, so an agent freed anywhere goes to the best
//! caller wherever it waits, and no caller is passed over by a later one on another node.

use std::collections::BTreeSet;

use rustflow_cc::distributor::Distributor;
use rustflow_cc::store::sqlite::SqliteStore;
use rustflow_cc::store::suite::{T0, provision};
use rustflow_cc::store::{JoinOutcome, JoinRequest, Offer, Store};

const SETUP: &str = r#"{
  "queues": [{"id": "sales", "strategy": "longest-idle-agent", "wrap_up_secs": 0,
              "ring_timeout_secs": 15}],
  "agents": [{"id": "a1", "extension": "1001"}, {"id": "a2", "extension": "1002"}],
  "tiers": [{"queue": "sales", "agent": "a1"}, {"queue": "sales", "agent": "a2"}]
}"#;

struct Node {
    name: &'static str,
    distributor: Distributor,
    callers: BTreeSet<i64>,
}

impl Node {
    fn new(name: &'static str, seed: u64) -> Node {
        Node {
            name,
            distributor: Distributor::new(seed),
            callers: BTreeSet::new(),
        }
    }

    fn join(&mut self, store: &dyn Store, call: &str, now: i64) -> i64 {
        let outcome = store
            .join(
                &JoinRequest {
                    queue: "sales".into(),
                    call_id: call.into(),
                    caller_number: call.into(),
                    node: self.name.into(),
                    variables: "{}".into(),
                    ..JoinRequest::default()
                },
                now,
            )
            .unwrap();
        let JoinOutcome::Joined { attempt, .. } = outcome else {
            panic!("{call} was refused: {outcome:?}");
        };
        self.callers.insert(attempt);
        attempt
    }

    /// The offers this node won in one pass.
    fn pass(&mut self, store: &dyn Store, now: i64) -> Vec<Offer> {
        let callers = &self.callers;
        let pass = self
            .distributor
            .pass_for(store, now, &|a| callers.contains(&a.id))
            .unwrap();
        pass.offers
    }
}

fn calls(offers: &[Offer]) -> Vec<&str> {
    offers.iter().map(|o| o.call_id.as_str()).collect()
}

#[test]
fn an_agent_goes_to_the_best_caller_of_all_nodes() {
    let store = SqliteStore::open(":memory:").unwrap();
    provision(&store, SETUP, T0);
    let (mut a, mut b) = (Node::new("node-a", 1), Node::new("node-b", 2));
    // Four callers for two agents, alternating nodes, in join order.
    let first = a.join(&store, "c1", T0);
    b.join(&store, "c2", T0 + 1);
    a.join(&store, "c3", T0 + 2);
    b.join(&store, "c4", T0 + 3);

    // Each node claims only its own caller; neither takes the other's agent for a later one.
    let c1 = a.pass(&store, T0 + 10);
    assert_eq!(calls(&c1), ["c1"]);
    assert_eq!(calls(&b.pass(&store, T0 + 10)), ["c2"]);
    assert!(a.pass(&store, T0 + 11).is_empty(), "c3 waits");

    // c1's agent becomes free: c3 (node a) is the best caller now, not c4 (node b).
    assert!(store.answered(first, &c1[0].agents[0].id, T0 + 20).unwrap());
    store.leave(first, "success", T0 + 30).unwrap();
    assert!(b.pass(&store, T0 + 31).is_empty(), "c4 is not next");
    assert_eq!(calls(&a.pass(&store, T0 + 31)), ["c3"]);
}

#[test]
fn a_caller_on_another_node_keeps_its_place() {
    let store = SqliteStore::open(":memory:").unwrap();
    provision(&store, SETUP, T0);
    store
        .set_agent_status("a2", rustflow_cc::store::AgentStatus::Offline, None, T0)
        .unwrap();
    let (mut a, mut b) = (Node::new("node-a", 1), Node::new("node-b", 2));
    b.join(&store, "early-on-b", T0);
    a.join(&store, "late-on-a", T0 + 1);
    // Node a runs first and finds the one agent free: it must leave it to node b's caller.
    assert!(a.pass(&store, T0 + 10).is_empty());
    assert_eq!(calls(&b.pass(&store, T0 + 10)), ["early-on-b"]);
}
