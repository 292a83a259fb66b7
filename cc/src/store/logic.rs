//! The store's semantics, written once against [`Tx`] and run by both stores: SQLite and
//! PostgreSQL differ only in how they connect, migrate and lock, never in what a method
//! does.
//!
//! Locking (PostgreSQL; SQLite holds one write lock per transaction): a write that touches
//! an attempt and its agents locks the attempt row first, then agents, so two nodes never
//! wait on each other in opposite order. Claims and the janitor skip rows another node is
//! deciding about (`SKIP LOCKED`) instead of waiting for them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::Mutex;

use super::sql::{Row, Tx, Value, args};
use super::*;
use crate::calendar::CalendarState;
use crate::model::{Agent, Bucket, Queue};
use crate::order::{BEFORE_SQL, ORDER_BY_SQL, OrderKey};

/// An agent that may be reserved now (`?1` = now): online, holding no lease, and waiting
/// or done resting. Dispatch reads and claims lock with this one condition.
const FREE_AGENT_SQL: &str = "status = 'online' AND attempt_id IS NULL \
     AND (state = 'waiting' OR (state IN ('wrap_time', 'missed') AND ready_at_ms <= ?1))";

/// Attempt columns read into an [`AttemptRecord`], in `attempt_record`'s order.
const ATTEMPT_COLUMNS: &str = "id, queue_id, call_id, caller_number, caller_name, destination, node, \
     bucket_id, band, since_ms, state, agent_id, joined_at_ms, offered_at_ms, bridged_at_ms, left_at_ms, \
     ended_at_ms, result, offers, variables, member_id, communication";

fn attempt_record(row: &Row) -> StoreResult<AttemptRecord> {
    Ok(AttemptRecord {
        id: row.int(0)?,
        queue_id: row.text(1)?,
        call_id: row.text(2)?,
        caller_number: row.text(3)?,
        caller_name: row.text(4)?,
        destination: row.text(5)?,
        node: row.text(6)?,
        bucket_id: row.opt_text(7)?,
        band: row.int(8)?,
        since_ms: row.int(9)?,
        state: AttemptState::parse(&row.text(10)?).unwrap_or(AttemptState::Left),
        agent_id: row.opt_text(11)?,
        joined_at_ms: row.int(12)?,
        offered_at_ms: row.opt_int(13)?,
        bridged_at_ms: row.opt_int(14)?,
        left_at_ms: row.opt_int(15)?,
        ended_at_ms: row.opt_int(16)?,
        result: row.opt_text(17)?,
        offers: row.int(18)?,
        variables: row.text(19)?,
        member_id: row.opt_int(20)?,
        communication: row.opt_int(21)?.map(|c| c.max(0) as usize),
    })
}

/// Waiting-attempt columns read into a [`WaitingAttempt`], in `waiting_attempt`'s order.
const WAITING_COLUMNS: &str = "id, version, queue_id, band, since_ms, joined_at_ms, sticky_agent, target_agent, \
     last_position, missed_agents, ring_timeout_secs, node";

fn waiting_attempt(row: &Row) -> StoreResult<WaitingAttempt> {
    let missed = row.text(9)?;
    Ok(WaitingAttempt {
        id: row.int(0)?,
        version: row.int(1)?,
        queue_id: row.text(2)?,
        band: row.int(3)?,
        since_ms: row.int(4)?,
        joined_at_ms: row.int(5)?,
        sticky_agent: row.opt_text(6)?,
        target_agent: row.opt_text(7)?,
        last_position: row.opt_int(8)?.map(|p| p.clamp(0, u32::MAX.into()) as u32),
        ring_timeout_secs: row.int(10)?.max(0) as u64,
        missed_agents: missed
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        node: row.text(11)?,
    })
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(table: &str, id: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Database(format!(
            "{table} `{id}` holds an unreadable definition: {e}"
        ))
    })
}

/// The UTC date of `now`, the day "today" counters belong to.
fn day_of(now: Ms) -> String {
    chrono::DateTime::from_timestamp_millis(now)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The provisioned setup as last read, with its version: reading and parsing every
/// definition on each dispatch pass would cost more than the pass.
#[derive(Default)]
pub(crate) struct SetupCache(Mutex<Option<(i64, Arc<Setup>)>>);

impl SetupCache {
    /// The setup, from the cache while its version is current.
    fn get(&self, tx: &mut dyn Tx) -> StoreResult<Arc<Setup>> {
        let version = tx
            .one("SELECT version FROM cc_setup_version", &[])?
            .int(0)?;
        if let Some((v, setup)) = self.0.lock().as_ref()
            && *v == version
        {
            return Ok(setup.clone());
        }
        let setup = Arc::new(setup(tx)?);
        *self.0.lock() = Some((version, setup.clone()));
        Ok(setup)
    }
}

pub(crate) fn setup(tx: &mut dyn Tx) -> StoreResult<Setup> {
    fn all<T: serde::de::DeserializeOwned>(
        tx: &mut dyn Tx,
        table: &str,
        key: &str,
    ) -> StoreResult<Vec<T>> {
        let rows = tx.rows(
            &format!("SELECT {key}, definition FROM {table} ORDER BY {key}"),
            &[],
        )?;
        rows.iter()
            .map(|r| parse(table, &r.text(0)?, &r.text(1)?))
            .collect()
    }
    Ok(Setup {
        queues: all(tx, "cc_queues", "id")?,
        agents: all(tx, "cc_agents", "id")?,
        tiers: all(tx, "cc_tiers", "queue_id || '/' || agent_id")?,
        skills: all(tx, "cc_skills", "id")?,
        buckets: all(tx, "cc_buckets", "id")?,
        calendars: all(tx, "cc_calendars", "id")?,
    })
}

fn find_queue<'a>(setup: &'a Setup, key: &str) -> Option<&'a Queue> {
    setup
        .queues
        .iter()
        .find(|q| q.id == key)
        .or_else(|| setup.queues.iter().find(|q| q.name == key))
}

fn find_agent<'a>(setup: &'a Setup, key: &str) -> Option<&'a Agent> {
    setup.agents.iter().find(|a| a.id == key).or_else(|| {
        setup
            .agents
            .iter()
            .find(|a| a.extension.as_deref() == Some(key))
    })
}

fn find_bucket<'a>(setup: &'a Setup, key: &str) -> Option<&'a Bucket> {
    setup
        .buckets
        .iter()
        .find(|b| b.id == key)
        .or_else(|| setup.buckets.iter().find(|b| b.name == key))
}

/// Whether `agent` can serve `queue`: a tier on it, and one of the queue's skills (if it
/// asks for any) with a capacity in range.
pub(crate) fn serves(setup: &Setup, queue: &Queue, agent: &Agent) -> bool {
    setup
        .tiers
        .iter()
        .any(|t| t.queue == queue.id && t.agent == agent.id)
        && skills_fit(queue, &agent.skills)
}

pub(crate) fn skills_fit(queue: &Queue, skills: &[crate::model::AgentSkill]) -> bool {
    queue.skills.is_empty()
        || queue.skills.iter().any(|qs| {
            skills.iter().any(|s| {
                s.skill == qs.skill && (qs.min_capacity..=qs.max_capacity).contains(&s.capacity)
            })
        })
}

fn agent_status(tx: &mut dyn Tx, id: &str) -> StoreResult<Option<String>> {
    tx.row("SELECT status FROM cc_agents WHERE id = ?1", args![id])?
        .map(|r| r.text(0))
        .transpose()
}

/// Frees the agents reserved for `attempt` (back to waiting, no rest).
fn release_agents(tx: &mut dyn Tx, attempt: i64, now: Ms) -> StoreResult<Vec<String>> {
    let mut ids = tx.texts(
        "UPDATE cc_agents SET state = 'waiting', state_since_ms = ?2, attempt_id = NULL, lease_until_ms = NULL, \
         version = version + 1 WHERE attempt_id = ?1 AND state = 'offering' RETURNING id",
        args![attempt, now],
    )?;
    ids.sort();
    Ok(ids)
}

fn upsert(tx: &mut dyn Tx, table: &str, id: &str, definition: &str) -> StoreResult<()> {
    tx.exec(
        &format!(
            "INSERT INTO {table} (id, definition) VALUES (?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET definition = excluded.definition"
        ),
        args![id, definition],
    )?;
    Ok(())
}

pub(crate) fn apply(tx: &mut dyn Tx, cache: &SetupCache, changes: &[Change]) -> StoreResult<()> {
    let mut setup = (*cache.get(tx)?).clone();
    apply_to(&mut setup, changes)?;
    for change in changes {
        match change {
            Change::DelQueue(id) => {
                let open = tx
                    .one(
                        "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?1 AND state <> 'left'",
                        args![id],
                    )?
                    .int(0)?;
                if open > 0 {
                    return Err(FieldError::new(
                        "",
                        format!(
                            "queue `{id}` has {open} caller(s) in it; delete it when it is empty"
                        ),
                    )
                    .into());
                }
                let members = tx
                    .one(
                        "SELECT COUNT(*) FROM cc_members WHERE queue_id = ?1",
                        args![id],
                    )?
                    .int(0)?;
                if members > 0 {
                    return Err(FieldError::new(
                        "",
                        format!(
                            "queue `{id}` has {members} member(s); delete them first (cc member del)"
                        ),
                    )
                    .into());
                }
                tx.exec("DELETE FROM cc_queues WHERE id = ?1", args![id])?;
                tx.exec("DELETE FROM cc_tiers WHERE queue_id = ?1", args![id])?;
            }
            Change::DelAgent(id) => {
                let busy = tx
                    .row(
                        &format!(
                            "SELECT attempt_id FROM cc_agents WHERE id = ?1 {}",
                            tx.for_update()
                        ),
                        args![id],
                    )?
                    .map(|r| r.opt_int(0))
                    .transpose()?
                    .flatten();
                if busy.is_some() {
                    return Err(FieldError::new(
                        "",
                        format!("agent `{id}` is on a call; delete it when it is free"),
                    )
                    .into());
                }
                tx.exec("DELETE FROM cc_agents WHERE id = ?1", args![id])?;
                tx.exec("DELETE FROM cc_tiers WHERE agent_id = ?1", args![id])?;
            }
            Change::DelTier { queue, agent } => {
                tx.exec(
                    "DELETE FROM cc_tiers WHERE queue_id = ?1 AND agent_id = ?2",
                    args![queue, agent],
                )?;
            }
            Change::DelSkill(id) => {
                tx.exec("DELETE FROM cc_skills WHERE id = ?1", args![id])?;
            }
            Change::DelBucket(id) => {
                tx.exec("DELETE FROM cc_buckets WHERE id = ?1", args![id])?;
            }
            Change::DelCalendar(id) => {
                tx.exec("DELETE FROM cc_calendars WHERE id = ?1", args![id])?;
            }
            // Puts write the validated form (names filled in) from `setup`.
            Change::PutQueue(q) => {
                let q = setup.queues.iter().find(|x| x.id == q.id).unwrap_or(q);
                upsert(tx, "cc_queues", &q.id, &json(q))?;
            }
            Change::PutAgent(a) => {
                // The upsert keeps the agent's runtime columns (status, state, stats).
                let a = setup.agents.iter().find(|x| x.id == a.id).unwrap_or(a);
                upsert(tx, "cc_agents", &a.id, &json(a))?;
            }
            Change::PutTier(t) => {
                tx.exec(
                    "INSERT INTO cc_tiers (queue_id, agent_id, definition) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (queue_id, agent_id) DO UPDATE SET definition = excluded.definition",
                    args![&t.queue, &t.agent, json(t)],
                )?;
            }
            Change::PutSkill(s) => {
                let s = setup.skills.iter().find(|x| x.id == s.id).unwrap_or(s);
                upsert(tx, "cc_skills", &s.id, &json(s))?;
            }
            Change::PutBucket(b) => {
                let b = setup.buckets.iter().find(|x| x.id == b.id).unwrap_or(b);
                upsert(tx, "cc_buckets", &b.id, &json(b))?;
            }
            Change::PutCalendar(c) => {
                let c = setup.calendars.iter().find(|x| x.id == c.id).unwrap_or(c);
                upsert(tx, "cc_calendars", &c.id, &json(c))?;
            }
        }
    }
    tx.exec("UPDATE cc_setup_version SET version = version + 1", &[])?;
    Ok(())
}

