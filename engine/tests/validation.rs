//! Every load-time rejection of docs/semantics.md, "Loading and validation", with the message a person sees.

use rustflow_engine::{CompileOptions, Diagnostic, UnknownApps, compile_source};

fn errors(text: &str) -> Vec<Diagnostic> {
    match compile_source("t", "t.json", text, &CompileOptions::default()) {
        Ok(_) => panic!("expected the flow to be rejected:\n{text}"),
        Err(diags) => diags,
    }
}

/// The only diagnostic of `text`, displayed.
fn error(text: &str) -> String {
    let diags = errors(text);
    assert_eq!(diags.len(), 1, "expected one error, got {diags:#?}");
    diags[0].to_string()
}

fn compiles(text: &str) {
    if let Err(diags) = compile_source("t", "t.json", text, &CompileOptions::default()) {
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        panic!(
            "expected the flow to compile:\n{text}\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn malformed_json_names_line_and_column() {
    assert_eq!(
        error("[\n  {\"answer\": \"\"},\n  {\"log\" \"x\"}\n]"),
        "t.json:3:10: /: malformed JSON: expected `:` after object key, found `\"`"
    );
    assert_eq!(
        error("[{\"log\": \"x\"},]"),
        "t.json:1:15: /: malformed JSON: expected a value, found `]`"
    );
    assert_eq!(
        error(""),
        "t.json:1:1: /: malformed JSON: unexpected end of input, expected a value"
    );
}

#[test]
fn duplicate_keys_are_reported() {
    assert_eq!(
        error("[{\"set\": {\"a\": 1, \"a\": 2}}]"),
        "t.json:1:19: /0/set/a: duplicate key (first at 1:11); JSON keeps only one of them"
    );
}

#[test]
fn wrong_document_shapes() {
    assert_eq!(
        error("\"x\""),
        "t.json:1:1: /: a flow is an array of applications or an object with `schema`, found a string"
    );
    assert_eq!(
        error("{\"name\": \"n\"}"),
        "t.json:1:1: /: a flow object needs a `schema` (or `scheme`) array of applications"
    );
    compiles("{\"name\": \"n\", \"scheme\": [{\"answer\": \"\"}]}");
    assert_eq!(
        error("{\"schema\": [], \"timezone\": \"Mars/Base\"}"),
        "t.json:1:28: /timezone: unknown time zone `Mars/Base` (expected an IANA name such as `Europe/Kyiv`)"
    );
    assert_eq!(
        error("[1]"),
        "t.json:1:2: /0: expected an application object, found a number"
    );
}

#[test]
fn object_must_name_exactly_one_application() {
    assert_eq!(
        error("[{\"tag\": \"x\"}]"),
        "t.json:1:2: /0: the object names no application (only reserved keys: tag, break, limit, async, trace, _id)"
    );
    assert_eq!(
        error("[{\"answer\": \"\", \"hangup\": \"\"}]"),
        "t.json:1:17: /0: the object names more than one application (`answer`, `hangup`); write one application per object"
    );
    compiles("[{\"break\": true}]");
    compiles(
        "[{\"answer\": \"\", \"_id\": \"x\", \"async\": false, \"trace\": {\"name\": \"a\"}}]",
    );
}

#[test]
fn unknown_applications() {
    assert_eq!(
        error("[{\"dance\": \"\"}]"),
        "t.json:1:12: /0/dance: unknown application `dance`"
    );
    assert_eq!(
        error("[{\"Answer\": \"\"}]"),
        "t.json:1:13: /0/Answer: unknown application `Answer` (names are case-sensitive: did you mean `answer`?)"
    );
    assert_eq!(
        error("[{\"ccOutbound\": {}}]"),
        "t.json:1:17: /0/ccOutbound: application `ccOutbound` is not supported by rustflow yet"
    );
    assert_eq!(
        error("[{\"calendar\": {\"setVar\": \"x\"}}]"),
        "t.json:1:15: /0/calendar: `calendar` is missing the required field `id` or `name`"
    );
    #[cfg(not(feature = "test-hooks"))]
    assert_eq!(
        error("[{\"_testPanic\": \"\"}]"),
        "t.json:1:17: /0/_testPanic: unknown application `_testPanic`"
    );
}

#[test]
fn unknown_applications_can_be_skipped() {
    let opts = CompileOptions {
        unknown_apps: UnknownApps::Skip,
        ..CompileOptions::default()
    };
    let flow = compile_source(
        "t",
        "t.json",
        "[{\"dance\": \"\"}, {\"if\": {\"expression\": \"true\", \"then\": [{\"ccOutbound\": {}}]}}]",
        &opts,
    )
    .unwrap();
    let skipped: Vec<(String, String)> = flow
        .summary()
        .skipped
        .into_iter()
        .map(|s| (s.app, s.pointer))
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("dance".to_string(), "/0/dance".to_string()),
            (
                "ccOutbound".to_string(),
                "/1/if/then/0/ccOutbound".to_string()
            )
        ]
    );
}

