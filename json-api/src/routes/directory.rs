//! `GET /me`, `POST, GET /users`, `DELETE /users/{id}/identity`, `POST, GET /groups`, `GET /groups/{id}`,
//! `PUT /groups/{id}/members`.

use super::{name, parse_id, List};
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::{json, Api};
use grantdesk::domain::{self, Email, Group, GroupId, User, UserId};
use grantdesk::store::{PageRequest, StoreError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The caller as `GET /me` shows them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The caller's user id.
    pub id: UserId,
    /// E-mail address.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Org admin.
    pub is_admin: bool,
    /// The groups the caller belongs to.
    pub groups: Vec<GroupId>,
}

/// The caller's user record and roles.
#[utoipa::path(get, path = "/me", tag = "directory", responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(_api: &Api, caller: &Caller) -> ApiResult<Response<Body>> {
    let groups = caller.groups.iter().cloned().collect();
    let user = &caller.user;
    Ok(json(
        StatusCode::OK,
        &Me {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            is_admin: caller.is_admin,
            groups,
        },
    ))
}

/// `POST /users`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateUser {
    /// E-mail address; unique in the directory.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Org admin.
    #[serde(default)]
    pub is_admin: bool,
}

/// Adds a user to the directory.
#[utoipa::path(post, path = "/users", tag = "directory", request_body = CreateUser,
    responses((status = 201, body = User), (status = 400, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_user(api: &Api, caller: &Caller, body: CreateUser) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let email = Email::parse(&body.email).map_err(|m| ApiError::bad_request("invalid_email", m))?;
    let user = User {
        id: UserId::generate(),
        email,
        name: name("name", &body.name)?,
        is_admin: body.is_admin,
        created_at: domain::now(),
        identity: None,
    };
    match api.store.create_user(&user).await {
        Ok(()) => Ok(json(StatusCode::CREATED, &user)),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "email_taken",
            format!("a user with e-mail {} already exists", user.email),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Lists the directory, ordered by e-mail address.
#[utoipa::path(get, path = "/users", tag = "directory",
    params(("limit" = Option<i32>, Query,), ("next_token" = Option<String>, Query,)),
    responses((status = 200, body = List<User>)))]
pub async fn list_users(api: &Api, caller: &Caller, page: PageRequest) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    Ok(json(
        StatusCode::OK,
        &List::from_page(api.store.list_users(&page).await?, |u| u),
    ))
}

/// Clears a user's identity-provider binding (after their IdP account was recreated, say):
/// the next token accepted for the e-mail address binds it again.
#[utoipa::path(delete, path = "/users/{id}/identity", tag = "directory",
    params(("id" = String, Path, description = "the user's id")),
    responses((status = 204, description = "the binding is cleared"), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody)))]
pub async fn clear_identity(api: &Api, caller: &Caller, id: &str) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let id = parse_id("user", id, UserId::parse)?;
    let record = api
        .store
        .user_record(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    if record.value.identity.is_some() {
        let mut user = record.value.clone();
        user.identity = None;
        api.store.replace_user(&record, &user).await?;
    }
    Ok(crate::no_content())
}

/// A group with its members.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupView {
    /// The group's id.
    pub id: GroupId,
    /// Display name.
    pub name: String,
    /// The members' user ids.
    pub member_ids: Vec<UserId>,
    /// When the group was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl GroupView {
    fn new(group: Group, members: impl IntoIterator<Item = UserId>) -> Self {
        Self {
            id: group.id,
            name: group.name,
            member_ids: members.into_iter().collect(),
            created_at: group.created_at,
        }
    }
}

/// `POST /groups`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateGroup {
    /// Display name.
    pub name: String,
    /// The first members.
    #[serde(default)]
    pub member_ids: Vec<String>,
}

/// `PUT /groups/{id}/members`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetMembers {
    /// The complete new member list.
    pub member_ids: Vec<String>,
}

/// Parses member ids and checks every one is a directory user.
async fn existing_users(api: &Api, ids: &[String]) -> ApiResult<BTreeSet<UserId>> {
    let mut parsed = BTreeSet::new();
    for id in ids {
        parsed.insert(parse_id("user", id, UserId::parse)?);
    }
    let wanted: Vec<UserId> = parsed.iter().cloned().collect();
    let found: BTreeSet<UserId> = api.store.users(&wanted).await?.into_iter().map(|u| u.id).collect();
    if let Some(missing) = parsed.difference(&found).next() {
        return Err(ApiError::not_found(format!("user {missing} not found")));
    }
    Ok(parsed)
}

/// Creates a group.
#[utoipa::path(post, path = "/groups", tag = "directory", request_body = CreateGroup,
    responses((status = 201, body = GroupView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn create_group(api: &Api, caller: &Caller, body: CreateGroup) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let group = Group {
        id: GroupId::generate(),
        name: name("name", &body.name)?,
        created_at: domain::now(),
    };
    let members = existing_users(api, &body.member_ids).await?;
    api.store.create_group(&group, &members).await?;
    Ok(json(StatusCode::CREATED, &GroupView::new(group, members)))
}

/// Lists groups (without members).
#[utoipa::path(get, path = "/groups", tag = "directory",
    params(("limit" = Option<i32>, Query,), ("next_token" = Option<String>, Query,)),
    responses((status = 200, body = List<Group>)))]
pub async fn list_groups(api: &Api, caller: &Caller, page: PageRequest) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    Ok(json(
        StatusCode::OK,
        &List::from_page(api.store.list_groups(&page).await?, |g| g),
    ))
}

async fn load_group(api: &Api, id: &str) -> ApiResult<grantdesk::store::Versioned<Group>> {
    let id = parse_id("group", id, GroupId::parse)?;
    api.store
        .group(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("group {id} not found")))
}

/// A group with its members.
#[utoipa::path(get, path = "/groups/{id}", tag = "directory", params(("id" = String, Path,)),
    responses((status = 200, body = GroupView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_group(api: &Api, caller: &Caller, id: &str) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let group = load_group(api, id).await?;
    let members = api.store.group_members(&group.value.id).await?;
    Ok(json(StatusCode::OK, &GroupView::new(group.value, members)))
}

/// Replaces a group's members.
#[utoipa::path(put, path = "/groups/{id}/members", tag = "directory", params(("id" = String, Path,)), request_body = SetMembers,
    responses((status = 200, body = GroupView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn set_members(api: &Api, caller: &Caller, id: &str, body: SetMembers) -> ApiResult<Response<Body>> {
    Api::require_admin(caller)?;
    let group = load_group(api, id).await?;
    let members = existing_users(api, &body.member_ids).await?;
    api.store.set_group_members(&group, &members).await?;
    Ok(json(StatusCode::OK, &GroupView::new(group.value, members)))
}
