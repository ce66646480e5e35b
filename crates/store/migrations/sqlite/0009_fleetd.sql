-- What fleetd tells the server besides osquery's answers: the capabilities
-- orbit announces, its versions (from fleetd's orbit_info table), whether it
-- runs scripts, and the end user's email it reports.
ALTER TABLE hosts ADD COLUMN orbit_capabilities TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN orbit_version TEXT;
ALTER TABLE hosts ADD COLUMN fleet_desktop_version TEXT;
ALTER TABLE hosts ADD COLUMN scripts_enabled INTEGER;
ALTER TABLE hosts ADD COLUMN device_mapping_email TEXT NOT NULL DEFAULT '';

-- A rotated device token keeps working for a grace period, as in Fleet, so
-- Fleet Desktop is not locked out between orbit's rotation and its next poll.
ALTER TABLE device_tokens ADD COLUMN previous_token TEXT;
ALTER TABLE device_tokens ADD COLUMN rotated_at INTEGER;
CREATE INDEX device_tokens_previous ON device_tokens(previous_token);

-- File carves: osquery sends a file in blocks; each block is a blob.
CREATE TABLE carves (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    carve_id TEXT NOT NULL,
    session_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    block_count INTEGER NOT NULL,
    block_size INTEGER NOT NULL,
    carve_size INTEGER NOT NULL,
    max_block INTEGER NOT NULL DEFAULT -1,
    created_at INTEGER NOT NULL
);
CREATE INDEX carves_host ON carves(host_id);

CREATE TABLE carve_blocks (
    carve INTEGER NOT NULL REFERENCES carves(id) ON DELETE CASCADE,
    block_id INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (carve, block_id)
);