pub(crate) fn set_agent_status(
    tx: &mut dyn Tx,
    agent: &str,
    status: AgentStatus,
    reason: Option<&str>,
    now: Ms,
) -> StoreResult<()> {
    let Some(before) = agent_status(tx, agent)? else {
        return Err(StoreError::NotFound(format!("agent `{agent}`")));
    };
    if let Some(r) = reason
        && (r.chars().count() > 200 || r.chars().any(char::is_control))
    {
        return Err(FieldError::new("reason", "must be one line of at most 200 characters").into());
    }
    let reason = if status == AgentStatus::Pause {
        reason
    } else {
        None
    };
    // Going online starts the idle clock and forgets missed offers.
    let online_now = status == AgentStatus::Online && before != "online";
    tx.exec(
        "UPDATE cc_agents SET status = ?2, pause_reason = ?3, \
         idle_since_ms = CASE WHEN ?4 THEN ?5 ELSE idle_since_ms END, \
         no_answer_count = CASE WHEN ?4 THEN 0 ELSE no_answer_count END, \
         version = version + 1 WHERE id = ?1",
        args![agent, status.as_str(), reason, online_now, now],
    )?;
    Ok(())
}

pub(crate) fn agents(tx: &mut dyn Tx) -> StoreResult<Vec<AgentView>> {
    let rows = tx.rows(
        "SELECT id, definition, status, pause_reason, state, state_since_ms, ready_at_ms, \
         no_answer_count, calls_today, talk_secs_today, attempt_id, lease_until_ms \
         FROM cc_agents ORDER BY id",
        &[],
    )?;
    let mut out = Vec::new();
    for r in &rows {
        let id = r.text(0)?;
        let agent: Agent = parse("cc_agents", &id, &r.text(1)?)?;
        out.push(AgentView {
            name: agent.name,
            id,
            status: AgentStatus::parse(&r.text(2)?).unwrap_or(AgentStatus::Offline),
            pause_reason: r.opt_text(3)?,
            state: AgentState::parse(&r.text(4)?).unwrap_or(AgentState::Waiting),
            state_since_ms: r.int(5)?,
            ready_at_ms: r.opt_int(6)?,
            no_answer_count: r.int(7)?.clamp(0, u32::MAX.into()) as u32,
            calls_today: r.int(8)?,
            talk_secs_today: r.int(9)?,
            attempt: r.opt_int(10)?,
            lease_until_ms: r.opt_int(11)?,
        });
    }
    Ok(out)
}

/// Every agent's status, read at once (agent id → status).
fn statuses(tx: &mut dyn Tx) -> StoreResult<BTreeMap<String, String>> {
    tx.rows("SELECT id, status FROM cc_agents", &[])?
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?)))
        .collect()
}

fn online_agents(tx: &mut dyn Tx, setup: &Setup, queue: &Queue) -> StoreResult<usize> {
    let online: BTreeSet<String> = tx
        .texts("SELECT id FROM cc_agents WHERE status = 'online'", &[])?
        .into_iter()
        .collect();
    Ok(setup
        .agents
        .iter()
        .filter(|a| online.contains(&a.id) && serves(setup, queue, a))
        .count())
}

pub(crate) fn join(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    request: &JoinRequest,
    now: Ms,
) -> StoreResult<JoinOutcome> {
    let refuse = |result: &str, reason: String| {
        Ok(JoinOutcome::Refused {
            result: result.to_string(),
            reason,
        })
    };
    let setup = cache.get(tx)?;
    let already = tx.row(
        "SELECT queue_id FROM cc_attempts WHERE call_id = ?1 AND state <> 'left'",
        args![&request.call_id],
    )?;
    if let Some(q) = already {
        return refuse(
            "error",
            format!("the call already waits in queue `{}`", q.text(0)?),
        );
    }
    let (queue_id, band_base, deadline, ring_timeout, ringtone, sticky, target, resume_secs) =
        if let Some(target) = &request.target_agent {
            let Some(agent) = find_agent(&setup, target) else {
                return refuse("error", format!("no agent `{target}`"));
            };
            let timeout = if request.ring_timeout_secs == 0 {
                20
            } else {
                request.ring_timeout_secs
            };
            let name = if request.queue.is_empty() {
                "agent".to_string()
            } else {
                request.queue.clone()
            };
            (
                name,
                0,
                None,
                timeout,
                None,
                None,
                Some(agent.id.clone()),
                0,
            )
        } else {
            let Some(queue) = find_queue(&setup, &request.queue) else {
                return refuse("error", format!("no queue `{}`", request.queue));
            };
            if !queue.enabled {
                return refuse("disabled", format!("queue `{}` is disabled", queue.id));
            }
            if queue.kind.is_outbound() {
                return refuse(
                    "error",
                    format!(
                        "queue `{}` is an outbound queue ({}): it calls its members; callers \
                         join inbound queues (callbackQueue adds a member)",
                        queue.id,
                        queue.kind.as_str()
                    ),
                );
            }
            if let Some(cal_id) = &queue.calendar
                && let Some(cal) = setup.calendars.iter().find(|c| &c.id == cal_id)
            {
                match cal.state_at(now) {
                    CalendarState::Open => {}
                    CalendarState::Closed => {
                        return refuse("closed", format!("calendar `{cal_id}` is closed"));
                    }
                    CalendarState::Expired => {
                        return refuse("closed", format!("calendar `{cal_id}` has expired"));
                    }
                    CalendarState::Exception(name) => {
                        return refuse(
                            "closed",
                            format!("calendar `{cal_id}` is closed for {name}"),
                        );
                    }
                }
            }
            if queue.max_waiting > 0 {
                // Joins of one queue on several nodes count one after the other.
                let lock = tx.for_update();
                tx.rows(
                    &format!("SELECT id FROM cc_queues WHERE id = ?1 {lock}"),
                    args![&queue.id],
                )?;
                let waiting = tx
                    .one(
                        "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?1 AND state IN ('waiting', 'offering')",
                        args![&queue.id],
                    )?
                    .int(0)?;
                if waiting as u64 >= queue.max_waiting {
                    return refuse(
                        "max_wait_size",
                        format!("queue `{}` already has {waiting} callers waiting", queue.id),
                    );
                }
            }
            if queue.no_agents_timeout_secs > 0 && online_agents(tx, &setup, queue)? == 0 {
                return refuse(
                    "no_agents",
                    format!("no agent of queue `{}` is online", queue.id),
                );
            }
            // A preferred agent is kept only when the queue waits for one and the agent is
            // online and serves the queue.
            let mut sticky = None;
            if queue.sticky_agent
                && let Some(key) = &request.sticky_agent
                && let Some(agent) = find_agent(&setup, key)
                && serves(&setup, queue, agent)
                && agent_status(tx, &agent.id)?.as_deref() == Some("online")
            {
                sticky = Some(agent.id.clone());
            }
            let deadline =
                (queue.max_wait_secs > 0).then(|| now + queue.max_wait_secs as i64 * 1000);
            (
                queue.id.clone(),
                queue.priority,
                deadline,
                queue.ring_timeout_secs,
                queue.ringtone.clone(),
                sticky,
                None,
                queue.abandon_resume_secs,
            )
        };
    let bucket = match &request.bucket {
        Some(key) => match find_bucket(&setup, key) {
            Some(b) => Some(b),
            None => return refuse("error", format!("no bucket `{key}`")),
        },
        None => None,
    };
    let band = band_base + request.priority + bucket.map_or(0, |b| b.priority);
    // A caller who hung up and calls again within the window keeps the time it had waited
    // (not Webitel's "seconds since the abandon").
    let mut since = now;
    if resume_secs > 0 && !request.caller_number.is_empty() {
        let earlier = tx.row(
            "SELECT since_ms, left_at_ms FROM cc_attempts WHERE caller_number = ?1 AND queue_id = ?2 \
             AND result = 'abandoned' AND left_at_ms >= ?3 ORDER BY left_at_ms DESC LIMIT 1",
            args![
                &request.caller_number,
                &queue_id,
                now - resume_secs as i64 * 1000
            ],
        )?;
        if let Some(r) = earlier {
            since = now - (r.int(1)? - r.int(0)?).max(0);
        }
    }
    let attempt = tx
        .one(
            "INSERT INTO cc_attempts (queue_id, call_id, caller_number, caller_name, destination, node, bucket_id, \
             band, since_ms, joined_at_ms, deadline_ms, sticky_agent, target_agent, ring_timeout_secs, state, variables) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'waiting', ?15) RETURNING id",
            args![
                &queue_id,
                &request.call_id,
                &request.caller_number,
                &request.caller_name,
                &request.destination,
                &request.node,
                bucket.map(|b| b.id.clone()),
                band,
                since,
                now,
                deadline,
                sticky,
                target,
                ring_timeout as i64,
                &request.variables,
            ],
        )?
        .int(0)?;
    Ok(JoinOutcome::Joined {
        attempt,
        queue_id,
        ringtone,
    })
}

/// Locks the attempt row (PostgreSQL), first of every write about an attempt and its agents.
fn lock_attempt(tx: &mut dyn Tx, attempt: i64) -> StoreResult<()> {
    let lock = tx.for_update();
    tx.rows(
        &format!("SELECT id FROM cc_attempts WHERE id = ?1 {lock}"),
        args![attempt],
    )?;
    Ok(())
}

