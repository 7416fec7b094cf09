//! Sandbox Jira Cloud, Linear and ServiceNow: in-process HTTP servers that speak the real wire
//! formats of `shared/specs/` and refuse what the real services refuse (bad credentials, plain
//! strings where Jira wants ADF, a `Bearer` prefix on a Linear API key, resolving an incident
//! without close notes). Tests and `make dev` use them in place of real providers.
//!
//! Each server records every request, can be told to misbehave (a 429 with `Retry-After`, a
//! 500, a create whose answer is lost, latency), lets a test move any ticket to any state, and
//! sends a signed webhook when a ticket changes.

pub mod jira;
pub mod linear;
pub mod servicenow;
pub mod slack;

use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The sandbox Jira's account e-mail.
pub const JIRA_EMAIL: &str = "bot@sandbox.test";
/// The sandbox Jira's API token.
pub const JIRA_API_TOKEN: &str = "sandbox-jira-token";
/// The sandbox Linear's personal API key.
pub const LINEAR_API_KEY: &str = "lin_api_sandbox0000000000000000";
/// The sandbox ServiceNow's user name.
pub const SERVICENOW_USERNAME: &str = "grantdesk.integration";
/// The sandbox ServiceNow's password.
pub const SERVICENOW_PASSWORD: &str = "sandbox-servicenow-password";
/// The sandbox Slack's bot token.
pub const SLACK_BOT_TOKEN: &str = "xoxb-sandbox-token";
/// The sandbox Slack app's signing secret.
pub const SLACK_SIGNING_SECRET: &str = "sandbox-slack-signing-secret";

/// All three sandboxes, each on its own loopback port.
pub struct Sandboxes {
    /// Jira Cloud.
    pub jira: SandboxServer<jira::JiraSandbox>,
    /// Linear.
    pub linear: SandboxServer<linear::LinearSandbox>,
    /// ServiceNow.
    pub servicenow: SandboxServer<servicenow::ServiceNowSandbox>,
    /// Slack.
    pub slack: SandboxServer<slack::SlackSandbox>,
}

impl Sandboxes {
    /// The sandbox Slack's Web API base URL.
    pub fn slack_api_url(&self) -> String {
        format!("{}/api", self.slack.url())
    }

    /// Starts the three sandboxes on free ports with the credentials above.
    pub async fn start() -> Result<Self, String> {
        Ok(Self {
            jira: SandboxServer::start(jira::JiraSandbox::new(JIRA_EMAIL, JIRA_API_TOKEN), 0).await?,
            linear: SandboxServer::start(linear::LinearSandbox::new(LINEAR_API_KEY), 0).await?,
            servicenow: SandboxServer::start(
                servicenow::ServiceNowSandbox::new(SERVICENOW_USERNAME, SERVICENOW_PASSWORD),
                0,
            )
            .await?,
            slack: SandboxServer::start(slack::SlackSandbox::new(SLACK_BOT_TOKEN), 0).await?,
        })
    }
}

/// A way for the next matching request to go wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if given) without doing anything.
    Status {
        /// The status.
        status: u16,
        /// `Retry-After`, in seconds.
        retry_after: Option<u32>,
    },
    /// Linear's rate limit: HTTP 400 with a `RATELIMITED` GraphQL error.
    GraphqlRateLimited,
    /// Do the work, then drop the connection without answering.
    LoseResponse,
    /// Wait this long, then answer normally.
    Latency(Duration),
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultMatch {
    /// Only this method (`POST`), if set.
    pub method: Option<String>,
    /// Only paths containing this, if set (for Linear: the operation name in the body).
    pub contains: Option<String>,
}

impl FaultMatch {
    /// Every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Requests with `method` whose path (or, for GraphQL, body) contains `text`.
    pub fn on(method: &str, text: &str) -> Self {
        Self {
            method: Some(method.to_owned()),
            contains: Some(text.to_owned()),
        }
    }

    fn matches(&self, request: &SandboxRequest) -> bool {
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&request.method))
            && self
                .contains
                .as_ref()
                .is_none_or(|text| request.path.contains(text.as_str()) || request.body_text().contains(text.as_str()))
    }
}

/// A request as the sandbox saw it.
#[derive(Clone, Debug)]
pub struct SandboxRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl SandboxRequest {
    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `user:password` from HTTP Basic auth.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        use base64::Engine;
        let encoded = self.authorization.as_deref()?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }
}

/// An answer from a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`Null` for none).
    pub body: Value,
}

impl SandboxResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body }
    }

    /// An empty answer.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            body: Value::Null,
        }
    }
}

