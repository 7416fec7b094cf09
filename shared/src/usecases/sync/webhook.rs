//! A verified provider delivery about one ticket: the delivery says something changed; the
//! provider, read again, says what is true now, and that is applied like a poll's news.

use super::apply::apply_remote_state;
use crate::domain::TicketProviderKind;
use crate::providers::{ConnectionError, Connections, ProviderError, ProviderErrorKind, TicketProvider};
use crate::secrets::SecretError;
use crate::store::{Store, StoreError};
use thiserror::Error;

/// What a delivery led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// The delivery names no ticket.
    NoTicket,
    /// grantdesk does not track the ticket.
    Untracked,
    /// The provider no longer shows the ticket.
    Gone,
    /// The ticket's state was read again and applied.
    Applied,
    /// The provider was slow or rate limiting: the scheduled sync, which reads every open
    /// ticket anyway, applies it.
    Deferred,
}

/// Why a delivery was not applied (the provider delivers it again).
#[derive(Debug, Error)]
pub enum DeliveryError {
    /// The provider is not connected (any more).
    #[error("{0} is not connected")]
    NotConnected(TicketProviderKind),
    /// The provider refused or failed the read.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The integration's secrets could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ConnectionError> for DeliveryError {
    fn from(err: ConnectionError) -> Self {
        match err {
            ConnectionError::NotConnected(provider) => Self::NotConnected(provider),
            ConnectionError::Store(err) => Self::Store(err),
            ConnectionError::Secret(err) => Self::Secret(err),
        }
    }
}

/// Applies what `provider` now says about ticket `remote_id`, when grantdesk tracks it.
pub async fn apply_delivery(
    store: &Store,
    connections: &Connections,
    provider: TicketProviderKind,
    remote_id: Option<&str>,
) -> Result<Delivered, DeliveryError> {
    let Some(remote_id) = remote_id else {
        return Ok(Delivered::NoTicket);
    };
    let tracked = store.tracked_ticket(provider, remote_id).await?;
    if tracked.is_empty() {
        return Ok(Delivered::Untracked);
    }
    let client = connections.client(provider).await?;
    let current = match client.read_tickets(&[remote_id.to_owned()]).await {
        Ok(found) => found.into_iter().next(),
        Err(err)
            if matches!(
                err.kind,
                ProviderErrorKind::Unavailable | ProviderErrorKind::RateLimited
            ) =>
        {
            tracing::warn!(error = %err, "re-reading the ticket; left to the scheduled sync");
            return Ok(Delivered::Deferred);
        }
        Err(err) => return Err(err.into()),
    };
    let Some(current) = current else {
        return Ok(Delivered::Gone);
    };
    for ticket in tracked {
        apply_remote_state(store, ticket, &current).await?;
    }
    Ok(Delivered::Applied)
}
