//! What agents write: results, label membership, identity, and the dirty
//! mark that makes the verdict follow in the same transaction.

use crate::backends::each_backend;
use crate::fixtures::{dirty_hosts, host, policy, policy_write, settle, team};
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::detail::{EntraAnswer, EntraRegistration, VitalsUpdate};
use flotilla_core::{LabelOutcome, PolicyResponse};
use flotilla_store::{Activity, Actor, AgentWrite, DirtyKind, LabelMembership, LabelSpec};
use serde_json::json;

#[tokio::test]
async fn policy_results_are_stored_as_pass_fail_and_unknown() {
    each_backend(|store| async move {
        let mac = host(&store, "UUID-A", None).await;
        let pass = policy(&store, Scope::Global, "Passes").await;
        let fail = policy(&store, Scope::Global, "Fails").await;
        let unknown = policy(&store, Scope::Global, "Errors").await;
        let write = policy_write(&[
            (pass, PolicyResponse::Pass),
            (fail, PolicyResponse::Fail),
            (unknown, PolicyResponse::Unknown),
        ]);
        store.apply_agent_write(mac, &write).await.unwrap();
        let facts = store.compliance_facts(mac).await.unwrap();
        assert_eq!(facts.results.get(&pass), Some(&Some(true)));
        assert_eq!(facts.results.get(&fail), Some(&Some(false)));
        assert_eq!(facts.results.get(&unknown), Some(&None));
        let host = store.host(mac).await.unwrap();
        assert_eq!(host.failing_policies, 1);
        assert!(host.policy_updated_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn a_policy_or_label_answer_marks_the_host_dirty_in_the_same_write() {
    each_backend(|store| async move {
        let mac = host(&store, "UUID-A", None).await;
        let p = policy(&store, Scope::Global, "Firewall").await;
        settle(&store).await;
        // Nothing to ask about labels: nothing changed, nothing to decide.
        let no_labels = AgentWrite {
            labels_answered: true,
            ..AgentWrite::default()
        };
        store.apply_agent_write(mac, &no_labels).await.unwrap();
        assert_eq!(
            store.dirty_host_count(DirtyKind::Compliance).await.unwrap(),
            0
        );
        // A label answer can change which label-targeted policies count.
        let builtin = store.labels().await.unwrap()[0].id;
        let label_answer = AgentWrite {
            labels: vec![(builtin, LabelOutcome::Member)],
            labels_answered: true,
            ..AgentWrite::default()
        };
        store.apply_agent_write(mac, &label_answer).await.unwrap();
        assert_eq!(
            store.dirty_host_count(DirtyKind::Compliance).await.unwrap(),
            1
        );
        store
            .apply_agent_write(mac, &policy_write(&[(p, PolicyResponse::Fail)]))
            .await
            .unwrap();
        assert_eq!(dirty_hosts(&store).await, [mac]);
    })
    .await;
}

#[tokio::test]
async fn dynamic_label_membership_is_added_and_removed() {
    each_backend(|store| async move {
        let mac = host(&store, "UUID-A", None).await;
        let spec = LabelSpec {
            name: "Has Company Portal".into(),
            description: String::new(),
            query: "SELECT 1;".into(),
            platform: flotilla_core::PlatformSet::single(flotilla_core::Platform::Darwin),
            membership: LabelMembership::Dynamic,
            hosts: Vec::new(),
        };
        let actor = Actor {
            id: None,
            name: "t".into(),
        };
        let label = store
            .create_label(
                &spec,
                Activity {
                    actor,
                    activity_type: ActivityType::CreatedLabel,
                    details: json!({}),
                },
            )
            .await
            .unwrap()
            .id;
        let answer = |outcome| AgentWrite {
            labels: vec![(label, outcome)],
            labels_answered: true,
            ..AgentWrite::default()
        };
        store
            .apply_agent_write(mac, &answer(LabelOutcome::Member))
            .await
            .unwrap();
        let names: Vec<String> = store
            .host_labels(mac)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert!(
            names.contains(&"Has Company Portal".to_string()),
            "{names:?}"
        );
        store
            .apply_agent_write(mac, &answer(LabelOutcome::NotMember))
            .await
            .unwrap();
        let names: Vec<String> = store
            .host_labels(mac)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert!(
            !names.contains(&"Has Company Portal".to_string()),
            "{names:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_entra_identity_is_stored_with_the_results_and_cleared_when_gone() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        let registered = AgentWrite {
            vitals: Some(VitalsUpdate {
                entra_identity: Some(EntraAnswer::Registered(EntraRegistration {
                    device_id: "dev-1".into(),
                    user_principal_name: "anna@contoso.com".into(),
                })),
                ..VitalsUpdate::default()
            }),
            details_answered: true,
            ..AgentWrite::default()
        };
        store.apply_agent_write(mac, &registered).await.unwrap();
        let identity = store
            .compliance_facts(mac)
            .await
            .unwrap()
            .identity
            .expect("identity");
        assert_eq!(
            (identity.device_id.as_str(), identity.upn.as_str()),
            ("dev-1", "anna@contoso.com")
        );
        assert_eq!(store.hosts_with_entra_identity().await.unwrap(), [mac]);
        let gone = AgentWrite {
            vitals: Some(VitalsUpdate {
                entra_identity: Some(EntraAnswer::Unregistered),
                ..VitalsUpdate::default()
            }),
            details_answered: true,
            ..AgentWrite::default()
        };
        store.apply_agent_write(mac, &gone).await.unwrap();
        assert!(store
            .compliance_facts(mac)
            .await
            .unwrap()
            .identity
            .is_none());
    })
    .await;
}

fn registered(device_id: &str, upn: &str) -> AgentWrite {
    AgentWrite {
        vitals: Some(VitalsUpdate {
            entra_identity: Some(EntraAnswer::Registered(EntraRegistration {
                device_id: device_id.into(),
                user_principal_name: upn.into(),
            })),
            ..VitalsUpdate::default()
        }),
        details_answered: true,
        ..AgentWrite::default()
    }
}

#[tokio::test]
async fn a_second_host_claiming_a_device_id_gets_no_identity_and_is_logged() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let bob = host(&store, "UUID-BOB", Some(design)).await;
        let mallory = host(&store, "UUID-MAL", Some(design)).await;
        store
            .apply_agent_write(bob, &registered("dev-b", "bob@contoso.com"))
            .await
            .unwrap();
        settle(&store).await;
        for _ in 0..2 {
            store
                .apply_agent_write(mallory, &registered("dev-b", "bob@contoso.com"))
                .await
                .unwrap();
        }
        // The claimant is not Bob's Mac in Entra; Bob's verdict is re-decided.
        assert!(store
            .compliance_facts(mallory)
            .await
            .unwrap()
            .identity
            .is_none());
        let owner = store.compliance_facts(bob).await.unwrap().identity.unwrap();
        assert_eq!(owner.device_id, "dev-b");
        assert!(dirty_hosts(&store).await.contains(&bob));
        let claims = store.entra_claims(bob).await.unwrap();
        assert_eq!(claims.len(), 1);
        assert_eq!((claims[0].claimant, claims[0].owner), (mallory, bob));
        assert_eq!(store.entra_claims(mallory).await.unwrap(), claims);
        // One activity for the claim, however often it is repeated.
        let claimed: Vec<_> = store
            .activities(0, 20)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.activity_type == ActivityType::ClaimedEntraDevice.as_str())
            .collect();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].details["owner_host_id"], json!(bob.0));
        // A host whose own identity changes is logged too.
        store
            .apply_agent_write(bob, &registered("dev-b", "robert@contoso.com"))
            .await
            .unwrap();
        let changed = store.activities(0, 1).await.unwrap();
        assert_eq!(
            changed[0].activity_type,
            ActivityType::ChangedEntraIdentity.as_str()
        );
    })
    .await;
}
