//! Sandbox ServiceNow (Table API): Basic auth, `{"result": ...}` with string values, encoded
//! queries (unknown terms silently ignored, as the real one does), `incident` and `sc_task`
//! state rules, and signed webhooks as sent by the Business Rule grantdesk ships.

use super::{hmac_sha256, random_hex, OutgoingWebhook, Provider, SandboxRequest, SandboxResponse};
use base64::Engine;
use grantdesk::domain::TicketState;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One record: every field is a string.
pub type Record = BTreeMap<String, String>;

/// The sandbox instance's data.
pub struct ServiceNowSandbox {
    /// The valid user name.
    pub username: String,
    /// The valid password.
    pub password: String,
    /// Records by table (`incident`, `sc_task`, `sys_user`).
    pub tables: BTreeMap<String, Vec<Record>>,
    next_number: u64,
}

fn failure(status: u16, message: &str, detail: &str) -> SandboxResponse {
    SandboxResponse::json(
        status,
        json!({"error": {"message": message, "detail": detail}, "status": "failure"}),
    )
}

fn active(table: &str, state: &str) -> bool {
    match table {
        "incident" => !matches!(state, "6" | "7" | "8"),
        "sc_task" => !matches!(state, "3" | "4" | "7"),
        _ => true,
    }
}

/// Whether a record matches an encoded query. `^` joins terms with AND, `^OR` with OR; unknown
/// fields and operators are ignored, which is what makes the real API widen results.
fn matches(record: &Record, query: &str) -> bool {
    if query.trim().is_empty() {
        return true;
    }
    // Evaluate as AND of OR-groups.
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for term in query.split('^').filter(|t| !t.is_empty()) {
        match term.strip_prefix("OR") {
            Some(alternative) if !groups.is_empty() => groups.last_mut().expect("non-empty").push(alternative),
            _ => groups.push(vec![term]),
        }
    }
    groups
        .iter()
        .all(|group| group.iter().any(|term| term_matches(record, term).unwrap_or(true)))
}

/// `None` for a term the sandbox does not understand (ignored, like the real API).
fn term_matches(record: &Record, term: &str) -> Option<bool> {
    for (operator, test) in [
        (
            "STARTSWITH",
            (|v: &str, x: &str| v.to_lowercase().starts_with(&x.to_lowercase())) as fn(&str, &str) -> bool,
        ),
        ("LIKE", |v, x| v.to_lowercase().contains(&x.to_lowercase())),
        ("IN", |v, x| x.split(',').any(|item| item == v)),
        ("!=", |v, x| v != x),
        ("=", |v, x| v == x),
    ] {
        if let Some((field, value)) = term.split_once(operator) {
            if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            // A field of the table that this record leaves empty matches nothing but an empty
            // value, as on an instance; only a field the table does not have is ignored.
            return match record.get(field) {
                Some(actual) => Some(test(actual, value)),
                None if KNOWN_FIELDS.contains(&field) => Some(test("", value)),
                None => None,
            };
        }
    }
    None
}

/// Fields every `incident` and `sc_task` record has, set or empty.
const KNOWN_FIELDS: &[&str] = &[
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "active",
    "correlation_id",
    "correlation_display",
    "assigned_to",
    "close_code",
    "close_notes",
    "sys_class_name",
    "email",
    "user_name",
];

impl ServiceNowSandbox {
    /// An instance with empty `incident` and `sc_task` tables and no users.
    pub fn new(username: &str, password: &str) -> Self {
        let tables = ["incident", "sc_task", "sys_user"]
            .into_iter()
            .map(|t| (t.to_owned(), Vec::new()))
            .collect();
        Self {
            username: username.into(),
            password: password.into(),
            tables,
            next_number: 10_000,
        }
    }

