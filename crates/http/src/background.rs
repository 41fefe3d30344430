//! A service's background tasks (outbox relay, backlog gauges, migrations, pool gauges,
//! Kafka poller), stopped and awaited at shutdown.
//!
//! Each task gets a [`CancellationToken`] and checks it only *between* units of work (a
//! relay round, a poll): what it has started — a batch published but not yet marked sent —
//! it finishes. [`Background::stop`] cancels the token and waits for every task, up to a
//! grace period, so that the process exits only after the work is consistent and before
//! telemetry is flushed.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long [`Background::stop`] waits by default: inside Kubernetes' 30 s termination
/// grace period, with room for the HTTP drain before it and the telemetry flush after.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// The tasks, and the token that tells them to stop.
#[derive(Debug, Clone, Default)]
pub struct Background {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Background {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns the task `start` makes from the stop token; [`Background::stop`] waits for it.
    pub fn spawn<Start, Task>(&self, start: Start)
    where
        Start: FnOnce(CancellationToken) -> Task,
        Task: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(start(self.stop.clone()));
    }

    /// Tells every task to stop and waits until all have returned, or `grace` has passed.
    /// True when all returned; otherwise the stragglers are left to the runtime's end
    /// (their open transactions roll back) and a warning says so.
    pub async fn stop(self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tasks.close();
        let running = self.tasks.len();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_ok() {
            tracing::debug!(tasks = running, "background tasks stopped");
            true
        } else {
            tracing::warn!(
                still_running = self.tasks.len(),
                grace_secs = grace.as_secs_f64(),
                "background tasks did not stop within the grace period"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn stop_waits_for_the_unit_of_work_in_progress() {
        let background = Background::new();
        let finished = Arc::new(AtomicU32::new(0));
        let started = Arc::new(tokio::sync::Notify::new());
        let (done, go) = (finished.clone(), started.clone());
        background.spawn(|stop| async move {
            loop {
                go.notify_one();
                // One unit of work, never cut short.
                tokio::time::sleep(Duration::from_millis(300)).await;
                done.fetch_add(1, Ordering::SeqCst);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(10)) => {}
                }
            }
        });
        started.notified().await;
        assert!(background.stop(Duration::from_secs(5)).await);
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the unit in progress finished"
        );
    }

    #[tokio::test]
    async fn stop_gives_up_after_the_grace_period() {
        let background = Background::new();
        background.spawn(|_ignores_stop| std::future::pending::<()>());
        let began = tokio::time::Instant::now();
        assert!(!background.stop(Duration::from_millis(200)).await);
        assert!(began.elapsed() < Duration::from_secs(2));
    }
}
