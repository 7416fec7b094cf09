//! The access expiry Lambda, invoked by EventBridge Scheduler with `{"grant_id"}`.
#![recursion_limit = "256"]

use grantdesk::config::SyncConfig;
use grantdesk::store::Store;
use grantdesk_access_expiry::{AccessExpiry, ExpiryInput};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = SyncConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let expiry = AccessExpiry::new(Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name));
    let expiry = &expiry;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ExpiryInput>| async move {
        let outcome = expiry.handle(event.payload).await?;
        Ok::<_, Error>(format!("{outcome:?}"))
    }))
    .await
}
