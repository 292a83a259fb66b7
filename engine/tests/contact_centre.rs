//! The contact-centre applications against a scripted fake host: every host call is recorded
//! with the virtual time (seconds since the call started), so each test states the exact
//! conversation between the engine and the queue.

use std::collections::{BTreeMap, VecDeque};

use rustflow_engine::*;
use serde_json::{Value, json};

/// What `queue_wait` returns next, and at which virtual second.
enum Wait {
    Offer(u32, AgentOffer),
    Left(u32, String),
    Hangup(u32),
    Fail(u32, String),
}

impl Wait {
    fn at(&self) -> u32 {
        match self {
            Wait::Offer(at, _) | Wait::Left(at, _) | Wait::Hangup(at) | Wait::Fail(at, _) => *at,
        }
    }
}

struct Fake {
    now: i64,
    up: bool,
    vars: BTreeMap<String, String>,
    calls: Vec<String>,
    join: Option<QueueJoinOutcome>,
    waits: VecDeque<Wait>,
    rings: VecDeque<RingOutcome>,
    /// Digits each prompt with `getDigits` returns, in order.
    digits: VecDeque<String>,
    /// A prompt (file name) whose playback reports the caller gone.
    hangup_on_file: Option<&'static str>,
    /// The caller hangs up while the agent rings.
    hangup_while_ringing: bool,
    /// The caller hangs up during the agent conversation (`queue_bridge` still `Ok`).
    hangup_in_conversation: bool,
    /// Per `queue_bridge`, in order: whether the agent's leg is gone before the bridge.
    agents_gone: VecDeque<bool>,
    /// Result `queue_leave` reports as stored ("" = the given one).
    stored_result: String,
    metric: Option<f64>,
    ewt: Option<f64>,
    bridged_call: Option<BridgedCall>,
}

impl Fake {
    fn new() -> Self {
        Fake {
            now: 0,
            up: true,
            vars: BTreeMap::new(),
            calls: Vec::new(),
            join: Some(QueueJoinOutcome::Joined),
            waits: VecDeque::new(),
            rings: VecDeque::new(),
            digits: VecDeque::new(),
            hangup_on_file: None,
            hangup_while_ringing: false,
            hangup_in_conversation: false,
            agents_gone: VecDeque::new(),
            stored_result: String::new(),
            metric: None,
            ewt: None,
            bridged_call: None,
        }
    }

    fn record(&mut self, call: String) {
        let line = format!("{:>5.1} {call}", self.now as f64 / 1e6);
        self.calls.push(line);
    }

    fn advance_to(&mut self, secs: u32) {
        self.now = self.now.max(i64::from(secs) * 1_000_000);
    }

    fn gone(&mut self) -> HostResult<()> {
        if self.up {
            Ok(())
        } else {
            Err(HostError::Hangup)
        }
    }

    /// The recorded calls of one kind (by prefix).
    fn calls_of(&self, prefix: &str) -> Vec<&str> {
        self.calls
            .iter()
            .map(|c| c[6..].trim_start())
            .filter(|c| c.starts_with(prefix))
            .collect()
    }
}

fn secs(micros: Option<i64>) -> String {
    micros.map_or("none".to_string(), |m| format!("{:.1}", m as f64 / 1e6))
}

