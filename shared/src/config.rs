//! Configuration, read once at start-up: from the process environment in AWS, through any
//! lookup in tests and the local stack, with the same rules either way. One reader ([`Vars`])
//! reads every variable; each function has one configuration, named after it.

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

/// Variables as a lookup answers them: trimmed, and blank is the same as unset.
pub struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    /// Variables answered by `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The value of `name`, if set and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, which must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// The value of `name`, or `default`.
    pub fn or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// `true` or `false`; unset is `false`.
    pub fn flag(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ConfigError::Invalid {
                name,
                reason: format!("must be true or false, not {other:?}"),
            }),
        }
    }

    /// A required URL without its trailing `/`: `https://` only, or also `http://` when
    /// `http_too`.
    pub fn url(&self, name: &'static str, http_too: bool) -> Result<String, ConfigError> {
        let url = self.required(name)?.trim_end_matches('/').to_owned();
        let allowed = url.starts_with("https://") || (http_too && url.starts_with("http://"));
        if !allowed {
            return Err(ConfigError::Invalid {
                name,
                reason: if http_too {
                    "must be an http(s) URL"
                } else {
                    "must be an https:// URL"
                }
                .into(),
            });
        }
        Ok(url)
    }

    /// Comma-separated e-mail addresses; unset is none.
    pub fn emails(&self, name: &'static str) -> Result<Vec<Email>, ConfigError> {
        self.optional(name)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Email::parse(s).map_err(|reason| ConfigError::Invalid { name, reason }))
            .collect()
    }
}

/// A function's configuration, read through [`Vars`].
pub trait Config: Sized {
    /// Reads it from `vars`.
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError>;

    /// Reads it from the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads it through `lookup`, so tests need not touch the environment.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Vars::new(&lookup))
    }
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
    pub expiry: ScheduleConfig,
    /// Whether integrations may use `http://` base URLs on loopback
    /// (`GRANTDESK_ALLOW_LOOPBACK_HTTP=true`: the local stack sets it; AWS never does).
    pub allow_loopback_http: bool,
}

impl Config for ApiConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("GRANTDESK_TABLE")?,
            bootstrap_admins: vars.emails("GRANTDESK_BOOTSTRAP_ADMINS")?,
            secret_prefix: vars.or("GRANTDESK_SECRET_PREFIX", DEFAULT_SECRET_PREFIX),
            event_bus: vars.or("GRANTDESK_EVENT_BUS", DEFAULT_EVENT_BUS),
            expiry: ScheduleConfig::read(vars)?,
            allow_loopback_http: vars.flag("GRANTDESK_ALLOW_LOOPBACK_HTTP")?,
        })
    }
}

/// The prefix of integration secrets' names when `GRANTDESK_SECRET_PREFIX` is unset.
pub const DEFAULT_SECRET_PREFIX: &str = "grantdesk/";
/// The event bus when `GRANTDESK_EVENT_BUS` is unset.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// Where grant expiry schedules go: `GRANTDESK_SCHEDULE_GROUP`, `GRANTDESK_EXPIRY_TARGET_ARN`,
/// `GRANTDESK_SCHEDULER_ROLE_ARN` and optionally `GRANTDESK_EXPIRY_DLQ_ARN` (part of the API's
/// and the console's configuration).
#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    /// The schedule group.
    pub group: String,
    /// The access-expiry function.
    pub target_arn: String,
    /// The role Scheduler assumes to invoke it.
    pub role_arn: String,
    /// Where failed invocations go.
    pub dead_letter_arn: Option<String>,
}

impl Config for ScheduleConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            group: vars.required("GRANTDESK_SCHEDULE_GROUP")?,
            target_arn: vars.required("GRANTDESK_EXPIRY_TARGET_ARN")?,
            role_arn: vars.required("GRANTDESK_SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: vars.optional("GRANTDESK_EXPIRY_DLQ_ARN"),
        })
    }
}

/// What the console function needs to know besides the API's configuration (it serves the
/// API's calls in-process, so it reads [`ApiConfig`] too).
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// The OpenID Connect issuer (`GRANTDESK_OIDC_ISSUER`), also the API's JWT issuer.
    pub issuer: String,
    /// The console's client id (`GRANTDESK_OIDC_CLIENT_ID`), also the API's JWT audience.
    pub client_id: String,
    /// Where people use grantdesk (`GRANTDESK_APP_URL`): the console is at `<app>/console/`.
    pub app_url: String,
}

