//! The web console: server-rendered HTML (maud) for admins, and the end
//! user's pages (My device, the Microsoft partner enroll/remediate pages).
//! No front-end build and nothing from a CDN: one stylesheet and one small
//! script are compiled in. Pages call the same use cases (`service`) as the
//! REST API; forms are protected by a per-session CSRF token.

mod activities;
mod assets;
mod device;
mod hosts;
mod labels;
mod library;
mod policies;
mod session;
mod settings;
mod teams;

use crate::auth::principal_of;
use crate::error::ApiError;
use crate::secrets::{sha256_hex, token_hash};
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use flotilla_core::access::{Principal, Scope};
use flotilla_core::TeamId;
use flotilla_store::{TeamRecord, UserRecord};
use maud::{html, Markup, DOCTYPE};
use std::collections::HashMap;

pub const SESSION_COOKIE: &str = "flotilla_session";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(session::home))
        .route("/setup", get(session::setup_page).post(session::setup))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/assets/console.css", get(assets::stylesheet))
        .route("/assets/console.js", get(assets::script))
        .route("/hosts", get(hosts::list))
        .route("/hosts/{id}", get(hosts::show))
        .route("/hosts/{id}/refetch", post(hosts::refetch))
        .route("/teams", get(teams::list).post(teams::create))
        .route("/teams/{id}/rename", post(teams::rename))
        .route("/teams/{id}/delete", post(teams::delete))
        .route("/teams/{id}/secrets/rotate", post(teams::rotate_secret))
        .route("/labels", get(labels::list))
        .route("/labels/new", get(labels::new_page).post(labels::create))
        .route(
            "/labels/{id}/edit",
            get(labels::edit_page).post(labels::update),
        )
        .route("/labels/{id}/delete", post(labels::delete))
        .route("/policies", get(policies::list))
        .route(
            "/policies/new",
            get(policies::new_page).post(policies::create),
        )
        .route(
            "/policies/{id}/edit",
            get(policies::edit_page).post(policies::update),
        )
        .route("/policies/{id}/delete", post(policies::delete))
        .route(
            "/policies/automations/conditional-access",
            get(policies::automation_page).post(policies::save_automation),
        )
        .route(
            "/settings/integrations/conditional-access",
            get(settings::conditional_access).post(settings::connect),
        )
        .route(
            "/settings/integrations/conditional-access/delete",
            post(settings::disconnect),
        )
        .route(
            "/software",
            get(library::software).post(library::upload_software),
        )
        .route(
            "/controls",
            get(library::profiles).post(library::upload_profile),
        )
        .route("/activities", get(activities::list))
        .route("/device/{token}", get(device::my_device))
        .route("/device/{token}/refetch", post(device::refetch))
        .route(
            "/microsoft-compliance-partner/enroll",
            get(device::partner_enroll),
        )
        .route(
            "/microsoft-compliance-partner/remediate",
            get(device::partner_remediate),
        )
        .route_layer(axum::middleware::map_response(crate::headers::no_store))
}

/// The signed-in admin a console page is for.
pub struct Viewer {
    pub user: UserRecord,
    pub principal: Principal,
    pub token_hash: String,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Viewer {
    /// The caller the service layer acts for.
    pub fn caller(&self) -> crate::service::Caller {
        crate::service::Caller::of(&self.user)
    }

    pub fn can_write(&self, scope: Scope) -> bool {
        self.principal.can_write(scope)
    }

    /// Refuses a form whose CSRF token isn't this session's.
    pub fn check_csrf(&self, form: &Form) -> Result<(), PageError> {
        if form.get("csrf") == self.csrf {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "This form has expired. Reload the page and try again.".into(),
            ))
        }
    }
}

/// The CSRF token of a session: derived from its token, so it needs no storage
/// and dies with the session.
fn csrf_token(token_hash: &str) -> String {
    sha256_hex(format!("csrf:{token_hash}").as_bytes())
}

pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || {
            let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let hash = token_hash(token);
        match crate::service::users::session_user(state, &hash).await {
            Ok(Some(user)) => Ok(Viewer {
                principal: principal_of(&user),
                user,
                csrf: csrf_token(&hash),
                token_hash: hash,
            }),
            Ok(None) => Err(to_login()),
            Err(err) => Err(PageError::from(err).into_response()),
        }
    }
}

/// A submitted form: every field as text.
pub struct Form(pub HashMap<String, String>);

