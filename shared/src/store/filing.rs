//! Filing leases: one item per ticket grantdesk files (keyed by the ticket's idempotency key:
//! the access change or request id) that makes filing exactly-once. Before calling a provider
//! the filer takes the lease with a conditional write, so the stream and the sweeper never
//! file the same ticket at once; it records that a create was attempted before sending it, so
//! after a lost answer or a crash the next attempt knows to look for the ticket first (and,
//! where the provider's search lags, to wait for it) instead of creating a second one.

use super::{keys, Item, Store, StoreError, StoreResult};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

const FILING: &str = "filing";
/// A filing item outlives any attempt by far; the table's TTL removes it after a day.
const KEEP_SECONDS: i64 = 24 * 3600;

/// What a filing's item remembers from earlier attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilingMemory {
    /// When a create was last sent whose outcome is not known (epoch seconds).
    pub attempted_at: Option<i64>,
    /// Searches since then that did not find the ticket.
    pub empty_searches: u32,
}

/// What claiming a filing's lease found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilingClaim {
    /// This holder has the lease, with what earlier attempts left behind.
    Claimed(FilingMemory),
    /// Another holder has it until this time (epoch seconds).
    Held(i64),
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

impl Store {
    /// Takes the lease on filing `key` for `holder` until `until` (epoch seconds), unless someone
    /// else holds an unexpired one. One conditional write.
    pub async fn claim_filing(&self, key: &str, holder: &str, until: i64) -> StoreResult<FilingClaim> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let now = chrono::Utc::now().timestamp();
        self.forget_reads();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::filing(key))))
            .update_expression("SET #kind = :kind, holder = :holder, lease_until = :until, #ttl = :ttl")
            .condition_expression("attribute_not_exists(holder) OR lease_until < :now")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":kind", s(FILING))
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":ttl", n(now + KEEP_SECONDS))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(answer) => {
                let item = answer.attributes().cloned().unwrap_or_default();
                Ok(FilingClaim::Claimed(FilingMemory {
                    attempted_at: number(&item, "attempted_at"),
                    empty_searches: number(&item, "empty_searches")
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0),
                }))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => Ok(FilingClaim::Held(
                    failed
                        .item()
                        .and_then(|old| number(old, "lease_until"))
                        .unwrap_or(until),
                )),
                Some(err) if err.is_transaction_conflict_exception() => Ok(FilingClaim::Held(until)),
                _ => Err(StoreError::dynamo("claiming a filing", DisplayErrorContext(e))),
            },
        }
    }

    /// Records what this attempt learnt (a create about to be sent, a search that came back
    /// empty, a create that was refused), as long as `holder` still holds the lease. A holder
    /// whose lease was taken over gets [`StoreError::Conflict`] and must stop.
    pub async fn note_filing(&self, key: &str, holder: &str, memory: FilingMemory) -> StoreResult<()> {
        self.forget_reads();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::filing(key))))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":searches", n(i64::from(memory.empty_searches)));
        update = match memory.attempted_at {
            Some(at) => update
                .update_expression("SET attempted_at = :at, empty_searches = :searches")
                .expression_attribute_values(":at", n(at)),
            None => update.update_expression("SET empty_searches = :searches REMOVE attempted_at"),
        };
        self.conditional(update.send().await, "recording a filing attempt", key)
    }

    /// Gives the lease up, keeping what it learnt (the next attempt continues from there).
    pub async fn release_filing(&self, key: &str, holder: &str) -> StoreResult<()> {
        self.forget_reads();
        let answer = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::filing(key))))
            .update_expression("REMOVE holder, lease_until")
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        self.ignore_lost(self.conditional(answer, "releasing a filing", key))
    }

    /// Ends a filing whose ticket is recorded: its item goes.
    pub async fn finish_filing(&self, key: &str, holder: &str) -> StoreResult<()> {
        self.forget_reads();
        let answer = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::filing(key))))
            .condition_expression("holder = :holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        self.ignore_lost(self.conditional(answer, "finishing a filing", key))
    }

    fn conditional<T, E>(
        &self,
        answer: Result<T, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
        operation: &'static str,
        key: &str,
    ) -> StoreResult<()>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        match answer {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error().and_then(|err| err.code()) {
                Some("ConditionalCheckFailedException" | "TransactionConflictException") => {
                    Err(StoreError::changed(format!("the filing lease on {key}")))
                }
                _ => Err(StoreError::dynamo(operation, DisplayErrorContext(e))),
            },
        }
    }

    /// A lease that was taken over meanwhile is not this holder's to give up.
    fn ignore_lost(&self, result: StoreResult<()>) -> StoreResult<()> {
        match result {
            Err(StoreError::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}
