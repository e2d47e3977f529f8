//! Subscriptions on the wire: when headers go out, how each framing writes
//! messages (raw DATA frames, SSE events, Drift frames), heartbeats,
//! fan-out order, and what a disconnect frees
//! (ORIGINAL.md §12 cases 21–29; DESIGN.md §1 and §2).

mod support;

use bytes::Bytes;
use drift_core::protocol::FrameKind;
use http::StatusCode;
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const SSE: (&str, &str) = ("accept", "text/event-stream");

/// Cases 22 and 23, divergence: the response headers arrive at once on an
/// idle topic (the original held them back until the first message). Then
/// m1, m2, m3 arrive one DATA frame each, and the stream stays open.
#[tokio::test]
async fn headers_arrive_before_any_publish_then_one_frame_per_message() {
    within(async {
        let server = start_server(|_| {}).await;
        // `subscribe` returns when the response headers are in; nothing has
        // been published yet (no other client exists).
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[]).await;
        assert_eq!(sub.status, StatusCode::OK);
        assert_eq!(sub.num("drift-last-seq"), 0);
        assert_eq!(server.broker().subscription_count(), 1);
        // The same over HTTP/1.1.
        let h1 = server.h1().await.subscribe("/v1/t/T", &[]).await;
        assert_eq!(h1.status, StatusCode::OK);

        let mut c = server.h2().await;
        for m in ["m1", "m2", "m3"] {
            c.publish("T", m).await;
            assert_eq!(&sub.next_chunk().await.unwrap()[..], m.as_bytes());
        }
        // Still open: a fourth message still arrives on the same stream.
        c.publish("T", "m4").await;
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"m4");
    })
    .await
}

/// Case 27, divergence: the raw content type cannot be sniffed from the
/// first message because the headers go out before it; raw subscriptions are
/// `application/octet-stream`. The framed ones name their media type.
#[tokio::test]
async fn subscription_content_types() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let raw = c.subscribe("/v1/t/T", &[]).await;
        assert_eq!(raw.header("content-type"), Some("application/octet-stream"));
        assert_eq!(raw.header("cache-control"), Some("no-cache"));
        let sse = c.multiplexed().subscribe("/v1/t/T", &[SSE]).await;
        assert_eq!(
            sse.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        let frames = c.multiplexed().subscribe("/v1/t/T", &[FRAMES]).await;
        assert_eq!(
            frames.header("content-type"),
            Some("application/vnd.drift.frames")
        );
        // `?format=` overrides Accept (for browsers); an unknown one is 400.
        let q = c
            .multiplexed()
            .subscribe("/v1/t/T?format=sse", &[FRAMES])
            .await;
        assert_eq!(
            q.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        let bad = c.get("/v1/t/T?format=xml").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    })
    .await
}

/// `Accept` weights decide (RFC 9110 §12.5.1): `q=0` refuses a framing, the
/// heaviest acceptable one wins, ties keep the server's order (frames, SSE,
/// raw), wildcards select raw. Over HTTP/2 and HTTP/1.1; the body is in the
/// framing the header names.
#[tokio::test]
async fn accept_weights_choose_the_framing() {
    within(async {
        let server = start_server(|_| {}).await;
        const RAW: &str = "application/octet-stream";
        const SSE_TYPE: &str = "text/event-stream; charset=utf-8";
        const FRAMES_TYPE: &str = "application/vnd.drift.frames";
        let cases = [
            ("text/event-stream;q=0", RAW),
            ("text/event-stream; q=0, */*", RAW),
            (
                "application/vnd.drift.frames;q=0.1, text/event-stream;q=0.5",
                SSE_TYPE,
            ),
            (
                "application/vnd.drift.frames;q=0, text/event-stream",
                SSE_TYPE,
            ),
            ("text/event-stream;q=0.5, */*;q=0.8", RAW),
            (
                "text/event-stream, application/vnd.drift.frames",
                FRAMES_TYPE,
            ),
            ("text/*", RAW),
        ];
        let mut publisher = server.h2().await;
        for (i, (accept, want)) in cases.into_iter().enumerate() {
            let topic = format!("w{i}");
            let path = format!("/v1/t/{topic}");
            for mut client in [server.h2().await, server.h1().await] {
                let mut sub = client.subscribe(&path, &[("accept", accept)]).await;
                assert_eq!(sub.header("content-type"), Some(want), "Accept: {accept}");
                publisher.publish(&topic, "m").await;
                match want {
                    RAW => assert_eq!(&sub.next_chunk().await.unwrap()[..], b"m"),
                    SSE_TYPE => assert_eq!(sub.next_event().await.unwrap().data, "m"),
                    _ => assert_eq!(&sub.next_frame().await.unwrap().payload[..], b"m"),
                }
            }
        }
    })
    .await
}

