-- Which replica holds a report it is sending: renewing its lease and
-- recording its outcome need the claim to still be that replica's.
ALTER TABLE compliance_reports ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';
