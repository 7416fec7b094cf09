//! A resource's Users tab and adding or removing users by hand:
//! `GET, POST /resources/{id}/users`, `DELETE /resources/{id}/users/{user_id}`.

use super::{parse_id, List};
use crate::error::ApiResult;
use crate::identity::Caller;
use crate::{json, no_content, Api};
use grantdesk::domain::{
    AccessChange, DurationMinutes, Email, Grant, GrantId, GrantSource, GrantStatus, LinkedTicket, PropagationStatus,
    ResourceId, TicketRef, User, UserId,
};
use grantdesk::store::{PageRequest, ResourceUser};
use grantdesk::usecases::access::UserAccess;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

/// How far a change has been made on the end system.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PropagationView {
    /// Propagation status.
    pub status: PropagationStatus,
    /// The propagation ticket, once filed.
    pub ticket: Option<TicketRef>,
    /// Why filing failed, when it did.
    pub failure_reason: Option<String>,
    /// Something to know about the filed ticket (filed unassigned, say).
    pub note: Option<String>,
}

impl From<AccessChange> for PropagationView {
    fn from(change: AccessChange) -> Self {
        Self {
            status: change.propagation,
            ticket: change.ticket,
            failure_reason: change.failure_reason,
            note: change.note,
        }
    }
}

/// One line of the Users tab.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ResourceUserView {
    /// The user.
    pub user_id: UserId,
    /// Their e-mail address.
    pub email: Option<Email>,
    /// Their name.
    pub name: Option<String>,
    /// Their latest grant's status.
    pub status: GrantStatus,
    /// Their latest grant.
    pub grant_id: GrantId,
    /// When access started.
    pub granted_at: chrono::DateTime<chrono::Utc>,
    /// When access ends by itself; `null` means indefinite.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When access ended, if it has.
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `request` or `manual`.
    pub source: GrantSource,
    /// The ticket whose closing also ends access.
    pub linked_ticket: Option<LinkedTicket>,
    /// The latest change's propagation (the add, or the remove once access ended).
    pub propagation: Option<PropagationView>,
}

impl ResourceUserView {
    fn new(grant: Grant, user: Option<User>, change: Option<AccessChange>) -> Self {
        Self {
            email: user.as_ref().map(|u| u.email.clone()),
            name: user.map(|u| u.name),
            user_id: grant.user_id,
            status: grant.status,
            grant_id: grant.id,
            granted_at: grant.granted_at,
            expires_at: grant.expires_at,
            ended_at: grant.ended_at,
            source: grant.source,
            linked_ticket: grant.linked_ticket,
            propagation: change.map(PropagationView::from),
        }
    }
}

impl From<ResourceUser> for ResourceUserView {
    fn from(line: ResourceUser) -> Self {
        Self::new(line.grant, line.user, line.change)
    }
}

impl From<UserAccess> for ResourceUserView {
    fn from(access: UserAccess) -> Self {
        Self::new(access.grant, access.user, Some(access.change))
    }
}

/// The Users tab: each user with their latest access, its expiry and its propagation.
#[utoipa::path(get, path = "/resources/{id}/users", tag = "access", params(("id" = String, Path,),
    ("limit" = Option<i32>, Query,), ("next_token" = Option<String>, Query,)),
    responses((status = 200, body = List<ResourceUserView>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn users_tab(api: &Api, caller: &Caller, id: &str, page: PageRequest) -> ApiResult<Response<Body>> {
    let resource = parse_id("resource", id, ResourceId::parse)?;
    let page = api.access().users(&caller.principal(), &resource, &page).await?;
    Ok(json(StatusCode::OK, &List::from_page(page, ResourceUserView::from)))
}

/// `POST /resources/{id}/users`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct AddUser {
    /// The user to add.
    pub user_id: String,
    /// For how long; `null` or absent means indefinite.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    pub duration_minutes: Option<DurationMinutes>,
}

/// Adds a user by hand.
#[utoipa::path(post, path = "/resources/{id}/users", tag = "access", params(("id" = String, Path,)), request_body = AddUser,
    responses((status = 201, body = ResourceUserView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn add_user(api: &Api, caller: &Caller, id: &str, body: AddUser) -> ApiResult<Response<Body>> {
    let resource = parse_id("resource", id, ResourceId::parse)?;
    let user = parse_id("user", &body.user_id, UserId::parse)?;
    let added = api
        .access()
        .add(&caller.principal(), &resource, &user, body.duration_minutes)
        .await?;
    Ok(json(StatusCode::CREATED, &ResourceUserView::from(added)))
}

/// Removes a user by hand, ending their active grant.
#[utoipa::path(delete, path = "/resources/{id}/users/{user_id}", tag = "access", params(("id" = String, Path,), ("user_id" = String, Path,)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn remove_user(api: &Api, caller: &Caller, id: &str, user: &str) -> ApiResult<Response<Body>> {
    let resource = parse_id("resource", id, ResourceId::parse)?;
    let user = parse_id("user", user, UserId::parse)?;
    api.access().remove(&caller.principal(), &resource, &user).await?;
    Ok(no_content())
}

/// Files a propagation ticket again after filing failed for good (for example once the
/// provider is connected); the ticket filer picks it up from the stream.
#[utoipa::path(post, path = "/resources/{id}/users/{user_id}/propagation/retry", tag = "access",
    params(("id" = String, Path,), ("user_id" = String, Path,)),
    responses((status = 202, body = ResourceUserView), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn retry_propagation(api: &Api, caller: &Caller, id: &str, user: &str) -> ApiResult<Response<Body>> {
    let resource = parse_id("resource", id, ResourceId::parse)?;
    let user = parse_id("user", user, UserId::parse)?;
    let retried = api.access().retry_filing(&caller.principal(), &resource, &user).await?;
    Ok(json(StatusCode::ACCEPTED, &ResourceUserView::from(retried)))
}