/// A webhook the sandbox will send: where, how it is signed, and what it says.
#[derive(Clone, Debug)]
pub struct OutgoingWebhook {
    /// Headers to send (signature, delivery id, ...).
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
}

/// Where a sandbox sends webhooks and with what secret.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    /// The URL (`http://127.0.0.1:3000/webhooks/jira`).
    pub url: String,
    /// The shared secret.
    pub secret: String,
}

/// What each provider's sandbox implements.
pub trait Provider: Send + 'static {
    /// Answers one request, and returns the webhooks the change it made calls for.
    fn handle(
        &mut self,
        request: &SandboxRequest,
        webhook_secret: Option<&str>,
    ) -> (SandboxResponse, Vec<OutgoingWebhook>);
}

struct Shared<P> {
    provider: P,
    faults: VecDeque<(FaultMatch, Fault)>,
    log: Vec<SandboxRequest>,
    webhook: Option<WebhookTarget>,
    delivered: Vec<(u16, String)>,
    answers: Vec<String>,
}

/// A running sandbox server for one provider. Dropping it stops the server.
pub struct SandboxServer<P: Provider> {
    url: String,
    shared: Arc<Mutex<Shared<P>>>,
    task: JoinHandle<()>,
    http: reqwest::Client,
}

impl<P: Provider> Drop for SandboxServer<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<P: Provider> SandboxServer<P> {
    /// Serves `provider` on a loopback port (0 picks a free one).
    pub async fn start(provider: P, port: u16) -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("sandbox listening on {port}: {e}"))?;
        let url = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().map_err(|e| e.to_string())?.port()
        );
        let shared = Arc::new(Mutex::new(Shared {
            provider,
            faults: VecDeque::new(),
            log: Vec::new(),
            webhook: None,
            delivered: Vec::new(),
            answers: Vec::new(),
        }));
        let http = reqwest::Client::new();
        let task = tokio::spawn(serve(listener, shared.clone(), http.clone()));
        Ok(Self {
            url,
            shared,
            task,
            http,
        })
    }

    /// The base URL to configure the integration with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared<P>> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes the next request matching `when` fail with `fault` (faults queue up in order).
    pub fn inject(&self, when: FaultMatch, fault: Fault) {
        self.lock().faults.push_back((when, fault));
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<SandboxRequest> {
        self.lock().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// Sends webhooks for ticket changes to `target` from now on.
    pub fn set_webhook(&self, target: Option<WebhookTarget>) {
        self.lock().webhook = target;
    }

    /// The statuses and bodies of webhooks delivered so far.
    pub fn delivered_webhooks(&self) -> Vec<(u16, String)> {
        self.lock().delivered.clone()
    }

    /// The response bodies grantdesk gave the webhooks delivered so far, in order.
    pub fn webhook_answers(&self) -> Vec<String> {
        self.lock().answers.clone()
    }

    /// Reads or changes the provider's data directly; webhooks `change` returns are sent.
    pub async fn with<R>(&self, change: impl FnOnce(&mut P, Option<&str>) -> (R, Vec<OutgoingWebhook>)) -> R {
        let (result, hooks, target) = {
            let mut shared = self.lock();
            let target = shared.webhook.clone();
            let (result, hooks) = change(&mut shared.provider, target.as_ref().map(|t| t.secret.as_str()));
            (result, hooks, target)
        };
        deliver(&self.http, &self.shared, target, hooks).await;
        result
    }
}

async fn deliver<P: Provider>(
    http: &reqwest::Client,
    shared: &Arc<Mutex<Shared<P>>>,
    target: Option<WebhookTarget>,
    hooks: Vec<OutgoingWebhook>,
) {
    let Some(target) = target else { return };
    for hook in hooks {
        let mut request = http.post(&target.url).body(hook.body.clone());
        if !hook
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("Content-Type", "application/json");
        }
        for (name, value) in &hook.headers {
            request = request.header(name, value);
        }
        let (status, answer) = match request.timeout(Duration::from_secs(10)).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Err(_) => (0, String::new()),
        };
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.delivered.push((status, hook.body));
        shared.answers.push(answer);
    }
}

async fn serve<P: Provider>(listener: TcpListener, shared: Arc<Mutex<Shared<P>>>, http: reqwest::Client) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        let http = http.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                let http = http.clone();
                async move { answer(req, shared, http).await }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Dropping the connection without an answer ("created, but the response was lost").
#[derive(Debug)]
struct LostResponse;

impl std::fmt::Display for LostResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response deliberately lost")
    }
}

impl std::error::Error for LostResponse {}

