//! The store's behaviour, run on SQLite (module `sqlite`) and on PostgreSQL (module `postgres`).
//!
//! PostgreSQL tests need `PORTHOLE_TEST_POSTGRES_URL` (see scripts/start-postgres.sh); without
//! it they say so on stderr and return. With `PORTHOLE_TEST_REQUIRE_POSTGRES=1` (CI) a missing
//! URL fails them instead. Each PostgreSQL test creates and drops its own database, so the
//! role needs CREATEDB and tests run in parallel.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use porthole_store::{Change, Document, SessionRecord, Store};
use serde_json::{json, Value};
use sqlx::{ConnectOptions, Connection};
use tempfile::TempDir;

struct TestDb {
    url: String,
    backend: Backend,
}

enum Backend {
    /// Held for its Drop, which deletes the database with the directory.
    Sqlite {
        _dir: TempDir,
    },
    Postgres {
        admin_url: String,
        database: String,
    },
}

impl TestDb {
    fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", sqlite_path(dir.path()).display());
        TestDb {
            url,
            backend: Backend::Sqlite { _dir: dir },
        }
    }

    /// A fresh database named after the test, or None (after saying so) when no server is set.
    async fn postgres(test: &str) -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("PORTHOLE_TEST_POSTGRES_URL") else {
            if std::env::var("PORTHOLE_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!(
                    "PORTHOLE_TEST_REQUIRE_POSTGRES=1 but PORTHOLE_TEST_POSTGRES_URL is not set"
                );
            }
            eprintln!("SKIPPED postgres::{test}: PORTHOLE_TEST_POSTGRES_URL is not set");
            return None;
        };
        // The process id keeps concurrent `cargo test` runs apart.
        let database = format!("porthole_t{}_{test}", std::process::id());
        admin_sql(
            &admin_url,
            &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        )
        .await;
        admin_sql(&admin_url, &format!("CREATE DATABASE {database}")).await;
        let url = with_database(&admin_url, &database);
        Some(TestDb {
            url,
            backend: Backend::Postgres {
                admin_url,
                database,
            },
        })
    }

    async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("opening the store")
    }
}

/// Drops a test's PostgreSQL database also when the test panicked. Drop cannot await, and the
/// test's runtime may be unwinding, so the DROP runs on a thread with its own runtime.
impl Drop for TestDb {
    fn drop(&mut self) {
        let Backend::Postgres {
            admin_url,
            database,
        } = &self.backend
        else {
            return;
        };
        let (admin_url, sql) = (
            admin_url.clone(),
            format!("DROP DATABASE {database} WITH (FORCE)"),
        );
        let dropper = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for dropping the test database")
                .block_on(admin_sql(&admin_url, &sql));
        });
        // A failed DROP has printed its panic; failing again here would abort the test binary.
        let _ = dropper.join();
    }
}

async fn admin_sql(admin_url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connecting to PORTHOLE_TEST_POSTGRES_URL");
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("closing the admin connection");
}

/// `url` with its database name replaced by `database` (query parameters kept).
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{server}/{database}{query}")
}

fn sqlite_path(dir: &Path) -> PathBuf {
    dir.join(porthole_store::SQLITE_FILE_NAME)
}

/// Declares each listed test once per database: `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let db = super::TestDb::sqlite();
                    super::$test(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(db) = super::TestDb::postgres(stringify!($test)).await else {
                        return;
                    };
                    super::$test(&db).await;
                }
            )*
        }
    };
}

on_both_databases!(
    round_trip,
    delete,
    versions_bump,
    failed_transaction_applies_nothing,
    concurrent_applies_lose_nothing,
    session_records_by_end_time,
    session_record_is_kept_once,
    meta_get_set,
    meta_get_or_init_keeps_the_first_value,
    survives_reopening,
);

fn put(kind: &'static str, key: &str, document: Value) -> Change {
    Change {
        kind,
        key: key.to_string(),
        document: Some(document),
    }
}

fn remove(kind: &'static str, key: &str) -> Change {
    Change {
        kind,
        key: key.to_string(),
        document: None,
    }
}

