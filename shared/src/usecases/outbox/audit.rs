//! Audit tickets: one per request where the org files them, filed with its first event,
//! commented on as the request moves and closed when it ends.

use super::*;
use crate::providers::TicketHandle;

impl TicketFiler {
    /// Reflects one audit event on the request's audit ticket, filing the ticket first if this
    /// is the first event to get here.
    pub async fn apply_audit_event(&self, request_id: &RequestId, event_id: &str) -> Result<(), FilerError> {
        let Some(stored) = self.store.audit_event(request_id, event_id).await? else {
            return Ok(());
        };
        let (event_version, mut event) = (stored.version, stored.value);
        if event.processed_at.is_some() {
            return Ok(());
        }
        let client = match self.connections.client(event.target.provider).await {
            Ok(client) => client,
            Err(ConnectionError::NotConnected(provider)) => {
                return self
                    .finish_event(
                        event_version,
                        event,
                        Some(format!("no {provider} integration is connected")),
                    )
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        let (ticket_version, ticket) = match self.ensure_audit_ticket(&client, &event).await {
            Ok(found) => found,
            Err(FilerError::Provider(err)) if !transient(&err) => {
                return self.finish_event(event_version, event, Some(err.to_string())).await;
            }
            Err(err) => return Err(err),
        };
        let remote = TicketHandle {
            remote_id: &ticket.remote_id,
            key: &ticket.key,
        };
        let outcome = async {
            if event.step != domain::AuditEventKind::Opened {
                let actor = match &event.actor {
                    Some(id) => self.store.user(id).await?,
                    None => None,
                };
                let request = self.store.request(request_id).await?.map(|r| r.value);
                let grant = match request.as_ref().and_then(|r| r.grant_id.clone()) {
                    Some(id) => self.store.grant(&id).await?.map(|g| g.value),
                    None => None,
                };
                client
                    .comment(
                        remote,
                        &ticket_text::audit_comment(&event, actor.as_ref(), grant.as_ref()),
                    )
                    .await?;
            }
            if event.step.closes() && !ticket.closed {
                client.close(remote, "The access request has ended.").await?;
                let closed = AuditTicket {
                    closed: true,
                    ..ticket.clone()
                };
                match self
                    .store
                    .save_audit_ticket(ticket_version, request_id, &closed, None)
                    .await
                {
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(err) => return Err(FilerError::from(err)),
                }
            }
            Ok::<(), FilerError>(())
        }
        .await;
        match outcome {
            Ok(()) => self.finish_event(event_version, event, None).await,
            Err(FilerError::Provider(err)) if !transient(&err) => {
                event.processed_at = None;
                self.finish_event(event_version, event, Some(err.to_string())).await
            }
            Err(err) => Err(err),
        }
    }

    pub(super) async fn ensure_audit_ticket(
        &self,
        client: &impl TicketProvider,
        event: &AuditEvent,
    ) -> Result<(u64, AuditTicket), FilerError> {
        if let Some(existing) = self.store.audit_ticket(&event.request_id).await? {
            return Ok((existing.version, existing.value));
        }
        let key = event.request_id.to_string();
        let (lease, found) = match once::claim(&self.store, client, &event.target.project, &key).await? {
            once::Claim::Create(lease) => (lease, None),
            once::Claim::Found(lease, ticket) => (lease, Some(ticket)),
        };
        match self.file_audit_ticket(client, event, &lease, found).await {
            Ok(filed) => {
                lease.finish(&self.store).await?;
                Ok(filed)
            }
            Err(err) => {
                lease.release(&self.store).await?;
                Err(err)
            }
        }
    }

    /// Files a request's audit ticket (or records the `found` one of an earlier attempt) under
    /// a held lease.
    pub(super) async fn file_audit_ticket(
        &self,
        client: &impl TicketProvider,
        event: &AuditEvent,
        lease: &once::Lease,
        found: Option<RemoteTicket>,
    ) -> Result<(u64, AuditTicket), FilerError> {
        // Read again under the lease: another filer may have just recorded it.
        if let Some(existing) = self.store.audit_ticket(&event.request_id).await? {
            return Ok((existing.version, existing.value));
        }
        let missing =
            |what: &str| FilerError::Inconsistent(format!("{what} of request {} is missing", event.request_id));
        let request = self
            .store
            .request(&event.request_id)
            .await?
            .ok_or_else(|| missing("the request"))?
            .value;
        let requester = self
            .store
            .user(&request.requester_id)
            .await?
            .ok_or_else(|| missing("the requester"))?;
        let (resource, app) = self
            .store
            .resource_and_app(&request.resource_id)
            .await?
            .ok_or_else(|| missing("the resource"))?;
        let resource = resource.value;
        let (title, description) =
            ticket_text::audit_ticket(&request, &requester, &resource, &app, &self.link(&resource.id));
        let new = NewTicket {
            idempotency_key: request.id.to_string(),
            project: event.target.project.clone(),
            title,
            description,
            assignee: None,
            issue_type: event.target.issue_type.clone(),
        };
        let remote = match found {
            Some(found) => found,
            None => lease.create(&self.store, client, &new).await??,
        };
        let ticket = AuditTicket {
            provider: event.target.provider,
            remote_id: remote.remote_id,
            key: remote.key,
            url: remote.url,
            closed: false,
        };
        match self.store.save_audit_ticket(0, &request.id, &ticket, None).await {
            Ok(()) => Ok((1, ticket)),
            // Filed by another event at the same time (the same ticket, by idempotency): use theirs.
            Err(StoreError::Conflict(_)) => {
                let theirs = self
                    .store
                    .audit_ticket(&request.id)
                    .await?
                    .ok_or_else(|| missing("the audit ticket"))?;
                Ok((theirs.version, theirs.value))
            }
            Err(err) => Err(err.into()),
        }
    }

    pub(super) async fn finish_event(
        &self,
        version: u64,
        mut event: AuditEvent,
        failure: Option<String>,
    ) -> Result<(), FilerError> {
        if let Some(reason) = &failure {
            tracing::error!(request = %event.request_id, %reason, "audit ticket step failed for good");
        }
        event.processed_at = Some(domain::now());
        event.failure = failure;
        match self.store.save_audit_event(version, &event).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}
