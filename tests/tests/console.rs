//! The console over plain HTTP: signing in at the sandbox OpenID provider, the checks on the ID
//! token, the session cookie and the CSRF token, the local gateway taking the provider's access
//! tokens, and the pages' refusals. The browser tests (`console_browser.rs`) drive the same pages
//! in Chromium.

use grantdesk_console::session::{Session, SESSION_COOKIE};
use grantdesk_e2e::{TestStack, ADMIN};
use grantdesk_local::oidc_provider::Fault;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The value of cookie `name` set by `response`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let value = text.strip_prefix(&format!("{name}="))?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// What a sign-in ended with: the session cookie, or the callback's status and page.
async fn sign_in(stack: &TestStack, email: &str) -> Result<String, (u16, String)> {
    let http = client();
    let api = &stack.stack.api_url;
    let start = http
        .get(format!("{api}/console/auth/login?return_to=/console/reviews"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let login = set_cookie(&start, "grantdesk_login").expect("a sign-in state cookie");
    let authorize = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", stack.stack.issuer)),
        "{authorize}"
    );
    let page = http.get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("Sign in as Josh") && page.contains("Sign in as Riley Reviewer"),
        "{page}"
    );
    let mut params: Vec<(String, String)> = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    params.push(("email".into(), email.into()));
    let chosen = http
        .post(format!("{}/authorize", stack.stack.issuer))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 303);
    let callback = chosen.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{api}/console/auth/callback?code=")),
        "{callback}"
    );
    let done = http
        .get(&callback)
        .header(COOKIE, format!("grantdesk_login={login}"))
        .send()
        .await
        .unwrap();
    let status = done.status().as_u16();
    match set_cookie(&done, SESSION_COOKIE) {
        Some(session) if status == 303 => {
            assert_eq!(
                done.headers()[LOCATION],
                "/console/reviews",
                "back where the sign-in started"
            );
            Ok(session)
        }
        _ => Err((status, done.text().await.unwrap())),
    }
}

async fn page(stack: &TestStack, path: &str, session: &str) -> (u16, String) {
    let reply = client()
        .get(format!("{}{path}", stack.stack.api_url))
        .header(COOKIE, format!("{SESSION_COOKIE}={session}"))
        .send()
        .await
        .unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

/// The CSRF token in a page's forms.
fn csrf(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a form with a CSRF token") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn signing_in_opens_a_session_for_the_same_person_the_api_knows() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    // Josh used the JSON API with a dev token first: it binds him as issued by the sandbox
    // provider, so signing in to the console finds the same account.
    assert_eq!(stack.get("josh@example.test", "/me").await.status, 200);
    let session = sign_in(&stack, "josh@example.test").await.expect("Josh signs in");
    let (status, html) = page(&stack, "/console/requests", &session).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("My requests") && html.contains("Request access") && html.contains("My Role"),
        "{html}"
    );
    assert!(
        !html.contains("/console/inventory"),
        "Josh is no org admin: no admin links"
    );

    // Admin pages answer 403 for him.
    let (status, html) = page(&stack, "/console/inventory", &session).await;
    assert_eq!(status, 403);
    assert!(html.contains("Not allowed"), "{html}");
    assert_eq!(page(&stack, "/console/settings", &session).await.0, 403);
    assert_eq!(
        page(&stack, &format!("/console/resources/{}", demo.resource), &session)
            .await
            .0,
        403
    );

    // The admin sees the admin links.
    let admin = sign_in(&stack, ADMIN).await.expect("the admin signs in");
    let (status, html) = page(&stack, "/console/inventory", &admin).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Inventory") && html.contains("My Role") && html.contains("/console/settings"),
        "{html}"
    );
}

