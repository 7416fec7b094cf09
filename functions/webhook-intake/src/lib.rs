//! Webhook intake: `POST /webhooks/{jira|linear|servicenow}`, no JWT. A delivery is verified
//! (signature in constant time, freshness where the provider dates it, size), dropped if seen
//! before, and never trusted for state: the ticket is read again from the provider and applied
//! with the same code as the scheduled poll. Unknown tickets are acknowledged and ignored.

mod error;

use base64::Engine;
use error::IntakeError;
use grantdesk::domain::TicketProviderKind;
use grantdesk::providers::Connections;
use grantdesk::store::{MarkerClaim, Store};
use grantdesk::usecases::sync::apply_delivery;
use hmac::{Hmac, Mac};
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// How long re-reading a ticket may take: the function's timeout is 5 s and Linear wants an
/// answer within 5 s; a slower re-read is left to the scheduled sync.
pub const PROVIDER_CALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// The largest delivery accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Linear deliveries older than this are stale.
pub const LINEAR_MAX_AGE_MS: i64 = 60_000;
/// ServiceNow deliveries older than this are stale.
pub const SERVICENOW_MAX_AGE_SECS: i64 = 300;
/// Jira deliveries whose signed `timestamp` is older than this are stale.
pub const JIRA_MAX_AGE_MS: i64 = 10 * 60 * 1000;
/// How long a webhook secret read from Secrets Manager is used before it is read again (and
/// how long "not connected" is believed, shorter, so a new connection is picked up soon).
const SECRET_CACHE: std::time::Duration = std::time::Duration::from_secs(60);
const NOT_CONNECTED_CACHE: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a delivery id is remembered for de-duplication.
pub const DEDUP_HOURS: i64 = 72;

/// The handler, built once per process.
#[derive(Clone, Debug)]
pub struct WebhookIntake {
    store: Store,
    connections: Connections,
    secrets: std::sync::Arc<tokio::sync::Mutex<HashMap<TicketProviderKind, CachedSecret>>>,
}

