//! The outbound side of the queue applications, shared by every host: members
//! (`callbackQueue`, `memberInfo`, `patchMembers`), outcomes (`attemptResult` and the attempt
//! flows' decisions) as store writes, what an attempt flow reads (its variables), and the
//! call-less host those flows run on ([`AttemptHost`]).

use std::collections::BTreeMap;

use rustflow_engine::{
    AttemptDecision, AttemptResultRequest, BridgeResult, CallbackRequest, ExportScope, HangupCause,
    Host, HostError, HostResult, HttpRequest, HttpResponse, LogLevel, MemberCommunication,
    MemberFacts, MemberQuery, MembersPatch, PlayFile, PlayOutcome,
};

use super::{failed, key};
use crate::model::{Communication, Member, Queue};
use crate::store::{
    AttemptOutcome, CommunicationPatch, MemberAfter, MemberFilter, MemberPatch, Ms,
    OutboundAttempt, Store,
};

fn communication(c: &MemberCommunication) -> Communication {
    Communication {
        kind: c.kind.clone(),
        display: c.display.clone(),
        priority: c.priority,
        resource: c.resource.clone(),
        description: c.description.clone(),
        ..Communication::number(c.destination.clone())
    }
}

/// `callbackQueue`: the new member's id. The store refuses what it cannot dial (an unknown
/// or inbound queue, a bad number or time zone) with a message naming the field.
pub fn member_create(store: &dyn Store, request: &CallbackRequest, now: Ms) -> HostResult<i64> {
    let mut member = Member::new(
        key(&request.queue),
        request.communication.destination.clone(),
    );
    member.name = request.name.clone();
    member.priority = request.priority;
    member.bucket = request.bucket.as_ref().map(key);
    member.sticky_agent = request.sticky_agent.as_ref().map(key);
    member.timezone = request.timezone.clone();
    member.variables = request.variables.clone();
    member.communications = vec![communication(&request.communication)];
    member.ready_at_ms = (request.hold_secs > 0).then(|| {
        now.saturating_add(i64::try_from(request.hold_secs).unwrap_or(i64::MAX / 1_000) * 1_000)
    });
    member.expire_at_ms = request.expire_at_ms;
    member.stop_cause = request.stop_cause.clone();
    let ids = store.add_members(&[member], now).map_err(failed)?;
    ids.first()
        .copied()
        .ok_or_else(|| HostError::Failed("the store created no member".to_string()))
}

/// The store's filter of a `member` object.
fn filter(query: &MemberQuery) -> MemberFilter {
    MemberFilter {
        queues: query.queues.clone(),
        id: query.id,
        name: query.name.clone(),
        destination: query.destination.clone(),
        created_since_ms: query.created_since_ms,
        created_before_ms: query.created_before_ms,
        completed: query.completed,
        bucket: query.bucket.as_ref().map(key),
    }
}

/// `memberInfo`: the first matching member (lowest id).
pub fn member_info(store: &dyn Store, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
    let found = store.members(&filter(query), 1).map_err(failed)?;
    Ok(found.into_iter().next().map(|m| {
        let dialable = m.communications.iter().filter(|c| !c.excluded).count();
        MemberFacts {
            id: m.id,
            name: m.name,
            priority: m.priority,
            attempts: m.attempts,
            stop_cause: m.stop_cause,
            bucket: m.bucket,
            dialable_destinations: u32::try_from(dialable).unwrap_or(u32::MAX),
            destinations: u32::try_from(m.communications.len()).unwrap_or(u32::MAX),
            variables: m.variables,
        }
    }))
}

/// `patchMembers`: how many members changed (one transaction).
pub fn patch_members(
    store: &dyn Store,
    query: &MemberQuery,
    patch: &MembersPatch,
    now: Ms,
) -> HostResult<usize> {
    let patch = MemberPatch {
        name: patch.name.clone(),
        priority: patch.priority,
        bucket: patch.bucket.as_ref().map(key),
        queue: patch.queue.as_ref().map(key),
        ready_at_ms: patch.ready_at_ms,
        stop_cause: patch.stop_cause.clone(),
        variables: patch.variables.clone(),
        communications: patch
            .communications
            .iter()
            .map(|c| {
                (
                    c.index,
                    CommunicationPatch {
                        destination: c.destination.clone(),
                        kind: c.kind.clone(),
                        display: c.display.clone(),
                        priority: c.priority,
                        resource: c.resource.clone(),
                        description: c.description.clone(),
                    },
                )
            })
            .collect(),
    };
    store
        .patch_members(&filter(query), &patch, now)
        .map_err(failed)
}