    /// Adds a user and returns its `sys_id`.
    pub fn add_user(&mut self, email: &str, name: &str) -> String {
        let sys_id = random_hex(32);
        let user: Record = [
            ("sys_id", sys_id.as_str()),
            ("email", email),
            ("name", name),
            ("active", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        self.tables.entry("sys_user".into()).or_default().push(user);
        sys_id
    }

    /// Files a record directly and returns its number.
    pub fn add_ticket(&mut self, table: &str, short_description: &str) -> String {
        let fields = Map::from_iter([("short_description".to_owned(), json!(short_description))]);
        self.insert(table, &fields)["number"].clone()
    }

    fn insert(&mut self, table: &str, fields: &Map<String, Value>) -> Record {
        self.next_number += 1;
        let prefix = if table == "sc_task" { "SCTASK" } else { "INC" };
        let mut record: Record = fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()),
                )
            })
            .collect();
        record.insert("sys_id".into(), random_hex(32));
        record.insert("number".into(), format!("{prefix}{:07}", self.next_number));
        record.entry("state".into()).or_insert_with(|| "1".into());
        let state = record["state"].clone();
        record.insert("active".into(), active(table, &state).to_string());
        record.insert(
            "sys_created_on".into(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        self.tables.entry(table.into()).or_default().push(record.clone());
        record
    }

    /// Finds a record by number in `incident` or `sc_task`: (table, index).
    pub fn find_number(&self, number: &str) -> Option<(String, usize)> {
        ["incident", "sc_task"].into_iter().find_map(|table| {
            self.tables
                .get(table)?
                .iter()
                .position(|r| r.get("number").is_some_and(|n| n == number))
                .map(|i| (table.to_owned(), i))
        })
    }

    /// Sets a record's state to the first number that maps to `state`, as a person would, and
    /// returns the webhook.
    pub fn set_state(
        &mut self,
        number: &str,
        state: TicketState,
        secret: Option<&str>,
    ) -> (bool, Vec<OutgoingWebhook>) {
        let Some((table, index)) = self.find_number(number) else {
            return (false, vec![]);
        };
        let value = match (table.as_str(), state) {
            (_, TicketState::Open) => "1",
            (_, TicketState::InProgress) => "2",
            ("incident", TicketState::Done) => "6",
            ("incident", TicketState::Canceled) => "8",
            (_, TicketState::Done) => "3",
            (_, TicketState::Canceled) => "4",
        };
        let record = &mut self.tables.get_mut(&table).expect("table exists")[index];
        record.insert("state".into(), value.into());
        record.insert("active".into(), active(&table, value).to_string());
        if table == "incident" && value == "6" {
            record
                .entry("close_code".into())
                .or_insert_with(|| "Solution provided".into());
            record
                .entry("close_notes".into())
                .or_insert_with(|| "Resolved in the sandbox".into());
        }
        let record = record.clone();
        (true, webhook(&table, &record, secret))
    }

    fn select(record: &Record, fields: Option<&str>) -> Value {
        let wanted: Option<Vec<&str>> = fields.map(|f| f.split(',').map(str::trim).collect());
        let map: Map<String, Value> = record
            .iter()
            .filter(|(k, _)| wanted.as_ref().is_none_or(|w| w.contains(&k.as_str())))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        Value::Object(map)
    }
}

/// The webhook the shipped Business Rule sends: the record as the Table API returns it, with
/// `X-Grantdesk-Timestamp` and a base64 HMAC-SHA256 of `timestamp + "." + body`.
fn webhook(table: &str, record: &Record, secret: Option<&str>) -> Vec<OutgoingWebhook> {
    let Some(secret) = secret else { return vec![] };
    let mut body = ServiceNowSandbox::select(record, None);
    body["sys_class_name"] = json!(table);
    let body = body.to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature =
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, format!("{timestamp}.{body}").as_bytes()));
    vec![OutgoingWebhook {
        headers: vec![
            ("X-Grantdesk-Timestamp".into(), timestamp),
            ("X-Grantdesk-Signature".into(), signature),
        ],
        body,
    }]
}

