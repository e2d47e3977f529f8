//! The publish scenario: C connections × K concurrent streams of POSTs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drift_core::Result;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use http::Uri;

use super::fanout::{
    CHECK_EVERY, GO, STOP, Shared, connect_publisher, join_ok, post, run_sharded, spawn_mine, until,
};
use super::net::{Endpoint, TlsChoice, topic_uris};
use super::report::{self, Progress, Server, Summary, r1, r3};
use super::{BenchArgs, now_us, topic_names};

struct Plan {
    endpoint: Endpoint,
    uris: Vec<Uri>,
    size: usize,
    total: u64,
    streams: usize,
    /// Requests handed out so far (over all connections).
    issued: AtomicU64,
}

async fn connection(
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    conn: usize,
) -> hdrhistogram::Histogram<u64> {
    let mut rtt = report::histogram();
    let Some(send) = connect_publisher(&plan.endpoint, &shared).await else {
        return rtt;
    };
    let mut phase = shared.phase.subscribe();
    until(&mut phase, GO).await;
    let mut inflight = FuturesUnordered::new();
    let issue = |inflight: &mut FuturesUnordered<_>| {
        let i = plan.issued.fetch_add(1, Ordering::Relaxed);
        if i >= plan.total {
            return false;
        }
        let topic = (i as usize) % plan.uris.len();
        inflight.push(post(
            send.clone(),
            plan.uris[topic].clone(),
            conn as u16,
            i,
            plan.size,
        ));
        true
    };
    for _ in 0..plan.streams {
        if !issue(&mut inflight) {
            break;
        }
    }
    loop {
        tokio::select! {
            r = inflight.next() => match r {
                Some(Ok(t)) => {
                    rtt.saturating_record(t.max(1));
                    shared.publish_answered();
                    issue(&mut inflight);
                }
                Some(Err(e)) => {
                    shared.publish_failed(e);
                    issue(&mut inflight);
                }
                None => break,
            },
            () = until(&mut phase, STOP) => break,
        }
    }
    rtt
}

pub(crate) fn run(args: &BenchArgs, pub_url: &str, tls: &TlsChoice) -> Result<Summary> {
    let names = topic_names(&args.topic_prefix, args.topics);
    let plan = Arc::new(Plan {
        endpoint: Endpoint::new(pub_url, tls)?,
        uris: topic_uris(pub_url, &names)?,
        size: args.size,
        total: args.messages,
        streams: args.streams,
        issued: AtomicU64::new(0),
    });
    let server = Server::new(&args.server_pid);
    let shared = Shared::new(args.messages, 0);
    let (threads, connections) = (args.threads, args.connections);
    let (pl, sh) = (plan.clone(), shared.clone());
    let runner = std::thread::spawn(move || {
        run_sharded(threads, move |shard| {
            let (pl, sh) = (pl.clone(), sh.clone());
            async move {
                let tasks = spawn_mine(shard, threads, connections, |c| {
                    connection(pl.clone(), sh.clone(), c)
                });
                let mut rtt = report::histogram();
                for h in join_ok(tasks).await {
                    let _ = rtt.add(&h);
                }
                rtt
            }
        })
    });
    let setup = Instant::now();
    while shared.pubs_ready.load(Ordering::Relaxed) + shared.pubs_failed.load(Ordering::Relaxed)
        < connections as u64
        && setup.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let setup_ok = shared.pubs_ready.load(Ordering::Relaxed) == connections as u64;
    let cpu_start = server.cpu_start();
    let go_us = now_us();
    let go = Instant::now();
    if setup_ok {
        shared.set_phase(GO);
        let mut progress = Progress::new(args.quiet);
        loop {
            // Sleeps rather than polls (see `fanout::CHECK_EVERY`).
            std::thread::park_timeout(CHECK_EVERY);
            progress.tick(
                "publish",
                ("published", &shared.published),
                ("errors", &shared.pub_errors),
            );
            if shared.complete() || go.elapsed().as_secs_f64() > args.duration {
                break;
            }
        }
    }
    let cpu = server.cpu_since(&cpu_start);
    shared.set_phase(STOP);
    let mut rtt = report::histogram();
    for h in runner.join().expect("bench runner panicked") {
        let _ = rtt.add(&h);
    }
    let published = shared.published.load(Ordering::Relaxed);
    let errors = shared.pub_errors.load(Ordering::Relaxed);
    let secs = (shared
        .last_pub_us
        .load(Ordering::Relaxed)
        .saturating_sub(go_us) as f64
        / 1e6)
        .max(1e-6);

    let mut s = Summary::new("publish", &args.label);
    s.ok = setup_ok && errors == 0;
    s.set("pub_url", pub_url);
    s.set("topics", args.topics);
    s.set("connections", connections);
    s.set("streams_per_connection", args.streams);
    s.set("size", args.size);
    s.set("threads", args.threads);
    s.set("requests", args.messages);
    s.set("published", published);
    s.set("errors", errors);
    s.set("req_per_s", r1(published as f64 / secs));
    s.set(
        "mb_per_s",
        r3(published as f64 * args.size as f64 / secs / 1e6),
    );
    s.set("duration_s", r3(secs));
    s.set("latency_us", report::latency_json(&rtt));
    cpu.record(&mut s, &server, "req_per_server_cpu_s", published);
    if let Some(e) = shared.first_error() {
        s.set("error", e);
    }
    s.line(format!(
        "publish {}: {} conns x {} streams, {} requests of {} B to {} topics",
        args.label, connections, args.streams, args.messages, args.size, args.topics
    ));
    s.line(format!(
        "  {published} ok, {errors} errors in {secs:.2} s: {:.0} req/s",
        published as f64 / secs
    ));
    if !rtt.is_empty() {
        s.line(format!(
            "  round trip µs: p50 {} p99 {} max {}",
            rtt.value_at_quantile(0.5),
            rtt.value_at_quantile(0.99),
            rtt.max()
        ));
    }
    if let Some(c) = cpu.server {
        s.line(format!(
            "  server CPU {c:.2} s ({:.0} requests per CPU-second)",
            published as f64 / c.max(1e-9)
        ));
    }
    for line in cpu.lines() {
        s.line(line);
    }
    if let Some(e) = shared.first_error() {
        s.line(format!("  first error: {e}"));
    }
    Ok(s)
}
