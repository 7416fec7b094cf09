//! What an attacker tries, refused with nothing changed: tokens for someone else's address,
//! resource admins promoting themselves, bodies of the wrong shape, forged page tokens,
//! webhooks that probe which providers exist or arrive twice at once, redirects.

use grantdesk_e2e::{eventually, Reply, TestStack, ADMIN, JOSH, RILEY};
use grantdesk_local::sandbox::{hex, hmac_sha256, Sandboxes};
use reqwest::Method;
use serde_json::{json, Value};

async fn me_with(stack: &TestStack, token: &str) -> Reply {
    stack.raw(Method::GET, "/me", Some(token), Vec::new()).await
}

#[tokio::test]
async fn a_token_with_an_unverified_email_or_another_subject_is_refused_until_an_admin_clears_the_binding() {
    let stack = TestStack::start().await;
    let secret = stack.dev_secret();
    for unverified in [json!(false), json!("false")] {
        let token = secret.mint_with(JOSH, "Josh", 600, &json!({"email_verified": unverified}));
        let reply = me_with(&stack, &token).await;
        assert_eq!(
            (reply.status, reply.code()),
            (401, "email_not_verified"),
            "{unverified}"
        );
    }
    let verified = secret.mint_with(
        JOSH,
        "Josh",
        600,
        &json!({"email_verified": true, "iss": "https://idp.example", "sub": "josh-1"}),
    );
    let first = me_with(&stack, &verified).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let josh = first.str("id");

    // Same e-mail, another account at the identity provider (or another provider).
    for other in [
        json!({"iss": "https://idp.example", "sub": "someone-else"}),
        json!({"iss": "https://other-idp.example", "sub": "josh-1"}),
        json!({"sub": "josh-1"}),
    ] {
        let token = secret.mint_with(JOSH, "Josh", 600, &other);
        let reply = me_with(&stack, &token).await;
        assert_eq!((reply.status, reply.code()), (401, "identity_mismatch"), "{other}");
    }
    assert_eq!(
        me_with(&stack, &verified).await.str("id"),
        josh,
        "the bound account still works"
    );

    // Bootstrap admins are bound like anyone else.
    let admin = stack.get(ADMIN, "/me").await;
    assert_eq!(admin.body["is_admin"], true);
    let impostor = secret.mint_with(ADMIN, "Admin", 600, &json!({"sub": "not-the-admin"}));
    assert_eq!(me_with(&stack, &impostor).await.code(), "identity_mismatch");

    // Only an org admin clears a binding; then the next token binds again.
    let path = format!("/users/{josh}/identity");
    let by_josh = stack.raw(Method::DELETE, &path, Some(&verified), Vec::new()).await;
    assert_eq!(by_josh.status, 403);
    let cleared = stack.call(ADMIN, Method::DELETE, &path, None).await;
    assert_eq!(cleared.status, 204, "{:?}", cleared.body);
    let recreated = secret.mint_with(
        JOSH,
        "Josh",
        600,
        &json!({"iss": "https://idp.example", "sub": "josh-2"}),
    );
    let rebound = me_with(&stack, &recreated).await;
    assert_eq!((rebound.status, rebound.str("id")), (200, josh.clone()));
    assert_eq!(me_with(&stack, &verified).await.code(), "identity_mismatch");
    let unknown = stack
        .call(ADMIN, Method::DELETE, "/users/usr_unknown/identity", None)
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_resource_admin_cannot_make_himself_an_approver_or_add_himself() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let path = format!("/resources/{}", demo.resource);
    let before = stack.get(ADMIN, &path).await.body;
    let riley_group = stack
        .post(
            ADMIN,
            "/groups",
            json!({"name": "Riley alone", "member_ids": [demo.riley]}),
        )
        .await
        .str("id");
    for patch in [
        json!({"request_config": {"auto_approve": true}}),
        json!({"request_config": {"reviewer_group_id": riley_group}}),
        json!({"request_config": {"reviewer_group_id": null}}),
        json!({"admin_group_id": riley_group}),
        json!({"name": "Renamed", "request_config": {"auto_approve": true}}),
    ] {
        let reply = stack.call(RILEY, Method::PATCH, &path, Some(patch.clone())).await;
        assert_eq!((reply.status, reply.code()), (403, "forbidden"), "{patch}");
    }
    assert_eq!(stack.get(ADMIN, &path).await.body, before, "nothing changed");
    let allowed = stack
        .call(
            RILEY,
            Method::PATCH,
            &path,
            Some(json!({"name": "My Role (prod)", "request_config": {"require_ticket_link": false, "max_duration_minutes": 240}})),
        )
        .await;
    assert_eq!(allowed.status, 200, "{:?}", allowed.body);
    let by_admin = stack
        .call(
            ADMIN,
            Method::PATCH,
            &path,
            Some(json!({"request_config": {"auto_approve": false}})),
        )
        .await;
    assert_eq!(by_admin.status, 200);

    let users = format!("/resources/{}/users", demo.resource);
    let own = stack
        .post(RILEY, &users, json!({"user_id": demo.riley, "duration_minutes": 60}))
        .await;
    assert_eq!((own.status, own.code()), (403, "cannot_grant_self"));
    let admin_self = stack.get(ADMIN, "/me").await.str("id");
    let own = stack
        .post(ADMIN, &users, json!({"user_id": admin_self, "duration_minutes": 60}))
        .await;
    assert_eq!((own.status, own.code()), (403, "cannot_grant_self"), "org admins too");
    assert_eq!(stack.get(ADMIN, &users).await.body["items"], json!([]));
}

