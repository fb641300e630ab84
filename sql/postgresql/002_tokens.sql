-- sippush schema for PostgreSQL, version 2: bearer tokens of the HTTP API
-- (as sql/sqlite/005_tokens.sql). Only the SHA-256 of a secret is kept.
CREATE TABLE tokens (
    name            text COLLATE "C" PRIMARY KEY, -- 1-64 of A-Z a-z 0-9 . _ -
    hash            text NOT NULL UNIQUE, -- SHA-256 of the secret, 64 hex
    scopes          text NOT NULL,      -- "publish,read,admin", a subset
    created_at      bigint NOT NULL     -- unix seconds
);
