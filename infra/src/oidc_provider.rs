//! The sandbox OpenID provider `make dev` signs people in with: discovery, a page that lists the
//! demo people (choosing one signs in), the authorization code flow with PKCE (S256), and ID
//! and access tokens signed RS256 with a key made at start-up, published as a JWKS. A person's
//! `sub` is their e-mail, as in the HS256 dev tokens, so the console and the JSON API see the
//! same identity.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::{Method, StatusCode};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The console's client id at the sandbox provider.
pub const CLIENT_ID: &str = "grantdesk-console";
/// How long an authorization code may wait to be exchanged.
const CODE_SECONDS: i64 = 60;
/// How long tokens last.
const TOKEN_SECONDS: i64 = 3600;

/// The process's signing key: 2048-bit RSA, made once (tests start many stacks).
fn signing_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key is generated"))
}

/// A fault the next token carries, for tests of the console's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The ID token is for another client.
    WrongAudience,
    /// The ID token carries another sign-in's nonce.
    WrongNonce,
    /// The ID token expired an hour ago.
    Expired,
}

struct Pending {
    redirect_uri: String,
    nonce: String,
    challenge: String,
    email: String,
    name: String,
    expires_at: i64,
}

/// A response: status, content type, body and an optional `Location`.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
    /// Where to go next, for redirects.
    pub location: Option<String>,
}

impl Answer {
    fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
            location: None,
        }
    }

    fn page(status: StatusCode, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            body,
            location: None,
        }
    }
}

/// The sandbox provider: its issuer URL, the console's client, the people it knows.
pub struct SandboxOidc {
    issuer: String,
    client_secret: String,
    redirect_uri: String,
    people: Vec<(String, String)>,
    kid: String,
    codes: Mutex<HashMap<String, Pending>>,
    fault: Mutex<Option<Fault>>,
}

