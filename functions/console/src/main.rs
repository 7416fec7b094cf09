//! The console Lambda: the API's wiring, the console's secrets and its relying party.

use grantdesk::config::{ApiConfig, ConsoleConfig};
use grantdesk::events::EventBus;
use grantdesk::providers::{Connections, HttpPolicy, ProviderHttp};
use grantdesk::schedules::ExpirySchedules;
use grantdesk::secrets::SecretStore;
use grantdesk::store::Store;
use grantdesk_api::Api;
use grantdesk_console::oidc::{Oidc, OidcSettings};
use grantdesk_console::session::SessionKey;
use grantdesk_console::Console;
use lambda_http::{service_fn, Error, Request};
use secrecy::ExposeSecret;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ApiConfig::from_env()?;
    let console = ConsoleConfig::from_env()?;
    let aws = aws_config::load_from_env().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name);
    let secrets = SecretStore::new(aws_sdk_secretsmanager::Client::new(&aws), &config.secret_prefix);
    let own = secrets.console().await?;
    let key = SessionKey::new(own.session_key.expose_secret())?;
    let oidc = Oidc::new(OidcSettings {
        issuer: console.issuer.clone(),
        client_id: console.client_id.clone(),
        client_secret: own.client_secret.expose_secret().to_owned(),
        redirect_uri: format!("{}/console/auth/callback", console.app_url),
    });
    let http = ProviderHttp::new(HttpPolicy::within(grantdesk_api::PROVIDER_CALL_BUDGET));
    let connections = Connections::new(store.clone(), secrets, http);
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
    let api = Api::new(store.clone(), connections, events, schedules, config);
    let console = Console::new(api, store, oidc, key, &console.app_url);
    let console = &console;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(console.handle(req).await)
    }))
    .await
}