#[tokio::test]
async fn a_propagation_ticket_is_never_assigned_to_the_user_it_is_about() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    // Riley and Sam administer the resource; both have Jira accounts.
    let members = json!({"member_ids": [demo.riley, demo.stranger]});
    let reply = stack
        .call(
            ADMIN,
            Method::PUT,
            &format!("/groups/{}/members", demo.admins),
            Some(members),
        )
        .await;
    assert_eq!(reply.status, 200);
    let riley_account = sandboxes
        .jira
        .with(|j, _| (j.add_user(RILEY, "Riley", false), vec![]))
        .await;
    let sam_account = sandboxes
        .jira
        .with(|j, _| (j.add_user("sam@example.test", "Sam", false), vec![]))
        .await;
    stack.connect_jira(&sandboxes, json!({"project": "OPS"})).await;
    stack.propagate_to_jira(&demo.resource, true, true).await;

    // Riley asks for access himself; the admin approves; the grant ticket must go to Sam.
    let created = stack
        .post(
            RILEY,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "debugging", "duration_minutes": 60}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let approved = stack
        .post(ADMIN, &format!("/requests/{}/approve", created.str("id")), json!({}))
        .await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    // Riley removes himself by hand: the removal ticket must not be his either.
    let users = format!("/resources/{}/users", demo.resource);
    let removed = stack
        .call(RILEY, Method::DELETE, &format!("{users}/{}", demo.riley), None)
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    let issues = eventually("both tickets filed", || async {
        let issues = sandboxes.jira.with(|j, _| (j.issues.clone(), vec![])).await;
        (issues.len() == 2).then_some(issues)
    })
    .await;
    for issue in &issues {
        assert_ne!(
            issue.assignee.as_deref(),
            Some(riley_account.as_str()),
            "{}",
            issue.summary
        );
        assert_eq!(
            issue.assignee.as_deref(),
            Some(sam_account.as_str()),
            "{}",
            issue.summary
        );
    }
}

