-- sippush schema, version 5: bearer tokens of the HTTP API.

-- One row per token (sippushctl token add|del|list). The secret itself
-- is not stored, only its SHA-256, which is what a request's
-- "Authorization: Bearer SECRET" is checked against: a copy of the
-- database does not give access to the API.
CREATE TABLE tokens (
    name            TEXT PRIMARY KEY,   -- 1-64 of A-Z a-z 0-9 . _ -
    hash            TEXT NOT NULL UNIQUE, -- SHA-256 of the secret, 64 hex
    scopes          TEXT NOT NULL,      -- "publish,read,admin", a subset
    created_at      INTEGER NOT NULL    -- unix seconds
) WITHOUT ROWID;
