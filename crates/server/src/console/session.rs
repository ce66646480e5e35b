//! First-run setup, login and logout in the browser.

use super::{
    bare_page, cookie, field_error, redirect, Form, PageError, PageResult, Viewer, SESSION_COOKIE,
};
use crate::secrets::random_token;
use crate::service::users::{self, SetupAdmin};
use crate::service::ServiceError;
use crate::AppState;
use axum::extract::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use maud::html;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Before there is a session, forms carry a random token that must match a cookie.
const FORM_COOKIE: &str = "flotilla_form";

fn cookie_header(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if state.settings.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A fresh pre-session form token, and the cookie that carries it.
fn form_token(state: &AppState) -> (String, HeaderValue) {
    let token = random_token(16);
    let header = cookie_header(state, FORM_COOKIE, &token, None);
    (token, header)
}

fn form_token_matches(headers: &HeaderMap, form: &Form) -> bool {
    let expected = cookie(headers, FORM_COOKIE).unwrap_or("");
    !expected.is_empty() && expected == form.get("form_token")
}

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    if !users::is_set_up(&state).await? {
        return Ok(redirect("/setup"));
    }
    Ok(redirect(if cookie(&headers, SESSION_COOKIE).is_some() {
        "/hosts"
    } else {
        "/login"
    }))
}

/// Where to go after logging in: only a path on this server. Browsers drop
/// tabs and newlines and read `\` as `/`, so `/\t/evil.example` is off-site;
/// anything with a control character, a backslash or a second leading slash
/// is refused.
fn safe_next(next: Option<&String>) -> String {
    next.filter(|n| {
        n.starts_with('/')
            && n.len() <= 2048
            && !n.chars().any(|c| c.is_control() || c == '\\')
            && !n[1..].trim_start().starts_with('/')
    })
    .cloned()
    .unwrap_or_else(|| "/hosts".into())
}

fn login_form(token: &str, next: &str, email: &str, problem: Option<&str>) -> maud::Markup {
    html! {
        main.narrow {
            h1 { "Log in to Flotilla" }
            @if let Some(problem) = problem {
                p.error role="alert" { (problem) }
            }
            form method="post" action="/login" {
                input type="hidden" name="form_token" value=(token);
                input type="hidden" name="next" value=(next);
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                p { button type="submit" { "Log in" } }
            }
        }
    }
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    if !users::is_set_up(&state).await? {
        return Ok(redirect("/setup"));
    }
    let (token, set_cookie) = form_token(&state);
    let next = safe_next(query.get("next"));
    let body = bare_page("Log in", login_form(&token, &next, "", None));
    Ok(([(header::SET_COOKIE, set_cookie)], body).into_response())
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> PageResult {
    let next = safe_next(Some(&form.get("next").to_string()));
    if !form_token_matches(&headers, &form) {
        return Err(PageError::Forbidden(
            "This form has expired. Reload the page and try again.".into(),
        ));
    }
    match users::sign_in(&state, client.ip(), form.get("email"), form.get("password")).await {
        Ok((_, token)) => {
            let mut response = redirect(&next);
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(&state, SESSION_COOKIE, &token, None),
            );
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(&state, FORM_COOKIE, "", Some(0)),
            );
            Ok(response)
        }
        Err(ServiceError::Unauthenticated) => {
            let (token, set_cookie) = form_token(&state);
            // One message whichever part was wrong.
            let body = bare_page(
                "Log in",
                login_form(
                    &token,
                    &next,
                    form.get("email"),
                    Some("The email or password is not right."),
                ),
            );
            Ok((
                axum::http::StatusCode::UNAUTHORIZED,
                [(header::SET_COOKIE, set_cookie)],
                body,
            )
                .into_response())
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn logout(State(state): State<AppState>, viewer: Viewer, form: Form) -> PageResult {
    viewer.check_csrf(&form)?;
    users::sign_out(&state, &viewer.token_hash).await?;
    let mut response = redirect("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(&state, SESSION_COOKIE, "", Some(0)),
    );
    Ok(response)
}

fn setup_form(token: &str, form: &Form, errors: &HashMap<String, String>) -> maud::Markup {
    html! {
        main.narrow {
            h1 { "Set up Flotilla" }
            p { "Create the first admin account and name your organization." }
            @if let Some(base) = errors.get("base") { p.error role="alert" { (base) } }
            form method="post" action="/setup" {
                input type="hidden" name="form_token" value=(token);
                label for="name" { "Your name" }
                input #name type="text" name="name" value=(form.get("name")) required;
                (field_error(errors, "name"))
                label for="email" { "Email" }
                input #email type="email" name="email" value=(form.get("email")) required;
                (field_error(errors, "email"))
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="new-password" required;
                (field_error(errors, "password"))
                label for="org_name" { "Organization name" }
                input #org_name type="text" name="org_name" value=(form.get("org_name")) required;
                (field_error(errors, "org_name"))
                label for="server_url" { "Server URL (what agents and Microsoft use to reach this server)" }
                input #server_url type="text" name="server_url" value=(form.get("server_url")) placeholder="https://flotilla.example.com:8080" required;
                (field_error(errors, "server_url"))
                p { button type="submit" { "Set up" } }
            }
        }
    }
}

pub async fn setup_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    if users::is_set_up(&state).await? {
        return Ok(redirect("/login"));
    }
    let (token, set_cookie) = form_token(&state);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let scheme = if state.settings.secure_cookies {
        "https"
    } else {
        "http"
    };
    let mut defaults = HashMap::new();
    defaults.insert("server_url".to_string(), format!("{scheme}://{host}"));
    let body = bare_page(
        "Set up",
        setup_form(&token, &Form(defaults), &HashMap::new()),
    );
    Ok(([(header::SET_COOKIE, set_cookie)], body).into_response())
}

pub async fn setup(State(state): State<AppState>, headers: HeaderMap, form: Form) -> PageResult {
    if !form_token_matches(&headers, &form) {
        return Err(PageError::Forbidden(
            "This form has expired. Reload the page and try again.".into(),
        ));
    }
    let admin = SetupAdmin {
        email: form.get("email").to_string(),
        password: form.get("password").to_string(),
        name: form.get("name").to_string(),
    };
    match users::setup(
        &state,
        &admin,
        form.get("org_name"),
        "",
        form.get("server_url").trim(),
    )
    .await
    {
        Ok(done) => {
            let mut response = redirect("/hosts");
            response.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(&state, SESSION_COOKIE, &done.token, None),
            );
            Ok(response)
        }
        Err(ServiceError::Invalid(errors)) => {
            let (token, set_cookie) = form_token(&state);
            let errors = super::errors_by_field(&errors);
            let body = bare_page("Set up", setup_form(&token, &form, &errors));
            Ok((
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                [(header::SET_COOKIE, set_cookie)],
                body,
            )
                .into_response())
        }
        Err(ServiceError::Conflict(_)) => Ok(redirect("/login")),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        let next = |s: &str| safe_next(Some(&s.to_string()));
        assert_eq!(next("/labels?x=1"), "/labels?x=1");
        for offsite in [
            "/\t/evil.example/",
            "/\t\\evil.example",
            "//evil.example/",
            "/\\evil.example/",
            "https://evil.example/",
            " //evil.example/",
            "/ /evil.example",
            "/\r/evil.example",
            "/\n/evil.example",
            "/\u{0}x",
        ] {
            assert_eq!(next(offsite), "/hosts", "{offsite:?}");
        }
    }
}
