//! The status sync Lambda: the schedule and "sync requested" events both arrive from EventBridge.
#![recursion_limit = "256"]

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use grantdesk::config::FilerConfig;
use grantdesk::events::EventBus;
use grantdesk::providers::{Connections, HttpPolicy, ProviderHttp};
use grantdesk::secrets::SecretStore;
use grantdesk::store::Store;
use grantdesk::usecases::outbox::TicketFiler;
use grantdesk_status_sync::{StatusSync, DEFAULT_BUDGET};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FilerConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    let secrets = SecretStore::new(aws_sdk_secretsmanager::Client::new(&aws), &config.secret_prefix);
    let connections = Connections::new(
        store.clone(),
        secrets,
        ProviderHttp::new(HttpPolicy::within(grantdesk_status_sync::PROVIDER_CALL_BUDGET)),
    );
    let events = EventBus::EventBridge {
        client: aws_sdk_eventbridge::Client::new(&aws),
        bus_name: config.event_bus.clone(),
    };
    let filer = TicketFiler::new(store.clone(), connections.clone(), events, config.clone());
    let sync = StatusSync::new(store, connections, filer, DEFAULT_BUDGET);
    let sync = &sync;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            let report = sync.handle(&event.payload.detail_type, &event.payload.detail).await?;
            Ok::<_, Error>(report)
        },
    ))
    .await
}
