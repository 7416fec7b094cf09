//! Finding a resource for someone who wants to administer it: the resource, its app (which
//! may hold its admin group and propagation) and the authorization rule
//! [`authorization::administer_resource`]. The Users tab, adding and removing by hand, retrying
//! a filing and "sync now" all start here.

use super::authorization::{self, Actor, Principal, Refusal};
use crate::domain::{App, AppId, GroupId, Resource, ResourceId, TicketPropagation};
use crate::store::{Store, StoreError, Versioned};
use thiserror::Error;

/// Why a resource could not be administered.
#[derive(Debug, Error)]
pub enum ResourceError {
    /// No such resource.
    #[error("resource {0} not found")]
    NotFound(ResourceId),
    /// The resource's app is gone.
    #[error("app {0} not found")]
    AppNotFound(AppId),
    /// The caller may not administer it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The table failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A resource with its app, read for a decision about it.
#[derive(Clone, Debug)]
pub struct LoadedResource {
    /// The resource, at the version read.
    pub resource: Versioned<Resource>,
    /// Its app.
    pub app: App,
}

impl LoadedResource {
    /// Reads resource `id` and its app.
    pub async fn load(store: &Store, id: &ResourceId) -> Result<Self, ResourceError> {
        let resource = store
            .resource(id)
            .await?
            .ok_or_else(|| ResourceError::NotFound(id.clone()))?;
        let app = store
            .app(&resource.value.app_id)
            .await?
            .ok_or_else(|| ResourceError::AppNotFound(resource.value.app_id.clone()))?
            .value;
        Ok(Self { resource, app })
    }

    /// Reads resource `id` and its app, once `principal` is found to be one who may
    /// administer it; with the caller as the decision saw them.
    pub async fn administered(
        store: &Store,
        principal: &Principal,
        id: &ResourceId,
    ) -> Result<(Self, Actor), ResourceError> {
        let loaded = Self::load(store, id).await?;
        let actor = Actor::resolve(store, principal, &[loaded.admin_group()]).await?;
        authorization::administer_resource(&actor, loaded.admin_group())?;
        Ok((loaded, actor))
    }

    /// The group administering the resource (its own, else its app's).
    pub fn admin_group(&self) -> Option<&GroupId> {
        self.resource.value.effective_admin_group(&self.app)
    }

    /// Ticket propagation in force (the resource's own, else its app's).
    pub fn propagation(&self) -> Option<&TicketPropagation> {
        self.resource.value.effective_propagation(&self.app)
    }
}
