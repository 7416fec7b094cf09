//! The local stack itself and the store under it: a stream record that can never be read stops
//! the stack with a message naming it, instead of holding back every later record unseen; the
//! request units its DynamoDB calls consume are metered; kept outbox work that keeps failing is
//! parked for an operator.

use aws_sdk_dynamodb::types::AttributeValue;
use grantdesk_e2e::TestStack;
use std::collections::HashMap;

#[tokio::test]
async fn a_stream_record_the_sdk_cannot_read_stops_the_stack_naming_the_record() {
    let stack = TestStack::start().await;
    // DynamoDB Local's stream writes an empty map as `{}`, which no SDK can parse.
    grantdesk_local::stack::dynamodb_client(&stack.stack.endpoints.dynamodb)
        .put_item()
        .table_name(&stack.stack.table)
        .item("pk", AttributeValue::S("BROKEN#1".into()))
        .item("sk", AttributeValue::S("BROKEN".into()))
        .item("kind", AttributeValue::S("request".into()))
        .item("tags", AttributeValue::M(HashMap::new()))
        .send()
        .await
        .unwrap();
    let failure = tokio::time::timeout(std::time::Duration::from_secs(30), stack.stack.failure())
        .await
        .expect("the stack stops within 30 s");
    assert!(failure.contains("pk BROKEN#1, sk BROKEN"), "{failure}");
    assert!(failure.contains("NewImage.tags"), "{failure}");
}

#[tokio::test]
async fn the_stack_meters_the_request_units_its_dynamodb_calls_consume() {
    use grantdesk::store::SyncCursor;
    use grantdesk_local::capacity::Units;
    let stack = TestStack::start().await;
    let store = &stack.stack.store;
    let meter = &stack.stack.dynamodb_units;
    meter.reset();
    // A strongly consistent read of an item that does not exist yet: one read unit.
    let cursor = store.sync_cursor().await.unwrap();
    assert_eq!(meter.units(), Units { read: 1.0, write: 0.0 });
    // A write of an item well under 1 KB: one write unit.
    let mut next = SyncCursor::default();
    next.after.insert("jira".into(), "x".repeat(100));
    store.save_sync_cursor(cursor.version, &next).await.unwrap();
    assert_eq!(meter.units(), Units { read: 1.0, write: 1.0 });
    // The same item over 2 KB (and under 3): three write units.
    let cursor = store.sync_cursor().await.unwrap();
    next.after.insert("jira".into(), "x".repeat(2_500));
    store.save_sync_cursor(cursor.version, &next).await.unwrap();
    assert_eq!(meter.units(), Units { read: 2.0, write: 4.0 });
}

#[tokio::test]
async fn kept_work_that_keeps_failing_is_parked_off_the_sweepers_queue() {
    use grantdesk::store::{KeptWork, MAX_REDRIVES};
    let stack = TestStack::start_without_stream().await;
    let store = &stack.stack.store;
    let now = grantdesk::domain::now;
    let work = KeptWork {
        id: "event-1".into(),
        record: "{}".into(),
        error: "first failure".into(),
        redrives: 0,
        at: now() - chrono::Duration::minutes(1),
    };
    store.keep_work(&work).await.unwrap();
    // A later failure of the same record finds the first one kept.
    let again = KeptWork {
        error: "second failure".into(),
        ..work.clone()
    };
    store.keep_work(&again).await.unwrap();
    let later = now() + chrono::Duration::days(1);
    for redrive in 0..MAX_REDRIVES {
        let due = store.due_work(&later, 10).await.unwrap();
        assert_eq!(due.len(), 1, "queued after {redrive} re-drives");
        let expected = if redrive == 0 { "first failure" } else { "failed again" };
        assert_eq!(due[0].value.error, expected);
        store
            .work_failed_again(&due[0], "failed again".into(), now())
            .await
            .unwrap();
    }
    assert!(
        store.due_work(&later, 10).await.unwrap().is_empty(),
        "parked off the queue"
    );
    let parked = store.kept_work("event-1").await.unwrap().expect("kept for an operator");
    assert_eq!(parked.value.redrives, MAX_REDRIVES);
    store.drop_work("event-1").await.unwrap();
    assert!(store.kept_work("event-1").await.unwrap().is_none());
}
