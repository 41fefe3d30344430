//! [`HttpDapr`]: [`DaprPort`] over daprd's HTTP API.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    BoxFuture, BulkEntry, BulkOutcome, DaprConfig, DaprError, DaprPort, InvokeResponse,
    TOKEN_HEADER, refusals,
};
/// [`DaprPort`] over daprd's HTTP API.
#[derive(Debug, Clone)]
pub struct HttpDapr {
    http: reqwest::Client,
    base: String,
    api_token: Option<HeaderValue>,
    publish_timeout: Duration,
}

impl HttpDapr {
    /// A client for the sidecar described by `config`.
    pub fn new(config: &DaprConfig) -> Result<Self, DaprError> {
        Self::with_base(
            format!("http://127.0.0.1:{}", config.http_port),
            &config.api_token,
        )
    }

    /// A client for a sidecar at `base` (e.g. `http://127.0.0.1:3500`).
    pub fn with_base(base: String, api_token: &SecretString) -> Result<Self, DaprError> {
        let token = api_token.expose_secret();
        let api_token = if token.is_empty() {
            None
        } else {
            let mut value = HeaderValue::from_str(token).map_err(DaprError::InvalidToken)?;
            value.set_sensitive(true);
            Some(value)
        };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(DaprError::Client)?;
        Ok(Self {
            http,
            base,
            api_token,
            publish_timeout: Duration::from_secs(10),
        })
    }

    fn headers(&self, mut headers: HeaderMap) -> HeaderMap {
        if let Some(token) = &self.api_token {
            headers.insert(HeaderName::from_static(TOKEN_HEADER), token.clone());
        }
        headers
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), DaprError> {
        let response = request.send().await.map_err(DaprError::unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(DaprError::unreachable)?;
        Ok((status, body.to_vec()))
    }
}

/// Everything but RFC 3986's unreserved characters (letters, digits, `-_.~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

fn status_error(status: u16, body: &[u8]) -> DaprError {
    DaprError::Status {
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
    }
}

impl DaprPort for HttpDapr {
    fn invoke<'a>(
        &'a self,
        app_id: &'a str,
        http_method: reqwest::Method,
        method: &'a str,
        body: Option<serde_json::Value>,
        headers: HeaderMap,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<InvokeResponse, DaprError>> {
        // A client span per invocation; daprd continues it (traceparent) to the callee.
        let span = tracing::info_span!(
            "dapr.invoke",
            otel.name = %format!("{http_method} {app_id}"),
            otel.kind = "client",
            rpc.system = "dapr",
            server.address = %app_id,
            http.request.method = %http_method,
            http.response.status_code = tracing::field::Empty,
        );
        let mut headers = headers;
        lf_telemetry::trace::inject(&span, &mut headers);
        let call = async move {
            let url = format!("{}/v1.0/invoke/{app_id}/method/{method}", self.base);
            let mut headers = self.headers(headers);
            headers.insert(
                HeaderName::from_static(refusals::CARRY_REFUSALS_HEADER),
                HeaderValue::from_static("1"),
            );
            let mut request = self
                .http
                .request(http_method, url)
                .headers(headers)
                .timeout(timeout);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.map_err(DaprError::unreachable)?;
            let status = refusals::real_status(response.status().as_u16(), response.headers());
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(DaprError::unreachable)?
                .to_vec();
            tracing::Span::current().record("http.response.status_code", status);
            Ok(InvokeResponse {
                status,
                headers,
                body,
            })
        };
        Box::pin(tracing::Instrument::instrument(call, span))
    }

    fn publish<'a>(
        &'a self,
        pubsub: &'a str,
        topic: &'a str,
        event: &'a serde_json::Value,
        partition_key: &'a str,
        traceparent: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DaprError>> {
        Box::pin(async move {
            let url = format!(
                "{}/v1.0/publish/{pubsub}/{topic}?metadata.partitionKey={}",
                self.base,
                percent_encode(partition_key)
            );
            let mut headers = HeaderMap::new();
            if let Some(tp) = traceparent.and_then(|tp| HeaderValue::from_str(tp).ok()) {
                headers.insert(HeaderName::from_static("traceparent"), tp);
            }
            let body = serde_json::to_vec(event).map_err(DaprError::Encode)?;
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/cloudevents+json"),
            );
            let request = self
                .http
                .post(url)
                .headers(self.headers(headers))
                .timeout(self.publish_timeout)
                .body(body);
            match self.send(request).await? {
                (status, _) if (200..300).contains(&status) => Ok(()),
                (status, body) => Err(status_error(status, &body)),
            }
        })
    }

    fn bulk_publish<'a>(
        &'a self,
        pubsub: &'a str,
        topic: &'a str,
        entries: Vec<BulkEntry>,
    ) -> BoxFuture<'a, Result<BulkOutcome, DaprError>> {
        Box::pin(async move {
            let url = format!("{}/v1.0/publish/bulk/{pubsub}/{topic}", self.base);
            let request = self
                .http
                .post(url)
                .headers(self.headers(HeaderMap::new()))
                .timeout(self.publish_timeout)
                .json(&entries);
            match self.send(request).await? {
                (204, _) => Ok(BulkOutcome::default()),
                (status, body) if (200..300).contains(&status) => {
                    Ok(serde_json::from_slice(&body).unwrap_or_default())
                }
                // 500 with failedEntries: some or all entries failed.
                (status, body) => match serde_json::from_slice::<BulkOutcome>(&body) {
                    Ok(outcome) if !outcome.failed_entries.is_empty() => Ok(outcome),
                    _ => Err(status_error(status, &body)),
                },
            }
        })
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let request = self
                .http
                .get(format!("{}/v1.0/healthz", self.base))
                .timeout(Duration::from_secs(2));
            matches!(self.send(request).await, Ok((204, _)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_keys_are_encoded() {
        assert_eq!(percent_encode("learner-1_a.b~"), "learner-1_a.b~");
        assert_eq!(percent_encode("a b&c=d"), "a%20b%26c%3Dd");
    }
}
