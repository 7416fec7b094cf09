//! Access requests and their review.

use super::access_change::AccessChange;
use super::audit::{AuditEvent, AuditEventKind, AuditTarget};
use super::catalog::{App, Resource};
use super::duration::DurationMinutes;
use super::error::DomainError;
use super::grant::Grant;
use super::ids::{GrantId, GroupId, RequestId, ResourceId, UserId};
use super::settings::Settings;
use super::ticket::LinkedTicket;
use super::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for a reviewer.
    Pending,
    /// Approved: a grant was made.
    Approved,
    /// Denied by a reviewer.
    Denied,
    /// Withdrawn by the requester.
    Canceled,
}

/// Who decided a request, when, and what they said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewDecision {
    /// The reviewer or requester; `null` for auto-approval.
    pub by: Option<UserId>,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What they said.
    pub comment: Option<String>,
    /// Where the decision was made, when not in the console or the API (`slack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// A request as the requester makes it, already parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    /// The resource wanted.
    pub resource_id: ResourceId,
    /// Who wants it.
    pub requester_id: UserId,
    /// Why.
    pub reason: String,
    /// For how long; `None` means indefinite.
    pub duration_minutes: Option<DurationMinutes>,
    /// The ticket the access is for, already read from its provider.
    pub linked_ticket: Option<LinkedTicket>,
}

/// A request for time-bound access to one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessRequest {
    /// The request's id.
    pub id: RequestId,
    /// The resource wanted.
    pub resource_id: ResourceId,
    /// Who wants it.
    pub requester_id: UserId,
    /// Why.
    pub reason: String,
    /// For how long; `null` means indefinite.
    pub duration_minutes: Option<DurationMinutes>,
    /// The ticket the access is for.
    pub linked_ticket: Option<LinkedTicket>,
    /// Where it stands.
    pub status: RequestStatus,
    /// The group whose members review it (fixed when the request is made); `null` means only
    /// org admins can.
    pub reviewer_group_id: Option<GroupId>,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The decision, once made.
    pub decision: Option<ReviewDecision>,
    /// The grant made on approval.
    pub grant_id: Option<GrantId>,
    /// Where its audit ticket is filed, when the org files them (fixed when it is made).
    #[serde(default)]
    pub audit: Option<AuditTarget>,
}

impl AccessRequest {
    /// The audit event of the request's opening (none unless its audit ticket is filed).
    pub fn opened_event(&self) -> Option<AuditEvent> {
        AuditEvent::new(
            &self.id,
            self.audit.as_ref(),
            AuditEventKind::Opened,
            Some(&self.requester_id),
            None,
            self.created_at,
        )
    }

    /// The audit event of the decision its last transition recorded (approve, deny, cancel):
    /// by whom, with their comment, when; none while pending or unless it is audited.
    pub fn decision_event(&self) -> Option<AuditEvent> {
        let decision = self.decision.as_ref()?;
        let step = match self.status {
            RequestStatus::Approved => AuditEventKind::Approved,
            RequestStatus::Denied => AuditEventKind::Denied,
            RequestStatus::Canceled => AuditEventKind::Canceled,
            RequestStatus::Pending => return None,
        };
        AuditEvent::new(
            &self.id,
            self.audit.as_ref(),
            step,
            decision.by.as_ref(),
            decision.comment.clone(),
            decision.at,
        )
    }

    /// Opens a request, checking the resource's and the org's rules: the duration against the
    /// maximum, and a linked ticket where one is required and that it is still open.
    pub fn open(
        new: NewRequest,
        resource: &Resource,
        app: &App,
        settings: &Settings,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        resource.request_config.check_duration(new.duration_minutes)?;
        let link_required = settings.require_ticket_link || resource.request_config.require_ticket_link;
        match &new.linked_ticket {
            None if link_required => return Err(DomainError::TicketLinkRequired),
            Some(ticket) if ticket.state.is_closed() => {
                return Err(DomainError::LinkedTicketClosed(ticket.key.clone()))
            }
            _ => {}
        }
        Ok(Self {
            id: RequestId::generate(),
            resource_id: new.resource_id,
            requester_id: new.requester_id,
            reason: new.reason,
            duration_minutes: new.duration_minutes,
            linked_ticket: new.linked_ticket,
            status: RequestStatus::Pending,
            reviewer_group_id: resource.effective_reviewer_group(app).cloned(),
            created_at: now,
            decision: None,
            grant_id: None,
            audit: AuditTarget::from_settings(settings),
        })
    }

