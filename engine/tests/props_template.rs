//! Properties of argument templates: parsing and expanding any text never panics, and values
//! come out verbatim whatever they hold (`${…}`, `$${…}`, `$1`, quotes, NUL, Unicode): an
//! expanded value is never scanned again.

use proptest::prelude::*;
use rustflow_engine::sim::{Script, SimHost};
use rustflow_engine::template::{Scope, Template, lookup};

/// 256 cases (well under a second); `PROPTEST_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Text a caller could put in a variable to try to get it expanded or to break out.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(&[
            "${", "$${", "}", "$", "${v}", "$${g}", "$1", "$0", "${v.uri()}", "${strepoch()}",
            "${j.a}", "${api x}", "'", "\"", "\\", "\0", "\n", "%", "😀", "é", "\u{feff}",
            "\u{2028}",
        ][..])
        .prop_map(String::from),
        2 => "[a-z ]{1,3}",
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

/// A call whose variable `v`, global `g` and argument `$1` hold `value`, and whose variable
/// `j` holds `{"a": value}`.
fn host(value: &str) -> SimHost {
    let mut script = Script::default();
    script.vars.insert("v".into(), value.into());
    script
        .vars
        .insert("j".into(), serde_json::json!({ "a": value }).to_string());
    script.globals.insert("g".into(), value.into());
    SimHost::new(script)
}

fn expand(template: &str, host: &mut SimHost, args: &[String]) -> String {
    let mut scope = Scope { host, args };
    Template::parse(template).expand(&mut scope).into_owned()
}

/// One piece of a template and what it expands to.
#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Var,
    Global,
    Arg,
    JsonPath,
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        // A literal cannot hold `$`, nor start with a digit (it would extend a `$1`).
        "[^$0-9][^$]{0,5}".prop_map(Piece::Literal),
        Just(Piece::Var),
        Just(Piece::Global),
        Just(Piece::Arg),
        Just(Piece::JsonPath),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_template_expands_without_panicking(
        text in prop_oneof![any::<String>(), hostile()],
        value in prop_oneof![any::<String>(), hostile()],
    ) {
        let mut host = host(&value);
        let args = vec![value.clone(), text.clone()];
        let _ = expand(&text, &mut host, &args);
        let mut scope = Scope { host: &mut host, args: &args };
        let _ = lookup(&mut scope, &text);
    }

    #[test]
    fn hostile_values_come_out_verbatim(
        value in prop_oneof![hostile(), any::<String>()],
        pieces in prop::collection::vec(piece(), 1..6),
    ) {
        let mut host = host(&value);
        let args = vec![value.clone()];
        let mut template = String::new();
        let mut expected = String::new();
        for piece in &pieces {
            let (text, out) = match piece {
                Piece::Literal(text) => (text.as_str(), text.as_str()),
                Piece::Var => ("${v}", value.as_str()),
                Piece::Global => ("$${g}", value.as_str()),
                Piece::Arg => ("$1", value.as_str()),
                Piece::JsonPath => ("${j.a}", value.as_str()),
            };
            template.push_str(text);
            expected.push_str(out);
        }
        prop_assert_eq!(expand(&template, &mut host, &args), expected, "{:?}", template);
    }
}
