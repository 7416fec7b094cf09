//! The local stand-in for EventBridge Scheduler's firing: the emulator stores schedules but
//! never fires them, so the local runner reads the expiry group every second, invokes
//! access-expiry with each due schedule's input, and deletes it (`ActionAfterCompletion:
//! DELETE`). A handler error is retried as Lambda retries an asynchronous invocation (twice),
//! then kept in [`AsyncFailures`], the stand-in for the template's `AsyncFailureQueue`; the
//! status-sync sweeper ends such a grant later.

use grantdesk::schedules::parse_at_expression;
use grantdesk_access_expiry::{AccessExpiry, ExpiryInput};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts Lambda makes of an asynchronous invocation: the first and two retries (the
/// template's `MaximumRetryAttempts: 2`).
pub const ASYNC_ATTEMPTS: u32 = 3;

/// An asynchronous invocation that failed every attempt, as the template's `AsyncFailureQueue`
/// receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncFailure {
    /// The function invoked.
    pub function: &'static str,
    /// The event it was given.
    pub input: String,
    /// The last attempt's error.
    pub error: String,
    /// How many attempts were made.
    pub attempts: u32,
}

/// The local stand-in for the on-failure destination: failures kept in order. Clones share them.
#[derive(Clone, Debug, Default)]
pub struct AsyncFailures(Arc<Mutex<Vec<AsyncFailure>>>);

impl AsyncFailures {
    /// What has failed so far.
    pub fn list(&self) -> Vec<AsyncFailure> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn push(&self, failure: AsyncFailure) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(failure);
    }
}

/// Fires due schedules of `group` until the task is dropped.
pub async fn run(client: aws_sdk_scheduler::Client, group: String, expiry: AccessExpiry, failures: AsyncFailures) {
    loop {
        if let Err(err) = fire_due(&client, &group, &expiry, &failures).await {
            tracing::warn!(error = %err, "firing schedules");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Fires every schedule of `group` that is due now; returns how many fired.
pub async fn fire_due(
    client: &aws_sdk_scheduler::Client,
    group: &str,
    expiry: &AccessExpiry,
    failures: &AsyncFailures,
) -> Result<usize, String> {
    let listed = client
        .list_schedules()
        .group_name(group)
        .send()
        .await
        .map_err(|e| aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())?;
    let now = grantdesk::domain::now();
    let mut fired = 0;
    for summary in listed.schedules() {
        let Some(name) = summary.name() else { continue };
        let schedule = client
            .get_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await
            .map_err(|e| aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())?;
        let due = schedule
            .schedule_expression()
            .and_then(parse_at_expression)
            .is_some_and(|at| at <= now);
        if !due {
            continue;
        }
        let input = schedule.target().and_then(|t| t.input()).unwrap_or("{}").to_owned();
        // Delivered: a one-time schedule is deleted when Scheduler hands the event to Lambda,
        // before the handler runs (and before any failure is kept).
        fired += 1;
        client
            .delete_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await
            .map_err(|e| aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())?;
        match serde_json::from_str::<ExpiryInput>(&input) {
            // Scheduler's delivery succeeded: Lambda runs the handler, retries it twice on an
            // error, then sends the event to the on-failure destination.
            Ok(parsed) => {
                let mut last_error = None;
                for _ in 0..ASYNC_ATTEMPTS {
                    match expiry.handle(parsed.clone()).await {
                        Ok(_) => {
                            last_error = None;
                            break;
                        }
                        Err(err) => last_error = Some(err.to_string()),
                    }
                }
                if let Some(error) = last_error {
                    tracing::error!(%error, schedule = name, "access-expiry failed every attempt; sent to the on-failure destination");
                    failures.push(AsyncFailure {
                        function: "access-expiry",
                        input: input.clone(),
                        error,
                        attempts: ASYNC_ATTEMPTS,
                    });
                }
            }
            Err(err) => tracing::error!(error = %err, schedule = name, "schedule input is not an expiry input"),
        }
    }
    Ok(fired)
}
