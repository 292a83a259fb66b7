//! Members of outbound queues and the answers of a queue's attempt flows.
//!
//! `callbackQueue`, `memberInfo` and `patchMembers` read and write the members an outbound
//! queue dials; `confirm`/`cancel` answer a queue's pre-attempt flow, `success`/`abandoned`/
//! `retry` its after-attempt flow (both run without a call: [`crate::run_with`]), and
//! `attemptResult` reports an attempt's outcome (an agent's wrap-up). Arguments are
//! Webitel's (`flow_manager`), deprecated spellings included (`queue_id`, `type_id`,
//! `resource_id`, `bucket_id`, `ready_at`, `stop_cause`).
//!
//! Webitel quirks fixed on purpose:
//! - `callbackQueue` works on a queue without a calendar (Webitel's insert joined the queue's
//!   calendar and silently inserted nothing); a request the store refuses (unknown or inbound
//!   queue, bad destination) fails the step with the store's reason instead of doing nothing.
//!   `expire_at` is an instant (ms since the epoch), not re-read through the calendar's zone.
//! - `memberInfo` and `patchMembers` read the same `member` object: `queue_ids` or
//!   `queues: [{id}]`, `bucket: {id}` or `bucket_id` (Webitel honoured a different half in
//!   each). `today: false` is a real filter (created before today's midnight in the flow's
//!   time zone, as the date helpers of expressions read it) where Webitel's memberInfo
//!   matched nothing and its patchMembers ignored it.
//!   The first member is the one with the lowest id (Webitel: any row). An empty `name` is
//!   no filter (Webitel's memberInfo matched only members without a name).
//! - An id, number or boolean that is not one fails at load (or, from a variable, when the
//!   step runs) instead of becoming 0; `patch` must change something; `retry.sleep` of a
//!   minute or more is refused (Webitel silently did not sleep).
//! - `cancel` passes `excludeCurrentCommunication` and `minOfferingAt` on (Webitel parsed them
//!   and dropped them); without `waitBetweenRetries` the queue's wait applies (Webitel
//!   retried at once, so a flow that always cancels spun).
//! - `abandoned` with `status: "success"` is a `success` (as Webitel's call centre treats
//!   it); its `display` is accepted and not used (Webitel sent it and did not apply it).
//! - The five decisions end the flow (Webitel "stops the schema") in every flow object, a
//!   function's included; on a call they fail ("`confirm` only answers a queue's pre-attempt
//!   flow") and the flow goes on, and in the other attempt flow they fail the same way.

use chrono::NaiveTime;

use super::{RefSpec, Step};
use crate::compile::{AppCx, Compiler, find_ci};
use crate::expr::dates::Zone;
use crate::host::*;
use crate::interp::{Control, Machine, StepError, StepResult};
use crate::json::{Kind, Member, Value, pointer_join};
use crate::program::{Flag, JsonTemplate, Num};
use crate::template::Template;

/// `memberInfo` properties (plus `variables.KEY`).
pub const MEMBER_PROPERTIES: &[&str] = &[
    "id",
    "name",
    "priority",
    "attempts",
    "stop_cause",
    "bucket_id",
    "count_destinations",
    "all_destinations",
];

/// `retry.sleep` must stay under this many ms (Webitel ignored longer sleeps).
const MAX_RETRY_SLEEP_MS: u64 = 60_000;

#[derive(Debug)]
pub(crate) struct CommunicationSpec {
    pub destination: Template,
    pub kind: Option<Template>,
    pub display: Option<Template>,
    pub priority: Num,
    pub resource: Option<Template>,
    pub description: Option<Template>,
}

#[derive(Debug)]
pub(crate) struct CallbackSpec {
    pub queue: RefSpec,
    pub name: Option<Template>,
    pub communication: CommunicationSpec,
    pub hold_secs: Num,
    pub priority: Num,
    pub bucket: Option<RefSpec>,
    pub agent: Option<RefSpec>,
    pub timezone: Option<Template>,
    pub variables: Option<JsonTemplate>,
    pub expire_at: Option<Num>,
    pub stop_cause: Option<Template>,
}

#[derive(Debug)]
pub(crate) struct QuerySpec {
    pub queues: Vec<Template>,
    pub id: Option<Template>,
    pub name: Option<Template>,
    pub destination: Option<Template>,
    pub today: Option<Flag>,
    pub completed: Option<Flag>,
    pub bucket: Option<RefSpec>,
}

/// A `memberInfo` property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Property {
    Named(&'static str),
    Variable(Box<str>),
}

#[derive(Debug)]
pub(crate) struct MemberInfoSpec {
    pub query: QuerySpec,
    pub set: Vec<(Template, Property)>,
}

#[derive(Debug)]
pub(crate) struct CommunicationPatchSpec {
    pub index: Num,
    pub destination: Option<Template>,
    pub kind: Option<Template>,
    pub display: Option<Template>,
    pub priority: Option<Num>,
    pub resource: Option<Template>,
    pub description: Option<Template>,
}

#[derive(Debug)]
pub(crate) struct PatchSpec {
    pub query: QuerySpec,
    pub name: Option<Template>,
    pub priority: Option<Num>,
    pub bucket: Option<RefSpec>,
    pub queue: Option<Template>,
    pub ready_at: Option<Num>,
    pub stop_cause: Option<Template>,
    pub variables: Option<JsonTemplate>,
    pub communications: Vec<CommunicationPatchSpec>,
}

