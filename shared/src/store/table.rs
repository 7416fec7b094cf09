//! Creating the table, for the local stack and tests. In AWS the table comes from
//! `template.yaml`, which declares the same keys and indexes.

use super::keys::{INDEXES, PK, SK};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;

/// Creates `name` with grantdesk's keys, indexes and a new-and-old-images stream, and waits
/// until it is active.
pub async fn create_table(client: &Client, name: &str) -> Result<(), String> {
    let attribute = |name: String| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| e.to_string())
    };
    let key = |name: String, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| e.to_string())
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PK.into())?)
        .attribute_definitions(attribute(SK.into())?)
        .key_schema(key(PK.into(), KeyType::Hash)?)
        .key_schema(key(SK.into(), KeyType::Range)?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| e.to_string())?,
        );
    for index in INDEXES {
        request = request
            .attribute_definitions(attribute(format!("{index}pk"))?)
            .attribute_definitions(attribute(format!("{index}sk"))?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index)
                    .key_schema(key(format!("{index}pk"), KeyType::Hash)?)
                    .key_schema(key(format!("{index}sk"), KeyType::Range)?)
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .map_err(|e| e.to_string())?,
            );
    }
    request
        .send()
        .await
        .map_err(|e| format!("creating table {name}: {}", DisplayErrorContext(e)))?;
    for _ in 0..100 {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| format!("describing table {name}: {}", DisplayErrorContext(e)))?;
        if out
            .table
            .and_then(|t| t.table_status)
            .map(|s| s.as_str() == "ACTIVE")
            .unwrap_or(false)
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("table {name} did not become active"))
}