fn doc(kind: &str, key: &str, document: Value, version: i64) -> Document {
    Document {
        kind: kind.to_string(),
        key: key.to_string(),
        document,
        version,
    }
}

fn at_millis(millis: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis)
}

fn session(id: &str, start_ms: u64, end_ms: u64) -> SessionRecord {
    SessionRecord {
        session_id: id.to_string(),
        user_id: format!("user-of-{id}"),
        stack: "stack-a".to_string(),
        fleet: "fleet-a".to_string(),
        instance_type: "stream.standard.medium".to_string(),
        stream_view: "APP".to_string(),
        start: at_millis(start_ms),
        end: at_millis(end_ms),
        duration_secs: (end_ms - start_ms) / 1000,
        end_reason: "USER_DISCONNECTED_TIMEOUT".to_string(),
        settings: json!({"disconnect_timeout": 900, "apps": ["xterm"]}),
    }
}

async fn round_trip(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.load_all().await.unwrap(), vec![]);
    let fleet = json!({
        "Name": "fleet-é", "DesiredInstances": 3, "Ratio": 0.25, "Enabled": true,
        "Nested": {"List": [1, "two", null, {"x": -7}]}, "Quote": "a'b\"c\\d"
    });
    let stack = json!({"Name": "stack-1", "Fleets": []});
    store
        .apply(&[
            put("stack", "stack-1", stack.clone()),
            put("fleet", "fleet-é", fleet.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![
            doc("fleet", "fleet-é", fleet, 1),
            doc("stack", "stack-1", stack, 1)
        ]
    );
    // No changes is a valid (empty) transaction.
    store.apply(&[]).await.unwrap();
    assert_eq!(store.load_all().await.unwrap().len(), 2);
}

async fn delete(db: &TestDb) {
    let store = db.open().await;
    store
        .apply(&[
            put("fleet", "a", json!({"n": 1})),
            put("fleet", "b", json!({"n": 2})),
        ])
        .await
        .unwrap();
    // Deleting a document that does not exist is not an error.
    store
        .apply(&[remove("fleet", "a"), remove("fleet", "never-there")])
        .await
        .unwrap();
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![doc("fleet", "b", json!({"n": 2}), 1)]
    );
    // Same key, other kind: untouched by a delete of the first kind.
    store.apply(&[put("stack", "b", json!({}))]).await.unwrap();
    store.apply(&[remove("fleet", "b")]).await.unwrap();
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![doc("stack", "b", json!({}), 1)]
    );
}

async fn versions_bump(db: &TestDb) {
    let store = db.open().await;
    store
        .apply(&[put("fleet", "a", json!({"v": 1}))])
        .await
        .unwrap();
    store
        .apply(&[put("fleet", "a", json!({"v": 2}))])
        .await
        .unwrap();
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![doc("fleet", "a", json!({"v": 2}), 2)]
    );
    // Two writes of one document in one transaction count as two.
    store
        .apply(&[
            put("fleet", "a", json!({"v": 3})),
            put("fleet", "a", json!({"v": 4})),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![doc("fleet", "a", json!({"v": 4}), 4)]
    );
    // A deleted and re-created document starts over.
    store.apply(&[remove("fleet", "a")]).await.unwrap();
    store
        .apply(&[put("fleet", "a", json!({"v": 5}))])
        .await
        .unwrap();
    assert_eq!(
        store.load_all().await.unwrap(),
        vec![doc("fleet", "a", json!({"v": 5}), 1)]
    );
}

async fn failed_transaction_applies_nothing(db: &TestDb) {
    let store = db.open().await;
    store
        .apply(&[
            put("fleet", "a", json!({"v": 1})),
            put("fleet", "gone", json!({})),
        ])
        .await
        .unwrap();
    let before = store.load_all().await.unwrap();
    // The empty key breaks the schema's CHECK constraint on the third statement, after an
    // update, a delete and an insert have already run inside the transaction.
    let err = store
        .apply(&[
            put("fleet", "a", json!({"v": 2})),
            remove("fleet", "gone"),
            put("stack", "new", json!({})),
            put("fleet", "", json!({})),
        ])
        .await
        .expect_err("an empty key must be refused");
    assert!(
        format!("{err:#}").contains("writing document fleet/"),
        "{err:#}"
    );
    assert_eq!(store.load_all().await.unwrap(), before);
    // The store is still usable afterwards.
    store
        .apply(&[put("fleet", "a", json!({"v": 3}))])
        .await
        .unwrap();
    assert_eq!(
        store.load_all().await.unwrap()[0],
        doc("fleet", "a", json!({"v": 3}), 2)
    );
}

