//! The embedded store: one SQLite file (compiled in, no system library), WAL, one writer.
//!
//! Every method is one `BEGIN IMMEDIATE` transaction, so a connection that writes holds
//! the write lock from its first read: two processes or threads with their own connections
//! on one file serialise, and a claim's conditional updates decide who won. Provisioned
//! entities are stored as their JSON definition (the model's serde shape), runtime columns
//! beside them; migrations are numbered and applied at open.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};

use super::*;
use crate::calendar::CalendarState;
use crate::model::{Agent, Bucket, Queue};
use crate::order::{BEFORE_SQL, ORDER_BY_SQL, OrderKey};

/// Schema migrations; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE cc_setup_version (version BIGINT NOT NULL);
INSERT INTO cc_setup_version (version) VALUES (0);
CREATE TABLE cc_queues (
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    last_position INTEGER
);
CREATE TABLE cc_agents (
    id TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'offline',
    pause_reason TEXT,
    state TEXT NOT NULL DEFAULT 'waiting',
    state_since_ms BIGINT NOT NULL DEFAULT 0,
    ready_at_ms BIGINT,
    no_answer_count INTEGER NOT NULL DEFAULT 0,
    idle_since_ms BIGINT NOT NULL DEFAULT 0,
    day TEXT NOT NULL DEFAULT '',
    calls_today BIGINT NOT NULL DEFAULT 0,
    talk_secs_today BIGINT NOT NULL DEFAULT 0,
    attempt_id BIGINT,
    lease_until_ms BIGINT,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE cc_tiers (
    queue_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (queue_id, agent_id)
);
CREATE TABLE cc_skills (id TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE cc_buckets (id TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE cc_calendars (id TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE cc_attempts (
    id INTEGER PRIMARY KEY,
    queue_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    caller_number TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    destination TEXT NOT NULL,
    node TEXT NOT NULL,
    bucket_id TEXT,
    band BIGINT NOT NULL,
    since_ms BIGINT NOT NULL,
    joined_at_ms BIGINT NOT NULL,
    deadline_ms BIGINT,
    sticky_agent TEXT,
    target_agent TEXT,
    ring_timeout_secs BIGINT NOT NULL,
    state TEXT NOT NULL,
    offer_agents TEXT,
    missed_agents TEXT NOT NULL DEFAULT '',
    last_position INTEGER,
    lease_until_ms BIGINT,
    agent_id TEXT,
    offered_at_ms BIGINT,
    bridged_at_ms BIGINT,
    left_at_ms BIGINT,
    ended_at_ms BIGINT,
    result TEXT,
    offers BIGINT NOT NULL DEFAULT 0,
    variables TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cc_attempts_open ON cc_attempts (state, band DESC, since_ms, id);
CREATE INDEX cc_attempts_queue ON cc_attempts (queue_id, state, band DESC, since_ms, id);
CREATE INDEX cc_attempts_joined ON cc_attempts (joined_at_ms);
CREATE INDEX cc_attempts_call ON cc_attempts (call_id);
CREATE INDEX cc_attempts_caller ON cc_attempts (caller_number, queue_id);
CREATE INDEX cc_attempts_target ON cc_attempts (target_agent, state);
"#];

/// An agent that may be reserved now (`?1` = now): online, holding no lease, and waiting
/// or done resting. Dispatch reads and claims write with this one condition.
const FREE_AGENT_SQL: &str = "status = 'online' AND attempt_id IS NULL \
     AND (state = 'waiting' OR (state IN ('wrap_time', 'missed') AND ready_at_ms <= ?1))";

/// Attempt columns read into an [`AttemptRecord`], in `attempt_record`'s order.
const ATTEMPT_COLUMNS: &str = "id, queue_id, call_id, caller_number, caller_name, destination, node, \
     bucket_id, band, since_ms, state, agent_id, joined_at_ms, offered_at_ms, bridged_at_ms, left_at_ms, \
     ended_at_ms, result, offers, variables";

fn attempt_record(row: &Row<'_>) -> rusqlite::Result<AttemptRecord> {
    let state: String = row.get(10)?;
    Ok(AttemptRecord {
        id: row.get(0)?,
        queue_id: row.get(1)?,
        call_id: row.get(2)?,
        caller_number: row.get(3)?,
        caller_name: row.get(4)?,
        destination: row.get(5)?,
        node: row.get(6)?,
        bucket_id: row.get(7)?,
        band: row.get(8)?,
        since_ms: row.get(9)?,
        state: AttemptState::parse(&state).unwrap_or(AttemptState::Left),
        agent_id: row.get(11)?,
        joined_at_ms: row.get(12)?,
        offered_at_ms: row.get(13)?,
        bridged_at_ms: row.get(14)?,
        left_at_ms: row.get(15)?,
        ended_at_ms: row.get(16)?,
        result: row.get(17)?,
        offers: row.get(18)?,
        variables: row.get(19)?,
    })
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
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

/// The writer lock of a store file in this process (a private one for `:memory:`).
fn writer_lock(name: &str) -> Arc<Mutex<()>> {
    static LOCKS: LazyLock<Mutex<BTreeMap<PathBuf, Arc<Mutex<()>>>>> =
        LazyLock::new(Mutex::default);
    if name == ":memory:" {
        return Arc::default();
    }
    let key = std::fs::canonicalize(name).unwrap_or_else(|_| PathBuf::from(name));
    LOCKS.lock().entry(key).or_default().clone()
}

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Shared by every handle of this process on the same file: writers queue here instead
    /// of in SQLite's busy handler, which sleeps and retries.
    writer: Arc<Mutex<()>>,
    name: String,
    /// The provisioned setup as last read, with its version: reading and parsing every
    /// definition on each dispatch pass would cost more than the pass.
    setup_cache: Mutex<Option<(i64, Arc<Setup>)>>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the store file. One clear error names the
    /// file when it cannot be created, written, or is not a store.
    pub fn open(path: &str) -> StoreResult<SqliteStore> {
        let fail = |message: String| StoreError::Open {
            store: path.to_string(),
            message,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| {
            fail(
                e.to_string()
                    .trim_end_matches(&format!(": {path}"))
                    .to_string(),
            )
        })?;
        Self::prepare(conn, path.to_string(), path != ":memory:").map_err(|e| match e {
            StoreError::Database(m) => fail(m),
            other => other,
        })
    }

    /// A private in-memory store (the simulator and tests).
    pub fn in_memory() -> StoreResult<SqliteStore> {
        Self::open(":memory:")
    }

    fn prepare(mut conn: Connection, name: String, file: bool) -> StoreResult<SqliteStore> {
        conn.busy_timeout(Duration::from_secs(5)).map_err(db)?;
        if file {
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(db)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Database(format!(
                    "cannot switch to WAL (journal mode {mode})"
                )));
            }
            conn.execute_batch("PRAGMA synchronous = NORMAL")
                .map_err(db)?;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS cc_schema (version INTEGER NOT NULL)")
            .map_err(db)?;
        let version: Option<i64> = tx
            .query_row("SELECT version FROM cc_schema", [], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let version = version.unwrap_or(0);
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::Database(format!(
                "schema version {version} is newer than this build knows ({known}); upgrade mod_rustflow"
            )));
        }
        for migration in &MIGRATIONS[version as usize..] {
            tx.execute_batch(migration).map_err(db)?;
        }
        tx.execute("DELETE FROM cc_schema", []).map_err(db)?;
        tx.execute("INSERT INTO cc_schema (version) VALUES (?1)", [known])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(SqliteStore {
            writer: writer_lock(&name),
            conn: Mutex::new(conn),
            name,
            setup_cache: Mutex::new(None),
        })
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    fn write<T>(&self, body: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let _writer = self.writer.lock();
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let value = body(&tx)?;
        tx.commit().map_err(db)?;
        Ok(value)
    }

    /// Like [`Self::write`], but `Ok(None)` rolls everything back: a claim that lost one of
    /// its conditional writes leaves no trace.
    fn write_if<T>(
        &self,
        body: impl FnOnce(&Transaction<'_>) -> StoreResult<Option<T>>,
    ) -> StoreResult<Option<T>> {
        let _writer = self.writer.lock();
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let value = body(&tx)?;
        if value.is_some() {
            tx.commit().map_err(db)?;
        }
        Ok(value)
    }

    /// Runs `body` in a read transaction (one consistent snapshot).
    fn read<T>(&self, body: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db)?;
        body(&tx)
    }
}

impl SqliteStore {
    /// The setup, from the cache while its version is current.
    fn cached_setup(&self, tx: &Transaction<'_>) -> StoreResult<Arc<Setup>> {
        let version: i64 = tx
            .query_row("SELECT version FROM cc_setup_version", [], |r| r.get(0))
            .map_err(db)?;
        let mut cache = self.setup_cache.lock();
        if let Some((v, setup)) = cache.as_ref()
            && *v == version
        {
            return Ok(setup.clone());
        }
        let setup = Arc::new(load_setup(tx)?);
        *cache = Some((version, setup.clone()));
        Ok(setup)
    }
}

fn load_setup(tx: &Transaction<'_>) -> StoreResult<Setup> {
    fn all<T: serde::de::DeserializeOwned>(
        tx: &Transaction<'_>,
        table: &str,
        key: &str,
    ) -> StoreResult<Vec<T>> {
        let mut stmt = tx
            .prepare(&format!(
                "SELECT {key}, definition FROM {table} ORDER BY {key}"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, text) = row.map_err(db)?;
            out.push(parse(table, &id, &text)?);
        }
        Ok(out)
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

fn agent_status(tx: &Transaction<'_>, id: &str) -> StoreResult<Option<String>> {
    tx.query_row("SELECT status FROM cc_agents WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
    .map_err(db)
}

/// Frees the agents reserved for `attempt` (back to waiting, no rest).
fn release_agents(tx: &Transaction<'_>, attempt: i64, now: Ms) -> StoreResult<Vec<String>> {
    let mut stmt = tx
        .prepare(
            "SELECT id FROM cc_agents WHERE attempt_id = ?1 AND state = 'offering' ORDER BY id",
        )
        .map_err(db)?;
    let ids: Vec<String> = stmt
        .query_map([attempt], |r| r.get(0))
        .map_err(db)?
        .collect::<Result<_, _>>()
        .map_err(db)?;
    tx.execute(
        "UPDATE cc_agents SET state = 'waiting', state_since_ms = ?2, attempt_id = NULL, lease_until_ms = NULL, \
         version = version + 1 WHERE attempt_id = ?1 AND state = 'offering'",
        params![attempt, now],
    )
    .map_err(db)?;
    Ok(ids)
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn setup(&self) -> StoreResult<Setup> {
        self.read(load_setup)
    }

    fn apply(&self, changes: &[Change]) -> StoreResult<()> {
        self.write(|tx| {
            let mut setup = (*self.cached_setup(tx)?).clone();
            apply_to(&mut setup, changes)?;
            for change in changes {
                match change {
                    Change::DelQueue(id) => {
                        let open: i64 = tx
                            .query_row(
                                "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?1 AND state <> 'left'",
                                [id],
                                |r| r.get(0),
                            )
                            .map_err(db)?;
                        if open > 0 {
                            return Err(FieldError::new(
                                "",
                                format!("queue `{id}` has {open} caller(s) in it; delete it when it is empty"),
                            )
                            .into());
                        }
                        tx.execute("DELETE FROM cc_queues WHERE id = ?1", [id]).map_err(db)?;
                        tx.execute("DELETE FROM cc_tiers WHERE queue_id = ?1", [id]).map_err(db)?;
                    }
                    Change::DelAgent(id) => {
                        let busy: Option<i64> = tx
                            .query_row("SELECT attempt_id FROM cc_agents WHERE id = ?1", [id], |r| r.get(0))
                            .optional()
                            .map_err(db)?
                            .flatten();
                        if busy.is_some() {
                            return Err(FieldError::new(
                                "",
                                format!("agent `{id}` is on a call; delete it when it is free"),
                            )
                            .into());
                        }
                        tx.execute("DELETE FROM cc_agents WHERE id = ?1", [id]).map_err(db)?;
                        tx.execute("DELETE FROM cc_tiers WHERE agent_id = ?1", [id]).map_err(db)?;
                    }
                    Change::DelTier { queue, agent } => {
                        tx.execute(
                            "DELETE FROM cc_tiers WHERE queue_id = ?1 AND agent_id = ?2",
                            [queue, agent],
                        )
                        .map_err(db)?;
                    }
                    Change::DelSkill(id) => {
                        tx.execute("DELETE FROM cc_skills WHERE id = ?1", [id]).map_err(db)?;
                    }
                    Change::DelBucket(id) => {
                        tx.execute("DELETE FROM cc_buckets WHERE id = ?1", [id]).map_err(db)?;
                    }
                    Change::DelCalendar(id) => {
                        tx.execute("DELETE FROM cc_calendars WHERE id = ?1", [id]).map_err(db)?;
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
                        tx.execute(
                            "INSERT INTO cc_tiers (queue_id, agent_id, definition) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (queue_id, agent_id) DO UPDATE SET definition = excluded.definition",
                            params![t.queue, t.agent, json(t)],
                        )
                        .map_err(db)?;
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
            tx.execute("UPDATE cc_setup_version SET version = version + 1", [])
                .map_err(db)?;
            Ok(())
        })
    }

    fn set_agent_status(
        &self,
        agent: &str,
        status: AgentStatus,
        reason: Option<&str>,
        now: Ms,
    ) -> StoreResult<()> {
        self.write(|tx| {
            let Some(before) = agent_status(tx, agent)? else {
                return Err(StoreError::NotFound(format!("agent `{agent}`")));
            };
            if let Some(r) = reason
                && (r.chars().count() > 200 || r.chars().any(char::is_control))
            {
                return Err(FieldError::new(
                    "reason",
                    "must be one line of at most 200 characters",
                )
                .into());
            }
            let reason = if status == AgentStatus::Pause {
                reason
            } else {
                None
            };
            // Going online starts the idle clock and forgets missed offers.
            let online_now = status == AgentStatus::Online && before != "online";
            tx.execute(
                "UPDATE cc_agents SET status = ?2, pause_reason = ?3, \
                 idle_since_ms = CASE WHEN ?4 THEN ?5 ELSE idle_since_ms END, \
                 no_answer_count = CASE WHEN ?4 THEN 0 ELSE no_answer_count END, \
                 version = version + 1 WHERE id = ?1",
                params![agent, status.as_str(), reason, online_now, now],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn agents(&self, _now: Ms) -> StoreResult<Vec<AgentView>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT id, definition, status, pause_reason, state, state_since_ms, ready_at_ms, \
                     no_answer_count, calls_today, talk_secs_today, attempt_id, lease_until_ms \
                     FROM cc_agents ORDER BY id",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, u32>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, Option<i64>>(10)?,
                        r.get::<_, Option<i64>>(11)?,
                    ))
                })
                .map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, def, status, pause_reason, state, since, ready, missed, calls, talk, attempt, lease) =
                    row.map_err(db)?;
                let agent: Agent = parse("cc_agents", &id, &def)?;
                out.push(AgentView {
                    name: agent.name,
                    id,
                    status: AgentStatus::parse(&status).unwrap_or(AgentStatus::Offline),
                    pause_reason,
                    state: AgentState::parse(&state).unwrap_or(AgentState::Waiting),
                    state_since_ms: since,
                    ready_at_ms: ready,
                    no_answer_count: missed,
                    calls_today: calls,
                    talk_secs_today: talk,
                    attempt,
                    lease_until_ms: lease,
                });
            }
            Ok(out)
        })
    }

    fn join(&self, request: &JoinRequest, now: Ms) -> StoreResult<JoinOutcome> {
        let refuse = |result: &str, reason: String| {
            Ok(JoinOutcome::Refused {
                result: result.to_string(),
                reason,
            })
        };
        self.write(|tx| {
            let setup = self.cached_setup(tx)?;
            let already: Option<String> = tx
                .query_row(
                    "SELECT queue_id FROM cc_attempts WHERE call_id = ?1 AND state <> 'left'",
                    [&request.call_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db)?;
            if let Some(q) = already {
                return refuse("error", format!("the call already waits in queue `{q}`"));
            }
            let (queue_id, band_base, deadline, ring_timeout, ringtone, sticky, target, resume_secs) =
                if let Some(target) = &request.target_agent {
                    let Some(agent) = find_agent(&setup, target) else {
                        return refuse("error", format!("no agent `{target}`"));
                    };
                    let timeout = if request.ring_timeout_secs == 0 { 20 } else { request.ring_timeout_secs };
                    let name = if request.queue.is_empty() { "agent".to_string() } else { request.queue.clone() };
                    (name, 0, None, timeout, None, None, Some(agent.id.clone()), 0)
                } else {
                    let Some(queue) = find_queue(&setup, &request.queue) else {
                        return refuse("error", format!("no queue `{}`", request.queue));
                    };
                    if !queue.enabled {
                        return refuse("disabled", format!("queue `{}` is disabled", queue.id));
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
                                return refuse("closed", format!("calendar `{cal_id}` is closed for {name}"));
                            }
                        }
                    }
                    if queue.max_waiting > 0 {
                        let waiting: i64 = tx
                            .query_row(
                                "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?1 AND state IN ('waiting', 'offering')",
                                [&queue.id],
                                |r| r.get(0),
                            )
                            .map_err(db)?;
                        if waiting as u64 >= queue.max_waiting {
                            return refuse(
                                "max_wait_size",
                                format!("queue `{}` already has {waiting} callers waiting", queue.id),
                            );
                        }
                    }
                    if queue.no_agents_timeout_secs > 0 && online_agents(tx, &setup, queue)? == 0 {
                        return refuse("no_agents", format!("no agent of queue `{}` is online", queue.id));
                    }
                    // A preferred agent is kept only when the queue waits for one and the
                    // agent is online and serves the queue.
                    let mut sticky = None;
                    if queue.sticky_agent
                        && let Some(key) = &request.sticky_agent
                        && let Some(agent) = find_agent(&setup, key)
                        && serves(&setup, queue, agent)
                        && agent_status(tx, &agent.id)?.as_deref() == Some("online")
                    {
                        sticky = Some(agent.id.clone());
                    }
                    let deadline = (queue.max_wait_secs > 0).then(|| now + queue.max_wait_secs as i64 * 1000);
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
            // A caller who hung up and calls again within the window keeps the time it had
            // waited (not Webitel's "seconds since the abandon").
            let mut since = now;
            if resume_secs > 0 && !request.caller_number.is_empty() {
                let earlier: Option<(i64, i64)> = tx
                    .query_row(
                        "SELECT since_ms, left_at_ms FROM cc_attempts WHERE caller_number = ?1 AND queue_id = ?2 \
                         AND result = 'abandoned' AND left_at_ms >= ?3 ORDER BY left_at_ms DESC LIMIT 1",
                        params![request.caller_number, queue_id, now - resume_secs as i64 * 1000],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(db)?;
                if let Some((earlier_since, left_at)) = earlier {
                    since = now - (left_at - earlier_since).max(0);
                }
            }
            tx.execute(
                "INSERT INTO cc_attempts (queue_id, call_id, caller_number, caller_name, destination, node, bucket_id, \
                 band, since_ms, joined_at_ms, deadline_ms, sticky_agent, target_agent, ring_timeout_secs, state, variables) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'waiting', ?15)",
                params![
                    queue_id,
                    request.call_id,
                    request.caller_number,
                    request.caller_name,
                    request.destination,
                    request.node,
                    bucket.map(|b| b.id.clone()),
                    band,
                    since,
                    now,
                    deadline,
                    sticky,
                    target,
                    ring_timeout as i64,
                    request.variables,
                ],
            )
            .map_err(db)?;
            Ok(JoinOutcome::Joined {
                attempt: tx.last_insert_rowid(),
                queue_id,
                ringtone,
            })
        })
    }

    fn answered(&self, attempt: i64, agent: &str, now: Ms) -> StoreResult<bool> {
        self.write(|tx| {
            let won = tx
                .execute(
                    "UPDATE cc_agents SET state = 'bridged', state_since_ms = ?3, lease_until_ms = NULL, \
                     no_answer_count = 0, version = version + 1 \
                     WHERE id = ?1 AND attempt_id = ?2 AND state = 'offering'",
                    params![agent, attempt, now],
                )
                .map_err(db)?;
            if won == 0 {
                return Ok(false);
            }
            let updated = tx
                .execute(
                    "UPDATE cc_attempts SET state = 'bridged', agent_id = ?2, bridged_at_ms = ?3, lease_until_ms = NULL, \
                     offer_agents = NULL, version = version + 1 WHERE id = ?1 AND state = 'offering'",
                    params![attempt, agent, now],
                )
                .map_err(db)?;
            if updated == 0 {
                return Err(StoreError::Database(format!(
                    "agent `{agent}` held attempt {attempt} but the attempt was not being offered"
                )));
            }
            // The other agents of a ring-all offer are free again.
            tx.execute(
                "UPDATE cc_agents SET state = 'waiting', state_since_ms = ?3, attempt_id = NULL, lease_until_ms = NULL, \
                 version = version + 1 WHERE attempt_id = ?1 AND id <> ?2 AND state = 'offering'",
                params![attempt, agent, now],
            )
            .map_err(db)?;
            Ok(true)
        })
    }

    fn missed(
        &self,
        attempt: i64,
        agents: &[String],
        reason: &str,
        now: Ms,
    ) -> StoreResult<Vec<Paused>> {
        self.write(|tx| {
            // Offered, or answered by one of these agents who was gone before the caller was
            // connected: either way the caller goes back to its place.
            let row: Option<(String, String)> = tx
                .query_row(
                    "SELECT queue_id, missed_agents, agent_id FROM cc_attempts WHERE id = ?1 AND (state = 'offering' \
                     OR (state = 'bridged' AND agent_id IN (SELECT value FROM json_each(?2))))",
                    params![attempt, serde_json::to_string(agents).unwrap_or_default()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((queue_id, mut missed_list)) = row else {
                // The caller left or the lease ended meanwhile: whatever still holds the
                // attempt is released without blame.
                release_agents(tx, attempt, now)?;
                return Ok(Vec::new());
            };
            let setup = self.cached_setup(tx)?;
            let queue = setup.queues.iter().find(|q| q.id == queue_id);
            let delay_ms = queue.map_or(10, |q| q.no_answer_delay_secs) as i64 * 1000;
            let max_no_answer = queue.map_or(0, |q| q.max_no_answer);
            let mut paused = Vec::new();
            for agent in agents {
                let count: Option<u32> = tx
                    .query_row(
                        "SELECT no_answer_count FROM cc_agents WHERE id = ?1 AND attempt_id = ?2",
                        params![agent, attempt],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(db)?;
                let Some(count) = count else { continue };
                let count = count + 1;
                if max_no_answer > 0 && count >= max_no_answer {
                    let why = format!("max no answer ({count} missed offers, last: {reason})");
                    tx.execute(
                        "UPDATE cc_agents SET status = 'pause', pause_reason = ?3, state = 'waiting', state_since_ms = ?4, \
                         attempt_id = NULL, lease_until_ms = NULL, ready_at_ms = NULL, no_answer_count = ?2, \
                         version = version + 1 WHERE id = ?1",
                        params![agent, count, why, now],
                    )
                    .map_err(db)?;
                    paused.push(Paused {
                        agent: agent.clone(),
                        reason: why,
                    });
                } else {
                    tx.execute(
                        "UPDATE cc_agents SET state = 'missed', state_since_ms = ?3, ready_at_ms = ?4, attempt_id = NULL, \
                         lease_until_ms = NULL, no_answer_count = ?2, version = version + 1 WHERE id = ?1",
                        params![agent, count, now, now + delay_ms],
                    )
                    .map_err(db)?;
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
            tx.execute(
                "UPDATE cc_attempts SET state = 'waiting', offer_agents = NULL, lease_until_ms = NULL, \
                 agent_id = NULL, bridged_at_ms = NULL, missed_agents = ?2, version = version + 1 WHERE id = ?1",
                params![attempt, missed_list],
            )
            .map_err(db)?;
            Ok(paused)
        })
    }

    fn leave(&self, attempt: i64, result: &str, now: Ms) -> StoreResult<String> {
        self.write(|tx| leave_in(tx, &*self.cached_setup(tx)?, attempt, result, now))
    }

    fn attempt(&self, attempt: i64) -> StoreResult<Option<AttemptRecord>> {
        self.read(|tx| {
            tx.query_row(
                &format!("SELECT {ATTEMPT_COLUMNS} FROM cc_attempts WHERE id = ?1"),
                [attempt],
                attempt_record,
            )
            .optional()
            .map_err(db)
        })
    }

    fn position(&self, attempt: i64) -> StoreResult<u32> {
        self.read(|tx| {
            let key: Option<(String, i64, i64, String)> = tx
                .query_row(
                    "SELECT queue_id, band, since_ms, state FROM cc_attempts WHERE id = ?1",
                    [attempt],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(db)?;
            let Some((queue, band, since, state)) = key else {
                return Ok(0);
            };
            if state != "waiting" && state != "offering" {
                return Ok(0);
            }
            let before: i64 = tx
                .query_row(
                    &format!(
                        "SELECT COUNT(*) FROM cc_attempts WHERE queue_id = ?4 AND state IN ('waiting', 'offering') AND {BEFORE_SQL}"
                    ),
                    params![band, since, attempt, queue],
                    |r| r.get(0),
                )
                .map_err(db)?;
            Ok(before as u32 + 1)
        })
    }

    fn dispatch_view(&self, now: Ms) -> StoreResult<DispatchView> {
        self.read(|tx| {
            let setup = self.cached_setup(tx)?;
            let today = day_of(now);
            let by_id: BTreeMap<&str, &Agent> = setup.agents.iter().map(|a| (a.id.as_str(), a)).collect();
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT id, idle_since_ms, day, calls_today, talk_secs_today FROM cc_agents \
                     WHERE {FREE_AGENT_SQL} ORDER BY id"
                ))
                .map_err(db)?;
            let agents: Vec<FreeAgent> = stmt
                .query_map([now], |r| {
                    let day: String = r.get(2)?;
                    let fresh = day == today;
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        if fresh { r.get(3)? } else { 0 },
                        if fresh { r.get(4)? } else { 0 },
                    ))
                })
                .map_err(db)?
                .collect::<Result<Vec<(String, i64, i64, i64)>, _>>()
                .map_err(db)?
                .into_iter()
                .map(|(id, idle, calls, talk)| FreeAgent {
                    skills: by_id
                        .get(id.as_str())
                        .map(|a| a.skills.iter().map(|s| (s.skill.clone(), s.capacity)).collect())
                        .unwrap_or_default(),
                    id,
                    idle_since_ms: idle,
                    talk_secs_today: talk,
                    calls_today: calls,
                })
                .collect();
            // Only the head of each queue that has a free agent can be served in this pass:
            // each claim takes at least one agent. The margin covers callers that wait for a
            // preferred agent or a higher tier level.
            let free_ids: std::collections::BTreeSet<&str> = agents.iter().map(|a| a.id.as_str()).collect();
            let mut free_per_queue: BTreeMap<&str, usize> = BTreeMap::new();
            for t in &setup.tiers {
                if free_ids.contains(t.agent.as_str()) {
                    *free_per_queue.entry(t.queue.as_str()).or_default() += 1;
                }
            }
            const COLUMNS: &str = "id, version, queue_id, band, since_ms, joined_at_ms, sticky_agent, target_agent, \
                 last_position, missed_agents, ring_timeout_secs";
            let read = |r: &Row<'_>| {
                let missed: String = r.get(9)?;
                Ok(WaitingAttempt {
                    id: r.get(0)?,
                    version: r.get(1)?,
                    queue_id: r.get(2)?,
                    band: r.get(3)?,
                    since_ms: r.get(4)?,
                    joined_at_ms: r.get(5)?,
                    sticky_agent: r.get(6)?,
                    target_agent: r.get(7)?,
                    last_position: r.get(8)?,
                    ring_timeout_secs: r.get::<_, i64>(10)?.max(0) as u64,
                    missed_agents: missed.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                })
            };
            let mut attempts = Vec::new();
            let mut head = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM cc_attempts WHERE state = 'waiting' AND queue_id = ?1 \
                     AND target_agent IS NULL ORDER BY {ORDER_BY_SQL} LIMIT ?2"
                ))
                .map_err(db)?;
            for (queue, free) in &free_per_queue {
                let rows = head.query_map(params![queue, (free * 2 + 64) as i64], read).map_err(db)?;
                for row in rows {
                    attempts.push(row.map_err(db)?);
                }
            }
            let mut direct = tx
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM cc_attempts WHERE state = 'waiting' AND target_agent = ?1 \
                     ORDER BY {ORDER_BY_SQL} LIMIT 1"
                ))
                .map_err(db)?;
            for agent in &agents {
                let rows = direct.query_map([&agent.id], read).map_err(db)?;
                for row in rows {
                    attempts.push(row.map_err(db)?);
                }
            }
            attempts.sort_by_key(|a| OrderKey {
                band: a.band,
                since_ms: a.since_ms,
                id: a.id,
            });
            let mut stmt = tx
                .prepare("SELECT id, last_position FROM cc_queues WHERE last_position IS NOT NULL")
                .map_err(db)?;
            let queue_last_position = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)?;
            Ok(DispatchView {
                attempts,
                agents,
                setup,
                queue_last_position,
            })
        })
    }

    fn claim(&self, claim: &Claim, now: Ms) -> StoreResult<Option<Offer>> {
        self.write_if(|tx| {
            let offer_list = claim.agents.join(",");
            let won = tx
                .execute(
                    "UPDATE cc_attempts SET state = 'offering', offer_agents = ?3, lease_until_ms = ?4, offered_at_ms = ?5, \
                     last_position = ?6, offers = offers + 1, version = version + 1 \
                     WHERE id = ?1 AND version = ?2 AND state = 'waiting'",
                    params![claim.attempt, claim.attempt_version, offer_list, claim.lease_until_ms, now, claim.position],
                )
                .map_err(db)?;
            if won == 0 {
                return Ok(None);
            }
            for agent in &claim.agents {
                let won = tx
                    .execute(
                        &format!(
                            "UPDATE cc_agents SET state = 'offering', state_since_ms = ?1, attempt_id = ?3, lease_until_ms = ?4, \
                             ready_at_ms = NULL, version = version + 1 WHERE id = ?2 AND {FREE_AGENT_SQL}"
                        ),
                        params![now, agent, claim.attempt, claim.lease_until_ms],
                    )
                    .map_err(db)?;
                if won == 0 {
                    // Lost: the attempt's update is rolled back with the rest.
                    return Ok(None);
                }
            }
            let (queue_id, call_id, node, ring_timeout): (String, String, String, i64) = tx
                .query_row(
                    "SELECT queue_id, call_id, node, ring_timeout_secs FROM cc_attempts WHERE id = ?1",
                    [claim.attempt],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .map_err(db)?;
            tx.execute(
                "UPDATE cc_queues SET last_position = ?2 WHERE id = ?1",
                params![queue_id, claim.position],
            )
            .map_err(db)?;
            let mut agents = Vec::new();
            for id in &claim.agents {
                let def: String = tx
                    .query_row("SELECT definition FROM cc_agents WHERE id = ?1", [id], |r| r.get(0))
                    .map_err(db)?;
                let agent: Agent = parse("cc_agents", id, &def)?;
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
                call_id,
                node,
                queue_id,
                agents,
                ring_timeout_secs: ring_timeout as u64,
                lease_until_ms: claim.lease_until_ms,
            }))
        })
    }

    fn janitor(&self, now: Ms) -> StoreResult<Janitor> {
        self.write(|tx| {
            let mut out = Janitor::default();
            // Offers whose lease ran out: the caller's side never reported.
            let expired: Vec<i64> = collect(
                tx,
                "SELECT id FROM cc_attempts WHERE state = 'offering' AND lease_until_ms <= ?1 ORDER BY id",
                [now],
            )?;
            for attempt in expired {
                let agents = release_agents(tx, attempt, now)?;
                tx.execute(
                    "UPDATE cc_attempts SET state = 'waiting', offer_agents = NULL, lease_until_ms = NULL, \
                     version = version + 1 WHERE id = ?1",
                    [attempt],
                )
                .map_err(db)?;
                out.expired_offers.push((attempt, agents));
            }
            let setup = self.cached_setup(tx)?;
            // Max wait.
            let due: Vec<i64> = collect(
                tx,
                "SELECT id FROM cc_attempts WHERE state = 'waiting' AND deadline_ms <= ?1 ORDER BY id",
                [now],
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
                let due: Vec<i64> = collect(
                    tx,
                    "SELECT id FROM cc_attempts WHERE state = 'waiting' AND queue_id = ?1 AND joined_at_ms <= ?2 ORDER BY id",
                    params![queue.id, now - queue.no_agents_timeout_secs as i64 * 1000],
                )?;
                for attempt in due {
                    leave_in(tx, &setup, attempt, "no_agents", now)?;
                    out.closed.push(closed_row(tx, attempt)?);
                }
            }
            out.rested = collect(
                tx,
                "SELECT id FROM cc_agents WHERE state IN ('wrap_time', 'missed') AND ready_at_ms <= ?1 ORDER BY id",
                [now],
            )?;
            tx.execute(
                "UPDATE cc_agents SET state = 'waiting', state_since_ms = ready_at_ms, ready_at_ms = NULL, \
                 version = version + 1 WHERE state IN ('wrap_time', 'missed') AND ready_at_ms <= ?1",
                [now],
            )
            .map_err(db)?;
            Ok(out)
        })
    }

    fn next_due(&self, _now: Ms) -> StoreResult<Option<Ms>> {
        self.read(|tx| {
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
                take(tx.query_row(sql, [], |r| r.get(0)).map_err(db)?);
            }
            let setup = self.cached_setup(tx)?;
            for queue in setup.queues.iter().filter(|q| q.no_agents_timeout_secs > 0) {
                let first: Option<Ms> = tx
                    .query_row(
                        "SELECT MIN(joined_at_ms) FROM cc_attempts WHERE state = 'waiting' AND queue_id = ?1",
                        [&queue.id],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                take(first.map(|j| j + queue.no_agents_timeout_secs as i64 * 1000));
            }
            Ok(due)
        })
    }

    fn close_node(&self, node: &str, result: &str, now: Ms) -> StoreResult<usize> {
        self.write(|tx| {
            let setup = self.cached_setup(tx)?;
            let open: Vec<i64> = collect(
                tx,
                "SELECT id FROM cc_attempts WHERE node = ?1 AND state <> 'left' ORDER BY id",
                [node],
            )?;
            for attempt in &open {
                leave_in(tx, &setup, *attempt, result, now)?;
            }
            Ok(open.len())
        })
    }

    fn history(&self, queue: Option<&str>, since: Ms) -> StoreResult<Vec<AttemptRecord>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM cc_attempts WHERE joined_at_ms >= ?1 \
                     AND (?2 IS NULL OR queue_id = ?2) ORDER BY id"
                ))
                .map_err(db)?;
            stmt.query_map(params![since, queue], attempt_record)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
    }

    fn waiting(&self) -> StoreResult<Vec<AttemptRecord>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {ATTEMPT_COLUMNS} FROM cc_attempts WHERE state IN ('waiting', 'offering') ORDER BY {ORDER_BY_SQL}"
                ))
                .map_err(db)?;
            stmt.query_map([], attempt_record)
                .map_err(db)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db)
        })
    }

    fn agent_counts(&self, queue: &str, now: Ms) -> StoreResult<AgentCounts> {
        self.read(|tx| {
            let setup = self.cached_setup(tx)?;
            let Some(q) = find_queue(&setup, queue) else {
                return Err(StoreError::NotFound(format!("queue `{queue}`")));
            };
            let mut counts = AgentCounts::default();
            let now_free: Vec<String> = collect(
                tx,
                &format!("SELECT id FROM cc_agents WHERE {FREE_AGENT_SQL}"),
                [now],
            )?;
            for agent in setup.agents.iter().filter(|a| serves(&setup, q, a)) {
                counts.count += 1;
                match agent_status(tx, &agent.id)?.as_deref() {
                    Some("online") => counts.online += 1,
                    Some("pause") => counts.pause += 1,
                    _ => counts.offline += 1,
                }
                if now_free.contains(&agent.id) {
                    counts.waiting += 1;
                }
            }
            Ok(counts)
        })
    }
}

