//! Warnings about flows that load but do not do what their author meant (`rustflow check`,
//! fs_cli `rustflow validate`, and the module's log at load/reload).
//!
//! The original runs these flows silently; each warning names file, JSON pointer and
//! line:column, and ends with a one-line fix. They never stop a flow from loading. The lints
//! read the parsed JSON tree, not the compiled program, so they see the flow as written.
//!
//! - `quoted-variable`: `'${var}'` in an `if`/`while` expression or a `js` body is the text
//!   `${var}`, not the variable (dialect tokens are only recognised outside string literals).
//! - `unreachable`: steps after an unconditional `hangup`, `goto`, `break` (or `break: true`)
//!   or `sipRedirect`, or an attempt flow's answer (`confirm`, `cancel`, `success`,
//!   `abandoned`, `retry`), in the same block, that no `goto` leads to.
//! - `unset-variable` (a note): a variable read that no step sets and that is neither a
//!   FreeSWITCH variable nor an application's documented output ([`crate::apps_outputs`]).
//! - `digits-min-max`, `digits-never-match`: a `getDigits` that rejects every input.
//! - `file-type`: a playback file `type` that loads but is close to another known type.

use std::collections::HashSet;
use std::fmt::{self, Write as _};

use crate::compile::{RESERVED_KEYS, find_ci, parse_bool, parse_count};
use crate::expr::lexer::{Mode, Tok, tokenize};
use crate::json::{Kind, Member, Value, line_cols, pointer_join, push_pointer};
use crate::template::{Template, template_reads, variable_read};

/// `'${var}'` in an expression or `js` body.
pub const QUOTED_VARIABLE: &str = "quoted-variable";
/// A step after an unconditional end of its block.
pub const UNREACHABLE: &str = "unreachable";
/// A variable read that nothing sets (a note).
pub const UNSET_VARIABLE: &str = "unset-variable";
/// `getDigits` with `min` > `max` (or `max` 0).
pub const DIGITS_MIN_MAX: &str = "digits-min-max";
/// `getDigits` whose `regexp` matches no key sequence of an allowed length.
pub const DIGITS_NEVER_MATCH: &str = "digits-never-match";
/// A playback file `type` close to another known type.
pub const FILE_TYPE: &str = "file-type";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look; often fine (the dialplan may set a variable).
    Note,
    /// Almost certainly not what the author meant; `--deny-warnings` fails on it.
    Warning,
    /// The flow does not load.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One finding about a flow that loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    /// JSON pointer of the value concerned.
    pub pointer: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub severity: Severity,
    /// Stable identifier of the lint (`quoted-variable`, …).
    pub code: &'static str,
    /// What is wrong, then `; fix: …`.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::flow::write_location(f, &self.file, self.line, self.column, &self.pointer)?;
        write!(
            f,
            "{}[{}]: {}",
            self.severity.as_str(),
            self.code,
            self.message
        )
    }
}

impl Warning {
    /// One JSON object (no newline): file, pointer, line, column, severity, code, message.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "file": self.file,
            "pointer": self.pointer,
            "line": self.line,
            "column": self.column,
            "severity": self.severity.as_str(),
            "code": self.code,
            "message": self.message,
        })
        .to_string()
    }
}

/// Lints a parsed flow (`root` parsed from `text`), sorted by position.
pub fn lint(file: &str, text: &str, root: &Value) -> Vec<Warning> {
    let list = match &root.kind {
        Kind::Array(_) => Some((root, String::new())),
        Kind::Object(members) => members
            .iter()
            .find(|m| m.key == "schema")
            .or_else(|| members.iter().find(|m| m.key == "scheme"))
            .map(|m| (&m.value, pointer_join("", &m.key))),
        _ => None,
    };
    let mut linter = Linter {
        file,
        text,
        out: Vec::new(),
        reads: Vec::new(),
        sets: HashSet::new(),
    };
    if let Some((list, pointer)) = list {
        linter.unit(list, &pointer, UnitKind::Main);
    }
    linter.unset_reads();
    let mut out = linter.out;
    out.sort_by_key(|&(offset, _)| offset);
    let offsets: Vec<usize> = out.iter().map(|&(offset, _)| offset).collect();
    let places = line_cols(text, &offsets);
    out.into_iter()
        .zip(places)
        .map(|((_, warning), (line, column))| Warning {
            line,
            column,
            ..warning
        })
        .collect()
}

/// The flow object a block belongs to: tags, and what a `hangup` can do, depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Main,
    Function,
    /// `trigger.disconnected`: the call is gone, media steps (hangup, sipRedirect) fail.
    Disconnected,
    /// `bridge.bridged`: media steps fail when the caller hung up during the bridge.
    Bridged,
}

