//! ServiceNow Table API client: Basic auth, string-valued records under `{"result": ...}`,
//! `incident` and `sc_task` tables, state from the state number, idempotent create through
//! `correlation_id`.
//!
//! A ticket's remote id is `<table>:<sys_id>`, so reads and updates know which table to use.

use super::http::{Answer, Retry};
use super::{
    NewTicket, ProviderError, ProviderErrorKind, ProviderHttp, ProviderResult, Refused, RemoteTicket, StateOverrides,
    TicketHandle, TicketProvider,
};
use crate::domain::{TicketProviderKind, TicketState};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};

const KIND: TicketProviderKind = TicketProviderKind::Servicenow;
/// Records read per `sys_idIN` query.
pub const READ_BATCH: usize = 100;
/// The tables tickets can live in.
pub const TABLES: [&str; 2] = ["incident", "sc_task"];
const FIELDS: &str = "sys_id,number,short_description,state,correlation_id";

/// A ServiceNow instance.
#[derive(Clone, Debug)]
pub struct ServiceNowClient {
    http: ProviderHttp,
    base_url: String,
    username: String,
    password: SecretString,
    overrides: StateOverrides,
    close_code: String,
}

/// The close code an incident is resolved with unless the integration names another.
pub const DEFAULT_CLOSE_CODE: &str = "Solution provided";

#[derive(Deserialize)]
struct Record {
    sys_id: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    correlation_id: String,
}

#[derive(Deserialize)]
struct One {
    result: Record,
}

#[derive(Deserialize)]
struct Many {
    result: Vec<Record>,
}

/// Normalizes a ServiceNow state number for `table`; an override for the number wins.
pub fn map_state(table: &str, state: &str, overrides: &StateOverrides) -> TicketState {
    if let Some(mapped) = overrides.get(state) {
        return *mapped;
    }
    match (table, state) {
        ("incident", "2" | "3") => TicketState::InProgress,
        ("incident", "6" | "7") => TicketState::Done,
        ("incident", "8") => TicketState::Canceled,
        ("sc_task", "2") => TicketState::InProgress,
        ("sc_task", "3") => TicketState::Done,
        ("sc_task", "4" | "7") => TicketState::Canceled,
        _ => TicketState::Open,
    }
}

/// The table a ticket number belongs to (`INC…` → incident, `SCTASK…` → sc_task).
pub fn table_for_number(number: &str) -> Option<&'static str> {
    let upper = number.to_ascii_uppercase();
    let digits = |rest: &str| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit());
    if let Some(rest) = upper.strip_prefix("SCTASK") {
        digits(rest).then_some("sc_task")
    } else if let Some(rest) = upper.strip_prefix("INC") {
        digits(rest).then_some("incident")
    } else {
        None
    }
}

/// Splits a remote id into table and `sys_id`.
pub fn split_remote_id(remote_id: &str) -> Option<(&str, &str)> {
    let (table, sys_id) = remote_id.split_once(':')?;
    (TABLES.contains(&table) && !sys_id.is_empty() && sys_id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some((table, sys_id))
}

/// Removes what would change the meaning of an encoded query (`^` separates terms).
fn query_value(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, '^' | '=' | '\n' | '\r')).collect()
}

impl ServiceNowClient {
    /// A client for the instance at `base_url`.
    pub fn new(
        http: ProviderHttp,
        base_url: String,
        username: String,
        password: SecretString,
        overrides: StateOverrides,
    ) -> Self {
        Self {
            http,
            base_url,
            username,
            password,
            overrides,
            close_code: DEFAULT_CLOSE_CODE.to_owned(),
        }
    }

    /// The same client, resolving incidents with `code` (one of the instance's close codes).
    pub fn with_close_code(mut self, code: &str) -> Self {
        self.close_code = code.to_owned();
        self
    }

    fn request(&self, client: &Client, method: Method, path: &str) -> RequestBuilder {
        client
            .request(method, format!("{}/api/now/table/{path}", self.base_url))
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .header("Accept", "application/json")
    }