#[test]
fn wrong_argument_types() {
    assert_eq!(
        error("[{\"set\": \"x\"}]"),
        "t.json:1:10: /0/set: `set` expects an object, found a string"
    );
    assert_eq!(
        error("[{\"sleep\": \"soon\"}]"),
        "t.json:1:12: /0/sleep: `sleep` must be a number, found `soon`"
    );
    assert_eq!(
        error("[{\"sleep\": -5}]"),
        "t.json:1:12: /0/sleep: `sleep` must be a non-negative number, found `-5`"
    );
    assert_eq!(
        error("[{\"goto\": 5}]"),
        "t.json:1:11: /0/goto: `goto` expects a tag name (string), found a number"
    );
    assert_eq!(
        error("[{\"answer\": \"\", \"tag\": 5}]"),
        "t.json:1:24: /0/tag: `tag` must be a non-empty string, found a number"
    );
    assert_eq!(
        error(
            "[{\"playback\": {\"files\": [{\"type\": \"tone\", \"name\": \"%(1,0,1)\"}], \"getDigits\": {\"max\": \"many\"}}}]"
        ),
        "t.json:1:86: /0/playback/getDigits/max: `max` must be a number, found `many`"
    );
    assert_eq!(
        error("[{\"answer\": \"\", \"break\": \"maybe\"}]"),
        "t.json:1:26: /0/break: expected a boolean, found the string `maybe`"
    );
    assert_eq!(
        error("[{\"if\": {\"expression\": \"true\", \"then\": {}}}]"),
        "t.json:1:40: /0/if/then: expected an array of applications, found an object"
    );
    assert_eq!(
        error("[{\"playback\": {\"files\": [{\"type\": \"mp5\", \"name\": \"a\"}]}}]"),
        "t.json:1:26: /0/playback/files/0: unknown file type `mp5` (expected tone, silence, local, http_audio, tts, or no type with `name`/`id`)"
    );
}

#[test]
fn weak_typing_and_case_insensitive_keys_are_accepted() {
    compiles("[{\"sleep\": \"5\"}, {\"softSleep\": 2.5}, {\"sleep\": \"${delay}\"}]");
    compiles(
        "[{\"playback\": {\"FILES\": [{\"Type\": \"tone\", \"NAME\": \"%(1,0,1)\"}], \"getdigits\": {\"MIN\": \"1\", \"Max\": 2, \"flushdtmf\": \"true\", \"Timeout\": \"\"}}}]",
    );
    compiles("[{\"while\": {\"condition\": \"false\", \"do\": [], \"maxSteps\": 5}}]");
    compiles("[{\"answer\": \"\", \"break\": \"false\"}]");
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        error("[{\"playback\": {}}]"),
        "t.json:1:15: /0/playback: `playback` is missing the required field `files`"
    );
    assert_eq!(
        error("[{\"if\": {\"then\": []}}]"),
        "t.json:1:9: /0/if: `if` is missing the required field `expression`"
    );
    assert_eq!(
        error("[{\"switch\": {\"variable\": \"x\"}}]"),
        "t.json:1:13: /0/switch: `switch` is missing the required field `case`"
    );
    assert_eq!(
        error("[{\"httpRequest\": {\"method\": \"GET\"}}]"),
        "t.json:1:18: /0/httpRequest: `httpRequest` is missing the required field `url`"
    );
    assert_eq!(
        error("[{\"js\": {\"data\": \"return 1\"}}]"),
        "t.json:1:9: /0/js: `js` is missing the required field `setVar`"
    );
    assert_eq!(
        error("[{\"set\": {}}]"),
        "t.json:1:10: /0/set: `set` needs at least one variable"
    );
    assert_eq!(
        error("[{\"playback\": {\"files\": [{\"type\": \"tone\"}]}}]"),
        "t.json:1:26: /0/playback/files/0: a `tone` file needs `name`"
    );
}

