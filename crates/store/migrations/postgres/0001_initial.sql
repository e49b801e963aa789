-- Same schema as migrations/sqlite (keep them in step); see the comments there.
-- Documents are TEXT, not jsonb: the store never looks inside them, and one SQL text then
-- serves both databases (`SELECT document::jsonb` still works for an administrator).
CREATE TABLE documents (
    kind     TEXT   NOT NULL CHECK (kind <> ''),
    key      TEXT   NOT NULL CHECK (key <> ''),
    document TEXT   NOT NULL,
    version  BIGINT NOT NULL CHECK (version > 0),
    PRIMARY KEY (kind, key)
);

CREATE TABLE session_records (
    session_id    TEXT   NOT NULL PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    stack         TEXT   NOT NULL,
    fleet         TEXT   NOT NULL,
    instance_type TEXT   NOT NULL,
    stream_view   TEXT   NOT NULL,
    start_ms      BIGINT NOT NULL,
    end_ms        BIGINT NOT NULL,
    duration_secs BIGINT NOT NULL CHECK (duration_secs >= 0),
    end_reason    TEXT   NOT NULL,
    settings      TEXT   NOT NULL
);
CREATE INDEX session_records_by_end ON session_records (end_ms);

CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
