//! Sandbox Jira Cloud (REST API v3): Basic `email:api_token`, ADF-only descriptions and
//! comments, status categories, `bulkfetch` bounds, `/search/jql` with a small JQL subset, and
//! `X-Hub-Signature` webhooks carrying a status changelog.

use super::{hex, hmac_sha256, random_hex, OutgoingWebhook, Provider, SandboxRequest, SandboxResponse};
use grantdesk::domain::TicketState;
use serde_json::{json, Value};

/// A Jira status: name and category key.
#[derive(Clone, Debug, PartialEq)]
pub struct JiraStatus {
    /// Status id.
    pub id: String,
    /// Status name (`To Do`).
    pub name: String,
    /// Category key: `new`, `indeterminate` or `done`.
    pub category: String,
}

/// One issue.
#[derive(Clone, Debug)]
pub struct JiraIssue {
    /// Numeric id, as a string.
    pub id: String,
    /// `OPS-1`.
    pub key: String,
    /// Project key.
    pub project: String,
    /// Summary.
    pub summary: String,
    /// ADF description.
    pub description: Value,
    /// Labels.
    pub labels: Vec<String>,
    /// Assignee account id.
    pub assignee: Option<String>,
    /// Current status.
    pub status: JiraStatus,
    /// ADF comment bodies.
    pub comments: Vec<Value>,
    /// When JQL search starts to show it: Jira's search index lags creates.
    pub searchable_at: std::time::Instant,
}

/// A Jira user.
#[derive(Clone, Debug)]
pub struct JiraUser {
    /// Account id.
    pub account_id: String,
    /// E-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Profile visibility hides the e-mail from `/user/search`.
    pub email_hidden: bool,
    /// Projects where the user lacks the "Assignable user" permission.
    pub not_assignable_in: Vec<String>,
}

impl JiraUser {
    /// The user as Jira's user searches answer it: the address only where visible.
    fn json(&self) -> Value {
        let mut user =
            json!({"accountId": self.account_id, "accountType": "atlassian", "displayName": self.name, "active": true});
        if !self.email_hidden {
            user["emailAddress"] = json!(self.email);
        }
        user
    }
}

/// The sandbox site's data.
pub struct JiraSandbox {
    /// The account the API token belongs to.
    pub email: String,
    /// The valid API token.
    pub api_token: String,
    /// Project keys.
    pub projects: Vec<String>,
    /// The issue types every project has (`Sub-task` is a sub-task type).
    pub issue_types: Vec<String>,
    /// Users.
    pub users: Vec<JiraUser>,
    /// Issues, in creation order.
    pub issues: Vec<JiraIssue>,
    /// The workflow's statuses.
    pub statuses: Vec<JiraStatus>,
    /// Issue ids that `bulkfetch` reports in `issueErrors` (a retriable error) for the next so
    /// many reads, as Jira does under load.
    pub issue_errors: std::collections::BTreeMap<String, u32>,
    /// How long an issue created through the API stays out of JQL search results. Jira's
    /// search is eventually consistent (seconds, under load minutes); reads by id or key are
    /// not affected.
    pub search_lag: std::time::Duration,
    next_id: u64,
}

fn status(id: &str, name: &str, category: &str) -> JiraStatus {
    JiraStatus {
        id: id.into(),
        name: name.into(),
        category: category.into(),
    }
}

fn error(status: u16, message: &str) -> SandboxResponse {
    SandboxResponse::json(status, json!({"errorMessages": [message], "errors": {}}))
}

fn field_error(field: &str, message: &str) -> SandboxResponse {
    SandboxResponse::json(400, json!({"errorMessages": [], "errors": {field: message}}))
}

/// Whether a value is an ADF document (what Jira requires for rich-text fields).
fn is_adf(value: &Value) -> bool {
    value["type"] == "doc" && value["version"] == 1 && value["content"].is_array()
}

