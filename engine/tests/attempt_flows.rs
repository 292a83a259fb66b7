//! Callbacks and campaign members (`callbackQueue`, `memberInfo`, `patchMembers`), the
//! answers of a queue's attempt flows (`confirm`, `cancel`, `success`, `abandoned`, `retry`)
//! run without a call, and `attemptResult`: in the simulator, against a small in-memory
//! contact centre, with the exact transcripts.

use std::cell::RefCell;
use std::rc::Rc;

use rustflow_engine::sim::{Script, SimCaller, SimQueues, simulate_attempt, simulate_with};
use rustflow_engine::*;
use serde_json::{Value, json};

/// One member as the in-memory contact centre keeps it.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    queue: String,
    name: String,
    priority: i64,
    bucket: Option<String>,
    communications: Vec<MemberCommunication>,
    variables: serde_json::Map<String, Value>,
    ready_at_ms: i64,
    created_at_ms: i64,
    stop_cause: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Outbound queues by id; any other queue is refused.
    queues: Vec<&'static str>,
    members: Vec<Row>,
    queries: Vec<MemberQuery>,
    decisions: Vec<AttemptDecision>,
    results: Vec<AttemptResultRequest>,
}

#[derive(Debug, Clone, Default)]
struct Memory(Rc<RefCell<State>>);

/// SQL ILIKE with `%` only (what the flows here use).
fn ilike(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_lowercase(), text.to_lowercase());
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

impl State {
    fn matches(&self, query: &MemberQuery) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| {
                let m = &self.members[i];
                query.queues.contains(&m.queue)
                    && query.id.is_none_or(|id| id == m.id)
                    && query.name.as_ref().is_none_or(|p| ilike(p, &m.name))
                    && query
                        .destination
                        .as_ref()
                        .is_none_or(|d| m.communications.iter().any(|c| c.destination == *d))
                    && query.created_since_ms.is_none_or(|t| m.created_at_ms >= t)
                    && query.created_before_ms.is_none_or(|t| m.created_at_ms < t)
                    && query
                        .completed
                        .is_none_or(|done| done == m.stop_cause.is_some())
                    && query
                        .bucket
                        .as_ref()
                        .is_none_or(|b| b.id.as_ref() == m.bucket.as_ref())
            })
            .collect()
    }
}

fn no_inbound() -> HostError {
    HostError::Failed("this test's contact centre has no inbound queues".to_string())
}

impl SimQueues for Memory {
    fn join(&mut self, _: i64, _: &SimCaller, _: &QueueJoin) -> HostResult<QueueJoinOutcome> {
        Err(no_inbound())
    }
    fn poll(&mut self, _: i64) -> HostResult<Option<QueueEvent>> {
        Err(no_inbound())
    }
    fn next_due(&mut self, _: i64) -> HostResult<Option<i64>> {
        Err(no_inbound())
    }
    fn ring(&mut self, _: &AgentOffer) -> (u64, RingOutcome) {
        (
            0,
            RingOutcome::Missed {
                reason: "no agents".to_string(),
            },
        )
    }
    fn ring_done(&mut self, _: i64, _: &AgentOffer, o: RingOutcome) -> HostResult<RingOutcome> {
        Ok(o)
    }
    fn talk_ms(&mut self) -> u64 {
        0
    }
    fn leave(&mut self, _: i64, result: &str) -> HostResult<String> {
        Ok(result.to_string())
    }
    fn position(&mut self) -> HostResult<u32> {
        Ok(0)
    }
    fn ewt(&mut self, _: i64, _: &EwtQuery) -> HostResult<Option<f64>> {
        Ok(None)
    }
    fn agents(&mut self, _: i64, _: &CcRef) -> HostResult<AgentCounts> {
        Err(no_inbound())
    }
    fn metric(&mut self, _: i64, _: &MetricQuery) -> HostResult<Option<f64>> {
        Ok(None)
    }
    fn last_bridged(&mut self, _: i64, _: &LastBridgedQuery) -> HostResult<Option<BridgedCall>> {
        Ok(None)
    }

