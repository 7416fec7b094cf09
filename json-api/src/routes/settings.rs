//! `GET, PUT /settings`.

use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::{json, Api};
use grantdesk::domain::Settings;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

/// The org settings.
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, body = Settings), (status = 403, body = crate::error::ErrorBody)))]
pub async fn get(api: &Api, caller: &Caller) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    Ok(json(StatusCode::OK, &api.store.settings().await?.value))
}

/// Replaces the org settings.
#[utoipa::path(put, path = "/settings", tag = "settings", request_body = Settings,
    responses((status = 200, body = Settings), (status = 400, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn put(api: &Api, caller: &Caller, mut settings: Settings) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    settings
        .validate()
        .map_err(|m| ApiError::bad_request("invalid_body", m))?;
    settings
        .check_issue_type()
        .map_err(|m| ApiError::unprocessable("invalid_target", m))?;
    if let Some(project) = settings.audit_tickets.project.as_mut() {
        *project = project.trim().to_owned();
    }
    if let (Some(provider), Some(project)) = (settings.audit_tickets.provider, &settings.audit_tickets.project) {
        let issue_type = settings.audit_tickets.issue_type.as_deref();
        api.check_issue_type(provider, project, issue_type, "audit_tickets")
            .await?;
    }
    let current = api.store.settings().await?;
    api.store.save_settings(current.version, &settings).await?;
    Ok(json(StatusCode::OK, &settings))
}
