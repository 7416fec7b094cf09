//! The demo organisation `make dev` starts with: an admin, a reviewer, Josh the requester, an
//! admin group, the app "AWS" and its resource "My Role".

use grantdesk::domain::{
    self, App, AppId, DurationMinutes, Email, Group, GroupId, RequestConfig, Resource, ResourceId, User, UserId,
};
use grantdesk::store::Store;
use std::collections::BTreeSet;

/// The admin's e-mail; it is also in `GRANTDESK_BOOTSTRAP_ADMINS` in `make dev`.
pub const ADMIN_EMAIL: &str = "alice@example.com";
/// The reviewer's e-mail (a member of My Role's admin group).
pub const REVIEWER_EMAIL: &str = "riley@example.com";
/// The requester's e-mail.
pub const JOSH_EMAIL: &str = "josh@example.com";

/// What the seed created, for the walkthrough.
#[derive(Clone, Debug)]
pub struct Demo {
    /// The org admin.
    pub admin: User,
    /// A reviewer and resource admin.
    pub reviewer: User,
    /// The requester.
    pub josh: User,
    /// My Role's admin group.
    pub admins: GroupId,
    /// The app.
    pub app: AppId,
    /// "My Role".
    pub my_role: ResourceId,
}

fn user(email: &str, name: &str, is_admin: bool) -> Result<User, String> {
    Ok(User {
        id: UserId::generate(),
        email: Email::parse(email)?,
        name: name.into(),
        is_admin,
        created_at: domain::now(),
        identity: None,
    })
}

/// Loads the demo into an empty table.
pub async fn seed(store: &Store) -> Result<Demo, String> {
    let admin = user(ADMIN_EMAIL, "Alice Admin", true)?;
    let reviewer = user(REVIEWER_EMAIL, "Riley Reviewer", false)?;
    let josh = user(JOSH_EMAIL, "Josh", false)?;
    for u in [&admin, &reviewer, &josh] {
        store
            .create_user(u)
            .await
            .map_err(|e| format!("seeding user {}: {e}", u.email))?;
    }
    let group = Group {
        id: GroupId::generate(),
        name: "My Role admins".into(),
        created_at: domain::now(),
    };
    let members: BTreeSet<UserId> = [admin.id.clone(), reviewer.id.clone()].into_iter().collect();
    store
        .create_group(&group, &members)
        .await
        .map_err(|e| format!("seeding group: {e}"))?;
    let app = App {
        id: AppId::generate(),
        name: "AWS".into(),
        admin_group_id: Some(group.id.clone()),
        ticket_propagation: None,
        created_at: domain::now(),
    };
    store.create_app(&app).await.map_err(|e| format!("seeding app: {e}"))?;
    let my_role = Resource {
        id: ResourceId::generate(),
        app_id: app.id.clone(),
        name: "My Role".into(),
        admin_group_id: Some(group.id.clone()),
        request_config: RequestConfig {
            max_duration_minutes: Some(DurationMinutes::new(8 * 60)?),
            ..RequestConfig::default()
        },
        ticket_propagation: None,
        last_synced_at: None,
        created_at: domain::now(),
    };
    store
        .create_resource(&my_role)
        .await
        .map_err(|e| format!("seeding resource: {e}"))?;
    Ok(Demo {
        admin,
        reviewer,
        josh,
        admins: group.id,
        app: app.id,
        my_role: my_role.id,
    })
}

/// Gives the sandbox providers people and tickets to work with: Riley and Alice have accounts
/// everywhere; Jira has an open OPS-1 and a done OPS-2, Linear an open ENG-1, ServiceNow an
/// open incident.
pub async fn seed_sandboxes(sandboxes: &crate::sandbox::Sandboxes) {
    use grantdesk::domain::TicketState;
    sandboxes
        .jira
        .with(|jira, _| {
            jira.add_user(REVIEWER_EMAIL, "Riley Reviewer", false);
            jira.add_user(ADMIN_EMAIL, "Alice Admin", false);
            jira.add_issue("OPS", "Database access for Josh");
            let done = jira.add_issue("OPS", "Rotate staging credentials");
            jira.set_state(&done, TicketState::Done, None);
            ((), vec![])
        })
        .await;
    sandboxes
        .linear
        .with(|linear, _| {
            linear.add_user(REVIEWER_EMAIL, "Riley Reviewer");
            linear.add_issue("ENG", "Investigate login latency");
            ((), vec![])
        })
        .await;
    sandboxes
        .servicenow
        .with(|servicenow, _| {
            servicenow.add_user(REVIEWER_EMAIL, "Riley Reviewer");
            servicenow.add_ticket("incident", "Database is slow");
            ((), vec![])
        })
        .await;
}
