//! Call control: answering, hanging up, bridging, parking, redirecting the call, and what the
//! caller hears while it rings. Each step calls one [`Host`](crate::Host) method.

use serde_json::{Value as Json, json};

use super::media::FileSpec;
use super::{App, At, Family};
use crate::causes::{NORMAL_CLEARING, hangup_cause};
use crate::compile::{AppCx, Compiler, find_ci};
use crate::graph::{field, scalar};
use crate::host::*;
use crate::interp::{Control, Machine, Pending, StepError, StepResult};
use crate::json::{Kind, Member, Value, pointer_join};
use crate::program::*;
use crate::schema::{actions, args, flag, free_object, no_args, reference, string_list, text};
use crate::template::Template;

/// The call applications.
pub(crate) const APPS: &[App] = &[
    App::step(
        Family::Call,
        "ringReady",
        "Indicates ringing to the caller (180 Ringing).",
        |_, _, _| Some(Code::Call(Step::RingReady)),
        no_args,
    ),
    App::step(
        Family::Call,
        "preAnswer",
        "Early media (183 Session Progress) without answering.",
        |_, _, _| Some(Code::Call(Step::PreAnswer)),
        no_args,
    ),
    App::step(
        Family::Call,
        "answer",
        "Answers the call.",
        |_, _, _| Some(Code::Call(Step::Answer)),
        no_args,
    ),
    App::step(
        Family::Call,
        "hangup",
        "Hangs up with a cause name or number (empty = NORMAL_CLEARING).",
        |c, acx, at| c.app_hangup(acx, at).map(Code::Call),
        schema_hangup,
    ),
    App::step(
        Family::Call,
        "bridge",
        "Dials endpoints and bridges the first that answers.",
        |c, acx, at| c.app_bridge(acx, at).map(Code::Call),
        schema_bridge,
    )
    .outputs(&["rustflow_bridge_result"])
    .nested(&["bridged"])
    .label(bridge_label),
    App::step(
        Family::Call,
        "park",
        "Valet parking: parks into or retrieves from a lot range.",
        |c, acx, at| c.app_park(acx, at).map(Code::Call),
        schema_park,
    ),
    App::step(
        Family::Call,
        "pickup",
        "Answers a call ringing in a pickup group (`bridge.pickup`); the flow ends when one is picked up.",
        |c, acx, at| c.app_pickup(acx, at).map(Code::Call),
        schema_pickup,
    ),
    App::step(
        Family::Call,
        "conference",
        "Joins a conference `name@profile`.",
        |c, acx, at| c.app_conference(acx, at).map(Code::Call),
        schema_conference,
    ),
    App::step(
        Family::Call,
        "sipRedirect",
        "Unanswered: 302 with the contacts; answered: REFER to the first URI.",
        |c, acx, at| c.app_sip_redirect(acx, at).map(Code::Call),
        schema_sip_redirect,
    ),
    App::step(
        Family::Call,
        "updateCid",
        "Changes the caller id name/number (and destination).",
        |c, acx, at| c.app_update_cid(acx, at).map(Code::Call),
        schema_update_cid,
    ),
    App::step(
        Family::Call,
        "ringback",
        "Sets ringback, transfer ringback and hold music.",
        |c, acx, at| c.app_ringback(acx, at).map(Code::Call),
        schema_ringback,
    ),
    App::not_yet(Family::Call, "scheduleHangup"),
    App::not_yet(Family::Call, "setGrantee"),
    App::not_yet(Family::Call, "setUser"),
    App::not_yet(Family::Call, "amdML"),
];

/// A compiled call step.
#[derive(Debug)]
pub(crate) enum Step {
    Answer,
    PreAnswer,
    RingReady,
    Hangup(CauseSpec),
    Redirect(Vec<Template>),
    UpdateCid {
        name: Option<Template>,
        number: Option<Template>,
        destination: Option<Template>,
    },
    Ringback(Box<RingbackSpec>),
    Park {
        lot: Template,
        range: Template,
        retrieve: Template,
    },
    /// Answers a call ringing in a pickup group (`bridge.pickup` of another call).
    Pickup(Template),
    Conference {
        name: Template,
        profile: Template,
        pin: Option<Template>,
        flags: Vec<Template>,
    },
    Bridge(Box<BridgeSpec>),
}

