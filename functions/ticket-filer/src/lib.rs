//! The ticket filer: fed by the table's DynamoDB stream (the outbox), it files propagation
//! tickets for access changes and files, comments on and closes audit tickets. The API and
//! every other writer only record intent in the table; only this function talks to providers
//! on their behalf, so a slow or failing provider never blocks a request.
//!
//! Every step is safe to repeat: creates are idempotent per change or request, and results are
//! recorded with conditional writes, so a record delivered twice, a crash between "created" and
//! "recorded", or a lost create answer never yields a second ticket.

mod assignee;
mod notify;
pub mod once;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use grantdesk::config::FilerConfig;
use grantdesk::domain::events as domain_events;
use grantdesk::domain::ticket_text::{self, PropagationFacts};
use grantdesk::domain::{
    self, AccessChange, AccessRequest, AuditEvent, AuditTicket, ChangeCause, ChangeId, Grant, PropagationStatus,
    RequestId, RequestStatus, TicketPurpose, TicketRef, TrackedTicket, UserId,
};
use grantdesk::events::EventBus;
use grantdesk::metrics::Metrics;
use grantdesk::providers::{
    ConnectionError, Connections, NewTicket, ProviderError, ProviderErrorKind, RemoteTicket, TicketProvider,
};
use grantdesk::store::{Store, StoreError};
use serde::Deserialize;
use thiserror::Error;

