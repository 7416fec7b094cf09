//! Configuration, read once from the environment at start-up.

use crate::domain::Email;
use thiserror::Error;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable is set to something unusable.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// What the API function needs to know.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The DynamoDB table (`GRANTDESK_TABLE`).
    pub table_name: String,
    /// Users who are org admins whatever the directory says (`GRANTDESK_BOOTSTRAP_ADMINS`,
    /// comma-separated e-mails).
    pub bootstrap_admins: Vec<Email>,
    /// Prefix of the Secrets Manager names holding integration secrets
    /// (`GRANTDESK_SECRET_PREFIX`, default `grantdesk/`).
    pub secret_prefix: String,
    /// The EventBridge bus events go to (`GRANTDESK_EVENT_BUS`, default `default`).
    pub event_bus: String,
    /// Where grant expiry schedules are created.
    pub expiry: ExpiryConfig,
    /// Whether integrations may use `http://` base URLs on loopback
    /// (`GRANTDESK_ALLOW_LOOPBACK_HTTP=true`: the local stack sets it; AWS never does).
    pub allow_loopback_http: bool,
}

/// Where grant expiry schedules go: `GRANTDESK_SCHEDULE_GROUP`, `GRANTDESK_EXPIRY_TARGET_ARN`,
/// `GRANTDESK_SCHEDULER_ROLE_ARN` and optionally `GRANTDESK_EXPIRY_DLQ_ARN`.
#[derive(Clone, Debug)]
pub struct ExpiryConfig {
    /// The schedule group.
    pub group: String,
    /// The access-expiry function.
    pub target_arn: String,
    /// The role Scheduler assumes to invoke it.
    pub role_arn: String,
    /// Where failed invocations go.
    pub dead_letter_arn: Option<String>,
}

impl ExpiryConfig {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        Ok(Self {
            group: required("GRANTDESK_SCHEDULE_GROUP")?,
            target_arn: required("GRANTDESK_EXPIRY_TARGET_ARN")?,
            role_arn: required("GRANTDESK_SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: lookup("GRANTDESK_EXPIRY_DLQ_ARN").filter(|v| !v.trim().is_empty()),
        })
    }
}

impl ApiConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("GRANTDESK_TABLE")
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing("GRANTDESK_TABLE"))?;
        let bootstrap_admins = parse_admins(lookup("GRANTDESK_BOOTSTRAP_ADMINS").as_deref().unwrap_or(""))?;
        let secret_prefix = lookup("GRANTDESK_SECRET_PREFIX")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "grantdesk/".into());
        let event_bus = lookup("GRANTDESK_EVENT_BUS")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "default".into());
        let expiry = ExpiryConfig::from_lookup(&lookup)?;
        let allow_loopback_http = match lookup("GRANTDESK_ALLOW_LOOPBACK_HTTP").as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "GRANTDESK_ALLOW_LOOPBACK_HTTP",
                    reason: format!("must be true or false, not {other:?}"),
                })
            }
        };
        Ok(Self {
            table_name,
            bootstrap_admins,
            secret_prefix,
            event_bus,
            expiry,
            allow_loopback_http,
        })
    }
}

/// What the console function needs to know besides the API's configuration.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The OpenID Connect issuer (`GRANTDESK_OIDC_ISSUER`), also the API's JWT issuer.
    pub issuer: String,
    /// The console's client id (`GRANTDESK_OIDC_CLIENT_ID`), also the API's JWT audience.
    pub client_id: String,
    /// Where people use grantdesk (`GRANTDESK_APP_URL`): the console is at `<app>/console/`.
    pub app_url: String,
}

impl ConsoleConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| value(name).ok_or(ConfigError::Missing(name));
        let issuer = required("GRANTDESK_OIDC_ISSUER")?;
        if !issuer.starts_with("https://") {
            return Err(ConfigError::Invalid {
                name: "GRANTDESK_OIDC_ISSUER",
                reason: "must be an https:// URL".into(),
            });
        }
        let app_url = required("GRANTDESK_APP_URL")?.trim_end_matches('/').to_owned();
        if !app_url.starts_with("https://") {
            return Err(ConfigError::Invalid {
                name: "GRANTDESK_APP_URL",
                reason: "must be an https:// URL".into(),
            });
        }
        Ok(Self {
            issuer,
            client_id: required("GRANTDESK_OIDC_CLIENT_ID")?,
            app_url,
        })
    }
}

/// What the ticket filer needs to know.
#[derive(Clone, Debug)]
pub struct FilerConfig {
    /// The DynamoDB table (`GRANTDESK_TABLE`).
    pub table_name: String,
    /// Prefix of the integration secrets (`GRANTDESK_SECRET_PREFIX`, default `grantdesk/`).
    pub secret_prefix: String,
    /// Where people use grantdesk, for links in tickets (`GRANTDESK_APP_URL`).
    pub app_url: String,
    /// The EventBridge bus domain events go to (`GRANTDESK_EVENT_BUS`, default `default`).
    pub event_bus: String,
}

