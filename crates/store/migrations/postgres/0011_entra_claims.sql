-- A host that reports an Entra device id another host already holds: the
-- claim is kept (and shown on both hosts) instead of being reported.
CREATE TABLE entra_claims (
    claimant_host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    owner_host_id BIGINT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    upn TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (claimant_host_id, owner_host_id, device_id)
);
CREATE INDEX entra_claims_owner ON entra_claims(owner_host_id);
CREATE INDEX host_entra_device ON host_entra(device_id);
