//! Audit tickets: one ticket per request, filed when the org's setting is on, commented on as
//! the request moves and closed when it ends. Each step is recorded as an [`AuditEvent`] in the
//! same write as the transition, and carried out from the table's stream.

use super::ids::{RequestId, UserId};
use super::settings::Settings;
use super::ticket::TicketProviderKind;
use super::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a request's audit ticket is filed (fixed when the request is made).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditTarget {
    /// The provider.
    pub provider: TicketProviderKind,
    /// Jira project key, Linear team key, or ServiceNow table.
    pub project: String,
    /// The Jira issue type (`Task` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_type: Option<String>,
}

impl AuditTarget {
    /// The target the org's settings name, if audit tickets are on.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let audit = &settings.audit_tickets;
        match (audit.enabled, audit.provider, &audit.project) {
            (true, Some(provider), Some(project)) => Some(Self {
                provider,
                project: project.clone(),
                issue_type: audit.issue_type.clone(),
            }),
            _ => None,
        }
    }
}

/// What happened to an audited request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    /// The request was made: file the ticket.
    Opened,
    /// Approved: comment.
    Approved,
    /// Denied: comment and close.
    Denied,
    /// Canceled by the requester: comment and close.
    Canceled,
    /// Access was revoked: comment and close.
    Revoked,
    /// Access expired: comment and close.
    Expired,
}

impl AuditEventKind {
    /// Whether the request's story ends here, so the ticket is closed.
    pub fn closes(self) -> bool {
        !matches!(self, Self::Opened | Self::Approved)
    }
}

/// One step of an audited request, to be reflected on its ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unique per event.
    pub id: String,
    /// The request.
    pub request_id: RequestId,
    /// Where its ticket is.
    pub target: AuditTarget,
    /// What happened. (Not named `kind`: that attribute names the record type in the table.)
    pub step: AuditEventKind,
    /// Who did it (`None` for automatic steps).
    pub actor: Option<UserId>,
    /// What they said, or why.
    pub detail: Option<String>,
    /// When.
    pub at: Timestamp,
    /// When the event was handled.
    #[serde(default)]
    pub processed_at: Option<Timestamp>,
    /// Why it could not be reflected on the ticket, if it could not.
    #[serde(default)]
    pub failure: Option<String>,
}

impl AuditEvent {
    /// An event for an audited request; `None` when the request is not audited.
    pub fn new(
        request_id: &RequestId,
        target: Option<&AuditTarget>,
        step: AuditEventKind,
        actor: Option<&UserId>,
        detail: Option<String>,
        at: Timestamp,
    ) -> Option<Self> {
        Some(Self {
            id: uuid::Uuid::now_v7().simple().to_string(),
            request_id: request_id.clone(),
            target: target?.clone(),
            step,
            actor: actor.cloned(),
            detail,
            at,
            processed_at: None,
            failure: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::AuditTicketSettings;

    #[test]
    fn only_an_enabled_complete_setting_audits() {
        let mut settings = Settings::default();
        assert_eq!(AuditTarget::from_settings(&settings), None);
        settings.audit_tickets = AuditTicketSettings {
            enabled: true,
            provider: Some(TicketProviderKind::Servicenow),
            project: Some("incident".into()),
            issue_type: None,
        };
        let target = AuditTarget::from_settings(&settings).unwrap();
        assert_eq!(target.project, "incident");
        let id = RequestId::generate();
        assert!(AuditEvent::new(&id, None, AuditEventKind::Opened, None, None, crate::domain::now()).is_none());
        assert!(AuditEvent::new(
            &id,
            Some(&target),
            AuditEventKind::Opened,
            None,
            None,
            crate::domain::now()
        )
        .is_some());
    }

    #[test]
    fn the_ticket_closes_when_the_request_ends() {
        assert!(!AuditEventKind::Opened.closes());
        assert!(!AuditEventKind::Approved.closes());
        for kind in [
            AuditEventKind::Denied,
            AuditEventKind::Canceled,
            AuditEventKind::Revoked,
            AuditEventKind::Expired,
        ] {
            assert!(kind.closes());
        }
    }
}