    fn expect_pending(&self) -> Result<(), DomainError> {
        if self.status == RequestStatus::Pending {
            Ok(())
        } else {
            Err(DomainError::RequestNotPending(self.status))
        }
    }

    /// Approves the request and starts its grant. `approver` is `None` for auto-approval.
    /// The caller has checked that the approver may review this resource.
    pub fn approve(
        mut self,
        approver: Option<&UserId>,
        comment: Option<String>,
        propagation: Option<&super::catalog::TicketPropagation>,
        now: Timestamp,
    ) -> Result<(AccessRequest, Grant, AccessChange), DomainError> {
        if approver == Some(&self.requester_id) {
            return Err(DomainError::SelfReview);
        }
        self.expect_pending()?;
        let (grant, change) = Grant::for_request(&self, approver, propagation, now);
        self.status = RequestStatus::Approved;
        self.decision = Some(ReviewDecision {
            by: approver.cloned(),
            at: now,
            comment,
            via: None,
        });
        self.grant_id = Some(grant.id.clone());
        Ok((self, grant, change))
    }

    /// Denies the request; a comment saying why is required.
    pub fn deny(mut self, reviewer: &UserId, comment: Option<String>, now: Timestamp) -> Result<Self, DomainError> {
        if reviewer == &self.requester_id {
            return Err(DomainError::SelfReview);
        }
        self.expect_pending()?;
        let comment = comment
            .filter(|c| !c.trim().is_empty())
            .ok_or(DomainError::CommentRequired)?;
        self.status = RequestStatus::Denied;
        self.decision = Some(ReviewDecision {
            by: Some(reviewer.clone()),
            at: now,
            comment: Some(comment),
            via: None,
        });
        Ok(self)
    }

    /// The requester withdraws a pending request.
    pub fn cancel(mut self, by: &UserId, comment: Option<String>, now: Timestamp) -> Result<Self, DomainError> {
        if by != &self.requester_id {
            return Err(DomainError::NotRequester);
        }
        self.expect_pending()?;
        self.status = RequestStatus::Canceled;
        self.decision = Some(ReviewDecision {
            by: Some(by.clone()),
            at: now,
            comment,
            via: None,
        });
        Ok(self)
    }
}

