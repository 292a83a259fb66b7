//! `rustflow run`: the simulator transcript, readable and as JSON.

mod common;

use serde_json::Value;

use common::{corpus_dir, fixtures_dir, rustflow, scratch_dir};

fn run(args: &[&str]) -> String {
    let out = rustflow(args);
    assert_eq!(
        out.status, 0,
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// The lines of `text` in order (each one found after the previous).
fn assert_in_order(text: &str, expected: &[&str]) {
    let mut rest = text;
    for line in expected {
        match rest.find(line) {
            Some(at) => rest = &rest[at + line.len()..],
            None => panic!("`{line}` missing (or out of order) in:\n{text}"),
        }
    }
}

#[test]
fn menu_choice_2_shows_branch_prompts_and_hangup_cause() {
    let out = run(&[
        "run",
        "examples/flows/menu.json",
        "--dtmf",
        "2",
        "--var",
        "caller_id_number=+380441234567",
    ]);
    assert_in_order(
        &out,
        &[
            "run menu (examples/flows/menu.json, version ",
            "/schema/1/answer  answer\n            answered\n",
            "play local:ivr/ivr-welcome.wav\n",
            "play local:ivr/ivr-menu.wav → digits \"2\"\n",
            "set choice = \"2\"\n",
            "/schema/4/switch  switch → case \"2\"\n",
            "log: caller +380441234567 chose support hours\n",
            "play local:ivr/ivr-support-hours.wav\n",
            "/schema/4/switch/case/2/2/hangup  hangup\n            hangup NORMAL_CLEARING\n",
            "prompts played (3): local:ivr/ivr-welcome.wav, local:ivr/ivr-menu.wav, local:ivr/ivr-support-hours.wav\n",
            "end: the flow hung up with NORMAL_CLEARING after 7 steps, 6.300s into the call\n",
        ],
    );
    assert!(
        !out.contains("case/default"),
        "only the chosen branch runs:\n{out}"
    );
}

#[test]
fn menu_retries_then_falls_back_through_the_limit() {
    let out = run(&[
        "run",
        "examples/flows/menu.json",
        "--dtmf",
        "7",
        "--dtmf",
        "#",
    ]);
    assert_in_order(
        &out,
        &[
            "digits \"7\"",
            "/schema/4/switch  switch → default\n",
            "play local:ivr/ivr-invalid-choice.wav\n",
            "/schema/4/switch/case/default/1/goto  goto → /schema/3/playback\n",
            "→ no digits\n",
            "switch → default\n",
            // Third pass: no key pressed at all (the script has run out): the timeout.
            "→ no digits\n",
            "/schema/3/playback  playback → limit reached\n",
            "play local:ivr/ivr-goodbye.wav\n",
            "hangup NO_USER_RESPONSE\n",
            "end: the flow hung up with NO_USER_RESPONSE",
        ],
    );
}

#[test]
fn menu_choice_1_posts_a_callback_request_from_the_fixtures() {
    let fixtures = fixtures_dir().join("menu-callback.http.json");
    let out = run(&[
        "run",
        "examples/flows/menu.json",
        "--dtmf",
        "1",
        "--var",
        "caller_id_number=1000",
        "--http-fixtures",
        fixtures.to_str().unwrap(),
    ]);
    assert_in_order(
        &out,
        &[
            "switch → case \"1\"\n",
            "log: callback requested by 1000\n",
            "http POST https://crm.example.com/api/callbacks body \"{\\\"number\\\":\\\"1000\\\",\\\"reason\\\":\\\"ivr-menu\\\"}\" → 201\n",
            "set callback_id = \"cb-42\"\n",
            "if → then (expression true)\n",
            "play local:ivr/ivr-callback-booked.wav\n",
            "hangup NORMAL_CLEARING\n",
        ],
    );
    // Without an answer the request fails like a network error and the flow goes on.
    let out = run(&["run", "examples/flows/menu.json", "--dtmf", "1"]);
    assert_in_order(
        &out,
        &[
            "httpRequest → no HTTP fixture for POST https://crm.example.com/api/callbacks\n",
            "warning: flow menu: ",
            "if → else (expression false)\n",
            "play local:ivr/ivr-callback-failed.wav\n",
            "last error: httpRequest: no HTTP fixture for POST https://crm.example.com/api/callbacks\n",
        ],
    );
}

#[test]
fn menu_operator_bridge_outcomes_are_scripted() {
    let answered = run(&[
        "run",
        "examples/flows/menu.json",
        "--dtmf",
        "0",
        "--bridge",
        "answered",
    ]);
    assert_in_order(
        &answered,
        &[
            "switch → case \"0\"\n",
            "play local:ivr/ivr-hold-connect-call.wav\n",
            "/schema/4/switch/case/0/2/bridge  bridge → answered\n",
            // failover: the first leg answered, so the second was never called
            "bridge user/1001=answered | user/1002=not tried -> answered\n",
            "set rustflow_bridge_result = \"answered\"\n",
            "if → then (expression true)\n",
            "hangup NORMAL_CLEARING\n",
        ],
    );
    // Both operators busy / not answering: the flow apologises and offers the menu again.
    let busy = run(&[
        "run",
        "examples/flows/menu.json",
        "--dtmf",
        "0",
        "--dtmf",
        "2",
        "--bridge",
        "user/1001=busy",
        "--bridge",
        "user/1002=no_answer",
    ]);
    assert_in_order(
        &busy,
        &[
            "bridge → no_answer\n",
            "bridge user/1001=busy | user/1002=no_answer -> no_answer\n",
            "if → else (expression false)\n",
            "play local:ivr/ivr-operators-busy.wav\n",
            "goto → /schema/3/playback\n",
            "switch → case \"2\"\n",
            "end: the flow hung up with NORMAL_CLEARING",
        ],
    );
}

#[test]
fn http_url_file_answers_with_the_file() {
    let dir = scratch_dir("run-http");
    let body = dir.join("callback.json");
    std::fs::write(&body, r#"{"id": "cb-7"}"#).unwrap();
    let spec = format!("https://crm.example.com/api/callbacks={}", body.display());
    let out = run(&[
        "run",
        "examples/flows/menu.json",
        "--dtmf",
        "1",
        "--http",
        &spec,
    ]);
    // Status 200 is not the 201 the flow wants: the else branch, with the id exported.
    assert_in_order(
        &out,
        &[
            "→ 200\n",
            "set callback_id = \"cb-7\"\n",
            "if → else (expression false)\n",
        ],
    );
}

#[test]
fn caller_hangup_mid_prompt() {
    let out = run(&["run", "examples/flows/menu.json", "--hangup-after", "3s"]);
    assert_in_order(
        &out,
        &[
            "play local:ivr/ivr-welcome.wav\n",
            "play local:ivr/ivr-menu.wav → no digits (cut short by the hangup)\n",
            "end: the caller hung up at 3.000s after ",
        ],
    );
    let out = run(&["run", "examples/flows/menu.json", "--hangup-after", "1"]);
    assert!(
        out.contains("end: the caller hung up at 0.000s after 1 steps"),
        "{out}"
    );
}

#[test]
fn json_transcript_is_machine_readable() {
    let out = run(&["run", "examples/flows/menu.json", "--dtmf", "2", "--json"]);
    let report: Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(report["flow"]["id"], "menu");
    assert_eq!(report["hangup"]["by"], "flow");
    assert_eq!(report["hangup"]["cause"], "NORMAL_CLEARING");
    assert_eq!(report["steps"], 7);
    assert_eq!(report["vars"]["choice"], "2");
    assert_eq!(
        report["prompts"],
        serde_json::json!([
            "local:ivr/ivr-welcome.wav",
            "local:ivr/ivr-menu.wav",
            "local:ivr/ivr-support-hours.wav"
        ])
    );
    let events: Vec<&str> = report["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"step") && events.contains(&"play") && events.contains(&"hangup"),
        "{events:?}"
    );
}

#[test]
fn business_hours_follow_the_virtual_clock() {
    // Monday 2026-11-30 10:00 in Kyiv: open, so the menu flow runs through `schema`.
    let open = run(&[
        "run",
        "examples/flows/business-hours.json",
        "--flows",
        "examples/flows",
        "--time",
        "2026-11-30T10:00:00+02:00",
        "--dtmf",
        "2",
        "--var",
        "caller_id_number=1000",
    ]);
    assert_in_order(
        &open,
        &[
            "/schema/0/if  if → else (expression false)\n",
            "/schema/1/if  if → then (expression true)\n",
            "set office = \"open\"\n",
            "log: office open: routing 1000 to the menu\n",
            "menu:/schema/1/answer  answer\n",
            "menu:/schema/4/switch  switch → case \"2\"\n",
            "play local:ivr/ivr-support-hours.wav\n",
            "hangup NORMAL_CLEARING\n",
            "/schema/1/if/then/2/schema  schema → hangup\n",
        ],
    );
    // Saturday: the weekend message.
    let weekend = run(&[
        "run",
        "examples/flows/business-hours.json",
        "--time",
        "2026-11-28T11:00:00+02:00",
    ]);
    assert_in_order(
        &weekend,
        &[
            "set office = \"weekend\"\n",
            "play local:office/closed-weekend.wav\n",
            "hangup NORMAL_CLEARING\n",
        ],
    );
    // Christmas Eve evening: the holiday range wins, and goto skips the hours check.
    let holiday = run(&[
        "run",
        "examples/flows/business-hours.json",
        "--time",
        "2026-12-24T19:30:00+02:00",
    ]);
    assert_in_order(
        &holiday,
        &[
            "/schema/0/if  if → then (expression true)\n",
            "set office = \"holiday\"\n",
            "goto → /schema/2/answer\n",
            "play local:office/closed-holiday.wav\n",
        ],
    );
}

#[test]
fn a_flow_that_does_not_load_exits_1_with_its_problems() {
    let dir = scratch_dir("run-bad");
    let file = dir.join("bad.json");
    std::fs::write(&file, "[{\"goto\": \"nowhere\"}]").unwrap();
    let out = rustflow(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout.starts_with(&format!("{}:1:", file.display())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("nowhere"), "{}", out.stdout);
    let out = rustflow(&[
        "run",
        "examples/flows/menu.json",
        "--http-fixtures",
        "no/such/fixtures.json",
    ]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr
            .starts_with("no/such/fixtures.json: cannot read:"),
        "{}",
        out.stderr
    );
    let out = rustflow(&["run", "examples/flows/menu.json", "--time", "yesterday"]);
    assert_eq!(out.status, 1);
    assert!(out.stderr.contains("--time"), "{}", out.stderr);
}

#[test]
fn corpus_call_001_walks_to_a_hangup_with_scripted_speech_and_http() {
    let Some(corpus) = corpus_dir() else {
        eprintln!("note: ../shared/corpus is absent; the corpus run is skipped");
        return;
    };
    let flow = corpus.join("webitel-call-001.json");
    let fixtures = fixtures_dir().join("webitel-call-001.http.json");
    let out = run(&[
        "run",
        flow.to_str().unwrap(),
        "--unknown-apps",
        "skip",
        "--http-fixtures",
        fixtures.to_str().unwrap(),
        "--speech",
        "Sí, soy yo",
        "--speech",
        "Sí, me interesa",
        "--speech",
        "Vale, firmo hoy",
        "--speech",
        "Gracias",
        "--var",
        "destination=+525512345678",
    ]);
    assert_in_order(
        &out,
        &[
            "/12/set  set\n",
            "answered\n",
            "and listen → heard \"Sí, soy yo\"\n",
            "http POST https://api.openai.com/v1/chat/completions body ",
            "set chatgpt = \"Yes, it's me\"\n",
            "switch → case \"Yes, it's me\"\n",
            "and listen → heard \"Sí, me interesa\"\n",
            // The same OpenAI URL answers in turn: the next classification.
            "set chatgpt = \"Positive intent|Interested\"\n",
            "set intent = \"Positive intent\"\n",
            "switch → case \"Positive intent\"\n",
            "and listen → heard \"Vale, firmo hoy\"\n",
            "set category = \"I will sign\"\n",
            "switch → case \"I will sign\"\n",
            "hangup NORMAL_CLEARING\n",
            // After the hangup the disconnected trigger reports to the CRM.
            "/0/trigger/disconnected/0/export  export\n",
            "http POST https://api.suite.mx/api/p/webitel_call_center body ",
            "→ 200\n",
            "end: the flow hung up with NORMAL_CLEARING after ",
        ],
    );
    // Applications the engine does not run are named up front, each with its pointer.
    for note in out.lines().filter(|line| line.starts_with("note: ")) {
        assert!(
            rustflow_engine::schema::not_run_apps()
                .iter()
                .any(|app| note.contains(&format!("/{app}: unknown application `{app}`"))),
            "{note}"
        );
    }
    // Every step printed: one step line per step the engine counted.
    let report: Value = serde_json::from_str(&run(&[
        "run",
        flow.to_str().unwrap(),
        "--unknown-apps",
        "skip",
        "--http-fixtures",
        fixtures.to_str().unwrap(),
        "--speech",
        "Sí, soy yo",
        "--json",
    ]))
    .unwrap();
    let steps = report["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "step")
        .count();
    assert_eq!(steps as u64, report["steps"].as_u64().unwrap());
    assert_eq!(report["hangup"]["by"], "flow");
}

#[test]
fn a_script_file_and_hostile_values() {
    let dir = scratch_dir("run-script");
    let script = dir.join("caller.json");
    let hostile = "${system ls}|{origination_caller_id_number=1}user/1000,1001:_:x^^:a";
    std::fs::write(
        &script,
        serde_json::json!({ "dtmf": ["2"], "vars": { "caller_id_number": hostile } }).to_string(),
    )
    .unwrap();
    let out = run(&[
        "run",
        "examples/flows/menu.json",
        "--script",
        script.to_str().unwrap(),
    ]);
    // The value reaches the log as data: not expanded, not split.
    assert_in_order(
        &out,
        &[
            "switch → case \"2\"\n",
            &format!("log: caller {hostile} chose support hours\n"),
        ],
    );
    std::fs::write(&script, r#"{"dtmf": ["2"], "colour": "blue"}"#).unwrap();
    let out = rustflow(&[
        "run",
        "examples/flows/menu.json",
        "--script",
        script.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 1);
    assert!(
        out.stderr.contains("unknown script key `colour`"),
        "{}",
        out.stderr
    );
}

#[test]
fn support_line_fails_over_to_the_gateway_and_runs_bridged() {
    let out = run(&[
        "run",
        "examples/flows/support-line.json",
        "--bridge",
        "user/1001=busy",
        "--bridge",
        "user/1002=no_answer",
        "--bridge",
        "gateway/pstn/+380501234567=answered",
    ]);
    assert_in_order(
        &out,
        &[
            "/schema/4/bridge  bridge → answered\n",
            "bridge user/1001=busy | user/1002=no_answer | gateway/pstn/+380501234567=answered -> answered\n",
            "set rustflow_bridge_result = \"answered\"\n",
            "/schema/4/bridge/bridged/0/log  log\n",
            "switch → case \"answered\"\n",
            "hangup NORMAL_CLEARING\n",
        ],
    );
    // nobody answers: no bridged actions, the caller goes to voicemail
    let out = run(&[
        "run",
        "examples/flows/support-line.json",
        "--flows",
        "examples/flows",
        "--bridge",
        "no_answer",
    ]);
    assert!(!out.contains("bridge/bridged/"), "{out}");
    assert_in_order(
        &out,
        &[
            "bridge user/1001=no_answer | user/1002=no_answer | gateway/pstn/+380501234567=no_answer -> no_answer\n",
            "play local:ivr/ivr-no_one_available.wav\n",
            "record session stop",
            "record recordings/vm_support_1000_",
        ],
    );
}

#[test]
fn voicemail_records_and_links_the_recording() {
    let out = run(&["run", "examples/flows/voicemail.json"]);
    assert_in_order(
        &out,
        &[
            "play local:voicemail/vm-leave_message.wav, tone:%(500,0,1000)\n",
            "flush DTMF\n",
            "record recordings/vm_support_1000_",
            "set rustflow_record_file = \"recordings/vm_support_1000_",
            "set vm_link = \"https://files.example.test/recordings/vm_support_1000_",
            "hangup NORMAL_CLEARING\n",
            "trigger/disconnected/0/httpRequest",
        ],
    );
}

/// The queue flow on the real contact-centre core: three callers wait ahead, the first
/// agent offered rings out (missed), the caller climbs the line, is bridged, and
/// `lastBridged` finds the agent afterwards.
#[test]
fn a_queue_flow_runs_on_the_contact_centre_core() {
    let out = run(&[
        "run",
        "examples/flows/queue.json",
        "--cc",
        "examples/cc/run.json",
        "--time",
        "2026-12-03T10:00:00Z",
    ]);
    assert_in_order(
        &out,
        &[
            "set sales_online = \"4\"",
            "queue join queue Sales",
            "set position = \"4\"",
            "20.000s  /schema/3/joinQueue/timers/0/actions/0/ccPosition",
            "set position = \"2\"",
            "set wait = \"unknown\"",
            "queue offer agent olena (Olena Kovalenko)",
            "set cc_agent_extension = \"1001\"",
            "queue agent olena missed: no_answer",
            "set position = \"1\"",
            "queue agent remote-1 answers",
            "queue leave: success",
            "set cc_result = \"success\"",
            "set last_agent = \"remote-1\"",
        ],
    );
}

/// A caller who hangs up while waiting leaves as `abandoned` and no agent is offered.
#[test]
fn a_caller_who_hangs_up_while_waiting_is_abandoned() {
    let out = run(&[
        "run",
        "examples/flows/queue.json",
        "--cc",
        "examples/cc/run.json",
        "--time",
        "2026-12-03T10:00:00Z",
        "--hangup-after",
        "15s",
    ]);
    assert_in_order(
        &out,
        &[
            "queue join queue Sales",
            "caller hangs up",
            "queue leave: abandoned",
        ],
    );
    assert!(!out.contains("queue offer"), "{out}");
}

/// Outside the calendar's hours the join is refused and the flow goes on.
#[test]
fn a_closed_queue_refuses_the_join_with_cc_result_closed() {
    let dir = scratch_dir("cc-closed");
    let path = dir.join("run.json");
    let setup = std::fs::canonicalize(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/cc/setup.json"
    ))
    .unwrap();
    std::fs::write(
        &path,
        format!(r#"{{"setup": {:?}}}"#, setup.to_str().unwrap()),
    )
    .unwrap();
    let out = run(&[
        "run",
        "examples/flows/queue.json",
        "--cc",
        path.to_str().unwrap(),
        "--time",
        "2026-12-25T10:00:00Z",
    ]);
    assert_in_order(
        &out,
        &[
            "queue join queue Sales refused: closed (calendar `office` is closed for Christmas)",
            "set cc_result = \"closed\"",
            "Sorry, nobody could take your call.",
        ],
    );
}

#[test]
fn a_bad_setup_file_names_the_field() {
    let dir = scratch_dir("cc-bad-setup");
    let path = dir.join("run.json");
    std::fs::write(
        &path,
        r#"{"setup": {"queues": [{"id": "q", "strategy": "fifo"}]}}"#,
    )
    .unwrap();
    let out = rustflow(&[
        "run",
        "examples/flows/queue.json",
        "--cc",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status, 1);
    assert!(
        out.stdout
            .contains("setup: queues[0].strategy: unknown variant `fifo`"),
        "{}",
        out.stdout
    );
}

/// `rustflow run` of examples/flows/callback.json on examples/cc/callback-run.json: the
/// caller presses 1 for a callback.
const CALLBACK_RUN: [&str; 12] = [
    "run",
    "examples/flows/callback.json",
    "--cc",
    "examples/cc/callback-run.json",
    "--time",
    "2026-12-03T10:00:00Z",
    "--dtmf",
    "1",
    "--var",
    "caller_id_number=+380441234567",
    "--var",
    "caller_id_name=Petro",
];

/// The caller asks for a callback and hangs up; the dialer calls the member back once an
/// agent frees up after the callers waiting in `sales`, bridges them, and the member is
/// finished as `success` (the whole transcript: the call, then the dialer).
#[test]
fn a_callback_request_is_called_back_when_an_agent_frees_up() {
    let out = run(&CALLBACK_RUN);
    assert_eq!(
        out,
        r#"run callback (examples/flows/callback.json, version 67da5851d13cf6af)
   0.000s  start: set rustflow_flow_id = "callback", rustflow_flow_version = "67da5851d13cf6af"
   0.000s  /schema/0/answer  answer
            answered
   0.000s  /schema/1/playback  playback
            play tts:All agents are busy. Press 1 and we call you back within the hour. → digits "1"
            set wants_callback = "1"
   4.260s  /schema/2/if  if → else (expression false)
   4.260s  /schema/3/set  set
            set pending = ""
   4.260s  /schema/4/memberInfo  memberInfo → no member in queue(s) callbacks matches
            queue member info: no member matches
            warning: flow callback: /schema/4/memberInfo: memberInfo: no member in queue(s) callbacks matches
            set rustflow_error = "memberInfo: no member in queue(s) callbacks matches"
   4.260s  /schema/5/if  if → else (expression false)
   4.260s  /schema/5/if/else/0/callbackQueue  callbackQueue
            queue member 1 created in queue callbacks: +380441234567 ready in 120s
   4.260s  /schema/6/playback  playback
            play tts:Thank you, we will call you back.
   6.240s  /schema/7/hangup  hangup
            hangup NORMAL_CLEARING
          (after the last step)
   6.240s    set rustflow_steps = "9"
prompts played (2): tts:All agents are busy. Press 1 and we call you back within the hour., tts:Thank you, we will call you back.
last error: memberInfo: no member in queue(s) callbacks matches
end: the flow hung up with NORMAL_CLEARING after 9 steps, 6.240s into the call
dialer +6.24s caller waiting-1 (queue sales): agent anna rung
dialer +6.24s caller waiting-2 (queue sales): agent taras rung
dialer +8.24s caller waiting-1 (queue sales): agent anna answers: bridged
dialer +9.24s caller waiting-2 (queue sales): agent taras answers: bridged
dialer +99.24s caller waiting-2 (queue sales): talked to agent taras: leave success
dialer +109.24s caller waiting-3 (queue sales): agent taras rung
dialer +112.24s caller waiting-3 (queue sales): agent taras answers: bridged
dialer +202.24s caller waiting-3 (queue sales): talked to agent taras: leave success
dialer +212.24s attempt 4 member 1 (+380441234567): start in queue callbacks (attempt 1 of the member)
dialer +212.24s attempt 4 member 1 (+380441234567): waits for an agent
dialer +212.24s attempt 4 member 1 (+380441234567): agent taras rung
dialer +215.24s attempt 4 member 1 (+380441234567): agent taras answers
dialer +215.24s attempt 4 member 1 (+380441234567): dial (caller id "Support callback")
dialer +221.24s attempt 4 member 1 (+380441234567): answered: bridged to agent taras
dialer +308.24s caller waiting-1 (queue sales): talked to agent anna: leave success
dialer +341.24s attempt 4 member 1 (+380441234567): leave success
dialer +341.24s attempt 4 member 1 (+380441234567): member finished: success
"#
    );
}

/// A copy of examples/cc/callback-run.json changed by `change`, written to a scratch
/// directory, with the attempt flows `flows` (file stem → flow JSON) in its `flows`
/// directory; the setup's path and the flows directory.
fn callback_setup(
    name: &str,
    change: impl FnOnce(&mut Value),
    flows: &[(&str, &str)],
) -> (String, std::path::PathBuf) {
    let dir = scratch_dir(name);
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/cc/callback-run.json"
    ))
    .unwrap();
    let mut setup: Value = serde_json::from_str(&example).unwrap();
    change(&mut setup);
    let path = dir.join("run.json");
    std::fs::write(&path, setup.to_string()).unwrap();
    // The attempt flows (and the call's flow) in a directory of their own for `--flows`.
    let flows_dir = dir.join("flows");
    std::fs::create_dir_all(&flows_dir).unwrap();
    for (id, flow) in flows {
        std::fs::write(flows_dir.join(format!("{id}.json")), flow).unwrap();
    }
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/flows/callback.json"
        ),
        flows_dir.join("callback.json"),
    )
    .unwrap();
    (path.to_str().unwrap().to_string(), flows_dir)
}

/// The dialer's lines of a run (the transcript after the call).
fn dialer_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("dialer ")).collect()
}

fn run_callback(setup: &str, flows_dir: &std::path::Path) -> String {
    let flows = flows_dir.to_str().unwrap();
    let mut args: Vec<&str> = CALLBACK_RUN.to_vec();
    args[3] = setup;
    args.extend(["--flows", flows]);
    run(&args)
}

/// Busy on the first call: the member is retried after the queue's
/// `wait_between_retries_secs` (300 s), answers, and is finished.
#[test]
fn a_busy_member_is_retried_after_the_queues_wait() {
    let (setup, dir) = callback_setup(
        "dialer-busy",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["customers"]["+380441234567"]["answers"] = serde_json::json!(["busy", "yes"]);
        },
        &[],
    );
    let out = run_callback(&setup, &dir);
    assert_eq!(
        dialer_lines(&out),
        [
            "dialer +124.26s attempt 1 member 1 (+380441234567): start in queue callbacks (attempt 1 of the member)",
            "dialer +124.26s attempt 1 member 1 (+380441234567): waits for an agent",
            "dialer +124.26s attempt 1 member 1 (+380441234567): agent anna rung",
            "dialer +126.26s attempt 1 member 1 (+380441234567): agent anna answers",
            "dialer +126.26s attempt 1 member 1 (+380441234567): dial (caller id \"Support callback\")",
            "dialer +126.26s attempt 1 member 1 (+380441234567): busy (USER_BUSY)",
            "dialer +126.26s attempt 1 member 1 (+380441234567): leave busy",
            "dialer +126.26s attempt 1 member 1 (+380441234567): busy: retry at +426.26s",
            "dialer +426.26s attempt 2 member 1 (+380441234567): start in queue callbacks (attempt 2 of the member)",
            "dialer +426.26s attempt 2 member 1 (+380441234567): waits for an agent",
            "dialer +426.26s attempt 2 member 1 (+380441234567): agent taras rung",
            "dialer +429.26s attempt 2 member 1 (+380441234567): agent taras answers",
            "dialer +429.26s attempt 2 member 1 (+380441234567): dial (caller id \"Support callback\")",
            "dialer +435.26s attempt 2 member 1 (+380441234567): answered: bridged to agent taras",
            "dialer +555.26s attempt 2 member 1 (+380441234567): leave success",
            "dialer +555.26s attempt 2 member 1 (+380441234567): member finished: success",
        ]
    );
}

/// The after-attempt flow decides `abandoned` with `maxAttempts: 2`: a member who never
/// answers is dialled twice (not the queue's 3 times) and finished as `no_answer`.
#[test]
fn an_after_attempt_flow_limits_the_attempts() {
    let (setup, dir) = callback_setup(
        "dialer-after",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["customers"]["+380441234567"]["answers"] = serde_json::json!("no");
            s["setup"]["queues"][2]["after_attempt_flow"] = serde_json::json!("after");
        },
        &[(
            "after",
            r#"{"name": "after", "schema": [
                {"log": "attempt ${attempt_id} ended: ${cc_result} (${call_cause})"},
                {"abandoned": {"status": "no_answer", "maxAttempts": 2, "waitBetweenRetries": 60}}]}"#,
        )],
    );
    let out = run_callback(&setup, &dir);
    assert_in_order(
        &out,
        &[
            "dialer +126.26s attempt 1 member 1 (+380441234567): dial",
            "dialer +156.26s attempt 1 member 1 (+380441234567): no_answer (NO_ANSWER)",
            "dialer +156.26s attempt 1 member 1 (+380441234567): leave no_answer",
            "dialer +156.26s attempt 1 member 1 (+380441234567): after-attempt flow after: log: attempt 1 ended: no_answer (NO_ANSWER)",
            "dialer +156.26s attempt 1 member 1 (+380441234567): after-attempt flow after: decision: abandoned status=\"no_answer\" max_attempts=\"2\" wait=\"60s\"",
            "dialer +156.26s attempt 1 member 1 (+380441234567): no_answer: retry at +216.26s",
            "dialer +216.26s attempt 2 member 1 (+380441234567): start in queue callbacks (attempt 2 of the member)",
            "dialer +249.26s attempt 2 member 1 (+380441234567): leave no_answer",
            "dialer +249.26s attempt 2 member 1 (+380441234567): member finished: no_answer",
        ],
    );
    assert!(!out.contains("attempt 3 "), "{out}");
}

