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

use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest a connection lingers: enough for a client to finish a
/// write in flight and read the answer, not enough to hold descriptors.
const LINGER_FOR: Duration = Duration::from_secs(2);
/// At most this much is read and discarded: a client sending more than
/// this is not finishing a write.
const LINGER_BYTES: usize = 1 << 20;

/// A second handle on an accepted socket, kept while the connection is
/// served (the served stream owns the first), to close it lingering.
pub(super) struct Linger(Option<std::net::TcpStream>);

impl Linger {
    /// Keeps a handle on `stream`'s socket (none if the descriptor cannot
    /// be duplicated: the connection then closes as it would without).
    pub(super) fn keep(stream: &TcpStream) -> Linger {
        let dup = SockRef::from(stream).try_clone().ok();
        Linger(dup.map(std::net::TcpStream::from))
    }

    /// Once the served stream is gone: ends the server's side after what it
    /// wrote, then discards what the client sends until it closes, for
    /// [`LINGER_FOR`] and [`LINGER_BYTES`] at most.
    pub(super) async fn close(self) {
        // The duplicate shares the socket's non-blocking mode.
        let Some(mut stream) = self.0.and_then(|s| TcpStream::from_std(s).ok()) else {
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
