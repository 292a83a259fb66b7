//! JSON Schema (draft 2020-12) of the flow file format, for editors (`rustflow schema`).
//!
//! The schema describes both file shapes (a bare array of application objects, or an object
//! with `schema`/`scheme`), the reserved keys of every application object, every application
//! the engine runs with its fields, and nested blocks recursively. Webitel applications the
//! engine does not run are listed too, marked `deprecated` with a description saying so, so an
//! editor flags them while files that use them (under `unknown-apps=skip`) still validate.
//! Which applications are run comes from the compiler's own tables (`application_names`,
//! `NOT_YET_SUPPORTED_APPS`), so the schema cannot drift from what `rustflow check` accepts;
//! a test fails when the engine runs an application this file does not document.
//!
//! Argument keys are matched case-insensitively and weakly typed by the engine (`"5"` is a
//! fine number, `"true"` a fine boolean), so argument objects stay open and scalar fields
//! accept the string forms too.

use serde_json::{Map, Value, json};

/// Where an application keeps nested application arrays, for tools that walk a flow.
/// A path segment `*` means "every member of this object", `[]` "every element".
pub struct NestedBlocks {
    pub app: &'static str,
    pub paths: &'static [&'static str],
}

/// Nested application arrays of every application that has some (reference §A2).
pub const NESTED_BLOCKS: &[NestedBlocks] = &[
    NestedBlocks {
        app: "if",
        paths: &["then", "else"],
    },
    NestedBlocks {
        app: "switch",
        paths: &["case.*"],
    },
    NestedBlocks {
        app: "while",
        paths: &["do"],
    },
    NestedBlocks {
        app: "function",
        paths: &["actions"],
    },
    NestedBlocks {
        app: "trigger",
        paths: &["disconnected", "commands.*"],
    },
    NestedBlocks {
        app: "bridge",
        paths: &["bridged"],
    },
    NestedBlocks {
        app: "joinQueue",
        paths: &[
            "waiting",
            "offering",
            "bridged",
            "reporting",
            "timers[].actions",
        ],
    },
    NestedBlocks {
        app: "joinAgent",
        paths: &["bridged"],
    },
    NestedBlocks {
        app: "list",
        paths: &["actions"],
    },
];

