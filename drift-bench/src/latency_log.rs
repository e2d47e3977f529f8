//! `drift bench fanout --latency-log`: every delivery of a run, one line
//! each, for finding out which deliveries make a latency tail (a whole
//! message late, or only some connections) — `bench/tail.py` reads it.
//! Kept in memory during the run and written after it, so the measurement
//! pays one push per delivery and no I/O.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use drift_core::{Error, ErrorKind, Result};

/// One delivery, as `--latency-log` writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    pub published_us: u64,
    pub received_us: u64,
    pub seq: u64,
    pub publisher: u16,
    pub route: Route,
}

/// Where a subscription is: its topic, its connection and its index among
/// all the run's subscriptions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub topic: u32,
    pub connection: u32,
    pub subscription: u32,
}

/// The file `--latency-log` names, created before the run so that a path
/// that cannot be written fails at once rather than after it.
pub(crate) struct LatencyLog {
    path: PathBuf,
    file: File,
}

impl LatencyLog {
    pub(crate) fn create(path: &Path) -> Result<LatencyLog> {
        match File::create(path) {
            Ok(file) => Ok(LatencyLog {
                path: path.to_owned(),
                file,
            }),
            Err(e) => Err(failed(path, e)),
        }
    }

    /// Writes `deliveries`, in the order they were published, under a header
    /// line naming the columns.
    pub(crate) fn write(self, deliveries: &mut [Delivery]) -> Result<()> {
        deliveries.sort_unstable_by_key(|d| {
            (
                d.published_us,
                d.route.topic,
                d.publisher,
                d.seq,
                d.received_us,
            )
        });
        let mut out = BufWriter::new(self.file);
        let written = (|| {
            writeln!(
                out,
                "# clock: microseconds since {} µs after the Unix epoch",
                super::start_unix_us()
            )?;
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
                    d.route.topic,
                    d.publisher,
                    d.seq,
                    d.route.connection,
                    d.route.subscription
                )?;
            }
            out.flush()
        })();
        written.map_err(|e| failed(&self.path, e))
    }
}

fn failed(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("--latency-log {}: {e}", path.display()),
    )
}
