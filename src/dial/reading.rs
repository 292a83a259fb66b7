//! How originate reads what `build` made of a request, compared with the request: for the
//! property tests and the `dial` fuzz target (fuzz/, which includes this file and dial.rs by
//! path, so it names `crate::dial`). Originate's reading is the model in tests/dialparse,
//! the one the fake core uses.

use crate::dial::build;
use rustflow_engine::{BridgeLeg, BridgeRequest, BridgeStrategy, BridgeTarget};

/// What originate must dial for `leg`, written out independently of `leg_string`.
fn expected_target(leg: &BridgeLeg, domain: &str) -> String {
    match &leg.target {
        BridgeTarget::User {
            extension,
            domain: own,
        } => {
            let domain = own.as_deref().filter(|d| !d.is_empty()).unwrap_or(domain);
            format!("user/{extension}@{domain}")
        }
        BridgeTarget::Gateway { gateway, number } => format!("sofia/gateway/{gateway}/{number}"),
        BridgeTarget::Sip { profile, uri } => {
            let profile = profile
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or("internal");
            format!("sofia/{profile}/{uri}")
        }
    }
}

/// `Ok(false)` when `build` refuses `request`, `Ok(true)` when originate reads exactly the
/// requested legs (in order, grouped by the strategy), targets and per-leg variables (values
/// verbatim, nothing else: no extra leg, part or variable block), with the variables for
/// every leg beside the string; `Err` says how the reading differs.
pub fn check(request: &BridgeRequest, domain: &str) -> Result<bool, String> {
    let Ok(plan) = build(request, domain) else {
        return Ok(false);
    };
    let dial = &plan.dial_string;
    let differs = |what: &str| {
        Err(format!(
            "{what}: {dial:?} from {request:?} (domain {domain:?})"
        ))
    };
    let parsed = match dialparse::parse(dial) {
        Ok(parsed) => parsed,
        Err(e) => return differs(&format!("originate refuses it ({e})")),
    };
    let mut expected_parts = Vec::new();
    if let Some(group) = &request.pickup {
        let key = if domain.is_empty() {
            group.clone()
        } else {
            format!("{group}@{domain}")
        };
        expected_parts.push(vec![vec![dialparse::Leg {
            vars: vec![],
            target: format!("pickup/{key}"),
        }]]);
    }
    let legs: Vec<dialparse::Leg> = request
        .legs
        .iter()
        .map(|leg| dialparse::Leg {
            vars: leg.variables.clone(),
            target: expected_target(leg, domain),
        })
        .collect();
    expected_parts.push(match request.strategy {
        BridgeStrategy::Simultaneous => vec![legs],
        BridgeStrategy::Failover => legs.into_iter().map(|leg| vec![leg]).collect(),
    });
    if parsed.enterprise != request.pickup.is_some() || !parsed.enterprise_ultra.is_empty() {
        return differs("enterprise originate or not");
    }
    if parsed.parts.len() != expected_parts.len() {
        return differs("another number of enterprise parts");
    }
    for (part, expected) in parsed.parts.iter().zip(&expected_parts) {
        if let Some(error) = &part.error {
            return differs(&format!("originate refuses a part ({error})"));
        }
        if !part.ultra.is_empty() || !part.global.is_empty() {
            return differs("variables for all legs inside the string");
        }
        if &part.groups != expected {
            return differs(&format!("read as {:?}", part.groups));
        }
    }
    let mut globals = request.variables.clone();
    if !request.codecs.is_empty() {
        globals.push(("absolute_codec_string".into(), request.codecs.join(",")));
    }
    if let Some(digits) = request.send_on_answer.as_deref().filter(|d| !d.is_empty()) {
        globals.push(("execute_on_answer".into(), format!("send_dtmf {digits}")));
    }
    if plan.global_variables != globals {
        return differs(&format!(
            "variables for every leg {:?}",
            plan.global_variables
        ));
    }
    Ok(true)
}
