-- Foundation schema. Timestamps are Unix seconds; flags are 0/1 integers so
-- that the same SQL reads both backends.

CREATE TABLE app_config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    document TEXT NOT NULL
);

CREATE TABLE teams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    document TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    global_role TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE user_teams (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (user_id, team_id)
);

CREATE TABLE api_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);

CREATE TABLE enroll_secrets (
    secret TEXT PRIMARY KEY,
    team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE TABLE hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    osquery_host_id TEXT NOT NULL DEFAULT '',
    node_key TEXT UNIQUE,
    orbit_node_key TEXT UNIQUE,
    team_id INTEGER REFERENCES teams(id) ON DELETE SET NULL,
    hostname TEXT NOT NULL DEFAULT '',
    computer_name TEXT NOT NULL DEFAULT '',
    hardware_serial TEXT NOT NULL DEFAULT '',
    hardware_model TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    os_version TEXT NOT NULL DEFAULT '',
    osquery_version TEXT NOT NULL DEFAULT '',
    uptime_secs INTEGER NOT NULL DEFAULT 0,
    mdm_enrolled INTEGER,
    mdm_server_url TEXT NOT NULL DEFAULT '',
    mdm_installed_from_dep INTEGER NOT NULL DEFAULT 0,
    detail_updated_at INTEGER,
    label_updated_at INTEGER,
    policy_updated_at INTEGER,
    refetch_requested INTEGER NOT NULL DEFAULT 0,
    seen_at INTEGER NOT NULL,
    last_enrolled_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX hosts_team ON hosts(team_id);
CREATE INDEX hosts_hostname ON hosts(hostname);
CREATE INDEX hosts_serial ON hosts(hardware_serial);

CREATE TABLE device_tokens (
    token TEXT PRIMARY KEY,
    host_id INTEGER NOT NULL UNIQUE REFERENCES hosts(id) ON DELETE CASCADE,
    refreshed_at INTEGER NOT NULL
);

CREATE TABLE labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    query TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    label_type TEXT NOT NULL,
    membership_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE label_membership (
    label_id INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (label_id, host_id)
);
CREATE INDEX label_membership_host ON label_membership(host_id);

-- team_id: NULL for global policies, 0 for "No team" policies.
CREATE TABLE policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    team_id INTEGER,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    resolution TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    critical INTEGER NOT NULL DEFAULT 0,
    calendar_events_enabled INTEGER NOT NULL DEFAULT 0,
    conditional_access_enabled INTEGER NOT NULL DEFAULT 0,
    author_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX policies_team_name ON policies(COALESCE(team_id, -1), name);

CREATE TABLE policy_membership (
    policy_id INTEGER NOT NULL REFERENCES policies(id) ON DELETE CASCADE,
    host_id INTEGER NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    passes INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (policy_id, host_id)
);
CREATE INDEX policy_membership_host ON policy_membership(host_id);

CREATE TABLE activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id INTEGER,
    actor_name TEXT NOT NULL DEFAULT '',
    activity_type TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);

INSERT INTO labels (name, description, query, platform, label_type, membership_type, created_at, updated_at) VALUES
    ('All Hosts', 'All hosts which have enrolled in Flotilla', 'SELECT 1;', '', 'builtin', 'dynamic', 0, 0),
    ('macOS', 'All macOS hosts', 'SELECT 1 FROM os_version WHERE platform = ''darwin'';', 'darwin', 'builtin', 'dynamic', 0, 0),
    ('MS Windows', 'All Windows hosts', 'SELECT 1 FROM os_version WHERE platform = ''windows'';', 'windows', 'builtin', 'dynamic', 0, 0),
    ('All Linux', 'All Linux distributions', 'SELECT 1 FROM osquery_info WHERE build_platform LIKE ''%ubuntu%'' OR build_distro LIKE ''%centos%'';', 'linux', 'builtin', 'dynamic', 0, 0),
    ('chrome', 'All Chromebooks', 'SELECT 1 FROM os_version WHERE platform = ''chrome'';', 'chrome', 'builtin', 'dynamic', 0, 0);
