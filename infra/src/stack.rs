//! The local stack, assembled: a table in DynamoDB Local and the API behind the local gateway.
//! `make dev` and the end-to-end tests start it the same way.

use crate::capacity::CapacityMeter;
use crate::dev_token::DevTokenSecret;
use crate::emulator::Endpoints;
use crate::gateway::{Authorizer, Gateway};
use crate::oidc_provider::SandboxOidc;
use crate::schedule_firer::{self, AsyncFailures};
use crate::stream;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use grantdesk::clients::Clients;
use grantdesk::config::{ApiConfig, Config, FilerConfig};
use grantdesk::events::{BusEvent, EventBus};
use grantdesk::metrics::Metrics;
use grantdesk::schedules::ExpirySchedules;
use grantdesk::store::{table, Store};
use grantdesk::telemetry::CallCounter;
use grantdesk::usecases::outbox::TicketFiler;
use grantdesk::usecases::sync::{StatusSync, DEFAULT_BUDGET};
use grantdesk_access_expiry::AccessExpiry;
use grantdesk_console::oidc::{Oidc, OidcSettings};
use grantdesk_console::session::SessionKey;
use grantdesk_console::Console;
use grantdesk_json_api::Api;
use grantdesk_webhook_intake::WebhookIntake;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How to start the stack.
#[derive(Clone, Debug)]
pub struct StackOptions {
    /// The emulators' endpoints.
    pub endpoints: Endpoints,
    /// The table to create and use.
    pub table: String,
    /// Loopback port for the API (0 picks a free one).
    pub port: u16,
    /// Org admins by e-mail (comma-separated, as `GRANTDESK_BOOTSTRAP_ADMINS`).
    pub bootstrap_admins: String,
    /// What dev tokens are signed with.
    pub secret: DevTokenSecret,
    /// Feed the table's stream to the ticket filer (off only for tests that drive the filer
    /// by hand).
    pub poll_stream: bool,
    /// Run status sync on this schedule (the template's `rate(...)`); `None` runs it only when
    /// a resource's sync is requested or a test calls it.
    pub sync_every: Option<std::time::Duration>,
    /// Sign in to the console with this OpenID provider instead of the sandbox one.
    pub oidc: Option<ExternalOidc>,
}

/// An OpenID provider of the person's own (`GRANTDESK_OIDC_ISSUER`, `GRANTDESK_OIDC_CLIENT_ID`,
/// `GRANTDESK_OIDC_CLIENT_SECRET`); its redirect URI for the console is
/// `<api>/console/auth/callback`.
#[derive(Clone)]
pub struct ExternalOidc {
    /// The issuer.
    pub issuer: String,
    /// The console's client id there.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for ExternalOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalOidc")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The people the sandbox OpenID provider lists: the demo's.
fn sandbox_people() -> Vec<(String, String)> {
    [
        (crate::seed::ADMIN_EMAIL, "Alice Admin"),
        (crate::seed::REVIEWER_EMAIL, "Riley Reviewer"),
        (crate::seed::JOSH_EMAIL, "Josh"),
    ]
    .into_iter()
    .map(|(e, n)| (e.to_owned(), n.to_owned()))
    .collect()
}

/// A running stack. Dropping it stops the API server.
pub struct LocalStack {
    /// The API's base URL (`http://127.0.0.1:<port>`).
    pub api_url: String,
    /// The store the API uses, for seeding and for tests that look behind the API.
    pub store: Store,
    /// The emulators' endpoints.
    pub endpoints: Endpoints,
    /// The table's name; also the prefix (with `/`) of the stack's secret names.
    pub table: String,
    /// The ticket filer the stream feeds, for tests that call it directly.
    pub filer: TicketFiler,
    /// Status sync, for tests that run it directly.
    pub sync: StatusSync,
    /// Stream records handed to the ticket filer so far (each at most one invocation in AWS).
    pub filer_records: Arc<AtomicU64>,
    /// The ticket filer's metric lines (CloudWatch EMF), kept for inspection.
    pub filer_metrics: Metrics,
    /// Status sync's metric lines (CloudWatch EMF), kept for inspection.
    pub sync_metrics: Metrics,
    /// Counts every DynamoDB call the stack's functions make, by operation.
    pub dynamodb_calls: CallCounter,
    /// Adds up the request units those calls consume (as DynamoDB Local reports them).
    pub dynamodb_units: CapacityMeter,
    /// access-expiry invocations that failed every attempt (the template's AsyncFailureQueue).
    pub async_failures: AsyncFailures,
    /// Access expiry, for tests that fire it directly.
    pub expiry: AccessExpiry,
    /// Every event put on the bus, in order (the local bus keeps them for inspection).
    pub published: Arc<Mutex<Vec<BusEvent>>>,
    /// The bus the functions put events on, for tests that call the use cases directly.
    pub events: EventBus,
    /// The grant expiry schedules, for tests that call the use cases directly.
    pub schedules: ExpirySchedules,
    /// The console's OpenID issuer (the sandbox provider's, `<api>/oidc`, unless another was given).
    pub issuer: String,
    /// The sandbox OpenID provider, unless another was given.
    pub sandbox_oidc: Option<Arc<SandboxOidc>>,
    /// The key the console signs its cookies with (made at start-up), for tests of sessions.
    pub session_key: SessionKey,
    failed: tokio::sync::watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A DynamoDB client for DynamoDB Local at `endpoint`, with throwaway credentials.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    metered_dynamodb_client(endpoint, &CallCounter::new(), &CapacityMeter::new())
}

/// A DynamoDB client whose calls `counter` counts and whose request units `meter` adds up.
pub fn metered_dynamodb_client(
    endpoint: &str,
    counter: &CallCounter,
    meter: &CapacityMeter,
) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "grantdesk-local"))
        .interceptor(counter.clone())
        .interceptor(meter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// An EventBridge Scheduler client for the emulator at `endpoint`.
pub fn scheduler_client(endpoint: &str) -> aws_sdk_scheduler::Client {
    let config = aws_sdk_scheduler::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "grantdesk-local"))
        .build();
    aws_sdk_scheduler::Client::from_conf(config)
}

