//! Graphviz DOT of a flow (`rustflow graph`).
//!
//! One node per application object (id = its JSON pointer), nested blocks as clusters,
//! branch edges labelled `then`/`else`/case values, `goto` and `limit` failover edges dashed,
//! `execute` edges dotted. The graph is drawn from the flow file as written: it is a picture
//! of the source, so it works on any well-shaped file; validation is `rustflow check`'s job.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::RESERVED_KEYS;
use crate::schema::nested_paths;

/// Longest argument summary shown in a node label, in characters.
const SUMMARY_CHARS: usize = 48;

/// The DOT text of the flow in `text` (either file shape). `name` titles the graph.
pub fn flow_graph_source(name: &str, text: &str) -> Result<String, String> {
    let document: Value =
        serde_json::from_str(text).map_err(|err| format!("malformed JSON: {err}"))?;
    flow_graph(name, &document)
}

/// The DOT text of a parsed flow document (either file shape).
pub fn flow_graph(name: &str, document: &Value) -> Result<String, String> {
    let (actions, pointer) = top_level(document)?;
    let mut graph = Graph::default();
    collect(actions, &pointer, &mut graph);
    let start = first_step(actions, &pointer);
    let mut out = String::new();
    writeln!(out, "digraph {} {{", quote(name)).unwrap();
    // newrank: the classic ranker fails ("trouble in init_rank") on large clustered flows.
    out.push_str("  rankdir=TB;\n  newrank=true;\n  compound=true;\n");
    out.push_str("  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");
    out.push_str("  \"start\" [shape=circle, label=\"start\"];\n");
    out.push_str("  \"end\" [shape=doublecircle, label=\"end\"];\n");
    graph.edge(
        "start",
        start.as_deref().unwrap_or("end"),
        "",
        EdgeStyle::Flow,
    );
    graph.block(actions, &pointer, Some("end".to_string()), &mut out, 1);
    for (missing, _) in graph.missing_tags.iter() {
        writeln!(
            out,
            "  {} [shape=octagon, color=red, label={}];",
            quote(&format!("missing:{missing}")),
            quote(&format!("missing tag {missing}"))
        )
        .unwrap();
    }
    for edge in &graph.edges {
        out.push_str(edge);
    }
    out.push_str("}\n");
    Ok(out)
}

fn top_level(document: &Value) -> Result<(&[Value], String), String> {
    match document {
        Value::Array(items) => Ok((items, String::new())),
        Value::Object(map) => {
            for key in ["schema", "scheme"] {
                if let Some(value) = map.get(key) {
                    return match value {
                        Value::Array(items) => Ok((items, format!("/{key}"))),
                        _ => Err(format!("/{key}: expected an array of applications")),
                    };
                }
            }
            Err("/: expected an array of applications or an object with `schema`".to_string())
        }
        _ => Err("/: expected an array of applications or an object with `schema`".to_string()),
    }
}

/// The application name of an object: its one non-reserved key (or `break` for a bare
/// `{"break": true}`).
fn app_of(object: &serde_json::Map<String, Value>) -> Option<&str> {
    object
        .keys()
        .map(String::as_str)
        .find(|key| !RESERVED_KEYS.contains(key))
        .or_else(|| object.contains_key("break").then_some("break"))
}

/// Definitions are registered at load and never run in sequence.
fn is_definition(app: &str) -> bool {
    matches!(app, "function" | "trigger")
}

fn pointer_join(base: &str, token: &str) -> String {
    format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// A member of an argument object, matching keys case-insensitively as the engine does.
pub(crate) fn field<'a>(args: &'a Value, name: &str) -> Option<(&'a str, &'a Value)> {
    args.as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(key, value)| (key.as_str(), value))
}

/// The nested arrays of one application: (edge label, pointer, items).
fn nested<'a>(app: &str, args: &'a Value, pointer: &str) -> Vec<(String, String, &'a [Value])> {
    let mut blocks = Vec::new();
    for path in nested_paths(app) {
        if let Some(parent) = path.strip_suffix(".*") {
            if let Some((key, Value::Object(map))) = field(args, parent) {
                let base = pointer_join(pointer, key);
                for (case, value) in map {
                    if let Value::Array(items) = value {
                        let label = if app == "switch" && case != "default" {
                            format!("case {case:?}")
                        } else {
                            case.clone()
                        };
                        blocks.push((label, pointer_join(&base, case), items.as_slice()));
                    }
                }
            }
        } else if let Some((list, inner)) = path.split_once("[].") {
            if let Some((key, Value::Array(entries))) = field(args, list) {
                let base = pointer_join(pointer, key);
                for (index, entry) in entries.iter().enumerate() {
                    if let Some((inner_key, Value::Array(items))) = field(entry, inner) {
                        let entry_pointer = pointer_join(&base, &index.to_string());
                        blocks.push((
                            format!("{key}[{index}]"),
                            pointer_join(&entry_pointer, inner_key),
                            items.as_slice(),
                        ));
                    }
                }
            }
        } else if let Some((key, Value::Array(items))) = field(args, path) {
            blocks.push((
                key.to_string(),
                pointer_join(pointer, key),
                items.as_slice(),
            ));
        }
    }
    blocks
}

