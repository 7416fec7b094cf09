//! Status sync: reads the tickets grantdesk still waits on from their providers, in batches,
//! and applies what it finds. It runs on a schedule (the safety net behind webhooks) and on
//! "sync requested" events for one resource.
//!
//! Provider calls grow with the number of open tickets divided by the batch size (Jira
//! `bulkfetch` 100, Linear and ServiceNow 100 per call), never with tickets one by one; the
//! queue is the sparse open-tickets index, walked round robin from a per-provider cursor within
//! a per-run budget. DynamoDB calls grow with the index pages read and the tickets that changed:
//! a ticket whose state did not change is neither re-read from the table nor written.

use super::apply::{apply_remote_state, Applied};
use crate::domain::{self, ResourceId, TicketProviderKind, TrackedTicket};
use crate::metrics::Metrics;
use crate::providers::{ConnectionError, Connections, TicketProvider};
use crate::store::{MarkerClaim, OpenTicket, Store, StoreError, Versioned};
use crate::usecases::expiry::{expire_grant, Expiry};
use crate::usecases::outbox::TicketFiler;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What one run did, in counts (also logged).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Distinct tickets read from providers (a provider whose read failed adds none).
    pub tickets_read: usize,
    /// Batch reads providers answered.
    pub provider_batches: usize,
    /// Tickets the provider no longer returns.
    pub missing: usize,
    /// Tickets whose state had not changed (nothing written).
    pub unchanged: usize,
    /// Tickets whose state, key or link had changed (applied here, or first by a webhook).
    pub changed: usize,
    /// Access changes completed.
    pub completed: usize,
    /// Access changes flagged (ticket canceled).
    pub flagged: usize,
    /// Grants revoked because their linked ticket closed.
    pub revoked: usize,
    /// Tickets no longer watched.
    pub unwatched: usize,
    /// Providers that failed this run (retried next run).
    pub failed_providers: Vec<String>,
    /// Grants the sweeper ended because their end time passed without their schedule firing.
    pub expired: usize,
    /// Access changes whose ticket filing the sweeper re-drove.
    pub redriven: usize,
    /// Audit events the sweeper re-drove onto their ticket.
    pub redriven_audit_events: usize,
    /// Stream records whose kept work was done again.
    pub redriven_records: usize,
    /// Another run held the lease: this one did nothing.
    pub overlapping: bool,
}

/// How long a change may wait for its ticket before the sweeper files it itself.
pub const STUCK_AFTER_MINUTES: i64 = 5;

/// The marker a scheduled run holds while it works, so runs never overlap.
pub const RUN_LEASE: &str = "status-sync-run";
/// How long a run's lease lasts: just over the function's 300 s timeout (template.yaml), after
/// which Lambda has ended the run that held it.
pub const RUN_LEASE_SECONDS: i64 = 310;
/// Most grants and changes one sweep handles (the next run takes the rest).
pub const SWEEP_LIMIT: i32 = 100;

/// The most tickets one scheduled run reads per provider; the next run goes on where this one
/// stopped, so every ticket gets its turn.
pub const DEFAULT_BUDGET: usize = 2_000;

/// The handler, built once per process.
#[derive(Clone, Debug)]
pub struct StatusSync {
    store: Store,
    connections: Connections,
    filer: TicketFiler,
    budget: usize,
    metrics: Metrics,
}

impl StatusSync {
    /// A sync over `store`, reading at most `budget` tickets per provider per run; the sweeper
    /// re-drives stuck filings through `filer`.
    pub fn new(store: Store, connections: Connections, filer: TicketFiler, budget: usize) -> Self {
        Self {
            store,
            connections,
            filer,
            budget,
            metrics: Metrics::lambda(),
        }
    }

    /// The same sync writing its counts per provider (tickets read, changed, missing, failed
    /// reads) to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where its counts go.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The same sync reading at most `budget` tickets per provider per run.
    pub fn with_budget(mut self, budget: usize) -> Self {
        self.budget = budget;
        self
    }

    /// The sweeper: ends grants whose end time passed but are still active (a schedule that
    /// never fired), and files the tickets of changes and reflects the audit events that waited
    /// too long (a stream record that exhausted its retries, or a filing that waits for a lost
    /// create to show up in the provider's search). Each queue is a sparse index read with a
    /// Query.
    pub async fn sweep(&self, report: &mut SyncReport) -> Result<(), StoreError> {
        self.sweep_older_than(chrono::Duration::minutes(STUCK_AFTER_MINUTES), report)
            .await
    }

