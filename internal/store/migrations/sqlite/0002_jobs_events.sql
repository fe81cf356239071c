-- +goose Up
-- jobs: one schedule row per registered job; the lease on it makes one instance run each
-- occurrence, and run history.
CREATE TABLE job_schedule (
    name        TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    spec        TEXT NOT NULL,                   -- cron expression, seconds optional
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    next_run_at TIMESTAMP NOT NULL,              -- compare-and-set by the claiming instance
    lease_owner TEXT NOT NULL DEFAULT '',        -- instance running it now, '' when free
    lease_until TIMESTAMP,
    run_id      INTEGER,                         -- the run holding the lease
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE job_runs (
    id           INTEGER PRIMARY KEY,
    job          TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,                  -- schedule (定时) | manual (手动)
    scheduled_at TIMESTAMP,                      -- the occurrence, for scheduled runs
    actor        TEXT NOT NULL DEFAULT '',       -- who asked, for manual runs
    instance     TEXT NOT NULL,
    status       TEXT NOT NULL,                  -- running | succeeded | failed
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP,
    counts       TEXT NOT NULL DEFAULT '{}',     -- JSON object of counters
    notes        TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_runs_job ON job_runs(job, id);
CREATE INDEX job_runs_started ON job_runs(started_at);

-- events: the outbox. AUTOINCREMENT so that ids are never reused after retention deletes
-- (handlers may use the id as their idempotency key).
CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,                    -- module.thing.happened
    payload    TEXT NOT NULL,                    -- small JSON of ids
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_created ON events(created_at);

-- Which subscriber wants which event name; Publish fans out to these rows.
CREATE TABLE event_subscriptions (
    name       TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    seen_at    TIMESTAMP NOT NULL,               -- last declared by a running instance
    PRIMARY KEY (name, subscriber)
);

-- Per-subscriber lease: one instance handles a subscriber's deliveries at a time.
CREATE TABLE event_subscribers (
    subscriber  TEXT PRIMARY KEY,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_until TIMESTAMP
);

-- One row per (event, subscriber): progress, retries and dead letters.
CREATE TABLE event_deliveries (
    event_id        INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    subscriber      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending', -- pending | done | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    done_at         TIMESTAMP,
    PRIMARY KEY (event_id, subscriber)
);
CREATE INDEX event_deliveries_pending ON event_deliveries(subscriber, event_id) WHERE status = 'pending';
CREATE INDEX event_deliveries_dead ON event_deliveries(subscriber, event_id) WHERE status = 'dead';

-- +goose Down
DROP TABLE event_deliveries;
DROP TABLE event_subscribers;
DROP TABLE event_subscriptions;
DROP TABLE events;
DROP TABLE job_runs;
DROP TABLE job_schedule;
