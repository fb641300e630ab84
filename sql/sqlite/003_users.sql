-- sippush schema, version 3: client credentials for Digest authentication.

-- One row per client ID allowed to register when auth.enabled is on
-- (sippushctl user add|del|list). The password itself is not stored:
-- only HA1 = H(id ":" realm ":" password) for each algorithm offered
-- (RFC 7616, RFC 8760), which is what Digest needs to check a response.
-- HA1 is bound to the realm: after a change of auth.realm the rows of the
-- old realm no longer match and must be added again.
CREATE TABLE users (
    id              TEXT PRIMARY KEY,   -- the client ID it may register
    realm           TEXT NOT NULL,
    ha1_sha256      TEXT NOT NULL,      -- 64 hex digits
    ha1_md5         TEXT NOT NULL,      -- 32 hex digits
    created_at      INTEGER NOT NULL    -- unix seconds
) WITHOUT ROWID;
