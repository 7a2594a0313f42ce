-- callbridge schema version 7 (SQLite): call-back tasks (match.TaskStore),
-- one per missed call. A task's id is "t" and its seq. Open tasks are found
-- by phone (CloseTasks) and by due time (OverdueTasks, OpenTasks).

CREATE TABLE cb_tasks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account     TEXT    NOT NULL,
    client_id   TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    call_id     TEXT    NOT NULL,
    responsible TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    due         BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    done        BOOLEAN NOT NULL,
    done_at     BIGINT  NOT NULL,
    done_by     TEXT    NOT NULL,
    escalated   BOOLEAN NOT NULL,
    CONSTRAINT cb_tasks_call UNIQUE (account, provider, call_id)
);
CREATE INDEX cb_tasks_open_phone ON cb_tasks (account, phone) WHERE NOT done;
CREATE INDEX cb_tasks_open_due ON cb_tasks (account, due, seq) WHERE NOT done;