/// The pointer of the first step that runs in `items` (definitions skipped).
fn first_step(items: &[Value], pointer: &str) -> Option<String> {
    items.iter().enumerate().find_map(|(index, item)| {
        let app = item.as_object().and_then(app_of)?;
        (!is_definition(app)).then(|| pointer_join(pointer, &index.to_string()))
    })
}

/// Tags, functions: found before any edge is drawn, since edges may point forward.
fn collect(items: &[Value], pointer: &str, graph: &mut Graph) {
    for (index, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            continue;
        };
        let Some(app) = app_of(object) else { continue };
        let here = pointer_join(pointer, &index.to_string());
        if let Some(Value::String(tag)) = object.get("tag") {
            graph
                .tags
                .entry(tag.clone())
                .or_insert_with(|| here.clone());
        }
        let args = object.get(app).unwrap_or(&Value::Null);
        let args_pointer = pointer_join(&here, app);
        if app == "function" {
            if let (Some((_, Value::String(name))), Some((key, Value::Array(body)))) =
                (field(args, "name"), field(args, "actions"))
            {
                let body_pointer = pointer_join(&args_pointer, key);
                if let Some(first) = first_step(body, &body_pointer) {
                    graph.functions.entry(name.clone()).or_insert(first);
                }
            }
        }
        for (_, block_pointer, block) in nested(app, args, &args_pointer) {
            collect(block, &block_pointer, graph);
        }
    }
}

#[derive(Clone, Copy)]
enum EdgeStyle {
    Flow,
    Jump,
    Call,
}

#[derive(Default)]
struct Graph {
    tags: HashMap<String, String>,
    functions: HashMap<String, String>,
    missing_tags: Vec<(String, ())>,
    /// Edges are written after all nodes, so an edge never pulls a node into a cluster.
    edges: Vec<String>,
}