    fn member_create(&mut self, now_ms: i64, request: &CallbackRequest) -> HostResult<i64> {
        let mut state = self.0.borrow_mut();
        let queue = request.queue.id.clone().unwrap_or_default();
        if !state.queues.contains(&queue.as_str()) {
            return Err(HostError::Failed(format!(
                "queue `{queue}` is not an outbound queue"
            )));
        }
        let id = state.members.len() as i64 + 1;
        let variables = match serde_json::from_str(&request.variables) {
            Ok(Value::Object(map)) => map,
            _ => panic!("variables are not a JSON object: {}", request.variables),
        };
        state.members.push(Row {
            id,
            queue,
            name: request.name.clone(),
            priority: request.priority,
            bucket: request.bucket.as_ref().and_then(|b| b.id.clone()),
            communications: vec![request.communication.clone()],
            variables,
            ready_at_ms: now_ms + request.hold_secs as i64 * 1000,
            created_at_ms: now_ms,
            stop_cause: request.stop_cause.clone(),
        });
        Ok(id)
    }

    fn member_info(&mut self, _: i64, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        let mut state = self.0.borrow_mut();
        state.queries.push(query.clone());
        let found = state.matches(query).first().map(|&i| {
            let m = &state.members[i];
            MemberFacts {
                id: m.id,
                name: m.name.clone(),
                priority: m.priority,
                attempts: 0,
                stop_cause: m.stop_cause.clone(),
                bucket: m.bucket.clone(),
                dialable_destinations: m.communications.len() as u32,
                destinations: m.communications.len() as u32,
                variables: Value::Object(m.variables.clone()).to_string(),
            }
        });
        Ok(found)
    }

    fn patch_members(
        &mut self,
        _: i64,
        query: &MemberQuery,
        patch: &MembersPatch,
    ) -> HostResult<usize> {
        let mut state = self.0.borrow_mut();
        state.queries.push(query.clone());
        let hits = state.matches(query);
        for &i in &hits {
            let m = &mut state.members[i];
            if let Some(name) = &patch.name {
                m.name = name.clone();
            }
            if let Some(cause) = &patch.stop_cause {
                m.stop_cause = Some(cause.clone());
            }
            if let Some(at) = patch.ready_at_ms {
                m.ready_at_ms = at;
            }
            if let Some(vars) = &patch.variables {
                if let Ok(Value::Object(map)) = serde_json::from_str(vars) {
                    m.variables.extend(map);
                }
            }
            for c in &patch.communications {
                if let (Some(number), Some(d)) = (m.communications.get_mut(c.index), &c.destination)
                {
                    number.destination = d.clone();
                }
            }
        }
        Ok(hits.len())
    }

    fn attempt_decision(&mut self, _: i64, decision: &AttemptDecision) -> HostResult<()> {
        self.0.borrow_mut().decisions.push(decision.clone());
        Ok(())
    }

    fn attempt_result(&mut self, _: i64, request: &AttemptResultRequest) -> HostResult<()> {
        self.0.borrow_mut().results.push(request.clone());
        Ok(())
    }
}

fn memory() -> Memory {
    Memory(Rc::new(RefCell::new(State {
        queues: vec!["callbacks", "campaign"],
        ..State::default()
    })))
}

fn compile(flow: &Value) -> FlowSet {
    let flow = compile_source("t", "t.json", &flow.to_string(), &CompileOptions::default())
        .unwrap_or_else(|diags| {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("does not compile:\n{}", lines.join("\n"))
        });
    FlowSet::from_flows([flow])
}