/// `attemptResult` (an agent's wrap-up, from a flow or `rustflow cc attempt-result`): the
/// member's outcome. Idempotent: the first outcome of an attempt holds.
pub fn attempt_result_outcome(request: &AttemptResultRequest) -> AttemptOutcome {
    let status = if request.status.is_empty() {
        "abandoned"
    } else {
        request.status.as_str()
    };
    // Webitel: these statuses finish the member, and a time for the next attempt is dropped.
    let finishing = matches!(
        status,
        "success" | "cancel" | "canceled_by_timeout" | "terminate"
    );
    AttemptOutcome {
        description: request.description.clone(),
        stop: finishing,
        wait_between_retries_secs: request.wait_between_retries_secs,
        ready_at_ms: if finishing { None } else { request.ready_at_ms },
        exclude_current_communication: request.exclude_current_communication,
        redial: request.redial,
        sticky_agent: request.sticky_agent.clone(),
        expire_at_ms: request.expire_at_ms,
        counts_attempt: true,
        variables: request.variables.clone(),
        add_communications: request
            .add_communications
            .iter()
            .map(communication)
            .collect(),
        ..AttemptOutcome::result(status)
    }
}

/// Writes an `attemptResult`; the member as it is now (the first outcome of the attempt
/// holds).
pub fn attempt_result(
    store: &dyn Store,
    request: &AttemptResultRequest,
    now: Ms,
) -> HostResult<MemberAfter> {
    store
        .finish_outbound(request.attempt_id, &attempt_result_outcome(request), now)
        .map_err(failed)
}

/// The exported variables of a decision, as a JSON object text for the member.
fn exported(export: &[(String, String)]) -> Option<String> {
    (!export.is_empty()).then(|| {
        serde_json::Value::Object(
            export
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
        .to_string()
    })
}

/// The member's outcome of a pre-attempt `cancel`: not dialled now, not counted as an
/// attempt; retried after its wait (the queue's when the flow gave none), or finished.
pub fn cancel_outcome(decision: &AttemptDecision, now: Ms) -> AttemptOutcome {
    let AttemptDecision::Cancel {
        description,
        wait_between_retries_secs,
        stop,
        exclude_current_communication,
        min_offering_at_ms,
        export,
    } = decision
    else {
        return AttemptOutcome::result("cancel");
    };
    AttemptOutcome {
        description: description.clone(),
        stop: *stop,
        wait_between_retries_secs: *wait_between_retries_secs,
        ready_at_ms: min_offering_at_ms.filter(|at| *at > now),
        exclude_current_communication: *exclude_current_communication,
        counts_attempt: false,
        variables: exported(export),
        ..AttemptOutcome::result("cancel")
    }
}

/// The member's outcome of an after-attempt flow's decision on an attempt that ended with
/// `result`. `retry` dials the member again as soon as the pause is over, through the
/// resource the flow named when it named one.
pub fn after_outcome(decision: &AttemptDecision, result: &str, now: Ms) -> AttemptOutcome {
    match decision {
        AttemptDecision::Success { export } => AttemptOutcome {
            variables: exported(export),
            ..AttemptOutcome::result("success")
        },
        AttemptDecision::Abandoned {
            status,
            max_attempts,
            wait_between_retries_secs,
            exclude_current_communication,
            redial,
            sticky_agent,
            description,
            export,
        } => AttemptOutcome {
            description: description.clone(),
            max_attempts: *max_attempts,
            wait_between_retries_secs: *wait_between_retries_secs,
            exclude_current_communication: *exclude_current_communication,
            redial: *redial,
            sticky_agent: sticky_agent.clone(),
            variables: exported(export),
            ..AttemptOutcome::result(status.clone())
        },
        AttemptDecision::Retry {
            sleep_ms,
            resource,
            export,
            ..
        } => AttemptOutcome {
            ready_at_ms: Some(now + i64::try_from(*sleep_ms).unwrap_or(0)),
            redial: true,
            resource: resource.clone(),
            variables: exported(export),
            ..AttemptOutcome::result("retry")
        },
        // A pre-attempt answer in an after-attempt flow is refused by the engine; the
        // result stands.
        AttemptDecision::Confirm { .. } | AttemptDecision::Cancel { .. } => default_outcome(result),
    }
}

/// The member's outcome when no flow decided: `success` finishes it; anything else is
/// retried while attempts remain.
pub fn default_outcome(result: &str) -> AttemptOutcome {
    AttemptOutcome::result(result)
}

/// The attempt's result when the member's phone did not answer: FreeSWITCH's hangup cause
/// of the failed originate, read as `bridge` reads it.
pub fn dial_result(cause: u32) -> &'static str {
    match rustflow_engine::causes::bridge_result(cause) {
        BridgeResult::Busy => "busy",
        BridgeResult::NoAnswer => "no_answer",
        BridgeResult::Cancelled => "cancel",
        BridgeResult::Answered | BridgeResult::Failed => "failed",
    }
}

