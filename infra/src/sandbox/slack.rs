//! Sandbox Slack: the two Web API methods grantdesk calls (`users.lookupByEmail`,
//! `chat.postMessage`, with a bot token) and an incoming webhook at `/webhook`, answering as
//! Slack does (`{"ok": false, "error": ...}` on HTTP 200), and recording every message.

use super::{OutgoingWebhook, Provider, SandboxRequest, SandboxResponse};
use serde_json::json;

/// A message the sandbox received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackMessage {
    /// The user id (direct message) or `webhook`.
    pub channel: String,
    /// The text.
    pub text: String,
}

/// The sandbox workspace.
pub struct SlackSandbox {
    /// The valid bot token.
    pub bot_token: String,
    /// Members: (user id, e-mail).
    pub users: Vec<(String, String)>,
    /// Messages received, in order.
    pub messages: Vec<SlackMessage>,
}

impl SlackSandbox {
    /// A workspace with no members.
    pub fn new(bot_token: &str) -> Self {
        Self {
            bot_token: bot_token.into(),
            users: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Adds a member and returns their user id.
    pub fn add_user(&mut self, email: &str) -> String {
        let id = format!("U{:08}", self.users.len() + 1);
        self.users.push((id.clone(), email.to_lowercase()));
        id
    }
}

impl Provider for SlackSandbox {
    fn handle(&mut self, request: &SandboxRequest, _secret: Option<&str>) -> (SandboxResponse, Vec<OutgoingWebhook>) {
        if request.path == "/webhook" && request.method == "POST" {
            let text = request.json()["text"].as_str().unwrap_or_default().to_owned();
            self.messages.push(SlackMessage {
                channel: "webhook".into(),
                text,
            });
            return (SandboxResponse::json(200, json!("ok")), vec![]);
        }
        let authorized = request.authorization.as_deref() == Some(format!("Bearer {}", self.bot_token).as_str());
        if !authorized {
            return (
                SandboxResponse::json(200, json!({"ok": false, "error": "invalid_auth"})),
                vec![],
            );
        }
        let response = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/users.lookupByEmail") => {
                let email = request.param("email").unwrap_or_default().to_lowercase();
                match self.users.iter().find(|u| u.1 == email) {
                    Some(user) => json!({"ok": true, "user": {"id": user.0, "profile": {"email": user.1}}}),
                    None => json!({"ok": false, "error": "users_not_found"}),
                }
            }
            ("POST", "/api/chat.postMessage") => {
                let body = request.json();
                match (body["channel"].as_str(), body["text"].as_str()) {
                    (Some(channel), Some(text)) if !text.is_empty() => {
                        self.messages.push(SlackMessage {
                            channel: channel.into(),
                            text: text.into(),
                        });
                        json!({"ok": true, "channel": channel, "ts": format!("{}.000100", self.messages.len())})
                    }
                    _ => json!({"ok": false, "error": "no_text"}),
                }
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        (SandboxResponse::json(200, response), vec![])
    }
}
