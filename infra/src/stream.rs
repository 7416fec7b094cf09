//! The local stand-in for Lambda's DynamoDB Streams event source: it reads the table's stream
//! from the emulator, keeps the records matching the ticket filer's filter patterns (the same
//! ones `template.yaml` declares), hands them to the filer in batches as the Lambda event, and
//! re-delivers the records the filer reports as failed, a bounded number of times.

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use base64::Engine;
use grantdesk::usecases::outbox::TicketFiler;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Deliveries of a failing record, the first included (the template's `MaximumRetryAttempts`
/// is 3 retries).
pub const MAX_DELIVERIES: u32 = 4;
/// Records per filer invocation (the template's `BatchSize`).
const BATCH_SIZE: usize = 10;

/// Whether an event (Lambda's JSON shape) matches a Lambda event filter pattern: every key of
/// the pattern must match; an array lists allowed values (or `{"anything-but": [...]}`), an
/// object matches recursively.
pub fn matches_pattern(pattern: &Value, event: &Value) -> bool {
    let Some(pattern) = pattern.as_object() else {
        return false;
    };
    pattern.iter().all(|(key, expected)| {
        let actual = event.get(key);
        match expected {
            Value::Object(_) => actual.is_some_and(|a| matches_pattern(expected, a)),
            Value::Array(options) => options.iter().any(|option| match option {
                Value::Object(rule) => match (rule.get("anything-but"), actual) {
                    (Some(Value::Array(excluded)), Some(a)) => !excluded.contains(a),
                    _ => false,
                },
                scalar => actual == Some(scalar),
            }),
            _ => false,
        }
    })
}

fn attribute_json(value: &AttributeValue) -> Value {
    let b64 =
        |b: &aws_sdk_dynamodbstreams::primitives::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(n) => json!({"NULL": n}),
        AttributeValue::B(b) => json!({"B": b64(b)}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        AttributeValue::L(items) => json!({"L": items.iter().map(attribute_json).collect::<Vec<_>>()}),
        AttributeValue::M(map) => json!({"M": item_json(map)}),
        _ => json!({"NULL": true}),
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect::<Map<_, _>>(),
    )
}

/// A stream record in the shape Lambda delivers it.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let change = record.dynamodb.as_ref();
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change.and_then(|c| c.approximate_creation_date_time).map(|t| t.secs()).unwrap_or(0),
        "SequenceNumber": change.and_then(|c| c.sequence_number.clone()),
        "SizeBytes": change.and_then(|c| c.size_bytes).unwrap_or(0),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(change) = change {
        for (name, image) in [
            ("Keys", &change.keys),
            ("NewImage", &change.new_image),
            ("OldImage", &change.old_image),
        ] {
            if let Some(image) = image {
                dynamodb[name] = item_json(image);
            }
        }
    }
    json!({
        "eventID": record.event_id.clone().unwrap_or_default(),
        "eventName": record.event_name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default(),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": stream_arn,
        "dynamodb": dynamodb,
    })
}

/// Where the poller is in one shard.
#[derive(Default)]
struct ShardCursor {
    iterator: Option<String>,
    last_sequence: Option<String>,
    closed: bool,
}

/// Names the record of a `GetRecords` answer (its raw JSON) that the SDK cannot read: one with
/// an attribute value that is not exactly one of DynamoDB's typed shapes (DynamoDB Local's
/// stream writes an empty map as `{}`, for instance).
pub fn unreadable_record(answer: &Value) -> Option<String> {
    const TYPES: [&str; 10] = ["S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"];
    fn bad_value(path: &str, value: &Value) -> Option<String> {
        let Some(object) = value.as_object() else {
            return Some(path.to_owned());
        };
        let mut entries = object.iter();
        let (Some((kind, inner)), None) = (entries.next(), entries.next()) else {
            return Some(format!("{path} (`{value}`)"));
        };
        if !TYPES.contains(&kind.as_str()) {
            return Some(format!("{path} (`{value}`)"));
        }
        match (kind.as_str(), inner) {
            ("M", Value::Object(map)) => map.iter().find_map(|(k, v)| bad_value(&format!("{path}.{k}"), v)),
            ("L", Value::Array(list)) => list
                .iter()
                .enumerate()
                .find_map(|(i, v)| bad_value(&format!("{path}[{i}]"), v)),
            _ => None,
        }
    }
    let records = answer.get("Records")?.as_array()?;
    records.iter().find_map(|record| {
        let change = record.get("dynamodb")?;
        let bad = ["Keys", "NewImage", "OldImage"].iter().find_map(|image| {
            change
                .get(*image)?
                .as_object()?
                .iter()
                .find_map(|(name, value)| bad_value(&format!("{image}.{name}"), value))
        })?;
        let key = |name: &str| change["Keys"][name]["S"].as_str().unwrap_or("?").to_owned();
        Some(format!(
            "stream record {} (sequence number {}, pk {}, sk {}) has an attribute the SDK cannot read: {bad}",
            record["eventID"].as_str().unwrap_or("?"),
            change["SequenceNumber"].as_str().unwrap_or("?"),
            key("pk"),
            key("sk"),
        ))
    })
}