impl Host for Fake {
    fn uuid(&self) -> &str {
        "caller-uuid"
    }
    fn is_up(&mut self) -> bool {
        self.up
    }
    fn now_micros(&mut self) -> i64 {
        self.now
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        self.record(format!("log {level:?} {message}"));
    }
    fn log_enabled(&mut self, level: LogLevel) -> bool {
        level != LogLevel::Debug
    }
    fn step_done(&mut self, step: &StepEvent<'_>) {
        self.record(format!(
            "step {} {} -> {}",
            step.pointer, step.app, step.result
        ));
    }
    fn var(&mut self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn global_var(&mut self, _name: &str) -> Option<String> {
        None
    }
    fn set_var(&mut self, name: &str, value: &str) -> HostResult<()> {
        if name.starts_with("rustflow_") {
            self.vars.insert(name.to_string(), value.to_string());
            return Ok(());
        }
        // Like a FreeSWITCH channel: its variables stay writable after hangup until the
        // session ends.
        self.record(format!("set {name}={value:?}"));
        self.vars.insert(name.to_string(), value.to_string());
        Ok(())
    }
    fn unset_var(&mut self, name: &str) -> HostResult<()> {
        self.vars.remove(name);
        Ok(())
    }
    fn export_var(&mut self, name: &str, value: &str, _scope: ExportScope) -> HostResult<()> {
        self.set_var(name, value)
    }
    fn ring_ready(&mut self) -> HostResult<()> {
        Ok(())
    }
    fn pre_answer(&mut self) -> HostResult<()> {
        Ok(())
    }
    fn answer(&mut self) -> HostResult<()> {
        self.gone()
    }
    fn hangup(&mut self, _cause: HangupCause) -> HostResult<()> {
        self.up = false;
        Ok(())
    }
    /// Each prompt lasts 2 s.
    fn play(
        &mut self,
        files: &[PlayFile],
        capture: Option<&DigitCapture>,
    ) -> HostResult<PlayOutcome> {
        self.gone()?;
        let names: Vec<String> = files
            .iter()
            .map(|f| match f {
                PlayFile::Local(name) | PlayFile::MediaName(name) => name.clone(),
                other => format!("{other:?}"),
            })
            .collect();
        self.record(format!("play {}", names.join(",")));
        if self
            .hangup_on_file
            .is_some_and(|file| names.iter().any(|n| n == file))
        {
            self.up = false;
            return Err(HostError::Hangup);
        }
        self.now += 2_000_000;
        let mut outcome = PlayOutcome::default();
        if let Some(capture) = capture {
            outcome.digits = self.digits.pop_front().unwrap_or_default();
            let digits = outcome.digits.clone();
            self.vars.insert(capture.set_var.clone(), digits);
        }
        Ok(outcome)
    }
    fn sleep(&mut self, ms: u64) -> HostResult<()> {
        self.now += ms as i64 * 1000;
        self.gone()
    }
    fn soft_sleep(&mut self, ms: u64) -> HostResult<()> {
        self.sleep(ms)
    }
    fn http(&mut self, _request: &HttpRequest) -> HostResult<HttpResponse> {
        Err(HostError::Failed("no http here".to_string()))
    }

    fn queue_join(&mut self, join: &QueueJoin) -> HostResult<QueueJoinOutcome> {
        self.record(format!("queue_join {join:?}"));
        self.gone()?;
        self.join
            .take()
            .ok_or_else(|| HostError::Failed("the call is already in a queue".to_string()))
    }
    fn queue_wait(&mut self, until: Option<i64>) -> HostResult<QueueEvent> {
        self.record(format!("queue_wait until={}", secs(until)));
        let next_at = self.waits.front().map(|w| i64::from(w.at()) * 1_000_000);
        match (next_at, until) {
            (Some(at), Some(until)) if at > until => {
                self.now = self.now.max(until);
                return Ok(QueueEvent::TimerDue);
            }
            (None, Some(until)) => {
                self.now = self.now.max(until);
                return Ok(QueueEvent::TimerDue);
            }
            (None, None) => return Err(HostError::Failed("script exhausted".to_string())),
            _ => {}
        }
        let wait = self.waits.pop_front().expect("a scripted wait");
        self.advance_to(wait.at());
        match wait {
            Wait::Offer(_, offer) => Ok(QueueEvent::Offer(offer)),
            Wait::Left(_, result) => Ok(QueueEvent::Left { result }),
            Wait::Hangup(_) => {
                self.up = false;
                Err(HostError::Hangup)
            }
            Wait::Fail(_, reason) => Err(HostError::Failed(reason)),
        }
    }
    /// Ringing takes 5 s.
    fn queue_ring(&mut self, offer: &AgentOffer) -> HostResult<RingOutcome> {
        self.record(format!("queue_ring {}", offer.agent_name));
        self.now += 5_000_000;
        if self.hangup_while_ringing {
            self.up = false;
            return Err(HostError::Hangup);
        }
        Ok(self.rings.pop_front().expect("a scripted ring"))
    }
    /// The conversation lasts 60 s.
    fn queue_bridge(&mut self) -> HostResult<QueueBridge> {
        self.record("queue_bridge".to_string());
        self.gone()?;
        if self.agents_gone.pop_front() == Some(true) {
            return Ok(QueueBridge::AgentGone);
        }
        self.now += 60_000_000;
        if self.hangup_in_conversation {
            self.up = false;
        }
        Ok(QueueBridge::Talked)
    }
    fn queue_leave(&mut self, result: &str) -> HostResult<String> {
        self.record(format!("queue_leave {result}"));
        Ok(if self.stored_result.is_empty() {
            result.to_string()
        } else {
            self.stored_result.clone()
        })
    }
    fn queue_position(&mut self) -> HostResult<u32> {
        self.record("queue_position".to_string());
        Ok(3)
    }
    fn queue_ewt(&mut self, query: &EwtQuery) -> HostResult<Option<f64>> {
        self.record(format!("queue_ewt {query:?}"));
        Ok(self.ewt)
    }
    fn queue_agents(&mut self, queue: &CcRef) -> HostResult<AgentCounts> {
        self.record(format!("queue_agents {queue:?}"));
        Ok(AgentCounts {
            count: 5,
            online: 4,
            offline: 1,
            pause: 1,
            waiting: 2,
        })
    }
    fn queue_metric(&mut self, query: &MetricQuery) -> HostResult<Option<f64>> {
        self.record(format!("queue_metric {query:?}"));
        Ok(self.metric)
    }
    fn last_bridged(&mut self, query: &LastBridgedQuery) -> HostResult<Option<BridgedCall>> {
        self.record(format!("last_bridged {query:?}"));
        Ok(self.bridged_call.clone())
    }
}

fn offer(name: &str) -> AgentOffer {
    AgentOffer {
        agent_id: format!("id-{name}"),
        agent_name: name.to_string(),
        extension: format!("ext-{name}"),
        agent_call_id: format!("leg-{name}"),
    }
}

fn compile(flow: &Value) -> Flow {
    compile_source("t", "t.json", &flow.to_string(), &CompileOptions::default()).unwrap_or_else(
        |diags| {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("does not compile:\n{}", lines.join("\n"))
        },
    )
}

fn compile_errors(flow: &Value) -> Vec<String> {
    match compile_source("t", "t.json", &flow.to_string(), &CompileOptions::default()) {
        Ok(_) => panic!("compiles: {flow}"),
        Err(diags) => diags.iter().map(ToString::to_string).collect(),
    }
}

fn run_with(flows: &FlowSet, host: &mut Fake) -> RunOutcome {
    let flow = flows.get("t").expect("flow t");
    run(flow, flows, host, &[], &Limits::default())
}

fn run_flow(flow: &Value, host: &mut Fake) -> RunOutcome {
    run_with(&FlowSet::from_flows([compile(flow)]), host)
}

/// The recorded transcript without step lines (they are checked where they matter).
fn host_calls(host: &Fake) -> Vec<String> {
    host.calls
        .iter()
        .filter(|c| !c[6..].trim_start().starts_with("step "))
        .cloned()
        .collect()
}

fn local(name: &str) -> Value {
    json!({"playback": {"files": [{"type": "local", "name": name}]}})
}

const JOIN: &str = "queue_join QueueJoin { target: Queue(CcRef { id: Some(\"7\"), name: Some(\"Support\") }), priority: 0, bucket: None, sticky_agent: None, ringtone: None, timeout_secs: 0, queue_name: None }";

#[test]
fn a_refused_join_sets_cc_result_and_the_flow_goes_on() {
    let mut host = Fake::new();
    host.join = Some(QueueJoinOutcome::Refused {
        result: "closed".to_string(),
        reason: "calendar closed".to_string(),
    });
    let outcome = run_flow(
        &json!([
            {"joinQueue": {"queue": {"id": 7, "name": "Support"}, "waiting": [local("w.wav")]}},
            {"log": "after ${cc_result}"}
        ]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host),
        [
            &format!("  0.0 {JOIN}"),
            "  0.0 log Notice flow t: not admitted to the queue: calendar closed (cc_result=closed)",
            "  0.0 set cc_result=\"closed\"",
            "  0.0 log Info after closed",
        ]
    );
    assert_eq!(outcome.error, None);
    assert!(host.calls_of("queue_leave").is_empty());
}

#[test]
fn waiting_runs_once_then_the_queue_times_the_caller_out() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Left(300, "timeout".to_string()));
    let outcome = run_flow(
        &json!([
            {"joinQueue": {"queue": {"id": 7, "name": "Support"},
                           "waiting": [local("welcome.wav")],
                           "reporting": [{"log": "left with ${cc_result}"}]}},
            {"log": "after"}
        ]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host),
        [
            &format!("  0.0 {JOIN}"),
            "  0.0 play welcome.wav",
            "  2.0 queue_wait until=none",
            "300.0 set cc_result=\"timeout\"",
            "300.0 log Info left with timeout",
            "300.0 log Info after",
        ]
    );
    assert!(host.calls_of("queue_leave").is_empty(), "Left closes it");
    assert_eq!(outcome.error, None);
}

