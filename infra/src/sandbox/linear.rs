//! Sandbox Linear (GraphQL): the API key in `Authorization` with no `Bearer`, the operations of
//! `shared/specs/linear/operations.graphql` (recognized by name, answered from `variables`),
//! GraphQL errors for what the API refuses, and `Linear-Signature` webhooks.

use super::{hex, hmac_sha256, OutgoingWebhook, Provider, SandboxRequest, SandboxResponse};
use grantdesk::domain::TicketState;
use serde_json::{json, Value};

/// A team with its workflow.
#[derive(Clone, Debug)]
pub struct LinearTeam {
    /// UUID.
    pub id: String,
    /// `ENG`.
    pub key: String,
    /// Workflow states: (id, name, type).
    pub states: Vec<(String, String, String)>,
}

/// One issue.
#[derive(Clone, Debug)]
pub struct LinearIssue {
    /// UUID.
    pub id: String,
    /// `ENG-1`.
    pub identifier: String,
    /// Title.
    pub title: String,
    /// Markdown description.
    pub description: Option<String>,
    /// The team's id.
    pub team_id: String,
    /// The state's id.
    pub state_id: String,
    /// Assignee user id.
    pub assignee_id: Option<String>,
    /// Comment ids and bodies.
    pub comments: Vec<(String, String)>,
    /// Archived issues are returned only with `includeArchived`.
    pub archived: bool,
}

/// The sandbox workspace's data.
pub struct LinearSandbox {
    /// The valid personal API key.
    pub api_key: String,
    /// Teams.
    pub teams: Vec<LinearTeam>,
    /// Users: (id, name, email).
    pub users: Vec<(String, String, String)>,
    /// Issues, in creation order.
    pub issues: Vec<LinearIssue>,
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn gql_error(message: &str, code: &str) -> SandboxResponse {
    SandboxResponse::json(
        400,
        json!({"data": null, "errors": [{"message": message, "extensions": {"code": code, "userPresentableMessage": message}}]}),
    )
}

fn data(value: Value) -> SandboxResponse {
    SandboxResponse::json(200, json!({"data": value}))
}

/// The operation name in a GraphQL document (`query Viewer { ... }` → `Viewer`).
fn operation_name(query: &str) -> Option<String> {
    let text: String = query
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let mut words = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == '{')
        .filter(|w| !w.is_empty());
    match words.next()? {
        "query" | "mutation" => words.next().map(str::to_owned),
        _ => None,
    }
}

impl LinearSandbox {
    /// A workspace with team `ENG` (Backlog, Todo, In Progress, Done, Canceled) and no users.
    pub fn new(api_key: &str) -> Self {
        let states = [
            ("Backlog", "backlog"),
            ("Todo", "unstarted"),
            ("In Progress", "started"),
            ("Done", "completed"),
            ("Canceled", "canceled"),
        ]
        .into_iter()
        .map(|(name, kind)| (uuid(), name.to_owned(), kind.to_owned()))
        .collect();
        Self {
            api_key: api_key.into(),
            teams: vec![LinearTeam {
                id: uuid(),
                key: "ENG".into(),
                states,
            }],
            users: Vec::new(),
            issues: Vec::new(),
        }
    }

    /// Adds a user and returns its id.
    pub fn add_user(&mut self, email: &str, name: &str) -> String {
        let id = uuid();
        self.users.push((id.clone(), name.into(), email.into()));
        id
    }

    /// Files an issue in team `team_key` directly and returns its identifier.
    pub fn add_issue(&mut self, team_key: &str, title: &str) -> String {
        let team = self
            .teams
            .iter()
            .find(|t| t.key == team_key)
            .expect("known team")
            .clone();
        self.insert(uuid(), &team, title, None, None).identifier
    }