/// A variable read: (name, full text inside `${…}`, pointer, byte offset).
type Read = (String, String, String, usize);

struct Linter<'t> {
    file: &'t str,
    text: &'t str,
    /// Warnings and their byte offsets; lines and columns are filled in at the end.
    out: Vec<(usize, Warning)>,
    reads: Vec<Read>,
    /// Every variable some step sets.
    sets: HashSet<String>,
}

/// The application an object names (`break` for `{"break": true}` alone) and its value.
fn application(members: &[Member]) -> Option<(&str, Option<&Value>)> {
    let mut names = members
        .iter()
        .filter(|m| !RESERVED_KEYS.contains(&m.key.as_str()));
    match (names.next(), names.next()) {
        (Some(one), None) => Some((one.key.as_str(), Some(&one.value))),
        (None, None) if has_break(members) => Some(("break", None)),
        _ => None,
    }
}

/// `break: true` on the object.
fn has_break(members: &[Member]) -> bool {
    members
        .iter()
        .find(|m| m.key == "break")
        .is_some_and(|m| match &m.value.kind {
            Kind::Bool(b) => *b,
            Kind::String(s) => parse_bool(s) == Some(true),
            _ => false,
        })
}

fn tag(members: &[Member]) -> Option<&str> {
    members
        .iter()
        .find(|m| m.key == "tag")
        .and_then(|m| m.value.as_str())
}

/// Keys of an application's object that hold nested blocks, and the flow object each
/// block runs in (`None`: the enclosing one).
fn block_keys(app: &str) -> &'static [(&'static str, Option<UnitKind>)] {
    match app {
        "if" => &[("then", None), ("else", None)],
        "while" => &[("do", None)],
        "function" => &[("actions", Some(UnitKind::Function))],
        "trigger" => &[("disconnected", Some(UnitKind::Disconnected))],
        "bridge" => &[("bridged", Some(UnitKind::Bridged))],
        _ => &[],
    }
}

/// The nested blocks of an application: (list, pointer, flow object).
fn nested<'v>(
    app: &str,
    value: Option<&'v Value>,
    pointer: &str,
) -> Vec<(&'v Value, String, Option<UnitKind>)> {
    let Some(members) = value.and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if app == "switch" {
        if let Some(case) = find_ci(members, "case") {
            let case_pointer = pointer_join(pointer, &case.key);
            for branch in case.value.as_object().unwrap_or_default() {
                out.push((
                    &branch.value,
                    pointer_join(&case_pointer, &branch.key),
                    None,
                ));
            }
        }
    }
    for &(key, unit) in block_keys(app) {
        // `trigger` keys are exact, like the compiler's.
        let member = if app == "trigger" {
            members.iter().find(|m| m.key == key)
        } else {
            find_ci(members, key)
        };
        if let Some(member) = member {
            out.push((&member.value, pointer_join(pointer, &member.key), unit));
        }
    }
    out
}

/// Keys of an application's object that are not templates (blocks, code).
fn not_template(app: &str, key: &str) -> bool {
    let code = match app {
        "if" => "expression",
        "while" => "condition",
        "js" => "data",
        _ => "",
    };
    key.eq_ignore_ascii_case(code)
        || (app == "switch" && key.eq_ignore_ascii_case("case"))
        || block_keys(app)
            .iter()
            .any(|(block, _)| key.eq_ignore_ascii_case(block))
}

/// Tags that `goto` and `limit.failover` name in a block and the blocks nested in it that
/// belong to the same flow object.
fn collect_targets(list: &Value, targets: &mut HashSet<String>) {
    for item in list.as_array().unwrap_or_default() {
        let Some(members) = item.as_object() else {
            continue;
        };
        for member in members {
            match member.key.as_str() {
                "goto" => {
                    if let Some(tag) = member.value.as_str() {
                        targets.insert(tag.to_string());
                    }
                }
                "limit" => {
                    let failover = member
                        .value
                        .as_object()
                        .and_then(|m| find_ci(m, "failover"))
                        .and_then(|m| m.value.as_str());
                    if let Some(tag) = failover {
                        targets.insert(tag.to_string());
                    }
                }
                _ => {}
            }
        }
        if let Some((app, value)) = application(members) {
            for (block, _, unit) in nested(app, value, "") {
                if unit.is_none() {
                    collect_targets(block, targets);
                }
            }
        }
    }
}

/// Whether an object, or a step nested in it in the same flow object, is a jump target.
fn holds_target(item: &Value, targets: &HashSet<String>) -> bool {
    let Some(members) = item.as_object() else {
        return false;
    };
    if tag(members).is_some_and(|t| targets.contains(t)) {
        return true;
    }
    let Some((app, value)) = application(members) else {
        return false;
    };
    nested(app, value, "").iter().any(|(block, _, unit)| {
        unit.is_none()
            && block
                .as_array()
                .unwrap_or_default()
                .iter()
                .any(|item| holds_target(item, targets))
    })
}

