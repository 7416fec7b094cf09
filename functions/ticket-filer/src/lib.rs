//! The ticket filer Lambda: fed by the table's DynamoDB stream (the outbox). What it does is the
//! outbox use case, [`grantdesk::usecases::outbox`], which the status-sync sweeper also calls
//! for what the stream could not finish; this crate holds only its wiring.

/// How long one provider call may take, retries included: the function's timeout is 60 s
/// (template.yaml); a slower provider fails the record, which the stream delivers again.
pub const PROVIDER_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);
