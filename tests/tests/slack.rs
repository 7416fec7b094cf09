//! Slack end to end against the sandbox Slack: connecting it, the reviewer's direct message with
//! Approve and Deny, deciding from Slack (the modal for a denial's comment), refusals of clicks
//! by people who may not review and of forged or stale calls, messages updated after a decision
//! made anywhere, the requester's direct messages, and disconnecting.

use grantdesk_e2e::{eventually, eventually_within, TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::slack::SlackMessage;
use grantdesk_local::sandbox::{Sandboxes, SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET};
use reqwest::Method;
use serde_json::json;

const SAM: &str = "sam@example.test";

struct Workspace {
    riley: String,
    josh: String,
    sam: String,
    outsider: String,
}

async fn workspace(sandboxes: &Sandboxes) -> Workspace {
    sandboxes
        .slack
        .with(|s, _| {
            let ws = Workspace {
                riley: s.add_user(RILEY),
                josh: s.add_user(JOSH),
                sam: s.add_user(SAM),
                outsider: s.add_user("pat@elsewhere.test"),
            };
            (ws, vec![])
        })
        .await
}

/// A stack with the sandbox Slack connected, its members, and the demo organisation.
async fn connected() -> (Sandboxes, TestStack, Workspace, grantdesk_e2e::Demo) {
    let sandboxes = Sandboxes::start().await.unwrap();
    let stack = TestStack::start().await;
    stack.connect_slack(&sandboxes).await;
    let ws = workspace(&sandboxes).await;
    let demo = stack.demo().await;
    (sandboxes, stack, ws, demo)
}

async fn request(stack: &TestStack, resource: &str, minutes: u32) -> String {
    let created = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": resource, "reason": "on-call <b>this</b> week & more", "duration_minutes": minutes}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.str("id")
}

/// The direct message asking `user` to review `request`.
async fn review_message(sandboxes: &Sandboxes, user: &str, request: &str) -> SlackMessage {
    eventually("the reviewer's message", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages_for(user), vec![])).await;
        messages.into_iter().find(|m| m.blocks.to_string().contains(request))
    })
    .await
}

async fn click(sandboxes: &Sandboxes, message: &SlackMessage, action: &str, user: &str) {
    let (ts, action, user) = (message.ts.clone(), action.to_owned(), user.to_owned());
    sandboxes
        .slack
        .with(move |s, secret| ((), s.click(&ts, &action, &user, secret)))
        .await;
}

async fn ephemeral_for(sandboxes: &Sandboxes, user: &str) -> String {
    eventually("an ephemeral answer", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages.clone(), vec![])).await;
        messages
            .into_iter()
            .find(|m| m.ephemeral && m.user == user)
            .map(|m| m.text)
    })
    .await
}

async fn status(stack: &TestStack, request: &str) -> String {
    stack.get(ADMIN, &format!("/requests/{request}")).await.body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A direct message to `user` containing `text`.
async fn dm_containing(sandboxes: &Sandboxes, user: &str, text: &str) -> SlackMessage {
    let wanted = text.to_owned();
    eventually(&format!("a message to {user} saying {text:?}"), || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages_for(user), vec![])).await;
        messages.into_iter().find(|m| m.text.contains(&wanted))
    })
    .await
}

