//! The webhook intake Lambda behind `POST /webhooks/{provider}` (no JWT authorizer).
#![recursion_limit = "256"]

use grantdesk::config::SyncConfig;
use grantdesk::providers::{Connections, HttpPolicy, ProviderHttp};
use grantdesk::secrets::SecretStore;
use grantdesk::store::Store;
use grantdesk_webhook_intake::WebhookIntake;
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = SyncConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    let secrets = SecretStore::new(aws_sdk_secretsmanager::Client::new(&aws), &config.secret_prefix);
    let connections = Connections::new(
        store.clone(),
        secrets,
        ProviderHttp::new(HttpPolicy::within(grantdesk_webhook_intake::PROVIDER_CALL_BUDGET)),
    );
    let intake = WebhookIntake::new(store, connections);
    let intake = &intake;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(intake.handle(req).await)
    }))
    .await
}
