//! Directory, catalog and settings over HTTP, races resolved by conditional writes, and the
//! rules that settings and resource configuration impose on requests.

use grantdesk_e2e::{TestStack, ADMIN, JOSH, RILEY, SAM};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[tokio::test]
async fn two_reviewers_approving_at_once_grant_access_exactly_once() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let id = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 60}),
        )
        .await
        .str("id");
    let path = format!("/requests/{id}/approve");
    let (a, b) = tokio::join!(stack.post(RILEY, &path, json!({})), stack.post(ADMIN, &path, json!({})));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{:?} / {:?}", a.body, b.body);
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"].as_array().unwrap().len(), 1);
    let winner = if a.status == 200 { a } else { b };
    assert_eq!(
        tab.body["items"][0]["grant_id"], winner.body["grant"]["id"],
        "the tab shows the winning grant"
    );
}

#[tokio::test]
async fn a_user_never_holds_two_active_grants_on_one_resource() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let path = format!("/resources/{}/users", demo.resource);
    let add = json!({"user_id": demo.stranger, "duration_minutes": 30});
    let (a, b) = tokio::join!(
        stack.post(RILEY, &path, add.clone()),
        stack.post(ADMIN, &path, add.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{:?} / {:?}", a.body, b.body);
    let added = if a.status == 201 { a } else { b };
    assert_eq!(added.body["source"], "manual");
    assert_eq!(added.body["status"], "active");

    let as_request = stack
        .post(
            SAM,
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 30}),
        )
        .await;
    assert_eq!((as_request.status, as_request.code()), (409, "access_already_active"));

    let josh_request = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 30}),
        )
        .await
        .str("id");
    let hand_add = stack
        .post(RILEY, &path, json!({"user_id": demo.josh, "duration_minutes": 10}))
        .await;
    assert_eq!(hand_add.status, 201);
    let approve = stack
        .post(RILEY, &format!("/requests/{josh_request}/approve"), json!({}))
        .await;
    assert_eq!((approve.status, approve.code()), (409, "access_already_active"));
    assert_eq!(
        stack.get(JOSH, &format!("/requests/{josh_request}")).await.body["status"],
        "pending",
        "nothing half-written"
    );

    let remove = stack
        .call(RILEY, Method::DELETE, &format!("{path}/{}", demo.josh), None)
        .await;
    assert_eq!(remove.status, 204);
    let approve = stack
        .post(RILEY, &format!("/requests/{josh_request}/approve"), json!({}))
        .await;
    assert_eq!(
        approve.status, 200,
        "access can be granted again once the last grant ended: {:?}",
        approve.body
    );
    let never_added = stack
        .call(RILEY, Method::DELETE, &format!("{path}/{}", demo.riley), None)
        .await;
    assert_eq!(never_added.status, 404);
}

#[tokio::test]
async fn a_required_ticket_link_is_enforced_by_the_org_and_by_the_resource() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let body = json!({"resource_id": demo.resource, "duration_minutes": 30});

    let settings = stack
        .call(
            ADMIN,
            Method::PUT,
            "/settings",
            Some(json!({"require_ticket_link": true})),
        )
        .await;
    assert_eq!(settings.status, 200, "{:?}", settings.body);
    assert_eq!(
        settings.body["audit_tickets"],
        json!({"enabled": false, "provider": null, "project": null})
    );
    let missing = stack.post(JOSH, "/requests", body.clone()).await;
    assert_eq!((missing.status, missing.code()), (422, "ticket_link_required"));

    stack
        .call(
            ADMIN,
            Method::PUT,
            "/settings",
            Some(json!({"require_ticket_link": false})),
        )
        .await;
    assert_eq!(stack.post(JOSH, "/requests", body.clone()).await.status, 201);
    let patch = stack
        .call(
            RILEY,
            Method::PATCH,
            &format!("/resources/{}", demo.resource),
            Some(json!({"request_config": {"require_ticket_link": true}})),
        )
        .await;
    assert_eq!(
        patch.status, 200,
        "a resource admin may change request rules: {:?}",
        patch.body
    );
    assert_eq!(
        patch.body["request_config"]["max_duration_minutes"], 480,
        "unpatched fields are kept"
    );
    let missing = stack.post(JOSH, "/requests", body.clone()).await;
    assert_eq!((missing.status, missing.code()), (422, "ticket_link_required"));

    let mut linked = body.clone();
    linked["linked_ticket"] = json!({"provider": "jira", "key": "OPS-12"});
    let unconnected = stack.post(JOSH, "/requests", linked).await;
    assert_eq!(
        (unconnected.status, unconnected.code()),
        (422, "integration_not_connected")
    );
    let mut unknown_provider = body.clone();
    unknown_provider["linked_ticket"] = json!({"provider": "github", "key": "1"});
    assert_eq!(stack.post(JOSH, "/requests", unknown_provider).await.status, 400);
}

#[tokio::test]
async fn settings_validate_audit_tickets_and_round_trip() {
    let stack = TestStack::start().await;
    let incomplete = stack
        .call(
            ADMIN,
            Method::PUT,
            "/settings",
            Some(json!({"audit_tickets": {"enabled": true}})),
        )
        .await;
    assert_eq!(incomplete.status, 400);
    let bad_table = json!({"audit_tickets": {"enabled": true, "provider": "servicenow", "project": "problem"}});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/settings", Some(bad_table))
            .await
            .status,
        400
    );
    let good = json!({"require_ticket_link": false, "audit_tickets": {"enabled": true, "provider": "servicenow", "project": "incident"}});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/settings", Some(good.clone()))
            .await
            .status,
        200
    );
    assert_eq!(stack.get(ADMIN, "/settings").await.body, good);
}

