//! Access changes: a user added to or removed from a resource, and the progress of the
//! ticket that asks a person to make that change on the end system.

use super::catalog::{AssigneePolicy, TicketPropagation};
use super::error::DomainError;
use super::ids::{ChangeId, GrantId, RequestId, ResourceId, UserId};
use super::ticket::{TicketProviderKind, TicketRef, TicketState};
use super::Timestamp;
use serde::{Deserialize, Serialize};

/// Whether the user is being added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeDirection {
    /// The user gains access.
    Add,
    /// The user loses access.
    Remove,
}

/// What caused an access change; it decides who a propagation ticket is assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeCause {
    /// An approved request (`approver_id` is `null` when it was auto-approved).
    Request {
        /// The request.
        request_id: RequestId,
        /// Who approved it.
        approver_id: Option<UserId>,
    },
    /// An admin added or removed the user by hand.
    Manual {
        /// The admin.
        admin_id: UserId,
    },
    /// The grant reached its end time.
    Expiry,
    /// The ticket linked to the request closed.
    LinkedTicketClosed,
}

/// Where a change's propagation ticket is filed and who it goes to, fixed when the change is
/// recorded so that later configuration edits do not change what is filed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketTarget {
    /// The provider.
    pub provider: TicketProviderKind,
    /// Jira project key, Linear team key, or ServiceNow table.
    pub project: String,
    /// Who the ticket is assigned to.
    pub assignee_policy: AssigneePolicy,
    /// The Jira issue type (`Task` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
}

impl TicketPropagation {
    /// Where a change in `direction` is filed, if propagation is on for that direction.
    pub fn target_for(&self, direction: ChangeDirection) -> Option<TicketTarget> {
        let enabled = match direction {
            ChangeDirection::Add => self.enabled_on_grant,
            ChangeDirection::Remove => self.enabled_on_revocation,
        };
        enabled.then(|| TicketTarget {
            provider: self.provider,
            project: self.project.clone(),
            assignee_policy: self.assignee_policy,
            issue_type: self.issue_type.clone(),
        })
    }
}

/// Where a change stands in being made on the end system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropagationStatus {
    /// No ticket is filed for this direction; nothing to wait for.
    NotRequired,
    /// A ticket is to be filed.
    PendingTicketCreation,
    /// The ticket is filed; a person is to make the change.
    PendingManualPropagation,
    /// The ticket is done: the change is made.
    Completed,
    /// The ticket was canceled: the change is flagged, not complete.
    TicketCanceled,
    /// Filing the ticket failed for good; an admin may retry.
    TicketCreationFailed,
}

