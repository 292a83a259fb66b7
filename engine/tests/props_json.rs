//! Properties of the engine's own JSON parser (`json::parse`, which keeps byte offsets):
//! it never panics, it accepts and rejects what serde_json does and reads the same values
//! (duplicate keys and the documented differences aside), every value node's span holds
//! exactly that value, and `to_json` reads back as the same tree.

use proptest::prelude::*;
use rustflow_engine::json::{self, Kind, Value};

/// 256 cases (well under a second); `PROPTEST_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

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

fn check(text: &str) -> Result<(), TestCaseError> {
    let ours = json::parse(text);
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    let doc = match (ours, theirs) {
        (Ok(doc), Ok(value)) => {
            prop_assert_eq!(to_serde(&doc.root), value, "{:?}", text);
            doc
        }
        (Err(_), Err(_)) => return Ok(()),
        (Ok(doc), Err(e)) if documented_difference(text, &e) => doc,
        (Ok(doc), Err(e)) => {
            return Err(TestCaseError::fail(format!(
                "accepted what serde_json refuses ({e}): {text:?} -> {:?}",
                doc.root
            )));
        }
        (Err(e), Ok(value)) => {
            return Err(TestCaseError::fail(format!(
                "refused what serde_json accepts ({e:?}): {text:?} -> {value}"
            )));
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
        return Err(TestCaseError::fail(failure));
    }
    // Written back, it reads as the same tree.
    let written = doc.root.to_json();
    let again = json::parse(&written).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(
        same_shape(&doc.root, &again.root),
        "{:?} -> {:?}",
        text,
        written
    );
    Ok(())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::String),
        "[\"\\\\/\u{0}-\u{1f}\u{7f}\u{2028}\u{feff}a-c]{0,6}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec((prop_oneof!["[a-c]{0,2}", any::<String>()], inner), 0..6)
                .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    })
}

/// JSON text with optional whitespace, written compact or pretty.
fn json_text() -> impl Strategy<Value = String> {
    (
        json_value(),
        any::<bool>(),
        "[ \t\r\n]{0,3}",
        "[ \t\r\n]{0,3}",
    )
        .prop_map(|(value, pretty, before, after)| {
            let body = if pretty {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            };
            format!("{before}{}{after}", body.unwrap())
        })
}

/// Characters JSON's grammar turns on.
const JSON_SYNTAX: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "0", "-", "+", ".", "e",
    "E", "1", "true", "false", "null", " ", "\n", "\u{0}", "\u{feff}", "é", "😀",
];

/// Valid JSON with a few characters inserted, deleted or replaced: near-misses.
fn near_json() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0..3usize,
        prop::sample::select(JSON_SYNTAX),
    );
    (json_text(), prop::collection::vec(edit, 1..4)).prop_map(|(text, edits)| {
        let mut chars: Vec<String> = text.chars().map(String::from).collect();
        for (at, kind, piece) in edits {
            let at = at.index(chars.len() + 1);
            match kind {
                0 => chars.insert(at, piece.to_string()),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = piece.to_string(),
                _ => chars.push(piece.to_string()),
            }
        }
        chars.concat()
    })
}

/// Text made only of JSON's syntax pieces.
fn syntax_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(JSON_SYNTAX), 0..24).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = json::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn valid_json_reads_as_serde_json_reads_it(text in json_text()) {
        prop_assert!(json::parse(&text).is_ok(), "{:?}", text);
        check(&text)?;
    }

    #[test]
    fn near_misses_agree_with_serde_json(text in near_json()) {
        check(&text)?;
    }

    #[test]
    fn syntax_soup_agrees_with_serde_json(text in syntax_soup()) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_strings_agree_with_serde_json(text in any::<String>()) {
        check(&text)?;
    }
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    for depth in [100, 200, 300, 100_000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let result = json::parse(&text);
        assert_eq!(result.is_ok(), depth <= 256, "depth {depth}");
    }
}
