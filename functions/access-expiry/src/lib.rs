//! Access expiry: the target of each grant's one-time schedule. It ends the grant with a
//! conditional write, so a late, repeated or stale firing (the grant was revoked, or its end
//! time moved) is a no-op; the revocation then flows like any other (a removal ticket if
//! enabled, the audit ticket closed) through the table's stream.

use grantdesk::domain::GrantId;
use grantdesk::store::{Store, StoreError};
use grantdesk::usecases::expiry::{expire_grant, Expiry};
use serde::Deserialize;

/// What the schedule sends.
#[derive(Clone, Debug, Deserialize)]
pub struct ExpiryInput {
    /// The grant to end.
    pub grant_id: String,
}

/// The handler, built once per process.
#[derive(Clone, Debug)]
pub struct AccessExpiry {
    store: Store,
}

impl AccessExpiry {
    /// An expiry over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Ends the grant named by `input` if it is due.
    #[tracing::instrument(skip_all, fields(grant = %input.grant_id))]
    pub async fn handle(&self, input: ExpiryInput) -> Result<Expiry, StoreError> {
        let Some(grant) = GrantId::parse(&input.grant_id) else {
            tracing::warn!("a schedule named something that is not a grant id");
            return Ok(Expiry::Unknown);
        };
        let outcome = expire_grant(&self.store, &grant).await?;
        tracing::info!(?outcome, "expiry fired");
        Ok(outcome)
    }
}
