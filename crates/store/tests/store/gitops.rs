//! GitOps apply: one transaction, only differences, dry runs change nothing.

use crate::backends::each_backend;
use flotilla_core::gitops::{PolicyDef, TeamConfig};
use flotilla_store::{Actor, DesiredState, DesiredTeam, Store};

fn workstations() -> TeamConfig {
    TeamConfig {
        name: "Workstations".into(),
        secrets: Some(vec!["workstations-secret-1".into()]),
        policies: vec![PolicyDef {
            name: "Firewall".into(),
            query: "SELECT 1 FROM alf WHERE global_state >= 1;".into(),
            platform: "darwin".into(),
            conditional_access_enabled: true,
            ..PolicyDef::default()
        }],
        ..TeamConfig::default()
    }
}

async fn apply(
    store: &Store,
    config: &TeamConfig,
    dry_run: bool,
) -> flotilla_core::gitops::ApplyOutcome {
    let desired = DesiredState {
        dry_run,
        delete_other_teams: false,
        global: None,
        teams: vec![DesiredTeam {
            config,
            profiles: Vec::new(),
            packages: Vec::new(),
            new_secret: "unused-new-secret".into(),
        }],
    };
    let actor = Actor {
        id: None,
        name: "gitops".into(),
    };
    store.apply_gitops(&desired, actor).await.expect("apply")
}

#[tokio::test]
async fn a_second_apply_of_the_same_files_changes_nothing() {
    each_backend(|store| async move {
        let config = workstations();
        let first = apply(&store, &config, false).await;
        assert!(first.teams[0].created >= 2, "{first:?}");
        let team = store
            .teams()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.name == "Workstations")
            .expect("team");
        let policy = store.policies_for_team(Some(team.id)).await.unwrap()[0].clone();
        let second = apply(&store, &config, false).await;
        assert!(second.teams[0].is_empty(), "{second:?}");
        let kept = store.policies_for_team(Some(team.id)).await.unwrap()[0].clone();
        assert_eq!((kept.id, kept.updated_at), (policy.id, policy.updated_at));
        let applied = store
            .activities(0, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.activity_type == "applied_gitops")
            .count();
        assert_eq!(applied, 1, "a run that changes nothing writes no activity");
    })
    .await;
}

#[tokio::test]
async fn a_dry_run_reports_the_plan_and_writes_nothing() {
    each_backend(|store| async move {
        let outcome = apply(&store, &workstations(), true).await;
        assert!(outcome.dry_run);
        assert!(outcome.teams[0].created >= 2, "{outcome:?}");
        assert!(store.teams().await.unwrap().is_empty());
        assert!(store.activities(0, 10).await.unwrap().is_empty());
    })
    .await;
}
