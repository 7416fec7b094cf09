//! Propagation tickets: filing the ticket an access change waits for, exactly once, and
//! recording it (or why it cannot be filed).

use super::*;

impl TicketFiler {
    /// Files the propagation ticket of a change that waits for one, and records it.
    pub async fn file_propagation_ticket(&self, id: &ChangeId) -> Result<(), FilerError> {
        let Some(current) = self.store.change(id).await? else {
            return Ok(());
        };
        let (version, change) = (current.version, current.value);
        // Delivered again after it was handled: nothing to do.
        if change.propagation != PropagationStatus::PendingTicketCreation {
            return Ok(());
        }
        let Some(target) = change.target.clone() else {
            return self
                .fail_for_good(version, change, "the change has no ticket target".into())
                .await;
        };
        let client = match self.connections.client(target.provider).await {
            Ok(client) => client,
            Err(ConnectionError::NotConnected(provider)) => {
                return self
                    .fail_for_good(version, change, format!("no {provider} integration is connected"))
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        let lease = once::claim(&self.store, &client, &target.project, id.as_str()).await;
        let (lease, found) = match lease? {
            once::Claim::Create(lease) => (lease, None),
            once::Claim::Found(lease, ticket) => (lease, Some(ticket)),
        };
        // Read again under the lease: another filer may have recorded the ticket and let its
        // lease go between the first read and the claim.
        let current = match self.store.change(id).await {
            Ok(Some(current)) if current.value.propagation == PropagationStatus::PendingTicketCreation => current,
            Ok(_) => return lease.release(&self.store).await,
            Err(err) => {
                lease.release(&self.store).await?;
                return Err(err.into());
            }
        };
        let (version, change) = (current.version, current.value);
        match self
            .file_claimed(version, change, &target, &client, &lease, found)
            .await
        {
            Ok(Filed::Recorded) => lease.finish(&self.store).await,
            Ok(Filed::NotFiled) => lease.release(&self.store).await,
            Err(err) => {
                lease.release(&self.store).await?;
                Err(err)
            }
        }
    }

    /// Files (or records the `found` ticket of an earlier attempt) under a held lease.
    pub(super) async fn file_claimed(
        &self,
        version: u64,
        change: AccessChange,
        target: &domain::TicketTarget,
        client: &crate::providers::AnyProvider,
        lease: &once::Lease,
        found: Option<RemoteTicket>,
    ) -> Result<Filed, FilerError> {
        let id = change.id.clone();
        let id = &id;
        let missing = |what: &str| FilerError::Inconsistent(format!("{what} of access change {id} is missing"));
        let grant = self
            .store
            .grant(&change.grant_id)
            .await?
            .ok_or_else(|| missing("the grant"))?
            .value;
        let (resource, app) = self
            .store
            .resource_and_app(&change.resource_id)
            .await?
            .ok_or_else(|| missing("the resource"))?;
        let resource = resource.value;
        let user = self
            .store
            .user(&change.user_id)
            .await?
            .ok_or_else(|| missing("the user"))?;
        let (request, actor_id): (_, Option<UserId>) = match &change.cause {
            ChangeCause::Request {
                request_id,
                approver_id,
            } => (
                self.store.request(request_id).await?.map(|r| r.value),
                approver_id.clone(),
            ),
            ChangeCause::Manual { admin_id } => (None, Some(admin_id.clone())),
            ChangeCause::Expiry | ChangeCause::LinkedTicketClosed => (None, None),
        };
        let actor = match &actor_id {
            Some(id) => self.store.user(id).await?,
            None => None,
        };
        let remote = match found {
            Some(found) => found,
            None => {
                let assignee = match assignee::choose(&self.store, client, target, &change, &resource, &app).await {
                    Ok(assignee) => assignee,
                    Err(FilerError::Provider(err)) if transient(&err) => {
                        return self.retry_later(version, change, err).await.map(|()| Filed::NotFiled)
                    }
                    Err(FilerError::Provider(err)) => {
                        tracing::warn!(error = %err, "the provider refused the assignee look-up; filing unassigned");
                        None
                    }
                    Err(err) => return Err(err),
                };
                let facts = PropagationFacts {
                    change: &change,
                    grant: &grant,
                    user: &user,
                    resource: &resource,
                    app: &app,
                    request: request.as_ref(),
                    actor: actor.as_ref(),
                    link: self.link(&resource.id),
                };
                let (title, description) = ticket_text::propagation_ticket(&facts);
                let new = NewTicket {
                    idempotency_key: change.id.to_string(),
                    project: target.project.clone(),
                    title,
                    description,
                    assignee,
                    issue_type: target.issue_type.clone(),
                };
                let remote = match lease.create(&self.store, client, &new).await? {
                    Ok(remote) => remote,
                    Err(err) if transient(&err) => {
                        return self.retry_later(version, change, err).await.map(|()| Filed::NotFiled)
                    }
                    Err(err) => {
                        return self
                            .fail_for_good(version, change, err.to_string())
                            .await
                            .map(|()| Filed::NotFiled)
                    }
                };
                remote
            }
        };
        let now = domain::now();
        let tracked = TrackedTicket {
            provider: target.provider,
            remote_id: remote.remote_id.clone(),
            key: remote.key.clone(),
            url: remote.url.clone(),
            purpose: TicketPurpose::Propagation {
                change_id: change.id.clone(),
            },
            resource_id: Some(change.resource_id.clone()),
            state: remote.state,
            watching: true,
            last_synced_at: now,
        };
        let ticket = TicketRef {
            provider: target.provider,
            key: remote.key,
            url: remote.url,
        };
        let mut filed = change
            .record_ticket(ticket, remote.remote_id, now)
            .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        if remote.assignee_refused {
            filed.note = Some(format!(
                "filed unassigned: {} refused the chosen assignee (not assignable in {})",
                target.provider, target.project
            ));
        }
        match self.store.record_change_ticket(version, &filed, &tracked).await {
            Ok(()) => {
                tracing::info!(change = %filed.id, ticket = %tracked.key, "propagation ticket filed");
                self.metrics.counts(target.provider.as_str(), &[("TicketsFiled", 1)]);
                Ok(Filed::Recorded)
            }
            // Someone else recorded it first (a duplicate delivery racing this one): the ticket is
            // the same one, created idempotently, so there is nothing left to do. Anything else is
            // retried.
            Err(StoreError::Conflict(_)) => match self.store.change(id).await? {
                Some(now) if now.value.propagation != PropagationStatus::PendingTicketCreation => Ok(Filed::Recorded),
                _ => Err(FilerError::Inconsistent(format!(
                    "access change {id} changed while its ticket was filed"
                ))),
            },
            Err(err) => Err(err.into()),
        }
    }

    pub(super) async fn fail_for_good(
        &self,
        version: u64,
        change: AccessChange,
        reason: String,
    ) -> Result<(), FilerError> {
        tracing::warn!(change = %change.id, %reason, "propagation ticket cannot be filed");
        let provider = change.target.as_ref().map_or("none", |t| t.provider.as_str());
        self.metrics.counts(provider, &[("FilingFailures", 1)]);
        let failed = change
            .record_failure(reason, domain::now())
            .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        self.save_change(version, &failed).await
    }

    pub(super) async fn retry_later(
        &self,
        version: u64,
        change: AccessChange,
        err: ProviderError,
    ) -> Result<(), FilerError> {
        let counted = change
            .record_attempt_failure(err.to_string(), MAX_FILING_ATTEMPTS, domain::now())
            .map_err(|e| FilerError::Inconsistent(e.to_string()))?;
        let gave_up = counted.propagation == PropagationStatus::TicketCreationFailed;
        self.save_change(version, &counted).await?;
        if gave_up {
            let provider = counted.target.as_ref().map_or("none", |t| t.provider.as_str());
            self.metrics.counts(provider, &[("FilingFailures", 1)]);
            Ok(())
        } else {
            Err(err.into())
        }
    }

    pub(super) async fn save_change(&self, version: u64, change: &AccessChange) -> Result<(), FilerError> {
        match self.store.save_change(version, change).await {
            // Changed meanwhile (another delivery recorded the ticket): its outcome stands.
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}