/// One user added to or removed from one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessChange {
    /// The change's id; propagation tickets are created idempotently from it.
    pub id: ChangeId,
    /// The resource.
    pub resource_id: ResourceId,
    /// The user.
    pub user_id: UserId,
    /// The grant that started or ended.
    pub grant_id: GrantId,
    /// Added or removed.
    pub direction: ChangeDirection,
    /// Why.
    pub cause: ChangeCause,
    /// Where propagation stands.
    pub propagation: PropagationStatus,
    /// Where the propagation ticket goes; `null` when none is filed.
    #[serde(default)]
    pub target: Option<TicketTarget>,
    /// The propagation ticket, once filed.
    pub ticket: Option<TicketRef>,
    /// The provider's id for the ticket, once filed.
    #[serde(default)]
    pub ticket_remote_id: Option<String>,
    /// Filing attempts that failed for a reason worth retrying.
    #[serde(default)]
    pub filing_attempts: u32,
    /// Why filing failed, when it did.
    pub failure_reason: Option<String>,
    /// Something an admin should know about the filed ticket (it was filed unassigned because
    /// the provider refused the assignee).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// When the change was recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its propagation last moved.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl AccessChange {
    /// Records a change; it waits for a ticket only if propagation is on for its direction.
    pub fn record(
        grant: (&ResourceId, &UserId, &GrantId),
        direction: ChangeDirection,
        cause: ChangeCause,
        propagation: Option<&TicketPropagation>,
        now: Timestamp,
    ) -> Self {
        let (resource_id, user_id, grant_id) = grant;
        let target = propagation.and_then(|p| p.target_for(direction));
        Self {
            id: ChangeId::generate(),
            resource_id: resource_id.clone(),
            user_id: user_id.clone(),
            grant_id: grant_id.clone(),
            direction,
            cause,
            propagation: if target.is_some() {
                PropagationStatus::PendingTicketCreation
            } else {
                PropagationStatus::NotRequired
            },
            target,
            ticket: None,
            ticket_remote_id: None,
            filing_attempts: 0,
            failure_reason: None,
            note: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn expect(&self, status: PropagationStatus) -> Result<(), DomainError> {
        if self.propagation == status {
            Ok(())
        } else {
            Err(DomainError::PropagationNotPending(self.propagation))
        }
    }

    /// The ticket was filed: a person now has to make the change.
    pub fn record_ticket(mut self, ticket: TicketRef, remote_id: String, now: Timestamp) -> Result<Self, DomainError> {
        self.expect(PropagationStatus::PendingTicketCreation)?;
        self.propagation = PropagationStatus::PendingManualPropagation;
        self.ticket = Some(ticket);
        self.ticket_remote_id = Some(remote_id);
        self.failure_reason = None;
        self.updated_at = now;
        Ok(self)
    }

    /// The ticket was read in `state`. Done completes the change; canceled flags it; an open
    /// ticket leaves it waiting (returns it unchanged).
    pub fn record_ticket_state(mut self, state: TicketState, now: Timestamp) -> Result<Self, DomainError> {
        self.expect(PropagationStatus::PendingManualPropagation)?;
        let next = match state {
            TicketState::Done => PropagationStatus::Completed,
            TicketState::Canceled => PropagationStatus::TicketCanceled,
            TicketState::Open | TicketState::InProgress => return Ok(self),
        };
        self.propagation = next;
        self.updated_at = now;
        Ok(self)
    }

    /// Filing the ticket failed for good.
    pub fn record_failure(mut self, reason: String, now: Timestamp) -> Result<Self, DomainError> {
        self.expect(PropagationStatus::PendingTicketCreation)?;
        self.propagation = PropagationStatus::TicketCreationFailed;
        self.failure_reason = Some(reason);
        self.updated_at = now;
        Ok(self)
    }

    /// Filing failed for a reason worth retrying (provider unavailable, rate limited); after
    /// `max_attempts` such failures the change is marked failed for good.
    pub fn record_attempt_failure(
        mut self,
        reason: String,
        max_attempts: u32,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        self.expect(PropagationStatus::PendingTicketCreation)?;
        self.filing_attempts += 1;
        self.failure_reason = Some(reason.clone());
        self.updated_at = now;
        if self.filing_attempts >= max_attempts {
            return self.record_failure(reason, now);
        }
        Ok(self)
    }

    /// An admin asks to file the ticket again after a failure.
    pub fn retry_filing(mut self, now: Timestamp) -> Result<Self, DomainError> {
        self.expect(PropagationStatus::TicketCreationFailed)?;
        self.propagation = PropagationStatus::PendingTicketCreation;
        self.filing_attempts = 0;
        self.updated_at = now;
        Ok(self)
    }
}

impl PropagationStatus {
    /// The status as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "not_required",
            Self::PendingTicketCreation => "pending_ticket_creation",
            Self::PendingManualPropagation => "pending_manual_propagation",
            Self::Completed => "completed",
            Self::TicketCanceled => "ticket_canceled",
            Self::TicketCreationFailed => "ticket_creation_failed",
        }
    }
}

