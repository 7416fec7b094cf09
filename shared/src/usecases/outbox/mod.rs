//! The outbox: what the table's DynamoDB stream leads to, done by the ticket filer (and again by
//! the status-sync sweeper for what the stream could not finish). By job: `propagation.rs`
//! files propagation tickets for access changes, `audit.rs` files, comments on and closes audit
//! tickets, `notify.rs` tells reviewers and requesters in Slack, and this module publishes the
//! domain events and routes each stream record to those jobs. The API and every other writer
//! only record intent in the table; only the outbox talks to providers on their behalf, so a
//! slow or failing provider never blocks a request.
//!
//! Every step is safe to repeat: creates are idempotent per change or request, and results are
//! recorded with conditional writes, so a record delivered twice, a crash between "created" and
//! "recorded", or a lost create answer never yields a second ticket.

mod assignee;
mod audit;
mod notify;
pub mod once;
mod propagation;

use crate::config::FilerConfig;
use crate::domain::events as domain_events;
use crate::domain::ticket_text::{self, PropagationFacts};
use crate::domain::{
    self, AccessChange, AccessRequest, AuditEvent, AuditTicket, ChangeCause, ChangeId, Grant, PropagationStatus,
    RequestId, RequestStatus, TicketPurpose, TicketRef, TrackedTicket, UserId,
};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::providers::{
    ConnectionError, Connections, NewTicket, ProviderError, ProviderErrorKind, RemoteTicket, TicketProvider,
};
use crate::store::{Store, StoreError};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Deserialize;
use thiserror::Error;

/// The stream records this function acts on, as Lambda event filter patterns. `template.yaml`
/// declares exactly these, and the local runner applies them the same way: every write of a
/// request, grant or access change (for domain events, reviewer notifications and propagation
/// tickets), and each new audit event. Other records (users, tracked tickets, markers...) never
/// invoke the function.
pub const FILTER_PATTERNS: [&str; 2] = [
    r#"{"dynamodb":{"NewImage":{"kind":{"S":["request","grant","access_change"]}}}}"#,
    r#"{"eventName":["INSERT"],"dynamodb":{"NewImage":{"kind":{"S":["audit_event"]}}}}"#,
];

/// Whether a write of a change calls for filing its ticket: the change was created waiting for
/// one, or an admin put a failed filing back to waiting. The filer's own bookkeeping (waiting to
/// waiting) does not.
pub fn should_file(old: Option<&AccessChange>, new: &AccessChange) -> bool {
    new.propagation == PropagationStatus::PendingTicketCreation
        && old.is_none_or(|o| o.propagation != PropagationStatus::PendingTicketCreation)
}

fn image<T: serde::de::DeserializeOwned>(item: &serde_dynamo::Item) -> Option<T> {
    serde_dynamo::from_item(item.clone()).ok()
}

/// Transient filing failures tolerated per change before it is marked failed for good.
pub const MAX_FILING_ATTEMPTS: u32 = 5;

/// Why a record could not be processed now; the record is reported as a batch item failure
/// and delivered again.
#[derive(Debug, Error)]
pub enum FilerError {
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A provider failed in a way worth retrying.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Reading an integration failed.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The record refers to something that is not there.
    #[error("{0}")]
    Inconsistent(String),
    /// Another filer holds the ticket's lease, or a create whose answer was lost may still
    /// show up in the provider's search: try again after `until` (epoch seconds).
    #[error("filing {key} waits until {until}: another filer holds it, or an earlier create may yet show up")]
    Busy {
        /// The ticket's idempotency key.
        key: String,
        /// When to try again.
        until: i64,
    },
}

/// Whether a provider failure is worth retrying (rate limits, outages) rather than final
/// (refused credentials, unknown project, a rejected ticket).
fn transient(err: &ProviderError) -> bool {
    matches!(
        err.kind,
        ProviderErrorKind::Unavailable | ProviderErrorKind::RateLimited
    )
}