#[test]
fn duplicate_tags() {
    assert_eq!(
        error(
            "[{\"answer\": \"\", \"tag\": \"a\"}, {\"if\": {\"expression\": \"true\", \"then\": [{\"log\": \"x\", \"tag\": \"a\"}]}}]"
        ),
        "t.json:1:89: /1/if/then/0/tag: duplicate tag `a` in main (first at /0/tag)"
    );
    // Tags are per flow object: the same tag in a function is another tag.
    compiles(
        "[{\"log\": \"x\", \"tag\": \"a\"}, {\"function\": {\"name\": \"f\", \"actions\": [{\"log\": \"y\", \"tag\": \"a\"}]}}]",
    );
}

#[test]
fn goto_and_failover_to_missing_tags() {
    assert_eq!(
        error("[{\"goto\": \"nowhere\"}]"),
        "t.json:1:11: /0/goto: `goto` to tag `nowhere`, which does not exist in main (tags are per flow object)"
    );
    assert_eq!(
        error("[{\"log\": \"x\", \"limit\": {\"max\": 2, \"failover\": \"gone\"}}]"),
        "t.json:1:47: /0/limit/failover: `limit.failover` to tag `gone`, which does not exist in main (tags are per flow object)"
    );
    assert_eq!(
        error(
            "[{\"log\": \"x\", \"tag\": \"top\"}, {\"function\": {\"name\": \"f\", \"actions\": [{\"goto\": \"top\"}]}}]"
        ),
        "t.json:1:78: /1/function/actions/0/goto: `goto` to tag `top`, which does not exist in function `f` (tags are per flow object)"
    );
}

