//! Ticket filing end to end: the table's stream feeds the ticket filer, which files
//! propagation and audit tickets in the sandbox providers. Exactly one ticket per change and
//! per request, whatever is delivered twice, crashes or loses its answer.

use grantdesk::domain::TicketState;
use grantdesk_e2e::{eventually, eventually_within, TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::{Fault, FaultMatch, Sandboxes, SERVICENOW_PASSWORD, SERVICENOW_USERNAME};
use reqwest::Method;
use serde_json::{json, Value};

/// The Users tab line of `user` once its propagation has left `pending_ticket_creation`.
async fn settled_line(stack: &TestStack, resource: &str, user: &str) -> Value {
    eventually("the propagation ticket to be filed", || async {
        let tab = stack.get(ADMIN, &format!("/resources/{resource}/users")).await;
        tab.body["items"]
            .as_array()?
            .iter()
            .find(|line| line["user_id"] == user && line["propagation"]["status"] != "pending_ticket_creation")
            .cloned()
    })
    .await
}

#[tokio::test]
async fn approving_joshs_request_files_one_jira_ticket_assigned_to_a_resource_admin_with_a_jira_account() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    // Two admins, only Riley has a Jira account: the ticket must go to Riley every time.
    let members = json!({"member_ids": [demo.riley, demo.stranger]});
    assert_eq!(
        stack
            .call(
                ADMIN,
                Method::PUT,
                &format!("/groups/{}/members", demo.admins),
                Some(members)
            )
            .await
            .status,
        200
    );
    let riley_account = sandboxes
        .jira
        .with(|j, _| (j.add_user(RILEY, "Riley", false), vec![]))
        .await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, true).await;

    stack
        .approved_request(&demo, json!({"reason": "on-call this week", "duration_minutes": 90}))
        .await;

    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["propagation"]["status"], "pending_manual_propagation", "{line}");
    assert_eq!(line["propagation"]["ticket"]["provider"], "jira");
    assert_eq!(line["propagation"]["ticket"]["key"], "OPS-1");
    assert_eq!(
        line["propagation"]["ticket"]["url"],
        format!("{}/browse/OPS-1", sandboxes.jira.url())
    );

    let issues = sandboxes.jira.with(|j, _| (j.issues.clone(), vec![])).await;
    assert_eq!(issues.len(), 1, "exactly one ticket");
    let issue = &issues[0];
    assert_eq!(issue.assignee.as_deref(), Some(riley_account.as_str()));
    assert_eq!(issue.summary, "Add Josh to My Role (AWS)");
    let text = issue.description.to_string();
    for needle in [
        JOSH,
        "My Role",
        "AWS",
        "on-call this week",
        "approved by Riley",
        "Until:",
        &format!("/console/resources/{}", demo.resource),
    ] {
        assert!(text.contains(needle), "the ticket lacks {needle:?}: {text}");
    }
}

#[tokio::test]
async fn an_admin_removing_a_user_by_hand_files_a_revocation_ticket_assigned_to_that_admin() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    let admin_account = sandboxes
        .jira
        .with(|j, _| (j.add_user(ADMIN, "Admin", false), vec![]))
        .await;
    sandboxes
        .jira
        .with(|j, _| (j.add_user(RILEY, "Riley", false), vec![]))
        .await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, true).await;

    let added = stack
        .post(
            ADMIN,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": demo.josh, "duration_minutes": 60}),
        )
        .await;
    assert_eq!(added.status, 201);
    assert_eq!(
        settled_line(&stack, &demo.resource, &demo.josh).await["propagation"]["ticket"]["key"],
        "OPS-1"
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
    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["status"], "revoked");
    assert_eq!(line["propagation"]["ticket"]["key"], "OPS-2");
    let issues = sandboxes.jira.with(|j, _| (j.issues.clone(), vec![])).await;
    assert_eq!(issues.len(), 2);
    assert_eq!(
        issues[0].assignee.as_deref(),
        Some(admin_account.as_str()),
        "the admin who added by hand"
    );
    assert_eq!(
        issues[1].assignee.as_deref(),
        Some(admin_account.as_str()),
        "the admin who removed by hand"
    );
    assert!(issues[1].summary.starts_with("Remove Josh from My Role"));
    assert!(issues[1]
        .description
        .to_string()
        .contains("removed by hand by admin (admin@example.test)"));
}

