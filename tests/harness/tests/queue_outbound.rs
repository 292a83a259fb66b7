//! Outbound queues through mod_rustflow.so in the fake switch core: members provisioned with
//! `rustflow cc member add`, the module's dialer calling them with no A-leg (customers and
//! agents scripted with `FakeCore::set_agents`), the answered member's leg handed to
//! `rustflow_attempt` on its own thread, held in line, the agent rung and bridged to it, and
//! what becomes of the member (`rustflow cc member list --all json`).

use rustflow_harness::*;
use serde_json::{Value, json};
use std::time::Duration;

const AGENT: &str = "user/1001@example.com";
const CUSTOMER: &str = "sofia/gateway/carrier/5550001";
const SAFE_MESSAGE: &str = "/sounds/please-hold-for-an-agent.wav";

/// A loaded module with a store, one agent (1001, online) and an outbound queue `out` of
/// `kind` (members dialled through gateway `carrier`) with `fields`.
fn outbound_harness(kind: &str, fields: Value) -> Harness {
    let mut h = Harness::with_cc_store();
    h.load();
    let mut queue = json!({"id": "out", "type": kind, "gateway": "carrier", "ring_timeout_secs": 5,
                           "dial_timeout_secs": 5, "no_answer_delay_secs": 60});
    for (k, v) in fields.as_object().into_iter().flatten() {
        queue[k] = v.clone();
    }
    let setup = json!({
        "queues": [queue],
        "agents": [{"id": "a1", "name": "Ann", "extension": "1001", "domain": "example.com"}],
        "tiers": [{"queue": "out", "agent": "a1", "level": 1, "position": 1}],
    });
    h.cc_import(&setup);
    h
}

