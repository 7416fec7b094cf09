//! Signing in with OpenID Connect: the authorization code flow with PKCE (S256), `state` and
//! `nonce`, against the issuer's discovery document; the ID token is checked against the
//! issuer's JWKS (RS256), its `iss`, `aud`, `exp` and `nonce`.

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::RwLock;

/// Clock skew allowed on `exp`, in seconds.
const LEEWAY_SECONDS: i64 = 60;
/// The soonest the JWKS is fetched again for a token naming an unknown key.
const JWKS_REFRESH_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
/// How long the provider may take to answer one call.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Why a sign-in failed. Messages never include a token, a code or the client secret.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum OidcError {
    /// The provider could not be reached or answered something unusable.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the code exchange.
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed a check.
    #[error("the ID token was refused: {0}")]
    BadToken(&'static str),
}

/// Which relying party the console is, at which provider.
#[derive(Clone)]
pub struct OidcSettings {
    /// The issuer (`iss`), whose discovery document is at `/.well-known/openid-configuration`.
    pub issuer: String,
    /// The console's client id (the ID token's audience).
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// Where the provider sends the browser back: `<app>/console/auth/callback`.
    pub redirect_uri: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The parts of the discovery document the console uses.
#[derive(Clone, Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

/// One key of a JWKS.
#[derive(Clone, Debug, Deserialize)]
pub struct Jwk {
    /// Key type; only `RSA` keys are used.
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Modulus, base64url.
    #[serde(default)]
    pub n: Option<String>,
    /// Exponent, base64url.
    #[serde(default)]
    pub e: Option<String>,
}

/// A JSON Web Key Set.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// What an ID token must match.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The configured issuer.
    pub issuer: &'a str,
    /// The console's client id.
    pub client_id: &'a str,
    /// The nonce of this sign-in.
    pub nonce: &'a str,
    /// Unix seconds now.
    pub now: i64,
}

/// The identity an accepted ID token gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// `email`.
    pub email: String,
    /// `name`.
    pub name: Option<String>,
    /// `exp`, Unix seconds.
    pub exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
}

/// Checks an ID token against `jwks` and `expected`: RS256 by a key of the set, then `iss`,
/// `aud` (and `azp` when several audiences), `exp`, `nonce`, an e-mail the provider verified.
pub fn verify_id_token(token: &str, jwks: &Jwks, expected: &Expected<'_>) -> Result<Identity, OidcError> {
    let payload = verified_payload(token, jwks)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| OidcError::BadToken("unreadable claims"))?;
    if claims.iss != expected.issuer {
        return Err(OidcError::BadToken("issued by another issuer"));
    }
    let audiences = match &claims.aud {
        Audience::One(one) => vec![one.as_str()],
        Audience::Many(many) => many.iter().map(String::as_str).collect(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(OidcError::BadToken("issued for another client"));
    }
    if audiences.len() > 1 && claims.azp.as_deref().is_some_and(|azp| azp != expected.client_id) {
        return Err(OidcError::BadToken("issued for another client"));
    }
    if claims.exp + LEEWAY_SECONDS <= expected.now {
        return Err(OidcError::BadToken("expired"));
    }
    if claims.nonce.as_deref() != Some(expected.nonce) {
        return Err(OidcError::BadToken("its nonce is not this sign-in's"));
    }
    let verified = match &claims.email_verified {
        None => true,
        Some(serde_json::Value::Bool(v)) => *v,
        Some(serde_json::Value::String(v)) => !v.eq_ignore_ascii_case("false"),
        Some(_) => false,
    };
    if !verified {
        return Err(OidcError::BadToken("the provider has not verified its e-mail address"));
    }
    let email = claims
        .email
        .filter(|e| !e.trim().is_empty())
        .ok_or(OidcError::BadToken("it has no e-mail"))?;
    Ok(Identity {
        iss: claims.iss,
        sub: claims.sub,
        email,
        name: claims.name,
        exp: claims.exp,
    })
}

