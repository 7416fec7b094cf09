//! The access expiry Lambda, invoked by EventBridge Scheduler with `{"grant_id"}`.
#![recursion_limit = "256"]

use grantdesk::clients::Clients;
use grantdesk::config::{AccessExpiryConfig, Config};
use grantdesk_access_expiry::{AccessExpiry, ExpiryInput};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = AccessExpiryConfig::from_env()?;
    let clients = Clients::from_env().await;
    let expiry = &AccessExpiry::new(clients.store(&config.table_name));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ExpiryInput>| async move {
        let outcome = expiry.handle(event.payload).await?;
        Ok::<_, Error>(format!("{outcome:?}"))
    }))
    .await
}
