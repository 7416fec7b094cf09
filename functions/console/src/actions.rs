//! What each page loads and each form does: a call to the JSON API as the signed-in person, and
//! for the pickers a read of names from the catalog and directory.

use crate::pages::{self, Ctx, FieldErrors, Flash, RequestForm, RequestPage, ReviewRow};
use crate::views::{GroupView, IntegrationView, List, RequestView, ResourceUserView};
use crate::{encode, Console, Outcome, Refused};
use grantdesk::domain::{App, Email, Resource, ResourceId, Settings, User, UserId};
use grantdesk::store::PageRequest;
use lambda_http::http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

type Form = HashMap<String, String>;

fn read<T: DeserializeOwned>(value: Value) -> Result<T, Refused> {
    serde_json::from_value(value).map_err(|err| Refused::unreadable(&err))
}

/// A form field, trimmed; `None` when empty.
fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// A number field as JSON: empty is `null`, a number is a number, anything else is sent as
/// typed so the API's own refusal explains it.
fn number(form: &Form, name: &str) -> Value {
    match field(form, name) {
        None => Value::Null,
        Some(text) => text
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(text)),
    }
}

fn checked(form: &Form, name: &str) -> bool {
    form.get(name).is_some_and(|v| v == "on")
}

/// Which field of Request access an API refusal is about.
fn request_field(refused: &Refused) -> &'static str {
    let message = refused.message.as_str();
    match refused.code.as_str() {
        "duration_exceeds_maximum" | "duration_required" => "duration_minutes",
        "ticket_link_required" | "linked_ticket_not_found" | "linked_ticket_closed" | "not_connected" => {
            "linked_ticket"
        }
        "access_already_active" | "not_found" => "resource_id",
        _ if message.starts_with("reason") => "reason",
        _ if message.starts_with("duration") => "duration_minutes",
        _ if message.starts_with("linked_ticket") => "linked_ticket",
        _ if message.starts_with("resource") => "resource_id",
        _ => "",
    }
}

/// `done=` codes after a redirect, as the message shown.
fn done_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "approve" => "Approved.",
        "deny" => "Denied.",
        "cancel" => "Canceled.",
        "created" => "Requested.",
        "sync" => "Sync requested: the Users tab shows what the ticket systems say.",
        "remove" => "Access removed.",
        "retry" => "Filing the ticket again.",
        "add" => "User added.",
        "saved" => "Saved.",
        _ => return None,
    })
}

fn display_name(user: &User) -> String {
    if user.name.trim().is_empty() {
        user.email.to_string()
    } else {
        user.name.clone()
    }
}

/// Where a form goes when the API took it.
enum Then {
    /// To another page (`303`).
    Redirect(String),
    /// The same page again, saying this.
    Show(String),
}

