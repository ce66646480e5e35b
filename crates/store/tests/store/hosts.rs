//! Hosts: enrollment identity, listing, transfer, deletion.

use crate::backends::each_backend;
use crate::fixtures::{activity, dirty_hosts, host, policy, policy_write, settle, team};
use flotilla_core::access::Scope;
use flotilla_core::activity::ActivityType;
use flotilla_core::{HostId, PolicyResponse};
use flotilla_store::{
    AgentKind, DirtyKind, EnrollRequest, HostFilter, HostOrder, Page, StoreError, TeamFilter,
};

fn all() -> Page {
    Page {
        page: 0,
        per_page: 100,
        order: HostOrder::Id,
        descending: false,
    }
}

#[tokio::test]
async fn enrolling_again_without_proof_makes_a_duplicate_and_takes_nothing_over() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let first = host(&store, "UUID-A", Some(design)).await;
        // Another secret (No team), the same hardware UUID: no proof.
        let again = EnrollRequest {
            uuid: "UUID-A".into(),
            hostname: "renamed.local".into(),
            platform: "darwin".into(),
            ..EnrollRequest::default()
        };
        let second = store
            .enroll_host(AgentKind::Osquery, &again, "node-new")
            .await
            .unwrap();
        assert_ne!(second.id, first);
        assert_eq!(second.duplicate_of, Some(first));
        // The original keeps its key and team; the newcomer has its own record.
        let original = store
            .agent_host(AgentKind::Osquery, "node-UUID-A")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((original.id, original.team_id), (first, Some(design)));
        let newcomer = store.host(second.id).await.unwrap();
        assert_eq!(newcomer.duplicate_of, Some(first));
        assert!(newcomer.uuid.starts_with("UUID-A#dup"));
        assert_ne!(store.host(first).await.unwrap().hostname, "renamed.local");
        let logged = store.activities(0, 1).await.unwrap();
        assert_eq!(logged[0].activity_type, "enrolled_duplicate_host");
        assert_eq!(logged[0].details["duplicate_of"], first.0);
    })
    .await;
}

#[tokio::test]
async fn fleetds_second_agent_joins_the_host_its_first_agent_enrolled() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let request = EnrollRequest {
            uuid: "UUID-F".into(),
            team: Some(design),
            platform: "darwin".into(),
            ..EnrollRequest::default()
        };
        let orbit = store
            .enroll_host(AgentKind::Orbit, &request, "orbit-key")
            .await
            .unwrap();
        let osquery = store
            .enroll_host(AgentKind::Osquery, &request, "node-key")
            .await
            .unwrap();
        assert_eq!(osquery.id, orbit.id);
        assert_eq!(osquery.duplicate_of, None);
        assert_eq!(store.count_hosts(&HostFilter::default()).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn listing_filters_by_team_and_by_visible_teams() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let sales = team(&store, "Sales").await;
        let a = host(&store, "UUID-A", Some(design)).await;
        let b = host(&store, "UUID-B", Some(sales)).await;
        let c = host(&store, "UUID-C", None).await;
        let in_design = HostFilter {
            team: TeamFilter::Team(design),
            ..HostFilter::default()
        };
        let ids: Vec<HostId> = store
            .list_hosts(&in_design, all())
            .await
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(ids, [a]);
        let no_team = HostFilter {
            team: TeamFilter::NoTeam,
            ..HostFilter::default()
        };
        let ids: Vec<HostId> = store
            .list_hosts(&no_team, all())
            .await
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(ids, [c]);
        let sales_only = HostFilter {
            visible_teams: Some(vec![sales]),
            ..HostFilter::default()
        };
        let ids: Vec<HostId> = store
            .list_hosts(&sales_only, all())
            .await
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(ids, [b]);
        let by_text = HostFilter {
            query: Some("uuid-b".into()),
            ..HostFilter::default()
        };
        assert_eq!(store.count_hosts(&by_text).await.unwrap(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_transfer_moves_hosts_drops_team_results_and_marks_them_dirty() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let sales = team(&store, "Sales").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        let team_policy = policy(&store, Scope::Team(design), "Firewall").await;
        let global_policy = policy(&store, Scope::Global, "Disk encryption").await;
        store
            .apply_agent_write(
                mac,
                &policy_write(&[
                    (team_policy, PolicyResponse::Fail),
                    (global_policy, PolicyResponse::Pass),
                ]),
            )
            .await
            .unwrap();
        settle(&store).await;
        assert_eq!(
            store.dirty_host_count(DirtyKind::Compliance).await.unwrap(),
            0
        );

        store
            .transfer_hosts(
                &[mac],
                Some(sales),
                activity(ActivityType::TransferredHosts),
            )
            .await
            .unwrap();
        let moved = store.host(mac).await.unwrap();
        assert_eq!(moved.team_id, Some(sales));
        assert!(moved.refetch_requested);
        let facts = store.compliance_facts(mac).await.unwrap();
        assert_eq!(
            facts.results.get(&team_policy),
            None,
            "the old team's result is dropped"
        );
        assert_eq!(facts.results.get(&global_policy), Some(&Some(true)));
        assert_eq!(dirty_hosts(&store).await, [mac]);
    })
    .await;
}

#[tokio::test]
async fn a_transfer_to_a_missing_team_or_of_a_missing_host_changes_nothing() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        let err = store
            .transfer_hosts(
                &[mac, HostId(9999)],
                None,
                activity(ActivityType::TransferredHosts),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound("host")), "{err}");
        assert_eq!(store.host(mac).await.unwrap().team_id, Some(design));
        assert!(store
            .activities(0, 100)
            .await
            .unwrap()
            .iter()
            .all(|a| a.activity_type != "transferred_hosts"));
    })
    .await;
}

#[tokio::test]
async fn hosts_resolve_by_hostname_serial_or_uuid_and_unknown_ones_are_named() {
    each_backend(|store| async move {
        let a = host(&store, "UUID-A", None).await;
        let b = host(&store, "UUID-B", None).await;
        let ids = store
            .resolve_hosts(&["UUID-A.local".into(), "SER-UUID-B".into(), "UUID-A".into()])
            .await
            .unwrap();
        assert_eq!(ids, [a, b, a]);
        let err = store.resolve_hosts(&["nobody".into()]).await.unwrap_err();
        assert!(err.to_string().contains("nobody"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn deleting_a_host_removes_it_and_records_the_activity() {
    each_backend(|store| async move {
        let mac = host(&store, "UUID-A", None).await;
        store
            .delete_host(mac, activity(ActivityType::DeletedHost))
            .await
            .unwrap();
        assert!(matches!(
            store.host(mac).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store
                .delete_host(mac, activity(ActivityType::DeletedHost))
                .await,
            Err(StoreError::NotFound("host"))
        ));
        let kinds: Vec<String> = store
            .activities(0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.activity_type)
            .collect();
        assert_eq!(kinds, ["deleted_host"]);
    })
    .await;
}