/// Text with no `$` at all: it cannot depend on a variable or argument.
fn literal_text(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.contains('$'))
}

/// What ends the block unconditionally at this step: how the warning names it.
fn ends_block(
    app: &str,
    value: Option<&Value>,
    members: &[Member],
    unit: UnitKind,
) -> Option<String> {
    let media_works = matches!(unit, UnitKind::Main | UnitKind::Function);
    let ends = match app {
        "break" => true,
        // An attempt flow's answer ends the flow (or, on a call, fails and the flow goes on:
        // steps after it are dead in the one flow where it belongs).
        "confirm" | "cancel" | "success" | "abandoned" | "retry" => true,
        // A `goto` to a missing tag does not load, so a literal one always jumps.
        "goto" => value.and_then(Value::as_str).is_some_and(|t| !t.is_empty()),
        // A cause from a variable may be unknown: the step fails and the flow goes on.
        "hangup" if media_works => match value.map(|v| &v.kind) {
            None | Some(Kind::Null | Kind::Number(_)) => true,
            Some(Kind::String(s)) => !s.contains('$'),
            _ => false,
        },
        // URIs that expand to nothing are dropped; a literal one always stays.
        "sipRedirect" if media_works => {
            let literal = |v: &Value| literal_text(v).is_some_and(|s| !s.trim().is_empty());
            match value.map(|v| &v.kind) {
                Some(Kind::String(_)) => value.is_some_and(literal),
                Some(Kind::Array(items)) => items.iter().any(literal),
                _ => false,
            }
        }
        _ => false,
    };
    if ends {
        Some(format!("`{app}`"))
    } else {
        has_break(members).then(|| format!("`break: true` on `{app}`"))
    }
}

/// A run of steps that never run: where the warning is, how many, what ended the block.
struct DeadRun {
    warning: usize,
    steps: usize,
}

