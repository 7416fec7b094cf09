//! Access that ends by itself: a one-minute grant is revoked when its EventBridge Scheduler
//! schedule fires; a grant whose schedule never existed is ended by the sweeper; a firing after
//! a manual revocation changes nothing.

use grantdesk::domain::{GrantId, ResourceId, UserId};
use grantdesk::usecases::expiry::Expiry;
use grantdesk_access_expiry::ExpiryInput;
use grantdesk_e2e::{eventually_within, TestStack, ADMIN, JOSH};
use grantdesk_local::sandbox::{Sandboxes, JIRA_API_TOKEN, JIRA_EMAIL};
use reqwest::Method;
use serde_json::json;

async fn grant_of(stack: &TestStack, resource: &str, user: &str) -> grantdesk::domain::Grant {
    let resource = ResourceId::parse(resource).unwrap();
    let user = UserId::parse(user).unwrap();
    stack
        .stack
        .store
        .latest_grant(&resource, &user)
        .await
        .unwrap()
        .unwrap()
        .value
}

#[tokio::test]
async fn one_minute_grants_end_by_schedule_or_by_the_sweeper_and_stale_firings_change_nothing() {
    let stack = TestStack::start().await;
    let sandboxes = Sandboxes::start().await.unwrap();
    let demo = stack.demo().await;
    let jira = json!({"base_url": sandboxes.jira.url(), "email": JIRA_EMAIL, "api_token": JIRA_API_TOKEN, "webhook_secret": "s"});
    assert_eq!(
        stack
            .call(ADMIN, Method::PUT, "/integrations/jira", Some(jira))
            .await
            .status,
        200
    );
    let propagation = json!({"ticket_propagation": {"enabled_on_grant": false, "enabled_on_revocation": true, "provider": "jira", "project": "OPS"}});
    assert_eq!(
        stack
            .call(
                ADMIN,
                Method::PATCH,
                &format!("/resources/{}", demo.resource),
                Some(propagation)
            )
            .await
            .status,
        200
    );

    // Josh: a one-minute request grant, ended by its schedule.
    let id = stack.approved_request(&demo, json!({"duration_minutes": 1})).await;
    // Sam: a one-minute hand add whose schedule is lost (as if creating it had failed).
    let users = format!("/resources/{}/users", demo.resource);
    assert_eq!(
        stack
            .post(ADMIN, &users, json!({"user_id": demo.stranger, "duration_minutes": 1}))
            .await
            .status,
        201
    );
    let sam_grant = grant_of(&stack, &demo.resource, &demo.stranger).await;
    let scheduler = grantdesk_local::stack::scheduler_client(&stack.stack.endpoints.aws);
    let group = format!("{}-expiry", stack.stack.table);
    let schedules = scheduler.list_schedules().group_name(&group).send().await.unwrap();
    let names: Vec<&str> = schedules.schedules().iter().filter_map(|s| s.name()).collect();
    assert_eq!(names.len(), 2, "one schedule per grant with an end time: {names:?}");
    scheduler
        .delete_schedule()
        .group_name(&group)
        .name(sam_grant.id.as_str())
        .send()
        .await
        .unwrap();
    // Riley: revoked by hand before the end; a late firing must not turn it into "expired".
    assert_eq!(
        stack
            .post(ADMIN, &users, json!({"user_id": demo.riley, "duration_minutes": 1}))
            .await
            .status,
        201
    );
    let removed = stack
        .call(ADMIN, Method::DELETE, &format!("{users}/{}", demo.riley), None)
        .await;
    assert_eq!(removed.status, 204);

    eventually_within(90, "Josh's grant to expire by its schedule", || async {
        (grant_of(&stack, &demo.resource, &demo.josh).await.status == grantdesk::domain::GrantStatus::Expired)
            .then_some(())
    })
    .await;
    let view = stack.get(JOSH, &format!("/requests/{id}")).await;
    assert_eq!(view.body["grant"]["status"], "expired");

    // Sam's schedule never fired; the sweeper ends the grant.
    assert_eq!(
        grant_of(&stack, &demo.resource, &demo.stranger).await.status,
        grantdesk::domain::GrantStatus::Active
    );
    let report = stack.stack.sync.sync_all().await.unwrap();
    assert_eq!(report.expired, 1, "{report:?}");
    assert_eq!(
        grant_of(&stack, &demo.resource, &demo.stranger).await.status,
        grantdesk::domain::GrantStatus::Expired
    );
    assert_eq!(
        stack.stack.sync.sync_all().await.unwrap().expired,
        0,
        "nothing is expired twice"
    );

    // A stale or repeated firing changes nothing.
    let riley = grant_of(&stack, &demo.resource, &demo.riley).await;
    let outcome = stack
        .stack
        .expiry
        .handle(ExpiryInput {
            grant_id: riley.id.to_string(),
        })
        .await
        .unwrap();
    assert_eq!(outcome, Expiry::AlreadyEnded);
    assert_eq!(
        grant_of(&stack, &demo.resource, &demo.riley).await.status,
        grantdesk::domain::GrantStatus::Revoked
    );
    let josh = grant_of(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(
        stack
            .stack
            .expiry
            .handle(ExpiryInput {
                grant_id: josh.id.to_string()
            })
            .await
            .unwrap(),
        Expiry::AlreadyEnded
    );
    assert_eq!(
        stack
            .stack
            .expiry
            .handle(ExpiryInput {
                grant_id: GrantId::generate().to_string()
            })
            .await
            .unwrap(),
        Expiry::Unknown
    );

    // Each expiry files its removal ticket (propagation on revocation), and so did Riley's removal.
    eventually_within(20, "three removal tickets", || async {
        (sandboxes.jira.with(|j, _| (j.issues.len(), vec![])).await == 3).then_some(())
    })
    .await;
    let summaries = sandboxes
        .jira
        .with(|j, _| {
            (
                j.issues.iter().map(|i| i.description.to_string()).collect::<Vec<_>>(),
                vec![],
            )
        })
        .await;
    assert_eq!(
        summaries.iter().filter(|d| d.contains("reached its end time")).count(),
        2
    );
}

#[tokio::test]
async fn an_early_firing_does_not_end_a_grant() {
    let stack = TestStack::start().await;
    let demo = stack.demo().await;
    let users = format!("/resources/{}/users", demo.resource);
    assert_eq!(
        stack
            .post(ADMIN, &users, json!({"user_id": demo.josh, "duration_minutes": 60}))
            .await
            .status,
        201
    );
    let grant = grant_of(&stack, &demo.resource, &demo.josh).await;
    assert_eq!(
        stack
            .stack
            .expiry
            .handle(ExpiryInput {
                grant_id: grant.id.to_string()
            })
            .await
            .unwrap(),
        Expiry::NotDue
    );
    assert_eq!(
        grant_of(&stack, &demo.resource, &demo.josh).await.status,
        grantdesk::domain::GrantStatus::Active
    );
    let indefinite_user = stack.user("indefinite@example.test", "Indefinite").await;
    let patch = json!({"request_config": {"max_duration_minutes": null}});
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
    assert_eq!(
        stack
            .post(ADMIN, &users, json!({"user_id": indefinite_user}))
            .await
            .status,
        201
    );
    let scheduler = grantdesk_local::stack::scheduler_client(&stack.stack.endpoints.aws);
    let listed = scheduler
        .list_schedules()
        .group_name(format!("{}-expiry", stack.stack.table))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.schedules().len(), 1, "indefinite access gets no schedule");
}