#[derive(Debug)]
pub(crate) enum DecisionSpec {
    Confirm {
        destination: Option<Template>,
        display: Option<Template>,
    },
    Cancel {
        description: Option<Template>,
        wait_between_retries: Option<Num>,
        stop: Flag,
        exclude_current_communication: Flag,
        min_offering_at: Option<Num>,
    },
    Success,
    Abandoned {
        status: Option<Template>,
        max_attempts: Option<Num>,
        wait_between_retries: Option<Num>,
        exclude_current_communication: Flag,
        redial: Flag,
        agent_id: Option<Template>,
        description: Option<Template>,
    },
    Retry {
        sleep: Num,
        next_resource: Flag,
        resource: Option<Template>,
    },
}

#[derive(Debug)]
pub(crate) struct Decision {
    pub spec: DecisionSpec,
    /// Variable names whose values go back to the attempt (`export`).
    pub export: Vec<Template>,
}

#[derive(Debug)]
pub(crate) struct AttemptResultSpec {
    pub status: Option<Template>,
    pub description: Option<Template>,
    pub ready_at: Option<Num>,
    pub expired_at: Option<Num>,
    pub wait_between_retries: Option<Num>,
    pub sticky_display: Option<Template>,
    pub agent_id: Option<Template>,
    pub redial: Flag,
    pub exclude_current_communication: Flag,
    pub add_communications: Vec<CommunicationSpec>,
    pub variables: Option<JsonTemplate>,
}

/// Which decision application is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecisionKind {
    Confirm,
    Cancel,
    Success,
    Abandoned,
    Retry,
}

type Field<T> = Result<Option<T>, ()>;

impl<'a> Compiler<'a> {
    /// An id given as `{id}` / a scalar under `key`, else as a scalar under the deprecated
    /// `old_key` (`resource` / `resource_id`, `type` / `type_id`).
    fn id_field(
        &mut self,
        members: &[Member],
        key: &str,
        old_key: Option<&str>,
        pointer: &str,
    ) -> Field<Template> {
        if let Some(m) = find_ci(members, key) {
            let p = pointer_join(pointer, &m.key);
            let id = match m.value.as_object() {
                Some(fields) => match find_ci(fields, "id") {
                    Some(id) => self.text(&id.value, &pointer_join(&p, &id.key), "id"),
                    None => {
                        self.error(&p, m.value.start, format!("`{key}` needs `id`"));
                        None
                    }
                },
                None => self.text(&m.value, &p, key),
            };
            return id.map(non_empty).ok_or(());
        }
        match old_key {
            Some(old) => Ok(self.opt_text(members, old, pointer)?.and_then(non_empty)),
            None => Ok(None),
        }
    }

    /// An optional reference where Webitel's editor writes `{}` for "none" (`agent: {}`).
    fn optional_ref(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
        names: &[&str],
    ) -> Field<RefSpec> {
        let empty = find_ci(members, key).is_some_and(|m| match &m.value.kind {
            Kind::Null => true,
            Kind::Object(fields) => ["id"].iter().chain(names).all(|k| {
                find_ci(fields, k).is_none_or(|f| match &f.value.kind {
                    Kind::Null => true,
                    Kind::String(s) => s.is_empty(),
                    _ => false,
                })
            }),
            _ => false,
        });
        if empty {
            return Ok(None);
        }
        self.cc_ref(members, key, pointer, names)
    }

    /// A JSON object argument (member variables) with templates in its strings.
    fn object_template(
        &mut self,
        members: &[Member],
        key: &str,
        pointer: &str,
    ) -> Field<JsonTemplate> {
        let Some(m) = find_ci(members, key) else {
            return Ok(None);
        };
        match &m.value.kind {
            Kind::Object(_) => Ok(Some(self.json_template(&m.value))),
            Kind::Null => Ok(None),
            _ => {
                self.error(
                    &pointer_join(pointer, &m.key),
                    m.value.start,
                    format!(
                        "`{key}` must be an object of variable → value, found {}",
                        m.value.type_name()
                    ),
                );
                Err(())
            }
        }
    }

    fn opt_number(&mut self, members: &[Member], key: &str, pointer: &str) -> Field<Num> {
        self.optional(members, key, pointer, |this, v, p| this.num(v, p, key))
    }

    /// The first of `keys` that is present, as a number (`readyAt` / `ready_at`).
    fn number_of(&mut self, members: &[Member], keys: &[&str], pointer: &str) -> Field<Num> {
        for key in keys {
            if find_ci(members, key).is_some() {
                return self.opt_number(members, key, pointer);
            }
        }
        Ok(None)
    }

    /// The first of `keys` that is present, as text that is not empty.
    fn text_of(&mut self, members: &[Member], keys: &[&str], pointer: &str) -> Field<Template> {
        for key in keys {
            if find_ci(members, key).is_some() {
                return Ok(self.opt_text(members, key, pointer)?.and_then(non_empty));
            }
        }
        Ok(None)
    }