impl Linter<'_> {
    fn warn(
        &mut self,
        severity: Severity,
        code: &'static str,
        pointer: &str,
        offset: usize,
        message: String,
    ) {
        self.out.push((
            offset,
            Warning {
                file: self.file.to_string(),
                pointer: pointer.to_string(),
                line: 0,
                column: 0,
                severity,
                code,
                message,
            },
        ));
    }

    /// A flow object: the main sequence, a function, `trigger.disconnected`, `bridged`.
    fn unit(&mut self, list: &Value, pointer: &str, kind: UnitKind) {
        let mut targets = HashSet::new();
        collect_targets(list, &mut targets);
        self.block(list, pointer, kind, &targets, None);
    }

    /// A block of steps. `ended` (what ended it, and that step's pointer) is set from the
    /// start when the step holding the block stops the flow object before the block runs
    /// (`break: true` on an `if`, `switch` or `while`), and when a step of the block ends it.
    fn block(
        &mut self,
        list: &Value,
        pointer: &str,
        kind: UnitKind,
        targets: &HashSet<String>,
        mut ended: Option<(String, String)>,
    ) {
        let Some(items) = list.as_array() else {
            return;
        };
        // The warning of the steps that never run since the end.
        let mut run: Option<DeadRun> = None;
        for (i, item) in items.iter().enumerate() {
            let item_pointer = format!("{pointer}/{i}");
            let Some(members) = item.as_object() else {
                continue;
            };
            let Some((app, value)) = application(members) else {
                continue;
            };
            let definition = matches!(app, "function" | "trigger");
            if ended.is_some() {
                if holds_target(item, targets) {
                    ended = None;
                    self.finish_run(run.take());
                } else if !definition {
                    match &mut run {
                        Some(run) => run.steps += 1,
                        None => {
                            let (end, end_pointer) = ended.clone().unwrap_or_default();
                            // Inside the step that ended the flow object: its own blocks.
                            let inside = item_pointer.starts_with(&format!("{end_pointer}/"));
                            let (how, fix) = if inside {
                                (
                                    "stops the flow object before this block runs",
                                    "remove the `break: true`, or move it to the block's last step"
                                        .to_string(),
                                )
                            } else {
                                let before = if end.starts_with("`break: true`") {
                                    "the step with `break: true`".to_string()
                                } else {
                                    format!("the {end}")
                                };
                                (
                                    "ends the block before it",
                                    format!("remove it, or move it before {before}"),
                                )
                            };
                            self.warn(
                                Severity::Warning,
                                UNREACHABLE,
                                &item_pointer,
                                item.start,
                                format!(
                                    "this step never runs: {end} at {end_pointer} {how}, and no `goto` leads here; fix: {fix}"
                                ),
                            );
                            run = Some(DeadRun {
                                warning: self.out.len() - 1,
                                steps: 1,
                            });
                        }
                    }
                }
            }
            let app_pointer = if value.is_some() {
                pointer_join(&item_pointer, app)
            } else {
                item_pointer.clone()
            };
            self.step(app, value, members, &app_pointer, kind, targets);
            if ended.is_none() {
                ended = ends_block(app, value, members, kind).map(|end| (end, app_pointer));
            }
        }
        self.finish_run(run);
    }

    /// Says how many steps a dead run has, when it is more than one.
    fn finish_run(&mut self, run: Option<DeadRun>) {
        if let Some(run) = run.filter(|run| run.steps > 1) {
            let (_, warning) = &mut self.out[run.warning];
            warning.message = warning.message.replacen(
                "this step never runs",
                &match run.steps - 1 {
                    1 => "this step and the one after it never run".to_string(),
                    more => format!("this step and the {more} after it never run"),
                },
                1,
            );
        }
    }

    fn step(
        &mut self,
        app: &str,
        value: Option<&Value>,
        object: &[Member],
        pointer: &str,
        kind: UnitKind,
        targets: &HashSet<String>,
    ) {
        let Some(value) = value else {
            return;
        };
        self.record_sets(app, value);
        self.scan_reads(app, value, &mut pointer.to_string(), true);
        let members = value.as_object().unwrap_or_default();
        let field = |key: &str| find_ci(members, key);
        match app {
            "if" | "while" => {
                let key = if app == "if" {
                    "expression"
                } else {
                    "condition"
                };
                if let Some(m) = field(key) {
                    self.code(&m.value, &pointer_join(pointer, &m.key), Mode::Expression);
                }
            }
            "js" => {
                if let Some(m) = field("data") {
                    self.code(&m.value, &pointer_join(pointer, &m.key), Mode::Function);
                }
            }
            "playback" | "tts" => {
                if let Some(m) = field("getDigits") {
                    if m.value
                        .as_object()
                        .is_some_and(|d| find_ci(d, "setVar").is_none())
                    {
                        self.sets.insert("MyVar".to_string());
                    }
                    self.digits(&m.value, &pointer_join(pointer, &m.key));
                }
                if let Some(m) = field("getSpeech") {
                    if m.value
                        .as_object()
                        .is_some_and(|d| find_ci(d, "setVar").is_none())
                    {
                        self.sets.insert("google_transcript".to_string());
                    }
                }
                if let Some(files) = field("files") {
                    let files_pointer = pointer_join(pointer, &files.key);
                    for (i, file) in files
                        .value
                        .as_array()
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                    {
                        self.file_type(file, &format!("{files_pointer}/{i}"));
                    }
                }
            }
            "backgroundPlayback" => {
                if let Some(m) = field("file") {
                    self.file_type(&m.value, &pointer_join(pointer, &m.key));
                }
            }
            "ringback" => {
                for key in ["call", "transfer", "hold"] {
                    if let Some(m) = field(key) {
                        self.file_type(&m.value, &pointer_join(pointer, &m.key));
                    }
                }
            }
            _ => {}
        }
        // `break: true` stops the flow object right after the step itself: before the
        // branches of an `if`/`switch` or the body of a `while`.
        let ended =
            has_break(object).then(|| (format!("`break: true` on `{app}`"), pointer.to_string()));
        for (block, block_pointer, unit) in nested(app, Some(value), pointer) {
            match unit {
                None => self.block(block, &block_pointer, kind, targets, ended.clone()),
                Some(unit) => self.unit(block, &block_pointer, unit),
            }
        }
    }

    /// Remembers the variables a step sets: `set` names, `setVar`-like fields, `export`.
    fn record_sets(&mut self, app: &str, value: &Value) {
        match app {
            "set" | "setAll" | "setNoLocal" => {
                for member in value.as_object().unwrap_or_default() {
                    self.sets.insert(member.key.clone());
                }
                return;
            }
            "export" => {
                let names = match &value.kind {
                    Kind::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                    Kind::String(name) => vec![name.as_str()],
                    _ => Vec::new(),
                };
                for name in names {
                    self.sets.insert(format!("usr_{name}"));
                }
                return;
            }
            _ => {}
        }
        self.record_set_fields(app, value);
    }

    /// Output-naming fields anywhere in an application's object (also in applications the
    /// engine does not run: they set variables in the original).
    fn record_set_fields(&mut self, app: &str, value: &Value) {
        match &value.kind {
            Kind::Object(members) => {
                for member in members {
                    if not_template(app, &member.key) {
                        continue;
                    }
                    let key = member.key.to_ascii_lowercase();
                    match (key.as_str(), &member.value.kind) {
                        (
                            "setvar" | "responsecode" | "exportcookie" | "set",
                            Kind::String(name),
                        ) => {
                            self.sets.insert(name.clone());
                        }
                        ("exportvariables" | "set", Kind::Object(outputs)) => {
                            for output in outputs {
                                self.sets.insert(output.key.clone());
                            }
                        }
                        _ => self.record_set_fields("", &member.value),
                    }
                }
            }
            Kind::Array(items) => {
                for item in items {
                    self.record_set_fields("", item);
                }
            }
            _ => {}
        }
    }

    /// Variable reads of the template strings of an application's value (not its blocks
    /// nor its code, which [`Linter::code`] reads).
    fn scan_reads(&mut self, app: &str, value: &Value, pointer: &mut String, top: bool) {
        match &value.kind {
            Kind::String(text) => {
                for (name, full) in template_reads(text) {
                    self.reads.push((name, full, pointer.clone(), value.start));
                }
            }
            Kind::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let base = pointer.len();
                    // An index needs no escaping.
                    let _ = write!(pointer, "/{i}");
                    self.scan_reads(app, item, pointer, false);
                    pointer.truncate(base);
                }
            }
            Kind::Object(members) => {
                for member in members {
                    if top && not_template(app, &member.key) {
                        continue;
                    }
                    let base = pointer.len();
                    push_pointer(pointer, &member.key);
                    self.scan_reads(app, &member.value, pointer, false);
                    pointer.truncate(base);
                }
            }
            _ => {}
        }
    }

    /// An expression (`if`/`while`) or a `js` body: its reads, and `${…}` in quotes.
    fn code(&mut self, value: &Value, pointer: &str, mode: Mode) {
        let Some(source) = value.as_str() else {
            return;
        };
        // Compile errors are the compiler's to report.
        let Ok(tokens) = tokenize(source, mode) else {
            return;
        };
        // Offsets inside the source map to the file when the JSON string has no escapes.
        let raw = self.text.get(value.start + 1..value.end.saturating_sub(1));
        let exact = raw == Some(source);
        for token in tokens {
            let offset = if exact {
                value.start + 1 + token.start
            } else {
                value.start
            };
            match &token.tok {
                Tok::Var(inner) => {
                    if let Some((name, full)) = variable_read(inner) {
                        self.reads.push((name, full, pointer.to_string(), offset));
                    }
                }
                Tok::Template(subs) => {
                    for (start, _, inner) in subs {
                        if let Some((name, full)) = variable_read(inner) {
                            let offset = if exact {
                                value.start + 1 + start
                            } else {
                                offset
                            };
                            self.reads.push((name, full, pointer.to_string(), offset));
                        }
                    }
                }
                Tok::Str(Some(text)) => {
                    let pieces = dialect_pieces(text);
                    if !pieces.iter().any(|p| matches!(p, Piece::Reference(_))) {
                        continue;
                    }
                    let literal = &source[token.start..token.end];
                    let quote = literal.chars().next().unwrap_or('\'');
                    let fix = unquoted(&pieces, quote);
                    self.warn(
                        Severity::Warning,
                        QUOTED_VARIABLE,
                        pointer,
                        offset,
                        format!(
                            "`{literal}` is a quoted string, so it is the text `{text}`, not the variable's value; fix: write `{fix}` without quotes"
                        ),
                    );
                }
                _ => {}
            }
        }
    }

    /// `getDigits` that rejects every input: `min` > `max`, or a `regexp` that matches no
    /// key sequence of an allowed length.
    fn digits(&mut self, value: &Value, pointer: &str) {
        let Some(members) = value.as_object() else {
            return;
        };
        let count = |key: &str, default: u64| -> Option<(u64, Option<&Member>)> {
            match find_ci(members, key) {
                None => Some((default, None)),
                Some(m) => {
                    let n = match &m.value.kind {
                        Kind::Number(raw) => parse_count(raw).ok()?,
                        Kind::String(s) if !s.contains('$') => parse_count(s).ok()?,
                        _ => return None,
                    };
                    Some((n, Some(m)))
                }
            }
        };
        // Values from variables are only known at run time.
        let (Some((min, min_member)), Some((max, max_member))) = (count("min", 1), count("max", 1))
        else {
            return;
        };
        let at = |m: Option<&Member>| match m {
            Some(m) => (pointer_join(pointer, &m.key), m.value.start),
            None => (pointer.to_string(), value.start),
        };
        if max == 0 || min > max {
            let (p, offset) = at(max_member.or(min_member));
            let what = if max == 0 {
                "`max` is 0".to_string()
            } else {
                format!("`min` ({min}) is greater than `max` ({max})")
            };
            self.warn(
                Severity::Warning,
                DIGITS_MIN_MAX,
                &p,
                offset,
                format!(
                    "{what}: the step fails every time (getDigits needs 0 < min <= max); fix: set `max` to at least {}",
                    min.max(1)
                ),
            );
            return;
        }
        let Some(regexp) = find_ci(members, "regexp") else {
            return;
        };
        let Some(pattern) = regexp
            .value
            .as_str()
            .and_then(|s| Template::parse(s).as_literal().map(str::to_string))
            .filter(|s| !s.is_empty())
        else {
            return;
        };
        let terminators = match find_ci(members, "terminators") {
            None => "#".to_string(),
            Some(m) => match m
                .value
                .as_str()
                .and_then(|s| Template::parse(s).as_literal().map(str::to_string))
            {
                Some(t) => t,
                None => return,
            },
        };
        let keys: Vec<u8> = DTMF_KEYS
            .bytes()
            .filter(|k| !terminators.as_bytes().contains(k))
            .collect();
        let min = usize::try_from(min).unwrap_or(usize::MAX);
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if max > MAX_KEYS_WALKED {
            return;
        }
        let Some(lengths) = match_lengths(&pattern, &keys, MAX_KEYS_WALKED) else {
            return;
        };
        if (min..=max).any(|n| lengths[n]) {
            return;
        }
        let keys_text: String = keys.iter().map(|&k| char::from(k)).collect();
        let shown = if terminators.is_empty() {
            format!("keys {keys_text}")
        } else {
            format!("keys {keys_text}; the terminator `{terminators}` is not part of the input")
        };
        let above = (max + 1..=MAX_KEYS_WALKED).find(|&n| lengths[n]);
        let below = (0..min).rev().find(|&n| lengths[n]);
        let keys_of = |n: usize| {
            if n == 1 {
                "1 key".to_string()
            } else {
                format!("{n} keys")
            }
        };
        let (what, fix) = match (above, below) {
            (Some(n), _) => (
                format!("needs at least {} but `max` is {max}", keys_of(n)),
                format!("set `max` to {n} (or more)"),
            ),
            (None, Some(n)) => (
                format!("matches at most {} but `min` is {min}", keys_of(n)),
                format!("set `min` to {n}"),
            ),
            (None, None) => (
                "matches no sequence of keys".to_string(),
                "correct the pattern".to_string(),
            ),
        };
        self.warn(
            Severity::Warning,
            DIGITS_NEVER_MATCH,
            &pointer_join(pointer, &regexp.key),
            regexp.value.start,
            format!("`regexp` `{pattern}` {what} ({shown}): every input is rejected; fix: {fix}"),
        );
    }

    /// A playback file whose `type` loads but is close to another known type.
    fn file_type(&mut self, file: &Value, pointer: &str) {
        let Some(m) = file
            .as_object()
            .and_then(|members| find_ci(members, "type"))
        else {
            return;
        };
        let Some(file_type) = m.value.as_str() else {
            return;
        };
        if let Some(better) = suggest_media_type(file_type) {
            let what = if ENGINE_FILE_TYPES.contains(&better.as_str()) {
                format!(
                    "plays a media file by `name`/`id` (every `audio/…` type does), not a `{better}` file"
                )
            } else {
                "is not a known media type".to_string()
            };
            self.warn(
                Severity::Warning,
                FILE_TYPE,
                &pointer_join(pointer, &m.key),
                m.value.start,
                format!("file type `{file_type}` {what}; fix: write `\"type\": \"{better}\"`"),
            );
        }
    }

    /// Notes each variable read (once, at its first read) that nothing sets and nothing
    /// provides.
    fn unset_reads(&mut self) {
        let mut seen = HashSet::new();
        let reads = std::mem::take(&mut self.reads);
        let mut sets: Vec<&String> = self.sets.iter().collect();
        sets.sort();
        let mut notes = Vec::new();
        for (name, full, pointer, offset) in reads {
            if !seen.insert(name.clone()) {
                continue;
            }
            let provided = |n: &str| self.sets.contains(n) || crate::apps_outputs::is_known(n);
            if provided(&name) || provided(&full) {
                continue;
            }
            let near = closest(&name, sets.iter().map(|s| s.as_str()));
            let fix = match near {
                Some(near) => format!("did you mean `{near}`, which the flow sets?"),
                None => "set it before this step, or check its spelling".to_string(),
            };
            notes.push((
                pointer,
                offset,
                format!(
                    "`{name}` is read, but no step of this flow sets it and it is neither a FreeSWITCH variable nor an application's output (fine if the dialplan or the caller sets it); fix: {fix}"
                ),
            ));
        }
        for (pointer, offset, message) in notes {
            self.warn(Severity::Note, UNSET_VARIABLE, &pointer, offset, message);
        }
    }
}

