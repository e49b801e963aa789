//! Persistence for the Porthole control plane, on SQLite (the embedded default) or PostgreSQL.
//!
//! The domain keeps its state in memory and hands the store [`Change`]s: whole JSON documents
//! keyed by `(kind, key)`, or their deletion. At start it rebuilds from [`Store::load_all`].
//! Besides documents the store keeps an append-only record of ended sessions (usage records,
//! [`SessionRecord`]) and a few server-wide values ([`Store::get_meta`]).
//!
//! Both databases run the same SQL (`$N` placeholders, `ON CONFLICT` upserts, TEXT and
//! BIGINT columns); only the connection setup and the migration folders differ.
//!
//! Durability: [`Store::apply`] returns after its transaction is committed. SQLite runs in WAL
//! mode with `synchronous=FULL`: every commit fsyncs the WAL. `NORMAL` would already survive
//! a killed server (a commit is in the OS's page cache once `write()` returns), but on power
//! loss it may drop the last commits, i.e. a fleet the API reported as created could vanish.
//! The control plane writes a few times per API call, so one fsync per commit is cheap.

use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// File name of the SQLite database inside the server's data directory.
pub const SQLITE_FILE_NAME: &str = "porthole.db";

/// A write the domain wants persisted: the new document of `(kind, key)`, or `None` to delete it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: &'static str,
    pub key: String,
    pub document: Option<Value>,
}

/// A stored document. `version` starts at 1 and grows by one with each write of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: String,
    pub key: String,
    pub document: Value,
    pub version: i64,
}

/// The usage record of one ended session. Times are kept at millisecond precision.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub session_id: String,
    pub user_id: String,
    pub stack: String,
    pub fleet: String,
    pub instance_type: String,
    pub stream_view: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub duration_secs: u64,
    pub end_reason: String,
    pub settings: Value,
}

/// A connection pool to the control plane's database. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has. The body is written once
/// and compiled for each database, since sqlx's query API is generic over them.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

const UPSERT_DOCUMENT: &str = "INSERT INTO documents (kind, key, document, version) \
     VALUES ($1, $2, $3, 1) \
     ON CONFLICT (kind, key) DO UPDATE \
     SET document = excluded.document, version = documents.version + 1";
const DELETE_DOCUMENT: &str = "DELETE FROM documents WHERE kind = $1 AND key = $2";
const SELECT_DOCUMENTS: &str =
    "SELECT kind, key, document, version FROM documents ORDER BY kind, key";
// A session is recorded once: a second record of the same session (e.g. the crash recovery
// ending a session that was already recorded) keeps the first.
const INSERT_SESSION_RECORD: &str = "INSERT INTO session_records \
     (session_id, user_id, stack, fleet, instance_type, stream_view, \
      start_ms, end_ms, duration_secs, end_reason, settings) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (session_id) DO NOTHING";
const SELECT_SESSION_RECORDS: &str = "SELECT session_id, user_id, stack, fleet, instance_type, \
     stream_view, start_ms, end_ms, duration_secs, end_reason, settings \
     FROM session_records WHERE end_ms >= $1 AND end_ms < $2 ORDER BY end_ms, session_id";
const SELECT_META: &str = "SELECT value FROM meta WHERE key = $1";
const UPSERT_META: &str =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const INSERT_META_IF_ABSENT: &str =
    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

