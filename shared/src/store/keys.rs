//! The table's key layout. One table holds every record; each record kind has its own key
//! prefix, and three overloaded global secondary indexes serve the list and lookup patterns.
//!
//! | record | pk | sk | gsi1 (lists, by owner) | gsi2 (sparse work queues) |
//! |---|---|---|---|---|
//! | settings | `SETTINGS` | `SETTINGS` | | |
//! | user (with `group_ids`, the groups they are in) | `USER#id` | `USER` | `USERS` / email | |
//! | e-mail claim | `EMAIL#email` | `EMAIL` | | |
//! | group | `GROUP#id` | `GROUP` | `GROUPS` / id | |
//! | group member | `GROUP#gid` | `MEMBER#uid` | `USERGROUPS#uid` / gid | |
//! | app | `APP#id` | `APP` | `APPS` / id | |
//! | resource | `RES#id` | `RES` | `RESOURCES` / id | |
//! | resource user (Users tab; a copy of the latest grant) | `RES#rid` | `USER#uid` | | |
//! | request | `REQ#id` | `REQ` | `REQUESTER#uid` / id | `PENDING_REVIEW` / `group#id` while pending |
//! | grant | `GRANT#id` | `GRANT` | | `EXPIRING` / `expires_at#id` while active with an end |
//! | access change | `CHANGE#id` | `CHANGE` | | `PENDING_TICKETS` / `updated#id` while its ticket waits to be filed |
//! | integration | `INTEGRATION#provider` | `INTEGRATION` | `INTEGRATIONS` / provider | |
//! | audit ticket | `REQ#id` | `AUDIT` | | |
//! | audit event | `REQ#id` | `AUDIT#event id` | | `PENDING_AUDIT_EVENTS` / `at#request#event` until handled |
//! | tracked ticket | `TICKET#provider#remote id` | purpose (`PROPAGATION#chg`, `LINKED#gnt`, `AUDIT#req`) | `RESOURCE_TICKETS#rid` while watched | gsi3: `OPEN_TICKETS#provider` / `last synced#remote id#purpose` while watched |
//! | provider account cache | `PROVIDERUSER#provider#email` | `USER` | | |
//! | once-only marker (webhook delivery seen, reviewers notified) | `MARKER#name` | `MARKER` | | |
//! | filing lease (one per ticket being filed) | `FILING#idempotency key` | `FILING` | | |
//! | status sync's place in the open-tickets index | `SYNC#cursor` | `CURSOR` | | |
//! | outbox work kept after a failed stream record (the record, its error) | `WORK#event id` | `WORK` | | `PENDING_WORK` / `at#event id` until done (or parked after 24 re-drives) |
//!
//! gsi3 is the open-tickets index: per provider, in the order grantdesk last recorded news of
//! each ticket, only tickets grantdesk still waits on (a sparse index). The status sync walks it
//! round robin from a cursor, so a ticket whose state did not change is never written.

use crate::domain::{AppId, ChangeId, Email, GrantId, GroupId, RequestId, ResourceId, Timestamp, UserId};

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// The global secondary indexes, each with `<name>pk` and `<name>sk` attributes.
pub const INDEXES: [&str; 3] = ["gsi1", "gsi2", "gsi3"];

/// A record's primary key and its index keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keys {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// gsi1 partition and sort keys.
    pub gsi1: Option<(String, String)>,
    /// gsi2 partition and sort keys.
    pub gsi2: Option<(String, String)>,
    /// gsi3 partition and sort keys.
    pub gsi3: Option<(String, String)>,
}

impl Keys {
    fn new(pk: String, sk: &str) -> Self {
        Self {
            pk,
            sk: sk.to_owned(),
            ..Self::default()
        }
    }

    fn gsi1(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi1 = Some((pk.into(), sk.into()));
        self
    }

    fn gsi2(mut self, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.gsi2 = Some((pk.into(), sk.into()));
        self
    }
}

/// Formats a time so that string order is time order.
pub fn sortable_time(at: &Timestamp) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The settings record.
pub fn settings() -> Keys {
    Keys::new("SETTINGS".into(), "SETTINGS")
}

/// A user.
pub fn user(id: &UserId, email: &Email) -> Keys {
    Keys::new(format!("USER#{id}"), "USER").gsi1("USERS", email.as_str())
}

/// A user's primary key, for reads.
pub fn user_key(id: &UserId) -> Keys {
    Keys::new(format!("USER#{id}"), "USER")
}

/// The claim that makes an e-mail address unique in the directory.
pub fn email_claim(email: &Email) -> Keys {
    Keys::new(format!("EMAIL#{email}"), "EMAIL")
}

/// A group.
pub fn group(id: &GroupId) -> Keys {
    Keys::new(format!("GROUP#{id}"), "GROUP").gsi1("GROUPS", id.as_str())
}

/// The sort-key prefix of a group's members.
pub const MEMBER_PREFIX: &str = "MEMBER#";