    fn insert(
        &mut self,
        id: String,
        team: &LinearTeam,
        title: &str,
        description: Option<String>,
        assignee: Option<String>,
    ) -> LinearIssue {
        let number = self.issues.iter().filter(|i| i.team_id == team.id).count() + 1;
        let state_id = team
            .states
            .iter()
            .find(|s| s.2 == "unstarted")
            .map(|s| s.0.clone())
            .unwrap_or_else(|| team.states[0].0.clone());
        let issue = LinearIssue {
            id,
            identifier: format!("{}-{number}", team.key),
            title: title.into(),
            description,
            team_id: team.id.clone(),
            state_id,
            assignee_id: assignee,
            comments: Vec::new(),
            archived: false,
        };
        self.issues.push(issue.clone());
        issue
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.issues
            .iter()
            .position(|i| i.id == id || i.identifier.eq_ignore_ascii_case(id))
    }

    /// Moves an issue to the first state of the type matching `state` and returns the webhook.
    pub fn set_state(
        &mut self,
        identifier: &str,
        state: TicketState,
        secret: Option<&str>,
    ) -> (bool, Vec<OutgoingWebhook>) {
        let kind = match state {
            TicketState::Open => "unstarted",
            TicketState::InProgress => "started",
            TicketState::Done => "completed",
            TicketState::Canceled => "canceled",
        };
        let Some(index) = self.find(identifier) else {
            return (false, vec![]);
        };
        let team = self
            .teams
            .iter()
            .find(|t| t.id == self.issues[index].team_id)
            .cloned()
            .expect("issue's team");
        let Some(target) = team.states.iter().find(|s| s.2 == kind) else {
            return (false, vec![]);
        };
        self.issues[index].state_id = target.0.clone();
        (true, self.webhook(index, secret))
    }

    fn webhook(&self, index: usize, secret: Option<&str>) -> Vec<OutgoingWebhook> {
        let Some(secret) = secret else { return vec![] };
        let now = chrono::Utc::now();
        let body = json!({
            "action": "update",
            "type": "Issue",
            "createdAt": now.to_rfc3339(),
            "data": self.issue_json(&self.issues[index]),
            "url": self.url(&self.issues[index]),
            "organizationId": "sandbox",
            "webhookTimestamp": now.timestamp_millis(),
            "webhookId": "sandbox-webhook",
        })
        .to_string();
        let signature = hex(&hmac_sha256(secret, body.as_bytes()));
        vec![OutgoingWebhook {
            headers: vec![
                ("Linear-Signature".into(), signature),
                ("Linear-Delivery".into(), uuid()),
                ("Linear-Event".into(), "Issue".into()),
            ],
            body,
        }]
    }

    fn url(&self, issue: &LinearIssue) -> String {
        format!("https://linear.app/sandbox/issue/{}", issue.identifier)
    }

    fn issue_json(&self, issue: &LinearIssue) -> Value {
        let team = self.teams.iter().find(|t| t.id == issue.team_id).expect("issue's team");
        let state = team
            .states
            .iter()
            .find(|s| s.0 == issue.state_id)
            .expect("issue's state");
        let assignee = issue
            .assignee_id
            .as_ref()
            .and_then(|id| self.users.iter().find(|u| &u.0 == id));
        json!({
            "id": issue.id,
            "identifier": issue.identifier,
            "url": self.url(issue),
            "title": issue.title,
            "description": issue.description,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": chrono::Utc::now().to_rfc3339(),
            "completedAt": if state.2 == "completed" { json!(chrono::Utc::now().to_rfc3339()) } else { Value::Null },
            "canceledAt": if state.2 == "canceled" { json!(chrono::Utc::now().to_rfc3339()) } else { Value::Null },
            "archivedAt": if issue.archived { json!("2026-01-01T00:00:00.000Z") } else { Value::Null },
            "state": {"id": state.0, "name": state.1, "type": state.2},
            "assignee": assignee.map(|u| json!({"id": u.0, "name": u.1, "email": u.2})),
            "team": {"id": team.id, "key": team.key, "name": team.key},
            "labels": {"nodes": []},
        })
    }
}

