//! The grantdesk web console: server-rendered pages under `/console/`, behind OpenID Connect
//! sign-in. Every action is the JSON API's, called in-process as the signed-in person (the ID
//! token's claims, as API Gateway's JWT authorizer would pass them), so the console decides
//! nothing the API would not: the same rules, refusals and audit trail.

mod actions;
mod error;
pub mod oidc;
mod pages;
pub mod session;
mod views;

use error::Refused;
use grantdesk::store::Store;
use grantdesk_json_api::Api;
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use maud::Markup;
use oidc::Oidc;
use serde_json::Value;
use session::{LoginState, Session, SessionKey, LOGIN_COOKIE, SESSION_COOKIE};
use std::collections::HashMap;

/// The largest form accepted, in bytes.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The console: the API it calls, the catalog it reads for pickers, its relying party and the
/// key its cookies are signed with.
#[derive(Clone, Debug)]
pub struct Console {
    api: Api,
    store: Store,
    oidc: Oidc,
    key: SessionKey,
    insecure_cookies: bool,
}

/// One page's outcome.
pub(crate) enum Outcome {
    /// A page, with its status.
    Page(StatusCode, Markup),
    /// `303 See Other` to a console path.
    Redirect(String),
    /// JSON for the ticket picker.
    Json(Value),
    /// The stylesheet or the script.
    Static(&'static str, &'static str),
}

impl Console {
    /// A console over `api`, reading the catalog from `store`, signing in through `oidc`. Cookies
    /// are Secure unless the console is served on loopback `http://` (`app_url`).
    pub fn new(api: Api, store: Store, oidc: Oidc, key: SessionKey, app_url: &str) -> Self {
        let insecure_cookies = app_url.starts_with("http://127.0.0.1") || app_url.starts_with("http://localhost");
        Self {
            api,
            store,
            oidc,
            key,
            insecure_cookies,
        }
    }

    /// Answers one request under `/console/`. Never fails: every failure is a page.
    #[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.raw_http_path()))]
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let now = chrono::Utc::now().timestamp();
        let mut cookies = Vec::new();
        let outcome = self.route(&req, now, &mut cookies).await;
        let mut response = match outcome {
            Outcome::Page(status, markup) => html(status, markup),
            Outcome::Redirect(location) => redirect(&location),
            Outcome::Static(content_type, text) => {
                let mut r = Response::new(Body::Text(text.to_owned()));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
                r
            }
            Outcome::Json(value) => {
                let mut r = Response::new(Body::Text(value.to_string()));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
        };
        for cookie in cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        secure_headers(&mut response);
        response
    }

    fn session(&self, req: &Request, now: i64) -> Option<Session> {
        let header = req.headers().get(header::COOKIE)?.to_str().ok()?;
        // Browsers may send one Cookie header per cookie through API Gateway, joined by commas.
        header
            .split([';', ','])
            .filter_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
            .find_map(|value| self.key.open_session(value, now))
    }

    fn login_state(&self, req: &Request, now: i64) -> Option<LoginState> {
        let header = req.headers().get(header::COOKIE)?.to_str().ok()?;
        header
            .split([';', ','])
            .filter_map(|pair| pair.trim().strip_prefix(LOGIN_COOKIE)?.strip_prefix('='))
            .find_map(|value| self.key.open_login(value, now))
    }