/// One-line descriptions of the Webitel applications this schema documents: every one the
/// engine runs must be here (a test checks it), others may be.
const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        "ringReady",
        "Indicates ringing to the caller (180 Ringing).",
    ),
    (
        "preAnswer",
        "Early media (183 Session Progress) without answering.",
    ),
    ("answer", "Answers the call."),
    (
        "sipRedirect",
        "Unanswered: 302 with the contacts; answered: REFER to the first URI.",
    ),
    (
        "ringback",
        "Sets ringback, transfer ringback and hold music.",
    ),
    (
        "updateCid",
        "Changes the caller id name/number (and destination).",
    ),
    (
        "park",
        "Valet parking: parks into or retrieves from a lot range.",
    ),
    (
        "pickup",
        "Answers a call ringing in a pickup group (`bridge.pickup`); the flow ends when one is picked up.",
    ),
    ("conference", "Joins a conference `name@profile`."),
    (
        "bridge",
        "Dials endpoints and bridges the first that answers.",
    ),
    (
        "hangup",
        "Hangs up with a cause name or number (empty = NORMAL_CLEARING).",
    ),
    ("inBandDTMF", "`start`/`stop` in-band DTMF detection."),
    ("flushDTMF", "Discards queued DTMF."),
    (
        "flushDtmf",
        "Discards queued DTMF (the original's spelling).",
    ),
    (
        "playback",
        "Plays files in order, optionally collecting digits or speech.",
    ),
    (
        "recordFile",
        "Records the caller to a file in the recordings directory.",
    ),
    (
        "recordSession",
        "Starts or stops a recording of the whole session.",
    ),
    (
        "generateLink",
        "Sets a variable to a signed, expiring link to a recording or media file.",
    ),
    (
        "tts",
        "Speaks text through the TTS engine, optionally collecting digits or speech.",
    ),
    ("set", "Sets channel variables."),
    (
        "setAll",
        "Sets channel variables and exports them to B-legs.",
    ),
    ("setNoLocal", "Exports variables to B-legs only."),
    ("unSet", "Unsets channel variables."),
    (
        "export",
        "Marks variables as exported (call record, B-legs).",
    ),
    (
        "if",
        "Runs `then` when the expression is true, else `else`.",
    ),
    (
        "switch",
        "Runs the case whose key equals the expanded variable, else `default`.",
    ),
    (
        "while",
        "Do-while loop: runs `do`, then repeats while the condition is true.",
    ),
    (
        "goto",
        "Continues at the application with this tag, across nesting.",
    ),
    (
        "function",
        "Defines a function (its actions run on `execute`).",
    ),
    ("execute", "Runs a function defined with `function`."),
    ("log", "Writes a line to the log."),
    (
        "echo",
        "Echoes the caller's audio back until hangup (a delay in ms uses `delay_echo`).",
    ),
    ("sleep", "Pauses with media flowing, in milliseconds."),
    (
        "softSleep",
        "Waits without touching media, in milliseconds.",
    ),
    (
        "trigger",
        "Defines handlers; `disconnected` runs after hangup.",
    ),
    ("schema", "Runs another flow by id."),
    (
        "js",
        "Runs a JavaScript function body; its result goes to `setVar`.",
    ),
    (
        "math",
        "A JavaScript Math function (or `random` choice) into `setVar`.",
    ),
    (
        "string",
        "A string function (JavaScript String method and a few more) into `setVar`.",
    ),
    ("backgroundPlayback", "Mixes a file under the call's audio."),
    ("backgroundPlaybackStop", "Stops the background playback."),
    (
        "httpRequest",
        "Blocking HTTP(S) request; response into variables.",
    ),
    (
        "calendar",
        "Sets `setVar` to whether a named calendar is open now.",
    ),
    (
        "timezone",
        "Changes the time zone of the date helpers for the rest of the call.",
    ),
];

/// Webitel call-flow application names (reference §A8, Part C) beyond the engine's own
/// tables, so an editor knows them as Webitel's rather than as typos.
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

/// Applications the engine runs, from the engine's own table (`break` is a reserved key
/// and described there).
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
        .chain(DESCRIPTIONS.iter().map(|(app, _)| app))
        .copied()
        .filter(|app| !supported.contains(app))
        .collect();
    apps.sort_unstable();
    apps.dedup();
    apps
}

/// The one-line description of an application, if the schema documents it.
pub fn description(app: &str) -> Option<&'static str> {
    DESCRIPTIONS
        .iter()
        .find(|(name, _)| *name == app)
        .map(|(_, text)| *text)
}

/// The nested-block paths of an application (empty when it has none).
pub fn nested_paths(app: &str) -> &'static [&'static str] {
    NESTED_BLOCKS
        .iter()
        .find(|block| block.app == app)
        .map_or(&[], |block| block.paths)
}

fn reference(def: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{def}") })
}

fn text(description: &str) -> Value {
    json!({ "$ref": "#/$defs/text", "description": description })
}

fn number(description: &str) -> Value {
    json!({ "$ref": "#/$defs/number", "description": description })
}

fn flag(description: &str) -> Value {
    json!({ "$ref": "#/$defs/flag", "description": description })
}

fn actions(description: &str) -> Value {
    json!({ "$ref": "#/$defs/actions", "description": description })
}

fn string_list(description: &str) -> Value {
    json!({ "$ref": "#/$defs/stringList", "description": description })
}

fn free_object(description: &str) -> Value {
    json!({ "type": "object", "description": description })
}