impl RequestStatus {
    /// The status as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Canceled => "canceled",
        }
    }
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> crate::domain::catalog::TicketPropagation {
        crate::domain::catalog::TicketPropagation {
            enabled_on_grant: true,
            enabled_on_revocation: true,
            provider: crate::domain::TicketProviderKind::Jira,
            project: "OPS".into(),
            assignee_policy: crate::domain::AssigneePolicy::AdminRules,
            issue_type: None,
        }
    }
    use crate::domain::access_change::{ChangeCause, PropagationStatus};
    use crate::domain::catalog::RequestConfig;
    use crate::domain::grant::{GrantSource, GrantStatus};
    use crate::domain::ids::AppId;
    use crate::domain::ticket::{TicketProviderKind, TicketState};

    struct Fixture {
        app: App,
        resource: Resource,
        settings: Settings,
        josh: UserId,
        reviewer: UserId,
    }

    fn fixture() -> Fixture {
        let now = crate::domain::now();
        let app = App {
            id: AppId::generate(),
            name: "AWS".into(),
            admin_group_id: Some(GroupId::generate()),
            ticket_propagation: None,
            created_at: now,
        };
        let resource = Resource {
            id: ResourceId::generate(),
            app_id: app.id.clone(),
            name: "My Role".into(),
            admin_group_id: None,
            request_config: RequestConfig {
                max_duration_minutes: Some(DurationMinutes::new(480).unwrap()),
                ..RequestConfig::default()
            },
            ticket_propagation: None,
            last_synced_at: None,
            created_at: now,
        };
        Fixture {
            app,
            resource,
            settings: Settings::default(),
            josh: UserId::generate(),
            reviewer: UserId::generate(),
        }
    }

    fn new_request(f: &Fixture, minutes: Option<i64>, linked: Option<LinkedTicket>) -> NewRequest {
        NewRequest {
            resource_id: f.resource.id.clone(),
            requester_id: f.josh.clone(),
            reason: "on-call this week".into(),
            duration_minutes: minutes.map(|m| DurationMinutes::new(m).unwrap()),
            linked_ticket: linked,
        }
    }

    fn linked(state: TicketState) -> LinkedTicket {
        LinkedTicket {
            provider: TicketProviderKind::Linear,
            remote_id: "3f1c0a52-0000-4000-8000-000000000007".into(),
            key: "ENG-7".into(),
            url: "https://linear.app/x/issue/ENG-7".into(),
            state,
        }
    }

    fn open(f: &Fixture) -> AccessRequest {
        AccessRequest::open(
            new_request(f, Some(60), None),
            &f.resource,
            &f.app,
            &f.settings,
            crate::domain::now(),
        )
        .unwrap()
    }

    #[test]
    fn each_transition_of_an_audited_request_names_its_audit_event() {
        use crate::domain::audit::{AuditEventKind, AuditTarget};
        use crate::domain::grant::RevocationReason;
        let f = fixture();
        let plain = open(&f);
        assert!(plain.opened_event().is_none(), "not audited: no event");
        let mut audited = plain.clone();
        audited.audit = Some(AuditTarget {
            provider: TicketProviderKind::Jira,
            project: "AUD".into(),
            issue_type: None,
        });
        let opened = audited.opened_event().unwrap();
        assert_eq!(
            (opened.step, opened.actor.as_ref(), opened.at),
            (AuditEventKind::Opened, Some(&f.josh), audited.created_at)
        );
        assert!(audited.decision_event().is_none(), "pending: no decision yet");

        let at = crate::domain::now();
        let (approved, grant, _) = audited
            .clone()
            .approve(Some(&f.reviewer), Some("ok".into()), None, at)
            .unwrap();
        let event = approved.decision_event().unwrap();
        assert_eq!(
            (event.step, event.actor.as_ref(), event.detail.as_deref(), event.at),
            (AuditEventKind::Approved, Some(&f.reviewer), Some("ok"), at)
        );
        assert_eq!(event.request_id, audited.id);
        let denied = audited.clone().deny(&f.reviewer, Some("no".into()), at).unwrap();
        let event = denied.decision_event().unwrap();
        assert_eq!(
            (event.step, event.detail.as_deref()),
            (AuditEventKind::Denied, Some("no"))
        );
        let canceled = audited.clone().cancel(&f.josh, None, at).unwrap();
        let event = canceled.decision_event().unwrap();
        assert_eq!(
            (event.step, event.actor.as_ref()),
            (AuditEventKind::Canceled, Some(&f.josh))
        );

        // The grant's end, for the same request.
        assert!(grant.end_event().is_none(), "active: no end yet");
        let admin = UserId::generate();
        let (removed, _) = grant
            .clone()
            .revoke(
                RevocationReason::ManualRemoval {
                    admin_id: admin.clone(),
                },
                None,
                at,
            )
            .unwrap();
        let event = removed.end_event().unwrap();
        assert_eq!(
            (event.step, event.actor.as_ref(), event.detail.as_deref(), event.at),
            (AuditEventKind::Revoked, Some(&admin), Some("removed by hand"), at)
        );
        let mut linked_grant = grant.clone();
        linked_grant.linked_ticket = Some(linked(TicketState::Open));
        let (closed, _) = linked_grant
            .revoke(RevocationReason::LinkedTicketClosed, None, at)
            .unwrap();
        let event = closed.end_event().unwrap();
        assert_eq!(
            (event.actor, event.detail.as_deref()),
            (None, Some("linked ticket ENG-7 was closed"))
        );
        let later = grant.expires_at.unwrap() + chrono::Duration::seconds(1);
        let (expired, _) = grant.expire(None, later).unwrap();
        let event = expired.end_event().unwrap();
        assert_eq!(
            (event.step, event.actor, event.at),
            (AuditEventKind::Expired, None, later)
        );
    }

    #[test]
    fn a_new_request_is_pending_and_reviewed_by_the_resource_admins() {
        let f = fixture();
        let request = open(&f);
        assert_eq!(request.status, RequestStatus::Pending);
        assert_eq!(
            request.reviewer_group_id, f.app.admin_group_id,
            "no reviewer group: the admins review"
        );
    }

    #[test]
    fn a_duration_above_the_maximum_or_indefinite_is_refused() {
        let f = fixture();
        let now = crate::domain::now();
        assert_eq!(
            AccessRequest::open(new_request(&f, Some(481), None), &f.resource, &f.app, &f.settings, now).unwrap_err(),
            DomainError::DurationAboveMaximum {
                requested: 481,
                max: 480
            }
        );
        assert_eq!(
            AccessRequest::open(new_request(&f, None, None), &f.resource, &f.app, &f.settings, now).unwrap_err(),
            DomainError::IndefiniteNotAllowed { max: 480 }
        );
    }

    #[test]
    fn a_required_ticket_link_must_be_present_and_open() {
        let mut f = fixture();
        let now = crate::domain::now();
        f.settings.require_ticket_link = true;
        assert_eq!(
            AccessRequest::open(new_request(&f, Some(60), None), &f.resource, &f.app, &f.settings, now).unwrap_err(),
            DomainError::TicketLinkRequired
        );
        f.settings.require_ticket_link = false;
        f.resource.request_config.require_ticket_link = true;
        assert_eq!(
            AccessRequest::open(new_request(&f, Some(60), None), &f.resource, &f.app, &f.settings, now).unwrap_err(),
            DomainError::TicketLinkRequired
        );
        let closed = new_request(&f, Some(60), Some(linked(TicketState::Done)));
        assert_eq!(
            AccessRequest::open(closed, &f.resource, &f.app, &f.settings, now).unwrap_err(),
            DomainError::LinkedTicketClosed("ENG-7".into())
        );
        let ok = new_request(&f, Some(60), Some(linked(TicketState::InProgress)));
        assert!(AccessRequest::open(ok, &f.resource, &f.app, &f.settings, now).is_ok());
    }

    #[test]
    fn approving_starts_a_grant_until_the_requested_end_time() {
        let f = fixture();
        let now = crate::domain::now();
        let (request, grant, change) = open(&f).approve(Some(&f.reviewer), None, Some(&both()), now).unwrap();
        assert_eq!(request.status, RequestStatus::Approved);
        assert_eq!(request.grant_id.as_ref(), Some(&grant.id));
        assert_eq!(request.decision.as_ref().unwrap().by.as_ref(), Some(&f.reviewer));
        assert_eq!(grant.status, GrantStatus::Active);
        assert_eq!(grant.source, GrantSource::Request);
        assert_eq!(grant.user_id, f.josh);
        assert_eq!(grant.expires_at, Some(now + chrono::Duration::minutes(60)));
        assert_eq!(
            change.cause,
            ChangeCause::Request {
                request_id: request.id.clone(),
                approver_id: Some(f.reviewer.clone())
            }
        );
        assert_eq!(change.propagation, PropagationStatus::PendingTicketCreation);
    }

    #[test]
    fn a_requester_cannot_approve_or_deny_their_own_request() {
        let f = fixture();
        let now = crate::domain::now();
        assert_eq!(
            open(&f).approve(Some(&f.josh), None, None, now).unwrap_err(),
            DomainError::SelfReview
        );
        assert_eq!(
            open(&f).deny(&f.josh, Some("no".into()), now).unwrap_err(),
            DomainError::SelfReview
        );
    }

    #[test]
    fn a_decided_request_cannot_be_decided_again() {
        let f = fixture();
        let now = crate::domain::now();
        let denied = open(&f).deny(&f.reviewer, Some("not needed".into()), now).unwrap();
        assert_eq!(denied.status, RequestStatus::Denied);
        assert_eq!(
            denied.clone().approve(Some(&f.reviewer), None, None, now).unwrap_err(),
            DomainError::RequestNotPending(RequestStatus::Denied)
        );
        assert_eq!(
            denied.cancel(&f.josh, None, now).unwrap_err(),
            DomainError::RequestNotPending(RequestStatus::Denied)
        );
        let (approved, _, _) = open(&f).approve(Some(&f.reviewer), None, None, now).unwrap();
        assert_eq!(
            approved.approve(Some(&f.reviewer), None, None, now).unwrap_err(),
            DomainError::RequestNotPending(RequestStatus::Approved)
        );
    }

    #[test]
    fn denying_needs_a_comment() {
        let f = fixture();
        let now = crate::domain::now();
        assert_eq!(
            open(&f).deny(&f.reviewer, None, now).unwrap_err(),
            DomainError::CommentRequired
        );
        assert_eq!(
            open(&f).deny(&f.reviewer, Some("  ".into()), now).unwrap_err(),
            DomainError::CommentRequired
        );
    }

    #[test]
    fn only_the_requester_cancels() {
        let f = fixture();
        let now = crate::domain::now();
        assert_eq!(
            open(&f).cancel(&f.reviewer, None, now).unwrap_err(),
            DomainError::NotRequester
        );
        let canceled = open(&f).cancel(&f.josh, None, now).unwrap();
        assert_eq!(canceled.status, RequestStatus::Canceled);
    }

    #[test]
    fn auto_approval_has_no_approver() {
        let f = fixture();
        let (request, grant, _) = open(&f).approve(None, None, None, crate::domain::now()).unwrap();
        assert_eq!(request.status, RequestStatus::Approved);
        assert_eq!(grant.granted_by, None);
    }
}
