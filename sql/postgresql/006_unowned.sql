-- sippush schema for PostgreSQL, version 6: the rows no node holds.
--
-- A node marked down leaves its clients offline with no owner (005);
-- nothing on any node holds them, so no sweep ever ends or deletes them
-- as a node's sweep does for its own. The purge (one node at a time,
-- under the advisory lock of the one-node chores) deletes those whose
-- registration ended more than registration.retain ago (expires_at, as
-- a node's sweep counts it), a bounded number a run; this index finds
-- them without reading the fleet's table every time.
CREATE INDEX clients_unowned ON clients (expires_at) WHERE owner IS NULL;
