//! Per-topic history behind an interface.
//!
//! The broker talks to a [`HistoryStore`] only through this trait, so a
//! durable or shared store can replace [`MemoryHistory`] without the HTTP
//! layer (or the subscription logic) changing. The broker calls it with the
//! topic's lock held, in publish order.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use crate::model::Message;

/// Retention bounds of one topic's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept at most (0 keeps none).
    pub max_messages: usize,
    /// Payload bytes kept at most.
    pub max_bytes: Option<u64>,
    /// Messages older than this are dropped.
    pub max_age: Option<Duration>,
}

/// What a subscriber asks to see from history, already resolved against the
/// topic: only messages with `seq > after_seq` and `time_us > since_us`, then
/// the newest `last` of those.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Exclusive lower bound on seq.
    pub after_seq: u64,
    /// Exclusive lower bound on publish time.
    pub since_us: Option<u64>,
    /// Keep only the newest N.
    pub last: Option<u64>,
}

/// One topic's retained messages.
pub trait HistoryStore: Send + Debug + 'static {
    /// Stores a message just published (seq strictly increasing, time_us
    /// never decreasing).
    fn append(&mut self, msg: Arc<Message>);
    /// The retained messages matching `sel`, oldest first. `now_us` lets the
    /// store apply its age bound.
    fn select(&mut self, sel: &Selection, now_us: u64) -> Vec<Arc<Message>>;
    /// Number of retained messages.
    fn len(&self) -> usize;
    /// True when nothing is retained.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Creates a store for each new topic incarnation.
pub trait HistoryStoreFactory: Send + Sync + Debug + 'static {
    /// A fresh, empty store for `topic` with these bounds.
    fn create(&self, topic: &str, retention: Retention) -> Box<dyn HistoryStore>;
}

/// The default store: a ring of `Arc<Message>` in memory, shared with
/// subscribers (no copies).
#[derive(Debug)]
pub struct MemoryHistory {
    retention: Retention,
    messages: VecDeque<Arc<Message>>,
    bytes: u64,
}

/// Makes [`MemoryHistory`] stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryHistoryFactory;

impl HistoryStoreFactory for MemoryHistoryFactory {
    fn create(&self, _topic: &str, retention: Retention) -> Box<dyn HistoryStore> {
        Box::new(MemoryHistory::new(retention))
    }
}

// ===== impl MemoryHistory =====

impl MemoryHistory {
    /// An empty history with these bounds.
    pub fn new(retention: Retention) -> MemoryHistory {
        MemoryHistory {
            retention,
            messages: VecDeque::new(),
            bytes: 0,
        }
    }

    fn pop_oldest(&mut self) {
        if let Some(m) = self.messages.pop_front() {
            self.bytes -= m.payload.len() as u64;
        }
    }

    fn expire(&mut self, now_us: u64) {
        let Some(max_age) = self.retention.max_age else {
            return;
        };
        let cutoff = now_us.saturating_sub(max_age.as_micros() as u64);
        while self.messages.front().is_some_and(|m| m.time_us < cutoff) {
            self.pop_oldest();
        }
    }
}

impl HistoryStore for MemoryHistory {
    fn append(&mut self, msg: Arc<Message>) {
        if self.retention.max_messages == 0 {
            return;
        }
        self.bytes += msg.payload.len() as u64;
        self.messages.push_back(msg);
        while self.messages.len() > self.retention.max_messages {
            self.pop_oldest();
        }
        if let Some(max) = self.retention.max_bytes {
            // Keep at least the newest message even if it alone is larger.
            while self.bytes > max && self.messages.len() > 1 {
                self.pop_oldest();
            }
        }
    }

    fn select(&mut self, sel: &Selection, now_us: u64) -> Vec<Arc<Message>> {
        self.expire(now_us);
        // Messages are in seq and time order: find the first match by search.
        let start = self.messages.partition_point(|m| {
            m.seq <= sel.after_seq || sel.since_us.is_some_and(|t| m.time_us <= t)
        });
        let matching = self.messages.len() - start;
        let take = sel.last.map_or(matching, |n| matching.min(n as usize));
        self.messages
            .range(self.messages.len() - take..)
            .cloned()
            .collect()
    }

    fn len(&self) -> usize {
        self.messages.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn store(max: usize) -> MemoryHistory {
        MemoryHistory::new(Retention {
            max_messages: max,
            max_bytes: None,
            max_age: None,
        })
    }

    fn msg(seq: u64, time_us: u64, len: usize) -> Arc<Message> {
        let id = crate::model::MessageId { epoch: 1, seq };
        Arc::new(Message::new(id, time_us, Bytes::from(vec![b'x'; len])))
    }

    fn seqs(v: &[Arc<Message>]) -> Vec<u64> {
        v.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn count_bound_keeps_the_newest() {
        let mut h = store(3);
        for s in 1..=5 {
            h.append(msg(s, s * 10, 1));
        }
        assert_eq!(seqs(&h.select(&Selection::default(), 0)), vec![3, 4, 5]);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn last_since_and_after_combine() {
        let mut h = store(100);
        for s in 1..=10 {
            h.append(msg(s, s * 10, 1));
        }
        let sel = |after_seq, since_us, last| Selection {
            after_seq,
            since_us,
            last,
        };
        assert_eq!(seqs(&h.select(&sel(0, None, Some(2)), 0)), vec![9, 10]);
        assert_eq!(seqs(&h.select(&sel(0, Some(80), None), 0)), vec![9, 10]);
        assert_eq!(
            seqs(&h.select(&sel(0, Some(30), Some(3)), 0)),
            vec![8, 9, 10]
        );
        assert_eq!(seqs(&h.select(&sel(7, None, None), 0)), vec![8, 9, 10]);
        assert_eq!(
            seqs(&h.select(&sel(0, None, Some(0)), 0)),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn byte_and_age_bounds() {
        let mut h = MemoryHistory::new(Retention {
            max_messages: 100,
            max_bytes: Some(10),
            max_age: Some(Duration::from_micros(50)),
        });
        for s in 1..=4 {
            h.append(msg(s, s * 10, 4));
        }
        assert_eq!(seqs(&h.select(&Selection::default(), 40)), vec![3, 4]);
        assert_eq!(seqs(&h.select(&Selection::default(), 85)), vec![4]);
        assert!(h.select(&Selection::default(), 1000).is_empty());
        assert!(h.is_empty(), "expired messages are dropped");
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = store(0);
        h.append(msg(1, 1, 1));
        assert!(h.is_empty());
    }
}
