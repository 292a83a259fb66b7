//! Compiled flows and the set of flows a module instance serves.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::program::Unit;

/// What to do with application names the engine does not run (config `unknown-apps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownApps {
    /// Reject the flow.
    #[default]
    Error,
    /// Accept the flow; each such step fails at run time with a clear error, and the
    /// summary lists it under `skipped`.
    Skip,
}

/// Load-time options.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub unknown_apps: UnknownApps,
    /// Whether `httpRequest.insecureSkipVerify: true` is accepted (config
    /// `http-allow-insecure`); otherwise such a flow is rejected.
    pub allow_insecure_skip_verify: bool,
    /// Leave out the lint pass (`Flow::warnings` stays empty). Only the compile benchmark
    /// sets it, to compare compilation alone with earlier versions.
    pub skip_lint: bool,
}

/// A problem found while loading a flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// JSON pointer of the offending value ("" = the whole document).
    pub pointer: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_location(f, &self.file, self.line, self.column, &self.pointer)?;
        f.write_str(&self.message)
    }
}

/// `FILE:LINE:COLUMN: JSON-POINTER: `, the start of every line `rustflow check` prints (the
/// document root's pointer shown as `/`).
pub(crate) fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: &str,
    line: usize,
    column: usize,
    pointer: &str,
) -> fmt::Result {
    let pointer = if pointer.is_empty() { "/" } else { pointer };
    write!(f, "{file}:{line}:{column}: {pointer}: ")
}

/// An application the flow names but the engine does not run (under `UnknownApps::Skip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedApp {
    pub app: String,
    pub pointer: String,
}

/// What a flow contains, for `rustflow show` and `rustflow check`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowSummary {
    /// Application name → number of objects naming it (definitions included).
    pub apps: BTreeMap<String, usize>,
    /// Every tag, sorted.
    pub tags: Vec<String>,
    /// Every function name, sorted.
    pub functions: Vec<String>,
    pub skipped: Vec<SkippedApp>,
    /// Application objects compiled.
    pub steps: usize,
}

/// A compiled flow: immutable, shared by every call running it.
#[derive(Debug)]
pub struct Flow {
    pub(crate) id: String,
    pub(crate) file: String,
    pub(crate) version: String,
    pub(crate) name: Option<String>,
    pub(crate) timezone: Option<String>,
    /// Index 0 is the main sequence.
    pub(crate) units: Vec<Unit>,
    pub(crate) disconnected: Option<usize>,
    pub(crate) summary: FlowSummary,
    /// Whether any step of the flow needs the call's media.
    pub(crate) uses_media: bool,
    pub(crate) schema_refs: Vec<SchemaRef>,
    /// Compiled `if`/`while` expressions, by the index ops hold.
    pub(crate) expressions: Vec<crate::expr::Expression>,
    /// Compiled `js` bodies, by the index ops hold.
    pub(crate) scripts: Vec<crate::js::JsFunction>,
    /// What `rustflow check` warns about (the flow loads all the same).
    pub(crate) warnings: Vec<crate::lint::Warning>,
}

/// A `schema` step naming another flow by a literal id.
#[derive(Debug, Clone)]
pub(crate) struct SchemaRef {
    pub id: String,
    pub pointer: String,
    pub line: usize,
    pub column: usize,
}

impl Flow {
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Content hash of the file bytes, 16 hex digits.
    pub fn version(&self) -> &str {
        &self.version
    }
    pub fn file(&self) -> &str {
        &self.file
    }
    /// The `name` field of the file's object form, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The `timezone` field of the file's object form, if any.
    pub fn timezone(&self) -> Option<&str> {
        self.timezone.as_deref()
    }
    pub fn summary(&self) -> FlowSummary {
        self.summary.clone()
    }
    /// Warnings and notes about the flow as written, by position (see [`crate::lint`]).
    pub fn warnings(&self) -> &[crate::lint::Warning] {
        &self.warnings
    }
}

