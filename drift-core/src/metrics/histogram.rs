//! Histograms with fixed bucket bounds, sharded by thread like
//! [`Cells`](super::cells::Cells): an observation is three uncontended
//! atomic adds (its bucket, the count, the sum).

use super::cells::Cells;

/// The most buckets a histogram has (its bounds, then +Inf).
const MAX_BUCKETS: usize = 24;
/// Cells: one per bucket, then the count, then the sum.
const CELLS: usize = MAX_BUCKETS + 2;

/// A histogram over `u64` observations (nanoseconds, messages) with
/// upper bounds `bounds` (inclusive, ascending), read as the
/// Prometheus cumulative buckets.
pub(crate) struct Histogram {
    bounds: &'static [u64],
    cells: Cells<CELLS>,
}

/// What a scrape reads of a [`Histogram`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Observations per bucket (not cumulative: the encoder adds them up),
    /// by upper bound; those above every bound are `count` less their sum.
    pub(crate) buckets: Vec<(u64, u64)>,
    pub(crate) count: u64,
    pub(crate) sum: u64,
}

impl Histogram {
    pub(crate) fn new(bounds: &'static [u64]) -> Histogram {
        assert!(bounds.len() < MAX_BUCKETS, "too many buckets");
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            cells: Cells::new(),
        }
    }

    #[inline]
    pub(crate) fn observe(&self, v: u64) {
        let bucket = self.bounds.partition_point(|&b| b < v);
        self.cells.add(bucket, 1);
        self.cells.add(MAX_BUCKETS, 1);
        self.cells.add(MAX_BUCKETS + 1, v);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let buckets = self
            .bounds
            .iter()
            .enumerate()
            .map(|(i, &bound)| (bound, self.cells.sum(i)))
            .collect();
        Snapshot {
            buckets,
            count: self.cells.sum(MAX_BUCKETS),
            sum: self.cells.sum(MAX_BUCKETS + 1),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.snapshot().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        let h = Histogram::new(&[1, 10, 100]);
        for v in [0, 1, 2, 10, 11, 1000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1, 2), (10, 2), (100, 1)]);
        assert_eq!(s.count, 6);
        assert_eq!(s.sum, 1024);
    }
}
