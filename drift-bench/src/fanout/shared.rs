//! The phases the controller moves every task through, and the counters
//! every shard and the controller share.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use super::super::now_us;

/// Phases the controller moves every task through.
pub(crate) const SETUP: u8 = 0;
/// Publisher 0 sends one warm-up message to every topic.
pub(crate) const WARMUP: u8 = 1;
pub(crate) const GO: u8 = 2;
pub(crate) const STOP: u8 = 3;

/// How often the controller checks whether the measured phase is over (also
/// when it is not woken for it) and shows progress.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(100);

/// The publisher id of warm-up messages (never counted).
pub(super) const WARMUP_PUBLISHER: u16 = u16::MAX;

/// Counters shared by every shard and the controller.
pub(crate) struct Shared {
    pub subs_ready: AtomicU64,
    /// Subscribe requests sent (some servers answer only with the first data).
    pub subs_sent: AtomicU64,
    /// Subscriptions that received the warm-up message.
    pub warmed: AtomicU64,
    pub subs_failed: AtomicU64,
    pub pubs_ready: AtomicU64,
    pub pubs_failed: AtomicU64,
    pub published: AtomicU64,
    pub pub_errors: AtomicU64,
    /// Deliveries of messages this subscriber had not seen before.
    pub received: AtomicU64,
    pub last_recv_us: AtomicU64,
    pub last_pub_us: AtomicU64,
    pub phase: watch::Sender<u8>,
    pub first_error: std::sync::Mutex<Option<String>>,
    /// Publishes (answered or failed) and deliveries that complete the run
    /// (0 for what a scenario does not do).
    attempts_expected: u64,
    deliveries_expected: u64,
    /// The thread that made this, which runs the scenario's phases: it
    /// sleeps between its checks, and whatever completes the run wakes it.
    controller: std::thread::Thread,
}

impl Shared {
    pub(crate) fn new(attempts_expected: u64, deliveries_expected: u64) -> Arc<Shared> {
        Arc::new(Shared {
            subs_ready: AtomicU64::new(0),
            subs_sent: AtomicU64::new(0),
            warmed: AtomicU64::new(0),
            subs_failed: AtomicU64::new(0),
            pubs_ready: AtomicU64::new(0),
            pubs_failed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            pub_errors: AtomicU64::new(0),
            received: AtomicU64::new(0),
            last_recv_us: AtomicU64::new(0),
            last_pub_us: AtomicU64::new(0),
            phase: watch::channel(SETUP).0,
            first_error: std::sync::Mutex::new(None),
            attempts_expected,
            deliveries_expected,
            controller: std::thread::current(),
        })
    }

    /// Every expected publish has been answered or has failed, and every
    /// expected delivery has arrived.
    pub(crate) fn complete(&self) -> bool {
        self.publishing_done() && self.received.load(Ordering::SeqCst) >= self.deliveries_expected
    }

    /// Every expected publish has been answered or has failed.
    pub(crate) fn publishing_done(&self) -> bool {
        self.attempts() >= self.attempts_expected
    }

    /// Publishes answered or failed.
    fn attempts(&self) -> u64 {
        self.published.load(Ordering::SeqCst) + self.pub_errors.load(Ordering::SeqCst)
    }

    /// Counts a publish the server answered.
    pub(crate) fn publish_answered(&self) {
        self.last_pub_us.fetch_max(now_us(), Ordering::Relaxed);
        self.count_attempt(&self.published);
    }

    /// Counts a publish that failed.
    pub(crate) fn publish_failed(&self, e: impl std::fmt::Display) {
        self.error(e);
        self.count_attempt(&self.pub_errors);
    }

    fn count_attempt(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        // Read after the increment, so the attempt counted last sees the
        // total at its target (scenarios never attempt more than expected).
        if self.attempts() == self.attempts_expected {
            self.wake_if_complete();
        }
    }

    /// Counts `new` first deliveries, the latest at `now_us`.
    pub(super) fn delivered(&self, new: u64, now_us: u64) {
        self.last_recv_us.fetch_max(now_us, Ordering::Relaxed);
        let before = self.received.fetch_add(new, Ordering::SeqCst);
        // Only the deliveries that reach the target read the rest of the
        // run's state: the per-delivery path stays one comparison.
        if before < self.deliveries_expected && before + new >= self.deliveries_expected {
            self.wake_if_complete();
        }
    }

    /// Wakes the controller when the run is complete. Of two counts that
    /// reach their targets at once, at least one sees the other (SeqCst).
    fn wake_if_complete(&self) {
        if self.complete() {
            self.controller.unpark();
        }
    }

    pub(crate) fn error(&self, e: impl std::fmt::Display) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    pub(crate) fn set_phase(&self, phase: u8) {
        self.phase.send_replace(phase);
    }

    pub(crate) fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Waits until the phase is at least `phase`.
pub(crate) async fn until(rx: &mut watch::Receiver<u8>, phase: u8) {
    let _ = rx.wait_for(|p| *p >= phase).await;
}