#[tokio::test]
async fn the_gateway_takes_the_providers_access_tokens_and_refuses_altered_ones() {
    let stack = TestStack::start().await;
    let oidc = stack.stack.sandbox_oidc.clone().expect("the sandbox provider");
    let token = oidc.access_token("Pat@Example.com", "Pat");
    let me = stack.raw(reqwest::Method::GET, "/me", Some(&token), vec![]).await;
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["email"], "pat@example.com");
    // A dev token for the same person is the same identity.
    assert_eq!(stack.get("pat@example.com", "/me").await.body["id"], me.body["id"]);

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    claims["email"] = json!("admin@example.test");
    parts[1] = engine.encode(claims.to_string());
    let forged = parts.join(".");
    let refused = stack.raw(reqwest::Method::GET, "/me", Some(&forged), vec![]).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
}

#[tokio::test]
async fn id_tokens_for_another_client_with_another_nonce_or_expired_open_no_session() {
    let stack = TestStack::start().await;
    let oidc = stack.stack.sandbox_oidc.clone().unwrap();
    for (fault, says) in [
        (Fault::WrongAudience, "issued for another client"),
        (Fault::WrongNonce, "its nonce is not this sign-in"),
        (Fault::Expired, "expired"),
    ] {
        oidc.fault_next(fault);
        let (status, html) = sign_in(&stack, "josh@example.com").await.expect_err("refused");
        assert_eq!(status, 401, "{fault:?}");
        assert!(html.contains(says), "{fault:?}: {html}");
    }
    assert!(
        sign_in(&stack, "josh@example.com").await.is_ok(),
        "the next sign-in works"
    );
}

