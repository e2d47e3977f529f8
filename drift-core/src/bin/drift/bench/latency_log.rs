//! `drift bench fanout --latency-log`: every delivery of a run, one line
//! each, for finding out which deliveries make a latency tail (a whole
//! message late, or only some connections) — `bench/tail.py` reads it.
//! Kept in memory during the run and written after it, so the measurement
//! pays one push per delivery and no I/O.

use std::io::Write;
use std::path::Path;

/// One delivery, as `--latency-log` writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    pub published_us: u64,
    pub received_us: u64,
    pub seq: u64,
    pub publisher: u16,
    pub topic: u32,
    pub connection: u32,
    pub subscription: u32,
}

/// Writes `deliveries` to `path`, in the order they were published, under a
/// header line naming the columns.
pub(crate) fn write(path: &Path, deliveries: &mut [Delivery]) -> std::io::Result<()> {
    deliveries
        .sort_unstable_by_key(|d| (d.published_us, d.topic, d.publisher, d.seq, d.received_us));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "# published_us received_us topic publisher seq connection subscription"
    )?;
    for d in deliveries.iter() {
        writeln!(
            out,
            "{} {} {} {} {} {} {}",
            d.published_us,
            d.received_us,
            d.topic,
            d.publisher,
            d.seq,
            d.connection,
            d.subscription
        )?;
    }
    out.flush()
}
