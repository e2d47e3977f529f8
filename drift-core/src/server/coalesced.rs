//! Coalesced writes for a connection's byte stream (see [`Coalesced`]).

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Pending output at which [`Coalesced`] writes without waiting.
const COALESCE_BYTES: usize = 64 * 1024;

/// The connection's byte stream with its writes coalesced.
///
/// h2 copies a DATA payload into its write buffer only when it is shorter
/// than 256 bytes; a longer one is written from its own buffer, and h2 holds
/// one such frame at a time, so in a fan-out of 1 KiB raw messages every
/// delivery cost its own `writev` (and, over TLS, its own record). Here
/// writes are copied into one buffer, and when such a frame is among them a
/// flush of less than [`COALESCE_BYTES`] is put off once: the task is woken
/// at once, so the other streams ready on this thread add their frames
/// first, and the next flush writes them all with one system call. Output
/// made only of small frames is written at once, as before (h2 already
/// batches those), so a quiet connection's latency does not change.
pub(crate) struct Coalesced<IO> {
    io: IO,
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    written: usize,
    /// A flush was put off; the next one writes.
    deferred: bool,
    /// A large DATA payload (written by h2 as its own slice) is buffered.
    large: bool,
}

impl<IO> Coalesced<IO> {
    pub(crate) fn new(io: IO) -> Coalesced<IO> {
        Coalesced {
            io,
            buf: Vec::new(),
            written: 0,
            deferred: false,
            large: false,
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
        self.deferred = false;
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
            if this.large && !this.deferred && this.pending() < COALESCE_BYTES {
                this.deferred = true;
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
