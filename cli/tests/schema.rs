//! `rustflow schema`: a valid draft 2020-12 document that every example flow and every corpus
//! file validates against, and that matches the applications the engine accepts.

mod common;

use std::path::Path;

use rustflow_engine::schema::{not_run_apps, supported_apps};
use rustflow_engine::{CompileOptions, UnknownApps, compile_source};
use serde_json::{Value, json};

use common::{corpus_dir, examples_dir, rustflow};

fn schema() -> Value {
    let out = rustflow(&["schema"]);
    assert_eq!(out.status, 0, "stderr: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("`rustflow schema` prints JSON")
}

/// A small validator for the keywords the flow schema uses. Returns the instance paths of
/// the first failures, empty when the instance is valid.
struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    fn errors(&self, schema: &Value, instance: &Value, path: &str) -> Vec<String> {
        let Some(schema) = schema.as_object() else {
            return vec![format!("{path}: schema is not an object")];
        };
        let mut errors = Vec::new();
        if let Some(Value::String(target)) = schema.get("$ref") {
            let name = target
                .strip_prefix("#/$defs/")
                .expect("only local refs are used");
            let resolved = &self.root["$defs"][name];
            assert!(!resolved.is_null(), "dangling $ref {target}");
            errors.extend(self.errors(resolved, instance, path));
        }
        if let Some(types) = schema.get("type") {
            let allowed: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => panic!("bad type keyword at {path}"),
            };
            if !allowed.iter().any(|t| type_matches(t, instance)) {
                errors.push(format!("{path}: expected {allowed:?}, found {instance}"));
                return errors;
            }
        }
        if let Some(Value::Array(values)) = schema.get("enum") {
            if !values.contains(instance) {
                errors.push(format!("{path}: not one of {values:?}"));
            }
        }
        if let Value::Object(map) = instance {
            if let Some(Value::Array(required)) = schema.get("required") {
                for key in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(key) {
                        errors.push(format!("{path}: missing `{key}`"));
                    }
                }
            }
            if let Some(min) = schema.get("minProperties").and_then(Value::as_u64) {
                if (map.len() as u64) < min {
                    errors.push(format!("{path}: fewer than {min} members"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, value) in map {
                let child = format!("{path}/{key}");
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => errors.extend(self.errors(sub, value, &child)),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{path}: unexpected member `{key}`"))
                        }
                        Some(sub @ Value::Object(_)) => {
                            errors.extend(self.errors(sub, value, &child))
                        }
                        _ => {}
                    },
                }
            }
        }
        if let Value::Array(items) = instance {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
                if (items.len() as u64) < min {
                    errors.push(format!("{path}: fewer than {min} items"));
                }
            }
            if let Some(sub) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    errors.extend(self.errors(sub, item, &format!("{path}/{index}")));
                }
            }
        }
        if let Some(Value::Array(alternatives)) = schema.get("anyOf") {
            if !alternatives
                .iter()
                .any(|alt| self.errors(alt, instance, path).is_empty())
            {
                errors.push(format!("{path}: matches none of anyOf"));
            }
        }
        if let Some(Value::Array(alternatives)) = schema.get("oneOf") {
            let matching = alternatives
                .iter()
                .filter(|alt| self.errors(alt, instance, path).is_empty())
                .count();
            if matching != 1 {
                // Report the deepest reason when nothing matched, for a readable failure.
                let detail = alternatives
                    .iter()
                    .map(|alt| self.errors(alt, instance, path))
                    .min_by_key(Vec::len)
                    .unwrap_or_default();
                errors.push(format!("{path}: matches {matching} of oneOf {detail:?}"));
            }
        }
        if let Some(negated) = schema.get("not") {
            if self.errors(negated, instance, path).is_empty() {
                errors.push(format!("{path}: matches a `not` schema"));
            }
        }
        errors
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type {other}"),
    }
}

fn validate(schema: &Value, instance: &Value) -> Vec<String> {
    Validator { root: schema }.errors(schema, instance, "")
}

