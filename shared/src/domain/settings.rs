//! Organisation-wide settings.

use super::ticket::TicketProviderKind;
use serde::{Deserialize, Serialize};

/// Settings that apply to the whole organisation. Fields left out of a body take their defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Settings {
    /// Every request must link an existing, open ticket.
    pub require_ticket_link: bool,
    /// File one audit ticket per request.
    pub audit_tickets: AuditTicketSettings,
}

/// Where audit tickets go, if they are filed at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct AuditTicketSettings {
    /// Whether audit tickets are filed.
    pub enabled: bool,
    /// The provider to file them in; required when enabled.
    pub provider: Option<TicketProviderKind>,
    /// The Jira project key, Linear team key or ServiceNow table; required when enabled.
    pub project: Option<String>,
    /// The Jira issue type audit tickets are filed as (Jira only; `Task` when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 60)]
    pub issue_type: Option<String>,
}

impl Settings {
    /// Checks that an audit issue type is named only for Jira, and trims it.
    pub fn check_issue_type(&mut self) -> Result<(), String> {
        let provider = self.audit_tickets.provider;
        self.audit_tickets.issue_type =
            super::catalog::validate_issue_type(provider, self.audit_tickets.issue_type.take())
                .map_err(|m| format!("audit_tickets.{m}"))?;
        Ok(())
    }

    /// Checks the settings are complete: enabled audit tickets need a provider and a project.
    pub fn validate(&self) -> Result<(), String> {
        let audit = &self.audit_tickets;
        if audit.enabled {
            if audit.provider.is_none() {
                return Err("audit_tickets.provider is required when audit tickets are enabled".into());
            }
            match audit.project.as_deref().map(super::trim_text) {
                None | Some("") => {
                    return Err("audit_tickets.project is required when audit tickets are enabled".into())
                }
                Some(project) => super::catalog::validate_project(audit.provider, project)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_audit_tickets_need_a_provider_and_project() {
        let mut settings = Settings::default();
        assert!(settings.validate().is_ok());
        settings.audit_tickets.enabled = true;
        assert!(settings.validate().is_err());
        settings.audit_tickets.provider = Some(TicketProviderKind::Servicenow);
        assert!(settings.validate().is_err());
        settings.audit_tickets.project = Some("incident".into());
        assert!(settings.validate().is_ok());
        settings.audit_tickets.project = Some("problem".into());
        assert!(
            settings.validate().is_err(),
            "ServiceNow only takes incident or sc_task"
        );
    }
}