/// A pre-attempt flow cancelling with `stop`: the member is not dialled and is finished.
#[test]
fn a_pre_attempt_flow_cancels_the_call() {
    let (setup, dir) = callback_setup(
        "dialer-pre",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["setup"]["queues"][2]["pre_attempt_flow"] = serde_json::json!("pre");
        },
        &[(
            "pre",
            r#"{"name": "pre", "schema": [
                {"if": {"expression": "${ivr_choice} == '1'",
                        "then": [{"cancel": {"description": "asked by mistake", "stop": true}}]}},
                {"confirm": {}}]}"#,
        )],
    );
    let out = run_callback(&setup, &dir);
    assert_eq!(
        dialer_lines(&out),
        [
            "dialer +124.26s attempt 1 member 1 (+380441234567): start in queue callbacks (attempt 1 of the member)",
            "dialer +124.26s attempt 1 member 1 (+380441234567): pre-attempt flow pre: decision: cancel description=\"asked by mistake\" stop",
            "dialer +124.26s attempt 1 member 1 (+380441234567): member finished: cancel",
        ]
    );
}

/// A customers entry the dialer cannot read names its path.
#[test]
fn a_bad_customers_entry_names_its_path() {
    let (setup, _) = callback_setup(
        "dialer-bad-customer",
        |s| s["customers"]["+380441234567"]["answers"] = serde_json::json!(["busy", "maybe"]),
        &[],
    );
    let mut args: Vec<&str> = CALLBACK_RUN.to_vec();
    args[3] = &setup;
    let out = rustflow(&args);
    assert_eq!(out.status, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "run.json: customers.+380441234567.answers: `maybe` is not one of yes, no, busy, reject"
        ),
        "{}",
        out.stdout
    );
}

