//! Subscriptions across broken connections, server restarts and
//! server-side ends: resume with nothing lost or repeated, or an explicit gap.

#[path = "support/client.rs"]
mod client_support;
mod support;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use client_support::{
    Proxy, builder_for, client_for, client_via, fast_backoff, next, next_message, numbered, text,
};
use drift_core::client::{Backoff, Client, SubscribeOptions, Subscription, SubscriptionEvent};
use drift_core::protocol::SlowPolicy;
use drift_core::server::{Server, ServerConfig, ServerHandle, TlsMode};
use drift_core::tls::ServerIdentity;
use drift_core::{EndReason, ErrorKind, Gap, GapReason};
use futures_core::Stream;
use support::{Store, base_config, eventually, start_server, start_with, within};

fn resuming() -> SubscribeOptions {
    SubscribeOptions {
        reconnect: fast_backoff(),
        ..Default::default()
    }
}

async fn publish_range(client: &Client, topic: &str, range: std::ops::RangeInclusive<u64>) {
    for payload in numbered("m", range) {
        client.publish(topic, payload).await.unwrap();
    }
}

/// Reads messages until `m{last}`, returning every payload seen.
async fn read_until(sub: &mut Subscription, last: u64) -> Vec<String> {
    let mut seen = Vec::new();
    let want = format!("m{last}");
    loop {
        let payload = text(&next_message(sub).await);
        let done = payload == want;
        seen.push(payload);
        if done {
            return seen;
        }
    }
}

async fn a_cut_connection_loses_and_duplicates_nothing(store: Store) {
    within(async {
        let server = start_server(|c| store.apply(c)).await;
        let proxy = Proxy::start(server.addr).await;
        let subscriber = client_via(&proxy, &server);
        let publisher = client_for(&server);
        let mut sub = subscriber.subscribe("cut", resuming()).await.unwrap();

        // Publishing goes on concurrently the whole time, straight to the
        // server, until told to stop; the subscriber's path is cut twice in
        // the middle of it.
        let (progress_tx, mut progress) = tokio::sync::watch::channel(0u64);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let pub_task = tokio::spawn(async move {
            let mut i = 0;
            while !stopping.load(Ordering::SeqCst) {
                i += 1;
                publisher.publish("cut", format!("m{i}")).await.unwrap();
                progress_tx.send_replace(i);
            }
            i
        });

        // The subscriber reads all along, as an application would.
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                let m = next_message(&mut sub).await;
                assert_eq!(Some(m.seq), m.id.map(|id| id.seq));
                if seen_tx.send(text(&m)).is_err() {
                    return;
                }
            }
        });
        let mut seen = Vec::new();
        let mut read_to = async |last: u64| {
            let want = format!("m{last}");
            while seen.last() != Some(&want) {
                match seen_rx.recv().await {
                    Some(payload) => seen.push(payload),
                    None => panic!("the reader stopped after {:?}", seen.last()),
                }
            }
        };
        read_to(50).await;
        for round in 1..=2 {
            let at = *progress.borrow();
            progress.wait_for(|&n| n >= at + 50).await.unwrap();
            proxy.cut();
            // 150 messages are published while the subscriber is away.
            progress.wait_for(|&n| n >= at + 200).await.unwrap();
            proxy.restore();
            eventually("the subscriber reconnected", || {
                proxy.connections() == round + 1
            })
            .await;
        }
        stop.store(true, Ordering::SeqCst);
        let n = pub_task.await.unwrap();
        read_to(n).await;
        reader.abort();

        assert_eq!(
            seen,
            numbered("m", 1..=n),
            "every message exactly once, in order"
        );
    })
    .await;
}

#[tokio::test]
async fn a_cut_before_any_message_resumes_from_the_start_point() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let subscriber = client_via(&proxy, &server);
        let publisher = client_for(&server);
        publish_range(&publisher, "early", 1..=3).await; // before: not wanted
        let mut sub = subscriber.subscribe("early", resuming()).await.unwrap();
        proxy.cut();
        publish_range(&publisher, "early", 4..=6).await; // while away: wanted
        proxy.restore();
        publish_range(&publisher, "early", 7..=8).await;
        assert_eq!(read_until(&mut sub, 8).await, numbered("m", 4..=8));
    })
    .await;
}

/// Binds a server on exactly `addr`, retrying while the old socket lingers.
async fn bind_again(addr: SocketAddr, tls: TlsMode) -> ServerHandle {
    let mut tries = 0;
    loop {
        let config = ServerConfig {
            ..base_config(addr, tls.clone())
        };
        match Server::bind(config).await {
            Ok(server) => return server.spawn(),
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!("rebind {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot bind {addr} again: {e}"),
        }
    }
}

