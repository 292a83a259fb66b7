//! The questions the queue applications ask, answered from a [`Store`] the same way for
//! every host (the FreeSWITCH module and the simulator): `getQueueMetrics`, `ewt`,
//! `getQueueAgents` and `lastBridged`.

use crate::ewt::{EwtInput, EwtSettings, HandleSample, WaitSample, estimate};
use crate::metrics::{Finished, Window, service_level_percent, talk_time, wait_time};
use crate::model::{AgentSkill, Queue, Setup};
use crate::store::sqlite::skills_fit;
use crate::store::{
    AgentStatus, AgentView, AttemptRecord, AttemptState, Ms, Store, StoreError, StoreResult,
};

/// A queue named by id or name.
pub fn find_queue<'a>(setup: &'a Setup, key: &str) -> StoreResult<&'a Queue> {
    setup
        .queues
        .iter()
        .find(|q| q.id == key)
        .or_else(|| setup.queues.iter().find(|q| q.name == key))
        .ok_or_else(|| StoreError::NotFound(format!("queue `{key}`")))
}

/// avg / min / max.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Avg,
    Min,
    Max,
}

/// What `getQueueMetrics` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    WaitTime(Aggregate),
    TalkTime(Aggregate),
    /// % of attempts bridged within `sl_secs` of joining, over all finished attempts.
    ServiceLevel {
        sl_secs: u64,
    },
}

/// `getQueueMetrics` over the finished attempts of a queue (and bucket) that joined in the
/// last `last_minutes`; `None` when there is none.
pub fn queue_metric(
    store: &dyn Store,
    queue: &str,
    bucket: Option<&str>,
    metric: Metric,
    last_minutes: u64,
    now: Ms,
) -> StoreResult<Option<f64>> {
    let setup = store.setup()?;
    let queue = find_queue(&setup, queue)?;
    let bucket = match bucket {
        Some(key) => Some(
            setup
                .buckets
                .iter()
                .find(|b| b.id == key || b.name == key)
                .map(|b| b.id.clone())
                .ok_or_else(|| StoreError::NotFound(format!("bucket `{key}`")))?,
        ),
        None => None,
    };
    let since = now - last_minutes as i64 * 60_000;
    let records: Vec<Finished> = store
        .history(Some(&queue.id), since)?
        .iter()
        .filter_map(AttemptRecord::finished)
        .collect();
    let window = Window {
        now_ms: now,
        last_minutes: u32::try_from(last_minutes).ok(),
        bucket: bucket.as_deref(),
    };
    let chosen = window.select(&records);
    let pick = |s: Option<crate::metrics::Summary>, a: Aggregate| {
        s.map(|s| match a {
            Aggregate::Avg => s.avg,
            Aggregate::Min => s.min,
            Aggregate::Max => s.max,
        })
    };
    Ok(match metric {
        Metric::WaitTime(a) => pick(wait_time(chosen), a),
        Metric::TalkTime(a) => pick(talk_time(chosen), a),
        Metric::ServiceLevel { sl_secs } => service_level_percent(chosen, sl_secs as f64),
    })
}

/// `ewt`: the estimated wait of the caller of `attempt` when it waits in one of `queues`
/// (all queues it could wait in when empty), else of a caller joining the first of them
/// now. `None` = unknown (see [`crate::ewt`]).
pub fn estimated_wait(
    store: &dyn Store,
    attempt: Option<i64>,
    queues: &[String],
    lookback_minutes: u64,
    now: Ms,
) -> StoreResult<Option<f64>> {
    let setup = store.setup()?;
    let current = match attempt {
        Some(id) => store.attempt(id)?,
        None => None,
    };
    let queue_ids: Vec<String> = if queues.is_empty() {
        current.iter().map(|a| a.queue_id.clone()).collect()
    } else {
        queues
            .iter()
            .map(|k| find_queue(&setup, k).map(|q| q.id.clone()))
            .collect::<StoreResult<_>>()?
    };
    let Some(first) = queue_ids.first() else {
        return Ok(None);
    };
    let history_queue = (queue_ids.len() == 1).then_some(first.as_str());
    let since = now - lookback_minutes as i64 * 60_000;
    let waiting = store.waiting()?;
    let agents = store.agents(now)?;
    let history = store.history(history_queue, since)?;
    let reading = EwtReading::new(
        store,
        &setup,
        &waiting,
        &agents,
        &history,
        lookback_minutes,
        now,
    )?;
    let waiting_here = current.as_ref().filter(|a| {
        matches!(a.state, AttemptState::Waiting | AttemptState::Offering)
            && queue_ids.contains(&a.queue_id)
    });
    let position = match waiting_here {
        Some(a) => store.position(a.id)?,
        None => reading.joining_position(&queue_ids),
    };
    let queue = find_queue(&setup, first)?;
    Ok(reading.estimate(queue, &queue_ids, position))
}

