//! Parsing, validation and compilation of Webitel schemas (docs/semantics.md).
//!
//! Validation collects every problem of a file (not just the first) as [`Diagnostic`]s
//! with file, JSON pointer, line:column and a message a person can act on.

use std::collections::{HashMap, HashSet};

use crate::causes::{NORMAL_CLEARING, hangup_cause};
use crate::expr::Expression;
use crate::flow::{
    CompileOptions, Diagnostic, Flow, FlowSummary, SkippedApp, UnknownApps, content_version,
};
use crate::host::{BridgeStrategy, ExportScope};
use crate::json::{self, Kind, Member, Value, pointer_join};
use crate::program::*;
use crate::template::Template;

/// Keys of an application object that are never an application name (docs/semantics.md, "Reserved keys").
pub const RESERVED_KEYS: &[&str] = &["tag", "break", "limit", "async", "trace", "_id"];

/// Applications this engine runs.
pub const SUPPORTED_APPS: &[&str] = &[
    "answer",
    "backgroundPlayback",
    "backgroundPlaybackStop",
    "break",
    "bridge",
    "calendar",
    "conference",
    "echo",
    "execute",
    "export",
    "flushDTMF",
    "flushDtmf",
    "function",
    "generateLink",
    "goto",
    "hangup",
    "httpRequest",
    "if",
    "inBandDTMF",
    "js",
    "log",
    "math",
    "park",
    "pickup",
    "playback",
    "preAnswer",
    "recordFile",
    "recordSession",
    "ringReady",
    "ringback",
    "schema",
    "set",
    "setAll",
    "setNoLocal",
    "sipRedirect",
    "sleep",
    "softSleep",
    "string",
    "switch",
    "timezone",
    "trigger",
    "tts",
    "unSet",
    "updateCid",
    "while",
];

/// Webitel applications the engine knows of but does not run yet: a clear "not
/// supported" rather than "unknown".
pub const NOT_YET_SUPPORTED_APPS: &[&str] = &[
    "amdML",
    "callbackQueue",
    "cancelQueue",
    "ccOutbound",
    "ccPosition",
    "cv",
    "dump",
    "ewt",
    "getQueueAgents",
    "getQueueInfo",
    "getQueueMetrics",
    "joinAgent",
    "joinQueue",
    "lastBridged",
    "list",
    "listAdd",
    "markIVR",
    "memberInfo",
    "patchMembers",
    "say",
    "scheduleHangup",
    "setGrantee",
    "setSounds",
    "setUser",
    "speechAi",
    "speechAiV2",
    "start",
    "update",
    "userInfo",
    "voiceBot",
];

/// Default and ceiling of `while.maxSteps`.
const DEFAULT_WHILE_PASSES: u64 = 1000;