/// A string literal's text split into plain text and `${…}` / `$${…}` references.
#[derive(Debug, PartialEq)]
enum Piece<'s> {
    Text(&'s str),
    Reference(&'s str),
}

fn dialect_pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut plain = 0;
    let mut i = 0;
    while i < text.len() {
        let open = if text[i..].starts_with("$${") {
            3
        } else if text[i..].starts_with("${") {
            2
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        };
        let Some(close) = text[i + open..].find('}') else {
            break;
        };
        let inner = &text[i + open..i + open + close];
        let end = i + open + close + 1;
        if variable_read(inner).is_some() || (open == 3 && !inner.trim().is_empty()) {
            if plain < i {
                pieces.push(Piece::Text(&text[plain..i]));
            }
            pieces.push(Piece::Reference(&text[i..end]));
            plain = end;
        }
        i = end;
    }
    if plain < text.len() {
        pieces.push(Piece::Text(&text[plain..]));
    }
    pieces
}

/// The unquoted form: `'${a}'` → `${a}`, `'x ${a}!'` → `'x ' + ${a} + '!'`.
fn unquoted(pieces: &[Piece<'_>], quote: char) -> String {
    let parts: Vec<String> = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Reference(r) => r.to_string(),
            Piece::Text(t) => {
                let mut quoted = String::new();
                quoted.push(quote);
                for c in t.chars() {
                    if c == quote || c == '\\' {
                        quoted.push('\\');
                    }
                    quoted.push(c);
                }
                quoted.push(quote);
                quoted
            }
        })
        .collect();
    parts.join(" + ")
}

