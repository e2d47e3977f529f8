//! Retention on disk: the oldest messages beyond a topic's count, byte or
//! age bound leave the topic in the same transaction as the appends that
//! pushed them out (or, for age, in the writer's periodic pass), and the
//! space is given back: freed pages are reused by later appends, returned
//! to the file system by `PRAGMA incremental_vacuum` once enough are free,
//! and the write-ahead log is checkpointed and cut back
//! (`journal_size_limit`).
//!
//! What retention drops is deleted from the table in steps, once
//! [`RECLAIM_MESSAGES`] or [`RECLAIM_BYTES`] of it have gathered: deleting
//! each commit's few oldest rows rewrote the table's first pages (and the
//! free list's) in every commit, a quarter of the pages a commit wrote
//! (`drift-bench/bench/wal_frames.py`). Until then the rows stay on disk
//! behind the topic's first retained seq, which every read starts from;
//! the topic's row keeps the bytes stored, so that loading the directory
//! finds where retention stood again (see [`advance`]).

use rusqlite::{Connection, OptionalExtension};

use crate::broker::config::TopicConfig;

/// The retention bookkeeping of one topic inside a transaction.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) epoch: u64,
    /// Oldest retained seq (`last_seq + 1` when none).
    pub(super) first_seq: u64,
    pub(super) first_time_us: u64,
    pub(super) last_seq: u64,
    /// Payload bytes retained.
    pub(super) bytes: u64,
    /// What is still on disk: retained, and dropped but not yet deleted.
    pub(super) stored: Stored,
}

/// The rows of a topic on disk, from its oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stored {
    /// Oldest seq on disk (after the last seq when none).
    pub(super) first_seq: u64,
    /// Their payload bytes.
    pub(super) bytes: u64,
}

/// Dropped messages are deleted from disk once this many have gathered...
pub(super) const RECLAIM_MESSAGES: u64 = 256;
/// ...or once their payloads reach this.
pub(super) const RECLAIM_BYTES: u64 = 64 << 10;

impl Span {
    fn empty(&self) -> bool {
        self.first_seq > self.last_seq
    }

    /// Makes `first` (its seq and publish time) the first retained message,
    /// with `bytes` retained from it on, or, with `None`, retains nothing;
    /// returns whether the first retained message moved forward.
    fn retain_from(&mut self, first: Option<(u64, u64)>, bytes: u64) -> bool {
        let (seq, time_us) = first.unwrap_or((self.last_seq + 1, 0));
        if seq <= self.first_seq {
            return false;
        }
        self.first_seq = seq;
        self.first_time_us = time_us;
        self.bytes = if first.is_some() { bytes } else { 0 };
        true
    }

    /// Whether [`advance`] would drop anything at `now_us`, judged without
    /// reading the disk (sizes of single messages are not known here, so a
    /// byte bound only says "maybe").
    pub(super) fn over(&self, config: &TopicConfig, now_us: u64) -> bool {
        if self.empty() {
            return false;
        }
        let r = &config.retention;
        self.last_seq + 1 - self.first_seq > r.max_messages as u64
            || r.max_bytes
                .is_some_and(|m| self.bytes > m && self.first_seq < self.last_seq)
            || cutoff(config, now_us).is_some_and(|c| self.first_time_us < c)
    }
}

/// Publish times before this have expired at `now_us`.
pub(super) fn cutoff(config: &TopicConfig, now_us: u64) -> Option<u64> {
    config
        .retention
        .max_age
        .map(|a| now_us.saturating_sub(a.as_micros() as u64))
}

/// Drops, oldest first, the messages of `span` that `config` no longer
/// retains at `now_us` (see [`advance`]), and deletes what was dropped from
/// disk once enough has gathered. Returns whether either happened (the
/// topic's row and state then need updating).
pub(super) fn trim(
    conn: &Connection,
    span: &mut Span,
    config: &TopicConfig,
    now_us: u64,
) -> rusqlite::Result<bool> {
    let dropped = advance(conn, span, config, now_us)?;
    let dead_messages = span.first_seq.saturating_sub(span.stored.first_seq);
    let dead_bytes = span.stored.bytes.saturating_sub(span.bytes);
    let reclaim = dead_messages >= RECLAIM_MESSAGES || dead_bytes >= RECLAIM_BYTES;
    if reclaim {
        conn.prepare_cached("DELETE FROM messages WHERE epoch = ?1 AND seq < ?2")?
            .execute((span.epoch as i64, span.first_seq as i64))?;
        span.stored = Stored {
            first_seq: span.first_seq,
            bytes: span.bytes,
        };
    }
    Ok(dropped || reclaim)
}

