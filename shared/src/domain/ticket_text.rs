//! What grantdesk's tickets say. A propagation ticket tells a person exactly what to change on
//! the end system and why; an audit ticket tells the story of one request.

use super::access_change::{AccessChange, ChangeCause, ChangeDirection};
use super::audit::{AuditEvent, AuditEventKind};
use super::catalog::{App, Resource};
use super::directory::User;
use super::grant::Grant;
use super::request::AccessRequest;
use super::Timestamp;

/// Everything a propagation ticket mentions.
pub struct PropagationFacts<'a> {
    /// The change.
    pub change: &'a AccessChange,
    /// The grant it starts or ends.
    pub grant: &'a Grant,
    /// The user added or removed.
    pub user: &'a User,
    /// The resource.
    pub resource: &'a Resource,
    /// Its app.
    pub app: &'a App,
    /// The request, for request-driven changes.
    pub request: Option<&'a AccessRequest>,
    /// The approver or the admin who changed access by hand.
    pub actor: Option<&'a User>,
    /// A link back to the resource's Users tab.
    pub link: String,
}

fn when(at: &Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn person(user: &User) -> String {
    format!("{} ({})", user.name, user.email)
}

/// The title and description of a propagation ticket.
pub fn propagation_ticket(facts: &PropagationFacts<'_>) -> (String, String) {
    let who = person(facts.user);
    let place = format!("\"{}\" in {}", facts.resource.name, facts.app.name);
    let (title, action) = match facts.change.direction {
        ChangeDirection::Add => (
            format!(
                "Add {} to {} ({})",
                facts.user.name, facts.resource.name, facts.app.name
            ),
            format!("Please add {who} to {place}."),
        ),
        ChangeDirection::Remove => (
            format!(
                "Remove {} from {} ({})",
                facts.user.name, facts.resource.name, facts.app.name
            ),
            format!("Please remove {who} from {place}."),
        ),
    };
    let actor = facts.actor.map(person).unwrap_or_else(|| "automatic approval".into());
    let why = match &facts.change.cause {
        ChangeCause::Request { .. } => {
            let reason = facts
                .request
                .map(|r| r.reason.trim())
                .filter(|r| !r.is_empty())
                .unwrap_or("no reason given");
            format!(
                "Why: {} requested it (\"{reason}\"); approved by {actor}.",
                facts.user.name
            )
        }
        ChangeCause::Manual { .. } => match facts.change.direction {
            ChangeDirection::Add => format!("Why: added by hand by {actor}."),
            ChangeDirection::Remove => format!("Why: removed by hand by {actor}."),
        },
        ChangeCause::Expiry => "Why: the access reached its end time.".to_owned(),
        ChangeCause::LinkedTicketClosed => {
            let key = facts
                .grant
                .linked_ticket
                .as_ref()
                .map(|t| t.key.as_str())
                .unwrap_or("the linked ticket");
            format!("Why: {key}, the ticket this access was for, was closed.")
        }
    };
    let until = match facts.change.direction {
        ChangeDirection::Add => match &facts.grant.expires_at {
            Some(at) => format!(
                "Until: {} (grantdesk files a removal ticket when it ends, if configured).",
                when(at)
            ),
            None => "Until: no end time.".to_owned(),
        },
        ChangeDirection::Remove => format!(
            "Access ended: {}.",
            when(&facts.grant.ended_at.unwrap_or(facts.change.created_at))
        ),
    };
    let description = format!(
        "{action}\n\n{why}\n\n{until}\n\nWhen the change is made, mark this ticket done: grantdesk then records it as complete. \
         If it cannot be made, cancel the ticket and the change is flagged for review.\n\n\
         Access change {change}: {link}",
        change = facts.change.id,
        link = facts.link,
    );
    (title, description)
}

/// The title and description of a request's audit ticket.
pub fn audit_ticket(
    request: &AccessRequest,
    requester: &User,
    resource: &Resource,
    app: &App,
    link: &str,
) -> (String, String) {
    let title = format!(
        "Access request: {} for {} ({})",
        requester.name, resource.name, app.name
    );
    let duration = match request.duration_minutes {
        Some(d) => format!("{} minutes", d.minutes()),
        None => "indefinite".into(),
    };
    let reason = if request.reason.trim().is_empty() {
        "no reason given"
    } else {
        request.reason.trim()
    };
    let linked = request
        .linked_ticket
        .as_ref()
        .map(|t| format!("\n\nLinked ticket: {} {}", t.key, t.url))
        .unwrap_or_default();
    let description = format!(
        "{} requested access to \"{}\" in {} for {duration}.\n\nReason: {reason}{linked}\n\n\
         grantdesk comments here as the request is reviewed and closes this ticket when it ends.\n\n\
         Request {}: {link}",
        person(requester),
        resource.name,
        app.name,
        request.id,
    );
    (title, description)
}

/// The comment an audit event adds (`actor` is the person who acted, if any).
pub fn audit_comment(event: &AuditEvent, actor: Option<&User>, grant: Option<&Grant>) -> String {
    let by = actor.map(person).unwrap_or_else(|| "grantdesk".into());
    let detail = event.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    match event.step {
        AuditEventKind::Opened => format!("Request made by {by}."),
        AuditEventKind::Approved => {
            let until = match grant.and_then(|g| g.expires_at) {
                Some(at) => format!(" Access until {}.", when(&at)),
                None => " Access has no end time.".into(),
            };
            let approver = actor.map(person).unwrap_or_else(|| "automatic approval".into());
            format!("Approved by {approver}{detail}.{until}")
        }
        AuditEventKind::Denied => format!("Denied by {by}{detail}."),
        AuditEventKind::Canceled => format!("Canceled by {by}{detail}."),
        AuditEventKind::Revoked => format!("Access revoked by {by}{detail}."),
        AuditEventKind::Expired => format!("Access expired at {}.", when(&event.at)),
    }
}

/// Text made safe for Slack's mrkdwn: `&`, `<` and `>` become entities, which is all Slack
/// asks for (its control sequences all start with `<`).
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The Slack message that asks reviewers to look at a new request.
pub fn review_message(
    request: &AccessRequest,
    requester: Option<&User>,
    resource: Option<&Resource>,
    app_url: &str,
) -> String {
    // Everything a person typed is escaped for Slack's mrkdwn, so nobody can ping
    // `<!channel>` or dress a link up as something else from a reason or a name.
    let who = slack_escape(
        &requester
            .map(person)
            .unwrap_or_else(|| request.requester_id.to_string()),
    );
    let what = slack_escape(
        &resource
            .map(|r| r.name.clone())
            .unwrap_or_else(|| request.resource_id.to_string()),
    );
    let duration = match request.duration_minutes {
        Some(d) => format!("{} minutes", d.minutes()),
        None => "indefinite access".into(),
    };
    let reason = if request.reason.trim().is_empty() {
        "no reason given".to_owned()
    } else {
        slack_escape(request.reason.trim())
    };
    let linked = request
        .linked_ticket
        .as_ref()
        .map(|t| format!("\nLinked ticket: {} {}", slack_escape(&t.key), slack_escape(&t.url)))
        .unwrap_or_default();
    format!(
        "{who} requests access to {what} for {duration}.\nReason: {reason}{linked}\nReview: {app_url}/console/requests/{}",
        request.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_from_people_cannot_ping_or_disguise_links() {
        assert_eq!(
            slack_escape("<!channel> see <https://evil.example|your bank> & more"),
            "&lt;!channel&gt; see &lt;https://evil.example|your bank&gt; &amp; more"
        );
    }
    use crate::domain::catalog::{AssigneePolicy, RequestConfig, TicketPropagation};
    use crate::domain::{AppId, DurationMinutes, Email, NewRequest, ResourceId, Settings, TicketProviderKind, UserId};

    fn user(name: &str, email: &str) -> User {
        User {
            id: UserId::generate(),
            email: Email::parse(email).unwrap(),
            name: name.into(),
            is_admin: false,
            created_at: crate::domain::now(),
            identity: None,
        }
    }

    #[test]
    fn a_propagation_ticket_names_who_what_why_until_when_and_links_back() {
        let now = crate::domain::now();
        let app = App {
            id: AppId::generate(),
            name: "AWS".into(),
            admin_group_id: None,
            ticket_propagation: None,
            created_at: now,
        };
        let resource = Resource {
            id: ResourceId::generate(),
            app_id: app.id.clone(),
            name: "My Role".into(),
            admin_group_id: None,
            request_config: RequestConfig::default(),
            ticket_propagation: None,
            last_synced_at: None,
            created_at: now,
        };
        let josh = user("Josh", "josh@example.com");
        let riley = user("Riley", "riley@example.com");
        let new = NewRequest {
            resource_id: resource.id.clone(),
            requester_id: josh.id.clone(),
            reason: "on-call this week".into(),
            duration_minutes: Some(DurationMinutes::new(90).unwrap()),
            linked_ticket: None,
        };
        let propagation = TicketPropagation {
            enabled_on_grant: true,
            enabled_on_revocation: true,
            provider: TicketProviderKind::Jira,
            project: "OPS".into(),
            assignee_policy: AssigneePolicy::AdminRules,
            issue_type: None,
        };
        let request = AccessRequest::open(new, &resource, &app, &Settings::default(), now).unwrap();
        let (request, grant, change) = request.approve(Some(&riley.id), None, Some(&propagation), now).unwrap();
        let facts = PropagationFacts {
            change: &change,
            grant: &grant,
            user: &josh,
            resource: &resource,
            app: &app,
            request: Some(&request),
            actor: Some(&riley),
            link: "https://grantdesk.example.com/resources/x/users".into(),
        };
        let (title, description) = propagation_ticket(&facts);
        let mut sneaky = request.clone();
        sneaky.reason = "<!channel> urgent: <https://evil.example|grantdesk login>".into();
        let message = review_message(&sneaky, Some(&josh), Some(&resource), "https://grantdesk.example.com");
        assert!(
            !message.contains("<!channel>") && !message.contains("<https://evil"),
            "{message}"
        );
        assert!(message.contains("&lt;!channel&gt; urgent"), "{message}");
        assert_eq!(title, "Add Josh to My Role (AWS)");
        for needle in [
            "Please add Josh (josh@example.com) to \"My Role\" in AWS.",
            "\"on-call this week\"",
            "approved by Riley (riley@example.com)",
            &format!("Until: {}", when(&grant.expires_at.unwrap())),
            "https://grantdesk.example.com/resources/x/users",
            change.id.as_str(),
        ] {
            assert!(description.contains(needle), "missing {needle:?} in {description}");
        }

        let (ended, removal) = grant
            .clone()
            .expire(Some(&propagation), now + chrono::Duration::minutes(90))
            .unwrap();
        let facts = PropagationFacts {
            change: &removal,
            grant: &ended,
            actor: None,
            request: None,
            ..facts
        };
        let (title, description) = propagation_ticket(&facts);
        assert_eq!(title, "Remove Josh from My Role (AWS)");
        assert!(description.contains("reached its end time"));
    }
}