/// Case 24: in raw framing a message of at most 16 384 bytes (the default
/// SETTINGS_MAX_FRAME_SIZE) is exactly one DATA frame. Case 25: 20 000 bytes
/// is 16 384 + 3 616 and concatenates to the message. Checked with the `h2`
/// crate, which shows each DATA frame as it came.
#[tokio::test]
async fn raw_messages_map_to_data_frames() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut h2 = H2Raw::connect(&server, 1 << 20, 1 << 30).await;
        let mut sub = h2.get("/v1/t/T", &[]).await;
        assert_eq!(sub.head.status, StatusCode::OK);
        let mut c = server.h2().await;
        for (i, size) in [1usize, 4095, 4096, 5000, 16_384].into_iter().enumerate() {
            let payload = Bytes::from(vec![b'a' + i as u8; size]);
            c.publish("T", payload.clone()).await;
            let frame = sub.next_data_releasing().await.unwrap();
            assert_eq!(frame.len(), size, "a {size}-byte message is one DATA frame");
            assert_eq!(frame, payload);
        }
        let big: Bytes = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        c.publish("T", big.clone()).await;
        let a = sub.next_data_releasing().await.unwrap();
        let b = sub.next_data_releasing().await.unwrap();
        assert_eq!((a.len(), b.len()), (16_384, 3_616));
        assert_eq!([a, b].concat(), big.to_vec());
        // The next message starts a new frame.
        c.publish("T", "after").await;
        assert_eq!(&sub.next_data_releasing().await.unwrap()[..], b"after");
    })
    .await
}

/// Case 21: an empty message is published (it has a seq) but raw framing
/// writes no frame for it: the next message arrives next. The Drift framing
/// does carry it, as a frame with an empty payload, and SSE as an empty
/// `data:` line.
#[tokio::test]
async fn empty_message_is_invisible_in_raw_but_not_in_frames_or_sse() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut h2 = H2Raw::connect(&server, 1 << 20, 1 << 30).await;
        let mut raw = h2.get("/v1/t/T", &[]).await;
        let mut frames = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let mut sse = server.h2().await.subscribe("/v1/t/T", &[SSE]).await;
        let mut c = server.h2().await;
        let empty = c.publish("T", "").await;
        assert_eq!(empty.num("drift-seq"), 1);
        c.publish("T", "x").await;
        assert_eq!(&raw.next_data_releasing().await.unwrap()[..], b"x");
        let f = frames.next_frame().await.unwrap();
        assert_eq!((f.kind, f.seq, f.payload.len()), (FrameKind::Message, 1, 0));
        assert_eq!(frames.next_frame().await.unwrap().seq, 2);
        let ev = sse.next_event().await.unwrap();
        assert_eq!(ev.data, "");
        assert_eq!(sse.next_event().await.unwrap().data, "x");
    })
    .await
}

/// Case 26: subscribers on separate connections, and two streams multiplexed
/// on one connection, all receive every message in publish order.
#[tokio::test]
async fn every_subscriber_gets_every_message_in_order() {
    within(async {
        let server = start_server(|_| {}).await;
        let shared = server.h2().await;
        let mut subs = [
            server.h2().await.subscribe("/v1/t/T", &[]).await,
            server.h2().await.subscribe("/v1/t/T", &[]).await,
            shared.multiplexed().subscribe("/v1/t/T", &[]).await,
            shared.multiplexed().subscribe("/v1/t/T", &[]).await,
        ];
        let sent: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
        let mut c = server.h2().await;
        for m in &sent {
            c.publish("T", m.clone()).await;
        }
        for (n, sub) in subs.iter_mut().enumerate() {
            for m in &sent {
                let got = sub.next_chunk().await.unwrap();
                assert_eq!(&got[..], m.as_bytes(), "subscriber {n}");
            }
        }
    })
    .await
}

/// Case 29: an HTTP/1.1 subscription is chunked, one chunk per message,
/// with headers sent at once (divergence, as over HTTP/2). Raw bytes on the
/// wire so the chunk framing is visible.
#[tokio::test]
async fn h1_subscription_streams_one_chunk_per_message() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut io = server.raw_h1().await;
        let req = format!(
            "GET /v1/t/T HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.authority()
        );
        io.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let end = read_until(&mut *io, &mut buf, b"\r\n\r\n").await;
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
        buf.drain(..end);

        let mut c = server.h2().await;
        c.publish("T", "one").await;
        let n = read_until(&mut *io, &mut buf, b"3\r\none\r\n").await;
        assert_eq!(n, 8, "the first chunk is exactly the message");
        buf.drain(..n);
        c.publish("T", "two").await;
        let n = read_until(&mut *io, &mut buf, b"3\r\ntwo\r\n").await;
        assert_eq!(n, 8);
    })
    .await
}

