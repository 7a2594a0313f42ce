-- callbridge schema version 4: an inbox in front of a sink that keeps calls
-- in memory (a Resumer: match.Engine) holds each delivered event of a call
-- in progress, as a pending row claimed by it until its call is settled
-- (at = the largest BIGINT: never due), so that a restart, or another
-- instance, resumes them; one instance at a time delivers, the holder of a
-- lease. call_key: the event's provider, account and call id, joined by
-- U+001F; cb_inbox_call finds the pending rows of a call.

ALTER TABLE cb_inbox ADD COLUMN call_key TEXT NOT NULL DEFAULT '';
CREATE INDEX cb_inbox_call ON cb_inbox (call_key) WHERE state = 0;

CREATE TABLE cb_leases (
    name       TEXT   PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
