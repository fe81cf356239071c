-- +goose Up
-- sso: zhsj as identity provider (OpenID Connect, CAS, signed ticket exchange) and the
-- connectors to partner platforms. Every piece of protocol state lives here so that any
-- number of instances can serve one flow.

-- Registered relying parties: OIDC clients, CAS services and ticket-exchange partners.
CREATE TABLE sso_clients (
    id                     INTEGER PRIMARY KEY,
    client_id              TEXT NOT NULL UNIQUE,
    protocol               TEXT NOT NULL,               -- oidc | cas | ticket
    name                   TEXT NOT NULL,
    secret_hash            TEXT NOT NULL DEFAULT '',    -- oidc confidential: HMAC-SM3 of the secret
    secret_enc             BLOB,                        -- ticket: SM4-GCM sealed secret (signatures need it)
    sign_alg               TEXT NOT NULL DEFAULT '',    -- ticket: hmac-sm3 | sm3 | md5
    redirect_uris          TEXT NOT NULL DEFAULT '',    -- oidc: one per line
    post_logout_uris       TEXT NOT NULL DEFAULT '',    -- oidc: one per line
    scopes                 TEXT NOT NULL DEFAULT '',    -- oidc: allowed scopes, space separated
    backchannel_logout_uri TEXT NOT NULL DEFAULT '',    -- oidc
    service_prefix         TEXT NOT NULL DEFAULT '',    -- cas: allowed service URL prefix; ticket: allowed redirect prefix
    logout_uri             TEXT NOT NULL DEFAULT '',    -- ticket: partner's logout notification API
    single_logout          BOOLEAN NOT NULL DEFAULT TRUE,
    status                 TEXT NOT NULL DEFAULT 'active', -- active | disabled
    created_by             INTEGER,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL
);

-- Signing keys of the OpenID provider. The private key is sealed with the keyring.
CREATE TABLE sso_signing_keys (
    kid         TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    private_enc BLOB NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    retired_at  TIMESTAMP,                             -- no longer signs
    expires_at  TIMESTAMP                              -- leaves the JWKS
);

