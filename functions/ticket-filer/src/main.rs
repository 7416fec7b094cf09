//! The ticket filer Lambda: read configuration, build clients once, process stream batches.
#![recursion_limit = "256"]

use aws_lambda_events::event::dynamodb::Event;
use grantdesk::config::FilerConfig;
use grantdesk::events::EventBus;
use grantdesk::providers::{Connections, HttpPolicy, ProviderHttp};
use grantdesk::secrets::SecretStore;
use grantdesk::store::Store;
use grantdesk::usecases::outbox::TicketFiler;
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
        ProviderHttp::new(HttpPolicy::within(grantdesk_ticket_filer::PROVIDER_CALL_BUDGET)),
    );
    let events = EventBus::EventBridge {
        client: aws_sdk_eventbridge::Client::new(&aws),
        bus_name: config.event_bus.clone(),
    };
    let filer = TicketFiler::new(store, connections, events, config);
    let filer = &filer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, std::convert::Infallible>(filer.handle(event.payload).await)
    }))
    .await
}