#[test]
fn schema_is_draft_2020_12_json() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let apps = schema["$defs"]["application"]["properties"]
        .as_object()
        .unwrap();
    for key in ["tag", "break", "limit", "async", "trace", "_id"] {
        assert!(apps.contains_key(key), "reserved key {key} missing");
    }
    assert_eq!(
        schema["$defs"]["application"]["additionalProperties"],
        false
    );
}

#[test]
fn every_application_is_in_the_schema() {
    let schema = schema();
    let apps = schema["$defs"]["application"]["properties"]
        .as_object()
        .unwrap();
    // The engine's own tables: what it runs, and what it knows but does not run.
    for app in rustflow_engine::application_names() {
        if app == "break" {
            continue; // a reserved key, described there
        }
        let entry = apps.get(app).unwrap_or_else(|| panic!("{app} missing"));
        assert!(
            entry.get("deprecated").is_none(),
            "{app} is run by the engine"
        );
        let text = entry["description"].as_str().unwrap_or_default();
        assert!(
            !text.is_empty() && !text.contains("not run"),
            "{app}: {text}"
        );
    }
    for app in rustflow_engine::NOT_YET_SUPPORTED_APPS.iter() {
        assert_eq!(
            apps[*app]["deprecated"], true,
            "{app} should be marked deprecated"
        );
    }
    let listed = apps.len() - 6; // minus the reserved keys
    assert_eq!(listed, supported_apps().len() + not_run_apps().len());
}

/// A minimal valid argument for each application the engine runs.
fn example_argument(app: &str) -> Value {
    match app {
        "sipRedirect" => json!(["sip:1000@example.com"]),
        "ringback" => json!({"call": {"type": "tone", "name": "%(1000,4000,425)"}}),
        "updateCid" => json!({"name": "Reception"}),
        "park" => json!({"name": "lot", "lot": "1-10"}),
        "pickup" => json!({"name": "sales"}),
        "conference" => json!({"name": "room"}),
        "bridge" => json!({"endpoints": [{"type": "user", "extension": "1000"}]}),
        "hangup" => json!("USER_BUSY"),
        "inBandDTMF" => json!("start"),
        "playback" => json!({"files": [{"type": "local", "name": "a.wav"}]}),
        "recordFile" => json!({"name": "r"}),
        "recordSession" => json!({"action": "start"}),
        "generateLink" => json!({"set": "link", "server": "https://example.com"}),
        "tts" => json!({"text": "hello"}),
        "set" | "setAll" | "setNoLocal" => json!({"a": "1"}),
        "unSet" | "export" => json!(["a"]),
        "if" => json!({"expression": "1 == 1", "then": [], "else": []}),
        "switch" => json!({"variable": "${a}", "case": {"1": []}}),
        "while" => json!({"condition": "false", "do": [{"log": "x"}]}),
        "goto" => json!("here"),
        "function" => json!({"name": "g", "actions": []}),
        "execute" => json!({"name": "f"}),
        "log" => json!("x"),
        "sleep" | "softSleep" => json!(10),
        "trigger" => json!({"disconnected": []}),
        "schema" => json!({"id": "other"}),
        "js" => json!({"data": "return 1;", "setVar": "x"}),
        "math" => json!({"fn": "max", "data": [1, 2], "setVar": "x"}),
        "string" => json!({"fn": "reverse", "data": "abc", "setVar": "x"}),
        "backgroundPlayback" => json!({"file": {"type": "local", "name": "a.wav"}}),
        "httpRequest" => json!({"url": "https://example.com/"}),
        "calendar" => json!({"name": "office", "setVar": "open"}),
        "timezone" => json!({"name": "Europe/Kyiv"}),
        "joinQueue" => json!({"queue": {"id": 1}}),
        "joinAgent" => json!({"agent": {"extension": "1001"}}),
        "getQueueAgents" => json!({"queue": {"id": 1}, "set": {"free": "waiting"}}),
        "getQueueMetrics" => json!({"queue": {"id": 1}, "field": "sl", "slSec": 20, "set": "sl"}),
        "ccPosition" => json!({"set": "position"}),
        "ewt" => json!({"setVar": "wait"}),
        "lastBridged" => json!({"number": "1001", "hours": 24, "set": {"agent": "agent_id"}}),
        "callbackQueue" => json!({"queue": {"id": 1}, "communication": {"destination": "1001"}}),
        "memberInfo" => json!({"member": {"queue_ids": [1]}, "set": {"m": "id"}}),
        "patchMembers" => json!({"member": {"queue_ids": [1]}, "patch": {"priority": 1}}),
        "attemptResult" => json!({"status": "success"}),
        _ => json!(""),
    }
}

