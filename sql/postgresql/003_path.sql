-- sippush schema for PostgreSQL, version 3: the RFC 3327 Path a client
-- registered through (an edge relay), as sql/sqlite/006_path.sql. NULL:
-- a direct client.
ALTER TABLE clients ADD COLUMN path text;