/// The members of `out`, finished ones included.
fn members(h: &Harness) -> Vec<Value> {
    let out = h.api_ok("cc member list out --all json");
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("member list json: {e}\n{out}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the member is finished and returns it.
fn finished_member(h: &Harness, what: &str, timeout: Duration) -> Value {
    FakeCore::wait_until(what, timeout, || {
        members(h)
            .first()
            .is_some_and(|m| !m["stop_cause"].is_null())
    });
    members(h).remove(0)
}

/// The `rustflow::cc` events so far: (action, headers).
fn cc_events() -> Vec<(String, Vec<(String, String)>)> {
    FakeCore::events()
        .into_iter()
        .filter(|e| e["subclass"] == "rustflow::cc")
        .map(|e| {
            let headers: Vec<(String, String)> = e["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    (
                        h[0].as_str().unwrap_or_default().to_string(),
                        h[1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let action = headers
                .iter()
                .find(|(k, _)| k == "CC-Action")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (action, headers)
        })
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The dialled targets of every originate with no A-leg, in order.
fn dialled() -> Vec<String> {
    FakeCore::originates()
        .iter()
        .map(|o| o["dial_string"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_progressive_member_who_answers_is_held_on_its_own_leg_and_bridged_to_the_free_agent() {
    let h = outbound_harness("progressive", json!({}));
    FakeCore::set_agents(json!({
        CUSTOMER: {"ring_ms": 100, "talk_ms": 300},
        AGENT: {"ring_ms": 50, "talk_ms": 300},
    }));
    h.api_ok("cc member add out 5550001 name=Ann");
    h.api_ok("cc agent status a1 online");

    let member = finished_member(&h, "the member to be served", Duration::from_secs(10));
    assert_eq!(
        member["stop_cause"],
        "success",
        "{member:#}\nlogs:\n{}",
        FakeCore::logs_text()
    );
    assert_eq!(member["attempts"], 1, "{member:#}");

    let dials = dialled();
    assert_eq!(dials.len(), 2, "{dials:?}");
    assert!(dials[0].ends_with(CUSTOMER), "the member first: {dials:?}");
    assert!(dials[1].ends_with(AGENT), "then the agent: {dials:?}");
    let originates = FakeCore::originates();
    assert_eq!(originates[0]["session"], Value::Null, "no A-leg");
    assert_eq!(originates[0]["timelimit_sec"], 5, "dial_timeout_secs");

    // The member's leg ran rustflow_attempt on its own thread and was bridged to the agent.
    let legs = FakeCore::detached_legs();
    let member_uuid = originates[0]["result"]["bleg"]
        .as_str()
        .expect("answered")
        .to_string();
    let agent_uuid = originates[1]["result"]["bleg"]
        .as_str()
        .expect("answered")
        .to_string();
    let member_leg = legs
        .iter()
        .find(|l| l["uuid"] == member_uuid.as_str())
        .expect("the member's leg");
    let transfer = member_leg["record"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["fn"] == "switch_ivr_session_transfer")
        .cloned()
        .unwrap_or_else(|| panic!("no transfer: {member_leg:#}"));
    assert_eq!(transfer["dialplan"], "inline");
    assert!(
        transfer["extension"]
            .as_str()
            .is_some_and(|e| e.starts_with("rustflow_attempt:") && e.contains(" member ")),
        "{transfer}"
    );
    let agent_leg = legs
        .iter()
        .find(|l| l["uuid"] == agent_uuid.as_str())
        .expect("the agent's leg");
    assert_eq!(
        agent_leg["bridged_to"],
        member_uuid.as_str(),
        "{agent_leg:#}"
    );

    FakeCore::wait_until("the attempt-result event", Duration::from_secs(5), || {
        cc_events().iter().any(|(a, _)| a == "attempt-result")
    });
    let actions: Vec<String> = cc_events()
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| !a.starts_with("agent-"))
        .collect();
    assert_eq!(
        actions,
        [
            "attempt-start",
            "dial",
            "dial-result",
            "offer",
            "bridge",
            "leave",
            "attempt-result"
        ],
        "{:#?}",
        cc_events()
    );
    let events = cc_events();
    let result = events
        .iter()
        .find(|(a, _)| a == "attempt-result")
        .map(|(_, h)| h.clone())
        .unwrap_or_default();
    assert_eq!(header(&result, "CC-Result"), Some("success"));
    assert_eq!(header(&result, "CC-Member-Stop-Cause"), Some("success"));
    FakeCore::wait_until("the agent to be free", Duration::from_secs(5), || {
        let s: Value = serde_json::from_str(&h.api_ok("cc snapshot json")).unwrap_or_default();
        s["agents"][0]["state"] == "waiting"
    });
}

#[test]
fn a_busy_member_is_dialled_again_after_the_queues_wait_and_then_served() {
    let h = outbound_harness("progressive", json!({"wait_between_retries_secs": 1}));
    FakeCore::set_agents(json!({
        CUSTOMER: {"outcome": ["busy", "answered"], "ring_ms": 50, "talk_ms": 200},
        AGENT: {"ring_ms": 50, "talk_ms": 200},
    }));
    h.api_ok("cc member add out 5550001 name=Bob");
    h.api_ok("cc agent status a1 online");
    let member = finished_member(&h, "the member to be served", Duration::from_secs(15));
    assert_eq!(
        member["stop_cause"],
        "success",
        "{member:#}\nlogs:\n{}",
        FakeCore::logs_text()
    );
    assert_eq!(member["attempts"], 2, "busy, then answered: {member:#}");
    let originates = FakeCore::originates();
    let customer: Vec<&Value> = originates
        .iter()
        .filter(|o| {
            o["dial_string"]
                .as_str()
                .is_some_and(|d| d.ends_with(CUSTOMER))
        })
        .collect();
    assert_eq!(customer.len(), 2, "{originates:#?}");
    assert_eq!(customer[0]["result"]["cause_name"], "USER_BUSY");
    let results: Vec<String> = cc_events()
        .into_iter()
        .filter(|(a, _)| a == "dial-result")
        .filter_map(|(_, h)| header(&h, "CC-Result").map(str::to_string))
        .collect();
    assert_eq!(results, ["busy", "answered"]);
}

#[test]
fn a_predictive_member_no_agent_takes_within_two_seconds_hears_the_safe_message_and_is_abandoned() {
    // The one agent rings 2.5 s and does not answer: the member has waited longer than 2 s.
    let h = outbound_harness(
        "predictive",
        json!({"safe_message": SAFE_MESSAGE, "max_attempts": 1}),
    );
    FakeCore::set_agents(json!({
        CUSTOMER: {"ring_ms": 50, "talk_ms": 3000},
        AGENT: {"outcome": "no_answer", "ring_ms": 2500},
    }));
    h.api_ok("cc member add out 5550001 name=One");
    h.api_ok("cc agent status a1 online");
    let member = finished_member(&h, "the member to be finished", Duration::from_secs(15));
    assert_eq!(
        member["stop_cause"],
        "abandoned",
        "{member:#}\nlogs:\n{}",
        FakeCore::logs_text()
    );
    let originates = FakeCore::originates();
    let member_uuid = originates[0]["result"]["bleg"].as_str().expect("answered");
    let leg = || {
        FakeCore::detached_legs()
            .into_iter()
            .find(|l| l["uuid"] == member_uuid)
            .expect("the member's leg")
    };
    // The outcome is written on the leg's thread just before its application returns.
    FakeCore::wait_until("the member's call to end", Duration::from_secs(5), || {
        leg()["up"] == false
    });
    let member_leg = leg();
    let played: Vec<&str> = member_leg["record"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["fn"] == "switch_ivr_play_file")
        .filter_map(|c| c["file"].as_str())
        .collect();
    assert_eq!(
        played.last(),
        Some(&SAFE_MESSAGE),
        "held, then the safe message: {played:?}"
    );
    let missed: Vec<String> = cc_events()
        .into_iter()
        .filter(|(a, _)| a == "missed")
        .filter_map(|(_, h)| header(&h, "CC-Reason").map(str::to_string))
        .collect();
    assert_eq!(missed, ["no_answer"]);
}

#[test]
fn a_callback_to_a_number_the_caller_forged_is_refused_and_creates_no_member() {
    let h = outbound_harness("callback", json!({}));
    h.write_flow(
        "ask",
        r#"[{"callbackQueue": {"queue": {"id": "out"}, "name": "${caller_id_name}",
              "communication": {"destination": "${caller_id_number}"}}},
            {"set": {"after": "${rustflow_error}"}}]"#,
    );
    h.api_ok("reload");
    let call = h.run(
        json!({"profile": {"caller_id_number": "5550001,sofia/gateway/evil/900",
                           "caller_id_name": "Mallory"}}),
        "ask",
    );
    let error = call.var("after").unwrap_or_default().to_string();
    assert!(
        error.starts_with("callbackQueue: ")
            && error.contains("the number `5550001,sofia/gateway/evil/900` holds ','"),
        "{error}\nlogs:\n{}",
        FakeCore::logs_text()
    );
    assert_eq!(members(&h), Vec::<Value>::new());
    assert!(FakeCore::originates().is_empty(), "nothing was dialled");
}
