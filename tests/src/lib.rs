//! Harness for the end-to-end tests: one AWS emulator per test process, and per test a fresh
//! table and the local stack on a random port, driven over HTTP (or, in `use_cases.rs`, through
//! the use cases themselves).

pub mod browser;

use grantdesk_local::dev_token::DevTokenSecret;
use grantdesk_local::emulator::{Emulator, Endpoints};
use grantdesk_local::{LocalStack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The org admin every test stack is bootstrapped with.
pub const ADMIN: &str = "admin@example.test";

fn emulator_endpoints() -> Endpoints {
    static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();
    match EMULATOR.get_or_init(Emulator::start) {
        Ok(emulator) => emulator.endpoints().clone(),
        Err(message) => panic!("cannot start the AWS emulators: {message}"),
    }
}

/// A running stack for one test.
pub struct TestStack {
    /// The stack (its store is there for tests that look behind the API).
    pub stack: LocalStack,
    secret: DevTokenSecret,
    http: reqwest::Client,
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
}

impl Reply {
    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field} in {}", self.body))
            .to_owned()
    }
}

impl TestStack {
    /// Starts a stack on a fresh table, its stream feeding the ticket filer.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts a stack whose ticket filer is called only by the test itself.
    pub async fn start_without_stream() -> Self {
        Self::start_with(false).await
    }

    async fn start_with(poll_stream: bool) -> Self {
        // `GRANTDESK_TEST_LOG=1` shows the stack's logs (RUST_LOG filters them).
        static LOGS: OnceLock<()> = OnceLock::new();
        if std::env::var_os("GRANTDESK_TEST_LOG").is_some() {
            LOGS.get_or_init(lambda_http::tracing::init_default_subscriber);
        }
        let endpoints = tokio::task::spawn_blocking(emulator_endpoints)
            .await
            .expect("emulator start-up panicked");
        let secret = DevTokenSecret::new("end-to-end-test-secret").unwrap();
        let table = format!("grantdesk-test-{}", uuid_suffix());
        let stack = LocalStack::start(StackOptions {
            endpoints,
            table,
            port: 0,
            bootstrap_admins: ADMIN.into(),
            secret: secret.clone(),
            poll_stream,
            sync_every: None,
            oidc: None,
        })
        .await
        .expect("starting the local stack");
        Self {
            stack,
            secret,
            http: reqwest::Client::new(),
        }
    }

    /// The secret the stack's dev tokens are signed with.
    pub fn dev_secret(&self) -> &DevTokenSecret {
        &self.secret
    }

    /// A dev token for `email`.
    pub fn token(&self, email: &str) -> String {
        self.secret.mint(email, email.split('@').next().unwrap_or(email), 600)
    }