#[tokio::test]
async fn connecting_slack_checks_the_token_and_never_shows_a_secret() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let stack = TestStack::start().await;
    let wrong = stack
        .call(
            ADMIN,
            Method::PUT,
            "/integrations/slack",
            Some(json!({"base_url": sandboxes.slack_api_url(), "bot_token": "xoxb-wrong", "signing_secret": "s"})),
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert_eq!(wrong.code(), "invalid_credentials");
    assert!(wrong.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("invalid_auth"));
    let listed = stack.get(ADMIN, "/integrations").await;
    assert!(listed.body["items"].as_array().unwrap().is_empty(), "nothing saved");
    assert_eq!(
        stack
            .call(
                JOSH,
                Method::PUT,
                "/integrations/slack",
                Some(json!({"bot_token": "x", "signing_secret": "s"}))
            )
            .await
            .status,
        403
    );

    stack.connect_slack(&sandboxes).await;
    let listed = stack.get(ADMIN, "/integrations").await;
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["provider"], "slack");
    assert_eq!(items[0]["health"]["ok"], true);
    let text = listed.body.to_string();
    assert!(
        !text.contains(SLACK_BOT_TOKEN) && !text.contains(SLACK_SIGNING_SECRET),
        "{text}"
    );

    assert_eq!(
        stack
            .call(ADMIN, Method::DELETE, "/integrations/slack", None)
            .await
            .status,
        204
    );
    assert_eq!(
        stack
            .call(ADMIN, Method::DELETE, "/integrations/slack", None)
            .await
            .status,
        404
    );
    assert!(stack.get(ADMIN, "/integrations").await.body["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn riley_approves_from_slack_and_josh_hears_of_it() {
    let (sandboxes, stack, ws, demo) = connected().await;
    let id = request(&stack, &demo.resource, 60).await;

    let message = review_message(&sandboxes, &ws.riley, &id).await;
    assert!(
        message.channel.starts_with('D'),
        "a direct message: {}",
        message.channel
    );
    let buttons = message.buttons();
    assert_eq!(
        buttons.iter().map(|b| (b.1.as_str(), b.2.as_str())).collect::<Vec<_>>(),
        [("Approve", id.as_str()), ("Deny", id.as_str())]
    );
    let blocks = message.blocks.to_string();
    assert!(
        blocks.contains(&format!("/console/requests/{id}")),
        "a link to the console: {blocks}"
    );
    assert!(
        blocks.contains("on-call &lt;b&gt;this&lt;/b&gt; week &amp; more"),
        "escaped for mrkdwn: {blocks}"
    );

    // Josh (the requester), Sam (no reviewer) and someone grantdesk does not know: refused.
    for (user, says) in [
        (&ws.josh, "You may not decide this request"),
        (&ws.sam, "You may not decide this request"),
        (
            &ws.outsider,
            "Nobody in grantdesk has the e-mail address pat@elsewhere.test",
        ),
    ] {
        click(&sandboxes, &message, grantdesk::slack::APPROVE_ACTION, user).await;
        let answer = ephemeral_for(&sandboxes, user).await;
        assert!(answer.contains(says), "{user}: {answer}");
        assert_eq!(status(&stack, &id).await, "pending", "nothing changed for {user}");
    }

    click(&sandboxes, &message, grantdesk::slack::APPROVE_ACTION, &ws.riley).await;
    assert_eq!(status(&stack, &id).await, "approved");
    let view = stack.get(ADMIN, &format!("/requests/{id}")).await;
    assert_eq!(view.body["decision"]["by"], demo.riley.as_str());
    assert_eq!(
        view.body["decision"]["via"], "slack",
        "the decision records where it was made"
    );

    let updated = eventually("Riley's message to show the outcome", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages_for(&ws.riley), vec![])).await;
        messages.into_iter().find(|m| m.ts == message.ts && m.updated)
    })
    .await;
    assert!(updated.text.contains("Approved by Riley in Slack"), "{}", updated.text);
    assert!(updated.buttons().is_empty(), "no buttons once decided");
    let told = dm_containing(&sandboxes, &ws.josh, "was approved by Riley in Slack").await;
    assert!(
        told.text.contains("you have access until 20"),
        "with its end time: {}",
        told.text
    );

    // Access ends: Josh is told.
    let removed = stack
        .call(
            ADMIN,
            Method::DELETE,
            &format!("/resources/{}/users/{}", demo.resource, demo.josh),
            None,
        )
        .await;
    assert_eq!(removed.status, 204);
    dm_containing(
        &sandboxes,
        &ws.josh,
        "Your access to My Role has ended: an admin removed it",
    )
    .await;
}

