//! The access-request lifecycle over HTTP: request, review, grant, Users tab, removal, and
//! every illegal step refused with a clear 4xx and nothing half-written.

use grantdesk_e2e::{TestStack, ADMIN, JOSH, RILEY, SAM};
use reqwest::Method;
use serde_json::{json, Value};

async fn request(stack: &TestStack, resource: &str, minutes: Value) -> grantdesk_e2e::Reply {
    stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": resource, "reason": "on-call", "duration_minutes": minutes}),
        )
        .await
}

#[tokio::test]
async fn josh_is_approved_by_a_reviewer_shown_on_the_users_tab_and_removed_by_an_admin() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;

    let created = request(&stack, &demo.resource, json!(60)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["grant"], Value::Null);
    let id = created.str("id");

    let pending = stack.get(RILEY, "/requests?review=pending").await;
    assert_eq!(pending.status, 200);
    let ids: Vec<&str> = pending.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "the reviewer sees the request waiting");
    assert_eq!(
        stack.get(SAM, "/requests?review=pending").await.body["items"],
        json!([]),
        "a stranger reviews nothing"
    );

    let approved = stack
        .post(RILEY, &format!("/requests/{id}/approve"), json!({"comment": "ok"}))
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(approved.body["grant"]["status"], "active");
    let granted_at =
        chrono::DateTime::parse_from_rfc3339(approved.body["grant"]["granted_at"].as_str().unwrap()).unwrap();
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(approved.body["grant"]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at - granted_at, chrono::Duration::minutes(60));
    assert_eq!(
        stack.get(RILEY, "/requests?review=pending").await.body["items"],
        json!([]),
        "no longer pending"
    );

    let tab = stack.get(RILEY, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.status, 200, "{:?}", tab.body);
    let users = tab.body["items"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["user_id"], demo.josh.as_str());
    assert_eq!(users[0]["email"], JOSH);
    assert_eq!(users[0]["status"], "active");
    assert_eq!(users[0]["source"], "request");
    assert_eq!(users[0]["expires_at"], approved.body["grant"]["expires_at"]);
    assert_eq!(users[0]["propagation"]["status"], "not_required");
    assert_eq!(users[0]["linked_ticket"], Value::Null);

    let removed = stack
        .call(
            ADMIN,
            Method::DELETE,
            &format!("/resources/{}/users/{}", demo.resource, demo.josh),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    let again = stack
        .call(
            ADMIN,
            Method::DELETE,
            &format!("/resources/{}/users/{}", demo.resource, demo.josh),
            None,
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "grant_not_active"));

    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"][0]["status"], "revoked");
    assert!(tab.body["items"][0]["ended_at"].is_string());
    let seen_by_josh = stack.get(JOSH, &format!("/requests/{id}")).await;
    assert_eq!(seen_by_josh.status, 200);
    assert_eq!(seen_by_josh.body["grant"]["status"], "revoked");
    assert_eq!(
        stack.get(JOSH, "/requests").await.body["items"][0]["id"],
        id.as_str(),
        "Josh lists his own requests"
    );
}

#[tokio::test]
async fn a_requester_cannot_review_their_own_request_and_a_stranger_cannot_review_at_all() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let id = request(&stack, &demo.resource, json!(30)).await.str("id");

    let own = stack.post(JOSH, &format!("/requests/{id}/approve"), json!({})).await;
    assert_eq!((own.status, own.code()), (403, "cannot_review_own_request"));
    let own_deny = stack
        .post(JOSH, &format!("/requests/{id}/deny"), json!({"comment": "no"}))
        .await;
    assert_eq!(own_deny.status, 403);
    let stranger = stack.post(SAM, &format!("/requests/{id}/approve"), json!({})).await;
    assert_eq!((stranger.status, stranger.code()), (403, "forbidden"));
    let stranger_cancel = stack.post(SAM, &format!("/requests/{id}/cancel"), json!({})).await;
    assert_eq!(stranger_cancel.status, 403);
    assert_eq!(
        stack.get(SAM, &format!("/requests/{id}")).await.status,
        403,
        "strangers cannot read it"
    );

    let still = stack.get(JOSH, &format!("/requests/{id}")).await;
    assert_eq!(
        still.body["status"], "pending",
        "nothing was written by the refused calls"
    );
    let org_admin = stack.post(ADMIN, &format!("/requests/{id}/approve"), json!({})).await;
    assert_eq!(
        org_admin.status, 200,
        "org admins may review anything: {:?}",
        org_admin.body
    );
}

