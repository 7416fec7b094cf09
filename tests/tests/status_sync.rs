//! Status sync end to end: signed webhooks, the scheduled poll, "sync now", and access that
//! ends when its linked ticket closes. Forged, stale and replayed deliveries change nothing.

use grantdesk::domain::{TicketProviderKind, TicketPurpose, TicketState, TrackedTicket};
use grantdesk_e2e::{eventually, TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::{hex, hmac_sha256, Sandboxes, WebhookTarget, LINEAR_API_KEY};
use reqwest::Method;
use serde_json::{json, Value};

const JIRA_SECRET: &str = "jira-webhook-secret";
const LINEAR_SECRET: &str = "lin_wh_secret";

/// The webhook secret the tests sign with, and "Won't Do" read as canceled.
fn jira_fields() -> Value {
    json!({"webhook_secret": JIRA_SECRET, "state_overrides": {"Won't Do": "canceled"}})
}

async fn propagation(stack: &TestStack, resource: &str, user: &str) -> Value {
    let tab = stack.get(ADMIN, &format!("/resources/{resource}/users")).await;
    tab.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["user_id"] == user)
        .map(|l| l["propagation"].clone())
        .unwrap_or(Value::Null)
}

async fn wait_for_status(stack: &TestStack, resource: &str, user: &str, status: &str) -> Value {
    eventually(&format!("propagation {status}"), || async {
        let p = propagation(stack, resource, user).await;
        (p["status"] == status).then_some(p)
    })
    .await
}

/// Josh approved on My Role, with his add ticket OPS-1 filed.
async fn josh_with_a_filed_ticket(stack: &TestStack, sandboxes: &Sandboxes) -> grantdesk_e2e::Demo {
    let demo = stack.demo().await;
    stack.connect_jira(sandboxes, jira_fields()).await;
    stack.propagate_to_jira(&demo.resource, true, false).await;
    stack.approved_request(&demo, json!({"duration_minutes": 60})).await;
    let filed = wait_for_status(stack, &demo.resource, &demo.josh, "pending_manual_propagation").await;
    assert_eq!(filed["ticket"]["key"], "OPS-1");
    demo
}

#[tokio::test]
async fn a_jira_ticket_moved_to_done_with_a_signed_webhook_completes_the_change_without_the_poll() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = josh_with_a_filed_ticket(&stack, &sandboxes).await;
    sandboxes.jira.set_webhook(Some(WebhookTarget {
        url: format!("{}/webhooks/jira", stack.stack.api_url),
        secret: JIRA_SECRET.into(),
    }));
    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::Done, s))
        .await;
    let done = wait_for_status(&stack, &demo.resource, &demo.josh, "completed").await;
    assert_eq!(done["ticket"]["key"], "OPS-1");
    let delivered = sandboxes.jira.delivered_webhooks();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, 200);
}

#[tokio::test]
async fn without_webhooks_the_poll_and_sync_now_complete_or_flag_changes() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = josh_with_a_filed_ticket(&stack, &sandboxes).await;

    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::InProgress, s))
        .await;
    let report = stack.stack.sync.sync_all().await.unwrap();
    assert_eq!(
        (report.tickets_read, report.completed),
        (1, 0),
        "in progress is not done"
    );
    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::Done, s))
        .await;
    let report = stack.stack.sync.sync_all().await.unwrap();
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(
        propagation(&stack, &demo.resource, &demo.josh).await["status"],
        "completed"
    );
    let report = stack.stack.sync.sync_all().await.unwrap();
    assert_eq!(
        report.tickets_read, 0,
        "a completed ticket leaves the open-tickets index"
    );

    // "Sync now" for a resource whose ticket is canceled: flagged, never counted as done.
    let added = stack
        .post(
            ADMIN,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": demo.stranger, "duration_minutes": 30}),
        )
        .await;
    assert_eq!(added.status, 201);
    let filed = wait_for_status(&stack, &demo.resource, &demo.stranger, "pending_manual_propagation").await;
    let key = filed["ticket"]["key"].as_str().unwrap().to_owned();
    sandboxes
        .jira
        .with(|j, s| j.set_state(&key, TicketState::Canceled, s))
        .await;
    assert_eq!(
        stack
            .post(JOSH, &format!("/resources/{}/sync", demo.resource), json!({}))
            .await
            .status,
        403
    );
    let requested = stack
        .post(RILEY, &format!("/resources/{}/sync", demo.resource), json!({}))
        .await;
    assert_eq!(requested.status, 202, "{:?}", requested.body);
    wait_for_status(&stack, &demo.resource, &demo.stranger, "ticket_canceled").await;
    let resource = stack.get(ADMIN, &format!("/resources/{}", demo.resource)).await;
    assert!(
        resource.body["last_synced_at"].is_string(),
        "the resource shows when it was synced"
    );
}

