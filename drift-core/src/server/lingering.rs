//! A lingering close for connections the server ends on an error.
//!
//! When the server gives up on a connection (a header block far over the
//! limit, a protocol error), the HTTP/2 layer writes a GOAWAY with the
//! reason and closes. If the client is still sending, say the rest of that
//! header block, closing with its bytes unread makes the kernel answer
//! with a reset: the client's next write fails with a broken pipe and it
//! never reads the GOAWAY, so it reports "connection reset" instead of
//! why. Like nginx's `lingering_close`, the server here sends its FIN
//! after the last answer and reads and discards what the client still
//! sends, until the client closes, for a short time at most.

use std::io;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The longest a connection lingers: enough for a client to finish a
/// write in flight and read the answer, not enough to hold descriptors.
const LINGER_FOR: Duration = Duration::from_secs(2);
/// At most this much is read and discarded: a client sending more than
/// this is not finishing a write.
const LINGER_BYTES: usize = 1 << 20;

/// An accepted socket as the HTTP layer reads and writes it; when that
/// layer drops it, the socket goes back to [`Reclaimed`] instead of
/// closing (no second descriptor: a connection still costs one).
pub(super) struct Lingering {
    stream: Option<TcpStream>,
    back: Option<oneshot::Sender<TcpStream>>,
}

/// Where a [`Lingering`] socket comes back once the HTTP layer is done.
pub(super) struct Reclaimed(oneshot::Receiver<TcpStream>);

/// Wraps `stream` for the HTTP layer.
pub(super) fn lingering(stream: TcpStream) -> (Lingering, Reclaimed) {
    let (back, reclaimed) = oneshot::channel();
    let socket = Lingering {
        stream: Some(stream),
        back: Some(back),
    };
    (socket, Reclaimed(reclaimed))
}

impl Drop for Lingering {
    fn drop(&mut self) {
        if let (Some(stream), Some(back)) = (self.stream.take(), self.back.take()) {
            // Nobody waiting: the socket closes here as it would have.
            let _ = back.send(stream);
        }
    }
}

impl Deref for Lingering {
    type Target = TcpStream;
    fn deref(&self) -> &TcpStream {
        self.stream.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Lingering {
    fn deref_mut(&mut self) -> &mut TcpStream {
        self.stream.as_mut().expect("present until dropped")
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.get_mut()).poll_read(cx, buf)
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self.get_mut()).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut **self.get_mut()).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        (**self).is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.get_mut()).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut **self.get_mut()).poll_shutdown(cx)
    }
}

impl Reclaimed {
    /// Once the HTTP layer has dropped the socket: ends the server's side
    /// after what it wrote, then discards what the client sends until it
    /// closes, for [`LINGER_FOR`] and [`LINGER_BYTES`] at most.
    pub(super) async fn close(mut self) {
        let Ok(mut stream) = self.0.try_recv() else {
            return;
        };
        if stream.shutdown().await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let drain = async {
            let mut read = 0;
            while read < LINGER_BYTES {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_FOR, drain).await;
    }
}
