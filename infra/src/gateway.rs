//! A local stand-in for API Gateway (HTTP API, payload v2): it accepts HTTP on a loopback port,
//! checks the bearer token like the JWT authorizer, turns each request into the exact event
//! Lambda would receive, and hands it to the function in-process.

use crate::dev_token::DevTokenSecret;
use crate::oidc_provider::SandboxOidc;
use base64::Engine;
use grantdesk_console::oidc::Oidc;
use grantdesk_console::Console;
use grantdesk_json_api::Api;
use grantdesk_webhook_intake::WebhookIntake;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

/// API Gateway's own cap on request bodies is 10 MB; locally 1 MiB is plenty and keeps a
/// runaway client from filling memory. The functions apply their own, smaller limits.
const MAX_GATEWAY_BODY: usize = 2 * 1024 * 1024;

/// Who signs the tokens the gateway accepts for the JSON API.
#[derive(Clone, Debug)]
pub struct Authorizer {
    /// HS256 dev tokens are signed with this.
    pub secret: DevTokenSecret,
    /// The issuer a dev token without `iss` counts as issued by (the sandbox provider's).
    pub dev_issuer: String,
    /// The OpenID provider whose RS256 access tokens are accepted, checked as API Gateway's JWT
    /// authorizer checks them (issuer, audience, JWKS).
    pub oidc: Oidc,
}

/// What the gateway routes to.
#[derive(Clone)]
pub struct Gateway {
    api: Api,
    webhooks: WebhookIntake,
    console: Console,
    sandbox_oidc: Option<Arc<SandboxOidc>>,
    authorizer: Authorizer,
}

impl Gateway {
    /// A gateway in front of `api`, `/webhooks/*` (`webhooks`) and `/console/*` (`console`),
    /// serving the sandbox OpenID provider under `/oidc` when there is one, and accepting the
    /// tokens `authorizer` names for the JSON API.
    pub fn new(
        api: Api,
        webhooks: WebhookIntake,
        console: Console,
        sandbox_oidc: Option<Arc<SandboxOidc>>,
        authorizer: Authorizer,
    ) -> Self {
        Self {
            api,
            webhooks,
            console,
            sandbox_oidc,
            authorizer,
        }
    }

    /// Serves connections on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let gateway = Arc::new(self);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    continue;
                }
            };
            let gateway = gateway.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.dispatch(req).await) }
                });
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
            });
        }
    }

    async fn dispatch(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_GATEWAY_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is too large",
                )
            }
        };
        let path = parts.uri.path().to_owned();
        if let (Some(sandbox), Some(rest)) = (&self.sandbox_oidc, path.strip_prefix("/oidc")) {
            let params = if parts.method == hyper::Method::POST {
                body.to_vec()
            } else {
                parts.uri.query().unwrap_or("").as_bytes().to_vec()
            };
            let params: HashMap<String, String> = url::form_urlencoded::parse(&params).into_owned().collect();
            let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let answer = sandbox.handle(&parts.method, rest, &params, authorization);
            let mut response = Response::new(Full::new(Bytes::from(answer.body)));
            *response.status_mut() = answer.status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(answer.content_type),
            );
            if let Some(location) = answer.location.and_then(|l| header::HeaderValue::from_str(&l).ok()) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        let claims = if is_public(&parts.method, &path) {
            None
        } else {
            match self.authorize(&parts.headers).await {
                Ok(claims) => Some(claims),
                Err(message) => return error(StatusCode::UNAUTHORIZED, "unauthorized", &message),
            }
        };
        let event = api_gateway_event(&parts, &body, claims);
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => request,
            Err(err) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    &format!("unreadable request: {err}"),
                )
            }
        };
        // As in template.yaml: /webhooks/{provider} goes to webhook-intake (but POST
        // /webhooks/slack), /console/ to the console, the rest to the API.
        // Slack's interactions go to the API, which decides requests.
        if path == "/console" || path.starts_with("/console/") {
            into_hyper(self.console.handle(request).await)
        } else if path == "/webhooks/slack" && parts.method == hyper::Method::POST {
            into_hyper(self.api.handle(request).await)
        } else if path.starts_with("/webhooks/") {
            into_hyper(self.webhooks.handle(request).await)
        } else {
            into_hyper(self.api.handle(request).await)
        }
    }

    async fn authorize(&self, headers: &hyper::HeaderMap) -> Result<HashMap<String, String>, String> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or("missing Authorization: Bearer <token>")?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or("the Authorization header must be 'Bearer <token>'")?;
        let token = token.trim();
        if is_hs256(token) {
            let mut claims = self.authorizer.secret.verify(token).map_err(|e| e.to_string())?;
            claims
                .entry("iss".to_owned())
                .or_insert_with(|| self.authorizer.dev_issuer.clone());
            return Ok(claims);
        }
        self.authorizer
            .oidc
            .access_token_claims(token)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Whether a JWT's header names HS256 (a dev token); anything else is checked as the OpenID
/// provider's.
fn is_hs256(token: &str) -> bool {
    let header = token.split('.').next().unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|h| h["alg"] == "HS256")
}

/// Routes without the JWT authorizer, as in `template.yaml`.
fn is_public(method: &hyper::Method, path: &str) -> bool {
    (method == hyper::Method::GET && path == "/openapi.json")
        || path.starts_with("/webhooks/")
        || path == "/console"
        || path.starts_with("/console/")
}

/// The API Gateway HTTP API (payload 2.0) event for a request.
fn api_gateway_event(
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    claims: Option<HashMap<String, String>>,
) -> Value {
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            // API Gateway joins repeated headers with commas.
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let now = chrono::Utc::now();
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "local",
        "http": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
        },
        "requestId": uuid_like(),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": context,
        "body": if body.is_empty() { Value::Null } else { Value::String(body) },
        "isBase64Encoded": encoded,
    })
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("local-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn into_hyper(response: lambda_http::Response<lambda_http::Body>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Bytes::new(),
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
