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

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_maximum_age() {
    use flotilla_core::access::{SESSION_IDLE_SECS, SESSION_MAX_AGE_SECS};
    use flotilla_core::clock::Clock;
    each_backend(|store| async move {
        let clock = Clock::manual(1_900_000_000);
        let store = store.with_clock(clock.clone());
        let user = admin(&store, "one@example.com").await;
        store.create_session(user, "idle").await.unwrap();
        clock.advance(SESSION_IDLE_SECS + 1);
        assert!(store.session_user("idle").await.unwrap().is_none());
        // Used every day, a session still ends at its maximum age.
        store.create_session(user, "busy").await.unwrap();
        let mut used = 0;
        while used + 86_400 <= SESSION_MAX_AGE_SECS {
            clock.advance(86_400);
            used += 86_400;
            assert!(store.session_user("busy").await.unwrap().is_some());
        }
        clock.advance(SESSION_MAX_AGE_SECS - used + 1);
        assert!(store.session_user("busy").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_last_global_admin_is_kept_inside_the_change() {
    each_backend(|store| async move {
        let first = admin(&store, "one@example.com").await;
        let second = admin(&store, "two@example.com").await;
        // Two admins demote each other at once: one change wins, the other is refused.
        let demote = |id| {
            let store = store.clone();
            async move {
                store
                    .set_user_roles(
                        id,
                        Some(Role::Observer),
                        &[],
                        activity(ActivityType::ChangedUserRole),
                    )
                    .await
            }
        };
        let (a, b) = tokio::join!(demote(first), demote(second));
        let refused = [&a, &b]
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Rejected(_))))
            .count();
        assert_eq!((refused, a.is_ok() || b.is_ok()), (1, true));
        assert_eq!(store.global_admin_count().await.unwrap(), 1);
        let last = if a.is_ok() { second } else { first };
        assert!(matches!(
            store
                .delete_user(last, activity(ActivityType::DeletedUser))
                .await,
            Err(StoreError::Rejected(_))
        ));
        assert!(store.user(last).await.is_ok());
    })
    .await;
}