#[tokio::test]
async fn deny_opens_a_modal_whose_comment_denies_and_a_decision_in_the_api_updates_the_messages() {
    let (sandboxes, stack, ws, demo) = connected().await;
    let id = request(&stack, &demo.resource, 60).await;
    let message = review_message(&sandboxes, &ws.riley, &id).await;

    click(&sandboxes, &message, grantdesk::slack::DENY_ACTION, &ws.riley).await;
    let view = eventually("the deny modal", || async {
        let views = sandboxes.slack.with(|s, _| (s.views.clone(), vec![])).await;
        views.into_iter().find(|v| v.open && v.user == ws.riley)
    })
    .await;
    assert_eq!(view.view["private_metadata"], id.as_str());
    assert_eq!(
        status(&stack, &id).await,
        "pending",
        "opening the modal decides nothing"
    );

    // An empty comment is refused inside the modal, which stays open.
    let view_id = view.id.clone();
    sandboxes
        .slack
        .with(|s, secret| ((), s.submit(&view_id, "  ", secret)))
        .await;
    let answer = sandboxes.slack.webhook_answers().last().cloned().unwrap_or_default();
    assert!(answer.contains("\"response_action\":\"errors\""), "{answer}");
    assert_eq!(status(&stack, &id).await, "pending");

    sandboxes
        .slack
        .with(|s, secret| ((), s.submit(&view_id, "use the shared role", secret)))
        .await;
    assert_eq!(
        sandboxes.slack.webhook_answers().last().map(String::as_str),
        Some(""),
        "an empty 200 closes it"
    );
    let denied = stack.get(ADMIN, &format!("/requests/{id}")).await;
    assert_eq!(denied.body["status"], "denied");
    assert_eq!(denied.body["decision"]["comment"], "use the shared role");
    assert_eq!(denied.body["decision"]["via"], "slack");
    dm_containing(
        &sandboxes,
        &ws.josh,
        "was denied by Riley in Slack: \u{201c}use the shared role\u{201d}",
    )
    .await;

    // Someone who may not review gets no modal.
    let other = request(&stack, &demo.resource, 30).await;
    let message = review_message(&sandboxes, &ws.riley, &other).await;
    click(&sandboxes, &message, grantdesk::slack::DENY_ACTION, &ws.sam).await;
    assert!(ephemeral_for(&sandboxes, &ws.sam).await.contains("You may not decide"));
    let open = sandboxes
        .slack
        .with(|s, _| (s.views.iter().filter(|v| v.user == ws.sam).count(), vec![]))
        .await;
    assert_eq!(open, 0);

    // Decided in the API: the message says who decided, without buttons.
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{other}/approve"), json!({}))
            .await
            .status,
        200
    );
    let updated = eventually("the message to show the API's decision", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages_for(&ws.riley), vec![])).await;
        messages.into_iter().find(|m| m.ts == message.ts && m.updated)
    })
    .await;
    assert!(updated.text.contains("Approved by Riley"), "{}", updated.text);
    assert!(!updated.text.contains("in Slack"));
    assert!(updated.buttons().is_empty());
}

#[tokio::test]
async fn forged_stale_and_oversized_interactions_change_nothing() {
    let (sandboxes, stack, ws, demo) = connected().await;
    let id = request(&stack, &demo.resource, 60).await;
    review_message(&sandboxes, &ws.riley, &id).await;

    let payload = json!({"type": "block_actions", "user": {"id": ws.riley}, "trigger_id": "1.2.x",
        "container": {"channel_id": "D1"}, "actions": [{"action_id": grantdesk::slack::APPROVE_ACTION, "value": id}]});
    let body = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(payload.to_string().as_bytes()).collect::<String>()
    );
    let send = |timestamp: i64, signature: String, body: String| {
        let url = format!("{}/webhooks/slack", stack.stack.api_url);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", timestamp.to_string())
                .header("x-slack-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let now = chrono::Utc::now().timestamp();
    let forged = grantdesk::slack::sign("another-secret", now, &body);
    assert_eq!(send(now, forged, body.clone()).await, 401);
    let stale = grantdesk::slack::sign(SLACK_SIGNING_SECRET, now - 301, &body);
    assert_eq!(send(now - 301, stale, body.clone()).await, 401);
    let big = format!("{body}&pad={}", "x".repeat(70 * 1024));
    let signed_big = grantdesk::slack::sign(SLACK_SIGNING_SECRET, now, &big);
    assert_eq!(send(now, signed_big, big).await, 413);
    assert_eq!(status(&stack, &id).await, "pending");

    // The same call, signed and fresh, is taken.
    let genuine = grantdesk::slack::sign(SLACK_SIGNING_SECRET, now, &body);
    assert_eq!(send(now, genuine, body).await, 200);
    assert_eq!(status(&stack, &id).await, "approved");
}

#[tokio::test]
async fn expiry_is_told_and_disconnecting_stops_the_messages() {
    let (sandboxes, stack, ws, demo) = connected().await;
    let id = request(&stack, &demo.resource, 1).await;
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{id}/approve"), json!({}))
            .await
            .status,
        200
    );
    let _ = eventually_within(120, "Josh to hear his access expired", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages_for(&ws.josh), vec![])).await;
        messages
            .into_iter()
            .find(|m| m.text.contains("has ended: its time is up"))
    })
    .await;

    assert_eq!(
        stack
            .call(ADMIN, Method::DELETE, "/integrations/slack", None)
            .await
            .status,
        204
    );
    let before = sandboxes.slack.with(|s, _| (s.messages.len(), vec![])).await;
    let other = request(&stack, &demo.resource, 30).await;
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{other}/deny"), json!({"comment": "no"}))
            .await
            .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        sandboxes.slack.with(|s, _| (s.messages.len(), vec![])).await,
        before,
        "nobody is messaged"
    );
    let reply = reqwest::Client::new()
        .post(format!("{}/webhooks/slack", stack.stack.api_url))
        .body("payload=%7B%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        404,
        "interactions are refused once Slack is disconnected"
    );
}

