//! Tickets in Jira Cloud, Linear and ServiceNow, as grantdesk refers to them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A ticket system grantdesk can file tickets in and read tickets from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketProviderKind {
    /// Jira Cloud.
    Jira,
    /// Linear.
    Linear,
    /// ServiceNow.
    Servicenow,
}

impl TicketProviderKind {
    /// Every provider, in a stable order.
    pub const ALL: [TicketProviderKind; 3] = [Self::Jira, Self::Linear, Self::Servicenow];

    /// The name used in paths and JSON (`jira`, `linear`, `servicenow`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jira => "jira",
            Self::Linear => "linear",
            Self::Servicenow => "servicenow",
        }
    }

    /// Parses the name used in paths and JSON.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for TicketProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A ticket's state, normalized across providers (Jira status category, Linear state type,
/// ServiceNow state number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Not started.
    Open,
    /// Being worked on.
    InProgress,
    /// Finished.
    Done,
    /// Closed without being done.
    Canceled,
}

impl TicketState {
    /// Whether the ticket is closed (done or canceled).
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Done | Self::Canceled)
    }
}

/// A reference to one ticket: `key` is what people see (`OPS-12`, `ENG-7`, `INC0010001`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketRef {
    /// The provider holding the ticket.
    pub provider: TicketProviderKind,
    /// The human-readable key.
    pub key: String,
    /// A link to the ticket in the provider's UI.
    pub url: String,
}

/// A ticket a requester linked to a request; access ends when it closes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkedTicket {
    /// The provider holding the ticket.
    pub provider: TicketProviderKind,
    /// The provider's stable id for it (status sync reads tickets by this).
    #[serde(default)]
    pub remote_id: String,
    /// The human-readable key.
    pub key: String,
    /// A link to the ticket in the provider's UI.
    pub url: String,
    /// The ticket's state when last read.
    pub state: TicketState,
}

/// The audit ticket filed for a request when the org's audit-ticket setting is on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditTicket {
    /// The provider holding the ticket.
    pub provider: TicketProviderKind,
    /// The provider's id for it.
    #[serde(default)]
    pub remote_id: String,
    /// The human-readable key.
    pub key: String,
    /// A link to the ticket in the provider's UI.
    pub url: String,
    /// Whether grantdesk has closed it (closing it by hand changes nothing in grantdesk).
    pub closed: bool,
}

/// What a tracked ticket is for, which decides what its closing does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TicketPurpose {
    /// A propagation ticket: done completes the change, canceled flags it.
    Propagation {
        /// The access change.
        change_id: super::ids::ChangeId,
    },
    /// A ticket linked to a request: closing it ends the grant.
    Linked {
        /// The grant.
        grant_id: super::ids::GrantId,
    },
    /// An audit ticket: closing it by hand changes nothing.
    Audit {
        /// The request.
        request_id: super::ids::RequestId,
    },
}

/// A ticket grantdesk watches, found by provider and remote id (webhooks) or, while open, in
/// the open-tickets index (status sync).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedTicket {
    /// The provider.
    pub provider: TicketProviderKind,
    /// The provider's id.
    pub remote_id: String,
    /// The human key.
    pub key: String,
    /// A link.
    pub url: String,
    /// What it is for.
    pub purpose: TicketPurpose,
    /// The resource it concerns, for a per-resource sync.
    pub resource_id: Option<super::ids::ResourceId>,
    /// Its state when last read.
    pub state: TicketState,
    /// Whether grantdesk still waits on it (it leaves the open-tickets index when not).
    pub watching: bool,
    /// When it was last read from the provider.
    pub last_synced_at: chrono::DateTime<chrono::Utc>,
}

/// Checks a ticket key as typed by a person: non-empty, short, printable, no spaces.
pub fn valid_ticket_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in TicketProviderKind::ALL {
            assert_eq!(TicketProviderKind::parse(p.as_str()), Some(p));
        }
        assert_eq!(TicketProviderKind::parse("github"), None);
        assert_eq!(
            serde_json::to_string(&TicketProviderKind::Servicenow).unwrap(),
            "\"servicenow\""
        );
    }

    #[test]
    fn only_done_and_canceled_are_closed() {
        assert!(TicketState::Done.is_closed());
        assert!(TicketState::Canceled.is_closed());
        assert!(!TicketState::Open.is_closed());
        assert!(!TicketState::InProgress.is_closed());
    }

    #[test]
    fn ticket_keys_are_checked_for_shape() {
        assert!(valid_ticket_key("OPS-12"));
        assert!(valid_ticket_key("INC0010001"));
        assert!(!valid_ticket_key(""));
        assert!(!valid_ticket_key("OPS 12"));
    }
}
