//! Reads the cache cannot answer, on read connections of their own, each
//! on its own thread: they never wait for the writer (WAL readers see the
//! last commit) and never block an async worker.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::err;
use super::schema::unsigned;
use crate::error::Result;
use crate::lock::lock;
use crate::model::{Message, MessageId};

/// A read of seqs `lo..=hi` of one incarnation, from disk, followed by
/// `tail` (the cached messages after `hi`).
pub(super) struct ReadRequest {
    pub(super) epoch: u64,
    pub(super) lo: u64,
    pub(super) hi: u64,
    /// Only messages published strictly after this time.
    pub(super) after_time_us: Option<i64>,
    pub(super) tail: Vec<Arc<Message>>,
    pub(super) reply: oneshot::Sender<Result<Vec<Arc<Message>>>>,
}

pub(super) enum ReaderMsg {
    Read(ReadRequest),
    Shutdown,
}

/// Starts one reader thread per connection.
pub(super) fn spawn(
    dir: PathBuf,
    conns: Vec<Connection>,
    queue: Receiver<ReaderMsg>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let queue = Arc::new(Mutex::new(queue));
    conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let (dir, queue) = (dir.clone(), queue.clone());
            std::thread::Builder::new()
                .name(format!("drift-disk-read-{i}"))
                .spawn(move || run(&dir, &conn, &queue))
        })
        .collect()
}

fn run(dir: &std::path::Path, conn: &Connection, queue: &Mutex<Receiver<ReaderMsg>>) {
    loop {
        let msg = lock(queue).recv();
        let request = match msg {
            Ok(ReaderMsg::Read(r)) => r,
            Ok(ReaderMsg::Shutdown) | Err(_) => return,
        };
        let answer = read(dir, conn, &request).map(|mut head| {
            head.extend(request.tail);
            head
        });
        // The caller may have gone away; nothing to do then.
        let _ = request.reply.send(answer);
    }
}

fn read(dir: &std::path::Path, conn: &Connection, r: &ReadRequest) -> Result<Vec<Arc<Message>>> {
    let failed = |e| err::sqlite(dir, "read", e, err::errno(conn));
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, time_us, payload FROM messages \
             WHERE epoch = ?1 AND seq >= ?2 AND seq <= ?3 AND time_us > ?4 ORDER BY seq",
        )
        .map_err(failed)?;
    let mut rows = stmt
        .query((
            r.epoch as i64,
            r.lo as i64,
            r.hi as i64,
            r.after_time_us.unwrap_or(-1),
        ))
        .map_err(failed)?;
    let mut out = Vec::with_capacity(((r.hi - r.lo + 1) as usize).min(4096) + r.tail.len());
    while let Some(row) = rows.next().map_err(failed)? {
        let seq = unsigned(dir, "a seq", row.get(0).map_err(failed)?)?;
        let time_us = unsigned(dir, "a publish time", row.get(1).map_err(failed)?)?;
        let payload: Vec<u8> = row.get(2).map_err(failed)?;
        let id = MessageId {
            epoch: r.epoch,
            seq,
        };
        out.push(Arc::new(Message::new(id, time_us, Bytes::from(payload))));
    }
    Ok(out)
}

/// Sends each reader thread its end.
pub(super) fn shutdown(queue: &Sender<ReaderMsg>, threads: usize) {
    for _ in 0..threads {
        let _ = queue.send(ReaderMsg::Shutdown);
    }
}
