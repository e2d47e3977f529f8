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
    /// `--resume`: reopen a broken stream on the next server.
    pub resume: bool,
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
            resume: args.resume,
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
    let mut phase = shared.phase.subscribe();
    // At most `open_window` subscribe requests of this connection await
    // their answer at a time, as clients that arrive over time would.
    let window = tokio::sync::Semaphore::new(plan.open_window.max(1));
    // With --resume, each subscription's last event id, and the server this
    // connection goes to now (the next one after its server went away).
    let last_ids = RefCell::new(vec![String::new(); mine.len()]);
    let mut server = plan.server_of(conn);
    let mut resumed = false;
    loop {
        let send = match plan.endpoints[server].connect().await {
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
        let mut broken = false;
        let mut futs = FuturesUnordered::new();
        for (local, &j) in mine.iter().enumerate() {
            let at = Place {
                local,
                j,
                server,
                resumed,
            };
            futs.push(subscription(
                &stats,
                &shared,
                &plan,
                &window,
                &last_ids,
                send.clone(),
                at,
            ));
        }
        let stop = until(&mut phase, STOP);
        tokio::pin!(stop);
        let mut stopped = false;
        loop {
            tokio::select! {
                r = futs.next() => match r {
                    Some(Outcome::Broken) => broken = true,
                    Some(Outcome::Over) => {}
                    None => break,
                },
                () = stop.as_mut() => {
                    stopped = true;
                    break;
                }
            }
        }
        drop(futs);
        if stopped {
            break;
        }
        if !(broken && plan.resume) {
            stop.as_mut().await;
            break;
        }
        server = (server + 1) % plan.endpoints.len();
        resumed = true;
    }
    stats.into_inner()
}

/// Where a subscription is: its index on its connection and overall, the
/// server it goes to, and whether it resumes there.
#[derive(Debug, Clone, Copy)]
struct Place {
    local: usize,
    j: usize,
    server: usize,
    resumed: bool,
}

/// How a subscription's stream stopped.
enum Outcome {
    /// The server ended it in-band, or it could not be opened.
    Over,
    /// The stream broke (the connection or its server went away).
    Broken,
}

async fn subscription(
    stats: &RefCell<ConnStats>,
    shared: &Shared,
    plan: &SubPlan,
    window: &tokio::sync::Semaphore,
    last_ids: &RefCell<Vec<String>>,
    send: SendRequest<Bytes>,
    at: Place,
) -> Outcome {
    let Place {
        local,
        j,
        server,
        resumed,
    } = at;
    let topic = plan.topic_of(j);
    let permit = window.acquire().await;
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(plan.uris[server][topic].clone())
        .header(header::ACCEPT, plan.framing.accept());
    if let Some(token) = crate::net::TOKEN.get() {
        req = req.header(header::AUTHORIZATION, token.clone());
    }
    let last_id = last_ids.borrow()[local].clone();
    if resumed && !last_id.is_empty() {
        req = req.header("last-event-id", last_id);
    }
    let req = req.body(()).expect("valid request");
    let fail = |e: String| {
        shared.error(e);
        shared.subs_failed.fetch_add(1, Ordering::Relaxed);
        Outcome::Over
    };
    let mut send = match send.ready().await {
        Ok(s) => s,
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    let resp = match send.send_request(req, true) {
        Ok((resp, _)) => {
            if !resumed {
                shared.subs_sent.fetch_add(1, Ordering::Relaxed);
            }
            resp.await
        }
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return fail(format!("subscribe answered {}", r.status())),
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    if resumed {
        drop(permit);
        stats.borrow_mut().resumed += 1;
        return read_stream(stats, shared, plan, last_ids, resp, at).await;
    }
    shared.subs_ready.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    read_stream(stats, shared, plan, last_ids, resp, at).await
}

/// Reads a subscription's body until the server ends it or it breaks.
async fn read_stream(
    stats: &RefCell<ConnStats>,
    shared: &Shared,
    plan: &SubPlan,
    last_ids: &RefCell<Vec<String>>,
    resp: http::Response<h2::RecvStream>,
    at: Place,
) -> Outcome {
    let Place { local, j, .. } = at;
    let route = plan.route(j);
    let offsets = &plan.offsets[plan.topic_of(j)];
    let mut body = resp.into_body();
    let mut parser = StreamParser::new(plan.framing);
    let mut outcome = Outcome::Broken;
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
        if plan.resume && !parser.last_id.is_empty() {
            let mut ids = last_ids.borrow_mut();
            ids[local].clear();
            ids[local].push_str(&parser.last_id);
        }
        if ended {
            outcome = Outcome::Over;
            break;
        }
    }
    if !plan.resume {
        stats.borrow_mut().ended += 1;
    } else if let Outcome::Over = outcome {
        stats.borrow_mut().ended += 1;
    }
    outcome
}