pub(crate) fn answered(tx: &mut dyn Tx, attempt: i64, agent: &str, now: Ms) -> StoreResult<bool> {
    lock_attempt(tx, attempt)?;
    let won = tx.exec(
        "UPDATE cc_agents SET state = 'bridged', state_since_ms = ?3, lease_until_ms = NULL, \
         no_answer_count = 0, version = version + 1 \
         WHERE id = ?1 AND attempt_id = ?2 AND state = 'offering'",
        args![agent, attempt, now],
    )?;
    if won == 0 {
        // The same answer written before (a retry after a lost reply) is still a win.
        let already = tx.row(
            "SELECT id FROM cc_attempts WHERE id = ?1 AND state = 'bridged' AND agent_id = ?2",
            args![attempt, agent],
        )?;
        return Ok(already.is_some());
    }
    let updated = tx.exec(
        "UPDATE cc_attempts SET state = 'bridged', agent_id = ?2, bridged_at_ms = ?3, lease_until_ms = NULL, \
         offer_agents = NULL, version = version + 1 WHERE id = ?1 AND state = 'offering'",
        args![attempt, agent, now],
    )?;
    if updated == 0 {
        return Err(StoreError::Database(format!(
            "agent `{agent}` held attempt {attempt} but the attempt was not being offered"
        )));
    }
    // The other agents of a ring-all offer are free again.
    tx.exec(
        "UPDATE cc_agents SET state = 'waiting', state_since_ms = ?3, attempt_id = NULL, lease_until_ms = NULL, \
         version = version + 1 WHERE attempt_id = ?1 AND id <> ?2 AND state = 'offering'",
        args![attempt, agent, now],
    )?;
    Ok(true)
}

pub(crate) fn missed(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    attempt: i64,
    agents: &[String],
    reason: &str,
    now: Ms,
) -> StoreResult<Vec<Paused>> {
    // Offered, or answered by one of these agents who was gone before the caller was
    // connected: either way the caller goes back to its place.
    let lock = tx.for_update();
    let row = tx.row(
        &format!(
            "SELECT state, queue_id, missed_agents, agent_id FROM cc_attempts WHERE id = ?1 {lock}"
        ),
        args![attempt],
    )?;
    let back = match &row {
        Some(r) => {
            let state = r.text(0)?;
            let agent = r.opt_text(3)?;
            state == "offering"
                || (state == "bridged" && agent.is_some_and(|a| agents.contains(&a)))
        }
        None => false,
    };
    let Some(row) = row.filter(|_| back) else {
        // The caller left or the lease ended meanwhile: whatever still holds the attempt is
        // released without blame.
        release_agents(tx, attempt, now)?;
        return Ok(Vec::new());
    };
    let queue_id = row.text(1)?;
    let mut missed_list = row.text(2)?;
    let setup = cache.get(tx)?;
    let queue = setup.queues.iter().find(|q| q.id == queue_id);
    let delay_ms = queue.map_or(10, |q| q.no_answer_delay_secs) as i64 * 1000;
    let max_no_answer = queue.map_or(0, |q| q.max_no_answer);
    let mut paused = Vec::new();
    for agent in agents {
        let count = tx.row(
            "SELECT no_answer_count FROM cc_agents WHERE id = ?1 AND attempt_id = ?2",
            args![agent, attempt],
        )?;
        let Some(count) = count else { continue };
        let count = count.int(0)? + 1;
        if max_no_answer > 0 && count >= i64::from(max_no_answer) {
            let why = format!("max no answer ({count} missed offers, last: {reason})");
            tx.exec(
                "UPDATE cc_agents SET status = 'pause', pause_reason = ?3, state = 'waiting', state_since_ms = ?4, \
                 attempt_id = NULL, lease_until_ms = NULL, ready_at_ms = NULL, no_answer_count = ?2, \
                 version = version + 1 WHERE id = ?1",
                args![agent, count, &why, now],
            )?;
            paused.push(Paused {
                agent: agent.clone(),
                reason: why,
            });
        } else {
            tx.exec(
                "UPDATE cc_agents SET state = 'missed', state_since_ms = ?3, ready_at_ms = ?4, attempt_id = NULL, \
                 lease_until_ms = NULL, no_answer_count = ?2, version = version + 1 WHERE id = ?1",
                args![agent, count, now, now + delay_ms],
            )?;
        }
        if !missed_list.split(',').any(|m| m == agent) {
            if !missed_list.is_empty() {
                missed_list.push(',');
            }
            missed_list.push_str(agent);
        }
    }
    // Agents of the offer not named (a ring-all whose others were cancelled) are free.
    release_agents(tx, attempt, now)?;
    tx.exec(
        "UPDATE cc_attempts SET state = 'waiting', offer_agents = NULL, lease_until_ms = NULL, \
         agent_id = NULL, bridged_at_ms = NULL, missed_agents = ?2, version = version + 1 WHERE id = ?1",
        args![attempt, missed_list],
    )?;
    Ok(paused)
}

pub(crate) fn leave(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    attempt: i64,
    result: &str,
    now: Ms,
) -> StoreResult<String> {
    let setup = cache.get(tx)?;
    leave_in(tx, &setup, attempt, result, now)
}

/// Ends an attempt (see [`Store::leave`]).
fn leave_in(
    tx: &mut dyn Tx,
    setup: &Setup,
    attempt: i64,
    result: &str,
    now: Ms,
) -> StoreResult<String> {
    let lock = tx.for_update();
    let row = tx.row(
        &format!(
            "SELECT state, result, agent_id, bridged_at_ms, queue_id FROM cc_attempts WHERE id = ?1 {lock}"
        ),
        args![attempt],
    )?;
    let Some(row) = row else {
        return Err(StoreError::NotFound(format!("attempt {attempt}")));
    };
    match row.text(0)?.as_str() {
        "left" => Ok(row.opt_text(1)?.unwrap_or_default()),
        "bridged" => {
            tx.exec(
                "UPDATE cc_attempts SET state = 'left', result = ?2, left_at_ms = ?3, ended_at_ms = ?3, \
                 version = version + 1 WHERE id = ?1",
                args![attempt, result, now],
            )?;
            if let Some(agent) = row.opt_text(2)? {
                let queue_id = row.text(4)?;
                let wrap_ms = setup
                    .queues
                    .iter()
                    .find(|q| q.id == queue_id)
                    .map_or(0, |q| q.wrap_up_secs as i64 * 1000);
                let talk_secs = (now - row.opt_int(3)?.unwrap_or(now)).max(0) / 1000;
                let (state, ready_at) = if wrap_ms > 0 {
                    ("wrap_time", Some(now + wrap_ms))
                } else {
                    ("waiting", None)
                };
                tx.exec(
                    "UPDATE cc_agents SET state = ?3, state_since_ms = ?4, ready_at_ms = ?5, attempt_id = NULL, \
                     lease_until_ms = NULL, idle_since_ms = ?8, \
                     calls_today = CASE WHEN day = ?6 THEN calls_today + 1 ELSE 1 END, \
                     talk_secs_today = CASE WHEN day = ?6 THEN talk_secs_today + ?7 ELSE ?7 END, \
                     day = ?6, version = version + 1 WHERE id = ?1 AND attempt_id = ?2",
                    args![
                        agent,
                        attempt,
                        state,
                        now,
                        ready_at,
                        day_of(now),
                        talk_secs,
                        ready_at.unwrap_or(now)
                    ],
                )?;
            }
            Ok(result.to_string())
        }
        _ => {
            release_agents(tx, attempt, now)?;
            tx.exec(
                "UPDATE cc_attempts SET state = 'left', result = ?2, left_at_ms = ?3, offer_agents = NULL, \
                 lease_until_ms = NULL, version = version + 1 WHERE id = ?1",
                args![attempt, result, now],
            )?;
            Ok(result.to_string())
        }
    }
}

pub(crate) fn attempt(tx: &mut dyn Tx, attempt: i64) -> StoreResult<Option<AttemptRecord>> {
    tx.row(
        &format!("SELECT {ATTEMPT_COLUMNS} FROM cc_attempts WHERE id = ?1"),
        args![attempt],
    )?
    .map(|r| attempt_record(&r))
    .transpose()
}

pub(crate) fn position(tx: &mut dyn Tx, attempt: i64) -> StoreResult<u32> {
    let key = tx.row(
        "SELECT queue_id, band, since_ms, state FROM cc_attempts WHERE id = ?1",
        args![attempt],
    )?;
    let Some(key) = key else {
        return Ok(0);
    };
    let state = key.text(3)?;
    if state != "waiting" && state != "offering" {
        return Ok(0);
    }
    let before = tx
        .one(
            &format!(
                "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?4 AND state IN ('waiting', 'offering') AND {BEFORE_SQL}"
            ),
            args![key.int(1)?, key.int(2)?, attempt, key.text(0)?],
        )?
        .int(0)?;
    Ok(before as u32 + 1)
}

pub(crate) fn dispatch_view(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    now: Ms,
) -> StoreResult<DispatchView> {
    let setup = cache.get(tx)?;
    let today = day_of(now);
    let by_id: BTreeMap<&str, &Agent> = setup.agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let rows = tx.rows(
        &format!(
            "SELECT id, idle_since_ms, day, calls_today, talk_secs_today FROM cc_agents \
             WHERE {FREE_AGENT_SQL} ORDER BY id"
        ),
        args![now],
    )?;
    let mut agents = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.text(0)?;
        let fresh = r.text(2)? == today;
        agents.push(FreeAgent {
            skills: by_id
                .get(id.as_str())
                .map(|a| {
                    a.skills
                        .iter()
                        .map(|s| (s.skill.clone(), s.capacity))
                        .collect()
                })
                .unwrap_or_default(),
            id,
            idle_since_ms: r.int(1)?,
            talk_secs_today: if fresh { r.int(4)? } else { 0 },
            calls_today: if fresh { r.int(3)? } else { 0 },
        });
    }
    // Only the head of each queue that has a free agent can be served in this pass: each
    // claim takes at least one agent. The margin covers callers that wait for a preferred
    // agent or a higher tier level.
    let free_ids: BTreeSet<&str> = agents.iter().map(|a| a.id.as_str()).collect();
    let mut free_per_queue: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &setup.tiers {
        if free_ids.contains(t.agent.as_str()) {
            *free_per_queue.entry(t.queue.as_str()).or_default() += 1;
        }
    }
    let mut attempts = Vec::new();
    for (queue, free) in &free_per_queue {
        let rows = tx.rows(
            &format!(
                "SELECT {WAITING_COLUMNS} FROM cc_attempts WHERE state = 'waiting' AND queue_id = ?1 \
                 AND target_agent IS NULL ORDER BY {ORDER_BY_SQL} LIMIT ?2"
            ),
            args![*queue, (free * 2 + 64) as i64],
        )?;
        for r in &rows {
            attempts.push(waiting_attempt(r)?);
        }
    }
    // Callers waiting for one agent: the first of each free agent (one query, not one per
    // agent: on PostgreSQL each is a round trip).
    if !free_ids.is_empty() {
        let rows = tx.rows(
            &format!(
                "SELECT {WAITING_COLUMNS} FROM cc_attempts WHERE state = 'waiting' AND target_agent IS NOT NULL \
                 ORDER BY {ORDER_BY_SQL}"
            ),
            &[],
        )?;
        let mut served: BTreeSet<String> = BTreeSet::new();
        for r in &rows {
            let attempt = waiting_attempt(r)?;
            if let Some(target) = &attempt.target_agent
                && free_ids.contains(target.as_str())
                && served.insert(target.clone())
            {
                attempts.push(attempt);
            }
        }
    }
    attempts.sort_by_key(|a| OrderKey {
        band: a.band,
        since_ms: a.since_ms,
        id: a.id,
    });
    let queue_last_position = tx
        .rows(
            "SELECT id, last_position FROM cc_queues WHERE last_position IS NOT NULL",
            &[],
        )?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?.clamp(0, u32::MAX.into()) as u32)))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(DispatchView {
        attempts,
        agents,
        setup,
        queue_last_position,
    })
}

