//! Every answer the intake gives, in one place: what each outcome and each failure looks like
//! to the provider (which delivers again after an error, never after a success).

use grantdesk::secrets::SecretError;
use grantdesk::store::StoreError;
use grantdesk::usecases::sync::{Delivered, DeliveryError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

/// Why a delivery was not taken.
#[derive(Debug)]
pub(crate) enum IntakeError {
    /// The path names no provider.
    UnknownProvider,
    /// Over [`crate::MAX_BODY_BYTES`].
    TooLarge,
    /// Unsigned, wrongly signed, stale, or for a provider that is not connected: one answer
    /// for all, so a stranger learns nothing about which providers exist.
    Refused,
    /// The secret could not be read.
    Secret(SecretError),
    /// The delivery could not be claimed.
    Store(StoreError),
    /// The delivery's ticket could not be applied.
    Delivery(DeliveryError),
}

impl IntakeError {
    /// The answer, with the failure logged (its details are not the provider's to see).
    pub(crate) fn response(self) -> Response<Body> {
        match self {
            Self::UnknownProvider => answer(
                StatusCode::NOT_FOUND,
                "not_found",
                "webhooks are posted to /webhooks/{jira|linear|servicenow}",
            ),
            Self::TooLarge => answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "deliveries are at most 1 MiB",
            ),
            Self::Refused => answer(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "the delivery's signature or timestamp could not be verified",
            ),
            Self::Delivery(DeliveryError::NotConnected(_)) => {
                answer(StatusCode::NOT_FOUND, "not_connected", "not connected")
            }
            Self::Delivery(DeliveryError::Provider(err)) => {
                tracing::error!(error = %err, "re-reading the ticket");
                answer(
                    StatusCode::BAD_GATEWAY,
                    "provider_failed",
                    "the ticket could not be read; deliver again",
                )
            }
            Self::Secret(err) | Self::Delivery(DeliveryError::Secret(err)) => internal(&err, "reading a secret"),
            Self::Store(err) | Self::Delivery(DeliveryError::Store(err)) => {
                internal(&err, "reading or writing the table")
            }
        }
    }
}

fn internal(err: &dyn std::fmt::Display, doing: &str) -> Response<Body> {
    tracing::error!(error = %err, doing, "webhook failed");
    answer(StatusCode::INTERNAL_SERVER_ERROR, "internal", "try again")
}

/// What a delivery that was taken led to.
pub(crate) fn delivered(outcome: Delivered) -> Response<Body> {
    match outcome {
        Delivered::NoTicket => answer(StatusCode::OK, "ignored", "the delivery names no ticket"),
        Delivered::Untracked => answer(StatusCode::OK, "ignored", "grantdesk does not track this ticket"),
        Delivered::Gone => answer(StatusCode::OK, "ignored", "the provider no longer shows this ticket"),
        Delivered::Applied => answer(StatusCode::OK, "applied", "the ticket's state was applied"),
        Delivered::Deferred => answer(
            StatusCode::ACCEPTED,
            "deferred",
            "the ticket could not be read in time; the scheduled sync applies it",
        ),
    }
}

/// A delivery seen before: acknowledged, not done again.
pub(crate) fn duplicate() -> Response<Body> {
    answer(StatusCode::OK, "duplicate", "this delivery was handled before")
}

fn answer(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = if status.is_success() {
        json!({"status": code, "message": message})
    } else {
        json!({"error": {"code": code, "message": message}})
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}
