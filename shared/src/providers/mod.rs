//! Clients for the ticket systems grantdesk files and reads tickets in: Jira Cloud, Linear and
//! ServiceNow, behind one [`TicketProvider`] trait.
//!
//! Every client is narrow (only the calls grantdesk makes, as listed in `shared/specs/`),
//! reuses one HTTP connection pool, retries what is safe to retry with jittered backoff,
//! honours rate limits, and never puts a credential in a log line or an error.

pub mod connections;
mod http;
pub mod jira;
pub mod linear;
pub mod servicenow;

pub use connections::{ConnectionError, Connections};
pub use http::{HttpPolicy, ProviderHttp};

use crate::domain::{TicketProviderKind, TicketState};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use thiserror::Error;

/// What kind of failure a provider call ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The credentials were refused (401/403).
    Unauthorized,
    /// The project, team, table or ticket does not exist or is not visible.
    NotFound,
    /// The provider rejected the request as invalid (4xx other than the above).
    Rejected,
    /// Still rate limited after the bounded retries.
    RateLimited,
    /// Network failure, timeout or 5xx after the bounded retries.
    Unavailable,
    /// The answer could not be understood.
    BadResponse,
}

/// A failed provider call, naming the provider, the operation and, where there was one, the
/// HTTP status. Credentials never appear here.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{operation} in {provider}: {message}")]
pub struct ProviderError {
    /// Which provider.
    pub provider: TicketProviderKind,
    /// What grantdesk was doing (`creating Jira issue in project OPS`).
    pub operation: String,
    /// The failure's kind.
    pub kind: ProviderErrorKind,
    /// The HTTP status, if the provider answered.
    pub status: Option<u16>,
    /// What went wrong (includes the status line when there is one).
    pub message: String,
    /// What the provider said it refused, where its answer says so in a form read here.
    pub refused: Refused,
}

/// What a provider refused, read from its answer where it says so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Refused {
    /// Nothing more specific than the error's kind.
    #[default]
    Unspecified,
    /// These fields of the request, by name (Jira: the keys of the answer's `errors` object).
    Fields(Vec<String>),
    /// Something with the id sent exists already (Linear: an entity with the given id).
    Duplicate,
}

impl Refused {
    /// Whether the provider refused the request's field `name`.
    pub fn field(&self, name: &str) -> bool {
        matches!(self, Self::Fields(fields) if fields.iter().any(|f| f == name))
    }
}

impl ProviderError {
    /// What may be shown to the caller of grantdesk's own API: the operation and the status
    /// line, never the provider's answer body (a base URL pointing somewhere else must not
    /// turn grantdesk into a way of reading that place's pages).
    pub fn public_message(&self) -> String {
        match self.status {
            Some(code) => {
                let reason = reqwest::StatusCode::from_u16(code)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                format!("{} in {}: {code} {reason}", self.operation, self.provider)
                    .trim_end()
                    .to_owned()
            }
            None => self.to_string(),
        }
    }
}

/// Result of a provider call.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// A ticket as read from its provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTicket {
    /// The provider's stable id (Jira issue id, Linear issue UUID, ServiceNow `sys_id`).
    pub remote_id: String,
    /// The human key (`OPS-12`, `ENG-7`, `INC0010001`).
    pub key: String,
    /// A link to the ticket.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its state, normalized.
    pub state: TicketState,
    /// The provider's own state (Jira status name, Linear state name, ServiceNow state number).
    pub raw_state: String,
    /// Set when the ticket was just filed without the assignee asked for, because the
    /// provider refused that person (Jira: not assignable in the project).
    #[serde(default)]
    pub assignee_refused: bool,
}

impl RemoteTicket {
    /// What a comment or a close needs of it.
    pub fn handle(&self) -> TicketHandle<'_> {
        TicketHandle {
            remote_id: &self.remote_id,
            key: &self.key,
        }
    }
}

/// A filed ticket as a comment or a close names it: the provider's id to call, and the key
/// for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TicketHandle<'a> {
    /// The provider's stable id.
    pub remote_id: &'a str,
    /// The human key.
    pub key: &'a str,
}

/// A ticket to file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    /// What makes the create idempotent: the same key never files a second ticket.
    pub idempotency_key: String,
    /// Jira project key, Linear team key, or ServiceNow table.
    pub project: String,
    /// One line.
    pub title: String,
    /// Plain text; paragraphs separated by blank lines.
    pub description: String,
    /// The provider's user id of the assignee.
    pub assignee: Option<String>,
    /// The Jira issue type (`Task` when unset); other providers have none.
    pub issue_type: Option<String>,
}

/// Per-integration state mapping that takes precedence over the defaults: the provider's own
/// state (Jira status name, Linear state name, ServiceNow state number) to a normalized one.
/// Needed for example where a Jira "Won't Do" status sits in the done category.
pub type StateOverrides = BTreeMap<String, TicketState>;