/// Reserves the attempt and every agent, or returns `None` having written nothing (the
/// caller rolls back). On PostgreSQL the rows are locked with `SKIP LOCKED`: a row another
/// node is claiming counts as taken.
pub(crate) fn claim(tx: &mut dyn Tx, claim: &Claim, now: Ms) -> StoreResult<Option<Offer>> {
    let skip = tx.skip_locked();
    let Some(attempt) = tx.row(
        &format!(
            "SELECT queue_id, call_id, node, ring_timeout_secs FROM cc_attempts \
             WHERE id = ?1 AND version = ?2 AND state = 'waiting' {skip}"
        ),
        args![claim.attempt, claim.attempt_version],
    )?
    else {
        return Ok(None);
    };
    // The queue's row before the agents', the order provisioning writes them in: a claim and a
    // change of the queue and its agents never wait for each other in a circle.
    let queue_id = attempt.text(0)?;
    tx.exec(
        "UPDATE cc_queues SET last_position = ?2 WHERE id = ?1",
        args![&queue_id, claim.position],
    )?;
    let mut definitions = Vec::with_capacity(claim.agents.len());
    for agent in &claim.agents {
        let Some(row) = tx.row(
            &format!("SELECT definition FROM cc_agents WHERE id = ?2 AND {FREE_AGENT_SQL} {skip}"),
            args![now, agent],
        )?
        else {
            return Ok(None);
        };
        definitions.push(row.text(0)?);
    }
    tx.exec(
        "UPDATE cc_attempts SET state = 'offering', offer_agents = ?3, lease_until_ms = ?4, offered_at_ms = ?5, \
         last_position = ?6, offers = offers + 1, version = version + 1 \
         WHERE id = ?1 AND version = ?2 AND state = 'waiting'",
        args![
            claim.attempt,
            claim.attempt_version,
            claim.agents.join(","),
            claim.lease_until_ms,
            now,
            claim.position
        ],
    )?;
    for agent in &claim.agents {
        tx.exec(
            "UPDATE cc_agents SET state = 'offering', state_since_ms = ?1, attempt_id = ?3, lease_until_ms = ?4, \
             ready_at_ms = NULL, version = version + 1 WHERE id = ?2",
            args![now, agent, claim.attempt, claim.lease_until_ms],
        )?;
    }
    let mut agents = Vec::new();
    for (id, definition) in claim.agents.iter().zip(&definitions) {
        let agent: Agent = parse("cc_agents", id, definition)?;
        let contact = agent
            .reach()
            .map_err(|e| StoreError::Database(format!("agent `{id}`: {e}")))?;
        agents.push(OfferedAgent {
            id: agent.id,
            name: agent.name,
            contact,
        });
    }
    Ok(Some(Offer {
        attempt: claim.attempt,
        call_id: attempt.text(1)?,
        node: attempt.text(2)?,
        queue_id,
        agents,
        ring_timeout_secs: attempt.int(3)?.max(0) as u64,
        lease_until_ms: claim.lease_until_ms,
    }))
}

fn closed_row(tx: &mut dyn Tx, attempt: i64) -> StoreResult<(i64, String, String, String)> {
    let r = tx.one(
        "SELECT id, call_id, node, COALESCE(result, '') FROM cc_attempts WHERE id = ?1",
        args![attempt],
    )?;
    Ok((r.int(0)?, r.text(1)?, r.text(2)?, r.text(3)?))
}

pub(crate) fn janitor(tx: &mut dyn Tx, cache: &SetupCache, now: Ms) -> StoreResult<Janitor> {
    let mut out = Janitor::default();
    let skip = tx.skip_locked();
    let setup = cache.get(tx)?;
    // Nodes that stopped heartbeating: their calls are gone with them. First, before this
    // pass holds any other attempt: closing them waits for attempts a caller's side is
    // writing, and nothing that waits for this pass may hold one (no deadlock). Two
    // janitors take different nodes (SKIP LOCKED).
    // Only while some node has been alive for a whole lease: after an outage of the store
    // itself every heartbeat is old, and the nodes that come back first must not close the
    // callers of those that come back a moment later.
    let lost = tx.texts(
        &format!(
            "SELECT node FROM cc_nodes WHERE heartbeat_ms < ?1 \
             AND EXISTS (SELECT 1 FROM cc_nodes WHERE heartbeat_ms >= ?1 AND alive_since_ms <= ?1) \
             ORDER BY node {skip}"
        ),
        args![now - NODE_LEASE_MS],
    )?;
    for node in lost {
        let open = tx.ints(
            "SELECT id FROM cc_attempts WHERE node = ?1 AND state <> 'left' ORDER BY id",
            args![&node],
        )?;
        let mut closed = 0;
        for attempt in &open {
            // One its caller's side ended meanwhile keeps that ending.
            if leave_in(tx, &setup, *attempt, NODE_LOST, now)? == NODE_LOST {
                out.closed.push(closed_row(tx, *attempt)?);
                closed += 1;
            }
        }
        // Reported once: the node is known again only when it heartbeats again.
        tx.exec("DELETE FROM cc_nodes WHERE node = ?1", args![&node])?;
        out.lost_nodes.push((node, closed));
    }
    // Offers whose lease ran out: the caller's side never reported. An outbound attempt
    // whose member never answered has no caller to put back: it ends with `timeout`, as a
    // dialling one whose lease ran out does.
    let expired = tx.rows(
        &format!(
            "SELECT id, member_id IS NOT NULL AND answered_at_ms IS NULL FROM cc_attempts \
             WHERE state IN ('offering', 'dialling') AND lease_until_ms <= ?1 ORDER BY id {skip}"
        ),
        args![now],
    )?;
    for row in expired {
        let attempt = row.int(0)?;
        if row.int(1)? != 0 {
            leave_in(tx, &setup, attempt, OUTBOUND_LEASE_ENDED, now)?;
            out.closed.push(closed_row(tx, attempt)?);
            continue;
        }
        let agents = release_agents(tx, attempt, now)?;
        tx.exec(
            "UPDATE cc_attempts SET state = 'waiting', offer_agents = NULL, lease_until_ms = NULL, \
             version = version + 1 WHERE id = ?1",
            args![attempt],
        )?;
        out.expired_offers.push((attempt, agents));
    }
    // Max wait.
    let due = tx.ints(
        &format!(
            "SELECT id FROM cc_attempts WHERE state = 'waiting' AND deadline_ms <= ?1 ORDER BY id {skip}"
        ),
        args![now],
    )?;
    for attempt in due {
        leave_in(tx, &setup, attempt, "timeout", now)?;
        out.closed.push(closed_row(tx, attempt)?);
    }
    // No agent online for the queue's no-agents timeout.
    for queue in setup.queues.iter().filter(|q| q.no_agents_timeout_secs > 0) {
        if online_agents(tx, &setup, queue)? > 0 {
            continue;
        }
        let due = tx.ints(
            &format!(
                "SELECT id FROM cc_attempts WHERE state = 'waiting' AND queue_id = ?1 AND joined_at_ms <= ?2 \
                 ORDER BY id {skip}"
            ),
            args![&queue.id, now - queue.no_agents_timeout_secs as i64 * 1000],
        )?;
        for attempt in due {
            leave_in(tx, &setup, attempt, "no_agents", now)?;
            out.closed.push(closed_row(tx, attempt)?);
        }
    }
    // What this statement changed is what it reports: two janitors never both report one,
    // and an agent another transaction holds is left to the next pass.
    out.rested = tx.texts(
        &format!(
            "UPDATE cc_agents SET state = 'waiting', state_since_ms = ready_at_ms, ready_at_ms = NULL, \
             version = version + 1 WHERE id IN (SELECT id FROM cc_agents \
             WHERE state IN ('wrap_time', 'missed') AND ready_at_ms <= ?1 {skip}) RETURNING id"
        ),
        args![now],
    )?;
    out.rested.sort();
    members_janitor(tx, &setup, &mut out, now)?;
    Ok(out)
}

pub(crate) fn next_due(tx: &mut dyn Tx, cache: &SetupCache, now: Ms) -> StoreResult<Option<Ms>> {
    let mut due: Option<Ms> = None;
    let mut take = |v: Option<Ms>| {
        if let Some(v) = v {
            due = Some(due.map_or(v, |d| d.min(v)));
        }
    };
    for sql in [
        "SELECT MIN(lease_until_ms) FROM cc_attempts WHERE state = 'offering'",
        "SELECT MIN(deadline_ms) FROM cc_attempts WHERE state = 'waiting'",
        "SELECT MIN(ready_at_ms) FROM cc_agents WHERE state IN ('wrap_time', 'missed')",
    ] {
        take(tx.one(sql, &[])?.opt_int(0)?);
    }
    // The first node lease that ends (+1: lost means older than the lease), once some node
    // has been alive for a whole lease (see `janitor`).
    let heartbeat = tx
        .one("SELECT MIN(heartbeat_ms) FROM cc_nodes", &[])?
        .opt_int(0)?;
    let watcher = tx
        .one(
            "SELECT MIN(alive_since_ms) FROM cc_nodes WHERE heartbeat_ms >= ?1",
            args![now - NODE_LEASE_MS],
        )?
        .opt_int(0)?;
    if let (Some(h), Some(w)) = (heartbeat, watcher) {
        take(Some((h + NODE_LEASE_MS + 1).max(w + NODE_LEASE_MS)));
    }
    for sql in [
        "SELECT MIN(lease_until_ms) FROM cc_attempts WHERE state = 'dialling'",
        "SELECT MIN(expire_at_ms) FROM cc_members WHERE stop_at_ms IS NULL AND open_attempt IS NULL",
    ] {
        take(tx.one(sql, &[])?.opt_int(0)?);
    }
    // The next member to become ready (a retry's time): the dialer calls it then, not at the
    // next safety tick. Members ready already wait for an agent, which wakes the dialer itself.
    take(
        tx.one(
            "SELECT MIN(ready_at_ms) FROM cc_members \
             WHERE stop_at_ms IS NULL AND open_attempt IS NULL AND ready_at_ms > ?1",
            args![now],
        )?
        .opt_int(0)?,
    );
    let setup = cache.get(tx)?;
    for (queue, left_at) in unfinished_by_queue(tx)? {
        take(Some(left_at + default_outcome_delay_ms(&setup, &queue)));
    }
    for queue in setup.queues.iter().filter(|q| q.no_agents_timeout_secs > 0) {
        let first = tx
            .one(
                "SELECT MIN(joined_at_ms) FROM cc_attempts WHERE state = 'waiting' AND queue_id = ?1",
                args![&queue.id],
            )?
            .opt_int(0)?;
        take(first.map(|j| j + queue.no_agents_timeout_secs as i64 * 1000));
    }
    Ok(due)
}