/// `ewt` of a caller joining each queue of `setup` now, in its order: what `estimated_wait`
/// gives each alone, from what the caller already read of the store at `now` (every waiting
/// caller, every agent, the attempts that joined within the lookback or longer); only the
/// free agents are read here.
pub fn estimated_waits_joining_now(
    store: &dyn Store,
    setup: &Setup,
    waiting: &[AttemptRecord],
    agents: &[AgentView],
    history: &[AttemptRecord],
    lookback_minutes: u64,
    now: Ms,
) -> StoreResult<Vec<Option<f64>>> {
    let reading = EwtReading::new(
        store,
        setup,
        waiting,
        agents,
        history,
        lookback_minutes,
        now,
    )?;
    Ok(setup
        .queues
        .iter()
        .map(|queue| {
            let ids = std::slice::from_ref(&queue.id);
            reading.estimate(queue, ids, reading.joining_position(ids))
        })
        .collect())
}

/// What an estimate needs of the store at one moment, for any number of queues.
struct EwtReading<'a> {
    setup: &'a Setup,
    /// Every caller waiting now.
    waiting: &'a [AttemptRecord],
    /// Agents free to take a caller now.
    free: std::collections::HashSet<String>,
    /// Every agent's runtime view (the online ones count).
    agents: &'a [AgentView],
    /// Per agent of the setup, the queues it has a tier on and its skills.
    tiers: std::collections::HashMap<&'a str, (Vec<&'a str>, &'a [AgentSkill])>,
    /// Attempts that joined within the lookback, of one queue or of all.
    history: &'a [AttemptRecord],
    now: Ms,
    lookback_minutes: u64,
}

impl<'a> EwtReading<'a> {
    /// Reads the free agents; the rest is what the caller read.
    fn new(
        store: &dyn Store,
        setup: &'a Setup,
        waiting: &'a [AttemptRecord],
        agents: &'a [AgentView],
        history: &'a [AttemptRecord],
        lookback_minutes: u64,
        now: Ms,
    ) -> StoreResult<EwtReading<'a>> {
        let mut tiers: std::collections::HashMap<&str, (Vec<&str>, &[AgentSkill])> = setup
            .agents
            .iter()
            .map(|a| (a.id.as_str(), (Vec::new(), a.skills.as_slice())))
            .collect();
        for tier in &setup.tiers {
            if let Some((queues, _)) = tiers.get_mut(tier.agent.as_str()) {
                queues.push(&tier.queue);
            }
        }
        Ok(EwtReading {
            free: store
                .dispatch_view(now)?
                .agents
                .into_iter()
                .map(|f| f.id)
                .collect(),
            setup,
            waiting,
            agents,
            tiers,
            history,
            now,
            lookback_minutes,
        })
    }

    /// The place of a caller joining one of `queue_ids` now.
    fn joining_position(&self, queue_ids: &[String]) -> u32 {
        let ahead = self
            .waiting
            .iter()
            .filter(|r| queue_ids.contains(&r.queue_id))
            .count();
        u32::try_from(ahead).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// How many queues `agent` has tiers on, when it can serve `queue`.
    fn serving_tiers(&self, queue: &Queue, agent_id: &str) -> Option<usize> {
        let (queues, skills) = self.tiers.get(agent_id)?;
        (queues.contains(&queue.id.as_str()) && skills_fit(queue, skills)).then_some(queues.len())
    }

    fn estimate(&self, queue: &Queue, queue_ids: &[String], position: u32) -> Option<f64> {
        let free_agents = self
            .free
            .iter()
            .filter(|id| self.serving_tiers(queue, id).is_some())
            .count() as u32;
        let agent_queue_counts: Vec<u32> = self
            .agents
            .iter()
            .filter(|view| view.status == AgentStatus::Online)
            .filter_map(|view| self.serving_tiers(queue, &view.id))
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .collect();
        let mut handle_samples = Vec::new();
        let mut wait_samples = Vec::new();
        for r in self
            .history
            .iter()
            .filter(|r| queue_ids.contains(&r.queue_id))
        {
            let (Some(bridged), Some(ended)) = (r.bridged_at_ms, r.ended_at_ms) else {
                continue;
            };
            let wrap_secs = self
                .setup
                .queues
                .iter()
                .find(|q| q.id == r.queue_id)
                .map_or(0, |q| q.wrap_up_secs);
            handle_samples.push(HandleSample {
                finished_at_ms: ended,
                handle_secs: (ended - bridged).max(0) as f64 / 1000.0 + wrap_secs as f64,
            });
            wait_samples.push(WaitSample {
                bridged_at_ms: bridged,
                wait_secs: (bridged - r.joined_at_ms).max(0) as f64 / 1000.0,
            });
        }
        let input = EwtInput {
            position,
            free_agents,
            agent_queue_counts: &agent_queue_counts,
            handle_samples: &handle_samples,
            wait_samples: &wait_samples,
            now_ms: self.now,
            settings: EwtSettings {
                lookback_minutes: u32::try_from(self.lookback_minutes).unwrap_or(u32::MAX),
                ..EwtSettings::default()
            },
        };
        estimate(&input).map(|e| e.secs)
    }
}