/// As the original, a `limit` counts only with `max > 0` and a non-empty `failover`; the
/// designer writes `{"max": 5, "failover": ""}` and such limits are ignored, not rejected.
#[test]
fn a_limit_without_failover_or_max_is_ignored() {
    for limit in [
        r#"{"max": 5, "failover": ""}"#,
        r#"{"max": 0, "failover": "x"}"#,
        r#"{"max": -1, "failover": "x"}"#,
        r#"{"max": 5, "failover": null}"#,
        r#"{"max": 5}"#,
        r#"{"failover": "x"}"#,
        r#"{}"#,
    ] {
        compiles(&format!(r#"[{{"log": "x", "limit": {limit}}}]"#));
    }
    // A limit that is set still needs a tag name and an existing tag.
    assert_eq!(
        error(r#"[{"log": "x", "limit": {"max": 2, "failover": 7}}]"#),
        "t.json:1:47: /0/limit/failover: `limit.failover` must be a tag name, found a number"
    );
}

#[test]
fn an_ignored_limit_never_diverts_the_step() {
    use rustflow_engine::FlowSet;
    use rustflow_engine::sim::{Script, simulate};
    let text = r#"[
        {"set": {"n": "0"}},
        {"while": {"condition": "${n} < 3", "do": [
            {"log": "pass ${n}", "limit": {"max": 1, "failover": ""}},
            {"js": {"data": "return Number(${n}) + 1;", "setVar": "n"}}
        ]}}
    ]"#;
    let flow = compile_source("t", "t.json", text, &CompileOptions::default()).expect("compiles");
    let (outcome, host) = simulate(&flow, &FlowSet::default(), Script::default());
    assert_eq!(outcome.error, None);
    let log = host.transcript_text();
    for n in 0..3 {
        assert!(log.contains(&format!("log Info: pass {n}\n")), "{log}");
    }
    assert!(!log.contains("limit reached"), "{log}");
}

#[test]
fn execute_of_undefined_function() {
    assert_eq!(
        error("[{\"execute\": {\"name\": \"ghost\"}}]"),
        "t.json:1:14: /0/execute: `execute` of function `ghost`, which is not defined in this flow"
    );
    assert_eq!(
        error(
            "[{\"function\": {\"name\": \"f\", \"actions\": []}}, {\"function\": {\"name\": \"f\", \"actions\": []}}]"
        ),
        "t.json:1:59: /1/function: function `f` is defined twice"
    );
}

#[test]
fn async_functions_may_not_use_media() {
    assert_eq!(
        error(
            "[{\"function\": {\"name\": \"f\", \"actions\": [{\"log\": \"x\"}, {\"answer\": \"\"}]}}, {\"execute\": {\"name\": \"f\", \"async\": true}}]"
        ),
        "t.json:1:86: /1/execute: `execute` with `async: true` of function `f`, which uses media (`answer` at /0/function/actions/1/answer); async functions may only contain non-media steps"
    );
    compiles(
        "[{\"function\": {\"name\": \"f\", \"actions\": [{\"log\": \"x\"}]}}, {\"execute\": {\"name\": \"f\", \"async\": true}}]",
    );
}

#[test]
fn expressions_that_do_not_parse() {
    let diags = errors("[{\"if\": {\"expression\": \"${a} ==\", \"then\": []}}]");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].pointer, "/0/if/expression");
    assert_eq!((diags[0].line, diags[0].column), (1, 24));
    assert!(
        diags[0].message.starts_with("expression does not parse: "),
        "{}",
        diags[0]
    );
    let diags = errors("[{\"while\": {\"condition\": \"(\", \"do\": [{\"log\": \"x\"}]}}]");
    assert_eq!(diags[0].pointer, "/0/while/condition");
    assert!(diags[0].message.starts_with("expression does not parse: "));
    let diags = errors("[{\"js\": {\"data\": \"return (\", \"setVar\": \"x\"}}]");
    assert_eq!(diags[0].pointer, "/0/js/data");
    assert!(
        diags[0]
            .message
            .starts_with("JavaScript does not compile: "),
        "{}",
        diags[0]
    );
}

#[test]
fn regexes_that_do_not_compile() {
    assert_eq!(
        error(
            "[{\"playback\": {\"files\": [{\"name\": \"a.wav\"}], \"getDigits\": {\"regexp\": \"[0-9\"}}}]"
        ),
        "t.json:1:70: /0/playback/getDigits/regexp: regular expression does not compile: regex parse error: [0-9 ^ error: unclosed character class"
    );
}

#[test]
fn unknown_hangup_causes() {
    assert_eq!(
        error("[{\"hangup\": \"UNSPECIFIED\"}]"),
        "t.json:1:13: /0/hangup: unknown hangup cause `UNSPECIFIED` (expected a FreeSWITCH cause name such as USER_BUSY, or its number)"
    );
    assert_eq!(
        error("[{\"hangup\": 9999}]"),
        "t.json:1:13: /0/hangup: unknown hangup cause `9999` (expected a FreeSWITCH cause name such as USER_BUSY, or its number)"
    );
    compiles(
        "[{\"hangup\": \"user_busy\"}, {\"hangup\": 17}, {\"hangup\": \"\"}, {\"hangup\": \"${cause}\"}]",
    );
}

#[test]
fn every_error_is_collected() {
    let diags = errors(
        "[{\"dance\": 1}, {\"goto\": \"x\"}, {\"hangup\": \"NOPE\"}, {\"set\": {}}, {\"answer\": \"\", \"tag\": \"t\"}, {\"log\": \"\", \"tag\": \"t\"}]",
    );
    let pointers: Vec<&str> = diags.iter().map(|d| d.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        vec!["/0/dance", "/1/goto", "/2/hangup", "/3/set", "/5/tag"]
    );
}

#[test]
fn invalid_flow_id() {
    let diags = compile_source("../etc", "x.json", "[]", &CompileOptions::default()).unwrap_err();
    assert_eq!(
        diags[0].to_string(),
        "x.json:1:1: /: `../etc` is not a valid flow id ([A-Za-z0-9_.-]{1,128}, no `..`)"
    );
}