    /// [`Self::sweep`], re-driving what has waited longer than `age`.
    pub async fn sweep_older_than(&self, age: chrono::Duration, report: &mut SyncReport) -> Result<(), StoreError> {
        let now = domain::now();
        for grant in self.store.overdue_grants(&now, SWEEP_LIMIT).await? {
            if expire_grant(&self.store, &grant.id).await? == Expiry::Expired {
                report.expired += 1;
            }
        }
        let stuck_before = now - age;
        for change in self.store.stuck_changes(&stuck_before, SWEEP_LIMIT).await? {
            report.redriven += 1;
            if let Err(err) = self.filer.file_propagation_ticket(&change.id).await {
                tracing::warn!(error = %err, change = %change.id, "re-driven filing failed; next sweep retries");
            }
        }
        for work in self.store.due_work(&stuck_before, SWEEP_LIMIT).await? {
            report.redriven_records += 1;
            if let Err(err) = self.filer.redrive(&work).await {
                tracing::warn!(error = %err, event_id = %work.value.id, "re-driven stream record failed; next sweep retries");
            }
        }
        for event in self.store.stuck_audit_events(&stuck_before, SWEEP_LIMIT).await? {
            report.redriven_audit_events += 1;
            if let Err(err) = self.filer.apply_audit_event(&event.request_id, &event.id).await {
                tracing::warn!(error = %err, request = %event.request_id, "re-driven audit event failed; next sweep retries");
            }
        }
        Ok(())
    }

    /// Handles an EventBridge event: `SyncRequested` (detail `{"resource_id"}`) syncs one
    /// resource; anything else (the schedule) syncs everything open.
    pub async fn handle(&self, detail_type: &str, detail: &serde_json::Value) -> Result<SyncReport, StoreError> {
        match (detail_type, detail["resource_id"].as_str().and_then(ResourceId::parse)) {
            (crate::events::SYNC_REQUESTED, Some(resource)) => self.sync_resource(&resource).await,
            _ => self.sync_all().await,
        }
    }

    /// One scheduled run over every connected provider.
    #[tracing::instrument(skip_all)]
    pub async fn sync_all(&self) -> Result<SyncReport, StoreError> {
        let mut report = SyncReport::default();
        // One run at a time: a run that finds another's lease leaves the work to it.
        let lease_until = domain::now().timestamp() + RUN_LEASE_SECONDS;
        if let MarkerClaim::HeldUntil(until) = self.store.claim_marker(RUN_LEASE, lease_until).await? {
            tracing::info!(until, "another status-sync run holds the lease; this one does nothing");
            report.overlapping = true;
            return Ok(report);
        }
        let outcome = self.sync_all_leased(&mut report).await;
        if let Err(err) = self.store.release_marker(RUN_LEASE).await {
            tracing::warn!(error = %err, "releasing the sync lease; it lapses by itself");
        }
        outcome.map(|()| report)
    }

    async fn sync_all_leased(&self, report: &mut SyncReport) -> Result<(), StoreError> {
        self.sweep(report).await?;
        let cursor = self.store.sync_cursor().await?;
        let mut next = cursor.value.clone();
        for integration in self.store.integrations().await? {
            let provider = integration.provider;
            let after = cursor.value.after.get(provider.as_str()).map(String::as_str);
            let (tickets, resume) = self.next_in_turn(provider, after).await?;
            match resume {
                Some(place) => next.after.insert(provider.as_str().to_owned(), place),
                None => next.after.remove(provider.as_str()),
            };
            self.sync_tickets(provider, tickets, report).await?;
        }
        if next != cursor.value {
            match self.store.save_sync_cursor(cursor.version, &next).await {
                Ok(()) => {}
                // A run whose lease lapsed moved it meanwhile; the next run goes on from there.
                Err(StoreError::Conflict(_)) => tracing::warn!("the sync cursor moved during this run"),
                Err(err) => return Err(err),
            }
        }
        tracing::info!(?report, "status sync run");
        Ok(())
    }

    /// The next `budget` open tickets of `provider` after `after`, wrapping round to the start of
    /// the index when its end comes first, and where the next run resumes (none: at the start).
    async fn next_in_turn(
        &self,
        provider: TicketProviderKind,
        after: Option<&str>,
    ) -> Result<(Vec<Versioned<TrackedTicket>>, Option<String>), StoreError> {
        let mut turn = self.store.open_tickets(provider, after, self.budget).await?;
        let mut resume = None;
        if turn.len() == self.budget {
            resume = turn.last().map(|t| t.place.clone());
        } else if let Some(after) = after {
            let wrapped: Vec<OpenTicket> = self
                .store
                .open_tickets(provider, None, self.budget - turn.len())
                .await?
                .into_iter()
                .take_while(|t| t.place.as_str() <= after)
                .collect();
            if turn.len() + wrapped.len() == self.budget {
                resume = wrapped.last().map(|t| t.place.clone());
            }
            turn.extend(wrapped);
        }
        Ok((turn.into_iter().map(|t| t.ticket).collect(), resume))
    }