#[tokio::test]
async fn a_direction_that_is_not_enabled_files_nothing_and_unassigned_policy_assigns_nobody() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    sandboxes
        .jira
        .with(|j, _| (j.add_user(ADMIN, "Admin", false), vec![]))
        .await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    let body = json!({"ticket_propagation": {"enabled_on_grant": false, "enabled_on_revocation": true, "provider": "jira", "project": "OPS", "assignee_policy": "unassigned"}});
    assert_eq!(
        stack
            .call(
                ADMIN,
                Method::PATCH,
                &format!("/resources/{}", demo.resource),
                Some(body)
            )
            .await
            .status,
        200
    );
    let added = stack
        .post(
            ADMIN,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": demo.josh, "duration_minutes": 60}),
        )
        .await;
    assert_eq!(added.body["propagation"]["status"], "not_required");
    stack
        .call(
            ADMIN,
            Method::DELETE,
            &format!("/resources/{}/users/{}", demo.resource, demo.josh),
            None,
        )
        .await;
    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["propagation"]["status"], "pending_manual_propagation");
    let issues = sandboxes.jira.with(|j, _| (j.issues.clone(), vec![])).await;
    assert_eq!(issues.len(), 1, "only the removal");
    assert_eq!(issues[0].assignee, None);
}

#[tokio::test]
async fn filing_that_fails_for_good_is_shown_on_the_users_tab_and_can_be_retried() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    stack.propagate_to_jira(&demo.resource, true, true).await;
    let added = stack
        .post(
            ADMIN,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": demo.josh, "duration_minutes": 60}),
        )
        .await;
    assert_eq!(added.status, 201);
    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["propagation"]["status"], "ticket_creation_failed");
    assert_eq!(
        line["propagation"]["failure_reason"],
        "no jira integration is connected"
    );
    // The failure is counted in the filer's metrics (a CloudWatch EMF line), which an alarm
    // watches.
    let counted = |name: &str| -> Vec<(String, u64)> {
        stack
            .stack
            .filer_metrics
            .lines()
            .iter()
            .filter_map(|l| Some((l["Provider"].as_str()?.to_owned(), l[name].as_u64()?)))
            .collect()
    };
    assert_eq!(counted("FilingFailures"), [("jira".to_owned(), 1)]);
    assert_eq!(counted("TicketsFiled"), []);

    let retry_path = format!("/resources/{}/users/{}/propagation/retry", demo.resource, demo.josh);
    assert_eq!(stack.post(JOSH, &retry_path, json!({})).await.status, 403);
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    let retried = stack.post(RILEY, &retry_path, json!({})).await;
    assert_eq!(retried.status, 202, "{:?}", retried.body);
    assert_eq!(retried.body["propagation"]["status"], "pending_ticket_creation");
    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["propagation"]["status"], "pending_manual_propagation");
    assert_eq!(line["propagation"]["failure_reason"], Value::Null);
    assert_eq!(counted("TicketsFiled"), [("jira".to_owned(), 1)]);
    assert_eq!(counted("FilingFailures").len(), 1, "no new failure");
    assert_eq!(
        stack.post(RILEY, &retry_path, json!({})).await.status,
        409,
        "only a failed filing is retried"
    );
}

#[tokio::test]
async fn a_provider_outage_is_retried_and_a_lost_create_answer_still_files_one_ticket() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, true).await;
    // The first create is done but its answer lost; the next search fails with 503 four times
    // (a whole bounded retry), so the filer gives up this delivery and is called again.
    sandboxes
        .jira
        .inject(FaultMatch::on("POST", "/rest/api/3/issue"), Fault::LoseResponse);
    for _ in 0..4 {
        sandboxes.jira.inject(
            FaultMatch::on("POST", "/search/jql"),
            Fault::Status {
                status: 503,
                retry_after: None,
            },
        );
    }
    stack.approved_request(&demo, json!({"duration_minutes": 30})).await;
    // The stream's deliveries give up while the lost create may still show up in Jira's
    // search; the sweeper files it once the delayed search is due (tests/exactly_once.rs).
    let line = eventually_within(60, "the sweeper to file the ticket", || async {
        stack.sweep_now().await;
        let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
        tab.body["items"]
            .as_array()?
            .iter()
            .find(|line| line["user_id"] == demo.josh && line["propagation"]["status"] != "pending_ticket_creation")
            .cloned()
    })
    .await;
    assert_eq!(line["propagation"]["status"], "pending_manual_propagation", "{line}");
    assert_eq!(
        sandboxes.jira.with(|j, _| (j.issues.len(), vec![])).await,
        1,
        "exactly one ticket"
    );
}

