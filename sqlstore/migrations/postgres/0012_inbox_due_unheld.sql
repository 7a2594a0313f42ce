-- callbridge schema version 12: cb_inbox_due leaves out the rows held for a
-- Resumer (at = 9223372036854775807, the largest BIGINT: never due). Those
-- are found by call (cb_inbox_call) when their call is settled; in the due
-- index they cost an entry per event, and a planner that took the index for
-- a settle's "state = 0 AND at = $n" scanned every held row. Queries that
-- use the index say "at < 9223372036854775807", as its predicate.

DROP INDEX cb_inbox_due;
CREATE INDEX cb_inbox_due ON cb_inbox (state, at, seq) WHERE at < 9223372036854775807;
