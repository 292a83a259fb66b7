//! JSON Schema (draft 2020-12) of the flow file format, for editors (`rustflow schema`).
//!
//! The schema describes both file shapes (a bare array of application objects, or an object
//! with `schema`/`scheme`), the reserved keys of every application object, every application
//! the engine runs with its fields, and nested blocks recursively. Webitel applications the
//! engine does not run are listed too, marked `deprecated` with a description saying so, so an
//! editor flags them while files that use them (under `unknown-apps=skip`) still validate.
//! The applications, their descriptions and argument schemas come from the registry
//! (`crate::apps`, one file per family), so the schema cannot drift from what `rustflow
//! check` accepts; this file holds the shared definitions and the file shapes.
//!
//! Argument keys are matched case-insensitively and weakly typed by the engine (`"5"` is a
//! fine number, `"true"` a fine boolean), so argument objects stay open and scalar fields
//! accept the string forms too.

use serde_json::{Map, Value, json};

/// Webitel application names beyond the registry (mostly other channels: chat, email, cases),
/// so an editor knows them as Webitel's rather than as typos.
const WEBITEL_CATALOGUE: &[&str] = &[
    "joinQueue",
    "cancelQueue",
    "say",
    "setSounds",
    "scheduleHangup",
    "markIVR",
    "cv",
    "joinAgent",
    "ccOutbound",
    "setGrantee",
    "setUser",
    "amdML",
    "speechAi",
    "speechAiV2",
    "voiceBot",
    "update",
    "start",
    "list",
    "listAdd",
    "timezone",
    "callbackQueue",
    "getQueueMetrics",
    "getQueueInfo",
    "getQueueAgents",
    "ccPosition",
    "ewt",
    "memberInfo",
    "patchMembers",
    "lastBridged",
    "classifier",
    "monoPay",
    "userInfo",
    "sendEmail",
    "getEmail",
    "feedback",
    "sql",
    "broadcastChatMessage",
    "printFile",
    "mq",
    "dump",
    "cache",
    "chatHistory",
    "getContact",
    "findContact",
    "linkContact",
    "updateContact",
    "addContact",
    "mergeContactPhones",
    "mergeContactVariables",
    "notification",
    "joinAgentToTask",
    "global",
    "topicExtraction",
    "getCases",
    "locateCase",
    "updateCase",
    "createCase",
    "linkCommunication",
    "getServiceCatalogs",
    "publishComment",
    "createLink",
    "deleteLink",
    "locateService",
    "createRelatedCase",
    "listCaseFiles",
    "makeCall",
    "openLink",
    "gemini",
    "cascadeVoice",
    "openai",
    "createMeeting",
];

/// Applications the engine runs, from the registry (`break` is a reserved key and
/// described there).
pub fn supported_apps() -> Vec<&'static str> {
    crate::application_names()
        .into_iter()
        .filter(|app| *app != "break")
        .collect()
}

/// Applications known from Webitel that the engine does not run: rejected under
/// `unknown-apps=error`, skipped (and listed) under `unknown-apps=skip`. Sorted.
pub fn not_run_apps() -> Vec<&'static str> {
    let supported = crate::application_names();
    let mut apps: Vec<&'static str> = crate::NOT_YET_SUPPORTED_APPS
        .iter()
        .chain(WEBITEL_CATALOGUE)
        .copied()
        .filter(|app| !supported.contains(app))
        .collect();
    apps.sort_unstable();
    apps.dedup();
    apps
}

/// The one-line description of an application, if the registry documents it.
pub fn description(app: &str) -> Option<&'static str> {
    crate::apps::find(app)
        .map(|entry| entry.summary)
        .filter(|summary| !summary.is_empty())
}

/// The nested-block paths of an application (empty when it has none).
pub fn nested_paths(app: &str) -> &'static [&'static str] {
    crate::apps::find(app).map_or(&[], |entry| entry.nested)
}