impl Store {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// `sqlite:///abs/path/porthole.db` (or `sqlite:relative.db`) creates the file if missing;
    /// `postgres://user:password@host:port/database` needs an existing database.
    pub async fn open(url: &str) -> Result<Store> {
        let pool = if url.starts_with("sqlite:") {
            let options =
                SqliteConnectOptions::from_str(url).context("parsing the SQLite database URL")?;
            Pool::Sqlite(open_sqlite(options).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(open_postgres(url).await?)
        } else {
            bail!("unsupported database URL (expected sqlite:... or postgres://...)");
        };
        Ok(Store { pool })
    }

    /// Opens (creating the directory and the file if needed) the SQLite database in `dir`.
    pub async fn open_in_data_dir(dir: &Path) -> Result<Store> {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        // Options rather than a URL: a path may hold '?' or '#', or not be UTF-8.
        let options = SqliteConnectOptions::new().filename(dir.join(SQLITE_FILE_NAME));
        Ok(Store {
            pool: Pool::Sqlite(open_sqlite(options).await?),
        })
    }

    /// Writes all `changes` in one transaction: each document is inserted (version 1) or
    /// replaced (version + 1), or deleted. Either all of them are committed or none is.
    pub async fn apply(&self, changes: &[Change]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        // Serialise first so that a failure cannot happen between statements for this reason.
        let texts = changes
            .iter()
            .map(|change| change.document.as_ref().map(Value::to_string))
            .collect::<Vec<_>>();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.context("starting a transaction")?;
            for (change, text) in changes.iter().zip(&texts) {
                let query = match text {
                    Some(text) => sqlx::query(UPSERT_DOCUMENT)
                        .bind(change.kind)
                        .bind(&change.key)
                        .bind(text),
                    None => sqlx::query(DELETE_DOCUMENT).bind(change.kind).bind(&change.key),
                };
                query.execute(&mut *tx).await.with_context(|| {
                    format!("writing document {}/{}", change.kind, change.key)
                })?;
            }
            tx.commit().await.context("committing document changes")?;
        });
        Ok(())
    }

    /// Every stored document, ordered by kind then key.
    pub async fn load_all(&self) -> Result<Vec<Document>> {
        let rows = with_pool!(self, pool => {
            sqlx::query(SELECT_DOCUMENTS)
                .fetch_all(pool)
                .await
                .context("loading documents")?
                .iter()
                .map(|row| -> Result<_> {
                    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))
                })
                .collect::<Result<Vec<(String, String, String, i64)>>>()?
        });
        rows.into_iter()
            .map(|(kind, key, text, version)| {
                let document = serde_json::from_str(&text)
                    .with_context(|| format!("document {kind}/{key} is not valid JSON"))?;
                Ok(Document {
                    kind,
                    key,
                    document,
                    version,
                })
            })
            .collect()
    }

    /// Appends the usage record of an ended session. Recording a session id again is a no-op.
    pub async fn record_session(&self, record: &SessionRecord) -> Result<()> {
        let start_ms = epoch_millis(record.start)?;
        let end_ms = epoch_millis(record.end)?;
        let duration_secs = i64::try_from(record.duration_secs)
            .context("session duration does not fit the database")?;
        let settings = record.settings.to_string();
        with_pool!(self, pool => {
            sqlx::query(INSERT_SESSION_RECORD)
                .bind(&record.session_id)
                .bind(&record.user_id)
                .bind(&record.stack)
                .bind(&record.fleet)
                .bind(&record.instance_type)
                .bind(&record.stream_view)
                .bind(start_ms)
                .bind(end_ms)
                .bind(duration_secs)
                .bind(&record.end_reason)
                .bind(&settings)
                .execute(pool)
                .await
                .with_context(|| format!("recording session {}", record.session_id))?;
        });
        Ok(())
    }

    /// The records of the sessions that ended in `[since, until)`, oldest end first. Windows
    /// that tile time (days, months) thus list every session exactly once.
    pub async fn session_records(
        &self,
        since: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<SessionRecord>> {
        let (since_ms, until_ms) = (epoch_millis(since)?, epoch_millis(until)?);
        with_pool!(self, pool => {
            sqlx::query(SELECT_SESSION_RECORDS)
                .bind(since_ms)
                .bind(until_ms)
                .fetch_all(pool)
                .await
                .context("loading session records")?
                .iter()
                .map(|row| -> Result<SessionRecord> {
                    let session_id: String = row.try_get(0)?;
                    let settings: String = row.try_get(10)?;
                    let duration_secs: i64 = row.try_get(8)?;
                    Ok(SessionRecord {
                        user_id: row.try_get(1)?,
                        stack: row.try_get(2)?,
                        fleet: row.try_get(3)?,
                        instance_type: row.try_get(4)?,
                        stream_view: row.try_get(5)?,
                        start: from_epoch_millis(row.try_get(6)?)?,
                        end: from_epoch_millis(row.try_get(7)?)?,
                        duration_secs: u64::try_from(duration_secs)?,
                        end_reason: row.try_get(9)?,
                        settings: serde_json::from_str(&settings).with_context(|| {
                            format!("settings of session {session_id} are not valid JSON")
                        })?,
                        session_id,
                    })
                })
                .collect()
        })
    }

    /// The server-wide value stored under `key`, if any.
    pub async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        with_pool!(self, pool => {
            sqlx::query_scalar::<_, String>(SELECT_META)
                .bind(key)
                .fetch_optional(pool)
                .await
                .with_context(|| format!("reading meta value {key}"))
        })
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(UPSERT_META)
                .bind(key)
                .bind(value)
                .execute(pool)
                .await
                .with_context(|| format!("writing meta value {key}"))?;
        });
        Ok(())
    }

    /// The value under `key`, storing `initial` first if there is none. Atomic: when several
    /// servers share a database and race to initialise a value (a signing key, say), all of
    /// them get the one that was stored first.
    pub async fn get_or_init_meta(&self, key: &str, initial: &str) -> Result<String> {
        with_pool!(self, pool => {
            sqlx::query(INSERT_META_IF_ABSENT)
                .bind(key)
                .bind(initial)
                .execute(pool)
                .await
                .with_context(|| format!("initialising meta value {key}"))?;
        });
        self.get_meta(key)
            .await?
            .with_context(|| format!("meta value {key} vanished right after it was stored"))
    }

    /// Closes every connection and waits for them to finish. SQLite then checkpoints its WAL
    /// into the database file. Further calls on this store (or its clones) fail.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

async fn open_sqlite(options: SqliteConnectOptions) -> Result<SqlitePool> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // WAL lets readers run beside the one writer; writers queue for up to this long.
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let file = options.get_filename().display().to_string();
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .with_context(|| format!("opening SQLite database {file}"))?;
    SQLITE_MIGRATIONS
        .run(&pool)
        .await
        .with_context(|| format!("migrating SQLite database {file}"))?;
    Ok(pool)
}

async fn open_postgres(url: &str) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL database URL")?;
    // Name the server without the password that the URL may carry.
    let server = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("")
    );
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {server}"))?;
    // sqlx holds an advisory lock while migrating, so replicas starting together are safe.
    POSTGRES_MIGRATIONS
        .run(&pool)
        .await
        .with_context(|| format!("migrating PostgreSQL database {server}"))?;
    Ok(pool)
}

fn epoch_millis(time: SystemTime) -> Result<i64> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .context("time before the Unix epoch")?;
    i64::try_from(since_epoch.as_millis()).context("time too far in the future")
}

fn from_epoch_millis(millis: i64) -> Result<SystemTime> {
    let millis = u64::try_from(millis).context("stored time before the Unix epoch")?;
    Ok(UNIX_EPOCH + Duration::from_millis(millis))
}
