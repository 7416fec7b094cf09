//! The API Lambda: read configuration, build clients once, serve requests.

use grantdesk::config::ApiConfig;
use grantdesk::events::EventBus;
use grantdesk::providers::{Connections, HttpPolicy, ProviderHttp};
use grantdesk::schedules::ExpirySchedules;
use grantdesk::secrets::SecretStore;
use grantdesk::store::Store;
use grantdesk_api::Api;
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ApiConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    let secrets = SecretStore::new(aws_sdk_secretsmanager::Client::new(&aws), &config.secret_prefix);
    let connections = Connections::new(
        store.clone(),
        secrets,
        ProviderHttp::new(HttpPolicy::within(grantdesk_api::PROVIDER_CALL_BUDGET)),
    );
    let events = EventBus::EventBridge {
        client: aws_sdk_eventbridge::Client::new(&aws),
        bus_name: config.event_bus.clone(),
    };
    let expiry = &config.expiry;
    let schedules = ExpirySchedules::new(
        aws_sdk_scheduler::Client::new(&aws),
        expiry.group.clone(),
        expiry.target_arn.clone(),
        expiry.role_arn.clone(),
        expiry.dead_letter_arn.clone(),
    );
    let api = Api::new(store, connections, events, schedules, config);
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}
