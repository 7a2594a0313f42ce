-- callbridge schema version 13: cb_calls_started holds the listing's whole
-- order (newest first, then provider, account and call id), so a page of
-- the calls (AllCalls, AllCallsAfter) reads its rows in order and stops at
-- its limit. With the start time alone, the calls of one start time (whole
-- seconds, as the providers send them) were sorted at every page, all of
-- them however few the page took. Ranges by start (statistics, retention)
-- use it as before. Rebuilding it holds the writes to cb_calls meanwhile.

DROP INDEX cb_calls_started;
CREATE INDEX cb_calls_started ON cb_calls (started_at DESC, provider, account, call_id);
