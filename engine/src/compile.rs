//! Parsing, validation and compilation of Webitel schemas (docs/semantics.md).
//!
//! This file holds what every application shares: the file shapes, reserved keys, tags,
//! `limit`, nested blocks and the argument readers. Each application's own compile step
//! sits in its family file under `crate::apps`, found through the registry.
//!
//! Validation collects every problem of a file (not just the first) as [`Diagnostic`]s
//! with file, JSON pointer, line:column and a message a person can act on.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use crate::apps::{self, At, Compile};
use crate::expr::Expression;
use crate::flow::{
    CompileOptions, Diagnostic, Flow, FlowSummary, SkippedApp, UnknownApps, content_version,
};
use crate::json::{self, Kind, Member, Value, pointer_join};
use crate::program::*;
use crate::template::Template;

/// Keys of an application object that are never an application name (docs/semantics.md,
/// "Reserved keys").
pub const RESERVED_KEYS: &[&str] = &["tag", "break", "limit", "async", "trace", "_id"];

/// Applications this engine runs, sorted: from the registry (`crate::apps`).
pub static SUPPORTED_APPS: LazyLock<Vec<&'static str>> = LazyLock::new(apps::supported_names);

/// Webitel applications the engine knows of but does not run yet, sorted: a clear "not
/// supported" rather than "unknown". From the registry (`crate::apps`).
pub static NOT_YET_SUPPORTED_APPS: LazyLock<Vec<&'static str>> = LazyLock::new(apps::not_yet_names);

/// Default and ceiling of `while.maxSteps`.
pub(crate) const DEFAULT_WHILE_PASSES: u64 = 1000;

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
        warnings: if opts.skip_lint {
            Vec::new()
        } else {
            crate::lint::lint(file, text, &doc.root)
        },
    })
}

/// A source queued for compilation and the places (pointer, offset) that use it.
pub(crate) type QueuedSource = (String, Vec<(String, usize)>);

/// Index of `source` in `queue`, queueing it on first use; every use is remembered so an
/// error is reported at each place.
pub(crate) fn queue_source(
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
pub(crate) struct UnitBuilder {
    pub name: String,
    pub ops: Vec<Op>,
    pub counters: usize,
    pub tags: HashMap<String, (usize, String)>,
    /// Jumps to tags: (op index, tag, pointer of the tag value, offset, is_failover).
    pub tag_refs: Vec<(usize, String, String, usize, bool)>,
}

impl UnitBuilder {
    pub(crate) fn finish(self) -> Unit {
        Unit {
            name: self.name,
            ops: self.ops,
            counters: self.counters,
        }
    }
}

pub(crate) struct Compiler<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub opts: &'a CompileOptions,
    pub diags: Vec<Diagnostic>,
    pub units: Vec<UnitBuilder>,
    pub functions: HashMap<String, usize>,
    /// Function bodies waiting to be compiled: (unit, actions, pointer).
    pub function_defs: Vec<(usize, &'a Value, String)>,
    pub disconnected: Option<usize>,
    /// `execute` ops to bind: (unit, op, name, pointer, offset, async).
    pub executes: Vec<(usize, usize, String, String, usize, bool)>,
    pub summary: FlowSummary,
    pub all_tags: Vec<String>,
    /// Literal `schema` ids, checked against the flow set by `FlowSet::load_dir`.
    pub schema_refs: Vec<crate::flow::SchemaRef>,
    /// Expressions and `js` bodies to compile: (source, pointer, offset).
    /// Expression sources to compile, each once, with every place that uses it
    /// (pointer, offset): a flow often repeats the same condition or `js` body.
    pub expr_sources: Vec<QueuedSource>,
    pub expr_index: HashMap<String, usize>,
    pub js_sources: Vec<QueuedSource>,
    pub js_index: HashMap<String, usize>,
}

/// Reads the fields of one argument object, noting a bad field and going on, so that one
/// pass reports every bad field; `ok` is false once any field was bad.
pub(crate) struct Args<'m> {
    members: &'m [Member],
    pointer: &'m str,
    pub ok: bool,
}

