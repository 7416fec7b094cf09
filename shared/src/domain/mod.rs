//! The access-request domain: plain data and pure transitions, with no AWS or HTTP types.
//!
//! Every state change (approve, deny, cancel, grant, revoke, expire, record a ticket,
//! complete a change) is a function from the current value to the next one, or an error
//! saying why the change is not allowed. Persisting the result atomically is the store's job.

pub mod access_change;
pub mod audit;
pub mod catalog;
pub mod directory;
pub mod duration;
pub mod error;
pub mod events;
pub mod grant;
pub mod ids;
pub mod integration;
pub mod request;
pub mod settings;
pub mod ticket;
pub mod ticket_text;

pub use access_change::{AccessChange, ChangeCause, ChangeDirection, PropagationStatus, TicketTarget};
pub use audit::{AuditEvent, AuditEventKind, AuditTarget};
pub use catalog::{App, AssigneePolicy, RequestConfig, Resource, TicketPropagation};
pub use directory::{Email, Group, IdentityBinding, User};
pub use duration::DurationMinutes;
pub use error::DomainError;
pub use grant::{Grant, GrantSource, GrantStatus, RevocationReason};
pub use ids::{AppId, ChangeId, GrantId, GroupId, RequestId, ResourceId, UserId};
pub use integration::{Integration, IntegrationHealth, SlackConnection};
pub use request::{AccessRequest, NewRequest, RequestStatus, ReviewDecision};
pub use settings::{AuditTicketSettings, Settings};
pub use ticket::{AuditTicket, LinkedTicket, TicketProviderKind, TicketPurpose, TicketRef, TicketState, TrackedTicket};

/// A point in time, always UTC.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Text without leading and trailing white space, by the definition JSON Schema patterns use
/// (ECMAScript's `\s`), so "not only white space" means the same here and in the OpenAPI
/// document (Rust's own `trim` also strips U+0085, which `\s` does not match).
pub fn trim_text(text: &str) -> &str {
    text.trim_matches(|c: char| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
        )
    })
}

/// The current time truncated to whole milliseconds, so stored and returned times round-trip exactly.
pub fn now() -> Timestamp {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(3)
}