pub(crate) fn close_node(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    node: &str,
    result: &str,
    now: Ms,
) -> StoreResult<usize> {
    let setup = cache.get(tx)?;
    let open = tx.ints(
        "SELECT id FROM cc_attempts WHERE node = ?1 AND state <> 'left' ORDER BY id",
        args![node],
    )?;
    for attempt in &open {
        leave_in(tx, &setup, *attempt, result, now)?;
    }
    Ok(open.len())
}

pub(crate) fn heartbeat(tx: &mut dyn Tx, node: &str, now: Ms) -> StoreResult<()> {
    tx.exec(
        "INSERT INTO cc_nodes (node, heartbeat_ms, alive_since_ms) VALUES (?1, ?2, ?2) \
         ON CONFLICT (node) DO UPDATE SET heartbeat_ms = excluded.heartbeat_ms, \
         alive_since_ms = CASE WHEN cc_nodes.heartbeat_ms < ?3 THEN excluded.heartbeat_ms \
         ELSE cc_nodes.alive_since_ms END",
        args![node, now, now - NODE_LEASE_MS],
    )?;
    Ok(())
}

pub(crate) fn history(
    tx: &mut dyn Tx,
    queue: Option<&str>,
    since: Ms,
) -> StoreResult<Vec<AttemptRecord>> {
    tx.rows(
        &format!(
            "SELECT {ATTEMPT_COLUMNS} FROM cc_attempts WHERE joined_at_ms >= ?1 \
             AND (?2 IS NULL OR queue_id = ?2) ORDER BY id"
        ),
        args![since, queue],
    )?
    .iter()
    .map(attempt_record)
    .collect()
}

pub(crate) fn waiting(tx: &mut dyn Tx) -> StoreResult<Vec<AttemptRecord>> {
    tx.rows(
        &format!(
            "SELECT {ATTEMPT_COLUMNS} FROM cc_attempts WHERE state IN ('waiting', 'offering') ORDER BY {ORDER_BY_SQL}"
        ),
        &[],
    )?
    .iter()
    .map(attempt_record)
    .collect()
}

pub(crate) fn agent_counts(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    queue: &str,
    now: Ms,
) -> StoreResult<AgentCounts> {
    let setup = cache.get(tx)?;
    let Some(q) = find_queue(&setup, queue) else {
        return Err(StoreError::NotFound(format!("queue `{queue}`")));
    };
    Ok(count_agents(tx, &setup, Some(&q.id), now)?
        .remove(&q.id)
        .unwrap_or_default())
}

pub(crate) fn agent_counts_by_queue(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    now: Ms,
) -> StoreResult<BTreeMap<String, AgentCounts>> {
    let setup = cache.get(tx)?;
    count_agents(tx, &setup, None, now)
}

/// The counts of `only` (every queue when `None`): each agent `serves` counts once per
/// queue, in one pass over the tiers.
fn count_agents(
    tx: &mut dyn Tx,
    setup: &Setup,
    only: Option<&str>,
    now: Ms,
) -> StoreResult<BTreeMap<String, AgentCounts>> {
    let now_free: BTreeSet<String> = tx
        .texts(
            &format!("SELECT id FROM cc_agents WHERE {FREE_AGENT_SQL}"),
            args![now],
        )?
        .into_iter()
        .collect();
    let statuses = statuses(tx)?;
    let queues: BTreeMap<&str, &Queue> = setup
        .queues
        .iter()
        .filter(|q| only.is_none_or(|id| q.id == id))
        .map(|q| (q.id.as_str(), q))
        .collect();
    let agents: BTreeMap<&str, &Agent> = setup.agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let mut counts: BTreeMap<String, AgentCounts> = queues
        .keys()
        .map(|id| (id.to_string(), AgentCounts::default()))
        .collect();
    let mut counted: BTreeSet<(&str, &str)> = BTreeSet::new();
    for tier in &setup.tiers {
        let (Some(queue), Some(agent)) = (
            queues.get(tier.queue.as_str()),
            agents.get(tier.agent.as_str()),
        ) else {
            continue;
        };
        if !skills_fit(queue, &agent.skills) || !counted.insert((&queue.id, &agent.id)) {
            continue;
        }
        let entry = counts.entry(queue.id.clone()).or_default();
        entry.count += 1;
        match statuses.get(&agent.id).map(String::as_str) {
            Some("online") => entry.online += 1,
            Some("pause") => entry.pause += 1,
            _ => entry.offline += 1,
        }
        if now_free.contains(&agent.id) {
            entry.waiting += 1;
        }
    }
    Ok(counts)
}

/// `impl Store` for a store type with inherent `write`, `write_if` and `read` (each one
/// transaction), `cache: SetupCache`, `name: String` and `open_change_feed()`: every method
/// is the shared semantics above in one transaction.
macro_rules! sql_store {
    ($store:ty) => {
        impl $crate::store::Store for $store {
            fn describe(&self) -> String {
                self.name.clone()
            }
            fn setup(&self) -> StoreResult<Setup> {
                self.read(|tx| logic::setup(tx))
            }
            fn apply(&self, changes: &[Change]) -> StoreResult<()> {
                self.write(|tx| logic::apply(tx, &self.cache, changes))
            }
            fn set_agent_status(
                &self,
                agent: &str,
                status: AgentStatus,
                reason: Option<&str>,
                now: Ms,
            ) -> StoreResult<()> {
                self.write(|tx| logic::set_agent_status(tx, agent, status, reason, now))
            }
            fn agents(&self, _now: Ms) -> StoreResult<Vec<AgentView>> {
                self.read(|tx| logic::agents(tx))
            }
            fn join(&self, request: &JoinRequest, now: Ms) -> StoreResult<JoinOutcome> {
                self.write(|tx| logic::join(tx, &self.cache, request, now))
            }
            fn answered(&self, attempt: i64, agent: &str, now: Ms) -> StoreResult<bool> {
                self.write(|tx| logic::answered(tx, attempt, agent, now))
            }
            fn missed(
                &self,
                attempt: i64,
                agents: &[String],
                reason: &str,
                now: Ms,
            ) -> StoreResult<Vec<Paused>> {
                self.write(|tx| logic::missed(tx, &self.cache, attempt, agents, reason, now))
            }
            fn leave(&self, attempt: i64, result: &str, now: Ms) -> StoreResult<String> {
                self.write(|tx| logic::leave(tx, &self.cache, attempt, result, now))
            }
            fn attempt(&self, attempt: i64) -> StoreResult<Option<AttemptRecord>> {
                self.read(|tx| logic::attempt(tx, attempt))
            }
            fn position(&self, attempt: i64) -> StoreResult<u32> {
                self.read(|tx| logic::position(tx, attempt))
            }
            fn dispatch_view(&self, now: Ms) -> StoreResult<DispatchView> {
                self.read(|tx| logic::dispatch_view(tx, &self.cache, now))
            }
            fn claim(&self, claim: &Claim, now: Ms) -> StoreResult<Option<Offer>> {
                self.write_if(|tx| logic::claim(tx, claim, now))
            }
            fn janitor(&self, now: Ms) -> StoreResult<Janitor> {
                self.write(|tx| logic::janitor(tx, &self.cache, now))
            }
            fn next_due(&self, now: Ms) -> StoreResult<Option<Ms>> {
                self.read(|tx| logic::next_due(tx, &self.cache, now))
            }
            fn close_node(&self, node: &str, result: &str, now: Ms) -> StoreResult<usize> {
                self.write(|tx| logic::close_node(tx, &self.cache, node, result, now))
            }
            fn heartbeat(&self, node: &str, now: Ms) -> StoreResult<()> {
                self.write(|tx| logic::heartbeat(tx, node, now))
            }
            fn change_feed(&self) -> StoreResult<Box<dyn ChangeFeed>> {
                self.open_change_feed()
            }
            fn history(&self, queue: Option<&str>, since: Ms) -> StoreResult<Vec<AttemptRecord>> {
                self.read(|tx| logic::history(tx, queue, since))
            }
            fn waiting(&self) -> StoreResult<Vec<AttemptRecord>> {
                self.read(|tx| logic::waiting(tx))
            }
            fn agent_counts(&self, queue: &str, now: Ms) -> StoreResult<AgentCounts> {
                self.read(|tx| logic::agent_counts(tx, &self.cache, queue, now))
            }
            fn agent_counts_by_queue(
                &self,
                now: Ms,
            ) -> StoreResult<std::collections::BTreeMap<String, AgentCounts>> {
                self.read(|tx| logic::agent_counts_by_queue(tx, &self.cache, now))
            }
            fn add_members(&self, members: &[Member], now: Ms) -> StoreResult<Vec<i64>> {
                self.write(|tx| logic::add_members(tx, &self.cache, members, now))
            }
            fn members(&self, filter: &MemberFilter, limit: usize) -> StoreResult<Vec<Member>> {
                self.read(|tx| logic::members(tx, &self.cache, filter, limit))
            }
            fn member(&self, id: i64) -> StoreResult<Option<Member>> {
                self.read(|tx| logic::member(tx, id))
            }
            fn patch_members(
                &self,
                filter: &MemberFilter,
                patch: &MemberPatch,
                now: Ms,
            ) -> StoreResult<usize> {
                self.write(|tx| logic::patch_members(tx, &self.cache, filter, patch, now))
            }
            fn delete_members(&self, filter: &MemberFilter) -> StoreResult<usize> {
                self.write(|tx| logic::delete_members(tx, &self.cache, filter))
            }
            fn dial_candidates(
                &self,
                queue: &str,
                now: Ms,
                limit: usize,
            ) -> StoreResult<Vec<DialCandidate>> {
                self.read(|tx| logic::dial_candidates(tx, &self.cache, queue, now, limit))
            }
            fn start_outbound(
                &self,
                start: &OutboundStart,
                now: Ms,
            ) -> StoreResult<Option<OutboundAttempt>> {
                self.write_if(|tx| logic::start_outbound(tx, &self.cache, start, now))
            }
            fn member_answered(&self, attempt: i64, now: Ms) -> StoreResult<bool> {
                self.write(|tx| logic::member_answered(tx, &self.cache, attempt, now))
            }
            fn finish_outbound(
                &self,
                attempt: i64,
                outcome: &AttemptOutcome,
                now: Ms,
            ) -> StoreResult<MemberAfter> {
                self.write(|tx| logic::finish_outbound(tx, &self.cache, attempt, outcome, now))
            }
            fn dial_stats(&self, queue: &str, since: Ms, now: Ms) -> StoreResult<DialStats> {
                self.read(|tx| logic::dial_stats(tx, &self.cache, queue, since, now))
            }
        }
    };
}
pub(crate) use sql_store;

