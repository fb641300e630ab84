-- sippush schema, version 4: the CHECKs of clients and targets as
-- comparisons instead of IN lists.
--
-- SQLite checks "x IN ('a', 'b', ...)" by building a temporary b-tree of
-- the list for every row it writes, which took about half the cost of
-- writing a target row (a publish writes one per client, every delivery
-- rewrites one) and of a REGISTER's upsert. A chain of "=" checks the
-- same thing in a few comparisons; named, a failed one is reported by its
-- name. SQLite cannot change a CHECK in place: both tables are rebuilt
-- with the same columns, keys and index, and their rows copied.

CREATE TABLE clients_v4 (
    id              TEXT PRIMARY KEY,
    class           TEXT NOT NULL,
    -- online: registered and heartbeating; offline: registered, heartbeats
    -- stopped; expired / unregistered: registration ended, row retained
    state           TEXT NOT NULL CONSTRAINT client_state
                    CHECK (state = 'online' OR state = 'offline' OR
                           state = 'expired' OR state = 'unregistered'),
    contact         TEXT NOT NULL,      -- the Contact it registered
    transport       TEXT NOT NULL CONSTRAINT client_transport
                    CHECK (transport = 'udp' OR transport = 'tcp' OR
                           transport = 'tls'),
    address         TEXT NOT NULL,      -- source IP of the registration
    port            INTEGER NOT NULL,   -- source port (NAT: what we reply to)
    user_agent      TEXT,
    registered_at   INTEGER NOT NULL,   -- unix seconds
    expires_at      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL    -- last REGISTER or heartbeat
) WITHOUT ROWID;

INSERT INTO clients_v4 (id, class, state, contact, transport, address, port,
    user_agent, registered_at, expires_at, last_seen)
    SELECT id, class, state, contact, transport, address, port, user_agent,
    registered_at, expires_at, last_seen FROM clients;
DROP TABLE clients;
ALTER TABLE clients_v4 RENAME TO clients;
CREATE INDEX clients_class ON clients (class);

CREATE TABLE targets_v4 (
    message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    -- pending: to be sent (again); sent: a MESSAGE is in flight (never
    -- stored: a crash turns it back into pending); acked: the client
    -- answered 2xx; expired: TTL ran out; failed: dispatch.max_attempts
    -- reached; cancelled: sippushctl cancel
    state           TEXT NOT NULL CONSTRAINT target_state
                    CHECK (state = 'pending' OR state = 'sent' OR
                           state = 'acked' OR state = 'expired' OR
                           state = 'failed' OR state = 'cancelled'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    INTEGER NOT NULL DEFAULT 0,  -- unix milliseconds
    last_status     INTEGER,            -- last final SIP status, or NULL
    last_attempt    INTEGER,            -- unix milliseconds
    acked_at        INTEGER,            -- unix seconds
    PRIMARY KEY (message_id, client_id)
) WITHOUT ROWID;

INSERT INTO targets_v4 (message_id, client_id, state, attempts, next_attempt,
    last_status, last_attempt, acked_at)
    SELECT message_id, client_id, state, attempts, next_attempt, last_status,
    last_attempt, acked_at FROM targets;
DROP TABLE targets;
ALTER TABLE targets_v4 RENAME TO targets;
