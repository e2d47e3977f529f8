//! Counters sharded by thread: each thread adds to the cells of its own
//! shard (an uncontended atomic add on a cache line no other core writes,
//! in the common case), and a scrape sums the shards. Callers add once per
//! batch or poll, not once per message.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Shards per counter set: more than the cores Drift runs connection
/// threads on, in the common case, so that two threads rarely share one.
const SHARDS: usize = 16;

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, handed out round-robin as threads first count.
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

fn shard() -> usize {
    SHARD.with(|s| *s)
}

/// One shard's cells, on cache lines of their own.
#[repr(align(128))]
struct Shard<const N: usize>([AtomicU64; N]);

/// `N` counters, each sharded by thread.
pub(crate) struct Cells<const N: usize> {
    shards: Box<[Shard<N>]>,
}

impl<const N: usize> Cells<N> {
    pub(crate) fn new() -> Cells<N> {
        Cells {
            shards: (0..SHARDS)
                .map(|_| Shard(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Adds `n` to counter `i` (in this thread's shard).
    #[inline]
    pub(crate) fn add(&self, i: usize, n: u64) {
        if n != 0 {
            self.shards[shard()].0[i].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counter `i`, summed over the shards (a scrape).
    pub(crate) fn sum(&self, i: usize) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0[i].load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }
}

impl<const N: usize> std::fmt::Debug for Cells<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries((0..N).map(|i| self.sum(i))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_threads() {
        let cells = std::sync::Arc::new(Cells::<2>::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let cells = cells.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        cells.add(1, 2);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(cells.sum(0), 0);
        assert_eq!(cells.sum(1), 16_000);
    }
}
