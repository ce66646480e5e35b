//! Fleet's JSON shapes for stored records.

use flotilla_core::access::Scope;
use flotilla_store::{
    EnrollSecret, HostPolicy, HostRecord, LabelMembership, LabelRecord, LabelType, PolicyRecord,
    TeamRecord, UserRecord,
};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A host counts as online when it checked in within this many seconds.
const ONLINE_WINDOW_SECS: i64 = 120;

/// RFC 3339 in UTC, as Fleet writes timestamps.
pub fn timestamp(unix_secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn optional_timestamp(unix_secs: Option<i64>) -> Value {
    unix_secs.map_or(Value::Null, |t| Value::String(timestamp(t)))
}

pub fn user(user: &UserRecord, team_names: &[(i64, String)]) -> Value {
    let teams: Vec<Value> = user
        .teams
        .iter()
        .map(|(team, role)| {
            let name = team_names
                .iter()
                .find(|(id, _)| *id == team.0)
                .map(|(_, n)| n.as_str())
                .unwrap_or_default();
            json!({ "id": team.0, "name": name, "role": role.as_str() })
        })
        .collect();
    json!({
        "id": user.id.0,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
        "name": user.name,
        "email": user.email,
        "global_role": user.global_role.map(|r| r.as_str()),
        "teams": teams,
        "force_password_reset": false,
        "gravatar_url": "",
        "sso_enabled": false,
        "api_only": false,
    })
}

pub fn secret(secret: &EnrollSecret) -> Value {
    json!({
        "secret": secret.secret,
        "created_at": timestamp(secret.created_at),
        "team_id": secret.team_id.map(|t| t.0),
    })
}

pub fn team(team: &TeamRecord, secrets: &[EnrollSecret]) -> Value {
    let doc = &team.document;
    json!({
        "id": team.id.0,
        "name": team.name,
        "description": team.description,
        "created_at": timestamp(team.created_at),
        "host_count": team.host_count,
        "agent_options": doc.get("agent_options").cloned().unwrap_or(Value::Null),
        "integrations": doc.get("integrations").cloned().unwrap_or_else(|| json!({})),
        "secrets": secrets.iter().map(secret).collect::<Vec<_>>(),
    })
}

/// Fleet's wording for a Mac's MDM enrollment.
fn mdm_status(host: &HostRecord) -> Value {
    match host.mdm_enrolled {
        None => Value::Null,
        Some(false) => json!("Off"),
        Some(true) if host.mdm_installed_from_dep => json!("On (automatic)"),
        Some(true) => json!("On (manual)"),
    }
}

pub fn host(host: &HostRecord, now: i64) -> Value {
    let display_name = if host.computer_name.is_empty() {
        &host.hostname
    } else {
        &host.computer_name
    };
    json!({
        "id": host.id.0,
        "uuid": host.uuid,
        "osquery_host_id": host.osquery_host_id,
        "hostname": host.hostname,
        "computer_name": host.computer_name,
        "display_name": display_name,
        "hardware_serial": host.hardware_serial,
        "hardware_model": host.hardware_model,
        "platform": host.platform,
        "os_version": host.os_version,
        "osquery_version": host.osquery_version,
        "team_id": host.team_id.map(|t| t.0),
        "team_name": host.team_name,
        "status": if now - host.seen_at <= ONLINE_WINDOW_SECS { "online" } else { "offline" },
        "seen_time": timestamp(host.seen_at),
        "last_enrolled_at": timestamp(host.last_enrolled_at),
        "detail_updated_at": optional_timestamp(host.detail_updated_at),
        "label_updated_at": optional_timestamp(host.label_updated_at),
        "policy_updated_at": optional_timestamp(host.policy_updated_at),
        "refetch_requested": host.refetch_requested,
        // Fleet reports uptime in nanoseconds.
        "uptime": host.uptime_secs.saturating_mul(1_000_000_000),
        "created_at": timestamp(host.created_at),
        "updated_at": timestamp(host.updated_at),
        "issues": {
            "failing_policies_count": host.failing_policies,
            "total_issues_count": host.failing_policies,
        },
        "mdm": {
            "enrollment_status": mdm_status(host),
            "server_url": if host.mdm_server_url.is_empty() { Value::Null } else { json!(host.mdm_server_url) },
        },
    })
}

pub fn scope_team_id(scope: Scope) -> Value {
    match scope {
        Scope::Global => Value::Null,
        Scope::NoTeam => json!(0),
        Scope::Team(team) => json!(team.0),
    }
}

pub fn policy(policy: &PolicyRecord) -> Value {
    json!({
        "id": policy.id.0,
        "name": policy.name,
        "query": policy.query,
        "description": policy.description,
        "resolution": policy.resolution,
        "platform": policy.platform,
        "team_id": scope_team_id(policy.scope),
        "critical": policy.critical,
        "calendar_events_enabled": policy.calendar_events_enabled,
        "conditional_access_enabled": policy.conditional_access_enabled,
        "author_id": policy.author_id.map(|a| a.0),
        "author_name": policy.author_name,
        "author_email": policy.author_email,
        "created_at": timestamp(policy.created_at),
        "updated_at": timestamp(policy.updated_at),
        "passing_host_count": policy.passing_host_count,
        "failing_host_count": policy.failing_host_count,
        "install_software": policy.install_software.as_ref().map(|(id, name)| json!({
            "software_title_id": id,
            "name": name,
        })),
        "labels_include_any": label_refs(&policy.labels.labels_include_any),
        "labels_exclude_any": label_refs(&policy.labels.labels_exclude_any),
    })
}

/// Fleet's `[{"name": ...}]` label lists; absent when empty.
fn label_refs(names: &[String]) -> Value {
    if names.is_empty() {
        Value::Null
    } else {
        Value::Array(names.iter().map(|n| json!({ "name": n })).collect())
    }
}

/// A policy as it applies to one host: the policy with that host's `response`.
pub fn host_policy(entry: &HostPolicy) -> Value {
    let mut value = policy(&entry.policy);
    if let Some(object) = value.as_object_mut() {
        // Fleet-wide counts belong to the policy list, not to one host's view.
        object.remove("passing_host_count");
        object.remove("failing_host_count");
        object.insert("response".into(), json!(entry.response.as_api_str()));
    }
    value
}

pub fn label(label: &LabelRecord) -> Value {
    json!({
        "id": label.id.0,
        "name": label.name,
        "description": label.description,
        "query": label.query,
        "platform": label.platform,
        "label_type": match label.label_type { LabelType::Builtin => "builtin", LabelType::Regular => "regular" },
        "label_membership_type": match label.membership { LabelMembership::Dynamic => "dynamic", LabelMembership::Manual => "manual" },
        "created_at": timestamp(label.created_at),
        "updated_at": timestamp(label.updated_at),
        "host_count": label.host_count,
        "count": label.host_count,
        "display_text": label.name,
    })
}

/// A label as listed in a host's details.
pub fn host_label(label: &LabelRecord) -> Value {
    json!({
        "id": label.id.0,
        "name": label.name,
        "description": label.description,
        "label_type": match label.label_type { LabelType::Builtin => "builtin", LabelType::Regular => "regular" },
        "label_membership_type": match label.membership { LabelMembership::Dynamic => "dynamic", LabelMembership::Manual => "manual" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