#[tokio::test]
async fn an_expiry_handler_error_is_retried_twice_then_kept_for_the_operator() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use grantdesk::schedules::ExpirySchedules;
    use grantdesk_local::schedule_firer::ASYNC_ATTEMPTS;
    let stack = TestStack::start().await;
    // A grant record access-expiry cannot read: every attempt fails.
    let grant = GrantId::generate();
    grantdesk_local::stack::dynamodb_client(&stack.stack.endpoints.dynamodb)
        .put_item()
        .table_name(&stack.stack.table)
        .item("pk", AttributeValue::S(format!("GRANT#{grant}")))
        .item("sk", AttributeValue::S("GRANT".into()))
        .item("kind", AttributeValue::S("grant".into()))
        .item("version", AttributeValue::N("1".into()))
        .item("status", AttributeValue::S("unreadable".into()))
        .send()
        .await
        .unwrap();
    let scheduler = grantdesk_local::stack::scheduler_client(&stack.stack.endpoints.aws);
    let group = format!("{}-expiry", stack.stack.table);
    let schedules = ExpirySchedules::new(
        scheduler.clone(),
        group.clone(),
        "arn:aws:lambda:us-east-1:000000000000:function:grantdesk-access-expiry".into(),
        "arn:aws:iam::000000000000:role/grantdesk-scheduler".into(),
        None,
    );
    let due = grantdesk::domain::now() - chrono::Duration::seconds(5);
    schedules.schedule(&grant, &due).await.unwrap();

    let failure = eventually_within(20, "the failed invocation to be kept", || async {
        stack.stack.async_failures.list().into_iter().next()
    })
    .await;
    assert_eq!(failure.function, "access-expiry");
    assert_eq!(failure.attempts, ASYNC_ATTEMPTS);
    assert_eq!(ASYNC_ATTEMPTS, 3, "the first attempt and Lambda's two retries");
    let input: serde_json::Value = serde_json::from_str(&failure.input).unwrap();
    assert_eq!(input, json!({"grant_id": grant}), "the event as it was sent");
    assert!(
        failure.error.contains("unknown variant `unreadable`"),
        "{}",
        failure.error
    );
    // Delivered once: the schedule is gone, and nothing more is kept.
    let listed = scheduler.list_schedules().group_name(&group).send().await.unwrap();
    assert!(listed.schedules().is_empty(), "{:?}", listed.schedules());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(stack.stack.async_failures.list().len(), 1);
}