impl JiraSandbox {
    /// A site with project `OPS`, the workflow To Do / In Progress / Done / Won't Do, and no users.
    pub fn new(email: &str, api_token: &str) -> Self {
        Self {
            email: email.into(),
            api_token: api_token.into(),
            projects: vec!["OPS".into()],
            issue_types: vec!["Task".into(), "Bug".into(), "Story".into(), "Sub-task".into()],
            users: Vec::new(),
            issues: Vec::new(),
            statuses: vec![
                status("10000", "To Do", "new"),
                status("3", "In Progress", "indeterminate"),
                status("10001", "Done", "done"),
                status("10002", "Won't Do", "done"),
            ],
            issue_errors: Default::default(),
            search_lag: std::time::Duration::from_secs(2),
            next_id: 10_000,
        }
    }

    /// Adds a user and returns its account id.
    pub fn add_user(&mut self, email: &str, name: &str, email_hidden: bool) -> String {
        let account_id = format!("5b10ac8d82e05b22cc7d{}", random_hex(4));
        self.users.push(JiraUser {
            account_id: account_id.clone(),
            email: email.into(),
            name: name.into(),
            email_hidden,
            not_assignable_in: Vec::new(),
        });
        account_id
    }

    /// Files an issue directly (as a person would in the UI) and returns its key.
    /// It is already in the search index (made before the test looks).
    pub fn add_issue(&mut self, project: &str, summary: &str) -> String {
        let key = self
            .create(
                project,
                summary,
                json!({"type": "doc", "version": 1, "content": []}),
                vec![],
                None,
            )
            .key;
        if let Some(issue) = self.issues.last_mut() {
            issue.searchable_at = std::time::Instant::now();
        }
        key
    }

    fn create(
        &mut self,
        project: &str,
        summary: &str,
        description: Value,
        labels: Vec<String>,
        assignee: Option<String>,
    ) -> JiraIssue {
        self.next_id += 1;
        let number = self.issues.iter().filter(|i| i.project == project).count() + 1;
        let issue = JiraIssue {
            id: self.next_id.to_string(),
            key: format!("{project}-{number}"),
            project: project.into(),
            summary: summary.into(),
            description,
            labels,
            assignee,
            status: self.statuses[0].clone(),
            comments: Vec::new(),
            searchable_at: std::time::Instant::now() + self.search_lag,
        };
        self.issues.push(issue.clone());
        issue
    }

    fn find(&self, id_or_key: &str) -> Option<usize> {
        self.issues
            .iter()
            .position(|i| i.id == id_or_key || i.key.eq_ignore_ascii_case(id_or_key))
    }

    /// Moves an issue to the status whose normalized state is `state` (Won't Do for canceled)
    /// and returns the webhook for it.
    pub fn set_state(&mut self, key: &str, state: TicketState, secret: Option<&str>) -> (bool, Vec<OutgoingWebhook>) {
        let name = match state {
            TicketState::Open => "To Do",
            TicketState::InProgress => "In Progress",
            TicketState::Done => "Done",
            TicketState::Canceled => "Won't Do",
        };
        let Some(target) = self.statuses.iter().find(|s| s.name == name).cloned() else {
            return (false, vec![]);
        };
        match self.find(key) {
            Some(index) => (true, self.move_to(index, target, secret)),
            None => (false, vec![]),
        }
    }

    fn move_to(&mut self, index: usize, target: JiraStatus, secret: Option<&str>) -> Vec<OutgoingWebhook> {
        let from = std::mem::replace(&mut self.issues[index].status, target.clone());
        let issue = &self.issues[index];
        let Some(secret) = secret else { return vec![] };
        let body = json!({
            "timestamp": chrono::Utc::now().timestamp_millis(),
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "issue": self.issue_json(issue, &["summary".into(), "status".into()]),
            "changelog": {"id": random_hex(8), "items": [{
                "field": "status", "fieldtype": "jira",
                "from": from.id, "fromString": from.name, "to": target.id, "toString": target.name,
            }]},
        })
        .to_string();
        let signature = format!("sha256={}", hex(&hmac_sha256(secret, body.as_bytes())));
        vec![OutgoingWebhook {
            headers: vec![
                ("X-Hub-Signature".into(), signature),
                ("X-Atlassian-Webhook-Identifier".into(), random_hex(16)),
            ],
            body,
        }]
    }

