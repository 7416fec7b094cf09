//! The grantdesk JSON API: an ordinary async function from an API Gateway HTTP API (payload
//! v2) request to a response. It is a library, not a function: the API Lambda
//! (`functions/api/src/main.rs`) serves it, the console Lambda calls it in-process as the
//! signed-in person (so the console decides nothing the API would not), and the local runner
//! serves both. Each route parses its input, calls a use case in `grantdesk::usecases` and
//! renders the answer; `error.rs` maps every error to its status.

pub mod error;
pub mod identity;
pub mod openapi;
mod reads;
mod routes;

use error::{ApiError, ApiResult};
use grantdesk::config::ApiConfig;
use grantdesk::events::EventBus;
use grantdesk::providers::Connections;
use grantdesk::schedules::ExpirySchedules;
use grantdesk::store::{PageRequest, Store};
use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How long one provider call may take, retries included: the function's timeout is 10 s
/// (template.yaml), and the answer, the DynamoDB writes and the caller need the rest.
pub const PROVIDER_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(7);

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The API: its configuration and its store, built once per process.
#[derive(Clone, Debug)]
pub struct Api {
    store: Store,
    connections: Connections,
    events: EventBus,
    schedules: ExpirySchedules,
    reviews: grantdesk::usecases::review::Reviews,
    config: ApiConfig,
}

impl Api {
    /// An API over `store`, reaching ticket providers through `connections`, putting events
    /// on `events` and ending grants through `schedules`.
    pub fn new(
        store: Store,
        connections: Connections,
        events: EventBus,
        schedules: ExpirySchedules,
        config: ApiConfig,
    ) -> Self {
        let reviews = grantdesk::usecases::review::Reviews::new(store.clone(), schedules.clone());
        Self {
            store,
            connections,
            events,
            schedules,
            reviews,
            config,
        }
    }

    /// This API over `store` (one call's, holding the records it read up front).
    pub(crate) fn over(&self, store: Store) -> Self {
        Self {
            connections: self.connections.with_store(store.clone()),
            reviews: grantdesk::usecases::review::Reviews::new(store.clone(), self.schedules.clone()),
            store,
            ..self.clone()
        }
    }

    /// Changing access by hand, over this call's store.
    pub(crate) fn access(&self) -> grantdesk::usecases::access::ResourceAccess {
        grantdesk::usecases::access::ResourceAccess::new(self.store.clone(), self.schedules.clone())
    }

