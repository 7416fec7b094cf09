//! The ticket filer Lambda: read configuration, build clients once, process stream batches.
#![recursion_limit = "256"]

use aws_lambda_events::event::dynamodb::Event;
use grantdesk::clients::Clients;
use grantdesk::config::{Config, FilerConfig};
use grantdesk::usecases::outbox::TicketFiler;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = FilerConfig::from_env()?;
    let clients = Clients::from_env().await;
    let store = clients.store(&config.table_name);
    let connections = clients.connections(
        &store,
        &config.secret_prefix,
        grantdesk_ticket_filer::PROVIDER_CALL_BUDGET,
    );
    let events = clients.events(&config.event_bus);
    let filer = &TicketFiler::new(store, connections, events, config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, std::convert::Infallible>(filer.handle(event.payload).await)
    }))
    .await
}
