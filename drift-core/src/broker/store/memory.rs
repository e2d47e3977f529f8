//! The default store: every topic's log in memory, lost on restart.
//!
//! Its calls are answered at once, so a publish or a subscription against it
//! never yields. Retained messages are `Arc<Message>`s handed to replaying
//! subscribers without copies.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use super::{
    Appended, Budget, Evict, MemoryUse, Opened, Selection, StoreCall, TopicLog, TopicStore,
    evict_oldest,
};
use crate::broker::config::TopicConfig;
use crate::error::{Error, ErrorKind};
use crate::lock::lock;
use crate::model::{MESSAGE_OVERHEAD_BYTES, Message, MessageId, now_us};

/// Topics in memory. Cheap to clone; clones share the topics.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    topics: Mutex<HashMap<Arc<str>, Arc<MemoryLog>>>,
    numbering: Numbering,
    last_epoch: AtomicU64,
    /// What every log's retained messages cost together, kept within the
    /// history memory budget.
    budget: Arc<Budget>,
}

/// How seqs and epochs are handed out: by default seqs from 1 and epochs
/// from the wall clock (µs, strictly increasing, so they differ across
/// restarts); tests use other numberings to show nothing assumes these.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Numbering {
    /// Seq of a topic's first message.
    pub(crate) first_seq: u64,
    /// Epochs count up from here instead of following the clock.
    pub(crate) epoch_counter: Option<u64>,
    /// The wall clock, µs since the Unix epoch (tests step it back).
    pub(crate) clock: fn() -> u64,
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            first_seq: 1,
            epoch_counter: None,
            clock: now_us,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::with_numbering(Numbering::default())
    }

    pub(crate) fn with_numbering(numbering: Numbering) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Inner {
                topics: Mutex::new(HashMap::new()),
                last_epoch: AtomicU64::new(numbering.epoch_counter.unwrap_or(0)),
                numbering,
                budget: Arc::new(Budget::default()),
            }),
        }
    }

    /// A new epoch: the clock made strictly increasing (or the test
    /// counter's next value).
    fn next_epoch(&self) -> u64 {
        let now = match self.inner.numbering.epoch_counter {
            Some(_) => 0,
            None => (self.inner.numbering.clock)(),
        };
        let mut prev = self.inner.last_epoch.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev + 1);
            match self.inner.last_epoch.compare_exchange_weak(
                prev,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }
}

impl TopicStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn limit_memory(&self, bytes: u64) {
        if self.inner.budget.set_limit(bytes) {
            self.inner.settle();
        }
    }

    fn memory(&self) -> Option<MemoryUse> {
        Some(self.inner.budget.usage())
    }

    fn list(&self) -> StoreCall<Vec<Arc<dyn TopicLog>>> {
        let topics = lock(&self.inner.topics);
        StoreCall::ok(
            topics
                .values()
                .map(|t| t.clone() as Arc<dyn TopicLog>)
                .collect(),
        )
    }

    fn open(&self, name: &str, create: Option<&TopicConfig>) -> StoreCall<Option<Opened>> {
        let mut topics = lock(&self.inner.topics);
        if let Some(t) = topics.get(name) {
            return StoreCall::ok(Some(Opened {
                log: t.clone(),
                created: false,
            }));
        }
        let Some(config) = create else {
            return StoreCall::ok(None);
        };
        let name: Arc<str> = Arc::from(name);
        let log = Arc::new(MemoryLog {
            name: name.clone(),
            epoch: self.next_epoch(),
            config: *config,
            clock: self.inner.numbering.clock,
            budget: self.inner.budget.clone(),
            store: Arc::downgrade(&self.inner),
            charged: AtomicU64::new(0),
            last_seq: AtomicU64::new(self.inner.numbering.first_seq - 1),
            unused_seq: self.inner.numbering.first_seq - 1,
            state: Mutex::new(LogState {
                messages: VecDeque::new(),
                bytes: 0,
                last_time_us: 0,
                deleted: false,
            }),
        });
        topics.insert(name, log.clone());
        StoreCall::ok(Some(Opened { log, created: true }))
    }

    fn forget_unused(&self, name: &str, epoch: u64) -> bool {
        let mut topics = lock(&self.inner.topics);
        let Some(t) = topics.get(name).filter(|t| t.epoch == epoch).cloned() else {
            return false;
        };
        // Under the log's lock, which every append holds while it takes
        // its seqs: either an append came first, or it finds the log gone.
        let mut state = lock(&t.state);
        if !t.is_unused() {
            return false;
        }
        state.deleted = true;
        drop(state);
        topics.remove(name);
        true
    }

    fn delete(&self, name: &str, epoch: u64) -> StoreCall<bool> {
        let mut topics = lock(&self.inner.topics);
        let removed = match topics.get(name) {
            Some(t) if t.epoch == epoch => topics.remove(name),
            _ => None,
        };
        drop(topics);
        StoreCall::ok(match removed {
            Some(t) => {
                let mut state = lock(&t.state);
                state.deleted = true;
                state.messages = VecDeque::new();
                state.bytes = 0;
                t.account(&state);
                true
            }
            None => false,
        })
    }
}