/// Compiles a flow from its text. `file` only names the source in diagnostics.
pub fn compile_source(
    id: &str,
    file: &str,
    text: &str,
    opts: &CompileOptions,
) -> Result<Flow, Vec<Diagnostic>> {
    let mut cx = Compiler {
        file,
        text,
        opts,
        diags: Vec::new(),
        units: Vec::new(),
        functions: HashMap::new(),
        function_defs: Vec::new(),
        disconnected: None,
        executes: Vec::new(),
        summary: FlowSummary::default(),
        all_tags: Vec::new(),
        schema_refs: Vec::new(),
        expr_sources: Vec::new(),
        expr_index: HashMap::new(),
        js_sources: Vec::new(),
        js_index: HashMap::new(),
    };
    if !crate::flow::is_valid_flow_id(id) {
        cx.error(
            "",
            0,
            format!("`{id}` is not a valid flow id ([A-Za-z0-9_.-]{{1,128}}, no `..`)"),
        );
    }
    let doc = match json::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            cx.error("", e.offset, format!("malformed JSON: {}", e.message));
            return Err(cx.diags);
        }
    };
    for dup in &doc.duplicates {
        let (line, column) = json::line_col(text, dup.first_offset);
        cx.error(
            &dup.pointer,
            dup.offset,
            format!("duplicate key (first at {line}:{column}); JSON keeps only one of them"),
        );
    }
    let mut name = None;
    let mut timezone = None;
    let (list, list_pointer) = match &doc.root.kind {
        Kind::Array(_) => (Some(&doc.root), String::new()),
        Kind::Object(members) => {
            for member in members {
                match member.key.as_str() {
                    "name" => name = cx.string_field(member, "").map(str::to_string),
                    "timezone" => {
                        if let Some(tz) = cx.string_field(member, "") {
                            if !tz.is_empty() && tz.parse::<chrono_tz::Tz>().is_err() {
                                cx.error(
                                    &pointer_join("", "timezone"),
                                    member.value.start,
                                    format!("unknown time zone `{tz}` (expected an IANA name such as `Europe/Kyiv`)"),
                                );
                            }
                            if !tz.is_empty() {
                                timezone = Some(tz.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            let schema = members
                .iter()
                .find(|m| m.key == "schema")
                .or_else(|| members.iter().find(|m| m.key == "scheme"));
            match schema {
                Some(member) => (Some(&member.value), pointer_join("", &member.key)),
                None => {
                    cx.error(
                        "",
                        doc.root.start,
                        "a flow object needs a `schema` (or `scheme`) array of applications"
                            .to_string(),
                    );
                    (None, String::new())
                }
            }
        }
        _ => {
            cx.error(
                "",
                doc.root.start,
                format!(
                    "a flow is an array of applications or an object with `schema`, found {}",
                    doc.root.type_name()
                ),
            );
            (None, String::new())
        }
    };
    if let Some(list) = list {
        let main = cx.new_unit("main");
        cx.compile_unit(main, list, &list_pointer);
        // Function bodies are compiled after the sequence that defines them, so a
        // function may be defined anywhere (even after its first `execute`).
        let mut next = 0;
        while next < cx.function_defs.len() {
            let (unit, value, pointer) = cx.function_defs[next].clone();
            cx.compile_unit(unit, value, &pointer);
            next += 1;
        }
        cx.resolve_executes();
    }
    let mut expressions = Vec::with_capacity(cx.expr_sources.len());
    for (source, uses) in std::mem::take(&mut cx.expr_sources) {
        match Expression::compile(&source) {
            Ok(expr) => expressions.push(expr),
            Err(message) => {
                for (pointer, offset) in uses {
                    cx.error(
                        &pointer,
                        offset,
                        format!("expression does not parse: {message}"),
                    );
                }
            }
        }
    }
    let mut scripts = Vec::with_capacity(cx.js_sources.len());
    for (source, uses) in std::mem::take(&mut cx.js_sources) {
        match crate::js::JsFunction::compile(&source) {
            Ok(function) => scripts.push(function),
            Err(message) => {
                for (pointer, offset) in uses {
                    cx.error(
                        &pointer,
                        offset,
                        format!("JavaScript does not compile: {message}"),
                    );
                }
            }
        }
    }
    if !cx.diags.is_empty() {
        cx.diags.sort_by_key(|d| (d.line, d.column));
        return Err(cx.diags);
    }
    let mut summary = cx.summary;
    summary.tags = cx.all_tags;
    summary.tags.sort();
    summary.tags.dedup();
    summary.functions = cx.functions.keys().cloned().collect();
    summary.functions.sort();
    Ok(Flow {
        id: id.to_string(),
        file: file.to_string(),
        version: content_version(text.as_bytes()),
        name,
        timezone,
        uses_media: cx
            .units
            .iter()
            .any(|u| u.ops.iter().any(|op| op.code.uses_media())),
        schema_refs: cx.schema_refs,
        expressions,
        scripts,
        units: cx.units.into_iter().map(|b| b.finish()).collect(),
        disconnected: cx.disconnected,
        summary,
    })
}

/// A source queued for compilation and the places (pointer, offset) that use it.
type QueuedSource = (String, Vec<(String, usize)>);

/// Index of `source` in `queue`, queueing it on first use; every use is remembered so an
/// error is reported at each place.
fn queue_source(
    queue: &mut Vec<QueuedSource>,
    index: &mut HashMap<String, usize>,
    source: &str,
    pointer: String,
    offset: usize,
) -> usize {
    if let Some(&i) = index.get(source) {
        queue[i].1.push((pointer, offset));
        return i;
    }
    queue.push((source.to_string(), vec![(pointer, offset)]));
    index.insert(source.to_string(), queue.len() - 1);
    queue.len() - 1
}

/// A unit under construction.
struct UnitBuilder {
    name: String,
    ops: Vec<Op>,
    counters: usize,
    tags: HashMap<String, (usize, String)>,
    /// Jumps to tags: (op index, tag, pointer of the tag value, offset, is_failover).
    tag_refs: Vec<(usize, String, String, usize, bool)>,
}

impl UnitBuilder {
    fn finish(self) -> Unit {
        Unit {
            name: self.name,
            ops: self.ops,
            counters: self.counters,
        }
    }
}

struct Compiler<'a> {
    file: &'a str,
    text: &'a str,
    opts: &'a CompileOptions,
    diags: Vec<Diagnostic>,
    units: Vec<UnitBuilder>,
    functions: HashMap<String, usize>,
    /// Function bodies waiting to be compiled: (unit, actions, pointer).
    function_defs: Vec<(usize, &'a Value, String)>,
    disconnected: Option<usize>,
    /// `execute` ops to bind: (unit, op, name, pointer, offset, async).
    executes: Vec<(usize, usize, String, String, usize, bool)>,
    summary: FlowSummary,
    all_tags: Vec<String>,
    /// Literal `schema` ids, checked against the flow set by `FlowSet::load_dir`.
    schema_refs: Vec<crate::flow::SchemaRef>,
    /// Expressions and `js` bodies to compile: (source, pointer, offset).
    /// Expression sources to compile, each once, with every place that uses it
    /// (pointer, offset): a flow often repeats the same condition or `js` body.
    expr_sources: Vec<QueuedSource>,
    expr_index: HashMap<String, usize>,
    js_sources: Vec<QueuedSource>,
    js_index: HashMap<String, usize>,
}

/// Reads the fields of one argument object, noting a bad field and going on, so that one
/// pass reports every bad field; `ok` is false once any field was bad.
struct Args<'m> {
    members: &'m [Member],
    pointer: &'m str,
    ok: bool,
}

impl<'m> Args<'m> {
    fn new(members: &'m [Member], pointer: &'m str) -> Self {
        Args {
            members,
            pointer,
            ok: true,
        }
    }

    /// A number field, `default` when absent (or bad).
    fn num(&mut self, c: &mut Compiler<'_>, key: &str, default: u64) -> Num {
        match find_ci(self.members, key) {
            Some(m) => c
                .num(&m.value, &pointer_join(self.pointer, &m.key), key)
                .unwrap_or_else(|| {
                    self.ok = false;
                    Num::Const(default)
                }),
            None => Num::Const(default),
        }
    }

    /// A text field, `None` when absent (or bad).
    fn text(&mut self, c: &mut Compiler<'_>, key: &str) -> Option<Template> {
        let m = find_ci(self.members, key)?;
        let t = c.text(&m.value, &pointer_join(self.pointer, &m.key), key);
        if t.is_none() {
            self.ok = false;
        }
        t
    }

    /// A boolean field, `false` when absent (or bad).
    fn flag(&mut self, c: &mut Compiler<'_>, key: &str) -> Flag {
        match find_ci(self.members, key) {
            Some(m) => c
                .flag(&m.value, &pointer_join(self.pointer, &m.key))
                .unwrap_or_else(|| {
                    self.ok = false;
                    Flag::Const(false)
                }),
            None => Flag::Const(false),
        }
    }

    /// An object of name → text, empty when absent; a bad entry is left out.
    fn string_map(&mut self, c: &mut Compiler<'_>, key: &str) -> Vec<(Box<str>, Template)> {
        let Some(m) = find_ci(self.members, key) else {
            return Vec::new();
        };
        let map_pointer = pointer_join(self.pointer, &m.key);
        match m.value.as_object() {
            Some(entries) => entries
                .iter()
                .filter_map(|e| {
                    let t = c.text(&e.value, &pointer_join(&map_pointer, &e.key), &e.key);
                    if t.is_none() {
                        self.ok = false;
                    }
                    Some((e.key.as_str().into(), t?))
                })
                .collect(),
            None => {
                c.error(
                    &map_pointer,
                    m.value.start,
                    format!("`{key}` must be an object, found {}", m.value.type_name()),
                );
                self.ok = false;
                Vec::new()
            }
        }
    }
}

/// The application object being compiled: its arguments and where they are.
struct AppCx<'v> {
    app: &'v str,
    value: &'v Value,
    pointer: String,
}

impl<'a> Compiler<'a> {
    fn error(&mut self, pointer: &str, offset: usize, message: String) {
        let (line, column) = json::line_col(self.text, offset);
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            pointer: pointer.to_string(),
            line,
            column,
            message,
        });
    }

    fn string_field<'v>(&mut self, member: &'v Member, base: &str) -> Option<&'v str> {
        match &member.value.kind {
            Kind::String(s) => Some(s),
            _ => {
                self.error(
                    &pointer_join(base, &member.key),
                    member.value.start,
                    format!(
                        "`{}` must be a string, found {}",
                        member.key,
                        member.value.type_name()
                    ),
                );
                None
            }
        }
    }

    fn new_unit(&mut self, name: &str) -> usize {
        self.units.push(UnitBuilder {
            name: name.to_string(),
            ops: Vec::new(),
            counters: 0,
            tags: HashMap::new(),
            tag_refs: Vec::new(),
        });
        self.units.len() - 1
    }

    fn compile_unit(&mut self, unit: usize, list: &'a Value, pointer: &str) {
        self.compile_block(unit, list, pointer);
        // Resolve tag references of this unit (tags are per flow object).
        let refs = std::mem::take(&mut self.units[unit].tag_refs);
        for (op, tag, ptr, offset, is_failover) in refs {
            match self.units[unit].tags.get(&tag).map(|(i, _)| *i) {
                Some(target) => {
                    let op = &mut self.units[unit].ops[op];
                    if is_failover {
                        if let Some(limit) = &mut op.limit {
                            limit.failover = target;
                        }
                    } else {
                        op.code = Code::Goto(target);
                    }
                }
                None => {
                    let what = if is_failover {
                        "`limit.failover`"
                    } else {
                        "`goto`"
                    };
                    let scope = &self.units[unit].name;
                    self.error(
                        &ptr,
                        offset,
                        format!("{what} to tag `{tag}`, which does not exist in {scope} (tags are per flow object)"),
                    );
                }
            }
        }
    }

    /// Compiles an array of application objects inline into `unit`.
    fn compile_block(&mut self, unit: usize, list: &'a Value, pointer: &str) {
        let Some(items) = list.as_array() else {
            self.error(
                pointer,
                list.start,
                format!(
                    "expected an array of applications, found {}",
                    list.type_name()
                ),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let item_pointer = format!("{pointer}/{i}");
            self.compile_object(unit, item, item_pointer);
        }
    }

    fn compile_object(&mut self, unit: usize, item: &'a Value, pointer: String) {
        let Some(members) = item.as_object() else {
            self.error(
                &pointer,
                item.start,
                format!("expected an application object, found {}", item.type_name()),
            );
            return;
        };
        let names: Vec<&Member> = members
            .iter()
            .filter(|m| !RESERVED_KEYS.contains(&m.key.as_str()))
            .collect();
        let break_member = members.iter().find(|m| m.key == "break");
        let break_flag = match break_member {
            Some(m) => self.const_bool(&m.value, &pointer_join(&pointer, "break")),
            None => false,
        };
        let (app, value) = match names.as_slice() {
            [one] => (one.key.as_str(), &one.value),
            [] if break_flag => ("break", &break_member.expect("break key").value),
            [] => {
                self.error(
                    &pointer,
                    item.start,
                    "the object names no application (only reserved keys: tag, break, limit, async, trace, _id)".to_string(),
                );
                return;
            }
            many => {
                let list: Vec<String> = many.iter().map(|m| format!("`{}`", m.key)).collect();
                self.error(
                    &pointer,
                    many[1].key_start,
                    format!(
                        "the object names more than one application ({}); write one application per object",
                        list.join(", ")
                    ),
                );
                return;
            }
        };
        *self.summary.apps.entry(app.to_string()).or_default() += 1;
        self.summary.steps += 1;
        let app_pointer = if names.is_empty() {
            pointer.clone()
        } else {
            pointer_join(&pointer, app)
        };
        let acx = AppCx {
            app,
            value,
            pointer: app_pointer,
        };

        // Definitions are not steps of the sequence they appear in. A `tag` on one (the
        // designer adds them) names the position where it stands: the next step.
        if app == "function" || app == "trigger" {
            if let Some(tag) = members.iter().find(|m| m.key == "tag") {
                let index = self.units[unit].ops.len();
                self.register_tag(unit, index, tag, &pointer_join(&pointer, "tag"));
            }
            if app == "function" {
                self.define_function(&acx);
            } else {
                self.define_trigger(&acx);
            }
            return;
        }

        let index = self.units[unit].ops.len();
        // Reserved keys.
        let mut limit = None;
        for member in members {
            if !matches!(member.key.as_str(), "tag" | "limit" | "async" | "trace") {
                continue;
            }
            let key_pointer = pointer_join(&pointer, &member.key);
            match member.key.as_str() {
                "tag" => self.register_tag(unit, index, member, &key_pointer),
                "limit" => limit = self.compile_limit(unit, index, &member.value, &key_pointer),
                "async" => {
                    self.const_bool(&member.value, &key_pointer);
                }
                "trace" if member.value.as_object().is_none() => {
                    self.error(
                        &key_pointer,
                        member.value.start,
                        format!(
                            "`trace` must be an object, found {}",
                            member.value.type_name()
                        ),
                    );
                }
                _ => {}
            }
        }
        let stop_after = break_flag && app != "break";
        self.units[unit].ops.push(Op {
            pointer: acx.pointer.clone().into(),
            app: app.into(),
            code: Code::Break,
            stop_after,
            limit,
        });
        let code = self.compile_app(unit, index, &acx);
        if let Some(code) = code {
            self.units[unit].ops[index].code = code;
        }
    }

    fn register_tag(&mut self, unit: usize, index: usize, member: &Member, key_pointer: &str) {
        match &member.value.kind {
            Kind::String(tag) if !tag.is_empty() => {
                self.all_tags.push(tag.clone());
                let unit_name = self.units[unit].name.clone();
                if let Some((_, first)) = self.units[unit].tags.get(tag) {
                    let first = first.clone();
                    self.error(
                        key_pointer,
                        member.value.start,
                        format!("duplicate tag `{tag}` in {unit_name} (first at {first})"),
                    );
                } else {
                    self.units[unit]
                        .tags
                        .insert(tag.clone(), (index, key_pointer.to_string()));
                }
            }
            _ => self.error(
                key_pointer,
                member.value.start,
                format!(
                    "`tag` must be a non-empty string, found {}",
                    member.value.type_name()
                ),
            ),
        }
    }

    fn compile_limit(
        &mut self,
        unit: usize,
        index: usize,
        value: &Value,
        pointer: &str,
    ) -> Option<Limit> {
        let Some(members) = value.as_object() else {
            self.error(
                pointer,
                value.start,
                format!(
                    "`limit` must be an object {{max, failover}}, found {}",
                    value.type_name()
                ),
            );
            return None;
        };
        // As the original: a limit counts only with `max > 0` and a non-empty `failover`;
        // otherwise it is ignored (designer flows carry `{"max": 5, "failover": ""}`).
        // docs/semantics.md, "Reserved keys".
        let max = find_ci(members, "max");
        let failover = find_ci(members, "failover");
        let failover_is_empty = failover.is_none_or(|m| match &m.value.kind {
            Kind::Null => true,
            Kind::String(tag) => tag.is_empty(),
            _ => false,
        });
        let max_is_unset = max.is_none_or(|m| match &m.value.kind {
            Kind::Null => true,
            Kind::Number(raw) => raw.parse::<f64>().is_ok_and(|n| n <= 0.0),
            Kind::String(text) => text.trim().parse::<f64>().is_ok_and(|n| n <= 0.0),
            _ => false,
        });
        let (Some(max), Some(failover)) = (max, failover) else {
            return None;
        };
        if failover_is_empty || max_is_unset {
            return None;
        }
        let max_value = self.const_u64(&max.value, &pointer_join(pointer, &max.key), "max")?;
        let failover_pointer = pointer_join(pointer, &failover.key);
        let Some(tag) = failover.value.as_str() else {
            self.error(
                &failover_pointer,
                failover.value.start,
                format!(
                    "`limit.failover` must be a tag name, found {}",
                    failover.value.type_name()
                ),
            );
            return None;
        };
        let builder = &mut self.units[unit];
        let slot = builder.counters;
        builder.counters += 1;
        builder.tag_refs.push((
            index,
            tag.to_string(),
            failover_pointer,
            failover.value.start,
            true,
        ));
        Some(Limit {
            max: max_value,
            failover: usize::MAX,
            slot,
        })
    }

    fn define_function(&mut self, acx: &AppCx<'a>) {
        let Some(members) = acx.value.as_object() else {
            self.type_error(acx, acx.value, "an object {name, actions}");
            return;
        };
        let name = match find_ci(members, "name") {
            Some(m) => match m.value.as_str() {
                Some(n) if !n.is_empty() => n.to_string(),
                _ => {
                    self.error(
                        &pointer_join(&acx.pointer, &m.key),
                        m.value.start,
                        "`function.name` must be a non-empty string".to_string(),
                    );
                    return;
                }
            },
            None => {
                self.missing(acx, "name");
                return;
            }
        };
        let Some(actions) = find_ci(members, "actions") else {
            self.missing(acx, "actions");
            return;
        };
        if self.functions.contains_key(&name) {
            self.error(
                &acx.pointer,
                acx.value.start,
                format!("function `{name}` is defined twice"),
            );
            return;
        }
        let unit = self.new_unit(&format!("function `{name}`"));
        self.functions.insert(name, unit);
        let pointer = pointer_join(&acx.pointer, &actions.key);
        self.function_defs.push((unit, &actions.value, pointer));
    }

    fn define_trigger(&mut self, acx: &AppCx<'a>) {
        let Some(members) = acx.value.as_object() else {
            self.type_error(acx, acx.value, "an object {disconnected: [...]}");
            return;
        };
        for member in members {
            let pointer = pointer_join(&acx.pointer, &member.key);
            match member.key.as_str() {
                "disconnected" => {
                    if self.disconnected.is_some() {
                        self.error(
                            &pointer,
                            member.value.start,
                            "a second `trigger.disconnected`; a flow has at most one".to_string(),
                        );
                        continue;
                    }
                    let unit = self.new_unit("trigger.disconnected");
                    self.disconnected = Some(unit);
                    self.function_defs.push((unit, &member.value, pointer));
                }
                "commands" => {
                    self.error(
                        &pointer,
                        member.value.start,
                        "`trigger.commands` is not supported in call flows (only `disconnected`)"
                            .to_string(),
                    );
                }
                other => self.error(
                    &pointer,
                    member.value.start,
                    format!("unknown trigger `{other}` (call flows know `disconnected`)"),
                ),
            }
        }
    }

    fn resolve_executes(&mut self) {
        let executes = std::mem::take(&mut self.executes);
        for (unit, op, name, pointer, offset, is_async) in &executes {
            match self.functions.get(name) {
                Some(&target) => {
                    self.units[*unit].ops[*op].code = Code::Execute {
                        unit: target,
                        function: name.as_str().into(),
                        is_async: *is_async,
                    };
                }
                None => self.error(
                    pointer,
                    *offset,
                    format!("`execute` of function `{name}`, which is not defined in this flow"),
                ),
            }
        }
        // Async functions run on the caller's thread after the current step (this
        // engine has no parallel execution on a session), so they must not touch media.
        for (_, _, name, pointer, offset, is_async) in &executes {
            if !*is_async {
                continue;
            }
            let Some(&target) = self.functions.get(name) else {
                continue;
            };
            if let Some((bad_pointer, app)) = self.find_media(target, &mut HashSet::new()) {
                self.error(
                    pointer,
                    *offset,
                    format!(
                        "`execute` with `async: true` of function `{name}`, which uses media (`{app}` at {bad_pointer}); async functions may only contain non-media steps"
                    ),
                );
            }
        }
    }

    /// The first media step reachable from a unit (through nested executes).
    fn find_media(&self, unit: usize, seen: &mut HashSet<usize>) -> Option<(String, String)> {
        if !seen.insert(unit) {
            return None;
        }
        for op in &self.units[unit].ops {
            if op.code.uses_media() {
                return Some((op.pointer.to_string(), op.app.to_string()));
            }
            if let Code::Execute { unit: target, .. } = op.code {
                if let Some(found) = self.find_media(target, seen) {
                    return Some(found);
                }
            }
        }
        None
    }

    // ---- argument helpers (weak typing, case-insensitive keys: docs/semantics.md, "Arguments") ----

    fn type_error(&mut self, acx: &AppCx<'_>, value: &Value, expected: &str) {
        self.error(
            &acx.pointer,
            value.start,
            format!(
                "`{}` expects {expected}, found {}",
                acx.app,
                value.type_name()
            ),
        );
    }

    fn missing(&mut self, acx: &AppCx<'_>, field: &str) {
        self.error(
            &acx.pointer,
            acx.value.start,
            format!("`{}` is missing the required field `{field}`", acx.app),
        );
    }

    fn const_bool(&mut self, value: &Value, pointer: &str) -> bool {
        match self.flag(value, pointer) {
            Some(Flag::Const(b)) => b,
            Some(Flag::Dynamic(_)) => {
                self.error(
                    pointer,
                    value.start,
                    "must be a constant boolean here, not a variable".to_string(),
                );
                false
            }
            None => false,
        }
    }

    fn flag(&mut self, value: &Value, pointer: &str) -> Option<Flag> {
        match &value.kind {
            Kind::Bool(b) => Some(Flag::Const(*b)),
            Kind::Null => Some(Flag::Const(false)),
            Kind::Number(raw) => Some(Flag::Const(raw.parse::<f64>().is_ok_and(|n| n != 0.0))),
            Kind::String(s) => {
                let template = Template::parse(s);
                match template.as_literal() {
                    Some(text) => match parse_bool(text) {
                        Some(b) => Some(Flag::Const(b)),
                        None => {
                            self.error(
                                pointer,
                                value.start,
                                format!("expected a boolean, found the string `{text}`"),
                            );
                            None
                        }
                    },
                    None => Some(Flag::Dynamic(template)),
                }
            }
            _ => {
                self.error(
                    pointer,
                    value.start,
                    format!("expected a boolean, found {}", value.type_name()),
                );
                None
            }
        }
    }

    fn const_u64(&mut self, value: &Value, pointer: &str, field: &str) -> Option<u64> {
        match self.num(value, pointer, field)? {
            Num::Const(n) => Some(n),
            Num::Dynamic(_) => {
                self.error(
                    pointer,
                    value.start,
                    format!("`{field}` must be a constant number here, not a variable"),
                );
                None
            }
        }
    }

    fn num(&mut self, value: &Value, pointer: &str, field: &str) -> Option<Num> {
        let text = match &value.kind {
            Kind::Number(raw) => raw.as_str(),
            Kind::Bool(b) => return Some(Num::Const(u64::from(*b))),
            Kind::String(s) => {
                let template = Template::parse(s);
                if template.as_literal().is_none() {
                    return Some(Num::Dynamic(template));
                }
                s.as_str()
            }
            _ => {
                self.error(
                    pointer,
                    value.start,
                    format!("`{field}` must be a number, found {}", value.type_name()),
                );
                return None;
            }
        };
        match parse_count(text) {
            Ok(n) => Some(Num::Const(n)),
            Err(reason) => {
                self.error(pointer, value.start, format!("`{field}` {reason}"));
                None
            }
        }
    }

    /// A string argument (numbers and booleans are accepted as their text).
    fn text(&mut self, value: &Value, pointer: &str, field: &str) -> Option<Template> {
        match &value.kind {
            Kind::String(s) => Some(Template::parse(s)),
            Kind::Number(raw) => Some(Template::literal(raw)),
            Kind::Bool(b) => Some(Template::literal(if *b { "true" } else { "false" })),
            Kind::Null => Some(Template::literal("")),
            _ => {
                self.error(
                    pointer,
                    value.start,
                    format!("`{field}` must be a string, found {}", value.type_name()),
                );
                None
            }
        }
    }

    fn var_value(&mut self, value: &Value) -> VarValue {
        match &value.kind {
            Kind::String(s) => VarValue::Text(Template::parse(s)),
            Kind::Number(raw) => VarValue::Raw(raw.as_str().into()),
            Kind::Bool(b) => VarValue::Raw(if *b { "true" } else { "false" }.into()),
            Kind::Null => VarValue::Raw("".into()),
            _ => VarValue::Raw(value.to_json().into()),
        }
    }

    fn json_template(&mut self, value: &Value) -> JsonTemplate {
        match &value.kind {
            Kind::String(s) => {
                let template = Template::parse(s);
                let trimmed = s.trim();
                let splice = trimmed.starts_with("${")
                    && trimmed.ends_with('}')
                    && trimmed[2..].find('}') == Some(trimmed.len() - 3);
                JsonTemplate::Text { template, splice }
            }
            Kind::Array(items) => {
                JsonTemplate::Array(items.iter().map(|v| self.json_template(v)).collect())
            }
            Kind::Object(members) => JsonTemplate::Object(
                members
                    .iter()
                    .map(|m| (m.key.as_str().into(), self.json_template(&m.value)))
                    .collect(),
            ),
            _ => JsonTemplate::Raw(value.to_json().into()),
        }
    }

    /// The members of the object field `what` at `pointer`, or an error.
    fn object_at<'v>(
        &mut self,
        value: &'v Value,
        pointer: &str,
        what: &str,
    ) -> Option<&'v [Member]> {
        match value.as_object() {
            Some(members) => Some(members),
            None => {
                self.error(
                    pointer,
                    value.start,
                    format!("`{what}` must be an object, found {}", value.type_name()),
                );
                None
            }
        }
    }

    /// The members of an object argument, or an error.
    fn object<'v>(&mut self, acx: &AppCx<'v>) -> Option<&'v [Member]> {
        match acx.value.as_object() {
            Some(members) => Some(members),
            None => {
                self.type_error(acx, acx.value, "an object");
                None
            }
        }
    }

    fn compile_nested(&mut self, unit: usize, member: Option<&'a Member>, base: &str) {
        if let Some(member) = member {
            self.compile_block(unit, &member.value, &pointer_join(base, &member.key));
        }
    }

    fn push_jump(&mut self, unit: usize, pointer: &str) -> usize {
        let ops = &mut self.units[unit].ops;
        ops.push(Op {
            pointer: pointer.into(),
            app: "".into(),
            code: Code::Jump(usize::MAX),
            stop_after: false,
            limit: None,
        });
        ops.len() - 1
    }

    fn patch_jump(&mut self, unit: usize, at: usize, target: usize) {
        self.units[unit].ops[at].code = Code::Jump(target);
    }

    /// Queues an expression; all are compiled after the blocks, at a shallow stack depth
    /// (the JavaScript syntax checker has a stack limit, and blocks nest deeply).
    fn compile_expression(&mut self, source: &str, pointer: &str, offset: usize) -> Option<usize> {
        Some(queue_source(
            &mut self.expr_sources,
            &mut self.expr_index,
            source,
            pointer.to_string(),
            offset,
        ))
    }

    /// Compiles one application; `None` leaves the placeholder (an error was reported).
    fn compile_app(&mut self, unit: usize, index: usize, acx: &AppCx<'a>) -> Option<Code> {
        // Only the block applications recurse; everything else compiles in its own
        // (large) frame that is not kept on the stack while nested blocks compile.
        match acx.app {
            "if" => self.compile_if(unit, acx),
            "switch" => self.compile_switch(unit, acx),
            "while" => self.compile_while(unit, index, acx),
            _ => self.compile_leaf_app(unit, index, acx),
        }
    }

    #[inline(never)]
    fn compile_leaf_app(&mut self, unit: usize, index: usize, acx: &AppCx<'a>) -> Option<Code> {
        let app = acx.app;
        let pointer = acx.pointer.as_str();
        match app {
            "answer" => Some(Code::Answer),
            "preAnswer" => Some(Code::PreAnswer),
            "ringReady" => Some(Code::RingReady),
            "break" => Some(Code::Break),
            "hangup" => {
                let template = self.text(acx.value, pointer, "hangup")?;
                match template.as_literal() {
                    Some("") => Some(Code::Hangup(CauseSpec::Known(NORMAL_CLEARING))),
                    Some(text) => match hangup_cause(text) {
                        Some(cause) => Some(Code::Hangup(CauseSpec::Known(cause))),
                        None => {
                            self.error(
                                pointer,
                                acx.value.start,
                                format!("unknown hangup cause `{text}` (expected a FreeSWITCH cause name such as USER_BUSY, or its number)"),
                            );
                            None
                        }
                    },
                    None => Some(Code::Hangup(CauseSpec::Dynamic(template))),
                }
            }
            "log" => Some(Code::Log(self.text(acx.value, pointer, "log")?)),
            "sleep" | "softSleep" => {
                let value = match acx.value.as_object() {
                    // `{"timeout": 1000}` is accepted as well as a bare number.
                    Some(members) => match find_ci(members, "timeout") {
                        Some(m) => &m.value,
                        None => {
                            self.missing(acx, "timeout");
                            return None;
                        }
                    },
                    None => acx.value,
                };
                let ms = self.num(value, pointer, app)?;
                Some(if app == "sleep" {
                    Code::Sleep(ms)
                } else {
                    Code::SoftSleep(ms)
                })
            }
            "goto" => match &acx.value.kind {
                Kind::String(tag) if !tag.is_empty() => {
                    self.units[unit].tag_refs.push((
                        index,
                        tag.clone(),
                        pointer.to_string(),
                        acx.value.start,
                        false,
                    ));
                    Some(Code::Goto(usize::MAX))
                }
                _ => {
                    self.type_error(acx, acx.value, "a tag name (string)");
                    None
                }
            },
            "set" | "setAll" | "setNoLocal" => {
                let members = self.object(acx)?;
                if members.is_empty() {
                    self.error(
                        pointer,
                        acx.value.start,
                        format!("`{app}` needs at least one variable"),
                    );
                    return None;
                }
                let mut vars = Vec::with_capacity(members.len());
                for member in members {
                    if member.key.is_empty() {
                        self.error(
                            &pointer_join(pointer, ""),
                            member.key_start,
                            "empty variable name".to_string(),
                        );
                        continue;
                    }
                    vars.push((Template::parse(&member.key), self.var_value(&member.value)));
                }
                Some(match app {
                    "set" => Code::Set(vars),
                    "setAll" => Code::SetExport(vars, ExportScope::LocalAndBLegs),
                    _ => Code::SetExport(vars, ExportScope::BLegsOnly),
                })
            }
            "unSet" | "export" => {
                let names = self.name_list(acx)?;
                Some(if app == "unSet" {
                    Code::UnSet(names)
                } else {
                    Code::Export(names)
                })
            }
            "execute" => {
                let members = self.object(acx)?;
                let name = match find_ci(members, "name") {
                    Some(m) => match m.value.as_str() {
                        Some(n) if !n.is_empty() => n.to_string(),
                        _ => {
                            self.error(
                                &pointer_join(pointer, &m.key),
                                m.value.start,
                                "`execute.name` must be a function name (a non-empty string)"
                                    .to_string(),
                            );
                            return None;
                        }
                    },
                    None => {
                        self.missing(acx, "name");
                        return None;
                    }
                };
                let is_async = self.opt_const_bool(members, "async", pointer);
                self.executes.push((
                    unit,
                    index,
                    name,
                    pointer.to_string(),
                    acx.value.start,
                    is_async,
                ));
                None
            }
            "schema" => {
                let (id_value, is_async) = match acx.value.as_object() {
                    Some(members) => {
                        let Some(id) = find_ci(members, "id") else {
                            self.missing(acx, "id");
                            return None;
                        };
                        let is_async = self.opt_const_bool(members, "async", pointer);
                        (&id.value, is_async)
                    }
                    None => (acx.value, false),
                };
                let id = self.text(id_value, pointer, "id")?;
                if let Some(literal) = id.as_literal() {
                    let (line, column) = json::line_col(self.text, id_value.start);
                    self.schema_refs.push(crate::flow::SchemaRef {
                        id: literal.to_string(),
                        pointer: pointer.to_string(),
                        line,
                        column,
                    });
                    if !crate::flow::is_valid_flow_id(literal) {
                        self.error(
                            pointer,
                            id_value.start,
                            format!("`{literal}` is not a valid flow id"),
                        );
                        return None;
                    }
                }
                Some(Code::Schema { id, is_async })
            }
            "playback" => self
                .compile_playback(acx)
                .map(|p| Code::Playback(Box::new(p))),
            "tts" => self.compile_tts(acx).map(|p| Code::Playback(Box::new(p))),
            "bridge" => self.compile_bridge(acx).map(|b| Code::Bridge(Box::new(b))),
            "backgroundPlayback" => {
                let members = self.object(acx)?;
                let Some(file) = find_ci(members, "file") else {
                    self.missing(acx, "file");
                    return None;
                };
                let file =
                    self.compile_file_spec(&file.value, &pointer_join(pointer, &file.key))?;
                let volume_reduction = self.opt_num(members, "volumeReduction", pointer, 0).ok()?;
                Some(Code::BackgroundStart {
                    file,
                    volume_reduction,
                })
            }
            "backgroundPlaybackStop" => Some(Code::BackgroundStop),
            "calendar" => {
                let members = self.object(acx)?;
                let id = self.opt_text(members, "id", pointer).ok()?;
                let name = self.opt_text(members, "name", pointer).ok()?;
                if id.is_none() && name.is_none() {
                    self.missing(acx, "id` or `name");
                    return None;
                }
                let set_var = self.set_var_field(members, pointer, acx)?;
                let extended = self.opt_flag(members, "extended", pointer).ok()?;
                Some(Code::Calendar {
                    id,
                    name,
                    set_var,
                    extended,
                })
            }
            "generateLink" => self
                .compile_link(acx)
                .map(|l| Code::GenerateLink(Box::new(l))),
            "park" => {
                let members = self.object(acx)?;
                let Some(lot) = self.opt_text(members, "name", pointer).ok()? else {
                    self.missing(acx, "name");
                    return None;
                };
                let Some(range) = self.opt_text(members, "lot", pointer).ok()? else {
                    self.missing(acx, "lot");
                    return None;
                };
                if let Some(text) = range.as_literal() {
                    if let Err(reason) = parse_lot_range(text) {
                        let m = find_ci(members, "lot").expect("lot is present");
                        self.error(&pointer_join(pointer, &m.key), m.value.start, reason);
                        return None;
                    }
                }
                let retrieve = self
                    .opt_text(members, "auto", pointer)
                    .ok()?
                    .unwrap_or_else(|| Template::literal("in"));
                Some(Code::Park {
                    lot,
                    range,
                    retrieve,
                })
            }
            "pickup" => {
                let members = self.object(acx)?;
                let Some(name) = self.opt_text(members, "name", pointer).ok()? else {
                    self.missing(acx, "name");
                    return None;
                };
                Some(Code::Pickup(name))
            }
            "conference" => {
                let empty: &[Member] = &[];
                let members = match &acx.value.kind {
                    Kind::Object(members) => members.as_slice(),
                    Kind::String(s) if s.is_empty() => empty,
                    _ => {
                        self.type_error(acx, acx.value, "an object {name, profile, pin, tags}");
                        return None;
                    }
                };
                let name = self
                    .opt_text(members, "name", pointer)
                    .ok()?
                    .unwrap_or_else(|| Template::literal("global"));
                let profile = self
                    .opt_text(members, "profile", pointer)
                    .ok()?
                    .unwrap_or_else(|| Template::literal("default"));
                let pin = self.opt_text(members, "pin", pointer).ok()?;
                let flags = match find_ci(members, "tags").or_else(|| find_ci(members, "flags")) {
                    Some(m) => {
                        let p = pointer_join(pointer, &m.key);
                        let Some(items) = m.value.as_array() else {
                            self.error(
                                &p,
                                m.value.start,
                                format!(
                                    "`{}` must be an array of member flags, found {}",
                                    m.key,
                                    m.value.type_name()
                                ),
                            );
                            return None;
                        };
                        let mut flags = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            flags.push(self.text(item, &format!("{p}/{i}"), &m.key)?);
                        }
                        flags
                    }
                    None => Vec::new(),
                };
                Some(Code::Conference {
                    name,
                    profile,
                    pin,
                    flags,
                })
            }
            "sipRedirect" => {
                let uris = match &acx.value.kind {
                    Kind::String(s) if !s.trim().is_empty() => vec![Template::parse(s)],
                    Kind::Array(items) if !items.is_empty() => {
                        let mut uris = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            uris.push(self.text(item, &format!("{pointer}/{i}"), "sipRedirect")?);
                        }
                        uris
                    }
                    _ => {
                        self.type_error(acx, acx.value, "a SIP URI or a non-empty array of them");
                        return None;
                    }
                };
                Some(Code::Redirect(uris))
            }
            "updateCid" => {
                let members = self.object(acx)?;
                let name = self.opt_text(members, "name", pointer).ok()?;
                let number = self.opt_text(members, "number", pointer).ok()?;
                let destination = self.opt_text(members, "destination", pointer).ok()?;
                let all_empty = [&name, &number, &destination]
                    .iter()
                    .all(|t| t.as_ref().is_none_or(|t| t.as_literal() == Some("")));
                if all_empty {
                    self.error(
                        pointer,
                        acx.value.start,
                        "`updateCid` needs at least one of `name`, `number`, `destination`"
                            .to_string(),
                    );
                    return None;
                }
                Some(Code::UpdateCid {
                    name,
                    number,
                    destination,
                })
            }
            "ringback" => {
                let members = self.object(acx)?;
                let file = |this: &mut Self, key: &str| {
                    this.optional(members, key, pointer, Self::compile_file_spec)
                };
                let call = file(self, "call").ok()?;
                let transfer = file(self, "transfer").ok()?;
                let hold = file(self, "hold").ok()?;
                if call.is_none() && transfer.is_none() && hold.is_none() {
                    self.error(
                        pointer,
                        acx.value.start,
                        "`ringback` needs at least one of `call`, `transfer`, `hold`".to_string(),
                    );
                    return None;
                }
                let all = self.opt_flag(members, "all", pointer).ok()?;
                Some(Code::Ringback(Box::new(RingbackSpec {
                    call,
                    transfer,
                    hold,
                    all,
                })))
            }
            "recordFile" => self
                .compile_record(acx)
                .map(|r| Code::RecordFile(Box::new(r))),
            "recordSession" => self
                .compile_session(acx)
                .map(|r| Code::RecordSession(Box::new(r))),
            "flushDTMF" | "flushDtmf" => Some(Code::FlushDtmf),
            "echo" => {
                // A delay in ms (`delay_echo`), or nothing / "" / 0 for a plain echo; an
                // object `{"delay": ms}` is accepted too.
                let value = match acx.value.as_object() {
                    Some(members) => match find_ci(members, "delay") {
                        Some(m) => &m.value,
                        None => return Some(Code::Echo(Num::Const(0))),
                    },
                    None => acx.value,
                };
                match &value.kind {
                    Kind::Null => Some(Code::Echo(Num::Const(0))),
                    Kind::String(text) if text.trim().is_empty() => Some(Code::Echo(Num::Const(0))),
                    _ => Some(Code::Echo(self.num(value, pointer, "echo")?)),
                }
            }
            "inBandDTMF" => Some(Code::InBandDtmf(self.text(acx.value, pointer, app)?)),
            "timezone" => {
                let value = match acx.value.as_object() {
                    Some(members) => {
                        match find_ci(members, "name").or_else(|| find_ci(members, "id")) {
                            Some(m) => &m.value,
                            None => {
                                self.missing(acx, "name");
                                return None;
                            }
                        }
                    }
                    None => acx.value,
                };
                let zone = self.text(value, pointer, "timezone")?;
                if let Some(name) = zone.as_literal() {
                    if name.parse::<chrono_tz::Tz>().is_err() {
                        self.error(
                            pointer,
                            value.start,
                            format!("unknown time zone `{name}` (expected an IANA name such as `Europe/Kyiv`)"),
                        );
                        return None;
                    }
                }
                Some(Code::Timezone(zone))
            }
            "httpRequest" => self.compile_http(acx).map(|h| Code::Http(Box::new(h))),
            "js" => self.compile_js(acx),
            "math" => self.compile_math(acx),
            "string" => self.compile_string(acx),
            #[cfg(feature = "test-hooks")]
            "_testPanic" => Some(Code::TestPanic),
            _ => {
                let known = NOT_YET_SUPPORTED_APPS.contains(&app);
                let reason = if known {
                    format!("application `{app}` is not supported by rustflow yet")
                } else {
                    format!("unknown application `{app}`")
                };
                match self.opts.unknown_apps {
                    UnknownApps::Error => {
                        let hint = if known {
                            String::new()
                        } else {
                            suggestion(app)
                        };
                        self.error(pointer, acx.value.start, format!("{reason}{hint}"));
                        None
                    }
                    UnknownApps::Skip => {
                        self.summary.skipped.push(SkippedApp {
                            app: app.to_string(),
                            pointer: pointer.to_string(),
                        });
                        Some(Code::Unsupported {
                            reason: reason.into(),
                        })
                    }
                }
            }
        }
    }

    /// `unSet`/`export`: an array of names, or one name as a string.
    fn name_list(&mut self, acx: &AppCx<'_>) -> Option<Vec<Template>> {
        match &acx.value.kind {
            Kind::String(s) if !s.is_empty() => Some(vec![Template::parse(s)]),
            Kind::Array(items) => {
                let mut names = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(name) if !name.is_empty() => names.push(Template::parse(name)),
                        _ => self.error(
                            &format!("{}/{i}", acx.pointer),
                            item.start,
                            format!(
                                "`{}` expects variable names (non-empty strings), found {}",
                                acx.app,
                                item.type_name()
                            ),
                        ),
                    }
                }
                Some(names)
            }
            _ => {
                self.type_error(acx, acx.value, "an array of variable names");
                None
            }
        }
    }

    /// A required expression field (`if.expression`, `while.condition`): its compiled index.
    fn expression_field(
        &mut self,
        acx: &AppCx<'_>,
        members: &[Member],
        key: &str,
    ) -> Option<usize> {
        let Some(m) = find_ci(members, key) else {
            self.missing(acx, key);
            return None;
        };
        let pointer = pointer_join(&acx.pointer, &m.key);
        match m.value.as_str() {
            Some(source) => self.compile_expression(source, &pointer, m.value.start),
            None => {
                self.error(
                    &pointer,
                    m.value.start,
                    format!(
                        "`{}.{key}` must be a string, found {}",
                        acx.app,
                        m.value.type_name()
                    ),
                );
                None
            }
        }
    }

    fn compile_if(&mut self, unit: usize, acx: &AppCx<'a>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let expr = self.expression_field(acx, members, "expression");
        self.compile_nested(unit, find_ci(members, "then"), pointer);
        let else_member = find_ci(members, "else");
        let jump = else_member.map(|_| self.push_jump(unit, pointer));
        let else_target = self.units[unit].ops.len();
        self.compile_nested(unit, else_member, pointer);
        let end = self.units[unit].ops.len();
        if let Some(jump) = jump {
            self.patch_jump(unit, jump, end);
        }
        Some(Code::If {
            expr: expr?,
            else_target,
            end,
        })
    }

    fn compile_switch(&mut self, unit: usize, acx: &AppCx<'a>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let variable = self.required_text(acx, members, "variable");
        let Some(case) = find_ci(members, "case") else {
            self.missing(acx, "case");
            return None;
        };
        let case_pointer = pointer_join(pointer, &case.key);
        let Some(branches) = case.value.as_object() else {
            self.error(
                &case_pointer,
                case.value.start,
                format!(
                    "`switch.case` must be an object of value → applications, found {}",
                    case.value.type_name()
                ),
            );
            return None;
        };
        let mut cases = Vec::new();
        let mut default = None;
        let mut jumps = Vec::new();
        for branch in branches {
            let start = self.units[unit].ops.len();
            self.compile_block(
                unit,
                &branch.value,
                &pointer_join(&case_pointer, &branch.key),
            );
            jumps.push(self.push_jump(unit, pointer));
            if branch.key == "default" {
                default = Some(start);
            } else {
                cases.push((branch.key.as_str().into(), start));
            }
        }
        let end = self.units[unit].ops.len();
        for jump in jumps {
            self.patch_jump(unit, jump, end);
        }
        Some(Code::Switch {
            variable: variable?,
            cases,
            default,
            end,
        })
    }

    fn compile_while(&mut self, unit: usize, index: usize, acx: &AppCx<'a>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let condition = self.expression_field(acx, members, "condition");
        let max_passes = match find_ci(members, "maxSteps") {
            Some(m) => self.const_u64(&m.value, &pointer_join(pointer, &m.key), "maxSteps")?,
            None => DEFAULT_WHILE_PASSES,
        };
        let body = index + 1;
        let do_member = find_ci(members, "do");
        self.compile_nested(unit, do_member, pointer);
        if self.units[unit].ops.len() > body {
            let slot = self.units[unit].counters;
            self.units[unit].counters += 1;
            let condition = condition?;
            self.units[unit].ops.push(Op {
                pointer: pointer.into(),
                app: "while".into(),
                code: Code::WhileTest {
                    condition,
                    body,
                    max_passes,
                    slot,
                },
                stop_after: false,
                limit: None,
            });
        }
        Some(Code::WhileEnter)
    }

    fn compile_playback(&mut self, acx: &AppCx<'_>) -> Option<PlaybackSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let Some(files_member) = find_ci(members, "files") else {
            self.missing(acx, "files");
            return None;
        };
        let files_pointer = pointer_join(pointer, &files_member.key);
        let Some(items) = files_member.value.as_array() else {
            self.error(
                &files_pointer,
                files_member.value.start,
                format!(
                    "`playback.files` must be an array of files, found {}",
                    files_member.value.type_name()
                ),
            );
            return None;
        };
        let speech_member = find_ci(members, "getSpeech");
        if items.is_empty() && speech_member.is_none() {
            self.error(
                &files_pointer,
                files_member.value.start,
                "`playback.files` is empty: nothing to play".to_string(),
            );
            return None;
        }
        let mut files = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.compile_file_spec(item, &format!("{files_pointer}/{i}")) {
                Some(file) => files.push(file),
                None => ok = false,
            }
        }
        let (digits, speech) = self.capture(acx, members)?;
        ok.then_some(PlaybackSpec {
            files,
            digits,
            speech,
        })
    }

    /// The capture options of `playback` and `tts`: `getDigits` or `getSpeech`, not both.
    fn capture(
        &mut self,
        acx: &AppCx<'_>,
        members: &[Member],
    ) -> Option<(Option<DigitsSpec>, Option<SpeechSpec>)> {
        let pointer = acx.pointer.as_str();
        let digits = self
            .optional(members, "getDigits", pointer, Self::compile_digits)
            .ok()?;
        let speech = self
            .optional(members, "getSpeech", pointer, Self::compile_speech)
            .ok()?;
        if digits.is_some() && speech.is_some() {
            self.error(
                pointer,
                acx.value.start,
                format!("`{}` cannot have both `getDigits` and `getSpeech`", acx.app),
            );
            return None;
        }
        Some((digits, speech))
    }

    /// An optional field through `convert`; `Err` when it is present but wrong.
    fn optional<T>(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
        convert: impl FnOnce(&mut Self, &Value, &str) -> Option<T>,
    ) -> Result<Option<T>, ()> {
        match find_ci(members, key) {
            Some(m) => convert(self, &m.value, &pointer_join(pointer, &m.key))
                .map(Some)
                .ok_or(()),
            None => Ok(None),
        }
    }

    fn opt_text(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
    ) -> Result<Option<Template>, ()> {
        self.optional(members, key, pointer, |this, v, p| this.text(v, p, key))
    }

    fn opt_num(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
        default: u64,
    ) -> Result<Num, ()> {
        Ok(self
            .optional(members, key, pointer, |this, v, p| this.num(v, p, key))?
            .unwrap_or(Num::Const(default)))
    }

    fn opt_flag(&mut self, members: &[Member], key: &str, pointer: &str) -> Result<Flag, ()> {
        Ok(self
            .optional(members, key, pointer, |this, v, p| this.flag(v, p))?
            .unwrap_or(Flag::Const(false)))
    }

    /// An optional constant boolean (`false` when absent; an error is noted when it is wrong).
    fn opt_const_bool(&mut self, members: &[Member], key: &str, pointer: &str) -> bool {
        match find_ci(members, key) {
            Some(m) => self.const_bool(&m.value, &pointer_join(pointer, &m.key)),
            None => false,
        }
    }

    /// A required text field: `None` (with the error noted) when it is missing or wrong.
    fn required_text(
        &mut self,
        acx: &AppCx<'_>,
        members: &[Member],
        key: &str,
    ) -> Option<Template> {
        match find_ci(members, key) {
            Some(m) => self.text(&m.value, &pointer_join(&acx.pointer, &m.key), key),
            None => {
                self.missing(acx, key);
                None
            }
        }
    }

    /// `parameters`: an object of channel variable → value.
    fn variables(
        &mut self,
        members: &[Member],
        pointer: &str,
    ) -> Result<Vec<(Box<str>, VarValue)>, ()> {
        let Some(m) = find_ci(members, "parameters") else {
            return Ok(Vec::new());
        };
        let Some(entries) = m.value.as_object() else {
            self.error(
                &pointer_join(pointer, &m.key),
                m.value.start,
                format!(
                    "`parameters` must be an object of variable → value, found {}",
                    m.value.type_name()
                ),
            );
            return Err(());
        };
        Ok(entries
            .iter()
            .map(|e| (e.key.as_str().into(), self.var_value(&e.value)))
            .collect())
    }

    fn compile_bridge(&mut self, acx: &AppCx<'a>) -> Option<BridgeSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let pickup = self.opt_text(members, "pickup", pointer).ok()?;
        // `bridged`: actions run when a leg answered (a unit, compiled like a function body).
        let bridged = match find_ci(members, "bridged") {
            Some(m) if m.value.as_array().is_some() => {
                let unit = self.new_unit("bridge.bridged");
                self.function_defs
                    .push((unit, &m.value, pointer_join(pointer, &m.key)));
                Some(unit)
            }
            Some(m) => {
                self.error(
                    &pointer_join(pointer, &m.key),
                    m.value.start,
                    format!(
                        "`bridge.bridged` must be an array of applications, found {}",
                        m.value.type_name()
                    ),
                );
                return None;
            }
            None => None,
        };
        let Some(endpoints) = find_ci(members, "endpoints") else {
            self.missing(acx, "endpoints");
            return None;
        };
        let endpoints_pointer = pointer_join(pointer, &endpoints.key);
        let items = match endpoints.value.as_array() {
            Some(items) if !items.is_empty() => items,
            _ => {
                self.error(
                    &endpoints_pointer,
                    endpoints.value.start,
                    "`bridge.endpoints` must be a non-empty array of endpoints".to_string(),
                );
                return None;
            }
        };
        let mut legs = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.compile_leg(item, &format!("{endpoints_pointer}/{i}")) {
                Some(leg) => legs.push(leg),
                None => ok = false,
            }
        }
        let strategy = match self.opt_text(members, "strategy", pointer).ok()? {
            Some(t) if t.as_literal() == Some("failover") => BridgeStrategy::Failover,
            _ => BridgeStrategy::Simultaneous,
        };
        let variables = self.variables(members, pointer).ok()?;
        let codecs = match find_ci(members, "codecs") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                match m.value.as_array() {
                    Some(items) => {
                        let mut out = Vec::new();
                        for (i, item) in items.iter().enumerate() {
                            out.push(self.text(item, &format!("{p}/{i}"), "codecs")?);
                        }
                        out
                    }
                    None => {
                        self.error(
                            &p,
                            m.value.start,
                            format!(
                                "`codecs` must be an array of codec names, found {}",
                                m.value.type_name()
                            ),
                        );
                        return None;
                    }
                }
            }
            None => Vec::new(),
        };
        let send_on_answer = self.opt_text(members, "sendOnAnswer", pointer).ok()?;
        ok.then_some(BridgeSpec {
            legs,
            strategy,
            variables,
            codecs,
            send_on_answer,
            pickup,
            bridged,
        })
    }

    fn compile_leg(&mut self, item: &Value, pointer: &str) -> Option<LegSpec> {
        let Some(members) = item.as_object() else {
            self.error(
                pointer,
                item.start,
                format!(
                    "an endpoint must be an object {{type, ...}}, found {}",
                    item.type_name()
                ),
            );
            return None;
        };
        let kind = match find_ci(members, "type").and_then(|m| m.value.as_str()) {
            Some(kind) => kind.to_string(),
            None => {
                self.error(
                    pointer,
                    item.start,
                    "an endpoint needs `type` (user, gateway or sip)".to_string(),
                );
                return None;
            }
        };
        let required = |this: &mut Self, key: &str| -> Option<Template> {
            match find_ci(members, key) {
                Some(m) => this.text(&m.value, &pointer_join(pointer, &m.key), key),
                None => {
                    this.error(
                        pointer,
                        item.start,
                        format!("a `{kind}` endpoint needs `{key}`"),
                    );
                    None
                }
            }
        };
        let target = match kind.as_str() {
            "user" => {
                if find_ci(members, "extension").is_none() && find_ci(members, "id").is_some() {
                    self.error(pointer, item.start, "a `user` endpoint by `id` needs the Webitel directory; give its `extension`".to_string());
                    return None;
                }
                let extension = required(self, "extension")?;
                let domain = self.opt_text(members, "domain", pointer).ok()?;
                LegTarget::User { extension, domain }
            }
            "gateway" => {
                let gateway = match find_ci(members, "name") {
                    Some(m) => self.text(&m.value, &pointer_join(pointer, &m.key), "name")?,
                    None => match find_ci(members, "gateway")
                        .and_then(|g| g.value.as_object().and_then(|o| find_ci(o, "name")))
                    {
                        Some(m) => self.text(
                            &m.value,
                            &pointer_join(&pointer_join(pointer, "gateway"), &m.key),
                            "name",
                        )?,
                        None => {
                            self.error(pointer, item.start, "a `gateway` endpoint needs the gateway `name` (gateways by `id` need the Webitel directory)".to_string());
                            return None;
                        }
                    },
                };
                let number = required(self, "dialString")?;
                LegTarget::Gateway { gateway, number }
            }
            "sip" => {
                let uri = required(self, "uri")?;
                let profile = self.opt_text(members, "profile", pointer).ok()?;
                LegTarget::Sip { profile, uri }
            }
            other => {
                self.error(
                    pointer,
                    item.start,
                    format!("unknown endpoint type `{other}` (expected user, gateway or sip)"),
                );
                return None;
            }
        };
        let variables = self.variables(members, pointer).ok()?;
        let idle_only = self.opt_flag(members, "idle", pointer).ok()?;
        Some(LegSpec {
            target,
            variables,
            idle_only,
        })
    }

    fn compile_link(&mut self, acx: &AppCx<'_>) -> Option<LinkSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let Some(set_var) = self.opt_text(members, "set", pointer).ok()? else {
            self.missing(acx, "set");
            return None;
        };
        let server = self.opt_text(members, "server", pointer).ok()?;
        let expire_seconds = self.opt_num(members, "expire", pointer, 3600).ok()?;
        let source = self
            .opt_text(members, "source", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("media"));
        if let Some(text) = source.as_literal() {
            if !matches!(text, "media" | "file" | "recording") {
                let m = find_ci(members, "source").expect("source is present");
                self.error(
                    &pointer_join(pointer, &m.key),
                    m.value.start,
                    format!("`source` must be `media`, `file` or `recording`, found `{text}`"),
                );
                return None;
            }
        }
        let (file_id, file_name) = match find_ci(members, "file") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                let Some(file) = m.value.as_object() else {
                    self.error(
                        &p,
                        m.value.start,
                        format!(
                            "`file` must be an object {{id, name}}, found {}",
                            m.value.type_name()
                        ),
                    );
                    return None;
                };
                (
                    self.opt_text(file, "id", &p).ok()?,
                    self.opt_text(file, "name", &p).ok()?,
                )
            }
            None => (None, None),
        };
        let query = match find_ci(members, "query") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                let entries = self.object_at(&m.value, &p, "query")?;
                let mut query = Vec::with_capacity(entries.len());
                for e in entries {
                    query.push((
                        e.key.as_str().into(),
                        self.text(&e.value, &pointer_join(&p, &e.key), &e.key)?,
                    ));
                }
                query
            }
            None => Vec::new(),
        };
        Some(LinkSpec {
            set_var,
            server,
            expire_seconds,
            source,
            file_id,
            file_name,
            query,
        })
    }

    fn compile_record(&mut self, acx: &AppCx<'_>) -> Option<RecordSpec> {
        let empty: &[Member] = &[];
        let members = match &acx.value.kind {
            Kind::Object(members) => members.as_slice(),
            Kind::String(s) if s.is_empty() => empty,
            _ => {
                self.type_error(acx, acx.value, "an object");
                return None;
            }
        };
        let pointer = acx.pointer.as_str();
        Some(RecordSpec {
            name: self
                .opt_text(members, "name", pointer)
                .ok()?
                .unwrap_or_else(|| Template::parse("recordFile_${strepoch()}")),
            format: self
                .opt_text(members, "type", pointer)
                .ok()?
                .unwrap_or_else(|| Template::literal("mp3")),
            max_seconds: self.opt_num(members, "maxSec", pointer, 60).ok()?,
            silence_threshold: self.opt_num(members, "silenceThresh", pointer, 200).ok()?,
            silence_hits: self.opt_num(members, "silenceHits", pointer, 5).ok()?,
            terminators: self
                .opt_text(members, "terminators", pointer)
                .ok()?
                .unwrap_or_else(|| Template::literal("")),
            voicemail: self.opt_flag(members, "voiceMail", pointer).ok()?,
        })
    }

    fn compile_session(&mut self, acx: &AppCx<'_>) -> Option<SessionSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let action = self.opt_text(members, "action", pointer).ok()?;
        if let Some(action) = &action {
            match action.as_literal() {
                Some("stop") => return Some(SessionSpec::Stop),
                Some("start" | "") | None => {}
                Some(other) => {
                    self.error(
                        pointer,
                        acx.value.start,
                        format!(
                            "`recordSession.action` must be `start` or `stop`, found `{other}`"
                        ),
                    );
                    return None;
                }
            }
        }
        Some(SessionSpec::Start {
            name: self
                .opt_text(members, "name", pointer)
                .ok()?
                .unwrap_or_else(|| {
                    Template::parse("${strepoch()}_${caller_id_number}_${destination_number}")
                }),
            format: self
                .opt_text(members, "type", pointer)
                .ok()?
                .unwrap_or_else(|| Template::literal("mp3")),
            stereo: self.opt_flag(members, "stereo", pointer).ok()?,
            bridged: self.opt_flag(members, "bridged", pointer).ok()?,
            min_seconds: self.opt_num(members, "minSec", pointer, 2).ok()?,
            follow_transfer: self.opt_flag(members, "followTransfer", pointer).ok()?,
        })
    }

    /// The `tts` application: one spoken text, with the capture options of `playback`.
    fn compile_tts(&mut self, acx: &AppCx<'_>) -> Option<PlaybackSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let file = self.tts_settings(members, pointer, acx.value.start, "tts")?;
        let (digits, speech) = self.capture(acx, members)?;
        Some(PlaybackSpec {
            files: vec![file],
            digits,
            speech,
        })
    }

    /// TTS settings (the `tts` app's object, or a playback file's `tts`): `text` (or `ssml`),
    /// `textType` (`text` | `ssml`), `provider`, `voice`, `language`.
    fn tts_settings(
        &mut self,
        members: &[Member],
        pointer: &str,
        start: usize,
        what: &str,
    ) -> Option<FileSpec> {
        let text = self.opt_text(members, "text", pointer).ok()?;
        let ssml_text = self.opt_text(members, "ssml", pointer).ok()?;
        let mut ssml = false;
        if let Some(m) = find_ci(members, "textType") {
            let p = pointer_join(pointer, &m.key);
            match m.value.as_str() {
                Some("" | "text") => {}
                Some("ssml") => ssml = true,
                Some(other) => {
                    self.error(
                        &p,
                        m.value.start,
                        format!("`textType` must be `text` or `ssml`, found `{other}`"),
                    );
                    return None;
                }
                None => {
                    self.error(
                        &p,
                        m.value.start,
                        format!("`textType` must be a string, found {}", m.value.type_name()),
                    );
                    return None;
                }
            }
        }
        let text = match (text, ssml_text) {
            (Some(_), Some(_)) => {
                self.error(
                    pointer,
                    start,
                    "give either `text` or `ssml`, not both".to_string(),
                );
                return None;
            }
            (Some(text), None) => text,
            (None, Some(document)) => {
                ssml = true;
                document
            }
            (None, None) => {
                self.error(
                    pointer,
                    start,
                    format!("`{what}` is missing the required field `text` (or `ssml`)"),
                );
                return None;
            }
        };
        Some(FileSpec::Tts {
            text,
            engine: self.opt_text(members, "provider", pointer).ok()?,
            voice: self.opt_text(members, "voice", pointer).ok()?,
            language: self.opt_text(members, "language", pointer).ok()?,
            ssml,
        })
    }

    fn compile_file_spec(&mut self, item: &Value, pointer: &str) -> Option<FileSpec> {
        let Some(members) = item.as_object() else {
            self.error(
                pointer,
                item.start,
                format!(
                    "a playback file must be an object {{type, name, id, ...}}, found {}",
                    item.type_name()
                ),
            );
            return None;
        };
        let field = |key: &str| find_ci(members, key);
        let file_type = match field("type") {
            Some(m) => match m.value.as_str() {
                Some(t) => t.to_string(),
                None => {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        format!(
                            "file `type` must be a string, found {}",
                            m.value.type_name()
                        ),
                    );
                    return None;
                }
            },
            None => String::new(),
        };
        let required = |this: &mut Self, key: &str, what: &str| -> Option<Template> {
            match field(key) {
                Some(m) => this.text(&m.value, &pointer_join(pointer, &m.key), key),
                None => {
                    this.error(
                        pointer,
                        item.start,
                        format!("a `{what}` file needs `{key}`"),
                    );
                    None
                }
            }
        };
        match file_type.as_str() {
            "tone" => Some(FileSpec::Tone(required(self, "name", "tone")?)),
            "silence" => match field("name") {
                Some(m) => Some(FileSpec::Silence(self.num(
                    &m.value,
                    &pointer_join(pointer, &m.key),
                    "name",
                )?)),
                None => {
                    self.error(
                        pointer,
                        item.start,
                        "a `silence` file needs `name` (milliseconds)".to_string(),
                    );
                    None
                }
            },
            "local" => Some(FileSpec::Local(required(self, "name", "local")?)),
            "http_audio" => {
                let Some(args) = field("args") else {
                    self.error(
                        pointer,
                        item.start,
                        "an `http_audio` file needs `args.url`".to_string(),
                    );
                    return None;
                };
                let args_pointer = pointer_join(pointer, &args.key);
                match args.value.as_object().and_then(|a| find_ci(a, "url")) {
                    Some(url) => Some(FileSpec::Http(self.text(
                        &url.value,
                        &pointer_join(&args_pointer, &url.key),
                        "url",
                    )?)),
                    None => {
                        self.error(
                            &args_pointer,
                            args.value.start,
                            "an `http_audio` file needs `args.url`".to_string(),
                        );
                        None
                    }
                }
            }
            "tts" => {
                let Some(tts) = field("tts") else {
                    self.error(
                        pointer,
                        item.start,
                        "a `tts` file needs a `tts` object with `text`".to_string(),
                    );
                    return None;
                };
                let tts_pointer = pointer_join(pointer, &tts.key);
                let tts_members = self.object_at(&tts.value, &tts_pointer, "tts")?;
                self.tts_settings(tts_members, &tts_pointer, tts.value.start, "tts file")
            }
            // No type (or the MIME type the designer stores): the media library.
            t if t.is_empty() || t.starts_with("audio/") || t.starts_with("video/") => {
                if let Some(id) = field("id") {
                    Some(FileSpec::MediaId(self.text(
                        &id.value,
                        &pointer_join(pointer, &id.key),
                        "id",
                    )?))
                } else if let Some(name) = field("name") {
                    Some(FileSpec::MediaName(self.text(
                        &name.value,
                        &pointer_join(pointer, &name.key),
                        "name",
                    )?))
                } else {
                    self.error(
                        pointer,
                        item.start,
                        "a media file needs `id` or `name`".to_string(),
                    );
                    None
                }
            }
            other => {
                self.error(
                    pointer,
                    item.start,
                    format!("unknown file type `{other}` (expected tone, silence, local, http_audio, tts, or no type with `name`/`id`)"),
                );
                None
            }
        }
    }

    fn compile_digits(&mut self, value: &Value, pointer: &str) -> Option<DigitsSpec> {
        let members = self.object_at(value, pointer, "getDigits")?;
        let mut args = Args::new(members, pointer);
        let min = args.num(self, "min", 1);
        let max = args.num(self, "max", 1);
        let tries = args.num(self, "tries", 1);
        let timeout = args.num(self, "timeout", 3000);
        let digit_timeout =
            find_ci(members, "digitTimeout").map(|_| args.num(self, "digitTimeout", 0));
        let set_var = args
            .text(self, "setVar")
            .unwrap_or_else(|| Template::literal("MyVar"));
        let terminators = args
            .text(self, "terminators")
            .unwrap_or_else(|| Template::literal("#"));
        let regexp = args.text(self, "regexp");
        if let (Some(re), Some(m)) = (&regexp, find_ci(members, "regexp")) {
            if let Some(source) = re.as_literal() {
                if let Err(e) = regex::Regex::new(source) {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        format!(
                            "regular expression does not compile: {}",
                            first_line(&e.to_string())
                        ),
                    );
                    args.ok = false;
                }
            }
        }
        let flush_dtmf = args.flag(self, "flushDTMF");
        args.ok.then_some(DigitsSpec {
            set_var,
            min,
            max,
            tries,
            timeout,
            digit_timeout,
            terminators,
            regexp,
            flush_dtmf,
        })
    }

    fn compile_speech(&mut self, value: &Value, pointer: &str) -> Option<SpeechSpec> {
        let members = self.object_at(value, pointer, "getSpeech")?;
        let mut args = Args::new(members, pointer);
        let timeout = args.num(self, "timeout", 0);
        let min_words = args.num(self, "minWords", 0);
        let max_words = args.num(self, "maxWords", 0);
        let vad_timeout = args.num(self, "vadTimeout", 0);
        let set_var = self
            .opt_text(members, "setVar", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("google_transcript"));
        let lang = self.opt_text(members, "lang", pointer).ok()?;
        args.ok.then_some(SpeechSpec {
            set_var,
            timeout,
            lang,
            min_words,
            max_words,
            vad_timeout,
        })
    }

    fn compile_http(&mut self, acx: &AppCx<'_>) -> Option<HttpSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let url = self.required_text(acx, members, "url");
        let mut args = Args::new(members, pointer);
        let method = match find_ci(members, "method") {
            Some(_) => args.text(self, "method"),
            None => Some(Template::literal("GET")),
        };
        let headers = args.string_map(self, "headers");
        let path = args.string_map(self, "path");
        let exports = args.string_map(self, "exportVariables");
        let export = exports
            .into_iter()
            .map(|(var, path)| {
                let path: Box<[Box<str>]> = path
                    .as_literal()
                    .unwrap_or_default()
                    .split('.')
                    .filter(|s| !s.is_empty())
                    .map(Into::into)
                    .collect();
                (Template::parse(&var), path)
            })
            .collect();
        let body = find_ci(members, "data").map(|m| self.json_template(&m.value));
        let timeout = self
            .optional(members, "timeout", pointer, |this, v, p| {
                this.num(v, p, "timeout")
            })
            .ok()?;
        let response_code = self.opt_text(members, "responseCode", pointer).ok()?;
        let export_cookie = self.opt_text(members, "exportCookie", pointer).ok()?;
        if let Some(m) = find_ci(members, "cacheCookie") {
            let p = pointer_join(pointer, &m.key);
            if self.const_bool(&m.value, &p) {
                self.error(
                    &p,
                    m.value.start,
                    "`httpRequest.cacheCookie: true` is not supported by rustflow".to_string(),
                );
                args.ok = false;
            }
        }
        // A constant, so that whether a flow asks for it is known at load.
        let insecure_skip_verify = self.opt_const_bool(members, "insecureSkipVerify", pointer);
        if insecure_skip_verify {
            self.summary.insecure_http.push(pointer.to_string());
        }
        args.ok.then_some(HttpSpec {
            url: url?,
            method: method?,
            headers,
            body,
            path,
            timeout,
            response_code,
            export,
            export_cookie,
            insecure_skip_verify,
        })
    }

    fn set_var_field(
        &mut self,
        members: &[Member],
        pointer: &str,
        acx: &AppCx<'_>,
    ) -> Option<Template> {
        match find_ci(members, "setVar") {
            Some(m) => {
                let t = self.text(&m.value, &pointer_join(pointer, &m.key), "setVar")?;
                if t.as_literal() == Some("") {
                    self.error(
                        &pointer_join(pointer, &m.key),
                        m.value.start,
                        "`setVar` is empty".to_string(),
                    );
                    return None;
                }
                Some(t)
            }
            None => {
                self.missing(acx, "setVar");
                None
            }
        }
    }

    fn compile_js(&mut self, acx: &AppCx<'_>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.set_var_field(members, pointer, acx);
        let Some(data) = find_ci(members, "data") else {
            self.missing(acx, "data");
            return None;
        };
        let Some(source) = data.value.as_str() else {
            self.error(
                &pointer_join(pointer, &data.key),
                data.value.start,
                format!(
                    "`js.data` must be a string of JavaScript, found {}",
                    data.value.type_name()
                ),
            );
            return None;
        };
        let function = queue_source(
            &mut self.js_sources,
            &mut self.js_index,
            source,
            pointer_join(pointer, &data.key),
            data.value.start,
        );
        Some(Code::Js {
            function,
            set_var: set_var?,
        })
    }

    fn compile_math(&mut self, acx: &AppCx<'_>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.set_var_field(members, pointer, acx);
        let function = self
            .opt_text(members, "fn", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("random"));
        let Some(name) = function.as_literal() else {
            self.error(
                pointer,
                acx.value.start,
                "`math.fn` must be a constant function name".to_string(),
            );
            return None;
        };
        let call = match crate::expr::apps::MathCall::compile(name) {
            Ok(c) => c,
            Err(message) => {
                self.error(pointer, acx.value.start, message);
                return None;
            }
        };
        let args = self.arg_list(members, "data", pointer)?;
        Some(Code::Math(Box::new(MathStep {
            call,
            args,
            set_var: set_var?,
        })))
    }

    fn compile_string(&mut self, acx: &AppCx<'_>) -> Option<Code> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let set_var = self.set_var_field(members, pointer, acx);
        let Some(function) = find_ci(members, "fn") else {
            self.missing(acx, "fn");
            return None;
        };
        let function_t = self.text(&function.value, &pointer_join(pointer, &function.key), "fn")?;
        let Some(name) = function_t.as_literal() else {
            self.error(
                pointer,
                acx.value.start,
                "`string.fn` must be a constant function name".to_string(),
            );
            return None;
        };
        let call = match crate::expr::apps::StringCall::compile(name) {
            Ok(c) => c,
            Err(message) => {
                self.error(
                    &pointer_join(pointer, &function.key),
                    function.value.start,
                    message,
                );
                return None;
            }
        };
        let data = self
            .opt_text(members, "data", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal(""));
        let args = self.arg_list(members, "args", pointer)?;
        Some(Code::Str(Box::new(StringStep {
            call,
            data,
            args,
            set_var: set_var?,
        })))
    }

    /// An array of scalar arguments (a single scalar is one argument).
    fn arg_list(&mut self, members: &[Member], key: &str, pointer: &str) -> Option<Vec<Template>> {
        let Some(m) = find_ci(members, key) else {
            return Some(Vec::new());
        };
        let p = pointer_join(pointer, &m.key);
        match &m.value.kind {
            Kind::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.push(self.text(item, &format!("{p}/{i}"), key)?);
                }
                Some(out)
            }
            _ => Some(vec![self.text(&m.value, &p, key)?]),
        }
    }
}

