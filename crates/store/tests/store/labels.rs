//! Labels: manual membership, what a change marks dirty, and deletion rules.

use crate::backends::each_backend;
use crate::fixtures::{activity, dirty_hosts, host, settle};
use flotilla_core::activity::ActivityType;
use flotilla_core::HostId;
use flotilla_store::{LabelMembership, LabelSpec, LabelType, StoreError};

fn manual(name: &str, hosts: Vec<HostId>) -> LabelSpec {
    LabelSpec {
        name: name.into(),
        description: String::new(),
        query: String::new(),
        platform: flotilla_core::PlatformSet::default(),
        membership: LabelMembership::Manual,
        hosts,
    }
}

#[tokio::test]
async fn a_manual_label_lists_its_hosts_and_a_new_list_marks_old_and_new_members() {
    each_backend(|store| async move {
        let a = host(&store, "UUID-A", None).await;
        let b = host(&store, "UUID-B", None).await;
        let c = host(&store, "UUID-C", None).await;
        let label = store
            .create_label(
                &manual("Pilot", vec![a, b]),
                activity(ActivityType::CreatedLabel),
            )
            .await
            .unwrap();
        assert_eq!(label.host_count, 2);
        settle(&store).await;
        store
            .update_label(
                label.id,
                "Pilot",
                "",
                Some(&[b, c]),
                activity(ActivityType::EditedLabel),
            )
            .await
            .unwrap();
        let dirty = dirty_hosts(&store).await;
        assert_eq!(dirty, [a, b, c]);
        assert_eq!(store.label(label.id).await.unwrap().host_count, 2);
    })
    .await;
}

#[tokio::test]
async fn label_names_are_unique() {
    each_backend(|store| async move {
        store
            .create_label(
                &manual("Pilot", vec![]),
                activity(ActivityType::CreatedLabel),
            )
            .await
            .unwrap();
        let err = store
            .create_label(
                &manual("Pilot", vec![]),
                activity(ActivityType::CreatedLabel),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    })
    .await;
}

#[tokio::test]
async fn built_in_labels_cannot_be_changed_or_deleted() {
    each_backend(|store| async move {
        let builtin = store
            .labels()
            .await
            .unwrap()
            .into_iter()
            .find(|l| l.label_type == LabelType::Builtin)
            .expect("a built-in label");
        assert!(store
            .update_label(
                builtin.id,
                "Renamed",
                "",
                None,
                activity(ActivityType::EditedLabel)
            )
            .await
            .is_err());
        assert!(store
            .delete_label(builtin.id, activity(ActivityType::DeletedLabel))
            .await
            .is_err());
        assert_eq!(store.label(builtin.id).await.unwrap().name, builtin.name);
    })
    .await;
}

#[tokio::test]
async fn deleting_a_label_marks_its_members_and_removes_it() {
    each_backend(|store| async move {
        let a = host(&store, "UUID-A", None).await;
        let label = store
            .create_label(
                &manual("Pilot", vec![a]),
                activity(ActivityType::CreatedLabel),
            )
            .await
            .unwrap();
        settle(&store).await;
        store
            .delete_label(label.id, activity(ActivityType::DeletedLabel))
            .await
            .unwrap();
        assert!(matches!(
            store.label(label.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(dirty_hosts(&store).await, [a]);
    })
    .await;
}
