-- callbridge schema version 3 (PostgreSQL): a lead is keyed by the call
-- that created it (match.Lead.Provider and CallID), so a replayed decision
-- creates no second lead. Leads not created by a call keep call_id '' and
-- are never merged.

ALTER TABLE cb_leads ADD COLUMN provider TEXT NOT NULL DEFAULT '';
ALTER TABLE cb_leads ADD COLUMN call_id  TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX cb_leads_call ON cb_leads (account, provider, call_id) WHERE call_id <> '';
