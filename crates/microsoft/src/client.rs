//! The HTTP client: tokens, discovery, partner calls.

use crate::error::MicrosoftError;
use crate::report::{DeviceReport, WindowsDeviceUpdate};
use crate::INTUNE_APP_ID;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Tokens are renewed this long before Microsoft says they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// Intune's endpoints rarely move; they are looked up again after a day.
const DISCOVERY_TTL: Duration = Duration::from_secs(86_400);
/// How long one call may take; a report's lease is renewed while it runs.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct MicrosoftConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `https://login.microsoftonline.com`
    pub authority_url: String,
    /// `https://graph.microsoft.com`
    pub graph_url: String,
}

impl std::fmt::Debug for MicrosoftConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicrosoftConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("authority_url", &self.authority_url)
            .field("graph_url", &self.graph_url)
            .finish()
    }
}

/// Which API a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Graph,
    Intune,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Graph => "https://graph.microsoft.com/.default",
            // The double slash is how Intune's resource is written.
            Scope::Intune => "https://api.manage.microsoft.com//.default",
        }
    }
}

/// A device upload's processing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStatus {
    Pending,
    Completed,
    Failed(String),
}

#[derive(Clone)]
struct Endpoints {
    tenant_sync: String,
    device_sync: String,
    found: Instant,
}

struct CachedToken {
    value: String,
    renew_at: Instant,
}

pub struct MicrosoftClient {
    http: reqwest::Client,
    config: MicrosoftConfig,
    tokens: Mutex<HashMap<(String, Scope), CachedToken>>,
    endpoints: Mutex<HashMap<String, Endpoints>>,
    users: Mutex<HashMap<(String, String), String>>,
}

impl MicrosoftClient {
    pub fn new(config: MicrosoftConfig) -> Result<MicrosoftClient, MicrosoftError> {
        if config.client_id.is_empty() || config.client_secret.is_empty() {
            return Err(MicrosoftError::NotConfigured);
        }
        let http = reqwest::Client::builder().timeout(CALL_TIMEOUT).build()?;
        Ok(MicrosoftClient {
            http,
            config,
            tokens: Mutex::default(),
            endpoints: Mutex::default(),
            users: Mutex::default(),
        })
    }

    fn authority(&self) -> &str {
        self.config.authority_url.trim_end_matches('/')
    }

    fn graph(&self) -> &str {
        self.config.graph_url.trim_end_matches('/')
    }

    /// Where to send the admin to consent to the partner app for their tenant.
    pub fn admin_consent_url(&self, tenant: &str, state: &str, redirect_uri: &str) -> String {
        let mut url =
            match reqwest::Url::parse(&format!("{}/{tenant}/adminconsent", self.authority())) {
                Ok(url) => url,
                Err(_) => return String::new(),
            };
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("state", state)
            .append_pair("redirect_uri", redirect_uri);
        url.to_string()
    }

