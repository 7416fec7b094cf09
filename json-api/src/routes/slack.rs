//! `POST /webhooks/slack`: Slack's interactivity Request URL. The `v0` signature over the raw
//! form-encoded body is checked before anything else; then an **Approve** click approves, a
//! **Deny** click opens the comment modal, and the modal's submission denies, each as the
//! directory user whose e-mail the clicking Slack user has (`users.info`), through the same
//! review use case as the API. A click by someone who may not review changes nothing and is
//! answered with an ephemeral message.

use crate::error::{ApiError, ApiResult};
use crate::{json, Api};
use grantdesk::domain::{Email, RequestId};
use grantdesk::slack::{self, ConnectedSlack, SignatureError};
use grantdesk::usecases::authorization::{self, Principal};
use grantdesk::usecases::review::ReviewError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

/// The largest interaction accepted, in bytes (Slack's payloads are a few kilobytes).
const MAX_INTERACTION_BYTES: usize = 64 * 1024;

fn empty_ok() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::OK;
    response
}

/// Answers one interaction.
pub async fn interaction(api: &Api, req: &Request) -> ApiResult<Response<Body>> {
    let body: &[u8] = match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if body.len() > MAX_INTERACTION_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the interaction is too large",
        ));
    }
    let slack = ConnectedSlack::load(&api.store, api.connections.secrets())
        .await
        .map_err(|message| {
            tracing::error!(%message, "reading the Slack connection");
            ApiError::internal("an internal error occurred; try again")
        })?
        .ok_or_else(|| ApiError::not_found("slack is not connected"))?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    slack::verify_signature(
        &slack.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        now,
    )
    .map_err(|err| {
        tracing::warn!(error = %err, "a Slack interaction was refused");
        let code = match err {
            SignatureError::Stale => "stale_request",
            _ => "invalid_signature",
        };
        ApiError::new(StatusCode::UNAUTHORIZED, code, err.to_string())
    })?;
    let payload = url::form_urlencoded::parse(body)
        .find(|(name, _)| name == "payload")
        .and_then(|(_, value)| serde_json::from_str::<Value>(&value).ok())
        .ok_or_else(|| ApiError::bad_request("invalid_body", "the interaction has no JSON payload"))?;
    match payload["type"].as_str() {
        Some("block_actions") => block_action(api, &slack, &payload).await,
        Some("view_submission") => view_submission(api, &slack, &payload).await,
        _ => Ok(empty_ok()),
    }
}

/// Who clicked, as grantdesk knows them: the directory user with the Slack user's e-mail.
async fn principal(api: &Api, slack: &ConnectedSlack, user: &str) -> Result<Principal, String> {
    let email = match slack.client.email_of(user).await {
        Ok(Some(email)) => email,
        Ok(None) => {
            return Err("grantdesk cannot see your e-mail address in Slack, so it cannot tell who you are.".into())
        }
        Err(err) => {
            tracing::warn!(error = %err, "users.info failed");
            return Err("grantdesk could not ask Slack who you are; try again in a moment.".into());
        }
    };
    let known = match Email::parse(&email) {
        Ok(email) => api.store.user_record_by_email(&email).await.map_err(|err| {
            tracing::error!(error = %err, "reading a user");
            "grantdesk could not read its directory; try again.".to_owned()
        })?,
        Err(_) => None,
    };
    let Some(user) = known else {
        return Err(format!(
            "Nobody in grantdesk has the e-mail address {email}, so nothing was changed."
        ));
    };
    let user = user.value;
    Ok(Principal {
        org_admin: authorization::org_admin(&user, &api.config.bootstrap_admins),
        user_id: user.id,
        via: Some("slack"),
        groups: None,
    })
}

/// What a refused decision tells the person who clicked.
fn refusal_text(err: &ReviewError) -> String {
    match err {
        ReviewError::Refused(refusal) => format!("You may not decide this request: {refusal}. Nothing was changed."),
        ReviewError::Domain(err) => format!("Nothing was changed: {err}."),
        ReviewError::RequestNotFound(_) => "This request no longer exists.".into(),
        ReviewError::Store(grantdesk::store::StoreError::Conflict(_)) => {
            "Someone decided this request at the same moment; nothing else was changed.".into()
        }
        _ => "grantdesk could not record the decision; try again.".into(),
    }
}

