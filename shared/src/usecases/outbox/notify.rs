//! Slack notifications, from the table's stream: a new request's reviewers get a direct message
//! with Approve and Deny; once it is decided (anywhere) their messages say who decided and lose
//! their buttons, and the requester hears of the decision; the requester hears when access ends.
//! Each notification happens once (a marker), and a notification never fails a request: a Slack
//! that refuses is logged, one that is unavailable or rate-limited retries the record.

use super::{FilerError, TicketFiler, NOTIFIED_DAYS};
use crate::domain::{self, AccessRequest, Grant, GrantStatus, RequestStatus, RevocationReason, User};
use crate::slack::{self, ConnectedSlack, SlackError};

impl TicketFiler {
    async fn slack(&self) -> Result<Option<ConnectedSlack>, FilerError> {
        ConnectedSlack::load(&self.store, self.connections.secrets())
            .await
            .map_err(FilerError::Inconsistent)
    }

    /// Whether `name` was already notified; if not, the caller notifies and then calls `done`.
    async fn notified(&self, name: &str) -> Result<bool, FilerError> {
        Ok(self.store.marker_set(name).await?)
    }

    async fn done(&self, name: &str) -> Result<(), FilerError> {
        let expires = (domain::now() + chrono::Duration::days(NOTIFIED_DAYS)).timestamp();
        Ok(self.store.set_marker(name, expires).await?)
    }

    /// Tells a new request's reviewers in Slack, once, if Slack is connected.
    pub(crate) async fn notify_reviewers(&self, request: &AccessRequest) -> Result<(), FilerError> {
        let marker = format!("notified#{}", request.id);
        if self.notified(&marker).await? {
            return Ok(());
        }
        let Some(slack) = self.slack().await? else {
            return Ok(());
        };
        let Some(group) = &request.reviewer_group_id else {
            tracing::info!(request = %request.id, "no reviewer group: org admins review; nobody to notify in Slack");
            return Ok(());
        };
        let members = self.store.group_members(group).await?;
        let reviewers: Vec<User> = self
            .store
            .users(&members)
            .await?
            .into_iter()
            .filter(|u| u.id != request.requester_id)
            .collect();
        let requester = self.store.user(&request.requester_id).await?;
        let resource = self.store.resource(&request.resource_id).await?.map(|r| r.value);
        let (text, blocks) =
            slack::review_message(request, requester.as_ref(), resource.as_ref(), &self.config.app_url);
        let mut posted = Vec::new();
        for reviewer in &reviewers {
            let Some(user) = tolerate(slack.client.user_id_by_email(reviewer.email.as_str()).await)?.flatten() else {
                continue;
            };
            if let Some(message) = tolerate(slack.client.post_message(&user, &text, blocks.clone()).await)? {
                posted.push(message);
            }
        }
        self.store.save_slack_messages(&request.id, &posted).await?;
        tracing::info!(request = %request.id, sent = posted.len(), "reviewers notified");
        self.done(&marker).await
    }