#[test]
fn timers_fire_at_their_exact_times_with_tries_and_offset() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Left(100, "timeout".to_string()));
    run_flow(
        &json!([{"joinQueue": {"queue": {"id": 7, "name": "Support"}, "timers": [
            {"interval": 10, "offset": 5, "tries": 3, "actions": [local("a.wav")]},
            {"interval": 0, "actions": [local("never.wav")]},
            {"interval": "30", "actions": [{"log": "b"}]}
        ]}}]),
        &mut host,
    );
    // a: first at join + 10; then 10 + 5×1 after its actions ended (12 + 15 = 27), then
    // 10 + 5×2 after (29 + 20 = 49); 3 tries. b: every 30 s after its actions (30, 60, 90).
    assert_eq!(
        host_calls(&host),
        [
            &format!("  0.0 {JOIN}"),
            "  0.0 queue_wait until=10.0",
            " 10.0 play a.wav",
            " 12.0 queue_wait until=27.0",
            " 27.0 play a.wav",
            " 29.0 queue_wait until=30.0",
            " 30.0 log Info b",
            " 30.0 queue_wait until=49.0",
            " 49.0 play a.wav",
            " 51.0 queue_wait until=60.0",
            " 60.0 log Info b",
            " 60.0 queue_wait until=90.0",
            " 90.0 log Info b",
            " 90.0 queue_wait until=120.0",
            "100.0 set cc_result=\"timeout\"",
        ]
    );
}

