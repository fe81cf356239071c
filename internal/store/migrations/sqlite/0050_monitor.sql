-- +goose Up
-- Monitoring (issue 6): systems, probe targets, metric series and samples with rollups,
-- alert rules, alerts with their history, silences and maintenance windows.

-- Systems group targets on the console and the public status page. They are data: the
-- bureau's ten boards, the client apps, unified authentication, interfaces, database, middleware.
CREATE TABLE monitor_systems (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    sort        INTEGER NOT NULL DEFAULT 0,
    public      BOOLEAN NOT NULL DEFAULT TRUE,   -- shown on the public status page
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- Probe targets.
CREATE TABLE monitor_targets (
    id               INTEGER PRIMARY KEY,
    system_id        BIGINT NOT NULL REFERENCES monitor_systems(id),
    parent_id        BIGINT REFERENCES monitor_targets(id) ON DELETE SET NULL, -- host it runs on: down inhibits this one
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,                 -- http | tcp | dns | postgres | mysql | redis | zhsj | node
    address          TEXT NOT NULL,                 -- URL, host:port, domain name or DSN (secrets: never shown)
    config           TEXT NOT NULL DEFAULT '{}',    -- kind options as JSON
    interval_seconds INTEGER NOT NULL DEFAULT 30,
    timeout_ms       INTEGER NOT NULL DEFAULT 5000,
    retries          INTEGER NOT NULL DEFAULT 1,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    status           TEXT NOT NULL DEFAULT 'unknown', -- up | down | unknown
    last_checked_at  TIMESTAMP,
    last_change_at   TIMESTAMP,
    last_latency_ms  REAL NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    cert_expires_at  TIMESTAMP,
    created_by       BIGINT,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (system_id, name)
);
CREATE INDEX monitor_targets_parent ON monitor_targets(parent_id);

-- Metric series: one per name and label set. last_* hold the newest sample for rules.
CREATE TABLE monitor_series (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    labels     TEXT NOT NULL DEFAULT '',        -- canonical k=v;k=v, sorted by key
    target_id  BIGINT REFERENCES monitor_targets(id) ON DELETE CASCADE,
    last_value REAL,
    last_at    BIGINT,                          -- unix ms
    UNIQUE (name, labels)
);
CREATE INDEX monitor_series_target ON monitor_series(target_id);

-- Raw samples, unix ms; kept 7 days by default.
CREATE TABLE monitor_samples (
    series_id BIGINT NOT NULL REFERENCES monitor_series(id) ON DELETE CASCADE,
    at        BIGINT NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (series_id, at)
) WITHOUT ROWID;
CREATE INDEX monitor_samples_at ON monitor_samples(at);

-- Rollups: step 300 (5 minutes, kept 90 days) and 3600 (hourly, kept 2 years).
CREATE TABLE monitor_rollups (
    series_id BIGINT NOT NULL REFERENCES monitor_series(id) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    at        BIGINT NOT NULL,                  -- bucket start, unix ms
    vmin      REAL NOT NULL,
    vmax      REAL NOT NULL,
    vsum      REAL NOT NULL,
    vcount    BIGINT NOT NULL,
    PRIMARY KEY (series_id, step, at)
) WITHOUT ROWID;
CREATE INDEX monitor_rollups_at ON monitor_rollups(step, at);

-- Alert rules over a metric: condition, duration before firing, severity, repeat interval.
CREATE TABLE monitor_rules (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    metric         TEXT NOT NULL,
    matchers       TEXT NOT NULL DEFAULT '',     -- k=v;k=v label matchers
    system_id      BIGINT REFERENCES monitor_systems(id) ON DELETE CASCADE,
    target_id      BIGINT REFERENCES monitor_targets(id) ON DELETE CASCADE,
    op             TEXT NOT NULL,                -- < <= > >= == !=
    threshold      REAL NOT NULL,
    for_seconds    INTEGER NOT NULL DEFAULT 0,
    severity       TEXT NOT NULL,                -- general | serious | major | critical (一般/较大/重大/特别重大)
    repeat_seconds INTEGER NOT NULL DEFAULT 0,   -- 0: notify once while firing
    channels       TEXT NOT NULL DEFAULT '',     -- notify channel ids, comma separated; empty: every enabled channel
    description    TEXT NOT NULL DEFAULT '',
    enabled        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

-- Alerts: one row per rule and series while pending or firing (the de-duplication key is
-- the fingerprint); resolved rows are the history.
CREATE TABLE monitor_alerts (
    id               INTEGER PRIMARY KEY,
    rule_id          BIGINT NOT NULL REFERENCES monitor_rules(id) ON DELETE CASCADE,
    fingerprint      TEXT NOT NULL,
    series_id        BIGINT,
    target_id        BIGINT,
    system_id        BIGINT,
    labels           TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,              -- pending | firing | resolved
    severity         TEXT NOT NULL,
    value            REAL NOT NULL DEFAULT 0,
    summary          TEXT NOT NULL DEFAULT '',
    started_at       TIMESTAMP NOT NULL,       -- condition first true
    fired_at         TIMESTAMP,
    resolved_at      TIMESTAMP,
    last_eval_at     TIMESTAMP NOT NULL,
    last_notified_at TIMESTAMP,
    notify_count     INTEGER NOT NULL DEFAULT 0,
    silenced_by      BIGINT,                     -- silence or maintenance window in force
    inhibited_by     BIGINT,                     -- firing alert of the parent target
    acked_by         TEXT NOT NULL DEFAULT '',
    acked_at         TIMESTAMP,
    ack_note         TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX monitor_alerts_active ON monitor_alerts(fingerprint) WHERE state <> 'resolved';
CREATE INDEX monitor_alerts_state ON monitor_alerts(state, id);
CREATE INDEX monitor_alerts_target ON monitor_alerts(target_id, state);

-- Everything that happened to an alert.
CREATE TABLE monitor_alert_events (
    id       INTEGER PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES monitor_alerts(id) ON DELETE CASCADE,
    at       TIMESTAMP NOT NULL,
    kind     TEXT NOT NULL,                      -- pending | firing | resolved | notified | repeated | silenced | inhibited | acked
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX monitor_alert_events_alert ON monitor_alert_events(alert_id, id);

-- Silences (one-off) and maintenance windows (one-off or recurring) over a system, a
-- target or a rule (all empty: everything).
CREATE TABLE monitor_silences (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,                   -- silence | maintenance
    system_id   BIGINT REFERENCES monitor_systems(id) ON DELETE CASCADE,
    target_id   BIGINT REFERENCES monitor_targets(id) ON DELETE CASCADE,
    rule_id     BIGINT REFERENCES monitor_rules(id) ON DELETE CASCADE,
    starts_at   TIMESTAMP NOT NULL,
    ends_at     TIMESTAMP NOT NULL,
    recurrence  TEXT NOT NULL DEFAULT 'none',    -- none | daily | weekly
    weekdays    TEXT NOT NULL DEFAULT '',        -- weekly: 1..7 (Monday=1), comma separated
    window_start TEXT NOT NULL DEFAULT '',       -- recurring: HH:MM Asia/Shanghai
    window_minutes INTEGER NOT NULL DEFAULT 0,
    comment     TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);


INSERT INTO monitor_systems (code, name, sort, created_at, updated_at) VALUES
 ('overview', '市监全貌', 10, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('entity', '主体服务', 20, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('licensing', '许可备案', 30, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('supervision', '综合监管', 40, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('remote', '远程监控', 50, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('complaint', '投诉举报', 60, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('enforcement', '稽查办案', 70, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('quality', '质量服务', 80, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('risk', '风险防控', 90, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('data_assets', '数据资产', 100, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('app', '智慧市监 APP', 110, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('pc', 'PC 端', 120, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('miniprogram', '小程序端', 130, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('uaa', '统一认证平台', 140, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('api', '接口服务', 150, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('database', '数据库', 160, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('middleware', '中间件', 170, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('zhsj', '智慧市监平台', 180, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

INSERT INTO monitor_rules (name, metric, op, threshold, for_seconds, severity, repeat_seconds, description, created_at, updated_at) VALUES
 ('服务不可用', 'probe_success', '<', 1, 0, 'major', 3600, '探测失败（已按目标的重试次数重试）', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('证书即将过期', 'probe_cert_days_left', '<', 14, 0, 'general', 86400, 'HTTPS 证书剩余有效期不足 14 天', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('响应缓慢', 'probe_duration_seconds', '>', 3, 300, 'general', 0, '探测耗时持续 5 分钟超过 3 秒', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('主机 CPU 使用率过高', 'host_cpu_percent', '>', 90, 300, 'general', 0, 'CPU 使用率持续 5 分钟超过 90%', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('磁盘空间不足', 'host_disk_used_percent', '>', 90, 0, 'serious', 86400, '磁盘使用率超过 90%', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE monitor_silences;
DROP TABLE monitor_alert_events;
DROP TABLE monitor_alerts;
DROP TABLE monitor_rules;
DROP TABLE monitor_rollups;
DROP TABLE monitor_samples;
DROP TABLE monitor_series;
DROP TABLE monitor_targets;
DROP TABLE monitor_systems;
