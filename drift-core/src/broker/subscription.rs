//! A subscriber's view of a topic: first the gap (if any) and history it
//! asked for, then live messages, then one end event.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use futures_core::Stream;

use super::SubscriptionSlot;
use super::ring::{Received, Receiver};
use super::topic::{Joined, Topic};
use crate::model::{EndReason, Event, Gap, GapReason, Message, MessageId, SlowPolicy};

/// A live subscription to one topic incarnation; a `Stream` of [`Event`]s.
///
/// It holds no queue of its own: it reads the topic's shared ring, which
/// drops what it has not read once it falls `queue_messages` messages or
/// `queue_bytes` charged bytes behind the newest message; it is then too
/// slow. Dropping it unsubscribes.
pub struct Subscription {
    topic: Arc<Topic>,
    replay: std::vec::IntoIter<Arc<Message>>,
    initial_gap: Option<Gap>,
    /// The initial gap is still to be handed out (it is the first event).
    gap_pending: bool,
    live: Receiver,
    /// A live message held back while the gap before it is handed out.
    after_gap: Option<Arc<Message>>,
    /// Seq of the last message handed out (or the starting point).
    delivered: u64,
    start_last_seq: u64,
    created: bool,
    policy: SlowPolicy,
    done: bool,
    /// When the grant it was made under ends: then it ends, with reason
    /// `unauthorized`.
    expiry: Option<Expiry>,
    _slot: SubscriptionSlot,
}

/// A subscription's end by its grant's expiry. The timer is made at the
/// first poll, on the runtime that polls it (a connection thread's).
struct Expiry {
    at: SystemTime,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Expiry {
    /// Ready once `at` has come by the wall clock (which `exp` is in; the
    /// monotonic timer only says when to look again).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let remaining = match self.at.duration_since(SystemTime::now()) {
                Ok(d) if !d.is_zero() => d,
                _ => return Poll::Ready(()),
            };
            // An end past what the timer can hold never comes.
            let Some(deadline) = tokio::time::Instant::now().checked_add(remaining) else {
                return Poll::Pending;
            };
            match &mut self.timer {
                Some(timer) if !timer.is_elapsed() => {}
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            if let Some(timer) = &mut self.timer {
                ready!(timer.as_mut().poll(cx));
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.topic.leave() {
            self._slot.broker().left(&self.topic);
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic.name)
            .field("epoch", &self.topic.epoch)
            .field("delivered", &self.delivered)
            .field("done", &self.done)
            .finish()
    }
}

// ===== impl Subscription =====

impl Subscription {
    pub(crate) fn new(
        topic: Arc<Topic>,
        joined: Joined,
        created: bool,
        policy: SlowPolicy,
        slot: SubscriptionSlot,
    ) -> Subscription {
        let delivered = joined
            .replay
            .first()
            .map_or(joined.last_seq, |m| m.seq.saturating_sub(1));
        Subscription {
            topic,
            replay: joined.replay.into_iter(),
            initial_gap: joined.gap,
            gap_pending: joined.gap.is_some(),
            live: joined.live,
            after_gap: None,
            delivered,
            start_last_seq: joined.last_seq,
            created,
            policy,
            done: false,
            expiry: None,
            _slot: slot,
        }
    }

    /// The same subscription, ending with reason `unauthorized` at
    /// `expires` (when that is `Some`).
    pub(crate) fn until(mut self, expires: Option<SystemTime>) -> Subscription {
        self.expiry = expires.map(|at| Expiry { at, timer: None });
        self
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic.name
    }

    /// The topic incarnation this subscription reads.
    pub fn epoch(&self) -> u64 {
        self.topic.epoch
    }

    /// Whether the topic keeps history.
    pub fn history_enabled(&self) -> bool {
        self.topic.config.history
    }

    /// The gap found while resolving the history request, if any (it is also
    /// the first event of the stream).
    pub fn initial_gap(&self) -> Option<Gap> {
        self.initial_gap
    }

    /// True when this subscription created the topic.
    pub fn created_topic(&self) -> bool {
        self.created
    }

    /// The topic's newest seq when the subscription started (0 for none).
    pub fn start_last_seq(&self) -> u64 {
        self.start_last_seq
    }

    /// The topic's newest seq fanned out so far (for how far behind this
    /// subscription is).
    pub(crate) fn newest_seq(&self) -> u64 {
        self.topic.last_seq.load(Ordering::Relaxed)
    }

    /// Seq of the last message handed out so far.
    pub fn last_delivered(&self) -> u64 {
        self.delivered
    }

    /// The id of `msg` in this subscription's epoch.
    pub fn id_of(&self, msg: &Message) -> MessageId {
        MessageId {
            epoch: self.topic.epoch,
            seq: msg.seq,
        }
    }

    /// The next event; `None` after the end event.
    pub async fn next_event(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    fn finish(&mut self, reason: EndReason) -> Poll<Option<Event>> {
        self.done = true;
        Poll::Ready(Some(Event::End(reason)))
    }

    /// The ring dropped messages this subscriber had not read yet, from
    /// `first_missing` on. It gives up the rest of what it holds there
    /// either way, so that a subscription about to end pins nothing.
    fn on_slow(&mut self, first_missing: u64) -> Poll<Option<Event>> {
        let newest = self.live.skip_to_newest();
        match self.policy {
            SlowPolicy::Disconnect => self.finish(EndReason::SlowConsumer),
            SlowPolicy::Drop => {
                // Skipped to the newest message: one that catches up from
                // the oldest it missed would most likely fall behind again.
                let to = newest.max(first_missing);
                self.delivered = to.max(self.delivered);
                Poll::Ready(Some(Event::Gap(Gap {
                    from: first_missing,
                    to,
                    reason: GapReason::Dropped,
                })))
            }
        }
    }
}

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(expiry) = &mut this.expiry
            && expiry.poll(cx).is_ready()
        {
            return this.finish(EndReason::Unauthorized);
        }
        if std::mem::take(&mut this.gap_pending)
            && let Some(gap) = this.initial_gap
        {
            return Poll::Ready(Some(Event::Gap(gap)));
        }
        if let Some(msg) = this.replay.next() {
            this.delivered = msg.seq;
            return Poll::Ready(Some(Event::Message(msg)));
        }
        if let Some(msg) = this.after_gap.take() {
            return Poll::Ready(Some(Event::Message(msg)));
        }
        loop {
            match ready!(this.live.poll_recv(cx)) {
                Received::Message(msg) => {
                    if msg.seq <= this.delivered {
                        continue; // already replayed from history
                    }
                    if msg.seq > this.delivered + 1 {
                        // Seqs the store numbered that never reached this
                        // node (a shared store's lost notices whose messages
                        // had left its log): said, never silent.
                        let gap = Gap {
                            from: this.delivered + 1,
                            to: msg.seq - 1,
                            reason: GapReason::Expired,
                        };
                        this.delivered = msg.seq;
                        this.after_gap = Some(msg);
                        return Poll::Ready(Some(Event::Gap(gap)));
                    }
                    this.delivered = msg.seq;
                    return Poll::Ready(Some(Event::Message(msg)));
                }
                Received::Lagged => {
                    let first_missing = this.delivered + 1;
                    return this.on_slow(first_missing);
                }
                Received::Closed => {
                    let reason = this.topic.end_reason();
                    return this.finish(reason);
                }
            }
        }
    }
}
