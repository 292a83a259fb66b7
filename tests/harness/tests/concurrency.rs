//! Calls in flight keep the compiled flow they started with while `rustflow reload` swaps
//! the flow set underneath them.
//!
//! 200 caller threads exist from the start; they run in 50 waves of 4. Wave n starts right
//! after reload n and its calls are held inside their first playback (a fake-core "play
//! gate") until reload n + 1 has swapped in the other version, so every call provably spans
//! a reload, and the version each call must report is known exactly: no timing assumptions.

use rustflow_harness::*;
use serde_json::json;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const RELOADS: usize = 50;
const CALLS_PER_WAVE: usize = 4;
const CALLS: usize = RELOADS * CALLS_PER_WAVE;

/// A flow that marks the start and the end of the call with its version letter, with two
/// playbacks in between (the first one is where the call is held).
fn flow(marker: &str) -> String {
    let freq = if marker == "A" { 350 } else { 480 };
    format!(
        r#"[{{"set": {{"marker_start": "{marker}"}}}},
            {{"answer": ""}},
            {{"playback": {{"files": [{{"type": "tone", "name": "%(20,0,440)"}}, {{"type": "tone", "name": "%(20,0,{freq})"}}]}}}},
            {{"set": {{"marker_end": "{marker}"}}}},
            {{"hangup": "NORMAL_CLEARING"}}]"#
    )
}

fn marker_of_wave(wave: usize) -> &'static str {
    if wave % 2 == 0 { "A" } else { "B" }
}

fn gate(wave: usize) -> String {
    format!("wave-{wave}")
}

fn version_of(h: &Harness, id: &str) -> String {
    let shown = h.api(&format!("show {id} json")).json();
    shown["version"]
        .as_str()
        .unwrap_or_else(|| panic!("no version in {shown}"))
        .to_string()
}