    /// Once a request is decided: its reviewers' messages say so, without buttons, and the
    /// requester is told of an approval or a denial.
    pub(crate) async fn request_decided(&self, request: &AccessRequest) -> Result<(), FilerError> {
        if request.status == RequestStatus::Pending {
            return Ok(());
        }
        let marker = format!("decided#{}", request.id);
        if self.notified(&marker).await? {
            return Ok(());
        }
        let Some(slack) = self.slack().await? else {
            return Ok(());
        };
        let resource = self.store.resource(&request.resource_id).await?.map(|r| r.value.name);
        let resource = resource.unwrap_or_else(|| request.resource_id.to_string());
        let requester = self.store.user(&request.requester_id).await?;
        let decider = match request.decision.as_ref().and_then(|d| d.by.as_ref()) {
            Some(id) => self.store.user(id).await?,
            None => None,
        };
        let who = |user: &Option<User>| user.as_ref().map_or_else(|| "someone".to_owned(), |u| u.name.clone());
        let via = match request.decision.as_ref().and_then(|d| d.via.as_deref()) {
            Some("slack") => " in Slack",
            _ => "",
        };
        let comment = request
            .decision
            .as_ref()
            .and_then(|d| d.comment.as_deref())
            .map(|c| format!(": \u{201c}{c}\u{201d}"))
            .unwrap_or_default();
        let outcome = match request.status {
            RequestStatus::Approved if decider.is_none() => "Approved automatically".to_owned(),
            RequestStatus::Approved => format!("Approved by {}{via}", who(&decider)),
            RequestStatus::Denied => format!("Denied by {}{via}{comment}", who(&decider)),
            RequestStatus::Canceled => "Canceled by the requester".to_owned(),
            RequestStatus::Pending => unreachable!("handled above"),
        };
        let asked = format!("{} asked for access to {resource}.", who(&requester));
        let link = format!("{}/console/requests/{}", self.config.app_url, request.id);
        let (text, blocks) = slack::decided_message(&asked, &outcome, &link);
        for message in self.store.slack_messages(&request.id).await? {
            tolerate(slack.client.update_message(&message, &text, blocks.clone()).await)?;
        }
        let to_requester = match request.status {
            RequestStatus::Approved => {
                let until = match &request.grant_id {
                    Some(grant) => self.store.grant(grant).await?.and_then(|g| g.value.expires_at),
                    None => None,
                };
                let until = until.map_or_else(
                    || "until it is removed".to_owned(),
                    |at| format!("until {}", at.format("%Y-%m-%d %H:%M UTC")),
                );
                let by = match &decider {
                    Some(decider) => format!("approved by {}{via}", decider.name),
                    None => "approved automatically".to_owned(),
                };
                Some(format!(
                    "Your request for {resource} was {by}: you have access {until}."
                ))
            }
            RequestStatus::Denied => Some(format!(
                "Your request for {resource} was denied by {}{via}{comment}.",
                who(&decider)
            )),
            _ => None,
        };
        if let (Some(text), Some(requester)) = (to_requester, requester.as_ref()) {
            self.direct_message(&slack, requester, &text, &link).await?;
        }
        self.done(&marker).await
    }

    /// When access ends (expired, removed, its linked ticket closed), the user is told.
    pub(crate) async fn access_ended(&self, old: Option<&Grant>, new: &Grant) -> Result<(), FilerError> {
        let ended = old.is_some_and(|o| o.status == GrantStatus::Active) && new.status != GrantStatus::Active;
        if !ended {
            return Ok(());
        }
        let marker = format!("ended#{}", new.id);
        if self.notified(&marker).await? {
            return Ok(());
        }
        let Some(slack) = self.slack().await? else {
            return Ok(());
        };
        let Some(user) = self.store.user(&new.user_id).await? else {
            return self.done(&marker).await;
        };
        let resource = self.store.resource(&new.resource_id).await?.map(|r| r.value.name);
        let resource = resource.unwrap_or_else(|| new.resource_id.to_string());
        let why = match (&new.status, &new.revocation) {
            (GrantStatus::Expired, _) => "its time is up".to_owned(),
            (_, Some(RevocationReason::LinkedTicketClosed)) => "its linked ticket was closed".to_owned(),
            (_, Some(RevocationReason::ManualRemoval { .. })) => "an admin removed it".to_owned(),
            _ => "it was revoked".to_owned(),
        };
        let text = format!("Your access to {resource} has ended: {why}.");
        let link = match &new.request_id {
            Some(request) => format!("{}/console/requests/{request}", self.config.app_url),
            None => format!("{}/console/requests", self.config.app_url),
        };
        self.direct_message(&slack, &user, &text, &link).await?;
        self.done(&marker).await
    }

    async fn direct_message(
        &self,
        slack: &ConnectedSlack,
        to: &User,
        text: &str,
        link: &str,
    ) -> Result<(), FilerError> {
        let Some(user) = tolerate(slack.client.user_id_by_email(to.email.as_str()).await)?.flatten() else {
            return Ok(());
        };
        let blocks = serde_json::json!([
            {"type": "section", "text": {"type": "mrkdwn", "text": slack::escape(text)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{link}|Open in grantdesk>")}]},
        ]);
        tolerate(slack.client.post_message(&user, text, blocks).await)?;
        Ok(())
    }
}

/// A Slack refusal (an unknown channel, a message gone) is logged and skipped; an unavailable
/// or rate-limited Slack fails the record, which the stream retries.
fn tolerate<T>(result: Result<T, SlackError>) -> Result<Option<T>, FilerError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(err @ SlackError::Refused { .. }) => {
            tracing::warn!(error = %err, "Slack refused; going on without this message");
            Ok(None)
        }
        Err(err) => Err(FilerError::Inconsistent(err.to_string())),
    }
}
