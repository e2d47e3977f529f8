//! How the messages of a run are split over publishers and topics.

/// Splits `n` messages over publishers and topics: publisher p owns topics
/// t ≡ p (mod P) when there are at least as many topics as publishers, else
/// topic p mod T. Returns the per-publisher assignment, per-topic bitmap
/// offsets (per publisher) and per-topic totals.
#[allow(clippy::type_complexity)]
pub(crate) fn assign(
    n: u64,
    publishers: usize,
    topics: usize,
) -> (Vec<Vec<(usize, u64)>>, Vec<Vec<u64>>, Vec<u64>) {
    let mut assignment = Vec::with_capacity(publishers);
    for p in 0..publishers {
        let mine = n / publishers as u64 + u64::from((p as u64) < n % publishers as u64);
        let owned: Vec<usize> = if topics >= publishers {
            (p..topics).step_by(publishers).collect()
        } else {
            vec![p % topics]
        };
        let k = owned.len() as u64;
        assignment.push(
            owned
                .iter()
                .enumerate()
                .map(|(i, &t)| (t, mine / k + u64::from((i as u64) < mine % k)))
                .collect::<Vec<_>>(),
        );
    }
    let mut offsets = vec![vec![0u64; publishers]; topics];
    let mut totals = vec![0u64; topics];
    for (p, list) in assignment.iter().enumerate() {
        for &(t, count) in list {
            offsets[t][p] = totals[t];
            totals[t] += count;
        }
    }
    (assignment, offsets, totals)
}