/// The flow that holds one application, with what it needs around it (a tag for goto, a
/// function for execute).
fn flow_with(app: &str) -> String {
    let step = json!({ app: example_argument(app) });
    let flow = json!([
        {"function": {"name": "f", "actions": [{"log": "in f"}]}},
        {"tag": "here", "log": "start"},
        step
    ]);
    flow.to_string()
}

#[test]
fn schema_apps_match_what_the_engine_accepts() {
    let skip = CompileOptions {
        unknown_apps: UnknownApps::Skip,
        ..CompileOptions::default()
    };
    for app in supported_apps() {
        let flow = compile_source("t", "t.json", &flow_with(app), &skip)
            .unwrap_or_else(|errors| panic!("{app}: the engine refuses it: {errors:?}"));
        assert!(
            flow.summary().skipped.is_empty(),
            "{app} is in SUPPORTED_APPS but the engine does not run it"
        );
    }
    for app in not_run_apps() {
        let skipped = match compile_source("t", "t.json", &flow_with(app), &skip) {
            Ok(flow) => flow.summary().skipped.iter().any(|s| s.app == app),
            Err(errors) => panic!("{app}: {errors:?}"),
        };
        assert!(
            skipped,
            "the engine runs {app} but does not list it in its SUPPORTED_APPS"
        );
    }
}

fn documents_in(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect()
}

#[test]
fn examples_and_corpus_validate_against_the_schema() {
    let schema = schema();
    let mut documents = documents_in(&examples_dir());
    assert!(documents.len() >= 2, "examples/flows has the example flows");
    match corpus_dir() {
        Some(corpus) => documents.extend(documents_in(&corpus)),
        None => eprintln!("note: ../shared/corpus is absent; only the examples were validated"),
    }
    for (file, document) in &documents {
        let errors = validate(&schema, document);
        assert!(errors.is_empty(), "{file}: {errors:#?}");
    }
}

#[test]
fn schema_rejects_malformed_flows() {
    let schema = schema();
    let bad = [
        (json!({"answer": ""}), "not an array"),
        (json!([{"answer": "", "hangup": ""}]), "two applications"),
        (json!([{"anwser": ""}]), "misspelt application"),
        (json!([{"tag": "x"}]), "no application"),
        (json!([{"playback": {}}]), "missing files"),
        (
            json!([{"if": {"expression": "1", "then": [{"bogus": 1}]}}]),
            "nested unknown app",
        ),
        (
            json!({"schema": [{"switch": {"variable": "x", "case": {"a": [{"nope": 1}]}}}]}),
            "nested in a case",
        ),
        (json!({"name": "x"}), "object without schema"),
        (json!([{"goto": 5}]), "goto needs a tag string"),
    ];
    for (document, why) in bad {
        assert!(
            !validate(&schema, &document).is_empty(),
            "accepted: {why}: {document}"
        );
    }
    let good = [
        json!([]),
        json!([{"break": true}]),
        json!([{"answer": "", "tag": "a", "limit": {"max": 2, "failover": "a"}}]),
        json!({"name": "n", "scheme": [{"hangup": 17}]}),
        json!([{"playback": {"files": [{"name": "a.wav"}], "getDigits": {"min": "1", "max": 4}}}]),
    ];
    for document in good {
        let errors = validate(&schema, &document);
        assert!(errors.is_empty(), "rejected {document}: {errors:?}");
    }
}
