-- sippush schema, version 6: the Path a client registered through.
--
-- A client behind an edge relay (sippush-agent's relay mode) registers
-- through it; the relay adds an RFC 3327 Path header to the REGISTER.
-- The registrar keeps it here, and the dispatcher sends that client's
-- control messages with a Route built from it. NULL: a direct client.
ALTER TABLE clients ADD COLUMN path TEXT;
