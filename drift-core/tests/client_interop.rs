//! Interoperability: servers that answer without Drift framing. First our
//! own server's raw framing, then a stand-in for the original Go server
//! (ignores `Accept`, one raw DATA frame per message, delays the response
//! headers until the first message, no `drift-*` headers on publish).

#[path = "support/client.rs"]
mod client_support;
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use client_support::{Proxy, client_for, client_via, fast_backoff, next, next_message, text};
use drift_core::MessageId;
use drift_core::client::{Client, SubscribeOptions, SubscriptionEvent};
use drift_core::{EndReason, Gap, GapReason};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{ReqBody, channel_body, eventually, full, start_server, within};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

fn raw() -> SubscribeOptions {
    SubscribeOptions {
        raw: true,
        reconnect: fast_backoff(),
        ..Default::default()
    }
}

#[tokio::test]
async fn raw_framing_gives_one_message_per_data_frame_without_ids() {
    within(async {
        let server = start_server(|_| {}).await;
        let client = client_for(&server);
        let mut sub = client.subscribe("raw", raw()).await.unwrap();
        let before = support::now_us();
        for payload in ["one", "two", "three"] {
            client.publish("raw", payload).await.unwrap();
        }
        for want in ["one", "two", "three"] {
            let m = next_message(&mut sub).await;
            assert_eq!(text(&m), want);
            assert_eq!((m.id, m.seq, m.epoch), (None, 0, 0));
            assert!(m.time_us >= before, "stamped on arrival");
        }
        assert_eq!(sub.last_id(), None);
        // Raw framing ends with a trailer that says why.
        client.delete("raw").await.unwrap();
        assert_eq!(
            next(&mut sub).await,
            SubscriptionEvent::End(EndReason::Deleted)
        );
        assert!(sub.next_event().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn raw_resume_reports_an_unknown_gap_then_goes_on_live() {
    within(async {
        let server = start_server(|_| {}).await;
        let proxy = Proxy::start(server.addr).await;
        let client = client_via(&proxy, &server);
        let publisher = client_for(&server);
        let mut sub = client.subscribe("raw", raw()).await.unwrap();
        publisher.publish("raw", "before").await.unwrap();
        assert_eq!(text(&next_message(&mut sub).await), "before");
        proxy.cut();
        let broker = server.broker().clone();
        eventually("the server saw the cut", || {
            broker.subscription_count() == 0
        })
        .await;
        publisher.publish("raw", "while away").await.unwrap();
        proxy.restore();
        // Without ids the client cannot know what it missed: it says so.
        let gap = Gap {
            from: 0,
            to: 0,
            reason: GapReason::Epoch,
        };
        assert_eq!(next(&mut sub).await, SubscriptionEvent::Gap(gap));
        // Live again: publish until one arrives (the resume may land after
        // any of these; none may arrive twice).
        let mut seen = Vec::new();
        let mut published = 0;
        while seen.is_empty() {
            publisher
                .publish("raw", format!("after{published}"))
                .await
                .unwrap();
            published += 1;
            if let Ok(Some(Ok(SubscriptionEvent::Message(m)))) =
                tokio::time::timeout(std::time::Duration::from_millis(200), sub.next_event()).await
            {
                seen.push(text(&m));
            }
        }
        // Read up to a last message: from the first that arrived on, each
        // one published arrives once, in order.
        publisher.publish("raw", "last").await.unwrap();
        loop {
            let payload = text(&next_message(&mut sub).await);
            if payload == "last" {
                break;
            }
            seen.push(payload);
        }
        let first: usize = seen[0]
            .strip_prefix("after")
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("{seen:?}"));
        let want: Vec<String> = (first..published).map(|i| format!("after{i}")).collect();
        assert_eq!(seen, want);
    })
    .await;
}

// ===== a stand-in for the original Go server =====

#[derive(Default)]
struct Recorded {
    posts: Vec<Bytes>,
    accepts: Vec<Option<String>>,
}

struct Original {
    addr: SocketAddr,
    messages: broadcast::Sender<Bytes>,
    recorded: Arc<Mutex<Recorded>>,
}

impl Original {
    /// Serves h2c (prior knowledge) on an ephemeral port.
    async fn start() -> Original {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (messages, _) = broadcast::channel::<Bytes>(1024);
        let recorded = Arc::new(Mutex::new(Recorded::default()));
        let (tx, rec) = (messages.clone(), recorded.clone());
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (tx, rec) = (tx.clone(), rec.clone());
                let service =
                    hyper::service::service_fn(move |req| handle(req, tx.clone(), rec.clone()));
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        Original {
            addr,
            messages,
            recorded,
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    messages: broadcast::Sender<Bytes>,
    recorded: Arc<Mutex<Recorded>>,
) -> Result<Response<ReqBody>, Infallible> {
    match *req.method() {
        Method::POST => {
            let body = req.into_body().collect().await.unwrap().to_bytes();
            recorded.lock().unwrap().posts.push(body.clone());
            let _ = messages.send(body);
            Ok(Response::new(full(Bytes::new())))
        }
        Method::GET => {
            let accept = req
                .headers()
                .get("accept")
                .map(|v| v.to_str().unwrap().to_owned());
            recorded.lock().unwrap().accepts.push(accept);
            let mut rx = messages.subscribe();
            // As the original: no response headers before the first message.
            let first = rx.recv().await.unwrap();
            let (tx, body) = channel_body();
            let _ = tx.send(first);
            tokio::spawn(async move {
                while let Ok(m) = rx.recv().await {
                    if tx.send(m).is_err() {
                        break;
                    }
                }
            });
            let mut res = Response::new(body);
            res.headers_mut()
                .insert("content-type", "text/plain; charset=utf-8".parse().unwrap());
            Ok(res)
        }
        _ => {
            let mut res = Response::new(full("not here"));
            *res.status_mut() = StatusCode::NOT_FOUND;
            Ok(res)
        }
    }
}

#[tokio::test]
async fn the_original_server_gets_plain_posts_and_raw_subscriptions() {
    within(async {
        let original = Original::start().await;
        let client = Client::builder(format!("http://{}", original.addr))
            .build()
            .unwrap();

        // The original sends its headers only with the first message, so
        // subscribe() returns when that message is there.
        let subscriber = client.clone();
        let subscribing = tokio::spawn(async move {
            subscriber
                .subscribe("t", SubscribeOptions::default())
                .await
                .unwrap()
        });
        // Publish until the subscription exists on the stand-in's side.
        let mut published = 0;
        let messages = original.messages.clone();
        eventually("subscribed", || messages.receiver_count() > 0).await;
        let p = client.publish("t", "hello").await.unwrap();
        published += 1;
        assert_eq!(
            p.id,
            MessageId { epoch: 0, seq: 0 },
            "no ids from the original"
        );
        let mut sub = subscribing.await.unwrap();
        let m = next_message(&mut sub).await;
        assert_eq!((text(&m), m.id, m.seq), ("hello".to_owned(), None, 0));

        // A batch goes as one plain POST per message, never as frames.
        let batch: Vec<Bytes> = ["a", "b", "c"].into_iter().map(Bytes::from).collect();
        let ids = client.publish_many("t", batch).await.unwrap();
        published += 3;
        assert!(ids.iter().all(|p| p.id == MessageId { epoch: 0, seq: 0 }));
        for want in ["a", "b", "c"] {
            assert_eq!(text(&next_message(&mut sub).await), want);
        }
        let rec = original.recorded.lock().unwrap();
        assert_eq!(rec.posts.len(), published);
        assert_eq!(
            &rec.posts[1..],
            &[Bytes::from("a"), Bytes::from("b"), Bytes::from("c")]
        );
        assert_eq!(
            rec.accepts,
            [Some("application/vnd.drift.frames".to_owned())],
            "we asked for frames and were ignored"
        );
    })
    .await;
}
