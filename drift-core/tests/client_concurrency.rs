//! Many subscriptions multiplexed on one client connection.

#[path = "support/client.rs"]
mod client_support;
mod support;

use client_support::{Proxy, client_for, client_via, collect_messages, numbered};
use drift_core::client::SubscribeOptions;
use support::{start_server, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_subscriptions_share_one_connection() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let client = client_via(&proxy, &server);

        // 100 subscriptions over 10 topics, opened concurrently.
        let opening: Vec<_> = (0..100)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    let topic = format!("topic-{}", i % 10);
                    let sub = client
                        .subscribe(&topic, SubscribeOptions::default())
                        .await
                        .unwrap();
                    (topic, sub)
                })
            })
            .collect();
        let mut subs = Vec::new();
        for task in opening {
            subs.push(task.await.unwrap());
        }

        // Publish 20 messages to each topic from another client, concurrently.
        let publisher = client_for(&server);
        let publishing: Vec<_> = (0..10)
            .map(|t| {
                let publisher = publisher.clone();
                tokio::spawn(async move {
                    for payload in numbered("m", 1..=20) {
                        publisher
                            .publish(&format!("topic-{t}"), payload)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();

        // Every subscription reads its topic's 20 messages, in order.
        let reading: Vec<_> = subs
            .into_iter()
            .map(|(topic, mut sub)| {
                tokio::spawn(async move {
                    let got = collect_messages(&mut sub, 20).await;
                    assert_eq!(got, numbered("m", 1..=20), "{topic}");
                    assert_eq!(sub.topic(), topic);
                })
            })
            .collect();
        for task in publishing.into_iter().chain(reading) {
            task.await.unwrap();
        }
        assert_eq!(proxy.connections(), 1, "one HTTP/2 connection for all 100");
    })
    .await;
}
