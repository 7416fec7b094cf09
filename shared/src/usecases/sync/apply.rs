//! Applying what a provider says about a ticket: the one place where a ticket's state changes
//! grantdesk's records, used alike by the scheduled poll, "sync now" and webhooks.
//!
//! A propagation ticket that is done completes its change; one that is canceled flags it. A
//! linked ticket that is done or canceled revokes its grant (which files a revocation ticket if
//! enabled and closes the audit ticket). Tickets nothing waits on any more stop being watched.
//! Every write is conditional: a poll and a webhook applying the same news race harmlessly.

use crate::domain::{self, AuditEvent, GrantStatus, PropagationStatus, RevocationReason, TicketPurpose, TrackedTicket};
use crate::providers::RemoteTicket;
use crate::store::{Store, StoreError, StoreResult, Versioned};

/// What applying a ticket's state did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The ticket is as grantdesk last recorded it: nothing was read or written.
    Unchanged,
    /// The ticket's new state (or key or link) was recorded; nothing else follows from it.
    Updated,
    /// A propagation ticket was done: the access change is complete.
    Completed,
    /// A propagation ticket was canceled: the access change is flagged.
    Flagged,
    /// A linked ticket closed: the grant was revoked.
    Revoked,
    /// Nothing waits on the ticket any more; it left the open-tickets index.
    Unwatched,
    /// Someone else applied news first; nothing was written.
    Raced,
}

/// Applies `remote` (the ticket as just read from its provider) to what `tracked` is for.
pub async fn apply_remote_state(
    store: &Store,
    tracked: Versioned<TrackedTicket>,
    remote: &RemoteTicket,
) -> StoreResult<Applied> {
    if is_unchanged(&tracked.value, remote) {
        return Ok(Applied::Unchanged);
    }
    let now = domain::now();
    let version = tracked.version;
    let mut next = tracked.value.clone();
    next.state = remote.state;
    next.key = remote.key.clone();
    next.url = remote.url.clone();
    next.last_synced_at = now;
    let outcome = match &tracked.value.purpose {
        TicketPurpose::Propagation { change_id } => {
            let Some(change) = store.change(change_id).await? else {
                next.watching = false;
                return settle(store, version, &next, Applied::Unwatched).await;
            };
            if change.value.propagation != PropagationStatus::PendingManualPropagation {
                next.watching = false;
                return settle(store, version, &next, Applied::Unwatched).await;
            }
            let updated = change
                .value
                .clone()
                .record_ticket_state(remote.state, now)
                .map_err(|e| StoreError::changed(e.to_string()))?;
            let applied = match updated.propagation {
                PropagationStatus::Completed => Applied::Completed,
                PropagationStatus::TicketCanceled => Applied::Flagged,
                _ => return settle(store, version, &next, Applied::Updated).await,
            };
            next.watching = false;
            match store
                .apply_change_ticket_state(change.version, &updated, version, &next)
                .await
            {
                Ok(()) => applied,
                Err(StoreError::Conflict(_)) => Applied::Raced,
                Err(err) => return Err(err),
            }
        }
        TicketPurpose::Linked { grant_id } => {
            let Some(grant) = store.grant(grant_id).await? else {
                next.watching = false;
                return settle(store, version, &next, Applied::Unwatched).await;
            };
            if grant.value.status != GrantStatus::Active {
                next.watching = false;
                return settle(store, version, &next, Applied::Unwatched).await;
            }
            if !remote.state.is_closed() {
                return settle(store, version, &next, Applied::Updated).await;
            }
            let propagation = store.effective_propagation(&grant.value.resource_id).await?;
            let (ended, change) = grant
                .value
                .clone()
                .revoke(RevocationReason::LinkedTicketClosed, propagation.as_ref(), now)
                .map_err(|e| StoreError::changed(e.to_string()))?;
            let events: Vec<AuditEvent> = ended.end_event().into_iter().collect();
            match store.end_grant(grant.version, &ended, &change, &events).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Ok(Applied::Raced),
                Err(err) => return Err(err),
            }
            next.watching = false;
            return settle(store, version, &next, Applied::Revoked).await;
        }
        TicketPurpose::Audit { .. } => {
            next.watching = false;
            return settle(store, version, &next, Applied::Unwatched).await;
        }
    };
    Ok(outcome)
}

/// Whether `remote` says nothing `tracked` does not already record. A closed ticket still
/// watched is never taken as unchanged: whatever its closing should have done is done again
/// (each step is idempotent), so an interrupted application finishes.
fn is_unchanged(tracked: &TrackedTicket, remote: &RemoteTicket) -> bool {
    tracked.watching
        && tracked.state == remote.state
        && !remote.state.is_closed()
        && tracked.key == remote.key
        && tracked.url == remote.url
}

async fn settle(store: &Store, version: u64, ticket: &TrackedTicket, applied: Applied) -> StoreResult<Applied> {
    match store.save_tracked_ticket(version, ticket).await {
        Ok(()) => Ok(applied),
        Err(StoreError::Conflict(_)) => Ok(Applied::Raced),
        Err(err) => Err(err),
    }
}
