//! Syncing tickets: what a provider says about a ticket is applied in one place
//! ([`apply`]), reached by the scheduled poll and "sync requested" events ([`poll`]), by
//! webhooks ([`webhook`]), and by a resource admin's "sync now" ([`request_sync`]), which queues a sync of
//! one resource for status sync.

pub mod apply;
pub mod poll;
pub mod webhook;

pub use apply::{apply_remote_state, Applied};
pub use poll::{batch_size, StatusSync, SyncReport, DEFAULT_BUDGET};
pub use webhook::{apply_delivery, Delivered, DeliveryError};

use super::authorization::Principal;
use super::resource::{LoadedResource, ResourceError};
use crate::domain::{Resource, ResourceId};
use crate::events::{EventBus, EventError, SYNC_REQUESTED};
use crate::store::{MarkerClaim, Store, StoreError};
use thiserror::Error;

/// The shortest time between two "sync now" requests of one resource: each one reads every
/// open ticket of the resource from its provider.
pub const SYNC_NOW_WINDOW_SECONDS: i64 = 30;

/// Why "sync now" queued nothing.
#[derive(Debug, Error)]
pub enum SyncNowError {
    /// The resource is missing, or the caller may not administer it.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// A sync of the resource was requested within the window.
    #[error("a sync of this resource was requested less than {SYNC_NOW_WINDOW_SECONDS} s ago")]
    TooSoon {
        /// Seconds until one may be requested again.
        retry_after: u64,
    },
    /// The bus refused the event; the window's claim was given back.
    #[error(transparent)]
    NotQueued(#[from] EventError),
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Queues a sync of `resource`'s open tickets as `principal` (its admins and org admins), at
/// most once per resource per [`SYNC_NOW_WINDOW_SECONDS`]; answers the resource as read.
pub async fn request_sync(
    store: &Store,
    events: &EventBus,
    principal: &Principal,
    resource: &ResourceId,
) -> Result<Resource, SyncNowError> {
    let (loaded, _) = LoadedResource::administered(store, principal, resource).await?;
    let resource = loaded.resource.value;
    let now = chrono::Utc::now().timestamp();
    let marker = format!("sync#{}", resource.id);
    if let MarkerClaim::HeldUntil(until) = store.claim_marker(&marker, now + SYNC_NOW_WINDOW_SECONDS).await? {
        return Err(SyncNowError::TooSoon {
            retry_after: u64::try_from(until - now).unwrap_or(1).max(1),
        });
    }
    if let Err(err) = events
        .publish(SYNC_REQUESTED, serde_json::json!({"resource_id": resource.id}))
        .await
    {
        // Nothing was queued: the caller's "try again" must not meet a refusal.
        if let Err(err) = store.release_marker(&marker).await {
            tracing::warn!(error = %err, "releasing the sync-now claim");
        }
        return Err(err.into());
    }
    Ok(resource)
}