    fn issue_json(&self, issue: &JiraIssue, fields: &[String]) -> Value {
        let mut out =
            json!({"id": issue.id, "key": issue.key, "self": format!("/rest/api/3/issue/{}", issue.id), "fields": {}});
        for field in fields {
            let value = match field.as_str() {
                "summary" => json!(issue.summary),
                "status" => json!({"id": issue.status.id, "name": issue.status.name,
                    "statusCategory": {"key": issue.status.category}}),
                "labels" => json!(issue.labels),
                "description" => issue.description.clone(),
                "assignee" => issue.assignee.as_ref().map_or(Value::Null, |a| json!({"accountId": a})),
                "project" => json!({"key": issue.project}),
                _ => continue,
            };
            out["fields"][field] = value;
        }
        out
    }

    fn requested_fields(value: &Value) -> Vec<String> {
        match value {
            Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            Value::String(text) => text.split(',').map(|s| s.trim().to_owned()).collect(),
            _ => Vec::new(),
        }
    }

    /// Evaluates the JQL subset grantdesk sends: clauses joined by AND, on project, labels,
    /// project (=, in), key (=, in), text (~) and statusCategory (=, !=), with an optional ORDER BY.
    fn jql(&self, jql: &str) -> Result<Vec<&JiraIssue>, String> {
        let body = jql.split(" ORDER BY ").next().unwrap_or("").trim();
        if body.is_empty() {
            return Err(
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.".into(),
            );
        }
        let now = std::time::Instant::now();
        let mut matches: Vec<&JiraIssue> = self.issues.iter().filter(|i| i.searchable_at <= now).collect();
        for clause in body.split(" AND ") {
            let clause = clause.trim();
            let unquote = |v: &str| v.trim().trim_matches('"').replace("\\\"", "\"");
            if let Some((field, value)) = clause.split_once("!=") {
                let (field, value) = (field.trim(), unquote(value));
                if field != "statusCategory" {
                    return Err(format!("Error in the JQL Query: unsupported clause '{clause}'"));
                }
                let category = if value.eq_ignore_ascii_case("done") {
                    "done"
                } else {
                    value.as_str()
                };
                matches.retain(|i| i.status.category != category);
            } else if let Some((field, value)) = clause.split_once('~') {
                if field.trim() != "text" {
                    return Err(format!("Error in the JQL Query: unsupported clause '{clause}'"));
                }
                let words = unquote(value).to_lowercase();
                matches.retain(|i| words.split_whitespace().all(|w| i.summary.to_lowercase().contains(w)));
            } else if let Some((field, value)) = clause.split_once(" in ") {
                let listed: Vec<String> = value.trim().trim_matches(['(', ')']).split(',').map(unquote).collect();
                match field.trim() {
                    "key" => {}
                    "project" => {
                        // Jira refuses a project nobody can see, as it does a key.
                        if let Some(missing) = listed.iter().find(|p| !self.projects.contains(p)) {
                            return Err(format!("The value '{missing}' does not exist for the field 'project'."));
                        }
                        matches.retain(|i| listed.contains(&i.project));
                        continue;
                    }
                    _ => return Err(format!("Error in the JQL Query: unsupported clause '{clause}'")),
                }
                let keys = listed;
                if let Some(missing) = keys.iter().find(|k| self.find(k).is_none()) {
                    return Err(format!("An issue with key '{missing}' does not exist for field 'key'."));
                }
                matches.retain(|i| keys.iter().any(|k| k.eq_ignore_ascii_case(&i.key)));
            } else if let Some((field, value)) = clause.split_once('=') {
                let value = unquote(value);
                match field.trim() {
                    "project" => matches.retain(|i| i.project == value),
                    "labels" => matches.retain(|i| i.labels.contains(&value)),
                    "statusCategory" => matches.retain(|i| i.status.category == value.to_lowercase()),
                    "key" => {
                        if self.find(&value).is_none() {
                            return Err(format!("An issue with key '{value}' does not exist for field 'key'."));
                        }
                        matches.retain(|i| i.key.eq_ignore_ascii_case(&value));
                    }
                    _ => return Err(format!("Error in the JQL Query: unsupported clause '{clause}'")),
                }
            } else {
                return Err(format!("Error in the JQL Query: cannot parse '{clause}'"));
            }
        }
        Ok(matches)
    }