impl Step {
    /// Whether the step needs the call's media.
    pub(crate) fn uses_media(&self) -> bool {
        !matches!(self, Step::Ringback(_))
    }
}

#[derive(Debug)]
pub(crate) enum LegTarget {
    User {
        extension: Template,
        domain: Option<Template>,
    },
    Gateway {
        gateway: Template,
        number: Template,
    },
    Sip {
        profile: Option<Template>,
        uri: Template,
    },
}

#[derive(Debug)]
pub(crate) struct LegSpec {
    pub target: LegTarget,
    pub variables: Vec<(Box<str>, VarValue)>,
    pub idle_only: Flag,
}

#[derive(Debug)]
pub(crate) struct BridgeSpec {
    pub legs: Vec<LegSpec>,
    pub strategy: crate::host::BridgeStrategy,
    pub variables: Vec<(Box<str>, VarValue)>,
    pub codecs: Vec<Template>,
    pub send_on_answer: Option<Template>,
    /// Pickup group that also rings (`bridge.pickup`).
    pub pickup: Option<Template>,
    /// Unit of the `bridged` actions, run when a leg answered.
    pub bridged: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct RingbackSpec {
    pub call: Option<FileSpec>,
    pub transfer: Option<FileSpec>,
    pub hold: Option<FileSpec>,
    pub all: Flag,
}

#[derive(Debug, Clone)]
pub(crate) enum CauseSpec {
    Known(HangupCause),
    Dynamic(Template),
}

impl<'a> Compiler<'a> {
    pub(crate) fn app_hangup(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let template = self.text(acx.value, pointer, "hangup")?;
        match template.as_literal() {
            Some("") => Some(Step::Hangup(CauseSpec::Known(NORMAL_CLEARING))),
            Some(text) => match hangup_cause(text) {
                Some(cause) => Some(Step::Hangup(CauseSpec::Known(cause))),
                None => {
                    self.error(
                        pointer,
                        acx.value.start,
                        format!("unknown hangup cause `{text}` (expected a FreeSWITCH cause name such as USER_BUSY, or its number)"),
                    );
                    None
                }
            },
            None => Some(Step::Hangup(CauseSpec::Dynamic(template))),
        }
    }

    pub(crate) fn app_bridge(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        self.compile_bridge(acx).map(|b| Step::Bridge(Box::new(b)))
    }

    pub(crate) fn app_park(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        let Some(lot) = self.opt_text(members, "name", pointer).ok()? else {
            self.missing(acx, "name");
            return None;
        };
        let Some(range) = self.opt_text(members, "lot", pointer).ok()? else {
            self.missing(acx, "lot");
            return None;
        };
        if let Some(text) = range.as_literal() {
            if let Err(reason) = parse_lot_range(text) {
                let m = find_ci(members, "lot").expect("lot is present");
                self.error(&pointer_join(pointer, &m.key), m.value.start, reason);
                return None;
            }
        }
        let retrieve = self
            .opt_text(members, "auto", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("in"));
        Some(Step::Park {
            lot,
            range,
            retrieve,
        })
    }

    pub(crate) fn app_pickup(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        let Some(name) = self.opt_text(members, "name", pointer).ok()? else {
            self.missing(acx, "name");
            return None;
        };
        Some(Step::Pickup(name))
    }

