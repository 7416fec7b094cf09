//! The console's pages. maud checks them at compile time and escapes every value it inserts.

use crate::session::Session;
use crate::views::{IntegrationView, RequestView, ResourceUserView};
use chrono::{DateTime, Utc};
use grantdesk::domain::{
    App, AssigneePolicy, GrantSource, GroupId, PropagationStatus, RequestStatus, Resource, Settings, TicketPropagation,
};
use lambda_http::http::StatusCode;
use maud::{html, Markup, DOCTYPE};
use std::collections::HashMap;

/// The stylesheet.
pub const CSS: &str = include_str!("../static/console.css");
/// The one script: the ticket picker's search-as-you-type and the ticket dialogs.
pub const JS: &str = include_str!("../static/console.js");

/// Who is looking.
pub struct Ctx<'a> {
    /// The session.
    pub session: &'a Session,
    /// Whether to show the org admin's links.
    pub admin: bool,
}

/// A message above a page: something done, or the API's refusal.
pub enum Flash {
    /// It worked.
    Done(String),
    /// The API refused, with its message.
    Refused(String),
}

/// The API's refusals of a form, by field (`""` for the form as a whole).
pub type FieldErrors = HashMap<&'static str, String>;

fn layout(ctx: Option<&Ctx<'_>>, title: &str, flash: Option<&Flash>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · grantdesk" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/requests" { "grantdesk" }
                    @if let Some(ctx) = ctx {
                        nav aria-label="Main" {
                            a href="/console/requests" { "My requests" }
                            a href="/console/reviews" { "Reviews" }
                            @if ctx.admin {
                                a href="/console/inventory" { "Inventory" }
                                a href="/console/settings" { "Settings" }
                                a href="/console/integrations" { "Integrations" }
                            }
                        }
                        form.signout method="post" action="/console/auth/logout" {
                            (csrf(ctx))
                            span.who { (ctx.session.name.as_deref().unwrap_or(&ctx.session.email)) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    @match flash {
                        Some(Flash::Done(text)) => p.flash.done role="status" { (text) },
                        Some(Flash::Refused(text)) => p.flash.refused role="alert" { (text) },
                        None => {},
                    }
                    (content)
                }
            }
        }
    }
}

fn csrf(ctx: &Ctx<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.session.csrf); }
}

fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn duration(minutes: Option<u32>) -> String {
    match minutes {
        None => "indefinite".into(),
        Some(m) if m % 1440 == 0 => format!("{} d", m / 1440),
        Some(m) if m % 60 == 0 => format!("{} h", m / 60),
        Some(m) => format!("{m} min"),
    }
}

fn field_error(errors: &FieldErrors, field: &'static str) -> Markup {
    html! {
        @if let Some(message) = errors.get(field) {
            p.field-error id=(format!("{field}-error")) role="alert" { (message) }
        }
    }
}

fn described_by(errors: &FieldErrors, field: &'static str) -> Option<String> {
    errors.contains_key(field).then(|| format!("{field}-error"))
}

/// The signed-out page, with a message when a sign-in failed or ended.
pub fn signed_out(message: Option<&str>) -> Markup {
    layout(
        None,
        "Sign in",
        message.map(|m| Flash::Refused(m.to_owned())).as_ref(),
        html! {
            h1 { "Sign in to grantdesk" }
            p { "Request access, review requests and see who has access, with your company account." }
            p { a.button href="/console/auth/login" { "Sign in" } }
        },
    )
}

/// A page that says what went wrong.
pub fn problem(ctx: &Ctx<'_>, status: StatusCode, message: &str) -> Markup {
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::UNAUTHORIZED => "Not signed in",
        _ => "Something went wrong",
    };
    layout(
        Some(ctx),
        title,
        None,
        html! {
            h1 { (title) }
            p role="alert" { (message) }
            p { a href="/console/requests" { "Back to My requests" } }
        },
    )
}

/// A request status as a badge.
fn request_status(status: RequestStatus) -> Markup {
    html! { span class=(format!("badge {status}")) { (status) } }
}

/// The values the Request access form keeps after a refusal.
pub struct RequestForm<'a> {
    pub values: &'a HashMap<String, String>,
    pub errors: &'a FieldErrors,
}

