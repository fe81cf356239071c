-- +goose Up
-- Indicator layer (internal/indicator): definitions as versioned data, values materialised per
-- region level × period, a queue of recompute requests and the computation history.

-- Current definition of each indicator; spec is the JSON of indicator.Spec (formula, dimensions).
CREATE TABLE ind_definitions (
    code             TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    library          TEXT NOT NULL,                 -- theme | topic
    spec             TEXT NOT NULL,                 -- JSON indicator.Spec
    version          INTEGER NOT NULL DEFAULT 1,
    origin           TEXT NOT NULL DEFAULT 'seed',  -- seed | user
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    edited           BOOLEAN NOT NULL DEFAULT FALSE, -- changed by a person: seeding never overwrites it
    updated_by       TEXT NOT NULL DEFAULT '',
    updated_at       TIMESTAMP NOT NULL,
    computed_at      TIMESTAMP,                     -- last computation that touched its values
    computed_run_id  INTEGER
);

-- Every version of every definition (who, when, why), for the catalogue's history.
CREATE TABLE ind_definition_versions (
    code       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (code, version)
);

-- Materialised values. region_level: province | unit | county; period_kind: all | year | month
-- | day with period '' | 'YYYY' | 'YYYY-MM' | 'YYYY-MM-DD'; dim is the breakdown value ('' when
-- none). Absent cells are zero.
CREATE TABLE ind_values (
    code         TEXT NOT NULL,
    region_level TEXT NOT NULL,
    region_code  TEXT NOT NULL,
    period_kind  TEXT NOT NULL,
    period       TEXT NOT NULL,
    dim          TEXT NOT NULL DEFAULT '',
    value        REAL NOT NULL,
    computed_at  TIMESTAMP NOT NULL,
    run_id       INTEGER NOT NULL,
    PRIMARY KEY (code, region_level, region_code, period_kind, period, dim)
);

-- Recompute requests: written in the transaction of whatever caused them (ingestion event,
-- definition change, manual full recompute) and drained by the job indicator.refresh.
CREATE TABLE ind_requests (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,                  -- full | dataset | codes
    dataset      TEXT NOT NULL DEFAULT '',
    codes        TEXT NOT NULL DEFAULT '[]',     -- JSON array
    regions      TEXT NOT NULL DEFAULT '[]',     -- JSON array; [] = all
    periods      TEXT NOT NULL DEFAULT '[]',     -- JSON array of YYYY / YYYY-MM / YYYY-MM-DD; [] = all
    source       TEXT NOT NULL DEFAULT '',       -- event:<id> | user:<account> | schedule | seed
    requested_by TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'pending', -- pending | done | failed
    created_at   TIMESTAMP NOT NULL,
    done_at      TIMESTAMP,
    run_id       INTEGER,
    error        TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX ind_requests_source ON ind_requests(source) WHERE source LIKE 'event:%';
CREATE INDEX ind_requests_status ON ind_requests(status, id);

-- Computation history: one row per processed unit of work.
CREATE TABLE ind_runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,                   -- full | incremental | codes
    source      TEXT NOT NULL DEFAULT '',        -- request sources, e.g. event:12, user:analyst
    dataset     TEXT NOT NULL DEFAULT '',
    codes       TEXT NOT NULL DEFAULT '[]',
    regions     TEXT NOT NULL DEFAULT '[]',
    periods     TEXT NOT NULL DEFAULT '[]',
    cells       INTEGER NOT NULL DEFAULT 0,
    job_run_id  INTEGER,
    status      TEXT NOT NULL,                   -- running | succeeded | failed
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ind_runs_started ON ind_runs(started_at);

-- Row 1: bumped in every transaction that writes values (pages poll it for freshness, SSE);
-- row 2: bumped by every definition change (instances reload their cached definitions).
CREATE TABLE ind_state (
    id         INTEGER PRIMARY KEY,
    version    INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO ind_state(id, version, updated_at) VALUES (1, 0, CURRENT_TIMESTAMP), (2, 0, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE ind_state;
DROP TABLE ind_runs;
DROP TABLE ind_requests;
DROP TABLE ind_values;
DROP TABLE ind_definition_versions;
DROP TABLE ind_definitions;