    async fn call(
        &self,
        operation: &str,
        retry: Retry,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> ProviderResult<Answer> {
        self.http
            .send(
                KIND,
                operation,
                retry,
                |client| {
                    let request = self.request(client, method.clone(), path).query(query);
                    match body {
                        Some(body) => request.json(body),
                        None => request,
                    }
                },
                |status, _| status == StatusCode::TOO_MANY_REQUESTS,
                |_| Refused::Unspecified,
            )
            .await
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, operation: &str, answer: &Answer) -> ProviderResult<T> {
        answer.decode(KIND, operation)
    }

    fn ticket(&self, table: &str, record: Record) -> RemoteTicket {
        RemoteTicket {
            remote_id: format!("{table}:{}", record.sys_id),
            url: format!(
                "{}/nav_to.do?uri={table}.do%3Fsys_id%3D{}",
                self.base_url, record.sys_id
            ),
            state: map_state(table, &record.state, &self.overrides),
            key: record.number,
            title: record.short_description,
            raw_state: record.state,
            assignee_refused: false,
        }
    }

    async fn query(
        &self,
        operation: &str,
        table: &str,
        encoded: &str,
        limit: usize,
    ) -> ProviderResult<Vec<RemoteTicket>> {
        let records = self.query_records(operation, table, encoded, limit).await?;
        Ok(records.into_iter().map(|r| self.ticket(table, r)).collect())
    }

    async fn query_records(
        &self,
        operation: &str,
        table: &str,
        encoded: &str,
        limit: usize,
    ) -> ProviderResult<Vec<Record>> {
        let limit = limit.to_string();
        let query = [
            ("sysparm_query", encoded),
            ("sysparm_fields", FIELDS),
            ("sysparm_limit", limit.as_str()),
            ("sysparm_exclude_reference_link", "true"),
        ];
        let answer = self
            .call(operation, Retry::Safe, Method::GET, table, &query, None)
            .await?;
        let many: Many = self.decode(operation, &answer)?;
        Ok(many.result)
    }

    /// The record filed under `key`, if any. What comes back is checked, not trusted: an
    /// instance that does not honour the term (an ACL on the field, another table) answers
    /// with unrelated records, and a record whose `correlation_id` is not exactly `key` is
    /// never ours.
    async fn by_correlation(&self, table: &str, key: &str) -> ProviderResult<Option<RemoteTicket>> {
        let operation = format!("searching ServiceNow {table} for correlation id {key}");
        let encoded = format!("correlation_id={}", query_value(key));
        let records = self.query_records(&operation, table, &encoded, 10).await?;
        Ok(records
            .into_iter()
            .find(|r| r.correlation_id == key)
            .map(|r| self.ticket(table, r)))
    }

    fn invalid(&self, operation: &str, message: String) -> ProviderError {
        ProviderError {
            provider: KIND,
            operation: operation.to_owned(),
            kind: ProviderErrorKind::Rejected,
            status: None,
            message,
            refused: Default::default(),
        }
    }
}

impl TicketProvider for ServiceNowClient {
    fn kind(&self) -> TicketProviderKind {
        KIND
    }

    async fn check_connection(&self, project: Option<&str>) -> ProviderResult<String> {
        let table = project.unwrap_or("incident");
        let operation = format!("checking ServiceNow access to table {table}");
        if !TABLES.contains(&table) {
            return Err(self.invalid(&operation, format!("table must be incident or sc_task, not {table}")));
        }
        self.call(
            &operation,
            Retry::Safe,
            Method::GET,
            table,
            &[("sysparm_limit", "1"), ("sysparm_fields", "sys_id")],
            None,
        )
        .await?;
        Ok(self.username.clone())
    }

    async fn find_filed(&self, project: &str, idempotency_key: &str) -> ProviderResult<Option<RemoteTicket>> {
        if !TABLES.contains(&project) {
            return Ok(None);
        }
        self.by_correlation(project, idempotency_key).await
    }