    /// Syncs the open tickets of one resource at once and records when.
    #[tracing::instrument(skip_all, fields(resource = %resource))]
    pub async fn sync_resource(&self, resource: &ResourceId) -> Result<SyncReport, StoreError> {
        let mut report = SyncReport::default();
        let mut by_provider: BTreeMap<&'static str, (TicketProviderKind, Vec<Versioned<TrackedTicket>>)> =
            BTreeMap::new();
        for ticket in self.store.resource_tickets(resource).await? {
            let provider = ticket.value.provider;
            by_provider
                .entry(provider.as_str())
                .or_insert_with(|| (provider, Vec::new()))
                .1
                .push(ticket);
        }
        for (_, (provider, tickets)) in by_provider {
            self.sync_tickets(provider, tickets, &mut report).await?;
        }
        if let Some(current) = self.store.resource(resource).await? {
            let mut updated = current.value;
            updated.last_synced_at = Some(domain::now());
            match self.store.update_resource(current.version, &updated).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(err) => return Err(err),
            }
        }
        tracing::info!(?report, "resource sync");
        Ok(report)
    }

    /// Reads `tickets` from `provider` and applies what changed, adding to `report` and writing
    /// the provider's counts as metrics.
    async fn sync_tickets(
        &self,
        provider: TicketProviderKind,
        tickets: Vec<Versioned<TrackedTicket>>,
        report: &mut SyncReport,
    ) -> Result<(), StoreError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let before = report.clone();
        let outcome = self.read_and_apply(provider, tickets, report).await;
        let read = report.tickets_read - before.tickets_read;
        let changed = report.changed - before.changed;
        let missing = report.missing - before.missing;
        let failed = report.failed_providers.len() - before.failed_providers.len();
        self.metrics.counts(
            provider.as_str(),
            &[
                ("TicketsRead", read as u64),
                ("TicketsChanged", changed as u64),
                ("TicketsMissing", missing as u64),
                ("ProviderReadFailures", failed as u64),
            ],
        );
        outcome
    }

    async fn read_and_apply(
        &self,
        provider: TicketProviderKind,
        tickets: Vec<Versioned<TrackedTicket>>,
        report: &mut SyncReport,
    ) -> Result<(), StoreError> {
        let client = match self.connections.client(provider).await {
            Ok(client) => client,
            Err(ConnectionError::NotConnected(_)) => return Ok(()),
            Err(ConnectionError::Store(err)) => return Err(err),
            Err(err) => {
                tracing::error!(error = %err, %provider, "cannot reach the provider's secrets");
                report.failed_providers.push(provider.to_string());
                return Ok(());
            }
        };
        // One ticket can be tracked for several purposes; read it once.
        let ids: Vec<String> = tickets
            .iter()
            .map(|t| t.value.remote_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let remote = match client.read_tickets(&ids).await {
            Ok(remote) => remote,
            Err(err) => {
                tracing::error!(error = %err, "status sync read failed; retried next run");
                report.failed_providers.push(provider.to_string());
                return Ok(());
            }
        };
        report.tickets_read += ids.len();
        report.provider_batches += ids.len().div_ceil(batch_size(provider));
        let by_id: BTreeMap<&str, _> = remote.iter().map(|t| (t.remote_id.as_str(), t)).collect();
        for ticket in tickets {
            let Some(found) = by_id.get(ticket.value.remote_id.as_str()) else {
                // Gone or hidden at the provider; asked again on its next turn.
                report.missing += 1;
                continue;
            };
            let applied = apply_remote_state(&self.store, ticket, found).await?;
            if applied != Applied::Unchanged {
                report.changed += 1;
            }
            match applied {
                Applied::Completed => report.completed += 1,
                Applied::Flagged => report.flagged += 1,
                Applied::Revoked => report.revoked += 1,
                Applied::Unwatched => report.unwatched += 1,
                Applied::Unchanged => report.unchanged += 1,
                Applied::Updated | Applied::Raced => {}
            }
        }
        Ok(())
    }
}

/// Tickets per batch read for `provider`.
pub fn batch_size(provider: TicketProviderKind) -> usize {
    match provider {
        TicketProviderKind::Jira => crate::providers::jira::BULK_FETCH_MAX,
        TicketProviderKind::Linear => crate::providers::linear::READ_BATCH,
        TicketProviderKind::Servicenow => crate::providers::servicenow::READ_BATCH,
    }
}
