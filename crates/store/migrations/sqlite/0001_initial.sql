-- The control plane's state as opaque JSON documents, one row per (kind, key).
-- `version` counts writes of a row so that replicas sharing one database can later
-- apply changes optimistically ("UPDATE ... WHERE version = seen").
-- STRICT makes SQLite enforce the declared column types like PostgreSQL does.
CREATE TABLE documents (
    kind     TEXT    NOT NULL CHECK (kind <> ''),
    key      TEXT    NOT NULL CHECK (key <> ''),
    document TEXT    NOT NULL,
    version  INTEGER NOT NULL CHECK (version > 0),
    PRIMARY KEY (kind, key)
) STRICT;

-- Append-only usage records, one per ended session. Times are Unix epoch milliseconds.
CREATE TABLE session_records (
    session_id    TEXT    NOT NULL PRIMARY KEY,
    user_id       TEXT    NOT NULL,
    stack         TEXT    NOT NULL,
    fleet         TEXT    NOT NULL,
    instance_type TEXT    NOT NULL,
    stream_view   TEXT    NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    duration_secs INTEGER NOT NULL CHECK (duration_secs >= 0),
    end_reason    TEXT    NOT NULL,
    settings      TEXT    NOT NULL
) STRICT;
CREATE INDEX session_records_by_end ON session_records (end_ms);

-- Small server-wide values: first-start marker, streaming-URL signing key.
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