/// The keys a caller can press.
const DTMF_KEYS: &str = "0123456789*#ABCD";

/// Key sequences longer than this are not examined (no warning when `max` is larger).
const MAX_KEYS_WALKED: usize = 64;

/// DFA states reached by the sequences of one length beyond which the walk gives up.
const MAX_STATES: usize = 4096;

/// For each length 0..=limit, whether some key sequence of that length (keys from `keys`)
/// matches `pattern` as the digit collection tests it (a match anywhere in the input).
/// `None` when the pattern cannot be examined.
///
/// Walks the lazy DFA of the pattern over the keys, one length at a time: the states
/// reached by the sequences of each length (a few at most), whether the end of input
/// after them matches, and, once a state says a match has ended, every longer sequence
/// from there matches too.
fn match_lengths(pattern: &str, keys: &[u8], limit: usize) -> Option<Vec<bool>> {
    use regex_automata::Anchored;
    use regex_automata::hybrid::dfa::DFA;
    use regex_automata::nfa::thompson;
    use regex_automata::util::start;

    let dfa = DFA::builder()
        .configure(DFA::config().unicode_word_boundary(true))
        .thompson(thompson::Config::new().nfa_size_limit(Some(1 << 20)))
        .build(pattern)
        .ok()?;
    let mut cache = dfa.create_cache();
    let start = dfa
        .start_state(&mut cache, &start::Config::new().anchored(Anchored::No))
        .ok()?;
    let mut lengths = vec![false; limit + 1];
    // Every sequence at least this long that extends a matched one matches.
    let mut matched_from: Option<usize> = None;
    let mut frontier = vec![start];
    for (length, matches) in lengths.iter_mut().enumerate() {
        if matched_from.is_some_and(|from| length >= from) {
            *matches = true;
        }
        let mut next = Vec::new();
        let mut seen = HashSet::new();
        for &state in &frontier {
            if dfa.next_eoi_state(&mut cache, state).ok()?.is_match() {
                *matches = true;
            }
            if length == limit {
                continue;
            }
            for &key in keys {
                let after = dfa.next_state(&mut cache, state, key).ok()?;
                // A full cache is cleared, and the ids held here mean nothing after that;
                // a pattern with that many states is not worth a warning.
                if after.is_quit() || cache.clear_count() > 0 || next.len() > MAX_STATES {
                    return None;
                }
                if after.is_match() {
                    matched_from = Some(matched_from.map_or(length + 1, |f| f.min(length + 1)));
                } else if !after.is_dead() && seen.insert(after) {
                    next.push(after);
                }
            }
        }
        frontier = next;
    }
    (cache.clear_count() == 0).then_some(lengths)
}