/// Waits (bounded) until `n` playbacks are held at `gate`.
fn wait_until_held(gate: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while FakeCore::gate_waiting(gate) < n {
        assert!(
            Instant::now() < deadline,
            "calls never reached playback at {gate}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn two_hundred_calls_during_fifty_reloads_each_keep_their_version() {
    let mut h = Harness::new();
    h.write_flow("main", &flow("B"));
    h.load();
    let version_b = version_of(&h, "main");

    // Wave n may start once `started` reaches n + 1.
    let started = Arc::new((Mutex::new(0usize), Condvar::new()));
    let callers: Vec<_> = (0..CALLS)
        .map(|i| {
            let started = Arc::clone(&started);
            std::thread::spawn(move || {
                let wave = i / CALLS_PER_WAVE;
                let (count, go) = &*started;
                let mut count = count.lock().unwrap();
                while *count <= wave {
                    count = go.wait(count).unwrap();
                }
                drop(count);
                let session = Session::new(json!({"script": {"play_gate": gate(wave)}}));
                session.exec("rustflow", "main");
                (wave, session.info())
            })
        })
        .collect();

    let mut version_a = String::new();
    for wave in 0..RELOADS {
        let marker = marker_of_wave(wave);
        std::fs::write(h.flows_dir().join("main.json"), flow(marker)).unwrap();
        let out = h.api("reload");
        assert!(
            out.output.starts_with("+OK reloaded 1 flow"),
            "reload {wave} failed: {}",
            out.output
        );
        if wave == 0 {
            version_a = version_of(&h, "main");
        }
        // The previous wave is held mid-call across this reload; now let it finish.
        if wave > 0 {
            FakeCore::open_gate(&gate(wave - 1));
        }
        let (count, go) = &*started;
        *count.lock().unwrap() = wave + 1;
        go.notify_all();
        wait_until_held(&gate(wave), CALLS_PER_WAVE);
    }
    // One more swap under the last wave, then release it.
    std::fs::write(h.flows_dir().join("main.json"), flow("B")).unwrap();
    assert!(h.api_ok("reload").starts_with("+OK reloaded 1 flow"));
    FakeCore::open_gate(&gate(RELOADS - 1));
    assert_ne!(
        version_a, version_b,
        "different content must give a different version"
    );

    let mut calls = 0;
    for caller in callers {
        let (wave, call) = caller.join().expect("a caller thread panicked");
        let marker = marker_of_wave(wave);
        let expected_version = if marker == "A" {
            &version_a
        } else {
            &version_b
        };
        let uuid = &call.uuid;
        assert_eq!(
            call.var("rustflow_flow_version"),
            Some(expected_version.as_str()),
            "call {uuid} of wave {wave} does not report the version it started with"
        );
        assert_eq!(
            call.var("marker_start"),
            Some(marker),
            "call {uuid} of wave {wave}"
        );
        assert_eq!(
            call.var("marker_end"),
            Some(marker),
            "call {uuid} of wave {wave} switched flows mid-call"
        );
        assert_eq!(call.var("rustflow_error"), None, "{uuid}");
        assert_eq!(call.var("rustflow_steps"), Some("5"), "{uuid}");
        assert_eq!(
            call.hangup_cause,
            Some(CAUSE_NORMAL_CLEARING),
            "call {uuid} did not complete"
        );
        let plays: Vec<_> = call
            .record
            .iter()
            .filter(|e| e["fn"] == "switch_ivr_play_file")
            .collect();
        assert_eq!(plays.len(), 2, "{uuid}");
        let freq = if marker == "A" { "350" } else { "480" };
        assert_eq!(
            plays[1]["file"],
            format!("tone_stream://%(20,0,{freq})"),
            "{uuid}"
        );
        calls += 1;
    }
    assert_eq!(calls, CALLS);

    // Nothing is left running, every call was counted, and the module still answers.
    let stats = h.api("stats json").json();
    assert_eq!(stats["calls_running"], 0, "{stats}");
    assert_eq!(stats["calls_total"], CALLS, "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");
    assert_eq!(stats["reloads_ok"], RELOADS + 2, "{stats}");
    let last = h.run_flow("main");
    assert_eq!(
        last.var("marker_end"),
        Some("B"),
        "the last reload (B) serves new calls"
    );
}

#[test]
fn two_hundred_simultaneous_calls_under_back_to_back_reloads_stay_consistent() {
    // Free-running stress: all calls at once, reloads as fast as they go. Which version a
    // call gets is up to the scheduler; that it keeps it, completes and nothing crashes is not.
    let mut h = Harness::new();
    h.write_flow("main", &flow("B"));
    h.load();
    let version_b = version_of(&h, "main");
    h.write_flow("main", &flow("A"));
    h.api_ok("reload");
    let version_a = version_of(&h, "main");

    let start = Arc::new(std::sync::Barrier::new(CALLS + 1));
    let callers: Vec<_> = (0..CALLS)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let session = Session::new(json!({"script": {"play_ms": 2}}));
                session.exec("rustflow", "main");
                session.info()
            })
        })
        .collect();
    start.wait();
    for n in 0..RELOADS {
        let marker = if n % 2 == 0 { "B" } else { "A" };
        std::fs::write(h.flows_dir().join("main.json"), flow(marker)).unwrap();
        let out = h.api("reload");
        assert!(
            out.output.starts_with("+OK reloaded 1 flow"),
            "reload {n} failed: {}",
            out.output
        );
    }
    for caller in callers {
        let call = caller.join().expect("a caller thread panicked");
        let uuid = &call.uuid;
        let version = call.var("rustflow_flow_version");
        let marker = if version == Some(version_a.as_str()) {
            "A"
        } else if version == Some(version_b.as_str()) {
            "B"
        } else {
            panic!("call {uuid} ran an unknown version {version:?}")
        };
        assert_eq!(call.var("marker_start"), Some(marker), "{uuid}");
        assert_eq!(
            call.var("marker_end"),
            Some(marker),
            "call {uuid} switched flows mid-call"
        );
        assert_eq!(
            call.hangup_cause,
            Some(CAUSE_NORMAL_CLEARING),
            "call {uuid} did not complete"
        );
    }
    let stats = h.api("stats json").json();
    assert_eq!(stats["calls_running"], 0, "{stats}");
    assert_eq!(stats["calls_total"], CALLS, "{stats}");
}
