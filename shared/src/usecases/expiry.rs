//! Ending a grant at its end time: used by access-expiry (when its schedule fires) and by the
//! status-sync sweeper (when a schedule never fired). A late, repeated or stale firing, or one
//! for a grant whose end time moved, changes nothing.

use crate::domain::{self, AuditEvent, DomainError, GrantId};
use crate::store::{Store, StoreError, StoreResult};

/// What an expiry attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The grant ended now.
    Expired,
    /// It had already ended (revoked or expired): nothing to do.
    AlreadyEnded,
    /// Its end time has not come (it moved, or the firing is early): nothing to do.
    NotDue,
    /// No such grant.
    Unknown,
}

/// Ends `grant` if it is active and its end time has passed.
pub async fn expire_grant(store: &Store, grant: &GrantId) -> StoreResult<Expiry> {
    let Some(current) = store.grant(grant).await? else {
        return Ok(Expiry::Unknown);
    };
    let now = domain::now();
    let propagation = store.effective_propagation(&current.value.resource_id).await?;
    let (ended, change) = match current.value.expire(propagation.as_ref(), now) {
        Ok(outcome) => outcome,
        Err(DomainError::GrantNotActive(_)) => return Ok(Expiry::AlreadyEnded),
        Err(DomainError::NotYetExpired) => return Ok(Expiry::NotDue),
        Err(other) => return Err(StoreError::changed(other.to_string())),
    };
    let events: Vec<AuditEvent> = ended.end_event().into_iter().collect();
    match store.end_grant(current.version, &ended, &change, &events).await {
        Ok(()) => Ok(Expiry::Expired),
        // Ended by someone else between the read and the write.
        Err(StoreError::Conflict(_)) => Ok(Expiry::AlreadyEnded),
        Err(err) => Err(err),
    }
}
