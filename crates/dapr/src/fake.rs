//! A fake sidecar for per-service tests (never for end-to-end tests).
//!
//! It records publishes and answers invocations from a handler the test sets,
//! and can be told to fail, so tests can drive the outbox relay and fallbacks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::{BoxFuture, BulkEntry, BulkOutcome, DaprError, DaprPort, InvokeResponse};

/// A recorded publish.
#[derive(Debug, Clone)]
pub struct Published {
    /// Topic.
    pub topic: String,
    /// Event.
    pub event: serde_json::Value,
    /// Partition key.
    pub partition_key: String,
    /// Trace parent passed along.
    pub traceparent: Option<String>,
}

/// A recorded invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Target app id.
    pub app_id: String,
    /// Method path.
    pub method: String,
    /// Headers the caller passed.
    pub headers: HeaderMap,
}

type EventPredicate = dyn Fn(&serde_json::Value) -> bool + Send + Sync;

/// Which events are rejected, and with what status in a single publish.
type Rejecting = Option<(u16, Arc<EventPredicate>)>;

type InvokeHandler = dyn Fn(&str, &str, Option<&serde_json::Value>) -> Result<InvokeResponse, DaprError>
    + Send
    + Sync;

/// The fake.
#[derive(Clone)]
pub struct FakeSidecar {
    published: Arc<Mutex<Vec<Published>>>,
    bulk_calls: Arc<Mutex<usize>>,
    failing_publish: Arc<Mutex<bool>>,
    rejecting: Arc<Mutex<Rejecting>>,
    invoke: Arc<Mutex<Arc<InvokeHandler>>>,
    invoke_delay: Arc<Mutex<Duration>>,
    publish_delay: Arc<Mutex<Duration>>,
    invocations: Arc<Mutex<Vec<Invocation>>>,
}

impl Default for FakeSidecar {
    fn default() -> Self {
        Self {
            published: Arc::default(),
            bulk_calls: Arc::default(),
            failing_publish: Arc::default(),
            rejecting: Arc::default(),
            invoke_delay: Arc::default(),
            publish_delay: Arc::default(),
            invocations: Arc::default(),
            invoke: Arc::new(Mutex::new(Arc::new(|_, _, _| {
                Err(DaprError::Unreachable("no invoke handler set".into()))
            }))),
        }
    }
}

impl FakeSidecar {
    /// A fake that accepts publishes and fails invocations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Events published so far.
    pub fn published(&self) -> Vec<Published> {
        self.published.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Invocations so far, oldest first.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.invocations
            .lock()
            .map(|i| i.clone())
            .unwrap_or_default()
    }

    /// How many bulk publish calls were made.
    pub fn bulk_calls(&self) -> usize {
        self.bulk_calls.lock().map(|n| *n).unwrap_or(0)
    }

    /// Makes publishing fail (as when Kafka is down) or succeed again.
    pub fn set_publish_failing(&self, failing: bool) {
        if let Ok(mut f) = self.failing_publish.lock() {
            *f = failing;
        }
    }

    /// Rejects the events `poison` picks, as a broker refuses one message: a single
    /// publish answers `status`, a bulk publish lists the entry in `failedEntries` and
    /// publishes the others.
    pub fn reject_events(
        &self,
        status: u16,
        poison: impl Fn(&serde_json::Value) -> bool + Send + Sync + 'static,
    ) {
        if let Ok(mut r) = self.rejecting.lock() {
            *r = Some((status, Arc::new(poison)));
        }
    }

    fn rejection(&self, event: &serde_json::Value) -> Option<u16> {
        let rejecting = self.rejecting.lock().ok()?;
        let (status, poison) = rejecting.as_ref()?;
        poison(event).then_some(*status)
    }

    /// Sets how invocations are answered: `(app_id, method, body) -> response`.
    pub fn on_invoke(
        &self,
        handler: impl Fn(&str, &str, Option<&serde_json::Value>) -> Result<InvokeResponse, DaprError>
        + Send
        + Sync
        + 'static,
    ) {
        if let Ok(mut h) = self.invoke.lock() {
            *h = Arc::new(handler);
        }
    }