impl Config for ConsoleConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: vars.url("GRANTDESK_OIDC_ISSUER", false)?,
            app_url: vars.url("GRANTDESK_APP_URL", false)?,
            client_id: vars.required("GRANTDESK_OIDC_CLIENT_ID")?,
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

impl Config for FilerConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("GRANTDESK_TABLE")?,
            secret_prefix: vars.or("GRANTDESK_SECRET_PREFIX", DEFAULT_SECRET_PREFIX),
            app_url: vars.url("GRANTDESK_APP_URL", true)?,
            event_bus: vars.or("GRANTDESK_EVENT_BUS", DEFAULT_EVENT_BUS),
        })
    }
}

/// What status sync needs to know: its sweeper re-drives the filer's work, so it reads what
/// the filer reads.
#[derive(Clone, Debug)]
pub struct StatusSyncConfig {
    /// The filer's configuration, for re-driven work.
    pub filer: FilerConfig,
}

impl Config for StatusSyncConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            filer: FilerConfig::read(vars)?,
        })
    }
}

/// What webhook intake needs to know.
#[derive(Clone, Debug)]
pub struct WebhookIntakeConfig {
    /// The DynamoDB table (`GRANTDESK_TABLE`).
    pub table_name: String,
    /// Prefix of the integration secrets (`GRANTDESK_SECRET_PREFIX`, default `grantdesk/`).
    pub secret_prefix: String,
}

impl Config for WebhookIntakeConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("GRANTDESK_TABLE")?,
            secret_prefix: vars.or("GRANTDESK_SECRET_PREFIX", DEFAULT_SECRET_PREFIX),
        })
    }
}

/// What access expiry needs to know.
#[derive(Clone, Debug)]
pub struct AccessExpiryConfig {
    /// The DynamoDB table (`GRANTDESK_TABLE`).
    pub table_name: String,
}

impl Config for AccessExpiryConfig {
    fn read(vars: &Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("GRANTDESK_TABLE")?,
        })
    }
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
    fn blank_is_unset_and_flags_are_true_or_false() {
        let vars = |value: &'static str| {
            move |name: &str| match name {
                "GRANTDESK_TABLE" => Some(" t ".to_owned()),
                "GRANTDESK_SECRET_PREFIX" | "GRANTDESK_EVENT_BUS" => Some("   ".to_owned()),
                "GRANTDESK_ALLOW_LOOPBACK_HTTP" => Some(value.to_owned()),
                "GRANTDESK_SCHEDULE_GROUP" | "GRANTDESK_EXPIRY_TARGET_ARN" | "GRANTDESK_SCHEDULER_ROLE_ARN" => {
                    Some("x".to_owned())
                }
                _ => None,
            }
        };
        let config = ApiConfig::from_lookup(vars(" true ")).unwrap();
        assert_eq!(config.table_name, "t");
        assert_eq!(config.secret_prefix, "grantdesk/");
        assert_eq!(config.event_bus, "default");
        assert!(config.allow_loopback_http);
        assert!(config.expiry.dead_letter_arn.is_none());
        assert!(!ApiConfig::from_lookup(vars("")).unwrap().allow_loopback_http);
        let err = ApiConfig::from_lookup(vars("yes")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable GRANTDESK_ALLOW_LOOPBACK_HTTP is invalid: must be true or false, not \"yes\""
        );
    }

    #[test]
    fn each_worker_needs_its_table() {
        for err in [
            WebhookIntakeConfig::from_lookup(|_| None).map(|_| ()).unwrap_err(),
            AccessExpiryConfig::from_lookup(|_| None).map(|_| ()).unwrap_err(),
            StatusSyncConfig::from_lookup(|_| None).map(|_| ()).unwrap_err(),
        ] {
            assert!(matches!(err, ConfigError::Missing("GRANTDESK_TABLE")), "{err}");
        }
        let intake =
            WebhookIntakeConfig::from_lookup(|name| (name == "GRANTDESK_TABLE").then(|| "t".to_owned())).unwrap();
        assert_eq!(intake.secret_prefix, "grantdesk/");
        let filer_url = |name: &str| match name {
            "GRANTDESK_TABLE" => Some("t".to_owned()),
            "GRANTDESK_APP_URL" => Some("ftp://grantdesk.example.com".to_owned()),
            _ => None,
        };
        let err = StatusSyncConfig::from_lookup(filer_url).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable GRANTDESK_APP_URL is invalid: must be an http(s) URL"
        );
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
