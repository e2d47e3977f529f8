//! The history memory budget: what every retained message a store holds in
//! this process's memory costs (payload and overhead,
//! [`crate::model::charged_bytes`]), kept within one server-wide limit
//! (`history_memory`) however many topics there are.
//!
//! Each log tells the budget what its retained messages cost after every
//! change, under its own lock: one shared atomic add per appended batch.
//! Only when the total is over the limit does a store look at its topics:
//! it evicts the oldest messages of the topic holding the most, until that
//! topic holds no more than the next one, then of whichever holds the most
//! then, and so on (a hog pays first), down to a sixteenth below the limit,
//! so that eviction happens once per many appends, not on each. Evicted
//! messages are gone from memory like ones trimmed by a bound: a subscriber
//! resuming from them is told of an `expired` gap. Appends are never
//! refused.

use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::broker::config::DEFAULT_HISTORY_MEMORY;

/// What a store holds in memory against its budget, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes held now: every retained message in memory, with its overhead.
    pub held: u64,
    /// The budget.
    pub limit: u64,
    /// Messages evicted from memory to keep within it, since the start.
    pub evicted_messages: u64,
}

/// The budget one store's logs share.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: AtomicU64,
    used: AtomicU64,
    evicted: AtomicU64,
    /// One eviction at a time: another store call over the budget leaves it
    /// to the one evicting, which looks again once done.
    evicting: Mutex<()>,
}

/// A log whose oldest retained messages the budget can evict.
pub(crate) trait Evict {
    /// What its messages in memory cost now (read without its lock; may be
    /// a moment old).
    fn charged(&self) -> u64;

    /// Evicts its oldest messages in memory, at least one when it holds
    /// any, and more while it holds over `level` and less than `need` was
    /// freed; tells `budget` what it holds after. Answers the messages
    /// evicted.
    fn evict(&self, budget: &Budget, level: u64, need: u64) -> u64;
}

