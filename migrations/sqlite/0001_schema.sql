-- okrd schema v1 (SQLite). Keep in step with ../postgres/0001_schema.sql:
-- the same tables, columns, constraints and indexes; only the column types
-- that SQLite spells differently change (identity column). Shipped
-- migrations are append-only: add 0002_*.sql, never edit this file.
--
-- Portable types so one query text serves both backends through sqlx's Any
-- driver: ids TEXT, instants BIGINT unix milliseconds, dates TEXT
-- (YYYY-MM-DD), numbers DOUBLE PRECISION, JSON TEXT. No BOOLEAN or DATE
-- column: the Any driver cannot decode SQLite's BOOLEAN/DATE declared types.
-- Enum-like TEXT columns (kind, state, rollup) carry no CHECK: the Rust enums
-- are the authority, and a CHECK would force a table rebuild on SQLite to
-- add a value later.
--
-- Foreign keys between OKR entities are DEFERRABLE INITIALLY DEFERRED so an
-- apply can write a whole tree in any order inside one transaction; a
-- dangling reference still fails the COMMIT and nothing is written.

CREATE TABLE periods (
    id          TEXT NOT NULL PRIMARY KEY,
    start_date  TEXT NOT NULL,                 -- first day, YYYY-MM-DD
    end_date    TEXT NOT NULL,                 -- last day (inclusive), YYYY-MM-DD
    managed_by  TEXT,                          -- OKR file path; NULL = created over the API
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE teams (
    id          TEXT NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   TEXT REFERENCES teams (id) DEFERRABLE INITIALLY DEFERRED,
    managed_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE objectives (
    id           TEXT NOT NULL PRIMARY KEY,
    title        TEXT NOT NULL,
    description  TEXT,
    period_id    TEXT NOT NULL REFERENCES periods (id) DEFERRABLE INITIALLY DEFERRED,
    team_id      TEXT NOT NULL REFERENCES teams (id) DEFERRABLE INITIALLY DEFERRED,
    parent_id    TEXT REFERENCES objectives (id) DEFERRABLE INITIALLY DEFERRED,
    archived_at  BIGINT,                       -- NULL = active
    managed_by   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX objectives_period_idx ON objectives (period_id);
CREATE INDEX objectives_team_idx ON objectives (team_id);
CREATE INDEX objectives_parent_idx ON objectives (parent_id);

CREATE TABLE key_results (
    id               TEXT NOT NULL PRIMARY KEY,
    objective_id     TEXT NOT NULL REFERENCES objectives (id) DEFERRABLE INITIALLY DEFERRED,
    team_id          TEXT NOT NULL REFERENCES teams (id) DEFERRABLE INITIALLY DEFERRED,
    owner            TEXT NOT NULL,
    title            TEXT NOT NULL,
    description      TEXT,
    kind             TEXT NOT NULL,            -- increase | decrease | at_least | at_most | milestone
    start_value      DOUBLE PRECISION,
    target_value     DOUBLE PRECISION,
    due_date         TEXT,                     -- YYYY-MM-DD
    unit             TEXT,
    weight           DOUBLE PRECISION NOT NULL DEFAULT 1,
    parent_id        TEXT REFERENCES key_results (id) DEFERRABLE INITIALLY DEFERRED,
    rollup           TEXT,                     -- sum | mean | min | max
    source_name      TEXT,                     -- NULL = no source binding
    source_schedule  TEXT,
    source_params    TEXT,                     -- JSON object
    state            TEXT NOT NULL,            -- draft | proposed | changes_requested | approved | rejected | archived
    managed_by       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE INDEX key_results_objective_idx ON key_results (objective_id);
CREATE INDEX key_results_team_idx ON key_results (team_id);
CREATE INDEX key_results_parent_idx ON key_results (parent_id);

-- Append-only history. `id` is the insertion order, the tie-breaker when two
-- check-ins of a KR share `observed_at`.
CREATE TABLE check_ins (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key_result_id    TEXT NOT NULL REFERENCES key_results (id),
    value            DOUBLE PRECISION NOT NULL,
    observed_at      BIGINT NOT NULL,
    recorded_at      BIGINT NOT NULL,
    origin           TEXT NOT NULL,            -- source:<name> | manual:<who>
    note             TEXT,
    confidence       DOUBLE PRECISION,
    idempotency_key  TEXT UNIQUE               -- NULLs do not conflict
);

-- Serves both "latest check-in per KR" and "a KR's history, newest first".
CREATE INDEX check_ins_history_idx ON check_ins (key_result_id, observed_at DESC, id DESC);

-- One row per schedule binding: the latest slot claimed and by whom.
CREATE TABLE schedule_leases (
    binding    TEXT NOT NULL PRIMARY KEY,
    slot       BIGINT NOT NULL,                -- schedule slot, unix ms
    holder     TEXT NOT NULL,                  -- replica that won the slot
    leased_at  BIGINT NOT NULL
);
