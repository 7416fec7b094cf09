//! The local stand-in for EventBridge Scheduler's firing: the emulator stores schedules but
//! never fires them, so the local runner reads the expiry group every second, invokes
//! access-expiry with each due schedule's input, and deletes it (`ActionAfterCompletion:
//! DELETE`).

use grantdesk::schedules::parse_at_expression;
use grantdesk_access_expiry::{AccessExpiry, ExpiryInput};
use std::time::Duration;

/// Fires due schedules of `group` until the task is dropped.
pub async fn run(client: aws_sdk_scheduler::Client, group: String, expiry: AccessExpiry) {
    loop {
        if let Err(err) = fire_due(&client, &group, &expiry).await {
            tracing::warn!(error = %err, "firing schedules");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Fires every schedule of `group` that is due now; returns how many fired.
pub async fn fire_due(client: &aws_sdk_scheduler::Client, group: &str, expiry: &AccessExpiry) -> Result<usize, String> {
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
        let input = schedule.target().and_then(|t| t.input()).unwrap_or("{}");
        match serde_json::from_str::<ExpiryInput>(input) {
            Ok(input) => {
                if let Err(err) = expiry.handle(input).await {
                    // Scheduler would retry; so does the next tick, since the schedule stays.
                    tracing::warn!(error = %err, schedule = name, "access-expiry failed; retried next tick");
                    continue;
                }
            }
            Err(err) => tracing::error!(error = %err, schedule = name, "schedule input is not an expiry input"),
        }
        fired += 1;
        client
            .delete_schedule()
            .group_name(group)
            .name(name)
            .send()
            .await
            .map_err(|e| aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())?;
    }
    Ok(fired)
}
