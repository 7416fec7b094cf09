//! Sandbox Slack: the Web API methods grantdesk calls, answering as Slack does (HTTP 200 with
//! `{"ok": false, "error": ...}`; the bot token in `Authorization: Bearer`; form or JSON
//! arguments), a workspace that keeps every message with its blocks, and interactions sent to
//! grantdesk exactly as Slack sends them: form-encoded `payload=<json>`, signed `v0` with the
//! app's signing secret (the webhook target's secret).

use super::{OutgoingWebhook, Provider, SandboxRequest, SandboxResponse};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A message in the workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct SlackMessage {
    /// The conversation: `D…` for a direct message.
    pub channel: String,
    /// The member the direct message is with (or who alone sees an ephemeral message).
    pub user: String,
    /// Its `ts`.
    pub ts: String,
    /// The text (the notification fallback).
    pub text: String,
    /// Its Block Kit blocks.
    pub blocks: Value,
    /// Only `user` sees it (`chat.postEphemeral`).
    pub ephemeral: bool,
    /// Changed by `chat.update`.
    pub updated: bool,
}

impl SlackMessage {
    /// The buttons of the message's actions blocks: (action id, text, value).
    pub fn buttons(&self) -> Vec<(String, String, String)> {
        let mut found = Vec::new();
        for block in self.blocks.as_array().into_iter().flatten() {
            if block["type"] != "actions" {
                continue;
            }
            for element in block["elements"].as_array().into_iter().flatten() {
                if element["type"] == "button" && element.get("url").is_none() {
                    found.push((
                        element["action_id"].as_str().unwrap_or_default().to_owned(),
                        element["text"]["text"].as_str().unwrap_or_default().to_owned(),
                        element["value"].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
        }
        found
    }
}

/// A modal opened with `views.open`.
#[derive(Clone, Debug, PartialEq)]
pub struct SlackView {
    /// `V…`.
    pub id: String,
    /// Who it is open for.
    pub user: String,
    /// The view as grantdesk sent it.
    pub view: Value,
    /// Still open.
    pub open: bool,
    /// The errors grantdesk answered the last submission with, by block id.
    pub errors: Value,
}

/// The sandbox workspace.
pub struct SlackSandbox {
    /// The valid bot token.
    pub bot_token: String,
    /// Members: (user id, e-mail, name).
    pub users: Vec<(String, String, String)>,
    /// Messages, in order.
    pub messages: Vec<SlackMessage>,
    /// Modals, in order.
    pub views: Vec<SlackView>,
    triggers: HashMap<String, (String, i64)>,
    next: u64,
}

/// How long a `trigger_id` works, in seconds.
const TRIGGER_SECONDS: i64 = 3;

impl SlackSandbox {
    /// A workspace with no members.
    pub fn new(bot_token: &str) -> Self {
        Self {
            bot_token: bot_token.into(),
            users: Vec::new(),
            messages: Vec::new(),
            views: Vec::new(),
            triggers: HashMap::new(),
            next: 1,
        }
    }

    /// Adds a member and returns their user id.
    pub fn add_user(&mut self, email: &str) -> String {
        let id = format!("U{:08}", self.users.len() + 1);
        let name = email.split('@').next().unwrap_or_default().to_owned();
        self.users.push((id.clone(), email.to_lowercase(), name));
        id
    }

    /// The member with `email`.
    pub fn user_id(&self, email: &str) -> Option<String> {
        let email = email.to_lowercase();
        self.users.iter().find(|u| u.1 == email).map(|u| u.0.clone())
    }

    /// The e-mail of member `id`.
    pub fn email(&self, id: &str) -> Option<String> {
        self.users.iter().find(|u| u.0 == id).map(|u| u.1.clone())
    }

    /// The direct messages (not ephemeral) member `user` has.
    pub fn messages_for(&self, user: &str) -> Vec<SlackMessage> {
        self.messages
            .iter()
            .filter(|m| m.user == user && !m.ephemeral)
            .cloned()
            .collect()
    }

    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    fn dm_channel(user: &str) -> String {
        format!("D{}", user.trim_start_matches('U'))
    }

    /// Member `user` clicks the button `action_id` on the message `ts`: the signed
    /// `block_actions` interaction Slack would send.
    pub fn click(&mut self, ts: &str, action_id: &str, user: &str, secret: Option<&str>) -> Vec<OutgoingWebhook> {
        let Some(message) = self.messages.iter().find(|m| m.ts == ts).cloned() else {
            return vec![];
        };
        let Some((_, _, value)) = message.buttons().into_iter().find(|b| b.0 == action_id) else {
            return vec![];
        };
        let trigger = format!("{}.{}.sandbox", self.tick(), self.tick());
        self.triggers
            .insert(trigger.clone(), (user.to_owned(), chrono::Utc::now().timestamp()));
        let payload = json!({
            "type": "block_actions",
            "api_app_id": "A0SANDBOX",
            "team": {"id": "T0SANDBOX", "domain": "sandbox"},
            "user": {"id": user, "username": self.email(user).unwrap_or_default(), "team_id": "T0SANDBOX"},
            "trigger_id": trigger,
            "response_url": "https://hooks.slack.invalid/actions/sandbox",
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel, "is_ephemeral": false},
            "channel": {"id": message.channel, "name": "directmessage"},
            "message": {"ts": message.ts, "text": message.text, "blocks": message.blocks},
            "actions": [{"type": "button", "action_id": action_id, "block_id": "decision", "value": value,
                         "action_ts": format!("{}.000200", chrono::Utc::now().timestamp())}],
        });
        vec![signed(&payload, secret)]
    }

    /// Member `user` submits the modal `view` with `comment`: the signed `view_submission`.
    pub fn submit(&mut self, view: &str, comment: &str, secret: Option<&str>) -> Vec<OutgoingWebhook> {
        let Some(open) = self.views.iter().find(|v| v.id == view && v.open).cloned() else {
            return vec![];
        };
        let block = open.view["blocks"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["type"] == "input")
            .cloned()
            .unwrap_or(Value::Null);
        let block_id = block["block_id"].as_str().unwrap_or("input");
        let action_id = block["element"]["action_id"].as_str().unwrap_or("input");
        let payload = json!({
            "type": "view_submission",
            "team": {"id": "T0SANDBOX", "domain": "sandbox"},
            "user": {"id": open.user, "team_id": "T0SANDBOX"},
            "trigger_id": format!("{}.{}.sandbox", self.tick(), self.tick()),
            "view": {
                "id": open.id,
                "type": "modal",
                "callback_id": open.view["callback_id"],
                "private_metadata": open.view["private_metadata"],
                "hash": format!("{}.sandbox", self.next),
                "state": {"values": {block_id: {action_id: {"type": "plain_text_input", "value": comment}}}},
            },
        });
        vec![signed(&payload, secret)]
    }

    /// What grantdesk answered a submission of `view`: an empty answer closes it; errors keep
    /// it open and are shown under the input.
    pub fn submission_answered(&mut self, view: &str, answer: &str) {
        let Some(open) = self.views.iter_mut().find(|v| v.id == view) else {
            return;
        };
        let answer: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
        if answer["response_action"] == "errors" {
            open.errors = answer["errors"].clone();
        } else {
            open.open = false;
            open.errors = Value::Null;
        }
    }

    fn argument(request: &SandboxRequest, name: &str) -> Option<Value> {
        if let Some(value) = request.json().get(name) {
            return Some(value.clone());
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
        form.into_iter()
            .chain(request.query.iter().cloned())
            .find(|(k, _)| k == name)
            .map(|(_, v)| serde_json::from_str(&v).unwrap_or(Value::String(v)))
    }
}

/// An interaction as Slack sends it: `payload=<json>`, form-encoded, signed.
fn signed(payload: &Value, secret: Option<&str>) -> OutgoingWebhook {
    let body = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
    );
    let timestamp = chrono::Utc::now().timestamp();
    let signature = grantdesk::slack::sign(secret.unwrap_or_default(), timestamp, &body);
    OutgoingWebhook {
        headers: vec![
            ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
            ("X-Slack-Request-Timestamp".into(), timestamp.to_string()),
            ("X-Slack-Signature".into(), signature),
        ],
        body,
    }
}

impl Provider for SlackSandbox {
    fn handle(&mut self, request: &SandboxRequest, _secret: Option<&str>) -> (SandboxResponse, Vec<OutgoingWebhook>) {
        let authorized = request.authorization.as_deref() == Some(format!("Bearer {}", self.bot_token).as_str());
        if !authorized {
            let error = if request.authorization.is_none() {
                "not_authed"
            } else {
                "invalid_auth"
            };
            return (SandboxResponse::json(200, json!({"ok": false, "error": error})), vec![]);
        }
        let arg = |name: &str| Self::argument(request, name);
        let text_arg = |name: &str| {
            arg(name)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let method = request.path.trim_start_matches("/api/");
        let response = match method {
            "auth.test" => json!({"ok": true, "url": "https://sandbox.slack.invalid/", "team": "grantdesk sandbox",
                                  "team_id": "T0SANDBOX", "user": "grantdesk", "user_id": "U0BOT", "bot_id": "B0BOT"}),
            "users.lookupByEmail" => match self.user_id(&text_arg("email")) {
                Some(id) => json!({"ok": true, "user": {"id": id, "profile": {"email": self.email(&id)}}}),
                None => json!({"ok": false, "error": "users_not_found"}),
            },
            "users.info" => {
                let id = text_arg("user");
                match self.email(&id) {
                    Some(email) => json!({"ok": true, "user": {"id": id, "profile": {"email": email}}}),
                    None => json!({"ok": false, "error": "user_not_found"}),
                }
            }
            "chat.postMessage" => {
                let channel = text_arg("channel");
                let user = if channel.starts_with('U') {
                    self.email(&channel).map(|_| channel.clone())
                } else {
                    self.users
                        .iter()
                        .find(|u| Self::dm_channel(&u.0) == channel)
                        .map(|u| u.0.clone())
                };
                let text = text_arg("text");
                match user {
                    None => json!({"ok": false, "error": "channel_not_found"}),
                    Some(_) if text.is_empty() && arg("blocks").is_none() => json!({"ok": false, "error": "no_text"}),
                    Some(user) => {
                        let ts = format!("1700000000.{:06}", self.tick());
                        let channel = Self::dm_channel(&user);
                        self.messages.push(SlackMessage {
                            channel: channel.clone(),
                            user,
                            ts: ts.clone(),
                            text,
                            blocks: arg("blocks").unwrap_or(Value::Null),
                            ephemeral: false,
                            updated: false,
                        });
                        json!({"ok": true, "channel": channel, "ts": ts})
                    }
                }
            }
            "chat.update" => {
                let (channel, ts) = (text_arg("channel"), text_arg("ts"));
                let text = text_arg("text");
                let blocks = arg("blocks");
                match self.messages.iter_mut().find(|m| m.channel == channel && m.ts == ts) {
                    Some(message) => {
                        message.text = text;
                        message.blocks = blocks.unwrap_or(Value::Null);
                        message.updated = true;
                        json!({"ok": true, "channel": channel, "ts": ts})
                    }
                    None => json!({"ok": false, "error": "message_not_found"}),
                }
            }
            "chat.postEphemeral" => {
                let (channel, user) = (text_arg("channel"), text_arg("user"));
                if self.email(&user).is_none() {
                    json!({"ok": false, "error": "user_not_in_channel"})
                } else {
                    let ts = format!("1700000000.{:06}", self.tick());
                    self.messages.push(SlackMessage {
                        channel,
                        user,
                        ts: ts.clone(),
                        text: text_arg("text"),
                        blocks: Value::Null,
                        ephemeral: true,
                        updated: false,
                    });
                    json!({"ok": true, "message_ts": ts})
                }
            }
            "views.open" => {
                let trigger = text_arg("trigger_id");
                let now = chrono::Utc::now().timestamp();
                match self.triggers.remove(&trigger) {
                    None if trigger.ends_with(".sandbox") => json!({"ok": false, "error": "exchanged_trigger_id"}),
                    None => json!({"ok": false, "error": "invalid_trigger_id"}),
                    Some((_, issued)) if now - issued > TRIGGER_SECONDS => {
                        json!({"ok": false, "error": "expired_trigger_id"})
                    }
                    Some((user, _)) => {
                        let id = format!("V{:08}", self.tick());
                        let view = arg("view").unwrap_or(Value::Null);
                        self.views.push(SlackView {
                            id: id.clone(),
                            user,
                            view: view.clone(),
                            open: true,
                            errors: Value::Null,
                        });
                        json!({"ok": true, "view": {"id": id, "callback_id": view["callback_id"]}})
                    }
                }
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        (SandboxResponse::json(200, response), vec![])
    }
}
