//! The webhook intake Lambda behind `POST /webhooks/{provider}` (no JWT authorizer).
#![recursion_limit = "256"]

use grantdesk::clients::Clients;
use grantdesk::config::{Config, WebhookIntakeConfig};
use grantdesk_webhook_intake::WebhookIntake;
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = WebhookIntakeConfig::from_env()?;
    let clients = Clients::from_env().await;
    let store = clients.store(&config.table_name);
    let connections = clients.connections(
        &store,
        &config.secret_prefix,
        grantdesk_webhook_intake::PROVIDER_CALL_BUDGET,
    );
    let intake = &WebhookIntake::new(store, connections);
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(intake.handle(req).await)
    }))
    .await
}