#[test]
fn a_digit_in_a_timer_prompt_cancels_the_queue() {
    let mut host = Fake::new();
    host.digits.push_back("".to_string());
    host.digits.push_back("1".to_string());
    host.stored_result = "cancel".to_string();
    let outcome = run_flow(
        &json!([
            {"joinQueue": {"queue": {"id": 7, "name": "Support"},
                "timers": [{"interval": 20, "actions": [
                    {"playback": {"files": [{"type": "local", "name": "press1.wav"}],
                                  "getDigits": {"setVar": "key", "min": 1, "max": 1, "timeout": 3000}}},
                    {"if": {"expression": "${key} == '1'", "then": [{"cancelQueue": ""}, {"log": "not reached"}]}},
                    {"log": "no key"}
                ]}],
                "reporting": [{"log": "reporting ${cc_result} ${cc_cancel}"}]}},
            {"log": "after ${cc_result}"}
        ]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host),
        [
            &format!("  0.0 {JOIN}"),
            "  0.0 queue_wait until=20.0",
            " 20.0 play press1.wav",
            " 22.0 log Info no key",
            " 22.0 queue_wait until=42.0",
            " 42.0 play press1.wav",
            " 44.0 set cc_cancel=\"true\"",
            " 44.0 queue_leave cancel",
            " 44.0 set cc_cancel=\"true\"",
            " 44.0 set cc_result=\"cancel\"",
            " 44.0 log Info reporting cancel true",
            " 44.0 log Info after cancel",
        ]
    );
    assert_eq!(outcome.error, None);
}

#[test]
fn cancel_queue_outside_a_queue_sets_cc_cancel_false() {
    let mut host = Fake::new();
    run_flow(&json!([{"cancelQueue": ""}, {"log": "go on"}]), &mut host);
    assert_eq!(
        host_calls(&host),
        ["  0.0 set cc_cancel=\"false\"", "  0.0 log Info go on"]
    );
}

#[test]
fn a_missed_offer_keeps_the_place_and_the_next_is_bridged() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Offer(15, offer("Ann")));
    host.waits.push_back(Wait::Offer(40, offer("Bob")));
    host.rings.push_back(RingOutcome::Missed {
        reason: "no answer".to_string(),
    });
    host.rings.push_back(RingOutcome::Answered);
    let outcome = run_flow(
        &json!([
            {"joinQueue": {"queue": {"id": 7, "name": "Support"},
                "timers": [{"interval": 30, "actions": [{"log": "tick"}]}],
                "offering": [{"log": "offer ${cc_agent_name} ${cc_agent_id} ${cc_agent_call_id} ${cc_agent_extension}"}],
                "bridged": [{"log": "bridged to ${cc_agent_name}"}],
                "reporting": [{"log": "reporting ${cc_result}"}]}},
            {"log": "after ${cc_result}"}
        ]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host),
        [
            &format!("  0.0 {JOIN}"),
            "  0.0 queue_wait until=30.0",
            " 15.0 set cc_agent_name=\"Ann\"",
            " 15.0 set cc_agent_id=\"id-Ann\"",
            " 15.0 set cc_agent_call_id=\"leg-Ann\"",
            " 15.0 set cc_agent_extension=\"ext-Ann\"",
            " 15.0 log Info offer Ann id-Ann leg-Ann ext-Ann",
            " 15.0 queue_ring Ann",
            " 20.0 queue_wait until=30.0",
            " 30.0 log Info tick",
            " 30.0 queue_wait until=60.0",
            " 40.0 set cc_agent_name=\"Bob\"",
            " 40.0 set cc_agent_id=\"id-Bob\"",
            " 40.0 set cc_agent_call_id=\"leg-Bob\"",
            " 40.0 set cc_agent_extension=\"ext-Bob\"",
            " 40.0 log Info offer Bob id-Bob leg-Bob ext-Bob",
            " 40.0 queue_ring Bob",
            " 45.0 log Info bridged to Bob",
            " 45.0 queue_bridge",
            "105.0 queue_leave success",
            "105.0 set cc_result=\"success\"",
            "105.0 log Info reporting success",
            "105.0 log Info after success",
        ]
    );
    assert_eq!(outcome.error, None);
    assert!(
        host.calls
            .iter()
            .any(|c| c.ends_with("step /0/joinQueue joinQueue -> bridged"))
    );
}