async fn restart_is_reported_as_an_epoch_gap(tls: TlsMode) {
    let server = start_with(([127, 0, 0, 1], 0).into(), tls.clone(), |_| {}).await;
    let addr = server.addr;
    let client = client_for(&server);
    let mut sub = client.subscribe("r", resuming()).await.unwrap();
    publish_range(&client, "r", 1..=3).await;
    assert_eq!(read_until(&mut sub, 3).await, numbered("m", 1..=3));
    let old_epoch = sub.epoch().unwrap();

    server.shutdown().await.unwrap();
    let restarted = bind_again(addr, tls).await;
    // Memory history: the restarted server knows nothing of the old epoch.
    let after: Vec<_> = ["a1", "a2"].into_iter().map(Bytes::from).collect();
    let ids = client.publish_many("r", after).await.unwrap();
    assert_ne!(ids[0].id.epoch, old_epoch);

    assert_eq!(
        next(&mut sub).await,
        SubscriptionEvent::Gap(Gap {
            from: 0,
            to: 0,
            reason: GapReason::Epoch
        }),
        "the restart is reported before the new messages"
    );
    let m = next_message(&mut sub).await;
    assert_eq!((m.id, &m.payload[..]), (Some(ids[0].id), &b"a1"[..]));
    assert_eq!(text(&next_message(&mut sub).await), "a2");
    assert_eq!(sub.epoch(), Some(ids[0].id.epoch));
    restarted.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_server_restart_is_a_gap_never_silence_h2c() {
    within(restart_is_reported_as_an_epoch_gap(TlsMode::H2c)).await;
}

#[tokio::test]
async fn a_server_restart_is_a_gap_never_silence_tls() {
    // The same certificate on both sides of the restart, as with --cert/--key.
    let identity = ServerIdentity::generate_self_signed().unwrap();
    within(restart_is_reported_as_an_epoch_gap(TlsMode::Identity(
        identity,
    )))
    .await;
}

/// While a subscription resumes, `interruption()` says why: the server's
/// end reason, then the failed attempts; once a new stream is open it is
/// gone. (`drift sub` prints these.)
#[tokio::test]
async fn interruption_says_why_while_resuming() {
    within(async {
        let server = start_with(([127, 0, 0, 1], 0).into(), TlsMode::H2c, |_| {}).await;
        let addr = server.addr;
        let client = client_for(&server);
        let mut sub = client.subscribe("i", resuming()).await.unwrap();
        assert_eq!(sub.interruption(), None);
        publish_range(&client, "i", 1..=1).await;
        assert_eq!(read_until(&mut sub, 1).await, numbered("m", 1..=1));

        server.shutdown().await.unwrap();
        // Polled by hand: nothing is delivered while the server is away,
        // so the state is looked at after each poll that found nothing.
        let seen = std::future::poll_fn(|cx| match Pin::new(&mut sub).poll_next(cx) {
            Poll::Ready(item) => panic!("delivered while the server is away: {item:?}"),
            Poll::Pending => match sub.interruption() {
                Some(i) if i.failed_attempts >= 2 => Poll::Ready(i.clone()),
                _ => Poll::Pending,
            },
        })
        .await;
        assert_eq!(seen.end_reason, Some(EndReason::Shutdown));
        assert!(
            seen.last_error
                .as_deref()
                .is_some_and(|e| e.contains("connect")),
            "{seen:?}"
        );

        let restarted = bind_again(addr, TlsMode::H2c).await;
        assert!(matches!(next(&mut sub).await, SubscriptionEvent::Gap(_)));
        assert_eq!(sub.interruption(), None);
        restarted.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn shutdown_without_resume_ends_with_the_reason() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let mut sub = client
            .subscribe(
                "s",
                SubscribeOptions {
                    resume: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(
            next(&mut sub).await,
            SubscriptionEvent::End(EndReason::Shutdown)
        );
        assert!(sub.next_event().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn delete_ends_the_subscription_even_with_resume_on() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let mut sub = client.subscribe("d", resuming()).await.unwrap();
        client.publish("d", "m1").await.unwrap();
        client.delete("d").await.unwrap();
        assert_eq!(text(&next_message(&mut sub).await), "m1");
        assert_eq!(
            next(&mut sub).await,
            SubscriptionEvent::End(EndReason::Deleted)
        );
        assert!(sub.next_event().await.is_none());
        assert!(sub.next_event().await.is_none(), "stays over");
    })
    .await;
}

/// A server whose subscribers are "slow" after 16 messages of lag, with room
/// in history for everything the tests publish.
async fn slow_server() -> support::TestServer {
    start_server(|c| {
        c.broker.queue_messages = 16;
        c.broker.history_length = 10_000;
    })
    .await
}

/// Publishes `n` messages of 16 KiB (`m1`… padded), far more than the
/// subscriber's HTTP/2 window holds, while it reads nothing.
async fn flood(client: &Client, topic: &str, n: u64) {
    let pad = "x".repeat(16 * 1024);
    let payloads: Vec<Bytes> = (1..=n)
        .map(|i| Bytes::from(format!("m{i} {pad}")))
        .collect();
    for chunk in payloads.chunks(100) {
        client.publish_many(topic, chunk.to_vec()).await.unwrap();
    }
}

fn seq_of(payload: &[u8]) -> u64 {
    let text = std::str::from_utf8(payload).unwrap();
    text[1..text.find(' ').unwrap()].parse().unwrap()
}

#[tokio::test]
async fn slow_consumer_end_reaches_the_caller_without_resume() {
    within(async {
        let server = slow_server().await;
        let client = client_for(&server);
        let mut sub = client
            .subscribe(
                "slow",
                SubscribeOptions {
                    resume: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        flood(&client, "slow", 2000).await;
        let mut expected = 1;
        loop {
            match next(&mut sub).await {
                SubscriptionEvent::Message(m) => {
                    assert_eq!((m.seq, seq_of(&m.payload)), (expected, expected));
                    expected += 1;
                }
                SubscriptionEvent::End(reason) => {
                    assert_eq!(reason, EndReason::SlowConsumer);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            expected <= 2000,
            "the subscriber was cut off before the end"
        );
        assert!(sub.next_event().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn slow_consumer_resumes_from_history_without_loss() {
    within(async {
        let server = slow_server().await;
        let client = client_for(&server);
        let mut sub = client.subscribe("slow", resuming()).await.unwrap();
        flood(&client, "slow", 2000).await;
        for expected in 1..=2000 {
            let m = next_message(&mut sub).await;
            assert_eq!((m.seq, seq_of(&m.payload)), (expected, expected));
        }
    })
    .await;
}

#[tokio::test]
async fn drop_policy_reports_what_it_skipped() {
    within(async {
        let server = slow_server().await;
        let client = client_for(&server);
        let options = SubscribeOptions {
            on_slow: SlowPolicy::Drop,
            ..resuming()
        };
        let mut sub = client.subscribe("dropping", options).await.unwrap();
        flood(&client, "dropping", 2000).await;
        // Every seq is either delivered or inside a reported gap, once, in order.
        let (mut expected, mut gaps) = (1, 0);
        while expected <= 2000 {
            match next(&mut sub).await {
                SubscriptionEvent::Message(m) => {
                    assert_eq!(m.seq, expected);
                    expected += 1;
                }
                SubscriptionEvent::Gap(g) => {
                    assert_eq!((g.reason, g.from), (GapReason::Dropped, expected), "{g:?}");
                    assert!(g.to >= g.from);
                    expected = g.to + 1;
                    gaps += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(gaps > 0, "the flood made the subscriber drop");
    })
    .await;
}

#[tokio::test]
async fn dropping_a_subscription_resets_its_stream_at_once() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let a = client
            .subscribe("gone", SubscribeOptions::default())
            .await
            .unwrap();
        let b = client
            .subscribe("gone", SubscribeOptions::default())
            .await
            .unwrap();
        let broker = server.broker().clone();
        eventually("two subscriptions", || broker.subscription_count() == 2).await;
        drop(a);
        eventually("dropped one is gone", || broker.subscription_count() == 1).await;
        b.close();
        eventually("closed one is gone", || broker.subscription_count() == 0).await;
        // The shared connection is still fine.
        client.publish("gone", "m").await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let client = client_via(&proxy, &server);
        let options = SubscribeOptions {
            reconnect: Backoff {
                max_attempts: Some(3),
                ..fast_backoff()
            },
            ..Default::default()
        };
        let mut sub = client.subscribe("t", options).await.unwrap();
        proxy.cut();
        let e = match tokio::time::timeout(Duration::from_secs(10), sub.next_event()).await {
            Ok(Some(Err(e))) => e,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}");
        assert!(sub.next_event().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn without_resume_a_broken_connection_is_an_error() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let client = builder_for(&proxy.url(true), server.ca_pem.as_deref())
            .build()
            .unwrap();
        let mut sub = client
            .subscribe(
                "t",
                SubscribeOptions {
                    resume: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        proxy.cut();
        match tokio::time::timeout(Duration::from_secs(10), sub.next_event()).await {
            Ok(Some(Err(e))) => assert_eq!(e.kind(), ErrorKind::Connect, "{e:?}"),
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(sub.next_event().await.is_none());
    })
    .await;
}

// One test per store for each of the above.
every_store!(
    a_cut_connection_loses_and_duplicates_nothing,
    flavor = "multi_thread",
    worker_threads = 4
);
