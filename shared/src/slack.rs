//! Slack: the Web API calls grantdesk makes with the bot token (`auth.test`,
//! `users.lookupByEmail`, `users.info`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
//! `views.open`), the messages it sends (Block Kit, with user text escaped for mrkdwn), and the
//! check of Slack's `v0` request signature on interactions.

use crate::domain::{AccessRequest, DurationMinutes, Resource, User};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::Duration;
use thiserror::Error;

/// The Web API's base URL.
pub const SLACK_API: &str = "https://slack.com/api";
/// How far an interaction's timestamp may be from now, in seconds.
pub const SIGNATURE_WINDOW_SECONDS: i64 = 300;
/// The `action_id` of the Approve button.
pub const APPROVE_ACTION: &str = "grantdesk_approve";
/// The `action_id` of the Deny button.
pub const DENY_ACTION: &str = "grantdesk_deny";
/// The `callback_id` of the deny modal.
pub const DENY_CALLBACK: &str = "grantdesk_deny";
/// The deny modal's comment block and action ids.
pub const COMMENT_BLOCK: &str = "comment";
/// The deny modal's comment input's action id.
pub const COMMENT_ACTION: &str = "comment_input";

/// A Slack failure. Messages never include the token.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SlackError {
    /// `ok: false` with Slack's error code (`invalid_auth`, `users_not_found`, ...).
    #[error("slack {operation}: {code}")]
    Refused {
        /// What was being done.
        operation: &'static str,
        /// Slack's `error`.
        code: String,
    },
    /// HTTP 429: wait this many seconds before calling the method again.
    #[error("slack {operation}: rate limited for {retry_after} s")]
    RateLimited {
        /// What was being done.
        operation: &'static str,
        /// `Retry-After`.
        retry_after: u64,
    },
    /// Slack could not be reached or answered something unreadable.
    #[error("slack {operation}: {message}")]
    Unavailable {
        /// What was being done.
        operation: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl SlackError {
    /// Slack's error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Who the bot token belongs to (`auth.test`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotIdentity {
    /// The workspace.
    pub team: String,
    /// The bot's user id.
    pub user_id: String,
}

/// A message grantdesk posted: where it lives, for `chat.update`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostedMessage {
    /// The conversation (`D…` for a direct message), as `chat.postMessage` answered.
    pub channel: String,
    /// The message's `ts`.
    pub ts: String,
}

/// A Web API client for one bot token.
#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
    token: SecretString,
}