#[test]
fn an_agent_gone_before_the_bridge_puts_the_caller_back_in_line() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Offer(15, offer("Ann")));
    host.waits.push_back(Wait::Offer(40, offer("Bob")));
    host.rings.push_back(RingOutcome::Answered);
    host.rings.push_back(RingOutcome::Answered);
    host.agents_gone.push_back(true);
    let outcome = run_flow(
        &json!([
            {"joinQueue": {"queue": {"id": 7, "name": "Support"},
                "waiting": [{"log": "waiting"}],
                "bridged": [{"log": "bridged to ${cc_agent_name}"}]}},
            {"log": "after ${cc_result}"}
        ]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host),
        [
            &format!("  0.0 {JOIN}"),
            "  0.0 log Info waiting",
            "  0.0 queue_wait until=none",
            " 15.0 set cc_agent_name=\"Ann\"",
            " 15.0 set cc_agent_id=\"id-Ann\"",
            " 15.0 set cc_agent_call_id=\"leg-Ann\"",
            " 15.0 set cc_agent_extension=\"ext-Ann\"",
            " 15.0 queue_ring Ann",
            " 20.0 log Info bridged to Ann",
            " 20.0 queue_bridge",
            // Back in line: `waiting` does not run again.
            " 20.0 queue_wait until=none",
            " 40.0 set cc_agent_name=\"Bob\"",
            " 40.0 set cc_agent_id=\"id-Bob\"",
            " 40.0 set cc_agent_call_id=\"leg-Bob\"",
            " 40.0 set cc_agent_extension=\"ext-Bob\"",
            " 40.0 queue_ring Bob",
            " 45.0 log Info bridged to Bob",
            " 45.0 queue_bridge",
            "105.0 queue_leave success",
            "105.0 set cc_result=\"success\"",
            "105.0 log Info after success",
        ]
    );
    assert_eq!(outcome.error, None);
}

#[test]
fn transfer_after_bridge_continues_in_that_flow_and_ends_this_one() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Offer(5, offer("Ann")));
    host.rings.push_back(RingOutcome::Answered);
    let main = compile(&json!([
        {"joinQueue": {"queue": {"id": 7}, "transferAfterBridge": {"id": "survey"}}},
        {"log": "not reached"}
    ]));
    let survey = compile_source(
        "survey",
        "survey.json",
        r#"[{"log": "survey for ${cc_agent_name}"}]"#,
        &CompileOptions::default(),
    )
    .unwrap();
    let outcome = run_with(&FlowSet::from_flows([main, survey]), &mut host);
    let logs = host.calls_of("log ");
    assert_eq!(logs, ["log Info survey for Ann"]);
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave success"]);
    assert!(!outcome.hung_up);
}

/// A flow with a prompt in every block, so a hangup can happen in each.
fn staged_flow() -> Value {
    json!([
        {"joinQueue": {"queue": {"id": 7, "name": "Support"},
            "waiting": [local("waiting.wav")],
            "timers": [{"interval": 10, "tries": 1, "actions": [local("timer.wav")]}],
            "offering": [local("offering.wav")],
            "bridged": [local("bridged.wav")],
            "reporting": [{"log": "reporting ${cc_result}"}, local("reporting.wav")]}},
        {"log": "not reached"},
        {"trigger": {"disconnected": [{"log": "disconnected ${cc_result}"}]}}
    ])
}

fn staged_host(hangup_on: Option<&'static str>) -> Fake {
    let mut host = Fake::new();
    host.hangup_on_file = hangup_on;
    host.waits.push_back(Wait::Offer(20, offer("Ann")));
    host.rings.push_back(RingOutcome::Answered);
    host
}

