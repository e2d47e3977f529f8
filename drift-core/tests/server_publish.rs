//! Publishing: bodies over HTTP/1.1 and HTTP/2, the publish response's
//! message identity, the size limit, and streamed publish
//! (ORIGINAL.md §12 cases 18–20, 46; DESIGN.md §2 streamed publish).

#[path = "support/client.rs"]
mod client_support;
mod support;

use bytes::Bytes;
use client_support::client_for;
use drift_core::protocol::{Frame, FrameKind};
use http::{Method, StatusCode};
use support::*;
use tokio::io::AsyncWriteExt;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
const FRAMES_BODY: (&str, &str) = ("content-type", "application/vnd.drift.frames");

/// Cases 18 and 46: HTTP/1.1 publishes with Content-Length (and no
/// Content-Type, as the Go client sends) and chunked, written byte for byte
/// on the wire; the subscriber gets the exact bytes.
#[tokio::test]
async fn h1_publish_with_content_length_and_chunked() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[]).await;

        let mut h1 = server.h1().await;
        let r = h1.post("/v1/t/T", "with-length").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-seq"), 1);
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"with-length");

        // Chunked, as raw bytes so the framing is certain.
        let mut io = server.raw_h1().await;
        let req = format!(
            "POST /v1/t/T HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n\
             5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            server.authority()
        );
        io.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        read_until(&mut *io, &mut buf, b"\r\n\r\n").await;
        assert!(
            buf.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
        assert!(find(&buf, b"drift-seq: 2\r\n").is_some());
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"hello world");

        // And hyper's own chunked encoding of a body of unknown length.
        let (tx, body) = channel_body();
        tx.send(Bytes::from_static(b"part1,")).unwrap();
        tx.send(Bytes::from_static(b"part2")).unwrap();
        drop(tx);
        let r = server
            .h1()
            .await
            .request(Method::POST, "/v1/t/T", &[], body)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"part1,part2");
    })
    .await
}

/// Case 19: a 300 000-byte body arrives over HTTP/2 in many DATA frames and
/// is one message, received intact.
#[tokio::test]
async fn h2_publish_of_300_000_bytes_is_one_message() {
    within(async {
        let server = start_server(|_| {}).await;
        let payload: Bytes = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut raw = server.h2().await.subscribe("/v1/t/T", &[]).await;
        let mut frames = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let r = server.h2().await.post("/v1/t/T", payload.clone()).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-seq"), 1, "one message, not one per DATA frame");
        assert_eq!(raw.read_bytes(payload.len()).await, payload);
        let f = frames.next_frame().await.unwrap();
        assert_eq!((f.kind, f.seq), (FrameKind::Message, 1));
        assert_eq!(f.payload, payload);
    })
    .await
}

/// Case 20: the Content-Type does not matter; a form body passes through as is.
#[tokio::test]
async fn form_urlencoded_body_passes_through_exactly() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[]).await;
        let r = server
            .h2()
            .await
            .post_with(
                "/v1/t/T",
                &[("content-type", "application/x-www-form-urlencoded")],
                "a=1&b=2",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(&sub.next_chunk().await.unwrap()[..], b"a=1&b=2");
    })
    .await
}

/// DESIGN.md §2: the publish response names the message: `Drift-Seq` 1, 2,
/// 3…, one `Drift-Epoch`, `Drift-Id` = `EPOCH-SEQ`, and `Drift-Time` in µs.
#[tokio::test]
async fn publish_response_carries_message_identity() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let before = now_us();
        let mut epoch = None;
        let mut last_time = 0;
        for seq in 1..=3u64 {
            let r = c.publish("T", format!("m{seq}")).await;
            assert_eq!(r.num("drift-seq"), seq);
            let e = r.num("drift-epoch");
            assert_eq!(
                *epoch.get_or_insert(e),
                e,
                "one epoch per topic incarnation"
            );
            assert_eq!(r.header("drift-id"), Some(format!("{e}-{seq}").as_str()));
            let t = r.num("drift-time");
            assert!(t >= last_time, "publish times do not go backwards");
            assert!(
                t + 2_000_000 >= before && t <= now_us() + 2_000_000,
                "drift-time {t} is not now"
            );
            last_time = t;
        }
        // Another topic counts from 1 with its own epoch.
        let other = c.publish("U", "x").await;
        assert_eq!(other.num("drift-seq"), 1);
        assert_ne!(other.num("drift-epoch"), epoch.unwrap());
    })
    .await
}

