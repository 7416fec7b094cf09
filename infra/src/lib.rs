//! grantdesk's local stack: everything the product needs to run on one machine with no AWS
//! account. An AWS emulator (moto server) stands in for DynamoDB; an in-process stand-in for
//! API Gateway serves the API on a local port, verifying HS256 dev tokens the way the JWT
//! authorizer verifies real ones; a seed loads a demo organisation.

pub mod bench;
pub mod capacity;
pub mod cost;
pub mod demo;
pub mod dev_token;
pub mod emulator;
pub mod gateway;
pub mod oidc_provider;
pub mod sandbox;
pub mod sandbox_page;
pub mod schedule_firer;
pub mod seed;
pub mod stack;
pub mod stream;

pub use stack::{LocalStack, StackOptions};
