//! One topic incarnation as the broker sees it: the store's log of it, and
//! the live channel its subscribers read from.
//!
//! A publish is appended to the log first (the store assigns the seqs), then
//! fanned out. Appends may complete out of order (a store answers batches
//! whenever it has committed them, and their publishers run on different
//! threads), so fan-out goes through a small reorder buffer: a batch is sent
//! to the live channel only once every earlier seq has been, and subscribers
//! see seqs in order with no hole. Nothing under the lock waits for a
//! subscriber or for the store: the live channel is a ring bounded from the
//! publish side (`broker/ring.rs`) that a slow reader falls out of.
//!
//! A subscriber joins the live channel first, then reads history from the
//! log, and skips live messages it has already replayed: the handoff is by
//! seq, the same for every store, so it has no gap and no duplicate.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;

use super::config::TopicConfig;
use super::ring::{Receiver, Ring};
use super::store::{Appended, Selection, StoreFuture, TopicLog, TopicStore};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EndReason, Gap, GapReason, HistoryRequest, Message, MessageId};

/// A topic incarnation. Deleting a topic and creating it again makes a new
/// `Topic` with a new epoch.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: Arc<str>,
    pub(crate) epoch: u64,
    pub(crate) config: TopicConfig,
    pub(crate) log: Arc<dyn TopicLog>,
    /// Newest seq fanned out, readable without the lock (subscribers
    /// measure lag with it).
    pub(crate) last_seq: AtomicU64,
    state: Mutex<TopicState>,
    /// The live ring's bounds: how far (messages, charged bytes) a
    /// subscriber may fall behind the newest message.
    queue_messages: usize,
    queue_bytes: u64,
}

#[derive(Debug)]
struct TopicState {
    /// The live channel; created when the first subscriber joins and dropped
    /// when a publish finds nobody listening, so idle topics cost no ring.
    live: Option<Arc<Ring>>,
    /// Batches the store has accepted whose earlier seqs are not yet fanned
    /// out, by first seq.
    waiting: BTreeMap<u64, Batch>,
    /// Set when the live channel was closed on purpose; read by subscribers
    /// when their receiver reports the channel closed.
    end: Option<EndReason>,
    /// No more publishes or subscriptions (deleted, or forgotten unused).
    closed: bool,
    /// Created by `PUT` (or confirmed by one): kept even when unused.
    explicit: bool,
    /// When the last subscriber left (see `broker/unused.rs`).
    left_at: Option<tokio::time::Instant>,
    /// In the broker's queue of unused topics.
    queued_unused: bool,
}

/// What the queue of unused topics does with a topic that is due.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Its expiry has passed since its last subscriber left: forget it if
    /// it is still unused.
    Now,
    /// Subscribed and left again since: look again then.
    At(tokio::time::Instant),
    /// Subscribed now (or closed): out of the queue until it is left again.
    Never,
}

#[derive(Debug)]
enum Batch {
    /// Messages to send.
    Messages { time_us: u64, payloads: Vec<Bytes> },
    /// Seqs up to this one that can no longer be had: skipped, so that
    /// subscribers see the jump as a gap.
    Missed { to: u64 },
}

/// An append the store answers later. Whoever holds it when the answer
/// comes fans the batch out: the publisher awaiting it, or, when the
/// publisher went away first, a task it handed the rest to on being dropped
/// (so the common case costs no task of its own).
struct PendingAppend {
    topic: Arc<Topic>,
    payloads: Vec<Bytes>,
    call: Option<StoreFuture<Appended>>,
}

impl Future for PendingAppend {
    type Output = Result<Appended>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Appended>> {
        let this = &mut *self;
        let Some(call) = this.call.as_mut() else {
            return Poll::Ready(Err(Error::new(ErrorKind::Internal, "append polled again")));
        };
        let outcome = std::task::ready!(Pin::new(call).poll(cx));
        this.call = None;
        if let Ok(appended) = &outcome {
            this.topic.fan_out(*appended, &this.payloads);
        }
        Poll::Ready(outcome)
    }
}

