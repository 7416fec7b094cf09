//! Domain events: what changed, derived from a record's old and new state as the table's
//! stream reports them. Published on the EventBridge bus with `source: grantdesk`, the event's
//! `type` as `detail-type`, and this detail (schema version 1):
//!
//! ```json
//! {"schema_version": 1, "id": "<stable id>", "type": "request.approved",
//!  "occurred_at": "2026-11-23T10:00:00.000Z", "data": { ...the record... }}
//! ```
//!
//! Types: `request.created`, `request.approved`, `request.denied`, `request.canceled`,
//! `access.granted`, `access.revoked`, `access.expired`, `ticket.filed`,
//! `propagation.completed`, `propagation.canceled`, `propagation.failed`. Delivery is at least
//! once; `id` is the same on every delivery of one event, for consumers to de-duplicate.

use super::{AccessChange, AccessRequest, Grant, GrantStatus, PropagationStatus, RequestStatus};
use serde::Serialize;
use serde_json::Value;

/// The detail schema's version.
pub const SCHEMA_VERSION: u32 = 1;

/// One domain event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DomainEvent {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Stable across deliveries.
    pub id: String,
    /// What happened (`request.approved`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When.
    pub occurred_at: super::Timestamp,
    /// The record after the change.
    pub data: Value,
}

fn event<T: Serialize>(source_id: &str, kind: &'static str, occurred_at: super::Timestamp, data: &T) -> DomainEvent {
    DomainEvent {
        schema_version: SCHEMA_VERSION,
        id: format!("{source_id}:{kind}"),
        kind,
        occurred_at,
        data: serde_json::to_value(data).unwrap_or(Value::Null),
    }
}

/// Events for a request written over `old` (`None`: newly created).
pub fn request_events(source_id: &str, old: Option<&AccessRequest>, new: &AccessRequest) -> Vec<DomainEvent> {
    let mut events = Vec::new();
    if old.is_none() {
        events.push(event(source_id, "request.created", new.created_at, new));
    }
    if old.map(|o| o.status) != Some(new.status) {
        let at = new.decision.as_ref().map_or(new.created_at, |d| d.at);
        match new.status {
            RequestStatus::Approved => events.push(event(source_id, "request.approved", at, new)),
            RequestStatus::Denied => events.push(event(source_id, "request.denied", at, new)),
            RequestStatus::Canceled => events.push(event(source_id, "request.canceled", at, new)),
            RequestStatus::Pending => {}
        }
    }
    events
}

/// Events for a grant written over `old`.
pub fn grant_events(source_id: &str, old: Option<&Grant>, new: &Grant) -> Vec<DomainEvent> {
    match (old.map(|o| o.status), new.status) {
        (None, GrantStatus::Active) => vec![event(source_id, "access.granted", new.granted_at, new)],
        (Some(GrantStatus::Active), GrantStatus::Revoked) => {
            vec![event(
                source_id,
                "access.revoked",
                new.ended_at.unwrap_or(new.granted_at),
                new,
            )]
        }
        (Some(GrantStatus::Active), GrantStatus::Expired) => {
            vec![event(
                source_id,
                "access.expired",
                new.ended_at.unwrap_or(new.granted_at),
                new,
            )]
        }
        _ => Vec::new(),
    }
}

/// Events for an access change written over `old`.
pub fn change_events(source_id: &str, old: Option<&AccessChange>, new: &AccessChange) -> Vec<DomainEvent> {
    if old.map(|o| o.propagation) == Some(new.propagation) {
        return Vec::new();
    }
    let kind = match new.propagation {
        PropagationStatus::PendingManualPropagation => "ticket.filed",
        PropagationStatus::Completed => "propagation.completed",
        PropagationStatus::TicketCanceled => "propagation.canceled",
        PropagationStatus::TicketCreationFailed => "propagation.failed",
        PropagationStatus::NotRequired | PropagationStatus::PendingTicketCreation => return Vec::new(),
    };
    vec![event(source_id, kind, new.updated_at, new)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::{RequestConfig, Resource};
    use crate::domain::{App, AppId, NewRequest, ResourceId, Settings, UserId};

    fn request() -> AccessRequest {
        let now = crate::domain::now();
        let app = App {
            id: AppId::generate(),
            name: "AWS".into(),
            admin_group_id: None,
            ticket_propagation: None,
            created_at: now,
        };
        let resource = Resource {
            id: ResourceId::generate(),
            app_id: app.id.clone(),
            name: "My Role".into(),
            admin_group_id: None,
            request_config: RequestConfig::default(),
            ticket_propagation: None,
            last_synced_at: None,
            created_at: now,
        };
        let new = NewRequest {
            resource_id: resource.id.clone(),
            requester_id: UserId::generate(),
            reason: String::new(),
            duration_minutes: None,
            linked_ticket: None,
        };
        AccessRequest::open(new, &resource, &app, &Settings::default(), now).unwrap()
    }

    #[test]
    fn each_transition_yields_its_event_once() {
        let pending = request();
        let kinds = |events: Vec<DomainEvent>| events.into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(request_events("e1", None, &pending)), ["request.created"]);
        let (approved, grant, change) = pending
            .clone()
            .approve(Some(&UserId::generate()), None, None, crate::domain::now())
            .unwrap();
        assert_eq!(
            kinds(request_events("e2", Some(&pending), &approved)),
            ["request.approved"]
        );
        assert!(
            request_events("e3", Some(&approved), &approved).is_empty(),
            "no change, no event"
        );
        assert_eq!(
            kinds(request_events("e4", None, &approved)),
            ["request.created", "request.approved"],
            "auto-approval"
        );
        assert_eq!(kinds(grant_events("e5", None, &grant)), ["access.granted"]);
        let (revoked, _) = grant
            .clone()
            .revoke(
                crate::domain::RevocationReason::LinkedTicketClosed,
                None,
                crate::domain::now(),
            )
            .unwrap();
        assert_eq!(kinds(grant_events("e6", Some(&grant), &revoked)), ["access.revoked"]);
        assert!(
            change_events("e7", None, &change).is_empty(),
            "a change that needs no ticket is not news"
        );
    }

    #[test]
    fn the_detail_has_a_versioned_stable_shape() {
        let pending = request();
        let event = &request_events("stream-1", None, &pending)[0];
        let detail = serde_json::to_value(event).unwrap();
        assert_eq!(detail["schema_version"], 1);
        assert_eq!(detail["type"], "request.created");
        assert_eq!(detail["id"], "stream-1:request.created");
        assert_eq!(detail["data"]["id"], pending.id.as_str());
    }
}