-- Authorization requests of the code flow; code_hash is set once the code is issued.
CREATE TABLE sso_auth_requests (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    request     TEXT NOT NULL,                         -- JSON of the validated request
    user_id     INTEGER,
    session_id  TEXT NOT NULL DEFAULT '',              -- the zhsj session that approved it
    auth_time   TIMESTAMP,
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    code_hash   TEXT UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX sso_auth_requests_expires ON sso_auth_requests(expires_at);

-- Access and refresh tokens (refresh tokens rotate; a family shares one lineage).
CREATE TABLE sso_tokens (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,                         -- access | refresh
    token_hash  TEXT UNIQUE,                           -- refresh: SM3 of the token
    family      TEXT NOT NULL DEFAULT '',
    client_id   TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    session_id  TEXT NOT NULL DEFAULT '',
    scopes      TEXT NOT NULL DEFAULT '',
    audience    TEXT NOT NULL DEFAULT '',
    amr         TEXT NOT NULL DEFAULT '',
    auth_time   TIMESTAMP,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP
);
CREATE INDEX sso_tokens_session ON sso_tokens(session_id);
CREATE INDEX sso_tokens_family ON sso_tokens(family);
CREATE INDEX sso_tokens_expires ON sso_tokens(expires_at);

-- One-time tickets: CAS service tickets and ticket-exchange tickets. Single use.
CREATE TABLE sso_tickets (
    ticket_hash TEXT PRIMARY KEY,                      -- SM3 of the ticket
    kind        TEXT NOT NULL,                         -- cas | ticket
    client_id   TEXT NOT NULL,
    service     TEXT NOT NULL DEFAULT '',
    user_id     INTEGER NOT NULL,
    session_id  TEXT NOT NULL,
    participant INTEGER NOT NULL,
    fresh       BOOLEAN NOT NULL DEFAULT FALSE,       -- issued right after the password was presented (CAS renew)
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);
CREATE INDEX sso_tickets_expires ON sso_tickets(expires_at);

-- Which relying party took part in which zhsj session: the basis of single logout.
CREATE TABLE sso_participants (
    id          INTEGER PRIMARY KEY,
    session_id  TEXT NOT NULL,
    user_id     INTEGER NOT NULL,
    protocol    TEXT NOT NULL,                         -- oidc | cas | ticket
    client_id   TEXT NOT NULL,
    sid         TEXT NOT NULL,                         -- oidc sid / ticket sessionId / CAS SessionIndex hash
    ref_enc     BLOB,                                  -- CAS: sealed service ticket (SessionIndex)
    service     TEXT NOT NULL DEFAULT '',              -- CAS: service URL receiving the SLO; OIDC: issuer
    created_at  TIMESTAMP NOT NULL,
    ended_at    TIMESTAMP
);
CREATE INDEX sso_participants_session ON sso_participants(session_id);
CREATE INDEX sso_participants_sid ON sso_participants(sid);

-- Outbox of logout notifications to relying parties and upstream platforms.
CREATE TABLE sso_logout_queue (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,                         -- oidc | cas | ticket | upstream
    target      TEXT NOT NULL,                         -- client or connector id
    url         TEXT NOT NULL,
    body        TEXT NOT NULL,                         -- form-encoded body
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     TIMESTAMP NOT NULL,
    done_at     TIMESTAMP,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX sso_logout_queue_due ON sso_logout_queue(done_at, next_at);

-- Connectors to partner platforms: one row per platform, configuration only.
CREATE TABLE sso_connectors (
    id           TEXT PRIMARY KEY,                     -- slug used in URLs
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,                        -- oidc | oauth2 | cas | ticket
    region_code  TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL DEFAULT FALSE,
    config       TEXT NOT NULL DEFAULT '{}',           -- JSON, no secrets
    secret_enc   BLOB,                                 -- sealed client secret / app secret
    binding_rule TEXT NOT NULL DEFAULT 'approval',     -- account | phone | approval
    outbound_url TEXT NOT NULL DEFAULT '',             -- "go to the partner" link
    outbound_client TEXT NOT NULL DEFAULT '',          -- ticket client: the link carries a zhsj ticket for it
    sort         INTEGER NOT NULL DEFAULT 0,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- Login attempts started at a connector (state, nonce, PKCE verifier), single use.
CREATE TABLE sso_states (
    state_hash   TEXT PRIMARY KEY,
    connector_id TEXT NOT NULL,
    nonce        TEXT NOT NULL DEFAULT '',
    verifier     TEXT NOT NULL DEFAULT '',
    next         TEXT NOT NULL DEFAULT '/',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);

-- External subject → local account.
CREATE TABLE sso_bindings (
    id            INTEGER PRIMARY KEY,
    connector_id  TEXT NOT NULL REFERENCES sso_connectors(id),
    subject       TEXT NOT NULL,
    ext_account   TEXT NOT NULL DEFAULT '',
    ext_name      TEXT NOT NULL DEFAULT '',
    phone_mask    TEXT NOT NULL DEFAULT '',
    user_id       INTEGER REFERENCES users(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,                       -- active | pending | rejected
    matched_by    TEXT NOT NULL DEFAULT '',            -- account | phone | admin
    region_code   TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    decided_by    INTEGER,
    decided_at    TIMESTAMP,
    last_login_at TIMESTAMP,
    UNIQUE (connector_id, subject)
);
CREATE INDEX sso_bindings_status ON sso_bindings(status, connector_id);
CREATE INDEX sso_bindings_user ON sso_bindings(user_id);

-- zhsj sessions opened through a connector, with the upstream session they follow.
CREATE TABLE sso_inbound_sessions (
    session_id   TEXT PRIMARY KEY,
    connector_id TEXT NOT NULL,
    binding_id   INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    upstream_ref TEXT NOT NULL DEFAULT '',             -- oidc sid / CAS ticket / partner sessionId
    upstream_enc BLOB,                                 -- sealed id_token (logout hint) or token
    created_at   TIMESTAMP NOT NULL,
    ended_at     TIMESTAMP
);
CREATE INDEX sso_inbound_upstream ON sso_inbound_sessions(connector_id, upstream_ref);

-- +goose Down
DROP TABLE sso_inbound_sessions;
DROP TABLE sso_bindings;
DROP TABLE sso_states;
DROP TABLE sso_connectors;
DROP TABLE sso_logout_queue;
DROP TABLE sso_participants;
DROP TABLE sso_tickets;
DROP TABLE sso_tokens;
DROP TABLE sso_auth_requests;
DROP TABLE sso_signing_keys;
DROP TABLE sso_clients;
