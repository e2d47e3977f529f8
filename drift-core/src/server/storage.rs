//! Which store a server's broker keeps its topics in: the disk store in
//! `data_dir` or the Redis store at `redis` when one is set, else the
//! configuration's own (memory unless a program put another there).

use std::path::Path;
#[cfg(any(feature = "disk", feature = "redis"))]
use std::sync::Arc;

use super::ServerConfig;
use crate::broker::BrokerConfig;
use crate::broker::store::{self, Fsync};
use crate::error::Result;

/// The broker configuration `config` serves with, its store opened.
pub(crate) fn broker_config(config: &ServerConfig) -> Result<BrokerConfig> {
    let mut broker = config.broker.clone();
    if let Some(dir) = &config.data_dir {
        broker.store = open_disk(dir, config.fsync)?;
    }
    if let Some(url) = &config.redis {
        broker.store = open_redis(url)?;
    }
    Ok(broker)
}

impl ServerConfig {
    /// Where history lives, for a start-up log line: `history in DIR
    /// (fsync always)` or `history in memory`.
    pub fn history_location(&self) -> String {
        match (&self.data_dir, &self.redis) {
            (Some(dir), _) => format!("history in {} (fsync {})", dir.display(), self.fsync),
            (None, Some(url)) => format!("history in Redis at {}", store::redis_address(url)),
            (None, None) => "history in memory".to_owned(),
        }
    }
}

#[cfg(feature = "redis")]
fn open_redis(url: &str) -> Result<Arc<dyn crate::broker::TopicStore>> {
    Ok(Arc::new(crate::broker::store::RedisStore::open(url)?))
}

#[cfg(not(feature = "redis"))]
fn open_redis(_: &str) -> Result<std::sync::Arc<dyn crate::broker::TopicStore>> {
    Err(crate::error::Error::invalid(
        "cannot share topics through Redis: this build of Drift has no Redis store (drift-core's `redis` feature)",
    ))
}

#[cfg(feature = "disk")]
fn open_disk(dir: &Path, fsync: Fsync) -> Result<Arc<dyn crate::broker::TopicStore>> {
    use crate::broker::store::{DiskOptions, DiskStore};
    let options = DiskOptions {
        fsync,
        ..DiskOptions::default()
    };
    let store = DiskStore::open(dir, options)?;
    survive_file_size_limits();
    Ok(Arc::new(store))
}

/// A write past the process's file-size limit (`ulimit -f`) raises SIGXFSZ,
/// whose default action kills the process, embedding programs included;
/// ignored, the write fails with EFBIG, and the store answers that publish
/// 507 and goes on serving. A disposition the program chose itself is kept.
#[cfg(all(feature = "disk", unix))]
fn survive_file_size_limits() {
    // SAFETY: `sigaction` with no new action only reads the current one into
    // a zeroed struct of the right type; SIG_IGN runs no code of ours.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGXFSZ, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_DFL
        {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
    }
}

#[cfg(all(feature = "disk", not(unix)))]
fn survive_file_size_limits() {}

#[cfg(not(feature = "disk"))]
fn open_disk(dir: &Path, _: Fsync) -> Result<std::sync::Arc<dyn crate::broker::TopicStore>> {
    Err(crate::error::Error::invalid(format!(
        "cannot keep history in {}: this build of Drift has no disk store (drift-core's `disk` feature)",
        dir.display()
    )))
}
