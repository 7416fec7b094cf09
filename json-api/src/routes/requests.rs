//! `POST, GET /requests`, `GET /requests/{id}`, `POST /requests/{id}/approve|deny|cancel`.

use super::catalog::load_resource;
use super::{parse_id, List};
use crate::error::{ApiError, ApiResult};
use crate::identity::Caller;
use crate::{json, Api};
use grantdesk::domain::{
    self, AccessRequest, AuditEvent, AuditTicket, DurationMinutes, Grant, GrantId, GrantStatus, GroupId, LinkedTicket,
    NewRequest, RequestId, RequestStatus, ResourceId, ReviewDecision, TicketProviderKind, UserId,
};
use grantdesk::providers::TicketProvider;
use grantdesk::store::keys;
use grantdesk::store::{PageRequest, Versioned};
use grantdesk::usecases::authorization;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The most a reason may say.
const MAX_REASON_CHARS: usize = 4_000;

/// A request's grant, as the request shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantSummary {
    /// The grant's id.
    pub id: GrantId,
    /// Whether it is in force.
    pub status: GrantStatus,
    /// When access started.
    pub granted_at: chrono::DateTime<chrono::Utc>,
    /// When access ends by itself; `null` means indefinite.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When access ended, if it has.
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<Grant> for GrantSummary {
    fn from(g: Grant) -> Self {
        Self {
            id: g.id,
            status: g.status,
            granted_at: g.granted_at,
            expires_at: g.expires_at,
            ended_at: g.ended_at,
        }
    }
}

/// A request with its grant and tickets.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// The request's id.
    pub id: RequestId,
    /// The resource wanted.
    pub resource_id: ResourceId,
    /// Who wants it.
    pub requester_id: UserId,
    /// Why.
    pub reason: String,
    /// For how long; `null` means indefinite.
    #[schema(value_type = Option<u32>)]
    pub duration_minutes: Option<DurationMinutes>,
    /// Where it stands.
    pub status: RequestStatus,
    /// The group whose members review it.
    pub reviewer_group_id: Option<GroupId>,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Who decided it, when and why.
    pub decision: Option<ReviewDecision>,
    /// The grant, once approved.
    pub grant: Option<GrantSummary>,
    /// The linked ticket.
    pub linked_ticket: Option<LinkedTicket>,
    /// The audit ticket.
    pub audit_ticket: Option<AuditTicket>,
}

impl RequestView {
    fn new(r: AccessRequest, grant: Option<Grant>, audit_ticket: Option<AuditTicket>) -> Self {
        Self {
            id: r.id,
            resource_id: r.resource_id,
            requester_id: r.requester_id,
            reason: r.reason,
            duration_minutes: r.duration_minutes,
            status: r.status,
            reviewer_group_id: r.reviewer_group_id,
            created_at: r.created_at,
            decision: r.decision,
            grant: grant.map(GrantSummary::from),
            linked_ticket: r.linked_ticket,
            audit_ticket,
        }
    }
}

/// The ticket a requester links: `{provider, key}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct LinkedTicketInput {
    /// The provider holding the ticket.
    pub provider: TicketProviderKind,
    /// Its key (`OPS-12`, `ENG-7`, `INC0010001`).
    pub key: String,
}

/// `POST /requests`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateRequest {
    /// The resource wanted.
    pub resource_id: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// For how long, in minutes; `null` or absent means indefinite.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    pub duration_minutes: Option<DurationMinutes>,
    /// The ticket the access is for.
    #[serde(default)]
    pub linked_ticket: Option<LinkedTicketInput>,
}

/// The most a comment may say: it is posted to tickets and carried by events, whose entries
/// EventBridge limits to 256 KB.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// `POST /requests/{id}/approve|deny|cancel`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct Decision {
    /// What the reviewer or requester says; required to deny.
    #[serde(default, deserialize_with = "bounded_comment")]
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

fn bounded_comment<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let comment = Option::<String>::deserialize(d)?;
    match &comment {
        Some(text) if text.chars().count() > MAX_COMMENT_CHARS => Err(serde::de::Error::custom(format!(
            "comment must be at most {MAX_COMMENT_CHARS} characters"
        ))),
        _ => Ok(comment),
    }
}

