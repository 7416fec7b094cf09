//! The walkthrough `make dev` prints, followed step by step over HTTP: the seeded demo, Riley
//! approving Josh, the Jira ticket moved to done on the sandbox page, the linked-ticket resource.

use grantdesk_e2e::{eventually, DemoStack, RILEY};
use grantdesk_local::seed;
use serde_json::json;

#[tokio::test]
async fn the_printed_walkthrough_works() {
    let DemoStack {
        sandboxes,
        stack,
        setup,
        page,
    } = DemoStack::start().await;
    let (admin, riley, josh) = (seed::ADMIN_EMAIL, seed::REVIEWER_EMAIL, seed::JOSH_EMAIL);
    assert_eq!(riley, "riley@example.com");
    let _ = RILEY;

    let queue = stack.get(riley, "/requests?review=pending").await;
    assert_eq!(queue.body["items"][0]["id"], setup.josh_request.as_str());
    eventually("Riley's Slack message", || async {
        let messages = sandboxes.slack.with(|s, _| (s.messages.clone(), vec![])).await;
        messages
            .iter()
            .any(|m| m.blocks.to_string().contains(&setup.josh_request))
            .then_some(())
    })
    .await;

    let approved = stack
        .post(riley, &format!("/requests/{}/approve", setup.josh_request), json!({}))
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    let users = format!("/resources/{}/users", setup.demo.my_role);
    let key = eventually("the Jira ticket", || async {
        let tab = stack.get(riley, &users).await;
        tab.body["items"][0]["propagation"]["ticket"]["key"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert_eq!(key, "OPS-3", "the printed walkthrough names OPS-3");
    let assignee = sandboxes.jira.with(|j, _| (j.issues[2].assignee.clone(), vec![])).await;
    let admin_accounts: Vec<String> = sandboxes
        .jira
        .with(|j, _| (j.users.iter().map(|u| u.account_id.clone()).collect(), vec![]))
        .await;
    assert!(
        assignee.is_some_and(|a| admin_accounts.contains(&a)),
        "assigned to a My Role admin with a Jira account"
    );

    let page_html = reqwest::get(&page).await.unwrap().text().await.unwrap();
    assert!(page_html.contains("OPS-3") && page_html.contains("Add Josh to My Role"));
    let moved = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{page}/move?provider=jira&key=OPS-3&state=done"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 303);
    eventually("Josh's access to turn green", || async {
        (stack.get(riley, &users).await.body["items"][0]["propagation"]["status"] == "completed").then_some(())
    })
    .await;
    let view = stack.get(josh, &format!("/requests/{}", setup.josh_request)).await;
    assert_eq!(view.body["grant"]["status"], "active");
    assert!(
        view.body["audit_ticket"]["key"]
            .as_str()
            .unwrap_or_default()
            .starts_with("INC"),
        "{:?}",
        view.body
    );

    let without_link = stack
        .post(
            josh,
            "/requests",
            json!({"resource_id": setup.prod_db, "duration_minutes": 120}),
        )
        .await;
    assert_eq!(without_link.code(), "ticket_link_required");
    let picked = stack.get(josh, "/tickets/search?provider=linear&q=ENG-1").await;
    assert_eq!(picked.body["items"][0]["key"], "ENG-1");
    let linked = stack
        .post(josh, "/requests", json!({"resource_id": setup.prod_db, "duration_minutes": 120, "linked_ticket": {"provider": "linear", "key": "ENG-1"}}))
        .await;
    assert_eq!(linked.status, 201, "{:?}", linked.body);
    // Canceling it resolves its own audit incident, and only that one: the instance's
    // pre-existing "Database is slow" incident carries no correlation_id and is never ours.
    let linked_id = linked.str("id");
    let audit_key = eventually("the linked request's audit incident", || async {
        let view = stack.get(josh, &format!("/requests/{linked_id}")).await;
        view.body["audit_ticket"]["key"].as_str().map(str::to_owned)
    })
    .await;
    assert_ne!(audit_key, "INC0010001");
    let canceled = stack
        .post(josh, &format!("/requests/{linked_id}/cancel"), json!({}))
        .await;
    assert_eq!(canceled.status, 200);
    let state_of = |number: &'static str| {
        let sandboxes = sandboxes.clone();
        async move {
            sandboxes
                .servicenow
                .with(move |s, _| {
                    let state = s.tables["incident"]
                        .iter()
                        .find(|r| r.get("number").map(String::as_str) == Some(number))
                        .and_then(|r| r.get("state").cloned());
                    (state, vec![])
                })
                .await
        }
    };
    let audit_number: &'static str = Box::leak(audit_key.into_boxed_str());
    eventually("the audit incident to be resolved", || async {
        (state_of(audit_number).await.as_deref() == Some("6")).then_some(())
    })
    .await;
    assert_eq!(
        state_of("INC0010001").await.as_deref(),
        Some("1"),
        "someone else's incident is untouched"
    );
    let done_ticket = stack
        .post(josh, "/requests", json!({"resource_id": setup.prod_db, "duration_minutes": 60, "linked_ticket": {"provider": "jira", "key": "OPS-2"}}))
        .await;
    assert_eq!(done_ticket.code(), "linked_ticket_closed");
    let too_long = stack
        .post(
            josh,
            "/requests",
            json!({"resource_id": setup.demo.my_role, "duration_minutes": 481}),
        )
        .await;
    assert_eq!(too_long.status, 422);
    let _ = admin;
}

#[tokio::test]
async fn riley_approves_joshs_request_and_denies_another_from_the_sandbox_slack_on_the_sandbox_page() {
    let DemoStack {
        sandboxes: _sandboxes,
        stack,
        setup,
        page,
    } = DemoStack::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The form a button on the page posts: the first one labelled `label` after `after`.
    let form = |html: &str, after: &str, label: &str| {
        let from = html
            .find(after)
            .unwrap_or_else(|| panic!("{after:?} on the page: {html}"));
        let rest = &html[from..];
        let button = rest.find(&format!("<button>{label}</button>")).expect("the button");
        let action = rest[..button].rfind("action=\"").expect("its form") + "action=\"".len();
        rest[action..].split('"').next().unwrap().replace("&amp;", "&")
    };
    let html = eventually("Riley's message with its buttons", || async {
        let html = reqwest::get(&page).await.unwrap().text().await.unwrap();
        html.contains("to riley@example.com").then_some(html)
    })
    .await;
    assert!(
        html.contains("Josh (josh@example.com) requests access to My Role"),
        "{html}"
    );
    let approve = form(&html, "to riley@example.com", "Approve");
    let clicked = http.post(format!("{page}{approve}")).send().await.unwrap();
    assert_eq!(clicked.status(), 303);
    let view = stack
        .get(seed::REVIEWER_EMAIL, &format!("/requests/{}", setup.josh_request))
        .await;
    assert_eq!(view.body["status"], "approved");
    assert_eq!(view.body["decision"]["via"], "slack");
    // The reviewers' messages show the outcome, then Josh is told.
    eventually("the message to show the outcome and Josh to be told", || async {
        let html = reqwest::get(&page).await.unwrap().text().await.unwrap();
        (html.contains("Approved by Riley Reviewer in Slack") && html.contains("to josh@example.com")).then_some(())
    })
    .await;

    // Another request, denied through the modal on the page.
    let other = stack
        .post(
            seed::JOSH_EMAIL,
            "/requests",
            json!({"resource_id": setup.prod_db, "reason": "second look", "duration_minutes": 120,
                   "linked_ticket": {"provider": "linear", "key": "ENG-1"}}),
        )
        .await
        .str("id");
    let html = eventually("the second message", || async {
        let html = reqwest::get(&page).await.unwrap().text().await.unwrap();
        (html.matches("<button>Deny</button>").count() >= 1 && html.contains("second look")).then_some(html)
    })
    .await;
    // Riley's latest message is the one about the second request (Alice, an org admin, gets one too).
    let latest = html.rfind("to riley@example.com").expect("Riley's second message");
    assert!(html[latest..].contains("second look"));
    let deny = form(&html[latest..], "to riley@example.com", "Deny");
    assert_eq!(http.post(format!("{page}{deny}")).send().await.unwrap().status(), 303);
    let html = reqwest::get(&page).await.unwrap().text().await.unwrap();
    let submit = form(&html, "Deny request (open for riley@example.com)", "Deny");
    let sent = http
        .post(format!("{page}{submit}"))
        .form(&[("comment", "not this week")])
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 303);
    let view = stack.get(seed::REVIEWER_EMAIL, &format!("/requests/{other}")).await;
    assert_eq!(view.body["status"], "denied");
    assert_eq!(view.body["decision"]["comment"], "not this week");
    let html = reqwest::get(&page).await.unwrap().text().await.unwrap();
    assert!(!html.contains("open for riley@example.com"), "the modal closed");
}