#[tokio::test]
async fn a_callback_with_another_state_or_without_the_sign_in_cookie_is_refused() {
    let stack = TestStack::start().await;
    let http = client();
    let api = &stack.stack.api_url;
    let start = http.get(format!("{api}/console/auth/login")).send().await.unwrap();
    let login = set_cookie(&start, "grantdesk_login").unwrap();
    let wrong_state = http
        .get(format!("{api}/console/auth/callback?code=x&state=another"))
        .header(COOKIE, format!("grantdesk_login={login}"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_state.status(), 401);
    assert!(set_cookie(&wrong_state, SESSION_COOKIE).is_none());
    let no_cookie = http
        .get(format!("{api}/console/auth/callback?code=x&state=y"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 401);
    assert!(no_cookie.text().await.unwrap().contains("Sign in again"));
}

#[tokio::test]
async fn forged_and_expired_sessions_and_posts_without_the_csrf_token_change_nothing() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let created = stack
        .post(
            "josh@example.test",
            "/requests",
            json!({"resource_id": demo.resource, "reason": "r", "duration_minutes": 30}),
        )
        .await;
    let request = created.str("id");
    let riley = sign_in(&stack, "riley@example.test").await.unwrap();
    let (status, reviews) = page(&stack, "/console/reviews", &riley).await;
    assert_eq!(status, 200);
    assert!(reviews.contains(&request), "Riley's queue lists the request");
    let token = csrf(&reviews);
    let approve = |session: String, form: Vec<(&'static str, String)>| {
        let url = format!("{}/console/requests/{request}/approve", stack.stack.api_url);
        async move {
            client()
                .post(url)
                .header(COOKIE, format!("{SESSION_COOKIE}={session}"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };

    // Without the form token, with another one, nothing happens.
    assert_eq!(approve(riley.clone(), vec![]).await.status(), 403);
    assert_eq!(
        approve(riley.clone(), vec![("csrf", "made-up".into())]).await.status(),
        403
    );

    // A session someone wrote themselves, or one whose time is up, is no session.
    let key = &stack.stack.session_key;
    let now = chrono::Utc::now().timestamp();
    let session = |expires_at: i64| Session {
        iss: stack.stack.issuer.clone(),
        sub: "riley@example.test".to_owned(),
        email: "riley@example.test".to_owned(),
        name: None,
        expires_at,
        csrf: "known".into(),
        admin: false,
    };
    let expired = key.seal_session(&session(now - 1));
    assert_eq!(approve(expired, vec![("csrf", "known".into())]).await.status(), 401);
    let other_key = grantdesk_console::session::SessionKey::new("someone else's key, thirty-two bytes").unwrap();
    let forged = other_key.seal_session(&session(now + 600));
    assert_eq!(
        approve(forged.clone(), vec![("csrf", "known".into())]).await.status(),
        401
    );
    let (status, _) = page(&stack, "/console/reviews", &forged).await;
    assert_eq!(status, 303, "a page asked for with a forged session goes to sign-in");
    assert_eq!(
        stack
            .get("riley@example.test", &format!("/requests/{request}"))
            .await
            .body["status"],
        "pending"
    );

    // With the session's form token, the approval goes through the API's use case.
    let approved = approve(riley, vec![("csrf", token)]).await;
    assert_eq!(approved.status(), 303);
    assert_eq!(
        approved.headers()[LOCATION].to_str().unwrap(),
        format!("/console/requests/{request}?done=approve")
    );
    let now = stack.get("riley@example.test", &format!("/requests/{request}")).await;
    assert_eq!(now.body["status"], "approved");
    assert_eq!(now.body["decision"]["by"], demo.riley.as_str());
}

#[tokio::test]
async fn console_pages_carry_the_security_headers_and_escape_what_people_typed() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let reason = "<script>alert(1)</script> & \"quotes\"";
    let created = stack
        .post(
            "josh@example.test",
            "/requests",
            json!({"resource_id": demo.resource, "reason": reason, "duration_minutes": 30}),
        )
        .await;
    let josh = sign_in(&stack, "josh@example.test").await.unwrap();
    let reply = client()
        .get(format!(
            "{}/console/requests/{}",
            stack.stack.api_url,
            created.str("id")
        ))
        .header(COOKIE, format!("{SESSION_COOKIE}={josh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let headers = reply.headers().clone();
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "same-origin");
    let html = reply.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"), "typed text is escaped");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"),
        "{html}"
    );
    let start = client()
        .get(format!("{}/console/auth/login", stack.stack.api_url))
        .send()
        .await
        .unwrap();
    let cookie = start.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "loopback http keeps cookies usable");
}

/// DynamoDB round trips per page, counted. Each page calls the API in-process once per thing it
/// shows; each call reads the caller with the route's records in one BatchGetItem.
#[tokio::test]
async fn console_pages_make_the_counted_dynamodb_round_trips() {
    // Without the stream consumer, only the pages' own calls are counted.
    let stack = TestStack::start_without_stream().await;
    let demo = stack.demo().await;
    stack
        .post(
            "josh@example.test",
            "/requests",
            json!({"resource_id": demo.resource, "reason": "r", "duration_minutes": 30}),
        )
        .await;
    let riley = sign_in(&stack, "riley@example.test").await.unwrap();
    let resource = format!("/console/resources/{}", demo.resource);
    let pages = ["/console/requests", "/console/reviews", resource.as_str()];
    // Warm, as a Lambda container is after its first calls: the process has read the
    // pagination key and each caller's e-mail claim once.
    for path in pages {
        page(&stack, path, &riley).await;
    }
    let mut counted = Vec::new();
    for path in pages {
        stack.stack.dynamodb_calls.reset();
        let (status, _) = page(&stack, path, &riley).await;
        assert_eq!(status, 200, "{path}");
        counted.push((path, stack.stack.dynamodb_calls.snapshot()));
    }
    let counts = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    assert_eq!(
        counted,
        vec![
            ("/console/requests", counts(&[("BatchGetItem", 1), ("Query", 2)])),
            // Two API calls, each one batch and one list.
            ("/console/reviews", counts(&[("BatchGetItem", 2), ("Query", 2)])),
            // The Users tab (empty: no batch of its lines), and the resource's name read directly.
            (
                resource.as_str(),
                counts(&[("BatchGetItem", 1), ("GetItem", 1), ("Query", 1)])
            ),
        ]
    );
}