async fn answer<P: Provider>(
    req: Request<Incoming>,
    shared: Arc<Mutex<Shared<P>>>,
    http: reqwest::Client,
) -> Result<Response<Full<Bytes>>, LostResponse> {
    let (parts, body) = req.into_parts();
    let body = Limited::new(body, 4 * 1024 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let request = SandboxRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts
            .uri
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default(),
        authorization: parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    };
    let fault = {
        let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
        guard.log.push(request.clone());
        let position = guard.faults.iter().position(|(when, _)| when.matches(&request));
        position.and_then(|i| guard.faults.remove(i)).map(|(_, fault)| fault)
    };
    match &fault {
        Some(Fault::Latency(wait)) => tokio::time::sleep(*wait).await,
        Some(Fault::Status { status, retry_after }) => {
            let mut response = json_response(*status, &serde_json::json!({"errorMessages": ["injected fault"]}));
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(
                    "retry-after",
                    seconds.to_string().parse().expect("digits are a valid header"),
                );
            }
            return Ok(response);
        }
        Some(Fault::GraphqlRateLimited) => {
            let body = serde_json::json!({"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]});
            let mut response = json_response(400, &body);
            response
                .headers_mut()
                .insert("x-ratelimit-requests-remaining", "0".parse().expect("valid header"));
            return Ok(response);
        }
        Some(Fault::LoseResponse) | None => {}
    }
    let (response, hooks, target) = {
        let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
        let target = guard.webhook.clone();
        let (response, hooks) = guard
            .provider
            .handle(&request, target.as_ref().map(|t| t.secret.as_str()));
        (response, hooks, target)
    };
    if !hooks.is_empty() {
        let shared = shared.clone();
        tokio::spawn(async move { deliver(&http, &shared, target, hooks).await });
    }
    if fault == Some(Fault::LoseResponse) {
        return Err(LostResponse);
    }
    Ok(if response.body.is_null() {
        let mut empty = Response::new(Full::new(Bytes::new()));
        *empty.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        empty
    } else {
        json_response(response.status, &response.body)
    })
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("valid header"));
    response
}

/// HMAC-SHA256 of `data` keyed with `secret`.
pub fn hmac_sha256(secret: &str, data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random id (delivery ids, sys_ids).
pub fn random_hex(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use grantdesk::domain::TicketState;

    fn header<'a>(hook: &'a OutgoingWebhook, name: &str) -> &'a str {
        hook.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn jira_webhooks_carry_an_x_hub_signature_over_the_raw_body_and_a_status_changelog() {
        let mut jira = jira::JiraSandbox::new("a@b.c", "t");
        let key = jira.add_issue("OPS", "x");
        let (moved, hooks) = jira.set_state(&key, TicketState::Done, Some("s3cret"));
        assert!(moved);
        let hook = &hooks[0];
        assert_eq!(
            header(hook, "X-Hub-Signature"),
            format!("sha256={}", hex(&hmac_sha256("s3cret", hook.body.as_bytes())))
        );
        assert!(!header(hook, "X-Atlassian-Webhook-Identifier").is_empty());
        let body: Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(body["changelog"]["items"][0]["field"], "status");
        assert_eq!(body["changelog"]["items"][0]["toString"], "Done");
        assert!(
            jira.set_state(&key, TicketState::Open, None).1.is_empty(),
            "no secret, no webhook"
        );
    }

    #[test]
    fn linear_webhooks_carry_a_hex_signature_and_a_millisecond_timestamp() {
        let mut linear = linear::LinearSandbox::new("k");
        let key = linear.add_issue("ENG", "x");
        let (_, hooks) = linear.set_state(&key, TicketState::Canceled, Some("lin_wh"));
        let hook = &hooks[0];
        assert_eq!(
            header(hook, "Linear-Signature"),
            hex(&hmac_sha256("lin_wh", hook.body.as_bytes()))
        );
        let body: Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(body["data"]["state"]["type"], "canceled");
        let sent = body["webhookTimestamp"].as_i64().unwrap();
        assert!((chrono::Utc::now().timestamp_millis() - sent).abs() < 60_000);
    }

    #[test]
    fn servicenow_webhooks_sign_timestamp_dot_body_in_base64() {
        let mut servicenow = servicenow::ServiceNowSandbox::new("u", "p");
        let number = servicenow.add_ticket("incident", "x");
        let (_, hooks) = servicenow.set_state(&number, TicketState::Done, Some("sn"));
        let hook = &hooks[0];
        let timestamp = header(hook, "X-Grantdesk-Timestamp");
        let expected = base64::engine::general_purpose::STANDARD
            .encode(hmac_sha256("sn", format!("{timestamp}.{}", hook.body).as_bytes()));
        assert_eq!(header(hook, "X-Grantdesk-Signature"), expected);
        let body: Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(body["state"], "6");
        assert_eq!(body["number"], number.as_str());
    }
}
