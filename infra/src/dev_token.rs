//! HS256 dev tokens: the local stand-in for the identity provider behind API Gateway's JWT
//! authorizer. Tokens carry `sub`, `email`, `name` and `exp`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::collections::HashMap;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused. The messages never include the secret or the signature.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("the token is malformed")]
    Malformed,
    /// Not HS256.
    #[error("the token must be signed with HS256")]
    WrongAlgorithm,
    /// The signature does not match the secret.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `exp` missing or past.
    #[error("the token has expired or has no exp claim")]
    Expired,
}

/// The secret tokens are signed with (`GRANTDESK_LOCAL_JWT_SECRET`). Debug output hides it.
#[derive(Clone)]
pub struct DevTokenSecret(Vec<u8>);

impl std::fmt::Debug for DevTokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevTokenSecret(..)")
    }
}

impl DevTokenSecret {
    /// The shortest secret accepted.
    pub const MIN_LEN: usize = 16;

    /// A secret from text of at least [`Self::MIN_LEN`] bytes.
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.len() < Self::MIN_LEN {
            return Err(format!(
                "the dev token secret must be at least {} characters",
                Self::MIN_LEN
            ));
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length")
    }

    /// Mints a token for `email` valid for `ttl_seconds`.
    pub fn mint(&self, email: &str, name: &str, ttl_seconds: i64) -> String {
        self.mint_with(email, name, ttl_seconds, &json!({}))
    }

    /// Mints a token for `email` whose claims are the usual ones overridden by `extra` (an
    /// object): `{"sub": "..."}`, `{"email_verified": false}`, `{"iss": "..."}`.
    pub fn mint_with(&self, email: &str, name: &str, ttl_seconds: i64, extra: &Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let header = json!({"alg": "HS256", "typ": "JWT"});
        // The subject is the normalized e-mail, as the sandbox OpenID provider's is: the same
        // person gets the same subject however the address is typed.
        let subject = email.trim().to_lowercase();
        let mut claims = json!({"sub": subject, "email": email, "name": name, "iat": now, "exp": now + ttl_seconds});
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Verifies a token and returns its claims as strings, the way API Gateway hands JWT
    /// claims to a function.
    pub fn verify(&self, token: &str) -> Result<HashMap<String, String>, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Map<String, Value> = decode_json(header)?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::WrongAlgorithm);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        let signed_part = token.rfind('.').map_or(token, |end| &token[..end]);
        mac.update(signed_part.as_bytes());
        mac.verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
        let claims: Map<String, Value> = decode_json(claims)?;
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or(TokenError::Expired)?;
        if exp <= chrono::Utc::now().timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect())
    }
}

fn decode_json(part: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> DevTokenSecret {
        DevTokenSecret::new("a-local-secret-of-some-length").unwrap()
    }

    #[test]
    fn a_minted_token_verifies_with_its_claims() {
        let token = secret().mint("josh@example.com", "Josh", 60);
        let claims = secret().verify(&token).unwrap();
        assert_eq!(claims["email"], "josh@example.com");
        assert_eq!(claims["name"], "Josh");
        assert!(claims["exp"].parse::<i64>().unwrap() > chrono::Utc::now().timestamp());
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = DevTokenSecret::new("another-secret-entirely").unwrap();
        assert_eq!(
            secret().verify(&other.mint("x@example.com", "X", 60)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_expired_and_malformed_tokens_are_refused() {
        let token = secret().mint("josh@example.com", "Josh", 60);
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"email":"alice@example.com","exp":99999999999}"#);
        assert_eq!(
            secret().verify(&format!("{head}.{forged_claims}.{signature}")),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            secret().verify(&secret().mint("josh@example.com", "Josh", -1)),
            Err(TokenError::Expired)
        );
        assert_eq!(secret().verify("not-a-token"), Err(TokenError::Malformed));
        let none_alg = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert_eq!(
            secret().verify(&format!("{none_alg}.{rest}")),
            Err(TokenError::WrongAlgorithm)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(DevTokenSecret::new("short").is_err());
    }
}