/// One member of a group.
pub fn group_member(group: &GroupId, user: &UserId) -> Keys {
    Keys::new(format!("GROUP#{group}"), &format!("{MEMBER_PREFIX}{user}"))
        .gsi1(format!("USERGROUPS#{user}"), group.as_str())
}

/// The gsi1 partition listing a user's groups.
pub fn groups_of_user(user: &UserId) -> String {
    format!("USERGROUPS#{user}")
}

/// An app.
pub fn app(id: &AppId) -> Keys {
    Keys::new(format!("APP#{id}"), "APP").gsi1("APPS", id.as_str())
}

/// A resource.
pub fn resource(id: &ResourceId) -> Keys {
    Keys::new(format!("RES#{id}"), "RES").gsi1("RESOURCES", id.as_str())
}

/// The sort-key prefix of a resource's users.
pub const RESOURCE_USER_PREFIX: &str = "USER#";

/// A user's entry on a resource's Users tab.
pub fn resource_user(resource: &ResourceId, user: &UserId) -> Keys {
    Keys::new(format!("RES#{resource}"), &format!("{RESOURCE_USER_PREFIX}{user}"))
}

/// The gsi2 partition of requests waiting for review.
pub const PENDING_REVIEW: &str = "PENDING_REVIEW";

/// The gsi2 sort-key prefix for requests reviewed by `group` (`-` for none).
pub fn pending_review_prefix(group: Option<&GroupId>) -> String {
    format!("{}#", group.map_or("-", GroupId::as_str))
}

/// A request; it is in the pending-review index only while pending.
pub fn request(id: &RequestId, requester: &UserId, pending_for: Option<Option<&GroupId>>) -> Keys {
    let keys = Keys::new(format!("REQ#{id}"), "REQ").gsi1(format!("REQUESTER#{requester}"), id.as_str());
    match pending_for {
        Some(group) => keys.gsi2(PENDING_REVIEW, format!("{}{id}", pending_review_prefix(group))),
        None => keys,
    }
}

/// The gsi1 partition listing a requester's requests.
pub fn requests_of(requester: &UserId) -> String {
    format!("REQUESTER#{requester}")
}

/// A request's primary key, for reads.
pub fn request_key(id: &RequestId) -> Keys {
    Keys::new(format!("REQ#{id}"), "REQ")
}

/// The gsi2 partition of active grants with an end time, ordered by end time.
pub const EXPIRING: &str = "EXPIRING";

/// A grant; it is in the expiring index only while active with an end time.
pub fn grant(id: &GrantId, expiring_at: Option<&Timestamp>) -> Keys {
    let keys = Keys::new(format!("GRANT#{id}"), "GRANT");
    match expiring_at {
        Some(at) => keys.gsi2(EXPIRING, format!("{}#{id}", sortable_time(at))),
        None => keys,
    }
}

/// A request's audit ticket, in the request's partition.
pub fn audit_ticket(request: &RequestId) -> Keys {
    Keys::new(format!("REQ#{request}"), "AUDIT")
}

/// The sort-key prefix of a request's audit events.
pub const AUDIT_EVENT_PREFIX: &str = "AUDIT#";

/// One audit event of a request.
pub fn audit_event(request: &RequestId, event_id: &str) -> Keys {
    Keys::new(format!("REQ#{request}"), &format!("{AUDIT_EVENT_PREFIX}{event_id}"))
}

/// The gsi2 partition of audit events not yet reflected on their ticket (the sweeper re-drives
/// the ones waiting too long).
pub const PENDING_AUDIT_EVENTS: &str = "PENDING_AUDIT_EVENTS";

/// An audit event; in the pending-audit-events index until it is handled.
pub fn audit_event_record(event: &crate::domain::AuditEvent) -> Keys {
    let keys = audit_event(&event.request_id, &event.id);
    if event.processed_at.is_none() {
        keys.gsi2(
            PENDING_AUDIT_EVENTS,
            format!("{}#{}#{}", sortable_time(&event.at), event.request_id, event.id),
        )
    } else {
        keys
    }
}

/// The gsi3 partition of tickets grantdesk still waits on, per provider.
pub fn open_tickets(provider: crate::domain::TicketProviderKind) -> String {
    format!("OPEN_TICKETS#{provider}")
}

/// The partition of every tracking record of one ticket (one per purpose).
pub fn tracked_ticket_partition(provider: crate::domain::TicketProviderKind, remote_id: &str) -> String {
    format!("TICKET#{provider}#{remote_id}")
}

/// The gsi1 partition of the tickets a resource still waits on.
pub fn resource_tickets(resource: &ResourceId) -> String {
    format!("RESOURCE_TICKETS#{resource}")
}

