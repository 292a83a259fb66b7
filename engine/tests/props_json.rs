//! Properties of the engine's own JSON parser (`json::parse`, which keeps byte offsets):
//! it never panics, it accepts and rejects what serde_json does and reads the same values
//! (duplicate keys and the documented differences aside), every value node's span holds
//! exactly that value, and `to_json` reads back as the same tree.

mod json_support;

use proptest::prelude::*;
use rustflow_engine::json;

/// 256 cases (well under a second); `PROPTEST_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

fn check(text: &str) -> Result<(), TestCaseError> {
    json_support::check(text).map_err(TestCaseError::fail)
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
