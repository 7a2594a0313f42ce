-- callbridge schema version 9 (PostgreSQL): leads without a client
-- (match.PhoneLeads). Perfectum creates leads, not clients, for unknown
-- numbers and finds them by the number: such a lead has client_id NULL
-- (no client, so the foreign key to cb_clients does not apply) and its
-- normalised phone; a lead of a client keeps phone ''. The partial index
-- cb_leads_phone finds a number's leads, newest first.

ALTER TABLE cb_leads ALTER COLUMN client_id DROP NOT NULL;
ALTER TABLE cb_leads ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE cb_leads ADD CONSTRAINT cb_leads_client_or_phone CHECK ((client_id IS NULL) = (phone <> ''));
CREATE INDEX cb_leads_phone ON cb_leads (account, phone, seq) WHERE client_id IS NULL;
