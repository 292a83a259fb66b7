//! The queue applications' host side, shared by every host of the engine (the module's
//! sessions and the simulator): the engine's contact-centre requests turned into store
//! calls, and the answers turned back. Hosts keep only what is theirs: the call, its media
//! and its clock.

use rustflow_engine::{
    AgentCounts, AgentOffer, BridgedCall, CalendarQuery, CalendarStatus, CcRef, EwtQuery,
    HostError, LastBridgedQuery, MetricAggregate, MetricQuery, QueueJoin, QueueMetric, QueueTarget,
};

use crate::calendar::CalendarState;

pub mod outbound;

use crate::model::AgentContact;
use crate::service::{self, Aggregate, LastBridgedFilter, Metric};
use crate::store::{JoinRequest, Ms, OfferedAgent, Store, StoreError};

/// A store failure as the engine sees it.
pub fn failed(e: StoreError) -> HostError {
    HostError::Failed(e.to_string())
}

/// How the store knows a queue, agent or bucket the flow named: its id, else its name.
pub fn key(r: &CcRef) -> String {
    r.id.clone().or_else(|| r.name.clone()).unwrap_or_default()
}

/// The caller's side of a join, as the host knows it.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub call_id: String,
    pub number: String,
    pub name: String,
    pub destination: String,
    /// The node that holds the call.
    pub node: String,
    /// Variables carried to the agent leg (JSON object text).
    pub variables: String,
}

/// The store request of a `joinQueue` / `joinAgent`.
pub fn join_request(join: &QueueJoin, caller: Caller) -> JoinRequest {
    let (queue, target_agent) = match &join.target {
        QueueTarget::Queue(r) => (key(r), None),
        QueueTarget::Agent(r) => (join.queue_name.clone().unwrap_or_default(), Some(key(r))),
    };
    JoinRequest {
        queue,
        target_agent,
        call_id: caller.call_id,
        caller_number: caller.number,
        caller_name: caller.name,
        destination: caller.destination,
        node: caller.node,
        priority: join.priority,
        bucket: join.bucket.as_ref().map(key),
        sticky_agent: join.sticky_agent.as_ref().map(key),
        ring_timeout_secs: join.timeout_secs,
        variables: if caller.variables.is_empty() {
            "{}".to_string()
        } else {
            caller.variables
        },
    }
}

/// The offer as the flow sees it (`cc_agent_*`): the first agent of the reservation.
pub fn agent_offer(agent: &OfferedAgent, agent_call_id: String) -> AgentOffer {
    AgentOffer {
        agent_id: agent.id.clone(),
        agent_name: agent.name.clone(),
        extension: match &agent.contact {
            AgentContact::User { extension, .. } => extension.clone(),
            _ => String::new(),
        },
        agent_call_id,
    }
}

/// `ccPosition`: 1 = next; 0 = not waiting.
pub fn position(store: &dyn Store, attempt: Option<i64>) -> Result<u32, HostError> {
    match attempt {
        Some(a) => store.position(a).map_err(failed),
        None => Ok(0),
    }
}

/// `ewt`: seconds, or `None` when unknown.
pub fn estimated_wait(
    store: &dyn Store,
    attempt: Option<i64>,
    query: &EwtQuery,
    now: Ms,
) -> Result<Option<f64>, HostError> {
    service::estimated_wait(store, attempt, &query.queues, query.lookback_minutes, now)
        .map_err(failed)
}

/// `getQueueAgents`.
pub fn agent_counts(store: &dyn Store, queue: &CcRef, now: Ms) -> Result<AgentCounts, HostError> {
    let c = store.agent_counts(&key(queue), now).map_err(failed)?;
    Ok(AgentCounts {
        count: c.count,
        online: c.online,
        offline: c.offline,
        pause: c.pause,
        waiting: c.waiting,
    })
}

/// `getQueueMetrics`: `None` = no data.
pub fn metric(store: &dyn Store, query: &MetricQuery, now: Ms) -> Result<Option<f64>, HostError> {
    let aggregate = |a: MetricAggregate| match a {
        MetricAggregate::Avg => Aggregate::Avg,
        MetricAggregate::Min => Aggregate::Min,
        MetricAggregate::Max => Aggregate::Max,
    };
    let metric = match query.metric {
        QueueMetric::WaitTime(a) => Metric::WaitTime(aggregate(a)),
        QueueMetric::TalkTime(a) => Metric::TalkTime(aggregate(a)),
        QueueMetric::ServiceLevel { sl_secs } => Metric::ServiceLevel { sl_secs },
    };
    let bucket = query.bucket.as_ref().map(key);
    service::queue_metric(
        store,
        &key(&query.queue),
        bucket.as_deref(),
        metric,
        query.last_minutes,
        now,
    )
    .map_err(failed)
}

/// `lastBridged`: the newest matching call with every property Part C names, the call's
/// variables included (`variables.KEY`).
pub fn last_bridged(
    store: &dyn Store,
    query: &LastBridgedQuery,
    now: Ms,
) -> Result<Option<BridgedCall>, HostError> {
    let filter = LastBridgedFilter {
        dialer: query.dialer.clone(),
        inbound: query.inbound.clone(),
        outbound: query.outbound.clone(),
        queue_ids: query.queue_ids.clone(),
    };
    let found =
        service::last_bridged(store, &query.number, query.hours, &filter, now).map_err(failed)?;
    Ok(found.map(|record| {
        let mut fields: Vec<(String, String)> = rustflow_engine::LAST_BRIDGED_PROPERTIES
            .iter()
            .filter_map(|n| service::bridged_property(&record, n).map(|v| (n.to_string(), v)))
            .collect();
        if let Ok(serde_json::Value::Object(vars)) =
            serde_json::from_str::<serde_json::Value>(&record.variables)
        {
            for k in vars.keys() {
                let name = format!("variables.{k}");
                if let Some(v) = service::bridged_property(&record, &name) {
                    fields.push((name, v));
                }
            }
        }
        BridgedCall { fields }
    }))
}

/// `calendar`: the state now of the store's calendar with this id (else this name).
pub fn calendar(
    store: &dyn Store,
    query: &CalendarQuery,
    now: Ms,
) -> Result<CalendarStatus, HostError> {
    let setup = store.setup().map_err(failed)?;
    let found = setup
        .calendars
        .iter()
        .find(|c| query.id.as_ref().is_some_and(|id| &c.id == id))
        .or_else(|| {
            setup
                .calendars
                .iter()
                .find(|c| query.name.as_ref().is_some_and(|name| &c.name == name))
        });
    let Some(calendar) = found else {
        let named = [query.id.as_deref(), query.name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / ");
        return Err(HostError::Failed(format!(
            "no calendar `{named}` in the contact-centre store"
        )));
    };
    Ok(match calendar.state_at(now) {
        CalendarState::Open => CalendarStatus::Open,
        CalendarState::Closed => CalendarStatus::Closed,
        CalendarState::Expired => CalendarStatus::Expired,
        CalendarState::Exception(name) => CalendarStatus::Exception(name),
    })
}
