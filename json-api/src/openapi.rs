//! `GET /openapi.json`: the contract, generated from the route annotations and types.

use crate::routes::{access, catalog, directory, integrations, requests, settings, tickets};
use grantdesk::domain::directory::MAX_NAME_CHARS;
use grantdesk::domain::DurationMinutes;
use grantdesk::store::PageRequest;
use serde_json::{json, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "grantdesk", description = "Time-bound access requests tied to Jira Cloud, Linear and ServiceNow tickets."),
    paths(
        directory::me, directory::create_user, directory::list_users, directory::clear_identity, directory::create_group, directory::list_groups,
        directory::get_group, directory::set_members,
        settings::get, settings::put,
        integrations::list, integrations::connect, integrations::connect_slack, integrations::disconnect, tickets::search,
        catalog::create_app, catalog::list_apps, catalog::get_app, catalog::patch_app,
        catalog::create_resource, catalog::list_resources, catalog::get_resource, catalog::patch_resource, catalog::sync_now,
        access::users_tab, access::add_user, access::remove_user, access::retry_propagation,
        requests::create, requests::list, requests::get, requests::approve, requests::deny, requests::cancel,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document the API serves at `/openapi.json`: [`generate`]'s output, committed as
/// `json-api/openapi.json` and embedded, so the function carries the text rather than the
/// code that builds it (a test checks the two agree; `GRANTDESK_WRITE_OPENAPI=1 cargo test -p
/// grantdesk-json-api openapi` rewrites the file).
pub const DOCUMENT: &str = include_str!("../openapi.json");

/// [`DOCUMENT`], parsed.
pub fn document() -> Value {
    serde_json::from_str(DOCUMENT).unwrap_or(Value::Null)
}

/// The OpenAPI document for the whole HTTP API: what the route annotations and types say,
/// completed with what every route shares (the error statuses it can answer) and the
/// constraints the handlers enforce, so that the document allows exactly what the API takes.
pub fn generate() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    complete_responses(&mut doc);
    constrain_parameters(&mut doc);
    constrain_bodies(&mut doc);
    doc
}

/// Routes anyone signed in may call: no 403.
const ANYONE: &[(&str, &str)] = &[
    ("get", "/me"),
    ("post", "/requests"),
    ("get", "/requests"),
    ("get", "/tickets/search"),
];

/// Routes that call a ticket provider while the caller waits: 502 when it fails.
const CALLS_A_PROVIDER: &[(&str, &str)] = &[
    ("put", "/integrations/{provider}"),
    ("put", "/integrations/slack"),
    ("get", "/tickets/search"),
    ("post", "/requests"),
];

fn complete_responses(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, operations) in paths.iter_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            let has_body = operation.get("requestBody").is_some();
            let has_query = operation
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let route = (method.as_str(), path.as_str());
            let mut add = |status: &str, description: &str| {
                let responses = &mut operation["responses"];
                if responses.get(status).is_none() {
                    responses[status] = json!({
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    });
                }
            };
            add(
                "401",
                "no valid bearer token, or its identity is refused (`email_not_verified`, `identity_mismatch`)",
            );
            add(
                "405",
                "the path does not serve this method; `Allow` lists the ones it does",
            );
            if has_body || has_query {
                add(
                    "400",
                    "malformed input: a body that is not a JSON object of the schema, or a bad parameter",
                );
            }
            if has_body {
                add("413", "the body is larger than 256 KiB");
            }
            if !ANYONE.contains(&route) {
                add("403", "the caller may not do this");
            }
            if path.contains('{') || has_body {
                add("404", "a record named in the path or the body does not exist");
            }
            if method != "get" {
                add("409", "the record changed or is in a state that does not allow this");
            }
            if (has_body && method != "get") || route == ("get", "/tickets/search") {
                add(
                    "422",
                    "well-formed, but not allowed (a rule of the resource, the org or the provider)",
                );
            }
            if CALLS_A_PROVIDER.contains(&route) {
                add("502", "the ticket provider failed");
            }
        }
    }
}

fn constrain_parameters(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for operations in paths.values_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for parameter in parameters.iter_mut().filter(|p| p["in"] == "query") {
                let schema = match parameter["name"].as_str() {
                    Some("limit") => json!({"type": "integer", "minimum": 1, "maximum": PageRequest::MAX_LIMIT}),
                    Some("next_token") => {
                        json!({"type": "string", "description": "opaque and signed: only a `next_token` this list returned"})
                    }
                    Some("q") => {
                        parameter["required"] = json!(true);
                        json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"})
                    }
                    Some("provider") => json!({"type": "string", "enum": ["jira", "linear", "servicenow"]}),
                    Some("review") => json!({"type": "string", "enum": ["pending"]}),
                    _ => continue,
                };
                parameter["schema"] = schema;
            }
        }
    }
}

/// A display name: 1 to 200 characters, not only white space.
fn name_schema(nullable: bool) -> Value {
    let kind = if nullable {
        json!(["string", "null"])
    } else {
        json!("string")
    };
    json!({"type": kind, "minLength": 1, "maxLength": MAX_NAME_CHARS, "pattern": "\\S", "description": "Display name."})
}

