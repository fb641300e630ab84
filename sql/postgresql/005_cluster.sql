-- sippush schema for PostgreSQL, version 5: several sippushd nodes on one
-- database (sippushd(8) CLUSTER). PostgreSQL only: SQLite is one node.
--
-- A node joins by taking a new epoch in its row of `nodes` and keeps a
-- lease there, measured by the database's clock (now()), renewed by
-- sippush_renew(). Every batch a node writes starts with sippush_fence():
-- if the node's epoch is not the current one or its lease lapsed, the
-- whole transaction fails with SQLSTATE SP001 and the node is fenced
-- (stops sending, drops what it holds, joins again with a new epoch). A
-- node whose lease lapsed is marked 'down' by another; its clients are
-- marked offline with no owner and their unfinished targets parked.

CREATE TABLE nodes (
    name            text COLLATE "C" PRIMARY KEY,  -- cluster.node
    epoch           bigint NOT NULL,    -- +1 at every join
    address         text NOT NULL,      -- cluster.address, "host:port"
    -- up: serving; draining: sippushctl drain, answers REGISTER and
    -- OPTIONS with 503 so that its clients move; down: lease lapsed
    state           text NOT NULL CONSTRAINT node_state
                    CHECK (state IN ('up', 'draining', 'down')),
    lease_until     timestamptz NOT NULL,
    joined_at       timestamptz NOT NULL,
    clients         bigint NOT NULL DEFAULT 0  -- online, at its last renewal
);

-- The node holding the client's registration (NULL: none, e.g. offline
-- after its node went down).
ALTER TABLE clients ADD COLUMN owner text COLLATE "C";
CREATE INDEX clients_owner ON clients (owner) WHERE owner IS NOT NULL;

-- The node that sends this target (NULL: parked until the client
-- registers somewhere). A REGISTER takes its client's unfinished targets
-- in the transaction that writes the registration; every later target
-- update by a node checks that it is still the owner.
ALTER TABLE targets ADD COLUMN owner text COLLATE "C";
CREATE INDEX targets_owner ON targets (owner, message_id)
    WHERE state IN ('pending', 'sent');
CREATE INDEX targets_client ON targets (client_id)
    WHERE state IN ('pending', 'sent');
-- Is any target of the message unfinished, on any node? One probe: a
-- batch that ends targets asks it of each of their messages.
CREATE INDEX targets_open ON targets (message_id)
    WHERE state IN ('pending', 'sent');

-- Check that node may write as epoch ep: its epoch is the current one,
-- its lease has not lapsed and it was not marked down; else raise SP001
-- (fenced), which fails the transaction that asked. The row is only
-- share-locked (FOR KEY SHARE) until that transaction ends: a long
-- batch, or a node stopped half-way through one, never holds up its own
-- lease renewals or another node marking it down. (secs: unused, kept
-- for the callers.) Returns the node's state ('up' or 'draining').
CREATE FUNCTION sippush_fence(node text, ep bigint, secs integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    SELECT state INTO st FROM nodes
     WHERE name = node AND epoch = ep AND lease_until > now()
       AND state <> 'down'
       FOR KEY SHARE;
    IF st IS NULL THEN
        RAISE EXCEPTION 'node % epoch % is fenced (lease lapsed or '
            'epoch superseded)', node, ep USING ERRCODE = 'SP001';
    END IF;
    RETURN st;
END $$;

-- Renew node's lease for secs seconds if it may still write as epoch ep
-- (as sippush_fence checks), in a statement of its own; else SP001.
-- Returns the node's state.
CREATE FUNCTION sippush_renew(node text, ep bigint, secs integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    UPDATE nodes SET lease_until = now() + make_interval(secs => secs)
     WHERE name = node AND epoch = ep AND lease_until > now()
       AND state <> 'down'
    RETURNING state INTO st;
    IF st IS NULL THEN
        RAISE EXCEPTION 'node % epoch % is fenced (lease lapsed or '
            'epoch superseded)', node, ep USING ERRCODE = 'SP001';
    END IF;
    RETURN st;
END $$;