#[tokio::test]
async fn bodies_must_be_objects_comments_are_bounded_and_unknown_methods_are_405() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let put = stack
        .call(
            ADMIN,
            Method::PUT,
            "/settings",
            Some(json!({"require_ticket_link": true})),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    for body in ["[]", "\"text\"", "42", "null", "true"] {
        let reply = stack
            .raw(
                Method::PUT,
                "/settings",
                Some(&stack.token(ADMIN)),
                body.as_bytes().to_vec(),
            )
            .await;
        assert_eq!((reply.status, reply.code()), (400, "invalid_body"), "{body}");
    }
    assert_eq!(
        stack.get(ADMIN, "/settings").await.body["require_ticket_link"],
        true,
        "the settings were not reset"
    );
    let put = stack
        .call(
            ADMIN,
            Method::PUT,
            "/settings",
            Some(json!({"require_ticket_link": false})),
        )
        .await;
    assert_eq!(put.status, 200);

    let created = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "x", "duration_minutes": 30}),
        )
        .await;
    let cancel = format!("/requests/{}/cancel", created.str("id"));
    let long = stack.post(JOSH, &cancel, json!({"comment": "x".repeat(2_001)})).await;
    assert_eq!((long.status, long.code()), (400, "invalid_body"));
    assert_eq!(
        stack.get(JOSH, &format!("/requests/{}", created.str("id"))).await.body["status"],
        "pending"
    );
    let reason = stack
        .post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "reason": "r".repeat(4_001), "duration_minutes": 30}),
        )
        .await;
    assert_eq!((reason.status, reason.code()), (400, "invalid_body"));
    let fits = stack.post(JOSH, &cancel, json!({"comment": "x".repeat(2_000)})).await;
    assert_eq!(fits.status, 200, "{:?}", fits.body);

    for (method, path, allow) in [
        (Method::DELETE, "/me".to_owned(), "GET"),
        (Method::POST, "/settings".to_owned(), "GET, PUT"),
        (Method::GET, format!("/requests/{}/approve", created.str("id")), "POST"),
        (Method::PUT, format!("/resources/{}/users", demo.resource), "GET, POST"),
    ] {
        let response = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", stack.stack.api_url))
            .bearer_auth(stack.token(ADMIN))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
    assert_eq!(stack.get(ADMIN, "/no/such/path").await.status, 404);
}

#[tokio::test]
async fn forged_altered_and_foreign_page_tokens_are_refused_without_a_query() {
    let stack = TestStack::start().await;
    for i in 0..3 {
        stack.user(&format!("user{i}@example.test"), &format!("User {i}")).await;
        stack
            .post(
                ADMIN,
                "/groups",
                json!({"name": format!("Group {i}"), "member_ids": []}),
            )
            .await;
    }
    let first = stack.get(ADMIN, "/users?limit=2").await;
    let token = first.str("next_token");
    let second = stack.get(ADMIN, &format!("/users?limit=2&next_token={token}")).await;
    assert_eq!(second.status, 200, "a genuine token works");
    let groups_token = stack.get(ADMIN, "/groups?limit=1").await.str("next_token");

    let (payload, tag) = token.split_once('.').expect("payload.tag");
    let mut flipped = payload.to_owned().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let altered = format!("{}.{tag}", String::from_utf8(flipped).unwrap());
    stack.stack.dynamodb_calls.reset();
    for forged in [
        "garbage".to_owned(),
        "eyJwayI6IlVTRVIjeCJ9".to_owned(),
        altered,
        format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA"),
        groups_token,
    ] {
        let reply = stack.get(ADMIN, &format!("/users?next_token={forged}")).await;
        assert_eq!((reply.status, reply.code()), (400, "invalid_next_token"), "{forged}");
    }
    let calls = stack.stack.dynamodb_calls.snapshot();
    assert_eq!(calls.get("Query"), None, "no list was read: {calls:?}");
}

