//! What a [`super::DiskStore`] is opened with.

use super::super::Fsync;

/// How a [`super::DiskStore`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskOptions {
    /// When an accepted append reaches stable storage.
    pub fsync: Fsync,
    /// Newest messages kept in memory per topic, so that a subscriber
    /// joining live (or one only a little behind) is served without a disk
    /// read. Memory use is bounded by this, never by retained history.
    pub cache_messages: usize,
    /// Bytes kept in memory per topic at most, each message counted as its
    /// payload and its overhead ([`crate::model::charged_bytes`]; see
    /// `cache_messages`).
    pub cache_bytes: u64,
    /// Read connections (each on its own thread) for reads the cache cannot
    /// answer. At least one.
    pub readers: usize,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            fsync: Fsync::Always,
            cache_messages: 256,
            cache_bytes: 1 << 20,
            readers: 2,
        }
    }
}
