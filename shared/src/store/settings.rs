//! The org settings record.

use super::{keys, Store, StoreResult, Versioned, Write};
use crate::domain::Settings;

const KIND: &str = "settings";

impl Store {
    /// The org settings; defaults (version 0) until an admin saves them.
    pub async fn settings(&self) -> StoreResult<Versioned<Settings>> {
        Ok(self
            .get(&keys::settings(), "reading settings")
            .await?
            .unwrap_or(Versioned {
                version: 0,
                value: Settings::default(),
            }))
    }

    /// Saves the settings if they are still at the version read.
    pub async fn save_settings(&self, expected_version: u64, settings: &Settings) -> StoreResult<()> {
        let write = Write::replace(
            &self.table,
            &keys::settings(),
            KIND,
            expected_version,
            settings,
            "settings",
        )?;
        self.write_one(write, "saving settings").await
    }
}