/// What [`Evict::evict`] does, on a log's state under its lock: pops its
/// oldest message (`pop`, `false` once it holds none) at least once, and
/// again while what it holds (`charged`) is over `level` and less than
/// `need` was freed. Answers the messages evicted.
pub(crate) fn evict_oldest<S>(
    state: &mut S,
    level: u64,
    need: u64,
    charged: impl Fn(&S) -> u64,
    mut pop: impl FnMut(&mut S) -> bool,
) -> u64 {
    let before = charged(state);
    let mut evicted = 0;
    loop {
        let now = charged(state);
        if evicted > 0 && (now <= level || before - now >= need) {
            return evicted;
        }
        if !pop(state) {
            return evicted;
        }
        evicted += 1;
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new(DEFAULT_HISTORY_MEMORY)
    }
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Budget {
        Budget {
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            evicting: Mutex::new(()),
        }
    }

    /// Sets the limit; answers whether the total is over it (then the
    /// caller calls [`Budget::settle`]).
    pub(crate) fn set_limit(&self, limit: u64) -> bool {
        self.limit.store(limit, Ordering::Relaxed);
        self.over()
    }

    pub(crate) fn usage(&self) -> MemoryUse {
        MemoryUse {
            held: self.used.load(Ordering::Relaxed),
            limit: self.limit.load(Ordering::Relaxed),
            evicted_messages: self.evicted.load(Ordering::Relaxed),
        }
    }

    /// A log's messages went from costing `old` to `new`: answers whether
    /// the total is now over the limit (then the caller, having let go of
    /// its log's lock, calls [`Budget::settle`]).
    pub(crate) fn change(&self, old: u64, new: u64) -> bool {
        let used = if new >= old {
            let add = new - old;
            self.used.fetch_add(add, Ordering::SeqCst) + add
        } else {
            let sub = old - new;
            self.used.fetch_sub(sub, Ordering::SeqCst) - sub
        };
        used > self.limit.load(Ordering::Relaxed)
    }

    /// The total is over the limit.
    pub(crate) fn over(&self) -> bool {
        self.used.load(Ordering::SeqCst) > self.limit.load(Ordering::Relaxed)
    }

    /// Brings the total down a sixteenth below the limit, from the logs
    /// `logs` lists (called only when over it). A call that finds another
    /// evicting returns at once: that one looks again after it is done,
    /// so what this call added is not left over the limit.
    pub(crate) fn settle<L: Evict>(&self, logs: impl Fn() -> Vec<L>) {
        while self.over() {
            let Ok(_evicting) = self.evicting.try_lock() else {
                return;
            };
            if self.evict_largest_first(&logs()) == 0 {
                // Nothing listed holds anything: nothing to evict.
                return;
            }
        }
    }

    /// Answers the messages evicted.
    fn evict_largest_first<L: Evict>(&self, logs: &[L]) -> u64 {
        let limit = self.limit.load(Ordering::Relaxed);
        let low = limit - limit / 16;
        let mut heap: BinaryHeap<(u64, usize)> = logs
            .iter()
            .enumerate()
            .map(|(i, l)| (l.charged(), i))
            .filter(|&(c, _)| c > 0)
            .collect();
        let mut total = 0;
        loop {
            let used = self.used.load(Ordering::SeqCst);
            if used <= low {
                return total;
            }
            let Some((_, i)) = heap.pop() else {
                return total;
            };
            let next = heap.peek().map_or(0, |&(c, _)| c);
            let evicted = logs[i].evict(self, next, used - low);
            if evicted > 0 {
                total += evicted;
                self.evicted.fetch_add(evicted, Ordering::Relaxed);
                let now = logs[i].charged();
                if now > 0 {
                    heap.push((now, i));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::lock::lock;

    /// A log of messages of the given costs, oldest first.
    struct Log {
        costs: Mutex<Vec<u64>>,
        charged: AtomicU64,
    }

    impl Log {
        fn new(budget: &Budget, costs: Vec<u64>) -> Arc<Log> {
            let total = costs.iter().sum();
            budget.change(0, total);
            Arc::new(Log {
                costs: Mutex::new(costs),
                charged: AtomicU64::new(total),
            })
        }

        fn len(&self) -> usize {
            lock(&self.costs).len()
        }
    }

    impl Evict for Arc<Log> {
        fn charged(&self) -> u64 {
            self.charged.load(Ordering::Relaxed)
        }

        fn evict(&self, budget: &Budget, level: u64, need: u64) -> u64 {
            let mut costs = lock(&self.costs);
            let before: u64 = costs.iter().sum();
            let sum = |c: &Vec<u64>| c.iter().sum();
            let pop = |c: &mut Vec<u64>| {
                if c.is_empty() {
                    return false;
                }
                c.remove(0);
                true
            };
            let n = evict_oldest(&mut *costs, level, need, sum, pop);
            let now = sum(&costs);
            self.charged.store(now, Ordering::Relaxed);
            budget.change(before, now);
            n
        }
    }

    /// The hog pays first, and the total ends a sixteenth below the limit.
    #[test]
    fn the_largest_log_loses_its_oldest_first() {
        let budget = Budget::new(1600);
        let hog = Log::new(&budget, vec![100; 12]);
        let small = Log::new(&budget, vec![100; 3]);
        let tiny = Log::new(&budget, vec![100; 1]);
        assert_eq!(budget.usage().held, 1600);
        assert!(budget.change(0, 100), "over once the hog grows");
        lock(&hog.costs).push(100);
        hog.charged.fetch_add(100, Ordering::Relaxed);
        let logs = [hog.clone(), small.clone(), tiny.clone()];
        budget.settle(|| logs.to_vec());
        let usage = budget.usage();
        assert!(usage.held <= 1600 - 100, "{usage:?}");
        assert_eq!((hog.len(), small.len(), tiny.len()), (11, 3, 1));
        assert_eq!(usage.evicted_messages, 2);
    }

    /// Logs of equal size share the eviction; a log is emptied when it
    /// must be (the budget holds however many topics there are).
    #[test]
    fn eviction_levels_the_largest_and_may_empty_a_log() {
        let budget = Budget::new(1000);
        let a = Log::new(&budget, vec![300; 3]);
        let b = Log::new(&budget, vec![300; 3]);
        let logs = [a.clone(), b.clone()];
        budget.settle(|| logs.to_vec());
        assert!(budget.usage().held <= 1000 - 1000 / 16);
        assert_eq!((a.len(), b.len()), (2, 1));
        let one = Budget::new(10);
        let big = Log::new(&one, vec![500]);
        one.settle(|| vec![big.clone()]);
        assert_eq!((big.len(), one.usage().held), (0, 0));
    }
}
