//! Opaque, server-generated identifiers. Each kind of record has its own type so an app id
//! can never be passed where a resource id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest id accepted from a caller; anything longer cannot be one of ours.
const MAX_ID_LEN: usize = 64;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// Accepts an id supplied by a caller (a path segment or a body field).
            ///
            /// Only the shape is checked (length and characters); whether the record exists is
            /// the store's question. `None` means the text cannot be an id of ours.
            pub fn parse(text: &str) -> Option<Self> {
                let ok = !text.is_empty()
                    && text.len() <= MAX_ID_LEN
                    && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                ok.then(|| Self(text.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

define_id!(/// A directory user.
    UserId, "usr");
define_id!(/// A group of users (admins of an app or resource, reviewers).
    GroupId, "grp");
define_id!(/// An app: a system that holds resources.
    AppId, "app");
define_id!(/// A resource people request access to.
    ResourceId, "res");
define_id!(/// An access request.
    RequestId, "req");
define_id!(/// A grant: one period of a user's access to a resource.
    GrantId, "gnt");
define_id!(/// An access change: a user added to or removed from a resource.
    ChangeId, "chg");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_are_unique() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert!(a.as_str().starts_with("req_"));
        assert_ne!(a, b);
        assert_eq!(RequestId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn parsing_rejects_text_that_cannot_be_an_id() {
        assert!(UserId::parse("").is_none());
        assert!(UserId::parse("usr_../../etc").is_none());
        assert!(UserId::parse("usr x").is_none());
        assert!(UserId::parse(&"a".repeat(65)).is_none());
        assert!(UserId::parse("usr_0190abc-DEF").is_some());
    }
}
