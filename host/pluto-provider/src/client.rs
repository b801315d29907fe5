//! The one HTTP client every provider shares: connection reuse, retries before the first
//! streamed byte, and a bound on how long a stream may stay silent.

use std::time::Duration;

use futures::{Stream, StreamExt};
use pluto_core::ProviderError;

/// When and how often a failed request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 4).
    pub attempts: u32,
    /// The first backoff; each retry doubles it, with jitter (default 500 ms).
    pub base_delay: Duration,
    /// The longest wait between attempts, `Retry-After` included (default 60 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): exponential, with jitter in [50%, 100%].
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        exp.min(self.max_delay).mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// A shared HTTP client for providers (and any other outgoing HTTP of the host).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    retry: RetryPolicy,
    idle_timeout: Duration,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with a 10 s connect timeout, default retries and a 120 s idle-stream timeout.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("pluto/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the TLS backend initializes");
        HttpClient {
            client,
            retry: RetryPolicy::default(),
            idle_timeout: Duration::from_secs(120),
        }
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client with another bound on a stream's silence.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// The underlying reqwest client (shared connection pool).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// POSTs `body` as JSON and returns the response once it is a success, retrying on 408,
    /// 429, 5xx and connection errors (honouring `Retry-After`).
    pub(crate) async fn post(
        &self,
        provider: &'static str,
        url: &str,
        headers: &[(&'static str, String)],
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, ProviderError> {
        let body = serde_json::to_vec(body).expect("a JSON value serializes");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let last = attempt >= self.retry.attempts;
            let (error, wait) = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = retry_after(&response);
                    let text = response.text().await.unwrap_or_default();
                    let error = ProviderError::Http {
                        provider,
                        status,
                        message: error_message(&text),
                    };
                    if !matches!(status, 408 | 429 | 500..=599) || last {
                        return Err(error);
                    }
                    (error, retry_after)
                }
                Err(e) => {
                    let error = ProviderError::Connect {
                        provider,
                        url: url.to_owned(),
                        message: root_cause(&e),
                    };
                    if last {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            let wait = wait.map_or_else(
                || self.retry.backoff(attempt),
                |w| w.min(self.retry.max_delay),
            );
            tracing::warn!(provider, attempt, %error, ?wait, "provider request failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// The response body as a stream of chunks; a silence longer than the idle timeout, or a
    /// connection lost mid-body, is an error.
    pub(crate) fn chunks(
        &self,
        provider: &'static str,
        response: reqwest::Response,
    ) -> impl Stream<Item = Result<bytes::Bytes, ProviderError>> + Send + Unpin + use<> {
        let idle = self.idle_timeout;
        let inner = response.bytes_stream();
        Box::pin(futures::stream::unfold(
            Some(inner),
            move |state| async move {
                let mut inner = state?;
                match tokio::time::timeout(idle, inner.next()).await {
                    Err(_) => Some((Err(ProviderError::IdleTimeout { provider, idle }), None)),
                    Ok(None) => None,
                    Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(inner))),
                    Ok(Some(Err(e))) => Some((
                        Err(ProviderError::StreamCut {
                            provider,
                            message: root_cause(&e),
                        }),
                        None,
                    )),
                }
            },
        ))
    }
}

impl HttpClient {
    /// The response body as server-sent events, with the same errors as [`HttpClient::chunks`].
    pub(crate) fn sse(
        &self,
        provider: &'static str,
        response: reqwest::Response,
    ) -> impl Stream<Item = Result<eventsource_stream::Event, ProviderError>> + Send + Unpin + use<>
    {
        use eventsource_stream::{EventStreamError, Eventsource};
        self.chunks(provider, response)
            .eventsource()
            .map(move |event| {
                event.map_err(|e| match e {
                    EventStreamError::Transport(e) => e,
                    other => ProviderError::Malformed {
                        provider,
                        message: other.to_string(),
                    },
                })
            })
    }
}

/// `Retry-After` in seconds (fractions allowed), if the response has one.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// The message of a provider's error body (`{"error": {"message"}}`, `{"error": "..."}`), or
/// the start of the body.
pub(crate) fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let found = v
            .pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str());
        if let Some(m) = found {
            return m.to_owned();
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return "(empty body)".to_owned();
    }
    body.chars().take(300).collect()
}

/// The innermost cause of an error, which is where reqwest keeps the useful part.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if cause.to_string() == e.to_string() {
        e.to_string()
    } else {
        format!("{e}: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        let first = p.backoff(1);
        assert!(
            first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
            "{first:?}"
        );
        let third = p.backoff(3);
        assert!(
            third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
            "{third:?}"
        );
        assert!(p.backoff(30) <= Duration::from_secs(1));
    }

    #[test]
    fn error_messages_come_from_each_shape() {
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key","type":"x"}}"#),
            "bad key"
        );
        assert_eq!(
            error_message(r#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(error_message("<html>502</html>"), "<html>502</html>");
        assert_eq!(error_message(""), "(empty body)");
    }
}