impl Inner {
    /// Over the budget: evicts from the logs holding the most.
    fn settle(&self) {
        self.budget.settle(|| {
            lock(&self.topics)
                .values()
                .filter(|t| t.charged() > 0)
                .cloned()
                .collect::<Vec<_>>()
        });
    }
}

impl MemoryLog {
    /// Tells the budget what the retained messages cost now (under the
    /// log's lock): answers whether the total is over the budget.
    fn account(&self, state: &LogState) -> bool {
        // Written only under the log's lock: a read that changed nothing
        // (most do) touches nothing shared.
        let new = state.charged();
        let old = self.charged.load(Ordering::Relaxed);
        if old == new {
            return false;
        }
        self.charged.store(new, Ordering::Relaxed);
        self.budget.change(old, new)
    }

    /// Over the budget, once the log's lock is let go.
    fn settle(&self) {
        if let Some(store) = self.store.upgrade() {
            store.settle();
        }
    }
}

impl Evict for Arc<MemoryLog> {
    fn charged(&self) -> u64 {
        self.charged.load(Ordering::Relaxed)
    }

    fn evict(&self, _: &Budget, level: u64, need: u64) -> u64 {
        let mut state = lock(&self.state);
        let evicted = evict_oldest(
            &mut *state,
            level,
            need,
            LogState::charged,
            LogState::pop_oldest,
        );
        self.account(&state);
        evicted
    }
}

/// One topic incarnation in memory.
#[derive(Debug)]
pub(crate) struct MemoryLog {
    name: Arc<str>,
    epoch: u64,
    config: TopicConfig,
    clock: fn() -> u64,
    budget: Arc<Budget>,
    /// The store, for an eviction over the budget (weakly: the store holds
    /// its logs).
    store: Weak<Inner>,
    /// What the retained messages cost as last told to the budget, kept
    /// with `state` (and readable without its lock).
    charged: AtomicU64,
    /// Readable without the lock.
    last_seq: AtomicU64,
    /// `last_seq` before the first append.
    unused_seq: u64,
    state: Mutex<LogState>,
}

#[derive(Debug)]
struct LogState {
    messages: VecDeque<Arc<Message>>,
    /// Payload bytes retained.
    bytes: u64,
    /// Publish time of the newest message: times never go back, even when
    /// the wall clock is stepped back, because history selects and expires
    /// by them in order.
    last_time_us: u64,
    deleted: bool,
}

impl LogState {
    /// What the retained messages cost: payloads and each message's
    /// overhead, what `maxBytes` bounds.
    fn charged(&self) -> u64 {
        self.bytes + MESSAGE_OVERHEAD_BYTES * self.messages.len() as u64
    }

    /// Drops the oldest message; `false` when there is none.
    fn pop_oldest(&mut self) -> bool {
        let Some(m) = self.messages.pop_front() else {
            return false;
        };
        self.bytes -= m.payload.len() as u64;
        true
    }