/// The payload of a JWT signed with RS256 by a key of `jwks`.
fn verified_payload(token: &str, jwks: &Jwks) -> Result<Vec<u8>, OidcError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::BadToken("not a signed JWT"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| OidcError::BadToken("not base64url"))
    };
    let head: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| OidcError::BadToken("unreadable header"))?;
    if head.alg != "RS256" {
        return Err(OidcError::BadToken("not signed with RS256"));
    }
    let key = signing_key(jwks, head.kid.as_deref()).ok_or(OidcError::BadToken(UNKNOWN_KEY))?;
    // PKCS #1 v1.5 with SHA-256 by a key of 2,048 to 8,192 bits, from the TLS library the
    // function carries anyway.
    key.verify(
        &RSA_PKCS1_2048_8192_SHA256,
        format!("{header}.{payload}").as_bytes(),
        &decode(signature)?,
    )
    .map_err(|_| OidcError::BadToken("bad signature"))?;
    decode(payload)
}

const UNKNOWN_KEY: &str = "signed by a key the issuer does not list";

/// Checks an access token as API Gateway's JWT authorizer does: RS256 by a key of `jwks`, `iss`
/// is the issuer, `aud` (or `client_id`) includes the audience, `exp` not past. Returns the
/// claims as the authorizer passes them on (values as strings).
pub fn verify_access_token(
    token: &str,
    jwks: &Jwks,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<std::collections::HashMap<String, String>, OidcError> {
    let payload = verified_payload(token, jwks)?;
    let claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&payload).map_err(|_| OidcError::BadToken("unreadable claims"))?;
    if claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
        return Err(OidcError::BadToken("issued by another issuer"));
    }
    let audience_matches = match claims.get("aud") {
        Some(serde_json::Value::String(one)) => one == audience,
        Some(serde_json::Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(audience)),
        _ => claims.get("client_id").and_then(|v| v.as_str()) == Some(audience),
    };
    if !audience_matches {
        return Err(OidcError::BadToken("issued for another audience"));
    }
    match claims.get("exp").and_then(|v| v.as_i64()) {
        Some(exp) if exp > now => {}
        _ => return Err(OidcError::BadToken("expired")),
    }
    Ok(claims
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(text) => (k, text),
            other => (k, other.to_string()),
        })
        .collect())
}

fn signing_key(jwks: &Jwks, kid: Option<&str>) -> Option<RsaPublicKeyComponents<Vec<u8>>> {
    let rsa_keys: Vec<&Jwk> = jwks.keys.iter().filter(|k| k.kty == "RSA").collect();
    let jwk = match kid {
        Some(kid) => rsa_keys.into_iter().find(|k| k.kid.as_deref() == Some(kid))?,
        None if rsa_keys.len() == 1 => rsa_keys[0],
        None => return None,
    };
    let n = URL_SAFE_NO_PAD.decode(jwk.n.as_deref()?).ok()?;
    let e = URL_SAFE_NO_PAD.decode(jwk.e.as_deref()?).ok()?;
    // Big-endian, without leading zeros.
    let unpadded = |bytes: Vec<u8>| bytes.into_iter().skip_while(|b| *b == 0).collect::<Vec<u8>>();
    Some(RsaPublicKeyComponents {
        n: unpadded(n),
        e: unpadded(e),
    })
}

/// The PKCE S256 challenge of `verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The relying party: reads discovery and the JWKS once per process (the JWKS again when a
/// token names a key it lacks, for key rotation), sends the browser to sign in, exchanges the
/// code and checks the ID token.
#[derive(Clone, Debug)]
pub struct Oidc {
    settings: OidcSettings,
    http: reqwest::Client,
    discovery: Arc<RwLock<Option<Discovery>>>,
    jwks: Arc<RwLock<Option<(Jwks, std::time::Instant)>>>,
}