    /// Makes every successful publish (single or bulk) answer only after `delay`: the
    /// events are recorded as published at once — the broker has them — and the answer
    /// is what is slow.
    pub fn set_publish_delay(&self, delay: Duration) {
        if let Ok(mut d) = self.publish_delay.lock() {
            *d = delay;
        }
    }

    async fn answer_slowly(&self) {
        let delay = self.publish_delay.lock().map(|d| *d).unwrap_or_default();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Makes every invocation answer only after `delay` (awaited, so no thread is blocked).
    pub fn set_invoke_delay(&self, delay: Duration) {
        if let Ok(mut d) = self.invoke_delay.lock() {
            *d = delay;
        }
    }

    fn publish_failing(&self) -> bool {
        self.failing_publish.lock().map(|f| *f).unwrap_or(false)
    }

    fn record(&self, p: Published) {
        if let Ok(mut all) = self.published.lock() {
            all.push(p);
        }
    }
}

impl DaprPort for FakeSidecar {
    fn invoke<'a>(
        &'a self,
        app_id: &'a str,
        _http_method: reqwest::Method,
        method: &'a str,
        body: Option<serde_json::Value>,
        headers: HeaderMap,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<InvokeResponse, DaprError>> {
        if let Ok(mut all) = self.invocations.lock() {
            all.push(Invocation {
                app_id: app_id.to_owned(),
                method: method.to_owned(),
                headers,
            });
        }
        let handler = self.invoke.lock().map(|h| Arc::clone(&h)).ok();
        let delay = self.invoke_delay.lock().map(|d| *d).unwrap_or_default();
        Box::pin(async move {
            let answer = match handler {
                Some(h) => h(app_id, method, body.as_ref()),
                None => Err(DaprError::Unreachable("poisoned".into())),
            };
            tokio::time::sleep(delay).await;
            answer
        })
    }

    fn publish<'a>(
        &'a self,
        _pubsub: &'a str,
        topic: &'a str,
        event: &'a serde_json::Value,
        partition_key: &'a str,
        traceparent: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DaprError>> {
        Box::pin(async move {
            if self.publish_failing() {
                return Err(DaprError::Status {
                    status: 500,
                    body: "fake: pub/sub unavailable".into(),
                });
            }
            if let Some(status) = self.rejection(event) {
                return Err(DaprError::Status {
                    status,
                    body: "fake: event rejected".into(),
                });
            }
            self.record(Published {
                topic: topic.to_owned(),
                event: event.clone(),
                partition_key: partition_key.to_owned(),
                traceparent: traceparent.map(str::to_owned),
            });
            self.answer_slowly().await;
            Ok(())
        })
    }

    fn bulk_publish<'a>(
        &'a self,
        _pubsub: &'a str,
        topic: &'a str,
        entries: Vec<BulkEntry>,
    ) -> BoxFuture<'a, Result<BulkOutcome, DaprError>> {
        Box::pin(async move {
            if self.publish_failing() {
                return Err(DaprError::Status {
                    status: 500,
                    body: "fake: pub/sub unavailable".into(),
                });
            }
            if let Ok(mut n) = self.bulk_calls.lock() {
                *n += 1;
            }
            let mut outcome = BulkOutcome::default();
            for e in entries {
                if self.rejection(&e.event).is_some() {
                    outcome.failed_entries.push(crate::FailedEntry {
                        entry_id: e.entry_id,
                        error: "fake: entry rejected".into(),
                    });
                    continue;
                }
                self.record(Published {
                    topic: topic.to_owned(),
                    partition_key: e.metadata.get("partitionKey").cloned().unwrap_or_default(),
                    traceparent: e.metadata.get("cloudevent.traceparent").cloned(),
                    event: e.event,
                });
            }
            self.answer_slowly().await;
            Ok(outcome)
        })
    }

    fn healthy(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}
