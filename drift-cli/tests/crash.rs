//! `kill -9` of a `drift serve --data-dir` server under load loses nothing it
//! acknowledged (issue 20's crash test).
//!
//! Each round starts the real binary on the same data directory and port,
//! runs concurrent publishers (HTTP/2, many publishes in flight) to a few
//! topics, and kills the server with SIGKILL after a pseudo-random number of
//! acknowledgements. After every restart, each topic's whole history must
//! hold every acknowledged id with its payload, in order, with no hole and
//! no duplicate, under the same epoch. One subscriber with resume on stays
//! subscribed through every crash: it must see each message exactly once
//! and never a gap. Rounds alternate `--fsync always` and `--fsync 100ms`:
//! both promise that a kill (not a power loss) loses nothing acknowledged.
#![cfg(feature = "disk")]

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use drift_core::client::{Backoff, Client, SubscribeOptions, Subscription, SubscriptionEvent};
use drift_core::model::HistoryRequest;
use support::TempDir;
use tokio::process::Child;
use tokio::sync::Mutex;

const TOPICS: [&str; 3] = ["crash-a", "crash-b", "crash-c"];
const ROUNDS: u64 = 10;
/// Publishing clients, and publishes each keeps in flight.
const CLIENTS: usize = 4;
const IN_FLIGHT: usize = 8;

/// What the server acknowledged: per topic, seq → payload.
type Acked = Arc<Mutex<BTreeMap<&'static str, BTreeMap<u64, String>>>>;

/// A pseudo-random number from a seed (xorshift), so that a failing round
/// can be told apart; the seed is printed.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Starts `drift serve` on `listen` with `data` and `--fsync fsync`.
async fn start(data: &TempDir, listen: &str, fsync: &str) -> (Child, String) {
    serve::start_data(
        data.path(),
        listen,
        &[
            "--fsync",
            fsync,
            "--history-length",
            "1000000",
            "--max-history-length",
            "1000000",
        ],
    )
    .await
}

fn client(url: &str) -> Client {
    Client::builder(url)
        .request_timeout(Duration::from_secs(10))
        .build()
        .expect("client builds")
}

/// Publishes until `stop`, recording every acknowledged message; stops at
/// the first error (the server was killed).
async fn publish_until_killed(
    client: Client,
    worker: usize,
    acked: Acked,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    round: u64,
) {
    let mut k = 0u64;
    while !stop.load(Ordering::Acquire) {
        let topic = TOPICS[(worker + k as usize) % TOPICS.len()];
        let payload = format!("r{round}-w{worker}-{k}");
        k += 1;
        match client.publish(topic, payload.clone()).await {
            Ok(p) => {
                let mut acked = acked.lock().await;
                let previous = acked
                    .entry(topic)
                    .or_default()
                    .insert(p.id.seq, payload.clone());
                assert!(
                    previous.is_none(),
                    "seq {} of {topic} acknowledged twice: {previous:?} and {payload}",
                    p.id.seq
                );
                count.fetch_add(1, Ordering::AcqRel);
            }
            Err(_) => return,
        }
    }
}

/// Every message of `topic` the server holds, read from its history up to a
/// marker published now. Returns (epoch, seq → payload).
async fn history(client: &Client, topic: &str, round: u64) -> (u64, BTreeMap<u64, String>) {
    let marker = format!("end-of-round-{round}");
    let mut sub = client
        .subscribe(
            topic,
            SubscribeOptions {
                history: HistoryRequest {
                    last: Some(1_000_000),
                    since_us: None,
                    after: None,
                },
                resume: false,
                ..Default::default()
            },
        )
        .await
        .expect("subscribe to the history");
    client
        .publish(topic, marker.clone())
        .await
        .expect("publish the marker");
    let mut seen = BTreeMap::new();
    let mut epoch = None;
    let mut previous: Option<u64> = None;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), sub.next_event())
            .await
            .expect("history in time")
            .expect("the subscription is open")
            .expect("no error");
        match event {
            SubscriptionEvent::Message(m) => {
                let id = m.id.expect("an id");
                assert!(
                    epoch.replace(id.epoch).is_none_or(|e| e == id.epoch),
                    "one epoch"
                );
                if let Some(p) = previous {
                    assert_eq!(id.seq, p + 1, "{topic}: hole or duplicate after seq {p}");
                }
                previous = Some(id.seq);
                let payload = String::from_utf8(m.payload.to_vec()).expect("UTF-8");
                if payload == marker {
                    return (id.epoch, seen);
                }
                seen.insert(id.seq, payload);
            }
            other => panic!("{topic}: expected history, got {other:?}"),
        }
    }
}