/// The file types the engine itself handles.
const ENGINE_FILE_TYPES: &[&str] = &["tone", "silence", "local", "http_audio", "tts"];

/// Media subtypes the designer stores (`audio/…`, `video/…`).
const AUDIO_SUBTYPES: &[&str] = &[
    "aac", "amr", "basic", "flac", "m4a", "mp3", "mp4", "mpeg", "ogg", "opus", "wav", "wave",
    "webm", "x-flac", "x-m4a", "x-wav",
];
const VIDEO_SUBTYPES: &[&str] = &["mp4", "mpeg", "ogg", "quicktime", "webm", "x-msvideo"];

/// A known file type close to `file_type`, which the engine does not know (for its load
/// error): `mp3` → `audio/mp3`, `Tone` → `tone`, `http-audio` → `http_audio`.
pub fn suggest_file_type(file_type: &str) -> Option<String> {
    let lower = file_type.trim().to_ascii_lowercase();
    if let Some(known) = ENGINE_FILE_TYPES.iter().find(|t| **t == lower) {
        return Some((*known).to_string());
    }
    if !lower.contains('/') && AUDIO_SUBTYPES.contains(&lower.as_str()) {
        return Some(format!("audio/{lower}"));
    }
    closest(&lower, ENGINE_FILE_TYPES.iter().copied()).map(str::to_string)
}