// Members of outbound queues and their attempts.

/// The result an outbound attempt ends with when its lease runs out before the call
/// reported (the member's phone never answered, or the reserved agent never took it).
const OUTBOUND_LEASE_ENDED: &str = "timeout";

/// Added to the band of a member who answered: a live customer waits first in its queue,
/// before callers (whose bands stay within a few million).
const ANSWERED_BAND: i64 = 1_000_000_000;

/// Seconds after the wrap-up that an outbound attempt may wait for its outcome before the
/// janitor writes the default one.
const OUTCOME_GRACE_SECS: u64 = 30;

/// Member columns read by `member_row`, in its order.
const MEMBER_COLUMNS: &str = "id, queue_id, name, priority, bucket_id, variables, timezone, communications, \
     ready_at_ms, expire_at_ms, stop_at_ms, stop_cause, attempts, sticky_agent, created_at_ms, open_attempt, \
     redial_communication";

/// A communication as stored: with the counters the model does not read from input.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCommunication {
    destination: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    last_result: Option<String>,
    #[serde(default)]
    excluded: bool,
}

fn communications_text(list: &[Communication]) -> String {
    let stored: Vec<StoredCommunication> = list
        .iter()
        .map(|c| StoredCommunication {
            destination: c.destination.clone(),
            kind: c.kind.clone(),
            display: c.display.clone(),
            priority: c.priority,
            resource: c.resource.clone(),
            description: c.description.clone(),
            attempts: c.attempts,
            last_result: c.last_result.clone(),
            excluded: c.excluded,
        })
        .collect();
    json(&stored)
}

/// A member row and the communication to redial first, if any.
fn member_row(row: &Row) -> StoreResult<(Member, Option<usize>)> {
    let id = row.int(0)?;
    let stored: Vec<StoredCommunication> = parse("cc_members", &id.to_string(), &row.text(7)?)?;
    let member = Member {
        id,
        queue: row.text(1)?,
        name: row.text(2)?,
        priority: row.int(3)?,
        bucket: row.opt_text(4)?,
        variables: row.text(5)?,
        timezone: row.opt_text(6)?,
        communications: stored
            .into_iter()
            .map(|c| Communication {
                destination: c.destination,
                kind: c.kind,
                display: c.display,
                priority: c.priority,
                resource: c.resource,
                description: c.description,
                attempts: c.attempts,
                last_result: c.last_result,
                excluded: c.excluded,
            })
            .collect(),
        ready_at_ms: row.opt_int(8)?,
        expire_at_ms: row.opt_int(9)?,
        stop_at_ms: row.opt_int(10)?,
        stop_cause: row.opt_text(11)?,
        attempts: row.int(12)?.clamp(0, u32::MAX.into()) as u32,
        sticky_agent: row.opt_text(13)?,
        created_at_ms: row.int(14)?,
        open_attempt: row.opt_int(15)?,
    };
    Ok((member, row.opt_int(16)?.map(|c| c.max(0) as usize)))
}

/// Writes every column of a stored member but its id, creation time and open attempt.
fn write_member(tx: &mut dyn Tx, m: &Member, redial: Option<usize>) -> StoreResult<()> {
    tx.exec(
        "UPDATE cc_members SET queue_id = ?2, name = ?3, priority = ?4, bucket_id = ?5, variables = ?6, \
         timezone = ?7, communications = ?8, ready_at_ms = ?9, expire_at_ms = ?10, stop_at_ms = ?11, \
         stop_cause = ?12, attempts = ?13, sticky_agent = ?14, redial_communication = ?15 WHERE id = ?1",
        args![
            m.id,
            &m.queue,
            &m.name,
            m.priority,
            &m.bucket,
            &m.variables,
            &m.timezone,
            communications_text(&m.communications),
            m.ready_at_ms,
            m.expire_at_ms,
            m.stop_at_ms,
            &m.stop_cause,
            m.attempts,
            &m.sticky_agent,
            redial.map(|c| c as i64)
        ],
    )?;
    Ok(())
}

/// SQL ILIKE: case-insensitive, `%` any run of characters, `_` one character. Done here
/// rather than in SQL so both stores agree (SQLite's LIKE folds ASCII only, PostgreSQL
/// has ILIKE).
fn ilike(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let t: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Greedy matching with one backtrack point (the last `%`): linear in practice.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

/// Resolves a queue key of a member (id or name) to an outbound queue.
fn outbound_queue<'a>(setup: &'a Setup, key: &str, path: &str) -> Result<&'a Queue, FieldError> {
    let Some(queue) = find_queue(setup, key) else {
        return Err(FieldError::new(path, format!("no queue `{key}`")));
    };
    if !queue.kind.is_outbound() {
        return Err(FieldError::new(
            path,
            format!(
                "queue `{}` is inbound; members belong to offline (callback), preview, \
                 progressive or predictive queues",
                queue.id
            ),
        ));
    }
    Ok(queue)
}

/// The member's bucket and sticky agent as ids (given as ids or names/extensions).
fn resolve_member(setup: &Setup, m: &mut Member, at: &str) -> Result<(), FieldError> {
    m.queue = outbound_queue(setup, &m.queue, &format!("{at}.queue"))?
        .id
        .clone();
    if let Some(key) = &m.bucket {
        let Some(b) = find_bucket(setup, key) else {
            return Err(FieldError::new(
                format!("{at}.bucket"),
                format!("no bucket `{key}`"),
            ));
        };
        m.bucket = Some(b.id.clone());
    }
    if let Some(key) = &m.sticky_agent {
        let Some(a) = find_agent(setup, key) else {
            return Err(FieldError::new(
                format!("{at}.sticky_agent"),
                format!("no agent `{key}`"),
            ));
        };
        m.sticky_agent = Some(a.id.clone());
    }
    Ok(())
}

pub(crate) fn add_members(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    members: &[Member],
    now: Ms,
) -> StoreResult<Vec<i64>> {
    let setup = cache.get(tx)?;
    let mut ids = Vec::with_capacity(members.len());
    for (i, given) in members.iter().enumerate() {
        let at = format!("members[{i}]");
        given.validate(&at)?;
        let mut m = given.clone();
        resolve_member(&setup, &mut m, &at)?;
        for c in &mut m.communications {
            c.attempts = 0;
            c.last_result = None;
            c.excluded = false;
        }
        let stop_at = m.stop_cause.as_ref().map(|_| now);
        let id = tx
            .one(
                "INSERT INTO cc_members (queue_id, name, priority, bucket_id, variables, timezone, communications, \
                 ready_at_ms, expire_at_ms, stop_at_ms, stop_cause, attempts, sticky_agent, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?13) RETURNING id",
                args![
                    &m.queue,
                    &m.name,
                    m.priority,
                    &m.bucket,
                    &m.variables,
                    &m.timezone,
                    communications_text(&m.communications),
                    m.ready_at_ms,
                    m.expire_at_ms,
                    stop_at,
                    &m.stop_cause,
                    &m.sticky_agent,
                    now
                ],
            )?
            .int(0)?;
        ids.push(id);
    }
    Ok(ids)
}