    pub(crate) fn app_conference(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let empty: &[Member] = &[];
        let members = match &acx.value.kind {
            Kind::Object(members) => members.as_slice(),
            Kind::String(s) if s.is_empty() => empty,
            _ => {
                self.type_error(acx, acx.value, "an object {name, profile, pin, tags}");
                return None;
            }
        };
        let name = self
            .opt_text(members, "name", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("global"));
        let profile = self
            .opt_text(members, "profile", pointer)
            .ok()?
            .unwrap_or_else(|| Template::literal("default"));
        let pin = self.opt_text(members, "pin", pointer).ok()?;
        let flags = match find_ci(members, "tags").or_else(|| find_ci(members, "flags")) {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                let Some(items) = m.value.as_array() else {
                    self.error(
                        &p,
                        m.value.start,
                        format!(
                            "`{}` must be an array of member flags, found {}",
                            m.key,
                            m.value.type_name()
                        ),
                    );
                    return None;
                };
                let mut flags = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    flags.push(self.text(item, &format!("{p}/{i}"), &m.key)?);
                }
                flags
            }
            None => Vec::new(),
        };
        Some(Step::Conference {
            name,
            profile,
            pin,
            flags,
        })
    }

    pub(crate) fn app_sip_redirect(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let uris = match &acx.value.kind {
            Kind::String(s) if !s.trim().is_empty() => vec![Template::parse(s)],
            Kind::Array(items) if !items.is_empty() => {
                let mut uris = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    uris.push(self.text(item, &format!("{pointer}/{i}"), "sipRedirect")?);
                }
                uris
            }
            _ => {
                self.type_error(acx, acx.value, "a SIP URI or a non-empty array of them");
                return None;
            }
        };
        Some(Step::Redirect(uris))
    }

    pub(crate) fn app_update_cid(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        let name = self.opt_text(members, "name", pointer).ok()?;
        let number = self.opt_text(members, "number", pointer).ok()?;
        let destination = self.opt_text(members, "destination", pointer).ok()?;
        let all_empty = [&name, &number, &destination]
            .iter()
            .all(|t| t.as_ref().is_none_or(|t| t.as_literal() == Some("")));
        if all_empty {
            self.error(
                pointer,
                acx.value.start,
                "`updateCid` needs at least one of `name`, `number`, `destination`".to_string(),
            );
            return None;
        }
        Some(Step::UpdateCid {
            name,
            number,
            destination,
        })
    }

    pub(crate) fn app_ringback(&mut self, acx: &AppCx<'a>, _at: At) -> Option<Step> {
        let pointer = acx.pointer.as_str();
        let members = self.object(acx)?;
        let file = |this: &mut Self, key: &str| {
            this.optional(members, key, pointer, Self::compile_file_spec)
        };
        let call = file(self, "call").ok()?;
        let transfer = file(self, "transfer").ok()?;
        let hold = file(self, "hold").ok()?;
        if call.is_none() && transfer.is_none() && hold.is_none() {
            self.error(
                pointer,
                acx.value.start,
                "`ringback` needs at least one of `call`, `transfer`, `hold`".to_string(),
            );
            return None;
        }
        let all = self.opt_flag(members, "all", pointer).ok()?;
        Some(Step::Ringback(Box::new(RingbackSpec {
            call,
            transfer,
            hold,
            all,
        })))
    }

    pub(crate) fn compile_bridge(&mut self, acx: &AppCx<'a>) -> Option<BridgeSpec> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let pickup = self.opt_text(members, "pickup", pointer).ok()?;
        // `bridged`: actions run when a leg answered (a unit, compiled like a function body).
        let bridged = match find_ci(members, "bridged") {
            Some(m) if m.value.as_array().is_some() => {
                let unit = self.new_unit("bridge.bridged");
                self.function_defs
                    .push((unit, &m.value, pointer_join(pointer, &m.key)));
                Some(unit)
            }
            Some(m) => {
                self.error(
                    &pointer_join(pointer, &m.key),
                    m.value.start,
                    format!(
                        "`bridge.bridged` must be an array of applications, found {}",
                        m.value.type_name()
                    ),
                );
                return None;
            }
            None => None,
        };
        let Some(endpoints) = find_ci(members, "endpoints") else {
            self.missing(acx, "endpoints");
            return None;
        };
        let endpoints_pointer = pointer_join(pointer, &endpoints.key);
        let items = match endpoints.value.as_array() {
            Some(items) if !items.is_empty() => items,
            _ => {
                self.error(
                    &endpoints_pointer,
                    endpoints.value.start,
                    "`bridge.endpoints` must be a non-empty array of endpoints".to_string(),
                );
                return None;
            }
        };
        let mut legs = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.compile_leg(item, &format!("{endpoints_pointer}/{i}")) {
                Some(leg) => legs.push(leg),
                None => ok = false,
            }
        }
        let strategy = match self.opt_text(members, "strategy", pointer).ok()? {
            Some(t) if t.as_literal() == Some("failover") => BridgeStrategy::Failover,
            _ => BridgeStrategy::Simultaneous,
        };
        let variables = self.variables(members, pointer).ok()?;
        let codecs = match find_ci(members, "codecs") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                match m.value.as_array() {
                    Some(items) => {
                        let mut out = Vec::new();
                        for (i, item) in items.iter().enumerate() {
                            out.push(self.text(item, &format!("{p}/{i}"), "codecs")?);
                        }
                        out
                    }
                    None => {
                        self.error(
                            &p,
                            m.value.start,
                            format!(
                                "`codecs` must be an array of codec names, found {}",
                                m.value.type_name()
                            ),
                        );
                        return None;
                    }
                }
            }
            None => Vec::new(),
        };
        let send_on_answer = self.opt_text(members, "sendOnAnswer", pointer).ok()?;
        ok.then_some(BridgeSpec {
            legs,
            strategy,
            variables,
            codecs,
            send_on_answer,
            pickup,
            bridged,
        })
    }

    pub(crate) fn compile_leg(&mut self, item: &Value, pointer: &str) -> Option<LegSpec> {
        let Some(members) = item.as_object() else {
            self.error(
                pointer,
                item.start,
                format!(
                    "an endpoint must be an object {{type, ...}}, found {}",
                    item.type_name()
                ),
            );
            return None;
        };
        let kind = match find_ci(members, "type").and_then(|m| m.value.as_str()) {
            Some(kind) => kind.to_string(),
            None => {
                self.error(
                    pointer,
                    item.start,
                    "an endpoint needs `type` (user, gateway or sip)".to_string(),
                );
                return None;
            }
        };
        let required = |this: &mut Self, key: &str| -> Option<Template> {
            match find_ci(members, key) {
                Some(m) => this.text(&m.value, &pointer_join(pointer, &m.key), key),
                None => {
                    this.error(
                        pointer,
                        item.start,
                        format!("a `{kind}` endpoint needs `{key}`"),
                    );
                    None
                }
            }
        };
        let target = match kind.as_str() {
            "user" => {
                if find_ci(members, "extension").is_none() && find_ci(members, "id").is_some() {
                    self.error(pointer, item.start, "a `user` endpoint by `id` needs the Webitel directory; give its `extension`".to_string());
                    return None;
                }
                let extension = required(self, "extension")?;
                let domain = self.opt_text(members, "domain", pointer).ok()?;
                LegTarget::User { extension, domain }
            }
            "gateway" => {
                let gateway = match find_ci(members, "name") {
                    Some(m) => self.text(&m.value, &pointer_join(pointer, &m.key), "name")?,
                    None => match find_ci(members, "gateway")
                        .and_then(|g| g.value.as_object().and_then(|o| find_ci(o, "name")))
                    {
                        Some(m) => self.text(
                            &m.value,
                            &pointer_join(&pointer_join(pointer, "gateway"), &m.key),
                            "name",
                        )?,
                        None => {
                            self.error(pointer, item.start, "a `gateway` endpoint needs the gateway `name` (gateways by `id` need the Webitel directory)".to_string());
                            return None;
                        }
                    },
                };
                let number = required(self, "dialString")?;
                LegTarget::Gateway { gateway, number }
            }
            "sip" => {
                let uri = required(self, "uri")?;
                let profile = self.opt_text(members, "profile", pointer).ok()?;
                LegTarget::Sip { profile, uri }
            }
            other => {
                self.error(
                    pointer,
                    item.start,
                    format!("unknown endpoint type `{other}` (expected user, gateway or sip)"),
                );
                return None;
            }
        };
        let variables = self.variables(members, pointer).ok()?;
        let idle_only = self.opt_flag(members, "idle", pointer).ok()?;
        Some(LegSpec {
            target,
            variables,
            idle_only,
        })
    }

    /// `parameters`: an object of channel variable → value.
    pub(crate) fn variables(
        &mut self,
        members: &[Member],
        pointer: &str,
    ) -> Result<Vec<(Box<str>, VarValue)>, ()> {
        let Some(m) = find_ci(members, "parameters") else {
            return Ok(Vec::new());
        };
        let Some(entries) = m.value.as_object() else {
            self.error(
                &pointer_join(pointer, &m.key),
                m.value.start,
                format!(
                    "`parameters` must be an object of variable → value, found {}",
                    m.value.type_name()
                ),
            );
            return Err(());
        };
        Ok(entries
            .iter()
            .map(|e| (e.key.as_str().into(), self.var_value(&e.value)))
            .collect())
    }
}

