//! DynamoDB round trips per API call, counted exactly with the SDK interceptor: the caller's
//! user item (with their groups) and the route's records come in one `BatchGetItem`, and a
//! mutation writes in one call. Counted on a stack without the stream consumer, so only the
//! call's own work is counted, and in a warm process (the user's id and the resource's app
//! already seen once, as in a warm Lambda container).

use grantdesk_e2e::{TestStack, ADMIN};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const JOSH: &str = "josh@example.test";
const RILEY: &str = "riley@example.test";

/// The DynamoDB calls, by operation, that `call` makes.
async fn counted(
    stack: &TestStack,
    call: impl std::future::Future<Output = grantdesk_e2e::Reply>,
) -> (BTreeMap<String, u64>, grantdesk_e2e::Reply) {
    // A future does nothing until awaited: the count starts here.
    stack.stack.dynamodb_calls.reset();
    let reply = call.await;
    let calls = stack.stack.dynamodb_calls.snapshot();
    (calls, reply)
}

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn each_request_route_costs_at_most_two_dynamodb_round_trips() {
    let stack = TestStack::start_without_stream().await;
    let demo = stack.demo().await;
    // Warm: each caller's first call reads their e-mail claim once per process.
    for who in [JOSH, RILEY, ADMIN] {
        assert_eq!(stack.get(who, "/me").await.status, 200);
    }
    let batch = calls(&[("BatchGetItem", 1)]);
    let batch_and_write = |write: &str| calls(&[("BatchGetItem", 1), (write, 1)]);

    let (n, me) = counted(&stack, stack.get(RILEY, "/me")).await;
    assert_eq!(me.body["groups"], json!([demo.admins]), "groups come with the user");
    assert_eq!(n, batch, "GET /me");

    let resource = demo.resource.clone();
    let (n, created) = counted(&stack, {
        stack.post(
            JOSH,
            "/requests",
            json!({"resource_id": resource, "duration_minutes": 60, "reason": "deploy"}),
        )
    })
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(n, batch_and_write("TransactWriteItems"), "POST /requests");
    let id = created.str("id");
    let request_path = format!("/requests/{id}");
    let approve_path = format!("/requests/{id}/approve");

    let (n, seen) = counted(&stack, stack.get(JOSH, &request_path)).await;
    assert_eq!(seen.status, 200);
    assert_eq!(n, batch, "GET /requests/{{id}} of a pending request");

    let (n, approved) = counted(&stack, stack.post(RILEY, &approve_path, json!({}))).await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.body["status"], "approved");
    assert_eq!(n, batch_and_write("TransactWriteItems"), "approve");

    // A second request, denied; a third, canceled.
    let sam = stack.user("sam2@example.test", "Sam").await;
    assert_eq!(stack.get("sam2@example.test", "/me").await.status, 200);
    let pending = stack
        .post(
            "sam2@example.test",
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 30}),
        )
        .await
        .str("id");
    let deny_path = format!("/requests/{pending}/deny");
    let (n, denied) = counted(&stack, stack.post(RILEY, &deny_path, json!({"comment": "not now"}))).await;
    assert_eq!(denied.body["status"], "denied", "{:?}", denied.body);
    assert_eq!(n, batch_and_write("TransactWriteItems"), "deny");
    let again = stack
        .post(
            "sam2@example.test",
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 30}),
        )
        .await
        .str("id");
    let cancel_path = format!("/requests/{again}/cancel");
    let (n, canceled) = counted(&stack, stack.post("sam2@example.test", &cancel_path, json!({}))).await;
    assert_eq!(canceled.body["status"], "canceled", "{:?}", canceled.body);
    assert_eq!(n, batch_and_write("TransactWriteItems"), "cancel");

    // By hand: add Sam, then remove them.
    let users_tab = format!("/resources/{}/users", demo.resource);
    let sams_line = format!("{users_tab}/{sam}");
    let (n, added) = counted(
        &stack,
        stack.post(RILEY, &users_tab, json!({"user_id": sam, "duration_minutes": 30})),
    )
    .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(n, batch_and_write("TransactWriteItems"), "add by hand");
    let (n, removed) = counted(&stack, stack.call(RILEY, Method::DELETE, &sams_line, None)).await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    assert_eq!(n, batch_and_write("TransactWriteItems"), "remove by hand");

    // A request for access already held is refused from the same single read.
    let (n, refused) = counted(&stack, {
        stack.post(
            JOSH,
            "/requests",
            json!({"resource_id": demo.resource, "duration_minutes": 60}),
        )
    })
    .await;
    assert_eq!((refused.status, refused.code()), (409, "access_already_active"));
    assert_eq!(n, batch, "a refused POST /requests writes nothing");

    // Authorization is read with the caller: a stranger is refused after one read.
    let (n, forbidden) = counted(&stack, stack.get("sam2@example.test", &users_tab)).await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(n, batch, "a refused Users tab");
    let _: Value = forbidden.body;
}

