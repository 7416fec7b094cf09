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
const SYNC_CURSOR: &str = "sync_cursor";
/// Open tickets read per page of the open-tickets index (a tracked ticket is well under 1 KB,
/// so a page stays under DynamoDB's 1 MB response).
pub const OPEN_TICKETS_PAGE: usize = 1_000;
/// The `kind` of access change items; the ticket filer's stream filter matches on it.
pub const ACCESS_CHANGE: &str = "access_change";

/// What claiming a marker found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerClaim {
    /// This call set it.
    Claimed,
    /// Someone set it before; it holds until this time (epoch seconds).
    HeldUntil(i64),
}

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

/// A watched ticket with its place in the open-tickets index.
#[derive(Clone, Debug)]
pub struct OpenTicket {
    /// Its gsi3 sort key: where a walk of the index that stops at it resumes.
    pub place: String,
    /// The ticket.
    pub ticket: Versioned<TrackedTicket>,
}

/// Where each provider's walk of the open-tickets index stopped: the place of the last ticket
/// read (none: the next walk starts at the beginning).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    /// By provider name.
    pub after: std::collections::BTreeMap<String, String>,
}

impl Store {
    /// Saves a change read at `expected_version` (a failure or an attempt count).
    pub async fn save_change(&self, expected_version: u64, change: &AccessChange) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::change_record(change),
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
                &keys::change_record(change),
                ACCESS_CHANGE,
                expected_version,
                change,
                "access change",
            )?,
            Write::replace(
                &self.table,
                &keys::tracked_ticket(ticket),
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
                &keys::tracked_ticket(tracked),
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

    /// Audit events still not handled that were recorded before `before`, oldest first (a
    /// stream record that exhausted its retries leaves them there).
    pub async fn stuck_audit_events(&self, before: &Timestamp, limit: i32) -> StoreResult<Vec<AuditEvent>> {
        let below = keys::sortable_time(before);
        let found: Vec<Versioned<AuditEvent>> = self
            .query_before(
                "gsi2",
                keys::PENDING_AUDIT_EVENTS,
                &below,
                limit,
                "listing stuck audit events",
            )
            .await?;
        Ok(found.into_iter().map(|v| v.value).collect())
    }

    /// Marks an audit event read at `expected_version` as reflected on the ticket.
    pub async fn save_audit_event(&self, expected_version: u64, event: &AuditEvent) -> StoreResult<()> {
        let keys = keys::audit_event_record(event);
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
            .map(|e| Write::create(&self.table, &keys::audit_event_record(e), AUDIT_EVENT, e, "audit event"))
            .collect()
    }

    /// Every tracking record of a ticket (webhook look-up), with versions.
    pub async fn tracked_ticket(
        &self,
        provider: TicketProviderKind,
        remote_id: &str,
    ) -> StoreResult<Vec<Versioned<TrackedTicket>>> {
        let partition = keys::tracked_ticket_partition(provider, remote_id);
        self.query_all(None, &partition, None, 1_000, "reading tracked ticket")
            .await
    }

    /// Up to `limit` tracked tickets still watched for a provider whose place in the open-tickets
    /// index comes after `after` (from the start without), in index order, read in pages of
    /// [`OPEN_TICKETS_PAGE`]. Each comes with its place, for the sync's cursor.
    pub async fn open_tickets(
        &self,
        provider: TicketProviderKind,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<OpenTicket>> {
        let mut found = Vec::new();
        let mut start = None;
        while found.len() < limit {
            let page = (limit - found.len()).min(OPEN_TICKETS_PAGE);
            let (items, last) = self
                .query_after::<TrackedTicket>(
                    "gsi3",
                    &keys::open_tickets(provider),
                    after,
                    i32::try_from(page).unwrap_or(i32::MAX),
                    start,
                    "listing open tickets",
                )
                .await?;
            found.extend(items.into_iter().filter_map(|ticket| {
                let place = keys::tracked_ticket(&ticket.value).gsi3?.1;
                Some(OpenTicket { place, ticket })
            }));
            match last {
                Some(last) => start = Some(last),
                None => break,
            }
        }
        found.truncate(limit);
        Ok(found)
    }

    /// Where each provider's walk of the open-tickets index stopped.
    pub async fn sync_cursor(&self) -> StoreResult<Versioned<SyncCursor>> {
        Ok(self
            .get(&keys::sync_cursor(), "reading the sync cursor")
            .await?
            .unwrap_or(Versioned {
                version: 0,
                value: SyncCursor::default(),
            }))
    }

    /// Saves the sync cursor read at `expected_version` (0: none yet).
    pub async fn save_sync_cursor(&self, expected_version: u64, cursor: &SyncCursor) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::sync_cursor(),
            SYNC_CURSOR,
            expected_version,
            cursor,
            "sync cursor",
        )?;
        self.write_one(write, "saving the sync cursor").await
    }

    /// Tracked tickets still watched for one resource.
    pub async fn resource_tickets(
        &self,
        resource: &crate::domain::ResourceId,
    ) -> StoreResult<Vec<Versioned<TrackedTicket>>> {
        self.query_all(
            Some("gsi1"),
            &keys::resource_tickets(resource),
            None,
            10_000,
            "listing a resource's tickets",
        )
        .await
    }

    /// Saves a tracked ticket read at `expected_version` (its new state and sync time).
    pub async fn save_tracked_ticket(&self, expected_version: u64, ticket: &TrackedTicket) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::tracked_ticket(ticket),
            TRACKED_TICKET,
            expected_version,
            ticket,
            "tracked ticket",
        )?;
        self.write_one(write, "saving tracked ticket").await
    }

    /// Records a ticket's effect on its access change and the ticket's new tracking state, in
    /// one transaction.
    pub async fn apply_change_ticket_state(
        &self,
        change_version: u64,
        change: &AccessChange,
        ticket_version: u64,
        ticket: &TrackedTicket,
    ) -> StoreResult<()> {
        let writes = vec![
            Write::replace(
                &self.table,
                &keys::change_record(change),
                ACCESS_CHANGE,
                change_version,
                change,
                "access change",
            )?,
            Write::replace(
                &self.table,
                &keys::tracked_ticket(ticket),
                TRACKED_TICKET,
                ticket_version,
                ticket,
                "tracked ticket",
            )?,
        ];
        self.transact(writes, "applying ticket state").await
    }

    /// The write that starts tracking a ticket, for use inside another transaction.
    pub(super) fn track_write(&self, ticket: &TrackedTicket) -> StoreResult<Write> {
        Write::replace(
            &self.table,
            &keys::tracked_ticket(ticket),
            TRACKED_TICKET,
            0,
            ticket,
            "tracked ticket",
        )
    }

    /// Whether the marker `name` was set (a webhook delivery handled, reviewers notified).
    /// A marker past its `ttl` counts as unset: DynamoDB deletes expired items only eventually
    /// (within days), and DynamoDB Local never does.
    pub async fn marker_set(&self, name: &str) -> StoreResult<bool> {
        let now = chrono::Utc::now().timestamp();
        Ok(self
            .get::<serde_json::Value>(&keys::marker(name), "reading marker")
            .await?
            .is_some_and(|marker| marker.value["ttl"].as_i64().is_none_or(|ttl| ttl > now)))
    }

    /// Sets the marker `name` until `expires` (epoch seconds; DynamoDB's TTL removes it); a
    /// marker already set stays as it is.
    pub async fn set_marker(&self, name: &str, expires: i64) -> StoreResult<()> {
        self.claim_marker(name, expires).await.map(|_| ())
    }

    /// Claims the marker `name` until `expires` (epoch seconds) with one conditional write:
    /// exactly one of any number of concurrent claims gets [`MarkerClaim::Claimed`]; the others
    /// learn until when it is held.
    pub async fn claim_marker(&self, name: &str, expires: i64) -> StoreResult<MarkerClaim> {
        use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
        let data = serde_json::json!({"ttl": expires});
        let item = super::to_item(&keys::marker(name), "marker", 1, &data)?;
        self.forget_reads();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #ttl < :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(chrono::Utc::now().timestamp().to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(MarkerClaim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed)) => {
                    let until = failed
                        .item()
                        .and_then(|old| old.get("ttl"))
                        .and_then(|ttl| ttl.as_n().ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(expires);
                    Ok(MarkerClaim::HeldUntil(until))
                }
                Some(err) if err.is_transaction_conflict_exception() => Ok(MarkerClaim::HeldUntil(expires)),
                _ => Err(super::StoreError::dynamo(
                    "claiming marker",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e),
                )),
            },
        }
    }

    /// Removes the marker `name` (work it stood for failed and may be tried again).
    pub async fn release_marker(&self, name: &str) -> StoreResult<()> {
        self.forget_reads();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::marker(name))))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| super::StoreError::dynamo("releasing marker", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
    }

    /// A cached provider account for an e-mail, if looked up before.
    pub async fn provider_account(
        &self,
        provider: TicketProviderKind,
        project: &str,
        email: &Email,
    ) -> StoreResult<Option<ProviderAccount>> {
        Ok(self
            .get::<ProviderAccount>(
                &keys::provider_user(provider, project, email),
                "reading provider account",
            )
            .await?
            .map(|v| v.value))
    }

    /// Caches a provider account look-up (last writer wins: it is only a cache).
    pub async fn cache_provider_account(
        &self,
        provider: TicketProviderKind,
        project: &str,
        email: &Email,
        account: &ProviderAccount,
    ) -> StoreResult<()> {
        let item = super::to_item(
            &keys::provider_user(provider, project, email),
            PROVIDER_USER,
            1,
            account,
        )?;
        self.forget_reads();
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