#[test]
fn summary_and_version() {
    let text = "[{\"answer\": \"\", \"tag\": \"b\"}, {\"function\": {\"name\": \"f\", \"actions\": [{\"log\": \"x\", \"tag\": \"a\"}]}}, {\"execute\": {\"name\": \"f\"}}, {\"log\": \"y\"}]";
    let flow = compile_source("t", "t.json", text, &CompileOptions::default()).unwrap();
    let summary = flow.summary();
    assert_eq!(summary.tags, vec!["a", "b"]);
    assert_eq!(summary.functions, vec!["f"]);
    assert_eq!(summary.apps.get("log"), Some(&2));
    assert_eq!(summary.apps.get("function"), Some(&1));
    assert_eq!(summary.steps, 5);
    assert_eq!(
        flow.version(),
        rustflow_engine::content_version(text.as_bytes())
    );
    assert_eq!(flow.version().len(), 16);
    assert_eq!(flow.id(), "t");
    assert_eq!(flow.file(), "t.json");
}

#[test]
fn bridge_endpoints_are_checked() {
    assert_eq!(
        error("[{\"bridge\": {\"endpoints\": []}}]"),
        "t.json:1:27: /0/bridge/endpoints: `bridge.endpoints` must be a non-empty array of endpoints"
    );
    assert_eq!(
        error("[{\"bridge\": {\"endpoints\": [{\"type\": \"fax\"}]}}]"),
        "t.json:1:28: /0/bridge/endpoints/0: unknown endpoint type `fax` (expected user, gateway or sip)"
    );
    assert_eq!(
        error("[{\"bridge\": {\"endpoints\": [{\"type\": \"gateway\", \"name\": \"gw\"}]}}]"),
        "t.json:1:28: /0/bridge/endpoints/0: a `gateway` endpoint needs `dialString`"
    );
    assert_eq!(
        error("[{\"bridge\": {\"endpoints\": [{\"type\": \"user\", \"id\": 5}]}}]"),
        "t.json:1:28: /0/bridge/endpoints/0: a `user` endpoint by `id` needs the Webitel directory; give its `extension`"
    );
    assert_eq!(
        error(
            "[{\"bridge\": {\"endpoints\": [{\"type\": \"user\", \"extension\": \"1\"}], \"bridged\": {\"log\": \"x\"}}}]"
        ),
        "t.json:1:76: /0/bridge/bridged: `bridge.bridged` must be an array of applications, found an object"
    );
    // the bridged actions are checked like any other block
    assert_eq!(
        error(
            "[{\"bridge\": {\"endpoints\": [{\"type\": \"user\", \"extension\": \"1\"}], \"bridged\": [{\"goto\": \"nowhere\"}]}}]"
        ),
        "t.json:1:86: /0/bridge/bridged/0/goto: `goto` to tag `nowhere`, which does not exist in bridge.bridged (tags are per flow object)"
    );
    compiles(
        "[{\"bridge\": {\"endpoints\": [{\"type\": \"user\", \"extension\": \"1\"}], \"pickup\": \"g1\"}}]",
    );
    assert_eq!(
        error("[{\"pickup\": {}}]"),
        "t.json:1:13: /0/pickup: `pickup` is missing the required field `name`"
    );
    // As the original, whose arguments decode into {name}: a bare string is refused.
    assert_eq!(
        error("[{\"pickup\": \"sales\"}]"),
        "t.json:1:13: /0/pickup: `pickup` expects an object, found a string"
    );
    compiles(
        "[{\"bridge\": {\"endpoints\": [{\"type\": \"user\", \"extension\": \"1\"}], \"bridged\": []}}]",
    );
    assert_eq!(
        error("[{\"recordSession\": {\"action\": \"pause\"}}]"),
        "t.json:1:20: /0/recordSession: `recordSession.action` must be `start` or `stop`, found `pause`"
    );
    compiles("[{\"recordFile\": \"\"}, {\"recordFile\": {\"maxSec\": \"10\"}}]");
}