/// 250 open Jira tickets, each linked to one active grant (an open linked ticket changes
/// nothing, so each stays watched), tracked as Jira reports them.
async fn two_hundred_fifty_watched_jira_tickets(stack: &TestStack, sandboxes: &Sandboxes) -> Vec<String> {
    use grantdesk::domain::{AppId, Grant, RequestConfig, Resource, ResourceId, UserId};
    stack.connect_jira(sandboxes, jira_fields()).await;
    let issues: Vec<(String, String)> = sandboxes
        .jira
        .with(|j, _| {
            for i in 0..250 {
                j.add_issue("OPS", &format!("ticket {i}"));
            }
            (j.issues.iter().map(|i| (i.id.clone(), i.key.clone())).collect(), vec![])
        })
        .await;
    let now = grantdesk::domain::now();
    let resource = Resource {
        id: ResourceId::generate(),
        app_id: AppId::generate(),
        name: "many tickets".into(),
        admin_group_id: None,
        request_config: RequestConfig::default(),
        ticket_propagation: None,
        last_synced_at: None,
        created_at: now,
    };
    let (grant, change) =
        Grant::add_by_hand(&resource, &UserId::generate(), &UserId::generate(), None, None, now).unwrap();
    stack.stack.store.start_grant(&grant, &change).await.unwrap();
    for (id, key) in &issues {
        let tracked = TrackedTicket {
            provider: TicketProviderKind::Jira,
            remote_id: id.clone(),
            key: key.clone(),
            url: format!("{}/browse/{key}", sandboxes.jira.url()),
            purpose: TicketPurpose::Linked {
                grant_id: grant.id.clone(),
            },
            resource_id: None,
            state: TicketState::Open,
            watching: true,
            last_synced_at: now,
        };
        stack.stack.store.save_tracked_ticket(0, &tracked).await.unwrap();
    }
    issues.into_iter().map(|(_, key)| key).collect()
}

fn bulkfetches(sandboxes: &Sandboxes) -> usize {
    sandboxes
        .jira
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/issue/bulkfetch"))
        .count()
}