/// How long an outbound attempt may stay reserved before the janitor gives the member back:
/// the member's ring and an agent's, with room.
pub fn attempt_lease_ms(queue: &Queue) -> Ms {
    let secs = queue.dial_timeout_secs + queue.ring_timeout_secs + 30;
    i64::try_from(secs).unwrap_or(i64::MAX / 2_000) * 1_000
}

/// What an attempt flow and the attempt's events know about the attempt.
#[derive(Debug, Clone)]
pub struct AttemptFacts {
    pub attempt: i64,
    pub queue_id: String,
    pub member_id: i64,
    pub member_name: String,
    /// The number dialled (the communication's).
    pub destination: String,
    /// The caller id shown to the member: the communication's `display`, else the queue's.
    pub display: Option<String>,
    pub communication: Communication,
    /// Its position in the member's communications.
    pub communication_index: usize,
    /// This attempt's number (1 = first).
    pub seq: u32,
    pub timezone: Option<String>,
    pub bucket: Option<String>,
    /// The member's variables (JSON object text).
    pub member_variables: String,
    pub stop_cause: Option<String>,
    /// When the attempt started.
    pub joined_at_ms: Ms,
}

impl AttemptFacts {
    pub fn new(queue: &Queue, attempt: &OutboundAttempt, now: Ms) -> AttemptFacts {
        let member = &attempt.member;
        let communication = member
            .communications
            .get(attempt.communication)
            .cloned()
            .unwrap_or_else(|| Communication::number(""));
        AttemptFacts {
            attempt: attempt.attempt,
            queue_id: queue.id.clone(),
            member_id: member.id,
            member_name: member.name.clone(),
            destination: communication.destination.clone(),
            display: communication
                .display
                .clone()
                .or_else(|| queue.caller_id_number.clone()),
            communication_index: attempt.communication,
            communication,
            seq: member.attempts + 1,
            timezone: member.timezone.clone(),
            bucket: member.bucket.clone(),
            member_variables: member.variables.clone(),
            stop_cause: member.stop_cause.clone(),
            joined_at_ms: now,
        }
    }

    /// Reads an outbound attempt back from the store (on the thread of its answered leg):
    /// its queue and facts, `None` when it is not an outbound attempt.
    pub fn load(
        store: &dyn Store,
        attempt: i64,
    ) -> crate::store::StoreResult<Option<(Queue, AttemptFacts)>> {
        let Some(record) = store.attempt(attempt)? else {
            return Ok(None);
        };
        let (Some(member_id), Some(index)) = (record.member_id, record.communication) else {
            return Ok(None);
        };
        let Some(member) = store.member(member_id)? else {
            return Ok(None);
        };
        let setup = store.setup()?;
        let Some(queue) = setup
            .queues
            .iter()
            .find(|q| q.id == record.queue_id)
            .cloned()
        else {
            return Ok(None);
        };
        // The member's count already includes this attempt once it has one open.
        let mut facts = AttemptFacts::new(
            &queue,
            &OutboundAttempt {
                attempt,
                member,
                communication: index,
                agent: None,
            },
            record.joined_at_ms,
        );
        facts.seq = facts.seq.max(1);
        Ok(Some((queue, facts)))
    }

    /// The variables of an attempt flow (Webitel's names): the member's variables, then the
    /// attempt's; `ended`: the attempt's result and the member leg's hangup cause, for the
    /// after-attempt flow.
    pub fn variables(&self, ended: Option<(&str, &str)>, now: Ms) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = Vec::new();
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(&self.member_variables)
        {
            for (k, v) in map {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                vars.push((k, text));
            }
        }
        let c = &self.communication;
        let mut put = |k: &str, v: String| vars.push((k.to_string(), v));
        put("attempt_id", self.attempt.to_string());
        put("queue_id", self.queue_id.clone());
        put("member_id", self.member_id.to_string());
        put("member_name", self.member_name.clone());
        put("destination", self.destination.clone());
        put("destination_type", c.kind.clone().unwrap_or_default());
        put(
            "destination_description",
            c.description.clone().unwrap_or_default(),
        );
        put("destination_seq", self.communication_index.to_string());
        put("communication_id", self.communication_index.to_string());
        put("cc_attempt_seq", self.seq.to_string());
        put("cc_resource_id", c.resource.clone().unwrap_or_default());
        put("member_timezone", self.timezone.clone().unwrap_or_default());
        put(
            "member_stop_cause",
            self.stop_cause.clone().unwrap_or_default(),
        );
        put("bucket_id", self.bucket.clone().unwrap_or_default());
        put("joined_at", self.joined_at_ms.to_string());
        put("timestamp", now.to_string());
        if let Some((result, cause)) = ended {
            put("cc_result", result.to_string());
            put("call_cause", cause.to_string());
        }
        vars
    }
}