impl Oidc {
    /// A relying party for `settings`.
    pub fn new(settings: OidcSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client builds");
        Self {
            settings,
            http,
            discovery: Arc::default(),
            jwks: Arc::default(),
        }
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn discovery(&self) -> Result<Discovery, OidcError> {
        if let Some(found) = self.discovery.read().await.clone() {
            return Ok(found);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let found: Discovery = self.get_json(&url).await?;
        if found.issuer != self.settings.issuer {
            return Err(OidcError::Unavailable(format!(
                "the discovery document names issuer {}, not {}",
                found.issuer, self.settings.issuer
            )));
        }
        *self.discovery.write().await = Some(found.clone());
        Ok(found)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("GET {url}: {}", without_url(&e))))?;
        if !response.status().is_success() {
            return Err(OidcError::Unavailable(format!(
                "GET {url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|_| OidcError::Unavailable(format!("GET {url} answered something unreadable")))
    }

    /// Where to send the browser to sign in.
    pub async fn authorize_url(&self, state: &str, nonce: &str, verifier: &str) -> Result<String, OidcError> {
        let discovery = self.discovery().await?;
        let mut url = url::Url::parse(&discovery.authorization_endpoint)
            .map_err(|_| OidcError::Unavailable("the authorization endpoint is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.settings.redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges `code` for tokens and checks the ID token: the person who signed in.
    pub async fn finish(&self, code: &str, verifier: &str, nonce: &str) -> Result<Identity, OidcError> {
        let discovery = self.discovery().await?;
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .basic_auth(
                form_encode(&self.settings.client_id),
                Some(form_encode(&self.settings.client_secret)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.settings.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {}", without_url(&e))))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| OidcError::Unavailable(format!("the token endpoint answered {status} unreadably")))?;
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("unknown error");
            return Err(OidcError::Refused(error.chars().take(100).collect()));
        }
        let id_token = body["id_token"]
            .as_str()
            .ok_or_else(|| OidcError::Refused("no ID token in the answer".into()))?;
        let now = chrono::Utc::now().timestamp();
        let expected = Expected {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            nonce,
            now,
        };
        let jwks = self.jwks(false, &discovery).await?;
        match verify_id_token(id_token, &jwks, &expected) {
            Err(OidcError::BadToken(UNKNOWN_KEY)) => {
                let jwks = self.jwks(true, &discovery).await?;
                verify_id_token(id_token, &jwks, &expected)
            }
            other => other,
        }
    }

    /// The claims of an access token for the JSON API, checked as API Gateway's JWT authorizer
    /// checks them (audience: the client id).
    pub async fn access_token_claims(
        &self,
        token: &str,
    ) -> Result<std::collections::HashMap<String, String>, OidcError> {
        let discovery = self.discovery().await?;
        let now = chrono::Utc::now().timestamp();
        let check =
            |jwks: &Jwks| verify_access_token(token, jwks, &self.settings.issuer, &self.settings.client_id, now);
        match check(&self.jwks(false, &discovery).await?) {
            Err(OidcError::BadToken(UNKNOWN_KEY)) => check(&self.jwks(true, &discovery).await?),
            other => other,
        }
    }

    /// The issuer's keys: the cached set, or a fresh one when `refresh` (a token named a key the
    /// cached set lacks) unless the set was fetched less than a minute ago, so that tokens naming
    /// made-up keys cannot make the console fetch the set again and again.
    async fn jwks(&self, refresh: bool, discovery: &Discovery) -> Result<Jwks, OidcError> {
        if let Some((found, at)) = self.jwks.read().await.clone() {
            if !refresh || at.elapsed() < JWKS_REFRESH_AFTER {
                return Ok(found);
            }
        }
        let found: Jwks = self.get_json(&discovery.jwks_uri).await?;
        *self.jwks.write().await = Some((found.clone(), std::time::Instant::now()));
        Ok(found)
    }
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before HTTP Basic.
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn without_url(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else {
        "the call failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    fn key() -> rsa::RsaPrivateKey {
        use std::sync::OnceLock;
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap())
            .clone()
    }

    fn jwks_of(key: &rsa::RsaPrivateKey, kid: &str) -> Jwks {
        let public = key.to_public_key();
        Jwks {
            keys: vec![Jwk {
                kty: "RSA".into(),
                kid: Some(kid.into()),
                n: Some(URL_SAFE_NO_PAD.encode(public.n().to_bytes_be())),
                e: Some(URL_SAFE_NO_PAD.encode(public.e().to_bytes_be())),
            }],
        }
    }

    fn sign(key: &rsa::RsaPrivateKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = SigningKey::<Sha256>::new(key.clone()).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn claims(now: i64) -> serde_json::Value {
        json!({"iss": "https://idp.example", "sub": "josh@example.com", "aud": "console", "exp": now + 300,
               "iat": now, "nonce": "n-1", "email": "josh@example.com", "email_verified": true, "name": "Josh"})
    }

    fn expected(now: i64) -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            client_id: "console",
            nonce: "n-1",
            now,
        }
    }

    fn check(claims: serde_json::Value) -> Result<Identity, OidcError> {
        let token = sign(&key(), json!({"alg": "RS256", "kid": "k1"}), claims);
        verify_id_token(&token, &jwks_of(&key(), "k1"), &expected(1_000_000))
    }

    #[test]
    fn a_token_signed_by_the_issuers_key_for_this_sign_in_is_accepted() {
        let identity = check(claims(1_000_000)).unwrap();
        assert_eq!(identity.email, "josh@example.com");
        assert_eq!(identity.sub, "josh@example.com");
        assert_eq!(identity.exp, 1_000_300);
    }

    #[test]
    fn wrong_audience_nonce_issuer_or_expiry_is_refused() {
        let now = 1_000_000;
        let with = |field: &str, value: serde_json::Value| {
            let mut c = claims(now);
            c[field] = value;
            check(c)
        };
        assert_eq!(
            with("aud", json!("other")),
            Err(OidcError::BadToken("issued for another client"))
        );
        assert_eq!(
            with("aud", json!(["console", "other"])).map(|i| i.sub),
            Ok("josh@example.com".into())
        );
        assert_eq!(
            with("nonce", json!("n-2")),
            Err(OidcError::BadToken("its nonce is not this sign-in's"))
        );
        assert_eq!(
            with("iss", json!("https://evil.example")),
            Err(OidcError::BadToken("issued by another issuer"))
        );
        assert_eq!(with("exp", json!(now - 61)), Err(OidcError::BadToken("expired")));
        assert_eq!(
            with("email_verified", json!("false")),
            Err(OidcError::BadToken("the provider has not verified its e-mail address"))
        );
    }

    #[test]
    fn another_key_another_algorithm_or_a_changed_payload_is_refused() {
        let other = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let token = sign(&other, json!({"alg": "RS256", "kid": "k1"}), claims(1_000_000));
        assert_eq!(
            verify_id_token(&token, &jwks_of(&key(), "k1"), &expected(1_000_000)),
            Err(OidcError::BadToken("bad signature"))
        );
        let token = sign(&key(), json!({"alg": "RS256", "kid": "k2"}), claims(1_000_000));
        assert!(verify_id_token(&token, &jwks_of(&key(), "k1"), &expected(1_000_000)).is_err());
        let hs = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(json!({"alg": "HS256"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims(1_000_000).to_string())
        );
        assert_eq!(
            verify_id_token(&hs, &jwks_of(&key(), "k1"), &expected(1_000_000)),
            Err(OidcError::BadToken("not signed with RS256"))
        );
        let token = sign(&key(), json!({"alg": "RS256", "kid": "k1"}), claims(1_000_000));
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(1_000_000);
        forged["email"] = json!("alice@example.com");
        let forged = URL_SAFE_NO_PAD.encode(forged.to_string());
        parts[1] = &forged;
        assert_eq!(
            verify_id_token(&parts.join("."), &jwks_of(&key(), "k1"), &expected(1_000_000)),
            Err(OidcError::BadToken("bad signature"))
        );
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
