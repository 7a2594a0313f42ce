-- callbridge schema version 6 (SQLite): clients' dialogs (match.Dialog),
-- one row per note, at most once per client, call and text.

CREATE TABLE cb_dialog (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    account   TEXT   NOT NULL,
    client_id TEXT   NOT NULL,
    provider  TEXT   NOT NULL,
    call_id   TEXT   NOT NULL,
    text      TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    CONSTRAINT cb_dialog_key UNIQUE (account, client_id, provider, call_id, text),
    FOREIGN KEY (account, client_id) REFERENCES cb_clients (account, id) ON DELETE CASCADE
);
