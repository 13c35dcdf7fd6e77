//! Shutdown coordination, mini-redis style: one broadcast "stop now" signal, and a drain that waits,
//! with a bound, for every task holding a listener to finish.
//!
//! Owns: the stop flag and the count of live listeners. Must not touch: what tasks do when told to
//! stop (the actor sends CDN/StopCCN and flushes the ledger; socket tasks just return).
//!
//! Usage: the daemon creates a [`ShutdownCoordinator`], hands each long-lived task a
//! [`ShutdownListener`] (cloned from [`ShutdownCoordinator::listener`] or from another listener) and
//! `select!`s on [`ShutdownListener::recv`] in the task's loop. On SIGTERM it calls
//! [`ShutdownCoordinator::shutdown`] with a deadline: every listener wakes, and the call returns once
//! all listeners are dropped or the deadline passes, saying which.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

struct Tracker {
    live: AtomicUsize,
    drained: Notify,
}

/// The owner of the shutdown signal.
pub struct ShutdownCoordinator {
    stop: watch::Sender<bool>,
    tracker: Arc<Tracker>,
}

impl std::fmt::Debug for ShutdownCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownCoordinator")
            .field("triggered", &*self.stop.borrow())
            .field("live_listeners", &self.tracker.live.load(Ordering::SeqCst))
            .finish()
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainOutcome {
    /// Every listener was dropped before the deadline.
    Complete,
    /// The deadline passed with this many listeners still alive; the caller exits anyway.
    TimedOut {
        /// Listeners still alive at the deadline.
        remaining: usize,
    },
}

impl Default for ShutdownCoordinator {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownCoordinator {
    /// A coordinator with no listeners, not triggered.
    pub fn new() -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            stop,
            tracker: Arc::new(Tracker {
                live: AtomicUsize::new(0),
                drained: Notify::new(),
            }),
        }
    }

    /// A new listener; the drain waits for it to be dropped.
    pub fn listener(&self) -> ShutdownListener {
        ShutdownListener::new(self.stop.subscribe(), self.tracker.clone())
    }

    /// Tells every listener to stop, without waiting.
    pub fn trigger(&self) {
        self.stop.send_replace(true);
    }

    /// Whether [`Self::trigger`] has been called.
    pub fn is_triggered(&self) -> bool {
        *self.stop.borrow()
    }

    /// Listeners alive now.
    pub fn live_listeners(&self) -> usize {
        self.tracker.live.load(Ordering::SeqCst)
    }

    /// Triggers the stop and waits until every listener is dropped or `deadline` passes.
    pub async fn shutdown(&self, deadline: Duration) -> DrainOutcome {
        self.trigger();
        let drained = async {
            loop {
                // Register interest before checking the count, so a drop in between is not missed.
                let notified = self.tracker.drained.notified();
                if self.tracker.live.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        match tokio::time::timeout(deadline, drained).await {
            Ok(()) => DrainOutcome::Complete,
            Err(_) => DrainOutcome::TimedOut {
                remaining: self.live_listeners(),
            },
        }
    }
}

/// A task's handle on the shutdown signal. Holding one keeps the drain waiting; drop it when the task
/// has finished its cleanup.
pub struct ShutdownListener {
    stop: watch::Receiver<bool>,
    tracker: Arc<Tracker>,
}

impl std::fmt::Debug for ShutdownListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownListener")
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

impl ShutdownListener {
    fn new(stop: watch::Receiver<bool>, tracker: Arc<Tracker>) -> Self {
        tracker.live.fetch_add(1, Ordering::SeqCst);
        Self { stop, tracker }
    }

    /// Whether shutdown has been signalled.
    pub fn is_shutdown(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits until shutdown is signalled (returns at once if it already was). Cancel-safe.
    pub async fn recv(&mut self) {
        // An error means the coordinator is gone, which can only happen while the process exits:
        // treat it as a shutdown too.
        let _ = self.stop.wait_for(|stopped| *stopped).await;
    }
}

impl Clone for ShutdownListener {
    fn clone(&self) -> Self {
        Self::new(self.stop.clone(), self.tracker.clone())
    }
}

impl Drop for ShutdownListener {
    fn drop(&mut self) {
        if self.tracker.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.tracker.drained.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_completes_when_every_listener_finishes() {
        let coordinator = ShutdownCoordinator::new();
        let mut tasks = Vec::new();
        for i in 0..3u64 {
            let mut listener = coordinator.listener();
            tasks.push(tokio::spawn(async move {
                listener.recv().await;
                // Cleanup that takes a while (for example waiting for StopCCN acks).
                tokio::time::sleep(Duration::from_millis(100 * (i + 1))).await;
                drop(listener);
            }));
        }
        assert_eq!(coordinator.live_listeners(), 3);
        let started = tokio::time::Instant::now();
        assert_eq!(
            coordinator.shutdown(Duration::from_secs(5)).await,
            DrainOutcome::Complete
        );
        assert_eq!(started.elapsed(), Duration::from_millis(300));
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_at_the_deadline() {
        let coordinator = ShutdownCoordinator::new();
        let stuck = coordinator.listener();
        let mut polite = coordinator.listener();
        let task = tokio::spawn(async move { polite.recv().await });
        let started = tokio::time::Instant::now();
        let outcome = coordinator.shutdown(Duration::from_secs(2)).await;
        assert_eq!(outcome, DrainOutcome::TimedOut { remaining: 1 });
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert!(stuck.is_shutdown());
        task.await.unwrap();
    }

    #[tokio::test]
    async fn listeners_created_after_the_trigger_see_it() {
        let coordinator = ShutdownCoordinator::new();
        coordinator.trigger();
        let mut late = coordinator.listener();
        assert!(late.is_shutdown());
        late.recv().await;
        let mut cloned = late.clone();
        cloned.recv().await;
        assert_eq!(coordinator.live_listeners(), 2);
    }
}