/// Flow ids: `[A-Za-z0-9_.-]{1,128}` without `..` (they name files, so nothing else).
pub fn is_valid_flow_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.contains("..")
}

/// FNV-1a 64 of the bytes as 16 hex digits: a stable content version.
pub fn content_version(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Reads and compiles one flow file; the id is the file stem.
pub fn compile_file(path: &Path, opts: &CompileOptions) -> Result<Flow, Vec<Diagnostic>> {
    let source = read_source(path)?;
    crate::compile::compile_source(&source.id, &source.file, &source.text, opts)
}

/// The text of one flow before compilation, wherever it was read from (a file of a flows
/// directory, a row of the flows table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSource {
    /// The flow id (a file's stem, a row's id).
    pub id: String,
    /// What diagnostics name the source by (a path, `table/ID`).
    pub file: String,
    pub text: String,
}

/// Reads a flow file: its id is the file stem, which must be a valid flow id.
pub fn read_source(path: &Path) -> Result<FlowSource, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let whole_file = |message: String| {
        vec![Diagnostic {
            file: file.clone(),
            pointer: String::new(),
            line: 1,
            column: 1,
            message,
        }]
    };
    let id = match path.file_stem().and_then(|s| s.to_str()) {
        Some(id) if is_valid_flow_id(id) => id.to_string(),
        _ => {
            return Err(whole_file(
                "the file name is not a valid flow id ([A-Za-z0-9_.-]{1,128}, no `..`)".to_string(),
            ));
        }
    };
    let bytes = std::fs::read(path).map_err(|e| whole_file(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole_file(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(FlowSource { id, file, text })
}

/// Reads every `*.json` file of `dir` (sorted by name): the sources, and a diagnostic per
/// file that cannot be read or whose name is not a flow id.
pub fn read_dir_sources(dir: &Path) -> Result<(Vec<FlowSource>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![Diagnostic {
            file: dir.display().to_string(),
            pointer: String::new(),
            line: 1,
            column: 1,
            message: format!("cannot read the flows directory: {e}"),
        }]
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json") && path.is_file())
        .collect();
    paths.sort();
    let mut sources = Vec::new();
    let mut diagnostics = Vec::new();
    for path in paths {
        match read_source(&path) {
            Ok(source) => sources.push(source),
            Err(mut found) => diagnostics.append(&mut found),
        }
    }
    Ok((sources, diagnostics))
}

/// An immutable set of compiled flows, by id.
#[derive(Debug, Default, Clone)]
pub struct FlowSet {
    flows: BTreeMap<String, Arc<Flow>>,
}

impl FlowSet {
    pub fn empty() -> Self {
        FlowSet::default()
    }

    /// Builds a set from already compiled flows; a later flow with the same id replaces
    /// an earlier one.
    pub fn from_flows(flows: impl IntoIterator<Item = Flow>) -> Self {
        FlowSet {
            flows: flows
                .into_iter()
                .map(|flow| (flow.id.clone(), Arc::new(flow)))
                .collect(),
        }
    }

    /// Compiles every `*.json` file of `dir`. All or nothing: any problem in any file
    /// returns every diagnostic and no set.
    pub fn load_dir(dir: &Path, opts: &CompileOptions) -> Result<FlowSet, Vec<Diagnostic>> {
        let (sources, unreadable) = read_dir_sources(dir)?;
        FlowSet::compile_sources(sources, unreadable, &dir.display().to_string(), opts)
    }

    /// Compiles a whole set of flows, wherever their texts came from (a directory, the flows
    /// table): the one way a set is built. All or nothing: `problems` found while reading
    /// (an unreadable file), any problem of any flow, a flow id given twice, or a `schema`
    /// step naming a flow outside the set return every diagnostic and no set. `origin`
    /// names where the set lives in the message about a missing `schema` flow.
    pub fn compile_sources(
        sources: impl IntoIterator<Item = FlowSource>,
        problems: Vec<Diagnostic>,
        origin: &str,
        opts: &CompileOptions,
    ) -> Result<FlowSet, Vec<Diagnostic>> {
        let mut flows: BTreeMap<String, Arc<Flow>> = BTreeMap::new();
        let mut diagnostics = problems;
        for source in sources {
            match crate::compile::compile_source(&source.id, &source.file, &source.text, opts) {
                Ok(flow) => {
                    if let Some(first) = flows.get(&flow.id) {
                        diagnostics.push(Diagnostic {
                            file: source.file.clone(),
                            pointer: String::new(),
                            line: 1,
                            column: 1,
                            message: format!(
                                "flow id `{}` is also given by {}",
                                flow.id, first.file
                            ),
                        });
                        continue;
                    }
                    flows.insert(flow.id.clone(), Arc::new(flow));
                }
                Err(mut found) => diagnostics.append(&mut found),
            }
        }
        // `schema` steps must name a flow of the same set.
        for flow in flows.values() {
            for reference in &flow.schema_refs {
                if !flows.contains_key(&reference.id) {
                    diagnostics.push(Diagnostic {
                        file: flow.file.clone(),
                        pointer: reference.pointer.clone(),
                        line: reference.line,
                        column: reference.column,
                        message: format!(
                            "`schema` runs flow `{}`, which is not in {origin}",
                            reference.id
                        ),
                    });
                }
            }
        }
        if diagnostics.is_empty() {
            Ok(FlowSet { flows })
        } else {
            Err(diagnostics)
        }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Flow>> {
        self.flows.get(id)
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Flows sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids() {
        assert!(is_valid_flow_id("main_ivr-2.v1"));
        assert!(!is_valid_flow_id(""));
        assert!(!is_valid_flow_id("a..b"));
        assert!(!is_valid_flow_id("a/b"));
        assert!(!is_valid_flow_id("a b"));
        assert!(!is_valid_flow_id(&"x".repeat(129)));
        assert!(is_valid_flow_id(&"x".repeat(128)));
    }

    #[test]
    fn version_is_stable_fnv1a() {
        // FNV-1a 64 of "" and "a" (published test vectors).
        assert_eq!(content_version(b""), "cbf29ce484222325");
        assert_eq!(content_version(b"a"), "af63dc4c8601ec8c");
    }

    fn source(id: &str, text: &str) -> FlowSource {
        FlowSource {
            id: id.into(),
            file: format!("table/{id}"),
            text: text.into(),
        }
    }

    #[test]
    fn a_set_compiles_from_sources_all_or_nothing() {
        let opts = CompileOptions::default();
        let set = FlowSet::compile_sources(
            [
                source("main", r#"[{"schema": {"id": "sub"}}]"#),
                source("sub", r#"[{"hangup": "16"}]"#),
            ],
            Vec::new(),
            "the table",
            &opts,
        )
        .unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.get("sub").unwrap().file(), "table/sub");

        let problems = FlowSet::compile_sources(
            [
                source("main", r#"[{"schema": {"id": "gone"}}]"#),
                source("ok", r#"[{"hangup": "16"}]"#),
                source("ok", r#"[{"answer": ""}]"#),
                source("bad", "[{"),
            ],
            Vec::new(),
            "the table",
            &opts,
        )
        .unwrap_err();
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("table/ok:1:1: /: flow id `ok` is also given by table/ok")),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("table/bad:") && l.contains("malformed JSON")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("table/main:")
                && l.ends_with("runs flow `gone`, which is not in the table")),
            "{lines:#?}"
        );
    }

    #[test]
    fn diagnostic_display() {
        let d = Diagnostic {
            file: "f.json".into(),
            pointer: String::new(),
            line: 2,
            column: 3,
            message: "bad".into(),
        };
        assert_eq!(d.to_string(), "f.json:2:3: /: bad");
    }
}