/// Reads the resuming subscriber until it has seen `marker`, checking each
/// message follows the one before.
async fn follow(sub: &mut Subscription, seen: &mut Vec<(u64, String)>, marker: &str) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(30), sub.next_event())
            .await
            .expect("the resuming subscriber keeps up")
            .expect("the subscription is open")
            .expect("no error");
        match event {
            SubscriptionEvent::Message(m) => {
                let id = m.id.expect("an id");
                if let Some((last, _)) = seen.last() {
                    assert_eq!(id.seq, last + 1, "resumed with a hole or a duplicate");
                }
                let payload = String::from_utf8(m.payload.to_vec()).expect("UTF-8");
                let done = payload == marker;
                seen.push((id.seq, payload));
                if done {
                    return;
                }
            }
            other => panic!("a subscriber resuming across kill -9 got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_acknowledged() {
    let body = async {
        let data = TempDir::new("crash");
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        println!("seed {seed}");
        let acked: Acked = Arc::default();
        let (mut server, url) = start(&data, "127.0.0.1:0", "always").await;
        // Round 1 runs with --fsync always, round 2 with 100ms, and so on.
        let listen = url.trim_start_matches("http://").to_string();
        let mut epochs: BTreeMap<&str, u64> = BTreeMap::new();

        // Subscribed before the first crash and kept through all of them.
        let watcher = Client::builder(&url)
            .request_timeout(Duration::from_secs(10))
            .build()
            .expect("client builds");
        let mut resuming = watcher
            .subscribe(
                TOPICS[0],
                SubscribeOptions {
                    reconnect: Backoff {
                        initial: Duration::from_millis(20),
                        max: Duration::from_millis(200),
                        max_attempts: None,
                    },
                    ..Default::default()
                },
            )
            .await
            .expect("subscribe");
        let mut followed = Vec::new();

        // Each round runs on the server the previous one restarted.
        let fsync = |round: u64| {
            if round.is_multiple_of(2) {
                "100ms"
            } else {
                "always"
            }
        };
        for round in 1..=ROUNDS {
            // Publish until a pseudo-random number of acknowledgements.
            let kill_after = 200 + xorshift(&mut seed) % 1500;
            let count = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let mut workers = Vec::new();
            for c in 0..CLIENTS {
                let client = client(&url);
                for f in 0..IN_FLIGHT {
                    workers.push(tokio::spawn(publish_until_killed(
                        client.clone(),
                        c * IN_FLIGHT + f,
                        acked.clone(),
                        count.clone(),
                        stop.clone(),
                        round,
                    )));
                }
            }
            while count.load(Ordering::Acquire) < kill_after {
                tokio::task::yield_now().await;
            }
            server.start_kill().expect("SIGKILL");
            server.wait().await.expect("the server exits");
            stop.store(true, Ordering::Release);
            for w in workers {
                w.await.expect("publisher");
            }

            // Back up: everything acknowledged is there, in order, once.
            (server, _) = start(&data, &listen, fsync(round + 1)).await;
            let reader = client(&url);
            let acked = acked.lock().await;
            for topic in TOPICS {
                let (epoch, held) = history(&reader, topic, round).await;
                let first_epoch = *epochs.entry(topic).or_insert(epoch);
                assert_eq!(epoch, first_epoch, "{topic}: the epoch survives restarts");
                for (seq, payload) in acked.get(topic).into_iter().flatten() {
                    assert_eq!(
                        held.get(seq),
                        Some(payload),
                        "round {round}: {topic} lost acknowledged seq {seq}"
                    );
                }
            }
            drop(acked);
            // The subscriber that was there all along caught up, gap-free.
            follow(
                &mut resuming,
                &mut followed,
                &format!("end-of-round-{round}"),
            )
            .await;
        }
        server.start_kill().expect("SIGKILL");
        server.wait().await.expect("the server exits");

        // The resuming subscriber saw exactly the topic's history.
        let acked = acked.lock().await;
        let acked_a = acked.get(TOPICS[0]).expect("publishes to the first topic");
        let followed: BTreeMap<u64, String> = followed.into_iter().collect();
        for (seq, payload) in acked_a {
            assert_eq!(
                followed.get(seq),
                Some(payload),
                "the subscriber missed {seq}"
            );
        }
        let total: usize = acked.values().map(BTreeMap::len).sum();
        println!("{ROUNDS} kills, {total} acknowledged publishes, none lost");
    };
    tokio::time::timeout(Duration::from_secs(240), body)
        .await
        .expect("the crash test finished in time");
}