impl Api {
    /// Reads a linked ticket from its provider: it must be connected and the ticket must exist.
    async fn read_linked_ticket(&self, input: &LinkedTicketInput) -> ApiResult<LinkedTicket> {
        let client = self.connections.client(input.provider).await?;
        let ticket = client.find_ticket(input.key.trim()).await?.ok_or_else(|| {
            ApiError::unprocessable(
                "linked_ticket_not_found",
                format!("{} has no ticket {}", input.provider, input.key.trim()),
            )
        })?;
        Ok(LinkedTicket {
            provider: input.provider,
            remote_id: ticket.remote_id,
            key: ticket.key,
            url: ticket.url,
            state: ticket.state,
        })
    }

    async fn load_request(&self, id: &str) -> ApiResult<Versioned<AccessRequest>> {
        let id = parse_id("request", id, RequestId::parse)?;
        self.store
            .request(&id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("request {id} not found")))
    }

    async fn view(&self, request: AccessRequest) -> ApiResult<RequestView> {
        let grant = match &request.grant_id {
            Some(id) => self.store.grant(id).await?.map(|g| g.value),
            None => None,
        };
        let audit = match &request.audit {
            Some(_) => self.store.audit_ticket(&request.id).await?.map(|t| t.value),
            None => None,
        };
        Ok(RequestView::new(request, grant, audit))
    }
}

/// Requests access; approved at once where the resource auto-approves.
#[utoipa::path(post, path = "/requests", tag = "requests", request_body = CreateRequest,
    responses((status = 201, body = RequestView), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn create(api: &Api, caller: &Caller, body: CreateRequest) -> ApiResult<Response<Body>> {
    let loaded = load_resource(api, &body.resource_id).await?;
    let reason = body.reason.trim().to_owned();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("reason must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    let settings = api.store.settings().await?.value;
    let linked_ticket: Option<LinkedTicket> = match &body.linked_ticket {
        Some(input) if !domain::ticket::valid_ticket_key(&input.key) => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!("{:?} is not a ticket key", input.key),
            ));
        }
        Some(input) => Some(api.read_linked_ticket(input).await?),
        None => None,
    };
    let resource = &loaded.resource.value;
    let new = NewRequest {
        resource_id: resource.id.clone(),
        requester_id: caller.id().clone(),
        reason,
        duration_minutes: body.duration_minutes,
        linked_ticket,
    };
    let request = AccessRequest::open(new, resource, &loaded.app, &settings, domain::now())?;
    if api.store.has_active_access(&resource.id, caller.id()).await? {
        return Err(ApiError::conflict(
            "access_already_active",
            "you already have active access to this resource",
        ));
    }
    if resource.request_config.auto_approve {
        let new = Versioned {
            version: 0,
            value: request,
        };
        let decided = api
            .reviews
            .record_approval(new, None, None, resource, &loaded.app)
            .await?;
        let view = RequestView::new(decided.request, decided.grant, None);
        return Ok(json(StatusCode::CREATED, &view));
    }
    let events: Vec<AuditEvent> = request.opened_event().into_iter().collect();
    api.store.create_request(&request, &events).await?;
    Ok(json(StatusCode::CREATED, &RequestView::new(request, None, None)))
}

/// The caller's own requests, newest first; `?review=pending` lists those the caller may review.
#[utoipa::path(get, path = "/requests", tag = "requests",
    params(("review" = Option<String>, Query, description = "`pending`: requests the caller may review"),
           ("limit" = Option<i32>, Query,), ("next_token" = Option<String>, Query,)),
    responses((status = 200, body = List<RequestView>), (status = 400, body = crate::error::ErrorBody)))]
