//! Changing access by hand on a resource's Users tab: adding a user, removing one, filing a
//! failed propagation ticket again; and reading the tab. Only the resource's admins and org
//! admins ([`authorization::administer_resource`], [`authorization::add_by_hand`]).

use super::authorization::{self, Principal, Refusal};
use super::resource::{LoadedResource, ResourceError};
use crate::domain::{
    self, AccessChange, AuditEvent, DomainError, DurationMinutes, Grant, ResourceId, RevocationReason, User, UserId,
};
use crate::schedules::ExpirySchedules;
use crate::store::{Page, PageRequest, ResourceUser, Store, StoreError, Versioned};
use thiserror::Error;

/// Why a change by hand did not happen. Each front door maps these to its answer in one place.
#[derive(Debug, Error)]
pub enum AccessError {
    /// The resource is missing, or the caller may not administer it.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// The caller may not (adding themself).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// No such user.
    #[error("user {0} not found")]
    UserNotFound(UserId),
    /// The user never had access to the resource.
    #[error("user {0} has no access to this resource")]
    NoAccess(UserId),
    /// The grant's latest change is missing.
    #[error("the access change is missing")]
    ChangeMissing,
    /// The grant or change does not allow it (not active, not failed...).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The table refused (a concurrent change, access already active) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A user's access as a change by hand left it: their grant, themself and the change.
#[derive(Clone, Debug)]
pub struct UserAccess {
    /// The user's grant.
    pub grant: Grant,
    /// The user, if still in the directory.
    pub user: Option<User>,
    /// The change made (or filed again).
    pub change: AccessChange,
}

/// The use cases over one store.
#[derive(Clone, Debug)]
pub struct ResourceAccess {
    store: Store,
    schedules: ExpirySchedules,
}

impl ResourceAccess {
    /// Access changes recorded in `store`, with grant ends scheduled through `schedules`.
    pub fn new(store: Store, schedules: ExpirySchedules) -> Self {
        Self { store, schedules }
    }

    /// One page of the Users tab: each user with their latest grant and its change.
    pub async fn users(
        &self,
        principal: &Principal,
        resource: &ResourceId,
        page: &PageRequest,
    ) -> Result<Page<ResourceUser>, AccessError> {
        let (loaded, _) = LoadedResource::administered(&self.store, principal, resource).await?;
        Ok(self.store.resource_users(&loaded.resource.value.id, page).await?)
    }

    /// Adds `user` by hand for `duration` (indefinite when `None`), within the resource's
    /// limits; access already active is a conflict.
    pub async fn add(
        &self,
        principal: &Principal,
        resource: &ResourceId,
        user: &UserId,
        duration: Option<DurationMinutes>,
    ) -> Result<UserAccess, AccessError> {
        let (loaded, actor) = LoadedResource::administered(&self.store, principal, resource).await?;
        authorization::add_by_hand(&actor, loaded.admin_group(), user)?;
        let user = self
            .store
            .user(user)
            .await?
            .ok_or_else(|| AccessError::UserNotFound(user.clone()))?;
        let (grant, change) = Grant::add_by_hand(
            &loaded.resource.value,
            &user.id,
            &principal.user_id,
            duration,
            loaded.propagation(),
            domain::now(),
        )?;
        self.store.start_grant(&grant, &change).await?;
        self.schedules.schedule_end(&grant).await;
        Ok(UserAccess {
            grant,
            user: Some(user),
            change,
        })
    }

    /// Removes `user` by hand, ending their active grant (a removal ticket follows if the
    /// resource propagates).
    pub async fn remove(
        &self,
        principal: &Principal,
        resource: &ResourceId,
        user: &UserId,
    ) -> Result<UserAccess, AccessError> {
        let (loaded, grant) = self.latest_grant(principal, resource, user).await?;
        let reason = RevocationReason::ManualRemoval {
            admin_id: principal.user_id.clone(),
        };
        let (ended, change) = grant.value.revoke(reason, loaded.propagation(), domain::now())?;
        let events: Vec<AuditEvent> = ended.end_event().into_iter().collect();
        self.store.end_grant(grant.version, &ended, &change, &events).await?;
        self.schedules.cancel_end(&ended).await;
        Ok(UserAccess {
            grant: ended,
            user: None,
            change,
        })
    }

    /// Files the propagation ticket of `user`'s latest change again after filing failed for
    /// good (once the provider is connected, say); the ticket filer picks it up from the stream.
    pub async fn retry_filing(
        &self,
        principal: &Principal,
        resource: &ResourceId,
        user: &UserId,
    ) -> Result<UserAccess, AccessError> {
        let (_, grant) = self.latest_grant(principal, resource, user).await?;
        let change = self
            .store
            .change(&grant.value.latest_change_id)
            .await?
            .ok_or(AccessError::ChangeMissing)?;
        let retried = change.value.retry_filing(domain::now())?;
        self.store.save_change(change.version, &retried).await?;
        Ok(UserAccess {
            grant: grant.value,
            user: self.store.user(user).await?,
            change: retried,
        })
    }

    /// The resource, once `principal` may administer it, and `user`'s latest grant on it.
    async fn latest_grant(
        &self,
        principal: &Principal,
        resource: &ResourceId,
        user: &UserId,
    ) -> Result<(LoadedResource, Versioned<Grant>), AccessError> {
        let (loaded, _) = LoadedResource::administered(&self.store, principal, resource).await?;
        let grant = self
            .store
            .latest_grant(&loaded.resource.value.id, user)
            .await?
            .ok_or_else(|| AccessError::NoAccess(user.clone()))?;
        Ok((loaded, grant))
    }
}
