//! End-user pages: My device (`/device/{token}`, reached from Fleet Desktop)
//! and the pages Microsoft links to from Company Portal.

use super::{bare_page, redirect, PageError, PageResult};
use crate::error::PathParam;
use crate::service::device::{self, MyDevice};
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::IntoResponse;
use flotilla_core::PolicyResponse;
use flotilla_store::HostPolicy;
use maud::html;
use std::collections::HashMap;
use std::net::SocketAddr;

fn expired() -> PageError {
    PageError::NotFound(
        "This My device link has expired. Open it again from the Fleet Desktop menu.".into(),
    )
}

fn response_order(policy: &HostPolicy) -> u8 {
    match policy.response {
        PolicyResponse::Fail => 0,
        PolicyResponse::Unknown => 1,
        PolicyResponse::Pass => 2,
    }
}

pub async fn my_device(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let MyDevice {
        host,
        mut policies,
        last_report,
        ..
    } = match device::my_device(&state, addr.ip(), &token).await {
        Ok(device) => device,
        Err(ServiceError::Unauthenticated) => return Err(expired()),
        Err(err) => return Err(err.into()),
    };
    policies.sort_by_key(response_order);
    let failing = policies
        .iter()
        .filter(|p| p.response == PolicyResponse::Fail)
        .count();
    let name = if host.computer_name.is_empty() {
        &host.hostname
    } else {
        &host.computer_name
    };
    let api = format!("/api/latest/fleet/device/{token}");
    let body = html! {
        main {
            h1 { "My device: " (name) }
            dl.facts {
                dt { "Serial number" } dd { (host.hardware_serial) }
                dt { "Operating system" } dd { (host.os_version) }
                dt { "Team" } dd { (host.team_name.as_deref().unwrap_or("No team")) }
                dt { "Compliance" }
                dd {
                    @if failing == 0 {
                        span.badge.good { "All policies pass" }
                    } @else {
                        span.badge.bad { (failing) " failing " (if failing == 1 { "policy" } else { "policies" }) }
                    }
                    @if let Some(report) = &last_report {
                        " · Microsoft Entra was told: "
                        strong { (if report.verdict.compliant { "compliant" } else { "not compliant" }) }
                        " (" (super::time(report.created_at)) ")"
                    }
                }
                dt { "Last updated" } dd { (host.policy_updated_at.map_or("never".into(), super::time)) }
            }
            @if query.contains_key("refetching") {
                p.notice role="status" { "Refetch requested: the device sends new results at its next check-in." }
            }
            form method="post" action=(format!("/device/{token}/refetch")) data-refetch=(api) {
                p {
                    button type="submit" { "Refetch" }
                    " "
                    span #refetch-status role="status" aria-live="polite" {}
                }
            }
            h2 { "Policies" }
            @if policies.is_empty() {
                p.empty { "No policies apply to this device." }
            } @else {
                table {
                    thead { tr { th { "Policy" } th { "Status" } th { "How to fix" } } }
                    tbody {
                        @for entry in &policies {
                            tr {
                                td { strong { (entry.policy.name) } br; span.unknown { (entry.policy.description) } }
                                td { (status_cell(entry.response)) }
                                td { @if entry.response != PolicyResponse::Pass { (entry.policy.resolution) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(bare_page("My device", body).into_response())
}

pub fn status_cell(response: PolicyResponse) -> maud::Markup {
    html! {
        @match response {
            PolicyResponse::Pass => span.pass { "Pass" },
            PolicyResponse::Fail => span.fail { "Fail" },
            PolicyResponse::Unknown => span.unknown { "Unknown" },
        }
    }
}

/// Without script: ask for a refetch and come back to the page.
pub async fn refetch(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    PathParam(token): PathParam<String>,
) -> PageResult {
    match device::refetch(&state, addr.ip(), &token).await {
        Ok(()) => {}
        Err(ServiceError::Unauthenticated) => return Err(expired()),
        Err(err) => return Err(err.into()),
    }
    Ok(redirect(&format!("/device/{token}?refetching=1")))
}

pub async fn partner_enroll() -> PageResult {
    let body = html! {
        main.narrow {
            h1 { "Enroll this Mac" }
            p { "Your organization checks this Mac's security settings with Flotilla before it lets it open Microsoft 365." }
            ol {
                li { "Install your organization's agent (fleetd) from the package your IT team gave you, or ask them for it." }
                li { "Once it is installed, open " strong { "Company Portal" } " and sign in with your work account." }
                li { "Flotilla reports this Mac to Microsoft Entra within a minute; then try again." }
            }
        }
    };
    Ok(bare_page("Enroll", body).into_response())
}

pub async fn partner_remediate() -> PageResult {
    let body = html! {
        main.narrow {
            h1 { "Fix this Mac's compliance" }
            p { "This Mac doesn't meet one or more of your organization's policies, so Microsoft 365 is blocked on it." }
            ol {
                li { "Open the Fleet Desktop menu in the menu bar and choose " strong { "My device" } "." }
                li { "Follow the steps next to each failing policy." }
                li { "Choose " strong { "Refetch" } ". When every policy passes, access returns within a minute." }
            }
        }
    };
    Ok(bare_page("Remediate", body).into_response())
}