    /// Sends raw bytes as the body.
    pub async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stack.api_url))
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("sending request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("reading response");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON response")
        };
        Reply { status, body }
    }

    /// Calls the API as `email` with an optional JSON body.
    pub async fn call(&self, email: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let token = self.token(email);
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, path, Some(&token), bytes).await
    }

    /// GET as `email`.
    pub async fn get(&self, email: &str, path: &str) -> Reply {
        self.call(email, Method::GET, path, None).await
    }

    /// POST as `email`.
    pub async fn post(&self, email: &str, path: &str, body: Value) -> Reply {
        self.call(email, Method::POST, path, Some(body)).await
    }

    /// Connects the sandbox Jira as the org admin; `fields` add to or replace the defaults
    /// (base URL, the sandbox credentials, webhook secret `jira-secret`).
    pub async fn connect_jira(&self, sandboxes: &grantdesk_local::sandbox::Sandboxes, fields: Value) {
        use grantdesk_local::sandbox::{JIRA_API_TOKEN, JIRA_EMAIL};
        let mut body = json!({"base_url": sandboxes.jira.url(), "email": JIRA_EMAIL, "api_token": JIRA_API_TOKEN, "webhook_secret": "jira-secret"});
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        let reply = self.call(ADMIN, Method::PUT, "/integrations/jira", Some(body)).await;
        assert_eq!(reply.status, 200, "connecting Jira: {:?}", reply.body);
    }

    /// Makes `resource` file Jira tickets in project OPS for the enabled directions.
    pub async fn propagate_to_jira(&self, resource: &str, on_grant: bool, on_revocation: bool) {
        let body = json!({"ticket_propagation": {"enabled_on_grant": on_grant, "enabled_on_revocation": on_revocation, "provider": "jira", "project": "OPS"}});
        let reply = self
            .call(ADMIN, Method::PATCH, &format!("/resources/{resource}"), Some(body))
            .await;
        assert_eq!(reply.status, 200, "enabling propagation: {:?}", reply.body);
    }

    /// Josh requests the demo resource with `body`'s fields and Riley approves; returns the
    /// request's id.
    pub async fn approved_request(&self, demo: &Demo, body: Value) -> String {
        let mut request = json!({"resource_id": demo.resource});
        if let (Some(request), Some(fields)) = (request.as_object_mut(), body.as_object()) {
            request.extend(fields.clone());
        }
        let created = self.post(JOSH, "/requests", request).await;
        assert_eq!(created.status, 201, "requesting: {:?}", created.body);
        let id = created.str("id");
        let approved = self.post(RILEY, &format!("/requests/{id}/approve"), json!({})).await;
        assert_eq!(approved.status, 200, "approving: {:?}", approved.body);
        id
    }

    /// Runs the status-sync sweeper over everything waiting, however recently (the schedule
    /// re-drives what waited over 5 minutes).
    pub async fn sweep_now(&self) {
        let mut report = grantdesk::usecases::sync::SyncReport::default();
        self.stack
            .sync
            .sweep_older_than(chrono::Duration::zero(), &mut report)
            .await
            .expect("sweeping");
    }

    /// Connects the sandbox Slack as the admin and points its interactions at this stack.
    pub async fn connect_slack(&self, sandboxes: &grantdesk_local::sandbox::Sandboxes) {
        use grantdesk_local::sandbox::{WebhookTarget, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET};
        let reply = self
            .call(
                ADMIN,
                Method::PUT,
                "/integrations/slack",
                Some(
                    json!({"base_url": sandboxes.slack_api_url(), "bot_token": SLACK_BOT_TOKEN,
                            "signing_secret": SLACK_SIGNING_SECRET}),
                ),
            )
            .await;
        assert_eq!(reply.status, 200, "connecting Slack: {:?}", reply.body);
        sandboxes.slack.set_webhook(Some(WebhookTarget {
            url: format!("{}/webhooks/slack", self.stack.api_url),
            secret: SLACK_SIGNING_SECRET.into(),
        }));
    }

    /// Creates a user as the admin and returns its id.
    pub async fn user(&self, email: &str, name: &str) -> String {
        let reply = self.post(ADMIN, "/users", json!({"email": email, "name": name})).await;
        assert_eq!(reply.status, 201, "creating {email}: {:?}", reply.body);
        reply.str("id")
    }

    /// The demo organisation over the API: Josh, a reviewer, a stranger, an admin group and
    /// "My Role" (at most 480 minutes).
    pub async fn demo(&self) -> Demo {
        let josh = self.user("josh@example.test", "Josh").await;
        let riley = self.user("riley@example.test", "Riley").await;
        let stranger = self.user("sam@example.test", "Sam").await;
        let group = self
            .post(
                ADMIN,
                "/groups",
                json!({"name": "My Role admins", "member_ids": [riley]}),
            )
            .await;
        assert_eq!(group.status, 201, "{:?}", group.body);
        let admins = group.str("id");
        let app = self
            .post(ADMIN, "/apps", json!({"name": "AWS", "admin_group_id": admins}))
            .await;
        assert_eq!(app.status, 201, "{:?}", app.body);
        let resource = self
            .post(
                ADMIN,
                "/resources",
                json!({"app_id": app.str("id"), "name": "My Role", "request_config": {"max_duration_minutes": 480}}),
            )
            .await;
        assert_eq!(resource.status, 201, "{:?}", resource.body);
        Demo {
            josh,
            riley,
            stranger,
            admins,
            app: app.str("id"),
            resource: resource.str("id"),
        }
    }
}

/// The `make dev` demo on a test stack: the sandboxes, the stack, what the demo set up, and the
/// sandbox page's URL (served for the test).
pub struct DemoStack {
    /// The sandbox providers.
    pub sandboxes: std::sync::Arc<grantdesk_local::sandbox::Sandboxes>,
    /// The stack.
    pub stack: TestStack,
    /// The demo's people, resources and Josh's request.
    pub setup: grantdesk_local::demo::DemoSetup,
    /// The sandbox page.
    pub page: String,
}

impl DemoStack {
    /// Starts the sandboxes and a stack, sets the demo up and serves the sandbox page.
    pub async fn start() -> Self {
        let sandboxes = std::sync::Arc::new(grantdesk_local::sandbox::Sandboxes::start().await.unwrap());
        let stack = TestStack::start().await;
        let setup = grantdesk_local::demo::set_up(&stack.stack, &sandboxes, stack.dev_secret())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let page = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        tokio::spawn(grantdesk_local::sandbox_page::serve(listener, sandboxes.clone()));
        Self {
            sandboxes,
            stack,
            setup,
            page,
        }
    }
}

/// Waits (up to 20 s, polling) until `check` returns `Some`, and returns it.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually_within(20, what, check).await
}

/// Waits up to `seconds`, polling every 100 ms, until `check` returns `Some`, and returns it.
pub async fn eventually_within<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..seconds * 10 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Ids of the demo organisation.
pub struct Demo {
    /// josh@example.test, the requester.
    pub josh: String,
    /// riley@example.test, in the admin group (so a reviewer).
    pub riley: String,
    /// sam@example.test, in no group.
    pub stranger: String,
    /// The admin group.
    pub admins: String,
    /// The app "AWS".
    pub app: String,
    /// The resource "My Role".
    pub resource: String,
}

/// The e-mails of the demo users.
pub const JOSH: &str = "josh@example.test";
/// The reviewer.
pub const RILEY: &str = "riley@example.test";
/// A user with no role.
pub const SAM: &str = "sam@example.test";

fn uuid_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
