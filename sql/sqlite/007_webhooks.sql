-- sippush schema, version 7: delivery webhooks.
--
-- A message may carry its own webhook URL (publish callback=URL), kept
-- with it so it survives a restart. The outbox holds the webhook events
-- not yet delivered: each row is written in the same transaction as the
-- state change that causes it (message finished, target failed), so a
-- crash loses none; a delivered one is deleted by a later batch.

ALTER TABLE messages ADD COLUMN callback TEXT;  -- NULL: none

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,   -- the delivery ID (idempotency)
    event           TEXT NOT NULL CONSTRAINT outbox_event
                    CHECK (event = 'finished' OR event = 'target_failed'),
    url             TEXT,               -- where it goes (the message's
                                        -- callback or one of webhooks.url);
                                        -- NULL: the first of webhooks.url
    body            TEXT NOT NULL,      -- the JSON sent
    created_at      INTEGER NOT NULL,   -- unix seconds
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    INTEGER NOT NULL    -- unix ms
) WITHOUT ROWID;

CREATE INDEX outbox_next ON outbox (next_attempt);