impl Provider for ServiceNowSandbox {
    fn handle(&mut self, request: &SandboxRequest, secret: Option<&str>) -> (SandboxResponse, Vec<OutgoingWebhook>) {
        if request.basic_auth() != Some((self.username.clone(), self.password.clone())) {
            return (
                failure(401, "User Not Authenticated", "Required to provide Auth information"),
                vec![],
            );
        }
        let Some(path) = request.path.strip_prefix("/api/now/table/") else {
            return (
                failure(400, "Requested URI does not represent any resource", &request.path),
                vec![],
            );
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let table = segments[0].to_owned();
        if !self.tables.contains_key(&table) {
            return (failure(400, "Invalid table", &table), vec![]);
        }
        let fields = request.param("sysparm_fields");
        let response = match (request.method.as_str(), segments.len()) {
            ("GET", 1) => {
                let query = request.param("sysparm_query").unwrap_or("");
                let limit: usize = request
                    .param("sysparm_limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(10_000);
                let result: Vec<Value> = self.tables[&table]
                    .iter()
                    .filter(|r| matches(r, query))
                    .take(limit)
                    .map(|r| Self::select(r, fields))
                    .collect();
                SandboxResponse::json(200, json!({"result": result}))
            }
            ("POST", 1) => match request.json() {
                Value::Object(body) => {
                    let record = self.insert(&table, &body);
                    SandboxResponse::json(201, json!({"result": Self::select(&record, fields)}))
                }
                _ => failure(400, "Exception while reading request", "The payload is not valid JSON."),
            },
            ("GET", 2) => match self.tables[&table]
                .iter()
                .find(|r| r.get("sys_id").is_some_and(|s| s == segments[1]))
            {
                Some(record) => SandboxResponse::json(200, json!({"result": Self::select(record, fields)})),
                None => failure(
                    404,
                    "No Record found",
                    "Record doesn't exist or ACL restricts the record retrieval",
                ),
            },
            ("PATCH" | "PUT", 2) => {
                let Some(index) = self.tables[&table]
                    .iter()
                    .position(|r| r.get("sys_id").is_some_and(|s| s == segments[1]))
                else {
                    return (
                        failure(
                            404,
                            "No Record found",
                            "Record doesn't exist or ACL restricts the record retrieval",
                        ),
                        vec![],
                    );
                };
                let Value::Object(body) = request.json() else {
                    return (
                        failure(400, "Exception while reading request", "The payload is not valid JSON."),
                        vec![],
                    );
                };
                let mut updated = self.tables[&table][index].clone();
                for (k, v) in &body {
                    updated.insert(
                        k.clone(),
                        v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()),
                    );
                }
                let state = updated.get("state").cloned().unwrap_or_default();
                if table == "incident"
                    && state == "6"
                    && (updated.get("close_code").is_none_or(String::is_empty)
                        || updated.get("close_notes").is_none_or(String::is_empty))
                {
                    return (failure(403, "Operation Failed", "Data Policy Exception: the following fields are mandatory: Resolution code, Resolution notes"), vec![]);
                }
                updated.insert("active".into(), active(&table, &state).to_string());
                let state_changed = self.tables[&table][index].get("state") != Some(&state);
                self.tables.get_mut(&table).expect("table exists")[index] = updated.clone();
                let hooks = if state_changed {
                    webhook(&table, &updated, secret)
                } else {
                    vec![]
                };
                return (
                    SandboxResponse::json(200, json!({"result": Self::select(&updated, fields)})),
                    hooks,
                );
            }
            _ => failure(405, "Method not allowed", &request.method),
        };
        (response, vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn encoded_queries_match_like_the_table_api() {
        let r = record(&[
            ("sys_id", "a1"),
            ("number", "INC0010001"),
            ("short_description", "Add Josh to My Role"),
            ("active", "true"),
        ]);
        assert!(matches(&r, "sys_idINa1,b2"));
        assert!(!matches(&r, "sys_idINb2,c3"));
        assert!(matches(
            &r,
            "active=true^numberSTARTSWITHinc001^ORshort_descriptionLIKEjosh"
        ));
        assert!(matches(
            &r,
            "active=true^numberSTARTSWITHzzz^ORshort_descriptionLIKEjosh"
        ));
        assert!(!matches(&r, "active=false"));
        assert!(
            matches(&r, "no_such_field=1"),
            "unknown terms are ignored, widening the result"
        );
        assert!(
            !matches(&r, "correlation_id=grantdesk-req_1"),
            "a field of the table left empty matches no key"
        );
        assert!(matches(&r, "correlation_id="), "it is empty");
    }
}
