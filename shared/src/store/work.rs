//! Outbox work kept in the table: a stream record the ticket filer could not finish (its
//! propagation step, audit step, Slack notifications and domain events) is written here at
//! its first failed attempt, with the record itself, on a sparse index the status-sync sweeper
//! reads. So a record the stream gives up on (after its retries, or an hour) is still done;
//! nothing depends on the stream's retries alone. Every step the record leads to is idempotent
//! (leases, markers, versioned writes; domain events keep their ids), so doing it twice is
//! harmless.

use super::{keys, Store, StoreError, StoreResult, Versioned, Write};
use crate::domain::Timestamp;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use serde::{Deserialize, Serialize};

const WORK: &str = "kept_work";

/// Re-drives after which kept work stops being retried: it stays in the table, off the queue,
/// for an operator (the filer's error log and alarm name it).
pub const MAX_REDRIVES: u32 = 24;

/// One stream record whose work is not done yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeptWork {
    /// The stream record's event id.
    pub id: String,
    /// The stream record, as the Lambda event carried it (JSON).
    pub record: String,
    /// The last error.
    pub error: String,
    /// Re-drives so far.
    #[serde(default)]
    pub redrives: u32,
    /// When it was kept, or last re-driven.
    pub at: Timestamp,
}

fn work_keys(work: &KeptWork) -> keys::Keys {
    let parked = work.redrives >= MAX_REDRIVES;
    keys::kept_work(&work.id, (!parked).then_some(&work.at))
}

impl Store {
    /// Keeps a record's work for the sweeper; the first failure of a record is kept, later
    /// ones find it there.
    pub async fn keep_work(&self, work: &KeptWork) -> StoreResult<()> {
        let write = Write::create(&self.table, &work_keys(work), WORK, work, "kept work")?;
        match self.write_one(write, "keeping outbox work").await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Kept work last tried before `before`, oldest first.
    pub async fn due_work(&self, before: &Timestamp, limit: i32) -> StoreResult<Vec<Versioned<KeptWork>>> {
        let below = keys::sortable_time(before);
        self.query_before("gsi2", keys::PENDING_WORK, &below, limit, "listing kept work")
            .await
    }

    /// Records another failed re-drive of work read at `read` (parked once it reaches
    /// [`MAX_REDRIVES`]).
    pub async fn work_failed_again(&self, read: &Versioned<KeptWork>, error: String, at: Timestamp) -> StoreResult<()> {
        let mut work = read.value.clone();
        work.redrives += 1;
        work.error = error;
        work.at = at;
        let write = Write::replace(&self.table, &work_keys(&work), WORK, read.version, &work, "kept work")?;
        self.write_one(write, "recording a failed re-drive").await
    }

    /// Forgets a record's kept work once it is done (nothing if none was kept).
    pub async fn drop_work(&self, id: &str) -> StoreResult<()> {
        self.forget_reads();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::kept_work(id, None))))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("dropping kept work", DisplayErrorContext(e)))?;
        Ok(())
    }

    /// The kept work of a record, if any.
    pub async fn kept_work(&self, id: &str) -> StoreResult<Option<Versioned<KeptWork>>> {
        self.get(&keys::kept_work(id, None), "reading kept work").await
    }
}
