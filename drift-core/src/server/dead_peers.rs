//! Finding dead peers without HTTP/2 PINGs. A PING whose ACK never comes
//! cannot tell a dead peer from a live client that ignores stream-0 frames
//! (the original Go client does: it would lose every idle subscription
//! after one PING timeout, and it does not reconnect). The kernel answers
//! TCP keep-alive probes for every live peer, whatever its HTTP/2 stack, so
//! accepted sockets get them: after `idle` without traffic a probe goes out
//! every `idle / 3` (at least a second), and after three unanswered ones
//! the connection is closed. `TCP_USER_TIMEOUT` bounds the same way how
//! long data sent to a peer may stay unacknowledged, so a peer that
//! vanished in the middle of a stream is dropped too, not only an idle one.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// Unanswered probes after which the kernel closes the connection.
const PROBES: u32 = 3;

/// The interval between probes, and the longest a dead peer keeps its
/// connection: `idle` plus `PROBES` intervals.
fn timings(idle: Duration) -> (Duration, Duration) {
    let interval = (idle / 3).max(Duration::from_secs(1));
    (
        interval,
        idle.saturating_add(interval.saturating_mul(PROBES)),
    )
}

/// Turns dead-peer detection on for an accepted connection (`None`: off).
pub(super) fn watch(stream: &TcpStream, idle: Option<Duration>) -> io::Result<()> {
    let Some(idle) = idle else {
        return Ok(());
    };
    let (interval, limit) = timings(idle);
    let socket = SockRef::from(stream);
    let keepalive = TcpKeepalive::new()
        .with_time(idle)
        .with_interval(interval)
        .with_retries(PROBES);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(limit))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = limit;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn within<T>(f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .expect("timed out")
    }

    async fn accepted(idle: Option<Duration>) -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        watch(&server, idle).expect("watch");
        (server, client)
    }

    #[tokio::test]
    async fn accepted_sockets_probe_their_peer_and_bound_unacknowledged_data() {
        let (server, _client) = within(accepted(Some(Duration::from_secs(30)))).await;
        let s = SockRef::from(&server);
        assert!(s.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(
            s.tcp_keepalive_time().expect("idle"),
            Duration::from_secs(30)
        );
        assert_eq!(
            s.tcp_keepalive_interval().expect("interval"),
            Duration::from_secs(10)
        );
        assert_eq!(s.tcp_keepalive_retries().expect("probes"), PROBES);
        #[cfg(target_os = "linux")]
        assert_eq!(
            s.tcp_user_timeout().expect("user timeout"),
            Some(Duration::from_secs(60))
        );
    }

    #[tokio::test]
    async fn off_leaves_the_socket_alone() {
        let (server, _client) = within(accepted(None)).await;
        assert!(!SockRef::from(&server).keepalive().expect("SO_KEEPALIVE"));
    }

    #[test]
    fn short_idle_times_probe_at_most_every_second() {
        assert_eq!(
            timings(Duration::from_millis(300)),
            (Duration::from_secs(1), Duration::from_millis(3300))
        );
    }
}
