//! [`SubscriptionHandle`]: what other threads hold of a subscription that
//! one reader reads — the C library's `drift_subscription` and Python's
//! `Subscription` and `AsyncSubscription` all need the same three things:
//! close it from anywhere and wake a reader that is waiting at once, and
//! read its last id and why it ended while the reader waits.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

use super::{Subscription, SubscriptionEvent};
use crate::error::Result;
use crate::model::MessageId;

/// The end reason [`SubscriptionHandle::close`] records.
pub const CLOSED: &str = "closed";

/// A cheap, cloneable handle on a subscription, for any thread: see the
/// module documentation. The subscription itself stays with its reader,
/// which reads it through [`SubscriptionHandle::next`] so that what it
/// reads is noted here and a close wakes it.
#[derive(Clone)]
pub struct SubscriptionHandle {
    inner: Arc<Inner>,
}

struct Inner {
    closing: watch::Sender<bool>,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    last_id: Option<MessageId>,
    end_reason: Option<String>,
}

impl Default for SubscriptionHandle {
    fn default() -> Self {
        SubscriptionHandle::new()
    }
}

impl SubscriptionHandle {
    /// A handle for a subscription that has not ended.
    pub fn new() -> SubscriptionHandle {
        SubscriptionHandle {
            inner: Arc::new(Inner {
                closing: watch::channel(false).0,
                seen: Mutex::new(Seen::default()),
            }),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        // Held only to copy a few fields; never across a wait.
        self.inner.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the subscription: a reader waiting in [`SubscriptionHandle::next`]
    /// returns `None` at once, and so does every later call. The end reason
    /// becomes [`CLOSED`] unless the subscription had ended already.
    pub fn close(&self) {
        self.end(CLOSED);
        self.inner.closing.send_replace(true);
    }

    /// Whether [`SubscriptionHandle::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.inner.closing.borrow()
    }

    /// Records why the subscription ended, unless that is known already (the
    /// first reason stays).
    pub fn end(&self, reason: &str) {
        self.seen()
            .end_reason
            .get_or_insert_with(|| reason.to_owned());
    }

    /// The id of the last message read, `None` before the first.
    pub fn last_id(&self) -> Option<MessageId> {
        self.seen().last_id
    }

    /// Why the subscription ended: the server's reason (`"deleted"`,
    /// `"shutdown"`, …), [`CLOSED`], or `"error: …"` when it failed; `None`
    /// while it goes on.
    pub fn end_reason(&self) -> Option<String> {
        self.seen().end_reason.clone()
    }

    /// Reads the next event of `sub` (the subscription this handle is for),
    /// unless the handle is closed first, and notes what the event says: a
    /// message's id, an end's reason, a failure's text. `None` when closed
    /// or when the subscription is over.
    ///
    /// Cancel-safe, as [`Subscription::next_event`]: dropped while waiting,
    /// it loses nothing.
    pub async fn next(&self, sub: &mut Subscription) -> Option<Result<SubscriptionEvent>> {
        let mut closing = self.inner.closing.subscribe();
        let next = tokio::select! {
            biased;
            _ = closing.wait_for(|closed| *closed) => return None,
            next = sub.next_event() => next,
        };
        self.observe(next.as_ref());
        next
    }

    /// Notes what one item read from the subscription says.
    fn observe(&self, next: Option<&Result<SubscriptionEvent>>) {
        let mut seen = self.seen();
        match next {
            Some(Ok(SubscriptionEvent::Message(m))) if m.id.is_some() => seen.last_id = m.id,
            Some(Ok(SubscriptionEvent::End(reason))) => {
                seen.end_reason.get_or_insert_with(|| reason.to_string());
            }
            Some(Err(e)) => {
                seen.end_reason.get_or_insert_with(|| format!("error: {e}"));
            }
            // A message without an id (raw framing), a gap, the end.
            Some(Ok(_)) | None => {}
        }
    }
}

impl fmt::Debug for SubscriptionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seen = self.seen();
        f.debug_struct("SubscriptionHandle")
            .field("closed", &self.is_closed())
            .field("last_id", &seen.last_id)
            .field("end_reason", &seen.end_reason)
            .finish()
    }
}
