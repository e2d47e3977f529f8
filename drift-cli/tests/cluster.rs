//! Three `drift serve --redis` nodes on one Redis server (Debian's
//! redis-server, started by the test): a node killed with SIGKILL while
//! publishers run on the others loses its subscribers' connections, and
//! Drift's client, given every node's URL, moves to the next node and
//! resumes by id with every acknowledged message exactly once and no gap.
#![cfg(feature = "redis")]

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use drift_core::client::{Backoff, Client, SubscribeOptions, SubscriptionEvent};
use support::{RedisServer, within};

const MESSAGES: u64 = 300;
/// Messages the subscriber reads before its node is killed (the publishers
/// hold back half of theirs until then).
const BEFORE_KILL: u64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_subscribers_resume_on_another_with_nothing_lost() {
    within(async {
        let redis = RedisServer::start();
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let mut cmd =
                serve::command(["--h2c", "--listen", "127.0.0.1:0", "--redis", &redis.url()]);
            nodes.push(serve::start(&mut cmd).await);
        }
        let urls: Vec<String> = nodes.iter().map(|(_, url)| url.clone()).collect();
        let subscriber = Client::builder(urls.join(","))
            .request_timeout(Duration::from_secs(10))
            .build()
            .expect("a client of all three nodes");
        let options = SubscribeOptions {
            reconnect: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
                max_attempts: None,
            },
            ..Default::default()
        };
        let mut sub = subscriber.subscribe("T", options).await.expect("subscribe");
        assert_eq!(subscriber.server(), urls[0].trim_start_matches("http://"));

        // Two publishers, on the two other nodes: half of their messages
        // before the kill, half after it.
        let (killed, kill_seen) = tokio::sync::watch::channel(false);
        let mut publishers = Vec::new();
        for (n, url) in urls[1..].iter().enumerate() {
            let client = Client::builder(url.as_str()).build().expect("a publisher");
            let mut kill_seen = kill_seen.clone();
            publishers.push(tokio::spawn(async move {
                let mut acked = BTreeMap::new();
                for i in 0..MESSAGES / 2 {
                    if i == MESSAGES / 4 {
                        kill_seen.wait_for(|k| *k).await.expect("the test goes on");
                    }
                    let payload = format!("{n}-{i}");
                    let sent = client.publish("T", payload.clone()).await.expect("publish");
                    acked.insert(sent.id.seq, payload);
                }
                acked
            }));
        }

        let mut received = BTreeMap::new();
        while (received.len() as u64) < MESSAGES {
            let event = sub.next_event().await.expect("the subscription goes on");
            match event.expect("no error: it resumes by itself") {
                SubscriptionEvent::Message(m) => {
                    let payload = String::from_utf8(m.payload.to_vec()).expect("text");
                    assert!(
                        received.insert(m.seq, payload).is_none(),
                        "seq {} twice",
                        m.seq
                    );
                }
                other => panic!("only messages, no gap or end: {other:?}"),
            }
            if received.len() as u64 == BEFORE_KILL {
                nodes[0]
                    .0
                    .kill()
                    .await
                    .expect("SIGKILL the subscriber's node");
                killed.send_replace(true);
            }
        }
        let mut acked = BTreeMap::new();
        for p in publishers {
            acked.extend(p.await.expect("publisher"));
        }
        assert_eq!(
            received, acked,
            "every acknowledged message, once, in seq order"
        );
        assert_ne!(
            subscriber.server(),
            urls[0].trim_start_matches("http://"),
            "moved on"
        );
    })
    .await;
}

#[tokio::test]
async fn rediss_reaches_a_redis_server_whose_certificate_is_trusted() {
    within(async {
        let identity = drift_core::tls::ServerIdentity::generate_self_signed().expect("a cert");
        let dir = support::TempDir::new("rediss");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, &identity.cert_pem).expect("write the cert");
        std::fs::write(&key, &identity.key_pem).expect("write the key");
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        let redis = RedisServer::start_with(&[
            "--port",
            "0",
            "--tls-port",
            "{port}",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-auth-clients",
            "no",
        ]);
        let url = redis.url().replace("redis://", "rediss://");
        // The system's roots, as a client finds them: here, that one cert.
        let mut cmd = serve::command(["--h2c", "--listen", "127.0.0.1:0", "--redis", &url]);
        cmd.env("SSL_CERT_FILE", &cert);
        let (_node, node_url) = serve::start(&mut cmd).await;
        let client = Client::builder(node_url).build().expect("a client");
        let sent = client
            .publish("T", "over TLS")
            .await
            .expect("publish through rediss://");
        assert_eq!(sent.id.seq, 1);
        let stored = redis.cli(&[
            "--tls",
            "--cacert",
            &cert,
            "HGET",
            "drift:{T}:meta",
            "last_seq",
        ]);
        assert_eq!(stored.trim(), "1", "the publish is in Redis");
        // Without that root, the certificate is refused: 503, not a publish.
        let mut cmd = serve::command(["--h2c", "--listen", "127.0.0.1:0", "--redis", &url]);
        cmd.env("SSL_CERT_FILE", dir.path().join("none.pem"));
        let (_untrusting, untrusting_url) = serve::start(&mut cmd).await;
        let refused = Client::builder(untrusting_url)
            .build()
            .expect("a client")
            .publish("T", "over TLS")
            .await
            .expect_err("an untrusted Redis certificate");
        assert!(refused.to_string().contains("Redis"), "{refused}");
    })
    .await;
}