impl std::fmt::Display for PropagationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::TicketProviderKind;

    fn propagation(on_grant: bool, on_revocation: bool) -> TicketPropagation {
        TicketPropagation {
            enabled_on_grant: on_grant,
            enabled_on_revocation: on_revocation,
            provider: TicketProviderKind::Jira,
            project: "OPS".into(),
            assignee_policy: AssigneePolicy::AdminRules,
            issue_type: None,
        }
    }

    fn change(enabled: bool) -> AccessChange {
        AccessChange::record(
            (&ResourceId::generate(), &UserId::generate(), &GrantId::generate()),
            ChangeDirection::Add,
            ChangeCause::Expiry,
            Some(&propagation(enabled, false)),
            crate::domain::now(),
        )
    }

    fn ticket() -> TicketRef {
        TicketRef {
            provider: TicketProviderKind::Jira,
            key: "OPS-1".into(),
            url: "https://x.atlassian.net/browse/OPS-1".into(),
        }
    }

    #[test]
    fn a_change_without_propagation_is_not_required() {
        assert_eq!(change(false).propagation, PropagationStatus::NotRequired);
        assert_eq!(change(false).target, None);
        let pending = change(true);
        assert_eq!(pending.propagation, PropagationStatus::PendingTicketCreation);
        assert_eq!(pending.target.unwrap().project, "OPS");
    }

    #[test]
    fn each_direction_is_enabled_on_its_own() {
        let only_revocation = propagation(false, true);
        assert!(only_revocation.target_for(ChangeDirection::Add).is_none());
        assert!(only_revocation.target_for(ChangeDirection::Remove).is_some());
        let none = AccessChange::record(
            (&ResourceId::generate(), &UserId::generate(), &GrantId::generate()),
            ChangeDirection::Remove,
            ChangeCause::Expiry,
            None,
            crate::domain::now(),
        );
        assert_eq!(
            none.propagation,
            PropagationStatus::NotRequired,
            "no configuration, no ticket"
        );
    }

    #[test]
    fn transient_failures_are_retried_a_bounded_number_of_times() {
        let now = crate::domain::now();
        let once = change(true).record_attempt_failure("503".into(), 3, now).unwrap();
        assert_eq!(once.propagation, PropagationStatus::PendingTicketCreation);
        assert_eq!(once.filing_attempts, 1);
        let twice = once.record_attempt_failure("503".into(), 3, now).unwrap();
        let third = twice.record_attempt_failure("503 again".into(), 3, now).unwrap();
        assert_eq!(third.propagation, PropagationStatus::TicketCreationFailed);
        assert_eq!(third.failure_reason.as_deref(), Some("503 again"));
        assert_eq!(third.retry_filing(now).unwrap().filing_attempts, 0);
    }

    #[test]
    fn a_filed_ticket_that_is_done_completes_the_change() {
        let now = crate::domain::now();
        let filed = change(true).record_ticket(ticket(), "10001".into(), now).unwrap();
        assert_eq!(filed.propagation, PropagationStatus::PendingManualPropagation);
        assert_eq!(filed.ticket.as_ref().unwrap().key, "OPS-1");
        let still_open = filed.clone().record_ticket_state(TicketState::InProgress, now).unwrap();
        assert_eq!(still_open.propagation, PropagationStatus::PendingManualPropagation);
        let done = filed.record_ticket_state(TicketState::Done, now).unwrap();
        assert_eq!(done.propagation, PropagationStatus::Completed);
    }

    #[test]
    fn a_canceled_ticket_flags_the_change_instead_of_completing_it() {
        let now = crate::domain::now();
        let filed = change(true).record_ticket(ticket(), "10001".into(), now).unwrap();
        let canceled = filed.record_ticket_state(TicketState::Canceled, now).unwrap();
        assert_eq!(canceled.propagation, PropagationStatus::TicketCanceled);
        assert!(
            canceled.record_ticket_state(TicketState::Done, now).is_err(),
            "a flagged change stays flagged"
        );
    }

    #[test]
    fn tickets_are_recorded_only_while_pending() {
        let now = crate::domain::now();
        assert_eq!(
            change(false).record_ticket(ticket(), "10001".into(), now),
            Err(DomainError::PropagationNotPending(PropagationStatus::NotRequired))
        );
        let filed = change(true).record_ticket(ticket(), "10001".into(), now).unwrap();
        assert!(
            filed.clone().record_ticket(ticket(), "10001".into(), now).is_err(),
            "a second ticket is never recorded"
        );
        assert!(change(false).record_ticket_state(TicketState::Done, now).is_err());
    }

    #[test]
    fn statuses_read_the_same_in_messages_and_json() {
        for status in [
            PropagationStatus::NotRequired,
            PropagationStatus::PendingManualPropagation,
            PropagationStatus::TicketCreationFailed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn a_failed_filing_can_be_retried() {
        let now = crate::domain::now();
        let failed = change(true).record_failure("401 Unauthorized".into(), now).unwrap();
        assert_eq!(failed.propagation, PropagationStatus::TicketCreationFailed);
        assert_eq!(failed.failure_reason.as_deref(), Some("401 Unauthorized"));
        let retried = failed.retry_filing(now).unwrap();
        assert_eq!(retried.propagation, PropagationStatus::PendingTicketCreation);
        assert!(change(true).retry_filing(now).is_err());
    }
}
