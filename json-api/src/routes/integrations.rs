//! `GET /integrations`, `PUT, DELETE /integrations/{jira|linear|servicenow|slack}`.

use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::{json, no_content, Api};
use grantdesk::domain::{self, Integration, IntegrationHealth, SlackConnection, TicketProviderKind, TicketState};
use grantdesk::providers::{self, AnyProvider, Credentials, ProviderErrorKind, TicketProvider};
use grantdesk::secrets::IntegrationSecrets;
use grantdesk::store::StoreError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Linear's API, the default for a Linear integration.
const LINEAR_API: &str = "https://api.linear.app";

/// Which integration: a ticket provider, or Slack.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationProvider {
    /// Jira Cloud.
    Jira,
    /// Linear.
    Linear,
    /// ServiceNow.
    Servicenow,
    /// Slack (reviewer notifications and approvals).
    Slack,
}

impl From<TicketProviderKind> for IntegrationProvider {
    fn from(kind: TicketProviderKind) -> Self {
        match kind {
            TicketProviderKind::Jira => Self::Jira,
            TicketProviderKind::Linear => Self::Linear,
            TicketProviderKind::Servicenow => Self::Servicenow,
        }
    }
}

/// A connected provider as the API shows it: configuration and health, never secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    /// Which provider.
    pub provider: IntegrationProvider,
    /// Its base URL.
    pub base_url: String,
    /// When it was connected.
    pub connected_at: chrono::DateTime<chrono::Utc>,
    /// The last connection check.
    pub health: IntegrationHealth,
    /// Provider state → normalized state, ahead of the defaults.
    pub state_overrides: BTreeMap<String, TicketState>,
    /// Projects the ticket picker searches besides the propagation and audit targets.
    pub searchable_projects: Vec<String>,
    /// ServiceNow: the close code incidents are resolved with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_code: Option<String>,
}

impl From<SlackConnection> for IntegrationView {
    fn from(slack: SlackConnection) -> Self {
        Self {
            provider: IntegrationProvider::Slack,
            base_url: slack.base_url,
            connected_at: slack.connected_at,
            health: slack.health,
            state_overrides: BTreeMap::new(),
            searchable_projects: Vec::new(),
            close_code: None,
        }
    }
}

/// `PUT /integrations/slack`. Deliberately not `Debug`: it carries secrets.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConnectSlack {
    /// The Web API's base URL; `https://slack.com/api` when absent (loopback `http://` allowed
    /// as for the ticket providers).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The bot token (`xoxb-…`), checked with `auth.test` before anything is saved.
    pub bot_token: String,
    /// The app's signing secret, which Slack signs interactions with.
    pub signing_secret: String,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        Self {
            provider: i.provider.into(),
            base_url: i.base_url,
            connected_at: i.connected_at,
            health: i.health,
            state_overrides: i.state_overrides,
            searchable_projects: i.searchable_projects,
            close_code: i.close_code,
        }
    }
}

/// `PUT /integrations/{provider}`: Jira takes `base_url, email, api_token`; Linear `api_key`
/// (and `base_url`, default `https://api.linear.app`); ServiceNow `base_url, username, password`.
/// All take `webhook_secret`, and optionally `project` (checked against the provider) and
/// `state_overrides`. Deliberately not `Debug`: it carries secrets.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConnectIntegration {
    /// `https://` base URL (loopback addresses may use `http://`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Jira: the account's e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Jira: the API token.
    #[serde(default)]
    pub api_token: Option<String>,
    /// Linear: the personal API key.
    #[serde(default)]
    pub api_key: Option<String>,
    /// ServiceNow: the user name.
    #[serde(default)]
    pub username: Option<String>,
    /// ServiceNow: the password.
    #[serde(default)]
    pub password: Option<String>,
    /// The secret the provider signs webhooks with.
    pub webhook_secret: String,
    /// A Jira project key, Linear team key or ServiceNow table to check access to.
    #[serde(default)]
    pub project: Option<String>,
    /// Provider state (Jira status name, Linear state name, ServiceNow state number) →
    /// normalized state.
    #[serde(default)]
    pub state_overrides: BTreeMap<String, TicketState>,
    /// Projects (Jira project keys, Linear team keys, ServiceNow tables) the ticket picker may
    /// search besides the propagation and audit targets; none by default.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub searchable_projects: Vec<String>,
    /// ServiceNow only: the close code incidents are resolved with, one of the instance's
    /// choices (default "Solution provided").
    #[serde(default)]
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    pub close_code: Option<String>,
}

fn provider(text: &str) -> ApiResult<TicketProviderKind> {
    TicketProviderKind::parse(text).ok_or_else(|| ApiError::not_found(format!("no provider named {text:?}")))
}

fn required(value: Option<String>, field: &str) -> ApiResult<String> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("invalid_body", format!("{field} is required")))
}