/// A valet lot range `FROM-TO` (inclusive, FROM <= TO).
pub(crate) fn parse_lot_range(text: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`lot` must be a slot range `FROM-TO` such as `1-10`, found `{text}`");
    let (from, to) = text.trim().split_once('-').ok_or_else(bad)?;
    let from: u32 = from.trim().parse().map_err(|_| bad())?;
    let to: u32 = to.trim().parse().map_err(|_| bad())?;
    if from > to {
        return Err(bad());
    }
    Ok((from, to))
}

impl Machine<'_> {
    #[inline]
    pub(crate) fn run_call(&mut self, step: &Step) -> StepResult {
        match step {
            Step::Answer => Ok(self.host.answer().map(|()| Control::Next)?.into()),
            Step::PreAnswer => Ok(self.host.pre_answer().map(|()| Control::Next)?.into()),
            Step::RingReady => Ok(self.host.ring_ready().map(|()| Control::Next)?.into()),
            Step::Hangup(cause) => {
                let cause = match cause {
                    CauseSpec::Known(cause) => *cause,
                    CauseSpec::Dynamic(template) => {
                        let text = self.expand(template);
                        if text.trim().is_empty() {
                            crate::causes::NORMAL_CLEARING
                        } else {
                            hangup_cause(&text).ok_or_else(|| {
                                StepError::Failed(format!("unknown hangup cause `{text}`"))
                            })?
                        }
                    }
                };
                self.host.hangup(cause)?;
                Ok(Control::HungUp.into())
            }
            Step::Bridge(spec) => {
                let request = self.bridge_request(spec)?;
                let result = self.host.bridge(&request)?;
                // The caller may be gone already (hung up during the bridge): the result
                // still matters to `bridged` and `trigger.disconnected`.
                match self.host.set_var("rustflow_bridge_result", result.as_str()) {
                    Ok(()) | Err(HostError::Hangup) => {}
                    Err(e) => return Err(e.into()),
                }
                if let (BridgeResult::Answered, Some(unit)) = (result, spec.bridged) {
                    // Runs right after this step (its step line first), like an async fork.
                    self.pending.push(Pending::Bridged(unit));
                }
                Ok(Control::Next.noted(result.as_str()))
            }
            Step::Redirect(uris) => {
                let uris: Vec<String> = uris
                    .iter()
                    .map(|u| self.expand(u).trim().to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                if uris.is_empty() {
                    return Err(StepError::Failed("no SIP URI to redirect to".to_string()));
                }
                self.host.redirect(&uris)?;
                Ok(Control::Next.into())
            }
            Step::UpdateCid {
                name,
                number,
                destination,
            } => {
                let update = CallerIdUpdate {
                    name: self.expand_opt(name),
                    number: self.expand_opt(number),
                    destination: self.expand_opt(destination),
                };
                if update == CallerIdUpdate::default() {
                    return Err(StepError::Failed(
                        "name, number and destination all expanded to nothing".to_string(),
                    ));
                }
                self.host.update_caller_id(&update)?;
                Ok(Control::Next.into())
            }
            Step::Ringback(spec) => {
                let ringback = Ringback {
                    call: spec.call.as_ref().map(|f| self.play_file(f)).transpose()?,
                    transfer: spec
                        .transfer
                        .as_ref()
                        .map(|f| self.play_file(f))
                        .transpose()?,
                    hold: spec.hold.as_ref().map(|f| self.play_file(f)).transpose()?,
                    export_to_b_legs: self.flag(&spec.all, "all")?,
                };
                self.host.ringback(&ringback)?;
                Ok(Control::Next.into())
            }
            Step::Park {
                lot,
                range,
                retrieve,
            } => {
                let range = self.expand(range);
                let (from, to) = parse_lot_range(&range).map_err(StepError::Failed)?;
                let direction = self.expand(retrieve);
                let request = ParkRequest {
                    lot: self.expand(lot).into_owned(),
                    from,
                    to,
                    retrieve: !direction.trim().eq_ignore_ascii_case("in"),
                };
                if request.lot.is_empty() {
                    return Err(StepError::Failed(
                        "the lot name expanded to nothing".to_string(),
                    ));
                }
                self.host.park(&request)?;
                Ok(Control::Next.into())
            }
            Step::Pickup(group) => {
                let group = self.expand(group);
                if group.is_empty() {
                    return Err(StepError::Failed(
                        "the pickup group expanded to nothing".to_string(),
                    ));
                }
                if self.host.pickup(&group)? {
                    // The call now belongs to the bridge of the call it picked up.
                    Ok(Control::Stop.noted("picked up a call, the flow ends"))
                } else {
                    Ok(Control::Next.noted("no call ringing in the group"))
                }
            }
            Step::Conference {
                name,
                profile,
                pin,
                flags,
            } => {
                let request = ConferenceRequest {
                    name: self.expand(name).into_owned(),
                    profile: self.expand(profile).into_owned(),
                    pin: self.expand_opt(pin),
                    flags: self.expand_list(flags),
                };
                if request.name.is_empty() || request.profile.is_empty() {
                    return Err(StepError::Failed(
                        "conference name or profile expanded to nothing".to_string(),
                    ));
                }
                self.host.conference(&request)?;
                Ok(Control::Next.into())
            }
        }
    }

    pub(crate) fn bridge_request(&mut self, spec: &BridgeSpec) -> Result<BridgeRequest, StepError> {
        let mut legs = Vec::with_capacity(spec.legs.len());
        for leg in &spec.legs {
            let target = match &leg.target {
                LegTarget::User { extension, domain } => BridgeTarget::User {
                    extension: self.expand(extension).into_owned(),
                    domain: self.expand_opt(domain),
                },
                LegTarget::Gateway { gateway, number } => BridgeTarget::Gateway {
                    gateway: self.expand(gateway).into_owned(),
                    number: self.expand(number).into_owned(),
                },
                LegTarget::Sip { profile, uri } => BridgeTarget::Sip {
                    profile: self.expand_opt(profile),
                    uri: self.expand(uri).into_owned(),
                },
            };
            let empty = match &target {
                BridgeTarget::User { extension, .. } => extension.is_empty(),
                BridgeTarget::Gateway { gateway, number } => {
                    gateway.is_empty() || number.is_empty()
                }
                BridgeTarget::Sip { uri, .. } => uri.is_empty(),
            };
            if empty {
                return Err(StepError::Failed(
                    "an endpoint expanded to an empty destination".to_string(),
                ));
            }
            legs.push(BridgeLeg {
                target,
                variables: self.variables(&leg.variables),
                idle_only: self.flag(&leg.idle_only, "idle")?,
            });
        }
        Ok(BridgeRequest {
            legs,
            strategy: spec.strategy,
            variables: self.variables(&spec.variables),
            codecs: self.expand_list(&spec.codecs),
            send_on_answer: self.expand_opt(&spec.send_on_answer),
            pickup: self.expand_opt(&spec.pickup).filter(|g| !g.is_empty()),
        })
    }
}