#[tokio::test]
async fn an_auto_approved_resource_grants_at_once() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let patch = stack
        .call(
            ADMIN,
            Method::PATCH,
            &format!("/resources/{}", demo.resource),
            Some(json!({"request_config": {"auto_approve": true}})),
        )
        .await;
    assert_eq!(patch.status, 200);
    let created = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 15}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "approved");
    assert_eq!(created.body["decision"]["by"], Value::Null);
    assert_eq!(created.body["grant"]["status"], "active");
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"][0]["user_id"], demo.josh.as_str());
}

#[tokio::test]
async fn a_reviewer_group_takes_over_review_from_the_admins() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let reviewers = stack
        .post(
            ADMIN,
            "/groups",
            json!({"name": "Reviewers", "member_ids": [demo.stranger]}),
        )
        .await
        .str("id");
    let patch = stack
        .call(
            ADMIN,
            Method::PATCH,
            &format!("/resources/{}", demo.resource),
            Some(json!({"request_config": {"reviewer_group_id": reviewers}})),
        )
        .await;
    assert_eq!(patch.status, 200, "{:?}", patch.body);
    let id = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 15}),
        )
        .await
        .str("id");
    assert_eq!(
        stack.get(SAM, "/requests?review=pending").await.body["items"][0]["id"],
        id.as_str()
    );
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{id}/approve"), json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        stack
            .post(SAM, &format!("/requests/{id}/approve"), json!({}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn resource_admins_may_patch_rules_but_not_who_administers() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let path = format!("/resources/{}", demo.resource);
    let escalate = stack
        .call(RILEY, Method::PATCH, &path, Some(json!({"admin_group_id": null})))
        .await;
    assert_eq!(escalate.status, 403);
    assert_eq!(
        stack
            .call(SAM, Method::PATCH, &path, Some(json!({"name": "Mine"})))
            .await
            .status,
        403
    );
    assert_eq!(stack.get(SAM, &path).await.status, 403);
    assert_eq!(stack.get(SAM, &format!("{path}/users")).await.status, 403);
    let renamed = stack
        .call(
            RILEY,
            Method::PATCH,
            &path,
            Some(json!({"name": "  Prod Role ", "request_config": {"max_duration_minutes": null}})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "Prod Role");
    assert_eq!(renamed.body["request_config"]["max_duration_minutes"], Value::Null);
    assert_eq!(
        renamed.body["admin_group_id"],
        Value::Null,
        "still inheriting the app's admins"
    );
    let propagation = json!({"ticket_propagation": {"enabled_on_grant": true, "enabled_on_revocation": true, "provider": "servicenow", "project": "OPS"}});
    assert_eq!(
        stack.call(RILEY, Method::PATCH, &path, Some(propagation)).await.status,
        400,
        "ServiceNow takes a table"
    );
    let propagation = json!({"ticket_propagation": {"enabled_on_grant": true, "enabled_on_revocation": false, "provider": "jira", "project": "OPS"}});
    let set = stack.call(RILEY, Method::PATCH, &path, Some(propagation)).await;
    assert_eq!(
        set.body["ticket_propagation"]["assignee_policy"], "admin_rules",
        "the default policy"
    );
    let app = stack.get(ADMIN, &format!("/apps/{}", demo.app)).await;
    assert_eq!(
        app.body["ticket_propagation"],
        Value::Null,
        "the app keeps its own value"
    );
    let unknown_group = stack
        .call(
            ADMIN,
            Method::PATCH,
            &path,
            Some(json!({"admin_group_id": "grp_ghost"})),
        )
        .await;
    assert_eq!(unknown_group.status, 404);
}

#[tokio::test]
async fn group_members_are_replaced_and_shown_on_me() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    assert_eq!(stack.get(RILEY, "/me").await.body["groups"], json!([demo.admins]));
    let replaced = stack
        .call(
            ADMIN,
            Method::PUT,
            &format!("/groups/{}/members", demo.admins),
            Some(json!({"member_ids": [demo.stranger, demo.stranger]})),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(replaced.body["member_ids"], json!([demo.stranger]));
    assert_eq!(stack.get(RILEY, "/me").await.body["groups"], json!([]));
    assert_eq!(stack.get(SAM, "/me").await.body["groups"], json!([demo.admins]));
    let group = stack.get(ADMIN, &format!("/groups/{}", demo.admins)).await;
    assert_eq!(group.body["member_ids"], json!([demo.stranger]));
    let ghost = stack
        .call(
            ADMIN,
            Method::PUT,
            &format!("/groups/{}/members", demo.admins),
            Some(json!({"member_ids": ["usr_ghost"]})),
        )
        .await;
    assert_eq!(ghost.status, 404);
    assert_eq!(
        stack.get(ADMIN, &format!("/groups/{}", demo.admins)).await.body["member_ids"],
        json!([demo.stranger])
    );
}

#[tokio::test]
async fn lists_page_through_every_record_once() {
    let stack = TestStack::start().await;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        created.insert(stack.user(&format!("user{i}@example.test"), &format!("User {i}")).await);
    }
    let mut seen = Vec::new();
    let mut path = "/users?limit=3".to_owned();
    for _ in 0..10 {
        let page = stack.get(ADMIN, &path).await;
        assert_eq!(page.status, 200);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        match page.body["next_token"].as_str() {
            Some(token) => path = format!("/users?limit=3&next_token={token}"),
            None => break,
        }
    }
    let admin_id = stack.get(ADMIN, "/me").await.str("id");
    created.insert(admin_id);
    assert_eq!(seen.len(), created.len(), "no duplicates across pages");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), created);
}