/// A webhook secret as last read, or `None` when the provider was not connected.
#[derive(Clone, Debug)]
struct CachedSecret {
    read_at: std::time::Instant,
    secret: Option<secrecy::SecretString>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn mac(secret: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A delivery that passed verification: its de-duplication key and the ticket it is about.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// A digest of the signed content: the same delivery sent twice has the same one, and no
    /// unsigned header can make two different deliveries look alike.
    pub delivery_id: String,
    /// The ticket's remote id, as grantdesk stores it.
    pub remote_id: Option<String>,
}

/// Checks a delivery's signature and freshness; `Err` is the reason to refuse it (401).
pub fn verify(
    provider: TicketProviderKind,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
    now_ms: i64,
) -> Result<Verified, String> {
    let parsed: Value = serde_json::from_slice(body).map_err(|_| "the body is not JSON".to_owned())?;
    match provider {
        TicketProviderKind::Jira => {
            let signature = header(headers, "x-hub-signature").ok_or("missing X-Hub-Signature")?;
            let hex = signature
                .strip_prefix("sha256=")
                .ok_or("X-Hub-Signature must be sha256=<hex>")?;
            let expected = hex_decode(hex).ok_or("X-Hub-Signature is not hex")?;
            mac(secret, &[body])
                .verify_slice(&expected)
                .map_err(|_| "bad signature")?;
            let sent = parsed["timestamp"].as_i64().ok_or("missing timestamp")?;
            if now_ms - sent > JIRA_MAX_AGE_MS {
                return Err("stale delivery: timestamp is more than 10 minutes old".into());
            }
            Ok(Verified {
                delivery_id: digest(&[body]),
                remote_id: parsed["issue"]["id"].as_str().map(str::to_owned),
            })
        }
        TicketProviderKind::Linear => {
            let signature = header(headers, "linear-signature").ok_or("missing Linear-Signature")?;
            let expected = hex_decode(signature).ok_or("Linear-Signature is not hex")?;
            mac(secret, &[body])
                .verify_slice(&expected)
                .map_err(|_| "bad signature")?;
            // Linear documents an integer of milliseconds; a float is read as well.
            let sent = parsed["webhookTimestamp"].as_f64().ok_or("missing webhookTimestamp")? as i64;
            if (now_ms - sent).abs() > LINEAR_MAX_AGE_MS {
                return Err("stale delivery: webhookTimestamp is more than 60 s from now".into());
            }
            let remote_id = (parsed["type"] == "Issue")
                .then(|| parsed["data"]["id"].as_str().map(str::to_owned))
                .flatten();
            Ok(Verified {
                delivery_id: digest(&[body]),
                remote_id,
            })
        }
        TicketProviderKind::Servicenow => {
            let timestamp = header(headers, "x-grantdesk-timestamp").ok_or("missing X-Grantdesk-Timestamp")?;
            let signature = header(headers, "x-grantdesk-signature").ok_or("missing X-Grantdesk-Signature")?;
            let expected = base64::engine::general_purpose::STANDARD
                .decode(signature)
                .map_err(|_| "X-Grantdesk-Signature is not base64")?;
            mac(secret, &[timestamp.as_bytes(), b".", body])
                .verify_slice(&expected)
                .map_err(|_| "bad signature")?;
            let sent: i64 = timestamp
                .parse()
                .map_err(|_| "X-Grantdesk-Timestamp is not unix seconds")?;
            if (now_ms / 1000 - sent).abs() > SERVICENOW_MAX_AGE_SECS {
                return Err("stale delivery: the timestamp is more than 300 s from now".into());
            }
            let table = parsed["sys_class_name"].as_str().unwrap_or("incident");
            let remote_id = parsed["sys_id"].as_str().map(|id| format!("{table}:{id}"));
            Ok(Verified {
                delivery_id: digest(&[timestamp.as_bytes(), b".", body]),
                remote_id,
            })
        }
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256:<hex>` of the signed content.
fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    format!("sha256:{}", hex_of(&hash.finalize()))
}

impl WebhookIntake {
    /// An intake over `store`, reaching providers through `connections`.
    pub fn new(store: Store, connections: Connections) -> Self {
        Self {
            store,
            connections,
            secrets: Default::default(),
        }
    }

    /// The provider's webhook secret, from memory while fresh: anonymous POSTs must not cost a
    /// Secrets Manager read each.
    async fn webhook_secret(
        &self,
        provider: TicketProviderKind,
    ) -> Result<Option<secrecy::SecretString>, grantdesk::secrets::SecretError> {
        let mut cache = self.secrets.lock().await;
        if let Some(cached) = cache.get(&provider) {
            let fresh_for = if cached.secret.is_some() {
                SECRET_CACHE
            } else {
                NOT_CONNECTED_CACHE
            };
            if cached.read_at.elapsed() < fresh_for {
                return Ok(cached.secret.clone());
            }
        }
        let secret = self
            .connections
            .secrets()
            .integration(provider.as_str())
            .await?
            .map(|s| s.webhook_secret);
        cache.insert(
            provider,
            CachedSecret {
                read_at: std::time::Instant::now(),
                secret: secret.clone(),
            },
        );
        Ok(secret)
    }

    /// Answers one delivery.
    #[tracing::instrument(skip_all, fields(path = %req.raw_http_path()))]
    pub async fn handle(&self, req: Request) -> Response<Body> {
        match self.take(&req).await {
            Ok(response) => response,
            Err(err) => err.response(),
        }
    }

    async fn take(&self, req: &Request) -> Result<Response<Body>, IntakeError> {
        let path = req.raw_http_path();
        let provider = path
            .strip_prefix("/webhooks/")
            .and_then(TicketProviderKind::parse)
            .ok_or(IntakeError::UnknownProvider)?;
        let body: &[u8] = req.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return Err(IntakeError::TooLarge);
        }
        let Some(secret) = self.webhook_secret(provider).await.map_err(IntakeError::Secret)? else {
            tracing::warn!(%provider, "webhook refused: the provider is not connected");
            return Err(IntakeError::Refused);
        };
        let now_ms = chrono::Utc::now().timestamp_millis();
        let verified = verify(provider, req.headers(), body, secret.expose_secret(), now_ms).map_err(|reason| {
            tracing::warn!(%provider, %reason, "webhook refused");
            IntakeError::Refused
        })?;
        // Claimed before the work, with one conditional write: of two identical deliveries
        // arriving together exactly one is processed.
        let marker = format!("delivery#{provider}#{}", verified.delivery_id);
        let expires = (chrono::Utc::now() + chrono::Duration::hours(DEDUP_HOURS)).timestamp();
        if let MarkerClaim::HeldUntil(_) = self
            .store
            .claim_marker(&marker, expires)
            .await
            .map_err(IntakeError::Store)?
        {
            return Ok(error::duplicate());
        }
        match apply_delivery(&self.store, &self.connections, provider, verified.remote_id.as_deref()).await {
            Ok(outcome) => Ok(error::delivered(outcome)),
            Err(err) => {
                // Not done: let the provider's redelivery try again.
                if let Err(err) = self.store.release_marker(&marker).await {
                    tracing::warn!(error = %err, "releasing the delivery claim");
                }
                Err(IntakeError::Delivery(err))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn jira_signatures_are_checked_over_the_raw_body_and_old_deliveries_are_stale() {
        let now = 1_800_000_000_000_i64;
        let signed = |body: &[u8]| format!("sha256={}", hex_of(&mac("s", &[body]).finalize().into_bytes()));
        let body = format!(r#"{{"timestamp":{},"issue":{{"id":"10001"}}}}"#, now - 5_000);
        let good = signed(body.as_bytes());
        let ok = verify(
            TicketProviderKind::Jira,
            &headers(&[
                ("x-hub-signature", good.clone()),
                ("x-atlassian-webhook-identifier", "d1".into()),
            ]),
            body.as_bytes(),
            "s",
            now,
        )
        .unwrap();
        assert_eq!(ok.remote_id.as_deref(), Some("10001"));
        assert_eq!(
            ok.delivery_id,
            digest(&[body.as_bytes()]),
            "keyed on the signed body, not the header"
        );
        let other_header = verify(
            TicketProviderKind::Jira,
            &headers(&[
                ("x-hub-signature", good.clone()),
                ("x-atlassian-webhook-identifier", "d2".into()),
            ]),
            body.as_bytes(),
            "s",
            now,
        )
        .unwrap();
        assert_eq!(
            other_header.delivery_id, ok.delivery_id,
            "an unsigned header changes nothing"
        );
        let wrong_secret = verify(
            TicketProviderKind::Jira,
            &headers(&[("x-hub-signature", good.clone())]),
            body.as_bytes(),
            "other",
            now,
        );
        assert!(wrong_secret.is_err());
        let tampered = body.replace("10001", "10002");
        let tampered = verify(
            TicketProviderKind::Jira,
            &headers(&[("x-hub-signature", good)]),
            tampered.as_bytes(),
            "s",
            now,
        );
        assert!(tampered.is_err());
        assert!(verify(TicketProviderKind::Jira, &HeaderMap::new(), body.as_bytes(), "s", now).is_err());
        let old = format!(
            r#"{{"timestamp":{},"issue":{{"id":"10001"}}}}"#,
            now - JIRA_MAX_AGE_MS - 1
        );
        let stale = verify(
            TicketProviderKind::Jira,
            &headers(&[("x-hub-signature", signed(old.as_bytes()))]),
            old.as_bytes(),
            "s",
            now,
        )
        .unwrap_err();
        assert!(stale.contains("stale"), "{stale}");
    }

    #[test]
    fn linear_deliveries_must_be_fresh() {
        let now = 1_800_000_000_000_i64;
        let body = format!(
            r#"{{"type":"Issue","data":{{"id":"u1"}},"webhookTimestamp":{}}}"#,
            now - 61_000
        );
        let sig = hex_of(&mac("s", &[body.as_bytes()]).finalize().into_bytes());
        let err = verify(
            TicketProviderKind::Linear,
            &headers(&[("linear-signature", sig)]),
            body.as_bytes(),
            "s",
            now,
        )
        .unwrap_err();
        assert!(err.contains("stale"));
        let body = format!(
            r#"{{"type":"Issue","data":{{"id":"u1"}},"webhookTimestamp":{}}}"#,
            now - 1_000
        );
        let sig = hex_of(&mac("s", &[body.as_bytes()]).finalize().into_bytes());
        let ok = verify(
            TicketProviderKind::Linear,
            &headers(&[("linear-signature", sig), ("linear-delivery", "ld".into())]),
            body.as_bytes(),
            "s",
            now,
        )
        .unwrap();
        assert_eq!(ok.remote_id.as_deref(), Some("u1"));
        let float = format!(
            r#"{{"type":"Issue","data":{{"id":"u1"}},"webhookTimestamp":{}.5}}"#,
            now - 1_000
        );
        let sig = hex_of(&mac("s", &[float.as_bytes()]).finalize().into_bytes());
        let ok = verify(
            TicketProviderKind::Linear,
            &headers(&[("linear-signature", sig)]),
            float.as_bytes(),
            "s",
            now,
        );
        assert!(ok.is_ok(), "a float webhookTimestamp is read: {ok:?}");
    }

    #[test]
    fn servicenow_signs_timestamp_dot_body_in_base64() {
        let now_ms = 1_800_000_000_000_i64;
        let body = br#"{"sys_id":"abc","sys_class_name":"sc_task","state":"3"}"#;
        let timestamp = (now_ms / 1000).to_string();
        let sig = base64::engine::general_purpose::STANDARD
            .encode(mac("s", &[timestamp.as_bytes(), b".", body]).finalize().into_bytes());
        let ok = verify(
            TicketProviderKind::Servicenow,
            &headers(&[
                ("x-grantdesk-timestamp", timestamp.clone()),
                ("x-grantdesk-signature", sig.clone()),
            ]),
            body,
            "s",
            now_ms,
        )
        .unwrap();
        assert_eq!(ok.remote_id.as_deref(), Some("sc_task:abc"));
        let late = now_ms + 301_000;
        assert!(verify(
            TicketProviderKind::Servicenow,
            &headers(&[("x-grantdesk-timestamp", timestamp), ("x-grantdesk-signature", sig)]),
            body,
            "s",
            late
        )
        .is_err());
    }
}
