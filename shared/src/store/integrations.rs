//! Connected providers.

use super::{keys, Store, StoreError, StoreResult, Versioned, Write};
use crate::domain::{Integration, RequestId, SlackConnection, TicketProviderKind};
use crate::slack::PostedMessage;
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

    /// The connected Slack workspace, if any.
    pub async fn slack_connection(&self) -> StoreResult<Option<Versioned<SlackConnection>>> {
        self.get(&keys::slack_connection(), "reading the Slack connection")
            .await
    }

    /// Saves the Slack connection read at `expected_version` (0: not connected before).
    pub async fn save_slack_connection(&self, expected_version: u64, connection: &SlackConnection) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::slack_connection(),
            "slack_connection",
            expected_version,
            connection,
            "Slack connection",
        )?;
        self.write_one(write, "saving the Slack connection").await
    }

    /// Disconnects Slack; [`StoreError::Conflict`] if it was not connected.
    pub async fn delete_slack_connection(&self) -> StoreResult<()> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(super::key_of(&keys::slack_connection())))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::dynamo("building delete", e))?;
        let write = Write::raw(
            TransactWriteItem::builder().delete(delete).build(),
            super::Conflict::Changed("slack is not connected".into()),
        );
        self.transact(vec![write], "deleting the Slack connection").await
    }

    /// The Slack messages that asked `request`'s reviewers.
    pub async fn slack_messages(&self, request: &RequestId) -> StoreResult<Vec<PostedMessage>> {
        #[derive(serde::Deserialize)]
        struct Stored {
            messages: Vec<PostedMessage>,
        }
        Ok(self
            .get::<Stored>(&keys::slack_messages(request), "reading Slack messages")
            .await?
            .map(|s| s.value.messages)
            .unwrap_or_default())
    }

    /// Records the Slack messages that asked `request`'s reviewers (once: a redelivered
    /// notification that finds them recorded keeps the first set).
    pub async fn save_slack_messages(&self, request: &RequestId, messages: &[PostedMessage]) -> StoreResult<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let data = serde_json::json!({ "messages": messages });
        let write = Write::create(
            &self.table,
            &keys::slack_messages(request),
            "slack_messages",
            &data,
            "Slack messages",
        )?;
        match self.write_one(write, "saving Slack messages").await {
            Err(StoreError::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}
