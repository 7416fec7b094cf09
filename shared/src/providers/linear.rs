//! Linear GraphQL client: a personal API key sent as `Authorization: <key>` (no `Bearer`),
//! the operations of `shared/specs/linear/operations.graphql` exactly, state from the
//! workflow state's `type`, idempotent create through a client-chosen issue id.

use super::http::{Answer, Retry};
use super::{
    NewTicket, ProviderError, ProviderErrorKind, ProviderHttp, ProviderResult, Refused, RemoteTicket, StateOverrides,
    TicketHandle, TicketProvider,
};
use crate::domain::{TicketProviderKind, TicketState};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

const KIND: TicketProviderKind = TicketProviderKind::Linear;
/// Issues read per `issues(filter: {id: {in: ...}})` call.
pub const READ_BATCH: usize = 100;

/// The GraphQL operations this client sends, verbatim from the spec.
pub mod operations {
    /// `mutation IssueCreate`.
    pub const ISSUE_CREATE: &str = include_str!("linear/IssueCreate.graphql");
    /// `query IssuesByIds`.
    pub const ISSUES_BY_IDS: &str = include_str!("linear/IssuesByIds.graphql");
    /// `query Issue`.
    pub const ISSUE: &str = include_str!("linear/Issue.graphql");
    /// `query Viewer`.
    pub const VIEWER: &str = include_str!("linear/Viewer.graphql");
    /// `query UsersByEmail`.
    pub const USERS_BY_EMAIL: &str = include_str!("linear/UsersByEmail.graphql");
    /// `query Teams`.
    pub const TEAMS: &str = include_str!("linear/Teams.graphql");
    /// `query WorkflowStatesByTeam`.
    pub const WORKFLOW_STATES_BY_TEAM: &str = include_str!("linear/WorkflowStatesByTeam.graphql");
    /// `mutation CommentCreate`.
    pub const COMMENT_CREATE: &str = include_str!("linear/CommentCreate.graphql");
    /// `mutation IssueUpdateState`.
    pub const ISSUE_UPDATE_STATE: &str = include_str!("linear/IssueUpdateState.graphql");
    /// `query SearchOpenIssues`: full-text search of open issues, for the ticket picker.
    pub const SEARCH_OPEN_ISSUES: &str = include_str!("linear/SearchOpenIssues.graphql");
}

/// Whether text is an issue identifier (`ENG-7`): a team key, a dash, a number.
fn looks_like_identifier(text: &str) -> bool {
    text.rsplit_once('-').is_some_and(|(team, number)| {
        !team.is_empty()
            && team.chars().all(|c| c.is_ascii_alphanumeric())
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
    })
}

/// A Linear workspace.
#[derive(Clone, Debug)]
pub struct LinearClient {
    http: ProviderHttp,
    base_url: String,
    api_key: SecretString,
    overrides: StateOverrides,
}

#[derive(Deserialize)]
struct Issue {
    id: String,
    identifier: String,
    url: String,
    #[serde(default)]
    title: String,
    state: Option<State>,
    team: Option<Team>,
}

#[derive(Deserialize)]
struct State {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Team {
    id: String,
    key: String,
}

#[derive(Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
    #[serde(rename = "pageInfo")]
    page_info: Option<PageInfo>,
}

#[derive(Deserialize)]
struct PageInfo {
    #[serde(rename = "hasNextPage")]
    has_next_page: bool,
    #[serde(rename = "endCursor")]
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
struct LinearUser {
    id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    active: bool,
}

/// Normalizes a Linear workflow state: an override for the state name wins, else its type.
pub fn map_state(name: &str, kind: &str, overrides: &StateOverrides) -> TicketState {
    if let Some(state) = overrides.get(name) {
        return *state;
    }
    match kind {
        "started" => TicketState::InProgress,
        "completed" => TicketState::Done,
        "canceled" | "duplicate" => TicketState::Canceled,
        _ => TicketState::Open,
    }
}

/// The issue id a given idempotency key always maps to: shaped as a UUID v4, as
/// `IssueCreateInput.id` expects, but derived rather than random, so a retry reuses it.
pub fn issue_id_for(key: &str) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6772_616e_7464_6573_6b2d_6c69_6e65_6172);
    let derived = uuid::Uuid::new_v5(&NAMESPACE, key.as_bytes());
    uuid::Builder::from_random_bytes(derived.into_bytes())
        .into_uuid()
        .to_string()
}

