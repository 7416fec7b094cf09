//! grantdesk's shared library: the access-request domain (pure), its DynamoDB store,
//! configuration, provider clients and telemetry. Every Lambda function and the local runner link this crate.

pub mod clients;
pub mod config;
pub mod domain;
pub mod events;
pub mod metrics;
pub mod providers;
pub mod schedules;
pub mod secrets;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod usecases;
