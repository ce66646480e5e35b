//! The outbox keeps Entra right and in order: an older verdict never lands
//! after a newer one, even when it was being sent and retried while the newer
//! one was decided. With the Microsoft emulator's faults, on both databases.

mod common;

use common::microsoft::{
    connected_team, emulator_device, emulator_state, policy_write, set_faults, settings,
    start_emulator, start_emulator_processing,
};
use common::{databases, enroll_mac, Database, TestServer};
use flotilla_ms_emulator::Faults;
use flotilla_server::ServerSettings;
use flotilla_store::ReportStatus;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

const TENANT: &str = "6f1c3a52-0c1e-4b8e-9a61-3f0d2b7c9e10";
const DEVICE: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const UPN: &str = "user1@contoso.com";

/// The emulator's one tenant, with the group and five users.
fn tenants() -> String {
    format!(
        "tenants:\n  - id: {TENANT}\n    groups: [\"Flotilla conditional access\"]\n    users: \"user{{n}}@contoso.com\"\n    user_count: 5\n"
    )
}

/// A set-up server reporting one team to the tenant.
struct Connected {
    server: TestServer,
    /// The team's enroll secret.
    secret: String,
    /// The name of the team's conditional-access policy query.
    policy: String,
}

async fn connected(database: Database, settings: ServerSettings) -> Connected {
    let server = TestServer::start_with(database, settings).await;
    let token = server.setup().await;
    let (secret, policy) = connected_team(&server, &server, &token, TENANT).await;
    Connected {
        server,
        secret,
        policy,
    }
}