    async fn route(&self, req: &Request, now: i64, cookies: &mut Vec<String>) -> Outcome {
        let path = req.raw_http_path();
        let segments: Vec<&str> = path
            .trim_start_matches('/')
            .strip_prefix("console")
            .unwrap_or("")
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let method = req.method().clone();
        if path == "/console" {
            // Cookies are scoped to `/console/`.
            return Outcome::Redirect("/console/".into());
        }
        match (&method, segments.as_slice()) {
            (&Method::GET, ["static", "console.css"]) => return Outcome::Static("text/css; charset=utf-8", pages::CSS),
            (&Method::GET, ["static", "console.js"]) => {
                return Outcome::Static("text/javascript; charset=utf-8", pages::JS)
            }
            (&Method::GET, ["auth", "login"]) => return self.login(req, now, cookies).await,
            (&Method::GET, ["auth", "callback"]) => return self.callback(req, now, cookies).await,
            _ => {}
        }
        let Some(session) = self.session(req, now) else {
            if method == Method::GET && segments.is_empty() {
                return Outcome::Page(StatusCode::OK, pages::signed_out(None));
            }
            if method == Method::GET {
                let target = format!("/console/auth/login?return_to={}", encode(&path_and_query(req)));
                return Outcome::Redirect(target);
            }
            return Outcome::Page(
                StatusCode::UNAUTHORIZED,
                pages::signed_out(Some(
                    "Your session has ended. Sign in again, then repeat what you were doing.",
                )),
            );
        };
        let form = if method == Method::POST {
            match read_form(req) {
                Ok(form) => form,
                Err(status) => return self.problem(&session, status, "The form could not be read."),
            }
        } else {
            HashMap::new()
        };
        if method == Method::POST && !form.get("csrf").is_some_and(|t| session.csrf_matches(t)) {
            return self.problem(
                &session,
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this console. Reload the page and try again.",
            );
        }
        let ctx = pages::Ctx {
            session: &session,
            admin: session.admin,
        };
        let query = |name: &str| {
            req.query_string_parameters_ref()
                .and_then(|q| q.first(name).map(str::to_owned))
        };
        // Each page is boxed: the pages' futures are large, and one state machine holding them
        // all would be too big for a thread's stack in debug builds.
        match (&method, segments.as_slice()) {
            (&Method::GET, []) => Outcome::Redirect("/console/requests".into()),
            (&Method::POST, ["auth", "logout"]) => {
                Box::pin(async {
                    cookies.push(session::set_cookie(SESSION_COOKIE, "", 0, self.insecure_cookies));
                    Outcome::Page(StatusCode::OK, pages::signed_out(Some("You have signed out.")))
                })
                .await
            }
            (&Method::GET, ["requests"]) => Box::pin(self.my_requests(&ctx, None, &HashMap::new())).await,
            (&Method::POST, ["requests"]) => Box::pin(self.create_request(&ctx, &form)).await,
            (&Method::GET, ["requests", id]) => {
                Box::pin(self.request_page(&ctx, id, query("done").as_deref(), None, StatusCode::OK)).await
            }
            (&Method::POST, ["requests", id, action @ ("approve" | "deny" | "cancel")]) => {
                Box::pin(async { self.decide(&ctx, id, action, &form).await }).await
            }
            (&Method::GET, ["reviews"]) => Box::pin(self.reviews(&ctx, None)).await,
            (&Method::GET, ["tickets", "search"]) => {
                Box::pin(async {
                    let provider = query("provider").unwrap_or_default();
                    let q = query("q").unwrap_or_default();
                    let path = format!("/tickets/search?provider={}&q={}", encode(&provider), encode(&q));
                    match self.call(&session, Method::GET, &path, None).await {
                        Ok(found) => Outcome::Json(found),
                        Err(refused) => Outcome::Json(serde_json::json!({"items": [], "error": refused.message})),
                    }
                })
                .await
            }
            (&Method::GET, ["resources", id]) => {
                Box::pin(self.resource_page(&ctx, id, query("done").as_deref(), None, StatusCode::OK)).await
            }
            (&Method::POST, ["resources", id, "sync"]) => {
                Box::pin(async {
                    let result = self
                        .call(&session, Method::POST, &format!("/resources/{id}/sync"), None)
                        .await;
                    self.after_resource_action(&ctx, id, result, "sync").await
                })
                .await
            }
            (&Method::POST, ["resources", id, "users"]) => Box::pin(self.add_user(&ctx, id, &form)).await,
            (&Method::POST, ["resources", id, "users", user, "remove"]) => {
                Box::pin(async {
                    let result = self
                        .call(&session, Method::DELETE, &format!("/resources/{id}/users/{user}"), None)
                        .await;
                    self.after_resource_action(&ctx, id, result, "remove").await
                })
                .await
            }
            (&Method::POST, ["resources", id, "users", user, "retry"]) => {
                Box::pin(async {
                    let path = format!("/resources/{id}/users/{user}/propagation/retry");
                    let result = self.call(&session, Method::POST, &path, None).await;
                    self.after_resource_action(&ctx, id, result, "retry").await
                })
                .await
            }
            (&Method::GET, ["inventory"]) => Box::pin(self.inventory(&ctx)).await,
            (&Method::GET, ["resources", id, "edit"]) => {
                Box::pin(self.edit_resource(&ctx, id, None, StatusCode::OK)).await
            }
            (&Method::POST, ["resources", id, "edit"]) => Box::pin(self.save_resource(&ctx, id, &form)).await,
            (&Method::GET, ["apps", id, "edit"]) => Box::pin(self.edit_app(&ctx, id, None, StatusCode::OK)).await,
            (&Method::POST, ["apps", id, "edit"]) => Box::pin(self.save_app(&ctx, id, &form)).await,
            (&Method::GET, ["settings"]) => Box::pin(self.settings(&ctx, None, StatusCode::OK)).await,
            (&Method::POST, ["settings"]) => Box::pin(self.save_settings(&ctx, &form)).await,
            (&Method::GET, ["integrations"]) => Box::pin(self.integrations(&ctx, None, StatusCode::OK)).await,
            (&Method::POST, ["integrations", provider]) => Box::pin(self.connect(&ctx, provider, &form)).await,
            (&Method::POST, ["integrations", provider, "disconnect"]) => {
                Box::pin(async {
                    let result = self
                        .call(&session, Method::DELETE, &format!("/integrations/{provider}"), None)
                        .await;
                    let message = match result {
                        Ok(_) => pages::Flash::Done(format!("Disconnected {provider}.")),
                        Err(refused) => pages::Flash::Refused(refused.message),
                    };
                    self.integrations(&ctx, Some(message), StatusCode::OK).await
                })
                .await
            }
            _ => self.problem(&session, StatusCode::NOT_FOUND, "There is no such page."),
        }
    }

