//! Hostile values are data (docs/semantics.md, "Arguments"): whatever a caller or a web service puts into a variable
//! reaches the host byte-for-byte through every kind of field, and is never re-expanded, split
//! or evaluated. The module's side of the same promise is proven in
//! `tests/harness/tests/hostile.rs` against the fake switch core.

use rustflow_engine::sim::{Event, HttpFixture, Script, simulate};
use rustflow_engine::{CompileOptions, FlowSet, compile_source};
use serde_json::json;

const HOSTILE: &[&str] = &[
    "${system ls}",
    "$${hostname}",
    "${api args}",
    "{origination_caller_id_number=1}user/1000",
    "1000,1001",
    "a|b",
    "x:_:y",
    "^^:a:b",
    "it's \"quoted\" `back`",
    "line one\nline two\r\n",
    "nul\0byte",
    "\u{2028}\"); throw 1; (\"",
    "$1 $0 &wday() &hour(1-2)",
    "%s%n%x",
];

/// One flow that moves `${h}` through every kind of field the engine expands.
fn flow_text() -> String {
    json!([
        {"set": {"copy": "${h}", "framed": "<${h}>", "from_arg": "$1", "json_pick": "${doc.v}"}},
        {"log": "value=${h}"},
        {"export": ["h"]},
        {"setAll": {"exported": "${h}"}},
        {"playback": {"files": [{"type": "local", "name": "/prompts/${h}.wav"}]}},
        {"httpRequest": {"url": "https://api.example.test/echo", "method": "POST",
                          "headers": {"X-Value": "${h}"}, "data": "${h}"}},
        {"js": {"data": "return ${h};", "setVar": "from_js"}},
        {"string": {"fn": "reverse", "data": "${h}", "setVar": "reversed"}},
        {"if": {"expression": "${h} == $1", "then": [{"set": {"if_branch": "then"}}],
                "else": [{"set": {"if_branch": "else"}}]}},
        {"switch": {"variable": "${h}", "case": {"default": [{"set": {"switch_branch": "default"}}]}}},
        {"hangup": ""}
    ])
    .to_string()
}

fn script_for(value: &str) -> Script {
    let mut script = Script::default();
    script.vars.insert("h".into(), value.into());
    script
        .vars
        .insert("doc".into(), json!({ "v": value }).to_string());
    script.args = vec![value.to_string()];
    script.http.push(HttpFixture {
        url: "https://api.example.test/echo".into(),
        method: Some("POST".into()),
        status: 200,
        headers: Vec::new(),
        body: "{}".into(),
        delay_ms: 0,
    });
    script
}

#[test]
fn hostile_values_reach_the_host_as_data_through_every_kind_of_field() {
    let flow = compile_source(
        "hostile",
        "hostile.json",
        &flow_text(),
        &CompileOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d:?}"));
    for value in HOSTILE {
        let (outcome, host) = simulate(&flow, &FlowSet::empty(), script_for(value));
        assert_eq!(
            outcome.error,
            None,
            "value {value:?}: {}",
            host.transcript_text()
        );

        let vars = host.vars();
        let var = |name: &str| vars.get(name).map(String::as_str);
        assert_eq!(var("copy"), Some(*value), "set");
        assert_eq!(
            var("framed"),
            Some(format!("<{value}>").as_str()),
            "set with text around"
        );
        assert_eq!(var("from_arg"), Some(*value), "$1");
        assert_eq!(var("json_pick"), Some(*value), "${{doc.v}} JSON path");
        assert_eq!(
            var("from_js"),
            Some(*value),
            "js sees the value as a string"
        );
        let reversed: String = value.chars().rev().collect();
        assert_eq!(var("reversed"), Some(reversed.as_str()), "string app");
        assert_eq!(
            var("if_branch"),
            Some("then"),
            "expression compares values, never code"
        );
        assert_eq!(var("switch_branch"), Some("default"), "switch on the value");

        let events: Vec<&Event> = host.transcript().iter().map(|e| &e.event).collect();
        let expected_log = format!("value={value}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Log { message, .. } if *message == expected_log)),
            "log text for {value:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ExportVar { name, value: v, .. }
                if name == "exported" && v == value)),
            "setAll for {value:?}"
        );
        let expected_file = format!("local:/prompts/{value}.wav");
        assert!(
            events.iter().any(
                |e| matches!(e, Event::Play { files, .. } if *files == [expected_file.clone()])
            ),
            "one file, the value inside its name, for {value:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Http { body: Some(b), .. } if b == value)),
            "http body for {value:?}"
        );
    }
}