/// Polls until `done` holds or 60 s pass; returns whether it held.
async fn eventually<F, Fut>(mut done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_verdict_sent_during_an_outage_never_lands_after_a_newer_one() {
    for database in databases().await {
        let emulator = start_emulator(&tenants(), Faults::default()).await;
        let Connected {
            server,
            secret,
            policy,
        } = connected(database, settings(&emulator)).await;
        let key = enroll_mac(&server, &secret, "UUID-OUTAGE", "outage-mac").await;
        let write = |passes| policy_write(&key, &policy, passes, DEVICE, UPN);

        // The Mac fails and Entra knows (Microsoft confirmed it).
        assert_eq!(
            server
                .agent("/api/osquery/distributed/write", write(false))
                .await
                .0,
            StatusCode::OK
        );
        let host = server
            .store
            .host_by_identifier("UUID-OUTAGE")
            .await
            .unwrap()
            .id;
        assert!(
            eventually(|| async {
                let reports = server.store.compliance_reports(host, 1).await.unwrap();
                reports
                    .first()
                    .is_some_and(|r| r.status == ReportStatus::Completed)
            })
            .await,
            "the first verdict reached Entra"
        );
        assert_eq!(
            emulator_device(&emulator, DEVICE).await["compliance_status"],
            "notCompliant"
        );

        // Microsoft goes down; the Mac passes (R1 is sent, fails, waits to be retried)…
        set_faults(
            &emulator,
            &Faults {
                unavailable: 1.0,
                ..Faults::default()
            },
        )
        .await;
        assert_eq!(
            server
                .agent("/api/osquery/distributed/write", write(true))
                .await
                .0,
            StatusCode::OK
        );
        assert!(
            eventually(|| async {
                let reports = server.store.compliance_reports(host, 10).await.unwrap();
                reports[0].verdict.compliant
                    && reports[0].attempts >= 1
                    && reports[0].status == ReportStatus::Pending
            })
            .await,
            "the passing verdict was tried and is waiting for a retry"
        );
        // …then fails again (R2) before Microsoft is back.
        assert_eq!(
            server
                .agent("/api/osquery/distributed/write", write(false))
                .await
                .0,
            StatusCode::OK
        );
        assert!(
            eventually(|| async {
                !server.store.compliance_reports(host, 1).await.unwrap()[0]
                    .verdict
                    .compliant
            })
            .await,
            "the failing verdict was queued"
        );
        set_faults(&emulator, &Faults::default()).await;

        // Everything settles: R2 completed, R1 superseded, Entra has the newest verdict.
        assert!(
            eventually(|| async {
                let reports = server.store.compliance_reports(host, 10).await.unwrap();
                reports[0].status == ReportStatus::Completed
                    && reports.iter().all(|r| {
                        r.status != ReportStatus::Pending && r.status != ReportStatus::Sending
                    })
            })
            .await,
            "{:?}",
            server.store.compliance_reports(host, 10).await.unwrap()
        );
        let reports = server.store.compliance_reports(host, 10).await.unwrap();
        let statuses: Vec<&str> = reports.iter().map(|r| r.status.as_str()).collect();
        assert_eq!(
            statuses,
            ["completed", "superseded", "completed"],
            "{reports:?}"
        );
        let device = emulator_device(&emulator, DEVICE).await;
        assert_eq!(device["compliance_status"], "notCompliant", "{device}");
        assert_eq!(
            device["uploads"], 2,
            "the superseded verdict was never uploaded: {device}"
        );
        server.finish().await;
    }
}

/// After an outage, queued reports don't sit out their backoffs: a probe
/// notices Microsoft answering again and the tenant's queue goes at once.
#[tokio::test]
async fn after_an_outage_queued_reports_go_out_before_their_backoffs_end() {
    for database in databases().await {
        let emulator = start_emulator(&tenants(), Faults::default()).await;
        // Backoffs far longer than the probe's period.
        let long_backoff = ServerSettings {
            report_backoff: Duration::from_secs(40),
            ..settings(&emulator)
        };
        let Connected {
            server,
            secret,
            policy,
        } = connected(database, long_backoff).await;
        set_faults(
            &emulator,
            &Faults {
                unavailable: 1.0,
                ..Faults::default()
            },
        )
        .await;
        let mut hosts = Vec::new();
        for i in 0..3 {
            let key = enroll_mac(&server, &secret, &format!("UUID-{i}"), &format!("mac-{i}")).await;
            let write = policy_write(
                &key,
                &policy,
                false,
                &format!("device-{i}"),
                &format!("user{}@contoso.com", i + 1),
            );
            assert_eq!(
                server
                    .agent("/api/osquery/distributed/write", write)
                    .await
                    .0,
                StatusCode::OK
            );
            hosts.push(
                server
                    .store
                    .host_by_identifier(&format!("UUID-{i}"))
                    .await
                    .unwrap()
                    .id,
            );
        }
        // Each report has failed and backs off for 40 s or more.
        let backed_off = eventually(|| async {
            let mut all = true;
            for host in &hosts {
                let reports = server.store.compliance_reports(*host, 1).await.unwrap();
                all &= reports
                    .first()
                    .is_some_and(|r| r.status == ReportStatus::Pending && r.attempts >= 1);
            }
            all
        })
        .await;
        assert!(backed_off, "every report was tried and backs off");
        let mut scheduled = Vec::new();
        for host in &hosts {
            scheduled
                .push(server.store.compliance_reports(*host, 1).await.unwrap()[0].next_attempt_at);
        }
        set_faults(&emulator, &Faults::default()).await;
        let delivered = eventually(|| async {
            let mut all = true;
            for host in &hosts {
                all &= server.store.compliance_reports(*host, 1).await.unwrap()[0].status
                    == ReportStatus::Completed;
            }
            all
        })
        .await;
        assert!(delivered, "every report reached Microsoft once it answered");
        for (host, scheduled) in hosts.iter().zip(&scheduled) {
            let report = &server.store.compliance_reports(*host, 1).await.unwrap()[0];
            assert!(
                report.updated_at < *scheduled,
                "delivered at {} although its backoff ran to {scheduled}: {report:?}",
                report.updated_at
            );
        }
        server.finish().await;
    }
}

/// Uploads never wait for earlier ones to be processed: while Microsoft is
/// still processing one Mac's report, the next Mac's is already uploaded.
#[tokio::test]
async fn an_upload_does_not_wait_for_an_earlier_one_to_be_processed() {
    for database in databases().await {
        // Far longer than it takes to decide and send the second report.
        let emulator =
            start_emulator_processing(&tenants(), Faults::default(), Duration::from_secs(15)).await;
        let Connected {
            server,
            secret,
            policy,
        } = connected(database, settings(&emulator)).await;
        let pending = || async {
            emulator_state(&emulator).await["pending_uploads"]
                .as_u64()
                .unwrap_or(0)
        };
        for i in 0..2 {
            let key = enroll_mac(&server, &secret, &format!("UUID-{i}"), &format!("mac-{i}")).await;
            let write = policy_write(
                &key,
                &policy,
                false,
                &format!("device-{i}"),
                &format!("user{}@contoso.com", i + 1),
            );
            assert_eq!(
                server
                    .agent("/api/osquery/distributed/write", write)
                    .await
                    .0,
                StatusCode::OK
            );
            let want = i as u64 + 1;
            assert!(
                eventually(|| async { pending().await >= want }).await,
                "report {want} was uploaded while the earlier one was still being processed"
            );
        }
        assert_eq!(pending().await, 2);
        server.finish().await;
    }
}
