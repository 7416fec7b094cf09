//! Integration credentials and webhook secrets, kept in AWS Secrets Manager (never in the
//! table, never in a response or a log line).

use aws_sdk_secretsmanager::error::{DisplayErrorContext, SdkError};
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A Secrets Manager failure. Messages name the secret, never its value.
#[derive(Debug, Error)]
#[error("{operation} secret {name}: {message}")]
pub struct SecretError {
    /// What was being done.
    pub operation: &'static str,
    /// The secret's name.
    pub name: String,
    /// What went wrong.
    pub message: String,
}

/// The secrets of one integration.
#[derive(Clone, Debug)]
pub struct IntegrationSecrets {
    /// The API token, API key or password.
    pub credential: SecretString,
    /// The secret webhooks are signed with.
    pub webhook_secret: SecretString,
}

/// The console's secrets.
#[derive(Clone, Debug)]
pub struct ConsoleSecrets {
    /// The OpenID Connect client secret.
    pub client_secret: SecretString,
    /// The key session cookies are signed with.
    pub session_key: SecretString,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    credential: String,
    webhook_secret: String,
}

/// Secrets under one name prefix (`grantdesk/` by default; the template uses the stack name).
#[derive(Clone, Debug)]
pub struct SecretStore {
    client: Client,
    prefix: String,
}

impl SecretStore {
    /// A store whose secrets are named `<prefix>integrations/<provider>`.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    /// The name of an integration's secret.
    pub fn integration_name(&self, provider: &str) -> String {
        format!("{}integrations/{provider}", self.prefix)
    }

    /// Creates or replaces an integration's secrets.
    pub async fn put_integration(&self, provider: &str, secrets: &IntegrationSecrets) -> Result<String, SecretError> {
        let name = self.integration_name(provider);
        let value = serde_json::to_string(&Stored {
            credential: secrets.credential.expose_secret().to_owned(),
            webhook_secret: secrets.webhook_secret.expose_secret().to_owned(),
        })
        .map_err(|e| SecretError {
            operation: "encoding",
            name: name.clone(),
            message: e.to_string(),
        })?;
        let described = self.client.describe_secret().secret_id(&name).send().await;
        match described {
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                self.client
                    .create_secret()
                    .name(&name)
                    .description("grantdesk integration credentials")
                    .secret_string(value)
                    .send()
                    .await
                    .map_err(|e| SecretError {
                        operation: "creating",
                        name: name.clone(),
                        message: DisplayErrorContext(e).to_string(),
                    })?;
                return Ok(name);
            }
            Err(e) => {
                return Err(SecretError {
                    operation: "describing",
                    name,
                    message: DisplayErrorContext(e).to_string(),
                })
            }
            // A disconnected integration's secret waits out its recovery window marked deleted:
            // reconnecting restores it rather than failing.
            Ok(secret) if secret.deleted_date.is_some() => {
                self.client
                    .restore_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(|e| SecretError {
                        operation: "restoring",
                        name: name.clone(),
                        message: DisplayErrorContext(e).to_string(),
                    })?;
            }
            Ok(_) => {}
        }
        self.client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| SecretError {
                operation: "updating",
                name: name.clone(),
                message: DisplayErrorContext(e).to_string(),
            })?;
        Ok(name)
    }

    /// An integration's secrets, if stored.
    pub async fn integration(&self, provider: &str) -> Result<Option<IntegrationSecrets>, SecretError> {
        let name = self.integration_name(provider);
        let result = self.client.get_secret_value().secret_id(&name).send().await;
        let value = match result {
            Ok(out) => out.secret_string.unwrap_or_default(),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => return Ok(None),
            // Marked deleted (disconnected, inside the recovery window): gone as far as we care.
            Err(SdkError::ServiceError(e)) if e.err().is_invalid_request_exception() => return Ok(None),
            Err(e) => {
                return Err(SecretError {
                    operation: "reading",
                    name,
                    message: DisplayErrorContext(e).to_string(),
                })
            }
        };
        let stored: Stored = serde_json::from_str(&value).map_err(|_| SecretError {
            operation: "decoding",
            name,
            message: "the secret is not grantdesk's JSON".into(),
        })?;
        Ok(Some(IntegrationSecrets {
            credential: SecretString::from(stored.credential),
            webhook_secret: SecretString::from(stored.webhook_secret),
        }))
    }

    /// The console's secrets (`<prefix>console`): the OpenID client secret and the key session
    /// cookies are signed with. The template creates the secret and generates the key.
    pub async fn console(&self) -> Result<ConsoleSecrets, SecretError> {
        let name = format!("{}console", self.prefix);
        let out = self
            .client
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| SecretError {
                operation: "reading",
                name: name.clone(),
                message: DisplayErrorContext(e).to_string(),
            })?;
        #[derive(Deserialize)]
        struct Stored {
            client_secret: String,
            session_key: String,
        }
        let stored: Stored = out
            .secret_string
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| SecretError {
                operation: "decoding",
                name,
                message: "the secret must be JSON with client_secret and session_key".into(),
            })?;
        Ok(ConsoleSecrets {
            client_secret: SecretString::from(stored.client_secret),
            session_key: SecretString::from(stored.session_key),
        })
    }

    /// Deletes an integration's secrets (Secrets Manager keeps them recoverable for 7 days).
    pub async fn delete_integration(&self, provider: &str) -> Result<(), SecretError> {
        let name = self.integration_name(provider);
        match self
            .client
            .delete_secret()
            .secret_id(&name)
            .recovery_window_in_days(7)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => Ok(()),
            Err(e) => Err(SecretError {
                operation: "deleting",
                name,
                message: DisplayErrorContext(e).to_string(),
            }),
        }
    }
}