#[derive(Deserialize)]
struct RecordIds {
    kind: Option<String>,
    id: Option<String>,
    request_id: Option<String>,
}

/// How a filing under a lease ended.
enum Filed {
    /// The ticket is recorded on the change: the lease and its memory can go.
    Recorded,
    /// No ticket was recorded (refused, or to be retried): what the lease learnt stays.
    NotFiled,
}

/// Notifications are remembered this long, so a redelivered record does not notify twice.
const NOTIFIED_DAYS: i64 = 30;

/// The handler, built once per process.
#[derive(Clone, Debug)]
pub struct TicketFiler {
    store: Store,
    connections: Connections,
    events: EventBus,
    config: FilerConfig,
    metrics: Metrics,
    /// Records this process kept for the sweeper, so a later delivery that succeeds here
    /// drops them at once.
    kept: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl TicketFiler {
    /// A filer writing to `store`, reaching providers through `connections` and publishing
    /// domain events on `events`.
    pub fn new(store: Store, connections: Connections, events: EventBus, config: FilerConfig) -> Self {
        Self {
            store,
            connections,
            events,
            config,
            metrics: Metrics::lambda(),
            kept: std::sync::Arc::default(),
        }
    }

    /// The same filer writing its counts (tickets filed, filings failed) to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where its counts go.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Processes a batch; records that fail are reported so only they are retried, and kept in
    /// the table for the sweeper (so their work is done even if the stream gives up on them).
    #[tracing::instrument(skip_all, fields(records = event.records.len()))]
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            match self.process(record).await {
                Ok(()) => self.done_with(&record.event_id).await,
                Err(err) => {
                    tracing::error!(error = %err, event_id = %record.event_id, "record failed; it will be retried");
                    self.keep(record, &err).await;
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record.change.sequence_number.clone();
                    response.batch_item_failures.push(failure);
                }
            }
        }
        response
    }

    /// Keeps a failed record's work in the table for the sweeper. If that fails too, the
    /// stream still retries the record.
    async fn keep(&self, record: &EventRecord, err: &FilerError) {
        let kept = match serde_json::to_string(record) {
            Ok(json) => {
                let work = crate::store::KeptWork {
                    id: record.event_id.clone(),
                    record: json,
                    error: err.to_string(),
                    redrives: 0,
                    at: domain::now(),
                };
                self.store.keep_work(&work).await.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match kept {
            Ok(()) => {
                self.kept
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(record.event_id.clone());
            }
            Err(error) => {
                tracing::error!(%error, event_id = %record.event_id, "keeping a failed record for the sweeper")
            }
        }
    }

    /// Drops the kept work of a record this process kept, now that a delivery succeeded.
    async fn done_with(&self, event_id: &str) {
        let was_kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).remove(event_id);
        if was_kept {
            if let Err(err) = self.store.drop_work(event_id).await {
                tracing::warn!(error = %err, event_id, "dropping kept work; the sweeper will find it done");
            }
        }
    }

    /// Does the work of a kept record again (the sweeper): done, it is dropped; failed again,
    /// it waits for the next sweep, until [`crate::store::MAX_REDRIVES`].
    pub async fn redrive(&self, work: &crate::store::Versioned<crate::store::KeptWork>) -> Result<(), FilerError> {
        let record: EventRecord = serde_json::from_str(&work.value.record)
            .map_err(|e| FilerError::Inconsistent(format!("kept record {} is unreadable: {e}", work.value.id)))?;
        match self.process(&record).await {
            Ok(()) => {
                self.kept
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&work.value.id);
                Ok(self.store.drop_work(&work.value.id).await?)
            }
            Err(err) => {
                if work.value.redrives + 1 >= crate::store::MAX_REDRIVES {
                    tracing::error!(error = %err, event_id = %work.value.id, "kept record failed every re-drive; parked in the table for an operator");
                }
                self.store
                    .work_failed_again(work, err.to_string(), domain::now())
                    .await?;
                Err(err)
            }
        }
    }

    async fn process(&self, record: &EventRecord) -> Result<(), FilerError> {
        let ids: RecordIds = serde_dynamo::from_item(record.change.new_image.clone())
            .map_err(|e| FilerError::Inconsistent(format!("unreadable stream image: {e}")))?;
        let unreadable =
            |what: &str| FilerError::Inconsistent(format!("unreadable {what} in stream record {}", record.event_id));
        let source = record.event_id.as_str();
        match ids.kind.as_deref() {
            Some("access_change") => {
                let new: AccessChange = image(&record.change.new_image).ok_or_else(|| unreadable("access change"))?;
                let old: Option<AccessChange> = image(&record.change.old_image);
                if should_file(old.as_ref(), &new) {
                    self.file_propagation_ticket(&new.id).await?;
                }
                self.publish(domain_events::change_events(source, old.as_ref(), &new))
                    .await
            }
            Some("request") => {
                let new: AccessRequest = image(&record.change.new_image).ok_or_else(|| unreadable("request"))?;
                let old: Option<AccessRequest> = image(&record.change.old_image);
                if old.is_none() && new.status == RequestStatus::Pending {
                    self.notify_reviewers(&new).await?;
                }
                if old.as_ref().is_none_or(|o| o.status == RequestStatus::Pending)
                    && new.status != RequestStatus::Pending
                {
                    self.request_decided(&new).await?;
                }
                self.publish(domain_events::request_events(source, old.as_ref(), &new))
                    .await
            }
            Some("grant") => {
                let new: Grant = image(&record.change.new_image).ok_or_else(|| unreadable("grant"))?;
                let old: Option<Grant> = image(&record.change.old_image);
                self.access_ended(old.as_ref(), &new).await?;
                self.publish(domain_events::grant_events(source, old.as_ref(), &new))
                    .await
            }
            Some("audit_event") => {
                let (Some(id), Some(request)) = (ids.id, ids.request_id) else {
                    return Ok(());
                };
                let request = RequestId::parse(&request)
                    .ok_or_else(|| FilerError::Inconsistent(format!("bad request id {request}")))?;
                self.apply_audit_event(&request, &id).await
            }
            // Not ours (the filter should have kept it out): nothing to do.
            _ => Ok(()),
        }
    }

    async fn publish(&self, events: Vec<domain_events::DomainEvent>) -> Result<(), FilerError> {
        for event in events {
            let detail = serde_json::to_value(&event).map_err(|e| FilerError::Inconsistent(e.to_string()))?;
            self.events
                .publish(event.kind, detail)
                .await
                .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        }
        Ok(())
    }

    fn link(&self, resource: &domain::ResourceId) -> String {
        format!("{}/console/resources/{resource}", self.config.app_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChangeDirection, GrantId, ResourceId};

    fn change(status: PropagationStatus) -> AccessChange {
        let mut change = AccessChange::record(
            (&ResourceId::generate(), &UserId::generate(), &GrantId::generate()),
            ChangeDirection::Add,
            ChangeCause::Expiry,
            None,
            domain::now(),
        );
        change.propagation = status;
        change
    }

    #[test]
    fn a_ticket_is_filed_for_new_and_retried_changes_but_not_for_bookkeeping() {
        let pending = change(PropagationStatus::PendingTicketCreation);
        assert!(should_file(None, &pending));
        assert!(
            should_file(Some(&change(PropagationStatus::TicketCreationFailed)), &pending),
            "an admin's retry"
        );
        assert!(!should_file(Some(&pending), &pending), "the filer's own attempt count");
        assert!(!should_file(None, &change(PropagationStatus::NotRequired)));
        assert!(!should_file(
            Some(&pending),
            &change(PropagationStatus::PendingManualPropagation)
        ));
    }
}