    fn trim(&mut self, config: &TopicConfig) {
        let retention = &config.retention;
        while self.messages.len() > retention.max_messages {
            self.pop_oldest();
        }
        if let Some(max) = retention.max_bytes {
            // Keep at least the newest message even if it alone is larger.
            while self.charged() > max && self.messages.len() > 1 {
                self.pop_oldest();
            }
        }
    }

    fn expire(&mut self, config: &TopicConfig, now_us: u64) {
        let Some(max_age) = config.retention.max_age else {
            return;
        };
        let cutoff = now_us.saturating_sub(max_age.as_micros() as u64);
        while self.messages.front().is_some_and(|m| m.time_us < cutoff) {
            self.pop_oldest();
        }
    }
}

impl TopicLog for MemoryLog {
    fn name(&self) -> &str {
        &self.name
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn config(&self) -> &TopicConfig {
        &self.config
    }

    fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    fn retained(&self) -> usize {
        lock(&self.state).messages.len()
    }

    fn retained_bytes(&self) -> u64 {
        lock(&self.state).bytes
    }

    fn is_unused(&self) -> bool {
        self.last_seq.load(Ordering::Acquire) == self.unused_seq
    }

    fn is_deleted(&self) -> bool {
        lock(&self.state).deleted
    }

    fn append(&self, payloads: &[Bytes]) -> StoreCall<Appended> {
        let mut state = lock(&self.state);
        if state.deleted {
            return StoreCall::Ready(Err(Error::new(
                ErrorKind::NotFound,
                format!("topic {:?} was deleted", &*self.name),
            )));
        }
        let time_us = (self.clock)().max(state.last_time_us);
        state.last_time_us = time_us;
        let first_seq = self.last_seq.load(Ordering::Relaxed) + 1;
        let keep = self.config.retention.max_messages;
        // Only the newest `keep` of a large batch could survive the trim.
        let skip = payloads.len().saturating_sub(keep);
        for (i, payload) in payloads.iter().enumerate().skip(skip) {
            let id = MessageId {
                epoch: self.epoch,
                seq: first_seq + i as u64,
            };
            state.bytes += payload.len() as u64;
            state
                .messages
                .push_back(Arc::new(Message::new(id, time_us, payload.clone())));
        }
        state.trim(&self.config);
        self.last_seq
            .store(first_seq + payloads.len() as u64 - 1, Ordering::Release);
        let over = self.account(&state);
        drop(state);
        if over {
            self.settle();
        }
        StoreCall::ok(Appended { first_seq, time_us })
    }

    fn read(&self, sel: &Selection) -> StoreCall<Vec<Arc<Message>>> {
        let mut state = lock(&self.state);
        let now = (self.clock)().max(state.last_time_us);
        state.expire(&self.config, now);
        self.account(&state);
        // Messages are in seq and time order: find the first match by search.
        let start = state.messages.partition_point(|m| {
            m.seq <= sel.after_seq || sel.since_us.is_some_and(|t| m.time_us <= t)
        });
        let matching = state.messages.len() - start;
        let take = sel.last.map_or(matching, |n| matching.min(n as usize));
        let len = state.messages.len();
        StoreCall::ok(state.messages.range(len - take..).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::broker::config::Retention;

    fn config(
        max_messages: usize,
        max_bytes: Option<u64>,
        max_age: Option<Duration>,
    ) -> TopicConfig {
        TopicConfig {
            history: max_messages > 0,
            retention: Retention {
                max_messages,
                max_bytes,
                max_age,
            },
        }
    }

    fn open(store: &MemoryStore, config: TopicConfig) -> Arc<dyn TopicLog> {
        match store.open("t", Some(&config)).now() {
            Ok(Ok(Some(opened))) => opened.log,
            other => panic!("open: {other:?}"),
        }
    }

    fn append(log: &dyn TopicLog, len: usize) -> Appended {
        match log.append(&[Bytes::from(vec![b'x'; len])]).now() {
            Ok(Ok(a)) => a,
            other => panic!("append: {other:?}"),
        }
    }

    fn read(
        log: &dyn TopicLog,
        after_seq: u64,
        since_us: Option<u64>,
        last: Option<u64>,
    ) -> Vec<u64> {
        let sel = Selection {
            after_seq,
            since_us,
            last,
        };
        match log.read(&sel).now() {
            Ok(Ok(v)) => v.iter().map(|m| m.seq).collect(),
            other => panic!("read: {other:?}"),
        }
    }

    static CLOCK: AtomicU64 = AtomicU64::new(0);
    fn clock() -> u64 {
        CLOCK.load(Ordering::Relaxed)
    }

    #[test]
    fn count_bound_keeps_the_newest() {
        let store = MemoryStore::new();
        let log = open(&store, config(3, None, None));
        for _ in 0..5 {
            append(&*log, 1);
        }
        assert_eq!(read(&*log, 0, None, None), vec![3, 4, 5]);
        assert_eq!(log.retained(), 3);
        assert_eq!(log.last_seq(), 5);
    }

    #[test]
    fn last_since_and_after_combine() {
        let store = MemoryStore::with_numbering(Numbering {
            clock: || CLOCK.fetch_add(10, Ordering::Relaxed) + 10,
            ..Numbering::default()
        });
        let log = open(&store, config(100, None, None));
        let times: Vec<u64> = (0..10).map(|_| append(&*log, 1).time_us).collect();
        assert_eq!(read(&*log, 0, None, Some(2)), vec![9, 10]);
        assert_eq!(read(&*log, 0, Some(times[7]), None), vec![9, 10]);
        assert_eq!(read(&*log, 0, Some(times[2]), Some(3)), vec![8, 9, 10]);
        assert_eq!(read(&*log, 7, None, None), vec![8, 9, 10]);
        assert_eq!(read(&*log, 0, None, Some(0)), Vec::<u64>::new());
    }

    #[test]
    fn byte_and_age_bounds() {
        let store = MemoryStore::with_numbering(Numbering {
            clock,
            ..Numbering::default()
        });
        // Two messages of 4 bytes cost 2 × 204 bytes with their overhead:
        // a third does not fit.
        let log = open(
            &store,
            config(100, Some(2 * 204 + 203), Some(Duration::from_micros(50))),
        );
        for s in 1..=4 {
            CLOCK.store(s * 10, Ordering::Relaxed);
            append(&*log, 4);
        }
        CLOCK.store(40, Ordering::Relaxed);
        assert_eq!(read(&*log, 0, None, None), vec![3, 4]);
        CLOCK.store(85, Ordering::Relaxed);
        assert_eq!(read(&*log, 0, None, None), vec![4]);
        CLOCK.store(1000, Ordering::Relaxed);
        assert!(read(&*log, 0, None, None).is_empty());
        assert_eq!(log.retained(), 0, "expired messages are dropped");
    }

    /// The byte bound counts each message's overhead: a topic of 1-byte
    /// messages under a 10 KiB bound holds 50 of them (201 B each), not
    /// 10,240.
    #[test]
    fn byte_bound_counts_the_overhead_of_each_message() {
        let store = MemoryStore::new();
        let log = open(&store, config(100_000, Some(10 * 1024), None));
        for _ in 0..1000 {
            append(&*log, 1);
        }
        assert_eq!(log.retained(), 10 * 1024 / 201);
        assert_eq!(log.retained_bytes(), (10 * 1024 / 201) as u64, "payload");
    }

    fn open_named(store: &MemoryStore, name: &str, config: TopicConfig) -> Arc<dyn TopicLog> {
        match store.open(name, Some(&config)).now() {
            Ok(Ok(Some(opened))) => opened.log,
            other => panic!("open: {other:?}"),
        }
    }

    /// Over the history memory budget the topic holding the most loses its
    /// oldest messages, down below the budget; a small topic keeps all of
    /// its history, and what the budget counts is what the logs hold.
    #[test]
    fn over_the_budget_the_largest_log_loses_its_oldest_first() {
        let store = MemoryStore::new();
        store.limit_memory(100 * 1024);
        let small = open_named(&store, "small", config(100_000, None, None));
        let hog = open_named(&store, "hog", config(100_000, None, None));
        for _ in 0..10 {
            append(&*small, 1000);
        }
        let mut evictions = 0;
        let mut evicted = 0;
        for _ in 0..200 {
            append(&*hog, 1000);
            let now = store.memory().unwrap();
            assert!(now.held <= 100 * 1024, "{now:?}");
            if now.evicted_messages > evicted {
                // Each eviction goes a sixteenth below the budget (6400 B,
                // so at least 6 messages of 1200), not one message at a time.
                assert!(now.held <= 100 * 1024 - 6400, "{now:?}");
                assert!(now.evicted_messages - evicted >= 6, "{now:?}");
                evictions += 1;
                evicted = now.evicted_messages;
            }
        }
        assert!(evictions > 1, "{evictions}");
        let usage = store.memory().unwrap();
        assert_eq!(small.retained(), 10, "the small topic keeps its history");
        let kept = read(&*hog, 0, None, None);
        assert_eq!(kept.len(), hog.retained());
        assert_eq!(kept.last(), Some(&200));
        assert_eq!(kept, (201 - kept.len() as u64..=200).collect::<Vec<_>>());
        assert_eq!(usage.evicted_messages, 200 - kept.len() as u64);
        assert_eq!(usage.held, 1200 * (10 + kept.len() as u64));

        // Deleting a topic gives its share back.
        assert!(matches!(
            store.delete("hog", hog.epoch()).now(),
            Ok(Ok(true))
        ));
        assert_eq!(store.memory().unwrap().held, 12_000);
        // A smaller budget evicts at once.
        store.limit_memory(6000);
        assert!(store.memory().unwrap().held <= 6000);
        assert!(small.retained() < 10);
    }

    /// Messages leaving by their bounds (count, bytes, age) leave the
    /// budget's count too.
    #[test]
    fn trimmed_and_expired_messages_leave_the_budget() {
        let store = MemoryStore::with_numbering(Numbering {
            clock,
            ..Numbering::default()
        });
        let log = open(&store, config(3, None, Some(Duration::from_micros(50))));
        CLOCK.store(10, Ordering::Relaxed);
        for _ in 0..5 {
            append(&*log, 100);
        }
        assert_eq!(store.memory().unwrap().held, 3 * 300);
        CLOCK.store(1000, Ordering::Relaxed);
        assert!(read(&*log, 0, None, None).is_empty());
        assert_eq!(store.memory().unwrap().held, 0);
        assert_eq!(store.memory().unwrap().evicted_messages, 0);
    }

    #[test]
    fn batches_get_consecutive_seqs_and_one_time() {
        let store = MemoryStore::with_numbering(Numbering {
            first_seq: 1000,
            epoch_counter: Some(41),
            ..Numbering::default()
        });
        let log = open(&store, config(2, None, None));
        assert_eq!(log.epoch(), 42);
        let payloads: Vec<Bytes> = (0..5).map(|i| Bytes::from(vec![i])).collect();
        let a = match log.append(&payloads).now() {
            Ok(Ok(a)) => a,
            other => panic!("append: {other:?}"),
        };
        assert_eq!(a.first_seq, 1000);
        assert_eq!(log.last_seq(), 1004);
        assert_eq!(read(&*log, 0, None, None), vec![1003, 1004]);
    }

    #[test]
    fn delete_ends_the_incarnation_and_a_new_one_has_a_new_epoch() {
        let store = MemoryStore::new();
        let log = open(&store, config(10, None, None));
        append(&*log, 1);
        assert!(matches!(
            store.delete("t", log.epoch() + 1).now(),
            Ok(Ok(false))
        ));
        assert!(matches!(store.delete("t", log.epoch()).now(), Ok(Ok(true))));
        match log.append(&[Bytes::new()]).now() {
            Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::NotFound),
            other => panic!("append after delete: {other:?}"),
        }
        assert!(matches!(store.open("t", None).now(), Ok(Ok(None))));
        let again = open(&store, config(10, None, None));
        assert!(again.epoch() > log.epoch());
        assert_eq!(again.last_seq(), 0);
    }

    #[test]
    fn zero_capacity_keeps_nothing_but_counts() {
        let store = MemoryStore::new();
        let log = open(&store, config(0, None, None));
        append(&*log, 1);
        assert_eq!(log.retained(), 0);
        assert_eq!(log.last_seq(), 1);
    }
}