    fn search(&self, jql: &str, fields: Vec<String>, max_results: usize, token: Option<&str>) -> SandboxResponse {
        let found = match self.jql(jql) {
            Ok(found) => found,
            Err(message) => return error(400, &message),
        };
        let start: usize = token.and_then(|t| t.parse().ok()).unwrap_or(0);
        let max_results = max_results.clamp(1, 5_000);
        // The default is only the id.
        let fields = if fields.is_empty() {
            vec!["id".to_owned()]
        } else {
            fields
        };
        let page: Vec<Value> = found
            .iter()
            .skip(start)
            .take(max_results)
            .map(|i| self.issue_json(i, &fields))
            .collect();
        let next = start + page.len();
        let is_last = next >= found.len();
        SandboxResponse::json(
            200,
            json!({
                "issues": page,
                "isLast": is_last,
                "nextPageToken": if is_last { Value::Null } else { json!(next.to_string()) },
            }),
        )
    }
}

impl Provider for JiraSandbox {
    fn handle(&mut self, request: &SandboxRequest, secret: Option<&str>) -> (SandboxResponse, Vec<OutgoingWebhook>) {
        // The issue's page, where a ticket's link (`<site>/browse/OPS-1`) leads a person.
        if let ("GET", Some(key)) = (request.method.as_str(), request.path.strip_prefix("/browse/")) {
            let response = match self.issues.iter().find(|i| i.key == key) {
                Some(issue) => SandboxResponse::json(
                    200,
                    json!({"key": issue.key, "summary": issue.summary, "status": issue.status.name}),
                ),
                None => error(404, "Issue does not exist or you do not have permission to see it."),
            };
            return (response, vec![]);
        }
        if request.basic_auth() != Some((self.email.clone(), self.api_token.clone())) {
            return (
                SandboxResponse::json(401, json!("Client must be authenticated to access this resource.")),
                vec![],
            );
        }
        let Some(path) = request.path.strip_prefix("/rest/api/3") else {
            return (error(404, "not found"), vec![]);
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let body = request.json();
        let none = Vec::new;
        let response = match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["myself"]) => SandboxResponse::json(
                200,
                json!({"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": self.email, "displayName": "grantdesk bot", "active": true}),
            ),
            ("GET", ["project", key]) => match self.projects.iter().find(|p| p == key) {
                Some(p) => {
                    let types: Vec<Value> = self
                        .issue_types
                        .iter()
                        .enumerate()
                        .map(|(i, name)| json!({"id": (10001 + i).to_string(), "name": name, "subtask": name == "Sub-task"}))
                        .collect();
                    SandboxResponse::json(200, json!({"id": "10000", "key": p, "name": p, "issueTypes": types}))
                }
                None => error(404, &format!("No project could be found with key '{key}'.")),
            },
            ("POST", ["issue"]) => {
                let fields = &body["fields"];
                let project = fields["project"]["key"].as_str().unwrap_or("");
                if !self.projects.iter().any(|p| p == project) {
                    return (field_error("project", "valid project is required"), none());
                }
                let Some(summary) = fields["summary"].as_str().filter(|s| !s.trim().is_empty()) else {
                    return (
                        field_error("summary", "You must specify a summary of the issue."),
                        none(),
                    );
                };
                if summary.chars().count() > 255 {
                    return (
                        field_error("summary", "Summary must be less than 255 characters."),
                        none(),
                    );
                }
                if summary.contains('\n') {
                    return (
                        field_error(
                            "summary",
                            "The summary is invalid because it contains newline characters.",
                        ),
                        none(),
                    );
                }
                match fields["issuetype"]["name"].as_str() {
                    None if fields["issuetype"]["id"].as_str().is_none() => {
                        return (field_error("issuetype", "Specify an issue type"), none());
                    }
                    Some(name) if !self.issue_types.iter().any(|t| t == name) => {
                        return (field_error("issuetype", "Specify a valid issue type"), none());
                    }
                    _ => {}
                }
                let description = fields.get("description").cloned().unwrap_or(Value::Null);
                if !description.is_null() && !is_adf(&description) {
                    return (
                        field_error(
                            "description",
                            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
                        ),
                        none(),
                    );
                }
                let labels: Vec<String> = fields["labels"]
                    .as_array()
                    .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                if labels.iter().any(|l| l.contains(' ')) {
                    return (field_error("labels", "The label can't contain spaces."), none());
                }
                let assignee = fields["assignee"]["accountId"].as_str().map(str::to_owned);
                if let Some(a) = &assignee {
                    if self
                        .users
                        .iter()
                        .any(|u| &u.account_id == a && u.not_assignable_in.iter().any(|p| p == project))
                    {
                        return (
                            field_error("assignee", &format!("User '{a}' cannot be assigned issues.")),
                            none(),
                        );
                    }
                    if !self.users.iter().any(|u| &u.account_id == a) {
                        return (
                            field_error(
                                "assignee",
                                "User does not exist or you do not have permission to see it.",
                            ),
                            none(),
                        );
                    }
                }
                let issue = self.create(project, summary, description, labels, assignee);
                SandboxResponse::json(
                    201,
                    json!({"id": issue.id, "key": issue.key, "self": format!("/rest/api/3/issue/{}", issue.id)}),
                )
            }
            ("POST", ["issue", "bulkfetch"]) => {
                let ids: Vec<String> = body["issueIdsOrKeys"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                if ids.is_empty() || ids.len() > 100 {
                    return (
                        error(400, "issueIdsOrKeys must contain between 1 and 100 items"),
                        none(),
                    );
                }
                let fields = Self::requested_fields(&body["fields"]);
                let mut errors = Vec::new();
                for id in &ids {
                    if let Some(left) = self.issue_errors.get_mut(id).filter(|n| **n > 0) {
                        *left -= 1;
                        errors.push(json!({"id": id, "errorMessage": "The issue could not be read; try again."}));
                    }
                }
                let mut found: Vec<&JiraIssue> = ids
                    .iter()
                    .filter(|id| !errors.iter().any(|e| e["id"] == id.as_str()))
                    .filter_map(|id| self.find(id))
                    .map(|i| &self.issues[i])
                    .collect();
                found.sort_by_key(|i| i.id.parse::<u64>().unwrap_or(0));
                found.dedup_by_key(|i| i.id.clone());
                SandboxResponse::json(
                    200,
                    json!({"issues": found.iter().map(|i| self.issue_json(i, &fields)).collect::<Vec<_>>(), "issueErrors": errors}),
                )
            }
            ("GET", ["issue", id]) => match self.find(id) {
                Some(i) => {
                    let fields = request
                        .param("fields")
                        .map(|f| Self::requested_fields(&json!(f)))
                        .unwrap_or_else(|| {
                            vec![
                                "summary".into(),
                                "status".into(),
                                "labels".into(),
                                "description".into(),
                                "assignee".into(),
                            ]
                        });
                    SandboxResponse::json(200, self.issue_json(&self.issues[i], &fields))
                }
                None => error(404, "Issue does not exist or you do not have permission to see it."),
            },
            ("GET", ["issue", id, "transitions"]) => match self.find(id) {
                Some(i) => {
                    let current = &self.issues[i].status;
                    let transitions: Vec<Value> = self
                        .statuses
                        .iter()
                        .filter(|s| s.id != current.id)
                        .map(|s| {
                            json!({
                                "id": format!("t{}", s.id), "name": s.name,
                                "to": {"id": s.id, "name": s.name, "statusCategory": {"key": s.category}},
                            })
                        })
                        .collect();
                    SandboxResponse::json(200, json!({"transitions": transitions}))
                }
                None => error(404, "Issue does not exist or you do not have permission to see it."),
            },
            ("POST", ["issue", id, "transitions"]) => match self.find(id) {
                Some(i) => {
                    let wanted = body["transition"]["id"].as_str().unwrap_or("");
                    let target = self
                        .statuses
                        .iter()
                        .find(|s| format!("t{}", s.id) == wanted && s.id != self.issues[i].status.id)
                        .cloned();
                    match target {
                        Some(target) => return (SandboxResponse::empty(204), self.move_to(i, target, secret)),
                        None => error(400, "Transition id is not valid for this issue."),
                    }
                }
                None => error(404, "Issue does not exist or you do not have permission to see it."),
            },
            ("POST", ["issue", id, "comment"]) => match self.find(id) {
                Some(i) if is_adf(&body["body"]) => {
                    self.issues[i].comments.push(body["body"].clone());
                    SandboxResponse::json(
                        201,
                        json!({"id": self.issues[i].comments.len().to_string(), "body": body["body"]}),
                    )
                }
                Some(_) => field_error("comment", "Comment body must be an Atlassian Document"),
                None => error(404, "Issue does not exist or you do not have permission to see it."),
            },
            ("PUT", ["issue", id, "assignee"]) => match self.find(id) {
                Some(i) => {
                    self.issues[i].assignee = body["accountId"].as_str().map(str::to_owned);
                    SandboxResponse::empty(204)
                }
                None => error(404, "Issue does not exist or you do not have permission to see it."),
            },
            ("GET", ["user", "assignable", "search"]) => {
                let Some(project) = request
                    .param("project")
                    .filter(|p| self.projects.iter().any(|k| k == p))
                else {
                    return (
                        error(404, "Project not found or you do not have permission to view it."),
                        none(),
                    );
                };
                let project = project.to_owned();
                let query = request.param("query").unwrap_or("").to_lowercase();
                // A query that is a whole address matches it even when profile visibility hides it.
                let users: Vec<Value> = self
                    .users
                    .iter()
                    .filter(|u| !u.not_assignable_in.contains(&project))
                    .filter(|u| {
                        !query.is_empty()
                            && (u.email.to_lowercase() == query
                                || (!u.email_hidden && u.email.to_lowercase().starts_with(&query))
                                || u.name.to_lowercase().contains(&query))
                    })
                    .map(JiraUser::json)
                    .collect();
                SandboxResponse::json(200, json!(users))
            }
            ("GET", ["user", "search"]) => {
                let query = request.param("query").unwrap_or("").to_lowercase();
                let users: Vec<Value> = self
                    .users
                    .iter()
                    .filter(|u| {
                        !query.is_empty()
                            && (u.email.to_lowercase().starts_with(&query) || u.name.to_lowercase().contains(&query))
                    })
                    .map(JiraUser::json)
                    .collect();
                SandboxResponse::json(200, json!(users))
            }
            ("POST", ["search", "jql"]) => self.search(
                body["jql"].as_str().unwrap_or(""),
                Self::requested_fields(&body["fields"]),
                body["maxResults"].as_u64().unwrap_or(50) as usize,
                body["nextPageToken"].as_str(),
            ),
            ("GET", ["search", "jql"]) => self.search(
                request.param("jql").unwrap_or(""),
                request
                    .param("fields")
                    .map(|f| Self::requested_fields(&json!(f)))
                    .unwrap_or_default(),
                request.param("maxResults").and_then(|m| m.parse().ok()).unwrap_or(50),
                request.param("nextPageToken"),
            ),
            // The old search endpoints are gone.
            (_, ["search"]) => error(410, "This endpoint has been removed; use /rest/api/3/search/jql."),
            _ => error(404, "not found"),
        };
        (response, vec![])
    }
}
