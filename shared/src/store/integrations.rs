//! Connected providers.

use super::{keys, Store, StoreError, StoreResult, Versioned, Write};
use crate::domain::{Integration, TicketProviderKind};
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

const KIND: &str = "integration";

impl Store {
    /// A provider's integration, if connected.
    pub async fn integration(&self, provider: TicketProviderKind) -> StoreResult<Option<Versioned<Integration>>> {
        self.get(&keys::integration(provider), "reading integration").await
    }

    /// Every connected provider.
    pub async fn integrations(&self) -> StoreResult<Vec<Integration>> {
        let all = self
            .query_all::<Integration>(Some("gsi1"), "INTEGRATIONS", None, 10, "listing integrations")
            .await?;
        Ok(all.into_iter().map(|v| v.value).collect())
    }

    /// Saves an integration read at `expected_version` (0: not connected before).
    pub async fn save_integration(&self, expected_version: u64, integration: &Integration) -> StoreResult<()> {
        let keys = keys::integration(integration.provider);
        let write = Write::replace(&self.table, &keys, KIND, expected_version, integration, "integration")?;
        self.write_one(write, "saving integration").await
    }

    /// Disconnects a provider; [`StoreError::Conflict`] if it was not connected.
    pub async fn delete_integration(&self, provider: TicketProviderKind) -> StoreResult<()> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::integration(provider))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::dynamo("building delete", e))?;
        let write = Write::raw(
            TransactWriteItem::builder().delete(delete).build(),
            super::Conflict::Changed(format!("{provider} is not connected")),
        );
        self.transact(vec![write], "deleting integration").await
    }
}