async fn tell(slack: &ConnectedSlack, channel: Option<&str>, user: &str, text: &str) {
    let Some(channel) = channel else { return };
    if let Err(err) = slack.client.post_ephemeral(channel, user, text).await {
        tracing::warn!(error = %err, "answering a Slack click");
    }
}

async fn block_action(api: &Api, slack: &ConnectedSlack, payload: &Value) -> ApiResult<Response<Body>> {
    let action = &payload["actions"][0];
    let user = payload["user"]["id"].as_str().unwrap_or_default();
    let channel = payload["container"]["channel_id"]
        .as_str()
        .or_else(|| payload["channel"]["id"].as_str());
    let action_id = action["action_id"].as_str().unwrap_or_default();
    if action_id != slack::APPROVE_ACTION && action_id != slack::DENY_ACTION {
        return Ok(empty_ok());
    }
    let Some(request) = action["value"].as_str().and_then(RequestId::parse) else {
        tell(slack, channel, user, "This button names no request grantdesk knows.").await;
        return Ok(empty_ok());
    };
    let principal = match principal(api, slack, user).await {
        Ok(principal) => principal,
        Err(text) => {
            tell(slack, channel, user, &text).await;
            return Ok(empty_ok());
        }
    };
    if action_id == slack::APPROVE_ACTION {
        if let Err(err) = api.reviews.approve(&principal, &request, None).await {
            tracing::info!(error = %err, "an approval from Slack was refused");
            tell(slack, channel, user, &refusal_text(&err)).await;
        }
        return Ok(empty_ok());
    }
    // Deny: only someone who may review gets the comment modal.
    let reviewable = match api.reviews.reviewable(&principal, &request).await {
        Ok(request) => request,
        Err(err) => {
            tell(slack, channel, user, &refusal_text(&err)).await;
            return Ok(empty_ok());
        }
    };
    let resource = api
        .store
        .resource(&reviewable.resource_id)
        .await?
        .map(|r| r.value.name)
        .unwrap_or_else(|| reviewable.resource_id.to_string());
    let trigger = payload["trigger_id"].as_str().unwrap_or_default();
    if let Err(err) = slack
        .client
        .open_view(trigger, slack::deny_view(&request.to_string(), &resource))
        .await
    {
        tracing::warn!(error = %err, "opening the deny modal");
        tell(
            slack,
            channel,
            user,
            "grantdesk could not open the deny dialog; try again.",
        )
        .await;
    }
    Ok(empty_ok())
}

async fn view_submission(api: &Api, slack: &ConnectedSlack, payload: &Value) -> ApiResult<Response<Body>> {
    let view = &payload["view"];
    if view["callback_id"].as_str() != Some(slack::DENY_CALLBACK) {
        return Ok(empty_ok());
    }
    let errors = |message: String| {
        json(
            StatusCode::OK,
            &json!({"response_action": "errors", "errors": {slack::COMMENT_BLOCK: message}}),
        )
    };
    let Some(request) = view["private_metadata"].as_str().and_then(RequestId::parse) else {
        return Ok(errors("This dialog names no request grantdesk knows.".into()));
    };
    let comment = view["state"]["values"][slack::COMMENT_BLOCK][slack::COMMENT_ACTION]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let user = payload["user"]["id"].as_str().unwrap_or_default();
    let principal = match principal(api, slack, user).await {
        Ok(principal) => principal,
        Err(text) => return Ok(errors(text)),
    };
    match api.reviews.deny(&principal, &request, Some(comment)).await {
        Ok(_) => Ok(empty_ok()),
        Err(err) => {
            tracing::info!(error = %err, "a denial from Slack was refused");
            Ok(errors(refusal_text(&err)))
        }
    }
}
