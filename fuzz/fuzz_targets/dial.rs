//! `dial::build` (src/dial.rs) on requests made from the fuzzer's bytes: it refuses, or
//! originate (the model in tests/dialparse) reads exactly the request. Any text also goes
//! through the model itself, which must never panic.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rustflow_engine::{BridgeLeg, BridgeRequest, BridgeStrategy, BridgeTarget};

#[allow(dead_code)]
#[path = "../../src/dial.rs"]
mod dial;
#[path = "../../src/dial/reading.rs"]
mod reading;

/// Characters a byte picks, so that most bytes make characters that matter to a dial string.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'x', '0', '1', '9', '.', '_', '-', '+', '*', '#', ':', '@', '/', ';', '=', '%',
    '~', '!', '?', '&', ',', '|', '[', ']', '{', '}', '<', '>', '\'', '"', '\\', ' ', '^', '$',
    '\u{1}', '\u{2}', '\n', '\t', '\0', 'é', '😀', '\u{202e}', '\u{a0}',
];

const FRAGMENTS: &[&str] = &[":_:", "\\,", "\\|", "${x}", "$${x}", "^^:", "''", "sip:"];

fn text(u: &mut Unstructured) -> Result<String> {
    let len = u.int_in_range(0..=12)?;
    let mut out = String::new();
    for _ in 0..len {
        let b: u8 = u.arbitrary()?;
        match b {
            0..=199 => out.push(ALPHABET[usize::from(b) % ALPHABET.len()]),
            200..=239 => out.push_str(FRAGMENTS[usize::from(b) % FRAGMENTS.len()]),
            _ => out.push(u.arbitrary::<char>()?),
        }
    }
    Ok(out)
}

fn maybe(u: &mut Unstructured) -> Result<Option<String>> {
    Ok(if u.arbitrary()? { Some(text(u)?) } else { None })
}

fn vars(u: &mut Unstructured) -> Result<Vec<(String, String)>> {
    let n = u.int_in_range(0..=3)?;
    (0..n).map(|_| Ok((text(u)?, text(u)?))).collect()
}

fn request(u: &mut Unstructured) -> Result<(BridgeRequest, String)> {
    let n = u.int_in_range(1..=4)?;
    let mut legs = Vec::new();
    for _ in 0..n {
        let target = match u.int_in_range(0..=2)? {
            0 => BridgeTarget::User {
                extension: text(u)?,
                domain: maybe(u)?,
            },
            1 => BridgeTarget::Gateway {
                gateway: text(u)?,
                number: text(u)?,
            },
            _ => BridgeTarget::Sip {
                profile: maybe(u)?,
                uri: text(u)?,
            },
        };
        legs.push(BridgeLeg {
            target,
            variables: vars(u)?,
            idle_only: u.arbitrary()?,
        });
    }
    let strategy = if u.arbitrary()? {
        BridgeStrategy::Failover
    } else {
        BridgeStrategy::Simultaneous
    };
    let request = BridgeRequest {
        legs,
        strategy,
        variables: vars(u)?,
        codecs: (0..u.int_in_range(0..=2)?)
            .map(|_| text(u))
            .collect::<Result<_>>()?,
        send_on_answer: maybe(u)?,
        pickup: maybe(u)?,
    };
    Ok((request, text(u)?))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dialparse::parse(text);
    }
    if let Ok((request, domain)) = request(&mut Unstructured::new(data)) {
        if let Err(difference) = reading::check(&request, &domain) {
            panic!("{difference}");
        }
    }
});
