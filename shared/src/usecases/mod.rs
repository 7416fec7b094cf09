//! What every front door (the JSON API today; the console and Slack buttons next) calls to act:
//! each use case loads what it needs, asks [`authorization`] whether the caller may, applies the
//! pure domain transition, persists it conditionally and schedules what follows. Front doors
//! only parse input, call a use case and render its answer or error.

pub mod authorization;
pub mod outbox;
pub mod review;
