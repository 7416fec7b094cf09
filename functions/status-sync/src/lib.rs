//! Status sync: the scheduled poll of open tickets and "sync requested" events, both from
//! EventBridge, answered by [`grantdesk::usecases::sync::StatusSync`].

/// How long one provider call may take, retries included: a run makes up to 20 batch reads
/// per provider within the function's 300 s timeout.
pub const PROVIDER_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);
