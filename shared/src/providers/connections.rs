//! Turning a connected integration (its record in the table and its secrets) into a client.

use super::{AnyProvider, Credentials, ProviderHttp};
use crate::domain::{Integration, TicketProviderKind};
use crate::secrets::{IntegrationSecrets, SecretError, SecretStore};
use crate::store::{Store, StoreError};
use thiserror::Error;

/// Why no client could be built.
#[derive(Debug, Error)]
pub enum ConnectionError {
    /// The provider is not connected.
    #[error("no {0} integration is connected")]
    NotConnected(TicketProviderKind),
    /// Reading the integration failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading its secrets failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// The credentials for `integration` with its stored `secrets`.
pub fn credentials(integration: &Integration, secrets: &IntegrationSecrets) -> Credentials {
    let secret = secrets.credential.clone();
    match integration.provider {
        TicketProviderKind::Jira => Credentials::Jira {
            email: integration.account.clone(),
            api_token: secret,
        },
        TicketProviderKind::Linear => Credentials::Linear { api_key: secret },
        TicketProviderKind::Servicenow => Credentials::Servicenow {
            username: integration.account.clone(),
            password: secret,
        },
    }
}

/// Builds clients for connected providers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Connections {
    store: Store,
    secrets: SecretStore,
    http: ProviderHttp,
}

impl Connections {
    /// Connections read from `store` and `secrets`, talking HTTP through `http`.
    pub fn new(store: Store, secrets: SecretStore, http: ProviderHttp) -> Self {
        Self { store, secrets, http }
    }

    /// These connections, reading integrations through `store` (a call's, holding what it
    /// read up front).
    pub fn with_store(&self, store: Store) -> Self {
        Self { store, ..self.clone() }
    }

    /// The shared HTTP client (and its call counter).
    pub fn http(&self) -> &ProviderHttp {
        &self.http
    }

    /// The secret store.
    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    /// A client for `integration` with `secrets`.
    pub fn client_with(&self, integration: &Integration, secrets: &IntegrationSecrets) -> AnyProvider {
        AnyProvider::new(
            self.http.clone(),
            &integration.base_url,
            credentials(integration, secrets),
            integration.state_overrides.clone(),
        )
        .with_close_code(integration.close_code.as_deref())
    }

    /// A client for a connected provider.
    pub async fn client(&self, provider: TicketProviderKind) -> Result<AnyProvider, ConnectionError> {
        let integration = self
            .store
            .integration(provider)
            .await?
            .ok_or(ConnectionError::NotConnected(provider))?;
        let secrets = self
            .secrets
            .integration(provider.as_str())
            .await?
            .ok_or(ConnectionError::NotConnected(provider))?;
        Ok(self.client_with(&integration.value, &secrets))
    }
}
