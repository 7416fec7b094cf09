//! Apps and resources, and the per-resource configuration that decides how access works.

use super::duration::DurationMinutes;
use super::error::DomainError;
use super::ids::{AppId, GroupId, ResourceId};
use super::ticket::TicketProviderKind;
use serde::{Deserialize, Serialize};

/// Who gets a propagation ticket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssigneePolicy {
    /// The admin who changed access by hand; for request- or expiry-driven changes, a random
    /// member of the resource's admin group with an account on the provider; else unassigned.
    #[default]
    AdminRules,
    /// Never assigned.
    Unassigned,
}

/// Filing tickets that ask a person to make an access change on the end system.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketPropagation {
    /// File a ticket when a user is added.
    pub enabled_on_grant: bool,
    /// File a ticket when a user is removed.
    pub enabled_on_revocation: bool,
    /// Where tickets are filed.
    pub provider: TicketProviderKind,
    /// Jira project key, Linear team key, or ServiceNow table (`incident` or `sc_task`).
    pub project: String,
    /// Who the ticket is assigned to.
    #[serde(default)]
    pub assignee_policy: AssigneePolicy,
    /// The Jira issue type tickets are filed as (Jira only; `Task` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 60)]
    pub issue_type: Option<String>,
}

impl TicketPropagation {
    /// Checks the project names something the provider can hold tickets in.
    pub fn validate(&self) -> Result<(), String> {
        validate_project(Some(self.provider), &self.project)
    }

    /// Checks that an issue type is named only for Jira, and trims it.
    pub fn check_issue_type(&mut self) -> Result<(), String> {
        self.issue_type = validate_issue_type(Some(self.provider), self.issue_type.take())?;
        Ok(())
    }
}

/// The issue type Jira tickets are filed as when the target names none.
pub const DEFAULT_JIRA_ISSUE_TYPE: &str = "Task";

/// Checks an issue type: Jira only, 1 to 60 characters; returns it trimmed.
pub fn validate_issue_type(
    provider: Option<TicketProviderKind>,
    issue_type: Option<String>,
) -> Result<Option<String>, String> {
    let Some(issue_type) = issue_type else {
        return Ok(None);
    };
    if provider != Some(TicketProviderKind::Jira) {
        return Err("issue_type applies to Jira only".into());
    }
    let trimmed = super::trim_text(&issue_type);
    if trimmed.is_empty() || issue_type.chars().count() > 60 {
        return Err("issue_type must be 1 to 60 characters".into());
    }
    Ok(Some(trimmed.to_owned()))
}

/// Checks a project for a provider: a non-blank key for Jira and Linear, `incident` or
/// `sc_task` for ServiceNow.
pub fn validate_project(provider: Option<TicketProviderKind>, project: &str) -> Result<(), String> {
    // Limits apply to what was sent, as the OpenAPI document states them.
    if super::trim_text(project).is_empty() || project.chars().count() > 100 {
        return Err("project must be 1 to 100 characters".into());
    }
    if provider == Some(TicketProviderKind::Servicenow) && !matches!(project, "incident" | "sc_task") {
        return Err(format!(
            "ServiceNow project must be the table 'incident' or 'sc_task', not '{project}'"
        ));
    }
    Ok(())
}

/// How requests for a resource are handled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RequestConfig {
    /// Every request must link an open ticket.
    pub require_ticket_link: bool,
    /// The longest access a request or hand add may give; `null` means no cap.
    pub max_duration_minutes: Option<DurationMinutes>,
    /// Who reviews requests; `null` means the resource's admins.
    pub reviewer_group_id: Option<GroupId>,
    /// Approve requests as soon as they are made.
    pub auto_approve: bool,
}

impl RequestConfig {
    /// Checks a requested duration against the resource's maximum (`None` = indefinite).
    pub fn check_duration(&self, requested: Option<DurationMinutes>) -> Result<(), DomainError> {
        match (self.max_duration_minutes, requested) {
            (None, _) => Ok(()),
            (Some(max), None) => Err(DomainError::IndefiniteNotAllowed { max: max.minutes() }),
            (Some(max), Some(requested)) if requested > max => Err(DomainError::DurationAboveMaximum {
                requested: requested.minutes(),
                max: max.minutes(),
            }),
            (Some(_), Some(_)) => Ok(()),
        }
    }
}