#[test]
fn a_hangup_in_each_block_closes_the_attempt_once() {
    for (file, leave) in [
        ("waiting.wav", "abandoned"),
        ("timer.wav", "abandoned"),
        ("offering.wav", "abandoned"),
        ("bridged.wav", "abandoned"),
        ("reporting.wav", "success"),
    ] {
        let mut host = staged_host(Some(file));
        let outcome = run_flow(&staged_flow(), &mut host);
        assert!(outcome.hung_up, "{file}");
        assert_eq!(
            host.calls_of("queue_leave"),
            [format!("queue_leave {leave}")],
            "{file}"
        );
        assert!(host.calls_of("queue_bridge").is_empty() || file == "reporting.wav");
        assert!(host.calls_of("log Info not reached").is_empty(), "{file}");
        assert_eq!(
            host.calls_of("log Info disconnected").len(),
            1,
            "{file}: trigger.disconnected runs"
        );
    }
}

#[test]
fn a_hangup_while_waiting_or_talking_closes_the_attempt_once() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Hangup(7));
    let outcome = run_flow(&staged_flow(), &mut host);
    assert!(outcome.hung_up);
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave abandoned"]);

    // Hung up during the conversation: closed as success, `reporting` runs with media
    // refused, then the flow stops.
    let mut host = staged_host(None);
    host.hangup_in_conversation = true;
    let outcome = run_flow(&staged_flow(), &mut host);
    assert!(outcome.hung_up);
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave success"]);
    assert_eq!(
        host.calls_of("log Info"),
        [
            "log Info reporting success",
            "log Info disconnected success"
        ]
    );
    assert!(
        host.calls_of("play reporting.wav").is_empty(),
        "media refused after hangup"
    );
}

#[test]
fn a_host_failure_closes_the_attempt_as_error_and_the_flow_goes_on() {
    let mut host = Fake::new();
    host.waits
        .push_back(Wait::Fail(12, "the store is unreachable".to_string()));
    let outcome = run_flow(
        &json!([
            {"joinQueue": {"queue": {"id": 7}, "reporting": [{"log": "reporting ${cc_result}"}]}},
            {"log": "after ${cc_result}"}
        ]),
        &mut host,
    );
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave error"]);
    assert_eq!(
        host.calls_of("log Info"),
        ["log Info reporting error", "log Info after error"]
    );
    assert_eq!(
        outcome.error.as_deref(),
        Some("joinQueue: the queue failed: the store is unreachable")
    );
    assert!(
        host.calls_of("log Warning")
            .iter()
            .any(|l| l.contains("the store is unreachable"))
    );
}

#[test]
fn joining_twice_is_an_application_error() {
    let mut host = Fake::new();
    host.join = None;
    let outcome = run_flow(
        &json!([{"joinQueue": {"queue": {"id": 7}}}, {"log": "go on: ${cc_result}"}]),
        &mut host,
    );
    assert_eq!(
        outcome.error.as_deref(),
        Some("joinQueue: the call is already in a queue")
    );
    assert_eq!(host.calls_of("log Info"), ["log Info go on: error"]);
    assert!(host.calls_of("queue_leave").is_empty());
}

#[test]
fn join_agent_rings_one_agent() {
    let mut host = Fake::new();
    host.waits.push_back(Wait::Offer(3, offer("Ann")));
    host.rings.push_back(RingOutcome::Answered);
    run_flow(
        &json!([{"joinAgent": {"agent": {"extension": "1001"}, "queue_name": "VIP",
                               "timeout": 20, "ringtone": {"name": "hold.wav"},
                               "bridged": [{"log": "with ${cc_agent_name}"}]}}]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host)[0],
        "  0.0 queue_join QueueJoin { target: Agent(CcRef { id: None, name: Some(\"1001\") }), priority: 0, bucket: None, sticky_agent: None, ringtone: Some(MediaName(\"hold.wav\")), timeout_secs: 20, queue_name: Some(\"VIP\") }"
    );
    assert_eq!(host.calls_of("log Info"), ["log Info with Ann"]);
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave success"]);
}

#[test]
fn join_fields_are_expanded_and_hostile_values_stay_data() {
    let hostile = "x${y}' \n\"z";
    let mut host = Fake::new();
    host.vars.insert("q".to_string(), hostile.to_string());
    host.vars.insert("y".to_string(), "EXPANDED".to_string());
    host.waits.push_back(Wait::Left(1, hostile.to_string()));
    run_flow(
        &json!([{"joinQueue": {"queue": {"name": "${q}"}, "priority": "5",
                               "bucket_id": 3, "stickyAgentId": 9}},
                {"set": {"copy": "${cc_result}"}}]),
        &mut host,
    );
    assert_eq!(
        host_calls(&host)[0],
        format!(
            "  0.0 queue_join QueueJoin {{ target: Queue(CcRef {{ id: None, name: Some({hostile:?}) }}), priority: 5, bucket: Some(CcRef {{ id: Some(\"3\"), name: None }}), sticky_agent: Some(CcRef {{ id: Some(\"9\"), name: None }}), ringtone: None, timeout_secs: 0, queue_name: None }}"
        )
    );
    assert_eq!(host.vars["cc_result"], hostile);
    assert_eq!(host.vars["copy"], hostile);
}

