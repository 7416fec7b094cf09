//! `POST, GET /apps`, `GET, PATCH /apps/{id}`, `POST, GET /resources`,
//! `GET, PATCH /resources/{id}`.

use super::{name, nullable, parse_id, List};
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::{json, Api};
use grantdesk::domain::{
    self, App, AppId, DurationMinutes, GroupId, RequestConfig, Resource, ResourceId, TicketPropagation,
};
use grantdesk::store::{PageRequest, Versioned};
use grantdesk::usecases::authorization::{self, Actor};
use grantdesk::usecases::resource::LoadedResource;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Deserialize;

/// `POST /apps`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateApp {
    /// Display name.
    pub name: String,
    /// The group administering the app and, by default, its resources.
    #[serde(default)]
    pub admin_group_id: Option<String>,
    /// The default ticket propagation for its resources.
    #[serde(default)]
    pub ticket_propagation: Option<TicketPropagation>,
}

/// `PATCH /apps/{id}`: fields left out stay as they are; `null` clears.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct PatchApp {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The admin group; `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub admin_group_id: Option<Option<String>>,
    /// The default ticket propagation; `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TicketPropagation>)]
    pub ticket_propagation: Option<Option<TicketPropagation>>,
}

/// `POST /resources`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateResource {
    /// The app holding the resource.
    pub app_id: String,
    /// Display name.
    pub name: String,
    /// The resource's admins; `null` means the app's.
    #[serde(default)]
    pub admin_group_id: Option<String>,
    /// How requests are handled (defaults for anything left out).
    #[serde(default)]
    pub request_config: RequestConfig,
    /// Ticket propagation; `null` means inherit the app's.
    #[serde(default)]
    pub ticket_propagation: Option<TicketPropagation>,
}

/// A partial `request_config` in `PATCH /resources/{id}`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct PatchRequestConfig {
    /// Require a linked ticket.
    #[serde(default)]
    pub require_ticket_link: Option<bool>,
    /// The cap in minutes; `null` for none.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    pub max_duration_minutes: Option<Option<DurationMinutes>>,
    /// The reviewer group; `null` for the resource's admins.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub reviewer_group_id: Option<Option<String>>,
    /// Approve requests at once.
    #[serde(default)]
    pub auto_approve: Option<bool>,
}

/// `PATCH /resources/{id}`: fields left out stay as they are; `null` clears (inherit).
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct PatchResource {
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The resource's admins; `null` for the app's. Org admins only.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub admin_group_id: Option<Option<String>>,
    /// Merged into the current configuration.
    #[serde(default)]
    pub request_config: Option<PatchRequestConfig>,
    /// Ticket propagation; `null` to inherit the app's.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<TicketPropagation>)]
    pub ticket_propagation: Option<Option<TicketPropagation>>,
}

/// Parses an optional group id and checks the group exists.
async fn existing_group(api: &Api, id: Option<&str>) -> ApiResult<Option<GroupId>> {
    let Some(id) = id else { return Ok(None) };
    let group = parse_id("group", id, GroupId::parse)?;
    match api.store.group(&group).await? {
        Some(_) => Ok(Some(group)),
        None => Err(ApiError::not_found(format!("group {group} not found"))),
    }
}

async fn checked_propagation(
    api: &Api,
    propagation: Option<TicketPropagation>,
) -> ApiResult<Option<TicketPropagation>> {
    match propagation {
        Some(mut p) => {
            p.validate()
                .map_err(|m| ApiError::bad_request("invalid_body", format!("ticket_propagation: {m}")))?;
            p.project = domain::trim_text(&p.project).to_owned();
            // Well-formed, but not for this provider: 422, like the other target checks.
            p.check_issue_type()
                .map_err(|m| ApiError::unprocessable("invalid_target", format!("ticket_propagation: {m}")))?;
            api.check_issue_type(p.provider, &p.project, p.issue_type.as_deref(), "ticket_propagation")
                .await?;
            Ok(Some(p))
        }
        None => Ok(None),
    }
}

