//! The subscriber side: the plan every shard reads, and the connections
//! that open the subscriptions and read them until the STOP phase.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use drift_core::Result;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use h2::client::SendRequest;
use http::{Method, Request, Uri, header};

use super::super::latency_log::Route;
use super::super::net::{Endpoint, TlsChoice, topic_uris};
use super::super::payload::StreamParser;
use super::super::{BenchArgs, FramingArg, now_us};
use super::deliveries::{ConnStats, SubSink};
use super::shared::{STOP, Shared, until};

/// Everything the subscriber side needs, shared read-only by the shards.
pub(crate) struct SubPlan {
    /// Per server (`--sub-url` may list several, comma-separated: nodes
    /// that share topics); connection `c` goes to server `c % servers`.
    pub endpoints: Vec<Endpoint>,
    pub framing: FramingArg,
    /// Per server, per topic.
    pub uris: Vec<Vec<Uri>>,
    pub subs_per_topic: usize,
    pub connections: usize,
    /// Per topic: per publisher, the first bitmap index of its messages.
    pub offsets: Vec<Vec<u64>>,
    /// Per topic: messages that will be published to it.
    pub expected: Vec<u64>,
    /// Subscribe requests in flight per connection.
    pub open_window: usize,
    /// Keep every delivery for `--latency-log`.
    pub log_deliveries: bool,
}

impl SubPlan {
    /// The subscriber side of a run over `topics`; `offsets` and `expected`
    /// per topic as [`assign`](super::assign::assign) makes them.
    pub(crate) fn new(
        args: &BenchArgs,
        sub_url: &str,
        tls: &TlsChoice,
        topics: &[String],
        offsets: Vec<Vec<u64>>,
        expected: Vec<u64>,
    ) -> Result<SubPlan> {
        let templates: Vec<&str> = sub_url.split(',').collect();
        Ok(SubPlan {
            endpoints: templates
                .iter()
                .map(|t| Endpoint::new(t, tls))
                .collect::<Result<_>>()?,
            framing: args.framing,
            uris: templates
                .iter()
                .map(|t| topic_uris(t, topics))
                .collect::<Result<_>>()?,
            subs_per_topic: args.subs,
            connections: args.connections,
            offsets,
            expected,
            open_window: args.open_window,
            log_deliveries: args.latency_log.is_some(),
        })
    }

    pub(crate) fn total(&self) -> usize {
        self.uris[0].len() * self.subs_per_topic
    }

    /// The server connection `conn` goes to.
    fn server_of(&self, conn: usize) -> usize {
        conn % self.endpoints.len()
    }

    /// Subscription `j` reads topic `j / S` and rides connection `j % C`.
    fn topic_of(&self, j: usize) -> usize {
        j / self.subs_per_topic
    }

    /// Where subscription `j` is, as `--latency-log` writes it.
    fn route(&self, j: usize) -> Route {
        Route {
            topic: self.topic_of(j) as u32,
            connection: (j % self.connections) as u32,
            subscription: j as u32,
        }
    }
}

/// One subscriber connection: opens its subscriptions, reads them until the
/// STOP phase, returns what it measured.
pub(crate) async fn sub_connection(
    plan: Arc<SubPlan>,
    shared: Arc<Shared>,
    conn: usize,
) -> ConnStats {
    let mine: Vec<usize> = (conn..plan.total()).step_by(plan.connections).collect();
    let stats = RefCell::new(ConnStats::new());
    {
        let mut st = stats.borrow_mut();
        for &j in &mine {
            let expected = plan.expected[plan.topic_of(j)];
            st.per_sub.push((expected, 0));
            st.bitmaps.push(vec![0u64; expected.div_ceil(64) as usize]);
            st.warm.push(false);
        }
        if plan.log_deliveries {
            st.log = Some(Vec::new());
        }
    }
    let send = match plan.endpoints[plan.server_of(conn)].connect().await {
        Ok(s) => s,
        Err(e) => {
            shared.error(format!("subscriber connection: {e}"));
            shared
                .subs_failed
                .fetch_add(mine.len() as u64, Ordering::Relaxed);
            return stats.into_inner();
        }
    };
    if mine.len() > send.current_max_send_streams() && send.current_max_send_streams() > 0 {
        shared.error(format!(
            "{} subscriptions on one connection but the server allows {} streams: use more --connections",
            mine.len(),
            send.current_max_send_streams()
        ));
    }
    let mut phase = shared.phase.subscribe();
    // At most `open_window` subscribe requests of this connection await
    // their answer at a time, as clients that arrive over time would.
    let window = tokio::sync::Semaphore::new(plan.open_window.max(1));
    {
        let mut futs = FuturesUnordered::new();
        for (local, &j) in mine.iter().enumerate() {
            futs.push(subscription(
                &stats,
                &shared,
                &plan,
                &window,
                local,
                send.clone(),
                j,
            ));
        }
        let stop = until(&mut phase, STOP);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = futs.next() => if r.is_none() { stop.as_mut().await; break },
                () = stop.as_mut() => break,
            }
        }
    }
    stats.into_inner()
}

async fn subscription(
    stats: &RefCell<ConnStats>,
    shared: &Shared,
    plan: &SubPlan,
    window: &tokio::sync::Semaphore,
    local: usize,
    send: SendRequest<Bytes>,
    j: usize,
) {
    let route = plan.route(j);
    let topic = plan.topic_of(j);
    let permit = window.acquire().await;
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(plan.uris[plan.server_of(j % plan.connections)][topic].clone())
        .header(header::ACCEPT, plan.framing.accept());
    if let Some(token) = crate::net::TOKEN.get() {
        req = req.header(header::AUTHORIZATION, token.clone());
    }
    let req = req.body(()).expect("valid request");
    let fail = |e: String| {
        shared.error(e);
        shared.subs_failed.fetch_add(1, Ordering::Relaxed);
    };
    let mut send = match send.ready().await {
        Ok(s) => s,
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    let resp = match send.send_request(req, true) {
        Ok((resp, _)) => {
            shared.subs_sent.fetch_add(1, Ordering::Relaxed);
            resp.await
        }
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return fail(format!("subscribe answered {}", r.status())),
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    shared.subs_ready.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let offsets = &plan.offsets[topic];
    let mut body = resp.into_body();
    let mut parser = StreamParser::new(plan.framing);
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { break };
        let _ = body.flow_control().release_capacity(chunk.len());
        let now = now_us();
        let mut st = stats.borrow_mut();
        let mut sink = SubSink {
            st: &mut st,
            local,
            route,
            offsets,
            now,
            new: 0,
            warmed: 0,
            ended: false,
        };
        parser.feed(&chunk, &mut sink);
        let (new, ended) = (sink.new, sink.ended);
        if sink.warmed > 0 {
            shared.warmed.fetch_add(sink.warmed, Ordering::Relaxed);
        }
        if new > 0 {
            shared.delivered(new, now);
        }
        if ended {
            break;
        }
    }
    stats.borrow_mut().ended += 1;
}