/// My requests, with Request access.
pub fn my_requests(
    ctx: &Ctx<'_>,
    rows: &[(RequestView, String)],
    resources: &[(String, String)],
    form: &RequestForm<'_>,
    flash: Option<&Flash>,
) -> Markup {
    let value = |name: &str| form.values.get(name).map(String::as_str).unwrap_or("");
    let errors = form.errors;
    layout(
        Some(ctx),
        "My requests",
        flash,
        html! {
            h1 { "My requests" }
            @if rows.is_empty() {
                p { "You have made no requests yet." }
            } @else {
                table {
                    caption.visually-hidden { "Your access requests" }
                    thead { tr { th scope="col" { "Resource" } th scope="col" { "Status" } th scope="col" { "Duration" }
                        th scope="col" { "Linked ticket" } th scope="col" { "Requested" } } }
                    tbody {
                        @for (request, resource) in rows {
                            tr {
                                td { a href=(format!("/console/requests/{}", request.id)) { (resource) } }
                                td { (request_status(request.status)) }
                                td { (duration(request.duration_minutes)) }
                                td { @if let Some(t) = &request.linked_ticket { a href=(t.url) { (t.key) } } @else { "—" } }
                                td { (when(&request.created_at)) }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="request-access" {
                h2 #request-access { "Request access" }
                form.stack method="post" action="/console/requests" {
                    (csrf(ctx))
                    (field_error(errors, ""))
                    label for="resource_id" { "Resource" }
                    select #resource_id name="resource_id" required aria-describedby=[described_by(errors, "resource_id")] {
                        option value="" { "Choose a resource" }
                        @for (id, name) in resources {
                            option value=(id) selected[value("resource_id") == id] { (name) }
                        }
                    }
                    (field_error(errors, "resource_id"))
                    label for="reason" { "Reason" }
                    textarea #reason name="reason" rows="3" maxlength="4000" aria-describedby=[described_by(errors, "reason")] { (value("reason")) }
                    (field_error(errors, "reason"))
                    label for="duration_minutes" { "Duration (minutes)" }
                    input #duration_minutes type="number" name="duration_minutes" min="1" max="527040" value=(value("duration_minutes"))
                        aria-describedby=[described_by(errors, "duration_minutes")];
                    p.hint { "Leave empty for as long as the resource allows." }
                    (field_error(errors, "duration_minutes"))
                    fieldset {
                        legend { "Linked ticket" }
                        label for="ticket_provider" { "Ticket system" }
                        select #ticket_provider name="ticket_provider" {
                            option value="" { "None" }
                            @for p in ["jira", "linear", "servicenow"] {
                                option value=(p) selected[value("ticket_provider") == p] { (provider_name(p)) }
                            }
                        }
                        label for="ticket_key" { "Ticket" }
                        input #ticket_key name="ticket_key" autocomplete="off" list="ticket-options" value=(value("ticket_key"))
                            data-picker="ticket_provider" placeholder="Search by text or key"
                            aria-describedby=[described_by(errors, "linked_ticket")];
                        datalist #ticket-options {}
                        p.hint #ticket-picker-status aria-live="polite" {}
                        (field_error(errors, "linked_ticket"))
                    }
                    button type="submit" { "Request access" }
                }
            }
        },
    )
}

fn state_name(state: grantdesk::domain::TicketState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

fn provider_name(provider: &str) -> &'static str {
    match provider {
        "jira" => "Jira",
        "linear" => "Linear",
        "servicenow" => "ServiceNow",
        "slack" => "Slack",
        _ => "Other",
    }
}

/// What a request's page shows besides the request.
pub struct RequestPage<'a> {
    pub request: &'a RequestView,
    pub resource: &'a str,
    pub requester: &'a str,
    pub decided_by: Option<&'a str>,
    pub mine: bool,
}

/// One request: status, grant, linked and audit tickets.
pub fn request_page(ctx: &Ctx<'_>, page: &RequestPage<'_>, flash: Option<&Flash>) -> Markup {
    let r = page.request;
    layout(
        Some(ctx),
        "Request",
        flash,
        html! {
            h1 { "Request for " a href=(format!("/console/resources/{}", r.resource_id)) { (page.resource) } }
            dl.facts {
                dt { "Status" } dd { (request_status(r.status)) }
                dt { "Requester" } dd { (page.requester) }
                dt { "Reason" } dd { @if r.reason.is_empty() { "—" } @else { (r.reason) } }
                dt { "Duration" } dd { (duration(r.duration_minutes)) }
                dt { "Requested" } dd { (when(&r.created_at)) }
                @if let Some(d) = &r.decision {
                    dt { "Decided" } dd {
                        (when(&d.at)) " by " (page.decided_by.unwrap_or("auto-approval"))
                        @if let Some(c) = &d.comment { ": " q { (c) } }
                    }
                }
                dt { "Grant" } dd {
                    @match &r.grant {
                        Some(g) => {
                            span class=(format!("badge {}", g.status)) { (g.status) }
                            " since " (when(&g.granted_at))
                            @if let Some(end) = &g.ended_at { ", ended " (when(end)) }
                            @else if let Some(exp) = &g.expires_at { ", until " (when(exp)) }
                        },
                        None => "none",
                    }
                }
                dt { "Linked ticket" } dd {
                    @match &r.linked_ticket {
                        Some(t) => { a href=(t.url) { (t.key) } " (" (state_name(t.state)) ")" },
                        None => "none",
                    }
                }
                dt { "Audit ticket" } dd {
                    @match &r.audit_ticket {
                        Some(t) => { a href=(t.url) { (t.key) } @if t.closed { " (closed)" } },
                        None => "none",
                    }
                }
            }
            @if r.status == RequestStatus::Pending {
                @if page.mine {
                    form method="post" action=(format!("/console/requests/{}/cancel", r.id)) {
                        (csrf(ctx))
                        button type="submit" { "Cancel request" }
                    }
                } @else {
                    (decision_forms(ctx, &r.id))
                }
            }
        },
    )
}

fn decision_forms(ctx: &Ctx<'_>, id: &str) -> Markup {
    html! {
        div.decide {
            form method="post" action=(format!("/console/requests/{id}/approve")) {
                (csrf(ctx))
                button type="submit" { "Approve" }
            }
            form.deny method="post" action=(format!("/console/requests/{id}/deny")) {
                (csrf(ctx))
                label for=(format!("comment-{id}")) { "Comment" }
                input id=(format!("comment-{id}")) name="comment" required maxlength="2000";
                button type="submit" { "Deny" }
            }
        }
    }
}

/// One row of the review queue.
pub struct ReviewRow {
    pub request: RequestView,
    pub resource: String,
    pub requester: String,
}

/// Reviews: requests the person may decide.
pub fn reviews(ctx: &Ctx<'_>, rows: &[ReviewRow], flash: Option<&Flash>) -> Markup {
    layout(
        Some(ctx),
        "Reviews",
        flash,
        html! {
            h1 { "Reviews" }
            @if rows.is_empty() {
                p { "Nothing is waiting for your review." }
            } @else {
                table {
                    caption.visually-hidden { "Requests waiting for your review" }
                    thead { tr { th scope="col" { "Requester" } th scope="col" { "Resource" } th scope="col" { "Reason" }
                        th scope="col" { "Duration" } th scope="col" { "Linked ticket" } th scope="col" { "Decision" } } }
                    tbody {
                        @for row in rows {
                            tr {
                                td { (row.requester) }
                                td { a href=(format!("/console/requests/{}", row.request.id)) { (row.resource) } }
                                td { (row.request.reason) }
                                td { (duration(row.request.duration_minutes)) }
                                td { @if let Some(t) = &row.request.linked_ticket { a href=(t.url) { (t.key) } } @else { "—" } }
                                td { (decision_forms(ctx, &row.request.id)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The icon and accessible name of a propagation status.
fn propagation_icon(status: PropagationStatus) -> Markup {
    let (class, name, path) = match status {
        PropagationStatus::Completed => ("completed", "completed", "M4 10.5l4 4 8-9"),
        PropagationStatus::PendingTicketCreation | PropagationStatus::PendingManualPropagation => {
            ("pending", "pending", "M10 5v5l3 2")
        }
        PropagationStatus::TicketCanceled => ("canceled", "canceled", "M5 15L15 5"),
        PropagationStatus::TicketCreationFailed => ("failed", "failed", "M6 6l8 8M14 6l-8 8"),
        PropagationStatus::NotRequired => ("not-required", "not required", "M5 10h10"),
    };
    html! {
        span class=(format!("sync {class}")) role="img" aria-label=(name) title=(format!("{name} ({status})")) {
            svg viewBox="0 0 20 20" width="20" height="20" aria-hidden="true" focusable="false" {
                // Closed explicitly: in HTML, an unclosed SVG element takes what follows as its children.
                circle cx="10" cy="10" r="9" {}
                path d=(path) {}
            }
        }
    }
}

/// What a propagation status means, in words.
fn propagation_words(status: PropagationStatus) -> &'static str {
    match status {
        PropagationStatus::NotRequired => "No ticket is needed.",
        PropagationStatus::PendingTicketCreation => "The ticket is being filed.",
        PropagationStatus::PendingManualPropagation => "Waiting for someone to make the change and close the ticket.",
        PropagationStatus::Completed => "The change was made: the ticket is done.",
        PropagationStatus::TicketCanceled => "The ticket was canceled; the change was not made.",
        PropagationStatus::TicketCreationFailed => "Filing the ticket failed.",
    }
}

fn source_name(source: GrantSource) -> &'static str {
    match source {
        GrantSource::Request => "request",
        GrantSource::Manual => "manual",
    }
}

/// The resource page: the Users tab, Sync now, Add user, Remove and Retry.
pub fn resource_page(ctx: &Ctx<'_>, resource: &Resource, rows: &[ResourceUserView], flash: Option<&Flash>) -> Markup {
    let id = resource.id.to_string();
    layout(
        Some(ctx),
        &resource.name,
        flash,
        html! {
            div.titlebar {
                h1 { (resource.name) }
                form.sync method="post" action=(format!("/console/resources/{id}/sync")) {
                    (csrf(ctx))
                    button type="submit" { "Sync now" }
                }
            }
            p.meta {
                "Last synced: " @if let Some(at) = &resource.last_synced_at { (when(at)) } @else { "never" }
                @if ctx.admin { " · " a href=(format!("/console/resources/{id}/edit")) { "Edit resource" } }
            }
            nav.tabs aria-label="Resource" { a aria-current="page" href=(format!("/console/resources/{id}")) { "Users" } }
            table.users {
                caption.visually-hidden { "Users of " (resource.name) }
                thead { tr { th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Status" }
                    th scope="col" { "Expires" } th scope="col" { "Source" } th scope="col" { "Linked ticket" }
                    th scope="col" { "Propagation" } th scope="col" { "Actions" } } }
                tbody {
                    @if rows.is_empty() { tr { td colspan="8" { "Nobody has access yet." } } }
                    @for (n, row) in rows.iter().enumerate() {
                        @let who = row.name.clone().or(row.email.clone()).unwrap_or(row.user_id.clone());
                        tr {
                            td { (who) }
                            td { (row.email.as_deref().unwrap_or("—")) }
                            td { span class=(format!("badge {}", row.status)) { (row.status) } }
                            td { @if let Some(end) = &row.ended_at { "ended " (when(end)) }
                                 @else if let Some(exp) = &row.expires_at { (when(exp)) } @else { "never" } }
                            td { (source_name(row.source)) }
                            td { @if let Some(t) = &row.linked_ticket { a href=(t.url) { (t.key) } } @else { "—" } }
                            td.propagation {
                                @if let Some(p) = &row.propagation {
                                    (propagation_icon(p.status))
                                    @if let Some(ticket) = &p.ticket {
                                        @let dialog = format!("ticket-dialog-{n}");
                                        " "
                                        button.ticket type="button" data-dialog=(dialog) aria-haspopup="dialog" { (ticket.key) }
                                        dialog id=(dialog) aria-labelledby=(format!("{dialog}-title")) {
                                            h2 id=(format!("{dialog}-title")) { "Ticket " (ticket.key) }
                                            p { "The " (provider_name(&ticket.provider.to_string())) " ticket for this change. " (propagation_words(p.status)) }
                                            @if let Some(note) = &p.note { p { (note) } }
                                            p { a href=(ticket.url) target="_blank" rel="noopener" { "Open " (ticket.key) " in " (provider_name(&ticket.provider.to_string())) } }
                                            form method="dialog" { button type="submit" { "Close" } }
                                        }
                                    }
                                    @if let Some(reason) = &p.failure_reason { p.failure { (reason) } }
                                } @else { "—" }
                            }
                            td.actions {
                                @if row.status == grantdesk::domain::GrantStatus::Active {
                                    form method="post" action=(format!("/console/resources/{id}/users/{}/remove", row.user_id)) {
                                        (csrf(ctx))
                                        button type="submit" aria-label=(format!("Remove {who}")) { "Remove" }
                                    }
                                }
                                @if row.propagation.as_ref().is_some_and(|p| p.status == PropagationStatus::TicketCreationFailed) {
                                    form method="post" action=(format!("/console/resources/{id}/users/{}/retry", row.user_id)) {
                                        (csrf(ctx))
                                        button type="submit" aria-label=(format!("Retry filing for {who}")) { "Retry" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="add-user" {
                h2 #add-user { "Add user" }
                form.inline method="post" action=(format!("/console/resources/{id}/users")) {
                    (csrf(ctx))
                    label for="add-email" { "E-mail" }
                    input #add-email type="email" name="email" required;
                    label for="add-duration" { "Duration (minutes)" }
                    input #add-duration type="number" name="duration_minutes" min="1" max="527040";
                    button type="submit" { "Add user" }
                }
            }
        },
    )
}

/// Inventory: apps and resources.
pub fn inventory(ctx: &Ctx<'_>, apps: &[App], resources: &[Resource]) -> Markup {
    let app_name = |id: &grantdesk::domain::AppId| {
        apps.iter()
            .find(|a| &a.id == id)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    layout(
        Some(ctx),
        "Inventory",
        None,
        html! {
            h1 { "Inventory" }
            h2 { "Apps" }
            table {
                thead { tr { th scope="col" { "App" } th scope="col" { "Create ticket to propagate access" } th scope="col" { "" } } }
                tbody {
                    @for app in apps {
                        tr {
                            td { (app.name) }
                            td { (propagation_summary(app.ticket_propagation.as_ref())) }
                            td { a href=(format!("/console/apps/{}/edit", app.id)) aria-label=(format!("Edit {}", app.name)) { "Edit" } }
                        }
                    }
                }
            }
            h2 { "Resources" }
            table {
                thead { tr { th scope="col" { "Resource" } th scope="col" { "App" } th scope="col" { "Linked ticket" }
                    th scope="col" { "Maximum duration" } th scope="col" { "Ticket provider for access propagation" } th scope="col" { "" } } }
                tbody {
                    @for r in resources {
                        tr {
                            td { a href=(format!("/console/resources/{}", r.id)) { (r.name) } }
                            td { (app_name(&r.app_id)) }
                            td { @if r.request_config.require_ticket_link { "Required" } @else { "Optional" } }
                            td { (duration(r.request_config.max_duration_minutes.map(|d| d.minutes()))) }
                            td { @if r.ticket_propagation.is_some() { (propagation_summary(r.ticket_propagation.as_ref())) } @else { "as its app" } }
                            td { a href=(format!("/console/resources/{}/edit", r.id)) aria-label=(format!("Edit {}", r.name)) { "Edit" } }
                        }
                    }
                }
            }
        },
    )
}

fn propagation_summary(p: Option<&TicketPropagation>) -> String {
    match p {
        None => "off".into(),
        Some(p) => format!("{} {}", provider_name(&p.provider.to_string()), p.project),
    }
}

/// The fields of a ticket propagation, under a fieldset named `legend`.
fn propagation_fields(legend: &str, p: Option<&TicketPropagation>) -> Markup {
    let provider = p.map(|p| p.provider.to_string()).unwrap_or_default();
    html! {
        fieldset {
            legend { (legend) }
            label.check { input type="checkbox" name="propagation_enabled" value="on" checked[p.is_some()]; " File tickets" }
            label for="propagation_provider" { "Provider" }
            select #propagation_provider name="propagation_provider" {
                @for kind in ["jira", "linear", "servicenow"] {
                    option value=(kind) selected[provider == kind] { (provider_name(kind)) }
                }
            }
            label for="propagation_project" { "Project" }
            input #propagation_project name="propagation_project" value=(p.map(|p| p.project.as_str()).unwrap_or(""));
            p.hint { "Jira project key, Linear team key, or ServiceNow table (incident or sc_task)." }
            label for="propagation_issue_type" { "Jira issue type" }
            input #propagation_issue_type name="propagation_issue_type" value=(p.and_then(|p| p.issue_type.as_deref()).unwrap_or(""));
            label.check { input type="checkbox" name="on_grant" value="on" checked[p.is_none_or(|p| p.enabled_on_grant)]; " On grant" }
            label.check { input type="checkbox" name="on_revocation" value="on" checked[p.is_none_or(|p| p.enabled_on_revocation)]; " On revocation" }
            label for="assignee_policy" { "Assignee policy" }
            select #assignee_policy name="assignee_policy" {
                option value="admin_rules" selected[p.is_none_or(|p| p.assignee_policy == AssigneePolicy::AdminRules)] { "The admin who made the change, else a resource admin" }
                option value="unassigned" selected[p.is_some_and(|p| p.assignee_policy == AssigneePolicy::Unassigned)] { "Unassigned" }
            }
        }
    }
}

/// Editing a resource: Request configuration and Ticket provider for access propagation.
pub fn edit_resource(ctx: &Ctx<'_>, resource: &Resource, groups: &[(String, String)], flash: Option<&Flash>) -> Markup {
    let c = &resource.request_config;
    let reviewer = c.reviewer_group_id.as_ref().map(GroupId::to_string).unwrap_or_default();
    layout(
        Some(ctx),
        &format!("Edit {}", resource.name),
        flash,
        html! {
            h1 { "Edit " (resource.name) }
            form.stack method="post" action=(format!("/console/resources/{}/edit", resource.id)) {
                (csrf(ctx))
                fieldset {
                    legend { "Request configuration" }
                    fieldset.radios {
                        legend { "Must link ticket that auto-expires access" }
                        label.check { input type="radio" name="require_ticket_link" value="required" checked[c.require_ticket_link]; " Required" }
                        label.check { input type="radio" name="require_ticket_link" value="optional" checked[!c.require_ticket_link]; " Optional" }
                    }
                    label for="max_duration_minutes" { "Maximum duration (minutes)" }
                    input #max_duration_minutes type="number" name="max_duration_minutes" min="1" max="527040"
                        value=(c.max_duration_minutes.map(|d| d.minutes().to_string()).unwrap_or_default());
                    p.hint { "Empty: no maximum." }
                    label for="reviewer_group_id" { "Reviewers" }
                    select #reviewer_group_id name="reviewer_group_id" {
                        option value="" { "Org admins only" }
                        @for (gid, name) in groups { option value=(gid) selected[&reviewer == gid] { (name) } }
                    }
                    label.check { input type="checkbox" name="auto_approve" value="on" checked[c.auto_approve]; " Auto-approve for org admins" }
                }
                label.check { input type="checkbox" name="propagation_own" value="on" checked[resource.ticket_propagation.is_some()]; " Own ticket propagation (else the app's)" }
                (propagation_fields("Ticket provider for access propagation", resource.ticket_propagation.as_ref()))
                button type="submit" { "Save" }
            }
        },
    )
}

/// Editing an app: Create ticket to propagate access.
pub fn edit_app(ctx: &Ctx<'_>, app: &App, flash: Option<&Flash>) -> Markup {
    layout(
        Some(ctx),
        &format!("Edit {}", app.name),
        flash,
        html! {
            h1 { "Edit " (app.name) }
            form.stack method="post" action=(format!("/console/apps/{}/edit", app.id)) {
                (csrf(ctx))
                (propagation_fields("Create ticket to propagate access", app.ticket_propagation.as_ref()))
                p.hint { "The default for the app's resources; a resource may set its own." }
                button type="submit" { "Save" }
            }
        },
    )
}

/// Settings: org-wide rules.
pub fn settings(ctx: &Ctx<'_>, settings: &Settings, flash: Option<&Flash>) -> Markup {
    let audit = &settings.audit_tickets;
    let provider = audit.provider.map(|p| p.to_string()).unwrap_or_default();
    layout(
        Some(ctx),
        "Settings",
        flash,
        html! {
            h1 { "Settings" }
            form.stack method="post" action="/console/settings" {
                (csrf(ctx))
                label.check { input type="checkbox" name="require_ticket_link" value="on" checked[settings.require_ticket_link];
                    " Requests must link ticket that auto-expires access" }
                fieldset {
                    legend { "Audit tickets" }
                    label.check { input type="checkbox" name="audit_enabled" value="on" checked[audit.enabled]; " Create audit ticket for all access requests" }
                    label for="audit_provider" { "Provider" }
                    select #audit_provider name="audit_provider" {
                        @for kind in ["jira", "linear", "servicenow"] { option value=(kind) selected[provider == kind] { (provider_name(kind)) } }
                    }
                    label for="audit_project" { "Project" }
                    input #audit_project name="audit_project" value=(audit.project.as_deref().unwrap_or(""));
                    label for="audit_issue_type" { "Jira issue type" }
                    input #audit_issue_type name="audit_issue_type" value=(audit.issue_type.as_deref().unwrap_or(""));
                }
                button type="submit" { "Save settings" }
            }
        },
    )
}

/// Integrations: connect Jira, Linear, ServiceNow; health; secrets write-only.
pub fn integrations(ctx: &Ctx<'_>, connected: &[IntegrationView], flash: Option<&Flash>) -> Markup {
    let find = |p: &str| connected.iter().find(|i| i.provider == p);
    let secret_input = |provider: &str, name: &str, label: &str| {
        let id = format!("{provider}-{name}");
        html! {
            label for=(id) { (label) }
            input id=(id) name=(name) type="password" autocomplete="off" required;
        }
    };
    layout(
        Some(ctx),
        "Integrations",
        flash,
        html! {
            h1 { "Integrations" }
            p { "Secrets are write-only: they are checked with the provider, stored in AWS Secrets Manager and never shown again." }
            @for provider in ["jira", "linear", "servicenow", "slack"] {
                section.integration aria-labelledby=(format!("{provider}-title")) {
                    h2 id=(format!("{provider}-title")) { (provider_name(provider)) }
                    @match find(provider) {
                        Some(i) => {
                            p {
                                @if i.health["ok"].as_bool() == Some(true) { span.health.ok { "Healthy" } } @else { span.health.bad { "Failing" } }
                                " · " (i.base_url) " · connected " (when(&i.connected_at))
                            }
                            @if let Some(m) = i.health["message"].as_str() { p.hint { (m) } }
                            form method="post" action=(format!("/console/integrations/{provider}/disconnect")) {
                                (csrf(ctx))
                                button type="submit" { "Disconnect " (provider_name(provider)) }
                            }
                        },
                        None => p { "Not connected." },
                    }
                    details {
                        summary { @if find(provider).is_some() { "Reconnect" } @else { "Connect" } " " (provider_name(provider)) }
                        form.stack method="post" action=(format!("/console/integrations/{provider}")) {
                            (csrf(ctx))
                            label for=(format!("{provider}-base_url")) { "Base URL" }
                            input id=(format!("{provider}-base_url")) name="base_url" type="url" value=(find(provider).map(|i| i.base_url.as_str()).unwrap_or(""));
                            @match provider {
                                "jira" => {
                                    label for="jira-email" { "E-mail" }
                                    input #jira-email name="email" type="email" required;
                                    (secret_input(provider, "api_token", "API token"))
                                },
                                "linear" => { (secret_input(provider, "api_key", "API key")) },
                                "slack" => {
                                    (secret_input(provider, "bot_token", "Bot token"))
                                    (secret_input(provider, "signing_secret", "Signing secret"))
                                },
                                _ => {
                                    label for="servicenow-username" { "Username" }
                                    input #servicenow-username name="username" required;
                                    (secret_input(provider, "password", "Password"))
                                },
                            }
                            @if provider != "slack" {
                                (secret_input(provider, "webhook_secret", "Webhook secret"))
                                label for=(format!("{provider}-project")) { "Project to check" }
                                input id=(format!("{provider}-project")) name="project";
                            }
                            button type="submit" { "Connect " (provider_name(provider)) }
                        }
                    }
                }
            }
            p.hint { "Slack: reviewers get a direct message with Approve and Deny; set the Slack app's Interactivity Request URL to this deployment's /webhooks/slack." }
        },
    )
}
