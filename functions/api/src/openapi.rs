//! `GET /openapi.json`: the contract, generated from the route annotations and types.

use crate::routes::{access, catalog, directory, integrations, requests, settings, tickets};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "grantdesk", description = "Time-bound access requests tied to Jira Cloud, Linear and ServiceNow tickets."),
    paths(
        directory::me, directory::create_user, directory::list_users, directory::clear_identity, directory::create_group, directory::list_groups,
        directory::get_group, directory::set_members,
        settings::get, settings::put,
        integrations::list, integrations::connect, integrations::disconnect, tickets::search,
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

/// The OpenAPI document for the whole HTTP API.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_routed_path() {
        let doc = serde_json::to_value(document()).unwrap();
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