impl Graph {
    fn edge(&mut self, from: &str, to: &str, label: &str, style: EdgeStyle) {
        let mut attrs = Vec::new();
        if !label.is_empty() {
            attrs.push(format!("label={}", quote(label)));
        }
        match style {
            EdgeStyle::Flow => {}
            EdgeStyle::Jump => attrs.push("style=dashed".to_string()),
            EdgeStyle::Call => attrs.push("style=dotted".to_string()),
        }
        let attrs = if attrs.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attrs.join(", "))
        };
        self.edges
            .push(format!("  {} -> {}{attrs};\n", quote(from), quote(to)));
    }

    fn jump(&mut self, from: &str, tag: &str, label: &str) {
        let target = match self.tags.get(tag) {
            Some(target) => target.clone(),
            None => {
                if !self.missing_tags.iter().any(|(name, _)| name == tag) {
                    self.missing_tags.push((tag.to_string(), ()));
                }
                format!("missing:{tag}")
            }
        };
        self.edge(from, &target, label, EdgeStyle::Jump);
    }

    /// Writes the nodes of `items` (recursively) and records their edges. `after` is where
    /// execution goes when the block ends (`None`: it returns to nobody, e.g. a function).
    fn block(
        &mut self,
        items: &[Value],
        pointer: &str,
        after: Option<String>,
        out: &mut String,
        depth: usize,
    ) {
        let indent = "  ".repeat(depth);
        let steps: Vec<(String, &serde_json::Map<String, Value>, &str)> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let object = item.as_object()?;
                let app = app_of(object)?;
                Some((pointer_join(pointer, &index.to_string()), object, app))
            })
            .collect();
        let runnable: Vec<usize> = (0..steps.len())
            .filter(|&i| !is_definition(steps[i].2))
            .collect();
        for (position, (here, object, app)) in steps.iter().enumerate() {
            let next = runnable
                .iter()
                .find(|&&i| i > position)
                .map(|&i| steps[i].0.clone())
                .or_else(|| after.clone());
            let args = object.get(*app).unwrap_or(&Value::Null);
            writeln!(
                out,
                "{indent}{} [{}];",
                quote(here),
                node_attrs(app, args, object)
            )
            .unwrap();

            if let Some(limit) = object.get("limit") {
                // An empty failover means no limit (as the original; docs/semantics.md).
                if let Some((_, Value::String(failover))) =
                    field(limit, "failover").filter(|(_, v)| v.as_str() != Some(""))
                {
                    let max = field(limit, "max")
                        .map(|(_, v)| v.to_string())
                        .unwrap_or_default();
                    self.jump(here, failover, &format!("limit {max}"));
                }
            }
            let stops = object.get("break") == Some(&Value::Bool(true))
                || matches!(*app, "break" | "hangup");
            let args_pointer = pointer_join(here, app);
            let blocks = nested(app, args, &args_pointer);
            // Where control goes after a nested block of this step ends.
            let block_after = match *app {
                "while" => Some(here.clone()),
                "function" | "trigger" | "bridge" | "joinQueue" | "joinAgent" => None,
                _ if stops => None,
                _ => next.clone(),
            };
            for (label, block_pointer, block) in &blocks {
                writeln!(
                    out,
                    "{indent}subgraph {} {{",
                    quote(&format!("cluster_{block_pointer}"))
                )
                .unwrap();
                writeln!(out, "{indent}  label={};", quote(&format!("{app} {label}"))).unwrap();
                writeln!(out, "{indent}  style=rounded; color=gray50;").unwrap();
                let inner_after = if *app == "while" {
                    Some(here.clone())
                } else {
                    block_after.clone()
                };
                self.block(block, block_pointer, inner_after, out, depth + 1);
                writeln!(out, "{indent}}}").unwrap();
                if let Some(first) = first_step(block, block_pointer) {
                    if !stops || is_definition(app) {
                        self.edge(here, &first, label, EdgeStyle::Flow);
                    }
                }
            }
            if is_definition(app) || stops {
                continue;
            }
            match *app {
                "goto" => {
                    if let Value::String(tag) = args {
                        self.jump(here, tag, "goto");
                    }
                }
                "if" => {
                    for branch in ["then", "else"] {
                        let has_branch = blocks.iter().any(|(label, _, block)| {
                            label.eq_ignore_ascii_case(branch) && !runnable_empty(block)
                        });
                        if !has_branch {
                            if let Some(next) = &next {
                                self.edge(here, next, branch, EdgeStyle::Flow);
                            }
                        }
                    }
                }
                "switch" => {
                    let has_default = blocks.iter().any(|(label, _, _)| label == "default");
                    if !has_default {
                        if let Some(next) = &next {
                            self.edge(here, next, "no match", EdgeStyle::Flow);
                        }
                    }
                }
                "while" => {
                    if let Some(next) = &next {
                        self.edge(here, next, "done", EdgeStyle::Flow);
                    }
                }
                _ => {
                    if *app == "execute" {
                        if let Some((_, Value::String(name))) = field(args, "name") {
                            if let Some(body) = self.functions.get(name).cloned() {
                                self.edge(here, &body, "execute", EdgeStyle::Call);
                            }
                        }
                    }
                    if let Some(next) = &next {
                        self.edge(here, next, "", EdgeStyle::Flow);
                    }
                }
            }
        }
    }
}

fn runnable_empty(items: &[Value]) -> bool {
    first_step(items, "").is_none()
}

fn node_attrs(app: &str, args: &Value, object: &serde_json::Map<String, Value>) -> String {
    let mut label = app.to_string();
    let summary = summary(app, args);
    if !summary.is_empty() {
        label.push('\n');
        label.push_str(&summary);
    }
    if let Some(Value::String(tag)) = object.get("tag") {
        label.push_str("\n#");
        label.push_str(&truncate(tag));
    }
    let shape = match app {
        "if" | "switch" | "while" => "shape=diamond, style=\"\"",
        "hangup" | "break" => "shape=octagon, style=\"\"",
        "goto" => "shape=cds, style=\"\"",
        "function" | "trigger" => "shape=tab, style=\"\"",
        _ => "shape=box",
    };
    format!("label={}, {shape}", quote(&label))
}

/// A short, one-line description of an application's argument: its registry label if it
/// has one (`crate::apps`), else the argument itself when it is short and plain.
fn summary(app: &str, args: &Value) -> String {
    let text = match args {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => match crate::apps::find(app).and_then(|entry| entry.graph_label(args)) {
            Some(label) => label,
            None => match args {
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            },
        },
    };
    truncate(text.trim())
}

