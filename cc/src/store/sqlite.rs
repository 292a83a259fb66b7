//! The embedded store: one SQLite file (compiled in, no system library), WAL, one writer.
//!
//! Every method is one `BEGIN IMMEDIATE` transaction, so a connection that writes holds
//! the write lock from its first read: two processes or threads with their own connections
//! on one file serialise, and a claim's conditional reads decide who won. Provisioned
//! entities are stored as their JSON definition (the model's serde shape), runtime columns
//! beside them; migrations are numbered and applied at open. What each method does is the
//! shared `logic` (the same for PostgreSQL); this file connects, migrates, runs
//! transactions and polls for other writers (the change feed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use super::logic::{self, SetupCache, sql_store};
use super::sql::{Row, Tx, Value};
use super::*;
use crate::model::Setup;

pub(crate) use super::logic::skills_fit;

/// Schema migrations; entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
CREATE TABLE cc_nodes (node TEXT PRIMARY KEY, heartbeat_ms BIGINT NOT NULL);
"#, // Since when a node has heartbeated without a gap longer than the lease.
    r#"
ALTER TABLE cc_nodes ADD COLUMN alive_since_ms BIGINT NOT NULL DEFAULT 0;
"#, // Members of outbound queues, and outbound attempts linked to them.
    r#"
CREATE TABLE cc_members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue_id TEXT NOT NULL,
    name TEXT NOT NULL,
    priority BIGINT NOT NULL,
    bucket_id TEXT,
    variables TEXT NOT NULL,
    timezone TEXT,
    communications TEXT NOT NULL,
    ready_at_ms BIGINT,
    expire_at_ms BIGINT,
    stop_at_ms BIGINT,
    stop_cause TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    sticky_agent TEXT,
    created_at_ms BIGINT NOT NULL,
    open_attempt BIGINT,
    redial_communication BIGINT
);
CREATE INDEX cc_members_dial ON cc_members (queue_id, priority DESC, id) WHERE stop_at_ms IS NULL;
CREATE INDEX cc_members_expiry ON cc_members (expire_at_ms) WHERE stop_at_ms IS NULL;
ALTER TABLE cc_attempts ADD COLUMN member_id BIGINT;
ALTER TABLE cc_attempts ADD COLUMN communication BIGINT;
ALTER TABLE cc_attempts ADD COLUMN answered_at_ms BIGINT;
ALTER TABLE cc_attempts ADD COLUMN outcome TEXT;
CREATE INDEX cc_attempts_member ON cc_attempts (queue_id, joined_at_ms) WHERE member_id IS NOT NULL;
CREATE INDEX cc_attempts_unfinished ON cc_attempts (id) WHERE member_id IS NOT NULL AND outcome IS NULL;
"#,
];

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
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
    cache: SetupCache,
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
        // Every statement the shared semantics run stays prepared (a few dozen).
        conn.set_prepared_statement_cache_capacity(128);
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
            cache: SetupCache::default(),
        })
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    fn write<T>(&self, body: impl FnOnce(&mut dyn Tx) -> StoreResult<T>) -> StoreResult<T> {
        let _writer = self.writer.lock();
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let value = body(&mut SqliteTx(&tx))?;
        tx.commit().map_err(db)?;
        Ok(value)
    }

    /// Like [`Self::write`], but `Ok(None)` rolls everything back: a claim that lost one of
    /// its conditional writes leaves no trace.
    fn write_if<T>(
        &self,
        body: impl FnOnce(&mut dyn Tx) -> StoreResult<Option<T>>,
    ) -> StoreResult<Option<T>> {
        let _writer = self.writer.lock();
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let value = body(&mut SqliteTx(&tx))?;
        if value.is_some() {
            tx.commit().map_err(db)?;
        }
        Ok(value)
    }

    /// Runs `body` in a read transaction (one consistent snapshot).
    fn read<T>(&self, body: impl FnOnce(&mut dyn Tx) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(db)?;
        body(&mut SqliteTx(&tx))
    }

    /// A feed on its own connection to the same file (a private in-memory store has no
    /// other writer: its feed never reports).
    fn open_change_feed(&self) -> StoreResult<Box<dyn ChangeFeed>> {
        let conn = Connection::open_with_flags(
            &self.name,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        let version = data_version(&conn)?;
        Ok(Box::new(SqliteFeed { conn, version }))
    }
}

sql_store!(SqliteStore);

/// A transaction as the shared semantics see it.
struct SqliteTx<'a>(&'a Transaction<'a>);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, args: &[Value]) -> StoreResult<u64> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db)?;
        let changed = stmt
            .execute(rusqlite::params_from_iter(args.iter()))
            .map_err(db)?;
        Ok(changed as u64)
    }

    fn rows(&mut self, sql: &str, args: &[Value]) -> StoreResult<Vec<Row>> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(db)? {
                    ValueRef::Null => Value::Int(None),
                    ValueRef::Integer(v) => Value::Int(Some(v)),
                    ValueRef::Real(v) => Value::Int(Some(v as i64)),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(Some(String::from_utf8_lossy(t).into_owned()))
                    }
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn for_update(&self) -> &'static str {
        ""
    }

    fn skip_locked(&self) -> &'static str {
        ""
    }
}

fn data_version(conn: &Connection) -> StoreResult<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
        .map_err(db)
}

/// SQLite has no notifications: the feed polls `PRAGMA data_version` on its own
/// connection, which changes when any other connection (every store handle, this
/// process's included) commits.
struct SqliteFeed {
    conn: Connection,
    version: i64,
}

/// How often the SQLite feed looks.
const FEED_POLL: Duration = Duration::from_millis(50);

impl ChangeFeed for SqliteFeed {
    fn wait(&mut self, timeout: Duration) -> StoreResult<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let version = data_version(&self.conn)?;
            if version != self.version {
                self.version = version;
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            std::thread::sleep(left.min(FEED_POLL));
        }
    }
}
