-- +goose Up
-- Data-quality engine (internal/quality): rules kept as data, one append-only history of runs
-- and per-rule results with per-region counts and failed rows kept by key, settings and
-- published reports.

-- Rules: a built-in template with parameters, or custom SQL, bound to one dataset.
CREATE TABLE quality_rules (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,            -- stable code, e.g. ENT_USCC_VALID (CLI --rule)
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    dataset     TEXT NOT NULL,                   -- dataset name (enterprise, licence, …)
    template    TEXT NOT NULL,                   -- not_null | unique | … | custom_condition | custom_query
    params      TEXT NOT NULL DEFAULT '{}',      -- JSON parameters of the template
    dimension   TEXT NOT NULL,                   -- GB/T 36344: 规范性 完整性 准确性 一致性 时效性 可访问性
    severity    TEXT NOT NULL DEFAULT 'warning', -- info | warning | critical
    threshold   REAL NOT NULL DEFAULT 100,       -- pass rate (%) below which the rule fails
    filter      TEXT NOT NULL DEFAULT '',        -- optional SQL condition: rows the rule applies to
    exceptions  TEXT NOT NULL DEFAULT '[]',      -- JSON array of row keys known and accepted
    schedule    TEXT NOT NULL DEFAULT '',        -- cron expression ('' = run with the others / by hand)
    sample_cap  INTEGER NOT NULL DEFAULT 0,      -- failed rows kept per run (0 = the setting's default)
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    builtin     BOOLEAN NOT NULL DEFAULT FALSE,
    version     INTEGER NOT NULL DEFAULT 1,      -- incremented by every change
    next_run_at TIMESTAMP,                        -- next scheduled occurrence
    created_by  TEXT NOT NULL DEFAULT '',
    updated_by  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX quality_rules_dataset ON quality_rules(dataset, code);

-- Every version of every rule, so a result can be read against the rule as it was.
CREATE TABLE quality_rule_versions (
    id         INTEGER PRIMARY KEY,
    rule_id    INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,                    -- JSON of the rule
    changed_by TEXT NOT NULL DEFAULT '',
    changed_at TIMESTAMP NOT NULL,
    UNIQUE (rule_id, version)
);

-- Runs: written in one transaction with their results when the run ends (a crash leaves none).
CREATE TABLE quality_runs (
    id            INTEGER PRIMARY KEY,
    trigger_kind  TEXT NOT NULL,                 -- manual | schedule | cli
    actor         TEXT NOT NULL DEFAULT '',
    dataset       TEXT NOT NULL DEFAULT '',      -- --dataset of the run ('' = all)
    rule_code     TEXT NOT NULL DEFAULT '',      -- --rule of the run ('' = all)
    status        TEXT NOT NULL,                 -- passed | failed (a rule below threshold or in error)
    rules_total   INTEGER NOT NULL DEFAULT 0,
    rules_passed  INTEGER NOT NULL DEFAULT 0,
    rules_failed  INTEGER NOT NULL DEFAULT 0,
    rules_error   INTEGER NOT NULL DEFAULT 0,
    score         REAL,                          -- overall score (weighted dimensions)
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP NOT NULL
);
CREATE INDEX quality_runs_started ON quality_runs(started_at);

-- One row per rule per run: exact counts, pass rate, status.
CREATE TABLE quality_results (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES quality_runs(id) ON DELETE CASCADE,
    rule_id      INTEGER REFERENCES quality_rules(id) ON DELETE SET NULL,
    rule_code    TEXT NOT NULL,
    rule_name    TEXT NOT NULL,
    rule_version INTEGER NOT NULL,
    dataset      TEXT NOT NULL,
    template     TEXT NOT NULL,
    dimension    TEXT NOT NULL,
    severity     TEXT NOT NULL,
    threshold    REAL NOT NULL,
    checked      INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    pass_rate    REAL,                           -- (checked - failed) / checked × 100; NULL when nothing checked
    status       TEXT NOT NULL,                  -- pass | fail | error
    metric       REAL,                           -- set-level measure (row count, hours since update)
    message      TEXT NOT NULL DEFAULT '',
    sampled      INTEGER NOT NULL DEFAULT 0,     -- failed rows kept
    regional     BOOLEAN NOT NULL DEFAULT TRUE,  -- counts are broken down by region
    duration_ms  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX quality_results_run ON quality_results(run_id);
CREATE INDEX quality_results_rule ON quality_results(rule_id, run_id);
CREATE INDEX quality_results_dataset ON quality_results(dataset, run_id);

-- Counts of a result per region (the region column of the dataset), for scope and scores.
CREATE TABLE quality_result_regions (
    result_id   INTEGER NOT NULL REFERENCES quality_results(id) ON DELETE CASCADE,
    region_code TEXT NOT NULL,
    checked     INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    PRIMARY KEY (result_id, region_code)
);

-- Failed rows by key with the offending values, capped per rule per run.
CREATE TABLE quality_failed_rows (
    id          INTEGER PRIMARY KEY,
    result_id   INTEGER NOT NULL REFERENCES quality_results(id) ON DELETE CASCADE,
    run_id      INTEGER NOT NULL,
    dataset     TEXT NOT NULL,
    row_key     TEXT NOT NULL,                   -- key values joined by '|'
    key_values  TEXT NOT NULL,                   -- JSON array of the key values
    region_code TEXT NOT NULL DEFAULT '',
    vals        TEXT NOT NULL DEFAULT '{}'       -- JSON object: field → offending value
);
CREATE INDEX quality_failed_rows_result ON quality_failed_rows(result_id, id);
CREATE INDEX quality_failed_rows_key ON quality_failed_rows(dataset, row_key);

-- Engine settings: dimension weights, default sample cap, time limit.
CREATE TABLE quality_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);

-- Published quality reports (per run or per month); the content is rendered from history.
CREATE TABLE quality_reports (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,                  -- run | month
    run_id       INTEGER REFERENCES quality_runs(id) ON DELETE CASCADE,
    period       TEXT NOT NULL DEFAULT '',       -- YYYY-MM for monthly reports
    title        TEXT NOT NULL,
    published_by TEXT NOT NULL DEFAULT '',
    published_at TIMESTAMP NOT NULL
);
CREATE INDEX quality_reports_published ON quality_reports(published_at);

-- Current and historical Shaanxi GB/T 2260 codes (synced from internal/dataset/validate at
-- start) for zhsj_region_valid on PostgreSQL.
CREATE TABLE quality_region_codes (
    code         TEXT PRIMARY KEY,
    current_code TEXT NOT NULL
);

-- +goose Down
DROP TABLE quality_region_codes;
DROP TABLE quality_reports;
DROP TABLE quality_settings;
DROP TABLE quality_failed_rows;
DROP TABLE quality_result_regions;
DROP TABLE quality_results;
DROP TABLE quality_runs;
DROP TABLE quality_rule_versions;
DROP TABLE quality_rules;
