//! The local stack itself: a stream record that can never be read stops the stack with a
//! message naming it, instead of holding back every later record unseen.

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
