//! Per-learner in-flight cap, inside the global concurrency limit: one token cannot hold
//! every slot of the edge with slow requests (or slow bodies) while its rate allows it.
//!
//! Keyed by the authenticated learner, like [`crate::ratelimit`]. A learner's entry
//! exists only while they have a request in flight, so memory follows active learners.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::Learner;
use crate::error::ApiError;

/// Requests in flight per learner, shared by every request.
#[derive(Debug)]
pub struct InFlight {
    max_per_learner: usize,
    counts: Mutex<HashMap<String, usize>>,
}

/// The shared cap.
pub type Cap = Arc<InFlight>;

/// A cap of `max_per_learner` requests in flight per learner (at least one).
pub fn cap(max_per_learner: usize) -> Cap {
    Arc::new(InFlight {
        max_per_learner: max_per_learner.max(1),
        counts: Mutex::new(HashMap::new()),
    })
}

/// One admitted request; its learner's count goes down when it is dropped.
struct Slot {
    cap: Cap,
    learner: String,
}

impl InFlight {
    fn admit(self: &Arc<Self>, learner: &str) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(learner.to_owned()).or_insert(0);
        if *count >= self.max_per_learner {
            return None;
        }
        *count += 1;
        Some(Slot {
            cap: Arc::clone(self),
            learner: learner.to_owned(),
        })
    }

    /// Learners with a request in flight (for tests: entries do not outlive requests).
    pub fn learners_in_flight(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.cap.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.learner) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.learner);
            }
        }
    }
}

/// Middleware (inside authentication): 429 with `Retry-After: 1` while the learner has
/// `max_per_learner` requests in flight.
pub async fn limit(State(cap): State<Cap>, request: Request, next: Next) -> Response {
    let learner = Learner::id_of(&request);
    match cap.admit(&learner) {
        // Held until the response is produced (the handler has read the whole body).
        Some(_slot) => next.run(request).await,
        None => ApiError::TooManyInFlight.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_learner_has_their_own_slots_and_they_come_back() {
        let cap = cap(2);
        let a1 = cap.admit("a").expect("first");
        let a2 = cap.admit("a").expect("second");
        assert!(cap.admit("a").is_none(), "a third one is refused");
        let b = cap.admit("b").expect("another learner is not affected");
        drop(a1);
        let a3 = cap.admit("a").expect("a slot came back");
        drop((a2, a3, b));
        assert_eq!(
            cap.learners_in_flight(),
            0,
            "no entry outlives its requests"
        );
    }
}