#[tokio::test]
async fn webhooks_answer_alike_for_unconnected_providers_and_a_delivery_sent_twice_at_once_is_applied_once() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    stack
        .connect_jira(&sandboxes, json!({"webhook_secret": "jira-secret"}))
        .await;
    let http = reqwest::Client::new();
    let body = json!({"timestamp": chrono::Utc::now().timestamp_millis(), "issue": {"id": "424242"}}).to_string();
    let forged = format!("sha256={}", hex(&hmac_sha256("guess", body.as_bytes())));
    let mut answers = Vec::new();
    for provider in ["jira", "servicenow", "linear"] {
        let response = http
            .post(format!("{}/webhooks/{provider}", stack.stack.api_url))
            .header("X-Hub-Signature", &forged)
            .header("X-Grantdesk-Timestamp", chrono::Utc::now().timestamp().to_string())
            .header("X-Grantdesk-Signature", "Zm9yZ2Vk")
            .header("Linear-Signature", "00")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 401);

    let signed = format!("sha256={}", hex(&hmac_sha256("jira-secret", body.as_bytes())));
    let send = || {
        http.post(format!("{}/webhooks/jira", stack.stack.api_url))
            .header("X-Hub-Signature", &signed)
            .body(body.clone())
            .send()
    };
    let (a, b) = tokio::join!(send(), send());
    let mut statuses: Vec<String> = Vec::new();
    for response in [a.unwrap(), b.unwrap()] {
        assert_eq!(response.status(), 200);
        statuses.push(
            response.json::<Value>().await.unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    statuses.sort();
    assert_eq!(
        statuses,
        ["duplicate", "ignored"],
        "exactly one of the two is processed"
    );
}

/// A loopback server that answers every request with `answer` (raw HTTP); its base URL.
async fn answering(answer: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let _ = socket.write_all(&answer).await;
        }
    });
    url
}

fn jira_body(base_url: &str) -> Value {
    json!({"base_url": base_url, "email": grantdesk_local::sandbox::JIRA_EMAIL,
        "api_token": grantdesk_local::sandbox::JIRA_API_TOKEN, "webhook_secret": "s"})
}

#[tokio::test]
async fn a_provider_that_redirects_is_not_followed_its_pages_are_not_echoed_and_sync_now_is_limited() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    // A server that sends every request on to the sandbox Jira.
    let target = sandboxes.jira.url().to_owned();
    let redirector = answering(
        format!("HTTP/1.1 302 Found\r\nLocation: {target}/rest/api/3/myself\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes(),
    )
    .await;
    sandboxes.jira.clear_requests();
    let reply = stack
        .call(ADMIN, Method::PUT, "/integrations/jira", Some(jira_body(&redirector)))
        .await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    assert!(sandboxes.jira.requests().is_empty(), "the redirect was not followed");

    // Whatever a base URL answers stays out of grantdesk's own answer.
    let page = b"internal admin page: db password hunter2";
    let mut refusing = format!(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        page.len()
    )
    .into_bytes();
    refusing.extend_from_slice(page);
    let refusing = answering(refusing).await;
    let reply = stack
        .call(ADMIN, Method::PUT, "/integrations/jira", Some(jira_body(&refusing)))
        .await;
    assert_eq!((reply.status, reply.code()), (422, "invalid_credentials"));
    assert!(!reply.body.to_string().contains("hunter2"), "{:?}", reply.body);
    // An answer larger than 2 MiB is not read to the end.
    let mut huge = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b' ', 3 * 1024 * 1024));
    let huge = answering(huge).await;
    let reply = stack
        .call(ADMIN, Method::PUT, "/integrations/jira", Some(jira_body(&huge)))
        .await;
    assert!(reply.status == 422 || reply.status == 502, "{:?}", reply.body);
    assert_eq!(
        stack.get(ADMIN, "/integrations").await.body["items"],
        json!([]),
        "nothing saved"
    );

    let demo = stack.demo().await;
    let sync = format!("/resources/{}/sync", demo.resource);
    assert_eq!(stack.post(RILEY, &sync, json!({})).await.status, 202);
    let response = reqwest::Client::new()
        .post(format!("{}{sync}", stack.stack.api_url))
        .bearer_auth(stack.token(RILEY))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
}