// ---- argument schemas ----

fn schema_sip_redirect() -> Json {
    json!({
        "description": "SIP URIs; a plain string is one URI.",
        "anyOf": [{ "type": "string" }, { "type": "array", "items": { "type": "string" } }]
    })
}

fn schema_ringback() -> Json {
    args(
        &[
            ("call", reference("playbackFile")),
            ("hold", reference("playbackFile")),
            ("transfer", reference("playbackFile")),
            (
                "all",
                flag("Also add the three variables to bridge_export_vars."),
            ),
        ],
        &[],
    )
}

fn schema_update_cid() -> Json {
    args(
        &[
            ("name", text("Caller id name.")),
            ("number", text("Caller id number.")),
            ("destination", text("Destination.")),
        ],
        &[],
    )
}

fn schema_park() -> Json {
    args(
        &[
            ("name", text("Lot name (prefixed by the domain).")),
            ("lot", text("Slot range `from-to`.")),
            (
                "auto",
                json!({ "enum": ["in", "out"], "description": "Park in (default) or retrieve." }),
            ),
        ],
        &["name", "lot"],
    )
}

fn schema_pickup() -> Json {
    args(&[("name", text("Pickup group name."))], &["name"])
}

fn schema_conference() -> Json {
    args(
        &[
            ("name", text("Conference name (default `global`).")),
            ("profile", text("Conference profile (default `default`).")),
            ("pin", text("PIN.")),
            ("flags", string_list("Member flags.")),
            ("tags", string_list("Member flags (the original's name).")),
        ],
        &[],
    )
}