/// The members a filter selects, lowest id first (locked for update when `lock`). The
/// queue, id, time, completion and bucket conditions are SQL; name and destination are
/// matched here ([`ilike`]).
fn select_members(
    tx: &mut dyn Tx,
    setup: &Setup,
    filter: &MemberFilter,
    limit: usize,
    lock: bool,
) -> StoreResult<Vec<(Member, Option<usize>)>> {
    let mut sql = format!("SELECT {MEMBER_COLUMNS} FROM cc_members WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |sql: &mut String, condition: &str, value: Value| {
        values.push(value);
        sql.push_str(&condition.replace('#', &format!("?{}", values.len())));
    };
    if !filter.queues.is_empty() {
        let mut ids = Vec::new();
        for key in &filter.queues {
            match find_queue(setup, key) {
                Some(q) => ids.push(q.id.clone()),
                None => return Err(StoreError::NotFound(format!("queue `{key}`"))),
            }
        }
        sql.push_str(" AND queue_id IN (");
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            bind(&mut sql, "#", Value::from(id));
        }
        sql.push(')');
    }
    if let Some(id) = filter.id {
        bind(&mut sql, " AND id = #", Value::from(id));
    }
    if let Some(since) = filter.created_since_ms {
        bind(&mut sql, " AND created_at_ms >= #", Value::from(since));
    }
    if let Some(before) = filter.created_before_ms {
        bind(&mut sql, " AND created_at_ms < #", Value::from(before));
    }
    match filter.completed {
        Some(true) => sql.push_str(" AND stop_at_ms IS NOT NULL"),
        Some(false) => sql.push_str(" AND stop_at_ms IS NULL"),
        None => {}
    }
    if let Some(key) = &filter.bucket {
        let id = find_bucket(setup, key).map_or(key.clone(), |b| b.id.clone());
        bind(&mut sql, " AND bucket_id = #", Value::from(id));
    }
    sql.push_str(" ORDER BY id");
    if lock {
        sql.push(' ');
        sql.push_str(tx.for_update());
    }
    let rows = tx.rows(&sql, &values)?;
    let mut out = Vec::new();
    for row in &rows {
        let (member, redial) = member_row(row)?;
        if let Some(pattern) = &filter.name
            && !ilike(pattern, &member.name)
        {
            continue;
        }
        if let Some(d) = &filter.destination
            && !member.communications.iter().any(|c| &c.destination == d)
        {
            continue;
        }
        out.push((member, redial));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

pub(crate) fn members(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    filter: &MemberFilter,
    limit: usize,
) -> StoreResult<Vec<Member>> {
    let setup = cache.get(tx)?;
    Ok(select_members(tx, &setup, filter, limit, false)?
        .into_iter()
        .map(|(m, _)| m)
        .collect())
}

pub(crate) fn member(tx: &mut dyn Tx, id: i64) -> StoreResult<Option<Member>> {
    tx.row(
        &format!("SELECT {MEMBER_COLUMNS} FROM cc_members WHERE id = ?1"),
        args![id],
    )?
    .map(|r| member_row(&r).map(|(m, _)| m))
    .transpose()
}

/// Merges a JSON object (text) into another; an error names `path`.
fn merge_variables(into: &str, patch: &str, path: &str) -> Result<String, FieldError> {
    let Ok(serde_json::Value::Object(add)) = serde_json::from_str::<serde_json::Value>(patch)
    else {
        return Err(FieldError::new(path, "must be a JSON object"));
    };
    let mut base = match serde_json::from_str::<serde_json::Value>(into) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    base.extend(add);
    Ok(serde_json::Value::Object(base).to_string())
}

pub(crate) fn patch_members(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    filter: &MemberFilter,
    patch: &MemberPatch,
    now: Ms,
) -> StoreResult<usize> {
    let setup = cache.get(tx)?;
    let selected = select_members(tx, &setup, filter, usize::MAX, true)?;
    for (mut m, redial) in selected.iter().cloned() {
        let at = format!("member {}", m.id);
        if let Some(name) = &patch.name {
            m.name = name.clone();
        }
        if let Some(priority) = patch.priority {
            m.priority = priority;
        }
        if let Some(bucket) = &patch.bucket {
            m.bucket = Some(bucket.clone());
        }
        if let Some(queue) = &patch.queue {
            m.queue = queue.clone();
        }
        if let Some(ready_at) = patch.ready_at_ms {
            m.ready_at_ms = Some(ready_at);
        }
        if let Some(cause) = &patch.stop_cause {
            m.stop_cause = Some(cause.clone());
            m.stop_at_ms = Some(now);
        }
        if let Some(variables) = &patch.variables {
            m.variables = merge_variables(&m.variables, variables, "variables")?;
        }
        for (index, change) in &patch.communications {
            let Some(c) = m.communications.get_mut(*index) else {
                continue;
            };
            let fields = [
                (&change.kind, &mut c.kind),
                (&change.display, &mut c.display),
                (&change.resource, &mut c.resource),
                (&change.description, &mut c.description),
            ];
            for (new, old) in fields {
                if new.is_some() {
                    *old = new.clone();
                }
            }
            if let Some(d) = &change.destination {
                c.destination = d.clone();
            }
            if let Some(p) = change.priority {
                c.priority = p;
            }
        }
        m.validate(&at)?;
        resolve_member(&setup, &mut m, &at)?;
        write_member(tx, &m, redial)?;
    }
    Ok(selected.len())
}

pub(crate) fn delete_members(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    filter: &MemberFilter,
) -> StoreResult<usize> {
    let setup = cache.get(tx)?;
    let selected = select_members(tx, &setup, filter, usize::MAX, true)?;
    if let Some((m, _)) = selected.iter().find(|(m, _)| m.open_attempt.is_some()) {
        return Err(FieldError::new(
            "",
            format!(
                "member {} has attempt {} in progress; delete it once the attempt's outcome is written",
                m.id,
                m.open_attempt.unwrap_or_default()
            ),
        )
        .into());
    }
    for (m, _) in &selected {
        tx.exec("DELETE FROM cc_members WHERE id = ?1", args![m.id])?;
    }
    Ok(selected.len())
}

/// Whether the queue's calendar is open at `now` for a member in `zone` (none = the
/// calendar's own zone). A queue without a calendar is always open.
fn calendar_open(setup: &Setup, queue: &Queue, zone: Option<&str>, now: Ms) -> bool {
    let Some(id) = &queue.calendar else {
        return true;
    };
    let Some(calendar) = setup.calendars.iter().find(|c| &c.id == id) else {
        return true;
    };
    calendar.state_in(now, zone) == CalendarState::Open
}

/// The communication to dial next: the one to redial if it is still dialable, else the
/// least tried, then the highest priority, then the first listed. `None` when every one is
/// excluded or used up (`per_number` attempts each; 0 = no limit).
fn next_communication(m: &Member, redial: Option<usize>, per_number: u32) -> Option<usize> {
    let dialable = |c: &Communication| !c.excluded && (per_number == 0 || c.attempts < per_number);
    if let Some(i) = redial
        && m.communications.get(i).is_some_and(dialable)
    {
        return Some(i);
    }
    m.communications
        .iter()
        .enumerate()
        .filter(|(_, c)| dialable(c))
        .min_by_key(|(i, c)| (c.attempts, -c.priority, *i))
        .map(|(i, _)| i)
}

/// Why a member may not be dialled at `now`, or `None` when it may.
fn not_dialable(setup: &Setup, queue: &Queue, m: &Member, now: Ms) -> Option<&'static str> {
    if m.stop_at_ms.is_some() {
        Some("stopped")
    } else if m.open_attempt.is_some() {
        Some("has an attempt open")
    } else if m.expire_at_ms.is_some_and(|e| e <= now) {
        Some("expired")
    } else if m.ready_at_ms.is_some_and(|r| r > now) {
        Some("not ready yet")
    } else if !calendar_open(setup, queue, m.timezone.as_deref(), now) {
        Some("outside the calendar")
    } else {
        None
    }
}