async fn concurrent_applies_lose_nothing(db: &TestDb) {
    let store = db.open().await;
    const WRITERS: i64 = 16;
    let tasks = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .apply(&[
                        put("fleet", &format!("own-{i}"), json!(i)),
                        put("fleet", "shared", json!(i)),
                    ])
                    .await
            })
        })
        .collect::<Vec<_>>();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let docs = store.load_all().await.unwrap();
    assert_eq!(docs.len(), WRITERS as usize + 1);
    let shared = docs.iter().find(|d| d.key == "shared").unwrap();
    // Every writer's update of the shared document counted: no lost update.
    assert_eq!(shared.version, WRITERS);
}

async fn session_records_by_end_time(db: &TestDb) {
    let store = db.open().await;
    let base = 1_700_000_000_000;
    let early = session("s-early", base, base + 61_234);
    let late = session("s-late", base + 10_000, base + 3_600_007);
    let edge = session("s-edge", base + 5_000, base + 7_200_000);
    for record in [&late, &edge, &early] {
        store.record_session(record).await.unwrap();
    }
    // Ended in [since, until): the window's end is exclusive, ordered by end time.
    let window = store
        .session_records(at_millis(base), at_millis(base + 7_200_000))
        .await
        .unwrap();
    assert_eq!(window, vec![early.clone(), late.clone()]);
    let next = store
        .session_records(at_millis(base + 7_200_000), at_millis(base + 8_000_000))
        .await
        .unwrap();
    assert_eq!(next, vec![edge]);
    // A session that started before `since` but ended inside it is listed.
    let tail = store
        .session_records(at_millis(base + 3_600_000), at_millis(base + 3_600_008))
        .await
        .unwrap();
    assert_eq!(tail, vec![late]);
    assert_eq!(
        store
            .session_records(at_millis(0), at_millis(base))
            .await
            .unwrap(),
        vec![]
    );
}

async fn session_record_is_kept_once(db: &TestDb) {
    let store = db.open().await;
    let first = session("s-1", 1_000, 5_000);
    store.record_session(&first).await.unwrap();
    let again = SessionRecord {
        end_reason: "RECOVERED".to_string(),
        ..first.clone()
    };
    store.record_session(&again).await.unwrap();
    assert_eq!(
        store
            .session_records(at_millis(0), at_millis(10_000))
            .await
            .unwrap(),
        vec![first]
    );
}

async fn meta_get_set(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.get_meta("signing-key").await.unwrap(), None);
    store.set_meta("signing-key", "k1").await.unwrap();
    store.set_meta("first-start", "2024-01-01").await.unwrap();
    assert_eq!(
        store.get_meta("signing-key").await.unwrap().as_deref(),
        Some("k1")
    );
    store.set_meta("signing-key", "k2").await.unwrap();
    assert_eq!(
        store.get_meta("signing-key").await.unwrap().as_deref(),
        Some("k2")
    );
    assert_eq!(
        store.get_meta("first-start").await.unwrap().as_deref(),
        Some("2024-01-01")
    );
}

async fn meta_get_or_init_keeps_the_first_value(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(
        store
            .get_or_init_meta("signing-key", "first")
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        store
            .get_or_init_meta("signing-key", "second")
            .await
            .unwrap(),
        "first"
    );
    assert_eq!(
        store.get_meta("signing-key").await.unwrap().as_deref(),
        Some("first")
    );
}

