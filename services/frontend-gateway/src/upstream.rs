//! Calls to internal services through the gateway's daprd, and what their answers mean here.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use lf_dapr::DaprPort;
use lf_events::idempotency;
use lf_http::error::FieldError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The internal services, as the gateway reaches them.
#[derive(Clone)]
pub struct Upstream {
    dapr: Arc<dyn DaprPort>,
    timeout: Duration,
}

/// An upstream answer: status and JSON body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Whether the service answered from the result an earlier request with the same
    /// idempotency key stored (`Idempotent-Replayed: true`).
    pub replayed: bool,
    /// Parsed JSON body (`Null` if none or not JSON).
    pub body: serde_json::Value,
}

impl Answer {
    /// Decodes the body.
    pub fn decode<T: DeserializeOwned>(self, service: &'static str) -> Result<T, ApiError> {
        serde_json::from_value(self.body)
            .map_err(|e| ApiError::internal(format!("{service} answered a body we cannot read"), e))
    }

    /// The field errors of a 4xx JSON error body.
    pub fn field_errors(&self) -> Vec<FieldError> {
        self.body["error"]["details"]
            .as_array()
            .map(|details| {
                details
                    .iter()
                    .map(|d| FieldError {
                        field: d["field"].as_str().unwrap_or("body").to_owned(),
                        message: d["message"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Upstream {
    /// Upstream calls through `dapr`, each with `timeout`.
    pub fn new(dapr: Arc<dyn DaprPort>, timeout: Duration) -> Self {
        Self { dapr, timeout }
    }

    /// Calls `method` on `app_id` with `headers`. Unreachable, timed out, circuit open or
    /// 5xx → 503.
    pub async fn call(
        &self,
        app_id: &'static str,
        http_method: reqwest::Method,
        method: &str,
        body: Option<serde_json::Value>,
        headers: HeaderMap,
    ) -> Result<Answer, ApiError> {
        let answer = self
            .dapr
            .invoke(app_id, http_method, method, body, headers, self.timeout)
            .await
            .map_err(|e| ApiError::Unavailable {
                service: app_id,
                cause: e.to_string(),
            })?;
        if answer.status >= 500 {
            return Err(ApiError::Unavailable {
                service: app_id,
                cause: format!(
                    "answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ),
            });
        }
        let replayed = answer
            .headers
            .get(idempotency::REPLAYED_HEADER)
            .is_some_and(|v| v == "true");
        Ok(Answer {
            status: answer.status,
            replayed,
            body: serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null),
        })
    }

    /// Whether the sidecar is healthy.
    pub async fn healthy(&self) -> bool {
        self.dapr.healthy().await
    }
}