    /// Checks a Jira target's issue type with Jira when one is named and Jira is connected
    /// (without one, the default `Task` was checked when Jira was connected). A type the
    /// project lacks is refused with the types it has.
    pub(crate) async fn check_issue_type(
        &self,
        provider: grantdesk::domain::TicketProviderKind,
        project: &str,
        issue_type: Option<&str>,
        field: &str,
    ) -> error::ApiResult<()> {
        use grantdesk::providers::{ConnectionError, ProviderErrorKind, TicketProvider};
        let Some(issue_type) = issue_type else {
            return Ok(());
        };
        let client = match self.connections.client(provider).await {
            Ok(client) => client,
            Err(ConnectionError::NotConnected(_)) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        match client.check_target(project, Some(issue_type)).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind == ProviderErrorKind::Rejected => Err(error::ApiError::unprocessable(
                "invalid_target",
                format!("{field}: {}", err.message),
            )),
            Err(err) if err.kind == ProviderErrorKind::NotFound => Err(error::ApiError::unprocessable(
                "invalid_target",
                format!("{field}: {provider} has no project {project}"),
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Answers one request as the HTTP API's Lambda: the OpenAPI document, Slack's signed
    /// interactions, and every route of [`Self::handle_call`].
    #[tracing::instrument(skip_all, fields(method = %req.method(), path = %req.raw_http_path()))]
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let path = req.raw_http_path();
        let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        match (req.method(), segments.as_slice()) {
            (&Method::GET, ["openapi.json"]) => Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(openapi::DOCUMENT))
                .unwrap_or_default(),
            // Slack's interactivity Request URL: signed by Slack, not carrying a JWT.
            (&Method::POST, ["webhooks", "slack"]) => Self::answer(routes::slack::interaction(self, &req).await),
            _ => self.handle_call(req).await,
        }
    }

    /// Answers one call made with a JWT the authorizer accepted: what another front door (the
    /// console) calls in-process. Every failure becomes a JSON error response; this never fails.
    #[tracing::instrument(name = "call", skip_all, fields(method = %req.method(), path = %req.raw_http_path()))]
    pub async fn handle_call(&self, req: Request) -> Response<Body> {
        Self::answer(self.route(&req).await)
    }

    fn answer(outcome: ApiResult<Response<Body>>) -> Response<Body> {
        match outcome {
            Ok(response) => response,
            Err(err) => {
                if err.status.is_server_error() {
                    tracing::error!(code = err.code, "request failed");
                } else {
                    tracing::info!(status = err.status.as_u16(), code = err.code, "request refused");
                }
                let mut response = json(err.status, &err.body());
                for (name, value) in &err.headers {
                    if let Ok(value) = header::HeaderValue::from_str(value) {
                        response.headers_mut().insert(*name, value);
                    }
                }
                response
            }
        }
    }

    async fn route(&self, req: &Request) -> ApiResult<Response<Body>> {
        let path = req.raw_http_path();
        let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let method = req.method().clone();
        let wanted =
            |caller: &grantdesk::domain::UserId| reads::of_route(self.store.facts(), &method, &segments, req, caller);
        let (caller, call) = self.caller(req, &wanted).await?;
        let this = &call;
        use routes::*;
        match (method, segments.as_slice()) {
            (Method::GET, ["me"]) => directory::me(this, &caller).await,
            (Method::GET, ["integrations"]) => integrations::list(this, &caller).await,
            (Method::PUT, ["integrations", "slack"]) => integrations::connect_slack(this, &caller, body(req)?).await,
            (Method::PUT, ["integrations", provider]) => {
                integrations::connect(this, &caller, provider, body(req)?).await
            }
            (Method::DELETE, ["integrations", provider]) => integrations::disconnect(this, &caller, provider).await,
            (Method::GET, ["tickets", "search"]) => {
                tickets::search(this, &caller, query(req, "provider"), query(req, "q")).await
            }
            (Method::GET, ["settings"]) => settings::get(this, &caller).await,
            (Method::PUT, ["settings"]) => settings::put(this, &caller, body(req)?).await,
            (Method::POST, ["users"]) => directory::create_user(this, &caller, body(req)?).await,
            (Method::GET, ["users"]) => directory::list_users(this, &caller, page(req)?).await,
            (Method::DELETE, ["users", id, "identity"]) => directory::clear_identity(this, &caller, id).await,
            (Method::POST, ["groups"]) => directory::create_group(this, &caller, body(req)?).await,
            (Method::GET, ["groups"]) => directory::list_groups(this, &caller, page(req)?).await,
            (Method::GET, ["groups", id]) => directory::get_group(this, &caller, id).await,
            (Method::PUT, ["groups", id, "members"]) => directory::set_members(this, &caller, id, body(req)?).await,
            (Method::POST, ["apps"]) => catalog::create_app(this, &caller, body(req)?).await,
            (Method::GET, ["apps"]) => catalog::list_apps(this, &caller, page(req)?).await,
            (Method::GET, ["apps", id]) => catalog::get_app(this, &caller, id).await,
            (Method::PATCH, ["apps", id]) => catalog::patch_app(this, &caller, id, body(req)?).await,
            (Method::POST, ["resources"]) => catalog::create_resource(this, &caller, body(req)?).await,
            (Method::GET, ["resources"]) => catalog::list_resources(this, &caller, page(req)?).await,
            (Method::GET, ["resources", id]) => catalog::get_resource(this, &caller, id).await,
            (Method::PATCH, ["resources", id]) => catalog::patch_resource(this, &caller, id, body(req)?).await,
            (Method::POST, ["resources", id, "sync"]) => catalog::sync_now(this, &caller, id).await,
            (Method::GET, ["resources", id, "users"]) => access::users_tab(this, &caller, id, page(req)?).await,
            (Method::POST, ["resources", id, "users"]) => access::add_user(this, &caller, id, body(req)?).await,
            (Method::DELETE, ["resources", id, "users", user]) => access::remove_user(this, &caller, id, user).await,
            (Method::POST, ["resources", id, "users", user, "propagation", "retry"]) => {
                access::retry_propagation(this, &caller, id, user).await
            }
            (Method::POST, ["requests"]) => requests::create(this, &caller, body(req)?).await,
            (Method::GET, ["requests"]) => requests::list(this, &caller, query(req, "review"), page(req)?).await,
            (Method::GET, ["requests", id]) => requests::get(this, &caller, id).await,
            (Method::POST, ["requests", id, "approve"]) => {
                requests::approve(this, &caller, id, body_or_empty(req)?).await
            }
            (Method::POST, ["requests", id, "deny"]) => requests::deny(this, &caller, id, body_or_empty(req)?).await,
            (Method::POST, ["requests", id, "cancel"]) => {
                requests::cancel(this, &caller, id, body_or_empty(req)?).await
            }
            (method, segments) => match allowed_methods(segments) {
                allowed if allowed.is_empty() => Err(ApiError::not_found(format!("no route for {method} {path}"))),
                allowed => Err(ApiError::method_not_allowed(&method, &allowed)),
            },
        }
    }
}

/// Every route: its method and path, `*` standing for one path parameter. `route` above is the
/// dispatch; this table answers which methods a path serves, for 405 and `Allow`.
const ROUTES: &[(Method, &str)] = &[
    (Method::GET, "openapi.json"),
    (Method::GET, "me"),
    (Method::GET, "integrations"),
    (Method::PUT, "integrations/slack"),
    (Method::PUT, "integrations/*"),
    (Method::DELETE, "integrations/*"),
    (Method::GET, "tickets/search"),
    (Method::GET, "settings"),
    (Method::PUT, "settings"),
    (Method::POST, "users"),
    (Method::GET, "users"),
    (Method::DELETE, "users/*/identity"),
    (Method::POST, "groups"),
    (Method::GET, "groups"),
    (Method::GET, "groups/*"),
    (Method::PUT, "groups/*/members"),
    (Method::POST, "apps"),
    (Method::GET, "apps"),
    (Method::GET, "apps/*"),
    (Method::PATCH, "apps/*"),
    (Method::POST, "resources"),
    (Method::GET, "resources"),
    (Method::GET, "resources/*"),
    (Method::PATCH, "resources/*"),
    (Method::POST, "resources/*/sync"),
    (Method::GET, "resources/*/users"),
    (Method::POST, "resources/*/users"),
    (Method::DELETE, "resources/*/users/*"),
    (Method::POST, "resources/*/users/*/propagation/retry"),
    (Method::POST, "requests"),
    (Method::GET, "requests"),
    (Method::GET, "requests/*"),
    (Method::POST, "requests/*/approve"),
    (Method::POST, "requests/*/deny"),
    (Method::POST, "requests/*/cancel"),
];

/// The methods the path `segments` serves (empty: no such path).
fn allowed_methods(segments: &[&str]) -> Vec<Method> {
    ROUTES
        .iter()
        .filter(|(_, pattern)| {
            let parts: Vec<&str> = pattern.split('/').collect();
            parts.len() == segments.len() && parts.iter().zip(segments).all(|(p, s)| *p == "*" || p == s)
        })
        .fold(Vec::new(), |mut methods, (method, _)| {
            if !methods.contains(method) {
                methods.push(method.clone());
            }
            methods
        })
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_vec(value)
        .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"encoding failed"}}"#.to_vec());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

/// 204 No Content.
pub fn no_content() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .unwrap_or_default()
}

