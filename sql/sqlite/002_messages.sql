-- sippush schema, version 2: control messages and their target sets.

-- One row per published control message.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,   -- message ID, the Sippush-Message-Id
    state           TEXT NOT NULL
                    CHECK (state IN ('active', 'done', 'cancelled')),
    selector        TEXT NOT NULL,      -- how the targets were chosen
    content_type    TEXT NOT NULL,
    body            BLOB NOT NULL,
    created_at      INTEGER NOT NULL,   -- unix seconds
    expires_at      INTEGER NOT NULL,   -- created_at + TTL
    finished_at     INTEGER             -- when no target was left pending
) WITHOUT ROWID;

CREATE INDEX messages_created ON messages (created_at);

-- The target set: one row per (message, client), fixed at publish time.
CREATE TABLE targets (
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    -- pending: to be sent (again); sent: a MESSAGE is in flight (never
    -- stored: a crash turns it back into pending); acked: the client
    -- answered 2xx; expired: TTL ran out; failed: dispatch.max_attempts
    -- reached; cancelled: sippushctl cancel
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'sent', 'acked', 'expired',
                                     'failed', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    INTEGER NOT NULL DEFAULT 0,  -- unix milliseconds
    last_status     INTEGER,            -- last final SIP status, or NULL
    last_attempt    INTEGER,            -- unix milliseconds
    acked_at        INTEGER,            -- unix seconds
    PRIMARY KEY (message_id, client_id)
) WITHOUT ROWID;
