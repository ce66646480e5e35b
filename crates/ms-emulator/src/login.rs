//! login.microsoftonline.com: client-credentials tokens and admin consent.

use crate::state::{Consent, Emulator, Token};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const SCOPES: &[&str] = &[
    "https://graph.microsoft.com/.default",
    "https://api.manage.microsoft.com//.default",
];

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

pub async fn token(
    State(emulator): State<Arc<Emulator>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: grant_type must be client_credentials",
        );
    }
    if field("client_id") != emulator.config.client_id
        || field("client_secret") != emulator.config.client_secret
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let scope = field("scope");
    if !SCOPES.contains(&scope) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS70011: The provided scope is not valid.",
        );
    }
    let mut world = emulator.lock();
    if world.tenant(&tenant).is_none() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS90002: Tenant not found.",
        );
    }
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let value: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let lifetime = emulator.config.token_lifetime;
    world.tokens.insert(
        value.clone(),
        Token {
            tenant: tenant.to_lowercase(),
            scope: scope.to_string(),
            expires: Instant::now() + lifetime,
        },
    );
    Json(json!({"token_type": "Bearer", "expires_in": lifetime.as_secs(), "ext_expires_in": lifetime.as_secs(), "access_token": value}))
        .into_response()
}

#[derive(Deserialize)]
pub struct ConsentParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    redirect_uri: String,
}

/// The admin's consent: granted (or refused, as the tenant is configured) at
/// once, and sent back to the partner's redirect URI.
pub async fn admin_consent(
    State(emulator): State<Arc<Emulator>>,
    Path(tenant): Path<String>,
    Query(params): Query<ConsentParams>,
) -> Response {
    if params.client_id != emulator.config.client_id {
        return (
            StatusCode::BAD_REQUEST,
            "AADSTS700016: Application not found in the directory.",
        )
            .into_response();
    }
    let Ok(mut redirect) = url_with_query(&params.redirect_uri) else {
        return (
            StatusCode::BAD_REQUEST,
            "AADSTS50011: The redirect URI is not valid.",
        )
            .into_response();
    };
    let consent = emulator.lock().tenant(&tenant).map(|t| t.spec.consent);
    match consent {
        Some(Consent::Grant) => {
            redirect.push("admin_consent", "True");
            redirect.push("tenant", &tenant);
        }
        Some(Consent::Refuse) => {
            redirect.push("error", "access_denied");
            redirect.push(
                "error_description",
                "AADSTS65004: The administrator declined to consent to the application.",
            );
        }
        None => {
            redirect.push("error", "invalid_request");
            redirect.push("error_description", "AADSTS90002: Tenant not found.");
        }
    }
    redirect.push("state", &params.state);
    Redirect::to(&redirect.build()).into_response()
}

/// A URL to which query parameters are appended, percent-encoded.
struct UrlWithQuery {
    base: String,
    pairs: Vec<String>,
}

fn url_with_query(url: &str) -> Result<UrlWithQuery, ()> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(());
    }
    Ok(UrlWithQuery {
        base: url.to_string(),
        pairs: Vec::new(),
    })
}

impl UrlWithQuery {
    fn push(&mut self, key: &str, value: &str) {
        self.pairs.push(format!("{key}={}", encode(value)));
    }

    fn build(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.base, self.pairs.join("&"))
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
