//! A connected ticket provider, as grantdesk records it (its secrets live elsewhere).

use super::ticket::{TicketProviderKind, TicketState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The last connection check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IntegrationHealth {
    /// Whether it succeeded.
    pub ok: bool,
    /// When it ran.
    pub checked_at: chrono::DateTime<chrono::Utc>,
    /// What it found (`connected as ...`, or the failure).
    pub message: String,
}

/// A connected provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Integration {
    /// Which provider.
    pub provider: TicketProviderKind,
    /// Its base URL.
    pub base_url: String,
    /// The account the credentials belong to: Jira e-mail, ServiceNow user name (empty for Linear).
    pub account: String,
    /// When it was connected.
    pub connected_at: chrono::DateTime<chrono::Utc>,
    /// The last check.
    pub health: IntegrationHealth,
    /// Provider state → normalized state, ahead of the defaults (not stored when empty).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state_overrides: BTreeMap<String, TicketState>,
    /// Projects (Jira project keys, Linear team keys, ServiceNow tables) the ticket picker may
    /// search besides the propagation and audit targets (not stored when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub searchable_projects: Vec<String>,
    /// ServiceNow: the close code incidents are resolved with (default "Solution provided").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_code: Option<String>,
}

/// The connected Slack workspace (its bot token and signing secret are in Secrets Manager).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlackConnection {
    /// The Web API's base URL (`https://slack.com/api`).
    pub base_url: String,
    /// The workspace, as `auth.test` named it.
    pub team: String,
    /// The bot's Slack user id.
    pub bot_user_id: String,
    /// When it was connected.
    pub connected_at: chrono::DateTime<chrono::Utc>,
    /// The last check of the token.
    pub health: IntegrationHealth,
}
