//! One module per area of the contract. Each route is a plain async function taking the
//! [`Api`](crate::Api), the resolved caller and its parsed inputs.

pub mod access;
pub mod catalog;
pub mod directory;
pub mod integrations;
pub mod requests;
pub mod settings;
pub mod slack;
pub mod tickets;

use crate::error::{ApiError, ApiResult};
use grantdesk::store::Page;
use serde::{Deserialize, Deserializer, Serialize};

/// A page of a list: `{"items": [...], "next_token": ...}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct List<T> {
    /// The records on this page.
    pub items: Vec<T>,
    /// Pass as `?next_token=` for the next page; `null` on the last.
    pub next_token: Option<String>,
}

impl<T> List<T> {
    /// A page of views built from a page of records.
    pub fn from_page<R>(page: Page<R>, view: impl FnMut(R) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(view).collect(),
            next_token: page.next_token,
        }
    }
}

/// Parses an id from a path or body; text that cannot be an id is simply not found.
pub(crate) fn parse_id<T>(kind: &str, text: &str, parse: fn(&str) -> Option<T>) -> ApiResult<T> {
    parse(text).ok_or_else(|| ApiError::not_found(format!("{kind} {text:?} not found")))
}

/// For PATCH bodies: tells a field that is absent (`None`) from one set to null (`Some(None)`).
pub(crate) fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Checks a display name, as a 400 when it is blank or too long.
pub(crate) fn name(field: &str, text: &str) -> ApiResult<String> {
    grantdesk::domain::directory::parse_name(field, text).map_err(|m| ApiError::bad_request("invalid_body", m))
}
