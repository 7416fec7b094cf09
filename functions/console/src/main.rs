//! The console Lambda: the API's clients, the console's secrets and its relying party.

use grantdesk::clients::Clients;
use grantdesk::config::{ApiConfig, Config, ConsoleConfig};
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
    let wiring = grantdesk_json_api::wire(&Clients::from_env().await, config);
    let own = wiring.secrets.console().await?;
    let oidc = Oidc::new(OidcSettings {
        issuer: console.issuer.clone(),
        client_id: console.client_id.clone(),
        client_secret: own.client_secret.expose_secret().to_owned(),
        redirect_uri: format!("{}/console/auth/callback", console.app_url),
    });
    let key = SessionKey::new(own.session_key.expose_secret())?;
    let console = &Console::new(wiring.api, wiring.store, oidc, key, &console.app_url);
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(console.handle(req).await)
    }))
    .await
}
