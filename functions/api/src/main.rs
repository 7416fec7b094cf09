//! The API Lambda: read configuration, build clients once, serve requests.

use grantdesk::config::ApiConfig;
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ApiConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let api = &grantdesk_api::wire(&aws, config).api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(api.handle(req).await)
    }))
    .await
}
