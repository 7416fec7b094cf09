//! Reviewer notifications in Slack: with a bot token, a direct message to each reviewer found by
//! e-mail (`users.lookupByEmail`, `chat.postMessage`); with an incoming-webhook URL, one message to
//! that channel. Configured by the secret `<prefix>slack` holding `{"bot_token"}` or
//! `{"webhook_url"}`; without it nobody is notified.

use crate::domain::Email;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;
use thiserror::Error;

/// A Slack failure worth retrying or reporting.
#[derive(Debug, Error)]
#[error("slack {operation}: {message}")]
pub struct SlackError {
    /// What was being done.
    pub operation: &'static str,
    /// What went wrong (never the token).
    pub message: String,
}

/// How grantdesk reaches Slack.
#[derive(Clone, Debug)]
pub enum SlackTarget {
    /// A bot token: each reviewer gets a direct message.
    Bot {
        /// `xoxb-...`.
        token: SecretString,
    },
    /// An incoming webhook: one message to its channel.
    Webhook {
        /// The webhook URL (it is itself a secret).
        url: SecretString,
    },
}

impl SlackTarget {
    /// Reads the stored secret's JSON.
    pub fn from_secret(text: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(text).ok()?;
        if let Some(token) = value["bot_token"].as_str().filter(|t| !t.is_empty()) {
            return Some(Self::Bot {
                token: SecretString::from(token.to_owned()),
            });
        }
        value["webhook_url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .map(|u| Self::Webhook {
                url: SecretString::from(u.to_owned()),
            })
    }
}

/// Sends review notifications.
#[derive(Clone, Debug)]
pub struct SlackNotifier {
    http: reqwest::Client,
    api_url: String,
}

impl SlackNotifier {
    /// A notifier talking to the Slack Web API at `api_url` (`https://slack.com/api`).
    pub fn new(api_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client's TLS configuration is valid");
        Self {
            http,
            api_url: api_url.into().trim_end_matches('/').to_owned(),
        }
    }

    async fn call(&self, operation: &'static str, request: reqwest::RequestBuilder) -> Result<Value, SlackError> {
        let error = |message: String| SlackError { operation, message };
        let response = request.send().await.map_err(|e| {
            error(if e.is_timeout() {
                "timed out".into()
            } else {
                "could not connect".into()
            })
        })?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(error(format!("{status}")));
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if body["ok"] == false {
            return Err(error(body["error"].as_str().unwrap_or("not ok").to_owned()));
        }
        Ok(body)
    }

    /// Notifies `reviewers` with `text`; returns how many messages were sent. Reviewers without
    /// a Slack account are skipped.
    pub async fn notify(&self, target: &SlackTarget, reviewers: &[Email], text: &str) -> Result<usize, SlackError> {
        match target {
            SlackTarget::Webhook { url } => {
                let request = self.http.post(url.expose_secret()).json(&json!({"text": text}));
                let response = request.send().await.map_err(|_| SlackError {
                    operation: "posting to the webhook",
                    message: "could not connect".into(),
                })?;
                if !response.status().is_success() {
                    return Err(SlackError {
                        operation: "posting to the webhook",
                        message: response.status().to_string(),
                    });
                }
                Ok(1)
            }
            SlackTarget::Bot { token } => {
                let mut sent = 0;
                for email in reviewers {
                    let lookup = self
                        .http
                        .get(format!("{}/users.lookupByEmail", self.api_url))
                        .bearer_auth(token.expose_secret())
                        .query(&[("email", email.as_str())]);
                    let user = match self.call("looking up a reviewer", lookup).await {
                        Ok(found) => found["user"]["id"].as_str().map(str::to_owned),
                        Err(err) if err.message == "users_not_found" => None,
                        Err(err) => return Err(err),
                    };
                    let Some(user) = user else { continue };
                    let post = self
                        .http
                        .post(format!("{}/chat.postMessage", self.api_url))
                        .bearer_auth(token.expose_secret())
                        .json(&json!({"channel": user, "text": text}));
                    self.call("sending a message", post).await?;
                    sent += 1;
                }
                Ok(sent)
            }
        }
    }
}
