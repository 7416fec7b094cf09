//! The HTTP layer every provider client shares: one connection pool, timeouts, bounded
//! retries with jittered exponential backoff, rate-limit handling, and a call counter.

use super::{ProviderError, ProviderErrorKind, ProviderResult, Refused};
use crate::domain::TicketProviderKind;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Timeouts and retry bounds.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// Per-attempt timeout (connect + response).
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with full jitter.
    pub base_backoff: Duration,
    /// Longest single backoff.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the call as rate limited.
    pub max_retry_after: Duration,
    /// The whole call, every attempt, backoff and `Retry-After` included, ends within this:
    /// set below the function's own timeout, so a slow provider ends in grantdesk's own error
    /// (a 502, a retried stream record) and never in a Lambda timeout mid-write.
    pub call_budget: Duration,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_attempts: 4,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            call_budget: Duration::from_secs(45),
        }
    }
}

impl HttpPolicy {
    /// The default policy with every call ending within `budget`.
    pub fn within(budget: Duration) -> Self {
        Self {
            call_budget: budget,
            ..Self::default()
        }
    }
}

/// The shortest attempt worth starting before a call's deadline.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// The shared HTTP client. Cheap to clone; clones share the pool and the call counter.
#[derive(Clone, Debug)]
pub struct ProviderHttp {
    /// Built on the first provider call: building it loads the system's trust store, which a
    /// process that never calls a provider (most API containers) need not pay for at start.
    client: Arc<std::sync::OnceLock<Client>>,
    policy: HttpPolicy,
    calls: Arc<AtomicU64>,
}

/// A provider's answer with a status grantdesk can act on.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    /// The JSON body as `T`; an unreadable answer is a [`ProviderErrorKind::BadResponse`].
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        provider: TicketProviderKind,
        operation: &str,
    ) -> ProviderResult<T> {
        serde_json::from_slice(&self.body).map_err(|e| ProviderError {
            provider,
            operation: operation.to_owned(),
            kind: ProviderErrorKind::BadResponse,
            status: Some(self.status.as_u16()),
            message: format!("unexpected answer: {e}"),
            refused: Default::default(),
        })
    }
}

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads, and writes that carry their own idempotency key.
    Safe,
    /// Writes that could apply twice: retried only when the provider said it did nothing (429).
    OnlyIfRefused,
}