/// A ticket target: where tickets go, per provider (ServiceNow's projects are its tables).
fn target_schema(fields: Value, required: &[&str]) -> Value {
    let provider_project = |providers: Value, project: Value| {
        let mut properties = fields.clone();
        properties["provider"] = json!({"type": "string", "enum": providers});
        properties["project"] = project;
        json!({"type": "object", "required": required, "properties": properties})
    };
    json!({"oneOf": [
        provider_project(
            json!(["jira", "linear"]),
            json!({"type": "string", "minLength": 1, "maxLength": 100, "pattern": "\\S", "description": "Jira project key or Linear team key."}),
        ),
        provider_project(
            json!(["servicenow"]),
            json!({"type": "string", "enum": ["incident", "sc_task"], "description": "ServiceNow table."}),
        ),
    ]})
}

fn constrain_bodies(doc: &mut Value) {
    // Denying takes a comment; approving and canceling may.
    doc["paths"]["/requests/{id}/deny"]["post"]["requestBody"] = json!({
        "required": true,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["comment"],
            "properties": {"comment": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "\\S",
                "description": "Why the request is denied."}},
        }}},
    });
    let schemas = &mut doc["components"]["schemas"];
    for (schema, nullable) in [
        ("CreateApp", false),
        ("CreateGroup", false),
        ("CreateResource", false),
        ("CreateUser", false),
        ("PatchApp", true),
        ("PatchResource", true),
    ] {
        if schemas[schema]["properties"].get("name").is_some() {
            schemas[schema]["properties"]["name"] = name_schema(nullable);
        }
    }
    schemas["CreateUser"]["properties"]["email"] = json!({"type": "string", "format": "email", "maxLength": 254, "description": "E-mail address; unique in the directory."});
    let minutes = json!({"type": ["integer", "null"], "minimum": 1, "maximum": DurationMinutes::MAX,
        "description": "For how long, in whole minutes; `null` or absent means indefinite."});
    for schema in ["AddUser", "CreateRequest"] {
        schemas[schema]["properties"]["duration_minutes"] = minutes.clone();
    }
    let patch_minutes = json!({"type": ["integer", "null"], "minimum": 1, "maximum": DurationMinutes::MAX,
        "description": "The longest access one request may ask for; `null` for no cap."});
    for schema in ["RequestConfig", "PatchRequestConfig"] {
        if schemas[schema]["properties"].get("max_duration_minutes").is_some() {
            schemas[schema]["properties"]["max_duration_minutes"] = patch_minutes.clone();
        }
    }
    schemas["LinkedTicketInput"]["properties"]["key"] = json!({"type": "string", "pattern": "^[!-~]{1,64}$",
        "description": "Its key (`OPS-12`, `ENG-7`, `INC0010001`): 1 to 64 printable ASCII characters, no spaces."});
    schemas["CreateRequest"]["properties"]["reason"] =
        json!({"type": "string", "maxLength": 4000, "description": "Why."});
    let propagation = schemas["TicketPropagation"]["properties"].clone();
    let required: Vec<String> = schemas["TicketPropagation"]["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let required: Vec<&str> = required.iter().map(String::as_str).collect();
    schemas["TicketPropagation"] = target_schema(propagation, &required);
    // Audit tickets: off (provider and project optional), or on with a complete target.
    let audit = schemas["AuditTicketSettings"]["properties"].clone();
    let mut off = json!({"type": "object", "properties": audit.clone()});
    off["properties"]["enabled"] = json!({"type": "boolean", "enum": [false]});
    let mut on = target_schema(audit, &["enabled", "provider", "project"]);
    if let Some(variants) = on["oneOf"].as_array_mut() {
        for variant in variants {
            variant["properties"]["enabled"] = json!({"type": "boolean", "enum": [true]});
        }
    }
    let mut variants = vec![off];
    variants.extend(on["oneOf"].as_array().cloned().unwrap_or_default());
    schemas["AuditTicketSettings"] = json!({"oneOf": variants});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = generate();
        if std::env::var_os("GRANTDESK_WRITE_OPENAPI").is_some() {
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"), text).unwrap();
            return;
        }
        assert!(
            document() == generated,
            "json-api/openapi.json is not what the code says; rewrite it with GRANTDESK_WRITE_OPENAPI=1 cargo test -p grantdesk-json-api openapi"
        );
    }

    #[test]
    fn the_document_lists_every_routed_path() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/me",
            "/settings",
            "/users",
            "/groups",
            "/groups/{id}",
            "/groups/{id}/members",
            "/apps",
            "/apps/{id}",
            "/resources",
            "/resources/{id}",
            "/resources/{id}/users",
            "/resources/{id}/users/{user_id}",
            "/requests",
            "/requests/{id}",
            "/requests/{id}/approve",
            "/requests/{id}/deny",
            "/requests/{id}/cancel",
        ] {
            assert!(paths.contains_key(path), "missing {path}");
        }
        assert!(doc["components"]["schemas"]["RequestView"].is_object());
        assert_eq!(
            doc["paths"]["/requests"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/RequestView"
        );
    }
}
