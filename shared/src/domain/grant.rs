//! Grants: one period of a user's access to a resource.

use super::access_change::{AccessChange, ChangeCause, ChangeDirection};
use super::audit::{AuditEvent, AuditEventKind};
use super::catalog::TicketPropagation;
use super::duration::DurationMinutes;
use super::error::DomainError;
use super::ids::{GrantId, RequestId, ResourceId, UserId};
use super::ticket::LinkedTicket;
use super::Timestamp;
use serde::{Deserialize, Serialize};

/// Whether a grant is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// The user has access.
    Active,
    /// The grant reached its end time.
    Expired,
    /// The grant was ended early.
    Revoked,
}

/// How the grant came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantSource {
    /// An approved request.
    Request,
    /// An admin added the user by hand.
    Manual,
}

/// Why a grant was ended early.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RevocationReason {
    /// An admin removed the user by hand.
    ManualRemoval {
        /// The admin.
        admin_id: UserId,
    },
    /// The ticket linked to the request closed.
    LinkedTicketClosed,
}

/// One period of a user's access to a resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// The grant's id.
    pub id: GrantId,
    /// The resource.
    pub resource_id: ResourceId,
    /// The user.
    pub user_id: UserId,
    /// Whether it is in force.
    pub status: GrantStatus,
    /// How it came about.
    pub source: GrantSource,
    /// The request that led to it, for request grants.
    pub request_id: Option<RequestId>,
    /// Who approved or added it (`null` for auto-approval).
    pub granted_by: Option<UserId>,
    /// When access started.
    pub granted_at: chrono::DateTime<chrono::Utc>,
    /// When access ends by itself; `null` means indefinite.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The request's linked ticket: access also ends when it closes.
    pub linked_ticket: Option<LinkedTicket>,
    /// When access ended.
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was revoked, for revoked grants.
    pub revocation: Option<RevocationReason>,
    /// The request's audit ticket target, for closing it when access ends.
    #[serde(default)]
    pub audit: Option<super::audit::AuditTarget>,
    /// The latest access change for this grant (the add, then the remove).
    pub latest_change_id: super::ids::ChangeId,
}