    /// A page that says what went wrong, with the navigation.
    pub(crate) fn problem(&self, session: &Session, status: StatusCode, message: &str) -> Outcome {
        let ctx = pages::Ctx {
            session,
            admin: session.admin,
        };
        Outcome::Page(status, pages::problem(&ctx, status, message))
    }

    /// A refusal by the API as a page: 403 and 404 keep their status.
    pub(crate) fn refused_page(&self, ctx: &pages::Ctx<'_>, refused: Refused) -> Outcome {
        let status = refused.page_status();
        Outcome::Page(status, pages::problem(ctx, status, &refused.page_message()))
    }

    /// Calls the API as the signed-in person.
    pub(crate) async fn call(
        &self,
        session: &Session,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Refused> {
        let mut claims = HashMap::from([
            ("iss".to_owned(), session.iss.clone()),
            ("sub".to_owned(), session.sub.clone()),
            ("email".to_owned(), session.email.clone()),
            ("email_verified".to_owned(), "true".to_owned()),
        ]);
        if let Some(name) = &session.name {
            claims.insert("name".into(), name.clone());
        }
        let request = grantdesk_json_api::authorized_request(&method, path, body.as_ref(), &claims)
            .map_err(|message| Refused::unbuilt(&message))?;
        let response = Box::pin(self.api.handle_call(request)).await;
        let status = response.status();
        let value: Value = match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if status.is_success() {
            Ok(value)
        } else {
            Err(Refused::from_api(status, &value))
        }
    }

    async fn login(&self, req: &Request, now: i64, cookies: &mut Vec<String>) -> Outcome {
        let return_to = req
            .query_string_parameters_ref()
            .and_then(|q| q.first("return_to").map(str::to_owned))
            .filter(|r| is_console_path(r))
            .unwrap_or_else(|| "/console/requests".into());
        let login = LoginState {
            state: session::random_token(24),
            nonce: session::random_token(24),
            verifier: session::random_token(48),
            return_to,
            expires_at: now + session::LOGIN_MINUTES * 60,
        };
        match self
            .oidc
            .authorize_url(&login.state, &login.nonce, &login.verifier)
            .await
        {
            Ok(url) => {
                cookies.push(session::set_cookie(
                    LOGIN_COOKIE,
                    &self.key.seal_login(&login),
                    session::LOGIN_MINUTES * 60,
                    self.insecure_cookies,
                ));
                Outcome::Redirect(url)
            }
            Err(err) => {
                tracing::error!(error = %err, "starting a sign-in");
                Outcome::Page(StatusCode::BAD_GATEWAY, pages::signed_out(Some(&err.to_string())))
            }
        }
    }

    async fn callback(&self, req: &Request, now: i64, cookies: &mut Vec<String>) -> Outcome {
        let param = |name: &str| {
            req.query_string_parameters_ref()
                .and_then(|q| q.first(name).map(str::to_owned))
        };
        let refuse = |message: &str| Outcome::Page(StatusCode::UNAUTHORIZED, pages::signed_out(Some(message)));
        if let Some(error) = param("error") {
            let error: String = error.chars().take(100).collect();
            return refuse(&format!("The identity provider did not sign you in ({error})."));
        }
        let Some(login) = self.login_state(req, now) else {
            return refuse("This sign-in has expired or was started in another browser. Sign in again.");
        };
        if param("state").as_deref() != Some(login.state.as_str()) {
            return refuse("This sign-in's state does not match. Sign in again.");
        }
        let Some(code) = param("code") else {
            return refuse("The identity provider sent no code. Sign in again.");
        };
        cookies.push(session::set_cookie(LOGIN_COOKIE, "", 0, self.insecure_cookies));
        let identity = match self.oidc.finish(&code, &login.verifier, &login.nonce).await {
            Ok(identity) => identity,
            Err(err) => {
                tracing::warn!(error = %err, "a sign-in was refused");
                return refuse(&format!("Sign-in refused: {err}."));
            }
        };
        let mut session = Session {
            iss: identity.iss,
            sub: identity.sub,
            email: identity.email,
            name: identity.name,
            expires_at: identity.exp.min(now + session::SESSION_HOURS * 3600),
            csrf: session::random_token(24),
            admin: false,
        };
        // Who the API says this is: a refusal (an e-mail bound to another account) ends here.
        match self.call(&session, Method::GET, "/me", None).await {
            Ok(me) => {
                session.admin = me["is_admin"].as_bool() == Some(true);
            }
            Err(refused) => return refuse(&format!("Sign-in refused: {}.", refused.message)),
        }
        let max_age = session.expires_at - now;
        cookies.push(session::set_cookie(
            SESSION_COOKIE,
            &self.key.seal_session(&session),
            max_age,
            self.insecure_cookies,
        ));
        Outcome::Redirect(login.return_to)
    }
}

fn is_console_path(path: &str) -> bool {
    path.starts_with("/console/") && !path.starts_with("//") && !path.contains('\\') && !path.contains("://")
}

fn path_and_query(req: &Request) -> String {
    let path = req.raw_http_path();
    match req.uri().query() {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_string(),
    }
}

pub(crate) fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn read_form(req: &Request) -> Result<HashMap<String, String>, StatusCode> {
    let bytes: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_FORM_BYTES {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok(url::form_urlencoded::parse(bytes).into_owned().collect())
}

fn html(status: StatusCode, markup: Markup) -> Response<Body> {
    let mut response = Response::new(Body::Text(markup.into_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn secure_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    let set = |headers: &mut lambda_http::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "cache-control", "no-store");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_returned_to() {
        assert!(is_console_path("/console/requests/r-1"));
        assert!(!is_console_path("https://evil.example/console/"));
        assert!(!is_console_path("//evil.example/console/"));
        assert!(!is_console_path("/console/\\evil"));
        assert!(!is_console_path("/requests"));
    }
}