#[tokio::test]
async fn records_written_before_they_carried_groups_and_grants_are_still_read_right() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = TestStack::start_without_stream().await;
    let demo = stack.demo().await;
    let sam = stack.user("sam2@example.test", "Sam").await;
    let added = stack
        .post(
            RILEY,
            &format!("/resources/{}/users", demo.resource),
            json!({"user_id": sam, "duration_minutes": 30}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    // Take Riley's item back to before it held their groups, the group's to before it held its
    // members, and Sam's Users tab entry back to before it held their grant.
    let dynamodb = grantdesk_local::stack::dynamodb_client(&stack.stack.endpoints.dynamodb);
    let strip = |pk: String, sk: &str, attributes: &[&str]| {
        dynamodb
            .update_item()
            .table_name(&stack.stack.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .update_expression(format!(
                "REMOVE {}",
                attributes
                    .iter()
                    .map(|a| format!("#{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .set_expression_attribute_names(Some(
                attributes.iter().map(|a| (format!("#{a}"), (*a).to_owned())).collect(),
            ))
            .send()
    };
    strip(
        format!("USER#{}", demo.riley),
        "USER",
        &["group_ids", "groups_on_record"],
    )
    .await
    .unwrap();
    strip(
        format!("RES#{}", demo.resource),
        &format!("USER#{sam}"),
        &["grant", "grant_version"],
    )
    .await
    .unwrap();

    strip(
        format!("GROUP#{}", demo.admins),
        "GROUP",
        &["member_ids", "members_on_record"],
    )
    .await
    .unwrap();
    let group = stack.get(ADMIN, &format!("/groups/{}", demo.admins)).await;
    assert_eq!(
        group.body["member_ids"],
        json!([demo.riley]),
        "listed from the membership items"
    );

    // Riley's groups are listed from the membership items: they still administer the resource.
    let me = stack.get(RILEY, "/me").await;
    assert_eq!(me.body["groups"], json!([demo.admins]));
    let tab = stack.get(RILEY, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.status, 200, "{:?}", tab.body);
    assert_eq!(tab.body["items"][0]["user_id"], json!(sam));
    assert_eq!(tab.body["items"][0]["status"], "active");
    // Sam's grant is read by its id, and removing them ends it.
    let removed = stack
        .call(
            RILEY,
            Method::DELETE,
            &format!("/resources/{}/users/{sam}", demo.resource),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    let tab = stack.get(RILEY, &format!("/resources/{}/users", demo.resource)).await;
    assert_eq!(tab.body["items"][0]["status"], "revoked", "{:?}", tab.body);
    // Membership changes keep working on the old item.
    let replaced = stack
        .call(
            ADMIN,
            Method::PUT,
            &format!("/groups/{}/members", demo.admins),
            Some(json!({"member_ids": [sam]})),
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
    assert_eq!(stack.get(RILEY, "/me").await.body["groups"], json!([]));
    assert_eq!(
        stack.get("sam2@example.test", "/me").await.body["groups"],
        json!([demo.admins])
    );
    let group = stack.get(ADMIN, &format!("/groups/{}", demo.admins)).await;
    assert_eq!(
        group.body["member_ids"],
        json!([sam]),
        "the group's item holds its members again"
    );
}

/// Each route's round trips, counted, after the same warm-up: at most two; three for the two
/// lists that join records of other kinds.
#[tokio::test]
async fn every_other_route_has_its_round_trips_counted() {
    let stack = TestStack::start_without_stream().await;
    let demo = stack.demo().await;
    for who in [JOSH, RILEY, ADMIN] {
        assert_eq!(stack.get(who, "/me").await.status, 200);
    }
    // Warm: the lists' first page reads the pagination key once per process.
    stack.get(ADMIN, "/users?limit=1").await;
    let approved = stack.approved_request(&demo, json!({"duration_minutes": 60})).await;
    let resource = format!("/resources/{}", demo.resource);
    let app = format!("/apps/{}", demo.app);
    let group = format!("/groups/{}", demo.admins);
    let sam = stack.user("sam2@example.test", "Sam").await;
    let routes: Vec<(&str, Method, String, Option<Value>, u16)> = vec![
        ("GET /settings", Method::GET, "/settings".into(), None, 200),
        (
            "PUT /settings",
            Method::PUT,
            "/settings".into(),
            Some(json!({"require_ticket_link": false})),
            200,
        ),
        ("GET /integrations", Method::GET, "/integrations".into(), None, 200),
        (
            "POST /users",
            Method::POST,
            "/users".into(),
            Some(json!({"email": "new@example.test", "name": "New"})),
            201,
        ),
        ("GET /users", Method::GET, "/users".into(), None, 200),
        (
            "DELETE /users/{id}/identity",
            Method::DELETE,
            format!("/users/{}/identity", demo.stranger),
            None,
            204,
        ),
        (
            "POST /groups",
            Method::POST,
            "/groups".into(),
            Some(json!({"name": "g", "member_ids": [sam]})),
            201,
        ),
        ("GET /groups", Method::GET, "/groups".into(), None, 200),
        ("GET /groups/{id}", Method::GET, group.clone(), None, 200),
        (
            "PUT /groups/{id}/members",
            Method::PUT,
            format!("{group}/members"),
            Some(json!({"member_ids": [demo.riley, sam]})),
            200,
        ),
        (
            "POST /apps",
            Method::POST,
            "/apps".into(),
            Some(json!({"name": "GCP"})),
            201,
        ),
        ("GET /apps", Method::GET, "/apps".into(), None, 200),
        ("GET /apps/{id}", Method::GET, app.clone(), None, 200),
        (
            "PATCH /apps/{id}",
            Method::PATCH,
            app.clone(),
            Some(json!({"name": "AWS prod"})),
            200,
        ),
        (
            "POST /resources",
            Method::POST,
            "/resources".into(),
            Some(json!({"app_id": demo.app, "name": "Other"})),
            201,
        ),
        ("GET /resources", Method::GET, "/resources".into(), None, 200),
        ("GET /resources/{id}", Method::GET, resource.clone(), None, 200),
        (
            "PATCH /resources/{id}",
            Method::PATCH,
            resource.clone(),
            Some(json!({"name": "My Role (prod)"})),
            200,
        ),
        (
            "GET /resources/{id}/users",
            Method::GET,
            format!("{resource}/users"),
            None,
            200,
        ),
        ("GET /requests", Method::GET, "/requests".into(), None, 200),
        (
            "GET /requests?review=pending",
            Method::GET,
            "/requests?review=pending".into(),
            None,
            200,
        ),
        (
            "GET /requests/{id} (approved)",
            Method::GET,
            format!("/requests/{approved}"),
            None,
            200,
        ),
        // Last: the sync it asks for runs beside the test and makes calls of its own.
        (
            "POST /resources/{id}/sync",
            Method::POST,
            format!("{resource}/sync"),
            None,
            202,
        ),
    ];
    let mut seen = Vec::new();
    for (name, method, path, body, status) in routes {
        let caller = match name {
            "GET /requests" | "GET /requests/{id} (approved)" => JOSH,
            "GET /requests?review=pending" | "GET /resources/{id}/users" => RILEY,
            _ => ADMIN,
        };
        let (n, reply) = counted(&stack, stack.call(caller, method, &path, body)).await;
        assert_eq!(reply.status, status, "{name}: {:?}", reply.body);
        seen.push((name, n.values().sum::<u64>(), n));
    }
    let over: Vec<_> = seen
        .iter()
        .filter(|(name, total, calls)| {
            let allowed = match *name {
                // The lines (one Query), then their users and access changes (one batch).
                "GET /resources/{id}/users" => 3,
                // The requests (one Query), then their grants and audit tickets (one batch).
                "GET /requests" => 3,
                // The API's part; the sync it queues runs beside it and is counted with it.
                "POST /resources/{id}/sync" => {
                    return calls.get("BatchGetItem") != Some(&1) || calls.get("PutItem") != Some(&1)
                }
                _ => 2,
            };
            *total > allowed || calls.contains_key("Scan")
        })
        .collect();
    assert!(
        over.is_empty(),
        "routes over their round trips: {over:?}\nall: {seen:#?}"
    );
    let totals: BTreeMap<&str, u64> = seen.iter().map(|(name, total, _)| (*name, *total)).collect();
    // The reads come with the caller: one round trip for these.
    for one in [
        "GET /settings",
        "GET /apps/{id}",
        "GET /resources/{id}",
        "GET /groups/{id}",
    ] {
        assert_eq!(totals[one], 1, "{one}: {seen:#?}");
    }
}
