//! Back-pressure (DESIGN.md §4; ORIGINAL.md §12 cases 31 and 45): a
//! subscriber that never grows its HTTP/2 stream window — as the original Go
//! client does — still receives its first 65 535 bytes, never slows a
//! publisher or another subscriber, and, once it reads again, learns in-band
//! that it was too slow: an end frame "slow consumer" (default) or, with
//! `drift-on-slow: drop`, a gap frame and then later messages.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use drift_core::protocol::{FrameDecoder, FrameKind};
use drift_core::{EndReason, Gap, GapReason};
use http::StatusCode;
use support::*;
use tokio::sync::watch;

const FRAMES: (&str, &str) = ("accept", "application/vnd.drift.frames");
/// The HTTP/2 default initial stream window, which the Go client never grows.
const WINDOW: usize = 65_535;
const MESSAGE: usize = 40_000;
/// A liveness bound per publish, far above any real latency: a publish that
/// waited for the stalled subscriber would never finish at all.
const PROMPT: Duration = Duration::from_secs(2);

fn payload(i: u64) -> Bytes {
    Bytes::from(vec![(i % 251) as u8; MESSAGE])
}

/// Reads DATA frames without giving any window back until `n` bytes are in.
async fn read_holding(stream: &mut H2Stream, n: usize) -> BytesMut {
    let mut got = BytesMut::new();
    while got.len() < n {
        let data = stream.next_data_holding().await.expect("stream open");
        got.extend_from_slice(&data);
    }
    got
}

/// Gives back `n` bytes of window, then reads (giving back as it goes) until
/// the stream ends; returns the frames decoded from `start` plus the rest.
async fn release_and_drain(
    stream: &mut H2Stream,
    start: &[u8],
    n: usize,
) -> Vec<drift_core::protocol::Frame> {
    stream
        .body
        .flow_control()
        .release_capacity(n)
        .expect("release capacity");
    let mut dec = FrameDecoder::new(1 << 20);
    dec.extend(start);
    let mut frames = Vec::new();
    loop {
        while let Some(f) = dec.next_frame().unwrap() {
            frames.push(f);
        }
        match stream.next_data_releasing().await {
            Some(data) => dec.extend(&data),
            None => break,
        }
    }
    assert_eq!(dec.buffered(), 0, "the stream ended inside a frame");
    frames
}

/// Checks that `frames` are messages 1, 2, … k (k ≥ 2, with their
/// payloads) followed by exactly one frame of `last`; returns k.
fn check_messages_then(frames: &[drift_core::protocol::Frame], last: FrameKind) -> u64 {
    let (tail, messages) = frames.split_last().expect("some frames");
    assert_eq!(tail.kind, last, "the frame after the messages");
    for (i, f) in messages.iter().enumerate() {
        let seq = i as u64 + 1;
        assert_eq!((f.kind, f.seq), (FrameKind::Message, seq));
        assert_eq!(f.payload, payload(seq), "payload of seq {seq}");
    }
    assert!(messages.len() >= 2, "messages 1 and 2 were on the wire");
    messages.len() as u64
}

/// The main case: a stalled Drift-frames subscriber gets exactly 65 535
/// bytes; 200 publishes of 40 000 bytes (far beyond a 16-message queue) each
/// finish promptly; a normal subscriber on the same topic gets all of them in
/// order; another topic is unaffected; and when the stalled one reads again
/// it gets the rest of what it was sent, then "slow consumer", then
/// END_STREAM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscriber_gets_65535_bytes_and_disturbs_nobody() {
    within(async {
        const COUNT: u64 = 200;
        let server = start_server(|c| {
            c.broker.queue_messages = 16;
            c.broker.queue_bytes = 64 << 20; // the message bound decides here
        })
        .await;
        let mut slow_conn = H2Raw::connect(&server, WINDOW as u32, 1 << 30).await;
        let mut slow = slow_conn.get("/v1/t/T", &[FRAMES]).await;
        assert_eq!(slow.head.status, StatusCode::OK);

        // The normal subscriber reports how far it got.
        let mut fast = server.h2().await.subscribe("/v1/t/T", &[FRAMES]).await;
        let (progress_tx, mut progress) = watch::channel(0u64);
        let fast_task = tokio::spawn(async move {
            for seq in 1..=COUNT {
                let f = fast
                    .next_frame()
                    .await
                    .expect("the normal subscriber stays open");
                assert_eq!((f.kind, f.seq), (FrameKind::Message, seq));
                assert_eq!(f.payload, payload(seq));
                progress_tx.send_replace(seq);
            }
            fast
        });
        let slow_task = tokio::spawn(async move {
            let got = read_holding(&mut slow, WINDOW).await;
            (slow, got)
        });

        let mut publisher = server.h2().await;
        for i in 1..=COUNT {
            // Keep the normal subscriber within its own queue bound: this
            // test is about the stalled one, which falls arbitrarily behind.
            progress.wait_for(|&p| p + 4 >= i).await.unwrap();
            let r = within_for(PROMPT, publisher.post("/v1/t/T", payload(i))).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.num("drift-seq"), i);
        }
        let fast = fast_task.await.unwrap();

        // Exactly one window's worth: message 1 whole, message 2 in part.
        let (mut slow, got) = slow_task.await.unwrap();
        assert_eq!(got.len(), WINDOW, "exactly the first 65 535 bytes");
        let mut dec = FrameDecoder::new(1 << 20);
        dec.extend(&got[..]);
        let first = dec.next_frame().unwrap().unwrap();
        assert_eq!((first.seq, first.payload.clone()), (1, payload(1)));
        assert!(
            dec.next_frame().unwrap().is_none(),
            "message 2 is cut by the window"
        );
        assert_eq!(got[40_021], FrameKind::Message as u8);
        assert_eq!(&got[40_022..40_030], &2u64.to_be_bytes());

        // Other topics are unaffected.
        let r = within_for(PROMPT, publisher.post("/v1/t/other", "x")).await;
        assert_eq!(r.status, StatusCode::OK);

        // Reading again: the rest of what was already on its way (message 2,
        // and whatever the HTTP/2 layer had buffered behind it), then the
        // end, then END_STREAM.
        let frames = release_and_drain(&mut slow, &got, WINDOW).await;
        let delivered = check_messages_then(&frames, FrameKind::End);
        assert!(
            delivered < 16,
            "it was ended, not fed: {delivered} messages"
        );
        let end = frames.last().unwrap();
        assert_eq!(end.seq, delivered, "the end frame names the last seq sent");
        assert_eq!(end.as_end_reason().unwrap(), EndReason::SlowConsumer);
        eventually("the slow subscription is released", || {
            server.broker().subscription_count() == 1
        })
        .await;
        drop(fast);
    })
    .await
}