/// `--json` carries the dialer's lines.
#[test]
fn the_dialer_lines_are_in_the_json_output() {
    let mut args: Vec<&str> = CALLBACK_RUN.to_vec();
    args.push("--json");
    let out: Value = serde_json::from_str(&run(&args)).unwrap();
    let dialer = out["dialer"].as_array().unwrap();
    let last = dialer.last().unwrap();
    assert_eq!(last["member"], 1);
    assert_eq!(last["destination"], "+380441234567");
    assert_eq!(last["what"], "member finished: success");
    assert_eq!(last["at_ms"], 341_240);
    assert_eq!(dialer[0]["caller"], "waiting-1");
}

/// Predictive: the member answers, the only agent offered lets it ring past the 2 s after
/// the answer: the member hears the safe message and the attempt ends `abandoned`
/// (retried after the queue's wait).
#[test]
fn a_predictive_member_no_agent_takes_hears_the_safe_message() {
    let (setup, dir) = callback_setup(
        "dialer-predictive",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["agents"]["taras"]["answers"] = serde_json::json!("no");
            s["agents"]["anna"]["answers"] = serde_json::json!("no");
            let queue = &mut s["setup"]["queues"][2];
            queue["type"] = serde_json::json!("predictive");
            queue["safe_message"] = serde_json::json!("/sounds/sorry.wav");
            queue["max_attempts"] = serde_json::json!(1);
        },
        &[],
    );
    let out = run_callback(&setup, &dir);
    assert_eq!(
        dialer_lines(&out),
        [
            "dialer +124.26s attempt 1 member 1 (+380441234567): start in queue callbacks (attempt 1 of the member)",
            "dialer +124.26s attempt 1 member 1 (+380441234567): dial (caller id \"Support callback\")",
            "dialer +130.26s attempt 1 member 1 (+380441234567): answered",
            "dialer +130.26s attempt 1 member 1 (+380441234567): agent anna rung",
            "dialer +150.26s attempt 1 member 1 (+380441234567): agent anna missed: no_answer",
            "dialer +150.26s attempt 1 member 1 (+380441234567): no agent within 2 s: safe message /sounds/sorry.wav",
            "dialer +150.26s attempt 1 member 1 (+380441234567): leave abandoned",
            "dialer +150.26s attempt 1 member 1 (+380441234567): member finished: abandoned",
        ]
    );
}

