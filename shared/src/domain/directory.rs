//! The directory: users and groups.

use super::ids::{GroupId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An e-mail address, trimmed and lower-cased so that lookups are case-insensitive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, format = "email")]
pub struct Email(String);

impl Email {
    /// Parses an address: one `@`, a non-empty local part, a domain with a dot, no spaces.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_lowercase();
        let valid = text.len() <= 254
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
            && match text.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(text))
        } else {
            Err(format!("'{text}' is not a valid e-mail address"))
        }
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person in the directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// The user's id.
    pub id: UserId,
    /// The user's e-mail address; unique in the directory.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Org admins may do everything, on every resource.
    pub is_admin: bool,
    /// When the user was added.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The identity-provider account this user is bound to: set by the first token accepted
    /// for the user, cleared only by an org admin. Absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityBinding>,
}

/// An identity-provider account: the token's `iss` (empty when the token has none) and `sub`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IdentityBinding {
    /// The issuer (`iss`); empty for tokens without one.
    pub issuer: String,
    /// The subject (`sub`).
    pub subject: String,
}

/// A named set of users, used as an app's or resource's admins or a resource's reviewers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Group {
    /// The group's id.
    pub id: GroupId,
    /// Display name.
    pub name: String,
    /// When the group was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Checks a display name: non-blank after trimming and at most 200 characters.
pub fn parse_name(field: &str, text: &str) -> Result<String, String> {
    // The length is of what was sent, so the limit is the one the OpenAPI document states.
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{field} must be at most {MAX_NAME_CHARS} characters"));
    }
    let text = super::trim_text(text);
    if text.is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    Ok(text.to_owned())
}

/// The longest display name.
pub const MAX_NAME_CHARS: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_for_case_insensitive_lookup() {
        assert_eq!(
            Email::parse("  Josh@Example.COM ").unwrap().as_str(),
            "josh@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "josh",
            "@example.com",
            "josh@",
            "josh@example",
            "jo sh@example.com",
            "a@b@c.com",
            "josh@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn names_must_not_be_blank() {
        assert!(parse_name("name", "   ").is_err());
        assert_eq!(parse_name("name", " My Role ").unwrap(), "My Role");
        assert!(parse_name("name", &"x".repeat(201)).is_err());
    }
}
