//! What every front door (the JSON API, the console, Slack's buttons) and every worker (the
//! ticket filer, status sync, webhook intake, access expiry) calls to act: each use case loads
//! what it needs, asks [`authorization`] whether the caller may, applies the pure domain
//! transition, persists it conditionally and schedules what follows. Front doors only parse
//! input, call a use case and render its answer or error.

pub mod access;
pub mod authorization;
pub mod expiry;
pub mod outbox;
pub mod resource;
pub mod review;
pub mod sync;
