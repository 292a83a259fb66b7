//! Building FreeSWITCH dial strings from a bridge request, so that no caller-controlled value
//! can change their structure (pure: unit-tested here, no FFI).
//!
//! How `switch_ivr_originate` reads a dial string (src/switch_ivr_originate.c, switch_utils.c):
//! 1. `:_:` anywhere makes it an enterprise originate (split on `:_:`);
//! 2. leading `<…>` / `{…}` blocks are global variables;
//! 3. the rest is split on `|` (sequential groups) with `switch_separate_string`, which
//!    honours `'…'` and `\x`, then strips the quotes and resolves `\|` to `|`;
//! 4. in each group, commas inside a leading `[…]` are protected (unless preceded by `\`),
//!    the group is split on `,` (simultaneous legs), again resolving `\,` to `,`;
//! 5. `[…]` is found with `switch_find_end_paren`, which ignores quotes: a `[` or `]` in a
//!    value ends or nests the block; a `'` toggles the comma protection of step 4.
//!
//! So the global variables never go into the string: they travel in the `originate` variables
//! event, where nothing is parsed. Per-leg values escape `,` and `|` as `\,` / `\|` (which
//! survive steps 3 and 4 as plain characters inside the block) and reject `[`, `]`, `'`, `\`
//! and `:_:`, which no escaping makes safe, and spaces at either end, which originate trims.
//! A value holding `${` (per-leg or for every leg) is refused: originate will not set it on
//! the new leg ("Invalid data … contains a variable", seen in the e2e suite). Targets
//! (extension, domain, gateway, number, profile, URI) are restricted to characters with no
//! meaning to the parser or to the variable expansion of the user directory's dial-string.

use rustflow_engine::{BridgeLeg, BridgeRequest, BridgeStrategy, BridgeTarget};

/// The sofia profile `sip` legs use when the flow names none.
pub const DEFAULT_SIP_PROFILE: &str = "internal";

/// A dial string plus the variables for every leg (sent separately, unparsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialPlan {
    pub dial_string: String,
    pub global_variables: Vec<(String, String)>,
    /// The flow's `call_timeout` parameter (seconds), which originate takes as an argument.
    pub call_timeout: Option<u32>,
}