#[tokio::test]
async fn repeating_a_finished_transition_is_a_conflict() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;

    let denied = request(&stack, &demo.resource, json!(30)).await.str("id");
    let no_comment = stack.post(RILEY, &format!("/requests/{denied}/deny"), json!({})).await;
    assert_eq!((no_comment.status, no_comment.code()), (400, "comment_required"));
    let deny = stack
        .post(
            RILEY,
            &format!("/requests/{denied}/deny"),
            json!({"comment": "use the read-only role"}),
        )
        .await;
    assert_eq!(deny.status, 200);
    assert_eq!(deny.body["decision"]["comment"], "use the read-only role");
    let approve_denied = stack
        .post(RILEY, &format!("/requests/{denied}/approve"), json!({}))
        .await;
    assert_eq!(
        (approve_denied.status, approve_denied.code()),
        (409, "request_not_pending")
    );
    let cancel_denied = stack.post(JOSH, &format!("/requests/{denied}/cancel"), json!({})).await;
    assert_eq!(cancel_denied.status, 409);

    let canceled = request(&stack, &demo.resource, json!(30)).await.str("id");
    assert_eq!(
        stack
            .post(JOSH, &format!("/requests/{canceled}/cancel"), Value::Null)
            .await
            .status,
        200
    );
    assert_eq!(
        stack
            .post(JOSH, &format!("/requests/{canceled}/cancel"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{canceled}/approve"), json!({}))
            .await
            .status,
        409
    );

    let approved = request(&stack, &demo.resource, json!(30)).await.str("id");
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{approved}/approve"), json!({}))
            .await
            .status,
        200
    );
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{approved}/approve"), json!({}))
            .await
            .status,
        409
    );
    assert_eq!(
        stack
            .post(RILEY, &format!("/requests/{approved}/deny"), json!({"comment": "x"}))
            .await
            .status,
        409
    );
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(
        tab.body["items"].as_array().unwrap().len(),
        1,
        "one grant, however often it is approved"
    );
}

#[tokio::test]
async fn durations_are_checked_against_the_resource_and_bad_ones_are_bad_input() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;

    let above = request(&stack, &demo.resource, json!(481)).await;
    assert_eq!((above.status, above.code()), (422, "duration_exceeds_maximum"));
    let indefinite = request(&stack, &demo.resource, Value::Null).await;
    assert_eq!((indefinite.status, indefinite.code()), (422, "duration_required"));
    for bad in [json!(0), json!(-5), json!(1.5), json!("60"), json!(1_000_000_000_i64)] {
        let reply = request(&stack, &demo.resource, bad.clone()).await;
        assert_eq!((reply.status, reply.code()), (400, "invalid_body"), "duration {bad}");
    }
    assert_eq!(
        stack.get(JOSH, "/requests").await.body["items"],
        json!([]),
        "no refused request was stored"
    );
    assert_eq!(
        request(&stack, &demo.resource, json!(480)).await.status,
        201,
        "the maximum itself is fine"
    );

    let hand_above = stack
        .post(
            RILEY,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": demo.stranger, "duration_minutes": 999}),
        )
        .await;
    assert_eq!(hand_above.status, 422);
    let hand_indefinite = stack
        .post(
            RILEY,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": demo.stranger}),
        )
        .await;
    assert_eq!(
        (hand_indefinite.status, hand_indefinite.code()),
        (422, "duration_required")
    );
    let tab = stack.get(ADMIN, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"], json!([]), "refused hand adds wrote nothing");
}

