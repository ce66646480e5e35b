-- Configuration profiles (.mobileconfig) per team, and the labels that target them.

CREATE TABLE configuration_profiles (
    uuid TEXT PRIMARY KEY,
    -- 0: "No team"
    team_id BIGINT NOT NULL,
    identifier TEXT NOT NULL,
    name TEXT NOT NULL,
    content BYTEA NOT NULL,
    checksum TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    UNIQUE (team_id, identifier),
    UNIQUE (team_id, name)
);

-- A label that targets a profile can't be deleted while it does.
CREATE TABLE configuration_profile_labels (
    profile_uuid TEXT NOT NULL REFERENCES configuration_profiles(uuid) ON DELETE CASCADE,
    label_id BIGINT NOT NULL REFERENCES labels(id) ON DELETE RESTRICT,
    -- include_all, include_any or exclude_any
    mode TEXT NOT NULL,
    PRIMARY KEY (profile_uuid, label_id)
);
