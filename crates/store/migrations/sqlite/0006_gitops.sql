-- What GitOps files describe beyond the earlier objects: saved queries (Fleet's
-- "queries", newer "reports"), label targeting of policies and packages, and
-- the URL a package was fetched from.

-- team_id: NULL for global queries, 0 for "No team".
CREATE TABLE saved_queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id INTEGER,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    query TEXT NOT NULL,
    platform TEXT NOT NULL DEFAULT '',
    interval_secs INTEGER NOT NULL DEFAULT 0,
    observer_can_run INTEGER NOT NULL DEFAULT 0,
    automations_enabled INTEGER NOT NULL DEFAULT 0,
    logging TEXT NOT NULL DEFAULT 'snapshot',
    min_osquery_version TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX saved_queries_team ON saved_queries(team_id);

-- A label that targets a policy or package can't be deleted while it does.
CREATE TABLE policy_labels (
    policy_id INTEGER NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE RESTRICT,
    -- include_all, include_any or exclude_any
    mode TEXT NOT NULL,
    PRIMARY KEY (policy_id, label_id)
);

CREATE TABLE software_package_labels (
    package_id INTEGER NOT NULL REFERENCES software_packages(id) ON DELETE CASCADE,
    label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE RESTRICT,
    mode TEXT NOT NULL,
    PRIMARY KEY (package_id, label_id)
);

ALTER TABLE software_packages ADD COLUMN url TEXT NOT NULL DEFAULT '';
