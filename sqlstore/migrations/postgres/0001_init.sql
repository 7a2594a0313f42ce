-- callbridge schema version 1 (PostgreSQL). Times are BIGINT unix nanoseconds
-- UTC; the smallest BIGINT stands for the zero time.

CREATE TABLE cb_clients (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account           TEXT    NOT NULL,
    id                TEXT,
    name              TEXT    NOT NULL,
    phone             TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    responsible       TEXT    NOT NULL,
    created_from_call BOOLEAN NOT NULL,
    tags              TEXT    NOT NULL,
    fields            TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    CONSTRAINT cb_clients_account_id UNIQUE (account, id)
);
CREATE UNIQUE INDEX cb_clients_phone ON cb_clients (account, phone) WHERE phone <> '';

CREATE TABLE cb_client_phones (
    account    TEXT   NOT NULL,
    digits     TEXT   NOT NULL,
    client_seq BIGINT NOT NULL REFERENCES cb_clients (seq) ON DELETE CASCADE,
    PRIMARY KEY (account, digits, client_seq)
);

CREATE TABLE cb_leads (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account     TEXT     NOT NULL,
    id          TEXT,
    client_id   TEXT     NOT NULL,
    name        TEXT     NOT NULL,
    pipeline    TEXT     NOT NULL,
    status      TEXT     NOT NULL,
    state       SMALLINT NOT NULL,
    source      TEXT     NOT NULL,
    responsible TEXT     NOT NULL,
    created_at  BIGINT   NOT NULL,
    CONSTRAINT cb_leads_account_id UNIQUE (account, id),
    FOREIGN KEY (account, client_id) REFERENCES cb_clients (account, id) ON DELETE CASCADE
);
CREATE INDEX cb_leads_client ON cb_leads (account, client_id, seq);

CREATE TABLE cb_calls (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider      TEXT     NOT NULL,
    account       TEXT     NOT NULL,
    call_id       TEXT     NOT NULL,
    direction     SMALLINT NOT NULL,
    status        SMALLINT NOT NULL,
    client_id     TEXT     NOT NULL,
    client_phone  TEXT     NOT NULL,
    employee      TEXT     NOT NULL,
    extension     TEXT     NOT NULL,
    line_phone    TEXT     NOT NULL,
    started_at    BIGINT   NOT NULL,
    answered_at   BIGINT   NOT NULL,
    ended_at      BIGINT   NOT NULL,
    duration      BIGINT   NOT NULL,
    wait          BIGINT   NOT NULL,
    recording_url TEXT     NOT NULL,
    lead_id       TEXT     NOT NULL,
    CONSTRAINT cb_calls_key UNIQUE (provider, account, call_id)
);
CREATE INDEX cb_calls_account_started ON cb_calls (account, started_at);
CREATE INDEX cb_calls_started ON cb_calls (started_at);

CREATE TABLE cb_notifications (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account      TEXT     NOT NULL,
    provider     TEXT     NOT NULL,
    call_id      TEXT     NOT NULL,
    employee     TEXT     NOT NULL,
    kind         SMALLINT NOT NULL,
    client_id    TEXT     NOT NULL,
    client_phone TEXT     NOT NULL,
    lead_id      TEXT     NOT NULL,
    reason       TEXT     NOT NULL,
    at           BIGINT   NOT NULL,
    CONSTRAINT cb_notifications_key UNIQUE (account, provider, call_id, employee, kind)
);
CREATE INDEX cb_notifications_account ON cb_notifications (account, seq);

CREATE TABLE cb_employees (
    account    TEXT    NOT NULL,
    pos        INTEGER NOT NULL,
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    login      TEXT    NOT NULL,
    email      TEXT    NOT NULL,
    extensions TEXT    NOT NULL,
    admin      BOOLEAN NOT NULL,
    PRIMARY KEY (account, pos)
);
CREATE INDEX cb_employees_login ON cb_employees (account, login);

CREATE TABLE cb_employee_extensions (
    account   TEXT    NOT NULL,
    extension TEXT    NOT NULL,
    pos       INTEGER NOT NULL,
    PRIMARY KEY (account, extension, pos)
);

CREATE TABLE cb_online (
    account  TEXT    NOT NULL,
    pos      INTEGER NOT NULL,
    employee TEXT    NOT NULL,
    PRIMARY KEY (account, pos)
);

CREATE TABLE cb_dedup (
    id         TEXT    PRIMARY KEY,
    done       BOOLEAN NOT NULL,
    owner      TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX cb_dedup_expires ON cb_dedup (expires_at);

CREATE TABLE cb_tokens (
    name       TEXT   PRIMARY KEY,
    token      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
