//! Coalesced writes for a connection's byte stream (see [`Coalesced`]).

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{EngineCounters, ThreadCounters};

/// Pending output at which [`Coalesced`] writes without waiting.
const COALESCE_BYTES: usize = 64 * 1024;

/// The connection's byte stream with its writes coalesced.
///
/// h2 copies a DATA payload into its write buffer only when it is shorter
/// than 256 bytes; a longer one is written from its own buffer, and h2 holds
/// one such frame at a time, flushing after each, so in a fan-out of 1 KiB
/// raw messages every delivery cost its own `sendto` (and, over TLS, its own
/// record). Here writes are copied into one buffer, and when such a frame is
/// among them, flushes of less than [`COALESCE_BYTES`] are put off until the
/// connection's task is polled again: the task is woken at once, so the
/// other streams ready on this thread add their frames first, and the next
/// poll writes them all with one system call. Output made only of small
/// frames is written at once, as before (h2 already batches those), so a
/// quiet connection's latency does not change.
pub(crate) struct Coalesced<IO> {
    io: IO,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    /// Counts the polls of the connection's task (see [`PollCount`]).
    polls: PollCount,
    /// The poll during which a flush was put off, if one was: a flush in a
    /// later poll writes.
    deferred_in: Option<u64>,
    /// A large DATA payload (written by h2 as its own slice) is buffered.
    large: bool,
    /// The counts of the thread that serves the connection.
    counters: Arc<ThreadCounters>,
}

impl<IO> Coalesced<IO> {
    /// `polls` must count the polls of the task that drives this stream.
    pub(crate) fn new(io: IO, polls: PollCount, counters: Arc<ThreadCounters>) -> Coalesced<IO> {
        Coalesced {
            io,
            buf: Vec::new(),
            written: 0,
            polls,
            deferred_in: None,
            large: false,
            counters,
        }
    }

    fn pending(&self) -> usize {
        self.buf.len() - self.written
    }
}

impl<IO: AsyncWrite + Unpin> Coalesced<IO> {
    /// Writes out everything buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        self.deferred_in = None;
        self.large = false;
        if self.buf.capacity() > 16 * 1024 {
            // A burst is over: an idle connection keeps no large buffer.
            self.buf = Vec::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Coalesced<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Coalesced<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let total: usize = data.iter().map(|d| d.len()).sum();
        if this.pending() > 0 && this.pending() + total > COALESCE_BYTES {
            ready!(this.poll_drain(cx))?;
        }
        if this.pending() == 0 && total >= COALESCE_BYTES {
            // Large enough on its own.
            return Pin::new(&mut this.io).poll_write_vectored(cx, data);
        }
        // h2 writes a chained DATA payload as a slice of its own after the
        // frame head (and whatever small frames precede it).
        if data.len() > 1 && data[1..].iter().any(|d| d.len() >= 256) {
            this.large = true;
        }
        for d in data {
            this.buf.extend_from_slice(d);
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.pending() > 0 {
            let poll = this.polls.current();
            if this.large
                && this.deferred_in.is_none_or(|p| p == poll)
                && this.pending() < COALESCE_BYTES
            {
                this.deferred_in = Some(poll);
                EngineCounters::count(&this.counters.deferred_flushes);
                cx.waker().wake_by_ref();
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Counts the polls of a connection's task, so that [`Coalesced`] can tell
/// a flush of the same poll (put off) from one of the next (written).
#[derive(Debug, Clone, Default)]
pub(crate) struct PollCount(Arc<AtomicU64>);

impl PollCount {
    fn current(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Wraps the future that drives the connection.
    pub(crate) fn count<F: Future>(self, connection: F) -> Counted<F> {
        Counted {
            polls: self,
            connection: Box::pin(connection),
        }
    }
}

/// A connection's future that counts its polls.
pub(crate) struct Counted<F> {
    polls: PollCount,
    connection: Pin<Box<F>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.0.fetch_add(1, Ordering::Relaxed);
        self.connection.as_mut().poll(cx)
    }
}
