-- Secrets at rest. Agent keys and device tokens are kept only as digests
-- (looked up by digest); enroll secrets by digest for lookup and sealed
-- with the server key for display. The store moves values written by
-- earlier versions into these columns when it opens the database, because
-- SQL alone can't compute the digests or seal.
ALTER TABLE hosts ADD COLUMN node_key_digest TEXT;
ALTER TABLE hosts ADD COLUMN orbit_node_key_digest TEXT;
CREATE UNIQUE INDEX hosts_node_key_digest ON hosts(node_key_digest);
CREATE UNIQUE INDEX hosts_orbit_node_key_digest ON hosts(orbit_node_key_digest);

CREATE TABLE host_device_tokens (
    host_id BIGINT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    digest TEXT NOT NULL UNIQUE,
    previous_digest TEXT,
    refreshed_at BIGINT NOT NULL,
    rotated_at BIGINT
);
CREATE INDEX host_device_tokens_previous ON host_device_tokens(previous_digest);

ALTER TABLE enroll_secrets RENAME COLUMN secret TO digest;
ALTER TABLE enroll_secrets ADD COLUMN sealed TEXT;
