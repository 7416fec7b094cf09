//! Races, now that the local table has DynamoDB's own concurrency (DynamoDB Local, no write
//! gate): whoever loses a conditional write or a transaction gets a conflict, never a 5xx, and
//! nothing is applied twice.

use futures::future::join_all;
use grantdesk::domain::{GrantStatus, ResourceId, TicketState, UserId};
use grantdesk_access_expiry::ExpiryInput;
use grantdesk_e2e::{eventually, Reply, TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::Sandboxes;
use reqwest::Method;
use serde_json::json;

fn statuses(replies: &[Reply]) -> Vec<u16> {
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    statuses
}

async fn jira_issue_count(sandboxes: &Sandboxes) -> usize {
    sandboxes.jira.with(|j, _| (j.issues.len(), vec![])).await
}

async fn grant_of(stack: &TestStack, resource: &str, user: &str) -> Option<grantdesk::domain::Grant> {
    stack
        .stack
        .store
        .latest_grant(&ResourceId::parse(resource).unwrap(), &UserId::parse(user).unwrap())
        .await
        .unwrap()
        .map(|v| v.value)
}

/// Waits until the stream has filed `count` Jira issues, then checks that no more follow.
async fn exactly_jira_issues(sandboxes: &Sandboxes, count: usize, what: &str) {
    eventually(what, || async {
        (jira_issue_count(sandboxes).await >= count).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(jira_issue_count(sandboxes).await, count, "{what}: no more than that");
}

#[tokio::test]
async fn twenty_concurrent_approvals_of_one_request_grant_once_and_file_one_ticket() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, false).await;
    let created = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "on-call", "duration_minutes": 60}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let approve = format!("/requests/{}/approve", created.str("id"));

    let replies = join_all((0..20).map(|_| stack.post(RILEY, &approve, json!({"comment": "ok"})))).await;
    let mut expected = vec![200];
    expected.extend([409; 19]);
    assert_eq!(
        statuses(&replies),
        expected,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    let grant = grant_of(&stack, &demo.resource, &demo.josh).await.expect("one grant");
    assert_eq!(grant.status, GrantStatus::Active);
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"].as_array().unwrap().len(), 1, "{:?}", tab.body);
    exactly_jira_issues(&sandboxes, 1, "the one propagation ticket").await;
}

#[tokio::test]
async fn approve_racing_cancel_ends_each_request_in_exactly_one_state() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    for round in 0..10 {
        let created = stack
            .post(
                JOSH,
                "/requests",
                json!({"resource_id": demo.resource, "reason": format!("round {round}"), "duration_minutes": 30}),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.str("id");
        let (approve, cancel) = (format!("/requests/{id}/approve"), format!("/requests/{id}/cancel"));
        let (approved, canceled) = tokio::join!(
            stack.post(RILEY, &approve, json!({})),
            stack.post(JOSH, &cancel, json!({})),
        );
        assert_eq!(
            statuses(&[approved, canceled]),
            [200, 409],
            "round {round}: exactly one of approve and cancel wins"
        );
        let view = stack.get(JOSH, &format!("/requests/{id}")).await;
        match view.body["status"].as_str() {
            Some("approved") => {
                assert_eq!(view.body["grant"]["status"], "active", "round {round}");
                // End it so the next round's approval is not refused as a second grant.
                let removed = stack
                    .call(
                        ADMIN,
                        Method::DELETE,
                        &format!("/resources/{}/users/{}", demo.resource, demo.josh),
                        None,
                    )
                    .await;
                assert_eq!(removed.status, 204, "round {round}");
            }
            Some("canceled") => {
                assert_eq!(view.body["grant"], serde_json::Value::Null, "round {round}");
            }
            other => panic!("round {round}: request ended {other:?}"),
        }
    }
}

#[tokio::test]
async fn concurrent_hand_adds_of_one_user_create_one_grant() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let users = format!("/resources/{}/users", demo.resource);
    let replies =
        join_all((0..8).map(|_| stack.post(ADMIN, &users, json!({"user_id": demo.josh, "duration_minutes": 60}))))
            .await;
    let mut expected = vec![201];
    expected.extend([409; 7]);
    assert_eq!(
        statuses(&replies),
        expected,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert!(replies
        .iter()
        .filter(|r| r.status == 409)
        .all(|r| r.code() == "access_already_active"));
    let tab = stack.get(ADMIN, &users).await;
    assert_eq!(tab.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn hand_removal_racing_expiry_ends_the_grant_once_and_files_one_ticket() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, false, true).await;
    let users = format!("/resources/{}/users", demo.resource);
    let added = stack
        .post(ADMIN, &users, json!({"user_id": demo.josh, "duration_minutes": 60}))
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let grant = grant_of(&stack, &demo.resource, &demo.josh).await.unwrap();
    // Move the end time into the past, as if the hour had gone by, so the expiry is due.
    let past = (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    grantdesk_local::stack::dynamodb_client(&stack.stack.endpoints.dynamodb)
        .update_item()
        .table_name(&stack.stack.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("GRANT#{}", grant.id)),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("GRANT".into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::S(past))
        .send()
        .await
        .unwrap();

    let josh = format!("{users}/{}", demo.josh);
    let (removed, expired) = tokio::join!(
        stack.call(ADMIN, Method::DELETE, &josh, None),
        stack.stack.expiry.handle(ExpiryInput {
            grant_id: grant.id.to_string()
        }),
    );
    let expired = expired.expect("expiry never fails on a race");
    let ended = grant_of(&stack, &demo.resource, &demo.josh).await.unwrap();
    match ended.status {
        GrantStatus::Revoked => {
            assert_eq!(removed.status, 204);
            assert_eq!(expired, grantdesk::usecases::expiry::Expiry::AlreadyEnded);
        }
        GrantStatus::Expired => {
            assert_eq!(removed.status, 409, "{:?}", removed.body);
            assert_eq!(expired, grantdesk::usecases::expiry::Expiry::Expired);
        }
        other => panic!("the grant is still {other:?}"),
    }
    exactly_jira_issues(&sandboxes, 1, "the one removal ticket").await;
}

#[tokio::test]
async fn two_status_sync_runs_at_once_complete_a_change_once() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, false).await;
    stack.approved_request(&demo, json!({"duration_minutes": 60})).await;
    exactly_jira_issues(&sandboxes, 1, "the propagation ticket").await;
    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::Done, s))
        .await;

    sandboxes.jira.clear_requests();
    let (first, second) = tokio::join!(stack.stack.sync.sync_all(), stack.stack.sync.sync_all());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.completed + second.completed, 1, "{first:?} {second:?}");
    assert!(
        first.overlapping != second.overlapping,
        "one run works, the other finds its lease"
    );
    let reads = sandboxes
        .jira
        .requests()
        .iter()
        .filter(|r| r.path.contains("bulkfetch"))
        .count();
    assert_eq!(reads, 1, "the open tickets are read once");
    assert!(
        !stack.stack.sync.sync_all().await.unwrap().overlapping,
        "the lease was released"
    );
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"][0]["propagation"]["status"], "completed");
    exactly_jira_issues(&sandboxes, 1, "no ticket filed again").await;
}
