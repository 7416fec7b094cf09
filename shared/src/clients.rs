//! Building what a function talks to, once per process: the table, the secrets, the ticket
//! providers, the event bus and the expiry schedules. Every function's `main.rs` and the local
//! stack build them here; only the AWS clients underneath differ (the local stack's point at
//! DynamoDB Local and the emulators, and count their calls).

use crate::config::ScheduleConfig;
use crate::events::EventBus;
use crate::providers::{Connections, HttpPolicy, ProviderHttp};
use crate::schedules::ExpirySchedules;
use crate::secrets::SecretStore;
use crate::store::Store;
use std::time::Duration;

/// The AWS clients a process builds its parts from.
#[derive(Clone, Debug)]
pub struct Clients {
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Secrets Manager.
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    /// EventBridge Scheduler.
    pub scheduler: aws_sdk_scheduler::Client,
    /// EventBridge.
    pub eventbridge: aws_sdk_eventbridge::Client,
}

impl Clients {
    /// Clients for the account and region of the Lambda's environment.
    pub async fn from_env() -> Self {
        Self::from_sdk(&aws_config::load_from_env().await)
    }

    /// Clients sharing one SDK configuration.
    pub fn from_sdk(aws: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(aws),
            secretsmanager: aws_sdk_secretsmanager::Client::new(aws),
            scheduler: aws_sdk_scheduler::Client::new(aws),
            eventbridge: aws_sdk_eventbridge::Client::new(aws),
        }
    }

    /// The table `table`.
    pub fn store(&self, table: &str) -> Store {
        Store::new(self.dynamodb.clone(), table)
    }

    /// The secrets named under `prefix`.
    pub fn secrets(&self, prefix: &str) -> SecretStore {
        SecretStore::new(self.secretsmanager.clone(), prefix)
    }

    /// The connected ticket providers, as recorded in `store` with their secrets under
    /// `secret_prefix`; each provider call, retries included, takes at most `budget`.
    pub fn connections(&self, store: &Store, secret_prefix: &str, budget: Duration) -> Connections {
        Connections::new(
            store.clone(),
            self.secrets(secret_prefix),
            ProviderHttp::new(HttpPolicy::within(budget)),
        )
    }

    /// The EventBridge bus `bus_name`.
    pub fn events(&self, bus_name: &str) -> EventBus {
        EventBus::EventBridge {
            client: self.eventbridge.clone(),
            bus_name: bus_name.to_owned(),
        }
    }

    /// Grant expiry schedules, as `config` places them.
    pub fn schedules(&self, config: &ScheduleConfig) -> ExpirySchedules {
        ExpirySchedules::new(
            self.scheduler.clone(),
            config.group.clone(),
            config.target_arn.clone(),
            config.role_arn.clone(),
            config.dead_letter_arn.clone(),
        )
    }
}
