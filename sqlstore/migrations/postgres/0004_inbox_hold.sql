-- callbridge schema version 4: the inbox holds the events of calls in
-- progress until the sink settles the call (Inbox.Settle), so that a
-- restart, or another instance, resumes them; one instance at a time
-- delivers them, the holder of a lease.
-- state 3: held (delivered, its call not settled yet). call_key: the
-- event's provider, account and call id, joined by U+001F.

ALTER TABLE cb_inbox ADD COLUMN call_key TEXT NOT NULL DEFAULT '';
CREATE INDEX cb_inbox_held ON cb_inbox (call_key) WHERE state = 3;

CREATE TABLE cb_leases (
    name       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