/// Checks the picker's extra projects: at most 50, each a project key, team key or (for
/// ServiceNow) `incident` or `sc_task`.
fn searchable_projects(kind: TicketProviderKind, projects: Vec<String>) -> ApiResult<Vec<String>> {
    if projects.len() > 50 {
        return Err(ApiError::bad_request("invalid_body", "at most 50 searchable_projects"));
    }
    let mut checked: Vec<String> = Vec::new();
    for project in projects {
        let project = project.trim().to_owned();
        let valid = match kind {
            TicketProviderKind::Servicenow => matches!(project.as_str(), "incident" | "sc_task"),
            _ => {
                !project.is_empty()
                    && project.len() <= 64
                    && project.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
        };
        if !valid {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("{project:?} is not a {kind} project key"),
            ));
        }
        if !checked.contains(&project) {
            checked.push(project);
        }
    }
    Ok(checked)
}

/// The connected providers.
#[utoipa::path(get, path = "/integrations", tag = "integrations",
    responses((status = 200, body = super::List<IntegrationView>), (status = 403, body = crate::error::ErrorBody)))]
pub async fn list(api: &Api, caller: &Caller) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let mut items: Vec<IntegrationView> = api
        .store
        .integrations()
        .await?
        .into_iter()
        .map(IntegrationView::from)
        .collect();
    if let Some(slack) = api.store.slack_connection().await? {
        items.push(IntegrationView::from(slack.value));
    }
    Ok(json(StatusCode::OK, &serde_json::json!({"items": items})))
}

/// Connects (or reconnects) a provider after checking the credentials against it; nothing
/// is saved if the check fails.
#[utoipa::path(put, path = "/integrations/{provider}", tag = "integrations", params(("provider" = String, Path, description = "jira, linear or servicenow")),
    request_body = ConnectIntegration,
    responses((status = 200, body = IntegrationView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
pub async fn connect(
    api: &Api,
    caller: &Caller,
    provider_name: &str,
    body: ConnectIntegration,
) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let kind = provider(provider_name)?;
    let base_url = match (kind, body.base_url) {
        (TicketProviderKind::Linear, None) => LINEAR_API.to_owned(),
        (_, url) => required(url, "base_url")?,
    };
    let base_url = providers::validate_base_url(&base_url, api.config.allow_loopback_http)
        .map_err(|m| ApiError::bad_request("invalid_base_url", m))?;
    let searchable_projects = searchable_projects(kind, body.searchable_projects)?;
    let close_code = match (kind, body.close_code) {
        (_, None) => None,
        (TicketProviderKind::Servicenow, Some(code))
            if !grantdesk::domain::trim_text(&code).is_empty() && code.chars().count() <= 80 =>
        {
            Some(grantdesk::domain::trim_text(&code).to_owned())
        }
        (TicketProviderKind::Servicenow, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "close_code must be 1 to 80 characters",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "close_code is for ServiceNow only",
            ))
        }
    };
    let (account, credentials) = match kind {
        TicketProviderKind::Jira => {
            let email = required(body.email, "email")?;
            let token = SecretString::from(required(body.api_token, "api_token")?);
            (
                email.clone(),
                Credentials::Jira {
                    email,
                    api_token: token,
                },
            )
        }
        TicketProviderKind::Linear => (
            String::new(),
            Credentials::Linear {
                api_key: SecretString::from(required(body.api_key, "api_key")?),
            },
        ),
        TicketProviderKind::Servicenow => {
            let username = required(body.username, "username")?;
            let password = SecretString::from(required(body.password, "password")?);
            (username.clone(), Credentials::Servicenow { username, password })
        }
    };
    if body.webhook_secret.trim().is_empty() {
        return Err(ApiError::bad_request("invalid_body", "webhook_secret is required"));
    }
    let project = body.project.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if let Some(project) = &project {
        domain::catalog::validate_project(Some(kind), project).map_err(|m| ApiError::bad_request("invalid_body", m))?;
    }
    let secret = match &credentials {
        Credentials::Jira { api_token, .. } => api_token.clone(),
        Credentials::Linear { api_key } => api_key.clone(),
        Credentials::Servicenow { password, .. } => password.clone(),
    };
    let client = AnyProvider::new(
        api.connections.http().clone(),
        &base_url,
        credentials,
        body.state_overrides.clone(),
    );
    let identity = match client.check_connection(project.as_deref()).await {
        Ok(identity) => identity,
        Err(err) => {
            return Err(match err.kind {
                ProviderErrorKind::Unauthorized => ApiError::unprocessable(
                    "invalid_credentials",
                    format!(
                        "{kind} refused the credentials ({}); nothing was saved",
                        err.public_message()
                    ),
                ),
                ProviderErrorKind::NotFound if project.is_some() => ApiError::unprocessable(
                    "project_not_found",
                    format!(
                        "{kind} has no project {:?} visible to these credentials; nothing was saved",
                        project.unwrap_or_default()
                    ),
                ),
                // grantdesk's own check of what came back (a project without the issue type
                // tickets are filed as): the provider answered, but cannot take our tickets.
                ProviderErrorKind::Rejected if err.status.is_none() => {
                    ApiError::unprocessable("invalid_target", format!("{kind}: {}; nothing was saved", err.message))
                }
                ProviderErrorKind::NotFound | ProviderErrorKind::Rejected => ApiError::unprocessable(
                    "provider_not_found",
                    format!(
                        "{base_url} did not answer like a {kind} API ({}); nothing was saved",
                        err.public_message()
                    ),
                ),
                _ => err.into(),
            });
        }
    };
    let now = domain::now();
    let integration = Integration {
        provider: kind,
        base_url,
        account,
        connected_at: now,
        health: IntegrationHealth {
            ok: true,
            checked_at: now,
            message: format!("connected as {identity}"),
        },
        state_overrides: body.state_overrides,
        searchable_projects,
        close_code,
    };
    let secrets = IntegrationSecrets {
        credential: secret,
        webhook_secret: SecretString::from(body.webhook_secret),
    };
    api.connections
        .secrets()
        .put_integration(kind.as_str(), &secrets)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "saving integration secrets");
            ApiError::internal("the credentials could not be stored; try again")
        })?;
    let version = api.store.integration(kind).await?.map_or(0, |current| current.version);
    api.store.save_integration(version, &integration).await?;
    Ok(json(StatusCode::OK, &IntegrationView::from(integration)))
}

