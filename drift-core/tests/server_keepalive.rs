//! Which connections the server keeps and which it closes. Dead peers are
//! found without closing live connections of clients that ignore HTTP/2
//! PINGs (the original Go client ignores every frame on stream 0 — no
//! SETTINGS or PING ACK, no WINDOW_UPDATE — and does not reconnect, so a
//! server that closes connections whose PINGs go unanswered cuts its idle
//! subscriptions for good). Sockets that say nothing, connections left with
//! no stream, and connections past the limit are closed, so they cannot
//! hold every file descriptor.

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

/// HPACK: a literal field without indexing, its name from the static table.
fn literal(name_index: u8, value: &str) -> Vec<u8> {
    let mut f = vec![name_index, value.len() as u8];
    f.extend_from_slice(value.as_bytes());
    f
}

/// What an HTTP/2 client says first: the preface and empty SETTINGS.
fn hello() -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(frame(4, 0, 0, &[])); // SETTINGS, none changed
    out
}

/// `GET path` on stream 1.
fn get(path: &str) -> Vec<u8> {
    // :method GET (static 2), :scheme http (6), :path (4), :authority (1).
    let mut block = vec![0x82, 0x86];
    block.extend(literal(4, path));
    block.extend(literal(1, "localhost"));
    frame(HEADERS, 0x4 | 0x1, 1, &block) // END_HEADERS | END_STREAM
}

/// A whole connection's worth: hello, then `GET path` on stream 1.
fn request(path: &str) -> Vec<u8> {
    let mut out = hello();
    out.extend(get(path));
    out
}

impl DeafClient {
    /// Connects over h2c and says hello, asking nothing yet.
    async fn connect(server: &TestServer) -> DeafClient {
        let mut io = TcpStream::connect(server.addr).await.expect("connect");
        io.write_all(&hello()).await.expect("write");
        DeafClient {
            io,
            buf: Vec::new(),
        }
    }

    /// Connects over h2c and sends `GET path` (raw framing) on stream 1.
    async fn subscribe(server: &TestServer, path: &str) -> DeafClient {
        let mut client = DeafClient::connect(server).await;
        client.io.write_all(&get(path)).await.expect("write");
        client
    }

    /// The payload of the next DATA frame on stream 1, skipping the rest;
    /// panics with `closed` when the server closes the connection first.
    async fn next_data(&mut self, closed: &str) -> Vec<u8> {
        loop {
            let f = self.next().await.unwrap_or_else(|| panic!("{closed}"));
            if f.kind == DATA && f.stream == 1 {
                return f.payload;
            }
        }
    }

    /// Reads frames until the server closes the connection; whether a
    /// GOAWAY came first.
    async fn until_closed(&mut self) -> bool {
        let mut goaway = false;
        while let Some(f) = self.next().await {
            goaway |= f.kind == GOAWAY;
        }
        goaway
    }

    /// The next frame, or `None` when the server closed the connection.
    async fn next(&mut self) -> Option<RawFrame> {
        next_frame(&mut self.io, &mut self.buf).await
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
        let closed = format!("closed after idling ({pings} PINGs seen)");
        assert_eq!(deaf.next_data(&closed).await, b"after a long quiet");
    })
    .await
}

/// Reads until the server closes the socket (within the test's bound).
async fn read_to_close(io: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = io.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// A socket that sends nothing, over h2c or TLS, or only part of an
/// HTTP/1.1 request, is closed once the handshake deadline passes (before,
/// it was kept forever, and 1100 of them took every descriptor of a 1024
/// limit). An HTTP/2 client that sent its preface may ask later, as
/// connection pools and browsers that connect ahead do.
#[tokio::test]
async fn sockets_that_send_no_request_are_closed_at_the_deadline() {
    within_for(Duration::from_secs(20), async {
        let handshake = Duration::from_millis(300);
        let deadline = |c: &mut drift_core::server::ServerConfig| c.handshake_timeout = handshake;
        let h2c = start_h2c(deadline).await;
        let tls = start_server(deadline).await;
        let mut silent_h2c = TcpStream::connect(h2c.addr).await.unwrap();
        let mut silent_tls = TcpStream::connect(tls.addr).await.unwrap();
        let mut half_a_request = TcpStream::connect(h2c.addr).await.unwrap();
        half_a_request.write_all(b"GET /ping HT").await.unwrap();
        let mut ahead = DeafClient::connect(&h2c).await;
        for io in [&mut silent_h2c, &mut silent_tls, &mut half_a_request] {
            read_to_close(io).await;
        }
        // Well past the deadline, the connection that said it speaks
        // HTTP/2 asks, and is answered.
        tokio::time::sleep(handshake * 3).await;
        ahead.io.write_all(&get("/ping")).await.unwrap();
        assert_eq!(ahead.next_data("closed, not answered").await, b"pong");
    })
    .await
}

/// A connection left with no stream open for the idle time gets a GOAWAY
/// and is closed; one holding a quiet subscription is not.
#[tokio::test]
async fn connections_without_streams_close_after_the_idle_time() {
    within_for(Duration::from_secs(30), async {
        let idle = Duration::from_millis(300);
        let server = start_h2c(|c| {
            c.idle_timeout = Some(idle);
            // Idle time counts from the handshake deadline on.
            c.handshake_timeout = idle;
        })
        .await;
        let mut subscriber = DeafClient::subscribe(&server, "/v1/t/quiet").await;
        let mut pinger = DeafClient::subscribe(&server, "/ping").await;
        let mut ahead = DeafClient::connect(&server).await;
        assert!(pinger.until_closed().await, "a GOAWAY before the close");
        assert!(ahead.until_closed().await, "a GOAWAY before the close");

        // The subscriber's connection outlives many idle times.
        let until = tokio::time::Instant::now() + idle * 10;
        while let Ok(f) = tokio::time::timeout_at(until, subscriber.next()).await {
            let f = f.expect("the subscriber's connection was closed");
            assert_ne!(f.kind, GOAWAY, "the subscriber got a GOAWAY");
        }
        server.h2().await.publish("quiet", "still here").await;
        assert_eq!(subscriber.next_data("closed").await, b"still here");
    })
    .await
}

/// Past the connection limit a new connection is closed at once (no
/// descriptor kept, no spinning on accept errors); once one closes, a new
/// one is served again.
#[tokio::test]
async fn connections_past_the_limit_are_closed_at_once() {
    within(async {
        let server = start_h2c(|c| c.max_connections = 2).await;
        let mut first = server.h2().await;
        let mut second = server.h2().await;
        first.publish("t", "1").await;
        second.publish("t", "2").await;
        let mut third = TcpStream::connect(server.addr).await.unwrap();
        third.write_all(&request("/ping")).await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            third.read(&mut buf).await.unwrap_or(0),
            0,
            "closed unanswered"
        );

        drop(first);
        // The server notices the close on its own time: try until served.
        loop {
            let mut io = TcpStream::connect(server.addr).await.unwrap();
            io.write_all(&request("/ping")).await.unwrap();
            if io.read(&mut buf).await.unwrap_or(0) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        second.publish("t", "3").await;
    })
    .await
}
