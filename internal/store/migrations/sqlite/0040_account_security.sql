-- +goose Up
-- Account security (issue 5 §3): SMS login codes, login history and risk events, in-app
-- notices, account lifecycle and periodic permission reviews.

-- One row per requested SMS code. The code itself is never stored: code_hash is HMAC-SM3
-- under a server key. Rows are written for unknown numbers too (nothing is sent), so that
-- the per-phone limits and the answers are the same whether an account exists or not.
CREATE TABLE sms_codes (
    id          INTEGER PRIMARY KEY,
    phone_idx   TEXT NOT NULL,                  -- blind index of the phone number
    purpose     TEXT NOT NULL DEFAULT 'login',
    code_hash   TEXT NOT NULL,
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    ip          TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,     -- verify attempts
    used_at     TIMESTAMP,
    send_status TEXT NOT NULL DEFAULT ''        -- queued | sent | failed | none (no account)
);
CREATE INDEX sms_codes_phone ON sms_codes(phone_idx, created_at);
CREATE INDEX sms_codes_ip ON sms_codes(ip, created_at);

-- The once-a-minute gate per phone: one conditional upsert decides, so parallel requests
-- cannot both pass (works the same on both databases and with several instances).
CREATE TABLE sms_gate (
    phone_idx    TEXT PRIMARY KEY,
    last_sent_at TIMESTAMP NOT NULL
);

-- Every login attempt with what the risk rules need (device, network prefix).
CREATE TABLE login_events (
    id         INTEGER PRIMARY KEY,
    at         TIMESTAMP NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE CASCADE,
    account    TEXT NOT NULL DEFAULT '',        -- as typed (also for unknown accounts)
    method     TEXT NOT NULL DEFAULT 'password',
    result     TEXT NOT NULL,                   -- success | failure | locked | denied
    ip         TEXT NOT NULL DEFAULT '',
    net        TEXT NOT NULL DEFAULT '',        -- network prefix: IPv4 /24, IPv6 /48
    area       TEXT NOT NULL DEFAULT '',        -- wider prefix standing for a location: IPv4 /16, IPv6 /32
    device     TEXT NOT NULL DEFAULT '',        -- HMAC-SM3 of the device cookie
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX login_events_user ON login_events(user_id, at);
CREATE INDEX login_events_ip ON login_events(ip, at);
CREATE INDEX login_events_at ON login_events(at);

-- Abnormal-login findings, shown to the user (登录异常提醒) and to the security administrator.
CREATE TABLE login_risks (
    id             INTEGER PRIMARY KEY,
    at             TIMESTAMP NOT NULL,
    user_id        INTEGER REFERENCES users(id) ON DELETE CASCADE, -- NULL for IP-level findings (spraying)
    account        TEXT NOT NULL DEFAULT '',
    region_code    TEXT NOT NULL DEFAULT '610000',
    kind           TEXT NOT NULL,               -- new_device | new_network | unusual_hour | failure_burst | password_spray | impossible_travel
    level          TEXT NOT NULL,               -- low | medium | high
    ip             TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    login_event_id INTEGER,
    status         TEXT NOT NULL DEFAULT 'open', -- open | confirmed (本人操作) | reported (非本人) | closed
    handled_by     INTEGER,
    handled_at     TIMESTAMP,
    note           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX login_risks_user ON login_risks(user_id, at);
CREATE INDEX login_risks_at ON login_risks(at);
CREATE INDEX login_risks_kind ON login_risks(kind, ip, at);

-- In-app reminders (password expiry, login risk), one per dedup key.
CREATE TABLE user_notices (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    link       TEXT NOT NULL DEFAULT '',
    dedup      TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    read_at    TIMESTAMP,
    UNIQUE (user_id, dedup)
);

-- Why and when an account was disabled (dormant, expired, administrator).
ALTER TABLE users ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;

-- Permission review campaigns: a snapshot of every user's roles and scope that the security
-- administrator confirms or revokes item by item.
CREATE TABLE access_reviews (
    id         INTEGER PRIMARY KEY,
    period     TEXT NOT NULL UNIQUE,            -- 2026Q3 for scheduled reviews; M+timestamp for manual ones
    title      TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open',    -- open | closed
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL,
    closed_at  TIMESTAMP
);

CREATE TABLE access_review_items (
    id            INTEGER PRIMARY KEY,
    review_id     INTEGER NOT NULL REFERENCES access_reviews(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    account       TEXT NOT NULL,
    name          TEXT NOT NULL,
    region_code   TEXT NOT NULL,
    dept_id       INTEGER,
    dept_name     TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '',     -- role names at snapshot time
    scope         TEXT NOT NULL DEFAULT '',
    last_login_at TIMESTAMP,
    decision      TEXT NOT NULL DEFAULT '',     -- '' | confirmed | revoked
    decided_by    INTEGER,
    decided_at    TIMESTAMP,
    note          TEXT NOT NULL DEFAULT '',
    UNIQUE (review_id, user_id)
);
CREATE INDEX access_review_items_region ON access_review_items(review_id, region_code);

-- +goose Down
DROP TABLE access_review_items;
DROP TABLE access_reviews;
ALTER TABLE users DROP COLUMN disabled_at;
ALTER TABLE users DROP COLUMN disabled_reason;
DROP TABLE user_notices;
DROP TABLE login_risks;
DROP TABLE login_events;
DROP TABLE sms_gate;
DROP TABLE sms_codes;
