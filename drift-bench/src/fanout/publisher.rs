//! The publisher side: connecting a publisher, pacing its POSTs to the
//! rate and the in-flight limit, and one POST with its round trip time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use h2::client::SendRequest;
use hdrhistogram::Histogram;
use http::{Method, Request, Uri, header};

use super::super::net::Endpoint;
use super::super::now_us;
use super::super::payload;
use super::super::report;
use super::shared::{GO, STOP, Shared, WARMUP, WARMUP_PUBLISHER, until};

/// Connects a publisher, counting it in `pubs_ready` or `pubs_failed`.
pub(crate) async fn connect_publisher(
    endpoint: &Endpoint,
    shared: &Shared,
) -> Option<SendRequest<Bytes>> {
    match endpoint.connect().await {
        Ok(send) => {
            shared.pubs_ready.fetch_add(1, Ordering::Relaxed);
            Some(send)
        }
        Err(e) => {
            shared.error(format!("publisher connection: {e}"));
            shared.pubs_failed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Publisher side of the fanout scenario.
pub(crate) struct PubPlan {
    pub endpoint: Endpoint,
    pub uris: Vec<Uri>,
    /// Per publisher: (topic, messages) in round-robin order.
    pub assignment: Vec<Vec<(usize, u64)>>,
    pub size: usize,
    /// Messages per second for each publisher (0: unpaced).
    pub rate_each: f64,
    pub in_flight: usize,
}

/// Request round trip times of one publisher.
pub(crate) struct PubStats {
    pub rtt: Histogram<u64>,
}

pub(crate) async fn publisher(plan: Arc<PubPlan>, shared: Arc<Shared>, p: usize) -> PubStats {
    let mut stats = PubStats {
        rtt: report::histogram(),
    };
    let Some(send) = connect_publisher(&plan.endpoint, &shared).await else {
        return stats;
    };
    let mut phase = shared.phase.subscribe();
    until(&mut phase, WARMUP).await;
    if p == 0 {
        // One message per topic that every subscription must see before the
        // measurement starts: it proves the server registered them all (some
        // servers send a subscription's headers only with its first data).
        for uri in &plan.uris {
            if let Err(e) = post(send.clone(), uri.clone(), WARMUP_PUBLISHER, 0, plan.size).await {
                shared.error(format!("warm-up: {e}"));
            }
        }
    }
    until(&mut phase, GO).await;
    // The order of (topic, seq): round robin over this publisher's topics.
    let topics = &plan.assignment[p];
    let total: u64 = topics.iter().map(|t| t.1).sum();
    let mut next_seq = vec![0u64; topics.len()];
    let mut rr = 0usize;
    let mut next = move || -> (usize, u64) {
        loop {
            let i = rr % topics.len();
            rr += 1;
            if next_seq[i] < topics[i].1 {
                next_seq[i] += 1;
                return (topics[i].0, next_seq[i] - 1);
            }
        }
    };
    let start = Instant::now();
    let mut sent = 0u64;
    let mut inflight = FuturesUnordered::new();
    loop {
        if phase.borrow().to_owned() >= STOP {
            break;
        }
        let allowed = if plan.rate_each > 0.0 {
            ((start.elapsed().as_secs_f64() * plan.rate_each) as u64 + 1).min(total)
        } else {
            total
        };
        while inflight.len() < plan.in_flight && sent < allowed {
            let (topic, seq) = next();
            sent += 1;
            inflight.push(post(
                send.clone(),
                plan.uris[topic].clone(),
                p as u16,
                seq,
                plan.size,
            ));
        }
        if inflight.is_empty() && sent == total {
            break;
        }
        let due = (plan.rate_each > 0.0 && sent < total && inflight.len() < plan.in_flight)
            .then(|| start + Duration::from_secs_f64((sent as f64) / plan.rate_each));
        let pace = async move {
            match due {
                Some(due) => tokio::time::sleep_until(due.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            Some(r) = inflight.next() => match r {
                Ok(rtt) => {
                    stats.rtt.saturating_record(rtt.max(1));
                    shared.publish_answered();
                }
                Err(e) => shared.publish_failed(e),
            },
            () = pace => {},
            () = until(&mut phase, STOP) => break,
        }
    }
    stats
}

/// One POST of a fresh payload; the round trip in µs.
pub(crate) async fn post(
    send: SendRequest<Bytes>,
    uri: Uri,
    publisher: u16,
    seq: u64,
    size: usize,
) -> std::result::Result<u64, String> {
    let mut send = send.ready().await.map_err(|e| format!("publish: {e}"))?;
    let t0 = now_us();
    let body = payload::encode(publisher, seq, t0, size);
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size);
    if let Some(token) = crate::net::TOKEN.get() {
        req = req.header(header::AUTHORIZATION, token.clone());
    }
    let req = req.body(()).expect("valid request");
    let (resp, mut stream) = send
        .send_request(req, false)
        .map_err(|e| format!("publish: {e}"))?;
    stream
        .send_data(body, true)
        .map_err(|e| format!("publish body: {e}"))?;
    let resp = resp.await.map_err(|e| format!("publish: {e}"))?;
    let status = resp.status();
    // Drain the (small) answer so the stream closes cleanly.
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(c) => {
                let _ = body.flow_control().release_capacity(c.len());
            }
            Err(_) => break,
        }
    }
    if !status.is_success() {
        return Err(format!("publish answered {status}"));
    }
    Ok(now_us() - t0)
}
