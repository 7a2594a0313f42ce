-- callbridge schema version 10: the outbox, messages to send through a
-- sender (the notifications' webhook) until they are sent. key is what a
-- message delivers, once: a second Enqueue of a key adds nothing. state 0
-- is pending (due at next_at, which a claim moves to the end of its
-- lease), 1 sent, 2 failed for good.

CREATE TABLE cb_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT     NOT NULL UNIQUE,
    payload    TEXT     NOT NULL,
    state      SMALLINT NOT NULL,
    attempts   INTEGER  NOT NULL,
    next_at    BIGINT   NOT NULL,
    last_error TEXT     NOT NULL,
    sent_at    BIGINT   NOT NULL,
    created_at BIGINT   NOT NULL
);
CREATE INDEX cb_outbox_due ON cb_outbox (state, next_at);
