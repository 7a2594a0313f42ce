-- callbridge schema version 2 (SQLite): the durable inbox (Inbox).
-- state: 0 pending, 1 delivered, 2 dead. at: a pending row's due time (a
-- claim moves it to the end of the claimer's lease, a failure to the next
-- retry), a delivered row's delivery time, a dead row's time of death; one
-- index serves claiming, purging and listing. owner: the Inbox holding the
-- claim ('' when none). seq is AUTOINCREMENT so an id is never reused.

CREATE TABLE cb_inbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    state      INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    at         BIGINT  NOT NULL,
    owner      TEXT    NOT NULL,
    last_error TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    CONSTRAINT cb_inbox_event UNIQUE (event_id)
);
CREATE INDEX cb_inbox_due ON cb_inbox (state, at);