#[test]
fn statistics_set_their_variables() {
    let mut host = Fake::new();
    host.vars
        .insert("caller_id_number".to_string(), "380441112233".to_string());
    host.metric = Some(87.5);
    host.bridged_call = Some(BridgedCall {
        fields: vec![
            ("extension".to_string(), "1001".to_string()),
            ("variables.crm".to_string(), "42".to_string()),
        ],
    });
    let outcome = run_flow(
        &json!([
            {"getQueueAgents": {"queue": {"name": "Support"}, "set": {"free": "waiting", "all": "count"}}},
            {"getQueueMetrics": {"queue": {"id": 7}, "calls": "complete", "field": "sl", "slSec": 20,
                                 "lastMinutes": 30, "set": "sl"}},
            {"getQueueMetrics": {"queue": {"id": 7}, "field": "wait_time", "metric": "max", "set": "wait"}},
            {"ccPosition": {"set": "pos"}},
            {"ewt": {"setVar": "ewt", "queue_ids": [7, "8"], "strategy": "puzzle"}},
            {"lastBridged": {"number": "${caller_id_number}", "hours": "24",
                             "filter": {"inbound": "bridged", "outbound": "false", "queue_ids": [7]},
                             "set": {"last_agent": "extension", "crm": "variables.crm", "desc": "description"}}}
        ]),
        &mut host,
    );
    assert_eq!(outcome.error, None);
    let vars: Vec<String> = [
        "free",
        "all",
        "sl",
        "wait",
        "pos",
        "ewt",
        "last_agent",
        "crm",
        "desc",
    ]
    .iter()
    .map(|v| format!("{v}={}", host.vars[*v]))
    .collect();
    assert_eq!(
        vars,
        [
            "free=2",
            "all=5",
            "sl=87.5",
            "wait=87.5",
            "pos=3",
            "ewt=unknown",
            "last_agent=1001",
            "crm=42",
            "desc="
        ]
    );
    assert_eq!(
        host.calls_of("queue_metric"),
        [
            "queue_metric MetricQuery { queue: CcRef { id: Some(\"7\"), name: None }, bucket: None, metric: ServiceLevel { sl_secs: 20 }, last_minutes: 30 }",
            "queue_metric MetricQuery { queue: CcRef { id: Some(\"7\"), name: None }, bucket: None, metric: WaitTime(Max), last_minutes: 60 }",
        ]
    );
    assert_eq!(
        host.calls_of("queue_ewt"),
        ["queue_ewt EwtQuery { queues: [\"7\", \"8\"], buckets: [], lookback_minutes: 60 }"]
    );
    assert_eq!(
        host.calls_of("last_bridged"),
        [
            "last_bridged LastBridgedQuery { number: \"380441112233\", hours: 24, dialer: None, inbound: Some(\"bridged\"), outbound: None, queue_ids: Some([\"7\"]) }"
        ]
    );
    assert!(outcome.error.is_none());
}

#[test]
fn last_bridged_without_a_call_fails_and_leaves_variables_alone() {
    let mut host = Fake::new();
    host.vars
        .insert("last_agent".to_string(), "old".to_string());
    let outcome = run_flow(
        &json!([{"lastBridged": {"number": "380441112233", "hours": 12, "set": {"last_agent": "extension"}}}]),
        &mut host,
    );
    assert_eq!(
        outcome.error.as_deref(),
        Some("lastBridged: no bridged call for 380441112233 in the last 12 hours")
    );
    assert_eq!(host.vars["last_agent"], "old");
}