impl Provider for LinearSandbox {
    fn handle(&mut self, request: &SandboxRequest, secret: Option<&str>) -> (SandboxResponse, Vec<OutgoingWebhook>) {
        if request.path != "/graphql" || request.method != "POST" {
            return (SandboxResponse::json(404, json!({"error": "not found"})), vec![]);
        }
        // A personal API key goes bare; with "Bearer " it is taken for an OAuth token and refused.
        if request.authorization.as_deref() != Some(self.api_key.as_str()) {
            return (
                gql_error("Authentication required, not authenticated", "AUTHENTICATION_ERROR"),
                vec![],
            );
        }
        let body = request.json();
        let Some(query) = body["query"].as_str() else {
            return (
                gql_error("Must provide query string.", "GRAPHQL_VALIDATION_FAILED"),
                vec![],
            );
        };
        let vars = &body["variables"];
        let Some(operation) = operation_name(query) else {
            return (
                gql_error(
                    "Anonymous operations are not supported by this sandbox",
                    "GRAPHQL_VALIDATION_FAILED",
                ),
                vec![],
            );
        };
        let str_var = |name: &str| vars[name].as_str().map(str::to_owned);
        let response = match operation.as_str() {
            "Viewer" => data(
                json!({"viewer": {"id": "viewer", "name": "grantdesk bot", "displayName": "grantdesk", "email": "bot@sandbox.linear", "active": true}}),
            ),
            "Teams" => data(json!({"teams": {
                "nodes": self.teams.iter().map(|t| json!({"id": t.id, "key": t.key, "name": t.key})).collect::<Vec<_>>(),
                "pageInfo": {"hasNextPage": false, "endCursor": null},
            }})),
            "UsersByEmail" => {
                let email = str_var("email").unwrap_or_default();
                data(
                    json!({"users": {"nodes": self.users.iter().filter(|u| u.2.eq_ignore_ascii_case(&email))
                    .map(|u| json!({"id": u.0, "name": u.1, "displayName": u.1, "email": u.2, "active": true})).collect::<Vec<_>>()}}),
                )
            }
            "WorkflowStatesByTeam" => match self.teams.iter().find(|t| Some(&t.id) == str_var("teamId").as_ref()) {
                Some(team) => data(json!({"workflowStates": {
                    "nodes": team.states.iter().map(|s| json!({"id": s.0, "name": s.1, "type": s.2, "team": {"id": team.id, "key": team.key}})).collect::<Vec<_>>(),
                    "pageInfo": {"hasNextPage": false, "endCursor": null},
                }})),
                None => data(
                    json!({"workflowStates": {"nodes": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}),
                ),
            },
            "IssueCreate" => {
                let id = str_var("id").unwrap_or_else(uuid);
                if uuid::Uuid::parse_str(&id)
                    .map(|u| u.get_version_num() != 4)
                    .unwrap_or(true)
                {
                    return (
                        gql_error("Argument Validation Error: id must be a UUID v4", "INVALID_INPUT"),
                        vec![],
                    );
                }
                if self.find(&id).is_some() {
                    return (gql_error("Entity already exists with this id", "INVALID_INPUT"), vec![]);
                }
                let Some(team) = self
                    .teams
                    .iter()
                    .find(|t| Some(&t.id) == str_var("teamId").as_ref())
                    .cloned()
                else {
                    return (gql_error("Entity not found: Team", "INVALID_INPUT"), vec![]);
                };
                let Some(title) = str_var("title").filter(|t| !t.trim().is_empty()) else {
                    return (
                        gql_error("Argument Validation Error: title should not be empty", "INVALID_INPUT"),
                        vec![],
                    );
                };
                let assignee = str_var("assigneeId");
                if let Some(a) = &assignee {
                    if !self.users.iter().any(|u| &u.0 == a) {
                        return (gql_error("Entity not found: User", "INVALID_INPUT"), vec![]);
                    }
                }
                let issue = self.insert(id, &team, &title, str_var("description"), assignee);
                data(json!({"issueCreate": {"success": true, "lastSyncId": 1, "issue": self.issue_json(&issue)}}))
            }
            "IssuesByIds" => {
                let ids: Vec<String> = vars["ids"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let first = vars["first"].as_u64().unwrap_or(50) as usize;
                if first > 250 {
                    return (gql_error("first must be at most 250", "INVALID_INPUT"), vec![]);
                }
                let nodes: Vec<Value> = self
                    .issues
                    .iter()
                    .filter(|i| ids.contains(&i.id))
                    .take(first)
                    .map(|i| self.issue_json(i))
                    .collect();
                data(json!({"issues": {"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}}}))
            }
            "SearchOpenIssues" => {
                if !query.contains(r#"nin: ["completed", "canceled"]"#) {
                    return (
                        gql_error(
                            "the sandbox serves only the spec's SearchOpenIssues",
                            "GRAPHQL_VALIDATION_FAILED",
                        ),
                        vec![],
                    );
                }
                let term = str_var("term").unwrap_or_default().to_lowercase();
                let first = vars["first"].as_u64().unwrap_or(50) as usize;
                let nodes: Vec<Value> = self
                    .issues
                    .iter()
                    .filter(|i| {
                        let open = self
                            .teams
                            .iter()
                            .find(|t| t.id == i.team_id)
                            .and_then(|t| t.states.iter().find(|s| s.0 == i.state_id))
                            .is_some_and(|s| s.2 != "completed" && s.2 != "canceled");
                        let text = format!("{} {}", i.title, i.description.clone().unwrap_or_default()).to_lowercase();
                        open && term.split_whitespace().all(|w| text.contains(w))
                    })
                    .take(first)
                    .map(|i| self.issue_json(i))
                    .collect();
                data(json!({"searchIssues": {"nodes": nodes, "pageInfo": {"hasNextPage": false, "endCursor": null}}}))
            }
            "Issue" => match str_var("id").and_then(|id| self.find(&id)) {
                Some(index) => data(json!({"issue": self.issue_json(&self.issues[index])})),
                None => gql_error("Entity not found: Issue", "INVALID_INPUT"),
            },
            "CommentCreate" => {
                let Some(index) = str_var("issueId").and_then(|id| self.find(&id)) else {
                    return (gql_error("Entity not found: Issue", "INVALID_INPUT"), vec![]);
                };
                let id = str_var("id").unwrap_or_else(uuid);
                if self.issues.iter().any(|i| i.comments.iter().any(|c| c.0 == id)) {
                    return (gql_error("Entity already exists with this id", "INVALID_INPUT"), vec![]);
                }
                self.issues[index]
                    .comments
                    .push((id.clone(), str_var("body").unwrap_or_default()));
                data(
                    json!({"commentCreate": {"success": true, "lastSyncId": 2, "comment": {"id": id, "url": "https://linear.app/sandbox/comment", "createdAt": chrono::Utc::now().to_rfc3339(), "user": {"id": "viewer"}}}}),
                )
            }
            "IssueUpdateState" => {
                let Some(index) = str_var("id").and_then(|id| self.find(&id)) else {
                    return (gql_error("Entity not found: Issue", "INVALID_INPUT"), vec![]);
                };
                let team = self
                    .teams
                    .iter()
                    .find(|t| t.id == self.issues[index].team_id)
                    .cloned()
                    .expect("issue's team");
                let Some(state) = team.states.iter().find(|s| Some(&s.0) == str_var("stateId").as_ref()) else {
                    return (gql_error("Entity not found: WorkflowState", "INVALID_INPUT"), vec![]);
                };
                self.issues[index].state_id = state.0.clone();
                let hooks = self.webhook(index, secret);
                return (
                    data(
                        json!({"issueUpdate": {"success": true, "lastSyncId": 3, "issue": self.issue_json(&self.issues[index])}}),
                    ),
                    hooks,
                );
            }
            other => gql_error(
                &format!("Unknown operation {other} for this sandbox"),
                "GRAPHQL_VALIDATION_FAILED",
            ),
        };
        (response, vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_read_from_documents() {
        assert_eq!(
            operation_name("# a comment\nquery Viewer {\n viewer { id } }").as_deref(),
            Some("Viewer")
        );
        assert_eq!(
            operation_name("mutation IssueCreate($id: String!) { x }").as_deref(),
            Some("IssueCreate")
        );
        assert_eq!(operation_name("{ viewer { id } }"), None);
    }
}