#[tokio::test]
async fn audit_tickets_open_with_the_request_take_comments_and_close_when_it_ends() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    let servicenow = json!({"base_url": sandboxes.servicenow.url(), "username": SERVICENOW_USERNAME, "password": SERVICENOW_PASSWORD, "webhook_secret": "sn-secret"});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/servicenow", Some(servicenow))
            .await
            .status,
        200
    );
    let settings = json!({"audit_tickets": {"enabled": true, "provider": "servicenow", "project": "incident"}});
    assert_eq!(
        stack.call(ADMIN, Method::PUT, "/settings", Some(settings)).await.status,
        200
    );

    let denied = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "curious", "duration_minutes": 30}),
        )
        .await
        .str("id");
    let audit = eventually("the audit ticket", || async {
        let view = stack.get(JOSH, &format!("/requests/{denied}")).await;
        view.body["audit_ticket"]["key"].as_str().map(str::to_owned)
    })
    .await;
    assert!(audit.starts_with("INC"));
    assert_eq!(
        stack
            .post(
                RILEY,
                &format!("/requests/{denied}/deny"),
                json!({"comment": "not needed"})
            )
            .await
            .status,
        200
    );
    eventually("the audit ticket to close", || async {
        let view = stack.get(JOSH, &format!("/requests/{denied}")).await;
        (view.body["audit_ticket"]["closed"] == true).then_some(())
    })
    .await;
    let record = sandboxes
        .servicenow
        .with(|s, _| (s.tables["incident"][0].clone(), vec![]))
        .await;
    assert_eq!(
        record["correlation_id"], denied,
        "filed idempotently under the request id"
    );
    assert_eq!(record["state"], "6");
    assert!(
        record["work_notes"].contains("Denied by Riley") && record["work_notes"].contains("not needed"),
        "{record:?}"
    );

    // Closing an audit ticket by hand changes nothing in grantdesk.
    let approved = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "on-call", "duration_minutes": 30}),
        )
        .await
        .str("id");
    let key = eventually("the second audit ticket", || async {
        stack.get(JOSH, &format!("/requests/{approved}")).await.body["audit_ticket"]["key"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    sandboxes
        .servicenow
        .with(|s, _| s.set_state(&key, TicketState::Done, None))
        .await;
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{approved}/approve"), json!({}))
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
    eventually("the revocation to reach the audit ticket", || async {
        let incidents = sandboxes
            .servicenow
            .with(|s, _| (s.tables["incident"].clone(), vec![]))
            .await;
        let notes = incidents
            .iter()
            .find(|r| r["number"] == key)?
            .get("work_notes")?
            .clone();
        notes.contains("Access revoked").then_some(())
    })
    .await;
    let view = stack.get(JOSH, &format!("/requests/{approved}")).await;
    assert_eq!(view.body["status"], "approved");
    assert_eq!(view.body["grant"]["status"], "revoked");
    assert_eq!(
        sandboxes
            .servicenow
            .with(|s, _| (s.tables["incident"].len(), vec![]))
            .await,
        2,
        "one ticket per request"
    );
}

#[tokio::test]
async fn an_admin_with_a_hidden_email_is_assigned_and_a_refused_assignee_files_unassigned_and_says_so() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    // Riley hides his e-mail address in his Atlassian profile: still assignable in OPS.
    let riley = sandboxes
        .jira
        .with(|j, _| (j.add_user(RILEY, "Riley", true), vec![]))
        .await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, true).await;
    stack.approved_request(&demo, json!({"duration_minutes": 60})).await;
    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["propagation"]["status"], "pending_manual_propagation");
    let first = sandboxes.jira.with(|j, _| (j.issues[0].assignee.clone(), vec![])).await;
    assert_eq!(
        first.as_deref(),
        Some(riley.as_str()),
        "found through the project's assignable users"
    );

    // Riley loses the "Assignable user" permission while his account is still cached: Jira
    // refuses him, and the removal ticket is filed unassigned instead of not at all.
    sandboxes
        .jira
        .with(|j, _| {
            j.users[0].not_assignable_in.push("OPS".into());
            ((), vec![])
        })
        .await;
    let removed = stack
        .call(
            RILEY,
            Method::DELETE,
            &format!("/resources/{}/users/{}", demo.resource, demo.josh),
            None,
        )
        .await;
    assert_eq!(removed.status, 204);
    let line = settled_line(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(line["propagation"]["status"], "pending_manual_propagation", "{line}");
    assert_eq!(line["propagation"]["ticket"]["key"], "OPS-2");
    let note = line["propagation"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("filed unassigned"), "{line}");
    let second = sandboxes.jira.with(|j, _| (j.issues[1].assignee.clone(), vec![])).await;
    assert_eq!(second, None);
}