/// The argument schema of an application, from the registry (`{}` when it has none).
fn app_arguments(app: &str) -> Value {
    crate::apps::find(app).map_or_else(|| json!({}), crate::apps::App::arguments_schema)
}

pub(crate) fn reference(def: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{def}") })
}

pub(crate) fn text(description: &str) -> Value {
    json!({ "$ref": "#/$defs/text", "description": description })
}

pub(crate) fn number(description: &str) -> Value {
    json!({ "$ref": "#/$defs/number", "description": description })
}

pub(crate) fn flag(description: &str) -> Value {
    json!({ "$ref": "#/$defs/flag", "description": description })
}

pub(crate) fn actions(description: &str) -> Value {
    json!({ "$ref": "#/$defs/actions", "description": description })
}

pub(crate) fn string_list(description: &str) -> Value {
    json!({ "$ref": "#/$defs/stringList", "description": description })
}

pub(crate) fn free_object(description: &str) -> Value {
    json!({ "type": "object", "description": description })
}

/// An argument object: known fields documented, other keys allowed (keys are matched
/// case-insensitively by the engine, so `maxsec` is as good as `maxSec`).
pub(crate) fn args(properties: &[(&str, Value)], required: &[&str]) -> Value {
    let mut props = Map::new();
    for (name, schema) in properties {
        props.insert((*name).to_string(), schema.clone());
    }
    let mut object = json!({ "type": "object", "properties": props });
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    object
}

/// Applications that take no argument (conventionally `""`).
pub(crate) fn no_args() -> Value {
    json!({ "description": "No argument; conventionally \"\"." })
}

pub(crate) fn capture_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("getDigits", reference("getDigits")),
        ("getSpeech", reference("getSpeech")),
        ("terminator", text("Ignored, as in the original.")),
    ]
}

/// Fields of Webitel-only applications that hold nested arrays, so those stay checked.
fn webitel_only_arguments(app: &str) -> Value {
    let paths = nested_paths(app);
    if paths.is_empty() {
        return json!({});
    }
    let mut props = Map::new();
    for path in paths {
        match path.split_once("[].") {
            Some((list, field)) => {
                props.insert(
                    list.to_string(),
                    json!({ "type": "array", "items": { "type": "object",
                        "properties": { field: reference("actions") } } }),
                );
            }
            None => {
                props.insert(path.to_string(), reference("actions"));
            }
        }
    }
    json!({ "type": "object", "properties": props })
}