/// A system that holds resources (an AWS account, a database, a SaaS tool).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct App {
    /// The app's id.
    pub id: AppId,
    /// Display name.
    pub name: String,
    /// Admins of the app and, unless a resource names its own, of its resources.
    pub admin_group_id: Option<GroupId>,
    /// The default ticket propagation for the app's resources.
    pub ticket_propagation: Option<TicketPropagation>,
    /// When the app was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Something people request access to (a role, a group, a database).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resource {
    /// The resource's id.
    pub id: ResourceId,
    /// The app that holds it.
    pub app_id: AppId,
    /// Display name.
    pub name: String,
    /// The resource's admins; `null` means its app's.
    pub admin_group_id: Option<GroupId>,
    /// How requests are handled.
    pub request_config: RequestConfig,
    /// Ticket propagation; `null` means inherit the app's.
    pub ticket_propagation: Option<TicketPropagation>,
    /// When the resource's tickets were last synced.
    #[serde(default)]
    pub last_synced_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the resource was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Resource {
    /// The group whose members administer this resource: its own, else its app's.
    pub fn effective_admin_group<'a>(&'a self, app: &'a App) -> Option<&'a GroupId> {
        self.admin_group_id.as_ref().or(app.admin_group_id.as_ref())
    }

    /// The group whose members review requests: the reviewer group, else the admins.
    pub fn effective_reviewer_group<'a>(&'a self, app: &'a App) -> Option<&'a GroupId> {
        self.request_config
            .reviewer_group_id
            .as_ref()
            .or_else(|| self.effective_admin_group(app))
    }

    /// Ticket propagation in force: the resource's own, else its app's.
    pub fn effective_propagation<'a>(&'a self, app: &'a App) -> Option<&'a TicketPropagation> {
        self.ticket_propagation.as_ref().or(app.ticket_propagation.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn propagation(provider: TicketProviderKind, project: &str) -> TicketPropagation {
        TicketPropagation {
            enabled_on_grant: true,
            enabled_on_revocation: false,
            provider,
            project: project.into(),
            assignee_policy: AssigneePolicy::AdminRules,
            issue_type: None,
        }
    }

    fn app() -> App {
        App {
            id: AppId::generate(),
            name: "AWS".into(),
            admin_group_id: Some(GroupId::generate()),
            ticket_propagation: Some(propagation(TicketProviderKind::Jira, "OPS")),
            created_at: super::super::now(),
        }
    }

    fn resource(app: &App) -> Resource {
        Resource {
            id: ResourceId::generate(),
            app_id: app.id.clone(),
            name: "My Role".into(),
            admin_group_id: None,
            request_config: RequestConfig::default(),
            ticket_propagation: None,
            last_synced_at: None,
            created_at: super::super::now(),
        }
    }

    #[test]
    fn a_resource_inherits_admins_and_propagation_from_its_app() {
        let app = app();
        let res = resource(&app);
        assert_eq!(res.effective_admin_group(&app), app.admin_group_id.as_ref());
        assert_eq!(res.effective_reviewer_group(&app), app.admin_group_id.as_ref());
        assert_eq!(
            res.effective_propagation(&app).unwrap().provider,
            TicketProviderKind::Jira
        );
    }

    #[test]
    fn a_resource_value_overrides_its_app() {
        let app = app();
        let mut res = resource(&app);
        let own_admins = GroupId::generate();
        let reviewers = GroupId::generate();
        res.admin_group_id = Some(own_admins.clone());
        res.request_config.reviewer_group_id = Some(reviewers.clone());
        res.ticket_propagation = Some(propagation(TicketProviderKind::Linear, "ENG"));
        assert_eq!(res.effective_admin_group(&app), Some(&own_admins));
        assert_eq!(res.effective_reviewer_group(&app), Some(&reviewers));
        assert_eq!(
            res.effective_propagation(&app).unwrap().provider,
            TicketProviderKind::Linear
        );
    }

    #[test]
    fn durations_are_checked_against_the_maximum() {
        let mut config = RequestConfig::default();
        assert!(config.check_duration(None).is_ok(), "no cap allows indefinite");
        config.max_duration_minutes = Some(DurationMinutes::new(60).unwrap());
        assert_eq!(
            config.check_duration(None),
            Err(DomainError::IndefiniteNotAllowed { max: 60 })
        );
        assert_eq!(
            config.check_duration(Some(DurationMinutes::new(61).unwrap())),
            Err(DomainError::DurationAboveMaximum { requested: 61, max: 60 })
        );
        assert!(config.check_duration(Some(DurationMinutes::new(60).unwrap())).is_ok());
    }

    #[test]
    fn request_config_fills_defaults_for_missing_fields() {
        let config: RequestConfig = serde_json::from_str(r#"{"auto_approve": true}"#).unwrap();
        assert!(config.auto_approve);
        assert!(!config.require_ticket_link);
        assert_eq!(config.max_duration_minutes, None);
    }

    #[test]
    fn servicenow_projects_are_tables() {
        assert!(propagation(TicketProviderKind::Servicenow, "sc_task")
            .validate()
            .is_ok());
        assert!(propagation(TicketProviderKind::Servicenow, "OPS").validate().is_err());
        assert!(propagation(TicketProviderKind::Jira, " ").validate().is_err());
    }
}