#[test]
fn bad_arguments_name_the_field() {
    let cases: &[(Value, &str)] = &[
        (
            json!({"joinQueue": {}}),
            "`joinQueue` is missing the required field `queue`",
        ),
        (
            json!({"joinQueue": {"queue": {}}}),
            "`queue` needs `id` or `name`",
        ),
        (
            json!({"joinQueue": {"queue": "Support"}}),
            "`queue` must be an object {id, name}, found a string",
        ),
        (
            json!({"joinQueue": {"queue": {"id": 1}, "waiting": {}}}),
            "`joinQueue.waiting` must be an array of applications",
        ),
        (
            json!({"joinQueue": {"queue": {"id": 1}, "timers": [{"interval": "soon"}]}}),
            "`interval` must be a number, found `soon`",
        ),
        (
            json!({"joinQueue": {"queue": {"id": 1}, "timers": [{"interval": 5, "offset": -1}]}}),
            "`offset` must be a non-negative number",
        ),
        (
            json!({"joinAgent": {"queue_name": "x"}}),
            "`joinAgent` is missing the required field `agent`",
        ),
        (
            json!({"getQueueAgents": {"queue": {"id": 1}, "set": {"x": "busy"}}}),
            "`set.x`: unknown agent metric (count, online, offline, pause, waiting) `busy`",
        ),
        (
            json!({"getQueueAgents": {"queue": {"id": 1}, "channel": "chat", "set": {"x": "count"}}}),
            "`channel` must be `call`",
        ),
        (
            json!({"getQueueMetrics": {"queue": {"id": 1}, "set": "v", "calls": "all", "field": "sl", "slSec": 5}}),
            "`calls` must be `complete`",
        ),
        (
            json!({"getQueueMetrics": {"queue": {"id": 1}, "set": "v", "field": "sl"}}),
            "`field` `sl` needs `slSec`",
        ),
        (
            json!({"getQueueMetrics": {"queue": {"id": 1}, "set": "v", "field": "wait_time", "metric": "sl"}}),
            "`metric` `sl` does not apply here",
        ),
        (
            json!({"getQueueMetrics": {"queue": {"id": 1}, "set": "v", "field": "talk_time"}}),
            "`metric` (avg, min or max) is required",
        ),
        (
            json!({"getQueueMetrics": {"queue": {"id": 1}, "set": "v", "field": "abandoned"}}),
            "unknown `field` `abandoned`",
        ),
        (
            json!({"getQueueMetrics": {"queue": {"id": 1}, "field": "sl", "slSec": 5}}),
            "`getQueueMetrics` is missing the required field `set`",
        ),
        (
            json!({"ccPosition": {"set": ""}}),
            "`set` must be a variable name",
        ),
        (
            json!({"ewt": {"queue_ids": 7}}),
            "`ewt` is missing the required field `setVar`",
        ),
        (
            json!({"ewt": {"setVar": "e", "queue_ids": 7}}),
            "`queue_ids` must be an array of ids",
        ),
        (
            json!({"lastBridged": {"number": "1", "set": {"a": "id"}}}),
            "`lastBridged` is missing the required field `hours`",
        ),
        (
            json!({"lastBridged": {"number": "1", "hours": 1, "set": {"a": "agent"}}}),
            "`set.a`: unknown property",
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
fn the_queue_apps_are_supported_and_the_rest_still_not_yet() {
    for app in [
        "joinQueue",
        "joinAgent",
        "cancelQueue",
        "getQueueAgents",
        "getQueueMetrics",
        "ccPosition",
        "ewt",
        "lastBridged",
        "callbackQueue",
        "memberInfo",
        "patchMembers",
        "confirm",
        "cancel",
        "success",
        "abandoned",
        "retry",
        "attemptResult",
    ] {
        assert!(SUPPORTED_APPS.contains(&app), "{app}");
    }
    for app in ["ccOutbound", "getQueueInfo"] {
        assert!(NOT_YET_SUPPORTED_APPS.contains(&app), "{app}");
    }
}

#[test]
fn a_hangup_while_the_agent_rings_closes_the_attempt_once() {
    let mut host = staged_host(None);
    host.hangup_while_ringing = true;
    let outcome = run_flow(&staged_flow(), &mut host);
    assert!(outcome.hung_up);
    assert_eq!(host.calls_of("queue_ring"), ["queue_ring Ann"]);
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave abandoned"]);
    assert!(host.calls_of("play bridged.wav").is_empty());
}

#[test]
fn a_budget_running_out_in_a_timer_closes_the_attempt_as_error() {
    let mut host = Fake::new();
    let flow = compile(&json!([{"joinQueue": {"queue": {"id": 7}, "timers": [
        {"interval": 1, "actions": [{"log": "tick"}]}
    ]}}]));
    let flows = FlowSet::from_flows([flow]);
    let limits = Limits {
        max_steps: 10,
        ..Limits::default()
    };
    let outcome = run(flows.get("t").unwrap(), &flows, &mut host, &[], &limits);
    assert_eq!(host.calls_of("log Info tick").len(), 9);
    assert_eq!(host.calls_of("queue_leave"), ["queue_leave error"]);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("max-steps budget (10) exhausted")),
        "{:?}",
        outcome.error
    );
}
