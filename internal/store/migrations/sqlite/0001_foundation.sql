-- +goose Up
CREATE TABLE regions (
    code           TEXT PRIMARY KEY,             -- GB/T 2260 six-digit code
    name           TEXT NOT NULL,
    level          TEXT NOT NULL,                -- province | city | county
    parent_code    TEXT REFERENCES regions(code),
    reporting_unit TEXT,                         -- the 地市 the bureau reports it under
    path           TEXT NOT NULL,                -- /610000/610100/610102/ by reporting hierarchy
    sort           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX regions_path ON regions(path);

CREATE TABLE departments (
    id          INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES departments(id),
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions(code),
    path        TEXT NOT NULL DEFAULT '',        -- /1/4/17/
    sort        INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX departments_path ON departments(path);
CREATE INDEX departments_region ON departments(region_code);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY,
    account              TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    phone_enc            BLOB,                   -- SM4-GCM sealed
    phone_idx            TEXT,                   -- HMAC-SM3 blind index
    phone_mask           TEXT NOT NULL DEFAULT '',
    dept_id              INTEGER REFERENCES departments(id),
    region_code          TEXT NOT NULL REFERENCES regions(code),
    status               TEXT NOT NULL DEFAULT 'active', -- active | disabled
    expires_at           TIMESTAMP,              -- temporary accounts
    password_hash        TEXT NOT NULL DEFAULT '',
    password_changed_at  TIMESTAMP,
    password_max_days    INTEGER NOT NULL DEFAULT 0, -- user-chosen rotation period, 0 = policy maximum
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    weak_password        BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         TIMESTAMP,
    last_login_at        TIMESTAMP,
    last_login_ip        TEXT NOT NULL DEFAULT '',
    created_by           INTEGER,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);
CREATE INDEX users_phone_idx ON users(phone_idx);
CREATE INDEX users_dept ON users(dept_id);
CREATE INDEX users_region ON users(region_code);

CREATE TABLE password_history (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX password_history_user ON password_history(user_id, id);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    data_scope  TEXT NOT NULL DEFAULT 'self',   -- all | custom | dept | dept_below | self
    builtin     BOOLEAN NOT NULL DEFAULT FALSE,
    admin_kind  TEXT NOT NULL DEFAULT '',       -- system | security | audit for the 三员 roles
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE role_permissions (
    role_id    INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE role_depts (
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    dept_id INTEGER NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, dept_id)
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles(role_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,               -- SM3 of the random token
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,             -- absolute lifetime
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    revoked_at   TIMESTAMP,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    permissions TEXT NOT NULL DEFAULT '',        -- space separated subset of the owner's
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at  TIMESTAMP
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TIMESTAMP NOT NULL,
    kind        TEXT NOT NULL,                   -- login | operation
    actor_id    INTEGER,
    actor       TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    user_agent  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    object_type TEXT NOT NULL DEFAULT '',
    object_id   TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL,                   -- success | failure | denied | locked
    detail      TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    region_code TEXT NOT NULL DEFAULT '',
    prev_mac    TEXT NOT NULL,
    mac         TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(kind, at);
CREATE INDEX audit_log_actor ON audit_log(actor, at);

-- One row: the chain head (last id and mac) and the anchor left by pruning.
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    head_id     INTEGER NOT NULL DEFAULT 0,
    head_mac    TEXT NOT NULL,
    anchor_id   INTEGER NOT NULL DEFAULT 0,
    anchor_mac  TEXT NOT NULL
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE audit_chain;
DROP TABLE audit_log;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE user_roles;
DROP TABLE role_depts;
DROP TABLE role_permissions;
DROP TABLE roles;
DROP TABLE password_history;
DROP TABLE users;
DROP TABLE departments;
DROP TABLE regions;