    async fn create_ticket(&self, ticket: &NewTicket) -> ProviderResult<RemoteTicket> {
        let table = ticket.project.as_str();
        let operation = format!("creating ServiceNow {table} record");
        if !TABLES.contains(&table) {
            return Err(self.invalid(&operation, format!("table must be incident or sc_task, not {table}")));
        }
        let mut body = json!({
            "short_description": ticket.title,
            "description": ticket.description,
            "correlation_id": ticket.idempotency_key,
            "correlation_display": "grantdesk",
        });
        if let Some(assignee) = &ticket.assignee {
            body["assigned_to"] = json!(assignee);
        }
        let query = [("sysparm_fields", FIELDS), ("sysparm_exclude_reference_link", "true")];
        match self
            .call(
                &operation,
                Retry::OnlyIfRefused,
                Method::POST,
                table,
                &query,
                Some(&body),
            )
            .await
        {
            Ok(answer) => Ok(self.ticket(table, self.decode::<One>(&operation, &answer)?.result)),
            // The record may exist with its answer lost: look before failing.
            Err(err) if err.kind == ProviderErrorKind::Unavailable => {
                match self.by_correlation(table, &ticket.idempotency_key).await {
                    Ok(Some(found)) => Ok(found),
                    _ => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn read_tickets(&self, remote_ids: &[String]) -> ProviderResult<Vec<RemoteTicket>> {
        let mut found = Vec::with_capacity(remote_ids.len());
        for table in TABLES {
            let ids: Vec<&str> = remote_ids
                .iter()
                .filter_map(|id| split_remote_id(id))
                .filter(|(t, _)| *t == table)
                .map(|(_, sys_id)| sys_id)
                .collect();
            for chunk in ids.chunks(READ_BATCH) {
                let operation = format!("reading {} ServiceNow {table} records", chunk.len());
                let encoded = format!("sys_idIN{}", chunk.join(","));
                let records = self.query(&operation, table, &encoded, chunk.len()).await?;
                // An unknown query term is silently ignored and would widen the answer: keep only
                // what was asked for.
                found.extend(records.into_iter().filter(|t| remote_ids.contains(&t.remote_id)));
            }
        }
        Ok(found)
    }

    async fn find_ticket(&self, key: &str) -> ProviderResult<Option<RemoteTicket>> {
        let Some(table) = table_for_number(key) else {
            return Ok(None);
        };
        let operation = format!("reading ServiceNow record {key}");
        let encoded = format!("number={}", key.to_ascii_uppercase());
        Ok(self
            .query(&operation, table, &encoded, 1)
            .await?
            .into_iter()
            .find(|t| t.key.eq_ignore_ascii_case(key)))
    }

    async fn comment(&self, ticket: TicketHandle<'_>, body: &str) -> ProviderResult<()> {
        let operation = format!("commenting on ServiceNow record {}", ticket.key);
        let (table, sys_id) =
            split_remote_id(ticket.remote_id).ok_or_else(|| self.invalid(&operation, "malformed remote id".into()))?;
        let patch = json!({"work_notes": body});
        let path = format!("{table}/{sys_id}");
        self.call(
            &operation,
            Retry::OnlyIfRefused,
            Method::PATCH,
            &path,
            &[("sysparm_fields", "sys_id")],
            Some(&patch),
        )
        .await?;
        Ok(())
    }

    async fn close(&self, ticket: TicketHandle<'_>, note: &str) -> ProviderResult<()> {
        let operation = format!("closing ServiceNow record {}", ticket.key);
        let (table, sys_id) =
            split_remote_id(ticket.remote_id).ok_or_else(|| self.invalid(&operation, "malformed remote id".into()))?;
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
        let note = if note.trim().is_empty() {
            "Closed by grantdesk."
        } else {
            note
        };
        let patch = if table == "incident" {
            // Resolving an incident requires a close code and close notes.
            json!({"state": "6", "close_code": self.close_code, "close_notes": note})
        } else {
            json!({"state": "3", "work_notes": note})
        };
        let path = format!("{table}/{sys_id}");
        self.call(
            &operation,
            Retry::Safe,
            Method::PATCH,
            &path,
            &[("sysparm_fields", FIELDS)],
            Some(&patch),
        )
        .await?;
        Ok(())
    }

    async fn find_user_by_email(&self, email: &str, _project: &str) -> ProviderResult<Option<String>> {
        let operation = "looking up a ServiceNow user by e-mail";
        let encoded = format!("email={}^active=true", query_value(email));
        let query = [
            ("sysparm_query", encoded.as_str()),
            ("sysparm_fields", "sys_id,email"),
            ("sysparm_limit", "1"),
        ];
        let answer = self
            .call(operation, Retry::Safe, Method::GET, "sys_user", &query, None)
            .await?;
        let users: Value = self.decode(operation, &answer)?;
        Ok(users["result"]
            .as_array()
            .and_then(|r| {
                r.iter()
                    .find(|u| u["email"].as_str().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            })
            .and_then(|u| u["sys_id"].as_str())
            .map(str::to_owned))
    }

    async fn search_open(&self, query: &str, projects: &[String], limit: usize) -> ProviderResult<Vec<RemoteTicket>> {
        let query = query_value(query.trim());
        if query.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for table in TABLES.iter().filter(|t| projects.iter().any(|p| p == *t)) {
            let encoded = format!("active=true^numberSTARTSWITH{query}^ORshort_descriptionLIKE{query}");
            let operation = format!("searching ServiceNow {table}");
            found.extend(
                self.query(&operation, table, &encoded, limit)
                    .await?
                    .into_iter()
                    .filter(|t| !t.state.is_closed()),
            );
        }
        found.truncate(limit);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_per_table() {
        let none = StateOverrides::new();
        assert_eq!(map_state("incident", "1", &none), TicketState::Open);
        assert_eq!(map_state("incident", "3", &none), TicketState::InProgress);
        assert_eq!(map_state("incident", "6", &none), TicketState::Done);
        assert_eq!(map_state("incident", "8", &none), TicketState::Canceled);
        assert_eq!(map_state("sc_task", "3", &none), TicketState::Done);
        assert_eq!(map_state("sc_task", "4", &none), TicketState::Canceled);
        let overrides = StateOverrides::from([("3".to_owned(), TicketState::Open)]);
        assert_eq!(map_state("incident", "3", &overrides), TicketState::Open);
    }

    #[test]
    fn numbers_name_their_table_and_remote_ids_split() {
        assert_eq!(table_for_number("INC0010001"), Some("incident"));
        assert_eq!(table_for_number("sctask0001"), Some("sc_task"));
        assert_eq!(table_for_number("CHG0001"), None);
        assert_eq!(table_for_number("INC"), None);
        assert_eq!(split_remote_id("incident:abc123"), Some(("incident", "abc123")));
        assert_eq!(split_remote_id("problem:abc"), None);
        assert_eq!(split_remote_id("incident:a^b"), None);
    }

    #[test]
    fn query_values_cannot_add_terms() {
        assert_eq!(query_value("x^ORactive=false"), "xORactivefalse");
    }
}
