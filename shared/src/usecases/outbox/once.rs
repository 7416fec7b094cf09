//! Exactly-once filing. A ticket's idempotency key (its access change or request id) has a
//! lease item in the table ([`crate::store::FilingClaim`]):
//!
//! 1. Before anything is sent, the filer takes the lease with a conditional write; a second
//!    filer (the stream redelivering while the sweeper re-drives) finds it held and waits.
//! 2. Before sending a create, the holder records that it did; if the answer is lost, or the
//!    process dies before the ticket is recorded, that note stays behind.
//! 3. A filing that finds such a note does not create: it searches for the ticket. Linear's
//!    and ServiceNow's answers are consistent, so one search decides. Jira's search lags
//!    creates (seconds, sometimes minutes), so there it searches only at growing delays after
//!    the attempt ([`SEARCH_AFTER_SECONDS`]), and creates again only when every search came
//!    back empty.

use super::FilerError;
use crate::domain;
use crate::providers::{NewTicket, ProviderError, RemoteTicket, TicketProvider};
use crate::store::{FilingClaim, FilingMemory, Store};

/// How long a lease holds: longer than the filer's timeout (60 s), so a live holder is never
/// overtaken, and short enough that a crashed one is soon replaced.
pub const LEASE_SECONDS: i64 = 90;

/// Seconds after a create with an unknown outcome at which to search for its ticket; after the
/// last search comes back empty too, the ticket is created again.
pub const SEARCH_AFTER_SECONDS: [i64; 4] = [5, 15, 45, 120];

/// A held lease on filing one ticket.
#[derive(Debug)]
pub struct Lease {
    key: String,
    holder: String,
}

/// What taking the lease decided.
#[derive(Debug)]
pub enum Claim {
    /// Nothing was sent before, or every search after a lost create came back empty: create.
    Create(Lease),
    /// The ticket of an earlier attempt turned up: record it.
    Found(Lease, RemoteTicket),
}

fn now() -> i64 {
    domain::now().timestamp()
}

/// Takes the lease on filing `key` in `project` and decides whether to create or record a
/// ticket found from an earlier attempt. [`FilerError::Busy`] when another filer holds the
/// lease or a lost create's ticket may still show up in the provider's search.
pub async fn claim(store: &Store, client: &impl TicketProvider, project: &str, key: &str) -> Result<Claim, FilerError> {
    let holder = uuid::Uuid::new_v4().to_string();
    let memory = match store.claim_filing(key, &holder, now() + LEASE_SECONDS).await? {
        FilingClaim::Held(until) => return Err(FilerError::Busy { key: key.into(), until }),
        FilingClaim::Claimed(memory) => memory,
    };
    let lease = Lease {
        key: key.into(),
        holder,
    };
    let Some(attempted_at) = memory.attempted_at else {
        return Ok(Claim::Create(lease));
    };
    let searched = memory.empty_searches as usize;
    let Some(delay) = SEARCH_AFTER_SECONDS.get(searched) else {
        return Ok(Claim::Create(lease));
    };
    // A search that shows every create at once needs no wait.
    if client.search_lags() && now() < attempted_at + delay {
        return lease.wait(store, attempted_at + delay).await;
    }
    let found = match client.find_filed(project, key).await {
        Ok(found) => found,
        Err(err) => {
            lease.release(store).await?;
            return Err(err.into());
        }
    };
    if let Some(ticket) = found {
        tracing::info!(%key, ticket = %ticket.key, "the ticket of an earlier create turned up");
        return Ok(Claim::Found(lease, ticket));
    }
    if !client.search_lags() {
        return Ok(Claim::Create(lease));
    }
    let memory = FilingMemory {
        attempted_at: Some(attempted_at),
        empty_searches: memory.empty_searches + 1,
    };
    store.note_filing(key, &lease.holder, memory).await?;
    match SEARCH_AFTER_SECONDS.get(searched + 1) {
        Some(next) => lease.wait(store, attempted_at + next).await,
        None => {
            tracing::warn!(%key, "no ticket turned up after a create with a lost answer; creating it again");
            Ok(Claim::Create(lease))
        }
    }
}

impl Lease {
    /// Sends the create, recording first that it was sent. A create the provider answered
    /// with a refusal (4xx) created nothing, so its note is cleared.
    pub async fn create(
        &self,
        store: &Store,
        client: &impl TicketProvider,
        ticket: &NewTicket,
    ) -> Result<Result<RemoteTicket, ProviderError>, FilerError> {
        let sent = FilingMemory {
            attempted_at: Some(now()),
            empty_searches: 0,
        };
        store.note_filing(&self.key, &self.holder, sent).await?;
        let created = client.create_ticket(ticket).await;
        if let Err(err) = &created {
            if err.status.is_some_and(|s| (400..500).contains(&s)) {
                store
                    .note_filing(&self.key, &self.holder, FilingMemory::default())
                    .await?;
            }
            self.release(store).await?;
        }
        Ok(created)
    }

    /// Ends the filing once its ticket is recorded (or nothing is left to file).
    pub async fn finish(self, store: &Store) -> Result<(), FilerError> {
        Ok(store.finish_filing(&self.key, &self.holder).await?)
    }

    /// Gives the lease up, keeping what was learnt for the next attempt.
    pub async fn release(&self, store: &Store) -> Result<(), FilerError> {
        Ok(store.release_filing(&self.key, &self.holder).await?)
    }

    async fn wait<T>(self, store: &Store, until: i64) -> Result<T, FilerError> {
        self.release(store).await?;
        Err(FilerError::Busy { key: self.key, until })
    }
}