#[test]
fn schema_references_are_checked_by_load_dir() {
    let dir = std::env::temp_dir().join(format!("rustflow-loaddir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.json"),
        "[\n  {\"schema\": {\"id\": \"other\"}}\n]",
    )
    .unwrap();
    let diags = rustflow_engine::FlowSet::load_dir(&dir, &CompileOptions::default()).unwrap_err();
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].pointer, "/0/schema");
    assert_eq!((diags[0].line, diags[0].column), (2, 21));
    assert!(
        diags[0]
            .message
            .starts_with("`schema` runs flow `other`, which is not in "),
        "{}",
        diags[0]
    );
    std::fs::write(dir.join("other.json"), "[{\"log\": \"x\"}]").unwrap();
    let flows = rustflow_engine::FlowSet::load_dir(&dir, &CompileOptions::default()).unwrap();
    assert_eq!(
        flows.iter().map(|f| f.id()).collect::<Vec<_>>(),
        vec!["main", "other"]
    );
    // All or nothing: one bad file rejects the whole set.
    std::fs::write(dir.join("bad.json"), "[{\"log\": }]").unwrap();
    let diags = rustflow_engine::FlowSet::load_dir(&dir, &CompileOptions::default()).unwrap_err();
    assert_eq!(diags.len(), 1);
    assert!(diags[0].file.ends_with("bad.json"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compiled_flows_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<rustflow_engine::Flow>();
    assert_send_sync::<rustflow_engine::FlowSet>();
    assert_send_sync::<std::sync::Arc<rustflow_engine::Flow>>();
}

#[test]
fn hostile_inputs_are_rejected_cleanly() {
    // Deep nesting, huge numbers, odd keys: errors, never panics.
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert!(error(&deep).contains("nesting deeper than 256 levels"));
    assert!(error("[{\"sleep\": 1e400}]").contains("`sleep`"));
    assert!(error("[{\"\": \"\"}]").contains("unknown application ``"));
    assert!(error("[{\"goto\": \"\"}]").contains("expects a tag name"));
    let many_ifs = format!(
        "[{}{{\"log\": \"x\"}}{}]",
        "{\"if\": {\"expression\": \"true\", \"then\": [".repeat(60),
        "]}}".repeat(60)
    );
    compiles(&many_ifs);
    assert!(error("[{\"log\": \"\\ud800\"}]").contains("unpaired surrogate"));
}

#[test]
fn park_and_conference_arguments() {
    assert_eq!(
        error("[{\"park\": {\"name\": \"lobby\", \"lot\": \"10-1\"}}]"),
        "t.json:1:36: /0/park/lot: `lot` must be a slot range `FROM-TO` such as `1-10`, found `10-1`"
    );
    assert_eq!(
        error("[{\"park\": {\"lot\": \"1-2\"}}]"),
        "t.json:1:11: /0/park: `park` is missing the required field `name`"
    );
    assert_eq!(
        error("[{\"conference\": {\"tags\": \"mute\"}}]"),
        "t.json:1:26: /0/conference/tags: `tags` must be an array of member flags, found a string"
    );
    compiles("[{\"conference\": \"\"}, {\"conference\": {\"name\": \"x\"}}]");
}

#[test]
fn truncated_and_mangled_files_never_panic() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/webitel-call-002.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("note: {} is absent; skipped", path.display());
        return;
    };
    let opts = CompileOptions {
        unknown_apps: UnknownApps::Skip,
        ..CompileOptions::default()
    };
    let mut rejected = 0;
    for cut in (1..text.len()).step_by(397) {
        let Some(prefix) = text.get(..cut) else {
            continue;
        };
        let diags = compile_source("t", "t.json", prefix, &opts).unwrap_err();
        assert!(
            diags[0].message.starts_with("malformed JSON"),
            "{}",
            diags[0]
        );
        rejected += 1;
    }
    // Swap every occurrence of one structural character at a time.
    for (from, to) in [
        ("[", "{"),
        ("\"goto\"", "\"goto\": 1, \"x\""),
        (":", ","),
        ("true", "\"maybe\""),
    ] {
        let mangled = text.replacen(from, to, 3);
        assert!(
            compile_source("t", "t.json", &mangled, &opts).is_err(),
            "{from} -> {to}"
        );
    }
    assert!(rejected > 50);
}