/// For a type that loads as a media file (`audio/…`, `video/…`): the known type it is
/// probably a misspelling of.
fn suggest_media_type(file_type: &str) -> Option<String> {
    let (major, subtype) = file_type.split_once('/')?;
    let subtypes = match major {
        "audio" => AUDIO_SUBTYPES,
        "video" => VIDEO_SUBTYPES,
        _ => return None,
    };
    let lower = subtype.to_ascii_lowercase();
    if subtypes.contains(&lower.as_str()) {
        return None;
    }
    if let Some(engine) = ENGINE_FILE_TYPES.iter().find(|t| **t == lower) {
        return Some((*engine).to_string());
    }
    closest(&lower, subtypes.iter().copied()).map(|s| format!("{major}/{s}"))
}

/// The nearest candidate within 2 edits (1 for words of 3 characters, none for shorter),
/// ignoring case.
fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str>) -> Option<&'c str> {
    let most = match word.chars().count() {
        0..=2 => return None,
        3 => 1,
        _ => 2,
    };
    let word = word.to_lowercase();
    let length = word.chars().count();
    candidates
        .filter_map(|c| {
            let lower = c.to_lowercase();
            // Lengths further apart than `most` are more edits apart than that.
            (lower.chars().count().abs_diff(length) <= most)
                .then(|| (edit_distance(&word, &lower), c))
        })
        .filter(|&(d, _)| d <= most)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_unquoted_forms() {
        let pieces = dialect_pieces("${said}");
        assert_eq!(pieces, vec![Piece::Reference("${said}")]);
        assert_eq!(unquoted(&pieces, '\''), "${said}");
        let pieces = dialect_pieces("it's ${a}!");
        assert_eq!(unquoted(&pieces, '\''), r"'it\'s ' + ${a} + '!'");
        assert!(
            dialect_pieces("${}")
                .iter()
                .all(|p| matches!(p, Piece::Text(_)))
        );
        assert_eq!(unquoted(&dialect_pieces("$${g}"), '"'), "$${g}");
    }

    #[test]
    fn dfa_walk_finds_the_lengths_a_pattern_accepts() {
        let keys = b"0123456789*ABCD";
        let lengths = match_lengths("^[1-3]$", keys, 4).unwrap();
        assert_eq!(lengths, vec![false, true, false, false, false]);
        let lengths = match_lengths(r"^\d{3}$", keys, 4).unwrap();
        assert_eq!(lengths, vec![false, false, false, true, false]);
        // Unanchored: a match anywhere accepts every longer input too.
        let lengths = match_lengths("5", keys, 3).unwrap();
        assert_eq!(lengths, vec![false, true, true, true]);
        // `#` is the terminator, never part of the input.
        let lengths = match_lengths("^#$", keys, 2).unwrap();
        assert_eq!(lengths, vec![false, false, false]);
        let lengths = match_lengths("^x", keys, 2).unwrap();
        assert_eq!(lengths, vec![false, false, false]);
        assert!(match_lengths("(", keys, 2).is_none());
        // A pattern whose automaton explodes is given up on, quickly.
        let started = std::time::Instant::now();
        assert!(match_lengths(r"1[0-9]{20}$", keys, 64).is_none());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn file_type_suggestions() {
        assert_eq!(suggest_file_type("mp3").as_deref(), Some("audio/mp3"));
        assert_eq!(suggest_file_type("Tone").as_deref(), Some("tone"));
        assert_eq!(
            suggest_file_type("http-audio").as_deref(),
            Some("http_audio")
        );
        assert_eq!(suggest_file_type("silense").as_deref(), Some("silence"));
        assert_eq!(suggest_file_type("banana"), None);
        assert_eq!(
            suggest_media_type("audio/flack").as_deref(),
            Some("audio/flac")
        );
        assert_eq!(suggest_media_type("audio/tone").as_deref(), Some("tone"));
        assert_eq!(suggest_media_type("audio/mpeg"), None);
        assert_eq!(suggest_media_type("audio/x-custom-thing"), None);
        assert_eq!(suggest_media_type("tone"), None);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("promo_promt", "promo_prompt"), 1);
    }
}