/// With `drift-on-slow: drop` the stalled subscriber is not ended: it gets
/// what it was sent, then a gap frame naming what it missed (reason
/// "dropped"), then the messages published after that.
#[tokio::test]
async fn stalled_subscriber_with_drop_policy_gets_a_gap_then_later_messages() {
    within(async {
        let server = start_server(|c| c.broker.queue_messages = 16).await;
        let mut conn = H2Raw::connect(&server, WINDOW as u32, 1 << 30).await;
        let mut slow = conn
            .get("/v1/t/T", &[FRAMES, ("drift-on-slow", "drop")])
            .await;
        assert_eq!(slow.head.status, StatusCode::OK);
        let mut publisher = server.h2().await;
        for i in 1..=2 {
            publisher.publish("T", payload(i)).await;
        }
        let got = read_holding(&mut slow, WINDOW).await;
        assert_eq!(got.len(), WINDOW);
        for i in 3..=40 {
            let r = within_for(PROMPT, publisher.post("/v1/t/T", payload(i))).await;
            assert_eq!(r.status, StatusCode::OK);
        }

        slow.body
            .flow_control()
            .release_capacity(WINDOW)
            .expect("release capacity");
        let mut dec = FrameDecoder::new(1 << 20);
        dec.extend(&got);
        let mut next = async || loop {
            if let Some(f) = dec.next_frame().unwrap() {
                return f;
            }
            let data = slow.next_data_releasing().await.expect("stream stays open");
            dec.extend(&data);
        };
        // What was already on its way, then the gap up to the newest message.
        let mut frames = Vec::new();
        loop {
            let f = next().await;
            let kind = f.kind;
            frames.push(f);
            if kind != FrameKind::Message {
                break;
            }
        }
        let delivered = check_messages_then(&frames, FrameKind::Gap);
        assert_eq!(
            frames.last().unwrap().as_gap().unwrap(),
            Gap {
                from: delivered + 1,
                to: 40,
                reason: GapReason::Dropped
            }
        );
        // It is still subscribed and receives what comes next.
        for i in 41..=43 {
            publisher.publish("T", payload(i)).await;
            let f = next().await;
            assert_eq!((f.kind, f.seq), (FrameKind::Message, i));
            assert_eq!(f.payload, payload(i));
        }
    })
    .await
}

/// The queue bound counts bytes too: with a message bound too large to
/// matter, falling more than `queue_bytes` behind is "slow consumer".
#[tokio::test]
async fn queue_bound_in_bytes_also_ends_a_slow_subscriber() {
    within(async {
        let server = start_server(|c| {
            c.broker.queue_messages = 10_000;
            c.broker.queue_bytes = 200_000;
        })
        .await;
        let mut conn = H2Raw::connect(&server, WINDOW as u32, 1 << 30).await;
        let mut slow = conn.get("/v1/t/T", &[FRAMES]).await;
        let mut publisher = server.h2().await;
        for i in 1..=2 {
            publisher.publish("T", payload(i)).await;
        }
        let got = read_holding(&mut slow, WINDOW).await;
        // 10 × 40 000 bytes is more than the 200 000-byte bound behind it.
        for i in 3..=12 {
            within_for(PROMPT, publisher.publish("T", payload(i))).await;
        }
        let frames = release_and_drain(&mut slow, &got, WINDOW).await;
        let last = frames.last().unwrap();
        assert_eq!(last.kind, FrameKind::End);
        assert_eq!(last.as_end_reason().unwrap(), EndReason::SlowConsumer);
        assert!(
            frames.len() < 12,
            "it was ended well before catching up: {} frames",
            frames.len()
        );
    })
    .await
}

