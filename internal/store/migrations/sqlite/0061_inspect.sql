-- +goose Up
-- Inspections (巡检): plans on a schedule or on demand, their runs with one row per checked
-- item, findings (隐患) with owner and deadline, and the archived reports.
CREATE TABLE inspect_plans (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    cycle       TEXT NOT NULL,                      -- daily | weekly | monthly | adhoc
    categories  TEXT NOT NULL DEFAULT '',           -- comma separated item categories; '' = all
    system_name TEXT NOT NULL DEFAULT '智慧市监平台',
    scope       TEXT NOT NULL DEFAULT '',           -- scope statement on the report
    inspector   TEXT NOT NULL DEFAULT '',           -- names on the cover
    reviewer    TEXT NOT NULL DEFAULT '',
    owner       TEXT NOT NULL DEFAULT '',           -- account owning new findings
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    region_code TEXT NOT NULL DEFAULT '610000',
    created_by  BIGINT,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE inspect_runs (
    id             INTEGER PRIMARY KEY,
    plan_id        BIGINT NOT NULL REFERENCES inspect_plans(id),
    plan_name      TEXT NOT NULL,
    cycle          TEXT NOT NULL,
    trigger_kind   TEXT NOT NULL,                   -- schedule | manual
    actor          TEXT NOT NULL DEFAULT '',        -- account that ran it; system for scheduled runs
    status         TEXT NOT NULL,                   -- running | done | failed
    period_start   TIMESTAMP NOT NULL,
    period_end     TIMESTAMP NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP,
    score          INTEGER NOT NULL DEFAULT 0,      -- health score 0..100
    prev_run_id    BIGINT,
    prev_score     INTEGER,
    normal_count   INTEGER NOT NULL DEFAULT 0,
    warning_count  INTEGER NOT NULL DEFAULT 0,
    critical_count INTEGER NOT NULL DEFAULT 0,
    failed_count   INTEGER NOT NULL DEFAULT 0,
    na_count       INTEGER NOT NULL DEFAULT 0,
    summary        TEXT NOT NULL DEFAULT '',
    inspector      TEXT NOT NULL DEFAULT '',
    reviewer       TEXT NOT NULL DEFAULT '',
    reviewed_at    TIMESTAMP,
    review_note    TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    region_code    TEXT NOT NULL DEFAULT '610000',
    created_by     BIGINT
);
CREATE INDEX inspect_runs_plan ON inspect_runs(plan_id, id);
CREATE INDEX inspect_runs_started ON inspect_runs(started_at);

CREATE TABLE inspect_items (
    id              INTEGER PRIMARY KEY,
    run_id          BIGINT NOT NULL REFERENCES inspect_runs(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    category        TEXT NOT NULL,                  -- database | app | config | security | logs | backup
    code            TEXT NOT NULL,                  -- stable check code, e.g. sec.weak_password
    name            TEXT NOT NULL,
    method          TEXT NOT NULL,
    threshold       TEXT NOT NULL,
    measured        TEXT NOT NULL,
    value           REAL,                           -- numeric measure, compared with the previous run
    conclusion      TEXT NOT NULL,                  -- normal | warning | critical | failed | na
    risk            TEXT NOT NULL,                  -- none | low | medium | high
    advice          TEXT NOT NULL DEFAULT '',
    prev_conclusion TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inspect_items_run ON inspect_items(run_id, seq);

-- Findings (隐患): one open finding per check and jurisdiction; later runs update it, and
-- close it when the check passes again.
CREATE TABLE inspect_findings (
    id            INTEGER PRIMARY KEY,
    run_id        BIGINT NOT NULL REFERENCES inspect_runs(id),
    last_run_id   BIGINT NOT NULL,
    item_id       BIGINT,
    code          TEXT NOT NULL,
    category      TEXT NOT NULL,
    title         TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    risk          TEXT NOT NULL,
    owner         TEXT NOT NULL DEFAULT '',
    deadline      TEXT NOT NULL,                    -- YYYY-MM-DD (Asia/Shanghai)
    status        TEXT NOT NULL DEFAULT 'open',     -- open | rectifying | closed
    advice        TEXT NOT NULL DEFAULT '',         -- the inspection's suggestion
    rectification TEXT NOT NULL DEFAULT '',         -- what the owner did
    closed_at     TIMESTAMP,
    closed_note   TEXT NOT NULL DEFAULT '',
    closed_run_id BIGINT,                           -- the run that found it fixed
    region_code   TEXT NOT NULL DEFAULT '610000',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX inspect_findings_open ON inspect_findings(code, region_code) WHERE status <> 'closed';
CREATE INDEX inspect_findings_status ON inspect_findings(status, deadline);

-- Archived reports: each version of a run's report as it was issued.
CREATE TABLE inspect_reports (
    id         INTEGER PRIMARY KEY,
    run_id     BIGINT NOT NULL REFERENCES inspect_runs(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    format     TEXT NOT NULL,                       -- xlsx | html | pdf
    content    BLOB NOT NULL,
    sm3        TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    UNIQUE (run_id, version, format)
);

INSERT INTO inspect_plans (name, cycle, scope, inspector, reviewer, created_at, updated_at) VALUES
 ('智慧市监平台日巡检', 'daily', '智慧市监平台本机：数据库、平台运行、配置、安全、日志、备份', '运维中心（自动）', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('智慧市监平台月度巡检', 'monthly', '智慧市监平台本机：数据库、平台运行、配置、安全、日志、备份（含恢复演练）', '运维中心（自动）', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE inspect_reports;
DROP TABLE inspect_findings;
DROP TABLE inspect_items;
DROP TABLE inspect_runs;
DROP TABLE inspect_plans;
