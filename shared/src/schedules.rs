//! One-time EventBridge Scheduler schedules that end grants at their end time.
//!
//! Each grant with an end time gets a schedule named after it, `at(<end time>)` in UTC, in the
//! project's schedule group, targeting access-expiry with `{"grant_id"}`, a retry policy, a
//! dead-letter queue, and deletion after completion. The schedule is a convenience for
//! punctuality: access-expiry refuses to end a grant early or twice, and the status-sync sweeper
//! ends any grant whose time passed without its schedule firing.

use crate::domain::{GrantId, Timestamp};
use aws_sdk_scheduler::error::{DisplayErrorContext, SdkError};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
};
use aws_sdk_scheduler::Client;
use thiserror::Error;

/// A Scheduler failure.
#[derive(Debug, Error)]
#[error("{operation} schedule {name}: {message}")]
pub struct ScheduleError {
    /// What was being done.
    pub operation: &'static str,
    /// The schedule.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

/// Where expiry schedules live and what they invoke.
#[derive(Clone, Debug)]
pub struct ExpirySchedules {
    client: Client,
    group: String,
    target_arn: String,
    role_arn: String,
    dead_letter_arn: Option<String>,
}

/// The schedule expression for a moment: `at(2026-11-23T10:45:00)` (UTC, whole seconds rounded up).
pub fn at_expression(at: &Timestamp) -> String {
    use chrono::{DurationRound, TimeDelta};
    let rounded = if at.timestamp_subsec_nanos() == 0 {
        *at
    } else {
        at.duration_trunc(TimeDelta::seconds(1)).unwrap_or(*at) + TimeDelta::seconds(1)
    };
    format!("at({})", rounded.format("%Y-%m-%dT%H:%M:%S"))
}

/// Parses `at(...)` back into a time (the local runner fires schedules with it).
pub fn parse_at_expression(expression: &str) -> Option<Timestamp> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let naive = chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S").ok()?;
    Some(naive.and_utc())
}

impl ExpirySchedules {
    /// Schedules in `group` invoking `target_arn` through `role_arn`.
    pub fn new(
        client: Client,
        group: String,
        target_arn: String,
        role_arn: String,
        dead_letter_arn: Option<String>,
    ) -> Self {
        Self {
            client,
            group,
            target_arn,
            role_arn,
            dead_letter_arn,
        }
    }

    /// The schedule group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Schedules the end of a grant that has an end time, once the grant is recorded. A failure
    /// is logged, not returned: the status-sync sweeper ends a grant whose time passed regardless.
    pub async fn schedule_end(&self, grant: &crate::domain::Grant) {
        if let Some(at) = &grant.expires_at {
            if let Err(err) = self.schedule(&grant.id, at).await {
                tracing::error!(error = %err, "scheduling expiry; the sweeper will end the grant");
            }
        }
    }

    /// Deletes the schedule of a grant that ended early. A failure is logged: a stale firing
    /// finds the grant ended and does nothing.
    pub async fn cancel_end(&self, grant: &crate::domain::Grant) {
        if grant.expires_at.is_some() {
            if let Err(err) = self.cancel(&grant.id).await {
                tracing::warn!(error = %err, "deleting an expiry schedule");
            }
        }
    }

    /// Creates, or moves, the schedule that ends `grant` at `at`.
    pub async fn schedule(&self, grant: &GrantId, at: &Timestamp) -> Result<(), ScheduleError> {
        let name = grant.to_string();
        let error = |operation, message: String| ScheduleError {
            operation,
            name: name.clone(),
            message,
        };
        let mut target = Target::builder()
            .arn(&self.target_arn)
            .role_arn(&self.role_arn)
            .input(serde_json::json!({"grant_id": grant}).to_string())
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(10)
                    .maximum_event_age_in_seconds(3600)
                    .build(),
            );
        if let Some(dlq) = &self.dead_letter_arn {
            target = target.dead_letter_config(DeadLetterConfig::builder().arn(dlq).build());
        }
        let target = target.build().map_err(|e| error("building", e.to_string()))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| error("building", e.to_string()))?;
        let created = self
            .client
            .create_schedule()
            .name(&name)
            .group_name(&self.group)
            .schedule_expression(at_expression(at))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window.clone())
            .target(target.clone())
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conflict_exception() => self
                .client
                .update_schedule()
                .name(&name)
                .group_name(&self.group)
                .schedule_expression(at_expression(at))
                .schedule_expression_timezone("UTC")
                .flexible_time_window(window)
                .target(target)
                .action_after_completion(ActionAfterCompletion::Delete)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| error("updating", DisplayErrorContext(e).to_string())),
            Err(e) => Err(error("creating", DisplayErrorContext(e).to_string())),
        }
    }

    /// Deletes the schedule of `grant`, if it still exists.
    pub async fn cancel(&self, grant: &GrantId) -> Result<(), ScheduleError> {
        let name = grant.to_string();
        match self
            .client
            .delete_schedule()
            .name(&name)
            .group_name(&self.group)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(()),
            Err(e) => Err(ScheduleError {
                operation: "deleting",
                name,
                message: DisplayErrorContext(e).to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_expressions_round_up_to_the_second_and_parse_back() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:45:00.250Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(at_expression(&at), "at(2026-11-23T10:45:01)");
        let exact = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:45:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(at_expression(&exact), "at(2026-11-23T10:45:00)");
        assert_eq!(parse_at_expression("at(2026-11-23T10:45:00)"), Some(exact));
        assert_eq!(parse_at_expression("rate(5 minutes)"), None);
    }
}