/// Case 45, with the original's raw framing and ALPN `h2` only: the first
/// 65 535 bytes arrive (a whole 40 000-byte message and 25 535 bytes of the
/// next), publishes keep returning 200 promptly, and other topics are
/// unaffected. Closing the connection frees the subscription.
#[tokio::test]
async fn go_client_that_never_grows_its_window_gets_65535_raw_bytes() {
    within(async {
        let server = start_server(|c| c.broker.queue_messages = 16).await;
        let mut conn = H2Raw::connect(&server, WINDOW as u32, 1 << 30).await;
        let mut sub = conn.get("/v1/t/T", &[]).await;
        assert_eq!(sub.head.status, StatusCode::OK);
        let mut publisher = server.h2().await;
        for i in 1..=2 {
            publisher.publish("T", payload(i)).await;
        }
        let got = read_holding(&mut sub, WINDOW).await;
        assert_eq!(got.len(), WINDOW);
        assert_eq!(&got[..MESSAGE], &payload(1)[..]);
        assert_eq!(&got[MESSAGE..], &payload(2)[..WINDOW - MESSAGE]);

        for i in 3..=50 {
            let r = within_for(PROMPT, publisher.post("/v1/t/T", payload(i))).await;
            assert_eq!(r.status, StatusCode::OK);
            let r = within_for(PROMPT, publisher.post("/v1/t/elsewhere", "x")).await;
            assert_eq!(r.status, StatusCode::OK);
        }
        drop(sub);
        drop(conn);
        eventually("the stalled subscription is released", || {
            server.broker().subscription_count() == 0
        })
        .await;
    })
    .await
}

/// What stalled subscribers pin is bounded from the publish side (issue 26
/// item 1): two subscribers (one of each policy) stop reading after their
/// first window and nobody polls them again, while 1 MiB messages keep
/// coming far past the 8 MiB queue bound. After every publish, what the
/// topic's live ring holds for them stays within the bound (before the ring
/// was bounded from the publish side, a topic held every message since the
/// stalled one's position: 1039 MiB in the attack that found it). Once they
/// read again, one ends "slow consumer" and the other gets a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscribers_pin_no_more_than_the_queue_bounds() {
    within(async {
        const BIG: usize = 1 << 20;
        const QUEUE_BYTES: u64 = 8 << 20;
        let server = start_server(|c| {
            c.broker.queue_bytes = QUEUE_BYTES;
            c.broker.max_message_bytes = BIG;
        })
        .await;
        let mut publisher = server.h2().await;
        let created = publisher.put("/v1/t/T", r#"{"history":false}"#).await;
        assert!(created.status.is_success(), "{}", created.text());
        let mut conn = H2Raw::connect(&server, WINDOW as u32, 1 << 30).await;
        let mut cut = conn.get("/v1/t/T", &[FRAMES]).await;
        let mut dropped = conn
            .get("/v1/t/T", &[FRAMES, ("drift-on-slow", "drop")])
            .await;
        let big = |i: u64| Bytes::from(vec![(i % 251) as u8; BIG]);
        let mut most = 0;
        for i in 1..=48 {
            let r = within_for(PROMPT, publisher.post("/v1/t/T", big(i))).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            let info = publisher.get("/v1/topics/T").await;
            let info: serde_json::Value = serde_json::from_str(info.text()).expect("JSON");
            assert_eq!(info["subscribers"], 2, "{info}");
            let held = info["queued"]["bytes"].as_u64().expect("queued bytes");
            assert!(
                held <= QUEUE_BYTES,
                "after {i} MiB the ring holds {held} bytes, over the {QUEUE_BYTES}-byte bound"
            );
            most = most.max(held);
        }
        assert!(most > QUEUE_BYTES / 2, "the ring was used: {most} bytes");

        let got = read_holding(&mut cut, WINDOW).await;
        let frames = release_and_drain(&mut cut, &got, WINDOW).await;
        let last = frames.last().expect("frames");
        assert_eq!(last.as_end_reason().unwrap(), EndReason::SlowConsumer);

        let got = read_holding(&mut dropped, WINDOW).await;
        dropped
            .body
            .flow_control()
            .release_capacity(WINDOW)
            .expect("release capacity");
        let mut dec = FrameDecoder::new(2 << 20);
        dec.extend(&got);
        let gap = loop {
            if let Some(f) = dec.next_frame().unwrap() {
                if f.kind == FrameKind::Gap {
                    break f.as_gap().unwrap();
                }
                assert_eq!(f.kind, FrameKind::Message);
                continue;
            }
            let data = dropped.next_data_releasing().await.expect("stream open");
            dec.extend(&data);
        };
        assert_eq!((gap.to, gap.reason), (48, GapReason::Dropped), "{gap:?}");
    })
    .await
}
