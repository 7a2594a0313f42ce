-- callbridge schema version 9 (SQLite): leads without a client
-- (match.PhoneLeads). Perfectum creates leads, not clients, for unknown
-- numbers and finds them by the number: such a lead has client_id NULL
-- (no client, so the foreign key to cb_clients does not apply) and its
-- normalised phone; a lead of a client keeps phone ''. The partial index
-- cb_leads_phone finds a number's leads, newest first.
--
-- SQLite cannot drop the NOT NULL of a column, so the table is rebuilt:
-- renamed, created anew, its rows copied with their seq and its
-- AUTOINCREMENT counter kept (an id "l" and a seq is never given twice),
-- the old table dropped and its indexes created again.

ALTER TABLE cb_leads RENAME TO cb_leads_old;

CREATE TABLE cb_leads (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account     TEXT     NOT NULL,
    id          TEXT,
    client_id   TEXT,
    name        TEXT     NOT NULL,
    pipeline    TEXT     NOT NULL,
    status      TEXT     NOT NULL,
    state       SMALLINT NOT NULL,
    source      TEXT     NOT NULL,
    responsible TEXT     NOT NULL,
    created_at  BIGINT   NOT NULL,
    provider    TEXT     NOT NULL DEFAULT '',
    call_id     TEXT     NOT NULL DEFAULT '',
    phone       TEXT     NOT NULL DEFAULT '',
    CONSTRAINT cb_leads_account_id UNIQUE (account, id),
    CONSTRAINT cb_leads_client_or_phone CHECK ((client_id IS NULL) = (phone <> '')),
    FOREIGN KEY (account, client_id) REFERENCES cb_clients (account, id) ON DELETE CASCADE
);

INSERT INTO cb_leads (seq, account, id, client_id, name, pipeline, status, state, source, responsible, created_at, provider, call_id)
    SELECT seq, account, id, client_id, name, pipeline, status, state, source, responsible, created_at, provider, call_id
    FROM cb_leads_old;
DELETE FROM sqlite_sequence WHERE name = 'cb_leads';
INSERT INTO sqlite_sequence (name, seq) SELECT 'cb_leads', seq FROM sqlite_sequence WHERE name = 'cb_leads_old';
DROP TABLE cb_leads_old;

CREATE INDEX cb_leads_client ON cb_leads (account, client_id, seq);
CREATE UNIQUE INDEX cb_leads_call ON cb_leads (account, provider, call_id) WHERE call_id <> '';
CREATE INDEX cb_leads_phone ON cb_leads (account, phone, seq) WHERE client_id IS NULL;