/// One ticket system, as grantdesk uses it.
pub trait TicketProvider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> TicketProviderKind;

    /// Checks the credentials and, if given, that the project/team/table exists. Returns a
    /// short description of the identity the credentials belong to.
    fn check_connection(&self, project: Option<&str>) -> impl Future<Output = ProviderResult<String>> + Send;

    /// The ticket already filed in `project` under `idempotency_key`, if the provider shows it.
    /// Jira's search is eventually consistent: right after a create it may not show it yet.
    fn find_filed(
        &self,
        project: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = ProviderResult<Option<RemoteTicket>>> + Send;

    /// Checks that tickets can be filed in `project` as `issue_type` (Jira: the project has
    /// that issue type, `Task` when unset). Providers without issue types accept any.
    fn check_target(&self, project: &str, issue_type: Option<&str>) -> impl Future<Output = ProviderResult<()>> + Send {
        let _ = (project, issue_type);
        async { Ok(()) }
    }

    /// Whether [`Self::find_filed`] may miss a ticket created moments ago (Jira's search is
    /// eventually consistent); when it does not, one empty answer is conclusive.
    fn search_lags(&self) -> bool {
        false
    }

    /// Files a ticket under its idempotency key, with one create call. It does not look for a
    /// ticket filed before under the same key: exactly-once is the ticket filer's lease, which
    /// calls [`Self::find_filed`] when an earlier create's outcome is unknown. Where the
    /// provider makes a create idempotent itself (Linear's client-chosen id), a repeated create
    /// returns the first ticket.
    fn create_ticket(&self, ticket: &NewTicket) -> impl Future<Output = ProviderResult<RemoteTicket>> + Send;

    /// Reads many tickets by remote id in as few calls as the provider allows; tickets that
    /// are gone or invisible are left out.
    fn read_tickets(&self, remote_ids: &[String]) -> impl Future<Output = ProviderResult<Vec<RemoteTicket>>> + Send;

    /// Reads one ticket by its human key; `None` if there is no such ticket.
    fn find_ticket(&self, key: &str) -> impl Future<Output = ProviderResult<Option<RemoteTicket>>> + Send;

    /// Adds a comment.
    fn comment(&self, ticket: TicketHandle<'_>, body: &str) -> impl Future<Output = ProviderResult<()>> + Send;

    /// Closes a ticket as done, with a closing note.
    fn close(&self, ticket: TicketHandle<'_>, note: &str) -> impl Future<Output = ProviderResult<()>> + Send;

    /// The provider's user id for an e-mail address, if it has such a user who may be assigned
    /// tickets in `project` (Jira checks the project's "Assignable user" permission).
    fn find_user_by_email(
        &self,
        email: &str,
        project: &str,
    ) -> impl Future<Output = ProviderResult<Option<String>>> + Send;

    /// Open tickets matching a key or text in one of `projects` (Jira project keys, Linear team
    /// keys, ServiceNow tables), for the ticket picker; nothing outside them, whatever the
    /// integration's account could see.
    fn search_open(
        &self,
        query: &str,
        projects: &[String],
        limit: usize,
    ) -> impl Future<Output = ProviderResult<Vec<RemoteTicket>>> + Send;
}

/// The credentials of one integration. Debug output hides the secrets.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// Jira Cloud: Basic `email:api_token`.
    Jira {
        /// The account's e-mail.
        email: String,
        /// The API token.
        api_token: SecretString,
    },
    /// Linear: a personal API key, sent without `Bearer`.
    Linear {
        /// The API key.
        api_key: SecretString,
    },
    /// ServiceNow: Basic `username:password`.
    Servicenow {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
}

/// Any of the three clients, chosen at run time from an integration's configuration.
#[derive(Clone, Debug)]
pub enum AnyProvider {
    /// Jira Cloud.
    Jira(jira::JiraClient),
    /// Linear.
    Linear(linear::LinearClient),
    /// ServiceNow.
    Servicenow(servicenow::ServiceNowClient),
}

impl AnyProvider {
    /// A client for `base_url` with `credentials`.
    pub fn new(http: ProviderHttp, base_url: &str, credentials: Credentials, overrides: StateOverrides) -> Self {
        let base_url = base_url.trim_end_matches('/').to_owned();
        match credentials {
            Credentials::Jira { email, api_token } => {
                Self::Jira(jira::JiraClient::new(http, base_url, email, api_token, overrides))
            }
            Credentials::Linear { api_key } => {
                Self::Linear(linear::LinearClient::new(http, base_url, api_key, overrides))
            }
            Credentials::Servicenow { username, password } => Self::Servicenow(servicenow::ServiceNowClient::new(
                http, base_url, username, password, overrides,
            )),
        }
    }

    /// The same client, resolving ServiceNow incidents with `close_code` (other providers have
    /// no such thing).
    pub fn with_close_code(self, close_code: Option<&str>) -> Self {
        match (self, close_code) {
            (Self::Servicenow(client), Some(code)) => Self::Servicenow(client.with_close_code(code)),
            (other, _) => other,
        }
    }
}

macro_rules! delegate {
    ($self:ident, $client:ident => $call:expr) => {
        match $self {
            AnyProvider::Jira($client) => $call.await,
            AnyProvider::Linear($client) => $call.await,
            AnyProvider::Servicenow($client) => $call.await,
        }
    };
}

impl TicketProvider for AnyProvider {
    fn kind(&self) -> TicketProviderKind {
        match self {
            Self::Jira(_) => TicketProviderKind::Jira,
            Self::Linear(_) => TicketProviderKind::Linear,
            Self::Servicenow(_) => TicketProviderKind::Servicenow,
        }
    }

    async fn check_connection(&self, project: Option<&str>) -> ProviderResult<String> {
        delegate!(self, c => c.check_connection(project))
    }

    async fn check_target(&self, project: &str, issue_type: Option<&str>) -> ProviderResult<()> {
        delegate!(self, c => c.check_target(project, issue_type))
    }

    fn search_lags(&self) -> bool {
        match self {
            Self::Jira(c) => c.search_lags(),
            Self::Linear(c) => c.search_lags(),
            Self::Servicenow(c) => c.search_lags(),
        }
    }

    async fn find_filed(&self, project: &str, idempotency_key: &str) -> ProviderResult<Option<RemoteTicket>> {
        delegate!(self, c => c.find_filed(project, idempotency_key))
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> ProviderResult<RemoteTicket> {
        delegate!(self, c => c.create_ticket(ticket))
    }

    async fn read_tickets(&self, remote_ids: &[String]) -> ProviderResult<Vec<RemoteTicket>> {
        delegate!(self, c => c.read_tickets(remote_ids))
    }

    async fn find_ticket(&self, key: &str) -> ProviderResult<Option<RemoteTicket>> {
        delegate!(self, c => c.find_ticket(key))
    }

    async fn comment(&self, ticket: TicketHandle<'_>, body: &str) -> ProviderResult<()> {
        delegate!(self, c => c.comment(ticket, body))
    }

    async fn close(&self, ticket: TicketHandle<'_>, note: &str) -> ProviderResult<()> {
        delegate!(self, c => c.close(ticket, note))
    }

    async fn find_user_by_email(&self, email: &str, project: &str) -> ProviderResult<Option<String>> {
        delegate!(self, c => c.find_user_by_email(email, project))
    }

    async fn search_open(&self, query: &str, projects: &[String], limit: usize) -> ProviderResult<Vec<RemoteTicket>> {
        delegate!(self, c => c.search_open(query, projects, limit))
    }
}

/// The open ticket with `key`, for the picker: nothing when the key is outside `projects`
/// (asked or answered) or the ticket is closed.
pub(crate) async fn open_ticket_in(
    client: &impl TicketProvider,
    key: &str,
    projects: &[String],
) -> ProviderResult<Vec<RemoteTicket>> {
    if !key_in_projects(key, projects) {
        return Ok(Vec::new());
    }
    Ok(client
        .find_ticket(key)
        .await?
        .into_iter()
        .filter(|t| !t.state.is_closed() && key_in_projects(&t.key, projects))
        .collect())
}

/// Whether a ticket key (`OPS-12`, `ENG-7`) belongs to one of `projects`, by its prefix.
pub fn key_in_projects(key: &str, projects: &[String]) -> bool {
    key.rsplit_once('-')
        .is_some_and(|(prefix, _)| projects.iter().any(|p| p.eq_ignore_ascii_case(prefix)))
}

/// Checks an integration's base URL: `https://`, or, where `allow_loopback_http` (the local
/// stack only, never in AWS), `http://` to a loopback address (the sandbox providers and tests).
pub fn validate_base_url(text: &str, allow_loopback_http: bool) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| format!("base_url is not a URL: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("base_url must not carry credentials".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => return Err("base_url has no host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && allow_loopback_http => {}
        "http" if loopback => {
            return Err(
                "base_url must use https:// (http:// to loopback is allowed only when grantdesk runs locally)".into(),
            )
        }
        _ => return Err("base_url must use https:// (http:// is allowed only for loopback addresses, locally)".into()),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("base_url must not have a query or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_except_on_loopback() {
        assert_eq!(
            validate_base_url("https://acme.atlassian.net/", false).unwrap(),
            "https://acme.atlassian.net"
        );
        assert!(validate_base_url("http://127.0.0.1:8080", true).is_ok());
        assert!(validate_base_url("http://127.0.0.1:8080", false).is_err(), "not in AWS");
        assert!(validate_base_url("http://localhost:8080", true).is_ok());
        assert!(validate_base_url("http://localhost:8080", false).is_err(), "not in AWS");
        assert!(validate_base_url("http://[::1]:8080", true).is_ok());
        assert!(validate_base_url("http://[::1]:8080", false).is_err(), "not in AWS");
        assert!(validate_base_url("http://acme.atlassian.net", true).is_err());
        assert!(validate_base_url("http://10.0.0.5", true).is_err());
        assert!(validate_base_url("ftp://acme.example", true).is_err());
        assert!(validate_base_url("https://user:pw@acme.atlassian.net", true).is_err());
        assert!(validate_base_url("not a url", true).is_err());
    }
}