/// A message over the limit is 413, whether announced by Content-Length or
/// discovered while streaming, and nothing is published.
#[tokio::test]
async fn message_over_the_limit_is_413_and_not_published() {
    within(async {
        let server = start_server(|c| c.broker.max_message_bytes = 1000).await;
        let mut c = server.h2().await;
        // A fresh topic is not even created by a refused publish.
        let r = c.post("/v1/t/fresh", vec![b'x'; 1001]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(r.text().contains("1000"), "{:?}", r.text());
        assert_eq!(c.head("/v1/t/fresh").await.status, StatusCode::NOT_FOUND);

        let mut sub = server.h2().await.subscribe("/v1/t/T", &[]).await;
        // Content-Length over HTTP/1.1, and chunked (no length) over HTTP/1.1.
        let r = server.h1().await.post("/v1/t/T", vec![b'x'; 1001]).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        let (tx, body) = channel_body();
        tx.send(Bytes::from(vec![b'y'; 600])).unwrap();
        tx.send(Bytes::from(vec![b'y'; 600])).unwrap();
        drop(tx);
        let r = server
            .h1()
            .await
            .request(Method::POST, "/v1/t/T", &[], body)
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

        // Exactly the limit is fine, and it is the first message of the topic.
        let r = c.post("/v1/t/T", vec![b'z'; 1000]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-seq"), 1, "the refused ones took no seq");
        assert_eq!(sub.read_bytes(1000).await, Bytes::from(vec![b'z'; 1000]));
    })
    .await
}

/// DESIGN.md §2: a POST with a Drift-frames body publishes every message in
/// it, in order, and answers with their ids, one per line.
#[tokio::test]
async fn streamed_publish_publishes_every_frame_in_order() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let epoch = sub.num("drift-epoch");
        let payloads: Vec<Bytes> = vec![
            Bytes::from_static(b"first"),
            Bytes::new(),
            Bytes::from(vec![7u8; 40_000]),
            Bytes::from_static(b"last"),
        ];
        let r = server
            .h2()
            .await
            .post_with("/v1/t/T", &[FRAMES_BODY], frames_body(payloads.clone()))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.num("drift-count"), 4);
        assert_eq!(r.num("drift-epoch"), epoch);
        // One line per message: its id and its publish time.
        let text = r.text();
        assert!(text.ends_with('\n'), "{text:?}");
        let lines: Vec<(&str, u64)> = text
            .lines()
            .map(|l| {
                let (id, time) = l.split_once(' ').expect("EPOCH-SEQ TIME");
                (id, time.parse().expect("a time in µs"))
            })
            .collect();
        let ids: Vec<String> = (1..=4).map(|s| format!("{epoch}-{s}")).collect();
        assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), ids);
        for (i, p) in payloads.iter().enumerate() {
            let f = sub.next_frame().await.unwrap();
            assert_eq!((f.kind, f.seq), (FrameKind::Message, i as u64 + 1));
            assert_eq!(&f.payload, p);
            assert_eq!(f.time_us, lines[i].1, "the answered time is the message's");
        }
    })
    .await
}

/// Frames are independent of how the body is cut: a streamed publish sent in
/// small pieces (frame headers split across DATA frames) works over HTTP/2,
/// and over HTTP/1.1 chunked, and a message is published as soon as its
/// frame is complete.
#[tokio::test]
async fn streamed_publish_in_pieces_publishes_as_frames_complete() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut sub = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        for mut publisher in [server.h2().await, server.h1().await] {
            let (tx, body) = channel_body();
            let req = tokio::spawn(async move {
                publisher
                    .request(Method::POST, "/v1/t/T", &[FRAMES_BODY], body)
                    .await
            });
            let wire = frames_body(["one", "two"]);
            for piece in wire.chunks(5) {
                tx.send(Bytes::copy_from_slice(piece)).unwrap();
            }
            // "one" and "two" are live before the request ends.
            assert_eq!(&sub.next_frame().await.unwrap().payload[..], b"one");
            assert_eq!(&sub.next_frame().await.unwrap().payload[..], b"two");
            tx.send(frames_body(["three"])).unwrap();
            drop(tx);
            let r = req.await.unwrap();
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.num("drift-count"), 3);
            assert_eq!(&sub.next_frame().await.unwrap().payload[..], b"three");
        }
    })
    .await
}