fn definitions() -> Map<String, Value> {
    let mut defs = Map::new();
    defs.insert(
        "text".into(),
        json!({ "type": ["string", "number", "boolean"],
                "description": "Text; `${var}`, `$${global}` and `$N` are expanded." }),
    );
    defs.insert(
        "number".into(),
        json!({ "anyOf": [{ "type": "number" }, { "type": "string" }],
                "description": "A number; a numeric string (or `${var}`) is accepted." }),
    );
    defs.insert(
        "flag".into(),
        json!({ "anyOf": [{ "type": "boolean" }, { "type": "string" }, { "type": "number" }],
                "description": "A boolean; `\"true\"`/`\"false\"` are accepted." }),
    );
    defs.insert("scalar".into(), json!({ "type": ["string", "number"] }));
    defs.insert(
        "stringList".into(),
        json!({ "anyOf": [{ "type": "array", "items": { "type": "string" } }, { "type": "string" }] }),
    );
    defs.insert(
        "actions".into(),
        json!({ "type": "array", "items": reference("application"),
                "description": "Applications run in order." }),
    );
    defs.insert(
        "playbackFile".into(),
        json!({
            "type": "object",
            "properties": {
                "type": { "type": "string",
                          "description": "`tone`, `silence`, `local`, `http_audio`, `tts`; none = media by `name` or `id`." },
                "name": text("File name, path, tone or silence length, depending on `type`."),
                "id": reference("scalar"),
                "args": { "type": "object", "properties": { "url": text("URL for `http_audio`.") } },
                "tts": { "type": "object" }
            }
        }),
    );
    defs.insert(
        "getDigits".into(),
        args(
            &[
                (
                    "setVar",
                    text("Variable that receives the digits (default `MyVar`)."),
                ),
                ("min", number("Minimum digits (default 1).")),
                ("max", number("Maximum digits (default 1).")),
                ("tries", number("Attempts (default 1).")),
                (
                    "timeout",
                    number("Milliseconds to wait for input (default 3000)."),
                ),
                ("digitTimeout", number("Milliseconds between digits.")),
                ("terminators", text("Keys that end input (default `#`).")),
                ("regexp", text("Regular expression the input must match.")),
                ("flushDTMF", flag("Discard queued DTMF first.")),
            ],
            &[],
        ),
    );
    defs.insert(
        "getSpeech".into(),
        args(
            &[
                ("setVar", text("Variable that receives the transcript (default `google_transcript`).")),
                ("timeout", number("Milliseconds to wait for speech after the prompt.")),
                ("vadTimeout", number("Voice activity timeout in milliseconds.")),
                ("lang", text("Language.")),
                ("alternativeLang", string_list("Alternative languages.")),
                ("minWords", number("Minimum words.")),
                ("maxWords", number("Maximum words.")),
                ("breakFinalOnTimeout", flag("Wait for the final result until the timeout.")),
                ("disableBreakFinal", flag("Do not interrupt playback on a final result.")),
                ("version", text("Recogniser version.")),
                ("background", json!({ "type": "object",
                    "properties": { "file": reference("playbackFile"), "volumeReduction": number("Volume reduction.") } })),
            ],
            &[],
        ),
    );
    defs.insert(
        "endpoint".into(),
        json!({
            "type": "object",
            "properties": {
                "type": { "type": "string", "description": "`user`, `gateway` or `sip`." },
                "extension": text("User extension (`user`)."),
                "domain": text("User domain (`user`; default: the configured default-domain)."),
                "id": reference("scalar"),
                "name": text("Gateway name (`gateway`)."),
                "gateway": { "type": "object", "properties": { "name": text("Gateway name."), "id": reference("scalar") } },
                "dialString": text("Number dialled through the gateway."),
                "displayName": text("Display name."),
                "profile": text("SIP profile (`sip`)."),
                "uri": text("SIP URI (`sip`)."),
                "idle": flag("Skip a user already on a call."),
                "parameters": free_object("Channel variables for this leg.")
            }
        }),
    );
    defs.insert(
        "limit".into(),
        json!({
            "type": "object",
            "description": "Runs the application at most `max` times, then jumps to `failover`; ignored unless `max > 0` and `failover` names a tag (as the original).",
            "properties": { "max": { "type": "number" }, "failover": { "type": "string" } }
        }),
    );

    let mut app_props = Map::new();
    let mut one_of = Vec::new();
    let supported = supported_apps();
    let not_run = not_run_apps();
    for app in &supported {
        let mut schema = app_arguments(app);
        let summary = description(app).unwrap_or_default();
        let detail = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default();
        schema["description"] = json!(format!("{summary} {detail}").trim());
        app_props.insert((*app).to_string(), schema);
        one_of.push(json!({ "required": [app] }));
    }
    for app in &not_run {
        let mut schema = app_arguments(app);
        if schema.as_object().is_some_and(Map::is_empty) {
            schema = webitel_only_arguments(app);
        }
        let summary = description(app)
            .map(|text| format!("{text} "))
            .unwrap_or_default();
        schema["description"] = json!(format!(
            "{summary}Webitel application not run by rustflow: rejected by default, skipped and listed with unknown-apps=skip."
        ));
        schema["deprecated"] = json!(true);
        app_props.insert((*app).to_string(), schema);
        one_of.push(json!({ "required": [app] }));
    }
    let app_names: Vec<&str> = supported.iter().chain(&not_run).copied().collect();

    let mut properties = Map::new();
    properties.insert(
        "tag".into(),
        json!({ "type": "string", "description": "Names this application for `goto` and `limit.failover`; unique per flow." }),
    );
    properties.insert(
        "break".into(),
        json!({ "type": "boolean", "description": "Stop the current flow object after this application; alone, the `break` application." }),
    );
    properties.insert("limit".into(), reference("limit"));
    properties.insert(
        "async".into(),
        json!({ "type": "boolean", "description": "Accepted; has no effect (as in the original)." }),
    );
    properties.insert(
        "trace".into(),
        json!({ "type": "object", "properties": { "name": { "type": "string" } } }),
    );
    properties.insert(
        "_id".into(),
        json!({ "description": "Designer id; no effect." }),
    );
    properties.extend(app_props);

    // Exactly one application per object, or a bare `{"break": true}`.
    one_of.push(json!({
        "required": ["break"],
        "not": { "anyOf": app_names.iter().map(|app| json!({ "required": [app] })).collect::<Vec<_>>() }
    }));
    defs.insert(
        "application".into(),
        json!({
            "type": "object",
            "description": "One application object: exactly one application key plus reserved keys (tag, break, limit, async, trace, _id).",
            "properties": properties,
            "additionalProperties": false,
            "oneOf": one_of
        }),
    );
    defs
}