/// Builds the dial string and global variables of `request`; `domain` is the user domain
/// when a user leg gives none (channel `domain_name`, else config `default-domain`).
pub fn build(request: &BridgeRequest, domain: &str) -> Result<DialPlan, String> {
    if request.legs.is_empty() {
        return Err("no endpoints to call".to_string());
    }
    let mut global_variables = Vec::new();
    let mut call_timeout = None;
    for (name, value) in &request.variables {
        check_variable_name(name, "bridge parameters")?;
        if name == "call_timeout" {
            let seconds = value.trim().parse::<u32>().map_err(|_| {
                format!("parameter call_timeout {value:?} must be a whole number of seconds")
            })?;
            call_timeout = Some(seconds);
        }
        check_no_variable_reference(name, value).map_err(|e| format!("bridge parameters: {e}"))?;
        global_variables.push((name.clone(), value.clone()));
    }
    // A `user/` leg is an originate of its own inside mod_dptools (user_outgoing_channel),
    // which ignores the outer originate's timeout: it rings for the caller channel's
    // `call_timeout`, else the leg's `leg_timeout`, else 60 s (seen in the e2e suite: an
    // agent rang 40 s under `call_timeout: 2`). `leg_timeout` carries the flow's limit there
    // (0 leaves FreeSWITCH's default, as for the outer originate).
    let flow_leg_timeout = global_variables
        .iter()
        .any(|(name, _)| name == "leg_timeout");
    if let Some(seconds) = call_timeout.filter(|s| *s > 0 && !flow_leg_timeout) {
        global_variables.push(("leg_timeout".into(), seconds.to_string()));
    }
    if !request.codecs.is_empty() {
        for codec in &request.codecs {
            check_token(codec, "codec", is_name_char)?;
        }
        global_variables.push(("absolute_codec_string".into(), request.codecs.join(",")));
    }
    if let Some(digits) = request.send_on_answer.as_deref().filter(|d| !d.is_empty()) {
        if !digits.chars().all(|c| {
            c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'a'..='d' | 'w' | 'W')
        }) {
            return Err(format!(
                "sendOnAnswer {digits:?} may only hold DTMF digits 0-9 * # A-D and w/W pauses"
            ));
        }
        global_variables.push(("execute_on_answer".into(), format!("send_dtmf {digits}")));
    }
    let separator = match request.strategy {
        BridgeStrategy::Simultaneous => ",",
        BridgeStrategy::Failover => "|",
    };
    let legs = request
        .legs
        .iter()
        .enumerate()
        .map(|(index, leg)| leg_string(leg, domain).map_err(|e| format!("endpoint {index}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut dial_string = legs.join(separator);
    if let Some(group) = &request.pickup {
        // The pickup group rings in parallel with all the legs (enterprise originate), as
        // the original's `pickup/NAME@DOMAIN:_:` prefix.
        dial_string = format!("pickup/{}:_:{dial_string}", pickup_key(group, domain)?);
    }
    Ok(DialPlan {
        dial_string,
        global_variables,
        call_timeout,
    })
}

/// The key of pickup group `group` in `domain`: `group@domain` (`group` without a domain).
/// The ringing call's `pickup/KEY` leg and the `pickup KEY` of the call that answers it must
/// agree, so both are built here.
pub fn pickup_key(group: &str, domain: &str) -> Result<String, String> {
    check_token(group, "pickup group", is_user_char)?;
    if domain.is_empty() {
        return Ok(group.to_string());
    }
    check_domain(domain)?;
    Ok(format!("{group}@{domain}"))
}

/// One leg: `[k=v,…]endpoint`.
pub fn leg_string(leg: &BridgeLeg, domain: &str) -> Result<String, String> {
    let endpoint = match &leg.target {
        BridgeTarget::User {
            extension,
            domain: own,
        } => {
            check_token(extension, "extension", is_user_char)?;
            let domain = own.as_deref().filter(|d| !d.is_empty()).unwrap_or(domain);
            if domain.is_empty() {
                return Err(format!(
                    "user {extension}: no domain (the call has no domain_name and default-domain is not configured)"
                ));
            }
            check_domain(domain)?;
            format!("user/{extension}@{domain}")
        }
        BridgeTarget::Gateway { gateway, number } => {
            check_token(gateway, "gateway name", is_name_char)?;
            check_token(number, "number", is_user_char)?;
            format!("sofia/gateway/{gateway}/{number}")
        }
        BridgeTarget::Sip { profile, uri } => {
            let profile = profile
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or(DEFAULT_SIP_PROFILE);
            check_token(profile, "sip profile", is_name_char)?;
            check_token(uri, "sip uri", is_uri_char)?;
            if uri.contains(":_:") {
                return Err(format!("sip uri {uri:?} must not contain \":_:\""));
            }
            format!("sofia/{profile}/{uri}")
        }
    };
    if leg.variables.is_empty() {
        return Ok(endpoint);
    }
    let mut block = String::from("[");
    for (index, (name, value)) in leg.variables.iter().enumerate() {
        check_variable_name(name, "endpoint parameters")?;
        if index > 0 {
            block.push(',');
        }
        block.push_str(name);
        block.push('=');
        block.push_str(&escape_leg_value(name, value)?);
    }
    block.push(']');
    Ok(block + &endpoint)
}

/// A per-leg variable value, escaped for a `[…]` block.
pub fn escape_leg_value(name: &str, value: &str) -> Result<String, String> {
    if let Some(bad) = value
        .chars()
        .find(|c| matches!(c, '[' | ']' | '\'' | '\\') || c.is_control())
    {
        return Err(format!(
            "parameter {name}: the value {value:?} contains `{}`, which a FreeSWITCH dial string cannot carry safely",
            bad.escape_default()
        ));
    }
    if value.contains(":_:") {
        return Err(format!(
            "parameter {name}: the value {value:?} contains \":_:\", which would split the dial string"
        ));
    }
    // Originate trims the spaces around `[…]` values, so the leg would get another value.
    let trimmed_side = if value.ends_with(' ') {
        Some("ends")
    } else if value.starts_with(' ') {
        Some("begins")
    } else {
        None
    };
    if let Some(side) = trimmed_side {
        return Err(format!(
            "parameter {name}: the value {value:?} {side} with a space, which a FreeSWITCH dial string drops"
        ));
    }
    check_no_variable_reference(name, value)?;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

/// Originate will not set a variable whose value holds `${` on the new leg (a real FreeSWITCH
/// logs "Invalid data (… contains a variable)" and drops it, seen in the e2e suite), so such a
/// value is refused here, where the flow gets a clear error.
fn check_no_variable_reference(name: &str, value: &str) -> Result<(), String> {
    if value.contains("${") {
        return Err(format!(
            "parameter {name}: the value {value:?} contains \"${{\", which FreeSWITCH refuses to set on the new leg"
        ));
    }
    Ok(())
}

/// A user domain (with an optional port). `:_` and `_:` are refused as well as `:_:`: next to
/// the `:_:` that follows a pickup key they would move the enterprise split.
fn check_domain(domain: &str) -> Result<(), String> {
    check_token(domain, "domain", is_host_char)?;
    if domain.contains(":_") || domain.contains("_:") {
        return Err(format!(
            "domain {domain:?} contains \":_\" or \"_:\", which could split the dial string (\":_:\")"
        ));
    }
    Ok(())
}

fn check_variable_name(name: &str, what: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{what}: variable name {name:?} must be letters, digits, '_', '-' or '.'"
        ));
    }
    Ok(())
}