/// How an attempt flow's `httpRequest` is made (the module's client; none in the simulator).
pub type Fetch<'s> = &'s dyn Fn(&HttpRequest) -> HostResult<HttpResponse>;

/// The host of a queue's attempt flow: no call (the engine refuses media and call control
/// before they reach it), the attempt's variables as the flow's variables, the store for the
/// member applications, and the decision the flow gives.
pub struct AttemptHost<'s> {
    store: &'s dyn Store,
    id: String,
    vars: BTreeMap<String, String>,
    clock: &'s dyn Fn() -> Ms,
    log: &'s dyn Fn(LogLevel, &str),
    http: Option<Fetch<'s>>,
    /// The flow's answer (`confirm`, `cancel`, `success`, `abandoned`, `retry`).
    pub decision: Option<AttemptDecision>,
}

impl<'s> AttemptHost<'s> {
    /// `id`: how log lines name the run (`attempt 12`).
    pub fn new(
        store: &'s dyn Store,
        id: String,
        variables: Vec<(String, String)>,
        clock: &'s dyn Fn() -> Ms,
        log: &'s dyn Fn(LogLevel, &str),
    ) -> AttemptHost<'s> {
        AttemptHost {
            store,
            id,
            vars: variables.into_iter().collect(),
            clock,
            log,
            http: None,
            decision: None,
        }
    }

    /// Lets the flow make HTTP requests (a CRM lookup before a dial) through `http`.
    pub fn with_http(mut self, http: Fetch<'s>) -> Self {
        self.http = Some(http);
        self
    }

    fn no_call() -> HostError {
        HostError::Failed("a queue's attempt flow runs without a call".to_string())
    }
}

impl Host for AttemptHost<'_> {
    fn uuid(&self) -> &str {
        &self.id
    }
    fn is_up(&mut self) -> bool {
        true
    }
    fn now_micros(&mut self) -> i64 {
        (self.clock)().saturating_mul(1_000)
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        (self.log)(level, message);
    }
    fn var(&mut self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn global_var(&mut self, _name: &str) -> Option<String> {
        None
    }
    fn set_var(&mut self, name: &str, value: &str) -> HostResult<()> {
        self.vars.insert(name.to_string(), value.to_string());
        Ok(())
    }
    fn unset_var(&mut self, name: &str) -> HostResult<()> {
        self.vars.remove(name);
        Ok(())
    }
    fn export_var(&mut self, name: &str, value: &str, _scope: ExportScope) -> HostResult<()> {
        self.set_var(name, value)
    }
    fn ring_ready(&mut self) -> HostResult<()> {
        Err(Self::no_call())
    }
    fn pre_answer(&mut self) -> HostResult<()> {
        Err(Self::no_call())
    }
    fn answer(&mut self) -> HostResult<()> {
        Err(Self::no_call())
    }
    fn hangup(&mut self, _cause: HangupCause) -> HostResult<()> {
        Err(Self::no_call())
    }
    fn play(
        &mut self,
        _files: &[PlayFile],
        _capture: Option<&rustflow_engine::DigitCapture>,
    ) -> HostResult<PlayOutcome> {
        Err(Self::no_call())
    }
    fn sleep(&mut self, ms: u64) -> HostResult<()> {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(())
    }
    fn soft_sleep(&mut self, ms: u64) -> HostResult<()> {
        self.sleep(ms)
    }
    fn http(&mut self, request: &HttpRequest) -> HostResult<HttpResponse> {
        match self.http {
            Some(http) => http(request),
            None => Err(HostError::Failed(
                "httpRequest is not available to attempt flows on this host".to_string(),
            )),
        }
    }
    fn member_create(&mut self, request: &CallbackRequest) -> HostResult<i64> {
        member_create(self.store, request, (self.clock)())
    }
    fn member_info(&mut self, query: &MemberQuery) -> HostResult<Option<MemberFacts>> {
        member_info(self.store, query)
    }
    fn patch_members(&mut self, query: &MemberQuery, patch: &MembersPatch) -> HostResult<usize> {
        patch_members(self.store, query, patch, (self.clock)())
    }
    fn attempt_decision(&mut self, decision: &AttemptDecision) -> HostResult<()> {
        self.decision = Some(decision.clone());
        Ok(())
    }
    fn attempt_result(&mut self, request: &AttemptResultRequest) -> HostResult<()> {
        attempt_result(self.store, request, (self.clock)()).map(|_| ())
    }
}
