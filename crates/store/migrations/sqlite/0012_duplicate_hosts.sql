-- A host that enrolled with another host's hardware UUID but no proof that
-- it is that host: kept as a record of its own, pointing at the original.
ALTER TABLE hosts ADD COLUMN duplicate_of INTEGER;