    /// `communication` of `callbackQueue`, an element of `addCommunications`.
    fn communication(
        &mut self,
        value: &Value,
        pointer: &str,
        what: &str,
    ) -> Option<CommunicationSpec> {
        let Some(fields) = value.as_object() else {
            self.error(
                pointer,
                value.start,
                format!(
                    "`{what}` must be an object {{destination, type, display, priority, resource}}, found {}",
                    value.type_name()
                ),
            );
            return None;
        };
        let destination = match find_ci(fields, "destination") {
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                match self.text(&m.value, &p, "destination") {
                    Some(t) if t.as_literal().is_some_and(|d| d.trim().is_empty()) => {
                        self.error(&p, m.value.start, format!("`{what}.destination` is empty"));
                        None
                    }
                    other => other,
                }
            }
            None => {
                self.error(
                    pointer,
                    value.start,
                    format!("`{what}` needs `destination` (the number to dial)"),
                );
                None
            }
        };
        let kind = self.id_field(fields, "type", Some("type_id"), pointer);
        let display = self.opt_text(fields, "display", pointer);
        let priority = self.opt_num(fields, "priority", pointer, 0);
        let resource = self.id_field(fields, "resource", Some("resource_id"), pointer);
        let description = self.opt_text(fields, "description", pointer);
        Some(CommunicationSpec {
            destination: destination?,
            kind: kind.ok()?,
            display: display.ok()?.and_then(non_empty),
            priority: priority.ok()?,
            resource: resource.ok()?,
            description: description.ok()?.and_then(non_empty),
        })
    }

    pub(crate) fn app_callback_queue(&mut self, acx: &AppCx<'a>) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let queue = match self.cc_ref(members, "queue", pointer, &["name"]) {
            Ok(Some(queue)) => Ok(queue),
            Ok(None) => match self.opt_text(members, "queue_id", pointer) {
                Ok(Some(id)) => Ok(RefSpec {
                    id: Some(id),
                    name: None,
                }),
                Ok(None) => {
                    self.missing(acx, "queue");
                    Err(())
                }
                Err(()) => Err(()),
            },
            Err(()) => Err(()),
        };
        let communication = match find_ci(members, "communication") {
            Some(m) => {
                self.communication(&m.value, &pointer_join(pointer, &m.key), "communication")
            }
            None => {
                self.missing(acx, "communication");
                None
            }
        };
        let name = self.opt_text(members, "name", pointer);
        let hold_secs = self.opt_num(members, "holdSec", pointer, 0);
        let priority = self.opt_num(members, "priority", pointer, 0);
        let bucket = self.optional_ref(members, "bucket", pointer, &["name"]);
        let agent = self.optional_ref(members, "agent", pointer, &["extension"]);
        let timezone = self.timezone_field(members, pointer);
        let variables = self.object_template(members, "variables", pointer);
        let expire_at = self.opt_number(members, "expire_at", pointer);
        let stop_cause = self.opt_text(members, "stop_cause", pointer);
        Some(Step::Callback(Box::new(CallbackSpec {
            queue: queue.ok()?,
            name: name.ok()?,
            communication: communication?,
            hold_secs: hold_secs.ok()?,
            priority: priority.ok()?,
            bucket: bucket.ok()?,
            agent: agent.ok()?,
            timezone: timezone.ok()?,
            variables: variables.ok()?,
            expire_at: expire_at.ok()?,
            stop_cause: stop_cause.ok()?.and_then(non_empty),
        })))
    }

    /// `timezone`: `{id}` / `{name}` or a string, an IANA name (checked when literal).
    fn timezone_field(&mut self, members: &[Member], pointer: &str) -> Field<Template> {
        let Some(m) = find_ci(members, "timezone") else {
            return Ok(None);
        };
        let p = pointer_join(pointer, &m.key);
        let zone = match m.value.as_object() {
            Some(fields) => match find_ci(fields, "name").or_else(|| find_ci(fields, "id")) {
                Some(f) => self.text(&f.value, &pointer_join(&p, &f.key), "timezone"),
                // Webitel's editor writes `{}` for "none".
                None => Some(Template::literal("")),
            },
            None => self.text(&m.value, &p, "timezone"),
        }
        .ok_or(())?;
        if let Some(name) = zone.as_literal() {
            if !name.is_empty() && name.parse::<chrono_tz::Tz>().is_err() {
                self.error(
                    &p,
                    m.value.start,
                    format!("`timezone` `{name}` is not an IANA time zone (such as Europe/Kyiv)"),
                );
                return Err(());
            }
        }
        Ok(non_empty(zone))
    }

    /// The `member` search object of `memberInfo` / `patchMembers`.
    fn member_query(&mut self, acx: &AppCx<'_>, members: &[Member]) -> Option<QuerySpec> {
        let Some(m) = find_ci(members, "member") else {
            self.missing(acx, "member");
            return None;
        };
        let pointer = pointer_join(&acx.pointer, &m.key);
        let fields = self.object_at(&m.value, &pointer, "member")?;
        let mut queues = Vec::new();
        let mut ok = true;
        match self.id_list(fields, "queue_ids", &pointer) {
            Ok(Some(ids)) => queues.extend(ids),
            Ok(None) => {}
            Err(()) => ok = false,
        }
        if let Some(q) = find_ci(fields, "queues") {
            let p = pointer_join(&pointer, &q.key);
            match q.value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let item_pointer = format!("{p}/{i}");
                        let id = match item.as_object() {
                            Some(obj) => match find_ci(obj, "id") {
                                Some(id) => self.text(
                                    &id.value,
                                    &pointer_join(&item_pointer, &id.key),
                                    "id",
                                ),
                                None => {
                                    self.error(
                                        &item_pointer,
                                        item.start,
                                        "`queues` elements need `id`".to_string(),
                                    );
                                    None
                                }
                            },
                            None => self.text(item, &item_pointer, "queues"),
                        };
                        match id {
                            Some(id) => queues.push(id),
                            None => ok = false,
                        }
                    }
                }
                None => {
                    self.error(
                        &p,
                        q.value.start,
                        format!(
                            "`queues` must be an array of {{id}}, found {}",
                            q.value.type_name()
                        ),
                    );
                    ok = false;
                }
            }
        }
        if ok && queues.is_empty() {
            self.error(
                &pointer,
                m.value.start,
                "`member` needs `queue_ids` or `queues` (the queues whose members are searched)"
                    .to_string(),
            );
            ok = false;
        }
        let id = match self.opt_text(fields, "id", &pointer) {
            Ok(Some(id)) => match id.as_literal() {
                Some(text) if !text.is_empty() && text.trim().parse::<i64>().is_err() => {
                    let (key, at) = find_ci(fields, "id")
                        .map_or(("id", m.value.start), |f| (f.key.as_str(), f.value.start));
                    self.error(
                        &pointer_join(&pointer, key),
                        at,
                        format!("`member.id` must be a whole number, found `{text}`"),
                    );
                    Err(())
                }
                _ => Ok(non_empty(id)),
            },
            other => other,
        };
        let name = self.opt_text(fields, "name", &pointer);
        let destination = self.opt_text(fields, "destination", &pointer);
        let today = self.optional(fields, "today", &pointer, |this, v, p| this.flag(v, p));
        let completed = self.optional(fields, "completed", &pointer, |this, v, p| this.flag(v, p));
        let bucket = match self.optional_ref(fields, "bucket", &pointer, &["name"]) {
            Ok(None) => self.opt_text(fields, "bucket_id", &pointer).map(|id| {
                id.and_then(non_empty).map(|id| RefSpec {
                    id: Some(id),
                    name: None,
                })
            }),
            other => other,
        };
        if !ok {
            return None;
        }
        Some(QuerySpec {
            queues,
            id: id.ok()?,
            // An empty name is no filter (an editor's blank field), where Webitel's memberInfo
            // matched only members without a name.
            name: name.ok()?.and_then(non_empty),
            destination: destination.ok()?.and_then(non_empty),
            today: today.ok()?,
            completed: completed.ok()?,
            bucket: bucket.ok()?,
        })
    }

    pub(crate) fn app_member_info(&mut self, acx: &AppCx<'a>) -> Option<Step> {
        let members = self.object(acx)?;
        let query = self.member_query(acx, members);
        let set = self.set_map(
            acx,
            members,
            |property| {
                if let Some(named) = MEMBER_PROPERTIES.iter().find(|p| **p == property) {
                    return Some(Property::Named(named));
                }
                property
                    .strip_prefix("variables.")
                    .filter(|key| !key.is_empty())
                    .map(|key| Property::Variable(key.into()))
            },
            "property (id, name, priority, attempts, stop_cause, bucket_id, count_destinations, all_destinations, variables.KEY)",
        );
        Some(Step::MemberInfo(Box::new(MemberInfoSpec {
            query: query?,
            set: set?,
        })))
    }

    pub(crate) fn app_patch_members(&mut self, acx: &AppCx<'a>) -> Option<Step> {
        let members = self.object(acx)?;
        let query = self.member_query(acx, members);
        let Some(m) = find_ci(members, "patch") else {
            self.missing(acx, "patch");
            return None;
        };
        let pointer = pointer_join(&acx.pointer, &m.key);
        let fields = self.object_at(&m.value, &pointer, "patch")?;
        let name = self.opt_text(fields, "name", &pointer);
        let priority = self.opt_number(fields, "priority", &pointer);
        let bucket = match self.optional_ref(fields, "bucket", &pointer, &["name"]) {
            Ok(None) => self.opt_text(fields, "bucket_id", &pointer).map(|id| {
                id.and_then(non_empty).map(|id| RefSpec {
                    id: Some(id),
                    name: None,
                })
            }),
            other => other,
        };
        let queue = self.text_of(fields, &["queueId", "queue_id"], &pointer);
        let ready_at = self.number_of(fields, &["readyAt", "ready_at"], &pointer);
        let stop_cause = self.text_of(fields, &["stopCause", "stop_cause"], &pointer);
        let variables = self.object_template(fields, "variables", &pointer);
        let communications = match find_ci(fields, "communications") {
            None => Ok(Vec::new()),
            Some(c) => self.communication_patches(&c.value, &pointer_join(&pointer, &c.key)),
        };
        let (Ok(name), Ok(priority), Ok(bucket), Ok(queue), Ok(ready_at), Ok(stop_cause)) =
            (name, priority, bucket, queue, ready_at, stop_cause)
        else {
            return None;
        };
        let (variables, communications) = (variables.ok()?, communications.ok()?);
        let changes_nothing = name.is_none()
            && priority.is_none()
            && bucket.is_none()
            && queue.is_none()
            && ready_at.is_none()
            && stop_cause.is_none()
            && variables.is_none()
            && communications.is_empty();
        if changes_nothing {
            self.error(
                &pointer,
                m.value.start,
                "`patch` changes nothing: give name, priority, bucket, queueId, readyAt, stopCause, variables or communications".to_string(),
            );
            return None;
        }
        Some(Step::PatchMembers(Box::new(PatchSpec {
            query: query?,
            name,
            priority,
            bucket,
            queue,
            ready_at,
            stop_cause,
            variables,
            communications,
        })))
    }

    fn communication_patches(
        &mut self,
        value: &Value,
        pointer: &str,
    ) -> Result<Vec<CommunicationPatchSpec>, ()> {
        let Some(items) = value.as_array() else {
            self.error(
                pointer,
                value.start,
                format!(
                    "`communications` must be an array of {{id, destination, …}}, found {}",
                    value.type_name()
                ),
            );
            return Err(());
        };
        let mut patches = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = format!("{pointer}/{i}");
            let Some(fields) = item.as_object() else {
                self.error(
                    &p,
                    item.start,
                    format!(
                        "`communications/{i}` must be an object {{id, destination, …}}, found {}",
                        item.type_name()
                    ),
                );
                ok = false;
                continue;
            };
            let index = match find_ci(fields, "id") {
                Some(id) => self.num(&id.value, &pointer_join(&p, &id.key), "id"),
                None => {
                    self.error(&p, item.start, format!("`communications/{i}` needs `id` (the position of the number, 0 = the first)"));
                    None
                }
            };
            let destination = self.opt_text(fields, "destination", &p);
            let kind = self.id_field(fields, "type", Some("type_id"), &p);
            let display = self.opt_text(fields, "display", &p);
            let priority = self.opt_number(fields, "priority", &p);
            let resource = self.id_field(fields, "resource", Some("resource_id"), &p);
            let description = self.opt_text(fields, "description", &p);
            match (
                index,
                destination,
                kind,
                display,
                priority,
                resource,
                description,
            ) {
                (
                    Some(index),
                    Ok(destination),
                    Ok(kind),
                    Ok(display),
                    Ok(priority),
                    Ok(resource),
                    Ok(description),
                ) => {
                    patches.push(CommunicationPatchSpec {
                        index,
                        destination: destination.and_then(non_empty),
                        kind,
                        display,
                        priority,
                        resource,
                        description,
                    });
                }
                _ => ok = false,
            }
        }
        if ok { Ok(patches) } else { Err(()) }
    }

    /// The argument of a decision: an object, or `""` / `null` for none.
    fn decision_members(&mut self, acx: &AppCx<'a>) -> Option<&'a [Member]> {
        match &acx.value.kind {
            Kind::Object(members) => Some(members),
            Kind::Null => Some(&[]),
            Kind::String(s) if s.trim().is_empty() => Some(&[]),
            _ => {
                self.type_error(acx, acx.value, "an object (or \"\" for no argument)");
                None
            }
        }
    }

    /// `export`: an array of variable names.
    fn export_names(&mut self, members: &[Member], pointer: &str) -> Result<Vec<Template>, ()> {
        let Some(m) = find_ci(members, "export") else {
            return Ok(Vec::new());
        };
        let p = pointer_join(pointer, &m.key);
        let Some(items) = m.value.as_array() else {
            self.error(
                &p,
                m.value.start,
                format!(
                    "`export` must be an array of variable names, found {}",
                    m.value.type_name()
                ),
            );
            return Err(());
        };
        let mut names = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(name) if !name.trim().is_empty() => names.push(Template::parse(name.trim())),
                _ => {
                    self.error(
                        &format!("{p}/{i}"),
                        item.start,
                        "`export` elements must be variable names (non-empty strings)".to_string(),
                    );
                    ok = false;
                }
            }
        }
        if ok { Ok(names) } else { Err(()) }
    }

    pub(crate) fn app_decision(&mut self, acx: &AppCx<'a>, kind: DecisionKind) -> Option<Step> {
        let members = self.decision_members(acx)?;
        let pointer = acx.pointer.as_str();
        let export = self.export_names(members, pointer);
        let spec = match kind {
            DecisionKind::Confirm => {
                let destination = self.opt_text(members, "destination", pointer);
                let display = self.opt_text(members, "display", pointer);
                DecisionSpec::Confirm {
                    destination: destination.ok()?,
                    display: display.ok()?,
                }
            }
            DecisionKind::Cancel => {
                let description = self.opt_text(members, "description", pointer);
                let wait = self.opt_number(members, "waitBetweenRetries", pointer);
                let stop = self.opt_flag(members, "stop", pointer);
                let exclude = self.opt_flag(members, "excludeCurrentCommunication", pointer);
                let min_offering_at = self.opt_number(members, "minOfferingAt", pointer);
                DecisionSpec::Cancel {
                    description: description.ok()?,
                    wait_between_retries: wait.ok()?,
                    stop: stop.ok()?,
                    exclude_current_communication: exclude.ok()?,
                    min_offering_at: min_offering_at.ok()?,
                }
            }
            DecisionKind::Success => DecisionSpec::Success,
            DecisionKind::Abandoned => {
                let status = self.opt_text(members, "status", pointer);
                let max_attempts = self.opt_number(members, "maxAttempts", pointer);
                let wait = self.opt_number(members, "waitBetweenRetries", pointer);
                let exclude = self.opt_flag(members, "excludeCurrentCommunication", pointer);
                let redial = self.opt_flag(members, "redial", pointer);
                let agent_id = self.opt_text(members, "agentId", pointer);
                let description = self.opt_text(members, "description", pointer);
                // Accepted and not used: Webitel's call centre does not apply it either.
                let display = self.opt_flag(members, "display", pointer);
                display.ok()?;
                DecisionSpec::Abandoned {
                    status: status.ok()?,
                    max_attempts: max_attempts.ok()?,
                    wait_between_retries: wait.ok()?,
                    exclude_current_communication: exclude.ok()?,
                    redial: redial.ok()?,
                    agent_id: agent_id.ok()?,
                    description: description.ok()?,
                }
            }
            DecisionKind::Retry => {
                let sleep = self.opt_num(members, "sleep", pointer, 0);
                if let Ok(Num::Const(ms)) = sleep {
                    if ms >= MAX_RETRY_SLEEP_MS {
                        let at =
                            find_ci(members, "sleep").map_or(acx.value.start, |m| m.value.start);
                        self.error(
                            &pointer_join(pointer, "sleep"),
                            at,
                            format!("`sleep` is in milliseconds and must be under {MAX_RETRY_SLEEP_MS} (found {ms}); for a later retry use `abandoned` with `waitBetweenRetries`"),
                        );
                        return None;
                    }
                }
                let next_resource = self.opt_flag(members, "nextResource", pointer);
                let resource = self.id_field(members, "resource", None, pointer);
                DecisionSpec::Retry {
                    sleep: sleep.ok()?,
                    next_resource: next_resource.ok()?,
                    resource: resource.ok()?,
                }
            }
        };
        Some(Step::Decision(Box::new(Decision {
            spec,
            export: export.ok()?,
        })))
    }

    pub(crate) fn app_attempt_result(&mut self, acx: &AppCx<'a>) -> Option<Step> {
        let members = self.object(acx)?;
        let pointer = acx.pointer.as_str();
        let status = self.opt_text(members, "status", pointer);
        let description = self.opt_text(members, "description", pointer);
        let ready_at = self.opt_number(members, "readyAt", pointer);
        let expired_at = self.opt_number(members, "expiredAt", pointer);
        let wait = self.opt_number(members, "waitBetweenRetries", pointer);
        let sticky_display = self.opt_text(members, "stickyDisplay", pointer);
        let agent_id = self.opt_text(members, "agentId", pointer);
        let redial = self.opt_flag(members, "redial", pointer);
        let exclude = self.opt_flag(members, "excludeCurrentCommunication", pointer);
        let variables = self.object_template(members, "variables", pointer);
        let add_communications = match find_ci(members, "addCommunications") {
            None => Some(Vec::new()),
            Some(m) => {
                let p = pointer_join(pointer, &m.key);
                match m.value.as_array() {
                    Some(items) => {
                        let mut list = Vec::with_capacity(items.len());
                        let mut ok = true;
                        for (i, item) in items.iter().enumerate() {
                            match self.communication(
                                item,
                                &format!("{p}/{i}"),
                                &format!("addCommunications/{i}"),
                            ) {
                                Some(c) => list.push(c),
                                None => ok = false,
                            }
                        }
                        ok.then_some(list)
                    }
                    None => {
                        self.error(
                            &p,
                            m.value.start,
                            format!("`addCommunications` must be an array of {{destination, type, …}}, found {}", m.value.type_name()),
                        );
                        None
                    }
                }
            }
        };
        Some(Step::AttemptResult(Box::new(AttemptResultSpec {
            status: status.ok()?,
            description: description.ok()?,
            ready_at: ready_at.ok()?,
            expired_at: expired_at.ok()?,
            wait_between_retries: wait.ok()?,
            sticky_display: sticky_display.ok()?,
            agent_id: agent_id.ok()?,
            redial: redial.ok()?,
            exclude_current_communication: exclude.ok()?,
            add_communications: add_communications?,
            variables: variables.ok()?,
        })))
    }
}