/// Creates an app.
#[utoipa::path(post, path = "/apps", tag = "catalog", request_body = CreateApp,
    responses((status = 201, body = App), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn create_app(api: &Api, caller: &Caller, body: CreateApp) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let app = App {
        id: AppId::generate(),
        name: name("name", &body.name)?,
        admin_group_id: existing_group(api, body.admin_group_id.as_deref()).await?,
        ticket_propagation: checked_propagation(api, body.ticket_propagation).await?,
        created_at: domain::now(),
    };
    api.store.create_app(&app).await?;
    Ok(json(StatusCode::CREATED, &app))
}

/// Lists apps.
#[utoipa::path(get, path = "/apps", tag = "catalog",
    params(("limit" = Option<i32>, Query,), ("next_token" = Option<String>, Query,)),
    responses((status = 200, body = List<App>)))]
pub async fn list_apps(api: &Api, caller: &Caller, page: PageRequest) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    Ok(json(
        StatusCode::OK,
        &List::from_page(api.store.list_apps(&page).await?, |a| a),
    ))
}

pub(crate) async fn load_app(api: &Api, id: &AppId) -> ApiResult<Versioned<App>> {
    api.store
        .app(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("app {id} not found")))
}

/// One app.
#[utoipa::path(get, path = "/apps/{id}", tag = "catalog", params(("id" = String, Path,)),
    responses((status = 200, body = App), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_app(api: &Api, caller: &Caller, id: &str) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let app = load_app(api, &parse_id("app", id, AppId::parse)?).await?;
    Ok(json(StatusCode::OK, &app.value))
}

/// Changes an app.
#[utoipa::path(patch, path = "/apps/{id}", tag = "catalog", params(("id" = String, Path,)), request_body = PatchApp,
    responses((status = 200, body = App), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn patch_app(api: &Api, caller: &Caller, id: &str, patch: PatchApp) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let Versioned {
        version,
        value: mut app,
    } = load_app(api, &parse_id("app", id, AppId::parse)?).await?;
    if let Some(new_name) = patch.name {
        app.name = name("name", &new_name)?;
    }
    if let Some(group) = patch.admin_group_id {
        app.admin_group_id = existing_group(api, group.as_deref()).await?;
    }
    if let Some(propagation) = patch.ticket_propagation {
        app.ticket_propagation = checked_propagation(api, propagation).await?;
    }
    api.store.update_app(version, &app).await?;
    Ok(json(StatusCode::OK, &app))
}

/// Creates a resource.
#[utoipa::path(post, path = "/resources", tag = "catalog", request_body = CreateResource,
    responses((status = 201, body = Resource), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn create_resource(api: &Api, caller: &Caller, body: CreateResource) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let app = load_app(api, &parse_id("app", &body.app_id, AppId::parse)?)
        .await?
        .value;
    let mut request_config = body.request_config;
    if let Some(reviewers) = request_config.reviewer_group_id.take() {
        request_config.reviewer_group_id = existing_group(api, Some(reviewers.as_str())).await?;
    }
    let resource = Resource {
        id: ResourceId::generate(),
        app_id: app.id,
        name: name("name", &body.name)?,
        admin_group_id: existing_group(api, body.admin_group_id.as_deref()).await?,
        request_config,
        ticket_propagation: checked_propagation(api, body.ticket_propagation).await?,
        last_synced_at: None,
        created_at: domain::now(),
    };
    api.store.create_resource(&resource).await?;
    Ok(json(StatusCode::CREATED, &resource))
}

/// Lists resources.
#[utoipa::path(get, path = "/resources", tag = "catalog",
    params(("limit" = Option<i32>, Query,), ("next_token" = Option<String>, Query,)),
    responses((status = 200, body = List<Resource>)))]