/// Moves the first retained message of `span` past those `config` no
/// longer retains at `now_us`: beyond the count, beyond the byte bound
/// (keeping at least the newest message, as the memory store does) or
/// older than the age bound; reads the disk, writes nothing. Returns
/// whether it moved.
///
/// The bounds only ever move the first retained message forward, so
/// advancing from the oldest row on disk, as loading does, finds what
/// advancing commit by commit found.
pub(super) fn advance(
    conn: &Connection,
    span: &mut Span,
    config: &TopicConfig,
    now_us: u64,
) -> rusqlite::Result<bool> {
    if !span.over(config, now_us) {
        return Ok(false);
    }
    // The count bound, which moves on nearly every commit of a busy topic:
    // two index lookups, not a walk through the rows it drops (that walk
    // was half of the writer's retention work).
    let by_count = (span.last_seq + 1).saturating_sub(config.retention.max_messages as u64);
    let moved = by_count > span.first_seq && skip_to(conn, span, by_count)?;
    if !span.over(config, now_us) {
        return Ok(moved);
    }
    // The byte and age bounds, row by row from there.
    Ok(walk(conn, span, config, now_us)? || moved)
}

/// Makes the first message at or after `seq` the first retained one.
fn skip_to(conn: &Connection, span: &mut Span, seq: u64) -> rusqlite::Result<bool> {
    let first: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, time_us FROM messages WHERE epoch = ?1 AND seq >= ?2 ORDER BY seq LIMIT 1",
        )?
        .query_row((span.epoch as i64, seq as i64), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let first = first.map(|(s, t)| (s as u64, t as u64));
    let Some((first_seq, _)) = first else {
        return Ok(span.retain_from(None, 0));
    };
    let dropped: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(length(payload)), 0) FROM messages \
             WHERE epoch = ?1 AND seq >= ?2 AND seq < ?3",
        )?
        .query_row(
            (span.epoch as i64, span.first_seq as i64, first_seq as i64),
            |row| row.get(0),
        )?;
    let bytes = span.bytes.saturating_sub(dropped as u64);
    Ok(span.retain_from(first, bytes))
}

/// Drops, row by row from the first retained, what the byte bound (keeping
/// at least the newest message) or the age bound no longer retains.
fn walk(
    conn: &Connection,
    span: &mut Span,
    config: &TopicConfig,
    now_us: u64,
) -> rusqlite::Result<bool> {
    let r = &config.retention;
    let cutoff = cutoff(config, now_us);
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time_us, length(payload) FROM messages \
         WHERE epoch = ?1 AND seq >= ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query((span.epoch as i64, span.first_seq as i64))?;
    let mut bytes = span.bytes;
    let mut keep = None;
    while let Some(row) = rows.next()? {
        let seq = row.get::<_, i64>(0)? as u64;
        let time = row.get::<_, i64>(1)? as u64;
        let len = row.get::<_, i64>(2)? as u64;
        let drop = cutoff.is_some_and(|c| time < c)
            || (r.max_bytes.is_some_and(|m| bytes > m) && seq < span.last_seq);
        if !drop {
            keep = Some((seq, time));
            break;
        }
        bytes = bytes.saturating_sub(len);
    }
    drop(rows);
    Ok(span.retain_from(keep, bytes))
}

/// Gives free pages back to the file system once more than a quarter of
/// the file (and at least 1 MiB) is free.
pub(super) fn vacuum(conn: &Connection) -> rusqlite::Result<()> {
    let (pages, free): (i64, i64) = conn.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count), \
                (SELECT freelist_count FROM pragma_freelist_count)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if free > 256 && free * 4 > pages {
        // Stepped to the end: each step may free only part of the list.
        let mut stmt = conn.prepare_cached("PRAGMA incremental_vacuum")?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    Ok(())
}