/// Why a `GetRecords` call failed: a record the SDK cannot read is fatal (retrying would spin on
/// the same batch for ever and hold back every later record); anything else may pass.
fn get_records_failure(
    err: aws_sdk_dynamodbstreams::error::SdkError<
        aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError,
        aws_sdk_dynamodbstreams::config::http::HttpResponse,
    >,
) -> Result<String, String> {
    let unreadable = err
        .raw_response()
        .filter(|raw| raw.status().is_success())
        .and_then(|raw| raw.body().bytes())
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .map(|answer| {
            unreadable_record(&answer)
                .unwrap_or_else(|| "the stream answered with records the SDK cannot read".to_owned())
        });
    let message = aws_sdk_dynamodbstreams::error::DisplayErrorContext(err).to_string();
    match unreadable {
        Some(record) => Err(format!("{record}; the SDK said: {message}")),
        None => Ok(message),
    }
}

/// Polls the stream of `table` from its start and feeds the filer until the task is dropped,
/// adding each record handed to it to `delivered`. Returns only when the stream holds a record
/// that can never be read, naming it: the stack must then stop rather than silently stop filing
/// tickets.
pub async fn run(
    client: Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    filer: TicketFiler,
    delivered: Arc<AtomicU64>,
) -> String {
    let patterns: Vec<Value> = grantdesk::usecases::outbox::FILTER_PATTERNS
        .iter()
        .map(|p| serde_json::from_str(p).expect("the filter patterns are JSON"))
        .collect();
    let stream_arn = loop {
        match dynamodb.describe_table().table_name(&table).send().await {
            Ok(out) => {
                if let Some(arn) = out.table.and_then(|t| t.latest_stream_arn) {
                    break arn;
                }
            }
            Err(err) => {
                tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(err), "describing the table")
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Per shard: the iterator to read next, and the last sequence number handed on, so that an
    // iterator DynamoDB refuses (expired, or trimmed) is replaced without losing or repeating
    // a record.
    let mut shards: HashMap<String, ShardCursor> = HashMap::new();
    let mut retries: Vec<(Value, u32)> = Vec::new();
    loop {
        if let Ok(out) = client.describe_stream().stream_arn(&stream_arn).send().await {
            for shard in out.stream_description.and_then(|d| d.shards).unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                shards.entry(id).or_default();
            }
        }
        let mut fresh: Vec<Value> = Vec::new();
        for (shard_id, cursor) in shards.iter_mut() {
            if cursor.closed {
                continue;
            }
            if cursor.iterator.is_none() {
                let mut request = client.get_shard_iterator().stream_arn(&stream_arn).shard_id(shard_id);
                request = match &cursor.last_sequence {
                    Some(sequence) => request
                        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                        .sequence_number(sequence),
                    None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                };
                match request.send().await {
                    Ok(out) => cursor.iterator = out.shard_iterator,
                    Err(err) => {
                        tracing::warn!(shard = %shard_id, error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(err), "getting a shard iterator");
                        continue;
                    }
                }
            }
            let Some(current) = cursor.iterator.clone() else {
                continue;
            };
            match client.get_records().shard_iterator(current).send().await {
                Ok(out) => {
                    let records = out.records.unwrap_or_default();
                    if let Some(last) = records
                        .last()
                        .and_then(|r| r.dynamodb.as_ref()?.sequence_number.clone())
                    {
                        cursor.last_sequence = Some(last);
                    }
                    fresh.extend(records.iter().map(|r| lambda_record(r, &stream_arn)));
                    cursor.closed = out.next_shard_iterator.is_none();
                    cursor.iterator = out.next_shard_iterator;
                }
                Err(err) => {
                    // An iterator DynamoDB no longer honours: ask for a new one after the last
                    // record read.
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_expired_iterator_exception() || e.is_trimmed_data_access_exception())
                    {
                        cursor.iterator = None;
                        continue;
                    }
                    match get_records_failure(err) {
                        Ok(passing) => tracing::warn!(error = %passing, "reading the stream"),
                        Err(fatal) => return fatal,
                    }
                }
            }
        }
        let mut due: Vec<(Value, u32)> = std::mem::take(&mut retries);
        due.extend(
            fresh
                .into_iter()
                .filter(|r| patterns.iter().any(|p| matches_pattern(p, r)))
                .map(|r| (r, 0)),
        );
        for batch in due.chunks(BATCH_SIZE) {
            let records: Vec<Value> = batch.iter().map(|(r, _)| r.clone()).collect();
            let event: Event = match serde_json::from_value(json!({"Records": records})) {
                Ok(event) => event,
                Err(err) => {
                    tracing::error!(error = %err, "a stream record does not fit the Lambda event");
                    continue;
                }
            };
            delivered.fetch_add(batch.len() as u64, Ordering::Relaxed);
            let response = filer.handle(event).await;
            for failure in response.batch_item_failures {
                let Some((record, deliveries)) = batch
                    .iter()
                    .find(|(r, _)| r["dynamodb"]["SequenceNumber"].as_str() == failure.item_identifier.as_deref())
                else {
                    continue;
                };
                if deliveries + 1 < MAX_DELIVERIES {
                    retries.push((record.clone(), deliveries + 1));
                } else {
                    tracing::error!(sequence = ?failure.item_identifier, "record failed every delivery; sent to the on-failure destination");
                }
            }
        }
        let pause = if retries.is_empty() { 100 } else { 500 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: &str, new_status: &str, old_status: Option<&str>) -> Value {
        let mut r = json!({"eventName": event, "dynamodb": {"NewImage": {"kind": {"S": "access_change"}, "propagation": {"S": new_status}}}});
        if let Some(old) = old_status {
            r["dynamodb"]["OldImage"] = json!({"kind": {"S": "access_change"}, "propagation": {"S": old}});
        }
        r
    }

    #[test]
    fn an_empty_map_in_a_stream_image_names_its_record() {
        let answer = json!({"Records": [
            {"eventID": "e1", "dynamodb": {"SequenceNumber": "100", "Keys": {"pk": {"S": "A"}, "sk": {"S": "A"}},
                "NewImage": {"pk": {"S": "A"}, "tags": {"M": {"a": {"S": "b"}}}, "list": {"L": [{"N": "1"}]}}}},
            {"eventID": "e2", "dynamodb": {"SequenceNumber": "200", "Keys": {"pk": {"S": "INTEGRATION"}, "sk": {"S": "jira"}},
                "NewImage": {"pk": {"S": "INTEGRATION"}, "nested": {"M": {"state_overrides": {}}}}}},
        ]});
        let named = unreadable_record(&answer).expect("the second record is unreadable");
        assert!(named.contains("e2") && named.contains("200"), "{named}");
        assert!(named.contains("pk INTEGRATION, sk jira"), "{named}");
        assert!(named.contains("NewImage.nested.state_overrides"), "{named}");
        let fine = json!({"Records": [answer["Records"][0].clone()]});
        assert_eq!(unreadable_record(&fine), None);
    }

    #[test]
    fn the_filer_patterns_pick_requests_grants_changes_and_new_audit_events_only() {
        let patterns: Vec<Value> = grantdesk::usecases::outbox::FILTER_PATTERNS
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect();
        let matched = |r: &Value| patterns.iter().any(|p| matches_pattern(p, r));
        assert!(matched(&record("INSERT", "pending_ticket_creation", None)));
        assert!(matched(&record(
            "MODIFY",
            "completed",
            Some("pending_manual_propagation")
        )));
        for kind in ["request", "grant"] {
            assert!(matched(
                &json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {"kind": {"S": kind}}}})
            ));
        }
        assert!(matched(
            &json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "audit_event"}}}})
        ));
        assert!(!matched(
            &json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {"kind": {"S": "audit_event"}}}})
        ));
        assert!(!matched(
            &json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "tracked_ticket"}}}})
        ));
        assert!(!matched(
            &json!({"eventName": "REMOVE", "dynamodb": {"OldImage": {"kind": {"S": "request"}}}})
        ));
        let anything_but = json!({"a": [{"anything-but": ["x"]}]});
        assert!(matches_pattern(&anything_but, &json!({"a": "y"})));
        assert!(!matches_pattern(&anything_but, &json!({"a": "x"})));
        assert!(
            !matches_pattern(&anything_but, &json!({})),
            "a missing field matches nothing"
        );
    }
}