#[tokio::test]
async fn malformed_oversized_and_unknown_inputs_get_clear_4xx() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let token = stack.token(JOSH);

    let malformed = stack
        .raw(Method::POST, "/requests", Some(&token), b"{not json".to_vec())
        .await;
    assert_eq!((malformed.status, malformed.code()), (400, "invalid_body"));
    let wrong_type = stack.post(JOSH, "/requests", json!({"resource_id": 42})).await;
    assert_eq!((wrong_type.status, wrong_type.code()), (400, "invalid_body"));
    let empty = stack.raw(Method::POST, "/requests", Some(&token), Vec::new()).await;
    assert_eq!(empty.status, 400);
    let huge = format!(
        r#"{{"resource_id":"{}","reason":"{}"}}"#,
        demo.resource,
        "x".repeat(300 * 1024)
    );
    let oversized = stack
        .raw(Method::POST, "/requests", Some(&token), huge.into_bytes())
        .await;
    assert_eq!((oversized.status, oversized.code()), (413, "body_too_large"));

    assert_eq!(
        stack
            .post(JOSH, "/requests", json!({"resource_id": "res_nope"}))
            .await
            .status,
        404
    );
    assert_eq!(
        stack
            .post(JOSH, "/requests", json!({"resource_id": "../../etc"}))
            .await
            .status,
        404
    );
    assert_eq!(stack.get(JOSH, "/requests/req_unknown").await.status, 404);
    assert_eq!(
        stack
            .post(RILEY, "/requests/req_unknown/approve", json!({}))
            .await
            .status,
        404
    );
    assert_eq!(stack.get(ADMIN, "/resources/res_unknown/users").await.status, 404);
    assert_eq!(stack.get(ADMIN, "/nowhere").await.status, 404);
    let unknown_user = stack
        .post(
            ADMIN,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": "usr_ghost", "duration_minutes": 5}),
        )
        .await;
    assert_eq!(unknown_user.status, 404);
    let bad_review = stack.get(JOSH, "/requests?review=everything").await;
    assert_eq!(bad_review.status, 400);
    let bad_limit = stack.get(ADMIN, "/users?limit=0").await;
    assert_eq!((bad_limit.status, bad_limit.code()), (400, "invalid_limit"));
    let bad_token = stack.get(ADMIN, "/users?next_token=garbage").await;
    assert_eq!((bad_token.status, bad_token.code()), (400, "invalid_next_token"));
    assert_eq!(stack.get(JOSH, "/requests").await.body["items"], json!([]));
}

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthorized() {
    let stack = TestStack::start().await;
    let none = stack.raw(Method::GET, "/me", None, Vec::new()).await;
    assert_eq!((none.status, none.code()), (401, "unauthorized"));
    let forged = grantdesk_local::dev_token::DevTokenSecret::new("some-other-secret-value")
        .unwrap()
        .mint(ADMIN, "A", 60);
    assert_eq!(
        stack.raw(Method::GET, "/me", Some(&forged), Vec::new()).await.status,
        401
    );
    let expired = stack.raw(Method::GET, "/settings", Some("a.b.c"), Vec::new()).await;
    assert_eq!(expired.status, 401);
    let openapi = stack.raw(Method::GET, "/openapi.json", None, Vec::new()).await;
    assert_eq!(openapi.status, 200, "the contract is public");
    assert!(openapi.body["paths"]["/requests/{id}/approve"]["post"].is_object());
}

#[tokio::test]
async fn a_first_call_creates_a_non_admin_user_and_bootstrap_admins_are_admins() {
    let stack = TestStack::start().await;
    let newcomer = stack.get("New.Person@Example.test", "/me").await;
    assert_eq!(newcomer.status, 200);
    assert_eq!(newcomer.body["email"], "new.person@example.test");
    assert_eq!(newcomer.body["is_admin"], false);
    let again = stack.get("new.person@example.test", "/me").await;
    assert_eq!(
        again.body["id"], newcomer.body["id"],
        "the same user, matched case-insensitively"
    );
    assert_eq!(stack.get(ADMIN, "/me").await.body["is_admin"], true);

    for (method, path, body) in [
        (
            Method::POST,
            "/users",
            Some(json!({"email": "x@example.test", "name": "X"})),
        ),
        (Method::GET, "/users", None),
        (Method::POST, "/groups", Some(json!({"name": "g"}))),
        (Method::PUT, "/settings", Some(json!({"require_ticket_link": true}))),
        (Method::GET, "/settings", None),
        (Method::POST, "/apps", Some(json!({"name": "a"}))),
        (Method::GET, "/resources", None),
    ] {
        let reply = stack.call("new.person@example.test", method.clone(), path, body).await;
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{method} {path}");
    }
    let duplicate = stack
        .post(
            ADMIN,
            "/users",
            json!({"email": "NEW.person@example.test", "name": "Dup"}),
        )
        .await;
    assert_eq!((duplicate.status, duplicate.code()), (409, "email_taken"));
    let bad_email = stack
        .post(ADMIN, "/users", json!({"email": "not-an-email", "name": "X"}))
        .await;
    assert_eq!(bad_email.status, 400);
}
