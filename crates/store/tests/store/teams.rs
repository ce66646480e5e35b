//! Teams and enroll secrets.

use crate::backends::each_backend;
use crate::fixtures::{activity, host, team};
use flotilla_core::activity::ActivityType;
use flotilla_store::StoreError;

#[tokio::test]
async fn a_team_is_made_with_its_secret_and_names_are_unique() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        assert_eq!(
            store.team_for_secret("Design-secret-0001").await.unwrap(),
            Some(design)
        );
        let err = store
            .create_team(
                "Design",
                "",
                &flotilla_core::settings::TeamSettings::default(),
                "another-secret-01",
                activity(ActivityType::CreatedTeam),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(
            store.team_for_secret("another-secret-01").await.is_err(),
            "nothing of the refused team is kept"
        );
    })
    .await;
}

#[tokio::test]
async fn replacing_secrets_keeps_the_ones_kept_and_drops_the_rest() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let kept = vec![
            "Design-secret-0001".to_string(),
            "second-secret-02".to_string(),
        ];
        let secrets = store
            .replace_enroll_secrets(
                Some(design),
                &kept,
                activity(ActivityType::EditedEnrollSecrets),
            )
            .await
            .unwrap();
        assert_eq!(secrets.len(), 2);
        store
            .replace_enroll_secrets(
                Some(design),
                &kept[1..],
                activity(ActivityType::EditedEnrollSecrets),
            )
            .await
            .unwrap();
        assert!(store.team_for_secret("Design-secret-0001").await.is_err());
        assert_eq!(
            store.team_for_secret("second-secret-02").await.unwrap(),
            Some(design)
        );
        store
            .replace_enroll_secrets(
                None,
                &["global-secret-001".to_string()],
                activity(ActivityType::EditedEnrollSecrets),
            )
            .await
            .unwrap();
        assert_eq!(
            store.team_for_secret("global-secret-001").await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_team_moves_its_hosts_to_no_team() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let mac = host(&store, "UUID-A", Some(design)).await;
        store
            .delete_team(design, activity(ActivityType::DeletedTeam))
            .await
            .unwrap();
        assert_eq!(store.host(mac).await.unwrap().team_id, None);
        assert!(matches!(
            store.team(design).await,
            Err(StoreError::NotFound("team"))
        ));
        assert!(store.team_for_secret("Design-secret-0001").await.is_err());
    })
    .await;
}
