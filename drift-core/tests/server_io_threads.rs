//! Connection threads (`ServerConfig::threads`): a publish on one thread
//! reaches subscriptions served by every thread, complete, in order and in
//! their framing, and idle subscriptions on every thread get heartbeats.
//! These paths batch wake-ups per thread and coalesce writes per
//! connection, so they are checked over many connections at once, and the
//! engine's counters show which path ran: the threaded one that
//! `drift serve` takes (the tests' default too), or inline connections.

mod support;

use std::time::Duration;

use bytes::Bytes;
use drift_core::protocol::FrameKind;
use http::StatusCode;
use support::*;

const SSE: (&str, &str) = ("accept", "text/event-stream");
const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");

/// Connections that subscribe; with two threads they alternate between them.
const CONNECTIONS: usize = 4;
/// Subscriptions per framing and connection.
const PER_FRAMING: usize = 5;
const MESSAGES: usize = 300;

/// Message `i`: its number, padded to 1 KiB so that h2 writes each DATA
/// payload from its own buffer (the case the write coalescing handles).
fn payload(i: usize) -> Bytes {
    let mut text = format!("message {i} ");
    while text.len() < 1024 {
        text.push_str("0123456789abcdef");
    }
    text.truncate(1024);
    Bytes::from(text)
}

enum Framing {
    Raw,
    Sse,
    Frames,
}

/// Reads `MESSAGES` messages from `sub` in `framing` and checks each.
async fn expect_all(mut sub: Sub, framing: Framing) {
    for i in 0..MESSAGES {
        let want = payload(i);
        match framing {
            // Raw: one DATA frame per message, exactly the payload.
            Framing::Raw => assert_eq!(sub.next_chunk().await.expect("raw message"), want),
            Framing::Sse => {
                let ev = sub.next_event().await.expect("SSE event");
                assert_eq!(ev.event, "message");
                assert_eq!(ev.data.as_bytes(), &want[..]);
            }
            Framing::Frames => {
                let f = sub.next_frame().await.expect("Drift frame");
                assert_eq!(f.kind, FrameKind::Message);
                assert_eq!(f.seq, i as u64 + 1);
                assert_eq!(f.payload, want);
            }
        }
    }
}

/// Fans out over `CONNECTIONS` subscribing connections and two publishing
/// ones, and returns what the engine counted.
async fn fan_out_over_threads(server: TestServer) -> drift_core::server::EngineStats {
    let mut readers = tokio::task::JoinSet::new();
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        let c = server.h2().await;
        for _ in 0..PER_FRAMING {
            let raw = c.multiplexed().subscribe("/v1/t/fan", &[]).await;
            let sse = c.multiplexed().subscribe("/v1/t/fan", &[SSE]).await;
            let frames = c.multiplexed().subscribe("/v1/t/fan", &[FRAMES]).await;
            for sub in [&raw, &sse, &frames] {
                assert_eq!(sub.status, StatusCode::OK);
            }
            readers.spawn(expect_all(raw, Framing::Raw));
            readers.spawn(expect_all(sse, Framing::Sse));
            readers.spawn(expect_all(frames, Framing::Frames));
        }
        connections.push(c);
    }
    let subscriptions = CONNECTIONS * PER_FRAMING * 3;
    assert_eq!(server.broker().subscription_count(), subscriptions);

    // Two publishing connections, one after the other, so the order is known
    // and publishes come from more than one thread.
    let mut publishers = [server.h2().await, server.h2().await];
    for i in 0..MESSAGES {
        publishers[i % 2].publish("fan", payload(i)).await;
    }
    let mut finished = 0;
    while let Some(done) = readers.join_next().await {
        done.expect("every subscription got every message");
        finished += 1;
    }
    assert_eq!(finished, subscriptions);
    server.engine_stats()
}

/// Connections served, by every test that fans out.
const SERVED: u64 = CONNECTIONS as u64 + 2;

#[tokio::test]
async fn fan_out_over_two_threads_h2c() {
    within(async {
        let stats = fan_out_over_threads(start_h2c(|c| c.threads = 2).await).await;
        assert_eq!(stats.connection_threads, 2);
        assert_eq!(stats.connections_on_threads, SERVED);
        assert_eq!(stats.connections_inline, 0);
        assert!(stats.relay_passes > 0, "wake-ups went through the relays");
        // 1 KiB frames: flushes are put off to batch them.
        assert!(stats.deferred_flushes > 0, "{stats:?}");
    })
    .await
}

