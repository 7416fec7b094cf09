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