/// A DynamoDB Streams client for DynamoDB Local at `endpoint`.
pub fn dynamodbstreams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "grantdesk-local"))
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// An EventBridge client for the emulator at `endpoint`.
pub fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "grantdesk-local"))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// A Secrets Manager client for the emulator at `endpoint`.
pub fn secretsmanager_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "grantdesk-local"))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

impl LocalStack {
    /// Creates the table and starts serving the API.
    pub async fn start(options: StackOptions) -> Result<Self, String> {
        let dynamodb_calls = CallCounter::new();
        let dynamodb_units = CapacityMeter::new();
        let client = metered_dynamodb_client(&options.endpoints.dynamodb, &dynamodb_calls, &dynamodb_units);
        table::create_table(&client, &options.table).await?;
        let scheduler = scheduler_client(&options.endpoints.aws);
        let group = format!("{}-expiry", options.table);
        // The emulator refuses schedules in a missing group; AWS gets it from the template.
        scheduler
            .create_schedule_group()
            .name(&group)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "creating schedule group: {}",
                    aws_sdk_scheduler::error::DisplayErrorContext(e)
                )
            })?;
        let expiry_target = "arn:aws:lambda:us-east-1:000000000000:function:grantdesk-access-expiry";
        let scheduler_role = "arn:aws:iam::000000000000:role/grantdesk-scheduler";
        let config = ApiConfig::from_lookup(|name| match name {
            "GRANTDESK_TABLE" => Some(options.table.clone()),
            "GRANTDESK_BOOTSTRAP_ADMINS" => Some(options.bootstrap_admins.clone()),
            "GRANTDESK_SCHEDULE_GROUP" => Some(group.clone()),
            "GRANTDESK_EXPIRY_TARGET_ARN" => Some(expiry_target.into()),
            "GRANTDESK_SCHEDULER_ROLE_ARN" => Some(scheduler_role.into()),
            // The sandbox providers answer on loopback http://.
            "GRANTDESK_ALLOW_LOOPBACK_HTTP" => Some("true".into()),
            _ => None,
        })
        .map_err(|e| e.to_string())?;
        // The functions' own builder, over clients for DynamoDB Local and the emulators.
        let clients = Clients {
            dynamodb: client,
            secretsmanager: secretsmanager_client(&options.endpoints.aws),
            scheduler: scheduler.clone(),
            // The stack's bus is in-process (below): this client is never called.
            eventbridge: eventbridge_client(&options.endpoints.aws),
        };
        let store = clients.store(&options.table);
        // Each stack gets its own secret names, so stacks sharing one emulator stay apart.
        let secret_prefix = format!("{}/", options.table);
        // One process runs every function locally; the API's budget, the tightest but intake's.
        let connections = clients.connections(&store, &secret_prefix, grantdesk_json_api::PROVIDER_CALL_BUDGET);
        let schedules = clients.schedules(&config.expiry);
        let expiry = AccessExpiry::new(store.clone());
        let (bus, mut bus_events) = tokio::sync::mpsc::unbounded_channel();
        let events = EventBus::InProcess(bus);
        let api = Api::new(
            store.clone(),
            connections.clone(),
            events.clone(),
            schedules.clone(),
            config,
        );
        let intake = WebhookIntake::new(store.clone(), connections.clone());
        let listener = TcpListener::bind(("127.0.0.1", options.port))
            .await
            .map_err(|e| format!("listening on 127.0.0.1:{}: {e}", options.port))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let api_url = format!("http://127.0.0.1:{port}");
        let callback = format!("{api_url}/console/auth/callback");
        let (settings, sandbox_oidc) = match &options.oidc {
            Some(external) => (
                OidcSettings {
                    issuer: external.issuer.clone(),
                    client_id: external.client_id.clone(),
                    client_secret: external.client_secret.clone(),
                    redirect_uri: callback,
                },
                None,
            ),
            None => {
                let issuer = format!("{api_url}/oidc");
                let client_secret = grantdesk_console::session::random_token(24);
                let sandbox = SandboxOidc::new(&issuer, &client_secret, &callback, sandbox_people());
                let settings = OidcSettings {
                    issuer,
                    client_id: crate::oidc_provider::CLIENT_ID.into(),
                    client_secret,
                    redirect_uri: callback,
                };
                (settings, Some(Arc::new(sandbox)))
            }
        };
        let issuer = settings.issuer.clone();
        let oidc = Oidc::new(settings);
        let session_key = SessionKey::new(&grantdesk_console::session::random_token(32))?;
        let console = Console::new(api.clone(), store.clone(), oidc.clone(), session_key.clone(), &api_url);
        let authorizer = Authorizer {
            secret: options.secret,
            dev_issuer: format!("{api_url}/oidc"),
            oidc,
        };
        let gateway = Gateway::new(api, intake, console, sandbox_oidc.clone(), authorizer);
        let server = tokio::spawn(gateway.serve(listener));
        let filer = TicketFiler::new(
            store.clone(),
            connections.clone(),
            events.clone(),
            FilerConfig {
                table_name: options.table.clone(),
                secret_prefix,
                app_url: api_url.clone(),
                event_bus: "local".into(),
            },
        )
        .with_metrics(Metrics::kept("ticket-filer"));
        let sync = StatusSync::new(store.clone(), connections, filer.clone(), DEFAULT_BUDGET)
            .with_metrics(Metrics::kept("status-sync"));
        // The template's rule: SyncRequested events from grantdesk go to status sync.
        let published: Arc<Mutex<Vec<BusEvent>>> = Arc::default();
        let dispatcher = {
            let sync = sync.clone();
            let published = published.clone();
            tokio::spawn(async move {
                while let Some(event) = bus_events.recv().await {
                    published.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
                    if event.detail_type == grantdesk::events::SYNC_REQUESTED {
                        if let Err(err) = sync.handle(&event.detail_type, &event.detail).await {
                            tracing::error!(error = %err, "status sync failed");
                        }
                    }
                }
            })
        };
        let async_failures = AsyncFailures::default();
        let firer = tokio::spawn(schedule_firer::run(
            scheduler,
            group,
            expiry.clone(),
            async_failures.clone(),
        ));
        let mut tasks = vec![server, dispatcher, firer];
        if let Some(every) = options.sync_every {
            let sync = sync.clone();
            tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    if let Err(err) = sync.sync_all().await {
                        tracing::error!(error = %err, "scheduled status sync failed");
                    }
                }
            }));
        }
        let (fail, failed) = tokio::sync::watch::channel(None);
        let filer_records = Arc::new(AtomicU64::new(0));
        if options.poll_stream {
            let poll = stream::run(
                dynamodbstreams_client(&options.endpoints.dynamodb),
                dynamodb_client(&options.endpoints.dynamodb),
                options.table.clone(),
                filer.clone(),
                filer_records.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let fatal = poll.await;
                tracing::error!(error = %fatal, "the stream poller stopped");
                let _ = fail.send(Some(fatal));
            }));
        }
        Ok(Self {
            api_url,
            store,
            endpoints: options.endpoints,
            table: options.table,
            filer_metrics: filer.metrics().clone(),
            sync_metrics: sync.metrics().clone(),
            filer,
            sync,
            dynamodb_calls,
            dynamodb_units,
            filer_records,
            async_failures,
            expiry,
            published,
            events,
            schedules,
            issuer,
            sandbox_oidc,
            session_key,
            failed,
            tasks,
        })
    }

    /// Waits until a part of the stack fails for good (today: the stream poller meeting a record
    /// it can never read) and says what failed.
    pub async fn failure(&self) -> String {
        let mut failed = self.failed.clone();
        let message = match failed.wait_for(Option::is_some).await {
            Ok(message) => message.clone().unwrap_or_default(),
            Err(_) => "the local stack stopped".to_owned(),
        };
        message
    }
}
