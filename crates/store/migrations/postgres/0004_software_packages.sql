-- Software packages uploaded for a team (or "No team"); the file itself is
-- kept in the blob store under its SHA-256.

CREATE TABLE software_packages (
    id BIGSERIAL PRIMARY KEY,
    -- 0: "No team"
    team_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '',
    bundle_id TEXT NOT NULL DEFAULT '',
    filename TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    install_script TEXT NOT NULL DEFAULT '',
    uninstall_script TEXT NOT NULL DEFAULT '',
    self_service BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (team_id, sha256),
    UNIQUE (team_id, title)
);
CREATE INDEX software_packages_sha256 ON software_packages(sha256);
