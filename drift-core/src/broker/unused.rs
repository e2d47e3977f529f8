//! Topics that subscribers made by asking for them and then left: no `PUT`
//! created them and nothing was ever published there. Each costs a topic
//! entry and its store's log (about 10 KB) and counts against the topic
//! limit, so one client subscribing to many names and leaving would hold
//! them forever. They are forgotten [`BrokerConfig::unused_topic_expiry`]
//! after their last subscriber left: soon enough to bound what such a
//! client holds, late enough that a subscriber that reconnects (or a `HEAD`
//! right after a subscribe, as the original server answers it) still finds
//! the topic.
//!
//! A queue in leave order holds the candidates (a topic is in it at most
//! once); it is looked at whenever a topic is made, listed or counted, and
//! by a timer task on the runtime of whoever left first, so an idle server
//! forgets them too. Whether a topic is still unused is decided again, under
//! its locks, when it is due (see `Broker::forget_if_unused`).
//!
//! [`BrokerConfig::unused_topic_expiry`]: super::BrokerConfig::unused_topic_expiry

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::time::Instant;

use super::topic::Topic;

/// The candidates, oldest first.
#[derive(Debug, Default)]
pub(crate) struct UnusedTopics {
    queue: Mutex<VecDeque<(Instant, Weak<Topic>)>>,
    /// A timer task is waiting for the queue's front.
    timer: AtomicBool,
}

impl UnusedTopics {
    /// Adds `t`, due at `at`.
    pub(crate) fn push(&self, at: Instant, t: &Arc<Topic>) {
        crate::lock::lock(&self.queue).push_back((at, Arc::downgrade(t)));
    }

    /// Takes every candidate due by now (still alive).
    pub(crate) fn take_due(&self) -> Vec<Arc<Topic>> {
        let now = Instant::now();
        let mut queue = crate::lock::lock(&self.queue);
        let mut due = Vec::new();
        while queue.front().is_some_and(|(at, _)| *at <= now) {
            if let Some(t) = queue.pop_front().and_then(|(_, t)| t.upgrade()) {
                due.push(t);
            }
        }
        due
    }

    /// When the next candidate is due; `None` when there is none.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        crate::lock::lock(&self.queue).front().map(|(at, _)| *at)
    }

    /// Claims the timer: `true` when no timer task is running (the caller
    /// starts one, and calls [`UnusedTopics::timer_done`] when it ends).
    pub(crate) fn claim_timer(&self) -> bool {
        !self.timer.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn timer_done(&self) {
        self.timer.store(false, Ordering::Release);
    }
}