#[tokio::test]
async fn a_sync_of_250_open_jira_tickets_costs_three_provider_calls_and_writes_only_what_changed() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let keys = two_hundred_fifty_watched_jira_tickets(&stack, &sandboxes).await;
    // Three of them moved on at Jira.
    sandboxes
        .jira
        .with(|j, _| {
            for key in &keys[..3] {
                j.set_state(key, TicketState::InProgress, None);
            }
            ((), vec![])
        })
        .await;
    sandboxes.jira.clear_requests();
    stack.stack.dynamodb_calls.reset();
    let report = stack.stack.sync.sync_all().await.unwrap();
    let calls = stack.stack.dynamodb_calls.snapshot();
    assert_eq!(calls.get("Scan"), None, "no Scan: {calls:?}");
    // The sweeper's four queues, the integrations and one page of the open-tickets index.
    assert_eq!(calls.get("Query"), Some(&6), "{calls:?}");
    // The cursor and Jira's connection, then the grant of each changed ticket (still active: it
    // stays watched).
    assert_eq!(calls.get("GetItem"), Some(&5), "{calls:?}");
    // The lease, then each changed ticket's new state; nothing for the 247 unchanged ones.
    assert_eq!(calls.get("PutItem"), Some(&4), "{calls:?}");
    assert_eq!(calls.get("DeleteItem"), Some(&1), "the lease let go: {calls:?}");
    assert_eq!(calls.values().sum::<u64>(), 16, "and nothing else: {calls:?}");
    assert_eq!((report.tickets_read, report.unchanged), (250, 247), "{report:?}");
    assert_eq!(report.provider_batches, 3);
    assert_eq!(
        bulkfetches(&sandboxes),
        3,
        "one bulkfetch per 100 tickets, counted at the provider"
    );
    assert_eq!(sandboxes.jira.requests().len(), 3, "and no other provider call");
    // The run's counts for Jira, as a CloudWatch EMF line.
    let lines = stack.stack.sync_metrics.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let counts: Vec<u64> = [
        "TicketsRead",
        "TicketsChanged",
        "TicketsMissing",
        "ProviderReadFailures",
    ]
    .iter()
    .map(|name| lines[0][*name].as_u64().unwrap())
    .collect();
    assert_eq!(
        (lines[0]["Provider"].as_str(), counts),
        (Some("jira"), vec![250, 3, 0, 0])
    );

    // Nothing moved since: the next run writes nothing but its lease.
    stack.stack.dynamodb_calls.reset();
    let report = stack.stack.sync.sync_all().await.unwrap();
    let calls = stack.stack.dynamodb_calls.snapshot();
    assert_eq!(report.unchanged, 250, "{report:?}");
    assert_eq!(calls.get("PutItem"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("GetItem"), Some(&2), "{calls:?}");
}

#[tokio::test]
async fn a_run_budget_smaller_than_the_open_tickets_walks_them_round_robin() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    two_hundred_fifty_watched_jira_tickets(&stack, &sandboxes).await;
    let sync = stack.stack.sync.clone().with_budget(100);
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    // Four runs of 100 cover the 250 tickets once and the first 150 of them a second time.
    for run in 0..4 {
        sandboxes.jira.clear_requests();
        let report = sync.sync_all().await.unwrap();
        assert_eq!(report.tickets_read, 100, "run {run}: {report:?}");
        let asked: Vec<String> = sandboxes
            .jira
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/issue/bulkfetch"))
            .flat_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["issueIdsOrKeys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|id| id.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(asked.len(), 100, "run {run}: one bulkfetch of its 100 tickets");
        for id in asked {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), 250, "every ticket had its turn");
    assert_eq!(
        seen.values().filter(|n| **n == 2).count(),
        150,
        "and the walk began again at the start"
    );
}

