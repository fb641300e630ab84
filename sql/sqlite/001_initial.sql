-- sippush schema, version 1: the application-information table.
--
-- sippushd applies the files of this folder in order, each in one
-- transaction, and records the version reached in schema_version.

CREATE TABLE IF NOT EXISTS schema_version (
    version     INTEGER NOT NULL
);

-- One row per client (device application), keyed by its client ID: the
-- user part of the address-of-record it registers (sip:ID@server).
CREATE TABLE clients (
    id              TEXT PRIMARY KEY,
    class           TEXT NOT NULL,
    -- online: registered and heartbeating; offline: registered, heartbeats
    -- stopped; expired / unregistered: registration ended, row retained
    state           TEXT NOT NULL
                    CHECK (state IN ('online', 'offline', 'expired',
                                     'unregistered')),
    contact         TEXT NOT NULL,      -- the Contact it registered
    transport       TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    address         TEXT NOT NULL,      -- source IP of the registration
    port            INTEGER NOT NULL,   -- source port (NAT: what we reply to)
    user_agent      TEXT,
    registered_at   INTEGER NOT NULL,   -- unix seconds
    expires_at      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL    -- last REGISTER or heartbeat
) WITHOUT ROWID;

CREATE INDEX clients_class ON clients (class);