impl Drop for PendingAppend {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let (topic, payloads) = (self.topic.clone(), std::mem::take(&mut self.payloads));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Ok(appended) = call.await {
                        topic.fan_out(appended, &payloads);
                    }
                });
            }
            Err(_) => tracing::error!(
                "a publish to {} was dropped outside a runtime before its store answered; \
                 live subscribers will wait for it",
                topic.name
            ),
        }
    }
}

/// What a new subscription starts from.
pub(crate) struct Joined {
    pub(crate) replay: Vec<Arc<Message>>,
    pub(crate) gap: Option<Gap>,
    pub(crate) live: Receiver,
    pub(crate) last_seq: u64,
}

// ===== impl Topic =====

impl Topic {
    pub(crate) fn new(log: Arc<dyn TopicLog>, queue_messages: usize, queue_bytes: u64) -> Topic {
        Topic {
            name: Arc::from(log.name()),
            epoch: log.epoch(),
            config: *log.config(),
            last_seq: AtomicU64::new(log.last_seq()),
            log,
            state: Mutex::new(TopicState {
                live: None,
                waiting: BTreeMap::new(),
                end: None,
                closed: false,
                explicit: false,
                left_at: None,
                queued_unused: false,
            }),
            queue_messages: queue_messages.max(1),
            queue_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, TopicState> {
        crate::lock::lock(&self.state)
    }

    /// Appends `payloads` to the log and fans them out. A batch the store
    /// accepted is fanned out even when the caller goes away before the
    /// store answers (a missing seq would hold every later one back): see
    /// [`PendingAppend`].
    pub(crate) async fn publish(self: &Arc<Self>, payloads: &[Bytes]) -> Result<Appended> {
        let later = match self.log.append(payloads).now() {
            Ok(outcome) => {
                let appended = outcome?;
                self.fan_out(appended, payloads);
                return Ok(appended);
            }
            Err(later) => later,
        };
        PendingAppend {
            topic: self.clone(),
            payloads: payloads.to_vec(),
            call: Some(later.into_future()),
        }
        .await
    }

    /// Sends a batch the store accepted to the live channel, after every
    /// batch before it.
    pub(crate) fn fan_out(&self, appended: Appended, payloads: &[Bytes]) {
        let mut state = self.lock();
        if payloads.is_empty() || state.closed {
            return;
        }
        let next = self.last_seq.load(Ordering::Relaxed) + 1;
        if appended.first_seq > next {
            if state.live.is_none() {
                // Nobody here listens, so nothing waits for the seqs before
                // it (a shared store numbers other nodes' batches too, and
                // this node hears of them only while it watches).
                self.skip_to(&mut state, appended.first_seq + payloads.len() as u64 - 1);
                return;
            }
            let batch = Batch::Messages {
                time_us: appended.time_us,
                payloads: payloads.to_vec(),
            };
            state.waiting.insert(appended.first_seq, batch);
            return;
        }
        if appended.first_seq < next {
            return; // already fanned out (a store repeating itself)
        }
        self.send(&mut state, appended, payloads);
        self.send_waiting(&mut state);
    }

    /// Seqs `from..=to` were published but cannot be had: live subscribers
    /// see them as a gap once every seq before them went out.
    pub(crate) fn missed(&self, from: u64, to: u64) {
        let mut state = self.lock();
        let next = self.last_seq.load(Ordering::Relaxed) + 1;
        if state.closed || to < next {
            return;
        }
        if from > next && state.live.is_some() {
            state.waiting.insert(from, Batch::Missed { to });
            return;
        }
        self.last_seq.store(to, Ordering::Release);
        self.send_waiting(&mut state);
    }

    /// Sends the waiting batches that now follow on.
    fn send_waiting(&self, state: &mut TopicState) {
        loop {
            let next = self.last_seq.load(Ordering::Relaxed) + 1;
            let Some(entry) = state.waiting.first_entry() else {
                break;
            };
            if *entry.key() > next {
                break;
            }
            let first_seq = *entry.key();
            match entry.remove() {
                Batch::Messages { time_us, payloads } => {
                    // A batch overlapping what went out is a repeat.
                    if first_seq == next {
                        self.send(state, Appended { first_seq, time_us }, &payloads);
                    }
                }
                Batch::Missed { to } => {
                    if to >= next {
                        self.last_seq.store(to, Ordering::Release);
                    }
                }
            }
        }
    }

    /// Moves the newest seq fanned out on to `seq` (when it is behind),
    /// dropping what waited before it.
    fn skip_to(&self, state: &mut TopicState, seq: u64) {
        if seq > self.last_seq.load(Ordering::Relaxed) {
            self.last_seq.store(seq, Ordering::Release);
        }
        let next = self.last_seq.load(Ordering::Relaxed) + 1;
        state.waiting = state.waiting.split_off(&next);
        self.send_waiting(state);
    }

    fn send(&self, state: &mut TopicState, appended: Appended, payloads: &[Bytes]) {
        let Some(newest) = (appended.first_seq + payloads.len() as u64).checked_sub(1) else {
            return;
        };
        // Release: a subscriber that reads it after receiving a message sees
        // at least that message counted.
        self.last_seq.store(newest, Ordering::Release);
        let Some(live) = &state.live else {
            return; // nobody listens: no message is even made
        };
        let epoch = self.epoch;
        let messages = (appended.first_seq..).zip(payloads).map(|(seq, payload)| {
            let id = MessageId { epoch, seq };
            Arc::new(Message::new(id, appended.time_us, payload.clone()))
        });
        if !live.push(messages) {
            // Nobody is listening any more: free the ring.
            state.live = None;
        }
    }

    /// Joins the live channel, then resolves `req` against the log. `None`
    /// when the topic was deleted. Each join that answers `Some(Ok)` is
    /// watched in the store until its [`Topic::leave`].
    pub(crate) async fn join(&self, req: &HistoryRequest) -> Option<Result<Joined>> {
        // A shared store first makes sure other nodes' batches reach this
        // one, and says where they start.
        let watched = match self.log.watch().await {
            Ok(w) => w,
            Err(e) => return Some(Err(e)),
        };
        let (live, last_seq) = {
            let mut state = self.lock();
            if state.closed {
                drop(state);
                self.log.unwatch();
                return None;
            }
            let live = match &state.live {
                Some(live) => live.subscribe(),
                None => {
                    // The first subscriber here: what the store holds before
                    // the watch began is history, not live (no one listened).
                    if let Some(seq) = watched {
                        self.skip_to(&mut state, seq);
                    }
                    let ring = Arc::new(Ring::new(self.queue_messages, self.queue_bytes));
                    let receiver = ring.subscribe();
                    state.live = Some(ring);
                    receiver
                }
            };
            (live, self.last_seq.load(Ordering::Relaxed))
        };
        let (replay, gap) = if req.is_empty() {
            (Vec::new(), None)
        } else {
            match self.select(req, last_seq).await {
                Ok(selected) => selected,
                Err(e) => {
                    // Left with the receiver still held: it counts as the
                    // leaving one.
                    // (A failed read leaves the topic as it was: it is not
                    // forgotten here.)
                    let _ = self.leave();
                    drop(live);
                    return Some(Err(e));
                }
            }
        };
        // The log may already hold messages not yet fanned out when the
        // subscriber joined; they are replayed (and skipped when they come
        // live), so the subscription starts after the newest of them.
        let last_seq = replay.last().map_or(last_seq, |m| m.seq.max(last_seq));
        Some(Ok(Joined {
            replay,
            gap,
            live,
            last_seq,
        }))
    }

    async fn select(
        &self,
        req: &HistoryRequest,
        last_seq: u64,
    ) -> Result<(Vec<Arc<Message>>, Option<Gap>)> {
        let mut sel = Selection {
            after_seq: 0,
            since_us: req.since_us,
            last: req.last,
        };
        // The newest seq this subscriber could know of: fanned out, or at
        // least accepted by the store.
        let known = last_seq.max(self.log.last_seq());
        let mut expected_from = None;
        let mut gap = None;
        if let Some(after) = req.after {
            if after.epoch == self.epoch && after.seq <= known {
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
        let replay = self.log.read(&sel).await?;
        if let Some(from) = expected_from {
            // Live delivery starts after `last_seq`; history must reach back
            // to `from` for nothing to be missing.
            let first = replay.first().map_or(last_seq + 1, |m| m.seq);
            if first > from {
                gap = Some(Gap {
                    from,
                    to: first - 1,
                    reason: GapReason::Expired,
                });
            }
        }
        Ok((replay, gap))
    }

    /// Called by a subscription as it goes: when it is the last one, the
    /// live ring is freed at once rather than at the next publish (a client
    /// that subscribes to many topics and leaves would otherwise leave a
    /// ring of `queue_messages` slots behind in each).
    /// Answers whether it was the last.
    pub(crate) fn leave(&self) -> bool {
        self.log.unwatch();
        let mut state = self.lock();
        // Receivers are made only under this lock, so none can appear
        // between the count and the drop; the leaving one still counts.
        let last = state.live.as_ref().is_some_and(|l| l.receivers() <= 1);
        if last {
            state.live = None;
            state.left_at = Some(tokio::time::Instant::now());
        }
        last
    }

    /// Notes that the topic goes into the queue of unused topics: `false`
    /// when it is in it already.
    pub(crate) fn queue_unused(&self) -> bool {
        let mut state = self.lock();
        !std::mem::replace(&mut state.queued_unused, true)
    }

    /// The topic came out of the queue of unused topics: what to do with it,
    /// given the expiry.
    pub(crate) fn due(&self, expiry: std::time::Duration) -> Due {
        let mut state = self.lock();
        if state.closed || state.live.is_some() {
            state.queued_unused = false;
            return Due::Never;
        }
        match state.left_at.map(|left| left + expiry) {
            Some(at) if at > tokio::time::Instant::now() => Due::At(at),
            _ => {
                state.queued_unused = false;
                Due::Now
            }
        }
    }

    /// Marks the topic as created by `PUT`, so that it is kept unused.
    /// `false` when it was closed first (deleted or forgotten): the caller
    /// looks the topic up again.
    pub(crate) fn mark_explicit(&self) -> bool {
        let mut state = self.lock();
        state.explicit = true;
        !state.closed
    }

    /// Whether [`Topic::forget_if_unused`] could forget it: never published
    /// to and not created by `PUT` (a cheap look, without the store's locks).
    pub(crate) fn may_be_unused(&self) -> bool {
        self.log.is_unused() && !self.lock().explicit
    }

    /// Deletes the topic from `store` and closes it when nobody subscribes,
    /// `PUT` did not create it and nothing was ever published to it (see
    /// [`TopicStore::forget_unused`]): a topic that subscribers made by
    /// asking for it costs nothing once they leave. Under the topic's lock,
    /// so that no subscriber joins meanwhile; a publisher holding the topic
    /// finds its log deleted and looks the name up again.
    pub(crate) fn forget_if_unused(&self, store: &dyn TopicStore) -> bool {
        let mut state = self.lock();
        if state.closed || state.explicit || state.live.is_some() || !state.waiting.is_empty() {
            return false;
        }
        if !store.forget_unused(&self.name, self.epoch) {
            return false;
        }
        state.closed = true;
        true
    }

    /// Whether the topic holds a live ring now.
    #[cfg(test)]
    pub(crate) fn has_live_ring(&self) -> bool {
        self.lock().live.is_some()
    }

    /// Messages the live ring holds for subscribers that have not read them
    /// yet, and their charged bytes (at most the queue bounds).
    pub(crate) fn queued(&self) -> (usize, u64) {
        self.lock().live.as_ref().map_or((0, 0), |l| l.held())
    }

    /// Live subscriptions now.
    pub(crate) fn subscribers(&self) -> usize {
        self.lock().live.as_ref().map_or(0, |l| l.receivers())
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
        // Receivers drain what was already sent, then see the ring closed
        // and read `end`.
        if let Some(live) = state.live.take() {
            live.close();
        }
        state.closed |= delete;
        if delete {
            state.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;
    use crate::broker::ring::Received;
    use crate::broker::store::StoreCall;

    /// A log that numbers each append at once but answers only when the test
    /// releases it, so that appends can complete in any order.
    #[derive(Debug)]
    struct GatedLog {
        config: TopicConfig,
        next_seq: AtomicU64,
        gates: Mutex<Vec<oneshot::Sender<()>>>,
    }

    impl TopicLog for GatedLog {
        fn name(&self) -> &str {
            "t"
        }
        fn epoch(&self) -> u64 {
            7
        }
        fn config(&self) -> &TopicConfig {
            &self.config
        }
        fn last_seq(&self) -> u64 {
            self.next_seq.load(Ordering::Acquire) - 1
        }
        fn retained(&self) -> usize {
            0
        }
        fn retained_bytes(&self) -> u64 {
            0
        }
        fn append(&self, payloads: &[Bytes]) -> StoreCall<Appended> {
            let n = payloads.len() as u64;
            let (tx, rx) = oneshot::channel();
            // Numbered and queued under one lock: gate i is seq order i.
            let mut gates = crate::lock::lock(&self.gates);
            let first_seq = self.next_seq.fetch_add(n, Ordering::AcqRel);
            gates.push(tx);
            drop(gates);
            StoreCall::later(async move {
                rx.await
                    .map_err(|_| Error::new(ErrorKind::Storage, "gate dropped"))?;
                Ok(Appended {
                    first_seq,
                    time_us: first_seq,
                })
            })
        }
        fn read(&self, _: &Selection) -> StoreCall<Vec<Arc<Message>>> {
            StoreCall::ok(Vec::new())
        }
    }

    /// A topic over a [`GatedLog`], and a subscriber's join of it.
    async fn gated_topic() -> (Arc<GatedLog>, Arc<Topic>, Joined) {
        let log = Arc::new(GatedLog {
            config: TopicConfig {
                history: false,
                retention: crate::broker::config::Retention {
                    max_messages: 0,
                    max_bytes: None,
                    max_age: None,
                },
            },
            next_seq: AtomicU64::new(1),
            gates: Mutex::new(Vec::new()),
        });
        let topic = Arc::new(Topic::new(log.clone(), 100, 1 << 20));
        let Some(Ok(joined)) = topic.join(&HistoryRequest::default()).await else {
            panic!("join failed");
        };
        (log, topic, joined)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_answered_out_of_order_are_fanned_out_in_seq_order() {
        let (log, topic, mut joined) = gated_topic().await;
        // Three batches (1, 2–3, 4), each waiting at its gate.
        let mut publishes = Vec::new();
        for batch in [&["a"][..], &["b", "c"], &["d"]] {
            let payloads: Vec<Bytes> = batch.iter().map(|p| Bytes::from(*p)).collect();
            let topic = topic.clone();
            publishes.push(tokio::spawn(async move { topic.publish(&payloads).await }));
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            while crate::lock::lock(&log.gates).len() < 3 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("three appends started");
        // Answer the last batch first, then the middle one: nothing may go
        // out before seq 1 has.
        let mut gates = std::mem::take(&mut *crate::lock::lock(&log.gates));
        let third = gates.pop().expect("gate 3");
        let second = gates.pop().expect("gate 2");
        let first = gates.pop().expect("gate 1");
        third.send(()).expect("release 3");
        second.send(()).expect("release 2");
        assert!(
            joined.live.try_recv().is_none(),
            "a later batch went out before the first"
        );
        first.send(()).expect("release 1");
        let mut seqs = Vec::new();
        for _ in 0..4 {
            let got = tokio::time::timeout(Duration::from_secs(5), joined.live.recv())
                .await
                .expect("a message in time");
            let Received::Message(m) = got else {
                panic!("expected a message, got {got:?}");
            };
            seqs.push(m.seq);
        }
        assert_eq!(seqs, [1, 2, 3, 4]);
        for p in publishes {
            p.await.expect("task").expect("publish");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_is_fanned_out_when_its_publisher_goes_away_first() {
        let (log, topic, mut joined) = gated_topic().await;
        // The publisher gives up (its request was cancelled) before the
        // store answers.
        let payloads = [Bytes::from_static(b"orphan")];
        let publish = topic.publish(&payloads);
        let gave_up = tokio::time::timeout(Duration::from_millis(1), publish).await;
        assert!(gave_up.is_err(), "the gated append cannot have answered");
        let gate = crate::lock::lock(&log.gates)
            .pop()
            .expect("the append started");
        gate.send(()).expect("release");
        let got = tokio::time::timeout(Duration::from_secs(5), joined.live.recv())
            .await
            .expect("fanned out in time");
        let Received::Message(m) = got else {
            panic!("expected a message, got {got:?}");
        };
        assert_eq!((m.seq, &m.payload[..]), (1, &b"orphan"[..]));
    }
}
