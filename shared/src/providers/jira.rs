//! Jira Cloud REST API v3 client: Basic `email:api_token`, ADF descriptions and comments,
//! state from the status category, idempotent create via a label carrying the change id.

use super::http::{Answer, Retry};
use super::{
    NewTicket, ProviderError, ProviderErrorKind, ProviderHttp, ProviderResult, Refused, RemoteTicket, StateOverrides,
    TicketHandle, TicketProvider,
};
use crate::domain::catalog::DEFAULT_JIRA_ISSUE_TYPE;
use crate::domain::{TicketProviderKind, TicketState};
use reqwest::{Client, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

const KIND: TicketProviderKind = TicketProviderKind::Jira;

/// `GET /project/{key}`: the project's issue types.
#[derive(Deserialize)]
struct ProjectIssueTypes {
    #[serde(rename = "issueTypes")]
    issue_types: Option<Vec<IssueType>>,
}

#[derive(Deserialize)]
struct IssueType {
    name: String,
    #[serde(default)]
    subtask: bool,
}
/// `POST /issue/bulkfetch` takes at most this many ids.
pub const BULK_FETCH_MAX: usize = 100;
/// Label prefix that ties an issue to the access change it was filed for.
pub const LABEL_PREFIX: &str = "grantdesk-";

/// A Jira Cloud site.
#[derive(Clone, Debug)]
pub struct JiraClient {
    http: ProviderHttp,
    base_url: String,
    email: String,
    api_token: SecretString,
    overrides: StateOverrides,
}

#[derive(Deserialize)]
struct Issue {
    id: String,
    key: String,
    #[serde(default)]
    fields: IssueFields,
}

#[derive(Deserialize, Default)]
struct IssueFields {
    #[serde(default)]
    summary: String,
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    name: String,
    #[serde(rename = "statusCategory")]
    category: Option<StatusCategory>,
}

#[derive(Deserialize)]
struct StatusCategory {
    key: String,
}

#[derive(Deserialize)]
struct IssueList {
    #[serde(default)]
    issues: Vec<Issue>,
    /// `bulkfetch`: issues that hit a retriable error (not gone: read them again).
    #[serde(default, rename = "issueErrors")]
    issue_errors: Vec<IssueError>,
}

#[derive(Deserialize)]
struct IssueError {
    #[serde(default)]
    id: String,
    #[serde(default, rename = "errorMessage")]
    error_message: String,
}

/// Jira refuses a summary longer than this.
pub const MAX_SUMMARY_CHARS: usize = 255;

/// A title as Jira takes it: one line, at most [`MAX_SUMMARY_CHARS`] characters (cut with `…`).
fn summary(title: &str) -> String {
    let line: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if line.chars().count() <= MAX_SUMMARY_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Reads of the ids `bulkfetch` reported in `issueErrors`, the first included.
const ISSUE_ERROR_ATTEMPTS: u32 = 3;

#[derive(Deserialize)]
struct Transitions {
    transitions: Vec<Transition>,
}

#[derive(Deserialize)]
struct Transition {
    id: String,
    to: Option<Status>,
}

#[derive(Deserialize)]
struct User {
    #[serde(rename = "accountId")]
    account_id: String,
    #[serde(rename = "emailAddress")]
    email: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(rename = "accountType", default)]
    account_type: Option<String>,
}

fn yes() -> bool {
    true
}

/// Plain text as an Atlassian Document Format document: one paragraph per blank-line block.
pub fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// Normalizes a Jira status: an override for the status name wins, else the category
/// (`new` → open, `indeterminate` → in progress, `done` → done).
pub fn map_state(status_name: &str, category: &str, overrides: &StateOverrides) -> TicketState {
    if let Some(state) = overrides.get(status_name) {
        return *state;
    }
    match category {
        "done" => TicketState::Done,
        "indeterminate" => TicketState::InProgress,
        _ => TicketState::Open,
    }
}

/// Whether text looks like an issue key (`OPS-12`).
fn looks_like_key(text: &str) -> bool {
    match text.split_once('-') {
        Some((project, number)) => {
            !project.is_empty()
                && project.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && project.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Quotes a value for JQL.
fn jql_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The fields a refusal names: the keys of the answer's `errors` object
/// (`{"errorMessages": [], "errors": {"assignee": "..."}}`).
fn refused_fields(body: &[u8]) -> Refused {
    let fields: Vec<String> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|answer| answer.get("errors")?.as_object().map(|e| e.keys().cloned().collect()))
        .unwrap_or_default();
    if fields.is_empty() {
        Refused::Unspecified
    } else {
        Refused::Fields(fields)
    }
}

impl JiraClient {
    /// A client for the site at `base_url`.
    pub fn new(
        http: ProviderHttp,
        base_url: String,
        email: String,
        api_token: SecretString,
        overrides: StateOverrides,
    ) -> Self {
        Self {
            http,
            base_url,
            email,
            api_token,
            overrides,
        }
    }

    fn request(&self, client: &Client, method: reqwest::Method, path: &str) -> RequestBuilder {
        client
            .request(method, format!("{}/rest/api/3{path}", self.base_url))
            .basic_auth(&self.email, Some(self.api_token.expose_secret()))
            .header("Accept", "application/json")
    }

    async fn call(
        &self,
        operation: &str,
        retry: Retry,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> ProviderResult<Answer> {
        self.http
            .send(
                KIND,
                operation,
                retry,
                |client| {
                    let request = self.request(client, method.clone(), path);
                    match body {
                        Some(body) => request.json(body),
                        None => request,
                    }
                },
                |status, _| status == StatusCode::TOO_MANY_REQUESTS,
                refused_fields,
            )
            .await
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, operation: &str, answer: &Answer) -> ProviderResult<T> {
        answer.decode(KIND, operation)
    }

    fn ticket(&self, issue: Issue) -> RemoteTicket {
        let (raw_state, category) = match issue.fields.status {
            Some(status) => (status.name, status.category.map(|c| c.key).unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        RemoteTicket {
            url: format!("{}/browse/{}", self.base_url, issue.key),
            state: map_state(&raw_state, &category, &self.overrides),
            remote_id: issue.id,
            key: issue.key,
            title: issue.fields.summary,
            raw_state,
            assignee_refused: false,
        }
    }

    async fn search(&self, operation: &str, jql: String, limit: usize) -> ProviderResult<Vec<RemoteTicket>> {
        let body = json!({"jql": jql, "fields": ["summary", "status"], "maxResults": limit.clamp(1, 100)});
        let answer = self
            .call(
                operation,
                Retry::Safe,
                reqwest::Method::POST,
                "/search/jql",
                Some(&body),
            )
            .await?;
        let list: IssueList = self.decode(operation, &answer)?;
        Ok(list.issues.into_iter().map(|i| self.ticket(i)).collect())
    }

    /// One create call, labelled for idempotency; a lost answer is looked for again.
    async fn create_issue(
        &self,
        ticket: &NewTicket,
        label: &str,
        assignee: Option<&str>,
    ) -> ProviderResult<RemoteTicket> {
        let mut fields = json!({
            "project": {"key": ticket.project},
            "issuetype": {"name": ticket.issue_type.as_deref().unwrap_or(DEFAULT_JIRA_ISSUE_TYPE)},
            "summary": summary(&ticket.title),
            "description": adf(&ticket.description),
            "labels": ["grantdesk", label],
        });
        if let Some(assignee) = assignee {
            fields["assignee"] = json!({"accountId": assignee});
        }
        let operation = format!("creating Jira issue in project {}", ticket.project);
        let body = json!({"fields": fields});
        match self
            .call(
                &operation,
                Retry::OnlyIfRefused,
                reqwest::Method::POST,
                "/issue",
                Some(&body),
            )
            .await
        {
            Ok(answer) => {
                let created: Value = self.decode(&operation, &answer)?;
                let (Some(id), Some(key)) = (created["id"].as_str(), created["key"].as_str()) else {
                    return Err(ProviderError {
                        provider: KIND,
                        operation,
                        kind: ProviderErrorKind::BadResponse,
                        status: Some(answer.status.as_u16()),
                        message: "the answer has no id or key".into(),
                        refused: Default::default(),
                    });
                };
                Ok(RemoteTicket {
                    remote_id: id.to_owned(),
                    key: key.to_owned(),
                    url: format!("{}/browse/{key}", self.base_url),
                    title: ticket.title.clone(),
                    state: TicketState::Open,
                    raw_state: String::new(),
                    assignee_refused: false,
                })
            }
            // The create may have happened with its answer lost. Searching now would not tell
            // (the search lags creates); the filer's lease waits and searches later.
            Err(err) => Err(err),
        }
    }

    async fn find_by_label(&self, project: &str, label: &str) -> ProviderResult<Option<RemoteTicket>> {
        let jql = format!("project = {} AND labels = {}", jql_string(project), jql_string(label));
        let found = self
            .search(&format!("searching Jira project {project} for label {label}"), jql, 1)
            .await?;
        Ok(found.into_iter().next())
    }
}

/// Most projects the picker asks one by one when Jira refuses the list as a whole.
const MAX_PICKER_PROJECTS: usize = 10;

impl TicketProvider for JiraClient {
    fn kind(&self) -> TicketProviderKind {
        KIND
    }

    async fn check_connection(&self, project: Option<&str>) -> ProviderResult<String> {
        let answer = self
            .call(
                "checking Jira credentials",
                Retry::Safe,
                reqwest::Method::GET,
                "/myself",
                None,
            )
            .await?;
        let me: Value = self.decode("checking Jira credentials", &answer)?;
        if let Some(project) = project {
            self.check_target(project, None).await?;
        }
        Ok(me["displayName"]
            .as_str()
            .or(me["emailAddress"].as_str())
            .unwrap_or("Jira user")
            .to_owned())
    }

    async fn check_target(&self, project: &str, issue_type: Option<&str>) -> ProviderResult<()> {
        let wanted = issue_type.unwrap_or(DEFAULT_JIRA_ISSUE_TYPE);
        let operation = format!("checking Jira project {project}");
        let answer = self
            .call(
                &operation,
                Retry::Safe,
                reqwest::Method::GET,
                &format!("/project/{project}"),
                None,
            )
            .await?;
        let found: ProjectIssueTypes = self.decode(&operation, &answer)?;
        // An answer without the list (a trimmed-down proxy) cannot tell; the create will.
        let Some(types) = found.issue_types else {
            return Ok(());
        };
        // Sub-tasks need a parent issue: not something grantdesk can file on its own.
        let usable: Vec<&str> = types.iter().filter(|t| !t.subtask).map(|t| t.name.as_str()).collect();
        if usable.iter().any(|name| name.eq_ignore_ascii_case(wanted)) {
            return Ok(());
        }
        Err(ProviderError {
            provider: KIND,
            operation,
            kind: ProviderErrorKind::Rejected,
            status: None,
            message: format!(
                "project {project} has no issue type '{wanted}' (it has: {}); name one of them as the target's issue_type",
                usable.join(", ")
            ),
            refused: Default::default(),
        })
    }

    fn search_lags(&self) -> bool {
        true
    }

    async fn find_filed(&self, project: &str, idempotency_key: &str) -> ProviderResult<Option<RemoteTicket>> {
        self.find_by_label(project, &format!("{LABEL_PREFIX}{idempotency_key}"))
            .await
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> ProviderResult<RemoteTicket> {
        // No search first: it would not show a create made seconds ago. Exactly-once is the
        // filer's lease (`shared/src/usecases/outbox/once.rs`), which calls `find_filed` when an
        // earlier create's outcome is unknown.
        let label = format!("{LABEL_PREFIX}{}", ticket.idempotency_key);
        match self.create_issue(ticket, &label, ticket.assignee.as_deref()).await {
            Ok(created) => Ok(created),
            // Jira refuses an assignee who may not be assigned in the project (`errors.assignee`):
            // file the ticket unassigned rather than not at all, and say so.
            Err(err)
                if ticket.assignee.is_some()
                    && err.kind == ProviderErrorKind::Rejected
                    && err.refused.field("assignee") =>
            {
                tracing::warn!(error = %err, "Jira refused the assignee; filing unassigned");
                let mut created = self.create_issue(ticket, &label, None).await?;
                created.assignee_refused = true;
                Ok(created)
            }
            Err(err) => Err(err),
        }
    }

    async fn read_tickets(&self, remote_ids: &[String]) -> ProviderResult<Vec<RemoteTicket>> {
        let mut found = Vec::with_capacity(remote_ids.len());
        for chunk in remote_ids.chunks(BULK_FETCH_MAX) {
            let mut pending: Vec<String> = chunk.to_vec();
            for attempt in 1..=ISSUE_ERROR_ATTEMPTS {
                let body = json!({"issueIdsOrKeys": pending, "fields": ["summary", "status"]});
                let operation = format!("reading {} Jira issues", pending.len());
                let answer = self
                    .call(
                        &operation,
                        Retry::Safe,
                        reqwest::Method::POST,
                        "/issue/bulkfetch",
                        Some(&body),
                    )
                    .await?;
                let list: IssueList = self.decode(&operation, &answer)?;
                // Missing or invisible issues are simply absent; match on id, since keys can change.
                found.extend(
                    list.issues
                        .into_iter()
                        .filter(|i| pending.contains(&i.id))
                        .map(|i| self.ticket(i)),
                );
                // An issue in `issueErrors` is not gone: read it again, and if it still cannot
                // be read, fail rather than let it pass for deleted.
                let errored: Vec<IssueError> = list
                    .issue_errors
                    .into_iter()
                    .filter(|e| pending.contains(&e.id))
                    .collect();
                if errored.is_empty() {
                    break;
                }
                if attempt == ISSUE_ERROR_ATTEMPTS {
                    return Err(ProviderError {
                        provider: KIND,
                        operation,
                        kind: ProviderErrorKind::Unavailable,
                        status: Some(200),
                        message: format!(
                            "Jira could not read issue {} ({}); read again later",
                            errored[0].id, errored[0].error_message
                        ),
                        refused: Default::default(),
                    });
                }
                pending = errored.into_iter().map(|e| e.id).collect();
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
        Ok(found)
    }

    async fn find_ticket(&self, key: &str) -> ProviderResult<Option<RemoteTicket>> {
        if !looks_like_key(key) {
            return Ok(None);
        }
        let operation = format!("reading Jira issue {key}");
        let path = format!("/issue/{key}?fields=summary,status");
        match self
            .call(&operation, Retry::Safe, reqwest::Method::GET, &path, None)
            .await
        {
            Ok(answer) => Ok(Some(self.ticket(self.decode(&operation, &answer)?))),
            Err(err) if err.kind == ProviderErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn comment(&self, ticket: TicketHandle<'_>, body: &str) -> ProviderResult<()> {
        let operation = format!("commenting on Jira issue {}", ticket.key);
        let path = format!("/issue/{}/comment", ticket.remote_id);
        let body = json!({"body": adf(body)});
        self.call(
            &operation,
            Retry::OnlyIfRefused,
            reqwest::Method::POST,
            &path,
            Some(&body),
        )
        .await?;
        Ok(())
    }

    async fn close(&self, ticket: TicketHandle<'_>, note: &str) -> ProviderResult<()> {
        if let Some(current) = self
            .read_tickets(&[ticket.remote_id.to_owned()])
            .await?
            .into_iter()
            .next()
        {
            if current.state.is_closed() {
                return Ok(());
            }
        }
        let operation = format!("closing Jira issue {}", ticket.key);
        let path = format!("/issue/{}/transitions", ticket.remote_id);
        let answer = self
            .call(&operation, Retry::Safe, reqwest::Method::GET, &path, None)
            .await?;
        let transitions: Transitions = self.decode(&operation, &answer)?;
        let done = transitions
            .transitions
            .into_iter()
            .find(|t| {
                t.to.as_ref()
                    .and_then(|s| s.category.as_ref())
                    .is_some_and(|c| c.key == "done")
            })
            .ok_or_else(|| ProviderError {
                provider: KIND,
                operation: operation.clone(),
                kind: ProviderErrorKind::Rejected,
                status: None,
                message: "the workflow offers no transition into a done status".into(),
                refused: Default::default(),
            })?;
        if !note.is_empty() {
            self.comment(ticket, note).await?;
        }
        let body = json!({"transition": {"id": done.id}});
        self.call(&operation, Retry::Safe, reqwest::Method::POST, &path, Some(&body))
            .await?;
        Ok(())
    }

    async fn find_user_by_email(&self, email: &str, project: &str) -> ProviderResult<Option<String>> {
        let operation = format!("looking up an assignable Jira user in project {project} by e-mail");
        // Only people who may be assigned issues in the project are any use; a query that is a
        // whole e-mail address matches it even where profile visibility hides it.
        let answer = self
            .http
            .send(
                KIND,
                &operation,
                Retry::Safe,
                |client| {
                    self.request(client, reqwest::Method::GET, "/user/assignable/search")
                        .query(&[("project", project), ("query", email), ("maxResults", "10")])
                },
                |status, _| status == StatusCode::TOO_MANY_REQUESTS,
                refused_fields,
            )
            .await?;
        let users: Vec<User> = self.decode(&operation, &answer)?;
        let candidates: Vec<User> = users
            .into_iter()
            .filter(|u| u.active && u.account_type.as_deref().is_none_or(|t| t == "atlassian"))
            // A visible address must be the one asked for; a hidden one cannot be checked.
            .filter(|u| u.email.as_deref().is_none_or(|e| e.eq_ignore_ascii_case(email)))
            .collect();
        let exact: Vec<&User> = candidates
            .iter()
            .filter(|u| u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .collect();
        Ok(match (exact.as_slice(), candidates.as_slice()) {
            ([one], _) => Some(one.account_id.clone()),
            // Exactly one person, address hidden: the whole-address query matched them.
            ([], [one]) => Some(one.account_id.clone()),
            _ => None,
        })
    }

    async fn search_open(&self, query: &str, projects: &[String], limit: usize) -> ProviderResult<Vec<RemoteTicket>> {
        let query = query.trim();
        if projects.is_empty() {
            return Ok(Vec::new());
        }
        if looks_like_key(query) {
            return super::open_ticket_in(self, &query.to_uppercase(), projects).await;
        }
        let words: String = query
            .chars()
            .filter(|c| c.is_alphanumeric() || c.is_whitespace())
            .collect();
        if words.trim().is_empty() {
            return Ok(Vec::new());
        }
        let text = jql_string(words.trim());
        let scoped = |projects: &[String]| {
            let scope = projects.iter().map(|p| jql_string(p)).collect::<Vec<_>>().join(", ");
            format!("project in ({scope}) AND text ~ {text} AND statusCategory != Done ORDER BY updated DESC")
        };
        let found = match self.search("searching Jira issues", scoped(projects), limit).await {
            Ok(found) => found,
            // Jira refuses the whole query when one project of the list does not exist (a
            // target mistyped, a project deleted): ask project by project, skipping those.
            Err(err) if err.kind == super::ProviderErrorKind::Rejected && projects.len() > 1 => {
                let mut found = Vec::new();
                for project in projects.iter().take(MAX_PICKER_PROJECTS) {
                    match self
                        .search("searching Jira issues", scoped(std::slice::from_ref(project)), limit)
                        .await
                    {
                        Ok(some) => found.extend(some),
                        Err(err) if err.kind == super::ProviderErrorKind::Rejected => {}
                        Err(err) => return Err(err),
                    }
                }
                found.truncate(limit);
                found
            }
            Err(err) if err.kind == super::ProviderErrorKind::Rejected => Vec::new(),
            Err(err) => return Err(err),
        };
        // The search is scoped already; what comes back is checked all the same.
        Ok(found
            .into_iter()
            .filter(|t| super::key_in_projects(&t.key, projects))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_fields_of_its_errors_object() {
        let refused =
            refused_fields(br#"{"errorMessages":[],"errors":{"assignee":"User 'x' cannot be assigned issues."}}"#);
        assert_eq!(refused, Refused::Fields(vec!["assignee".into()]));
        assert!(refused.field("assignee"));
        assert!(!refused.field("summary"));
        // The field's name is the key, never words in a message.
        let message_only = refused_fields(br#"{"errorMessages":["the assignee is wrong"],"errors":{}}"#);
        assert_eq!(message_only, Refused::Unspecified);
        assert!(!message_only.field("assignee"));
        assert_eq!(refused_fields(b"<html>bad gateway</html>"), Refused::Unspecified);
    }

    #[test]
    fn descriptions_become_adf_paragraphs() {
        let doc = adf("Add Josh.\n\nUntil 10:00.\n\n\n");
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["content"].as_array().unwrap().len(), 2);
        assert_eq!(doc["content"][1]["content"][0]["text"], "Until 10:00.");
    }

    #[test]
    fn states_map_on_category_unless_overridden() {
        let mut overrides = StateOverrides::new();
        assert_eq!(map_state("To Do", "new", &overrides), TicketState::Open);
        assert_eq!(map_state("Doing", "indeterminate", &overrides), TicketState::InProgress);
        assert_eq!(map_state("Won't Do", "done", &overrides), TicketState::Done);
        overrides.insert("Won't Do".into(), TicketState::Canceled);
        assert_eq!(map_state("Won't Do", "done", &overrides), TicketState::Canceled);
    }

    #[test]
    fn keys_are_recognized_and_jql_strings_escaped() {
        assert!(looks_like_key("OPS-12"));
        assert!(looks_like_key("ops-12"));
        assert!(!looks_like_key("OPS-"));
        assert!(!looks_like_key("12-OPS"));
        assert!(!looks_like_key("database access"));
        assert_eq!(jql_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