/// The text of an argument field (case-insensitive), `""` when absent.
pub(crate) fn scalar(args: &Value, name: &str) -> String {
    match field(args, name) {
        Some((_, Value::String(text))) => text.clone(),
        Some((_, Value::Null)) | None => String::new(),
        Some((_, other)) => other.to_string(),
    }
}

fn truncate(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= SUMMARY_CHARS {
        one_line
    } else {
        let mut short: String = one_line.chars().take(SUMMARY_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// A DOT quoted string: only `"` and `\` need escaping; newlines become `\n`.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' | '\0' => {}
            _ => out.push(ch),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(text: &str) -> String {
        flow_graph_source("t", text).unwrap()
    }

    #[test]
    fn sequence_edges_link_steps_and_end() {
        let out = dot(r#"[{"answer": ""}, {"hangup": ""}]"#);
        assert!(out.contains("\"start\" -> \"/0\";"), "{out}");
        assert!(out.contains("\"/0\" -> \"/1\";"), "{out}");
        // hangup stops the flow: no edge onwards.
        assert!(!out.contains("\"/1\" -> \"end\""), "{out}");
    }

    #[test]
    fn branches_are_labelled_clusters() {
        let out = dot(r#"[{"if": {"expression": "1", "then": [{"log": "a"}]}},
                {"switch": {"variable": "${x}", "case": {"1": [{"log": "one"}], "default": [{"log": "d"}]}}},
                {"hangup": ""}]"#);
        assert!(out.contains("subgraph \"cluster_/0/if/then\""), "{out}");
        assert!(
            out.contains("\"/0\" -> \"/0/if/then/0\" [label=\"then\"];"),
            "{out}"
        );
        assert!(out.contains("\"/0\" -> \"/1\" [label=\"else\"];"), "{out}");
        assert!(out.contains("\"/0/if/then/0\" -> \"/1\";"), "{out}");
        assert!(out.contains("[label=\"case \\\"1\\\"\"]"), "{out}");
        assert!(
            out.contains("\"/1\" -> \"/1/switch/case/default/0\" [label=\"default\"];"),
            "{out}"
        );
    }

    #[test]
    fn goto_and_limit_edges_are_dashed() {
        let out = dot(
            r#"[{"log": "x", "tag": "top", "limit": {"max": 3, "failover": "out"}},
                {"goto": "top"},
                {"hangup": "", "tag": "out"}]"#,
        );
        assert!(
            out.contains("\"/1\" -> \"/0\" [label=\"goto\", style=dashed];"),
            "{out}"
        );
        assert!(
            out.contains("\"/0\" -> \"/2\" [label=\"limit 3\", style=dashed];"),
            "{out}"
        );
        assert!(
            !out.contains("\"/1\" -> \"/2\";"),
            "goto has no fall-through: {out}"
        );
    }

    #[test]
    fn while_loops_back_and_functions_are_called() {
        let out = dot(
            r#"[{"function": {"name": "f", "actions": [{"log": "in f"}]}},
                {"while": {"condition": "false", "do": [{"execute": {"name": "f"}}]}},
                {"hangup": ""}]"#,
        );
        assert!(
            out.contains("\"start\" -> \"/1\";"),
            "definitions are not steps: {out}"
        );
        assert!(out.contains("\"/1/while/do/0\" -> \"/1\";"), "{out}");
        assert!(out.contains("\"/1\" -> \"/2\" [label=\"done\"];"), "{out}");
        assert!(
            out.contains(
                "\"/1/while/do/0\" -> \"/0/function/actions/0\" [label=\"execute\", style=dotted];"
            ),
            "{out}"
        );
    }

    #[test]
    fn hostile_text_is_quoted() {
        let out = dot(r#"[{"log": "a\"b\\c\nd} -> x [label=y]"}]"#);
        assert!(
            out.contains(r#"label="log\na\"b\\c d} -> x [label=y]""#),
            "{out}"
        );
    }

    #[test]
    fn object_shape_and_missing_tags() {
        let out = dot(r#"{"name": "n", "schema": [{"goto": "nowhere"}]}"#);
        assert!(out.contains("\"start\" -> \"/schema/0\";"), "{out}");
        assert!(out.contains("\"missing:nowhere\" [shape=octagon"), "{out}");
        assert!(
            flow_graph_source("t", "{}")
                .unwrap_err()
                .contains("expected an array")
        );
    }
}
