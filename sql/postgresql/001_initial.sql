-- sippush schema for PostgreSQL, version 1: the tables of sql/sqlite/
-- (as of its version 4), with the same columns, keys and checks.
--
-- sippushd applies the files of this folder in order, each in one
-- transaction, under an advisory lock (several sippushd may start at
-- once against one database), and records the version reached in
-- schema_version. Times are unix seconds (next_attempt and last_attempt:
-- milliseconds), as in SQLite. IDs are compared byte by byte (COLLATE
-- "C"), as SQLite does: listings page by client ID with "> after" and
-- must see the order the index has, whatever the database's locale.

CREATE TABLE IF NOT EXISTS schema_version (
    version     integer NOT NULL
);

-- One row per client (device application), keyed by its client ID.
CREATE TABLE clients (
    id              text COLLATE "C" PRIMARY KEY,
    class           text NOT NULL,
    -- online: registered and heartbeating; offline: registered, heartbeats
    -- stopped; expired / unregistered: registration ended, row retained
    state           text NOT NULL CONSTRAINT client_state
                    CHECK (state IN ('online', 'offline', 'expired',
                                     'unregistered')),
    contact         text NOT NULL,      -- the Contact it registered
    transport       text NOT NULL CONSTRAINT client_transport
                    CHECK (transport IN ('udp', 'tcp', 'tls')),
    address         text NOT NULL,      -- source IP of the registration
    port            integer NOT NULL,   -- source port (NAT: what we reply to)
    user_agent      text,
    registered_at   bigint NOT NULL,
    expires_at      bigint NOT NULL,
    last_seen       bigint NOT NULL     -- last REGISTER or heartbeat
);

CREATE INDEX clients_class ON clients (class);

-- One row per published control message.
CREATE TABLE messages (
    id              text COLLATE "C" PRIMARY KEY, -- the Sippush-Message-Id
    state           text NOT NULL CONSTRAINT message_state
                    CHECK (state IN ('active', 'done', 'cancelled')),
    selector        text NOT NULL,      -- how the targets were chosen
    content_type    text NOT NULL,
    body            bytea NOT NULL,
    created_at      bigint NOT NULL,
    expires_at      bigint NOT NULL,    -- created_at + TTL
    finished_at     bigint              -- when no target was left pending
);

CREATE INDEX messages_created ON messages (created_at);

-- The target set: one row per (message, client), fixed at publish time.
CREATE TABLE targets (
    message_id      text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    client_id       text COLLATE "C" NOT NULL,
    -- pending: to be sent (again); sent: a MESSAGE is in flight; acked:
    -- the client answered 2xx; expired: TTL ran out; failed:
    -- dispatch.max_attempts reached; cancelled: sippushctl cancel
    state           text NOT NULL CONSTRAINT target_state
                    CHECK (state IN ('pending', 'sent', 'acked', 'expired',
                                     'failed', 'cancelled')),
    attempts        bigint NOT NULL DEFAULT 0,
    next_attempt    bigint NOT NULL DEFAULT 0,  -- unix milliseconds
    last_status     integer,            -- last final SIP status, or NULL
    last_attempt    bigint,             -- unix milliseconds
    acked_at        bigint,             -- unix seconds
    PRIMARY KEY (message_id, client_id)
);

-- Client credentials for Digest authentication (HA1 per algorithm, bound
-- to the realm; see sql/sqlite/003_users.sql).
CREATE TABLE users (
    id              text COLLATE "C" PRIMARY KEY, -- the client ID it may register
    realm           text NOT NULL,
    ha1_sha256      text NOT NULL,      -- 64 hex digits
    ha1_md5         text NOT NULL,      -- 32 hex digits
    created_at      bigint NOT NULL
);