impl std::fmt::Debug for SlackClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SlackClient {
    /// A client for the Web API at `base_url` (`https://slack.com/api`) with `token`.
    pub fn new(base_url: &str, token: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client's TLS configuration is valid");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }

    async fn send(&self, operation: &'static str, request: reqwest::RequestBuilder) -> Result<Value, SlackError> {
        let unavailable = |message: String| SlackError::Unavailable { operation, message };
        let response = request
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| {
                unavailable(if e.is_timeout() {
                    "timed out".into()
                } else {
                    "could not connect".into()
                })
            })?;
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(1);
            return Err(SlackError::RateLimited { operation, retry_after });
        }
        if !status.is_success() {
            return Err(unavailable(format!("HTTP {status}")));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|_| unavailable("unreadable answer".into()))?;
        match body["ok"].as_bool() {
            Some(true) => Ok(body),
            Some(false) => Err(SlackError::Refused {
                operation,
                code: body["error"]
                    .as_str()
                    .unwrap_or("unknown_error")
                    .chars()
                    .take(80)
                    .collect(),
            }),
            None => Err(unavailable("not a Slack Web API answer".into())),
        }
    }

    async fn post_json(&self, method: &str, operation: &'static str, body: Value) -> Result<Value, SlackError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.base_url))
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string());
        self.send(operation, request).await
    }

    /// `auth.test`: whose token this is.
    pub async fn auth_test(&self) -> Result<BotIdentity, SlackError> {
        let request = self.http.post(format!("{}/auth.test", self.base_url));
        let body = self.send("checking the token", request).await?;
        Ok(BotIdentity {
            team: body["team"].as_str().unwrap_or_default().to_owned(),
            user_id: body["user_id"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// `users.lookupByEmail`: the Slack user id with `email`, `None` when Slack knows nobody
    /// with it.
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>, SlackError> {
        let request = self
            .http
            .post(format!("{}/users.lookupByEmail", self.base_url))
            .form(&[("email", email)]);
        match self.send("looking up a user", request).await {
            Ok(body) => Ok(body["user"]["id"].as_str().map(str::to_owned)),
            Err(err) if err.code() == Some("users_not_found") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `users.info`: the e-mail of Slack user `user`, `None` for an unknown user or one whose
    /// e-mail Slack does not show.
    pub async fn email_of(&self, user: &str) -> Result<Option<String>, SlackError> {
        let request = self
            .http
            .post(format!("{}/users.info", self.base_url))
            .form(&[("user", user)]);
        match self.send("reading a user", request).await {
            Ok(body) => Ok(body["user"]["profile"]["email"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_owned)),
            Err(err) if matches!(err.code(), Some("user_not_found" | "users_not_found")) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `chat.postMessage` to `channel` (a user id opens their direct message).
    pub async fn post_message(&self, channel: &str, text: &str, blocks: Value) -> Result<PostedMessage, SlackError> {
        let body = self
            .post_json(
                "chat.postMessage",
                "sending a message",
                json!({"channel": channel, "text": text, "blocks": blocks}),
            )
            .await?;
        Ok(PostedMessage {
            channel: body["channel"].as_str().unwrap_or(channel).to_owned(),
            ts: body["ts"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// `chat.update` of a message grantdesk posted.
    pub async fn update_message(&self, message: &PostedMessage, text: &str, blocks: Value) -> Result<(), SlackError> {
        self.post_json(
            "chat.update",
            "updating a message",
            json!({"channel": message.channel, "ts": message.ts, "text": text, "blocks": blocks}),
        )
        .await
        .map(|_| ())
    }

    /// `chat.postEphemeral`: a message only `user` sees in `channel`.
    pub async fn post_ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), SlackError> {
        self.post_json(
            "chat.postEphemeral",
            "answering a click",
            json!({"channel": channel, "user": user, "text": text}),
        )
        .await
        .map(|_| ())
    }

    /// `views.open` with an interaction's `trigger_id`.
    pub async fn open_view(&self, trigger_id: &str, view: Value) -> Result<(), SlackError> {
        self.post_json(
            "views.open",
            "opening a dialog",
            json!({"trigger_id": trigger_id, "view": view}),
        )
        .await
        .map(|_| ())
    }
}

/// The connected workspace: its record, a client with its bot token, and its signing secret.
#[derive(Clone, Debug)]
pub struct ConnectedSlack {
    /// What grantdesk recorded at connection.
    pub connection: crate::domain::SlackConnection,
    /// A client with the bot token.
    pub client: SlackClient,
    /// The signing secret interactions are signed with.
    pub signing_secret: SecretString,
}

/// The secrets' name for Slack (under the integrations prefix).
pub const SECRET_NAME: &str = "slack";

impl ConnectedSlack {
    /// The connected workspace, if Slack is connected.
    pub async fn load(
        store: &crate::store::Store,
        secrets: &crate::secrets::SecretStore,
    ) -> Result<Option<Self>, String> {
        let Some(connection) = store.slack_connection().await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let Some(stored) = secrets.integration(SECRET_NAME).await.map_err(|e| e.to_string())? else {
            return Err("Slack is connected but its secrets are missing; connect it again".into());
        };
        Ok(Some(Self {
            client: SlackClient::new(&connection.value.base_url, stored.credential),
            connection: connection.value,
            signing_secret: stored.webhook_secret,
        }))
    }
}

/// Escapes text for mrkdwn: `&`, `<` and `>` (Slack's control characters).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn duration_text(minutes: Option<DurationMinutes>) -> String {
    match minutes {
        None => "indefinitely".into(),
        Some(m) => format!("{} minutes", m.minutes()),
    }
}

/// What a reviewer is asked: the text (the notification's fallback) and the blocks, with
/// Approve and Deny buttons and a link to the request's console page.
pub fn review_message(
    request: &AccessRequest,
    requester: Option<&User>,
    resource: Option<&Resource>,
    app_url: &str,
) -> (String, Value) {
    let who = requester.map_or_else(
        || request.requester_id.to_string(),
        |u| format!("{} ({})", u.name, u.email),
    );
    let what = resource.map_or_else(|| request.resource_id.to_string(), |r| r.name.clone());
    let link = format!("{app_url}/console/requests/{}", request.id);
    let text = format!(
        "{who} requests access to {what} for {}.",
        duration_text(request.duration_minutes)
    );
    let mut facts = vec![
        format!("*{}* requests access to *{}*", escape(&who), escape(&what)),
        format!("*Duration:* {}", duration_text(request.duration_minutes)),
        format!(
            "*Reason:* {}",
            if request.reason.is_empty() {
                "—".to_owned()
            } else {
                escape(&request.reason)
            }
        ),
    ];
    if let Some(ticket) = &request.linked_ticket {
        facts.push(format!("*Linked ticket:* <{}|{}>", ticket.url, escape(&ticket.key)));
    }
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": facts.join("\n")}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{link}|Open the request in grantdesk>")}]},
        {"type": "actions", "block_id": "decision", "elements": [
            {"type": "button", "action_id": APPROVE_ACTION, "style": "primary", "value": request.id.to_string(),
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": DENY_ACTION, "style": "danger", "value": request.id.to_string(),
             "text": {"type": "plain_text", "text": "Deny"}},
        ]},
    ]);
    (text, blocks)
}

/// A reviewer message after the decision: what was asked, the outcome, no buttons.
pub fn decided_message(asked: &str, outcome: &str, link: &str) -> (String, Value) {
    let text = format!("{asked} {outcome}");
    let blocks = json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(asked)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("{} · <{link}|Open in grantdesk>", escape(outcome))}]},
    ]);
    (text, blocks)
}

