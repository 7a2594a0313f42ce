-- callbridge schema version 11: the dialer's campaigns (package dialer).
-- A campaign's settings are its spec (JSON of dialer.Campaign); ready is
-- false while its targets are being written (a campaign left so by a
-- crash is written again by the next create of its id). Each target has
-- its progress beside its texts; each attempt is recorded before its call
-- is placed, so an attempt is never placed twice. A number is worked by
-- the first campaign that got it answered or found it invalid.

CREATE TABLE cb_campaigns (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT     NOT NULL UNIQUE,
    spec       TEXT     NOT NULL,
    state      SMALLINT NOT NULL,
    ready      BOOLEAN  NOT NULL,
    created_at BIGINT   NOT NULL,
    updated_at BIGINT   NOT NULL
);

CREATE TABLE cb_campaign_targets (
    campaign    TEXT     NOT NULL REFERENCES cb_campaigns (id),
    number      INTEGER  NOT NULL,
    phone       TEXT     NOT NULL,
    time_zone   TEXT     NOT NULL,
    entity      TEXT     NOT NULL,
    entity_id   TEXT     NOT NULL,
    name        TEXT     NOT NULL,
    fields      TEXT     NOT NULL,
    state       SMALLINT NOT NULL,
    attempts    INTEGER  NOT NULL,
    next_at     BIGINT   NOT NULL,
    outcome     SMALLINT NOT NULL,
    disposition TEXT     NOT NULL,
    PRIMARY KEY (campaign, number)
);

CREATE TABLE cb_campaign_attempts (
    campaign    TEXT     NOT NULL,
    target      INTEGER  NOT NULL,
    number      INTEGER  NOT NULL,
    employee    TEXT     NOT NULL,
    phone       TEXT     NOT NULL,
    call_id     TEXT     NOT NULL,
    outcome     SMALLINT NOT NULL,
    disposition TEXT     NOT NULL,
    started_at  BIGINT   NOT NULL,
    ended_at    BIGINT   NOT NULL,
    PRIMARY KEY (campaign, target, number),
    FOREIGN KEY (campaign, target) REFERENCES cb_campaign_targets (campaign, number)
);

CREATE TABLE cb_do_not_call (
    phone    TEXT   NOT NULL PRIMARY KEY,
    added_at BIGINT NOT NULL
);

CREATE TABLE cb_worked_numbers (
    phone     TEXT   NOT NULL PRIMARY KEY,
    campaign  TEXT   NOT NULL,
    worked_at BIGINT NOT NULL
);
