-- +goose Up
-- Backups (备份记录): one row per archive written by zhsj (scheduled, manual, before an
-- upgrade or a rollback, or by `zhsj backup`), with its manifest and the latest test restore.
CREATE TABLE ops_backups (
    id             INTEGER PRIMARY KEY,
    file           TEXT NOT NULL UNIQUE,            -- absolute path of the archive
    kind           TEXT NOT NULL,                   -- scheduled | manual | pre_upgrade | pre_rollback | cli
    status         TEXT NOT NULL,                   -- ok | failed | deleted
    size_bytes     BIGINT NOT NULL DEFAULT 0,
    sm3            TEXT NOT NULL DEFAULT '',        -- SM3 of the archive file
    app_version    TEXT NOT NULL DEFAULT '',
    schema_version BIGINT NOT NULL DEFAULT 0,
    dialect        TEXT NOT NULL DEFAULT '',
    tables_count   INTEGER NOT NULL DEFAULT 0,
    rows_count     BIGINT NOT NULL DEFAULT 0,
    manifest       TEXT NOT NULL DEFAULT '{}',      -- the archive's manifest.json
    error          TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMP NOT NULL,
    deleted_at     TIMESTAMP,
    verified_at    TIMESTAMP,                       -- last test restore (备份有效性验证)
    verify_result  TEXT NOT NULL DEFAULT '',        -- '' | passed | failed
    verify_detail  TEXT NOT NULL DEFAULT '',
    region_code    TEXT NOT NULL DEFAULT '610000'
);
CREATE INDEX ops_backups_created ON ops_backups(created_at);

-- Release records (版本发布记录): installs, upgrades and rollbacks with their checks.
CREATE TABLE ops_releases (
    id           INTEGER PRIMARY KEY,
    ref          TEXT NOT NULL UNIQUE,              -- random id, stable across rollbacks and the journal file
    kind         TEXT NOT NULL,                     -- install | upgrade | rollback
    version      TEXT NOT NULL,                     -- program version that ran it
    from_schema  BIGINT NOT NULL DEFAULT 0,
    to_schema    BIGINT NOT NULL DEFAULT 0,
    backup_file  TEXT NOT NULL DEFAULT '',          -- pre-upgrade backup, or the backup restored by a rollback
    operator     TEXT NOT NULL DEFAULT '',          -- OS account and host
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NOT NULL,
    result       TEXT NOT NULL,                     -- success | failed
    checks       TEXT NOT NULL DEFAULT '[]',        -- JSON list of post-upgrade checks
    detail       TEXT NOT NULL DEFAULT '',
    region_code  TEXT NOT NULL DEFAULT '610000'
);
CREATE INDEX ops_releases_started ON ops_releases(started_at);

-- +goose Down
DROP TABLE ops_releases;
DROP TABLE ops_backups;