fn check_token(value: &str, what: &str, allowed: fn(char) -> bool) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "{what} {value:?} contains `{}`, which is not allowed there",
            bad.escape_default()
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

fn is_user_char(c: char) -> bool {
    is_name_char(c) || matches!(c, '+' | '*' | '#')
}

fn is_host_char(c: char) -> bool {
    is_name_char(c) || c == ':'
}

fn is_uri_char(c: char) -> bool {
    is_user_char(c) || matches!(c, ':' | '@' | ';' | '=' | '%' | '~' | '!' | '?' | '&' | '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(ext: &str) -> BridgeLeg {
        BridgeLeg {
            target: BridgeTarget::User {
                extension: ext.into(),
                domain: None,
            },
            variables: vec![],
            idle_only: false,
        }
    }

    fn request(legs: Vec<BridgeLeg>, strategy: BridgeStrategy) -> BridgeRequest {
        BridgeRequest {
            legs,
            strategy,
            variables: vec![],
            codecs: vec![],
            send_on_answer: None,
            pickup: None,
        }
    }

    #[test]
    fn a_pickup_group_rings_in_parallel_with_all_the_legs() {
        let mut req = request(vec![user("1001"), user("1002")], BridgeStrategy::Failover);
        req.pickup = Some("sales".into());
        let plan = build(&req, "example.com").unwrap();
        assert_eq!(
            plan.dial_string,
            "pickup/sales@example.com:_:user/1001@example.com|user/1002@example.com"
        );
        assert_eq!(pickup_key("sales", "").unwrap(), "sales");
        // A group name can never add a leg, a separator or a variable block.
        for bad in ["a,b", "a|b", "a:_:b", "[x=1]a", "a b", "a@evil", ""] {
            req.pickup = Some(bad.into());
            let err = build(&req, "example.com").unwrap_err();
            assert!(err.contains("pickup group"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn endpoints_and_strategies() {
        let gw = BridgeLeg {
            target: BridgeTarget::Gateway {
                gateway: "carrier1".into(),
                number: "+15551234".into(),
            },
            variables: vec![("leg_timeout".into(), "20".into())],
            idle_only: false,
        };
        let sip = BridgeLeg {
            target: BridgeTarget::Sip {
                profile: None,
                uri: "sip:7001@127.0.0.1:5080".into(),
            },
            variables: vec![],
            idle_only: false,
        };
        let plan = build(
            &request(
                vec![user("1001"), gw.clone(), sip.clone()],
                BridgeStrategy::Failover,
            ),
            "example.com",
        )
        .unwrap();
        assert_eq!(
            plan.dial_string,
            "user/1001@example.com|[leg_timeout=20]sofia/gateway/carrier1/+15551234|sofia/internal/sip:7001@127.0.0.1:5080"
        );
        let plan = build(
            &request(vec![user("1001"), gw], BridgeStrategy::Simultaneous),
            "d",
        )
        .unwrap();
        assert_eq!(
            plan.dial_string,
            "user/1001@d,[leg_timeout=20]sofia/gateway/carrier1/+15551234"
        );
        let mut with_domain = user("1002");
        with_domain.target = BridgeTarget::User {
            extension: "1002".into(),
            domain: Some("other.org".into()),
        };
        assert_eq!(
            leg_string(&with_domain, "d").unwrap(),
            "user/1002@other.org"
        );
    }

    #[test]
    fn globals_codecs_and_send_on_answer_travel_outside_the_string() {
        let mut r = request(vec![user("1001")], BridgeStrategy::Simultaneous);
        r.variables = vec![
            ("call_timeout".into(), "30".into()),
            (
                "effective_caller_id_name".into(),
                "a,b|{x=y}<z> 'q'\\".into(),
            ),
        ];
        r.codecs = vec!["PCMU".into(), "PCMA".into()];
        r.send_on_answer = Some("1w2#".into());
        let plan = build(&r, "d").unwrap();
        assert_eq!(plan.dial_string, "user/1001@d");
        assert_eq!(plan.call_timeout, Some(30));
        assert_eq!(
            plan.global_variables,
            vec![
                ("call_timeout".to_string(), "30".to_string()),
                (
                    "effective_caller_id_name".to_string(),
                    "a,b|{x=y}<z> 'q'\\".to_string()
                ),
                ("leg_timeout".to_string(), "30".to_string()),
                ("absolute_codec_string".to_string(), "PCMU,PCMA".to_string()),
                (
                    "execute_on_answer".to_string(),
                    "send_dtmf 1w2#".to_string()
                ),
            ]
        );
        // the flow's own leg_timeout is kept, not doubled
        let mut own_leg_timeout = r.clone();
        own_leg_timeout.variables = vec![
            ("call_timeout".into(), "30".into()),
            ("leg_timeout".into(), "10".into()),
        ];
        let leg_timeouts: Vec<_> = build(&own_leg_timeout, "d")
            .unwrap()
            .global_variables
            .into_iter()
            .filter(|(name, _)| name == "leg_timeout")
            .collect();
        assert_eq!(
            leg_timeouts,
            vec![("leg_timeout".to_string(), "10".to_string())]
        );
        let mut bad_timeout = r.clone();
        bad_timeout.variables = vec![("call_timeout".into(), "soon".into())];
        assert!(
            build(&bad_timeout, "d")
                .unwrap_err()
                .contains("call_timeout")
        );
        let mut variable_reference = r.clone();
        variable_reference.variables = vec![("x".into(), "${system ls}".into())];
        let err = build(&variable_reference, "d").unwrap_err();
        assert!(
            err.contains("bridge parameters: parameter x") && err.contains("${"),
            "{err}"
        );
        r.send_on_answer = Some("1 ; hangup".into());
        assert!(build(&r, "d").unwrap_err().contains("sendOnAnswer"));
        r.send_on_answer = None;
        r.codecs = vec!["PCMU,G729".into()];
        assert!(build(&r, "d").unwrap_err().contains("codec"));
    }

    #[test]
    fn hostile_leg_values_are_escaped_or_refused() {
        let mut leg = user("1001");
        leg.variables = vec![(
            "effective_caller_id_name".into(),
            "a,b|{x=y}$ {system ls}".into(),
        )];
        assert_eq!(
            leg_string(&leg, "d").unwrap(),
            "[effective_caller_id_name=a\\,b\\|{x=y}$ {system ls}]user/1001@d"
        );
        for bad in [
            "x]user/666@evil",
            "[x",
            "it's",
            "back\\slash",
            "a:_:sofia/x/y",
            "line\nbreak",
            "trailing ",
            " leading",
            "${system ls}",
            "$${global}",
        ] {
            leg.variables = vec![("v".into(), bad.into())];
            let err = leg_string(&leg, "d").unwrap_err();
            assert!(err.contains("parameter v"), "{bad}: {err}");
        }
        leg.variables = vec![("a=b,c".into(), "1".into())];
        assert!(leg_string(&leg, "d").unwrap_err().contains("variable name"));
    }

    #[test]
    fn hostile_targets_are_refused() {
        for ext in [
            "1001,user/666",
            "1001|x",
            "10 01",
            "${system ls}",
            "[a=b]1001",
            "1001@evil",
            "1/2",
            "",
        ] {
            let err = leg_string(&user(ext), "d").unwrap_err();
            assert!(err.contains("extension"), "{ext}: {err}");
        }
        let err = leg_string(&user("1001"), "").unwrap_err();
        assert!(err.contains("no domain"), "{err}");
        let err = leg_string(&user("1001"), "d,x").unwrap_err();
        assert!(err.contains("domain"), "{err}");
        // Found by the property test: `:` and `_` are host characters, `:_:` is a split.
        let mut pickup = request(vec![user("1")], BridgeStrategy::Simultaneous);
        pickup.pickup = Some("g".into());
        for domain in ["a:_:b", "a:_", "_:5060"] {
            let err = leg_string(&user("1001"), domain).unwrap_err();
            assert!(err.contains("could split the dial string"), "{err}");
            let err = build(&pickup, domain).unwrap_err();
            assert!(err.contains("could split the dial string"), "{err}");
        }
        let gw = |gateway: &str, number: &str| BridgeLeg {
            target: BridgeTarget::Gateway {
                gateway: gateway.into(),
                number: number.into(),
            },
            variables: vec![],
            idle_only: false,
        };
        assert!(
            leg_string(&gw("gw/x", "1"), "d")
                .unwrap_err()
                .contains("gateway name")
        );
        assert!(
            leg_string(&gw("gw", "1|2"), "d")
                .unwrap_err()
                .contains("number")
        );
        let sip = |uri: &str| BridgeLeg {
            target: BridgeTarget::Sip {
                profile: Some("external".into()),
                uri: uri.into(),
            },
            variables: vec![],
            idle_only: false,
        };
        assert_eq!(
            leg_string(&sip("sip:a@b;transport=tcp"), "d").unwrap(),
            "sofia/external/sip:a@b;transport=tcp"
        );
        for uri in [
            "sip:a@b,sofia/x/y",
            "sip:a@b:_:x",
            "sip:<a>",
            "sip:a b",
            "sip:'a'",
        ] {
            assert!(leg_string(&sip(uri), "d").is_err(), "{uri}");
        }
        assert!(
            build(&request(vec![], BridgeStrategy::Failover), "d")
                .unwrap_err()
                .contains("no endpoints")
        );
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod reading;