#[test]
fn default_limits_match_the_spec() {
    let limits = rustflow_engine::Limits::default();
    assert_eq!((limits.max_steps, limits.max_goto), (100_000, 1000));
}

#[test]
fn echo_tts_and_hangup_arguments_are_checked() {
    assert_eq!(
        error("[{\"echo\": \"soon\"}]"),
        "t.json:1:11: /0/echo: `echo` must be a number, found `soon`"
    );
    assert_eq!(
        error("[{\"echo\": [1]}]"),
        "t.json:1:11: /0/echo: `echo` must be a number, found an array"
    );
    compiles(
        "[{\"echo\": \"\"}, {\"echo\": 0}, {\"echo\": \"250\"}, {\"echo\": {\"delay\": \"${d}\"}}, {\"echo\": {}}]",
    );
    assert_eq!(
        error("[{\"tts\": {\"voice\": \"Amy\"}}]"),
        "t.json:1:10: /0/tts: `tts` is missing the required field `text` (or `ssml`)"
    );
    assert_eq!(
        error("[{\"tts\": {\"text\": \"a\", \"ssml\": \"<speak/>\"}}]"),
        "t.json:1:10: /0/tts: give either `text` or `ssml`, not both"
    );
    assert_eq!(
        error("[{\"tts\": {\"text\": \"a\", \"textType\": \"html\"}}]"),
        "t.json:1:36: /0/tts/textType: `textType` must be `text` or `ssml`, found `html`"
    );
    assert_eq!(
        error(
            "[{\"playback\": {\"files\": [{\"type\": \"tts\", \"tts\": {\"language\": \"en\"}}]}}]"
        ),
        "t.json:1:49: /0/playback/files/0/tts: `tts file` is missing the required field `text` (or `ssml`)"
    );
    compiles(
        "[{\"tts\": {\"ssml\": \"<speak>Hi</speak>\", \"language\": \"en-GB\", \"textType\": \"ssml\"}}]",
    );
    assert_eq!(
        error("[{\"hangup\": \"NO_SUCH_CAUSE\"}]"),
        "t.json:1:13: /0/hangup: unknown hangup cause `NO_SUCH_CAUSE` (expected a FreeSWITCH cause name such as USER_BUSY, or its number)"
    );
    compiles("[{\"hangup\": \"user_busy\"}, {\"hangup\": 17}, {\"hangup\": \"${cause}\"}]");
    assert_eq!(
        error("[{\"sipRedirect\": \"\"}]"),
        "t.json:1:18: /0/sipRedirect: `sipRedirect` expects a SIP URI or a non-empty array of them, found a string"
    );
    compiles("[{\"sipRedirect\": \"sip:1001@pbx.example.test\"}]");
}

/// Identical expressions and `js` bodies are compiled once, but an error in one is still
/// reported at every place that uses it.
#[test]
fn a_repeated_bad_expression_is_reported_at_each_use() {
    let diags = errors(
        "[{\"if\": {\"expression\": \"${a} ==\", \"then\": []}},\n {\"if\": {\"expression\": \"${a} ==\", \"then\": []}},\n {\"js\": {\"data\": \"return (\", \"setVar\": \"x\"}},\n {\"js\": {\"data\": \"return (\", \"setVar\": \"y\"}}]",
    );
    let places: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{} {}", d.line, d.column, d.pointer))
        .collect();
    assert_eq!(
        places,
        [
            "1:24 /0/if/expression",
            "2:24 /1/if/expression",
            "3:18 /2/js/data",
            "4:18 /3/js/data"
        ]
    );
    assert!(
        diags[0].message.starts_with("expression does not parse:"),
        "{}",
        diags[0]
    );
    assert!(
        diags[2].message.starts_with("JavaScript does not compile:"),
        "{}",
        diags[2]
    );
}

