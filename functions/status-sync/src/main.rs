//! The status sync Lambda: the schedule and "sync requested" events both arrive from EventBridge.
#![recursion_limit = "256"]

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use grantdesk::clients::Clients;
use grantdesk::config::{Config, StatusSyncConfig};
use grantdesk::usecases::outbox::TicketFiler;
use grantdesk::usecases::sync::{StatusSync, DEFAULT_BUDGET};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let StatusSyncConfig { filer: config } = StatusSyncConfig::from_env()?;
    let clients = Clients::from_env().await;
    let store = clients.store(&config.table_name);
    let connections = clients.connections(
        &store,
        &config.secret_prefix,
        grantdesk_status_sync::PROVIDER_CALL_BUDGET,
    );
    let events = clients.events(&config.event_bus);
    let filer = TicketFiler::new(store.clone(), connections.clone(), events, config);
    let sync = &StatusSync::new(store, connections, filer, DEFAULT_BUDGET);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            Ok::<_, Error>(sync.handle(&event.payload.detail_type, &event.payload.detail).await?)
        },
    ))
    .await
}
