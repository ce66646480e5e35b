//! Hosts: the paginated list with search and filters, and one host's page.

use super::device::status_cell;
use super::{csrf_field, page, redirect, time, visible_teams, Form, PageResult, Viewer};
use crate::error::PathParam;
use crate::service::hosts::{self, HostDetails};
use crate::service::labels;
use crate::AppState;
use axum::extract::{Query, State};
use flotilla_core::compliance::EntraStatus;
use flotilla_core::{HostId, LabelId, TeamId};
use flotilla_store::{HostFilter, HostOrder, HostRecord, Page, TeamFilter};
use maud::html;
use std::collections::HashMap;

const PER_PAGE: i64 = 50;

fn mdm_status(host: &HostRecord) -> &'static str {
    match host.mdm_enrolled {
        Some(true) if host.mdm_installed_from_dep => "On (automatic)",
        Some(true) => "On (manual)",
        Some(false) => "Off",
        None => "Unknown",
    }
}

pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let page_number: i64 = get("page").parse().unwrap_or(0).max(0);
    let team = match get("team_id") {
        "" | "all" => TeamFilter::Any,
        "0" => TeamFilter::NoTeam,
        id => id
            .parse()
            .map_or(TeamFilter::Any, |id| TeamFilter::Team(TeamId(id))),
    };
    let filter = HostFilter {
        team,
        label: get("label_id").parse().ok().map(LabelId),
        query: Some(get("query").to_string()).filter(|s| !s.is_empty()),
        platform: Some(get("platform").to_string()).filter(|s| !s.is_empty()),
        compliant: match get("compliance") {
            "compliant" => Some(true),
            "noncompliant" => Some(false),
            _ => None,
        },
        ..HostFilter::default()
    };
    let caller = viewer.caller();
    let total = hosts::count(&state, &caller, filter.clone()).await?;
    let page_of_hosts = Page {
        page: page_number,
        per_page: PER_PAGE,
        order: HostOrder::Hostname,
        descending: false,
    };
    let hosts = hosts::list(&state, &caller, filter.clone(), page_of_hosts).await?;
    let reports = hosts::latest_reports(&state, &hosts).await?;
    let teams = visible_teams(&state, &viewer).await?;
    let labels = labels::list(&state, &caller).await?;
    let now = state.now();
    let link = |page: i64| {
        let mut params: Vec<String> = q
            .iter()
            .filter(|(k, _)| *k != "page")
            .map(|(k, v)| format!("{k}={}", super::urlencode(v)))
            .collect();
        params.sort();
        params.push(format!("page={page}"));
        format!("/hosts?{}", params.join("&"))
    };
    let content = html! {
        h1 { "Hosts " span.badge { (total) } }
        form.toolbar method="get" action="/hosts" {
            div { label for="query" { "Search" } input #query type="search" name="query" value=(get("query")) placeholder="Hostname or serial"; }
            div {
                label for="team_id" { "Team" }
                select #team_id name="team_id" {
                    option value="all" { "All teams" }
                    option value="0" selected[get("team_id") == "0"] { "No team" }
                    @for t in &teams { option value=(t.id.0) selected[get("team_id") == t.id.0.to_string()] { (t.name) } }
                }
            }
            div {
                label for="label_id" { "Label" }
                select #label_id name="label_id" {
                    option value="" { "Any label" }
                    @for l in &labels { option value=(l.id.0) selected[get("label_id") == l.id.0.to_string()] { (l.name) } }
                }
            }
            div {
                label for="platform" { "Platform" }
                select #platform name="platform" {
                    option value="" { "Any" }
                    @for (value, name) in [("darwin", "macOS"), ("windows", "Windows"), ("ubuntu", "Ubuntu"), ("chrome", "ChromeOS")] {
                        option value=(value) selected[get("platform") == value] { (name) }
                    }
                }
            }
            div {
                label for="compliance" { "Compliance" }
                select #compliance name="compliance" {
                    option value="" { "Any" }
                    option value="compliant" selected[get("compliance") == "compliant"] { "Compliant" }
                    option value="noncompliant" selected[get("compliance") == "noncompliant"] { "Not compliant" }
                }
            }
            button type="submit" { "Filter" }
        }
        @if hosts.is_empty() && filter.query.is_none() && filter.team == TeamFilter::Any && filter.label.is_none() {
            div.empty {
                h2 { "No hosts yet" }
                p { "Install fleetd (or osquery) on a Mac with this server's URL and an enroll secret from " a href="/teams" { "Teams" } "." }
                p { "For osquery: " code { "--tls_hostname=<this server> --enroll_secret_path=<file with the secret> --config_plugin=tls --distributed_plugin=tls" } }
            }
        } @else if hosts.is_empty() {
            p.empty { "No hosts match these filters." }
        } @else {
            table {
                thead { tr { th { "Hostname" } th { "Serial" } th { "OS" } th { "Team" } th { "MDM" } th { "Last seen" } th { "Failing policies" } th { "Compliance (Entra)" } } }
                tbody {
                    @for h in &hosts {
                        tr {
                            td { a href=(format!("/hosts/{}", h.id.0)) { (if h.computer_name.is_empty() { &h.hostname } else { &h.computer_name }) } }
                            td { (h.hardware_serial) }
                            td { (h.os_version) }
                            td { (h.team_name.as_deref().unwrap_or("No team")) }
                            td { (mdm_status(h)) }
                            td { @if now - h.seen_at <= 120 { span.badge.good { "Online" } } @else { (time(h.seen_at)) } }
                            td { @if h.failing_policies > 0 { span.fail { (h.failing_policies) } } @else { "0" } }
                            td {
                                @match reports.get(&h.id) {
                                    Some(r) if r.verdict.compliant => span.badge.good { "Compliant" },
                                    Some(_) => span.badge.bad { "Not compliant" },
                                    None => span.unknown { "Not reported" },
                                }
                            }
                        }
                    }
                }
            }
            div.pager {
                @if page_number > 0 { a href=(link(page_number - 1)) { "← Previous" } }
                span { "Page " (page_number + 1) " of " (((total + PER_PAGE - 1) / PER_PAGE).max(1)) }
                @if (page_number + 1) * PER_PAGE < total { a href=(link(page_number + 1)) { "Next →" } }
            }
        }
    };
    Ok(page(&viewer, "Hosts", "/hosts", content))
}

pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
) -> PageResult {
    let caller = viewer.caller();
    let HostDetails {
        host,
        labels,
        policies,
        entra_claims,
    } = hosts::details(&state, &caller, HostId(id)).await?;
    let (facts, reports) = hosts::compliance(&state, &caller, host.id, 20).await?;
    let name = if host.computer_name.is_empty() {
        host.hostname.clone()
    } else {
        host.computer_name.clone()
    };
    let content = html! {
        h1 { (name) }
        // Anyone who sees a host may ask it for fresh results, as in Fleet.
        form method="post" action=(format!("/hosts/{}/refetch", host.id.0)) {
            (csrf_field(&viewer))
            button type="submit" { "Refetch" }
            @if host.refetch_requested { " " span.badge { "Refetch pending" } }
        }
        @for claim in &entra_claims {
            p.problem {
                @if claim.claimant == host.id {
                    "Warning: this host reported Entra device ID " (claim.device_id) ", which host "
                    a href=(format!("/hosts/{}", claim.owner.0)) { (claim.owner.0) }
                    " holds. Its report is not sent to Microsoft."
                } @else {
                    "Warning: host " a href=(format!("/hosts/{}", claim.claimant.0)) { (claim.claimant.0) }
                    " reported this Mac's Entra device ID " (claim.device_id) ". Its report is not sent to Microsoft."
                }
            }
        }
        h2 { "Vitals" }
        dl.facts {
            dt { "Hostname" } dd { (host.hostname) }
            dt { "Serial number" } dd { (host.hardware_serial) }
            dt { "Model" } dd { (host.hardware_model) }
            dt { "Operating system" } dd { (host.os_version) }
            dt { "osquery" } dd { (host.osquery_version) }
            dt { "fleetd" } dd { (host.fleetd.orbit_version.as_deref().unwrap_or("not installed (plain osquery)")) }
            dt { "Entra identity" } dd { (EntraStatus::of(&host.platform, host.fleetd.present(), host.entra.is_some()).message()) }
            dt { "Team" } dd { (host.team_name.as_deref().unwrap_or("No team")) }
            dt { "MDM" } dd { (mdm_status(&host)) @if !host.mdm_server_url.is_empty() { " · " (host.mdm_server_url) } }
            dt { "Last seen" } dd { (time(host.seen_at)) }
            dt { "Entra device ID" } dd { (facts.identity.as_ref().map_or("—", |i| i.device_id.as_str())) }
            dt { "Entra user (UPN)" } dd { (facts.identity.as_ref().map_or("—", |i| i.upn.as_str())) }
        }
        h2 { "Labels" }
        p { @for l in &labels { span.badge { (l.name) } " " } }
        h2 { "Policies" }
        @if policies.is_empty() { p.empty { "No policies apply to this host." } } @else {
            table {
                thead { tr { th { "Policy" } th { "Status" } th { "Resolution" } } }
                tbody { @for p in &policies { tr { td { (p.policy.name) } td { (status_cell(p.response)) } td { (p.policy.resolution) } } } }
            }
        }
        h2 { "Compliance reported to Microsoft Entra" }
        @if reports.is_empty() { p.empty { "Nothing reported yet: the host's team doesn't report, or the host has no Entra identity." } } @else {
            table {
                thead { tr { th { "When" } th { "Verdict" } th { "Delivery" } } }
                tbody {
                    @for r in &reports {
                        tr {
                            td { (time(r.created_at)) }
                            td { (if r.verdict.compliant { "Compliant" } else { "Not compliant" }) (if r.verdict.managed { "" } else { " (not managed)" }) }
                            td { (r.status) @if !r.error.is_empty() { " · " span.error { (r.error) } } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&viewer, &name, "/hosts", content))
}

pub async fn refetch(
    State(state): State<AppState>,
    viewer: Viewer,
    PathParam(id): PathParam<i64>,
    form: Form,
) -> PageResult {
    viewer.check_csrf(&form)?;
    hosts::refetch(&state, &viewer.caller(), HostId(id)).await?;
    Ok(redirect(&format!("/hosts/{id}")))
}
