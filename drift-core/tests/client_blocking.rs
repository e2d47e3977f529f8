//! The blocking facade, from plain threads (as the C and Python bindings
//! call it), with its own runtime or a shared one.

#[path = "support/client.rs"]
mod client_support;
mod support;

use std::time::Duration;

use client_support::{builder_for, numbered, text};
use drift_core::client::blocking::{BlockingClient, BlockingSubscription};
use drift_core::client::{SubscribeOptions, SubscriptionEvent};
use drift_core::protocol::HistoryRequest;
use drift_core::{EndReason, ErrorKind};
use support::TestServer;

/// A server on a runtime of its own, so the test thread stays synchronous.
fn server() -> (tokio::runtime::Runtime, TestServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(support::start_server(|_| {}));
    (rt, server)
}

fn message_text(sub: &mut BlockingSubscription) -> String {
    match sub.next_timeout(Duration::from_secs(10)) {
        Ok(Some(SubscriptionEvent::Message(m))) => text(&m),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn blocking_client_with_its_own_runtime() {
    let (_rt, server) = server();
    let client = BlockingClient::new(builder_for(&server.url, server.ca_pem.as_deref())).unwrap();
    assert!(!client.exists("b").unwrap());
    let mut sub = client.subscribe("b", SubscribeOptions::default()).unwrap();
    // Nothing published yet: a timeout is not an error.
    assert!(
        sub.next_timeout(Duration::from_millis(50))
            .unwrap()
            .is_none()
    );

    let p = client.publish("b", "one").unwrap();
    assert_eq!(p.id.seq, 1);
    let ids = client
        .publish_many("b", vec!["two".into(), "three".into()])
        .unwrap();
    assert_eq!(ids.len(), 2);
    for want in ["one", "two", "three"] {
        assert_eq!(message_text(&mut sub), want);
    }
    assert_eq!(sub.last_id(), Some(ids[1].id));
    assert_eq!(sub.epoch(), Some(p.id.epoch));
    let now = client.server_time().unwrap();
    assert!(now > 1_600_000_000);

    client.delete("b").unwrap();
    match sub.next_timeout(Duration::from_secs(10)) {
        Ok(Some(SubscriptionEvent::End(EndReason::Deleted))) => {}
        other => panic!("expected the end, got {other:?}"),
    }
    let e = sub.next_timeout(Duration::from_millis(10)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed);
    assert!(sub.next().is_none(), "the iterator is over too");
}

#[test]
fn blocking_subscription_is_an_iterator() {
    let (_rt, server) = server();
    let client = BlockingClient::new(builder_for(&server.url, server.ca_pem.as_deref())).unwrap();
    for payload in numbered("m", 1..=5) {
        client.publish("it", payload).unwrap();
    }
    let options = SubscribeOptions {
        history: HistoryRequest {
            last: Some(5),
            ..Default::default()
        },
        ..Default::default()
    };
    let got: Vec<String> = client
        .subscribe("it", options)
        .unwrap()
        .take(5)
        .map(|event| match event.unwrap() {
            SubscriptionEvent::Message(m) => text(&m),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(got, numbered("m", 1..=5));
}

#[test]
fn blocking_client_on_a_shared_runtime_and_across_threads() {
    let (rt, server) = server();
    let client = BlockingClient::with_handle(
        builder_for(&server.url, server.ca_pem.as_deref()),
        rt.handle().clone(),
    )
    .unwrap();
    let mut sub = client
        .subscribe("shared", SubscribeOptions::default())
        .unwrap();
    let publisher = client.clone();
    let thread = std::thread::spawn(move || {
        for payload in numbered("m", 1..=3) {
            publisher.publish("shared", payload).unwrap();
        }
    });
    for want in numbered("m", 1..=3) {
        assert_eq!(message_text(&mut sub), want);
    }
    thread.join().unwrap();
    sub.close();
}

#[test]
fn blocking_calls_from_inside_another_runtime_do_not_panic() {
    let (_rt, server) = server();
    let client = BlockingClient::new(builder_for(&server.url, server.ca_pem.as_deref())).unwrap();
    let other = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Not recommended (it blocks that runtime's thread), but not a panic.
    let seq = other.block_on(async { client.publish("inside", "m").unwrap().id.seq });
    assert_eq!(seq, 1);
    // Dropping the last user of the owned runtime inside async code is fine too.
    other.block_on(async move { drop(client) });
}

/// Another thread closes a subscription whose reader waits with no
/// deadline: the reader wakes at once with `Closed`, and the handle gave
/// the last id and end reason meanwhile without waiting for the reader.
#[test]
fn a_handle_closes_a_waiting_reader_from_another_thread() {
    let (_rt, server) = server();
    let client = BlockingClient::new(builder_for(&server.url, server.ca_pem.as_deref())).unwrap();
    let mut sub = client.subscribe("h", SubscribeOptions::default()).unwrap();
    let handle = sub.handle().clone();
    let published = client.publish("h", "one").unwrap();
    let (read_tx, read) = std::sync::mpsc::channel();
    let (done_tx, done) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let first = sub
            .next_event()
            .map(|e| e.map(|e| matches!(e, SubscriptionEvent::Message(_))));
        read_tx.send(()).unwrap();
        let waited = sub.next_event();
        let after = sub.next_timeout(Duration::ZERO).map_err(|e| e.kind());
        done_tx.send(()).unwrap();
        (first, waited.is_none(), after)
    });
    read.recv_timeout(Duration::from_secs(20))
        .expect("the message never arrived");
    // Now the reader waits with no deadline; the handle answers anyway.
    assert_eq!(handle.last_id(), Some(published.id));
    assert_eq!(handle.end_reason(), None, "still going");
    handle.close();
    done.recv_timeout(Duration::from_secs(20))
        .expect("the waiting reader was not woken by the close");
    let (first, waited_none, after) = reader.join().unwrap();
    assert_eq!(first.map(|r| r.ok()), Some(Some(true)));
    assert!(waited_none, "a closed subscription yields nothing more");
    assert_eq!(after.unwrap_err(), ErrorKind::Closed);
    assert_eq!(handle.end_reason().as_deref(), Some("closed"));
    assert!(handle.is_closed());
}