impl<'m> Args<'m> {
    pub(crate) fn new(members: &'m [Member], pointer: &'m str) -> Self {
        Args {
            members,
            pointer,
            ok: true,
        }
    }

    /// A number field, `default` when absent (or bad).
    pub(crate) fn num(&mut self, c: &mut Compiler<'_>, key: &str, default: u64) -> Num {
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
    pub(crate) fn text(&mut self, c: &mut Compiler<'_>, key: &str) -> Option<Template> {
        let m = find_ci(self.members, key)?;
        let t = c.text(&m.value, &pointer_join(self.pointer, &m.key), key);
        if t.is_none() {
            self.ok = false;
        }
        t
    }

    /// A boolean field, `false` when absent (or bad).
    pub(crate) fn flag(&mut self, c: &mut Compiler<'_>, key: &str) -> Flag {
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
    pub(crate) fn string_map(
        &mut self,
        c: &mut Compiler<'_>,
        key: &str,
    ) -> Vec<(Box<str>, Template)> {
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
pub(crate) struct AppCx<'v> {
    pub app: &'v str,
    pub value: &'v Value,
    pub pointer: String,
}

impl<'a> Compiler<'a> {
    pub(crate) fn error(&mut self, pointer: &str, offset: usize, message: String) {
        let (line, column) = json::line_col(self.text, offset);
        self.diags.push(Diagnostic {
            file: self.file.to_string(),
            pointer: pointer.to_string(),
            line,
            column,
            message,
        });
    }

    pub(crate) fn string_field<'v>(&mut self, member: &'v Member, base: &str) -> Option<&'v str> {
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

    pub(crate) fn new_unit(&mut self, name: &str) -> usize {
        self.units.push(UnitBuilder {
            name: name.to_string(),
            ops: Vec::new(),
            counters: 0,
            tags: HashMap::new(),
            tag_refs: Vec::new(),
        });
        self.units.len() - 1
    }

    pub(crate) fn compile_unit(&mut self, unit: usize, list: &'a Value, pointer: &str) {
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
    pub(crate) fn compile_block(&mut self, unit: usize, list: &'a Value, pointer: &str) {
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

    pub(crate) fn compile_object(&mut self, unit: usize, item: &'a Value, pointer: String) {
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

        let entry = apps::find(app);
        // Definitions are not steps of the sequence they appear in. A `tag` on one (the
        // designer adds them) names the position where it stands: the next step.
        if let Some(Compile::Definition(define)) = entry.map(|entry| entry.compile) {
            if let Some(tag) = members.iter().find(|m| m.key == "tag") {
                let index = self.units[unit].ops.len();
                self.register_tag(unit, index, tag, &pointer_join(&pointer, "tag"));
            }
            define(self, &acx);
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
        let code = match entry.map(|entry| entry.compile) {
            Some(Compile::Step(compile)) => compile(self, &acx, At { unit, index }),
            _ => self.unsupported_app(&acx, entry.is_some()),
        };
        if let Some(code) = code {
            self.units[unit].ops[index].code = code;
        }
    }

    /// An application the engine does not run: a load error, or (`unknown-apps=skip`) a step
    /// that fails when reached.
    fn unsupported_app(&mut self, acx: &AppCx<'_>, known: bool) -> Option<Code> {
        let app = acx.app;
        let pointer = acx.pointer.as_str();
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

    pub(crate) fn register_tag(
        &mut self,
        unit: usize,
        index: usize,
        member: &Member,
        key_pointer: &str,
    ) {
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

    pub(crate) fn compile_limit(
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

    pub(crate) fn resolve_executes(&mut self) {
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
    pub(crate) fn find_media(
        &self,
        unit: usize,
        seen: &mut HashSet<usize>,
    ) -> Option<(String, String)> {
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

    pub(crate) fn type_error(&mut self, acx: &AppCx<'_>, value: &Value, expected: &str) {
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

    pub(crate) fn missing(&mut self, acx: &AppCx<'_>, field: &str) {
        self.error(
            &acx.pointer,
            acx.value.start,
            format!("`{}` is missing the required field `{field}`", acx.app),
        );
    }

    pub(crate) fn const_bool(&mut self, value: &Value, pointer: &str) -> bool {
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

    pub(crate) fn flag(&mut self, value: &Value, pointer: &str) -> Option<Flag> {
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

    pub(crate) fn const_u64(&mut self, value: &Value, pointer: &str, field: &str) -> Option<u64> {
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

    pub(crate) fn num(&mut self, value: &Value, pointer: &str, field: &str) -> Option<Num> {
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
    pub(crate) fn text(&mut self, value: &Value, pointer: &str, field: &str) -> Option<Template> {
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

    pub(crate) fn var_value(&mut self, value: &Value) -> VarValue {
        match &value.kind {
            Kind::String(s) => VarValue::Text(Template::parse(s)),
            Kind::Number(raw) => VarValue::Raw(raw.as_str().into()),
            Kind::Bool(b) => VarValue::Raw(if *b { "true" } else { "false" }.into()),
            Kind::Null => VarValue::Raw("".into()),
            _ => VarValue::Raw(value.to_json().into()),
        }
    }

    pub(crate) fn json_template(&mut self, value: &Value) -> JsonTemplate {
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
    pub(crate) fn object_at<'v>(
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
    pub(crate) fn object<'v>(&mut self, acx: &AppCx<'v>) -> Option<&'v [Member]> {
        match acx.value.as_object() {
            Some(members) => Some(members),
            None => {
                self.type_error(acx, acx.value, "an object");
                None
            }
        }
    }

    pub(crate) fn compile_nested(&mut self, unit: usize, member: Option<&'a Member>, base: &str) {
        if let Some(member) = member {
            self.compile_block(unit, &member.value, &pointer_join(base, &member.key));
        }
    }

    pub(crate) fn push_jump(&mut self, unit: usize, pointer: &str) -> usize {
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

    pub(crate) fn patch_jump(&mut self, unit: usize, at: usize, target: usize) {
        self.units[unit].ops[at].code = Code::Jump(target);
    }

    /// Queues an expression; all are compiled after the blocks, at a shallow stack depth
    /// (the JavaScript syntax checker has a stack limit, and blocks nest deeply).
    pub(crate) fn compile_expression(
        &mut self,
        source: &str,
        pointer: &str,
        offset: usize,
    ) -> Option<usize> {
        Some(queue_source(
            &mut self.expr_sources,
            &mut self.expr_index,
            source,
            pointer.to_string(),
            offset,
        ))
    }

    /// A required expression field (`if.expression`, `while.condition`): its compiled index.
    pub(crate) fn expression_field(
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

    /// An optional field through `convert`; `Err` when it is present but wrong.
    pub(crate) fn optional<T>(
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

    pub(crate) fn opt_text(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
    ) -> Result<Option<Template>, ()> {
        self.optional(members, key, pointer, |this, v, p| this.text(v, p, key))
    }

    pub(crate) fn opt_num(
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

    pub(crate) fn opt_flag(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
    ) -> Result<Flag, ()> {
        Ok(self
            .optional(members, key, pointer, |this, v, p| this.flag(v, p))?
            .unwrap_or(Flag::Const(false)))
    }

    /// An optional constant boolean (`false` when absent; an error is noted when it is wrong).
    pub(crate) fn opt_const_bool(&mut self, members: &[Member], key: &str, pointer: &str) -> bool {
        match find_ci(members, key) {
            Some(m) => self.const_bool(&m.value, &pointer_join(pointer, &m.key)),
            None => false,
        }
    }

    /// A required text field: `None` (with the error noted) when it is missing or wrong.
    pub(crate) fn required_text(
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
    for name in apps::all().map(|entry| entry.name) {
        if name.to_ascii_lowercase() == lower {
            return format!(" (names are case-sensitive: did you mean `{name}`?)");
        }
    }
    String::new()
}

/// Every application name the compiler accepts (supported or recognised), sorted.
pub fn application_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = SUPPORTED_APPS.clone();
    #[cfg(feature = "test-hooks")]
    names.push("_testPanic");
    names.sort_unstable();
    names
}