pub async fn list_resources(api: &Api, caller: &Caller, page: PageRequest) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    Ok(json(
        StatusCode::OK,
        &List::from_page(api.store.list_resources(&page).await?, |r| r),
    ))
}

/// Resource `id` (as the path spells it) with its app.
pub(crate) async fn load_resource(api: &Api, id: &str) -> ApiResult<LoadedResource> {
    let id = parse_id("resource", id, ResourceId::parse)?;
    Ok(LoadedResource::load(&api.store, &id).await?)
}

/// Resource `id` with its app, once the caller is found to be one who may administer it.
async fn administered(api: &Api, caller: &Caller, id: &str) -> ApiResult<(LoadedResource, Actor)> {
    let id = parse_id("resource", id, ResourceId::parse)?;
    Ok(LoadedResource::administered(&api.store, &caller.principal(), &id).await?)
}

/// One resource (org admins and the resource's admins).
#[utoipa::path(get, path = "/resources/{id}", tag = "catalog", params(("id" = String, Path,)),
    responses((status = 200, body = Resource), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_resource(api: &Api, caller: &Caller, id: &str) -> ApiResult<Response<Body>> {
    let (loaded, _) = administered(api, caller, id).await?;
    Ok(json(StatusCode::OK, &loaded.resource.value))
}

/// Changes a resource (org admins and the resource's admins; only org admins may change
/// who administers it, who reviews its requests and auto-approval).
#[utoipa::path(patch, path = "/resources/{id}", tag = "catalog", params(("id" = String, Path,)), request_body = PatchResource,
    responses((status = 200, body = Resource), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn patch_resource(api: &Api, caller: &Caller, id: &str, patch: PatchResource) -> ApiResult<Response<Body>> {
    let (loaded, actor) = administered(api, caller, id).await?;
    let reviewing = patch
        .request_config
        .as_ref()
        .is_some_and(|c| c.reviewer_group_id.is_some() || c.auto_approve.is_some());
    if patch.admin_group_id.is_some() || reviewing {
        authorization::govern_resource(&actor)?;
    }
    let Versioned {
        version,
        value: mut resource,
    } = loaded.resource;
    if let Some(new_name) = patch.name {
        resource.name = name("name", &new_name)?;
    }
    if let Some(group) = patch.admin_group_id {
        resource.admin_group_id = existing_group(api, group.as_deref()).await?;
    }
    if let Some(config) = patch.request_config {
        let current = &mut resource.request_config;
        if let Some(v) = config.require_ticket_link {
            current.require_ticket_link = v;
        }
        if let Some(v) = config.max_duration_minutes {
            current.max_duration_minutes = v;
        }
        if let Some(v) = config.reviewer_group_id {
            current.reviewer_group_id = existing_group(api, v.as_deref()).await?;
        }
        if let Some(v) = config.auto_approve {
            current.auto_approve = v;
        }
    }
    if let Some(propagation) = patch.ticket_propagation {
        resource.ticket_propagation = checked_propagation(api, propagation).await?;
    }
    api.store.update_resource(version, &resource).await?;
    Ok(json(StatusCode::OK, &resource))
}

/// Asks status sync to read this resource's open tickets now; answers at once (202). At most
/// once per resource per 30 s; sooner is 429 with `Retry-After`.
#[utoipa::path(post, path = "/resources/{id}/sync", tag = "catalog", params(("id" = String, Path,)),
    responses((status = 202), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 429, body = crate::error::ErrorBody, headers(("Retry-After" = u64, description = "seconds until a sync may be requested again")))))]
pub async fn sync_now(api: &Api, caller: &Caller, id: &str) -> ApiResult<Response<Body>> {
    let id = parse_id("resource", id, ResourceId::parse)?;
    let resource = grantdesk::usecases::sync::request_sync(&api.store, &api.events, &caller.principal(), &id).await?;
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({"resource_id": resource.id, "status": "sync_requested", "last_synced_at": resource.last_synced_at}),
    ))
}
