//! The JSON API's answers, as the console reads them (the shapes of `/openapi.json`).

use chrono::{DateTime, Utc};
use grantdesk::domain::{
    AuditTicket, GrantSource, GrantStatus, LinkedTicket, PropagationStatus, RequestStatus, ReviewDecision, TicketRef,
};
use serde::Deserialize;

/// A page of a list.
#[derive(Debug, Deserialize)]
pub struct List<T> {
    pub items: Vec<T>,
}

/// A request's grant.
#[derive(Debug, Deserialize)]
pub struct GrantSummary {
    pub status: GrantStatus,
    pub granted_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// `GET /requests/{id}`.
#[derive(Debug, Deserialize)]
pub struct RequestView {
    pub id: String,
    pub resource_id: String,
    pub requester_id: String,
    pub reason: String,
    pub duration_minutes: Option<u32>,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    pub decision: Option<ReviewDecision>,
    pub grant: Option<GrantSummary>,
    pub linked_ticket: Option<LinkedTicket>,
    pub audit_ticket: Option<AuditTicket>,
}

/// A propagation, on the Users tab.
#[derive(Debug, Deserialize)]
pub struct PropagationView {
    pub status: PropagationStatus,
    pub ticket: Option<TicketRef>,
    pub failure_reason: Option<String>,
    pub note: Option<String>,
}

/// A line of the Users tab.
#[derive(Debug, Deserialize)]
pub struct ResourceUserView {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub status: GrantStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub source: GrantSource,
    pub linked_ticket: Option<LinkedTicket>,
    pub propagation: Option<PropagationView>,
}

/// A connected integration.
#[derive(Debug, Deserialize)]
pub struct IntegrationView {
    pub provider: String,
    pub base_url: String,
    pub connected_at: DateTime<Utc>,
    pub health: serde_json::Value,
}

/// A group, for reviewer and admin pickers.
#[derive(Debug, Deserialize)]
pub struct GroupView {
    pub id: String,
    pub name: String,
}
