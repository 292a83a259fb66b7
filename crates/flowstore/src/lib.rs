//! Flows shared from PostgreSQL (`flows-source` = a `postgres://` URL).
//!
//! One table holds one row per flow (its JSON text exactly as pushed, so diagnostics point at
//! the lines of the pushed file); one global revision numbers the whole set, so "which flows
//! does this node run" is one number. `rustflow flow push` writes in one transaction that
//! validates the resulting set first and `NOTIFY`s [`CHANNEL`] on commit; every node's
//! [`Listener`] hears it and reloads. Compiling is not done here: callers turn the rows
//! into [`FlowSource`]s (see [`sources`]) and feed them to the engine's one set compiler.
#![forbid(unsafe_code)]

mod listener;
mod url;

use std::fmt;
use std::time::Duration;

use postgres::{Client, IsolationLevel, NoTls};
use rustflow_engine::FlowSource;

pub use listener::{ListenEvent, Listener};
pub use url::{is_postgres_url, redact};

/// The table of flows.
pub const TABLE: &str = "rustflow_flows";
/// The one-row table holding the schema version and the global revision.
pub const META_TABLE: &str = "rustflow_flows_meta";
/// The channel every push and delete notifies, with the new revision as payload.
pub const CHANNEL: &str = "rustflow_flows";
/// The schema this code writes and reads; a later one is refused, not guessed at.
pub const SCHEMA_VERSION: i32 = 1;

/// How long a connection attempt may take when the URL gives no `connect_timeout`: it
/// bounds a load, a reload and the listener's stop.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long unacknowledged data may wait before the connection counts as dead, when the URL
/// gives no `tcp_user_timeout`: a vanished server is noticed, not waited for forever.
const DEFAULT_TCP_USER_TIMEOUT: Duration = Duration::from_secs(20);

/// Serialises schema creation between nodes starting at once (`CREATE ... IF NOT EXISTS`
/// alone races on the catalog). Any fixed number: "rustflow" in ASCII.
const SCHEMA_LOCK_KEY: i64 = 0x7275_7374_666c_6f77;

/// A failure of the flows table, naming the URL without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// One row of the flows table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFlow {
    pub id: String,
    pub body: String,
    /// The global revision of the push that last changed this flow.
    pub revision: i64,
    /// RFC 3339, UTC, whole seconds.
    pub updated_at: String,
    pub pushed_by: String,
}

/// Every flow of the table at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSet {
    pub revision: i64,
    pub flows: Vec<StoredFlow>,
}

/// What a push did to one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Changed,
    Unchanged,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Unchanged => "unchanged",
        })
    }
}

/// What a push or delete did: the table's revision after it (unchanged when nothing
/// changed) and what happened to each flow it named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written<T> {
    pub revision: i64,
    pub flows: Vec<(String, T)>,
}

/// Why a push or delete wrote nothing.
#[derive(Debug)]
pub enum Refused<E> {
    /// The set the table would hold does not compile (the validator's problems).
    Invalid(E),
    Store(StoreError),
}

impl<E> From<StoreError> for Refused<E> {
    fn from(error: StoreError) -> Self {
        Refused::Store(error)
    }
}

/// The flows of a set as the engine's compiler takes them; diagnostics name a flow
/// `rustflow_flows/ID`.
pub fn sources(flows: &[StoredFlow]) -> Vec<FlowSource> {
    flows
        .iter()
        .map(|flow| FlowSource {
            id: flow.id.clone(),
            file: source_name(&flow.id),
            text: flow.body.clone(),
        })
        .collect()
}

/// How diagnostics name the flow `id` of the table.
pub fn source_name(id: &str) -> String {
    format!("{TABLE}/{id}")
}

/// The connection settings of `url` with bounded timeouts (see the constants).
pub(crate) fn connection_config(url: &str) -> Result<postgres::Config, StoreError> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| StoreError(format!("{}: not a PostgreSQL URL: {e}", redact(url))))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(DEFAULT_TCP_USER_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("rustflow flows");
    }
    Ok(config)
}

