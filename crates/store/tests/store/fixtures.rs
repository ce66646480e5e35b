//! Small builders the cases share.

use flotilla_core::access::{Role, Scope};
use flotilla_core::activity::ActivityType;
use flotilla_core::detail::VitalsUpdate;
use flotilla_core::{HostId, PolicyId, PolicyResponse, TeamId, UserId};
use flotilla_store::{
    Activity, Actor, AgentKind, AgentWrite, DirtyKind, EnrollRequest, NewUser, PolicySpec, Store,
};
use serde_json::json;

pub fn activity(kind: ActivityType) -> Activity {
    Activity {
        actor: Actor {
            id: None,
            name: "store test".into(),
        },
        activity_type: kind,
        details: json!({}),
    }
}

pub async fn team(store: &Store, name: &str) -> TeamId {
    store
        .create_team(
            name,
            "",
            &flotilla_core::settings::TeamSettings::default(),
            &format!("{name}-secret-0001"),
            activity(ActivityType::CreatedTeam),
        )
        .await
        .expect("create team")
        .id
}

/// Enrolls a Mac; its node key is `node-<uuid>`.
pub async fn host(store: &Store, uuid: &str, team: Option<TeamId>) -> HostId {
    let request = EnrollRequest {
        uuid: uuid.into(),
        team,
        hostname: format!("{uuid}.local"),
        hardware_serial: format!("SER-{uuid}"),
        platform: "darwin".into(),
        os_version: "macOS 15.1".into(),
        ..EnrollRequest::default()
    };
    store
        .enroll_host(AgentKind::Osquery, &request, &format!("node-{uuid}"))
        .await
        .map(|enrolled| enrolled.id)
        .expect("enroll")
}

pub fn policy_spec(name: &str) -> PolicySpec {
    PolicySpec {
        name: name.into(),
        query: "SELECT 1;".into(),
        description: String::new(),
        resolution: String::new(),
        platform: "darwin".into(),
        critical: false,
        calendar_events_enabled: false,
        conditional_access_enabled: true,
        install_software_id: None,
    }
}

pub async fn policy(store: &Store, scope: Scope, name: &str) -> PolicyId {
    store
        .create_policy(
            scope,
            &policy_spec(name),
            None,
            activity(ActivityType::CreatedPolicy),
        )
        .await
        .expect("create policy")
        .id
}

/// A distributed write answering policies (and, with vitals, the details).
pub fn policy_write(results: &[(PolicyId, PolicyResponse)]) -> AgentWrite {
    AgentWrite {
        vitals: Some(VitalsUpdate::default()),
        details_answered: false,
        labels: Vec::new(),
        labels_answered: false,
        policies: results.to_vec(),
        policies_answered: true,
    }
}

pub async fn admin(store: &Store, email: &str) -> UserId {
    let user = NewUser {
        email: email.into(),
        name: "Admin".into(),
        password_hash: "not-a-real-hash".into(),
        global_role: Some(Role::Admin),
        teams: Vec::new(),
    };
    store
        .create_user(&user, activity(ActivityType::CreatedUser))
        .await
        .expect("create user")
        .id
}

/// Claims and finishes every dirty host, so what follows starts from an empty queue.
pub async fn settle(store: &Store) {
    let claimed = store
        .claim_dirty_hosts(DirtyKind::Compliance, "t", 1000, 30)
        .await
        .unwrap();
    store
        .finish_dirty_hosts(DirtyKind::Compliance, "t", &claimed)
        .await
        .unwrap();
}

/// The hosts waiting for a new verdict, sorted (claimed for the test).
pub async fn dirty_hosts(store: &Store) -> Vec<HostId> {
    let mut hosts: Vec<HostId> = store
        .claim_dirty_hosts(DirtyKind::Compliance, "t", 1000, 30)
        .await
        .unwrap()
        .iter()
        .map(|c| c.host)
        .collect();
    hosts.sort();
    hosts
}