/// The tests' default server config (as `drift serve`'s) runs the
/// connection threads, one per core.
#[tokio::test]
async fn the_default_is_one_connection_thread_per_core() {
    within(async {
        let stats = fan_out_over_threads(start_h2c(|_| {}).await).await;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(stats.connection_threads, cores);
        assert_eq!(stats.connections_on_threads, SERVED);
        assert_eq!(stats.connections_inline, 0);
    })
    .await
}

/// `inline_connections` serves on the server's runtime: the same fan-out,
/// without connection threads or relays.
#[tokio::test]
async fn fan_out_inline_on_the_servers_runtime() {
    within(async {
        let stats = fan_out_over_threads(start_h2c(|c| c.inline_connections = true).await).await;
        assert_eq!(stats.connection_threads, 0);
        assert_eq!(stats.connections_on_threads, 0);
        assert_eq!(stats.connections_inline, SERVED);
        assert_eq!(stats.relay_passes, 0);
    })
    .await
}

#[tokio::test]
async fn fan_out_over_two_threads_tls() {
    within(async {
        let stats = fan_out_over_threads(start_server(|c| c.threads = 2).await).await;
        assert_eq!(stats.connections_on_threads, SERVED);
    })
    .await
}

/// The heartbeat clock ticks on one thread; idle subscriptions on the other
/// thread are woken through that thread's relay and still get theirs.
#[tokio::test]
async fn heartbeats_reach_idle_subscriptions_on_every_thread() {
    within(async {
        let server = start_h2c(|c| {
            c.threads = 2;
            c.service.heartbeat = Some(Duration::from_millis(100));
        })
        .await;
        let mut subs = Vec::new();
        let mut connections = Vec::new();
        for _ in 0..CONNECTIONS {
            let c = server.h2().await;
            subs.push(c.multiplexed().subscribe("/v1/t/idle", &[SSE]).await);
            subs.push(c.multiplexed().subscribe("/v1/t/idle", &[FRAMES]).await);
            connections.push(c);
        }
        for (i, sub) in subs.iter_mut().enumerate() {
            if i % 2 == 0 {
                assert_eq!(&sub.next_chunk().await.unwrap()[..], b": heartbeat\n\n");
            } else {
                let hb = sub.next_frame().await.expect("heartbeat frame");
                assert_eq!(hb.kind, FrameKind::Heartbeat);
            }
        }
    })
    .await
}

/// A connection thread owns its sockets: with the accepting runtime's only
/// thread blocked, connections already handed over go on serving. (Sockets
/// left registered with the accepting runtime's reactor would wait for that
/// thread for every readiness event.)
#[tokio::test]
async fn connection_threads_serve_while_the_accepting_runtime_is_blocked() {
    within(async {
        let (server_tx, server_rx) = tokio::sync::oneshot::channel();
        let (block_tx, block_rx) = tokio::sync::oneshot::channel::<()>();
        let (blocked_tx, blocked_rx) = tokio::sync::oneshot::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let accepting = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let _ = server_tx.send(start_h2c(|c| c.threads = 1).await);
                if block_rx.await.is_ok() {
                    let _ = blocked_tx.send(());
                    // Blocks this runtime's only thread (the test's timeout
                    // bounds it; a failed test drops the sender).
                    let _ = release_rx.recv_timeout(TEST_TIMEOUT);
                }
                let _ = done_rx.await;
            });
        });
        let server = server_rx.await.expect("server started");
        let subscriber = server.h2().await;
        let mut sub = subscriber.multiplexed().subscribe("/v1/t/busy", &[]).await;
        assert_eq!(sub.status, StatusCode::OK);
        let mut publisher = server.h2().await;
        // A client's HTTP/2 handshake does not wait for the server: only an
        // answered request shows that the publisher's connection was
        // accepted and handed to the connection thread before the block.
        publisher
            .publish("busy", Bytes::from_static(b"before"))
            .await;
        assert_eq!(&sub.next_chunk().await.expect("message")[..], b"before");

        block_tx.send(()).expect("accepting thread waits");
        blocked_rx.await.expect("accepting thread blocked");
        publisher
            .publish("busy", Bytes::from_static(b"still served"))
            .await;
        assert_eq!(
            &sub.next_chunk().await.expect("message")[..],
            b"still served"
        );

        release_tx.send(()).expect("accepting thread blocked");
        server.shutdown().await.expect("clean shutdown");
        let _ = done_tx.send(());
        tokio::task::spawn_blocking(move || accepting.join())
            .await
            .expect("join task")
            .expect("accepting thread");
    })
    .await
}