impl Grant {
    fn start(
        (resource_id, user_id): (&ResourceId, &UserId),
        source: GrantSource,
        granted_by: Option<&UserId>,
        duration: Option<DurationMinutes>,
        cause: ChangeCause,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> (Grant, AccessChange) {
        let id = GrantId::generate();
        let change = AccessChange::record(
            (resource_id, user_id, &id),
            ChangeDirection::Add,
            cause,
            propagation,
            now,
        );
        let grant = Grant {
            id,
            resource_id: resource_id.clone(),
            user_id: user_id.clone(),
            status: GrantStatus::Active,
            source,
            request_id: None,
            granted_by: granted_by.cloned(),
            granted_at: now,
            expires_at: duration.map(|d| now + d.as_chrono()),
            linked_ticket: None,
            ended_at: None,
            revocation: None,
            audit: None,
            latest_change_id: change.id.clone(),
        };
        (grant, change)
    }

    /// Access for an approved request. Called by [`super::AccessRequest::approve`].
    pub(crate) fn for_request(
        request: &super::AccessRequest,
        approver: Option<&UserId>,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> (Grant, AccessChange) {
        let cause = ChangeCause::Request {
            request_id: request.id.clone(),
            approver_id: approver.cloned(),
        };
        let (mut grant, change) = Self::start(
            (&request.resource_id, &request.requester_id),
            GrantSource::Request,
            approver,
            request.duration_minutes,
            cause,
            propagation,
            now,
        );
        grant.request_id = Some(request.id.clone());
        grant.audit = request.audit.clone();
        grant.linked_ticket = request.linked_ticket.clone();
        (grant, change)
    }

    /// An admin adds a user by hand, within the resource's duration rules.
    pub fn add_by_hand(
        resource: &super::Resource,
        user_id: &UserId,
        admin_id: &UserId,
        duration: Option<DurationMinutes>,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> Result<(Grant, AccessChange), DomainError> {
        resource.request_config.check_duration(duration)?;
        Ok(Self::start(
            (&resource.id, user_id),
            GrantSource::Manual,
            Some(admin_id),
            duration,
            ChangeCause::Manual {
                admin_id: admin_id.clone(),
            },
            propagation,
            now,
        ))
    }

    fn end(
        mut self,
        status: GrantStatus,
        revocation: Option<RevocationReason>,
        cause: ChangeCause,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> Result<(Grant, AccessChange), DomainError> {
        if self.status != GrantStatus::Active {
            return Err(DomainError::GrantNotActive(self.status));
        }
        let change = AccessChange::record(
            (&self.resource_id, &self.user_id, &self.id),
            ChangeDirection::Remove,
            cause,
            propagation,
            now,
        );
        self.status = status;
        self.revocation = revocation;
        self.ended_at = Some(now);
        self.latest_change_id = change.id.clone();
        Ok((self, change))
    }

    /// The audit event of the grant's end its last transition recorded (revoked, expired), for
    /// the request it came from; none while active or unless that request is audited.
    pub fn end_event(&self) -> Option<AuditEvent> {
        let request = self.request_id.as_ref()?;
        let at = self.ended_at?;
        let (step, actor, detail) = match (self.status, &self.revocation) {
            (GrantStatus::Expired, _) => (AuditEventKind::Expired, None, None),
            (GrantStatus::Revoked, Some(RevocationReason::ManualRemoval { admin_id })) => (
                AuditEventKind::Revoked,
                Some(admin_id),
                Some("removed by hand".to_owned()),
            ),
            (GrantStatus::Revoked, Some(RevocationReason::LinkedTicketClosed)) => {
                let key = self.linked_ticket.as_ref().map_or("", |t| t.key.as_str());
                (
                    AuditEventKind::Revoked,
                    None,
                    Some(format!("linked ticket {key} was closed")),
                )
            }
            _ => return None,
        };
        AuditEvent::new(request, self.audit.as_ref(), step, actor, detail, at)
    }

    /// Ends access early.
    pub fn revoke(
        self,
        reason: RevocationReason,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> Result<(Grant, AccessChange), DomainError> {
        let cause = match &reason {
            RevocationReason::ManualRemoval { admin_id } => ChangeCause::Manual {
                admin_id: admin_id.clone(),
            },
            RevocationReason::LinkedTicketClosed => ChangeCause::LinkedTicketClosed,
        };
        self.end(GrantStatus::Revoked, Some(reason), cause, propagation, now)
    }

    /// Ends access at its end time; refused before then, so an early or stale firing does nothing.
    pub fn expire(
        self,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> Result<(Grant, AccessChange), DomainError> {
        if self.status != GrantStatus::Active {
            return Err(DomainError::GrantNotActive(self.status));
        }
        match self.expires_at {
            Some(at) if at <= now => {}
            _ => return Err(DomainError::NotYetExpired),
        }
        self.end(GrantStatus::Expired, None, ChangeCause::Expiry, propagation, now)
    }
}

impl GrantStatus {
    /// The status as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl std::fmt::Display for GrantStatus {
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
    use crate::domain::access_change::PropagationStatus;
    use crate::domain::catalog::{RequestConfig, Resource};
    use crate::domain::ids::AppId;

    fn resource(max: Option<i64>) -> Resource {
        Resource {
            id: ResourceId::generate(),
            app_id: AppId::generate(),
            name: "My Role".into(),
            admin_group_id: None,
            request_config: RequestConfig {
                max_duration_minutes: max.map(|m| DurationMinutes::new(m).unwrap()),
                ..RequestConfig::default()
            },
            ticket_propagation: None,
            last_synced_at: None,
            created_at: crate::domain::now(),
        }
    }

    fn minutes(m: i64) -> Option<DurationMinutes> {
        Some(DurationMinutes::new(m).unwrap())
    }

    #[test]
    fn adding_by_hand_starts_an_active_grant_with_an_add_change() {
        let now = crate::domain::now();
        let (admin, user) = (UserId::generate(), UserId::generate());
        let (grant, change) =
            Grant::add_by_hand(&resource(None), &user, &admin, minutes(90), Some(&both()), now).unwrap();
        assert_eq!(grant.status, GrantStatus::Active);
        assert_eq!(grant.source, GrantSource::Manual);
        assert_eq!(grant.expires_at, Some(now + chrono::Duration::minutes(90)));
        assert_eq!(grant.latest_change_id, change.id);
        assert_eq!(change.direction, ChangeDirection::Add);
        assert_eq!(change.cause, ChangeCause::Manual { admin_id: admin });
        assert_eq!(change.propagation, PropagationStatus::PendingTicketCreation);
    }

    #[test]
    fn adding_by_hand_respects_the_resource_maximum() {
        let now = crate::domain::now();
        let res = resource(Some(60));
        let (admin, user) = (UserId::generate(), UserId::generate());
        assert_eq!(
            Grant::add_by_hand(&res, &user, &admin, None, None, now).unwrap_err(),
            DomainError::IndefiniteNotAllowed { max: 60 }
        );
        assert!(matches!(
            Grant::add_by_hand(&res, &user, &admin, minutes(61), None, now),
            Err(DomainError::DurationAboveMaximum { .. })
        ));
        let (grant, _) = Grant::add_by_hand(&resource(None), &user, &admin, None, None, now).unwrap();
        assert_eq!(grant.expires_at, None, "no cap: indefinite is allowed");
    }

    #[test]
    fn revoking_ends_the_grant_once() {
        let now = crate::domain::now();
        let admin = UserId::generate();
        let (grant, _) = Grant::add_by_hand(&resource(None), &UserId::generate(), &admin, None, None, now).unwrap();
        let reason = RevocationReason::ManualRemoval {
            admin_id: admin.clone(),
        };
        let (revoked, change) = grant.revoke(reason.clone(), Some(&both()), now).unwrap();
        assert_eq!(revoked.status, GrantStatus::Revoked);
        assert_eq!(revoked.ended_at, Some(now));
        assert_eq!(revoked.latest_change_id, change.id);
        assert_eq!(change.direction, ChangeDirection::Remove);
        assert_eq!(change.cause, ChangeCause::Manual { admin_id: admin });
        assert_eq!(
            revoked.revoke(reason, Some(&both()), now).unwrap_err(),
            DomainError::GrantNotActive(GrantStatus::Revoked)
        );
    }

    #[test]
    fn expiry_happens_only_at_the_end_time_and_only_for_active_grants() {
        let start = crate::domain::now();
        let admin = UserId::generate();
        let (grant, _) =
            Grant::add_by_hand(&resource(None), &UserId::generate(), &admin, minutes(1), None, start).unwrap();
        assert_eq!(
            grant.clone().expire(None, start).unwrap_err(),
            DomainError::NotYetExpired
        );
        let later = start + chrono::Duration::minutes(1);
        let (expired, change) = grant.clone().expire(None, later).unwrap();
        assert_eq!(expired.status, GrantStatus::Expired);
        assert_eq!(change.cause, ChangeCause::Expiry);
        assert_eq!(change.propagation, PropagationStatus::NotRequired);

        let (revoked, _) = grant.revoke(RevocationReason::LinkedTicketClosed, None, start).unwrap();
        assert_eq!(
            revoked.expire(None, later).unwrap_err(),
            DomainError::GrantNotActive(GrantStatus::Revoked),
            "a firing after a revocation changes nothing"
        );
    }

    #[test]
    fn an_indefinite_grant_never_expires() {
        let now = crate::domain::now();
        let (grant, _) = Grant::add_by_hand(
            &resource(None),
            &UserId::generate(),
            &UserId::generate(),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(
            grant.expire(None, now + chrono::Duration::days(3650)).unwrap_err(),
            DomainError::NotYetExpired
        );
    }
}