fn upsert(tx: &Transaction<'_>, table: &str, id: &str, definition: &str) -> StoreResult<()> {
    tx.execute(
        &format!(
            "INSERT INTO {table} (id, definition) VALUES (?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET definition = excluded.definition"
        ),
        params![id, definition],
    )
    .map_err(db)?;
    Ok(())
}

fn collect<T: rusqlite::types::FromSql, P: rusqlite::Params>(
    tx: &Transaction<'_>,
    sql: &str,
    params: P,
) -> StoreResult<Vec<T>> {
    let mut stmt = tx.prepare(sql).map_err(db)?;
    stmt.query_map(params, |r| r.get(0))
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)
}

fn closed_row(tx: &Transaction<'_>, attempt: i64) -> StoreResult<(i64, String, String, String)> {
    tx.query_row(
        "SELECT id, call_id, node, COALESCE(result, '') FROM cc_attempts WHERE id = ?1",
        [attempt],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .map_err(db)
}

fn online_agents(tx: &Transaction<'_>, setup: &Setup, queue: &Queue) -> StoreResult<usize> {
    let mut n = 0;
    for agent in setup.agents.iter().filter(|a| serves(setup, queue, a)) {
        if agent_status(tx, &agent.id)?.as_deref() == Some("online") {
            n += 1;
        }
    }
    Ok(n)
}

/// Ends an attempt (see [`Store::leave`]) inside a transaction.
fn leave_in(
    tx: &Transaction<'_>,
    setup: &Setup,
    attempt: i64,
    result: &str,
    now: Ms,
) -> StoreResult<String> {
    type Ending = (String, Option<String>, Option<String>, Option<i64>, String);
    let row: Option<Ending> = tx
        .query_row(
            "SELECT state, result, agent_id, bridged_at_ms, queue_id FROM cc_attempts WHERE id = ?1",
            [attempt],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()
        .map_err(db)?;
    let Some((state, stored, agent, bridged_at, queue_id)) = row else {
        return Err(StoreError::NotFound(format!("attempt {attempt}")));
    };
    match state.as_str() {
        "left" => Ok(stored.unwrap_or_default()),
        "bridged" => {
            tx.execute(
                "UPDATE cc_attempts SET state = 'left', result = ?2, left_at_ms = ?3, ended_at_ms = ?3, \
                 version = version + 1 WHERE id = ?1",
                params![attempt, result, now],
            )
            .map_err(db)?;
            if let Some(agent) = agent {
                let wrap_ms = setup
                    .queues
                    .iter()
                    .find(|q| q.id == queue_id)
                    .map_or(0, |q| q.wrap_up_secs as i64 * 1000);
                let talk_secs = (now - bridged_at.unwrap_or(now)).max(0) / 1000;
                let today = day_of(now);
                let (state, ready_at) = if wrap_ms > 0 {
                    ("wrap_time", Some(now + wrap_ms))
                } else {
                    ("waiting", None)
                };
                tx.execute(
                    "UPDATE cc_agents SET state = ?3, state_since_ms = ?4, ready_at_ms = ?5, attempt_id = NULL, \
                     lease_until_ms = NULL, idle_since_ms = ?4 + COALESCE(?5 - ?4, 0), \
                     calls_today = CASE WHEN day = ?6 THEN calls_today + 1 ELSE 1 END, \
                     talk_secs_today = CASE WHEN day = ?6 THEN talk_secs_today + ?7 ELSE ?7 END, \
                     day = ?6, version = version + 1 WHERE id = ?1 AND attempt_id = ?2",
                    params![agent, attempt, state, now, ready_at, today, talk_secs],
                )
                .map_err(db)?;
            }
            Ok(result.to_string())
        }
        _ => {
            release_agents(tx, attempt, now)?;
            tx.execute(
                "UPDATE cc_attempts SET state = 'left', result = ?2, left_at_ms = ?3, offer_agents = NULL, \
                 lease_until_ms = NULL, version = version + 1 WHERE id = ?1",
                params![attempt, result, now],
            )
            .map_err(db)?;
            Ok(result.to_string())
        }
    }
}