/// The JSON Schema of a flow file.
pub fn flow_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:rustflow:flow",
        "title": "mod_rustflow call flow",
        "description": "A Webitel-compatible call flow: a bare array of application objects, or an object with `schema` (or `scheme`).",
        "oneOf": [
            reference("actions"),
            {
                "type": "object",
                "properties": {
                    "name": { "type": "string" },
                    "timezone": { "type": "string", "description": "IANA time zone for the date helpers." },
                    "schema": reference("actions"),
                    "scheme": reference("actions")
                },
                "oneOf": [{ "required": ["schema"] }, { "required": ["scheme"] }]
            }
        ],
        "$defs": definitions()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_app_the_engine_runs_is_documented() {
        for app in supported_apps() {
            assert!(
                description(app).is_some(),
                "{app}: add its description and fields"
            );
            if !matches!(
                app,
                "answer"
                    | "preAnswer"
                    | "ringReady"
                    | "flushDTMF"
                    | "flushDtmf"
                    | "backgroundPlaybackStop"
            ) {
                assert_ne!(
                    app_arguments(app),
                    json!({}),
                    "{app}: add its argument schema"
                );
            }
        }
    }

    #[test]
    fn supported_and_not_run_are_disjoint_and_exclude_reserved_keys() {
        let supported = supported_apps();
        for app in not_run_apps() {
            assert!(!supported.contains(&app), "{app} is both");
        }
        for key in crate::RESERVED_KEYS {
            assert!(!supported.contains(key), "{key}");
            assert!(!not_run_apps().contains(key), "{key}");
        }
    }

    #[test]
    fn every_ref_points_at_a_definition() {
        fn walk(value: &Value, defs: &Map<String, Value>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let name = target.strip_prefix("#/$defs/").expect("local ref");
                        assert!(defs.contains_key(name), "dangling $ref {target}");
                    }
                    map.values().for_each(|v| walk(v, defs));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, defs)),
                _ => {}
            }
        }
        let schema = flow_schema();
        let defs = schema["$defs"].as_object().unwrap().clone();
        walk(&schema, &defs);
    }

    #[test]
    fn nested_blocks_point_at_action_arrays() {
        let schema = flow_schema();
        let apps = &schema["$defs"]["application"]["properties"];
        for block in crate::apps::all() {
            for path in block.nested {
                let field = path.split(['.', '[']).next().unwrap();
                let field_schema = &apps[block.name]["properties"][field];
                assert!(
                    !field_schema.is_null(),
                    "{}.{} missing from the schema",
                    block.name,
                    field
                );
            }
        }
    }
}
