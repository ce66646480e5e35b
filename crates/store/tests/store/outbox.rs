//! The compliance outbox: queueing a changed verdict, claiming with a lease, finishing.

use crate::backends::each_backend;
use crate::fixtures::{host, team};
use flotilla_core::compliance::Verdict;
use flotilla_core::detail::{EntraAnswer, EntraRegistration, VitalsUpdate};
use flotilla_store::{AgentWrite, ReportOutcome, ReportStatus, Store};

async fn registered_mac(store: &Store) -> flotilla_core::HostId {
    let design = team(store, "Design").await;
    let mac = host(store, "UUID-A", Some(design)).await;
    let write = AgentWrite {
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
    store.apply_agent_write(mac, &write).await.unwrap();
    mac
}

const FAILING: Verdict = Verdict {
    managed: true,
    compliant: false,
};

const PASSING: Verdict = Verdict {
    managed: true,
    compliant: true,
};

async fn queue(store: &Store, mac: flotilla_core::HostId, verdict: Verdict) -> bool {
    let facts = store.compliance_facts(mac).await.unwrap();
    store
        .queue_compliance_report(&facts, "tenant", verdict)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_verdict_is_queued_once_and_claimed_by_one_replica_at_a_time() {
    each_backend(|store| async move {
        let mac = registered_mac(&store).await;
        assert!(queue(&store, mac, FAILING).await);
        assert!(
            !queue(&store, mac, FAILING).await,
            "the same verdict is not queued twice"
        );
        let first = store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(
            (first[0].device_id.as_str(), first[0].verdict),
            ("dev-1", FAILING)
        );
        assert!(store
            .claim_compliance_reports("replica-2", 10, 60)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .finish_compliance_report(&first[0], "replica-1", &ReportOutcome::Completed)
            .await
            .unwrap());
        let reports = store.compliance_reports(mac, 10).await.unwrap();
        assert_eq!(reports[0].status, ReportStatus::Completed);
    })
    .await;
}

#[tokio::test]
async fn after_a_lease_runs_out_only_the_new_holder_renews_or_finishes_the_report() {
    each_backend(|store| async move {
        let mac = registered_mac(&store).await;
        queue(&store, mac, FAILING).await;
        let stale = store
            .claim_compliance_reports("replica-1", 10, -1)
            .await
            .unwrap();
        assert_eq!(stale.len(), 1);
        let again = store
            .claim_compliance_reports("replica-2", 10, 60)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].id, again[0].attempts),
            (stale[0].id, stale[0].attempts + 1)
        );
        assert!(!store
            .renew_report_lease(stale[0].id, "replica-1", 60)
            .await
            .unwrap());
        assert!(store
            .renew_report_lease(again[0].id, "replica-2", 60)
            .await
            .unwrap());
        let landed = store
            .finish_compliance_report(&stale[0], "replica-1", &ReportOutcome::Completed)
            .await
            .unwrap();
        assert!(
            !landed,
            "a replica whose claim was taken over records nothing"
        );
        assert_eq!(
            store.compliance_reports(mac, 10).await.unwrap()[0].status,
            ReportStatus::Sending
        );
        assert!(store
            .finish_compliance_report(&again[0], "replica-2", &ReportOutcome::Completed)
            .await
            .unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_retry_waits_until_its_time_unless_the_tenant_answers_again() {
    each_backend(|store| async move {
        let mac = registered_mac(&store).await;
        queue(&store, mac, FAILING).await;
        let claimed = store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap();
        let later = ReportOutcome::Retry {
            at: flotilla_store::now() + 3600,
            error: "Microsoft is unavailable".into(),
        };
        assert!(store
            .finish_compliance_report(&claimed[0], "replica-1", &later)
            .await
            .unwrap());
        assert!(store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store.compliance_reports(mac, 10).await.unwrap()[0].error,
            "Microsoft is unavailable"
        );
        store.reset_report_backoff("tenant").await.unwrap();
        assert_eq!(
            store
                .claim_compliance_reports("replica-1", 10, 60)
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}

#[tokio::test]
async fn a_newer_verdict_supersedes_a_report_being_sent_and_waits_for_its_sender() {
    each_backend(|store| async move {
        let mac = registered_mac(&store).await;
        queue(&store, mac, PASSING).await;
        let older = store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap();
        assert!(queue(&store, mac, FAILING).await);
        assert!(
            store
                .claim_compliance_reports("replica-2", 10, 60)
                .await
                .unwrap()
                .is_empty(),
            "the newer report does not overtake an upload that may be on its way"
        );
        let retry = ReportOutcome::Retry {
            at: flotilla_store::now(),
            error: "throttled".into(),
        };
        assert!(!store
            .finish_compliance_report(&older[0], "replica-1", &retry)
            .await
            .unwrap());
        let newer = store
            .claim_compliance_reports("replica-2", 10, 60)
            .await
            .unwrap();
        assert_eq!(newer.len(), 1);
        assert_eq!(newer[0].verdict, FAILING);
        let statuses: Vec<ReportStatus> = store
            .compliance_reports(mac, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses,
            [ReportStatus::Sending, ReportStatus::Superseded],
            "the older one is never sent again"
        );
    })
    .await;
}

#[tokio::test]
async fn a_restarted_replica_takes_its_unfinished_reports_back_at_once() {
    each_backend(|store| async move {
        let mac = registered_mac(&store).await;
        queue(&store, mac, FAILING).await;
        let held = store
            .claim_compliance_reports("replica-1", 10, 600)
            .await
            .unwrap();
        assert_eq!(held.len(), 1);
        assert!(store
            .claim_compliance_reports("replica-1", 10, 600)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.release_report_claims("replica-1").await.unwrap(), 1);
        let again = store
            .claim_compliance_reports("replica-1", 10, 600)
            .await
            .unwrap();
        assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), [held[0].id]);
    })
    .await;
}

#[tokio::test]
async fn while_every_report_backs_off_one_per_tenant_is_probed() {
    each_backend(|store| async move {
        let mac = registered_mac(&store).await;
        queue(&store, mac, FAILING).await;
        let claimed = store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap();
        let later = ReportOutcome::Retry {
            at: store.now() + 600,
            error: "Microsoft is unavailable".into(),
        };
        store
            .finish_compliance_report(&claimed[0], "replica-1", &later)
            .await
            .unwrap();
        assert!(store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(store.probe_backed_off_reports(5).await.unwrap(), 1);
        assert_eq!(
            store.probe_backed_off_reports(5).await.unwrap(),
            0,
            "one probe at a time: the probed report is due now"
        );
        let probe = store
            .claim_compliance_reports("replica-1", 10, 60)
            .await
            .unwrap();
        assert_eq!(
            probe.iter().map(|r| r.id).collect::<Vec<_>>(),
            [claimed[0].id]
        );
        assert_eq!(
            store.probe_backed_off_reports(5).await.unwrap(),
            0,
            "none while one is being sent"
        );
    })
    .await;
}
