-- callbridge schema version 8: the cursors of package reconcile, the end
-- of the last window of call history each reconciler finished.

CREATE TABLE cb_cursors (
    name       TEXT   PRIMARY KEY,
    at         BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