/// A connection to the flows table of one database.
pub struct FlowTable {
    client: Client,
    url: String,
}

impl FlowTable {
    /// Connects and creates or checks the tables (a newer schema than this code knows is
    /// refused).
    pub fn connect(url: &str) -> Result<FlowTable, StoreError> {
        let client = connection_config(url)?
            .connect(NoTls)
            .map_err(|e| StoreError(format!("{}: cannot connect: {e}", redact(url))))?;
        let mut table = FlowTable {
            client,
            url: url.to_string(),
        };
        table.ensure_schema()?;
        Ok(table)
    }

    fn ensure_schema(&mut self) -> Result<(), StoreError> {
        let mut tx = self
            .client
            .transaction()
            .map_err(|e| StoreError(format!("{}: begin: {e}", redact(&self.url))))?;
        let created = tx
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK_KEY])
            .and_then(|_| {
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {META_TABLE} (
                         singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
                         schema_version INTEGER NOT NULL,
                         revision BIGINT NOT NULL
                     );
                     INSERT INTO {META_TABLE} (schema_version, revision)
                         VALUES ({SCHEMA_VERSION}, 0) ON CONFLICT DO NOTHING;
                     CREATE TABLE IF NOT EXISTS {TABLE} (
                         id TEXT PRIMARY KEY,
                         body TEXT NOT NULL,
                         revision BIGINT NOT NULL,
                         updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                         pushed_by TEXT NOT NULL
                     );"
                ))
            })
            .and_then(|()| tx.query_one(&format!("SELECT schema_version FROM {META_TABLE}"), &[]));
        let version: i32 = match created {
            Ok(row) => row.get(0),
            Err(e) => {
                return Err(StoreError(format!(
                    "{}: creating the tables {TABLE} and {META_TABLE}: {e}",
                    redact(&self.url)
                )));
            }
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError(format!(
                "{}: {META_TABLE} has schema version {version}, newer than this rustflow's {SCHEMA_VERSION}; upgrade rustflow",
                redact(&self.url)
            )));
        }
        tx.commit()
            .map_err(|e| StoreError(format!("{}: commit: {e}", redact(&self.url))))
    }

    /// Every flow and the revision they make up, read in one snapshot.
    pub fn read_all(&mut self) -> Result<StoredSet, StoreError> {
        let url = self.url.clone();
        let fail =
            |e: postgres::Error| StoreError(format!("{}: reading {TABLE}: {e}", redact(&url)));
        let mut tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(fail)?;
        let set = read_set(&mut tx).map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(set)
    }

    /// Writes `flows` (id, JSON text) in one transaction, after `validate` accepted the set
    /// the table would then hold (the current rows with these replacing theirs). Nothing is
    /// written when it refuses. When anything changed, the global revision goes up by one,
    /// the changed rows carry it, and [`CHANNEL`] is notified on commit.
    pub fn push<E>(
        &mut self,
        flows: &[(String, String)],
        pushed_by: &str,
        validate: impl FnOnce(&[StoredFlow]) -> Result<(), E>,
    ) -> Result<Written<Change>, Refused<E>> {
        self.change(pushed_by, validate, |current| {
            let mut next = current.to_vec();
            let mut changes = Vec::new();
            for (id, body) in flows {
                let change = match next.iter_mut().find(|flow| &flow.id == id) {
                    Some(flow) if &flow.body == body => Change::Unchanged,
                    Some(flow) => {
                        flow.body = body.clone();
                        Change::Changed
                    }
                    None => {
                        next.push(StoredFlow {
                            id: id.clone(),
                            body: body.clone(),
                            revision: 0,
                            updated_at: String::new(),
                            pushed_by: pushed_by.to_string(),
                        });
                        Change::Added
                    }
                };
                changes.push((id.clone(), change));
            }
            (next, changes)
        })
    }

    /// Deletes the flows `ids` in one transaction, after `validate` accepted the set that
    /// remains (a flow another one runs with `schema` cannot go alone). Returns the new
    /// revision and, per id, whether it was there.
    pub fn delete<E>(
        &mut self,
        ids: &[String],
        validate: impl FnOnce(&[StoredFlow]) -> Result<(), E>,
    ) -> Result<Written<bool>, Refused<E>> {
        self.change("", validate, |current| {
            let next: Vec<StoredFlow> = current
                .iter()
                .filter(|flow| !ids.contains(&flow.id))
                .cloned()
                .collect();
            let found = ids
                .iter()
                .map(|id| (id.clone(), current.iter().any(|flow| &flow.id == id)))
                .collect();
            (next, found)
        })
    }

    /// The one write path of push and delete: lock the revision, read the set, compute the
    /// next one, validate it, write the difference (rows written carry `pushed_by`), bump
    /// the revision and notify.
    fn change<E, T>(
        &mut self,
        pushed_by: &str,
        validate: impl FnOnce(&[StoredFlow]) -> Result<(), E>,
        next_of: impl FnOnce(&[StoredFlow]) -> (Vec<StoredFlow>, Vec<(String, T)>),
    ) -> Result<Written<T>, Refused<E>> {
        let url = self.url.clone();
        let fail =
            |e: postgres::Error| StoreError(format!("{}: writing {TABLE}: {e}", redact(&url)));
        let mut tx = self.client.transaction().map_err(fail)?;
        // Pushes one at a time: each validates against the set the one before it wrote.
        tx.execute(
            &format!("SELECT revision FROM {META_TABLE} FOR UPDATE"),
            &[],
        )
        .map_err(fail)?;
        let current = read_set(&mut tx).map_err(fail)?;
        let (next, changes) = next_of(&current.flows);
        validate(&next).map_err(Refused::Invalid)?;
        let removed: Vec<&StoredFlow> = current
            .flows
            .iter()
            .filter(|old| !next.iter().any(|new| new.id == old.id))
            .collect();
        let written: Vec<&StoredFlow> = next
            .iter()
            .filter(|new| {
                !current
                    .flows
                    .iter()
                    .any(|old| old.id == new.id && old.body == new.body)
            })
            .collect();
        if removed.is_empty() && written.is_empty() {
            tx.rollback().map_err(fail)?;
            return Ok(Written {
                revision: current.revision,
                flows: changes,
            });
        }
        let revision = current.revision + 1;
        for flow in removed {
            tx.execute(&format!("DELETE FROM {TABLE} WHERE id = $1"), &[&flow.id])
                .map_err(fail)?;
        }
        for flow in written {
            tx.execute(
                &format!(
                    "INSERT INTO {TABLE} (id, body, revision, updated_at, pushed_by)
                     VALUES ($1, $2, $3, now(), $4)
                     ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body,
                         revision = EXCLUDED.revision, updated_at = EXCLUDED.updated_at,
                         pushed_by = EXCLUDED.pushed_by"
                ),
                &[&flow.id, &flow.body, &revision, &pushed_by],
            )
            .map_err(fail)?;
        }
        tx.execute(
            &format!("UPDATE {META_TABLE} SET revision = $1"),
            &[&revision],
        )
        .map_err(fail)?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &revision.to_string()],
        )
        .map_err(fail)?;
        tx.commit().map_err(fail)?;
        Ok(Written {
            revision,
            flows: changes,
        })
    }
}

