//! Configuration profiles, software titles and saved queries.

use super::{scope_team_id, timestamp};
use flotilla_core::access::Scope;
use flotilla_store::{LabelTarget, ProfileRecord, QueryResultRow, SavedQuery, SoftwarePackage};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ProfileLabel {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct Profile {
    pub profile_uuid: String,
    pub team_id: i64,
    pub name: String,
    pub identifier: String,
    pub platform: &'static str,
    pub checksum: String,
    pub created_at: String,
    pub uploaded_at: String,
    /// Present only for the targeting mode the profile uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels_include_all: Option<Vec<ProfileLabel>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels_include_any: Option<Vec<ProfileLabel>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels_exclude_any: Option<Vec<ProfileLabel>>,
}

impl From<&ProfileRecord> for Profile {
    fn from(profile: &ProfileRecord) -> Profile {
        let labels = |target: LabelTarget| {
            let found: Vec<ProfileLabel> = profile
                .labels
                .iter()
                .filter(|(_, _, t)| *t == target)
                .map(|(id, name, _)| ProfileLabel {
                    id: id.0,
                    name: name.clone(),
                })
                .collect();
            (!found.is_empty()).then_some(found)
        };
        Profile {
            profile_uuid: profile.uuid.clone(),
            team_id: match profile.scope {
                Scope::Team(t) => t.0,
                _ => 0,
            },
            name: profile.name.clone(),
            identifier: profile.identifier.clone(),
            platform: "darwin",
            checksum: profile.checksum.clone(),
            created_at: timestamp(profile.created_at),
            uploaded_at: timestamp(profile.uploaded_at),
            labels_include_all: labels(LabelTarget::IncludeAll),
            labels_include_any: labels(LabelTarget::IncludeAny),
            labels_exclude_any: labels(LabelTarget::ExcludeAny),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProfileCreated {
    pub profile_uuid: String,
}

#[derive(Debug, Serialize)]
pub struct ListMeta {
    pub has_next_results: bool,
    pub has_previous_results: bool,
}

#[derive(Debug, Serialize)]
pub struct ProfilesResponse {
    pub profiles: Vec<Profile>,
    pub meta: ListMeta,
}

#[derive(Debug, Serialize)]
pub struct PackageView {
    pub name: String,
    pub version: String,
    pub hash_sha256: String,
    pub self_service: bool,
    pub install_script: String,
    pub uninstall_script: String,
    pub uploaded_at: String,
}

impl From<&SoftwarePackage> for PackageView {
    fn from(package: &SoftwarePackage) -> PackageView {
        PackageView {
            name: package.filename.clone(),
            version: package.version.clone(),
            hash_sha256: package.sha256.clone(),
            self_service: package.self_service,
            install_script: package.install_script.clone(),
            uninstall_script: package.uninstall_script.clone(),
            uploaded_at: timestamp(package.created_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SoftwareTitle {
    pub id: i64,
    pub name: String,
    pub source: &'static str,
    pub bundle_identifier: String,
    pub versions_count: i64,
    pub software_package: PackageView,
}

impl From<&SoftwarePackage> for SoftwareTitle {
    fn from(package: &SoftwarePackage) -> SoftwareTitle {
        SoftwareTitle {
            id: package.id,
            name: package.title.clone(),
            source: "apps",
            bundle_identifier: package.bundle_id.clone(),
            versions_count: 0,
            software_package: PackageView::from(package),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PackageUploaded {
    pub software_package: PackageView,
    pub title_id: i64,
}

#[derive(Debug, Serialize)]
pub struct SoftwareTitlesResponse {
    pub count: usize,
    pub software_titles: Vec<SoftwareTitle>,
}

#[derive(Debug, Serialize)]
pub struct Query {
    pub id: i64,
    pub team_id: Option<i64>,
    pub name: String,
    pub description: String,
    pub query: String,
    pub platform: String,
    pub interval: i64,
    pub observer_can_run: bool,
    pub automations_enabled: bool,
    pub logging: &'static str,
    pub min_osquery_version: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SavedQuery> for Query {
    fn from(saved: &SavedQuery) -> Query {
        let q = &saved.def;
        Query {
            id: saved.id,
            team_id: scope_team_id(saved.scope),
            name: q.name.clone(),
            description: q.description.clone(),
            query: q.query.clone(),
            platform: q.platform.clone(),
            interval: q.interval,
            observer_can_run: q.observer_can_run,
            automations_enabled: q.automations_enabled,
            logging: q.logging.as_str(),
            min_osquery_version: q.min_osquery_version.clone(),
            created_at: timestamp(saved.created_at),
            updated_at: timestamp(saved.updated_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct QueriesResponse {
    pub queries: Vec<Query>,
}

/// A GitOps installer the server now holds.
#[derive(Debug, Serialize)]
pub struct InstallerStored {
    pub hash_sha256: String,
    pub name: String,
    pub version: String,
    pub bundle_identifier: String,
}

/// `GET /queries/{id}/report` (Fleet's query report).
#[derive(Debug, Serialize)]
pub struct QueryReportResponse {
    pub query_id: i64,
    pub results: Vec<QueryReportResult>,
    pub report_clipped: bool,
}

#[derive(Debug, Serialize)]
pub struct QueryReportResult {
    pub host_id: i64,
    pub host_name: String,
    pub last_fetched: String,
    pub columns: serde_json::Map<String, serde_json::Value>,
}

impl From<&QueryResultRow> for QueryReportResult {
    fn from(row: &QueryResultRow) -> QueryReportResult {
        QueryReportResult {
            host_id: row.host_id.0,
            host_name: row.host_name.clone(),
            last_fetched: super::timestamp(row.fetched_at),
            columns: row.columns.clone(),
        }
    }
}
