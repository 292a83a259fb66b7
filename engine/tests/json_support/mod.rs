//! The JSON parser's properties for one text, shared by tests/props_json.rs and the `json`
//! fuzz target (fuzz/, which includes this file by path).

use rustflow_engine::json::{self, Kind, Value};

/// The tree as serde_json reads it: the last of duplicate keys wins.
fn to_serde(value: &Value) -> serde_json::Value {
    match &value.kind {
        Kind::Null => serde_json::Value::Null,
        Kind::Bool(b) => serde_json::Value::Bool(*b),
        Kind::Number(raw) => serde_json::from_str(raw).expect("a number serde_json reads"),
        Kind::String(text) => serde_json::Value::String(text.clone()),
        Kind::Array(items) => items.iter().map(to_serde).collect(),
        Kind::Object(members) => {
            let mut map = serde_json::Map::new();
            for member in members {
                map.insert(member.key.clone(), to_serde(&member.value));
            }
            serde_json::Value::Object(map)
        }
    }
}

/// `a` and `b` are the same tree, `a`'s offsets being `b`'s plus `shift`.
fn same(a: &Value, b: &Value, shift: usize) -> bool {
    if a.start != b.start + shift || a.end != b.end + shift {
        return false;
    }
    match (&a.kind, &b.kind) {
        (Kind::Array(x), Kind::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b, shift))
        }
        (Kind::Object(x), Kind::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|(a, b)| {
                    a.key == b.key
                        && a.key_start == b.key_start + shift
                        && same(&a.value, &b.value, shift)
                })
        }
        (x, y) => x == y,
    }
}

/// Same tree, offsets ignored.
fn same_shape(a: &Value, b: &Value) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Array(x), Kind::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_shape(a, b))
        }
        (Kind::Object(x), Kind::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(a, b)| a.key == b.key && same_shape(&a.value, &b.value))
        }
        (x, y) => x == y,
    }
}

fn for_each_node(value: &Value, f: &mut dyn FnMut(&Value)) {
    f(value);
    match &value.kind {
        Kind::Array(items) => items.iter().for_each(|v| for_each_node(v, f)),
        Kind::Object(members) => members.iter().for_each(|m| for_each_node(&m.value, f)),
        _ => {}
    }
}

/// Where the two parsers may disagree on purpose: a UTF-8 byte-order mark (editors add
/// one), nesting between serde_json's limit (128) and ours (256), numbers too large for a
/// double (kept as written, e.g. for a channel variable).
fn documented_difference(text: &str, serde_error: &serde_json::Error) -> bool {
    let message = serde_error.to_string();
    text.starts_with('\u{feff}')
        || message.contains("recursion limit exceeded")
        || message.contains("number out of range")
}

/// The properties for one text: the same verdict and values as serde_json, every node's span
/// holding exactly that node, and the tree written back reading as the same tree.
pub fn check(text: &str) -> Result<(), String> {
    let ours = json::parse(text);
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    let doc = match (ours, theirs) {
        (Ok(doc), Ok(value)) => {
            let ours = to_serde(&doc.root);
            if ours != value {
                return Err(format!(
                    "{text:?}: read as {ours}, serde_json reads {value}"
                ));
            }
            doc
        }
        (Err(_), Err(_)) => return Ok(()),
        (Ok(doc), Err(e)) if documented_difference(text, &e) => doc,
        (Ok(doc), Err(e)) => {
            return Err(format!(
                "accepted what serde_json refuses ({e}): {text:?} -> {:?}",
                doc.root
            ));
        }
        (Err(e), Ok(value)) => {
            return Err(format!(
                "refused what serde_json accepts ({e:?}): {text:?} -> {value}"
            ));
        }
    };
    // Every node's span holds exactly that node.
    let mut failure = None;
    for_each_node(&doc.root, &mut |node| {
        if failure.is_some() {
            return;
        }
        let span = &text[node.start..node.end];
        match json::parse(span) {
            Ok(again) if same(node, &again.root, node.start) => {}
            other => failure = Some(format!("span {span:?} of {text:?}: {other:?}")),
        }
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    // Written back, it reads as the same tree.
    let written = doc.root.to_json();
    match json::parse(&written) {
        Ok(again) if same_shape(&doc.root, &again.root) => Ok(()),
        other => Err(format!(
            "{text:?} written back as {written:?} reads {other:?}"
        )),
    }
}