fn compile_errors(flow: &Value) -> Vec<String> {
    match compile_source("t", "t.json", &flow.to_string(), &CompileOptions::default()) {
        Ok(_) => panic!("compiles: {flow}"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

fn script(vars: &[(&str, &str)]) -> Script {
    let mut script = Script::default();
    for (name, value) in vars {
        script.vars.insert(name.to_string(), value.to_string());
    }
    script
}

/// The transcript without the run's bookkeeping variables (the flow version is a hash of
/// the text).
fn transcript(host: &sim::SimHost) -> String {
    host.transcript_text()
        .lines()
        .filter(|l| !l.contains("set rustflow_flow_") && !l.contains("set rustflow_steps"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// A call flow in the simulator, with the in-memory contact centre.
fn on_call(flow: &Value, cc: &Memory, script: Script) -> (RunOutcome, String) {
    let flows = compile(flow);
    let (outcome, host) = simulate_with(
        flows.get("t").unwrap(),
        &flows,
        script,
        Some(Box::new(cc.clone())),
    );
    (outcome, transcript(&host))
}

/// An attempt flow without a call.
fn attempt(flow: &Value, cc: &Memory, script: Script, context: RunContext) -> (RunOutcome, String) {
    let flows = compile(flow);
    let (outcome, host) = simulate_attempt(
        flows.get("t").unwrap(),
        &flows,
        script,
        Some(Box::new(cc.clone())),
        context,
    );
    (outcome, transcript(&host))
}

#[test]
fn a_caller_asks_for_a_callback_and_the_flow_reads_and_stops_the_member() {
    let cc = memory();
    let flow = json!([
        {"answer": ""},
        {"callbackQueue": {
            "queue": {"id": "callbacks", "name": "ignored by the store"},
            "name": "Caller ${caller_id_number}",
            "holdSec": 600,
            "priority": 5,
            "agent": {},
            "timezone": {"name": "Europe/Kyiv"},
            "variables": {"reason": "billing", "ivr_choice": "${choice}"},
            "communication": {"destination": "${caller_id_number}", "type": {"id": "1"}, "display": "Support"}
        }},
        {"memberInfo": {
            "member": {"queue_ids": ["callbacks"], "destination": "${caller_id_number}", "today": true, "completed": false},
            "set": {"member": "id", "numbers": "count_destinations", "why": "variables.reason", "missing": "variables.nothing"}
        }},
        {"patchMembers": {
            "member": {"queues": [{"id": "callbacks"}], "id": "${member}"},
            "patch": {"stopCause": "caller_withdrew", "variables": {"withdrawn": true}}
        }},
        {"memberInfo": {"member": {"queue_ids": ["callbacks"], "completed": false}, "set": {"other": "id"}}},
        {"hangup": ""}
    ]);
    let (outcome, transcript) =
        on_call(&flow, &cc, script(&[("choice", "2"), ("timezone", "UTC")]));
    // (The first line's indent is the time's padding: compared from the time on.)
    assert_eq!(
        transcript.trim_start(),
        "\
   0.000      answer
   0.000 step t /0/answer answer: ok
   0.000      queue member 1 created in queue callbacks: 1000 ready in 600s
   0.000 step t /1/callbackQueue callbackQueue: ok
   0.000      queue member info: member 1
   0.000      set member=\"1\"
   0.000      set missing=\"\"
   0.000      set numbers=\"1\"
   0.000      set why=\"billing\"
   0.000 step t /2/memberInfo memberInfo: ok
   0.000      queue patch members: 1 changed
   0.000 step t /3/patchMembers patchMembers: ok
   0.000      queue member info: no member matches
   0.000 step t /4/memberInfo memberInfo: no member in queue(s) callbacks matches
   0.000      log Warning: flow t: /4/memberInfo: memberInfo: no member in queue(s) callbacks matches
   0.000      set rustflow_error=\"memberInfo: no member in queue(s) callbacks matches\"
   0.000      hangup NORMAL_CLEARING
   0.000 step t /5/hangup hangup: hangup
"
    );
    assert_eq!(
        outcome.error.as_deref(),
        Some("memberInfo: no member in queue(s) callbacks matches")
    );
    let state = cc.0.borrow();
    let member = &state.members[0];
    assert_eq!(member.name, "Caller 1000");
    assert_eq!(member.priority, 5);
    assert_eq!(member.stop_cause.as_deref(), Some("caller_withdrew"));
    assert_eq!(
        Value::Object(member.variables.clone()),
        json!({"reason": "billing", "ivr_choice": "2", "withdrawn": true})
    );
    assert_eq!(
        member.communications,
        [MemberCommunication {
            destination: "1000".to_string(),
            kind: Some("1".to_string()),
            display: Some("Support".to_string()),
            priority: 0,
            resource: None,
            description: None,
        }]
    );
    assert_eq!(
        member.ready_at_ms,
        sim::DEFAULT_START_MICROS / 1000 + 600_000
    );
    // `today: true` is the flow's midnight (the call's `timezone` is UTC; the clock starts
    // Monday 09:00 UTC).
    assert_eq!(
        state.queries[0].created_since_ms,
        Some(sim::DEFAULT_START_MICROS / 1000 - 9 * 3_600_000)
    );
}

#[test]
fn today_false_is_a_real_filter_in_the_flows_time_zone() {
    let cc = memory();
    cc.0.borrow_mut().members.push(Row {
        id: 7,
        queue: "campaign".to_string(),
        name: "Old lead".to_string(),
        priority: 0,
        bucket: None,
        communications: vec![MemberCommunication {
            destination: "+380441112233".to_string(),
            ..MemberCommunication::default()
        }],
        variables: serde_json::Map::new(),
        ready_at_ms: 0,
        created_at_ms: 0,
        stop_cause: None,
    });
    let flow = json!({"timezone": "America/New_York", "schema": [
        {"memberInfo": {"member": {"queue_ids": ["campaign"], "today": false, "name": "old%"}, "set": {"lead": "id", "lead_name": "name"}}}
    ]});
    let (outcome, _) = on_call(&flow, &cc, Script::default());
    assert_eq!(outcome.error, None);
    let state = cc.0.borrow();
    // 09:00 UTC on 5 January is 04:00 in New York: its day began at 05:00 UTC.
    assert_eq!(
        state.queries[0].created_before_ms,
        Some(sim::DEFAULT_START_MICROS / 1000 - 4 * 3_600_000)
    );
    assert_eq!(state.queries[0].created_since_ms, None);
}

#[test]
fn today_starts_when_the_clock_jumped_where_midnight_does_not_exist() {
    let cc = memory();
    // Chile moves its clocks from 00:00 to 01:00 on Sunday 6 September 2026.
    let script = Script {
        start_micros: 1_788_696_000_000_000, // 2026-09-06 12:00 UTC
        ..script(&[("timezone", "America/Santiago")])
    };
    let flow = json!([{"memberInfo": {"member": {"queue_ids": ["campaign"], "today": true}, "set": {"m": "id"}}}]);
    on_call(&flow, &cc, script);
    // 01:00 at UTC-3 is 04:00 UTC.
    assert_eq!(
        cc.0.borrow().queries[0].created_since_ms,
        Some(1_788_667_200_000)
    );
}

#[test]
fn a_callback_the_store_refuses_fails_the_step_with_its_reason() {
    let cc = memory();
    let flow = json!([
        {"callbackQueue": {"queue_id": "support-inbound", "communication": {"destination": "1000"}}},
        {"log": "goes on"}
    ]);
    let (outcome, transcript) = on_call(&flow, &cc, Script::default());
    assert_eq!(
        outcome.error.as_deref(),
        Some("callbackQueue: queue `support-inbound` is not an outbound queue")
    );
    assert!(transcript.contains("log Info: goes on"), "{transcript}");
    assert!(cc.0.borrow().members.is_empty());
}

#[test]
fn the_pre_attempt_flow_runs_without_a_call_and_confirm_ends_it() {
    let cc = memory();
    let flow = json!([
        {"playback": {"files": [{"name": "hello.wav"}]}},
        {"answer": ""},
        {"softSleep": 500},
        {"if": {"expression": "${destination} == '0441112233'", "then": [
            {"set": {"crm_id": "42"}},
            {"confirm": {"destination": "+38${destination}", "display": "Campaign", "export": ["crm_id"]}}
        ]}},
        {"log": "never reached"}
    ]);
    let (outcome, transcript) = attempt(
        &flow,
        &cc,
        script(&[("attempt_id", "900"), ("destination", "0441112233")]),
        RunContext::PreAttempt,
    );
    // (The first line's indent is the time's padding: compared from the time on.)
    assert_eq!(
        transcript.trim_start(),
        "\
   0.000 step t /0/playback playback: `playback` needs a call: a queue's pre-attempt flow runs without one
   0.000      log Warning: flow t: /0/playback: playback: `playback` needs a call: a queue's pre-attempt flow runs without one
   0.000      set rustflow_error=\"playback: `playback` needs a call: a queue's pre-attempt flow runs without one\"
   0.000 step t /1/answer answer: `answer` needs a call: a queue's pre-attempt flow runs without one
   0.000      log Warning: flow t: /1/answer: answer: `answer` needs a call: a queue's pre-attempt flow runs without one
   0.000      set rustflow_error=\"answer: `answer` needs a call: a queue's pre-attempt flow runs without one\"
   0.000      soft-sleep 500ms
   0.500 step t /2/softSleep softSleep: ok
   0.500 step t /3/if if: true
   0.500      set crm_id=\"42\"
   0.500 step t /3/if/then/0/set set: ok
   0.500      queue decision: confirm destination=\"+380441112233\" display=\"Campaign\" export crm_id=\"42\"
   0.500 step t /3/if/then/1/confirm confirm: decided
"
    );
    let decision = AttemptDecision::Confirm {
        destination: Some("+380441112233".to_string()),
        display: Some("Campaign".to_string()),
        export: vec![("crm_id".to_string(), "42".to_string())],
    };
    assert_eq!(outcome.decision.as_ref(), Some(&decision));
    assert_eq!(cc.0.borrow().decisions, [decision]);
}

#[test]
fn cancel_passes_every_field_and_a_call_less_flow_without_a_decision_reports_none() {
    let cc = memory();
    let flow = json!([{"cancel": {"description": "outside hours", "waitBetweenRetries": "${wait}",
                                  "stop": false, "excludeCurrentCommunication": true, "minOfferingAt": 1767700000000i64}}]);
    let (outcome, _) = attempt(
        &flow,
        &cc,
        script(&[("wait", "3600")]),
        RunContext::PreAttempt,
    );
    assert_eq!(
        outcome.decision,
        Some(AttemptDecision::Cancel {
            description: Some("outside hours".to_string()),
            wait_between_retries_secs: Some(3600),
            stop: false,
            exclude_current_communication: true,
            min_offering_at_ms: Some(1_767_700_000_000),
            export: vec![],
        })
    );
    let (outcome, _) = attempt(
        &json!([{"log": "nothing decided"}]),
        &cc,
        Script::default(),
        RunContext::PreAttempt,
    );
    assert_eq!(outcome.decision, None);
    assert_eq!(outcome.error, None);
}

#[test]
fn an_after_attempt_decision_in_a_function_ends_the_whole_flow() {
    let cc = memory();
    let flow = json!([
        {"function": {"name": "decide", "actions": [
            {"switch": {"variable": "${cc_result}", "case": {
                "success": [{"success": ""}],
                "busy": [{"abandoned": {"status": "busy", "waitBetweenRetries": 60, "maxAttempts": 0,
                                        "redial": true, "agentId": "${agent_id}", "display": true}}]
            }}},
            {"log": "no decision in the function"}
        ]}},
        {"execute": {"name": "decide"}},
        {"log": "after the function"}
    ]);
    let (outcome, transcript) = attempt(
        &flow,
        &cc,
        script(&[("cc_result", "busy"), ("agent_id", "12")]),
        RunContext::AfterAttempt,
    );
    assert_eq!(
        outcome.decision,
        Some(AttemptDecision::Abandoned {
            status: "busy".to_string(),
            max_attempts: None,
            wait_between_retries_secs: Some(60),
            exclude_current_communication: false,
            redial: true,
            sticky_agent: Some("12".to_string()),
            description: None,
            export: vec![],
        })
    );
    assert!(
        !transcript.contains("no decision in the function"),
        "{transcript}"
    );
    assert!(!transcript.contains("after the function"), "{transcript}");
    assert!(
        transcript
            .contains("queue decision: abandoned status=\"busy\" wait=\"60s\" agent=\"12\" redial"),
        "{transcript}"
    );
    // `abandoned` with status `success` is a success.
    let (outcome, _) = attempt(
        &json!([{"abandoned": {"status": "${cc_result}", "export": ["cc_result"]}}]),
        &cc,
        script(&[("cc_result", "success")]),
        RunContext::AfterAttempt,
    );
    assert_eq!(
        outcome.decision,
        Some(AttemptDecision::Success {
            export: vec![("cc_result".to_string(), "success".to_string())]
        })
    );
}

#[test]
fn a_decision_in_an_async_function_ends_the_caller_too() {
    let cc = memory();
    let flow = json!([
        {"function": {"name": "decide", "actions": [{"success": ""}, {"log": "not after success"}]}},
        {"execute": {"name": "decide", "async": true}},
        {"log": "not after the fork either"}
    ]);
    let (outcome, transcript) = attempt(&flow, &cc, Script::default(), RunContext::AfterAttempt);
    assert_eq!(
        outcome.decision,
        Some(AttemptDecision::Success { export: vec![] })
    );
    assert!(!transcript.contains("log Info"), "{transcript}");
    assert_eq!(outcome.steps, 2, "{transcript}");
}

#[test]
fn retry_names_its_resource_and_a_decision_of_the_other_flow_fails() {
    let cc = memory();
    let (outcome, _) = attempt(
        &json!([{"retry": {"sleep": 1500, "nextResource": true, "resource": {"id": "gw-2"}}}]),
        &cc,
        Script::default(),
        RunContext::AfterAttempt,
    );
    assert_eq!(
        outcome.decision,
        Some(AttemptDecision::Retry {
            sleep_ms: 1500,
            next_resource: true,
            resource: Some("gw-2".to_string()),
            export: vec![],
        })
    );
    let (outcome, transcript) = attempt(
        &json!([{"confirm": ""}, {"success": {}}]),
        &cc,
        Script::default(),
        RunContext::AfterAttempt,
    );
    assert!(
        transcript.contains("step t /0/confirm confirm: `confirm` answers a queue's pre-attempt flow, not its after-attempt flow"),
        "{transcript}"
    );
    assert_eq!(
        outcome.decision,
        Some(AttemptDecision::Success { export: vec![] })
    );
}

#[test]
fn on_a_call_the_decisions_fail_and_the_flow_goes_on() {
    let cc = memory();
    let (outcome, transcript) = on_call(
        &json!([{"confirm": {}}, {"abandoned": {}}, {"log": "still here"}]),
        &cc,
        Script::default(),
    );
    assert!(
        transcript.contains(
            "step t /0/confirm confirm: `confirm` only answers a queue's pre-attempt flow"
        ),
        "{transcript}"
    );
    assert!(
        transcript.contains(
            "step t /1/abandoned abandoned: `abandoned` only answers a queue's after-attempt flow"
        ),
        "{transcript}"
    );
    assert!(transcript.contains("log Info: still here"), "{transcript}");
    assert_eq!(outcome.decision, None);
    assert!(cc.0.borrow().decisions.is_empty());
}

#[test]
fn attempt_result_reports_on_the_attempt_id_variable() {
    let cc = memory();
    let flow = json!([
        {"export": ["crm_id"]},
        {"attemptResult": {
            "status": "callback_requested", "description": "call me at 5", "readyAt": "${when}",
            "expiredAt": 1767900000000i64, "waitBetweenRetries": 0, "stickyDisplay": "Sales",
            "agentId": 3, "redial": "true", "excludeCurrentCommunication": false,
            "addCommunications": [{"destination": "+380501234567", "type": {"id": 2}, "priority": 1, "resource_id": 4}],
            "variables": {"note": "${note}"}
        }}
    ]);
    let vars = [
        ("attempt_id", "900"),
        ("when", "1767800000000"),
        ("note", "prefers evenings"),
        ("crm_id", "42"),
    ];
    let (outcome, transcript) = on_call(&flow, &cc, script(&vars));
    assert_eq!(outcome.error, None, "{transcript}");
    assert!(transcript.contains("queue attempt 900 result: callback_requested"));
    let results = cc.0.borrow().results.clone();
    assert_eq!(
        results,
        [AttemptResultRequest {
            attempt_id: 900,
            status: "callback_requested".to_string(),
            description: Some("call me at 5".to_string()),
            ready_at_ms: Some(1_767_800_000_000),
            expire_at_ms: Some(1_767_900_000_000),
            wait_between_retries_secs: Some(0),
            sticky_display: Some("Sales".to_string()),
            sticky_agent: Some("3".to_string()),
            redial: true,
            exclude_current_communication: false,
            add_communications: vec![MemberCommunication {
                destination: "+380501234567".to_string(),
                kind: Some("2".to_string()),
                display: None,
                priority: 1,
                resource: Some("4".to_string()),
                description: None,
            }],
            variables: Some(r#"{"crm_id":"42","note":"prefers evenings"}"#.to_string()),
        }]
    );
    let (outcome, _) = on_call(&json!([{"attemptResult": {}}]), &cc, Script::default());
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "attemptResult: the variable `attempt_id` is not set: attemptResult reports on the attempt it names"
        )
    );
}

#[test]
fn without_members_in_the_contact_centre_the_step_says_so() {
    let flows =
        compile(&json!([{"memberInfo": {"member": {"queue_ids": [1]}, "set": {"x": "id"}}}]));
    let (outcome, _) = sim::simulate(flows.get("t").unwrap(), &flows, Script::default());
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            "memberInfo: the contact centre is not available on this host (give the simulator one with --cc SETUP.json)"
        )
    );
}

#[test]
fn bad_arguments_name_the_field() {
    let cases: &[(Value, &str)] = &[
        (
            json!({"callbackQueue": {"queue": {"id": 1}}}),
            "`callbackQueue` is missing the required field `communication`",
        ),
        (
            json!({"callbackQueue": {"communication": {"destination": "1"}}}),
            "`callbackQueue` is missing the required field `queue`",
        ),
        (
            json!({"callbackQueue": {"queue": {"id": 1}, "communication": {"type_id": 1}}}),
            "`communication` needs `destination` (the number to dial)",
        ),
        (
            json!({"callbackQueue": {"queue": {"id": 1}, "communication": {"destination": ""}}}),
            "`communication.destination` is empty",
        ),
        (
            json!({"callbackQueue": {"queue": {"id": 1}, "communication": "1000"}}),
            "`communication` must be an object {destination, type, display, priority, resource}, found a string",
        ),
        (
            json!({"callbackQueue": {"queue": {"id": 1}, "communication": {"destination": "1"}, "holdSec": "soon"}}),
            "`holdSec` must be a number, found `soon`",
        ),
        (
            json!({"callbackQueue": {"queue": {"id": 1}, "communication": {"destination": "1"}, "variables": "x"}}),
            "`variables` must be an object of variable → value, found a string",
        ),
        (
            json!({"callbackQueue": {"queue": {"id": 1}, "communication": {"destination": "1"}, "timezone": "Mars/Base"}}),
            "`timezone` `Mars/Base` is not an IANA time zone",
        ),
        (
            json!({"memberInfo": {"set": {"x": "id"}}}),
            "`memberInfo` is missing the required field `member`",
        ),
        (
            json!({"memberInfo": {"member": {"name": "a"}, "set": {"x": "id"}}}),
            "`member` needs `queue_ids` or `queues`",
        ),
        (
            json!({"memberInfo": {"member": {"queue_ids": [1], "id": "abc"}, "set": {"x": "id"}}}),
            "`member.id` must be a whole number, found `abc`",
        ),
        (
            json!({"memberInfo": {"member": {"queue_ids": [1], "today": "yesterday"}, "set": {"x": "id"}}}),
            "expected a boolean, found the string `yesterday`",
        ),
        (
            json!({"memberInfo": {"member": {"queue_ids": [1]}, "set": {"x": "phone"}}}),
            "`set.x`: unknown property (id, name, priority, attempts, stop_cause, bucket_id, count_destinations, all_destinations, variables.KEY) `phone`",
        ),
        (
            json!({"memberInfo": {"member": {"queues": [{"name": "x"}]}, "set": {"x": "id"}}}),
            "`queues` elements need `id`",
        ),
        (
            json!({"patchMembers": {"member": {"queue_ids": [1]}}}),
            "`patchMembers` is missing the required field `patch`",
        ),
        (
            json!({"patchMembers": {"member": {"queue_ids": [1]}, "patch": {}}}),
            "`patch` changes nothing",
        ),
        (
            json!({"patchMembers": {"member": {"queue_ids": [1]}, "patch": {"communications": [{"destination": "1"}]}}}),
            "`communications/0` needs `id` (the position of the number, 0 = the first)",
        ),
        (
            json!({"patchMembers": {"member": {"queue_ids": [1]}, "patch": {"readyAt": "tomorrow"}}}),
            "`readyAt` must be a number, found `tomorrow`",
        ),
        (
            json!({"confirm": {"export": "crm_id"}}),
            "`export` must be an array of variable names, found a string",
        ),
        (
            json!({"confirm": 5}),
            "`confirm` expects an object (or \"\" for no argument), found a number",
        ),
        (
            json!({"cancel": {"stop": "maybe"}}),
            "expected a boolean, found the string `maybe`",
        ),
        (
            json!({"abandoned": {"maxAttempts": -1}}),
            "`maxAttempts` must be a non-negative number",
        ),
        (
            json!({"retry": {"sleep": 60000}}),
            "`sleep` is in milliseconds and must be under 60000 (found 60000)",
        ),
        (
            json!({"success": {"export": [""]}}),
            "`export` elements must be variable names",
        ),
        (
            json!({"attemptResult": {"addCommunications": [{"type": {"id": 1}}]}}),
            "`addCommunications/0` needs `destination`",
        ),
        (
            json!({"attemptResult": {"variables": [1]}}),
            "`variables` must be an object of variable → value, found an array",
        ),
    ];
    for (app, expected) in cases {
        let errors = compile_errors(&json!([app]));
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{app}: expected an error containing {expected:?}, got {errors:#?}"
        );
    }
}

#[test]
fn errors_name_their_place() {
    let errors = compile_errors(&json!([
        {"log": "first"},
        {"patchMembers": {"member": {"queue_ids": [1]}, "patch": {"communications": [{"id": 0}, {"id": "x"}]}}}
    ]));
    assert_eq!(
        errors,
        [
            "t.json:1:104: /1/patchMembers/patch/communications/1/id: `id` must be a number, found `x`"
        ]
    );
}