async fn survives_reopening(db: &TestDb) {
    let store = db.open().await;
    store
        .apply(&[put("fleet", "a", json!({"v": 1}))])
        .await
        .unwrap();
    store
        .apply(&[put("fleet", "a", json!({"v": 2}))])
        .await
        .unwrap();
    store
        .record_session(&session("s-1", 1_000, 2_000))
        .await
        .unwrap();
    store.set_meta("first-start", "done").await.unwrap();
    store.close().await;
    assert!(
        store.load_all().await.is_err(),
        "a closed store must not answer"
    );

    // Opening again runs the (already applied) migrations again: a no-op.
    let reopened = db.open().await;
    assert_eq!(
        reopened.load_all().await.unwrap(),
        vec![doc("fleet", "a", json!({"v": 2}), 2)]
    );
    assert_eq!(
        reopened
            .session_records(at_millis(0), at_millis(3_000))
            .await
            .unwrap(),
        vec![session("s-1", 1_000, 2_000)]
    );
    assert_eq!(
        reopened.get_meta("first-start").await.unwrap().as_deref(),
        Some("done")
    );
    reopened.close().await;
}

// ---- SQLite only -------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_open_in_data_dir_creates_a_wal_database() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("not/yet/there?#%");
    let store = Store::open_in_data_dir(&data_dir).await.unwrap();
    store.apply(&[put("fleet", "a", json!({}))]).await.unwrap();
    store.close().await;
    let path = sqlite_path(&data_dir);
    assert!(path.is_file(), "{} missing", path.display());
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    // WAL is a property of the file, so a plain connection sees it.
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = Store::open("mysql://localhost/porthole")
        .await
        .expect_err("mysql is not supported");
    assert!(
        format!("{err}").contains("unsupported database URL"),
        "{err}"
    );
}

const KILL9_DIR_ENV: &str = "PORTHOLE_STORE_KILL9_DIR";

/// The child process of `sqlite_commits_survive_kill_9`: commits one document after another,
/// printing "committed N" after each commit returned, until it is killed.
#[tokio::test]
#[ignore = "child process of sqlite_commits_survive_kill_9, which runs it with --ignored"]
async fn kill9_child_writer() {
    let dir = std::env::var(KILL9_DIR_ENV).expect("run by sqlite_commits_survive_kill_9 only");
    let store = Store::open_in_data_dir(Path::new(&dir)).await.unwrap();
    for i in 0u64.. {
        store
            .apply(&[put("fleet", &format!("f{i}"), json!({"i": i}))])
            .await
            .unwrap();
        // println! is line-buffered into the pipe; the parent reads each line as it comes.
        println!("committed {i}");
    }
}

#[tokio::test]
async fn sqlite_commits_survive_kill_9() {
    use std::os::unix::process::ExitStatusExt;
    use tokio::io::{AsyncBufReadExt, BufReader};

    const SEEN: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["kill9_child_writer", "--exact", "--ignored", "--nocapture"])
        .env(KILL9_DIR_ENV, dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let read = async {
        // The child commits in order, so seeing SEEN means 0..=SEEN were all committed.
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == format!("committed {SEEN}") {
                return;
            }
        }
        panic!("the child ended before committing {SEEN} documents");
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("child too slow");
    // The child keeps committing while it is killed.
    child.start_kill().unwrap();
    let status = child.wait().await.unwrap();
    assert_eq!(status.signal(), Some(9), "{status}");

    // The writes were never checkpointed into the main file: recovery comes from the WAL.
    let wal = dir
        .path()
        .join(format!("{}-wal", porthole_store::SQLITE_FILE_NAME));
    assert!(
        wal.metadata().map(|m| m.len() > 0).unwrap_or(false),
        "no WAL left behind"
    );

    let store = Store::open_in_data_dir(dir.path()).await.unwrap();
    let docs = store.load_all().await.unwrap();
    // Everything reported as committed is there; later commits may be too.
    for i in 0..=SEEN {
        let key = format!("f{i}");
        let found = docs.iter().find(|d| d.key == key);
        assert_eq!(
            found.map(|d| &d.document),
            Some(&json!({"i": i})),
            "{key} lost"
        );
    }
    store.close().await;
}
