//! Putting events on the project's EventBridge bus. In AWS that is `PutEvents`; the local
//! runner passes an in-process bus whose dispatcher applies the template's rules itself
//! (the emulator accepts events but cannot deliver them to functions).

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;
use thiserror::Error;

/// Every grantdesk event has this source.
pub const SOURCE: &str = "grantdesk";
/// The detail type that asks status sync to sync one resource now.
pub const SYNC_REQUESTED: &str = "SyncRequested";

/// An event as it travels on the bus.
#[derive(Clone, Debug, PartialEq)]
pub struct BusEvent {
    /// `detail-type`.
    pub detail_type: String,
    /// `detail`.
    pub detail: Value,
}

/// Publishing failed.
#[derive(Debug, Error)]
#[error("publishing {detail_type}: {message}")]
pub struct EventError {
    /// What was being published.
    pub detail_type: String,
    /// What went wrong.
    pub message: String,
}

/// Where events go.
#[derive(Clone, Debug)]
pub enum EventBus {
    /// An EventBridge bus.
    EventBridge {
        /// The client.
        client: aws_sdk_eventbridge::Client,
        /// The bus's name.
        bus_name: String,
    },
    /// The local runner's in-process bus.
    InProcess(tokio::sync::mpsc::UnboundedSender<BusEvent>),
}

impl EventBus {
    /// Puts one event on the bus.
    pub async fn publish(&self, detail_type: &str, detail: Value) -> Result<(), EventError> {
        let error = |message: String| EventError {
            detail_type: detail_type.to_owned(),
            message,
        };
        match self {
            Self::EventBridge { client, bus_name } => {
                let entry = PutEventsRequestEntry::builder()
                    .source(SOURCE)
                    .detail_type(detail_type)
                    .detail(detail.to_string())
                    .event_bus_name(bus_name)
                    .build();
                let out = client
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .map_err(|e| error(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
                if out.failed_entry_count > 0 {
                    let reason = out
                        .entries()
                        .first()
                        .and_then(|e| e.error_message())
                        .unwrap_or("rejected")
                        .to_owned();
                    return Err(error(reason));
                }
                Ok(())
            }
            Self::InProcess(sender) => sender
                .send(BusEvent {
                    detail_type: detail_type.to_owned(),
                    detail,
                })
                .map_err(|_| error("the local bus is closed".into())),
        }
    }
}