/// A non-message frame stops a streamed publish with 400; `Drift-Count` says
/// how many were published before it, and those stay published. A body that
/// ends inside a frame is also 400.
#[tokio::test]
async fn streamed_publish_with_a_non_message_frame_is_400() {
    within(async {
        let server = start_server(|_| {}).await;
        let mut c = server.h2().await;
        let mut wire = frames_body(["a", "b"]).to_vec();
        wire.extend_from_slice(&Frame::heartbeat(0, 0).encode());
        wire.extend_from_slice(&frames_body(["never"]));
        let r = c.post_with("/v1/t/T", &[FRAMES_BODY], wire).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.num("drift-count"), 2);
        assert_eq!(r.text().lines().count(), 1, "{:?}", r.text());
        let head = c.head("/v1/t/T").await;
        assert_eq!(head.num("drift-last-seq"), 2, "a and b stay published");

        let mut cut = frames_body(["c"]).to_vec();
        cut.extend_from_slice(&frames_body(["truncated"])[..10]);
        let r = c.post_with("/v1/t/T", &[FRAMES_BODY], cut).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.num("drift-count"), 1);
        assert_eq!(c.head("/v1/t/T").await.num("drift-last-seq"), 3);
    })
    .await
}

/// The size limit applies to each frame of a streamed publish.
#[tokio::test]
async fn streamed_publish_frame_over_the_limit_is_413() {
    within(async {
        let server = start_server(|c| c.broker.max_message_bytes = 100).await;
        let mut c = server.h2().await;
        let body = frames_body([vec![1u8; 100], vec![2u8; 101]]);
        let r = c.post_with("/v1/t/T", &[FRAMES_BODY], body).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.num("drift-count"), 1);
    })
    .await
}

/// A long streamed publish does not hold its ids until the request ends
/// (about 24 bytes a message, without bound): past 64 KiB of ids the answer
/// starts, `200` and the ids so far, while the request is still open; later
/// ids follow as they are assigned, and a failure part-way is the last line
/// (and, for a request with `TE: trailers`, the `drift-error` trailer, with
/// `drift-count`). Over HTTP/2 and HTTP/1.1.
#[tokio::test]
async fn a_long_streamed_publish_streams_its_ids() {
    within(async {
        use http_body_util::BodyExt;
        let server = start_server(|_| {}).await;
        let cases = [
            (server.h2().await, "long-h2", true),
            (server.h1().await, "long-h1", false),
        ];
        for (mut publisher, topic, te) in cases {
            let (tx, body) = channel_body();
            let early: Vec<String> = (0..4000).map(|i| format!("m{i}")).collect();
            tx.send(frames_body(early)).unwrap();
            let mut headers = vec![FRAMES_BODY];
            if te {
                headers.push(("te", "trailers"));
            }
            let path = format!("/v1/t/{topic}");
            // Answered while the request body is still open.
            let res = publisher
                .try_send(Method::POST, &path, &headers, body)
                .await
                .expect("an answer before the request ends");
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.headers().get("drift-count").is_none());
            let epoch: u64 = res.headers()["drift-epoch"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let mut body = res.into_body();
            let mut text = String::new();
            let mut trailers = None;
            while text.lines().count() < 4000 {
                let frame = body.frame().await.expect("more ids").expect("body");
                if let Ok(data) = frame.into_data() {
                    text.push_str(std::str::from_utf8(&data).unwrap());
                }
            }
            // One more message, then a frame of no known kind.
            tx.send(frames_body(["late"])).unwrap();
            tx.send(Bytes::from(vec![5u8; 32])).unwrap();
            while let Some(frame) = body.frame().await {
                let frame = frame.expect("body");
                match frame.into_data() {
                    Ok(data) => text.push_str(std::str::from_utf8(&data).unwrap()),
                    Err(frame) => trailers = frame.into_trailers().ok(),
                }
            }
            drop(tx);
            let lines: Vec<&str> = text.lines().collect();
            let ids: Vec<String> = (1..=4001).map(|s| format!("{epoch}-{s}")).collect();
            let listed: Vec<&str> = lines[..4001.min(lines.len())]
                .iter()
                .map(|l| l.split(' ').next().unwrap_or(""))
                .collect();
            assert_eq!(listed, ids, "{topic}: every id, in order");
            assert_eq!(lines.len(), 4002, "{topic}: then the outcome");
            assert!(
                lines[4001].starts_with("error: 400 unknown frame kind 5"),
                "{topic}: {}",
                lines[4001]
            );
            if te {
                let t = trailers.expect("trailers");
                assert_eq!(t["drift-count"], "4001");
                assert!(t["drift-error"].to_str().unwrap().starts_with("400 "));
            }
        }

        // The Rust client reads such an answer as any other.
        let client = client_for(&server);
        let payloads: Vec<Bytes> = (0..5000).map(|i| Bytes::from(format!("p{i}"))).collect();
        let ids = client
            .publish_many("long-client", payloads)
            .await
            .expect("published");
        assert_eq!(ids.len(), 5000);
        assert!(ids.windows(2).all(|w| w[1].id.seq == w[0].id.seq + 1));
    })
    .await
}
