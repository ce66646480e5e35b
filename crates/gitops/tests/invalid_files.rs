//! A corpus of invalid GitOps files, each with the error it must produce,
//! checked before anything is sent to a server (resolution and validation).

use flotilla_core::gitops::validate_request;
use flotilla_gitops::resolve::resolve;
use std::path::{Path, PathBuf};

const PROFILE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadIdentifier</key><string>com.example.p.payload</string>
<key>PayloadType</key><string>com.apple.screensaver</string>
<key>PayloadUUID</key><string>11111111-2222-3333-4444-555555555555</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></array>
<key>PayloadDisplayName</key><string>Screen saver</string>
<key>PayloadIdentifier</key><string>com.example.p</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>66666666-2222-3333-4444-555555555555</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
"#;

/// A folder with the given files; the first is the one applied.
fn tree(files: &[(&str, &str)]) -> (PathBuf, Vec<PathBuf>) {
    let dir = std::env::temp_dir().join(format!(
        "flotilla-gitops-corpus-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let applied = files
        .iter()
        .filter(|(name, _)| name.ends_with(".yml") && !name.starts_with("lib/"))
        .map(|(name, _)| dir.join(name))
        .collect();
    (dir, applied)
}

fn env(name: &str) -> Option<String> {
    (name == "KNOWN").then(|| "value".to_string())
}

/// Every problem the files have, as the command prints them.
fn problems(files: &[PathBuf]) -> String {
    match resolve(files, &env) {
        Err(problems) => problems.join("\n"),
        Ok(mut resolved) => match validate_request(&mut resolved.request) {
            Err(errors) => errors.to_string(),
            Ok(()) => String::new(),
        },
    }
}

fn assert_rejected(files: &[(&str, &str)], expected: &[&str]) {
    let (dir, applied) = tree(files);
    let found = problems(&applied);
    for needle in expected {
        assert!(found.contains(needle), "expected {needle:?} in:\n{found}");
    }
    std::fs::remove_dir_all(Path::new(&dir)).unwrap();
}

#[test]
fn an_unknown_key_names_file_line_and_nearest_key() {
    assert_rejected(
        &[(
            "teams/a.yml",
            "name: A\npolicies:\n- name: P\n  query: SELECT 1;\n  platfrom: darwin\n",
        )],
        &["teams/a.yml:5:3: unknown key `platfrom` in policies[0]; did you mean `platform`?"],
    );
    assert_rejected(
        &[(
            "default.yml",
            "org_settings:\n  integrations:\n    conditional_access: true\n",
        )],
        &[
            "default.yml:3:5: unknown key `conditional_access`",
            "did you mean `conditional_access_enabled`?",
        ],
    );
    assert_rejected(
        &[("teams/a.yml", "name: A\nteam_setings: {}\n")],
        &["did you mean `team_settings`?"],
    );
}

#[test]
fn both_spellings_of_a_key_are_an_error() {
    assert_rejected(
        &[("teams/a.yml", "name: A\nteam_settings: {}\nsettings: {}\n")],
        &["`team_settings` and `settings` are the same setting"],
    );
    assert_rejected(
        &[("default.yml", "queries: []\nreports: []\n")],
        &["`queries` and `reports` are the same setting"],
    );
}

#[test]
fn environment_variables_must_be_set() {
    assert_rejected(
        &[(
            "teams/a.yml",
            "name: $KNOWN\npolicies:\n- name: ${MISSING_VAR}\n  query: SELECT 1;\n",
        )],
        &["teams/a.yml:3: environment variable $MISSING_VAR is not set"],
    );
}

#[test]
fn policies_are_checked_like_the_api_checks_them() {
    assert_rejected(
        &[("teams/a.yml", "name: A\npolicies:\n- name: P\n  query: ''\n  platform: amiga\n- name: P\n  query: SELECT 1;\n")],
        &[
            "team \"A\" policy \"P\" query: policy query must not be empty",
            "unsupported platform \"amiga\"",
            "policy \"P\" is defined twice",
        ],
    );
    assert_rejected(
        &[("teams/a.yml", "name: A\npolicies:\n- query: SELECT 2;\n")],
        &["every policy needs a `name`"],
    );
    assert_rejected(
        &[("teams/a.yml", "name: A\npolicies:\n- name: P\n  query: SELECT 1;\n  platform: linux\n  conditional_access_enabled: true\n")],
        &["conditional access can only be enabled on darwin or windows policies"],
    );
}

#[test]
fn install_software_must_name_a_package_of_the_team() {
    let hash = "ab".repeat(32);
    assert_rejected(
        &[(
            "teams/a.yml",
            &format!("name: A\npolicies:\n- name: P\n  query: SELECT 1;\n  install_software:\n    hash_sha256: {hash}\n"),
        )],
        &[&format!("the package with SHA-256 {hash} is not in this team's software.packages")],
    );
    assert_rejected(
        &[("default.yml", &format!("policies:\n- name: P\n  query: SELECT 1;\n  install_software:\n    hash_sha256: {hash}\n"))],
        &["only team policies (or \"No team\"'s) can install software"],
    );
    assert_rejected(
        &[(
            "teams/a.yml",
            "name: A\nsoftware:\n  packages:\n  - hash_sha256: not-a-hash\n",
        )],
        &["\"not-a-hash\" is not a SHA-256 (64 hex digits)"],
    );
}

#[test]
fn profiles_are_read_and_validated() {
    assert_rejected(
        &[("teams/a.yml", "name: A\ncontrols:\n  macos_settings:\n    custom_settings:\n    - path: ../lib/missing.mobileconfig\n")],
        &["lib/missing.mobileconfig: can't read"],
    );
    assert_rejected(
        &[
            ("teams/a.yml", "name: A\ncontrols:\n  macos_settings:\n    custom_settings:\n    - path: ../lib/bad.mobileconfig\n"),
            ("lib/bad.mobileconfig", "not a plist"),
        ],
        &["team \"A\" profile bad.mobileconfig"],
    );
    assert_rejected(
        &[
            (
                "teams/a.yml",
                "name: A\ncontrols:\n  apple_settings:\n    configuration_profiles:\n    - paths: ../lib/*.mobileconfig\n      labels_include_all: [X]\n      labels_exclude_any: [Y]\n",
            ),
            ("lib/one.mobileconfig", PROFILE),
            ("lib/two.mobileconfig", PROFILE),
        ],
        &[
            "two profiles have the PayloadIdentifier \"com.example.p\"",
            "use only one of labels_include_all, labels_include_any, labels_exclude_any",
        ],
    );
}

#[test]
fn paths_must_resolve() {
    assert_rejected(
        &[(
            "teams/a.yml",
            "name: A\npolicies:\n- paths: ../lib/none/*.yml\n",
        )],
        &["`paths: ../lib/none/*.yml` matches no file"],
    );
    assert_rejected(
        &[
            ("teams/a.yml", "name: A\npolicies:\n- path: ../lib/p.yml\n"),
            ("lib/p.yml", "- path: other.yml\n"),
        ],
        &["a policies file can't point at further files"],
    );
    assert_rejected(
        &[
            ("teams/a.yml", "name: A\npolicies:\n- path: ../lib/p.yml\n"),
            (
                "lib/p.yml",
                "- name: P\n  query: SELECT 1;\n  critcal: true\n",
            ),
        ],
        &[
            "lib/p.yml:3:3: unknown key `critcal`",
            "did you mean `critical`?",
        ],
    );
}

#[test]
fn features_flotilla_lacks_are_named_one_line_each() {
    let found = {
        let (dir, applied) = tree(&[(
            "teams/a.yml",
            "name: A\ncontrols:\n  enable_disk_encryption: true\n  scripts:\n  - path: ../lib/a.sh\n  macos_updates:\n    deadline: ''\n    minimum_version: ''\nsoftware:\n  app_store_apps:\n  - app_store_id: '1091189122'\n",
        )]);
        let found = problems(&applied);
        std::fs::remove_dir_all(dir).unwrap();
        found
    };
    let lines: Vec<&str> = found.lines().collect();
    assert_eq!(lines.len(), 3, "{found}");
    for expected in [
        "teams/a.yml:3: `controls.enable_disk_encryption` is a Fleet feature Flotilla does not support yet",
        "teams/a.yml:4: `controls.scripts` is a Fleet feature Flotilla does not support yet",
        "teams/a.yml:10: `software.app_store_apps` is a Fleet feature Flotilla does not support yet",
    ] {
        assert!(lines.iter().any(|l| l.ends_with(expected)), "{expected:?} in:\n{found}");
    }
}

#[test]
fn keys_in_the_wrong_file_are_errors() {
    assert_rejected(
        &[("teams/a.yml", "name: A\nlabels: []\n")],
        &["labels are org-wide: define them in default.yml"],
    );
    assert_rejected(
        &[("teams/a.yml", "name: A\norg_settings: {}\n")],
        &["`org_settings` belongs in default.yml"],
    );
    assert_rejected(
        &[
            ("default.yml", "labels: []\n"),
            ("second.yml", "policies: []\n"),
        ],
        &["a second file without `name`"],
    );
    assert_rejected(
        &[("teams/a.yml", "name: A\n"), ("teams/b.yml", "name: A\n")],
        &["team \"A\" is given by more than one file"],
    );
}

#[test]
fn a_valid_set_has_no_problems() {
    let (dir, applied) = tree(&[
        ("default.yml", "labels:\n- name: L\n  query: SELECT 1;\norg_settings:\n  integrations:\n    conditional_access_enabled: true\n"),
        (
            "teams/a.yml",
            "name: A\ncontrols:\n  macos_settings:\n    custom_settings:\n    - path: ../lib/p.mobileconfig\n      labels_include_all: [L]\npolicies:\n- name: P\n  query: SELECT 1;\n  platform: darwin\n  conditional_access_enabled: true\n",
        ),
        ("lib/p.mobileconfig", PROFILE),
    ]);
    assert_eq!(problems(&applied), "");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_query_logging_type_must_be_one_fleet_knows() {
    assert_rejected(
        &[(
            "teams/a.yml",
            "name: A\nreports:\n- name: Q\n  query: SELECT 1;\n  interval: 60\n  logging: sometimes\n",
        )],
        &["teams/a.yml", "use snapshot, differential or differential_ignore_removals"],
    );
}