pub(crate) fn dial_candidates(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    queue: &str,
    now: Ms,
    limit: usize,
) -> StoreResult<Vec<DialCandidate>> {
    let setup = cache.get(tx)?;
    let queue = outbound_queue(&setup, queue, "queue")?;
    let mut out = Vec::new();
    if !queue.enabled || limit == 0 {
        return Ok(out);
    }
    // Pages in dialling order; members outside their calendar window are skipped, so a
    // page may yield fewer than it read.
    const PAGE: i64 = 500;
    let mut offset = 0;
    loop {
        let rows = tx.rows(
            &format!(
                "SELECT {MEMBER_COLUMNS} FROM cc_members WHERE queue_id = ?1 AND stop_at_ms IS NULL \
                 AND open_attempt IS NULL AND (expire_at_ms IS NULL OR expire_at_ms > ?2) \
                 AND (ready_at_ms IS NULL OR ready_at_ms <= ?2) \
                 ORDER BY priority DESC, COALESCE(ready_at_ms, created_at_ms), id LIMIT ?3 OFFSET ?4"
            ),
            args![&queue.id, now, PAGE, offset],
        )?;
        for row in &rows {
            let (member, redial) = member_row(row)?;
            if not_dialable(&setup, queue, &member, now).is_some() {
                continue;
            }
            if let Some(communication) =
                next_communication(&member, redial, queue.max_attempts_per_number)
            {
                out.push(DialCandidate {
                    member,
                    communication,
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        if (rows.len() as i64) < PAGE {
            return Ok(out);
        }
        offset += PAGE;
    }
}

pub(crate) fn start_outbound(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    start: &OutboundStart,
    now: Ms,
) -> StoreResult<Option<OutboundAttempt>> {
    let setup = cache.get(tx)?;
    let queue = outbound_queue(&setup, &start.queue, "queue")?;
    let skip = tx.skip_locked();
    // The member's row first, then the agent's: the order every member write takes.
    let Some(row) = tx.row(
        &format!("SELECT {MEMBER_COLUMNS} FROM cc_members WHERE id = ?1 {skip}"),
        args![start.member],
    )?
    else {
        return Ok(None);
    };
    let (member, _) = member_row(&row)?;
    if member.queue != queue.id || !queue.enabled {
        return Ok(None);
    }
    if not_dialable(&setup, queue, &member, now).is_some() {
        return Ok(None);
    }
    let Some(communication) = member.communications.get(start.communication) else {
        return Ok(None);
    };
    let per_number = queue.max_attempts_per_number;
    if communication.excluded || (per_number > 0 && communication.attempts >= per_number) {
        return Ok(None);
    }
    let mut offered = None;
    if let Some(agent_id) = &start.agent {
        let Some(agent) = find_agent(&setup, agent_id) else {
            return Err(StoreError::NotFound(format!("agent `{agent_id}`")));
        };
        if !serves(&setup, queue, agent) {
            return Err(FieldError::new(
                "agent",
                format!("agent `{}` does not serve queue `{}`", agent.id, queue.id),
            )
            .into());
        }
        let free = tx.row(
            &format!("SELECT id FROM cc_agents WHERE id = ?2 AND {FREE_AGENT_SQL} {skip}"),
            args![now, &agent.id],
        )?;
        if free.is_none() {
            return Ok(None);
        }
        let contact = agent
            .reach()
            .map_err(|e| StoreError::Database(format!("agent `{}`: {e}", agent.id)))?;
        offered = Some(OfferedAgent {
            id: agent.id.clone(),
            name: agent.name.clone(),
            contact,
        });
    }
    let bucket_priority = member
        .bucket
        .as_deref()
        .and_then(|b| find_bucket(&setup, b))
        .map_or(0, |b| b.priority);
    let (state, offered_at, offers) = match offered {
        Some(_) => ("offering", Some(now), 1_i64),
        None => ("dialling", None, 0_i64),
    };
    let attempt = tx
        .one(
            "INSERT INTO cc_attempts (queue_id, call_id, caller_number, caller_name, destination, node, bucket_id, \
             band, since_ms, joined_at_ms, sticky_agent, ring_timeout_secs, state, offer_agents, lease_until_ms, \
             offered_at_ms, offers, variables, member_id, communication) \
             VALUES (?1, ?18, ?2, ?3, '', ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
             RETURNING id",
            args![
                &queue.id,
                &communication.destination,
                &member.name,
                &start.node,
                &member.bucket,
                queue.priority + member.priority + bucket_priority,
                now,
                &member.sticky_agent,
                queue.ring_timeout_secs as i64,
                state,
                offered.as_ref().map(|a| a.id.clone()),
                start.lease_until_ms,
                offered_at,
                offers,
                &member.variables,
                member.id,
                start.communication as i64,
                &start.call_id
            ],
        )?
        .int(0)?;
    if let Some(agent) = &offered {
        tx.exec(
            "UPDATE cc_agents SET state = 'offering', state_since_ms = ?1, attempt_id = ?3, lease_until_ms = ?4, \
             ready_at_ms = NULL, version = version + 1 WHERE id = ?2",
            args![now, &agent.id, attempt, start.lease_until_ms],
        )?;
    }
    tx.exec(
        "UPDATE cc_members SET open_attempt = ?2, redial_communication = NULL WHERE id = ?1",
        args![member.id, attempt],
    )?;
    let mut member = member;
    member.open_attempt = Some(attempt);
    Ok(Some(OutboundAttempt {
        attempt,
        member,
        communication: start.communication,
        agent: offered,
    }))
}

pub(crate) fn member_answered(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    attempt: i64,
    now: Ms,
) -> StoreResult<bool> {
    let setup = cache.get(tx)?;
    let lock = tx.for_update();
    let Some(row) = tx.row(
        &format!("SELECT state, queue_id, member_id FROM cc_attempts WHERE id = ?1 {lock}"),
        args![attempt],
    )?
    else {
        return Err(StoreError::NotFound(format!("attempt {attempt}")));
    };
    if row.opt_int(2)?.is_none() {
        return Err(FieldError::new(
            "attempt",
            format!("attempt {attempt} is not an outbound attempt"),
        )
        .into());
    }
    match row.text(0)?.as_str() {
        "left" => Ok(false),
        "dialling" => {
            let queue_id = row.text(1)?;
            let max_wait = find_queue(&setup, &queue_id).map_or(0, |q| q.max_wait_secs);
            let deadline = (max_wait > 0).then(|| now + max_wait as i64 * 1000);
            tx.exec(
                "UPDATE cc_attempts SET state = 'waiting', answered_at_ms = ?2, since_ms = ?2, band = band + ?3, \
                 deadline_ms = ?4, lease_until_ms = NULL, version = version + 1 WHERE id = ?1",
                args![attempt, now, ANSWERED_BAND, deadline],
            )?;
            Ok(true)
        }
        // Offered to a reserved agent or talking already: the answer is noted once.
        _ => {
            tx.exec(
                "UPDATE cc_attempts SET answered_at_ms = ?2 WHERE id = ?1 AND answered_at_ms IS NULL",
                args![attempt, now],
            )?;
            Ok(true)
        }
    }
}

pub(crate) fn finish_outbound(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    attempt: i64,
    outcome: &AttemptOutcome,
    now: Ms,
) -> StoreResult<MemberAfter> {
    let setup = cache.get(tx)?;
    finish_outbound_in(tx, &setup, attempt, outcome, now)
}

fn finish_outbound_in(
    tx: &mut dyn Tx,
    setup: &Setup,
    attempt: i64,
    outcome: &AttemptOutcome,
    now: Ms,
) -> StoreResult<MemberAfter> {
    let lock = tx.for_update();
    let Some(row) = tx.row(
        &format!(
            "SELECT member_id, communication, outcome, state, queue_id FROM cc_attempts WHERE id = ?1 {lock}"
        ),
        args![attempt],
    )?
    else {
        return Err(StoreError::NotFound(format!("attempt {attempt}")));
    };
    let Some(member_id) = row.opt_int(0)? else {
        return Err(FieldError::new(
            "attempt",
            format!("attempt {attempt} is not an outbound attempt"),
        )
        .into());
    };
    if let Some(stored) = row.opt_text(2)? {
        return parse("cc_attempts", &attempt.to_string(), &stored);
    }
    if outcome.result.is_empty() || outcome.result.chars().any(char::is_control) {
        return Err(FieldError::new("result", "must be a non-empty line of text").into());
    }
    for (i, c) in outcome.add_communications.iter().enumerate() {
        c.validate(&format!("add_communications[{i}]"))?;
    }
    if let Some(resource) = &outcome.resource {
        crate::model::check_gateway(resource).map_err(|m| FieldError::new("resource", m))?;
    }
    let index = row.opt_int(1)?.map(|c| c.max(0) as usize);
    let queue_id = row.text(4)?;
    // The member's row before the attempt's agents (taken by the leave below).
    let Some(member_found) = tx.row(
        &format!("SELECT {MEMBER_COLUMNS} FROM cc_members WHERE id = ?1 {lock}"),
        args![member_id],
    )?
    else {
        return Err(StoreError::NotFound(format!("member {member_id}")));
    };
    if row.text(3)? != "left" {
        leave_in(tx, setup, attempt, &outcome.result, now)?;
    }
    let (mut m, _) = member_row(&member_found)?;
    let queue = find_queue(setup, &queue_id);
    let result = outcome.result.as_str();
    let counts = outcome.counts_attempt;
    if let Some(c) = index.and_then(|i| m.communications.get_mut(i)) {
        if counts {
            c.attempts += 1;
        }
        c.last_result = Some(result.to_string());
        if outcome.exclude_current_communication {
            c.excluded = true;
        }
        if let Some(resource) = &outcome.resource {
            c.resource = Some(resource.clone());
        }
    }
    m.communications
        .extend(outcome.add_communications.iter().map(|c| Communication {
            attempts: 0,
            last_result: None,
            excluded: false,
            ..c.clone()
        }));
    if counts {
        m.attempts += 1;
    }
    if let Some(variables) = &outcome.variables {
        m.variables = merge_variables(&m.variables, variables, "variables")?;
    }
    if let Some(agent) = &outcome.sticky_agent {
        m.sticky_agent = Some(agent.clone());
    }
    if let Some(expire) = outcome.expire_at_ms {
        m.expire_at_ms = Some(expire);
    }
    // A member whose queue was redefined away falls back on the model's defaults.
    let max_attempts = match outcome.max_attempts {
        Some(n) if n > 0 => n,
        _ => queue.map_or_else(crate::model::default_max_attempts, |q| q.max_attempts),
    };
    let per_number = queue.map_or(0, |q| q.max_attempts_per_number);
    let redial = index.filter(|_| outcome.redial);
    let number_left = next_communication(&m, redial, per_number).is_some();
    let attempts_left = !counts || max_attempts == 0 || m.attempts < max_attempts;
    let finishing = outcome.stop || matches!(result, "success" | "canceled_by_timeout");
    let expired = m.expire_at_ms.is_some_and(|e| e <= now);
    if finishing || expired || !attempts_left || !number_left {
        m.stop_at_ms = Some(now);
        m.stop_cause = Some(if expired && !finishing {
            "expired".to_string()
        } else {
            result.to_string()
        });
    } else {
        let wait_secs = outcome.wait_between_retries_secs.unwrap_or_else(|| {
            queue.map_or_else(crate::model::default_wait_between_retries, |q| {
                q.wait_between_retries_secs
            })
        });
        m.ready_at_ms = Some(
            outcome
                .ready_at_ms
                .unwrap_or(now + wait_secs.min(i64::MAX as u64 / 1000) as i64 * 1000),
        );
    }
    write_member(tx, &m, redial)?;
    tx.exec(
        "UPDATE cc_members SET open_attempt = NULL WHERE id = ?1 AND open_attempt = ?2",
        args![m.id, attempt],
    )?;
    let after = MemberAfter {
        attempt,
        member: m.id,
        result: result.to_string(),
        stopped: m.stop_at_ms.is_some(),
        stop_cause: m.stop_cause.clone(),
        ready_at_ms: if m.stop_at_ms.is_some() {
            None
        } else {
            m.ready_at_ms
        },
        attempts: m.attempts,
    };
    tx.exec(
        "UPDATE cc_attempts SET outcome = ?2, version = version + 1 WHERE id = ?1",
        args![attempt, json(&after)],
    )?;
    Ok(after)
}

/// How long after it left an outbound attempt of `queue` waits for its outcome.
fn default_outcome_delay_ms(setup: &Setup, queue: &str) -> Ms {
    let wrap = find_queue(setup, queue).map_or(0, |q| q.wrap_up_secs);
    (wrap + OUTCOME_GRACE_SECS) as i64 * 1000
}

/// Per queue, the earliest left outbound attempt still without an outcome.
fn unfinished_by_queue(tx: &mut dyn Tx) -> StoreResult<Vec<(String, Ms)>> {
    tx.rows(
        "SELECT queue_id, MIN(left_at_ms) FROM cc_attempts WHERE member_id IS NOT NULL AND outcome IS NULL \
         AND state = 'left' GROUP BY queue_id",
        &[],
    )?
    .iter()
    .map(|r| Ok((r.text(0)?, r.int(1)?)))
    .collect()
}

/// The janitor's part for members: default outcomes for outbound attempts nobody finished
/// (a flow or node failed), and members whose expiry passed.
fn members_janitor(tx: &mut dyn Tx, setup: &Setup, out: &mut Janitor, now: Ms) -> StoreResult<()> {
    let skip = tx.skip_locked();
    let rows = tx.rows(
        &format!(
            "SELECT id, queue_id, left_at_ms, COALESCE(result, '') FROM cc_attempts \
             WHERE member_id IS NOT NULL AND outcome IS NULL AND state = 'left' AND left_at_ms <= ?1 \
             ORDER BY id {skip}"
        ),
        // None is due sooner than the grace after it left (the wrap-up adds to it): rows
        // that cannot be due are not locked.
        args![now - OUTCOME_GRACE_SECS as i64 * 1000],
    )?;
    for row in &rows {
        let (attempt, queue) = (row.int(0)?, row.text(1)?);
        if row.int(2)? + default_outcome_delay_ms(setup, &queue) > now {
            continue;
        }
        let result = match row.text(3)? {
            r if r.is_empty() => "abandoned".to_string(),
            r => r,
        };
        let after = finish_outbound_in(tx, setup, attempt, &AttemptOutcome::result(result), now)?;
        out.outbound_defaults.push(after);
    }
    out.expired_members = tx.ints(
        &format!(
            "UPDATE cc_members SET stop_at_ms = ?1, stop_cause = 'expired' WHERE id IN (SELECT id FROM cc_members \
             WHERE stop_at_ms IS NULL AND open_attempt IS NULL AND expire_at_ms <= ?1 {skip}) RETURNING id"
        ),
        args![now],
    )?;
    out.expired_members.sort();
    Ok(())
}

pub(crate) fn dial_stats(
    tx: &mut dyn Tx,
    cache: &SetupCache,
    queue: &str,
    since: Ms,
    _now: Ms,
) -> StoreResult<DialStats> {
    let setup = cache.get(tx)?;
    let queue = outbound_queue(&setup, queue, "queue")?;
    // Integer sums only: PostgreSQL's SUM of BIGINT and AVG are NUMERIC, which the store
    // does not read.
    let r = tx.one(
        "SELECT COUNT(*), \
         SUM(CASE WHEN answered_at_ms IS NOT NULL THEN 1 ELSE 0 END), \
         SUM(CASE WHEN answered_at_ms IS NOT NULL AND bridged_at_ms IS NULL AND state = 'left' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN result = 'no_answer' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN result = 'busy' THEN 1 ELSE 0 END), \
         SUM(CASE WHEN result = 'failed' THEN 1 ELSE 0 END), \
         CAST(SUM(CASE WHEN ended_at_ms IS NOT NULL AND bridged_at_ms IS NOT NULL \
                  THEN ended_at_ms - bridged_at_ms ELSE 0 END) AS BIGINT), \
         SUM(CASE WHEN ended_at_ms IS NOT NULL AND bridged_at_ms IS NOT NULL THEN 1 ELSE 0 END), \
         CAST(SUM(CASE WHEN answered_at_ms IS NOT NULL THEN answered_at_ms - joined_at_ms ELSE 0 END) AS BIGINT), \
         SUM(CASE WHEN answered_at_ms IS NOT NULL THEN 1 ELSE 0 END) \
         FROM cc_attempts WHERE queue_id = ?1 AND member_id IS NOT NULL AND joined_at_ms >= ?2",
        args![&queue.id, since],
    )?;
    let n = |i: usize| -> StoreResult<u64> { Ok(r.opt_int(i)?.unwrap_or(0).max(0) as u64) };
    let mean = |sum: usize, count: usize| -> StoreResult<Option<f64>> {
        let count = n(count)?;
        Ok((count > 0).then(|| r.opt_int(sum).ok().flatten().unwrap_or(0) as f64 / count as f64))
    };
    let in_flight = tx
        .one(
            "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?1 AND member_id IS NOT NULL \
             AND state IN ('dialling', 'waiting', 'offering')",
            args![&queue.id],
        )?
        .int(0)?;
    Ok(DialStats {
        dialled: n(0)?,
        answered: n(1)?,
        abandoned: n(2)?,
        no_answer: n(3)?,
        busy: n(4)?,
        failed: n(5)?,
        handle_ms_avg: mean(6, 7)?,
        answer_ms_avg: mean(8, 9)?,
        in_flight: in_flight.max(0) as u64,
    })
}