    async fn token(&self, tenant: &str, scope: Scope) -> Result<String, MicrosoftError> {
        let key = (tenant.to_string(), scope);
        if let Ok(tokens) = self.tokens.lock() {
            if let Some(token) = tokens.get(&key).filter(|t| Instant::now() < t.renew_at) {
                return Ok(token.value.clone());
            }
        }
        let response = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.authority()))
            .form(&[
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
                ("grant_type", "client_credentials"),
                ("scope", scope.as_str()),
            ])
            .send()
            .await?;
        let status = response.status();
        let wait = retry_after(&response);
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if is_unavailable(status) {
            return Err(MicrosoftError::Unavailable {
                call: "token",
                status: status.as_u16(),
                retry_after: wait,
                body: body.to_string(),
            });
        }
        if !status.is_success() {
            let reason = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given");
            return Err(MicrosoftError::Credentials(reason.to_string()));
        }
        let value = body["access_token"]
            .as_str()
            .ok_or(MicrosoftError::Protocol {
                call: "token",
                detail: "no access_token".into(),
            })?;
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(3599));
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(
                key,
                CachedToken {
                    value: value.to_string(),
                    renew_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
                },
            );
        }
        Ok(value.to_string())
    }

    fn drop_token(&self, tenant: &str, scope: Scope) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(&(tenant.to_string(), scope));
        }
    }

    /// One authenticated call, made once: the outbox owns retries. A 401
    /// drops the token and tries once more with a fresh one (a token not yet
    /// replicated in Microsoft is refused once); 429 and 5xx are
    /// `Unavailable`, with Microsoft's Retry-After.
    async fn call(
        &self,
        call: &'static str,
        tenant: &str,
        scope: Scope,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), MicrosoftError> {
        let mut refreshed = false;
        loop {
            let token = self.token(tenant, scope).await?;
            let mut request = self.http.request(method.clone(), url).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.drop_token(tenant, scope);
                continue;
            }
            let wait = retry_after(&response);
            let text = response.text().await?;
            if is_unavailable(status) {
                tracing::debug!(call, %status, ?wait, "Microsoft is unavailable");
                return Err(MicrosoftError::Unavailable {
                    call,
                    status: status.as_u16(),
                    retry_after: wait,
                    body: text,
                });
            }
            let value = if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            return Ok((status, value));
        }
    }

    /// A call whose non-2xx answers are errors.
    async fn call_ok(
        &self,
        call: &'static str,
        tenant: &str,
        scope: Scope,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, MicrosoftError> {
        let (status, value) = self.call(call, tenant, scope, method, url, body).await?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(MicrosoftError::Status {
                call,
                status: status.as_u16(),
                body: value.to_string(),
            })
        }
    }

    async fn endpoints(&self, tenant: &str) -> Result<Endpoints, MicrosoftError> {
        if let Ok(cache) = self.endpoints.lock() {
            if let Some(found) = cache
                .get(tenant)
                .filter(|e| e.found.elapsed() < DISCOVERY_TTL)
            {
                return Ok(found.clone());
            }
        }
        let mut url = reqwest::Url::parse(&format!("{}/v1.0/servicePrincipals", self.graph()))
            .map_err(|e| MicrosoftError::Protocol {
                call: "discovery",
                detail: e.to_string(),
            })?;
        url.query_pairs_mut()
            .append_pair("$filter", &format!("appId eq '{INTUNE_APP_ID}'"));
        let principals = self
            .call_ok(
                "servicePrincipals",
                tenant,
                Scope::Graph,
                Method::GET,
                url.as_str(),
                None,
            )
            .await?;
        let principal = principals["value"][0]["id"]
            .as_str()
            .ok_or(MicrosoftError::EndpointsMissing)?;
        let listed = self
            .call_ok(
                "endPoints",
                tenant,
                Scope::Graph,
                Method::GET,
                &format!(
                    "{}/v1.0/servicePrincipals/{principal}/endPoints",
                    self.graph()
                ),
                None,
            )
            .await?;
        let uri = |provider: &str| {
            listed["value"]
                .as_array()
                .and_then(|all| all.iter().find(|e| e["providerName"] == provider))
                .and_then(|e| e["uri"].as_str())
                .map(|u| u.trim_end_matches('/').to_string())
        };
        let endpoints = Endpoints {
            tenant_sync: uri("PartnerTenantDataSyncService")
                .ok_or(MicrosoftError::EndpointsMissing)?,
            device_sync: uri("PartnerDeviceDataSyncService")
                .ok_or(MicrosoftError::EndpointsMissing)?,
            found: Instant::now(),
        };
        if let Ok(mut cache) = self.endpoints.lock() {
            cache.insert(tenant.to_string(), endpoints.clone());
        }
        Ok(endpoints)
    }

    async fn set_provisioned(
        &self,
        tenant: &str,
        provisioned: u8,
        enrollment_url: &str,
        remediation_url: &str,
    ) -> Result<(), MicrosoftError> {
        let endpoints = self.endpoints(tenant).await?;
        let url = format!(
            "{}/PartnerTenants(guid'{tenant}')?api-version=1.6",
            endpoints.tenant_sync
        );
        let body = json!({"Provisioned": provisioned, "PartnerEnrollmentUrl": enrollment_url, "PartnerRemediationUrl": remediation_url});
        self.call_ok(
            "PartnerTenants",
            tenant,
            Scope::Intune,
            Method::PUT,
            &url,
            Some(&body),
        )
        .await?;
        Ok(())
    }

    /// Activates Flotilla as the tenant's compliance partner.
    pub async fn provision(
        &self,
        tenant: &str,
        enrollment_url: &str,
        remediation_url: &str,
    ) -> Result<(), MicrosoftError> {
        self.set_provisioned(tenant, 1, enrollment_url, remediation_url)
            .await
    }

    /// Deactivates Flotilla as the tenant's compliance partner.
    pub async fn deprovision(
        &self,
        tenant: &str,
        enrollment_url: &str,
        remediation_url: &str,
    ) -> Result<(), MicrosoftError> {
        self.set_provisioned(tenant, 2, enrollment_url, remediation_url)
            .await
    }

    /// Creates the partner compliance policy (or reuses the existing one) and
    /// assigns it to the Entra group with this display name. Returns the policy id.
    pub async fn ensure_compliance_policy(
        &self,
        tenant: &str,
        group_name: &str,
    ) -> Result<String, MicrosoftError> {
        let endpoints = self.endpoints(tenant).await?;
        let group = self.group_id(tenant, group_name).await?;
        let collection = format!(
            "{}/PartnerCompliancePolicies?api-version=1.6",
            endpoints.tenant_sync
        );
        let body = json!({
            "DisplayName": "Flotilla macOS compliance",
            "Description": "Compliance of Macs is reported by Flotilla from the policies its admins choose.",
            "Platform": "macOS",
            "PartnerManagedCompliance": true
        });
        let (status, created) = self
            .call(
                "PartnerCompliancePolicies",
                tenant,
                Scope::Intune,
                Method::POST,
                &collection,
                Some(&body),
            )
            .await?;
        let policy = if status == StatusCode::CONFLICT {
            let existing = self
                .call_ok(
                    "PartnerCompliancePolicies",
                    tenant,
                    Scope::Intune,
                    Method::GET,
                    &collection,
                    None,
                )
                .await?;
            existing["value"][0]["Id"].as_str().map(str::to_string)
        } else if status.is_success() {
            created["Id"].as_str().map(str::to_string)
        } else {
            return Err(MicrosoftError::Status {
                call: "PartnerCompliancePolicies",
                status: status.as_u16(),
                body: created.to_string(),
            });
        }
        .ok_or(MicrosoftError::Protocol {
            call: "PartnerCompliancePolicies",
            detail: "no policy Id".into(),
        })?;
        let assign = format!(
            "{}/PartnerCompliancePolicies(guid'{policy}')/Assign?api-version=1.6",
            endpoints.tenant_sync
        );
        self.call_ok(
            "Assign",
            tenant,
            Scope::Intune,
            Method::POST,
            &assign,
            Some(&json!({"assignments": [group]})),
        )
        .await?;
        Ok(policy)
    }

    async fn group_id(&self, tenant: &str, name: &str) -> Result<String, MicrosoftError> {
        let mut url =
            reqwest::Url::parse(&format!("{}/v1.0/groups", self.graph())).map_err(|e| {
                MicrosoftError::Protocol {
                    call: "groups",
                    detail: e.to_string(),
                }
            })?;
        url.query_pairs_mut().append_pair(
            "$filter",
            &format!("displayName eq '{}'", name.replace('\'', "''")),
        );
        let groups = self
            .call_ok(
                "groups",
                tenant,
                Scope::Graph,
                Method::GET,
                url.as_str(),
                None,
            )
            .await?;
        groups["value"][0]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| MicrosoftError::GroupMissing(name.to_string()))
    }

    /// The Entra object id of a user, by user principal name (cached).
    pub async fn user_id(&self, tenant: &str, upn: &str) -> Result<String, MicrosoftError> {
        let key = (tenant.to_string(), upn.to_lowercase());
        if let Some(id) = self
            .users
            .lock()
            .ok()
            .and_then(|users| users.get(&key).cloned())
        {
            return Ok(id);
        }
        let url = format!("{}/v1.0/users('{}')", self.graph(), upn.replace('\'', "''"));
        let (status, user) = self
            .call("users", tenant, Scope::Graph, Method::GET, &url, None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(MicrosoftError::UserMissing(upn.to_string()));
        }
        if !status.is_success() {
            return Err(MicrosoftError::Status {
                call: "users",
                status: status.as_u16(),
                body: user.to_string(),
            });
        }
        let id = user["id"].as_str().ok_or(MicrosoftError::Protocol {
            call: "users",
            detail: "no id".into(),
        })?;
        if let Ok(mut users) = self.users.lock() {
            users.insert(key, id.to_string());
        }
        Ok(id.to_string())
    }

    /// Uploads a Mac's report; returns the upload's message id for [`Self::upload_status`].
    pub async fn upload(&self, report: &DeviceReport) -> Result<String, MicrosoftError> {
        let endpoints = self.endpoints(&report.tenant_id).await?;
        let message = uuid::Uuid::new_v4().to_string();
        let url = format!(
            "{}/DataUploadMessages(guid'{message}')?api-version=1.2",
            endpoints.device_sync
        );
        self.call_ok(
            "DataUploadMessages",
            &report.tenant_id,
            Scope::Intune,
            Method::PUT,
            &url,
            Some(&report.upload_body()),
        )
        .await?;
        Ok(message)
    }

    pub async fn upload_status(
        &self,
        tenant: &str,
        message: &str,
    ) -> Result<UploadStatus, MicrosoftError> {
        let endpoints = self.endpoints(tenant).await?;
        let url = format!(
            "{}/DataUploadMessages(guid'{message}')?api-version=1.2",
            endpoints.device_sync
        );
        let status = self
            .call_ok(
                "DataUploadMessages",
                tenant,
                Scope::Intune,
                Method::GET,
                &url,
                None,
            )
            .await?;
        Ok(match status["Status"].as_str() {
            Some("Completed") => UploadStatus::Completed,
            Some("Failed") => UploadStatus::Failed(
                status["ErrorDetail"]
                    .as_str()
                    .unwrap_or("no detail")
                    .to_string(),
            ),
            _ => UploadStatus::Pending,
        })
    }

    /// Windows: compliance goes straight onto the Entra device object.
    pub async fn update_windows_device(
        &self,
        tenant: &str,
        update: &WindowsDeviceUpdate,
    ) -> Result<(), MicrosoftError> {
        let url = format!(
            "{}/v1.0/devices(deviceId='{}')",
            self.graph(),
            update.device_id
        );
        let body = json!({
            "displayName": update.display_name,
            "operatingSystemVersion": update.os_version,
            "isManaged": update.managed,
            "isCompliant": update.compliant
        });
        self.call_ok(
            "devices",
            tenant,
            Scope::Graph,
            Method::PATCH,
            &url,
            Some(&body),
        )
        .await?;
        Ok(())
    }
}

/// Microsoft's Retry-After, in seconds.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Throttling and server trouble: the answers worth trying again later.
fn is_unavailable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}
