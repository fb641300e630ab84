-- sippush schema for PostgreSQL, version 4: delivery webhooks, as
-- sql/sqlite/007_webhooks.sql: a message's own webhook URL, and the
-- outbox of events not yet delivered, each written in the transaction of
-- the change that causes it.

ALTER TABLE messages ADD COLUMN callback text;  -- NULL: none

CREATE TABLE outbox (
    id              text COLLATE "C" PRIMARY KEY, -- the delivery ID
    event           text NOT NULL CONSTRAINT outbox_event
                    CHECK (event = 'finished' OR event = 'target_failed'),
    url             text,               -- NULL: the first of webhooks.url
    body            text NOT NULL,      -- the JSON sent
    created_at      bigint NOT NULL,    -- unix seconds
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt    bigint NOT NULL     -- unix ms
);

CREATE INDEX outbox_next ON outbox (next_attempt);