pub async fn list(api: &Api, caller: &Caller, review: Option<String>, page: PageRequest) -> ApiResult<Response<Body>> {
    let (requests, next_token) = match review.as_deref() {
        None => {
            let page = api.store.requests_of(caller.id(), &page).await?;
            (page.items, page.next_token)
        }
        Some("pending") if caller.is_admin => {
            let page = api.store.all_pending_reviews(&page).await?;
            (page.items, page.next_token)
        }
        Some("pending") => {
            let groups: Vec<GroupId> = caller.groups.iter().cloned().collect();
            (api.store.pending_reviews_for(&groups).await?, None)
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_review",
                format!("review must be 'pending', not {other:?}"),
            ))
        }
    };
    let requests: Vec<AccessRequest> = if review.is_some() {
        // A requester never reviews their own request, so it is not in their review queue.
        requests
            .into_iter()
            .filter(|r| &r.requester_id != caller.id())
            .collect()
    } else {
        requests
    };
    let grant_ids: Vec<GrantId> = requests.iter().filter_map(|r| r.grant_id.clone()).collect();
    let audited: Vec<RequestId> = requests
        .iter()
        .filter(|r| r.audit.is_some())
        .map(|r| r.id.clone())
        .collect();
    // The grants and the audit tickets, in one batch.
    let mut wanted: Vec<_> = grant_ids.iter().map(|id| keys::grant(id, None)).collect();
    wanted.extend(audited.iter().map(keys::audit_ticket));
    let read = api.store.prefetch_missing(&wanted).await?;
    let mut grants: HashMap<GrantId, Grant> = read
        .grants(&grant_ids)
        .await?
        .into_iter()
        .map(|g| (g.id.clone(), g))
        .collect();
    let mut audit_tickets: HashMap<RequestId, AuditTicket> = read.audit_tickets(&audited).await?.into_iter().collect();
    let items = requests
        .into_iter()
        .map(|r| {
            let grant = r.grant_id.as_ref().and_then(|id| grants.remove(id));
            let audit = audit_tickets.remove(&r.id);
            RequestView::new(r, grant, audit)
        })
        .collect();
    Ok(json(StatusCode::OK, &List { items, next_token }))
}

/// One request (its requester, its reviewers, org admins and the resource's admins).
#[utoipa::path(get, path = "/requests/{id}", tag = "requests", params(("id" = String, Path,)),
    responses((status = 200, body = RequestView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get(api: &Api, caller: &Caller, id: &str) -> ApiResult<Response<Body>> {
    let request = api.load_request(id).await?.value;
    if &request.requester_id != caller.id() {
        let loaded = load_resource(api, request.resource_id.as_str()).await?;
        authorization::see_request(&caller.actor(), &request, loaded.admin_group())?;
    }
    Ok(json(StatusCode::OK, &api.view(request).await?))
}

/// Approves a request and grants access until the requested end time.
#[utoipa::path(post, path = "/requests/{id}/approve", tag = "requests", params(("id" = String, Path,)), request_body = Decision,
    responses((status = 200, body = RequestView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn approve(api: &Api, caller: &Caller, id: &str, body: Decision) -> ApiResult<Response<Body>> {
    let id = parse_id("request", id, RequestId::parse)?;
    let decided = api.reviews.approve(&caller.principal(), &id, body.comment).await?;
    Ok(json(
        StatusCode::OK,
        &RequestView::new(decided.request, decided.grant, None),
    ))
}

/// Denies a request; a comment is required.
#[utoipa::path(post, path = "/requests/{id}/deny", tag = "requests", params(("id" = String, Path,)), request_body = Decision,
    responses((status = 200, body = RequestView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn deny(api: &Api, caller: &Caller, id: &str, body: Decision) -> ApiResult<Response<Body>> {
    let id = parse_id("request", id, RequestId::parse)?;
    let decided = api.reviews.deny(&caller.principal(), &id, body.comment).await?;
    Ok(json(StatusCode::OK, &api.view(decided.request).await?))
}

/// Withdraws a pending request (its requester only).
#[utoipa::path(post, path = "/requests/{id}/cancel", tag = "requests", params(("id" = String, Path,)), request_body = Decision,
    responses((status = 200, body = RequestView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn cancel(api: &Api, caller: &Caller, id: &str, body: Decision) -> ApiResult<Response<Body>> {
    let id = parse_id("request", id, RequestId::parse)?;
    let decided = api.reviews.cancel(&caller.principal(), &id, body.comment).await?;
    Ok(json(StatusCode::OK, &api.view(decided.request).await?))
}
