//! Why a domain transition was refused.

use super::access_change::PropagationStatus;
use super::grant::GrantStatus;
use super::request::RequestStatus;
use thiserror::Error;

/// A transition the domain refuses. Each variant is a rule of the product, not a fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// Approving, denying or canceling a request that was already decided.
    #[error("the request is already {0} and cannot change")]
    RequestNotPending(RequestStatus),
    /// A requester reviewing their own request.
    #[error("a requester cannot review their own request")]
    SelfReview,
    /// Someone other than the requester canceling a request.
    #[error("only the requester can cancel a request")]
    NotRequester,
    /// Denying without saying why.
    #[error("a comment is required to deny a request")]
    CommentRequired,
    /// An indefinite duration on a resource with a maximum.
    #[error("this resource allows at most {max} minutes of access; indefinite access is not allowed")]
    IndefiniteNotAllowed {
        /// The resource's maximum, in minutes.
        max: u32,
    },
    /// A duration above the resource's maximum.
    #[error("{requested} minutes is above this resource's maximum of {max} minutes")]
    DurationAboveMaximum {
        /// What was asked for, in minutes.
        requested: u32,
        /// The resource's maximum, in minutes.
        max: u32,
    },
    /// No linked ticket where the org or the resource requires one.
    #[error("this resource requires a linked ticket")]
    TicketLinkRequired,
    /// A linked ticket that is already done or canceled.
    #[error("linked ticket {0} is closed")]
    LinkedTicketClosed(String),
    /// Revoking or expiring a grant that already ended.
    #[error("the grant is already {0}")]
    GrantNotActive(GrantStatus),
    /// Expiring a grant before its end time (or one without an end time).
    #[error("the grant has not reached its end time")]
    NotYetExpired,
    /// Recording ticket progress on a change that is not waiting for it.
    #[error("the access change is {0}, which does not take this step")]
    PropagationNotPending(PropagationStatus),
}
