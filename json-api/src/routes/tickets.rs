//! `GET /tickets/search`: the ticket picker.

use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::{json, Api};
use grantdesk::domain::{TicketProviderKind, TicketState};
use grantdesk::providers::TicketProvider;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

/// Most tickets returned per provider.
const PICKER_LIMIT: usize = 20;
/// Most apps and resources read to find the projects grantdesk files tickets in.
const MAX_CONFIGURED: usize = 2_000;

/// An open ticket the requester may link.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TicketMatch {
    /// The provider holding it.
    pub provider: TicketProviderKind,
    /// Its key.
    pub key: String,
    /// A link to it.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its state (never done or canceled here).
    pub state: TicketState,
}

/// Open tickets matching a key or text, in one provider or every connected one, searched only
/// in the projects grantdesk files tickets in (propagation and audit targets) and the
/// integration's `searchable_projects`.
#[utoipa::path(get, path = "/tickets/search", tag = "tickets",
    params(("provider" = Option<String>, Query, description = "jira, linear or servicenow; all connected when absent"),
           ("q" = String, Query, description = "a ticket key or words from its title")),
    responses((status = 200, body = super::List<TicketMatch>), (status = 400, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)))]
pub async fn search(
    api: &Api,
    _caller: &Caller,
    provider: Option<String>,
    q: Option<String>,
) -> ApiResult<Response<Body>> {
    let q = q.unwrap_or_default();
    if q.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "q must be at most 200 characters",
        ));
    }
    let q = grantdesk::domain::trim_text(&q).to_owned();
    if q.is_empty() {
        return Err(ApiError::bad_request("invalid_query", "q is required"));
    }
    let providers = match provider.as_deref().filter(|p| !p.is_empty()) {
        Some(name) => vec![TicketProviderKind::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_provider",
                format!("provider must be jira, linear or servicenow, not {name:?}"),
            )
        })?],
        None => api
            .store
            .integrations()
            .await?
            .into_iter()
            .map(|i| i.provider)
            .collect(),
    };
    let mut items = Vec::new();
    for kind in providers {
        let client = api.connections.client(kind).await?;
        // Only where grantdesk files tickets, and where an admin opened the picker to: the
        // integration's account may see far more (confidential projects among them).
        let mut projects = api.store.configured_projects(kind, MAX_CONFIGURED).await?;
        if let Some(integration) = api.store.integration(kind).await? {
            projects.extend(integration.value.searchable_projects);
        }
        let projects: Vec<String> = projects.into_iter().collect();
        for ticket in client.search_open(&q, &projects, PICKER_LIMIT).await? {
            items.push(TicketMatch {
                provider: kind,
                key: ticket.key,
                url: ticket.url,
                title: ticket.title,
                state: ticket.state,
            });
        }
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"items": items, "next_token": null}),
    ))
}