/// Connects (or reconnects) Slack after checking the bot token with `auth.test`; nothing is
/// saved if Slack refuses it.
#[utoipa::path(put, path = "/integrations/slack", tag = "integrations", request_body = ConnectSlack,
    responses((status = 200, body = IntegrationView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
pub async fn connect_slack(api: &Api, caller: &Caller, body: ConnectSlack) -> ApiResult<Response<Body>> {
    use grantdesk::slack::{SlackClient, SlackError, SLACK_API};
    Api::require_admin(caller)?;
    let base_url = body.base_url.unwrap_or_else(|| SLACK_API.to_owned());
    let base_url = providers::validate_base_url(&base_url, api.config.allow_loopback_http)
        .map_err(|m| ApiError::bad_request("invalid_base_url", m))?;
    let token = required(Some(body.bot_token), "bot_token")?;
    let signing_secret = required(Some(body.signing_secret), "signing_secret")?;
    let client = SlackClient::new(&base_url, SecretString::from(token.clone()));
    let bot = match client.auth_test().await {
        Ok(bot) => bot,
        Err(SlackError::Refused { code, .. }) => {
            return Err(ApiError::unprocessable(
                "invalid_credentials",
                format!("Slack refused the bot token ({code}); nothing was saved"),
            ))
        }
        Err(err) => return Err(err.into()),
    };
    let now = domain::now();
    let connection = SlackConnection {
        base_url,
        team: bot.team.clone(),
        bot_user_id: bot.user_id,
        connected_at: now,
        health: IntegrationHealth {
            ok: true,
            checked_at: now,
            message: format!("connected to the {} workspace", bot.team),
        },
    };
    let secrets = IntegrationSecrets {
        credential: SecretString::from(token),
        webhook_secret: SecretString::from(signing_secret),
    };
    api.connections
        .secrets()
        .put_integration(grantdesk::slack::SECRET_NAME, &secrets)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "saving Slack secrets");
            ApiError::internal("the credentials could not be stored; try again")
        })?;
    let version = api.store.slack_connection().await?.map_or(0, |current| current.version);
    api.store.save_slack_connection(version, &connection).await?;
    Ok(json(StatusCode::OK, &IntegrationView::from(connection)))
}

/// Disconnects Slack: nobody is notified any more, and its secrets are deleted.
async fn disconnect_slack(api: &Api) -> ApiResult<Response<Body>> {
    match api.store.delete_slack_connection().await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(ApiError::not_found("slack is not connected")),
        Err(err) => return Err(err.into()),
    }
    api.connections
        .secrets()
        .delete_integration(grantdesk::slack::SECRET_NAME)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "deleting Slack secrets");
            ApiError::internal("Slack was disconnected but its secrets could not be deleted")
        })?;
    Ok(no_content())
}

/// Disconnects a provider and deletes its secrets.
#[utoipa::path(delete, path = "/integrations/{provider}", tag = "integrations", params(("provider" = String, Path,)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn disconnect(api: &Api, caller: &Caller, provider_name: &str) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    if provider_name == "slack" {
        return disconnect_slack(api).await;
    }
    let kind = provider(provider_name)?;
    match api.store.delete_integration(kind).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(ApiError::not_found(format!("{kind} is not connected"))),
        Err(err) => return Err(err.into()),
    }
    api.connections
        .secrets()
        .delete_integration(kind.as_str())
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "deleting integration secrets");
            ApiError::internal("the integration was disconnected but its secrets could not be deleted")
        })?;
    Ok(no_content())
}