impl Form {
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.as_str())
    }

    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "on" | "true" | "1")
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Response> {
        let axum::Form(fields) = axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let mut map: HashMap<String, String> = HashMap::new();
        for (k, v) in fields {
            // Repeated fields (checkbox lists) are joined with newlines.
            map.entry(k)
                .and_modify(|e| {
                    e.push('\n');
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        Ok(Form(map))
    }
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a page handler can fail with: shown as a page, never as JSON.
#[derive(Debug)]
pub enum PageError {
    NotFound(String),
    Forbidden(String),
    Problem(String),
    Internal,
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::NotFound(what) => PageError::NotFound(format!("{what} was not found.")),
            ApiError::Forbidden | ApiError::Unauthenticated => {
                PageError::Forbidden("Your role doesn't allow this.".into())
            }
            ApiError::Conflict(msg) | ApiError::BadRequest(msg) => PageError::Problem(msg),
            ApiError::Invalid(errors) => PageError::Problem(errors.to_string()),
            ApiError::PayloadTooLarge => PageError::Problem("The upload is too large.".into()),
            ApiError::TooManyRequests => {
                PageError::Problem("Too many requests; try again later.".into())
            }
            ApiError::Internal => PageError::Internal,
        }
    }
}

impl From<ServiceError> for PageError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound(what) => {
                PageError::NotFound(format!("The {what} was not found."))
            }
            ServiceError::Forbidden(reason) => PageError::Forbidden(reason.into()),
            ServiceError::Unauthenticated | ServiceError::NodeInvalid(_) => {
                PageError::Forbidden("Your role doesn't allow this.".into())
            }
            ServiceError::Conflict(msg) => PageError::Problem(msg),
            ServiceError::Invalid(errors) => PageError::Problem(errors.to_string()),
            ServiceError::Throttled => {
                PageError::Problem("Too many requests; try again later.".into())
            }
            ServiceError::Internal => PageError::Internal,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            PageError::Problem(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on the server; it has been logged.".to_string(),
            ),
        };
        let body = bare_page(
            "Problem",
            html! {
                main.narrow {
                    h1 { "Something is not right" }
                    p.error role="alert" { (message) }
                    p { a href="javascript:history.back()" { "Go back" } }
                }
            },
        );
        (status, body).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Flotilla" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/console.js" defer {}
        }
    }
}

/// A page without the admin navigation (login, setup, end-user pages).
pub fn bare_page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body { (body) }
            }
        }
        .into_string(),
    )
}

const NAV: &[(&str, &str)] = &[
    ("/hosts", "Hosts"),
    ("/teams", "Teams"),
    ("/labels", "Labels"),
    ("/policies", "Policies"),
    ("/software", "Software"),
    ("/controls", "Controls"),
    ("/settings/integrations/conditional-access", "Settings"),
    ("/activities", "Activities"),
];

/// An admin page: navigation, the signed-in user, and the content.
pub fn page(viewer: &Viewer, title: &str, current: &str, content: Markup) -> Response {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    header.top {
                        a.brand href="/hosts" { "Flotilla" }
                        nav aria-label="Main" {
                            @for (href, name) in NAV {
                                a href=(href) aria-current=[(current == *href).then_some("page")] { (name) }
                            }
                        }
                        form.signout method="post" action="/logout" {
                            span { (viewer.user.name) }
                            (csrf_field(viewer))
                            button type="submit" { "Log out" }
                        }
                    }
                    main { (content) }
                }
            }
        }
        .into_string(),
    )
    .into_response()
}

pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A field's error message, shown next to it.
pub fn field_error(errors: &HashMap<String, String>, name: &str) -> Markup {
    html! {
        @if let Some(reason) = errors.get(name) {
            span.field-error role="alert" id=(format!("{name}-error")) { (reason) }
        }
    }
}

/// Validation errors keyed by field name (the last word of a nested name).
pub fn errors_by_field(errors: &flotilla_core::ValidationErrors) -> HashMap<String, String> {
    errors
        .0
        .iter()
        .map(|e| {
            let field = e
                .name
                .rsplit([' ', '.'])
                .next()
                .unwrap_or(&e.name)
                .to_string();
            (field, e.reason.clone())
        })
        .collect()
}

/// The team picker's choice: all teams (global), "No team", or one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamChoice {
    All,
    NoTeam,
    Team(TeamId),
}

impl TeamChoice {
    pub fn parse(value: Option<&str>) -> TeamChoice {
        match value.map(str::trim) {
            None | Some("") | Some("all") => TeamChoice::All,
            Some("0") => TeamChoice::NoTeam,
            Some(id) => id
                .parse()
                .map_or(TeamChoice::All, |id| TeamChoice::Team(TeamId(id))),
        }
    }

    pub fn param(self) -> String {
        match self {
            TeamChoice::All => "all".into(),
            TeamChoice::NoTeam => "0".into(),
            TeamChoice::Team(id) => id.0.to_string(),
        }
    }

    pub fn scope(self) -> Scope {
        match self {
            TeamChoice::All => Scope::Global,
            TeamChoice::NoTeam => Scope::NoTeam,
            TeamChoice::Team(id) => Scope::Team(id),
        }
    }
}

/// A `<select>` of teams that reloads the page with `?team_id=`.
pub fn team_picker(
    path: &str,
    teams: &[TeamRecord],
    current: TeamChoice,
    with_all: bool,
) -> Markup {
    html! {
        form.picker method="get" action=(path) {
            label for="team_id" { "Team" }
            select #team_id name="team_id" data-autosubmit {
                @if with_all {
                    option value="all" selected[current == TeamChoice::All] { "All teams" }
                }
                option value="0" selected[current == TeamChoice::NoTeam] { "No team" }
                @for team in teams {
                    option value=(team.id.0) selected[current == TeamChoice::Team(team.id)] { (team.name) }
                }
            }
            noscript { button type="submit" { "Show" } }
        }
    }
}

/// Teams the viewer may see.
pub async fn visible_teams(
    state: &AppState,
    viewer: &Viewer,
) -> Result<Vec<TeamRecord>, PageError> {
    Ok(crate::service::teams::visible(state, &viewer.caller()).await?)
}

pub fn redirect(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub fn time(unix: i64) -> String {
    if unix <= 0 {
        return "never".into();
    }
    crate::wire::timestamp(unix)
        .replace('T', " ")
        .replace('Z', " UTC")
}
