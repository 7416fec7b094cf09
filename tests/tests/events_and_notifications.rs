//! Domain events on the bus and Slack reviewer notifications, both sent from the stream outbox:
//! each arrives once, with the documented shape.

use grantdesk_e2e::{eventually, TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::Sandboxes;
use reqwest::Method;
use serde_json::{json, Value};

fn types(stack: &TestStack) -> Vec<String> {
    stack
        .stack
        .published
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.detail_type.clone())
        .collect()
}

fn details(stack: &TestStack, kind: &str) -> Vec<Value> {
    stack
        .stack
        .published
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.detail_type == kind)
        .map(|e| e.detail.clone())
        .collect()
}

#[tokio::test]
async fn a_new_request_notifies_its_reviewers_once_and_every_transition_is_published_once() {
    let sandboxes = Sandboxes::start().await.unwrap();
    let stack = TestStack::start().await;
    stack.connect_slack(&sandboxes).await;
    let riley_slack = sandboxes.slack.with(|s, _| (s.add_user(RILEY), vec![])).await;
    let demo = stack.demo().await;

    let created = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "on-call this week", "duration_minutes": 60}),
        )
        .await;
    let id = created.str("id");
    let messages = eventually("the reviewer to be notified", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages.clone(), vec![])).await;
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(messages.len(), 1, "Riley is the only reviewer with a Slack account");
    assert_eq!(messages[0].user, riley_slack);
    let shown = format!("{} {}", messages[0].text, messages[0].blocks);
    for needle in [
        "Josh (josh@example.test)",
        "My Role",
        "60 minutes",
        "on-call this week",
        &format!("/console/requests/{id}"),
    ] {
        assert!(shown.contains(needle), "the message lacks {needle:?}: {shown}");
    }

    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{id}/approve"), json!({}))
            .await
            .status,
        200
    );
    let removed = stack
        .call(
            ADMIN,
            Method::DELETE,
            &format!("/resources/{}/users/{}", demo.resource, demo.josh),
            None,
        )
        .await;
    assert_eq!(removed.status, 204);
    eventually("the revocation event", || async {
        types(&stack).contains(&"access.revoked".to_owned()).then_some(())
    })
    .await;
    // Give a duplicate delivery time to show up, if there were one.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let mut seen = types(&stack);
    seen.retain(|t| t != "SyncRequested");
    let count = |t: &str| seen.iter().filter(|s| *s == t).count();
    for kind in [
        "request.created",
        "request.approved",
        "access.granted",
        "access.revoked",
    ] {
        assert_eq!(count(kind), 1, "{kind} exactly once in {seen:?}");
    }
    assert_eq!(
        sandboxes.slack.with(|s, _| (s.messages.len(), vec![])).await,
        1,
        "notified once (the decision updates that message; Josh has no Slack account)"
    );

    let approved = &details(&stack, "request.approved")[0];
    assert_eq!(approved["schema_version"], 1);
    assert_eq!(approved["type"], "request.approved");
    assert_eq!(approved["data"]["id"], id.as_str());
    assert_eq!(approved["data"]["status"], "approved");
    assert!(approved["id"].as_str().unwrap().ends_with(":request.approved"));
    assert!(approved["occurred_at"].is_string());
    let revoked = &details(&stack, "access.revoked")[0];
    assert_eq!(revoked["data"]["user_id"], demo.josh.as_str());
    assert_eq!(revoked["data"]["status"], "revoked");
}