/// An argument object: known fields documented, other keys allowed (keys are matched
/// case-insensitively by the engine, so `maxsec` is as good as `maxSec`).
fn args(properties: &[(&str, Value)], required: &[&str]) -> Value {
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
fn no_args() -> Value {
    json!({ "description": "No argument; conventionally \"\"." })
}

fn capture_fields() -> Vec<(&'static str, Value)> {
    vec![
        ("getDigits", reference("getDigits")),
        ("getSpeech", reference("getSpeech")),
        ("terminator", text("Ignored, as in the original.")),
    ]
}

/// The argument schema of a supported application.
fn app_arguments(app: &str) -> Value {
    match app {
        "ringReady"
        | "preAnswer"
        | "answer"
        | "flushDTMF"
        | "flushDtmf"
        | "backgroundPlaybackStop" => no_args(),
        "sipRedirect" => json!({
            "description": "SIP URIs; a plain string is one URI.",
            "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
        }),
        "ringback" => args(
            &[
                ("call", reference("playbackFile")),
                ("hold", reference("playbackFile")),
                ("transfer", reference("playbackFile")),
                (
                    "all",
                    flag("Also add the three variables to bridge_export_vars."),
                ),
            ],
            &[],
        ),
        "updateCid" => args(
            &[
                ("name", text("Caller id name.")),
                ("number", text("Caller id number.")),
                ("destination", text("Destination.")),
            ],
            &[],
        ),
        "park" => args(
            &[
                ("name", text("Lot name (prefixed by the domain).")),
                ("lot", text("Slot range `from-to`.")),
                (
                    "auto",
                    json!({ "enum": ["in", "out"], "description": "Park in (default) or retrieve." }),
                ),
            ],
            &["name", "lot"],
        ),
        "pickup" => args(&[("name", text("Pickup group name."))], &["name"]),
        "conference" => args(
            &[
                ("name", text("Conference name (default `global`).")),
                ("profile", text("Conference profile (default `default`).")),
                ("pin", text("PIN.")),
                ("flags", string_list("Member flags.")),
                ("tags", string_list("Member flags (the original's name).")),
            ],
            &[],
        ),
        "bridge" => args(
            &[
                (
                    "endpoints",
                    json!({ "type": "array", "minItems": 1, "items": reference("endpoint"),
                            "description": "Who to dial." }),
                ),
                (
                    "strategy",
                    json!({ "type": "string",
                            "description": "`failover` dials one after another; anything else dials all at once." }),
                ),
                (
                    "parameters",
                    free_object("Channel variables for every B-leg."),
                ),
                ("codecs", string_list("Codecs offered to B-legs.")),
                ("sendOnAnswer", text("DTMF sent when a B-leg answers.")),
                (
                    "pickup",
                    text(
                        "Pickup group that rings too: a phone in the group answers with `pickup`.",
                    ),
                ),
                (
                    "bridged",
                    actions(
                        "Runs on the caller's leg after the bridge returns, when a leg answered (media refused if the caller is gone).",
                    ),
                ),
            ],
            &["endpoints"],
        ),
        "hangup" => json!({
            "description": "Hangup cause: a FreeSWITCH cause name (case-insensitive) or number; empty = NORMAL_CLEARING.",
            "type": ["string", "integer"]
        }),
        "inBandDTMF" => json!({
            "description": "`start` (default) or `stop`.",
            "type": "string"
        }),
        "playback" => {
            let mut fields = vec![(
                "files",
                json!({ "type": "array", "items": reference("playbackFile"),
                        "description": "Files played in order." }),
            )];
            fields.extend(capture_fields());
            args(&fields, &["files"])
        }
        "recordFile" => args(
            &[
                ("name", text("File name (default `recordFile_<epoch>`).")),
                ("type", text("Format and extension (default `mp3`).")),
                ("maxSec", number("Maximum length in seconds (default 60).")),
                (
                    "silenceThresh",
                    number("Energy level taken as silence (default 200)."),
                ),
                (
                    "silenceHits",
                    number("Seconds of silence that stop the recording (default 5)."),
                ),
                ("terminators", text("DTMF keys that stop the recording.")),
                ("voiceMail", flag("Tags the recording as voicemail.")),
            ],
            &[],
        ),
        "recordSession" => args(
            &[
                (
                    "action",
                    json!({ "type": "string", "description": "`stop` stops; anything else starts." }),
                ),
                ("name", text("File name.")),
                ("type", text("Format (default `mp3`).")),
                ("stereo", flag("Each party on its own channel.")),
                ("bridged", flag("Record only while bridged.")),
                (
                    "minSec",
                    number("Shorter recordings are discarded (default 2)."),
                ),
                ("followTransfer", flag("Keep recording across transfers.")),
            ],
            &[],
        ),
        "generateLink" => args(
            &[
                ("set", text("Variable that receives the URL.")),
                ("server", text("Base URL.")),
                ("expire", number("Lifetime in seconds.")),
                ("source", text("`media` (default) or `file`.")),
                (
                    "file",
                    args(
                        &[("id", reference("scalar")), ("name", text("File name."))],
                        &[],
                    ),
                ),
                ("query", free_object("Extra query parameters.")),
            ],
            &["set"],
        ),
        "tts" => {
            let mut fields = vec![
                ("text", text("Text to speak (expanded).")),
                ("textType", text("`text` or `ssml`.")),
                (
                    "ssml",
                    text("An SSML document, instead of `text`, passed to the engine unchanged."),
                ),
                (
                    "provider",
                    text("TTS provider, mapped to an engine/voice by configuration."),
                ),
                ("language", text("Language of the text, e.g. `en-US`.")),
                ("voice", text("Voice.")),
                ("profile", args(&[("id", reference("scalar"))], &[])),
            ];
            fields.extend(capture_fields());
            args(&fields, &["text"])
        }
        "set" | "setAll" | "setNoLocal" => json!({
            "type": "object",
            "minProperties": 1,
            "description": "Variable names to values (strings expanded; numbers, booleans and JSON written verbatim).",
            "additionalProperties": true
        }),
        "unSet" | "export" => json!({
            "description": "Variable names.",
            "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
        }),
        "if" => args(
            &[
                (
                    "expression",
                    text("JavaScript expression (`${var}`, `$N`, date helpers `&wday(2-6)` …)."),
                ),
                ("then", actions("Runs when the expression is true.")),
                ("else", actions("Runs when the expression is false.")),
            ],
            &["expression"],
        ),
        "switch" => args(
            &[
                (
                    "variable",
                    text("Expanded and compared exactly with the case keys."),
                ),
                (
                    "case",
                    json!({ "type": "object", "additionalProperties": reference("actions"),
                            "description": "Case value to applications; `default` when nothing matches." }),
                ),
            ],
            &["variable", "case"],
        ),
        "while" => args(
            &[
                (
                    "condition",
                    text("JavaScript expression tested after each pass."),
                ),
                ("do", actions("Loop body (runs at least once).")),
                ("maxSteps", number("Maximum passes (default 1000).")),
            ],
            &["condition"],
        ),
        "goto" => {
            json!({ "type": "string", "description": "Tag of the application that runs next." })
        }
        "function" => args(
            &[
                ("name", text("Function name.")),
                ("actions", actions("Function body.")),
            ],
            &["name", "actions"],
        ),
        "execute" => args(
            &[
                ("name", text("Function name.")),
                (
                    "async",
                    flag("Run on a worker (only non-media steps allowed)."),
                ),
            ],
            &["name"],
        ),
        "log" => {
            json!({ "description": "Text written to the log (expanded).", "type": ["string", "number", "boolean"] })
        }
        "echo" => json!({
            "description": "Delay in milliseconds (0 or empty = plain echo), or `{delay}`.",
            "anyOf": [{ "$ref": "#/$defs/number" }, { "type": "string" }, { "type": "null" },
                      { "type": "object", "properties": { "delay": { "$ref": "#/$defs/number" } } }]
        }),
        "sleep" | "softSleep" => json!({
            "description": "Milliseconds.",
            "$ref": "#/$defs/number"
        }),
        "trigger" => args(
            &[
                (
                    "disconnected",
                    actions("Runs after hangup (media applications refused)."),
                ),
                (
                    "commands",
                    json!({ "type": "object", "additionalProperties": reference("actions") }),
                ),
            ],
            &[],
        ),
        "schema" => args(
            &[
                (
                    "id",
                    json!({ "$ref": "#/$defs/scalar", "description": "Id of the flow to run." }),
                ),
                ("async", flag("Run without waiting.")),
            ],
            &["id"],
        ),
        "js" => args(
            &[
                (
                    "data",
                    text("JavaScript function body; `return` gives the result."),
                ),
                ("setVar", text("Variable that receives the result.")),
            ],
            &["data"],
        ),
        "math" => args(
            &[
                (
                    "fn",
                    text("`random` (a random element of `data`) or a JavaScript Math function."),
                ),
                ("data", json!({ "description": "Argument(s)." })),
                ("setVar", text("Variable that receives the result.")),
            ],
            &["fn"],
        ),
        "string" => args(
            &[
                (
                    "fn",
                    text(
                        "String function: reverse, charAt, base64, MD5, SHA-256, SHA-512, length, or a JavaScript String method.",
                    ),
                ),
                ("data", text("The string (expanded).")),
                (
                    "args",
                    json!({ "type": "array", "description": "Arguments of the function." }),
                ),
                ("setVar", text("Variable that receives the result.")),
            ],
            &["fn"],
        ),
        "backgroundPlayback" => args(
            &[
                ("file", reference("playbackFile")),
                (
                    "volumeReduction",
                    number("Volume reduction of the background."),
                ),
                ("name", text("Name of this background playback.")),
            ],
            &["file"],
        ),
        "httpRequest" => args(
            &[
                ("url", text("URL (http or https).")),
                ("method", text("HTTP method (default GET).")),
                ("headers", free_object("Request headers.")),
                (
                    "data",
                    json!({ "description": "Request body: text, or an object sent as JSON." }),
                ),
                (
                    "path",
                    free_object("Values for `${…}` placeholders in the URL path."),
                ),
                (
                    "timeout",
                    number("Timeout in milliseconds (bounded by http-timeout-ms)."),
                ),
                ("parser", text("Response parser, e.g. `application/json`.")),
                (
                    "responseCode",
                    text("Variable that receives the status code."),
                ),
                (
                    "exportVariables",
                    free_object("Variable name to JSON path in the response."),
                ),
                (
                    "exportCookie",
                    text("Variable that receives the Set-Cookie value."),
                ),
                ("cacheCookie", flag("Cache cookies.")),
                ("insecureSkipVerify", flag("Skip TLS verification.")),
            ],
            &["url"],
        ),
        "calendar" => args(
            &[
                ("id", reference("scalar")),
                ("name", text("Calendar name.")),
                (
                    "setVar",
                    text("Variable that receives `true`/`false` (or the exception)."),
                ),
                (
                    "extended",
                    flag("Report `expire` or the exception name when closed."),
                ),
            ],
            &[],
        ),
        "timezone" => json!({
            "description": "An IANA time zone name (`Europe/Kyiv`), as a string or `{\"name\": …}` / `{\"id\": …}`.",
            "anyOf": [
                { "type": "string" },
                args(&[("name", text("IANA time zone name.")), ("id", reference("scalar"))], &[])
            ]
        }),
        _ => json!({}),
    }
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
            "description": "Runs the application at most `max` times, then jumps to `failover`.",
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
        for block in NESTED_BLOCKS {
            for path in block.paths {
                let field = path.split(['.', '[']).next().unwrap();
                let field_schema = &apps[block.app]["properties"][field];
                assert!(
                    !field_schema.is_null(),
                    "{}.{} missing from the schema",
                    block.app,
                    field
                );
            }
        }
    }
}