fn schema_bridge() -> Json {
    args(
        &[
            (
                "endpoints",
                json!({ "type": "array", "minItems": 1, "items": reference("endpoint"),
                        "description": "Who to dial." }),
            ),
            (
                "strategy",
                json!({ "type": "string",
                        "description": "`failover` dials one after another; anything else dials all at once." }),
            ),
            (
                "parameters",
                free_object("Channel variables for every B-leg."),
            ),
            ("codecs", string_list("Codecs offered to B-legs.")),
            ("sendOnAnswer", text("DTMF sent when a B-leg answers.")),
            (
                "pickup",
                text("Pickup group that rings too: a phone in the group answers with `pickup`."),
            ),
            (
                "bridged",
                actions(
                    "Runs on the caller's leg after the bridge returns, when a leg answered (media refused if the caller is gone).",
                ),
            ),
        ],
        &["endpoints"],
    )
}

fn schema_hangup() -> Json {
    json!({
        "description": "Hangup cause: a FreeSWITCH cause name (case-insensitive) or number; empty = NORMAL_CLEARING.",
        "type": ["string", "integer"]
    })
}

/// `bridge` in a graph node: its endpoints, `|` between failover ones.
fn bridge_label(args: &Json) -> String {
    let separator = if scalar(args, "strategy") == "failover" {
        " | "
    } else {
        ", "
    };
    field(args, "endpoints")
        .and_then(|(_, endpoints)| endpoints.as_array())
        .map(|endpoints| {
            endpoints
                .iter()
                .map(|endpoint| {
                    let kind = scalar(endpoint, "type");
                    let target = ["extension", "dialString", "uri", "name", "id"]
                        .iter()
                        .map(|key| scalar(endpoint, key))
                        .find(|value| !value.is_empty())
                        .unwrap_or_default();
                    format!("{kind}/{target}")
                })
                .collect::<Vec<_>>()
                .join(separator)
        })
        .unwrap_or_default()
}
