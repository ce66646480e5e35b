//! Policies: scopes, what a change drops, and atomic deletion.

use crate::backends::each_backend;
use crate::fixtures::{
    activity, dirty_hosts, host, policy, policy_spec, policy_write, settle, team,
};
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::{PolicyId, PolicyResponse};
use flotilla_store::{ScopeSettings, StoreError};

#[tokio::test]
async fn a_team_sees_global_and_its_own_policies_only() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let sales = team(&store, "Sales").await;
        let global = policy(&store, Scope::Global, "Disk encryption").await;
        let mine = policy(&store, Scope::Team(design), "Firewall").await;
        policy(&store, Scope::Team(sales), "Screen lock").await;
        let no_team = policy(&store, Scope::NoTeam, "Gatekeeper").await;
        let ids: Vec<PolicyId> = store
            .policies_for_team(Some(design))
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [global, mine]);
        let ids: Vec<PolicyId> = store
            .policies_for_team(None)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, [global, no_team]);
    })
    .await;
}

#[tokio::test]
async fn changing_a_query_drops_its_results_and_marks_the_scopes_hosts() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        let other = host(&store, "UUID-B", None).await;
        let p = policy(&store, Scope::Team(design), "Firewall").await;
        store
            .apply_agent_write(mac, &policy_write(&[(p, PolicyResponse::Pass)]))
            .await
            .unwrap();
        settle(&store).await;

        let mut spec = policy_spec("Firewall");
        spec.query = "SELECT 1 FROM alf WHERE global_state >= 1;".into();
        store
            .update_policy(p, &spec, activity(ActivityType::EditedPolicy))
            .await
            .unwrap();
        assert_eq!(
            store.compliance_facts(mac).await.unwrap().results.get(&p),
            None
        );
        let dirty = dirty_hosts(&store).await;
        assert_eq!(dirty, [mac], "only the team's hosts, not {other}");
    })
    .await;
}

#[tokio::test]
async fn deleting_policies_of_another_scope_deletes_none() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mine = policy(&store, Scope::Team(design), "Firewall").await;
        let global = policy(&store, Scope::Global, "Disk encryption").await;
        let err = store
            .delete_policies(
                Scope::Team(design),
                &[mine, global],
                &[activity(ActivityType::DeletedPolicy)],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound("policy")), "{err}");
        assert!(store.policy(mine).await.is_ok());
        assert!(store
            .activities(0, 100)
            .await
            .unwrap()
            .iter()
            .all(|a| a.activity_type != "deleted_policy"));
        store
            .delete_policies(
                Scope::Team(design),
                &[mine],
                &[activity(ActivityType::DeletedPolicy)],
            )
            .await
            .unwrap();
        assert!(matches!(
            store.policy(mine).await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn policy_names_are_unique_within_a_scope() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        policy(&store, Scope::Team(design), "Firewall").await;
        let err = store
            .create_policy(
                Scope::Team(design),
                &policy_spec("Firewall"),
                None,
                activity(ActivityType::CreatedPolicy),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        policy(&store, Scope::Global, "Firewall").await;
    })
    .await;
}

#[tokio::test]
async fn a_teams_conditional_access_is_saved_in_one_transaction() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        let p = policy(&store, Scope::Team(design), "Firewall").await;
        let mut spec = policy_spec("Firewall");
        spec.conditional_access_enabled = false;
        let mut switched_on = flotilla_core::settings::TeamSettings::default();
        switched_on.integrations.conditional_access_enabled = Some(true);
        // A missing team: nothing is written, not even the policy's flag.
        let missing = ScopeSettings::Team {
            id: flotilla_core::TeamId(9999),
            settings: &switched_on,
        };
        let changes = vec![(p, spec.clone(), activity(ActivityType::EditedPolicy))];
        assert!(store
            .save_conditional_access(
                &changes,
                missing,
                activity(ActivityType::EnabledConditionalAccessAutomations)
            )
            .await
            .is_err());
        assert!(store.policy(p).await.unwrap().conditional_access_enabled);
        settle(&store).await;

        let settings = ScopeSettings::Team {
            id: design,
            settings: &switched_on,
        };
        store
            .save_conditional_access(
                &changes,
                settings,
                activity(ActivityType::EnabledConditionalAccessAutomations),
            )
            .await
            .unwrap();
        assert!(!store.policy(p).await.unwrap().conditional_access_enabled);
        assert_eq!(store.team(design).await.unwrap().settings, switched_on);
        let kinds: Vec<String> = store
            .activities(0, 2)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.activity_type)
            .collect();
        assert_eq!(
            kinds,
            ["enabled_conditional_access_automations", "edited_policy"]
        );
        let dirty = dirty_hosts(&store).await;
        assert_eq!(dirty, [mac]);
    })
    .await;
}