/// A tracked ticket, one record per purpose; in the open-tickets index (ordered by when its news
/// was last recorded) and its resource's list while watched.
pub fn tracked_ticket(ticket: &crate::domain::TrackedTicket) -> Keys {
    use crate::domain::TicketPurpose;
    let purpose = match &ticket.purpose {
        TicketPurpose::Propagation { change_id } => format!("PROPAGATION#{change_id}"),
        TicketPurpose::Linked { grant_id } => format!("LINKED#{grant_id}"),
        TicketPurpose::Audit { request_id } => format!("AUDIT#{request_id}"),
    };
    let mut keys = Keys::new(tracked_ticket_partition(ticket.provider, &ticket.remote_id), &purpose);
    if ticket.watching {
        let sk = format!(
            "{}#{}#{purpose}",
            sortable_time(&ticket.last_synced_at),
            ticket.remote_id
        );
        keys.gsi3 = Some((open_tickets(ticket.provider), sk));
        if let Some(resource) = &ticket.resource_id {
            keys.gsi1 = Some((
                resource_tickets(resource),
                format!("{}#{}#{purpose}", ticket.provider, ticket.remote_id),
            ));
        }
    }
    keys
}

/// A marker that something happened once: a webhook delivery handled, reviewers notified
/// (expires through the table's TTL).
pub fn marker(name: &str) -> Keys {
    Keys::new(format!("MARKER#{name}"), "MARKER")
}

/// The lease and memory of filing one ticket, keyed by its idempotency key (expires through the
/// table's TTL).
pub fn filing(key: &str) -> Keys {
    Keys::new(format!("FILING#{key}"), "FILING")
}

/// The gsi2 partition of outbox work kept for the sweeper.
pub const PENDING_WORK: &str = "PENDING_WORK";

/// A stream record's kept outbox work; on the sweeper's queue (`at`) unless parked.
pub fn kept_work(event_id: &str, queued_at: Option<&Timestamp>) -> Keys {
    let keys = Keys::new(format!("WORK#{event_id}"), "WORK");
    match queued_at {
        Some(at) => keys.gsi2(PENDING_WORK, format!("{}#{event_id}", sortable_time(at))),
        None => keys,
    }
}

/// Where each provider's walk of the open-tickets index stopped (status sync).
pub fn sync_cursor() -> Keys {
    Keys::new("SYNC#cursor".to_owned(), "CURSOR")
}

/// The random key pagination tokens are signed with.
pub fn pagination_key() -> Keys {
    Keys::new("CONFIG#pagination".to_owned(), "KEY")
}

/// A cached look-up of a provider account by e-mail, for one project (who is assignable
/// differs per Jira project).
pub fn provider_user(provider: crate::domain::TicketProviderKind, project: &str, email: &Email) -> Keys {
    Keys::new(format!("PROVIDERUSER#{provider}#{project}#{email}"), "USER")
}

/// A connected provider.
pub fn integration(provider: crate::domain::TicketProviderKind) -> Keys {
    Keys::new(format!("INTEGRATION#{provider}"), "INTEGRATION").gsi1("INTEGRATIONS", provider.as_str())
}

/// The connected Slack workspace (not on the integrations index, which lists ticket providers).
pub fn slack_connection() -> Keys {
    Keys::new("INTEGRATION#slack".to_owned(), "INTEGRATION")
}

/// The Slack messages that asked a request's reviewers, for updating them once it is decided.
pub fn slack_messages(request: &RequestId) -> Keys {
    Keys::new(format!("REQUEST#{request}"), "SLACK_MESSAGES")
}

/// An access change's primary key, for reads.
pub fn change(id: &ChangeId) -> Keys {
    Keys::new(format!("CHANGE#{id}"), "CHANGE")
}

/// The gsi2 partition of changes waiting for their ticket to be filed (the sweeper re-drives
/// the ones waiting too long).
pub const PENDING_TICKETS: &str = "PENDING_TICKETS";

/// An access change; in the pending-tickets index while its ticket waits to be filed.
pub fn change_record(record: &crate::domain::AccessChange) -> Keys {
    let keys = change(&record.id);
    if record.propagation == crate::domain::PropagationStatus::PendingTicketCreation {
        keys.gsi2(
            PENDING_TICKETS,
            format!("{}#{}", sortable_time(&record.updated_at), record.id),
        )
    } else {
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sortable_times_sort_like_the_times() {
        let a = crate::domain::now();
        let b = a + chrono::Duration::milliseconds(1);
        let c = a + chrono::Duration::days(400);
        assert!(sortable_time(&a) < sortable_time(&b));
        assert!(sortable_time(&b) < sortable_time(&c));
    }

    #[test]
    fn only_pending_requests_are_in_the_review_index() {
        let (id, user, group) = (RequestId::generate(), UserId::generate(), GroupId::generate());
        assert!(request(&id, &user, None).gsi2.is_none());
        let (pk, sk) = request(&id, &user, Some(Some(&group))).gsi2.unwrap();
        assert_eq!(pk, PENDING_REVIEW);
        assert!(sk.starts_with(&pending_review_prefix(Some(&group))));
    }
}