impl ProviderHttp {
    /// A client with `policy`.
    pub fn new(policy: HttpPolicy) -> Self {
        Self {
            client: Arc::default(),
            policy,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    fn client(&self) -> &Client {
        self.client.get_or_init(|| {
            Client::builder()
                .timeout(self.policy.timeout)
                .connect_timeout(self.policy.timeout.min(Duration::from_secs(5)))
                .user_agent(concat!("grantdesk/", env!("CARGO_PKG_VERSION")))
                // A provider API never redirects; following one would send credentials elsewhere.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("the HTTP client's TLS configuration is valid")
        })
    }

    /// How many HTTP requests have been sent (every attempt counts).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .policy
            .base_backoff
            .saturating_mul(1 << attempt.min(16))
            .min(self.policy.max_backoff);
        // Full jitter: anywhere between zero and the ceiling, so clients do not retry in step.
        let fraction = (uuid::Uuid::new_v4().as_u128() % 1_000) as u32;
        ceiling * fraction / 1_000
    }

    /// Sends a request built by `build`, retrying per `retry`. `rate_limited` tells whether an
    /// answer is a rate limit (Linear signals it in a GraphQL error on HTTP 400). Answers 2xx
    /// are returned; anything else becomes a [`ProviderError`].
    pub(crate) async fn send(
        &self,
        provider: TicketProviderKind,
        operation: &str,
        retry: Retry,
        build: impl Fn(&Client) -> RequestBuilder,
        rate_limited: impl Fn(StatusCode, &[u8]) -> bool,
        refusal: impl Fn(&[u8]) -> Refused,
    ) -> ProviderResult<Answer> {
        let error = |kind, status: Option<StatusCode>, message: String| ProviderError {
            provider,
            operation: operation.to_owned(),
            kind,
            status: status.map(|s| s.as_u16()),
            message,
            refused: Default::default(),
        };
        let deadline = tokio::time::Instant::now() + self.policy.call_budget;
        let out_of_time = || {
            error(
                ProviderErrorKind::Unavailable,
                None,
                format!(
                    "no answer within the call's {} s deadline",
                    self.policy.call_budget.as_secs_f32()
                ),
            )
        };
        // Sleeps only if the deadline leaves room for the sleep and one more attempt.
        let pause = |wait: Duration| {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            (wait + MIN_ATTEMPT <= left).then_some(wait)
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left < MIN_ATTEMPT {
                return Err(out_of_time());
            }
            let last = attempt >= self.policy.max_attempts;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let response = match build(self.client()).timeout(self.policy.timeout.min(left)).send().await {
                Ok(response) => response,
                Err(err) => {
                    let message = describe_transport_error(&err);
                    // A request that never reached the provider is always safe to send again.
                    let unsent = err.is_connect();
                    if !last && (retry == Retry::Safe || unsent) {
                        if let Some(wait) = pause(self.backoff(attempt)) {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    return Err(error(ProviderErrorKind::Unavailable, None, message));
                }
            };
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let body = match read_capped(response).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    return Err(error(
                        ProviderErrorKind::BadResponse,
                        Some(status),
                        format!("{} answer larger than {MAX_ANSWER_BYTES} bytes", status.as_u16()),
                    ))
                }
                Err(err) => {
                    if !last && retry == Retry::Safe {
                        if let Some(wait) = pause(self.backoff(attempt)) {
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    return Err(error(
                        ProviderErrorKind::Unavailable,
                        Some(status),
                        describe_transport_error(&err),
                    ));
                }
            };
            if rate_limited(status, &body) {
                let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                match pause(wait) {
                    Some(wait) if !last && wait <= self.policy.max_retry_after => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    _ => {
                        return Err(error(
                            ProviderErrorKind::RateLimited,
                            Some(status),
                            status_message(status, &body),
                        ))
                    }
                }
            }
            if status.is_server_error() {
                if !last && retry == Retry::Safe {
                    if let Some(wait) = pause(self.backoff(attempt)) {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
                return Err(error(
                    ProviderErrorKind::Unavailable,
                    Some(status),
                    status_message(status, &body),
                ));
            }
            if status.is_success() {
                return Ok(Answer { status, body });
            }
            let kind = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ProviderErrorKind::Unauthorized,
                StatusCode::NOT_FOUND => ProviderErrorKind::NotFound,
                _ => ProviderErrorKind::Rejected,
            };
            let mut refused = error(kind, Some(status), status_message(status, &body));
            refused.refused = refusal(&body);
            return Err(refused);
        }
    }
}

/// The largest provider answer read; a batch of 100 tickets is far below it.
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// The answer's body, or `None` when it is larger than [`MAX_ANSWER_BYTES`] (read no further).
async fn read_capped(mut response: reqwest::Response) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// `Retry-After` in seconds (the form Jira sends).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// The status line and the start of the body, for error messages.
pub(crate) fn status_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.chars().take(300).collect();
    let reason = status.canonical_reason().unwrap_or("");
    if snippet.trim().is_empty() {
        format!("{} {reason}", status.as_u16())
    } else {
        format!("{} {reason}: {}", status.as_u16(), snippet.trim())
    }
}

fn describe_transport_error(err: &reqwest::Error) -> String {
    // reqwest's Display includes the URL, which never carries credentials here (they travel
    // in headers), but keep the message to the failure's nature.
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else {
        "the connection failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_provider_that_never_answers_ends_the_call_at_its_deadline() {
        // A listener that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let http = ProviderHttp::new(HttpPolicy::within(Duration::from_millis(600)));
        let err = http
            .send(
                TicketProviderKind::Jira,
                "reading",
                Retry::Safe,
                |client| client.get(&url),
                |_, _| false,
                |_| Refused::Unspecified,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ProviderErrorKind::Unavailable, "{err}");
        assert_eq!(
            http.calls(),
            1,
            "one attempt fills the budget; the policy's four would take 40 s"
        );
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let http = ProviderHttp::new(HttpPolicy::default());
        for attempt in 1..10 {
            assert!(http.backoff(attempt) <= Duration::from_secs(5));
        }
        let samples: std::collections::BTreeSet<_> = (0..20).map(|_| http.backoff(3)).collect();
        assert!(samples.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