/// The revision and every row, by id, inside the caller's transaction.
fn read_set(tx: &mut postgres::Transaction<'_>) -> Result<StoredSet, postgres::Error> {
    let revision: i64 = tx
        .query_one(&format!("SELECT revision FROM {META_TABLE}"), &[])?
        .get(0);
    let flows = tx
        .query(
            &format!(
                "SELECT id, body, revision,
                        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                        pushed_by
                 FROM {TABLE} ORDER BY id"
            ),
            &[],
        )?
        .into_iter()
        .map(|row| StoredFlow {
            id: row.get(0),
            body: row.get(1),
            revision: row.get(2),
            updated_at: row.get(3),
            pushed_by: row.get(4),
        })
        .collect();
    Ok(StoredSet { revision, flows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgserver::PgServer;

    fn pairs(flows: &[(&str, &str)]) -> Vec<(String, String)> {
        flows
            .iter()
            .map(|(id, body)| (id.to_string(), body.to_string()))
            .collect()
    }

    fn accept(_: &[StoredFlow]) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn push_counts_one_revision_per_change_and_refusals_write_nothing() {
        let Some(server) =
            PgServer::start("push_counts_one_revision_per_change_and_refusals_write_nothing")
        else {
            return;
        };
        let url = server.database("flows");
        let mut table = FlowTable::connect(&url).unwrap();
        // A second connection finds the tables there and leaves them.
        let mut other = FlowTable::connect(&url).unwrap();
        assert_eq!(table.read_all().unwrap().revision, 0);

        let Written {
            revision,
            flows: changes,
        } = table
            .push(&pairs(&[("a", "[1]"), ("b", "[2]")]), "tester", accept)
            .unwrap();
        assert_eq!(revision, 1);
        assert_eq!(
            changes,
            [("a".into(), Change::Added), ("b".into(), Change::Added)]
        );
        let Written {
            revision,
            flows: changes,
        } = other
            .push(&pairs(&[("a", "[1]"), ("b", "[3]")]), "other", accept)
            .unwrap();
        assert_eq!(revision, 2);
        assert_eq!(
            changes,
            [
                ("a".into(), Change::Unchanged),
                ("b".into(), Change::Changed)
            ]
        );
        let unchanged = table
            .push(&pairs(&[("a", "[1]")]), "tester", accept)
            .unwrap();
        assert_eq!(unchanged.flows, [("a".into(), Change::Unchanged)]);
        assert_eq!(unchanged.revision, 2, "nothing changed: the revision stays");

        let refused = table.push(&pairs(&[("a", "[9]")]), "tester", |next| {
            assert!(next.iter().any(|f| f.id == "a" && f.body == "[9]"));
            Err("no".to_string())
        });
        assert!(matches!(refused, Err(Refused::Invalid(ref why)) if why == "no"));

        let set = table.read_all().unwrap();
        assert_eq!(set.revision, 2);
        let by_id = |id: &str| set.flows.iter().find(|f| f.id == id).unwrap().clone();
        assert_eq!((by_id("a").body.as_str(), by_id("a").revision), ("[1]", 1));
        assert_eq!(by_id("b").body, "[3]");
        assert_eq!(by_id("b").pushed_by, "other");
        assert!(
            by_id("b").updated_at.ends_with('Z'),
            "{}",
            by_id("b").updated_at
        );

        let deleted = table
            .delete(&["b".to_string(), "zz".to_string()], accept)
            .unwrap();
        assert_eq!(deleted.revision, 3);
        assert_eq!(deleted.flows, [("b".into(), true), ("zz".into(), false)]);
        let ids: Vec<String> = table
            .read_all()
            .unwrap()
            .flows
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["a"]);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let Some(server) = PgServer::start("a_newer_schema_is_refused") else {
            return;
        };
        let url = server.database("flows");
        drop(FlowTable::connect(&url).unwrap());
        let mut admin = postgres::Client::connect(&url, NoTls).unwrap();
        admin
            .batch_execute(&format!("UPDATE {META_TABLE} SET schema_version = 99"))
            .unwrap();
        let error = FlowTable::connect(&url).err().unwrap();
        assert!(
            error
                .0
                .contains("schema version 99, newer than this rustflow's 1"),
            "{error}"
        );
    }

    #[test]
    fn a_database_that_is_not_there_names_the_url_without_its_password() {
        // A port nothing listens on: bound, then released.
        let port = pgserver::free_port().unwrap();
        let url = format!("postgres://flows:s3cret@127.0.0.1:{port}/flows");
        let error = FlowTable::connect(&url).err().unwrap();
        assert!(
            error.0.starts_with(&format!(
                "postgres://flows:***@127.0.0.1:{port}/flows: cannot connect: "
            )),
            "{error}"
        );
        assert!(!error.0.contains("s3cret"), "{error}");
    }
}