/// Missing required fields and bad literal values of the call applications (issue 4).
#[test]
fn call_applications_name_their_missing_and_bad_fields() {
    let cases = [
        r#"[{"updateCid": {}}]"#,
        r#"[{"generateLink": {"expire": 60}}]"#,
        r#"[{"bridge": {"strategy": "failover"}}]"#,
        r#"[{"bridge": {"endpoints": []}}]"#,
        r#"[{"bridge": {"endpoints": [{"type": "user"}]}}]"#,
        r#"[{"bridge": {"endpoints": [{"type": "sip"}]}}]"#,
        r#"[{"recordFile": {"maxSec": "ten"}}]"#,
        r#"[{"recordSession": {"minSec": -1}}]"#,
        r#"[{"playback": {"files": [{"type": "tone"}]}}]"#,
        r#"[{"playback": {"files": [{"type": "silence", "name": "x"}]}}]"#,
        r#"[{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"regexp": "(["}}}]"#,
        r#"[{"ringback": {"call": {"type": "bogus"}}}]"#,
        r#"[{"sipRedirect": []}]"#,
        r#"[{"conference": {"flags": "mute"}}]"#,
        r#"[{"backgroundPlayback": {"volumeReduction": 3}}]"#,
        r#"[{"set": {}}]"#,
        r#"[{"sleep": "later"}]"#,
    ];
    let mut report = String::new();
    for case in cases {
        let diags = errors(case);
        for d in &diags {
            report.push_str(&format!("{case}\n  {d}\n"));
        }
    }
    let expected = [
        "t.json:1:16: /0/updateCid: `updateCid` needs at least one of `name`, `number`, `destination`",
        "t.json:1:19: /0/generateLink: `generateLink` is missing the required field `set`",
        "t.json:1:13: /0/bridge: `bridge` is missing the required field `endpoints`",
        "t.json:1:27: /0/bridge/endpoints: `bridge.endpoints` must be a non-empty array of endpoints",
        "t.json:1:28: /0/bridge/endpoints/0: a `user` endpoint needs `extension`",
        "t.json:1:28: /0/bridge/endpoints/0: a `sip` endpoint needs `uri`",
        "t.json:1:28: /0/recordFile/maxSec: `maxSec` must be a number, found `ten`",
        "t.json:1:31: /0/recordSession/minSec: `minSec` must be a non-negative number, found `-1`",
        "t.json:1:26: /0/playback/files/0: a `tone` file needs `name`",
        "t.json:1:54: /0/playback/files/0/name: `name` must be a number, found `x`",
        "/0/playback/getDigits/regexp: regular expression does not compile",
        "t.json:1:24: /0/ringback/call: unknown file type `bogus`",
        "t.json:1:18: /0/sipRedirect: `sipRedirect` expects a SIP URI or a non-empty array of them, found an array",
        "t.json:1:27: /0/conference/flags: `flags` must be an array of member flags, found a string",
        "t.json:1:25: /0/backgroundPlayback: `backgroundPlayback` is missing the required field `file`",
        "t.json:1:10: /0/set: `set` needs at least one variable",
        "t.json:1:12: /0/sleep: `sleep` must be a number, found `later`",
    ];
    for want in expected {
        assert!(report.contains(want), "missing `{want}` in:\n{report}");
    }
    // one diagnostic per case, each naming file, line and column
    assert_eq!(
        report.matches("\n  t.json:1:").count(),
        cases.len(),
        "{report}"
    );
}

#[test]
fn insecure_skip_verify_needs_the_operators_permission() {
    let flow =
        r#"[{"httpRequest": {"url": "https://crm.example.com/", "insecureSkipVerify": true}}]"#;
    assert_eq!(
        error(flow),
        "t.json:1:76: /0/httpRequest/insecureSkipVerify: `httpRequest.insecureSkipVerify: true` turns off TLS certificate checks; it is refused unless http-allow-insecure is true in mod_rustflow.conf"
    );
    let allowed = CompileOptions {
        allow_insecure_skip_verify: true,
        ..CompileOptions::default()
    };
    compile_source("t", "t.json", flow, &allowed).expect("allowed by the option");
    // `false` needs no permission; a variable cannot turn certificate checks off.
    compiles(
        r#"[{"httpRequest": {"url": "https://crm.example.com/", "insecureSkipVerify": false}}]"#,
    );
    assert!(
        error(r#"[{"httpRequest": {"url": "https://x.example/", "insecureSkipVerify": "${v}"}}]"#)
            .ends_with("must be a constant boolean here, not a variable")
    );
}