/// The dialer stops at its horizon: a member whose next attempt is later is reported as
/// waiting, with that time.
#[test]
fn the_dialer_stops_at_its_horizon() {
    let (setup, dir) = callback_setup(
        "dialer-horizon",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["customers"]["+380441234567"]["answers"] = serde_json::json!("busy");
            s["dialer"]["horizon_secs"] = serde_json::json!(200);
        },
        &[],
    );
    let out = run_callback(&setup, &dir);
    let lines = dialer_lines(&out);
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "dialer +126.26s attempt 1 member 1 (+380441234567): busy: retry at +426.26s",
            "dialer +206.24s member 1 (+380441234567): still waiting at the horizon: next attempt at +426.26s",
        ]
    );
}

/// A callback queue with wrap-up and no after-attempt flow: the member's outcome is the
/// agent's wrap-up result; none comes, so the store writes the default (`success`) once the
/// wrap-up and 30 s are over.
#[test]
fn a_conversation_with_wrap_up_waits_for_the_agents_result() {
    let (setup, dir) = callback_setup(
        "dialer-wrap-up",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["setup"]["queues"][2]["wrap_up_secs"] = serde_json::json!(20);
        },
        &[],
    );
    let out = run_callback(&setup, &dir);
    let lines = dialer_lines(&out);
    assert_eq!(
        lines[lines.len() - 4..],
        [
            "dialer +252.26s attempt 1 member 1 (+380441234567): leave success",
            "dialer +252.26s attempt 1 member 1 (+380441234567): waits for the agent's wrap-up result",
            "dialer +302.26s attempt 1 member 1 (+380441234567): the store writes the default outcome (no wrap-up result)",
            "dialer +302.26s attempt 1 member 1 (+380441234567): member finished: success",
        ]
    );
}