impl FilerConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let value = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(ConfigError::Missing(name));
        let app_url = required("GRANTDESK_APP_URL")?.trim_end_matches('/').to_owned();
        if !(app_url.starts_with("https://") || app_url.starts_with("http://")) {
            return Err(ConfigError::Invalid {
                name: "GRANTDESK_APP_URL",
                reason: "must be an http(s) URL".into(),
            });
        }
        Ok(Self {
            table_name: required("GRANTDESK_TABLE")?,
            secret_prefix: value("GRANTDESK_SECRET_PREFIX").unwrap_or_else(|| "grantdesk/".into()),
            app_url,
            event_bus: value("GRANTDESK_EVENT_BUS").unwrap_or_else(|| "default".into()),
        })
    }
}

/// What status sync and webhook intake need to know.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// The DynamoDB table (`GRANTDESK_TABLE`).
    pub table_name: String,
    /// Prefix of the integration secrets (`GRANTDESK_SECRET_PREFIX`, default `grantdesk/`).
    pub secret_prefix: String,
}

impl SyncConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let table_name = std::env::var("GRANTDESK_TABLE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(ConfigError::Missing("GRANTDESK_TABLE"))?;
        let secret_prefix = std::env::var("GRANTDESK_SECRET_PREFIX")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "grantdesk/".into());
        Ok(Self {
            table_name,
            secret_prefix,
        })
    }
}

fn parse_admins(text: &str) -> Result<Vec<Email>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            Email::parse(s).map_err(|reason| ConfigError::Invalid {
                name: "GRANTDESK_BOOTSTRAP_ADMINS",
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_needs_an_https_issuer_client_and_app_url() {
        let lookup = |issuer: &'static str| {
            move |name: &str| match name {
                "GRANTDESK_OIDC_ISSUER" => Some(issuer.to_owned()),
                "GRANTDESK_OIDC_CLIENT_ID" => Some("console".to_owned()),
                "GRANTDESK_APP_URL" => Some("https://access.example.com/".to_owned()),
                _ => None,
            }
        };
        let config = ConsoleConfig::from_lookup(lookup("https://idp.example.com")).unwrap();
        assert_eq!(config.app_url, "https://access.example.com");
        assert_eq!(config.client_id, "console");
        let err = ConsoleConfig::from_lookup(lookup("http://idp.example.com")).unwrap_err();
        assert!(err.to_string().contains("GRANTDESK_OIDC_ISSUER"), "{err}");
        let err = ConsoleConfig::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains("GRANTDESK_OIDC_ISSUER"), "{err}");
    }

    #[test]
    fn the_table_is_required_and_admins_are_parsed() {
        let err = ApiConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable GRANTDESK_TABLE is required but not set"
        );
        let config = ApiConfig::from_lookup(|name| match name {
            "GRANTDESK_TABLE" => Some("grantdesk".into()),
            "GRANTDESK_BOOTSTRAP_ADMINS" => Some(" Alice@Example.com, ,bob@example.com".into()),
            "GRANTDESK_SCHEDULE_GROUP" => Some("g".into()),
            "GRANTDESK_EXPIRY_TARGET_ARN" => Some("arn:aws:lambda:us-east-1:1:function:x".into()),
            "GRANTDESK_SCHEDULER_ROLE_ARN" => Some("arn:aws:iam::1:role/r".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.table_name, "grantdesk");
        assert_eq!(config.secret_prefix, "grantdesk/");
        let admins: Vec<_> = config.bootstrap_admins.iter().map(Email::as_str).collect();
        assert_eq!(admins, ["alice@example.com", "bob@example.com"]);
    }

    #[test]
    fn the_filer_needs_a_link_target() {
        let missing = FilerConfig::from_lookup(|name| (name == "GRANTDESK_TABLE").then(|| "t".to_owned())).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "environment variable GRANTDESK_APP_URL is required but not set"
        );
        let config = FilerConfig::from_lookup(|name| match name {
            "GRANTDESK_TABLE" => Some("t".into()),
            "GRANTDESK_APP_URL" => Some("https://grantdesk.example.com/".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.app_url, "https://grantdesk.example.com");
    }

    #[test]
    fn a_malformed_admin_email_fails_fast() {
        let err = ApiConfig::from_lookup(|name| match name {
            "GRANTDESK_TABLE" => Some("t".into()),
            "GRANTDESK_BOOTSTRAP_ADMINS" => Some("not-an-email".into()),
            "GRANTDESK_SCHEDULE_GROUP" => Some("g".into()),
            "GRANTDESK_EXPIRY_TARGET_ARN" => Some("a".into()),
            "GRANTDESK_SCHEDULER_ROLE_ARN" => Some("r".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("GRANTDESK_BOOTSTRAP_ADMINS"));
    }
}
