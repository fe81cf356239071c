-- +goose Up
-- Outbound notification channels (DingTalk, WeCom, Feishu robots, email, SMS, webhook).
CREATE TABLE notify_channels (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,                   -- dingtalk | wecom | feishu | email | webhook | sms
    config      TEXT NOT NULL DEFAULT '{}',      -- JSON, holds secrets: never log it
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    lease_owner TEXT NOT NULL DEFAULT '',        -- instance delivering this channel now
    lease_until TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

-- The delivery log: one row per message queued to a channel (a digest is a row too).
CREATE TABLE notify_deliveries (
    id              INTEGER PRIMARY KEY,
    channel_id      INTEGER NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    title           TEXT NOT NULL,
    text            TEXT NOT NULL DEFAULT '',
    severity        TEXT NOT NULL DEFAULT '',
    link            TEXT NOT NULL DEFAULT '',
    dedup           TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL DEFAULT 'queued', -- queued | sending | sent | failed | merged
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL DEFAULT 5,
    merged_count    INTEGER NOT NULL DEFAULT 0,  -- on a digest: how many messages it carries
    merged_into     INTEGER REFERENCES notify_deliveries(id) ON DELETE SET NULL,
    error           TEXT NOT NULL DEFAULT '',
    response        TEXT NOT NULL DEFAULT '',
    next_at         TIMESTAMP NOT NULL,          -- due time of the next attempt
    lease_until     TIMESTAMP,                   -- while sending: when a crashed claim expires
    created_at      TIMESTAMP NOT NULL,
    last_attempt_at TIMESTAMP,
    sent_at         TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX notify_deliveries_due ON notify_deliveries(status, next_at);
CREATE INDEX notify_deliveries_channel ON notify_deliveries(channel_id, id);
CREATE INDEX notify_deliveries_merged ON notify_deliveries(merged_into);
CREATE UNIQUE INDEX notify_deliveries_dedup ON notify_deliveries(channel_id, dedup) WHERE dedup <> '';

-- Every request made to a channel, for rate limiting across instances.
CREATE TABLE notify_attempts (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    delivery_id INTEGER NOT NULL REFERENCES notify_deliveries(id) ON DELETE CASCADE,
    at          TIMESTAMP NOT NULL,
    ok          BOOLEAN NOT NULL DEFAULT FALSE,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notify_attempts_channel ON notify_attempts(channel_id, at);
CREATE INDEX notify_attempts_delivery ON notify_attempts(delivery_id);

-- +goose Down
DROP TABLE notify_attempts;
DROP TABLE notify_deliveries;
DROP TABLE notify_channels;