/// How long one provider call may take, retries included: the function's timeout is 60 s
/// (template.yaml); a slower provider fails the record, which the stream delivers again.
pub const PROVIDER_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);

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
                let work = grantdesk::store::KeptWork {
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
    /// it waits for the next sweep, until [`grantdesk::store::MAX_REDRIVES`].
    pub async fn redrive(
        &self,
        work: &grantdesk::store::Versioned<grantdesk::store::KeptWork>,
    ) -> Result<(), FilerError> {
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
                if work.value.redrives + 1 >= grantdesk::store::MAX_REDRIVES {
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

    /// Files the propagation ticket of a change that waits for one, and records it.
    pub async fn file_propagation_ticket(&self, id: &ChangeId) -> Result<(), FilerError> {
        let Some(current) = self.store.change(id).await? else {
            return Ok(());
        };
        let (version, change) = (current.version, current.value);
        // Delivered again after it was handled: nothing to do.
        if change.propagation != PropagationStatus::PendingTicketCreation {
            return Ok(());
        }
        let Some(target) = change.target.clone() else {
            return self
                .fail_for_good(version, change, "the change has no ticket target".into())
                .await;
        };
        let client = match self.connections.client(target.provider).await {
            Ok(client) => client,
            Err(ConnectionError::NotConnected(provider)) => {
                return self
                    .fail_for_good(version, change, format!("no {provider} integration is connected"))
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        let lease = once::claim(&self.store, &client, &target.project, id.as_str()).await;
        let (lease, found) = match lease? {
            once::Claim::Create(lease) => (lease, None),
            once::Claim::Found(lease, ticket) => (lease, Some(ticket)),
        };
        // Read again under the lease: another filer may have recorded the ticket and let its
        // lease go between the first read and the claim.
        let current = match self.store.change(id).await {
            Ok(Some(current)) if current.value.propagation == PropagationStatus::PendingTicketCreation => current,
            Ok(_) => return lease.release(&self.store).await,
            Err(err) => {
                lease.release(&self.store).await?;
                return Err(err.into());
            }
        };
        let (version, change) = (current.version, current.value);
        match self
            .file_claimed(version, change, &target, &client, &lease, found)
            .await
        {
            Ok(Filed::Recorded) => lease.finish(&self.store).await,
            Ok(Filed::NotFiled) => lease.release(&self.store).await,
            Err(err) => {
                lease.release(&self.store).await?;
                Err(err)
            }
        }
    }

    /// Files (or records the `found` ticket of an earlier attempt) under a held lease.
    async fn file_claimed(
        &self,
        version: u64,
        change: AccessChange,
        target: &domain::TicketTarget,
        client: &grantdesk::providers::AnyProvider,
        lease: &once::Lease,
        found: Option<RemoteTicket>,
    ) -> Result<Filed, FilerError> {
        let id = change.id.clone();
        let id = &id;
        let missing = |what: &str| FilerError::Inconsistent(format!("{what} of access change {id} is missing"));
        let grant = self
            .store
            .grant(&change.grant_id)
            .await?
            .ok_or_else(|| missing("the grant"))?
            .value;
        let (resource, app) = self
            .store
            .resource_and_app(&change.resource_id)
            .await?
            .ok_or_else(|| missing("the resource"))?;
        let resource = resource.value;
        let user = self
            .store
            .user(&change.user_id)
            .await?
            .ok_or_else(|| missing("the user"))?;
        let (request, actor_id): (_, Option<UserId>) = match &change.cause {
            ChangeCause::Request {
                request_id,
                approver_id,
            } => (
                self.store.request(request_id).await?.map(|r| r.value),
                approver_id.clone(),
            ),
            ChangeCause::Manual { admin_id } => (None, Some(admin_id.clone())),
            ChangeCause::Expiry | ChangeCause::LinkedTicketClosed => (None, None),
        };
        let actor = match &actor_id {
            Some(id) => self.store.user(id).await?,
            None => None,
        };
        let remote = match found {
            Some(found) => found,
            None => {
                let assignee = match assignee::choose(&self.store, client, target, &change, &resource, &app).await {
                    Ok(assignee) => assignee,
                    Err(err) if transient(&err) => {
                        return self.retry_later(version, change, err).await.map(|()| Filed::NotFiled)
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "assignee look-up failed; filing unassigned");
                        None
                    }
                };
                let facts = PropagationFacts {
                    change: &change,
                    grant: &grant,
                    user: &user,
                    resource: &resource,
                    app: &app,
                    request: request.as_ref(),
                    actor: actor.as_ref(),
                    link: self.link(&resource.id),
                };
                let (title, description) = ticket_text::propagation_ticket(&facts);
                let new = NewTicket {
                    idempotency_key: change.id.to_string(),
                    project: target.project.clone(),
                    title,
                    description,
                    assignee,
                    issue_type: target.issue_type.clone(),
                };
                let remote = match lease.create(&self.store, client, &new).await? {
                    Ok(remote) => remote,
                    Err(err) if transient(&err) => {
                        return self.retry_later(version, change, err).await.map(|()| Filed::NotFiled)
                    }
                    Err(err) => {
                        return self
                            .fail_for_good(version, change, err.to_string())
                            .await
                            .map(|()| Filed::NotFiled)
                    }
                };
                remote
            }
        };
        let now = domain::now();
        let tracked = TrackedTicket {
            provider: target.provider,
            remote_id: remote.remote_id.clone(),
            key: remote.key.clone(),
            url: remote.url.clone(),
            purpose: TicketPurpose::Propagation {
                change_id: change.id.clone(),
            },
            resource_id: Some(change.resource_id.clone()),
            state: remote.state,
            watching: true,
            last_synced_at: now,
        };
        let ticket = TicketRef {
            provider: target.provider,
            key: remote.key,
            url: remote.url,
        };
        let mut filed = change
            .record_ticket(ticket, remote.remote_id, now)
            .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        if remote.assignee_refused {
            filed.note = Some(format!(
                "filed unassigned: {} refused the chosen assignee (not assignable in {})",
                target.provider, target.project
            ));
        }
        match self.store.record_change_ticket(version, &filed, &tracked).await {
            Ok(()) => {
                tracing::info!(change = %filed.id, ticket = %tracked.key, "propagation ticket filed");
                self.metrics.counts(target.provider.as_str(), &[("TicketsFiled", 1)]);
                Ok(Filed::Recorded)
            }
            // Someone else recorded it first (a duplicate delivery racing this one): the ticket is
            // the same one, created idempotently, so there is nothing left to do. Anything else is
            // retried.
            Err(StoreError::Conflict(_)) => match self.store.change(id).await? {
                Some(now) if now.value.propagation != PropagationStatus::PendingTicketCreation => Ok(Filed::Recorded),
                _ => Err(FilerError::Inconsistent(format!(
                    "access change {id} changed while its ticket was filed"
                ))),
            },
            Err(err) => Err(err.into()),
        }
    }

    async fn fail_for_good(&self, version: u64, change: AccessChange, reason: String) -> Result<(), FilerError> {
        tracing::warn!(change = %change.id, %reason, "propagation ticket cannot be filed");
        let provider = change.target.as_ref().map_or("none", |t| t.provider.as_str());
        self.metrics.counts(provider, &[("FilingFailures", 1)]);
        let failed = change
            .record_failure(reason, domain::now())
            .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        self.save_change(version, &failed).await
    }

    async fn retry_later(&self, version: u64, change: AccessChange, err: ProviderError) -> Result<(), FilerError> {
        let counted = change
            .record_attempt_failure(err.to_string(), MAX_FILING_ATTEMPTS, domain::now())
            .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        let gave_up = counted.propagation == PropagationStatus::TicketCreationFailed;
        self.save_change(version, &counted).await?;
        if gave_up {
            let provider = counted.target.as_ref().map_or("none", |t| t.provider.as_str());
            self.metrics.counts(provider, &[("FilingFailures", 1)]);
            Ok(())
        } else {
            Err(err.into())
        }
    }

    async fn save_change(&self, version: u64, change: &AccessChange) -> Result<(), FilerError> {
        match self.store.save_change(version, change).await {
            // Changed meanwhile (another delivery recorded the ticket): its outcome stands.
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// Reflects one audit event on the request's audit ticket, filing the ticket first if this
    /// is the first event to get here.
    pub async fn apply_audit_event(&self, request_id: &RequestId, event_id: &str) -> Result<(), FilerError> {
        let Some(stored) = self.store.audit_event(request_id, event_id).await? else {
            return Ok(());
        };
        let (event_version, mut event) = (stored.version, stored.value);
        if event.processed_at.is_some() {
            return Ok(());
        }
        let client = match self.connections.client(event.target.provider).await {
            Ok(client) => client,
            Err(ConnectionError::NotConnected(provider)) => {
                return self
                    .finish_event(
                        event_version,
                        event,
                        Some(format!("no {provider} integration is connected")),
                    )
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        let (ticket_version, ticket) = match self.ensure_audit_ticket(&client, &event).await {
            Ok(found) => found,
            Err(FilerError::Provider(err)) if !transient(&err) => {
                return self.finish_event(event_version, event, Some(err.to_string())).await;
            }
            Err(err) => return Err(err),
        };
        let remote = RemoteTicket {
            remote_id: ticket.remote_id.clone(),
            key: ticket.key.clone(),
            url: ticket.url.clone(),
            title: String::new(),
            state: domain::TicketState::Open,
            raw_state: String::new(),
            assignee_refused: false,
        };
        let outcome = async {
            if event.step != domain::AuditEventKind::Opened {
                let actor = match &event.actor {
                    Some(id) => self.store.user(id).await?,
                    None => None,
                };
                let request = self.store.request(request_id).await?.map(|r| r.value);
                let grant = match request.as_ref().and_then(|r| r.grant_id.clone()) {
                    Some(id) => self.store.grant(&id).await?.map(|g| g.value),
                    None => None,
                };
                client
                    .comment(
                        &remote,
                        &ticket_text::audit_comment(&event, actor.as_ref(), grant.as_ref()),
                    )
                    .await?;
            }
            if event.step.closes() && !ticket.closed {
                client.close(&remote, "The access request has ended.").await?;
                let closed = AuditTicket {
                    closed: true,
                    ..ticket.clone()
                };
                match self
                    .store
                    .save_audit_ticket(ticket_version, request_id, &closed, None)
                    .await
                {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(err) => return Err(FilerError::from(err)),
                }
            }
            Ok::<(), FilerError>(())
        }
        .await;
        match outcome {
            Ok(()) => self.finish_event(event_version, event, None).await,
            Err(FilerError::Provider(err)) if !transient(&err) => {
                event.processed_at = None;
                self.finish_event(event_version, event, Some(err.to_string())).await
            }
            Err(err) => Err(err),
        }
    }

    async fn ensure_audit_ticket(
        &self,
        client: &impl TicketProvider,
        event: &AuditEvent,
    ) -> Result<(u64, AuditTicket), FilerError> {
        if let Some(existing) = self.store.audit_ticket(&event.request_id).await? {
            return Ok((existing.version, existing.value));
        }
        let key = event.request_id.to_string();
        let (lease, found) = match once::claim(&self.store, client, &event.target.project, &key).await? {
            once::Claim::Create(lease) => (lease, None),
            once::Claim::Found(lease, ticket) => (lease, Some(ticket)),
        };
        match self.file_audit_ticket(client, event, &lease, found).await {
            Ok(filed) => {
                lease.finish(&self.store).await?;
                Ok(filed)
            }
            Err(err) => {
                lease.release(&self.store).await?;
                Err(err)
            }
        }
    }

    /// Files a request's audit ticket (or records the `found` one of an earlier attempt) under
    /// a held lease.
    async fn file_audit_ticket(
        &self,
        client: &impl TicketProvider,
        event: &AuditEvent,
        lease: &once::Lease,
        found: Option<RemoteTicket>,
    ) -> Result<(u64, AuditTicket), FilerError> {
        // Read again under the lease: another filer may have just recorded it.
        if let Some(existing) = self.store.audit_ticket(&event.request_id).await? {
            return Ok((existing.version, existing.value));
        }
        let missing =
            |what: &str| FilerError::Inconsistent(format!("{what} of request {} is missing", event.request_id));
        let request = self
            .store
            .request(&event.request_id)
            .await?
            .ok_or_else(|| missing("the request"))?
            .value;
        let requester = self
            .store
            .user(&request.requester_id)
            .await?
            .ok_or_else(|| missing("the requester"))?;
        let (resource, app) = self
            .store
            .resource_and_app(&request.resource_id)
            .await?
            .ok_or_else(|| missing("the resource"))?;
        let resource = resource.value;
        let (title, description) =
            ticket_text::audit_ticket(&request, &requester, &resource, &app, &self.link(&resource.id));
        let new = NewTicket {
            idempotency_key: request.id.to_string(),
            project: event.target.project.clone(),
            title,
            description,
            assignee: None,
            issue_type: event.target.issue_type.clone(),
        };
        let remote = match found {
            Some(found) => found,
            None => lease.create(&self.store, client, &new).await??,
        };
        let ticket = AuditTicket {
            provider: event.target.provider,
            remote_id: remote.remote_id,
            key: remote.key,
            url: remote.url,
            closed: false,
        };
        match self.store.save_audit_ticket(0, &request.id, &ticket, None).await {
            Ok(()) => Ok((1, ticket)),
            // Filed by another event at the same time (the same ticket, by idempotency): use theirs.
            Err(StoreError::Conflict(_)) => {
                let theirs = self
                    .store
                    .audit_ticket(&request.id)
                    .await?
                    .ok_or_else(|| missing("the audit ticket"))?;
                Ok((theirs.version, theirs.value))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn finish_event(
        &self,
        version: u64,
        mut event: AuditEvent,
        failure: Option<String>,
    ) -> Result<(), FilerError> {
        if let Some(reason) = &failure {
            tracing::error!(request = %event.request_id, %reason, "audit ticket step failed for good");
        }
        event.processed_at = Some(domain::now());
        event.failure = failure;
        match self.store.save_audit_event(version, &event).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grantdesk::domain::{ChangeDirection, GrantId, ResourceId};

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
