//! Per-learner rate limiting (a keyed GCRA limiter from `governor`).
//!
//! Keyed by the authenticated learner, not the peer address: behind an ingress or
//! on loopback every client shares one address.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Learner;
use crate::error::ApiError;

/// The shared limiter.
pub type Limiter = Arc<DefaultKeyedRateLimiter<String>>;

/// A limiter allowing `per_second` sustained and `burst` at once per learner.
pub fn limiter(per_second: u32, burst: u32) -> Limiter {
    let per_second = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    let limiter = Arc::new(RateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ));
    // Forget idle learners now and then, so memory follows active learners only.
    let weak = Arc::downgrade(&limiter);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(l) => l.retain_recent(),
                None => return,
            }
        }
    });
    limiter
}

/// Middleware (inside authentication): 429 with `Retry-After` once a learner exceeds the quota.
pub async fn limit(State(limiter): State<Limiter>, request: Request, next: Next) -> Response {
    let key = Learner::id_of(&request);
    match limiter.check_key(&key) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
            .into_response()
        }
    }
}