/// A valet lot range `FROM-TO` (inclusive, FROM <= TO).
pub(crate) fn parse_lot_range(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`lot` must be a slot range `FROM-TO` such as `1-10`, found `{text}`");
    let (from, to) = text.trim().split_once('-').ok_or_else(bad)?;
    let from: u32 = from.trim().parse().map_err(|_| bad())?;
    let to: u32 = to.trim().parse().map_err(|_| bad())?;
    if from > to {
        return Err(bad());
    }
    Ok((from, to))
}

/// Case-insensitive member look-up (docs/semantics.md, "Arguments").
pub(crate) fn find_ci<'v>(members: &'v [Member], key: &str) -> Option<&'v Member> {
    members
        .iter()
        .find(|m| m.key == key)
        .or_else(|| members.iter().find(|m| m.key.eq_ignore_ascii_case(key)))
}

/// Go's `strconv.ParseBool` plus the empty string as false.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A non-negative count from weakly typed text (`""` = 0, `"5"`, `"2.5"` → 2).
pub(crate) fn parse_count(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    match text.parse::<f64>() {
        Ok(n) if (0.0..1.8e19).contains(&n) => Ok(n as u64),
        Ok(_) => Err(format!("must be a non-negative number, found `{text}`")),
        Err(_) => Err(format!("must be a number, found `{text}`")),
    }
}

pub(crate) fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// " (did you mean `x`?)" for a near-miss of a supported name.
fn suggestion(app: &str) -> String {
    let lower = app.to_ascii_lowercase();
    let all = SUPPORTED_APPS.iter().chain(NOT_YET_SUPPORTED_APPS);
    for name in all {
        if name.to_ascii_lowercase() == lower {
            return format!(" (names are case-sensitive: did you mean `{name}`?)");
        }
    }
    String::new()
}

/// Every application name the compiler accepts (supported or recognised), sorted.
pub fn application_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = SUPPORTED_APPS.to_vec();
    #[cfg(feature = "test-hooks")]
    names.push("_testPanic");
    names.sort_unstable();
    names
}