/// A plain message with one section.
pub fn note(text: &str) -> Value {
    json!([{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}])
}

/// The deny modal for `request`: one plain-text input for the comment.
pub fn deny_view(request: &str, resource: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "private_metadata": request,
        "title": {"type": "plain_text", "text": "Deny request"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("Deny access to *{}*?", escape(resource))}},
            {"type": "input", "block_id": COMMENT_BLOCK, "label": {"type": "plain_text", "text": "Comment"},
             "element": {"type": "plain_text_input", "action_id": COMMENT_ACTION, "multiline": true, "max_length": 2000}},
        ],
    })
}

/// Why an interaction's signature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    /// A header is missing or unreadable.
    #[error("the request is not signed")]
    Unsigned,
    /// The timestamp is more than 300 s away from now.
    #[error("the request is too old or from the future")]
    Stale,
    /// The signature does not match.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks Slack's `v0` signature: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<raw body>` keyed
/// with the signing secret, compared in constant time, with the timestamp within 300 s of `now`.
pub fn verify_signature(
    signing_secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Unsigned);
    };
    let at: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Unsigned)?;
    if (now - at).abs() > SIGNATURE_WINDOW_SECONDS {
        return Err(SignatureError::Stale);
    }
    let hex = signature.trim().strip_prefix("v0=").ok_or(SignatureError::Mismatch)?;
    let expected = decode_hex(hex).ok_or(SignatureError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// The `v0` signature of `body` at `timestamp` (for the sandbox Slack and tests).
pub fn sign(signing_secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    format!("v0={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_over_the_raw_body_within_five_minutes_is_accepted() {
        let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5".to_owned());
        let body = "payload=%7B%22type%22%3A%22block_actions%22%7D";
        let signature = sign("8f742231b10e8888abcd99yyyzzz85a5", 1_000_000, body);
        let check = |sig: Option<&str>, ts: Option<&str>, body: &str, now| {
            verify_signature(&secret, ts, sig, body.as_bytes(), now)
        };
        assert_eq!(check(Some(&signature), Some("1000000"), body, 1_000_299), Ok(()));
        assert_eq!(
            check(Some(&signature), Some("1000000"), body, 1_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(Some(&signature), Some("1000000"), "payload=x", 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(Some(&signature), Some("1000001"), body, 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(None, Some("1000000"), body, 1_000_000),
            Err(SignatureError::Unsigned)
        );
        assert_eq!(
            check(Some("v0=zz"), Some("1000000"), body, 1_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn slacks_published_example_verifies() {
        // Slack's "Verifying requests from Slack" example.
        let secret = SecretString::from("8f742231b10e8888abcd99yyyzzz85a5".to_owned());
        let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(
            verify_signature(
                &secret,
                Some("1531420618"),
                Some(signature),
                body.as_bytes(),
                1_531_420_618
            ),
            Ok(())
        );
    }

    #[test]
    fn user_text_is_escaped_for_mrkdwn() {
        assert_eq!(escape("<!channel> & <@U1>"), "&lt;!channel&gt; &amp; &lt;@U1&gt;");
    }
}
