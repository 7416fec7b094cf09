//! The API Lambda: read configuration, build clients once, serve requests.

use grantdesk::clients::Clients;
use grantdesk::config::{ApiConfig, Config};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ApiConfig::from_env()?;
    let api = &grantdesk_json_api::wire(&Clients::from_env().await, config).api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}
