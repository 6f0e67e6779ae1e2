-- okrd schema v2 (SQLite): the REST API's tables. Keep in step with
-- ../postgres/0002_api.sql (only the identity column is spelled differently).

-- API bearer tokens. The secret is never stored: `hash` is the hex SHA-256
-- of the whole token, compared in constant time after a lookup by `id`.
CREATE TABLE api_tokens (
    id          TEXT NOT NULL PRIMARY KEY,     -- the public part of the token
    hash        TEXT NOT NULL,
    role        TEXT NOT NULL,                 -- admin | leader | member | viewer
    team_id     TEXT,                          -- members only: the team they act for
    name        TEXT NOT NULL,                 -- who holds it; the author of their check-ins
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT                         -- NULL = valid
);

-- Every workflow transition of a KR, oldest first by id.
CREATE TABLE reviews (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    key_result_id  TEXT NOT NULL REFERENCES key_results (id),
    action         TEXT NOT NULL,              -- propose | approve | request_changes | reject | archive
    from_state     TEXT NOT NULL,
    to_state       TEXT NOT NULL,
    comment        TEXT,
    actor          TEXT NOT NULL,
    at             BIGINT NOT NULL
);

CREATE INDEX reviews_key_result_idx ON reviews (key_result_id, id);

-- Every write through the API or the token commands: who, what, when,
-- before and after (JSON text; NULL before a create).
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,                -- e.g. key_result.create, key_result.approve, check_in.create
    entity_kind  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    before_json  TEXT,
    after_json   TEXT
);

CREATE INDEX audit_log_entity_idx ON audit_log (entity_kind, entity_id, id);

-- A manual check-in on a KR bound to a source (leaders and admins only):
-- it stands until the next fetch.
ALTER TABLE check_ins ADD COLUMN is_override BIGINT NOT NULL DEFAULT 0;

-- Bumped by every write to the OKR model (API writes and applied files), so
-- a replica notices a change that row counts and timestamps would miss (a
-- replica whose clock is behind, two writes in one millisecond).
CREATE TABLE model_revision (
    id        INTEGER NOT NULL PRIMARY KEY,    -- always 1
    revision  BIGINT NOT NULL
);
INSERT INTO model_revision (id, revision) VALUES (1, 0);
