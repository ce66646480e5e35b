-- Conditional access with Microsoft Entra: the tenant connection, consent
-- round trips, each host's Entra identity, and the durable outbox of
-- compliance reports (which is also each host's report history).

CREATE TABLE ms_integration (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    tenant_id TEXT NOT NULL,
    -- pending (waiting for consent), active, failed (setup_error says why)
    status TEXT NOT NULL,
    setup_error TEXT NOT NULL DEFAULT '',
    compliance_policy_id TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE ms_consent_states (
    state TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE host_entra (
    host_id INTEGER PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    upn TEXT NOT NULL,
    -- the verdict last queued for Microsoft (NULL: none since the identity was seen)
    queued_managed INTEGER,
    queued_compliant INTEGER,
    -- the verdict Microsoft last accepted
    reported_managed INTEGER,
    reported_compliant INTEGER,
    reported_at INTEGER,
    updated_at INTEGER NOT NULL
);

CREATE TABLE compliance_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    upn TEXT NOT NULL,
    device_name TEXT NOT NULL,
    os_version TEXT NOT NULL,
    last_check_in INTEGER NOT NULL,
    managed INTEGER NOT NULL,
    compliant INTEGER NOT NULL,
    -- pending, sending, completed, failed, superseded
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX compliance_reports_due ON compliance_reports(status, next_attempt_at);
CREATE INDEX compliance_reports_host ON compliance_reports(host_id, id);
