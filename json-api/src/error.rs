//! The API's error type and the one place where failures become HTTP statuses.

use grantdesk::domain::DomainError;
use grantdesk::providers::{ConnectionError, ProviderError};
use grantdesk::store::{Conflict, StoreError};
use grantdesk::usecases::access::AccessError;
use grantdesk::usecases::authorization::Refusal;
use grantdesk::usecases::resource::ResourceError;
use grantdesk::usecases::review::ReviewError;
use grantdesk::usecases::sync::SyncNowError;
use lambda_http::http::StatusCode;
use serde::Serialize;

/// A failed call: the status, a machine-readable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`ticket_link_required`, `not_found`, ...).
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// Headers the answer carries besides the body (`Allow`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

/// The JSON body of every error: `{"error": {"code", "message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The code and message of an error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 405: the path exists, but not with this method; `Allow` lists the methods it serves.
    pub fn method_not_allowed(method: &lambda_http::http::Method, allowed: &[lambda_http::http::Method]) -> Self {
        let allow = allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        let mut err = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not served here; use {allow}"),
        );
        err.headers.push(("allow", allow));
        err
    }

    /// 429: asked too often; `Retry-After` says when to ask again.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u64) -> Self {
        let mut err = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        err.headers
            .push(("retry-after", retry_after_seconds.max(1).to_string()));
        err
    }

    /// 400: the body or a parameter is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no or unusable identity.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such record or route.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the record's state does not allow this.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500: something grantdesk depends on failed (logged where it happened); the caller may
    /// try again.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 422: well-formed, but not allowed.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.clone(),
            },
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        let message = err.to_string();
        match err {
            DomainError::RequestNotPending(_) => Self::conflict("request_not_pending", message),
            DomainError::SelfReview => Self::new(StatusCode::FORBIDDEN, "cannot_review_own_request", message),
            DomainError::NotRequester => Self::forbidden(message),
            DomainError::CommentRequired => Self::bad_request("comment_required", message),
            DomainError::IndefiniteNotAllowed { .. } => Self::unprocessable("duration_required", message),
            DomainError::DurationAboveMaximum { .. } => Self::unprocessable("duration_exceeds_maximum", message),
            DomainError::TicketLinkRequired => Self::unprocessable("ticket_link_required", message),
            DomainError::LinkedTicketClosed(_) => Self::unprocessable("linked_ticket_closed", message),
            DomainError::GrantNotActive(_) => Self::conflict("grant_not_active", message),
            DomainError::NotYetExpired => Self::conflict("grant_not_expired", message),
            DomainError::PropagationNotPending(_) => Self::conflict("propagation_not_pending", message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(Conflict::AccessAlreadyActive { .. }) => Self::conflict(
                "access_already_active",
                "the user already has active access to this resource",
            ),
            StoreError::Conflict(Conflict::Changed(what)) => Self::conflict(
                "conflict",
                format!("the change conflicts with the current state ({what}); read it again and retry"),
            ),
            StoreError::TooLarge(message) => Self::bad_request("too_large", message),
            StoreError::InvalidToken => {
                Self::bad_request("invalid_next_token", "next_token is not a token from this list")
            }
            StoreError::Dynamo { .. } => {
                // Details go to the log, not to the caller.
                tracing::error!(error = %err, "store failure");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; try again",
                )
            }
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let message = refusal.to_string();
        match refusal {
            Refusal::OwnRequest => Self::new(StatusCode::FORBIDDEN, "cannot_review_own_request", message),
            Refusal::GrantSelf => Self::new(StatusCode::FORBIDDEN, "cannot_grant_self", message),
            _ => Self::forbidden(message),
        }
    }
}

impl From<ResourceError> for ApiError {
    fn from(err: ResourceError) -> Self {
        match err {
            ResourceError::NotFound(_) | ResourceError::AppNotFound(_) => Self::not_found(err.to_string()),
            ResourceError::Refused(refusal) => refusal.into(),
            ResourceError::Store(err) => err.into(),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(err: AccessError) -> Self {
        match err {
            AccessError::UserNotFound(_) | AccessError::NoAccess(_) | AccessError::ChangeMissing => {
                Self::not_found(err.to_string())
            }
            AccessError::Resource(err) => err.into(),
            AccessError::Refused(refusal) => refusal.into(),
            AccessError::Domain(err) => err.into(),
            AccessError::Store(err) => err.into(),
        }
    }
}

impl From<SyncNowError> for ApiError {
    fn from(err: SyncNowError) -> Self {
        match err {
            SyncNowError::TooSoon { retry_after } => Self::too_many_requests(err.to_string(), retry_after),
            SyncNowError::NotQueued(err) => {
                tracing::error!(error = %err, "requesting a sync");
                Self::internal("the sync could not be requested; try again")
            }
            SyncNowError::Resource(err) => err.into(),
            SyncNowError::Store(err) => err.into(),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> Self {
        match err {
            ReviewError::RequestNotFound(_) | ReviewError::ResourceNotFound(_) => Self::not_found(err.to_string()),
            ReviewError::Refused(refusal) => refusal.into(),
            ReviewError::Domain(err) => err.into(),
            ReviewError::Store(err) => err.into(),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> Self {
        tracing::warn!(error = %err, "provider call failed");
        Self::new(StatusCode::BAD_GATEWAY, "provider_failed", err.public_message())
    }
}

impl From<grantdesk::slack::SlackError> for ApiError {
    fn from(err: grantdesk::slack::SlackError) -> Self {
        use grantdesk::slack::SlackError;
        tracing::warn!(error = %err, "Slack call failed");
        match err {
            SlackError::RateLimited { retry_after, .. } => {
                Self::too_many_requests("Slack is rate limiting grantdesk; try again shortly", retry_after)
            }
            other => Self::new(StatusCode::BAD_GATEWAY, "provider_failed", other.to_string()),
        }
    }
}

impl From<ConnectionError> for ApiError {
    fn from(err: ConnectionError) -> Self {
        match err {
            ConnectionError::NotConnected(provider) => Self::unprocessable(
                "integration_not_connected",
                format!("no {provider} integration is connected; an org admin connects it with PUT /integrations/{provider}"),
            ),
            ConnectionError::Store(err) => err.into(),
            ConnectionError::Secret(err) => {
                tracing::error!(error = %err, "secret store failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; try again")
            }
        }
    }
}

/// Result of a route.
pub type ApiResult<T> = Result<T, ApiError>;