/// Without outbound queues there is no dialer: nothing after the call's end line, none in
/// the JSON.
#[test]
fn no_outbound_queue_no_dialer_lines() {
    let args = [
        "run",
        "examples/flows/queue.json",
        "--cc",
        "examples/cc/run.json",
        "--time",
        "2026-12-03T10:00:00Z",
    ];
    let out = run(&args);
    assert!(
        out.trim_end().lines().last().unwrap().starts_with("end: "),
        "{out}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json: Value = serde_json::from_str(&run(&json_args)).unwrap();
    assert_eq!(json["dialer"], serde_json::json!([]));
}

/// Without `--flows`, the queues' attempt flows come from the flow file's directory.
#[test]
fn attempt_flows_load_from_the_flow_files_directory() {
    let (setup, dir) = callback_setup(
        "dialer-flow-dir",
        |s| {
            s["waiting"] = serde_json::json!([]);
            s["setup"]["queues"][2]["after_attempt_flow"] = serde_json::json!("after");
        },
        &[("after", r#"{"name": "after", "schema": [{"success": {}}]}"#)],
    );
    let flow = dir.join("callback.json");
    let mut args: Vec<&str> = CALLBACK_RUN.to_vec();
    args[1] = flow.to_str().unwrap();
    args[3] = &setup;
    let out = run(&args);
    assert_in_order(
        &out,
        &[
            "dialer +252.26s attempt 1 member 1 (+380441234567): leave success",
            "dialer +252.26s attempt 1 member 1 (+380441234567): after-attempt flow after: decision: success",
            "dialer +252.26s attempt 1 member 1 (+380441234567): member finished: success",
        ],
    );
}
