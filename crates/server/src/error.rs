//! Errors as Fleet's clients expect them: `{"message", "errors": [{"name", "reason"}]}`
//! with a status that says what went wrong.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flotilla_core::{FieldError, ValidationErrors};
use flotilla_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// Malformed request (bad JSON, bad path or query parameter).
    BadRequest(String),
    /// No valid credentials.
    Unauthenticated,
    /// Valid credentials, not allowed.
    Forbidden,
    NotFound(String),
    Conflict(String),
    /// Well-formed input that breaks a rule; each field named.
    Invalid(ValidationErrors),
    PayloadTooLarge,
    TooManyRequests,
    Internal,
}

impl ApiError {
    pub fn invalid(field: &str, reason: impl Into<String>) -> ApiError {
        ApiError::Invalid(ValidationErrors::single(field, reason))
    }

    fn parts(&self) -> (StatusCode, String, Vec<FieldError>) {
        let base = |reason: &str| {
            vec![FieldError {
                name: "base".into(),
                reason: reason.into(),
            }]
        };
        match self {
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, "Bad request".into(), base(msg)),
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "Authentication required".into(),
                base("Authentication required"),
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Permission Denied".into(),
                base("forbidden"),
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Resource Not Found".into(),
                base(&format!("{what} was not found in the datastore")),
            ),
            ApiError::Conflict(msg) => (
                StatusCode::CONFLICT,
                "Resource Already Exists".into(),
                base(msg),
            ),
            ApiError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation Failed".into(),
                errors.0.clone(),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large".into(),
                base("request body is larger than this endpoint accepts"),
            ),
            ApiError::TooManyRequests => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests".into(),
                base("too many requests, try again later"),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error".into(),
                base("internal server error"),
            ),
        }
    }
}

impl ApiError {
    /// The status and the most specific reason, for error bodies of other shapes.
    pub fn status_and_reason(&self) -> (StatusCode, String) {
        let (status, message, errors) = self.parts();
        let reason = errors
            .into_iter()
            .map(|e| e.reason)
            .next()
            .unwrap_or(message);
        (status, reason)
    }
}

/// How long a throttled client waits, as `Retry-After` says.
pub const RETRY_AFTER_SECS: u64 = 60;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message, errors) = self.parts();
        let mut response = (
            status,
            Json(json!({ "message": message, "errors": errors })),
        )
            .into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::NotFound(what.to_string()),
            StoreError::Conflict(msg) => ApiError::Conflict(msg),
            StoreError::Rejected(errors) => ApiError::Invalid(errors),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::Internal
            }
        }
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(err: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError;
        match err {
            ServiceError::Forbidden(_) => ApiError::Forbidden,
            ServiceError::Unauthenticated | ServiceError::NodeInvalid(_) => {
                ApiError::Unauthenticated
            }
            ServiceError::NotFound(what) => ApiError::NotFound(what),
            ServiceError::Conflict(msg) => ApiError::Conflict(msg),
            ServiceError::Invalid(errors) => ApiError::Invalid(errors),
            ServiceError::Throttled => ApiError::TooManyRequests,
            ServiceError::Internal => ApiError::Internal,
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        ApiError::Invalid(errors)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body, whatever the Content-Type says (agents and scripts often omit
/// it, and Fleet reads them anyway); rejections speak Fleet's error body.
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::BadRequest(rejection.body_text())
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))
    }
}

/// `Path<T>` whose rejections speak Fleet's error body.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParam<T>(pub T);

/// `Query<T>` whose rejections speak Fleet's error body.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);
