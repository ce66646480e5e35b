-- Hosts whose derived state must be worked out again (their compliance
-- verdict, later their profiles and installs), marked in the transaction of
-- the change that affects them. A worker claims rows with a lease; `version`
-- grows with every new mark, so finishing a claim removes the row only if
-- nothing marked it again meanwhile.
CREATE TABLE dirty_hosts (
    kind TEXT NOT NULL,
    host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    version BIGINT NOT NULL DEFAULT 1,
    marked_at BIGINT NOT NULL,
    claimed_by TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, host_id)
);
CREATE INDEX dirty_hosts_due ON dirty_hosts (kind, lease_until);