#[tokio::test]
async fn a_rate_limited_slack_is_tried_again_and_the_request_never_waits_for_it() {
    use grantdesk_local::sandbox::{Fault, FaultMatch};
    let (sandboxes, stack, ws, demo) = connected().await;
    sandboxes.slack.inject(
        FaultMatch::on("POST", "chat.postMessage"),
        Fault::Status {
            status: 429,
            retry_after: Some(1),
        },
    );
    let id = request(&stack, &demo.resource, 60).await;
    assert_eq!(status(&stack, &id).await, "pending", "the request was taken at once");
    review_message(&sandboxes, &ws.riley, &id).await;
    let posts = sandboxes
        .slack
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("chat.postMessage"))
        .count();
    assert_eq!(posts, 2, "one refused with 429, then the retry");
    let messages = sandboxes.slack.with(|s, _| (s.messages_for(&ws.riley), vec![])).await;
    assert_eq!(messages.len(), 1, "sent once");
}

#[tokio::test]
async fn a_notification_the_stream_gave_up_on_is_sent_by_the_sweeper() {
    use grantdesk_local::sandbox::{Fault, FaultMatch};
    use grantdesk_local::stream::MAX_DELIVERIES;
    let (sandboxes, stack, ws, demo) = connected().await;
    // Slack is down for every delivery of the new request's record.
    for _ in 0..MAX_DELIVERIES {
        sandboxes.slack.inject(
            FaultMatch::on("POST", "chat.postMessage"),
            Fault::Status {
                status: 503,
                retry_after: None,
            },
        );
    }
    let id = request(&stack, &demo.resource, 60).await;
    let posts = || {
        sandboxes
            .slack
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("chat.postMessage"))
            .count() as u32
    };
    eventually_within(30, "every delivery to be tried", || async {
        (posts() >= MAX_DELIVERIES).then_some(())
    })
    .await;
    // The stream has given up: no message, and the record's work is kept in the table.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(posts(), MAX_DELIVERIES, "no delivery after the last");
    let messages = sandboxes.slack.with(|s, _| (s.messages_for(&ws.riley), vec![])).await;
    assert!(messages.is_empty(), "{messages:?}");
    let later = grantdesk::domain::now() + chrono::Duration::days(1);
    let kept = stack.stack.store.due_work(&later, 10).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].value.record.contains(&id), "the request's own record is kept");
    assert!(!kept[0].value.error.is_empty());

    // The sweeper does the work: Riley is told once, and nothing is kept any more.
    stack.sweep_now().await;
    let message = review_message(&sandboxes, &ws.riley, &id).await;
    assert!(message.text.contains("My Role"), "{}", message.text);
    assert!(stack.stack.store.due_work(&later, 10).await.unwrap().is_empty());
    stack.sweep_now().await;
    let messages = sandboxes.slack.with(|s, _| (s.messages_for(&ws.riley), vec![])).await;
    assert_eq!(messages.len(), 1, "sent once");
    // The domain events the record leads to were published too, under their stable ids.
    let published = stack.stack.published.lock().unwrap().clone();
    let opened = published
        .iter()
        .filter(|e| e.detail_type == "request.created" && e.detail["data"]["id"] == json!(id))
        .count();
    assert_eq!(opened, 1, "{published:?}");
}