/// SSE framing: `id: EPOCH-SEQ`, one `data:` line per payload line, and
/// non-UTF-8 (or CR-carrying) payloads as `event: base64`; compared byte
/// for byte.
#[tokio::test]
async fn sse_events_carry_ids_and_encode_payloads() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut sse = server.h2().await.subscribe("/v1/t/T", &[SSE]).await;
        let epoch = sse.num("drift-epoch");
        let mut c = server.h2().await;
        c.publish("T", "hello").await;
        c.publish("T", "line one\nline two\n").await;
        c.publish("T", Bytes::from_static(b"\x00\x01\xff")).await;
        c.publish("T", "a\r\nb").await;
        let expected = [
            format!("id: {epoch}-1\ndata: hello\n\n"),
            format!("id: {epoch}-2\ndata: line one\ndata: line two\ndata: \n\n"),
            format!("id: {epoch}-3\nevent: base64\ndata: AAH/\n\n"),
            format!("id: {epoch}-4\nevent: base64\ndata: YQ0KYg==\n\n"),
        ];
        // Events waiting together are coalesced into one DATA chunk, so
        // the stream is compared as a whole.
        let want = expected.concat();
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.extend_from_slice(&sse.next_chunk().await.expect("more events"));
        }
        assert_eq!(String::from_utf8_lossy(&got), want);
    })
    .await
}

/// Drift frames: kind, seq, publish time (the publish response's
/// `Drift-Time`) and payload, independent of DATA-frame boundaries.
#[tokio::test]
async fn drift_frames_carry_seq_time_and_payload() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let mut c = server.h2().await;
        let payloads: Vec<Bytes> = vec![
            Bytes::from_static(b"small"),
            Bytes::from(vec![0u8; 50_000]), // spans several DATA frames
            Bytes::from_static(b"\x00\xff binary"),
        ];
        let mut times = Vec::new();
        for p in &payloads {
            times.push(c.publish("T", p.clone()).await.num("drift-time"));
        }
        for (i, p) in payloads.iter().enumerate() {
            let f = sub.next_frame().await.unwrap();
            assert_eq!(f.kind, FrameKind::Message);
            assert_eq!(f.seq, i as u64 + 1);
            assert_eq!(f.time_us, times[i]);
            assert_eq!(&f.payload, p);
        }
    })
    .await
}

/// Heartbeats keep idle SSE and Drift-frames streams alive; raw framing has
/// none (it would corrupt the byte stream of an original client).
#[tokio::test]
async fn heartbeats_on_idle_sse_and_frames_streams_only() {
    within(async {
        let server = start_server(|c| c.service.heartbeat = Some(Duration::from_millis(100))).await;
        let mut c = server.h2().await;
        c.publish("T", "first").await;
        let mut raw = server.h2().await.subscribe("/v1/t/T", &[]).await;
        let mut sse = server.h2().await.subscribe("/v1/t/T", &[SSE]).await;
        let mut frames = server
            .h2()
            .await
            .subscribe("/v1/t/T", &[FRAMES, ("x-history-length", "1")])
            .await;

        assert_eq!(
            frames.next_frame().await.unwrap().seq,
            1,
            "the replayed message"
        );
        let hb = frames.next_frame().await.unwrap();
        assert_eq!(hb.kind, FrameKind::Heartbeat);
        assert_eq!(hb.seq, 1, "a heartbeat carries the last seq sent");
        assert!(hb.payload.is_empty());
        assert!(hb.time_us.abs_diff(now_us()) < 2_000_000);

        for _ in 0..2 {
            assert_eq!(&sse.next_chunk().await.unwrap()[..], b": heartbeat\n\n");
        }
        // Two heartbeat periods have passed; the raw stream got nothing, so
        // its first chunk is the next message.
        c.publish("T", "second").await;
        assert_eq!(&raw.next_chunk().await.unwrap()[..], b"second");
    })
    .await
}

/// Case 28: a subscriber that goes away (RST_STREAM on HTTP/2, a closed TCP
/// connection on HTTP/1.1) is removed, and publishing stays prompt.
#[tokio::test]
async fn disconnect_frees_the_subscription() {
    within(async {
        let server = start_server(|_| {}).await;
        let h2_conn = server.h2().await;
        let h2_sub = h2_conn.multiplexed().subscribe("/v1/t/T", &[]).await;
        let h1_sub = server.h1().await.subscribe("/v1/t/T", &[]).await;
        assert_eq!(server.broker().subscription_count(), 2);

        // Dropping the body of an HTTP/2 response resets just that stream.
        drop(h2_sub);
        eventually("the HTTP/2 subscription is released", || {
            server.broker().subscription_count() == 1
        })
        .await;
        // The connection itself is fine and can subscribe again.
        let again = h2_conn.multiplexed().subscribe("/v1/t/T", &[]).await;
        assert_eq!(again.status, StatusCode::OK);
        drop(again);

        // An HTTP/1.1 response body dropped mid-stream closes the connection.
        drop(h1_sub);
        eventually("every subscription is released", || {
            server.broker().subscription_count() == 0
        })
        .await;

        let mut c = server.h2().await;
        for i in 0..20 {
            let r = within_for(Duration::from_secs(2), c.post("/v1/t/T", format!("{i}"))).await;
            assert_eq!(r.status, StatusCode::OK);
        }
    })
    .await
}
