//! The dirty-host queue: merged marks, leases, and fenced completion.

use crate::backends::each_backend;
use crate::fixtures::{activity, host, team};
use flotilla_core::activity::ActivityType;
use flotilla_store::DirtyKind;

const KIND: DirtyKind = DirtyKind::Compliance;

/// A change to the team's settings: it marks the team's hosts.
async fn edit_team(store: &flotilla_store::Store, team: flotilla_core::TeamId) {
    store
        .update_team(
            team,
            "Design",
            "",
            &flotilla_core::settings::TeamSettings::default(),
            Some(activity(ActivityType::EditedTeam)),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_burst_of_marks_is_one_row_and_a_claim_is_leased_to_one_claimant() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        for _ in 0..5 {
            edit_team(&store, design).await;
        }
        assert_eq!(store.dirty_host_count(KIND).await.unwrap(), 1);
        let first = store
            .claim_dirty_hosts(KIND, "replica-1", 10, 60)
            .await
            .unwrap();
        assert_eq!(first.iter().map(|c| c.host).collect::<Vec<_>>(), [mac]);
        let second = store
            .claim_dirty_hosts(KIND, "replica-2", 10, 60)
            .await
            .unwrap();
        assert!(second.is_empty(), "a leased host is not claimed twice");
        store
            .finish_dirty_hosts(KIND, "replica-1", &first)
            .await
            .unwrap();
        assert_eq!(store.dirty_host_count(KIND).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_host_marked_again_while_claimed_stays_dirty_after_the_claim_finishes() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        edit_team(&store, design).await;
        let claimed = store
            .claim_dirty_hosts(KIND, "replica-1", 10, 60)
            .await
            .unwrap();
        store
            .transfer_hosts(&[mac], None, activity(ActivityType::TransferredHosts))
            .await
            .unwrap();
        store
            .finish_dirty_hosts(KIND, "replica-1", &claimed)
            .await
            .unwrap();
        let again = store
            .claim_dirty_hosts(KIND, "replica-2", 10, 60)
            .await
            .unwrap();
        assert_eq!(again.len(), 1, "released at once for the newer mark");
        assert!(again[0].version > claimed[0].version);
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_is_claimed_by_another_replica_and_the_first_cannot_finish_it() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        host(&store, "UUID-A", Some(design)).await;
        edit_team(&store, design).await;
        // A lease of zero seconds has run out as soon as it is taken.
        let stale = store
            .claim_dirty_hosts(KIND, "replica-1", 10, 0)
            .await
            .unwrap();
        assert_eq!(stale.len(), 1);
        let taken = store
            .claim_dirty_hosts(KIND, "replica-2", 10, 60)
            .await
            .unwrap();
        assert_eq!(taken.len(), 1);
        store
            .finish_dirty_hosts(KIND, "replica-1", &stale)
            .await
            .unwrap();
        assert_eq!(
            store.dirty_host_count(KIND).await.unwrap(),
            1,
            "replica-1 no longer holds it"
        );
        store
            .finish_dirty_hosts(KIND, "replica-2", &taken)
            .await
            .unwrap();
        assert_eq!(store.dirty_host_count(KIND).await.unwrap(), 0);
    })
    .await;
}
