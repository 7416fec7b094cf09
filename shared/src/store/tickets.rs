//! What the ticket filer and status sync record: filed propagation tickets, audit tickets and
//! their events, tracked tickets, and the provider-account cache used for assignment.

use super::{keys, Store, StoreResult, Versioned, Write};
use crate::domain::{
    AccessChange, AuditEvent, AuditTicket, ChangeId, Email, RequestId, TicketProviderKind, Timestamp, TrackedTicket,
};
use serde::{Deserialize, Serialize};

const AUDIT_TICKET: &str = "audit_ticket";
/// The `kind` of audit event items; the ticket filer's stream filter matches on it.
pub const AUDIT_EVENT: &str = "audit_event";
const TRACKED_TICKET: &str = "tracked_ticket";
const PROVIDER_USER: &str = "provider_user";
/// The `kind` of access change items; the ticket filer's stream filter matches on it.
pub const ACCESS_CHANGE: &str = "access_change";

/// A provider account looked up by e-mail (`None`: the provider has no such user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAccount {
    /// The provider's user id.
    pub account_id: Option<String>,
    /// When it was looked up.
    pub cached_at: Timestamp,
    /// DynamoDB TTL (epoch seconds).
    pub ttl: i64,
}

pub(crate) fn tracked_keys(ticket: &TrackedTicket) -> keys::Keys {
    keys::tracked_ticket(
        ticket.provider,
        &ticket.remote_id,
        ticket.watching.then_some(&ticket.last_synced_at),
    )
}

impl Store {
    /// Saves a change read at `expected_version` (a failure or an attempt count).
    pub async fn save_change(&self, expected_version: u64, change: &AccessChange) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::change(&change.id),
            ACCESS_CHANGE,
            expected_version,
            change,
            "access change",
        )?;
        self.write_one(write, "saving access change").await
    }

    /// Records a filed propagation ticket on its change and starts tracking the ticket, in one
    /// transaction; a second filer racing on the same change loses.
    pub async fn record_change_ticket(
        &self,
        expected_version: u64,
        change: &AccessChange,
        ticket: &TrackedTicket,
    ) -> StoreResult<()> {
        let writes = vec![
            Write::replace(
                &self.table,
                &keys::change(&change.id),
                ACCESS_CHANGE,
                expected_version,
                change,
                "access change",
            )?,
            Write::replace(
                &self.table,
                &tracked_keys(ticket),
                TRACKED_TICKET,
                0,
                ticket,
                "tracked ticket",
            )?,
        ];
        self.transact(writes, "recording propagation ticket").await
    }

    /// Many access changes by id.
    pub async fn changes(&self, ids: &[ChangeId]) -> StoreResult<Vec<AccessChange>> {
        let keys: Vec<_> = ids.iter().map(keys::change).collect();
        self.batch_get(&keys, "reading access changes").await
    }

    /// A request's audit ticket, once filed.
    pub async fn audit_ticket(&self, request: &RequestId) -> StoreResult<Option<Versioned<AuditTicket>>> {
        self.get(&keys::audit_ticket(request), "reading audit ticket").await
    }

    /// Audit tickets of many requests.
    pub async fn audit_tickets(&self, requests: &[RequestId]) -> StoreResult<Vec<(RequestId, AuditTicket)>> {
        #[derive(Deserialize)]
        struct WithRequest {
            request_id: RequestId,
            #[serde(flatten)]
            ticket: AuditTicket,
        }
        let keys: Vec<_> = requests.iter().map(keys::audit_ticket).collect();
        let found: Vec<WithRequest> = self.batch_get(&keys, "reading audit tickets").await?;
        Ok(found.into_iter().map(|w| (w.request_id, w.ticket)).collect())
    }

    /// Records a request's audit ticket (first filing: `expected_version` 0; closing: the
    /// version read), tracking the ticket too when it is first filed.
    pub async fn save_audit_ticket(
        &self,
        expected_version: u64,
        request: &RequestId,
        ticket: &AuditTicket,
        tracked: Option<&TrackedTicket>,
    ) -> StoreResult<()> {
        #[derive(Serialize)]
        struct WithRequest<'a> {
            request_id: &'a RequestId,
            #[serde(flatten)]
            ticket: &'a AuditTicket,
        }
        let data = WithRequest {
            request_id: request,
            ticket,
        };
        let mut writes = vec![Write::replace(
            &self.table,
            &keys::audit_ticket(request),
            AUDIT_TICKET,
            expected_version,
            &data,
            "audit ticket",
        )?];
        if let Some(tracked) = tracked {
            writes.push(Write::replace(
                &self.table,
                &tracked_keys(tracked),
                TRACKED_TICKET,
                0,
                tracked,
                "tracked ticket",
            )?);
        }
        self.transact(writes, "recording audit ticket").await
    }

    /// One audit event.
    pub async fn audit_event(&self, request: &RequestId, event_id: &str) -> StoreResult<Option<Versioned<AuditEvent>>> {
        self.get(&keys::audit_event(request, event_id), "reading audit event")
            .await
    }

    /// Marks an audit event read at `expected_version` as reflected on the ticket.
    pub async fn save_audit_event(&self, expected_version: u64, event: &AuditEvent) -> StoreResult<()> {
        let keys = keys::audit_event(&event.request_id, &event.id);
        self.write_one(
            Write::replace(&self.table, &keys, AUDIT_EVENT, expected_version, event, "audit event")?,
            "saving audit event",
        )
        .await
    }

    /// The writes that record audit events with a transition.
    pub(super) fn audit_event_writes(&self, events: &[AuditEvent]) -> StoreResult<Vec<Write>> {
        events
            .iter()
            .map(|e| {
                Write::create(
                    &self.table,
                    &keys::audit_event(&e.request_id, &e.id),
                    AUDIT_EVENT,
                    e,
                    "audit event",
                )
            })
            .collect()
    }

    /// A tracked ticket and the version it was read at.
    pub async fn tracked_ticket(
        &self,
        provider: TicketProviderKind,
        remote_id: &str,
    ) -> StoreResult<Option<Versioned<TrackedTicket>>> {
        self.get(
            &keys::tracked_ticket(provider, remote_id, None),
            "reading tracked ticket",
        )
        .await
    }

    /// A cached provider account for an e-mail, if looked up before.
    pub async fn provider_account(
        &self,
        provider: TicketProviderKind,
        email: &Email,
    ) -> StoreResult<Option<ProviderAccount>> {
        Ok(self
            .get::<ProviderAccount>(&keys::provider_user(provider, email), "reading provider account")
            .await?
            .map(|v| v.value))
    }

    /// Caches a provider account look-up (last writer wins: it is only a cache).
    pub async fn cache_provider_account(
        &self,
        provider: TicketProviderKind,
        email: &Email,
        account: &ProviderAccount,
    ) -> StoreResult<()> {
        let item = super::to_item(&keys::provider_user(provider, email), PROVIDER_USER, 1, account)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| {
                super::StoreError::dynamo(
                    "caching provider account",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e),
                )
            })?;
        Ok(())
    }
}
