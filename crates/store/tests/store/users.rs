//! Users and sessions.

use crate::backends::each_backend;
use crate::fixtures::{activity, admin, team};
use flotilla_core::access::Role;
use flotilla_core::activity::ActivityType;
use flotilla_core::settings::OrgSettings;
use flotilla_store::{NewUser, StoreError};
use serde_json::json;

#[tokio::test]
async fn setup_happens_once() {
    each_backend(|store| async move {
        assert!(!store.is_set_up().await.unwrap());
        let first = NewUser {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            password_hash: "hash".into(),
            global_role: Some(Role::Admin),
            teams: Vec::new(),
        };
        // Keys this version doesn't read are kept as they came.
        let org: OrgSettings = serde_json::from_value(json!({
            "org_info": {"org_name": "Example"},
            "features": {"enable_host_users": false},
        }))
        .unwrap();
        let user = store
            .complete_setup(&first, &org, "token-hash")
            .await
            .unwrap();
        assert!(store.is_set_up().await.unwrap());
        let stored = store.org_settings().await.unwrap().unwrap();
        assert_eq!(stored, org);
        assert_eq!(stored.other["features"]["enable_host_users"], json!(false));
        assert_eq!(
            store
                .session_user("token-hash")
                .await
                .unwrap()
                .map(|u| u.id),
            Some(user.id)
        );
        let err = store
            .complete_setup(&first, &OrgSettings::default(), "other-hash")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    })
    .await;
}

#[tokio::test]
async fn emails_are_unique_whatever_their_case_and_credentials_are_found_by_email() {
    each_backend(|store| async move {
        let id = admin(&store, "Admin@Example.com").await;
        let (user, hash) = store
            .user_credentials("admin@example.com")
            .await
            .unwrap()
            .expect("found");
        assert_eq!((user.id, hash.as_str()), (id, "not-a-real-hash"));
        let again = NewUser {
            email: "admin@example.com".into(),
            name: "Other".into(),
            password_hash: "x".into(),
            global_role: Some(Role::Observer),
            teams: Vec::new(),
        };
        assert!(store
            .create_user(&again, activity(ActivityType::CreatedUser))
            .await
            .is_err());
        assert!(store
            .user_credentials("nobody@example.com")
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn roles_change_and_sessions_end() {
    each_backend(|store| async move {
        let design = team(&store, "Design").await;
        let first = admin(&store, "one@example.com").await;
        let second = admin(&store, "two@example.com").await;
        assert_eq!(store.global_admin_count().await.unwrap(), 2);
        let changed = store
            .set_user_roles(
                second,
                None,
                &[(design, Role::Maintainer)],
                activity(ActivityType::ChangedUserRole),
            )
            .await
            .unwrap();
        assert_eq!(
            (changed.global_role, changed.teams.clone()),
            (None, vec![(design, Role::Maintainer)])
        );
        assert_eq!(store.global_admin_count().await.unwrap(), 1);
        store.create_session(first, "session-1").await.unwrap();
        assert!(store.session_user("session-1").await.unwrap().is_some());
        store.delete_session("session-1").await.unwrap();
        assert!(store.session_user("session-1").await.unwrap().is_none());
    })
    .await;
}
