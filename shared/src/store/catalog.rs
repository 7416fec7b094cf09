//! Apps and resources.

use super::{keys, Page, PageRequest, Store, StoreResult, Versioned, Write};
use crate::domain::{App, AppId, Resource, ResourceId};

const APP: &str = "app";
const RESOURCE: &str = "resource";

impl Store {
    /// Adds an app.
    pub async fn create_app(&self, app: &App) -> StoreResult<()> {
        self.write_one(
            Write::create(&self.table, &keys::app(&app.id), APP, app, "app")?,
            "creating app",
        )
        .await
    }

    /// An app and the version it was read at.
    pub async fn app(&self, id: &AppId) -> StoreResult<Option<Versioned<App>>> {
        self.get(&keys::app(id), "reading app").await
    }

    /// Saves an app read at `expected_version`.
    pub async fn update_app(&self, expected_version: u64, app: &App) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::app(&app.id),
            APP,
            expected_version.max(1),
            app,
            "app",
        )?;
        self.write_one(write, "updating app").await
    }

    /// Every app, in creation order.
    pub async fn list_apps(&self, page: &PageRequest) -> StoreResult<Page<App>> {
        let got = self
            .query::<App>(Some("gsi1"), "APPS", None, true, page, "listing apps")
            .await?;
        Ok(Page {
            items: got.items.into_iter().map(|v| v.value).collect(),
            next_token: got.next_token,
        })
    }

    /// Adds a resource.
    pub async fn create_resource(&self, resource: &Resource) -> StoreResult<()> {
        let write = Write::create(
            &self.table,
            &keys::resource(&resource.id),
            RESOURCE,
            resource,
            "resource",
        )?;
        self.write_one(write, "creating resource").await?;
        self.facts().remember_app(&resource.id, &resource.app_id);
        Ok(())
    }

    /// A resource and the version it was read at.
    pub async fn resource(&self, id: &ResourceId) -> StoreResult<Option<Versioned<Resource>>> {
        let found = self.get::<Resource>(&keys::resource(id), "reading resource").await?;
        if let Some(resource) = &found {
            self.facts().remember_app(id, &resource.value.app_id);
        }
        Ok(found)
    }

    /// Saves a resource read at `expected_version`.
    pub async fn update_resource(&self, expected_version: u64, resource: &Resource) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::resource(&resource.id),
            RESOURCE,
            expected_version.max(1),
            resource,
            "resource",
        )?;
        self.write_one(write, "updating resource").await
    }

    /// A resource with its app (both must exist), as read for a decision about the resource.
    pub async fn resource_and_app(&self, id: &ResourceId) -> StoreResult<Option<(Versioned<Resource>, App)>> {
        // Once the process knows the resource's app, both are read together.
        let store = match self.facts().app_of(id) {
            Some(app) => self.prefetch_missing(&[keys::resource(id), keys::app(&app)]).await?,
            None => self.clone(),
        };
        let Some(resource) = store.resource(id).await? else {
            return Ok(None);
        };
        Ok(store
            .app(&resource.value.app_id)
            .await?
            .map(|app| (resource, app.value)))
    }

    /// The ticket propagation in force for a resource (its own, else its app's), if any.
    pub async fn effective_propagation(
        &self,
        id: &ResourceId,
    ) -> StoreResult<Option<crate::domain::TicketPropagation>> {
        Ok(self
            .resource_and_app(id)
            .await?
            .and_then(|(resource, app)| resource.value.effective_propagation(&app).cloned()))
    }

    /// Every resource, in creation order.
    pub async fn list_resources(&self, page: &PageRequest) -> StoreResult<Page<Resource>> {
        let got = self
            .query::<Resource>(Some("gsi1"), "RESOURCES", None, true, page, "listing resources")
            .await?;
        Ok(Page {
            items: got.items.into_iter().map(|v| v.value).collect(),
            next_token: got.next_token,
        })
    }

    /// The projects `provider` files tickets in: every app's and resource's propagation
    /// target there (at most `cap` of each are read) and the audit target.
    pub async fn configured_projects(
        &self,
        provider: crate::domain::TicketProviderKind,
        cap: usize,
    ) -> StoreResult<std::collections::BTreeSet<String>> {
        let mut projects = std::collections::BTreeSet::new();
        let settings = self.settings().await?.value;
        if settings.audit_tickets.provider == Some(provider) {
            projects.extend(settings.audit_tickets.project);
        }
        let apps = self
            .query_all::<App>(Some("gsi1"), "APPS", None, cap, "listing apps")
            .await?;
        let resources = self
            .query_all::<Resource>(Some("gsi1"), "RESOURCES", None, cap, "listing resources")
            .await?;
        let targets = apps
            .iter()
            .filter_map(|a| a.value.ticket_propagation.as_ref())
            .chain(resources.iter().filter_map(|r| r.value.ticket_propagation.as_ref()));
        projects.extend(targets.filter(|t| t.provider == provider).map(|t| t.project.clone()));
        Ok(projects)
    }
}