impl std::fmt::Debug for SandboxOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxOidc")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl SandboxOidc {
    /// A provider at `issuer` (`<gateway>/oidc`) for one client, the console, whose callback is
    /// `redirect_uri`, listing `people` (e-mail, name) on its sign-in page.
    pub fn new(issuer: &str, client_secret: &str, redirect_uri: &str, people: Vec<(String, String)>) -> Self {
        let public = signing_key().to_public_key();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public.n().to_bytes_be())[..8]);
        Self {
            issuer: issuer.to_owned(),
            client_secret: client_secret.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            people,
            kid,
            codes: Mutex::default(),
            fault: Mutex::default(),
        }
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Makes the next ID token carry `fault`.
    pub fn fault_next(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }

    /// The JWKS.
    pub fn jwks(&self) -> Value {
        let public = signing_key().to_public_key();
        json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]})
    }

    /// Answers `method path` under the issuer (`path` without the `/oidc` prefix), with the
    /// query or form parameters and the `Authorization` header.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        params: &HashMap<String, String>,
        authorization: Option<&str>,
    ) -> Answer {
        match (method, path) {
            (&Method::GET, "/.well-known/openid-configuration") => Answer::json(StatusCode::OK, self.discovery()),
            (&Method::GET, "/jwks") => Answer::json(StatusCode::OK, self.jwks()),
            (&Method::GET, "/authorize") => self.authorize_page(params),
            (&Method::POST, "/authorize") => self.approve(params),
            (&Method::POST, "/token") => self.token(params, authorization),
            _ => Answer::json(StatusCode::NOT_FOUND, json!({"error": "not_found"})),
        }
    }

    fn discovery(&self) -> Value {
        let at = |path: &str| format!("{}{path}", self.issuer);
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": at("/authorize"),
            "token_endpoint": at("/token"),
            "jwks_uri": at("/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        })
    }

    /// Checks the parameters of an authorization request; the message says what is wrong.
    fn check_request(&self, params: &HashMap<String, String>) -> Result<(), String> {
        let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
        if get("client_id") != CLIENT_ID {
            return Err("unknown client_id".into());
        }
        if get("redirect_uri") != self.redirect_uri {
            return Err("redirect_uri is not the client's".into());
        }
        if get("response_type") != "code" {
            return Err("response_type must be code".into());
        }
        if !get("scope").split(' ').any(|s| s == "openid") {
            return Err("scope must include openid".into());
        }
        if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
            return Err("PKCE with S256 is required".into());
        }
        if get("state").is_empty() || get("nonce").is_empty() {
            return Err("state and nonce are required".into());
        }
        Ok(())
    }

    fn authorize_page(&self, params: &HashMap<String, String>) -> Answer {
        if let Err(message) = self.check_request(params) {
            return Answer::page(
                StatusCode::BAD_REQUEST,
                page("Sign-in refused", &format!("<p>{}</p>", escape(&message))),
            );
        }
        let hidden: String = [
            "client_id",
            "redirect_uri",
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "scope",
            "response_type",
        ]
        .iter()
        .map(|name| {
            format!(
                r#"<input type="hidden" name="{name}" value="{}">"#,
                escape(params.get(*name).map(String::as_str).unwrap_or(""))
            )
        })
        .collect();
        let people: String = self
            .people
            .iter()
            .map(|(email, name)| {
                format!(
                    r#"<li><form method="post" action="{issuer}/authorize">{hidden}<input type="hidden" name="email" value="{email}"><input type="hidden" name="name" value="{name}"><button type="submit">Sign in as {name}</button> <span>{email}</span></form></li>"#,
                    issuer = escape(&self.issuer),
                    email = escape(email),
                    name = escape(name),
                )
            })
            .collect();
        let other = format!(
            r#"<form method="post" action="{issuer}/authorize">{hidden}<label for="email">Someone else (e-mail)</label> <input id="email" name="email" type="email" required> <button type="submit">Sign in</button></form>"#,
            issuer = escape(&self.issuer)
        );
        Answer::page(
            StatusCode::OK,
            page(
                "Sandbox identity provider",
                &format!("<p>Choose who you are. This page stands in for the company's identity provider.</p><ul>{people}</ul>{other}"),
            ),
        )
    }

    fn approve(&self, params: &HashMap<String, String>) -> Answer {
        if let Err(message) = self.check_request(params) {
            return Answer::page(
                StatusCode::BAD_REQUEST,
                page("Sign-in refused", &format!("<p>{}</p>", escape(&message))),
            );
        }
        let get = |name: &str| params.get(name).cloned().unwrap_or_default();
        let email = get("email").trim().to_lowercase();
        if !email.contains('@') {
            return Answer::page(
                StatusCode::BAD_REQUEST,
                page("Sign-in refused", "<p>An e-mail address is required.</p>"),
            );
        }
        let name = Some(get("name"))
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
        let code = random(24);
        self.codes.lock().unwrap_or_else(|p| p.into_inner()).insert(
            code.clone(),
            Pending {
                redirect_uri: get("redirect_uri"),
                nonce: get("nonce"),
                challenge: get("code_challenge"),
                email,
                name,
                expires_at: chrono::Utc::now().timestamp() + CODE_SECONDS,
            },
        );
        let mut location = url::Url::parse(&get("redirect_uri")).expect("the redirect URI was checked");
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &get("state"));
        Answer {
            status: StatusCode::SEE_OTHER,
            content_type: "text/plain",
            body: String::new(),
            location: Some(location.into()),
        }
    }

    fn token(&self, params: &HashMap<String, String>, authorization: Option<&str>) -> Answer {
        let refuse = |status, error: &str| Answer::json(status, json!({"error": error}));
        let (client_id, secret) = match authorization.and_then(|a| a.strip_prefix("Basic ")) {
            Some(basic) => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(basic.trim())
                    .unwrap_or_default();
                let decoded = String::from_utf8(decoded).unwrap_or_default();
                let (id, secret) = decoded.split_once(':').unwrap_or(("", ""));
                let unescape = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                };
                (unescape(id).unwrap_or_default(), unescape(secret).unwrap_or_default())
            }
            None => (
                params.get("client_id").cloned().unwrap_or_default(),
                params.get("client_secret").cloned().unwrap_or_default(),
            ),
        };
        if client_id != CLIENT_ID || secret != self.client_secret {
            return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        if params.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
        }
        let code = params.get("code").cloned().unwrap_or_default();
        // A code is used once, whatever happens next.
        let Some(pending) = self.codes.lock().unwrap_or_else(|p| p.into_inner()).remove(&code) else {
            return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
        };
        let now = chrono::Utc::now().timestamp();
        let verifier = params.get("code_verifier").cloned().unwrap_or_default();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        if pending.expires_at <= now
            || params.get("redirect_uri") != Some(&pending.redirect_uri)
            || challenge != pending.challenge
        {
            return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        let fault = self.fault.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut id_claims = json!({
            "iss": self.issuer, "sub": pending.email, "aud": CLIENT_ID, "iat": now, "exp": now + TOKEN_SECONDS,
            "nonce": pending.nonce, "email": pending.email, "email_verified": true, "name": pending.name,
        });
        match fault {
            Some(Fault::WrongAudience) => id_claims["aud"] = json!("another-client"),
            Some(Fault::WrongNonce) => id_claims["nonce"] = json!("another-sign-in"),
            Some(Fault::Expired) => {
                id_claims["iat"] = json!(now - 2 * TOKEN_SECONDS);
                id_claims["exp"] = json!(now - TOKEN_SECONDS);
            }
            None => {}
        }
        let access_claims = json!({
            "iss": self.issuer, "sub": pending.email, "aud": CLIENT_ID, "client_id": CLIENT_ID, "iat": now,
            "exp": now + TOKEN_SECONDS, "email": pending.email, "email_verified": true, "name": pending.name,
            "scope": "openid email profile",
        });
        Answer::json(
            StatusCode::OK,
            json!({
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "id_token": self.sign(&id_claims),
                "access_token": self.sign(&access_claims),
            }),
        )
    }

    /// A token for `email` signed like the ones the token endpoint issues, for tests and for
    /// the walkthrough's curl calls.
    pub fn access_token(&self, email: &str, name: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let email = email.trim().to_lowercase();
        self.sign(&json!({
            "iss": self.issuer, "sub": email, "aud": CLIENT_ID, "client_id": CLIENT_ID, "iat": now,
            "exp": now + TOKEN_SECONDS, "email": email, "email_verified": true, "name": name,
        }))
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = SigningKey::<Sha256>::new(signing_key().clone()).sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the operating system supplies random bytes");
    URL_SAFE_NO_PAD.encode(buf)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}li{{margin:.6rem 0;list-style:none}}button{{font:inherit;padding:.4rem .9rem}}span{{color:#555;margin-left:.5rem}}</style></head><body><h1>{title}</h1>{body}</body></html>"#
    )
}
