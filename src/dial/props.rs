//! Property: for any bridge request, `build` either refuses it or produces a dial string that
//! originate reads as exactly the request (see reading.rs).

use super::*;
use proptest::prelude::*;
use rustflow_engine::{BridgeLeg, BridgeRequest, BridgeStrategy, BridgeTarget};

/// Characters with a meaning somewhere in a dial string or in variable expansion.
const SPECIAL: &[char] = &[
    ',', '|', '[', ']', '{', '}', '<', '>', '\'', '"', '\\', ':', '_', '=', '^', '$', ' ', '@',
    '/', '\n', '\t', '\u{1}', '\u{2}', '\0',
];

/// Fragments with a meaning to originate or to variable expansion.
const FRAGMENTS: &[&str] = &[
    ":_:", ":_", "_:", "\\,", "\\|", "${x}", "$${x}", "^^:", "''", "[a=b]", "{a=b}", "<a=b>", "\\",
];

/// One piece of syntax or one odd character.
fn intruder() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(SPECIAL).prop_map(String::from),
        prop::sample::select(FRAGMENTS).prop_map(String::from),
        any::<char>().prop_map(String::from),
    ]
}

/// Anything: Unicode, dial-string syntax, controls.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "[a-z0-9]",
        2 => intruder(),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// A leg value `build` must accept: any Unicode but the few characters it refuses.
fn safe_value() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => prop::char::range('a', 'z'),
        2 => prop::sample::select(&[',', '|', '{', '}', '<', '>', '$', '=', '^', ':', '"', '@', '/', '_', ' '][..]),
        2 => any::<char>().prop_filter("the characters src/dial.rs refuses", |c| {
            !c.is_control() && !matches!(c, '[' | ']' | '\'' | '\\')
        }),
    ];
    // `build` refuses `:_:`, `${` and spaces at either end (tested in dial.rs).
    prop::collection::vec(c, 0..16).prop_map(|c| {
        String::from_iter(c)
            .replace(":_:", ":-:")
            .replace("${", "$(")
            .trim_matches(' ')
            .to_string()
    })
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_.-]{0,8}"
}

fn vars(value: BoxedStrategy<String>) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(), value), 0..3)
}

fn domain() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9.-]{0,10}(:[0-9]{1,5})?"
}

fn target() -> impl Strategy<Value = BridgeTarget> {
    prop_oneof![
        ("[0-9a-z+*#_.-]{1,8}", prop::option::of(domain()))
            .prop_map(|(extension, domain)| BridgeTarget::User { extension, domain }),
        ("[a-z0-9_.-]{1,8}", "[0-9+*#]{1,10}")
            .prop_map(|(gateway, number)| BridgeTarget::Gateway { gateway, number }),
        (
            prop::option::of("[a-z0-9_.-]{1,8}"),
            "sip:[a-z0-9+]{1,6}@[a-z0-9.]{1,10}(:[0-9]{1,5})?(;transport=tcp)?",
        )
            .prop_map(|(profile, uri)| BridgeTarget::Sip { profile, uri }),
    ]
}

/// A request `build` must accept, and the user domain of the call.
fn valid_request() -> impl Strategy<Value = (BridgeRequest, String)> {
    let leg = (target(), vars(safe_value().boxed()), any::<bool>()).prop_map(
        |(target, variables, idle_only)| BridgeLeg {
            target,
            variables,
            idle_only,
        },
    );
    (
        prop::collection::vec(leg, 1..4),
        prop_oneof![
            Just(BridgeStrategy::Simultaneous),
            Just(BridgeStrategy::Failover)
        ],
        // Variables for every leg travel outside the string: any value but one holding `${`,
        // which originate would not set (so `build` refuses it).
        vars(text().prop_map(|v| v.replace("${", "$(")).boxed()),
        prop::collection::vec("[A-Za-z0-9.-]{1,6}", 0..3),
        prop::option::of("[0-9*#A-Dw]{0,4}"),
        prop::option::of("[a-z0-9+*#_.-]{1,8}"),
        domain(),
    )
        .prop_map(
            |(legs, strategy, variables, codecs, send_on_answer, pickup, domain)| {
                (
                    BridgeRequest {
                        legs,
                        strategy,
                        variables,
                        codecs,
                        send_on_answer,
                        pickup,
                    },
                    domain,
                )
            },
        )
}

/// Every caller-controllable string of a request.
fn fields<'a>(request: &'a mut BridgeRequest, domain: &'a mut String) -> Vec<&'a mut String> {
    let mut out = vec![domain];
    for leg in &mut request.legs {
        match &mut leg.target {
            BridgeTarget::User { extension, domain } => {
                out.push(extension);
                out.extend(domain.as_mut());
            }
            BridgeTarget::Gateway { gateway, number } => out.extend([gateway, number]),
            BridgeTarget::Sip { profile, uri } => {
                out.extend(profile.as_mut());
                out.push(uri);
            }
        }
        for (name, value) in &mut leg.variables {
            out.extend([name, value]);
        }
    }
    for (name, value) in &mut request.variables {
        out.extend([name, value]);
    }
    out.extend(&mut request.codecs);
    out.extend(request.send_on_answer.as_mut());
    out.extend(request.pickup.as_mut());
    out
}

/// A valid request with up to three intruders put somewhere into its strings.
fn hostile_request() -> impl Strategy<Value = (BridgeRequest, String)> {
    (
        valid_request(),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                intruder(),
            ),
            1..4,
        ),
    )
        .prop_map(|((mut request, mut domain), intrusions)| {
            {
                let mut fields = fields(&mut request, &mut domain);
                for (field, at, intruder) in intrusions {
                    let count = fields.len();
                    let field = &mut fields[field.index(count)];
                    let boundaries: Vec<usize> = field
                        .char_indices()
                        .map(|(i, _)| i)
                        .chain([field.len()])
                        .collect();
                    field.insert_str(boundaries[at.index(boundaries.len())], &intruder);
                }
            }
            (request, domain)
        })
}

/// The property itself; `Ok(false)` when `build` refused.
fn check(request: &BridgeRequest, domain: &str) -> Result<bool, TestCaseError> {
    super::reading::check(request, domain).map_err(TestCaseError::fail)
}

/// 256 cases (a second or so); `PROPTEST_CASES=N` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    })]

    /// Syntax and odd characters anywhere: `build` refuses, or the reading is exact.
    #[test]
    fn hostile_requests_are_refused_or_dialled_exactly((request, domain) in hostile_request()) {
        check(&request, &domain)?;
    }

    /// Well-formed targets and names, leg values from the whole of Unicode (bar the few
    /// characters `build` refuses): always accepted, and dialled exactly.
    #[test]
    fn valid_requests_are_dialled_exactly((request, domain) in valid_request()) {
        prop_assert!(check(&request, &domain)?, "refused: {:?}", build(&request, &domain));
    }
}
