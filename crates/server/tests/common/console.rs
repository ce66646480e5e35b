//! The console as a browser without script drives it: log in through the
//! form, read a page's CSRF token, submit forms.

use super::{TestServer, PASSWORD};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Logs in through the login form; returns the session cookie pair.
pub async fn browser_login(server: &TestServer, email: &str) -> String {
    let http = no_redirects();
    let page = http
        .get(format!("{}/login", server.url))
        .send()
        .await
        .unwrap();
    let form_cookie = page.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = form_cookie.split_once('=').unwrap().1.to_string();
    let response = http
        .post(format!("{}/login", server.url))
        .header(COOKIE, &form_cookie)
        .form(&[
            ("form_token", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
            ("next", "/policies"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/policies");
    let session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("flotilla_session="))
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    session.split(';').next().unwrap().to_string()
}

pub fn csrf_of(page: &str) -> String {
    let at =
        page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..at + 64].to_string()
}

/// A console page's HTML, as the signed-in browser gets it.
pub async fn page_html(server: &TestServer, session: &str, page: &str) -> String {
    no_redirects()
        .get(format!("{}{page}", server.url))
        .header(COOKIE, session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Submits a console form with the CSRF token read off `page`; returns the status.
pub async fn submit(
    server: &TestServer,
    session: &str,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> StatusCode {
    let csrf = csrf_of(&page_html(server, session, page).await);
    let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    no_redirects()
        .post(format!("{}{action}", server.url))
        .header(COOKIE, session)
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
}
