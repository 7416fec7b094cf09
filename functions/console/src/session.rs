//! The console's cookies: the signed session a sign-in opens, and the signed, short-lived
//! sign-in state (`state`, `nonce`, PKCE verifier) that waits for the identity provider's answer.
//!
//! A cookie value is `base64url(json) "." base64url(HMAC-SHA256(key, json))`. A value whose
//! signature does not match, that does not parse or whose time is up is no session at all.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "grantdesk_session";
/// The sign-in state cookie's name.
pub const LOGIN_COOKIE: &str = "grantdesk_login";
/// A session ends after this long, or with its ID token, whichever is first.
pub const SESSION_HOURS: i64 = 12;
/// How long a sign-in may take at the identity provider.
pub const LOGIN_MINUTES: i64 = 10;

/// The key cookies are signed with (at least 32 bytes). Debug output hides it.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from secret text of at least [`Self::MIN_LEN`] bytes.
    pub fn new(secret: &str) -> Result<Self, String> {
        if secret.len() < Self::MIN_LEN {
            return Err(format!("the session key must be at least {} characters", Self::MIN_LEN));
        }
        Ok(Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self, purpose: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        // A login cookie is never accepted as a session, nor the other way round.
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac
    }

    fn seal<T: Serialize>(&self, purpose: &str, value: &T) -> String {
        let json = serde_json::to_vec(value).expect("cookie contents serialize");
        let mut mac = self.mac(purpose);
        mac.update(&json);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Option<T> {
        let (payload, signature) = sealed.split_once('.')?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let mut mac = self.mac(purpose);
        mac.update(&json);
        mac.verify_slice(&signature).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The cookie value for `session`.
    pub fn seal_session(&self, session: &Session) -> String {
        self.seal("session", session)
    }

    /// The session in a cookie value, if it is genuine and not over at `now`.
    pub fn open_session(&self, sealed: &str, now: i64) -> Option<Session> {
        self.open::<Session>("session", sealed).filter(|s| s.expires_at > now)
    }

    /// The cookie value for a sign-in in progress.
    pub fn seal_login(&self, login: &LoginState) -> String {
        self.seal("login", login)
    }

    /// The sign-in in progress in a cookie value, if genuine and not over at `now`.
    pub fn open_login(&self, sealed: &str, now: i64) -> Option<LoginState> {
        self.open::<LoginState>("login", sealed).filter(|l| l.expires_at > now)
    }
}

/// A signed-in person: the ID token's identity claims, passed to the API as API Gateway's JWT
/// authorizer would pass them, and the form token of this session.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// `iss` of the ID token.
    pub iss: String,
    /// `sub` of the ID token.
    pub sub: String,
    /// `email` of the ID token.
    pub email: String,
    /// `name`, when the token has one.
    pub name: Option<String>,
    /// Unix seconds after which the session is over.
    pub expires_at: i64,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Whether the API said this person was an org admin at sign-in. Only decides which links
    /// the navigation shows (harmless when stale); every page asks the API, which decides.
    #[serde(default)]
    pub admin: bool,
}

impl Session {
    /// Whether `token` is this session's form token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A sign-in waiting for the identity provider's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginState {
    /// The `state` sent to the provider.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
    /// The console page to open after signing in.
    pub return_to: String,
    /// Unix seconds after which the sign-in is stale.
    pub expires_at: i64,
}

/// `bytes` random bytes as base64url: state, nonce, PKCE verifiers and form tokens.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the operating system supplies random bytes");
    URL_SAFE_NO_PAD.encode(buf)
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/console/`, Secure unless `insecure`.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64, insecure: bool) -> String {
    let secure = if insecure { "" } else { "; Secure" };
    format!("{name}={value}; Path=/console/; Max-Age={max_age_seconds}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        SessionKey::new("a session key of thirty-two bytes!!").unwrap()
    }

    fn session(expires_at: i64) -> Session {
        Session {
            iss: "https://idp.example".into(),
            sub: "josh".into(),
            email: "josh@example.com".into(),
            name: Some("Josh".into()),
            expires_at,
            csrf: "form-token".into(),
            admin: false,
        }
    }

    #[test]
    fn a_session_opens_with_its_key_until_it_ends() {
        let sealed = key().seal_session(&session(1_000));
        assert_eq!(key().open_session(&sealed, 999), Some(session(1_000)));
        assert_eq!(key().open_session(&sealed, 1_000), None);
        let other = SessionKey::new("another key, also thirty-two bytes").unwrap();
        assert_eq!(other.open_session(&sealed, 0), None);
    }

    #[test]
    fn a_changed_session_or_a_login_cookie_is_no_session() {
        let sealed = key().seal_session(&session(1_000));
        let (payload, signature) = sealed.split_once('.').unwrap();
        let forged = serde_json::to_vec(&Session {
            email: "alice@example.com".into(),
            ..session(1_000)
        })
        .unwrap();
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(forged));
        assert_eq!(key().open_session(&forged, 0), None);
        assert_eq!(key().open_session(payload, 0), None);
        let login = key().seal_login(&LoginState {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            return_to: "/console/".into(),
            expires_at: 1_000,
        });
        assert_eq!(key().open_session(&login, 0), None);
        assert!(key().open_login(&login, 0).is_some());
    }

    #[test]
    fn form_tokens_compare_whole() {
        let s = session(1);
        assert!(s.csrf_matches("form-token"));
        assert!(!s.csrf_matches("form-toke"));
        assert!(!s.csrf_matches(""));
    }

    #[test]
    fn cookies_are_read_by_name() {
        let header = "a=1; grantdesk_session=abc.def; b=2";
        assert_eq!(cookie(header, SESSION_COOKIE), Some("abc.def"));
        assert_eq!(cookie(header, LOGIN_COOKIE), None);
        assert!(set_cookie("x", "y", 5, false).ends_with("SameSite=Lax; Secure"));
        assert!(!set_cookie("x", "y", 5, true).contains("Secure"));
    }
}