fn is_rate_limited(status: StatusCode, body: &[u8]) -> bool {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return true;
    }
    // Linear answers a rate limit as a GraphQL error, on 400 or on 200; its SDK reads both
    // `extensions.code` and `extensions.type`.
    (status == StatusCode::BAD_REQUEST || status.is_success())
        && serde_json::from_slice::<Value>(body).ok().is_some_and(|v| {
            v["errors"]
                .as_array()
                .is_some_and(|errors| errors.iter().any(is_rate_limit_error))
        })
}

/// What a refusal's GraphQL errors say was refused: Linear gives a duplicate id no code of its
/// own (`INVALID_INPUT`), only the message "Entity already exists with this id".
fn refused_by(errors: &[Value]) -> Refused {
    let duplicate = errors.iter().any(|error| {
        error["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("already exists"))
    });
    if duplicate {
        Refused::Duplicate
    } else {
        Refused::Unspecified
    }
}

/// [`refused_by`] for an answer refused with an HTTP error status.
fn refusal(body: &[u8]) -> Refused {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|answer| answer["errors"].as_array().map(|errors| refused_by(errors)))
        .unwrap_or_default()
}

fn is_rate_limit_error(error: &Value) -> bool {
    let extensions = &error["extensions"];
    extensions["code"]
        .as_str()
        .is_some_and(|c| c.eq_ignore_ascii_case("RATELIMITED"))
        || extensions["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("ratelimited"))
}

impl LinearClient {
    /// A client for the API at `base_url` (`https://api.linear.app`).
    pub fn new(http: ProviderHttp, base_url: String, api_key: SecretString, overrides: StateOverrides) -> Self {
        Self {
            http,
            base_url,
            api_key,
            overrides,
        }
    }

    fn error(&self, operation: &str, kind: ProviderErrorKind, status: Option<u16>, message: String) -> ProviderError {
        ProviderError {
            provider: KIND,
            operation: operation.to_owned(),
            kind,
            status,
            message,
            refused: Default::default(),
        }
    }

    /// Sends one operation; GraphQL errors become [`ProviderError`]s, `data` is returned.
    async fn graphql(&self, operation: &str, query: &str, variables: Value, retry: Retry) -> ProviderResult<Value> {
        let body = json!({"query": query, "variables": variables});
        let result = self
            .http
            .send(
                KIND,
                operation,
                retry,
                |client| {
                    client
                        .post(format!("{}/graphql", self.base_url))
                        .header("Authorization", self.api_key.expose_secret())
                        .json(&body)
                },
                is_rate_limited,
                refusal,
            )
            .await;
        let answer = match result {
            Ok(answer) => answer,
            // Linear answers most GraphQL errors with 400; classify them by their message.
            Err(mut err) if err.status == Some(400) => {
                let text = err.message.to_lowercase();
                if text.contains("not found") {
                    err.kind = ProviderErrorKind::NotFound;
                } else if text.contains("authentication") {
                    err.kind = ProviderErrorKind::Unauthorized;
                }
                return Err(err);
            }
            Err(err) => return Err(err),
        };
        self.data(operation, &answer)
    }

    fn data(&self, operation: &str, answer: &Answer) -> ProviderResult<Value> {
        let status = Some(answer.status.as_u16());
        let body: Value = serde_json::from_slice(&answer.body).map_err(|e| {
            self.error(
                operation,
                ProviderErrorKind::BadResponse,
                status,
                format!("unexpected answer: {e}"),
            )
        })?;
        if let Some(errors) = body["errors"].as_array().filter(|e| !e.is_empty()) {
            let first = &errors[0];
            let message = first["message"].as_str().unwrap_or("GraphQL error").to_owned();
            let code = first["extensions"]["code"].as_str().unwrap_or("");
            let kind = if errors.iter().any(is_rate_limit_error) {
                // Never a permanent failure: the caller retries later.
                ProviderErrorKind::RateLimited
            } else if code == "AUTHENTICATION_ERROR" || code == "FORBIDDEN" {
                ProviderErrorKind::Unauthorized
            } else if message.to_lowercase().contains("not found") {
                ProviderErrorKind::NotFound
            } else {
                ProviderErrorKind::Rejected
            };
            let mut error = self.error(operation, kind, status, message);
            if kind == ProviderErrorKind::Rejected {
                error.refused = refused_by(errors);
            }
            return Err(error);
        }
        Ok(body["data"].clone())
    }

    fn decode<T: DeserializeOwned>(&self, operation: &str, value: Value) -> ProviderResult<T> {
        serde_json::from_value(value).map_err(|e| {
            self.error(
                operation,
                ProviderErrorKind::BadResponse,
                None,
                format!("unexpected answer: {e}"),
            )
        })
    }

    fn ticket(&self, issue: Issue) -> RemoteTicket {
        let (name, kind) = issue.state.map(|s| (s.name, s.kind)).unwrap_or_default();
        RemoteTicket {
            state: map_state(&name, &kind, &self.overrides),
            remote_id: issue.id,
            key: issue.identifier,
            url: issue.url,
            title: issue.title,
            raw_state: name,
            assignee_refused: false,
        }
    }

    async fn issue(&self, id_or_key: &str) -> ProviderResult<Option<Issue>> {
        let operation = format!("reading Linear issue {id_or_key}");
        match self
            .graphql(&operation, operations::ISSUE, json!({"id": id_or_key}), Retry::Safe)
            .await
        {
            Ok(data) if data["issue"].is_null() => Ok(None),
            Ok(data) => Ok(Some(self.decode(&operation, data["issue"].clone())?)),
            Err(err) if err.kind == ProviderErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn team_id(&self, key: &str) -> ProviderResult<String> {
        let operation = format!("finding Linear team {key}");
        let mut after: Option<String> = None;
        // Workspaces have few teams; a handful of pages is a generous bound.
        for _ in 0..10 {
            let data = self
                .graphql(
                    &operation,
                    operations::TEAMS,
                    json!({"first": 100, "after": after}),
                    Retry::Safe,
                )
                .await?;
            let teams: Nodes<Team> = self.decode(&operation, data["teams"].clone())?;
            if let Some(team) = teams.nodes.into_iter().find(|t| t.key.eq_ignore_ascii_case(key)) {
                return Ok(team.id);
            }
            match teams.page_info {
                Some(PageInfo {
                    has_next_page: true,
                    end_cursor: Some(cursor),
                }) => after = Some(cursor),
                _ => break,
            }
        }
        Err(self.error(
            &operation,
            ProviderErrorKind::NotFound,
            None,
            format!("no team with key {key}"),
        ))
    }
}

impl TicketProvider for LinearClient {
    fn kind(&self) -> TicketProviderKind {
        KIND
    }

    async fn check_connection(&self, project: Option<&str>) -> ProviderResult<String> {
        let data = self
            .graphql(
                "checking Linear credentials",
                operations::VIEWER,
                json!({}),
                Retry::Safe,
            )
            .await?;
        if let Some(team) = project {
            self.team_id(team).await?;
        }
        let viewer = &data["viewer"];
        Ok(viewer["email"]
            .as_str()
            .or(viewer["name"].as_str())
            .unwrap_or("Linear user")
            .to_owned())
    }

    async fn find_filed(&self, _team: &str, idempotency_key: &str) -> ProviderResult<Option<RemoteTicket>> {
        // The issue's id is derived from the key, and reading by id is consistent.
        Ok(self
            .issue(&issue_id_for(idempotency_key))
            .await?
            .map(|i| self.ticket(i)))
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> ProviderResult<RemoteTicket> {
        let id = issue_id_for(&ticket.idempotency_key);
        let team_id = self.team_id(&ticket.project).await?;
        let operation = format!("creating Linear issue in team {}", ticket.project);
        let variables = json!({
            "id": id,
            "teamId": team_id,
            "title": ticket.title,
            "description": ticket.description,
            "assigneeId": ticket.assignee,
        });
        match self
            .graphql(&operation, operations::ISSUE_CREATE, variables, Retry::Safe)
            .await
        {
            Ok(data) if !data["issueCreate"]["issue"].is_null() => {
                Ok(self.ticket(self.decode(&operation, data["issueCreate"]["issue"].clone())?))
            }
            // A retry of a create that already happened errors (the id is taken) or comes back
            // without the issue: the issue with our id is the answer either way.
            outcome => match self.issue(&id).await? {
                Some(existing) => Ok(self.ticket(existing)),
                None => Err(outcome.err().unwrap_or_else(|| {
                    self.error(
                        &operation,
                        ProviderErrorKind::BadResponse,
                        None,
                        "issueCreate returned no issue".into(),
                    )
                })),
            },
        }
    }

    async fn read_tickets(&self, remote_ids: &[String]) -> ProviderResult<Vec<RemoteTicket>> {
        let mut found = Vec::with_capacity(remote_ids.len());
        for chunk in remote_ids.chunks(READ_BATCH) {
            let operation = format!("reading {} Linear issues", chunk.len());
            let variables = json!({"ids": chunk, "first": READ_BATCH});
            let data = self
                .graphql(&operation, operations::ISSUES_BY_IDS, variables, Retry::Safe)
                .await?;
            let issues: Nodes<Issue> = self.decode(&operation, data["issues"].clone())?;
            found.extend(issues.nodes.into_iter().map(|i| self.ticket(i)));
        }
        Ok(found)
    }

    async fn find_ticket(&self, key: &str) -> ProviderResult<Option<RemoteTicket>> {
        Ok(self.issue(key).await?.map(|i| self.ticket(i)))
    }

    async fn comment(&self, ticket: TicketHandle<'_>, body: &str) -> ProviderResult<()> {
        let operation = format!("commenting on Linear issue {}", ticket.key);
        // A comment id derived from the issue and text makes a retried comment a no-op.
        let id = issue_id_for(&format!("comment:{}:{body}", ticket.remote_id));
        let variables = json!({"issueId": ticket.remote_id, "body": body, "id": id});
        match self
            .graphql(&operation, operations::COMMENT_CREATE, variables, Retry::Safe)
            .await
        {
            Ok(_) => Ok(()),
            // Already there from an earlier attempt.
            Err(err) if err.refused == Refused::Duplicate => Ok(()),
            Err(err) => Err(err),
        }
    }

    async fn close(&self, ticket: TicketHandle<'_>, note: &str) -> ProviderResult<()> {
        let operation = format!("closing Linear issue {}", ticket.key);
        let issue = self.issue(ticket.remote_id).await?.ok_or_else(|| {
            self.error(
                &operation,
                ProviderErrorKind::NotFound,
                None,
                "the issue is gone".into(),
            )
        })?;
        if let Some(state) = &issue.state {
            if matches!(state.kind.as_str(), "completed" | "canceled" | "duplicate") {
                return Ok(());
            }
        }
        let team = issue.team.as_ref().ok_or_else(|| {
            self.error(
                &operation,
                ProviderErrorKind::BadResponse,
                None,
                "the issue has no team".into(),
            )
        })?;
        let data = self
            .graphql(
                &operation,
                operations::WORKFLOW_STATES_BY_TEAM,
                json!({"teamId": team.id}),
                Retry::Safe,
            )
            .await?;
        let states: Nodes<State> = self.decode(&operation, data["workflowStates"].clone())?;
        let completed = states
            .nodes
            .into_iter()
            .find(|s| s.kind == "completed")
            .ok_or_else(|| {
                self.error(
                    &operation,
                    ProviderErrorKind::Rejected,
                    None,
                    format!("team {} has no completed state", team.key),
                )
            })?;
        if !note.is_empty() {
            self.comment(ticket, note).await?;
        }
        let variables = json!({"id": ticket.remote_id, "stateId": completed.id});
        self.graphql(&operation, operations::ISSUE_UPDATE_STATE, variables, Retry::Safe)
            .await?;
        Ok(())
    }

    async fn find_user_by_email(&self, email: &str, _project: &str) -> ProviderResult<Option<String>> {
        let operation = "looking up a Linear user by e-mail";
        let data = self
            .graphql(
                operation,
                operations::USERS_BY_EMAIL,
                json!({"email": email}),
                Retry::Safe,
            )
            .await?;
        let users: Nodes<LinearUser> = self.decode(operation, data["users"].clone())?;
        Ok(users
            .nodes
            .into_iter()
            .find(|u| u.active && u.email.eq_ignore_ascii_case(email))
            .map(|u| u.id))
    }

    /// Linear's picker takes an issue identifier (`ENG-7`): the operation set has no text search.
    async fn search_open(&self, query: &str, projects: &[String], limit: usize) -> ProviderResult<Vec<RemoteTicket>> {
        let query = query.trim();
        if projects.is_empty() || query.is_empty() {
            return Ok(Vec::new());
        }
        let key = query.to_uppercase();
        if looks_like_identifier(&key) {
            return super::open_ticket_in(self, &key, projects).await;
        }
        // Full-text search finds issues in every team the key can see: keep those of the
        // searchable teams (by their key, the identifier's prefix), open ones only.
        let operation = "searching Linear issues";
        let variables = json!({"term": query, "first": (limit * 5).clamp(1, 50)});
        let data = self
            .graphql(operation, operations::SEARCH_OPEN_ISSUES, variables, Retry::Safe)
            .await?;
        let found: Nodes<Issue> = self.decode(operation, data["searchIssues"].clone())?;
        Ok(found
            .nodes
            .into_iter()
            .map(|i| self.ticket(i))
            .filter(|t| !t.state.is_closed() && super::key_in_projects(&t.key, projects))
            .take(limit)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_id_is_read_from_the_graphql_errors() {
        let duplicate =
            br#"{"errors":[{"message":"Entity already exists with this id","extensions":{"code":"INVALID_INPUT"}}]}"#;
        assert_eq!(refusal(duplicate), Refused::Duplicate);
        let other = br#"{"errors":[{"message":"Argument Validation Error","extensions":{"code":"INVALID_INPUT"}}]}"#;
        assert_eq!(refusal(other), Refused::Unspecified);
        assert_eq!(refusal(b"not json"), Refused::Unspecified);
    }

    #[test]
    fn states_map_on_type_unless_overridden() {
        let mut overrides = StateOverrides::new();
        assert_eq!(map_state("Backlog", "backlog", &overrides), TicketState::Open);
        assert_eq!(map_state("Triage", "triage", &overrides), TicketState::Open);
        assert_eq!(map_state("In Progress", "started", &overrides), TicketState::InProgress);
        assert_eq!(map_state("Done", "completed", &overrides), TicketState::Done);
        assert_eq!(map_state("Duplicate", "duplicate", &overrides), TicketState::Canceled);
        overrides.insert("In Review".into(), TicketState::Done);
        assert_eq!(map_state("In Review", "started", &overrides), TicketState::Done);
    }

    #[test]
    fn issue_ids_are_stable_v4_shaped_uuids() {
        let a = issue_id_for("chg_1");
        assert_eq!(a, issue_id_for("chg_1"));
        assert_ne!(a, issue_id_for("chg_2"));
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn ratelimited_graphql_errors_count_as_rate_limits() {
        let body = br#"{"errors":[{"message":"Rate limit exceeded","extensions":{"code":"RATELIMITED"}}]}"#;
        assert!(is_rate_limited(StatusCode::BAD_REQUEST, body));
        assert!(!is_rate_limited(
            StatusCode::BAD_REQUEST,
            br#"{"errors":[{"message":"bad"}]}"#
        ));
        assert!(is_rate_limited(StatusCode::TOO_MANY_REQUESTS, b""));
        let by_type = br#"{"errors":[{"message":"Too many requests","extensions":{"type":"ratelimited"}}]}"#;
        assert!(
            is_rate_limited(StatusCode::BAD_REQUEST, by_type),
            "the SDK's `type`, on 400"
        );
        assert!(is_rate_limited(StatusCode::OK, by_type), "and on 200 with errors");
        assert!(!is_rate_limited(StatusCode::OK, br#"{"data":{}}"#));
    }

    #[test]
    fn the_operations_are_the_specs() {
        assert!(operations::ISSUE_CREATE.starts_with("mutation IssueCreate("));
        assert!(operations::ISSUES_BY_IDS.contains("includeArchived: true"));
        assert!(operations::VIEWER.trim_end().ends_with('}'));
        assert!(operations::SEARCH_OPEN_ISSUES.contains(r#"nin: ["completed", "canceled"]"#));
        assert!(looks_like_identifier("ENG-12") && !looks_like_identifier("login latency"));
    }
}