fn body_bytes(req: &Request) -> ApiResult<&[u8]> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "the body is {} bytes; at most {MAX_BODY_BYTES} are accepted",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// Parses the JSON body, which must be an object; malformed JSON, another JSON value and
/// wrong types are 400 `invalid_body`.
fn body<T: DeserializeOwned>(req: &Request) -> ApiResult<T> {
    let bytes = body_bytes(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("invalid_body", "a JSON body is required"));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("invalid_body", "the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request("invalid_body", format!("invalid JSON body: {e}")))
}

/// Like [`body`], but an empty body or `null` reads as `{}`.
fn body_or_empty<T: DeserializeOwned + Default>(req: &Request) -> ApiResult<T> {
    let bytes = body_bytes(req)?;
    if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    body(req)
}

fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// `?limit=&next_token=` for lists.
fn page(req: &Request) -> ApiResult<PageRequest> {
    let limit = match query(req, "limit") {
        None => None,
        Some(text) => match text.parse::<i32>() {
            Ok(n) if (1..=PageRequest::MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be a whole number from 1 to {}", PageRequest::MAX_LIMIT),
                ))
            }
        },
    };
    Ok(PageRequest {
        limit,
        next_token: query(req, "next_token").filter(|t| !t.is_empty()),
    })
}

/// The clients the API needs in AWS, built once per process from the Lambda's environment: the
/// API itself and the store and secrets it uses (the console needs them too).
pub struct Wiring {
    /// The API.
    pub api: Api,
    /// Its store.
    pub store: Store,
    /// Its secrets.
    pub secrets: grantdesk::secrets::SecretStore,
}