/// A template that is not the empty literal.
fn non_empty(template: Template) -> Option<Template> {
    (template.as_literal() != Some("")).then_some(template)
}

/// A count as the signed numbers of the member model.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Machine<'_> {
    fn opt_number(&mut self, num: &Option<Num>, field: &str) -> Result<Option<u64>, StepError> {
        num.as_ref().map(|n| self.number(n, field)).transpose()
    }

    /// A JSON object text from an object template (`"{}"` for none).
    fn object_text(&mut self, json: &Option<JsonTemplate>) -> Option<String> {
        json.as_ref().map(|json| {
            let mut out = String::new();
            self.write_json(json, &mut out);
            out
        })
    }

    fn communication_request(
        &mut self,
        spec: &CommunicationSpec,
        what: &str,
    ) -> Result<MemberCommunication, StepError> {
        let destination = self.expand(&spec.destination).trim().to_string();
        if destination.is_empty() {
            return Err(StepError::Failed(format!(
                "`{what}.destination` expanded to nothing"
            )));
        }
        Ok(MemberCommunication {
            destination,
            kind: self.expand_opt(&spec.kind),
            display: self.expand_opt(&spec.display),
            priority: signed(self.number(&spec.priority, "priority")?),
            resource: self.expand_opt(&spec.resource),
            description: self.expand_opt(&spec.description),
        })
    }

    pub(super) fn run_callback(&mut self, spec: &CallbackSpec) -> StepResult {
        let now_ms = self.host.now_micros().div_euclid(1000);
        let request = CallbackRequest {
            queue: self.cc_ref(&spec.queue, "queue")?,
            name: spec
                .name
                .as_ref()
                .map(|n| self.expand(n).into_owned())
                .unwrap_or_default(),
            communication: self.communication_request(&spec.communication, "communication")?,
            hold_secs: self.number(&spec.hold_secs, "holdSec")?,
            priority: signed(self.number(&spec.priority, "priority")?),
            bucket: self.opt_cc_ref(&spec.bucket, "bucket")?,
            sticky_agent: self.opt_cc_ref(&spec.agent, "agent")?,
            timezone: match self.expand_opt(&spec.timezone) {
                Some(zone) if zone.parse::<chrono_tz::Tz>().is_err() => {
                    return Err(StepError::Failed(format!(
                        "`timezone` `{zone}` is not an IANA time zone (such as Europe/Kyiv)"
                    )));
                }
                zone => zone,
            },
            variables: self
                .variables_object(&spec.variables, "variables")?
                .unwrap_or_else(|| "{}".to_string()),
            expire_at_ms: self.opt_number(&spec.expire_at, "expire_at")?.map(signed),
            stop_cause: self.expand_opt(&spec.stop_cause),
        };
        if request.expire_at_ms.is_some_and(|at| at <= now_ms) {
            return Err(StepError::Failed(format!(
                "`expire_at` {} is in the past (ms since the epoch; now is {now_ms})",
                request.expire_at_ms.unwrap_or_default()
            )));
        }
        let id = self.host.member_create(&request)?;
        if self.debug {
            let line = format!("callbackQueue: member {id} created");
            self.host.log(LogLevel::Debug, &line);
        }
        Ok(Control::Next.into())
    }

    /// Member variables as a JSON object text, checked to be one (a spliced `${var}` may
    /// hold anything).
    fn variables_object(
        &mut self,
        json: &Option<JsonTemplate>,
        field: &str,
    ) -> Result<Option<String>, StepError> {
        let Some(text) = self.object_text(json) else {
            return Ok(None);
        };
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Object(_)) => Ok(Some(text)),
            _ => Err(StepError::Failed(format!(
                "`{field}` did not expand to a JSON object"
            ))),
        }
    }

    fn member_query(&mut self, spec: &QuerySpec) -> Result<MemberQuery, StepError> {
        let queues = self.expand_list(&spec.queues);
        if queues.is_empty() {
            return Err(StepError::Failed(
                "`member`: the queue ids expanded to nothing".to_string(),
            ));
        }
        let id = match self.expand_opt(&spec.id) {
            Some(text) => Some(text.trim().parse::<i64>().map_err(|_| {
                StepError::Failed(format!(
                    "`member.id` must be a whole number, found `{text}`"
                ))
            })?),
            None => None,
        };
        let today = spec
            .today
            .as_ref()
            .map(|f| self.flag(f, "today"))
            .transpose()?;
        let (created_since_ms, created_before_ms) = match today {
            None => (None, None),
            Some(today) => {
                let midnight = self.midnight_ms()?;
                if today {
                    (Some(midnight), None)
                } else {
                    (None, Some(midnight))
                }
            }
        };
        Ok(MemberQuery {
            queues,
            id,
            name: self.expand_opt(&spec.name),
            destination: self.expand_opt(&spec.destination),
            created_since_ms,
            created_before_ms,
            completed: spec
                .completed
                .as_ref()
                .map(|f| self.flag(f, "completed"))
                .transpose()?,
            bucket: self.opt_cc_ref(&spec.bucket, "bucket")?,
        })
    }

    /// Today's midnight in the flow's time zone (the flow's `timezone`, else the call's
    /// `timezone` variable, else the system's: the zone of the date helpers of expressions),
    /// ms since the epoch. Where midnight does not exist (a DST jump at 00:00) the day starts
    /// when the clock jumped to.
    fn midnight_ms(&mut self) -> Result<i64, StepError> {
        let zone = Zone::resolve(self.timezone.as_deref())
            .map_err(|reason| StepError::Failed(format!("`today`: {reason}")))?;
        let now = self.host.now_micros();
        let midnight = zone.local(now).date().and_time(NaiveTime::MIN);
        Ok(zone.instant(midnight).div_euclid(1000))
    }

    pub(super) fn run_member_info(&mut self, spec: &MemberInfoSpec) -> StepResult {
        let query = self.member_query(&spec.query)?;
        let Some(member) = self.host.member_info(&query)? else {
            return Err(StepError::Failed(format!(
                "no member in queue(s) {} matches",
                query.queues.join(", ")
            )));
        };
        let variables: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&member.variables).ok();
        for (var, property) in &spec.set {
            let value = match property {
                Property::Named("id") => member.id.to_string(),
                Property::Named("name") => member.name.clone(),
                Property::Named("priority") => member.priority.to_string(),
                Property::Named("attempts") => member.attempts.to_string(),
                Property::Named("stop_cause") => member.stop_cause.clone().unwrap_or_default(),
                Property::Named("bucket_id") => member.bucket.clone().unwrap_or_default(),
                Property::Named("count_destinations") => member.dialable_destinations.to_string(),
                Property::Named(_) => member.destinations.to_string(),
                Property::Variable(key) => match variables.as_ref().and_then(|v| v.get(&**key)) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(serde_json::Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                },
            };
            let var = self.var_name(var)?;
            self.host.set_var(&var, &value)?;
        }
        Ok(Control::Next.into())
    }

    pub(super) fn run_patch_members(&mut self, spec: &PatchSpec) -> StepResult {
        let query = self.member_query(&spec.query)?;
        let mut communications = Vec::with_capacity(spec.communications.len());
        for (i, c) in spec.communications.iter().enumerate() {
            let index = self.number(&c.index, &format!("communications/{i}/id"))?;
            communications.push(CommunicationPatch {
                index: usize::try_from(index).unwrap_or(usize::MAX),
                destination: self.expand_opt(&c.destination),
                kind: self.expand_opt(&c.kind),
                display: c.display.as_ref().map(|d| self.expand(d).into_owned()),
                priority: self.opt_number(&c.priority, "priority")?.map(signed),
                resource: self.expand_opt(&c.resource),
                description: c.description.as_ref().map(|d| self.expand(d).into_owned()),
            });
        }
        let patch = MembersPatch {
            name: spec.name.as_ref().map(|n| self.expand(n).into_owned()),
            priority: self.opt_number(&spec.priority, "priority")?.map(signed),
            bucket: self.opt_cc_ref(&spec.bucket, "bucket")?,
            queue: self.expand_opt(&spec.queue).map(|id| CcRef {
                id: Some(id),
                name: None,
            }),
            ready_at_ms: self.opt_number(&spec.ready_at, "readyAt")?.map(signed),
            stop_cause: self.expand_opt(&spec.stop_cause),
            variables: self.variables_object(&spec.variables, "variables")?,
            communications,
        };
        let changed = self.host.patch_members(&query, &patch)?;
        if self.debug {
            let line = format!("patchMembers: {changed} member(s) changed");
            self.host.log(LogLevel::Debug, &line);
        }
        Ok(Control::Next.noted(if changed == 0 {
            "no member matched"
        } else {
            "ok"
        }))
    }

    pub(super) fn run_decision(&mut self, decision: &Decision) -> StepResult {
        let mut export = Vec::with_capacity(decision.export.len());
        for name in &decision.export {
            let name = self.var_name(name)?;
            let value = self.host.var(&name).unwrap_or_default();
            export.push((name, value));
        }
        let request = match &decision.spec {
            DecisionSpec::Confirm {
                destination,
                display,
            } => AttemptDecision::Confirm {
                destination: self.expand_opt(destination),
                display: self.expand_opt(display),
                export,
            },
            DecisionSpec::Cancel {
                description,
                wait_between_retries,
                stop,
                exclude_current_communication,
                min_offering_at,
            } => AttemptDecision::Cancel {
                description: self.expand_opt(description),
                wait_between_retries_secs: self
                    .opt_number(wait_between_retries, "waitBetweenRetries")?,
                stop: self.flag(stop, "stop")?,
                exclude_current_communication: self
                    .flag(exclude_current_communication, "excludeCurrentCommunication")?,
                min_offering_at_ms: self
                    .opt_number(min_offering_at, "minOfferingAt")?
                    .map(signed),
                export,
            },
            DecisionSpec::Success => AttemptDecision::Success { export },
            DecisionSpec::Abandoned {
                status,
                max_attempts,
                wait_between_retries,
                exclude_current_communication,
                redial,
                agent_id,
                description,
            } => {
                let status = self
                    .expand_opt(status)
                    .unwrap_or_else(|| "abandoned".to_string());
                if status == "success" {
                    AttemptDecision::Success { export }
                } else {
                    AttemptDecision::Abandoned {
                        status,
                        // 0 = the queue's, as in Webitel.
                        max_attempts: self
                            .opt_number(max_attempts, "maxAttempts")?
                            .filter(|n| *n > 0)
                            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
                        wait_between_retries_secs: self
                            .opt_number(wait_between_retries, "waitBetweenRetries")?
                            .filter(|n| *n > 0),
                        exclude_current_communication: self
                            .flag(exclude_current_communication, "excludeCurrentCommunication")?,
                        redial: self.flag(redial, "redial")?,
                        sticky_agent: self.expand_opt(agent_id),
                        description: self.expand_opt(description),
                        export,
                    }
                }
            }
            DecisionSpec::Retry {
                sleep,
                next_resource,
                resource,
            } => {
                let sleep_ms = self.number(sleep, "sleep")?;
                if sleep_ms >= MAX_RETRY_SLEEP_MS {
                    return Err(StepError::Failed(format!(
                        "`sleep` is in milliseconds and must be under {MAX_RETRY_SLEEP_MS} (found {sleep_ms})"
                    )));
                }
                AttemptDecision::Retry {
                    sleep_ms,
                    next_resource: self.flag(next_resource, "nextResource")?,
                    resource: self.expand_opt(resource),
                    export,
                }
            }
        };
        let expected = request.context();
        if self.context != RunContext::Call && self.context != expected {
            return Err(StepError::Failed(format!(
                "`{}` answers a queue's {} flow, not its {} flow",
                request.app(),
                expected.as_str(),
                self.context.as_str()
            )));
        }
        self.host.attempt_decision(&request)?;
        self.decision = Some(request);
        Ok(Control::Stop.noted("decided"))
    }

    pub(super) fn run_attempt_result(&mut self, spec: &AttemptResultSpec) -> StepResult {
        let attempt = self.host.var("attempt_id").unwrap_or_default();
        let attempt_id = match attempt.trim() {
            "" => {
                return Err(StepError::Failed(
                    "the variable `attempt_id` is not set: attemptResult reports on the attempt it names".to_string(),
                ));
            }
            text => text.parse::<i64>().map_err(|_| {
                StepError::Failed(format!(
                    "the variable `attempt_id` must be a whole number, found `{text}`"
                ))
            })?,
        };
        let mut add_communications = Vec::with_capacity(spec.add_communications.len());
        for (i, c) in spec.add_communications.iter().enumerate() {
            add_communications
                .push(self.communication_request(c, &format!("addCommunications/{i}"))?);
        }
        let request = AttemptResultRequest {
            attempt_id,
            status: self
                .expand_opt(&spec.status)
                .unwrap_or_else(|| "abandoned".to_string()),
            description: self.expand_opt(&spec.description),
            ready_at_ms: self.opt_number(&spec.ready_at, "readyAt")?.map(signed),
            expire_at_ms: self.opt_number(&spec.expired_at, "expiredAt")?.map(signed),
            wait_between_retries_secs: self
                .opt_number(&spec.wait_between_retries, "waitBetweenRetries")?,
            sticky_display: self.expand_opt(&spec.sticky_display),
            sticky_agent: self.expand_opt(&spec.agent_id),
            redial: self.flag(&spec.redial, "redial")?,
            exclude_current_communication: self.flag(
                &spec.exclude_current_communication,
                "excludeCurrentCommunication",
            )?,
            add_communications,
            variables: self.result_variables(&spec.variables)?,
        };
        self.host.attempt_result(&request)?;
        Ok(Control::Next.into())
    }

    /// `attemptResult.variables` over the flow's exported variables (Webitel adds those).
    fn result_variables(
        &mut self,
        json: &Option<JsonTemplate>,
    ) -> Result<Option<String>, StepError> {
        let mut merged = serde_json::Map::new();
        for name in self.exported.clone() {
            if let Some(value) = self.host.var(&name) {
                merged.insert(name, serde_json::Value::String(value));
            }
        }
        if let Some(text) = self.variables_object(json, "variables")? {
            if let Ok(serde_json::Value::Object(given)) = serde_json::from_str(&text) {
                merged.extend(given);
            }
        }
        Ok((!merged.is_empty()).then(|| serde_json::Value::Object(merged).to_string()))
    }
}