/// `lastBridged`'s filter: each category `None` = off; all off = any call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastBridgedFilter {
    pub dialer: Option<String>,
    pub inbound: Option<String>,
    pub outbound: Option<String>,
    pub queue_ids: Option<Vec<String>>,
}

/// Whether `number` (SQL LIKE style: `%` matches any run, case-insensitive) matches `text`.
fn like(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.to_lowercase(), text.to_lowercase());
    let parts: Vec<&str> = p.split('%').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// `lastBridged`: the newest queue call in the last `hours` whose caller number or
/// destination matches `number`, under the filter. Our attempts are inbound queue calls,
/// so `inbound` and `dialer` match them and `outbound` never does; a category's value
/// `bridged` keeps bridged calls only, `attempt` unbridged ones, anything else all.
pub fn last_bridged(
    store: &dyn Store,
    number: &str,
    hours: u64,
    filter: &LastBridgedFilter,
    now: Ms,
) -> StoreResult<Option<AttemptRecord>> {
    let categories = [&filter.dialer, &filter.inbound];
    let any_on = [&filter.dialer, &filter.inbound, &filter.outbound]
        .iter()
        .any(|c| c.as_deref().is_some_and(|v| v != "false"));
    let mut history = store.history(None, now - hours as i64 * 3_600_000)?;
    history.reverse();
    Ok(history.into_iter().find(|r| {
        if !(like(number, &r.caller_number) || like(number, &r.destination)) {
            return false;
        }
        if let Some(ids) = &filter.queue_ids
            && !ids.contains(&r.queue_id)
        {
            return false;
        }
        if !any_on {
            return true;
        }
        categories.iter().any(|c| match c.as_deref() {
            None | Some("false") => false,
            Some("bridged") => r.bridged_at_ms.is_some(),
            Some("attempt") => r.bridged_at_ms.is_none(),
            Some(_) => true,
        })
    }))
}

/// The `lastBridged` properties of a record (Part C): `id`, `created_at`, `extension`,
/// `queue_id`, `agent_id`, `description`, `gateway_id`, `destination`, `variables.KEY`.
pub fn bridged_property(record: &AttemptRecord, property: &str) -> Option<String> {
    let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
    Some(match property {
        "id" => record.call_id.clone(),
        "created_at" => chrono::DateTime::from_timestamp_millis(record.joined_at_ms)?
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
        "extension" => record.destination.clone(),
        "queue_id" => record.queue_id.clone(),
        "agent_id" => record.agent_id.clone().unwrap_or_default(),
        "description" => clean(record.result.as_deref().unwrap_or_default()),
        "gateway_id" => String::new(),
        "destination" => record.destination.clone(),
        other => {
            let key = other.strip_prefix("variables.")?;
            let vars: serde_json::Value =
                serde_json::from_str(&record.variables).unwrap_or_default();
            clean(&vars.get(key).map(crate_json_text).unwrap_or_default())
        }
    })
}

fn crate_json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("+1555%", "+15550001"));
        assert!(like("%0001", "+15550001"));
        assert!(like("%55%01", "+15550001"));
        assert!(like("ABC", "abc"));
        assert!(!like("+1555", "+15550001"));
        assert!(!like("%9%", "+15550001"));
    }
}
