-- +goose Up
-- Code tables: maintained data seeded from internal/dataset/codes/*.csv (seeding never
-- overwrites an edited item) and read by ingestion lookups and quality rules.
CREATE TABLE ds_code_tables (
    name        TEXT PRIMARY KEY,
    title_zh    TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMP NOT NULL
);
CREATE TABLE ds_code_items (
    table_name  TEXT NOT NULL,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    parent_code TEXT NOT NULL DEFAULT '',        -- e.g. sampling_product → sampling_category code
    sort        INTEGER NOT NULL DEFAULT 0,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    origin      TEXT NOT NULL DEFAULT 'seed',    -- seed | user
    updated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (table_name, code)
);
CREATE INDEX ds_code_items_name ON ds_code_items(table_name, name);

-- Uploaded files, kept in the database so any instance can run or re-run them.
CREATE TABLE ds_uploads (
    id         INTEGER PRIMARY KEY,
    dataset    TEXT NOT NULL,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    content    BLOB NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ds_uploads_created ON ds_uploads(created_at);

-- Ingestion runs (推送任务运行记录): every file, pull, push and replay run.
CREATE TABLE ds_ingest_runs (
    id            INTEGER PRIMARY KEY,
    dataset       TEXT NOT NULL,
    task_name     TEXT NOT NULL,                 -- 任务名称
    schedule_type TEXT NOT NULL,                 -- realtime 实时 | scheduled 定时 | manual 手动
    source_kind   TEXT NOT NULL,                 -- file | upload | http_pull | http_push | sql_pull | replay | seed
    source_name   TEXT NOT NULL DEFAULT '',
    connector_id  INTEGER,
    upload_id     INTEGER,
    status        TEXT NOT NULL,                 -- running | committed | failed | interrupted
    actor         TEXT NOT NULL DEFAULT '',
    actor_id      INTEGER,
    region_code   TEXT NOT NULL,                 -- jurisdiction of whoever ran it (data scope)
    started_at    TIMESTAMP NOT NULL,
    heartbeat_at  TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP,
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    bytes_total   INTEGER NOT NULL DEFAULT 0,
    bytes_read    INTEGER NOT NULL DEFAULT 0,
    read_count    INTEGER NOT NULL DEFAULT 0,
    upserted      INTEGER NOT NULL DEFAULT 0,
    unchanged     INTEGER NOT NULL DEFAULT 0,
    quarantined   INTEGER NOT NULL DEFAULT 0,
    warnings      TEXT NOT NULL DEFAULT '{}',    -- JSON {"field: 问题": count}
    notes         TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ds_ingest_runs_dataset ON ds_ingest_runs(dataset, id);
CREATE INDEX ds_ingest_runs_started ON ds_ingest_runs(started_at);
CREATE INDEX ds_ingest_runs_status ON ds_ingest_runs(status, heartbeat_at);

-- Quarantine: records that failed validation, with the reason per field, kept for
-- correction and replay. The raw record is sealed (it may hold personal data); display is
-- the same record with personal values masked. One open row per distinct raw record.
CREATE TABLE ds_quarantine (
    id              INTEGER PRIMARY KEY,
    dataset         TEXT NOT NULL,
    run_id          INTEGER NOT NULL,            -- run that first quarantined it
    last_run_id     INTEGER NOT NULL,            -- run that last saw it
    source_name     TEXT NOT NULL DEFAULT '',
    line_no         INTEGER NOT NULL DEFAULT 0,
    record_key      TEXT NOT NULL DEFAULT '',
    region_code     TEXT NOT NULL,
    display         TEXT NOT NULL,               -- JSON {field: value}, personal values masked
    sealed          BLOB NOT NULL,               -- SM4-GCM of JSON {field: value} as received or corrected
    errors          TEXT NOT NULL,               -- JSON [{field, title, code, message}]
    raw_hash        TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open', -- open | resolved | discarded
    times_seen      INTEGER NOT NULL DEFAULT 1,
    corrected       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    resolved_at     TIMESTAMP,
    resolved_by     TEXT NOT NULL DEFAULT '',
    resolved_run_id INTEGER,
    note            TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX ds_quarantine_open ON ds_quarantine(dataset, raw_hash) WHERE status = 'open';
CREATE INDEX ds_quarantine_list ON ds_quarantine(dataset, status, id);
CREATE INDEX ds_quarantine_run ON ds_quarantine(last_run_id);
CREATE INDEX ds_quarantine_region ON ds_quarantine(region_code);

-- Connectors (HTTP pull, SQL pull, HTTP push) with their incremental cursor, advanced only
-- in the transaction that commits a run.
CREATE TABLE ds_connectors (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    dataset           TEXT NOT NULL,
    kind              TEXT NOT NULL,             -- http_pull | sql_pull | http_push
    config            TEXT NOT NULL DEFAULT '{}',
    secret_enc        BLOB,                      -- sealed token / password / DSN
    schedule          TEXT NOT NULL DEFAULT '',  -- cron, '' for manual only
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    cursor_value      TEXT NOT NULL DEFAULT '',
    cursor_updated_at TIMESTAMP,
    last_run_id       INTEGER,
    created_by        TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- Idempotency keys of pushed batches: a repeated key returns the first answer.
CREATE TABLE ds_push_keys (
    dataset    TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    run_id     INTEGER NOT NULL,
    response   TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (dataset, idem_key)
);

-- Deliberate defects written by the demo seeder, so quality results can be checked.
CREATE TABLE ds_demo_defects (
    dataset    TEXT NOT NULL,
    record_key TEXT NOT NULL,
    field      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (dataset, record_key, field, kind)
);

-- +goose Down
DROP TABLE ds_demo_defects;
DROP TABLE ds_push_keys;
DROP TABLE ds_connectors;
DROP TABLE ds_quarantine;
DROP TABLE ds_ingest_runs;
DROP TABLE ds_uploads;
DROP TABLE ds_code_items;
DROP TABLE ds_code_tables;