/// Builds the API over `clients` as `config` says.
pub fn wire(clients: &grantdesk::clients::Clients, config: ApiConfig) -> Wiring {
    let store = clients.store(&config.table_name);
    let connections = clients.connections(&store, &config.secret_prefix, PROVIDER_CALL_BUDGET);
    let events = clients.events(&config.event_bus);
    let schedules = clients.schedules(&config.expiry);
    Wiring {
        secrets: clients.secrets(&config.secret_prefix),
        api: Api::new(store.clone(), connections, events, schedules, config),
        store,
    }
}

/// The request API Gateway would hand the API for a call whose JWT the authorizer accepted with
/// `claims`: how another front door (the console) calls the API in-process, under exactly its
/// rules. `path_and_query` is as sent, e.g. `/requests?review=pending`.
pub fn authorized_request(
    method: &Method,
    path_and_query: &str,
    body: Option<&serde_json::Value>,
    claims: &std::collections::HashMap<String, String>,
) -> Result<Request, String> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "",
            "apiId": "",
            "domainName": "",
            "domainPrefix": "",
            "http": {"method": method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": "", "userAgent": ""},
            "requestId": "",
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": 0,
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false,
    });
    lambda_http::request::from_str(&event.to_string()).map_err(|e| format!("building an API request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_and_the_route_table_list_the_same_routes() {
        let doc = openapi::document();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            let pattern: Vec<String> = path
                .trim_matches('/')
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "*".to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect();
            for method in operations.as_object().unwrap().keys() {
                documented.push((method.to_uppercase(), pattern.join("/")));
            }
        }
        let mut routed: Vec<(String, String)> = ROUTES
            .iter()
            .filter(|(_, path)| *path != "openapi.json")
            .map(|(method, path)| (method.to_string(), (*path).to_owned()))
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }

    #[test]
    fn every_documented_route_answers_401_and_405_and_states_its_parameters() {
        let doc = openapi::document();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                for status in ["401", "405"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} lacks {status}"
                    );
                }
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    if parameter["name"] == "limit" {
                        assert_eq!(parameter["schema"]["maximum"], 100, "{method} {path}");
                    }
                }
            }
        }
        let propagation = &doc["components"]["schemas"]["TicketPropagation"]["oneOf"][1];
        assert_eq!(
            propagation["properties"]["project"]["enum"],
            serde_json::json!(["incident", "sc_task"])
        );
    }

    #[test]
    fn a_known_path_with_another_method_lists_what_it_serves() {
        assert_eq!(allowed_methods(&["requests", "req_1", "approve"]), [Method::POST]);
        assert_eq!(allowed_methods(&["resources", "r"]), [Method::GET, Method::PATCH]);
        assert!(allowed_methods(&["nothing", "here"]).is_empty());
    }
}
