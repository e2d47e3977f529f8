//! One topic incarnation: its epoch, sequence counter, history and the live
//! channel its subscribers read from.
//!
//! Publishing appends to history and sends to the live channel under one
//! lock, and subscribing snapshots history and joins the live channel under
//! the same lock, so replay hands over to live delivery with no gap and no
//! duplicate. Nothing under the lock waits for a subscriber: the live channel
//! is a bounded ring that a slow reader simply falls behind in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::broadcast;

use super::config::TopicConfig;
use super::history::{HistoryStore, Selection};
use crate::model::{EndReason, Gap, GapReason, HistoryRequest, Message, MessageId};

/// A topic incarnation. Deleting a topic and creating it again makes a new
/// `Topic` with a new epoch.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: Arc<str>,
    pub(crate) epoch: u64,
    pub(crate) config: TopicConfig,
    /// Newest seq, readable without the lock (subscribers measure lag with it).
    pub(crate) last_seq: AtomicU64,
    /// Payload bytes published so far, readable without the lock.
    pub(crate) total_bytes: AtomicU64,
    state: Mutex<TopicState>,
    /// How far (messages, payload bytes) a subscriber may fall behind the
    /// newest message; kept here, once per topic, rather than in every
    /// subscription.
    pub(crate) queue_messages: usize,
    pub(crate) queue_bytes: u64,
    /// The wall clock, µs since the Unix epoch.
    clock: fn() -> u64,
}

#[derive(Debug)]
struct TopicState {
    history: Box<dyn HistoryStore>,
    /// The live channel; created when the first subscriber joins and dropped
    /// when a publish finds nobody listening, so idle topics cost no ring.
    live: Option<broadcast::Sender<Arc<Message>>>,
    /// Set when the live channel was closed on purpose; read by subscribers
    /// when their receiver reports the channel closed.
    end: Option<EndReason>,
    /// No more publishes or subscriptions (deleted).
    closed: bool,
    /// Publish time of the newest message, µs.
    last_time_us: u64,
}

/// What a new subscription starts from.
pub(crate) struct Joined {
    pub(crate) replay: Vec<Arc<Message>>,
    pub(crate) gap: Option<Gap>,
    pub(crate) live: broadcast::Receiver<Arc<Message>>,
    pub(crate) last_seq: u64,
}

// ===== impl Topic =====

impl Topic {
    pub(crate) fn new(
        name: Arc<str>,
        epoch: u64,
        config: TopicConfig,
        history: Box<dyn HistoryStore>,
        queue_messages: usize,
        queue_bytes: u64,
        clock: fn() -> u64,
    ) -> Topic {
        Topic {
            name,
            epoch,
            config,
            last_seq: AtomicU64::new(0),
            total_bytes: AtomicU64::new(0),
            state: Mutex::new(TopicState {
                history,
                live: None,
                end: None,
                closed: false,
                last_time_us: 0,
            }),
            queue_messages: queue_messages.max(1),
            queue_bytes,
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, TopicState> {
        crate::lock::lock(&self.state)
    }

    /// The topic's time: the wall clock, but never before the newest
    /// message, so publish times only grow (history selects and expires by
    /// them in order) when the clock is stepped back.
    fn now(&self, state: &TopicState) -> u64 {
        (self.clock)().max(state.last_time_us)
    }

    /// Stores and fans out one message. `None` when the topic was deleted
    /// concurrently (the caller looks the topic up again).
    pub(crate) fn publish(&self, payload: Bytes) -> Option<(MessageId, u64)> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let seq = self.last_seq.load(Ordering::Relaxed) + 1;
        let offset = self.total_bytes.load(Ordering::Relaxed);
        let time_us = self.now(&state);
        state.last_time_us = time_us;
        let len = payload.len() as u64;
        let id = MessageId {
            epoch: self.epoch,
            seq,
        };
        let msg = Arc::new(Message::new(id, time_us, payload).at_offset(offset));
        state.history.append(msg.clone());
        // Release: a subscriber that reads these counters after receiving the
        // message sees at least this message counted.
        self.total_bytes.store(offset + len, Ordering::Release);
        self.last_seq.store(seq, Ordering::Release);
        if let Some(live) = &state.live
            && live.send(msg).is_err()
        {
            // Nobody is listening any more: free the ring.
            state.live = None;
        }
        Some((id, time_us))
    }

    /// Resolves `req` against history and joins the live channel, atomically
    /// with respect to publishes. `None` when the topic was deleted.
    pub(crate) fn join(&self, req: &HistoryRequest) -> Option<Joined> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let last_seq = self.last_seq.load(Ordering::Relaxed);
        let now = self.now(&state);
        let (replay, gap) = if req.is_empty() {
            (Vec::new(), None)
        } else {
            self.select(&mut *state.history, req, last_seq, now)
        };
        let queue = self.queue_messages;
        let live = state
            .live
            .get_or_insert_with(|| broadcast::channel(queue).0)
            .subscribe();
        Some(Joined {
            replay,
            gap,
            live,
            last_seq,
        })
    }

    fn select(
        &self,
        history: &mut dyn HistoryStore,
        req: &HistoryRequest,
        last_seq: u64,
        now: u64,
    ) -> (Vec<Arc<Message>>, Option<Gap>) {
        let mut sel = Selection {
            after_seq: 0,
            since_us: req.since_us,
            last: req.last,
        };
        let mut expected_from = None;
        let mut gap = None;
        if let Some(after) = req.after {
            if after.epoch == self.epoch && after.seq <= last_seq {
                sel.after_seq = after.seq;
                expected_from = Some(after.seq + 1);
            } else {
                // Another incarnation (or an id this one never issued): what
                // followed it is unknown. Say so, then replay what we have.
                gap = Some(Gap {
                    from: 0,
                    to: 0,
                    reason: GapReason::Epoch,
                });
            }
        }
        let replay = history.select(&sel, now);
        if let Some(from) = expected_from {
            let first = replay.first().map_or(last_seq + 1, |m| m.seq);
            if first > from {
                gap = Some(Gap {
                    from,
                    to: first - 1,
                    reason: GapReason::Expired,
                });
            }
        }
        (replay, gap)
    }

    /// Re-joins the live channel at its head after a slow subscriber chose to
    /// drop: returns the new receiver and the newest seq it will not see.
    pub(crate) fn rejoin(&self) -> Option<(broadcast::Receiver<Arc<Message>>, u64)> {
        let state = self.lock();
        let live = state.live.as_ref()?;
        Some((live.subscribe(), self.last_seq.load(Ordering::Relaxed)))
    }

    /// Why the live channel closed (read by subscribers when it does).
    pub(crate) fn end_reason(&self) -> EndReason {
        self.lock().end.clone().unwrap_or(EndReason::Shutdown)
    }

    /// Ends every current subscription with `reason`. With `delete`, the
    /// topic also refuses further publishes and subscriptions.
    pub(crate) fn close(&self, reason: EndReason, delete: bool) {
        let mut state = self.lock();
        state.end = Some(reason);
        // Dropping the sender closes the channel: receivers drain what was
        // already sent, then see it closed and read `end`.
        state.live = None;
        state.closed |= delete;
    }

    /// Number of retained history messages.
    pub(crate) fn history_len(&self) -> usize {
        self.lock().history.len()
    }
}