impl Console {
    /// What a form's call to the API ends in: `then` when it was taken; the form's page again
    /// with the API's refusal (and its status) for a refusal the person can act on; an error
    /// page otherwise (not found, or grantdesk failing).
    async fn settle<F, Fut>(&self, ctx: &Ctx<'_>, result: Result<Value, Refused>, then: Then, page: F) -> Outcome
    where
        F: FnOnce(Flash, StatusCode) -> Fut,
        Fut: std::future::Future<Output = Outcome>,
    {
        match (result, then) {
            (Ok(_), Then::Redirect(to)) => Outcome::Redirect(to),
            (Ok(_), Then::Show(text)) => page(Flash::Done(text), StatusCode::OK).await,
            (Err(refused), _) if refused.status.is_client_error() && refused.status != StatusCode::NOT_FOUND => {
                let status = refused.status;
                page(Flash::Refused(refused.message), status).await
            }
            (Err(refused), _) => self.refused_page(ctx, refused),
        }
    }

    /// Names of resources, for the request form and the lists (a catalog read: anyone may
    /// request any resource, so names are no secret from a signed-in person).
    async fn resource_names(&self) -> Result<Vec<(String, String)>, Refused> {
        let page = PageRequest {
            limit: Some(PageRequest::MAX_LIMIT),
            next_token: None,
        };
        let resources = self.store.list_resources(&page).await.map_err(Refused::store)?;
        let mut names: Vec<(String, String)> = resources
            .items
            .into_iter()
            .map(|r| (r.id.to_string(), r.name))
            .collect();
        names.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(names)
    }

    async fn users_by_id(&self, ids: &[&str]) -> Result<HashMap<String, User>, Refused> {
        let mut parsed: Vec<UserId> = ids.iter().filter_map(|id| UserId::parse(id)).collect();
        parsed.sort_by_key(|id| id.to_string());
        parsed.dedup();
        if parsed.is_empty() {
            return Ok(HashMap::new());
        }
        let users = self.store.users(&parsed).await.map_err(Refused::store)?;
        Ok(users.into_iter().map(|u| (u.id.to_string(), u)).collect())
    }

    pub(crate) async fn my_requests(&self, ctx: &Ctx<'_>, flash: Option<Flash>, values: &Form) -> Outcome {
        self.my_requests_with(ctx, flash, values, &FieldErrors::new(), StatusCode::OK)
            .await
    }

    async fn my_requests_with(
        &self,
        ctx: &Ctx<'_>,
        flash: Option<Flash>,
        values: &Form,
        errors: &FieldErrors,
        status: StatusCode,
    ) -> Outcome {
        let loaded = async {
            let list: List<RequestView> = read(self.call(ctx.session, Method::GET, "/requests", None).await?)?;
            Ok::<_, Refused>((list, self.resource_names().await?))
        };
        let (list, resources) = match loaded.await {
            Ok(loaded) => loaded,
            Err(refused) => return self.refused_page(ctx, refused),
        };
        let names: HashMap<&str, &str> = resources.iter().map(|(id, n)| (id.as_str(), n.as_str())).collect();
        let rows: Vec<(RequestView, String)> = list
            .items
            .into_iter()
            .map(|r| {
                let name = names.get(r.resource_id.as_str()).map(|n| n.to_string());
                let name = name.unwrap_or_else(|| r.resource_id.clone());
                (r, name)
            })
            .collect();
        let form = RequestForm { values, errors };
        Outcome::Page(
            status,
            pages::my_requests(ctx, &rows, &resources, &form, flash.as_ref()),
        )
    }

    pub(crate) async fn create_request(&self, ctx: &Ctx<'_>, form: &Form) -> Outcome {
        let mut body = Map::new();
        body.insert("resource_id".into(), json!(field(form, "resource_id").unwrap_or("")));
        body.insert(
            "reason".into(),
            json!(form.get("reason").map(String::as_str).unwrap_or("")),
        );
        body.insert("duration_minutes".into(), number(form, "duration_minutes"));
        match (field(form, "ticket_provider"), field(form, "ticket_key")) {
            (Some(provider), Some(key)) => {
                body.insert("linked_ticket".into(), json!({"provider": provider, "key": key}));
            }
            (None, Some(_)) => {
                let errors =
                    FieldErrors::from([("linked_ticket", "Choose the ticket system of the linked ticket.".into())]);
                return self
                    .my_requests_with(ctx, None, form, &errors, StatusCode::UNPROCESSABLE_ENTITY)
                    .await;
            }
            _ => {}
        }
        match self
            .call(ctx.session, Method::POST, "/requests", Some(Value::Object(body)))
            .await
        {
            Ok(created) => match created["id"].as_str() {
                Some(id) => Outcome::Redirect(format!("/console/requests/{}?done=created", encode(id))),
                None => Outcome::Redirect("/console/requests".into()),
            },
            Err(refused) if refused.status.is_client_error() => {
                let errors = FieldErrors::from([(request_field(&refused), refused.message.clone())]);
                self.my_requests_with(ctx, None, form, &errors, refused.status).await
            }
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn request_page(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        done: Option<&str>,
        flash: Option<Flash>,
        status: StatusCode,
    ) -> Outcome {
        let request: RequestView = match self
            .call(ctx.session, Method::GET, &format!("/requests/{}", encode(id)), None)
            .await
            .and_then(read)
        {
            Ok(request) => request,
            Err(refused) => return self.refused_page(ctx, refused),
        };
        let resource = match ResourceId::parse(&request.resource_id) {
            Some(rid) => self.store.resource(&rid).await.ok().flatten().map(|r| r.value.name),
            None => None,
        };
        let decider = request
            .decision
            .as_ref()
            .and_then(|d| d.by.as_ref())
            .map(ToString::to_string);
        let mut ids = vec![request.requester_id.as_str()];
        ids.extend(decider.as_deref());
        let users = match self.users_by_id(&ids).await {
            Ok(users) => users,
            Err(refused) => return self.refused_page(ctx, refused),
        };
        let names: HashMap<String, String> = users.iter().map(|(id, u)| (id.clone(), display_name(u))).collect();
        let mine = users
            .get(&request.requester_id)
            .is_some_and(|u| Email::parse(&ctx.session.email).is_ok_and(|e| e == u.email));
        let flash = flash.or_else(|| done.and_then(done_message).map(|m| Flash::Done(m.into())));
        let page = RequestPage {
            request: &request,
            resource: resource.as_deref().unwrap_or(&request.resource_id),
            requester: names
                .get(&request.requester_id)
                .map(String::as_str)
                .unwrap_or(&request.requester_id),
            decided_by: decider.as_ref().map(|d| names.get(d).map(String::as_str).unwrap_or(d)),
            mine,
        };
        Outcome::Page(status, pages::request_page(ctx, &page, flash.as_ref()))
    }

    pub(crate) async fn decide(&self, ctx: &Ctx<'_>, id: &str, action: &str, form: &Form) -> Outcome {
        let body = field(form, "comment").map(|c| json!({ "comment": c }));
        let path = format!("/requests/{}/{action}", encode(id));
        let result = self.call(ctx.session, Method::POST, &path, body).await;
        let then = Then::Redirect(format!("/console/requests/{}?done={action}", encode(id)));
        self.settle(ctx, result, then, |flash, status| {
            self.request_page(ctx, id, None, Some(flash), status)
        })
        .await
    }

    pub(crate) async fn reviews(&self, ctx: &Ctx<'_>, flash: Option<Flash>) -> Outcome {
        let loaded = async {
            let list: List<RequestView> = read(
                self.call(ctx.session, Method::GET, "/requests?review=pending", None)
                    .await?,
            )?;
            let ids: Vec<&str> = list.items.iter().map(|r| r.requester_id.as_str()).collect();
            let users: HashMap<String, String> = self
                .users_by_id(&ids)
                .await?
                .iter()
                .map(|(id, u)| (id.clone(), display_name(u)))
                .collect();
            Ok::<_, Refused>((list, users, self.resource_names().await?))
        };
        let (list, users, resources) = match loaded.await {
            Ok(loaded) => loaded,
            Err(refused) => return self.refused_page(ctx, refused),
        };
        let resources: HashMap<String, String> = resources.into_iter().collect();
        let rows: Vec<ReviewRow> = list
            .items
            .into_iter()
            .map(|request| ReviewRow {
                resource: resources
                    .get(&request.resource_id)
                    .cloned()
                    .unwrap_or_else(|| request.resource_id.clone()),
                requester: users
                    .get(&request.requester_id)
                    .cloned()
                    .unwrap_or_else(|| request.requester_id.clone()),
                request,
            })
            .collect();
        Outcome::Page(StatusCode::OK, pages::reviews(ctx, &rows, flash.as_ref()))
    }

    pub(crate) async fn resource_page(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        done: Option<&str>,
        flash: Option<Flash>,
        status: StatusCode,
    ) -> Outcome {
        let loaded = async {
            let path = format!("/resources/{}/users?limit=100", encode(id));
            let users: List<ResourceUserView> = read(self.call(ctx.session, Method::GET, &path, None).await?)?;
            // The API let this person see the Users tab, so they administer the resource: its
            // name and last sync are read directly rather than through a second API call.
            let not_found = || Refused::not_found(format!("resource {id} not found"));
            let rid = ResourceId::parse(id).ok_or_else(not_found)?;
            let resource = self
                .store
                .resource(&rid)
                .await
                .map_err(Refused::store)?
                .ok_or_else(not_found)?;
            Ok::<_, Refused>((resource.value, users))
        };
        match loaded.await {
            Ok((resource, users)) => {
                let flash = flash.or_else(|| done.and_then(done_message).map(|m| Flash::Done(m.into())));
                Outcome::Page(
                    status,
                    pages::resource_page(ctx, &resource, &users.items, flash.as_ref()),
                )
            }
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn after_resource_action(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        result: Result<Value, Refused>,
        done: &str,
    ) -> Outcome {
        let then = Then::Redirect(format!("/console/resources/{}?done={done}", encode(id)));
        self.settle(ctx, result, then, |flash, status| {
            self.resource_page(ctx, id, None, Some(flash), status)
        })
        .await
    }

    pub(crate) async fn add_user(&self, ctx: &Ctx<'_>, id: &str, form: &Form) -> Outcome {
        let email = field(form, "email").unwrap_or("");
        let user = match Email::parse(email) {
            Ok(email) => self.store.user_record_by_email(&email).await.map_err(Refused::store),
            Err(_) => Ok(None),
        };
        let user = match user {
            Ok(Some(user)) => user.value,
            Ok(None) => {
                let message = format!("Nobody in the directory has the e-mail address {email:?}.");
                return self
                    .resource_page(
                        ctx,
                        id,
                        None,
                        Some(Flash::Refused(message)),
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
            }
            Err(refused) => return self.refused_page(ctx, refused),
        };
        let body = json!({"user_id": user.id.to_string(), "duration_minutes": number(form, "duration_minutes")});
        let path = format!("/resources/{}/users", encode(id));
        let result = self.call(ctx.session, Method::POST, &path, Some(body)).await;
        self.after_resource_action(ctx, id, result, "add").await
    }

    pub(crate) async fn inventory(&self, ctx: &Ctx<'_>) -> Outcome {
        let loaded = async {
            let apps: List<App> = read(self.call(ctx.session, Method::GET, "/apps?limit=100", None).await?)?;
            let resources: List<Resource> = read(
                self.call(ctx.session, Method::GET, "/resources?limit=100", None)
                    .await?,
            )?;
            Ok::<_, Refused>((apps, resources))
        };
        match loaded.await {
            Ok((apps, resources)) => {
                Outcome::Page(StatusCode::OK, pages::inventory(ctx, &apps.items, &resources.items))
            }
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn edit_resource(
        &self,
        ctx: &Ctx<'_>,
        id: &str,
        flash: Option<Flash>,
        status: StatusCode,
    ) -> Outcome {
        let loaded = async {
            let resource: Resource = read(
                self.call(ctx.session, Method::GET, &format!("/resources/{}", encode(id)), None)
                    .await?,
            )?;
            let groups: List<GroupView> = read(self.call(ctx.session, Method::GET, "/groups?limit=100", None).await?)?;
            Ok::<_, Refused>((resource, groups))
        };
        match loaded.await {
            Ok((resource, groups)) => {
                let groups: Vec<(String, String)> = groups.items.into_iter().map(|g| (g.id, g.name)).collect();
                Outcome::Page(status, pages::edit_resource(ctx, &resource, &groups, flash.as_ref()))
            }
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn save_resource(&self, ctx: &Ctx<'_>, id: &str, form: &Form) -> Outcome {
        let propagation = if checked(form, "propagation_own") && checked(form, "propagation_enabled") {
            propagation_body(form)
        } else {
            Value::Null
        };
        let body = json!({
            "request_config": {
                "require_ticket_link": form.get("require_ticket_link").map(String::as_str) == Some("required"),
                "max_duration_minutes": number(form, "max_duration_minutes"),
                "reviewer_group_id": field(form, "reviewer_group_id"),
                "auto_approve": checked(form, "auto_approve"),
            },
            "ticket_propagation": propagation,
        });
        let path = format!("/resources/{}", encode(id));
        let result = self.call(ctx.session, Method::PATCH, &path, Some(body)).await;
        let then = Then::Show("Saved.".into());
        self.settle(ctx, result, then, |flash, status| {
            self.edit_resource(ctx, id, Some(flash), status)
        })
        .await
    }

    pub(crate) async fn edit_app(&self, ctx: &Ctx<'_>, id: &str, flash: Option<Flash>, status: StatusCode) -> Outcome {
        match self
            .call(ctx.session, Method::GET, &format!("/apps/{}", encode(id)), None)
            .await
            .and_then(read::<App>)
        {
            Ok(app) => Outcome::Page(status, pages::edit_app(ctx, &app, flash.as_ref())),
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn save_app(&self, ctx: &Ctx<'_>, id: &str, form: &Form) -> Outcome {
        let propagation = if checked(form, "propagation_enabled") {
            propagation_body(form)
        } else {
            Value::Null
        };
        let path = format!("/apps/{}", encode(id));
        let body = json!({ "ticket_propagation": propagation });
        let result = self.call(ctx.session, Method::PATCH, &path, Some(body)).await;
        let then = Then::Show("Saved.".into());
        self.settle(ctx, result, then, |flash, status| {
            self.edit_app(ctx, id, Some(flash), status)
        })
        .await
    }

    pub(crate) async fn settings(&self, ctx: &Ctx<'_>, flash: Option<Flash>, status: StatusCode) -> Outcome {
        match self
            .call(ctx.session, Method::GET, "/settings", None)
            .await
            .and_then(read::<Settings>)
        {
            Ok(settings) => Outcome::Page(status, pages::settings(ctx, &settings, flash.as_ref())),
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn save_settings(&self, ctx: &Ctx<'_>, form: &Form) -> Outcome {
        let enabled = checked(form, "audit_enabled");
        let body = json!({
            "require_ticket_link": checked(form, "require_ticket_link"),
            "audit_tickets": {
                "enabled": enabled,
                "provider": if enabled { field(form, "audit_provider") } else { None },
                "project": if enabled { field(form, "audit_project") } else { None },
                "issue_type": if enabled { field(form, "audit_issue_type") } else { None },
            },
        });
        let result = self.call(ctx.session, Method::PUT, "/settings", Some(body)).await;
        let then = Then::Show("Settings saved.".into());
        self.settle(ctx, result, then, |flash, status| {
            self.settings(ctx, Some(flash), status)
        })
        .await
    }

    pub(crate) async fn integrations(&self, ctx: &Ctx<'_>, flash: Option<Flash>, status: StatusCode) -> Outcome {
        match self
            .call(ctx.session, Method::GET, "/integrations", None)
            .await
            .and_then(read::<List<IntegrationView>>)
        {
            Ok(list) => Outcome::Page(status, pages::integrations(ctx, &list.items, flash.as_ref())),
            Err(refused) => self.refused_page(ctx, refused),
        }
    }

    pub(crate) async fn connect(&self, ctx: &Ctx<'_>, provider: &str, form: &Form) -> Outcome {
        let mut body = Map::new();
        let names: &[&str] = if provider == "slack" {
            &["base_url", "bot_token", "signing_secret"]
        } else {
            &[
                "base_url",
                "email",
                "api_token",
                "api_key",
                "username",
                "password",
                "webhook_secret",
                "project",
            ]
        };
        for name in names.iter().copied() {
            if let Some(value) = field(form, name) {
                body.insert(name.into(), json!(value));
            }
        }
        if provider != "slack" && !body.contains_key("webhook_secret") {
            body.insert("webhook_secret".into(), json!(""));
        }
        if provider == "slack" {
            for name in ["bot_token", "signing_secret"] {
                body.entry(name).or_insert_with(|| json!(""));
            }
        }
        let path = format!("/integrations/{}", encode(provider));
        let result = self
            .call(ctx.session, Method::PUT, &path, Some(Value::Object(body)))
            .await;
        let then = Then::Show(format!("Connected {provider}."));
        self.settle(ctx, result, then, |flash, status| {
            self.integrations(ctx, Some(flash), status)
        })
        .await
    }
}

/// The propagation fieldset as the API's `TicketPropagation`.
fn propagation_body(form: &Form) -> Value {
    json!({
        "provider": field(form, "propagation_provider").unwrap_or("jira"),
        "project": field(form, "propagation_project").unwrap_or(""),
        "issue_type": field(form, "propagation_issue_type"),
        "enabled_on_grant": checked(form, "on_grant"),
        "enabled_on_revocation": checked(form, "on_revocation"),
        "assignee_policy": field(form, "assignee_policy").unwrap_or("admin_rules"),
    })
}
