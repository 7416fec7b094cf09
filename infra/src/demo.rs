//! The demo `make dev` starts with, set up the way a person would: over the HTTP API with an
//! admin's dev token. Jira, Linear and ServiceNow (sandboxes) are connected and send signed
//! webhooks; "My Role" files Jira propagation tickets on grant and removal; "Prod DB" requires a
//! linked Linear ticket; every request files an audit ticket in ServiceNow; reviewers are told in
//! the sandbox Slack; and Josh has asked for "My Role".

use crate::dev_token::DevTokenSecret;
use crate::sandbox::{self, Sandboxes, WebhookTarget};
use crate::seed::{self, Demo};
use crate::LocalStack;
use serde_json::{json, Value};

/// The webhook secrets the demo's integrations use (dev only).
pub const JIRA_WEBHOOK_SECRET: &str = "dev-jira-webhook-secret";
/// Linear's.
pub const LINEAR_WEBHOOK_SECRET: &str = "dev-linear-webhook-secret";
/// ServiceNow's.
pub const SERVICENOW_WEBHOOK_SECRET: &str = "dev-servicenow-webhook-secret";

/// What the demo set up.
pub struct DemoSetup {
    /// The seeded directory and catalog.
    pub demo: Demo,
    /// "Prod DB", which requires a linked Linear ticket.
    pub prod_db: String,
    /// Josh's pending request for "My Role".
    pub josh_request: String,
}

struct Client<'a> {
    http: reqwest::Client,
    api: &'a str,
    secret: &'a DevTokenSecret,
}

impl Client<'_> {
    async fn call(&self, email: &str, method: reqwest::Method, path: &str, body: Value) -> Result<Value, String> {
        let token = self.secret.mint(email, email.split('@').next().unwrap_or(email), 600);
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{method} {path} answered {status}: {value}"));
        }
        Ok(value)
    }
}

/// Sets the demo up on a freshly started stack.
pub async fn set_up(stack: &LocalStack, sandboxes: &Sandboxes, secret: &DevTokenSecret) -> Result<DemoSetup, String> {
    let demo = seed::seed(&stack.store).await?;
    seed::seed_sandboxes(sandboxes).await;
    let client = Client {
        http: reqwest::Client::new(),
        api: &stack.api_url,
        secret,
    };
    let admin = seed::ADMIN_EMAIL;
    let put = reqwest::Method::PUT;

    let jira = json!({"base_url": sandboxes.jira.url(), "email": sandbox::JIRA_EMAIL, "api_token": sandbox::JIRA_API_TOKEN,
        "webhook_secret": JIRA_WEBHOOK_SECRET, "project": "OPS", "state_overrides": {"Won't Do": "canceled"}});
    client.call(admin, put.clone(), "/integrations/jira", jira).await?;
    let linear = json!({"base_url": sandboxes.linear.url(), "api_key": sandbox::LINEAR_API_KEY,
        "webhook_secret": LINEAR_WEBHOOK_SECRET, "project": "ENG", "searchable_projects": ["ENG"]});
    client.call(admin, put.clone(), "/integrations/linear", linear).await?;
    let servicenow = json!({"base_url": sandboxes.servicenow.url(), "username": sandbox::SERVICENOW_USERNAME,
        "password": sandbox::SERVICENOW_PASSWORD, "webhook_secret": SERVICENOW_WEBHOOK_SECRET, "project": "incident"});
    client
        .call(admin, put.clone(), "/integrations/servicenow", servicenow)
        .await?;
    let hook = |provider: &str, secret: &str| {
        Some(WebhookTarget {
            url: format!("{}/webhooks/{provider}", stack.api_url),
            secret: secret.into(),
        })
    };
    sandboxes.jira.set_webhook(hook("jira", JIRA_WEBHOOK_SECRET));
    sandboxes.linear.set_webhook(hook("linear", LINEAR_WEBHOOK_SECRET));
    sandboxes
        .servicenow
        .set_webhook(hook("servicenow", SERVICENOW_WEBHOOK_SECRET));

    let propagation = json!({"ticket_propagation": {"enabled_on_grant": true, "enabled_on_revocation": true, "provider": "jira", "project": "OPS"}});
    client
        .call(
            admin,
            reqwest::Method::PATCH,
            &format!("/resources/{}", demo.my_role),
            propagation,
        )
        .await?;
    let settings = json!({"require_ticket_link": false, "audit_tickets": {"enabled": true, "provider": "servicenow", "project": "incident"}});
    client.call(admin, put.clone(), "/settings", settings).await?;
    let prod_db = client
        .call(
            admin,
            reqwest::Method::POST,
            "/resources",
            json!({"app_id": demo.app, "name": "Prod DB", "admin_group_id": demo.admins,
            "request_config": {"require_ticket_link": true, "max_duration_minutes": 240}}),
        )
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let slack = json!({"base_url": sandboxes.slack_api_url(), "bot_token": sandbox::SLACK_BOT_TOKEN,
        "signing_secret": sandbox::SLACK_SIGNING_SECRET});
    client.call(admin, put.clone(), "/integrations/slack", slack).await?;
    sandboxes
        .slack
        .set_webhook(hook("slack", sandbox::SLACK_SIGNING_SECRET));
    sandboxes
        .slack
        .with(|s, _| {
            s.add_user(seed::REVIEWER_EMAIL);
            s.add_user(seed::ADMIN_EMAIL);
            s.add_user(seed::JOSH_EMAIL);
            ((), vec![])
        })
        .await;

    let request = json!({"resource_id": demo.my_role, "reason": "on-call this week", "duration_minutes": 60});
    let josh_request = client
        .call(seed::JOSH_EMAIL, reqwest::Method::POST, "/requests", request)
        .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(DemoSetup {
        demo,
        prod_db,
        josh_request,
    })
}
