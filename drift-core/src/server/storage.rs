//! Which store a server's broker keeps its topics in: the disk store in
//! `data_dir` when one is set, else the configuration's own (memory unless a
//! program put another there).

use std::path::Path;
#[cfg(feature = "disk")]
use std::sync::Arc;

use super::ServerConfig;
use crate::broker::BrokerConfig;
use crate::broker::store::Fsync;
use crate::error::Result;

/// The broker configuration `config` serves with, its store opened.
pub(crate) fn broker_config(config: &ServerConfig) -> Result<BrokerConfig> {
    let mut broker = config.broker.clone();
    if let Some(dir) = &config.data_dir {
        broker.store = open_disk(dir, config.fsync)?;
    }
    Ok(broker)
}

impl ServerConfig {
    /// Where history lives, for a start-up log line: `history in DIR
    /// (fsync always)` or `history in memory`.
    pub fn history_location(&self) -> String {
        match &self.data_dir {
            Some(dir) => format!("history in {} (fsync {})", dir.display(), self.fsync),
            None => "history in memory".to_owned(),
        }
    }
}

#[cfg(feature = "disk")]
fn open_disk(dir: &Path, fsync: Fsync) -> Result<Arc<dyn crate::broker::TopicStore>> {
    use crate::broker::store::{DiskOptions, DiskStore};
    let options = DiskOptions {
        fsync,
        ..DiskOptions::default()
    };
    Ok(Arc::new(DiskStore::open(dir, options)?))
}

#[cfg(not(feature = "disk"))]
fn open_disk(dir: &Path, _: Fsync) -> Result<std::sync::Arc<dyn crate::broker::TopicStore>> {
    Err(crate::error::Error::invalid(format!(
        "cannot keep history in {}: this build of Drift has no disk store (drift-core's `disk` feature)",
        dir.display()
    )))
}