#[tokio::test]
async fn forged_stale_oversized_and_replayed_webhooks_change_nothing() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = josh_with_a_filed_ticket(&stack, &sandboxes).await;
    let issue_id = sandboxes.jira.with(|j, _| (j.issues[0].id.clone(), vec![])).await;
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/jira", stack.stack.api_url);
    let body = json!({"timestamp": chrono::Utc::now().timestamp_millis(), "webhookEvent": "jira:issue_updated", "issue": {"id": issue_id, "key": "OPS-1"}}).to_string();
    let send = |signature: String, delivery: &'static str, body: String| {
        http.post(&url)
            .header("X-Hub-Signature", signature)
            .header("X-Atlassian-Webhook-Identifier", delivery)
            .body(body)
            .send()
    };
    let good = format!("sha256={}", hex(&hmac_sha256(JIRA_SECRET, body.as_bytes())));

    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::Done, s))
        .await;
    let forged = send(
        format!("sha256={}", hex(&hmac_sha256("guessed", body.as_bytes()))),
        "f-1",
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), 401);
    let unsigned = http.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let huge = "x".repeat(1024 * 1024 + 10);
    assert_eq!(send(good.clone(), "h-1", huge).await.unwrap().status(), 413);
    assert_eq!(
        propagation(&stack, &demo.resource, &demo.josh).await["status"],
        "pending_manual_propagation",
        "nothing changed"
    );

    // A genuine delivery while the ticket is open again, then the same delivery replayed after
    // it is done: the replay is recognized and dropped.
    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::InProgress, s))
        .await;
    let first = send(good.clone(), "d-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    sandboxes
        .jira
        .with(|j, s| j.set_state("OPS-1", TicketState::Done, s))
        .await;
    let replay = send(good.clone(), "d-1", body.clone()).await.unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(replay.json::<Value>().await.unwrap()["status"], "duplicate");
    assert_eq!(
        propagation(&stack, &demo.resource, &demo.josh).await["status"],
        "pending_manual_propagation"
    );

    let unknown_body =
        json!({"timestamp": chrono::Utc::now().timestamp_millis(), "issue": {"id": "999999"}}).to_string();
    let unknown_sig = format!("sha256={}", hex(&hmac_sha256(JIRA_SECRET, unknown_body.as_bytes())));
    let unknown = send(unknown_sig, "u-1", unknown_body).await.unwrap();
    assert_eq!(unknown.status(), 200, "unknown tickets are acknowledged");

    // A fresh genuine delivery (Jira dates each one) does apply: the provider is re-read, the
    // body is not trusted.
    let body = json!({"timestamp": chrono::Utc::now().timestamp_millis() + 1, "webhookEvent": "jira:issue_updated", "issue": {"id": issue_id, "key": "OPS-1"}}).to_string();
    let good = format!("sha256={}", hex(&hmac_sha256(JIRA_SECRET, body.as_bytes())));
    let fresh = send(good, "d-2", body).await.unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(
        propagation(&stack, &demo.resource, &demo.josh).await["status"],
        "completed"
    );

    // Linear: a correctly signed but stale delivery is refused.
    let linear =
        json!({"api_key": LINEAR_API_KEY, "base_url": sandboxes.linear.url(), "webhook_secret": LINEAR_SECRET});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/linear", Some(linear))
            .await
            .status,
        200
    );
    let stale = json!({"type": "Issue", "action": "update", "data": {"id": "x"}, "webhookTimestamp": chrono::Utc::now().timestamp_millis() - 120_000}).to_string();
    let reply = http
        .post(format!("{}/webhooks/linear", stack.stack.api_url))
        .header("Linear-Signature", hex(&hmac_sha256(LINEAR_SECRET, stale.as_bytes())))
        .header("Linear-Delivery", "l-1")
        .body(stale)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
}

#[tokio::test]
async fn closing_joshs_linked_linear_issue_revokes_his_access() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    let issue = sandboxes
        .linear
        .with(|l, _| (l.add_issue("ENG", "Debug login latency"), vec![]))
        .await;
    let linear = json!({"api_key": LINEAR_API_KEY, "base_url": sandboxes.linear.url(), "webhook_secret": LINEAR_SECRET, "project": "ENG"});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/linear", Some(linear))
            .await
            .status,
        200
    );
    sandboxes.linear.set_webhook(Some(WebhookTarget {
        url: format!("{}/webhooks/linear", stack.stack.api_url),
        secret: LINEAR_SECRET.into(),
    }));
    let patch = json!({"request_config": {"require_ticket_link": true}});
    assert_eq!(
        stack
            .call(
                ADMIN,
                Method::PATCH,
                &format!("/resources/{}", demo.resource),
                Some(patch)
            )
            .await
            .status,
        200
    );

    let created = stack
        .post(JOSH, "/requests", json!({"resource_id": demo.resource, "duration_minutes": 240, "linked_ticket": {"provider": "linear", "key": issue}}))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.str("id");
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{id}/approve"), json!({}))
            .await
            .status,
        200
    );

    sandboxes
        .linear
        .with(|l, s| l.set_state(&issue, TicketState::Done, s))
        .await;
    eventually("Josh's access to be revoked", || async {
        let view = stack.get(JOSH, &format!("/requests/{id}")).await;
        (view.body["grant"]["status"] == "revoked").then_some(())
    })
    .await;
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"][0]["status"], "revoked");
    let resource = grantdesk::domain::ResourceId::parse(&demo.resource).unwrap();
    let josh = grantdesk::domain::UserId::parse(&demo.josh).unwrap();
    let grant = stack
        .stack
        .store
        .latest_grant(&resource, &josh)
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(
        grant.revocation,
        Some(grantdesk::domain::RevocationReason::LinkedTicketClosed)
    );
}
