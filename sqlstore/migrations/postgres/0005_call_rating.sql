-- callbridge schema version 5: the client's rating of a call
-- (match.CallRecord.Rating, MegaFon's rating; 0 = not rated).

ALTER TABLE cb_calls ADD COLUMN rating INTEGER NOT NULL DEFAULT 0;
