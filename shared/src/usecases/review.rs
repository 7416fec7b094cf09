//! Reviewing a request: approve, deny, cancel. The same rules whichever front door the decision
//! comes through; the decision, its grant and its audit events are written in one transaction.

use super::authorization::{self, Actor, Principal, Refusal};
use crate::domain::{
    self, AccessRequest, App, AuditEvent, DomainError, Grant, RequestId, Resource, ResourceId, UserId,
};
use crate::schedules::ExpirySchedules;
use crate::store::{ApprovalWrite, Store, StoreError, Versioned};
use thiserror::Error;

/// Why a review did not happen. Each front door maps these to its answer in one place.
#[derive(Debug, Error)]
pub enum ReviewError {
    /// No such request.
    #[error("request {0} not found")]
    RequestNotFound(RequestId),
    /// The request's resource is gone.
    #[error("resource {0} not found")]
    ResourceNotFound(ResourceId),
    /// The caller may not.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The request's state does not allow it (not pending, a comment missing...).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The table refused (a concurrent decision: [`StoreError::Conflict`]) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A decided request, with the grant an approval started.
#[derive(Clone, Debug)]
pub struct Decided {
    /// The request as it now stands.
    pub request: AccessRequest,
    /// The grant an approval started.
    pub grant: Option<Grant>,
}

/// The reviewing use cases over one store.
#[derive(Clone, Debug)]
pub struct Reviews {
    store: Store,
    schedules: ExpirySchedules,
}

impl Reviews {
    /// Reviews recorded in `store`, with grant ends scheduled through `schedules`.
    pub fn new(store: Store, schedules: ExpirySchedules) -> Self {
        Self { store, schedules }
    }

    async fn load(&self, id: &RequestId) -> Result<Versioned<AccessRequest>, ReviewError> {
        self.store
            .request(id)
            .await?
            .ok_or_else(|| ReviewError::RequestNotFound(id.clone()))
    }

    /// The request, once `principal` is found to be one who may review it.
    async fn load_for_review(
        &self,
        principal: &Principal,
        id: &RequestId,
    ) -> Result<Versioned<AccessRequest>, ReviewError> {
        let request = self.load(id).await?;
        let actor = Actor::resolve(&self.store, principal, &[request.value.reviewer_group_id.as_ref()]).await?;
        authorization::review(&actor, &request.value)?;
        Ok(request)
    }

    /// The request, if `principal` may review it (a front door asks before it opens a
    /// dialog that ends in a decision).
    pub async fn reviewable(&self, principal: &Principal, id: &RequestId) -> Result<AccessRequest, ReviewError> {
        Ok(self.load_for_review(principal, id).await?.value)
    }

    /// Approves a pending request as `principal` and grants access until the requested end.
    pub async fn approve(
        &self,
        principal: &Principal,
        id: &RequestId,
        comment: Option<String>,
    ) -> Result<Decided, ReviewError> {
        let request = self.load_for_review(principal, id).await?;
        let (resource, app) = self
            .store
            .resource_and_app(&request.value.resource_id)
            .await?
            .ok_or_else(|| ReviewError::ResourceNotFound(request.value.resource_id.clone()))?;
        self.record_approval_via(
            request,
            Some(&principal.user_id),
            comment,
            &resource.value,
            &app,
            principal.via,
        )
        .await
    }

    /// Records an approval (by `approver`, or automatic when `None`) of a request read at its
    /// version (0: a new request approved as it is made), with its grant, add change and audit
    /// events in one transaction, then schedules the grant's end.
    pub async fn record_approval(
        &self,
        request: Versioned<AccessRequest>,
        approver: Option<&UserId>,
        comment: Option<String>,
        resource: &Resource,
        app: &App,
    ) -> Result<Decided, ReviewError> {
        self.record_approval_via(request, approver, comment, resource, app, None)
            .await
    }

    async fn record_approval_via(
        &self,
        request: Versioned<AccessRequest>,
        approver: Option<&UserId>,
        comment: Option<String>,
        resource: &Resource,
        app: &App,
        via: Option<&'static str>,
    ) -> Result<Decided, ReviewError> {
        let now = domain::now();
        let opening = request.version == 0;
        let (mut approved, grant, change) =
            request
                .value
                .approve(approver, comment.clone(), resource.effective_propagation(app), now)?;
        mark_via(&mut approved, via);
        let mut events = Vec::new();
        if opening {
            events.extend(approved.opened_event());
        }
        events.extend(approved.decision_event());
        self.store
            .approve(ApprovalWrite {
                request: &approved,
                request_version: request.version,
                grant: &grant,
                change: &change,
                events: &events,
            })
            .await?;
        self.schedules.schedule_end(&grant).await;
        Ok(Decided {
            request: approved,
            grant: Some(grant),
        })
    }

    /// Denies a pending request as `principal`; a comment is required.
    pub async fn deny(
        &self,
        principal: &Principal,
        id: &RequestId,
        comment: Option<String>,
    ) -> Result<Decided, ReviewError> {
        let request = self.load_for_review(principal, id).await?;
        let mut denied = request.value.deny(&principal.user_id, comment, domain::now())?;
        mark_via(&mut denied, principal.via);
        self.record_decision(request.version, denied).await
    }

    /// Withdraws a pending request (its requester only).
    pub async fn cancel(
        &self,
        principal: &Principal,
        id: &RequestId,
        comment: Option<String>,
    ) -> Result<Decided, ReviewError> {
        let request = self.load(id).await?;
        let actor = Actor::resolve(&self.store, principal, &[]).await?;
        authorization::cancel(&actor, &request.value)?;
        let canceled = request.value.cancel(&principal.user_id, comment, domain::now())?;
        self.record_decision(request.version, canceled).await
    }

    /// Writes a decision that starts no grant (a denial, a cancellation) read at `version`,
    /// with its audit event.
    async fn record_decision(&self, version: u64, decided: AccessRequest) -> Result<Decided, ReviewError> {
        let events: Vec<AuditEvent> = decided.decision_event().into_iter().collect();
        self.store.save_request(version, &decided, &events).await?;
        Ok(Decided {
            request: decided,
            grant: None,
        })
    }
}

/// Records on a decision the front door it came through.
fn mark_via(request: &mut AccessRequest, via: Option<&'static str>) {
    if let (Some(via), Some(decision)) = (via, request.decision.as_mut()) {
        decision.via = Some(via.to_owned());
    }
}
