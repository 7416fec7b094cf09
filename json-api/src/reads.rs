//! What each route reads, named before it runs so that the caller's user and the route's
//! records come in one `BatchGetItem` ([`grantdesk::store::Store::prefetch`]). A key named
//! here and not needed costs nothing more; a record a route needs and this leaves out is
//! read when the route asks for it, so this decides only how many round trips a call takes,
//! never what it does.

use grantdesk::domain::{AppId, RequestId, ResourceId, TicketProviderKind, UserId};
use grantdesk::store::keys::{self, Keys};
use grantdesk::store::read_set::Facts;
use lambda_http::http::Method;
use lambda_http::{Body, Request};
use serde_json::Value;

/// The records the route of `method` and `segments` will read, for `caller`.
pub(crate) fn of_route(facts: &Facts, method: &Method, segments: &[&str], req: &Request, caller: &UserId) -> Vec<Keys> {
    let resource_with_app = |id: &ResourceId| {
        let mut keys = vec![keys::resource(id)];
        keys.extend(facts.app_of(id).map(|app| keys::app(&app)));
        keys
    };
    match (method, segments) {
        (&Method::GET | &Method::PUT, ["settings"]) => vec![keys::settings()],
        (&Method::GET, ["integrations"]) | (_, ["integrations", "slack"]) => vec![keys::slack_connection()],
        (_, ["users", id, ..]) => UserId::parse(id).map(|u| keys::user_key(&u)).into_iter().collect(),
        (&Method::POST, ["groups"]) => member_keys(req),
        (_, ["groups", id, rest @ ..]) => {
            let mut keys: Vec<Keys> = grantdesk::domain::GroupId::parse(id)
                .map(|g| keys::group(&g))
                .into_iter()
                .collect();
            if rest == ["members"] {
                keys.extend(member_keys(req));
            }
            keys
        }
        (_, ["integrations", provider]) => TicketProviderKind::parse(provider)
            .map(keys::integration)
            .into_iter()
            .collect(),
        (&Method::GET, ["tickets", "search"]) => query_value(req, "provider")
            .and_then(|p| TicketProviderKind::parse(&p))
            .map(keys::integration)
            .into_iter()
            .collect(),
        (_, ["apps", id]) => AppId::parse(id).map(|a| keys::app(&a)).into_iter().collect(),
        (&Method::POST, ["resources"]) => body_id(req, "app_id", AppId::parse)
            .map(|a| keys::app(&a))
            .into_iter()
            .collect(),
        (_, ["resources", id, rest @ ..]) => {
            let Some(resource) = ResourceId::parse(id) else {
                return Vec::new();
            };
            let mut keys = resource_with_app(&resource);
            let user = match (method, rest) {
                (&Method::POST, ["users"]) => body_id(req, "user_id", UserId::parse),
                (_, ["users", user, ..]) => UserId::parse(user),
                _ => None,
            };
            if let Some(user) = user {
                keys.push(keys::user_key(&user));
                keys.push(keys::resource_user(&resource, &user));
            }
            keys
        }
        (&Method::POST, ["requests"]) => {
            let body = body_json(req);
            let Some(resource) = body
                .as_ref()
                .and_then(|b| b.get("resource_id"))
                .and_then(Value::as_str)
                .and_then(ResourceId::parse)
            else {
                return Vec::new();
            };
            let mut keys = resource_with_app(&resource);
            keys.push(keys::settings());
            keys.push(keys::resource_user(&resource, caller));
            let provider = body
                .as_ref()
                .and_then(|b| b.pointer("/linked_ticket/provider"))
                .and_then(Value::as_str)
                .and_then(TicketProviderKind::parse);
            keys.extend(provider.map(keys::integration));
            keys
        }
        (_, ["requests", id, ..]) => {
            let Some(request) = RequestId::parse(id) else {
                return Vec::new();
            };
            let mut keys = vec![keys::request_key(&request), keys::audit_ticket(&request)];
            if let Some(resource) = facts.resource_of(&request) {
                keys.extend(resource_with_app(&resource));
            }
            keys
        }
        _ => Vec::new(),
    }
}

fn body_json(req: &Request) -> Option<Value> {
    match req.body() {
        Body::Text(text) => serde_json::from_str(text).ok(),
        Body::Binary(bytes) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
}

/// The users a group body names (`member_ids`), at most a transaction's worth.
fn member_keys(req: &Request) -> Vec<Keys> {
    let Some(body) = body_json(req) else {
        return Vec::new();
    };
    body.get("member_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .filter_map(UserId::parse)
                .take(grantdesk::store::MAX_MEMBER_CHANGES)
                .map(|u| keys::user_key(&u))
                .collect()
        })
        .unwrap_or_default()
}

fn body_id<T>(req: &Request, field: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    body_json(req)?.get(field)?.as_str().and_then(parse)
}

fn query_value(req: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt;
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}
