//! Dead peers are found without closing live connections of clients that
//! ignore HTTP/2 PINGs. The original Go client ignores every frame on stream
//! 0 (no SETTINGS or PING ACK, no WINDOW_UPDATE) and does not reconnect: a
//! server that closes connections whose PINGs go unanswered cuts its idle
//! subscriptions for good.

mod support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PING: u8 = 6;
const GOAWAY: u8 = 7;
const HEADERS: u8 = 1;
const DATA: u8 = 0;

/// An HTTP/2 client that, like the original Go transport, never answers a
/// frame on stream 0.
struct DeafClient {
    io: TcpStream,
    buf: Vec<u8>,
}

struct RawFrame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK: a literal field without indexing, its name from the static table.
fn literal(name_index: u8, value: &str) -> Vec<u8> {
    let mut f = vec![name_index, value.len() as u8];
    f.extend_from_slice(value.as_bytes());
    f
}

impl DeafClient {
    /// Connects over h2c and sends `GET path` (raw framing) on stream 1.
    async fn subscribe(server: &TestServer, path: &str) -> DeafClient {
        let mut io = TcpStream::connect(server.addr).await.expect("connect");
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(4, 0, 0, &[])); // SETTINGS, none changed
        // :method GET (static 2), :scheme http (6), :path (4), :authority (1).
        let mut block = vec![0x82, 0x86];
        block.extend(literal(4, path));
        block.extend(literal(1, "localhost"));
        out.extend(frame(HEADERS, 0x4 | 0x1, 1, &block)); // END_HEADERS | END_STREAM
        io.write_all(&out).await.expect("write");
        DeafClient {
            io,
            buf: Vec::new(),
        }
    }

    /// The next frame, or `None` when the server closed the connection.
    async fn next(&mut self) -> Option<RawFrame> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let head: Vec<u8> = self.buf.drain(..9).collect();
                    let payload = self.buf.drain(..len).collect();
                    return Some(RawFrame {
                        kind: head[3],
                        flags: head[4],
                        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                            & 0x7fff_ffff,
                        payload,
                    });
                }
            }
            let mut chunk = [0u8; 4096];
            match self.io.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// With the dead-peer interval shortened to one second, a client that never
/// ACKs a PING keeps its idle raw subscription for 24 s (once, PINGs going
/// unanswered for 20 s closed the connection), then receives the next
/// message on it.
#[tokio::test]
async fn a_client_that_never_acks_pings_keeps_its_idle_subscription() {
    within(async {
        let server = start_h2c(|c| c.keepalive = Some(Duration::from_secs(1))).await;
        let mut deaf = DeafClient::subscribe(&server, "/v1/t/idle").await;
        loop {
            let f = deaf.next().await.expect("the response");
            if f.kind == HEADERS && f.stream == 1 {
                assert_eq!(f.payload.first(), Some(&0x88), "status 200");
                assert_eq!(f.flags & 0x1, 0, "the stream stays open");
                break;
            }
        }

        let idle_until = tokio::time::Instant::now() + Duration::from_secs(24);
        let mut pings = 0;
        loop {
            match tokio::time::timeout_at(idle_until, deaf.next()).await {
                Err(_) => break, // idle for the whole time
                Ok(None) => panic!("the server closed the idle connection"),
                Ok(Some(f)) => {
                    assert_ne!(f.kind, GOAWAY, "the server sent GOAWAY while idle");
                    assert_ne!(f.stream, 1, "nothing was published");
                    pings += usize::from(f.kind == PING);
                }
            }
        }

        server
            .h2()
            .await
            .publish("idle", "after a long quiet")
            .await;
        loop {
            let f = deaf
                .next()
                .await
                .unwrap_or_else(|| panic!("closed after idling ({pings} PINGs seen)"));
            if f.kind == DATA && f.stream == 1 {
                assert_eq!(f.payload, b"after a long quiet");
                break;
            }
        }
    })
    .await
}
