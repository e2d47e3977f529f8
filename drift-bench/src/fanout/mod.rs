//! The fanout scenario, and the subscriber machinery the idle scenario
//! shares with it.
//!
//! One file per part: `shared.rs` (phases and counters), `tasks.rs` (shards
//! and their tasks), `assign.rs` (messages over publishers and topics),
//! `subscriber.rs` and `deliveries.rs` (the subscriber side and what it
//! counts), `publisher.rs` (the publisher side);
//! this file runs the phases and reports them.

mod assign;
mod deliveries;
mod publisher;
mod shared;
mod subscriber;
mod tasks;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use drift_core::Result;

use super::latency_log::LatencyLog;
use super::net::{Endpoint, TlsChoice, topic_uris};
use super::report::{self, Progress, Server, Summary, r1, r3};
use super::{BenchArgs, invalid, now_us, topic_names};
use assign::assign;
use deliveries::ConnStats;
use publisher::{PubPlan, publisher};
use shared::WARMUP;

pub(crate) use publisher::{connect_publisher, post};
pub(crate) use shared::{CHECK_EVERY, GO, STOP, Shared, until};
pub(crate) use subscriber::{SubPlan, sub_connection};
pub(crate) use tasks::{join_ok, run_sharded, spawn_mine};

pub(crate) fn run(
    args: &BenchArgs,
    sub_url: &str,
    pub_url: &str,
    tls: &TlsChoice,
) -> Result<Summary> {
    if args.publishers == 0 {
        return Err(invalid("--publishers must be at least 1"));
    }
    if args.publishers > u16::MAX as usize {
        return Err(invalid("too many publishers"));
    }
    let log_file = match &args.latency_log {
        Some(path) => Some(LatencyLog::create(path)?),
        None => None,
    };
    let names = topic_names(&args.topic_prefix, args.topics);
    let (assignment, offsets, expected) = assign(args.messages, args.publishers, args.topics);
    let sub_plan = Arc::new(SubPlan::new(
        args,
        sub_url,
        tls,
        &names,
        offsets,
        expected.clone(),
    )?);
    let pub_plan = Arc::new(PubPlan {
        endpoint: Endpoint::new(pub_url, tls)?,
        uris: topic_uris(pub_url, &names)?,
        assignment,
        size: args.size,
        rate_each: args.rate / args.publishers as f64,
        in_flight: args.streams,
    });
    let expected_deliveries: u64 = expected.iter().sum::<u64>() * args.subs as u64;
    let total_subs = sub_plan.total() as u64;
    let server = Server::new(&args.server_pid);
    let shared = Shared::new(args.messages, expected_deliveries);

    let threads = args.threads;
    let (connections, publishers) = (args.connections, args.publishers);
    let (sp, pp, sh) = (sub_plan.clone(), pub_plan.clone(), shared.clone());
    let runner = std::thread::spawn(move || {
        run_sharded(threads, move |shard| {
            let (sp, pp, sh) = (sp.clone(), pp.clone(), sh.clone());
            async move {
                let subs = spawn_mine(shard, threads, connections, |c| {
                    sub_connection(sp.clone(), sh.clone(), c)
                });
                let pubs = spawn_mine(shard, threads, publishers, |p| {
                    publisher(pp.clone(), sh.clone(), p)
                });
                let mut stats = ConnStats::new();
                for s in join_ok(subs).await {
                    stats.merge(s);
                }
                let mut rtt = report::histogram();
                for p in join_ok(pubs).await {
                    let _ = rtt.add(&p.rtt);
                }
                (stats, rtt)
            }
        })
    });

    // Setup: every subscription requested and every publisher connected,
    // then a warm-up message per topic that every subscription must receive.
    let mut progress = Progress::new(args.quiet);
    let setup_start = Instant::now();
    let limit = Duration::from_secs(30);
    let failed = || {
        shared.subs_failed.load(Ordering::Relaxed) + shared.pubs_failed.load(Ordering::Relaxed) > 0
    };
    while !failed() && setup_start.elapsed() < limit {
        let sent = shared.subs_sent.load(Ordering::Relaxed);
        let pubs = shared.pubs_ready.load(Ordering::Relaxed);
        if sent == total_subs && pubs == args.publishers as u64 {
            break;
        }
        progress.tick(
            "setup",
            ("subscribed", &shared.subs_ready),
            ("failed", &shared.subs_failed),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Answers still on their way, and servers that answer only with data.
    let settle = Instant::now();
    while shared.subs_ready.load(Ordering::Relaxed) < total_subs
        && settle.elapsed() < Duration::from_millis(500)
        && !failed()
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    shared.set_phase(WARMUP);
    let warm_start = Instant::now();
    while shared.warmed.load(Ordering::Relaxed) < total_subs
        && warm_start.elapsed() < Duration::from_secs(30)
        && !failed()
    {
        progress.tick(
            "warm-up",
            ("subscribed", &shared.subs_ready),
            ("warmed", &shared.warmed),
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();
    let setup_ok = shared.warmed.load(Ordering::Relaxed) == total_subs
        && shared.pubs_ready.load(Ordering::Relaxed) == args.publishers as u64
        && !failed();
    if !setup_ok && shared.first_error().is_none() {
        shared.error(format!(
            "setup incomplete: {} of {total_subs} subscriptions answered, {} received the warm-up message",
            shared.subs_ready.load(Ordering::Relaxed),
            shared.warmed.load(Ordering::Relaxed)
        ));
    }

    let cpu_start = server.cpu_start();
    let go_us = now_us();
    let go = Instant::now();
    let mut last_received = 0u64;
    let mut last_progress = Instant::now();
    if setup_ok {
        shared.set_phase(GO);
        let mut progress = Progress::new(args.quiet);
        loop {
            // A thread of the bench that wakes often takes CPU time from
            // whatever runs when it wakes (the server, or the client's own
            // connections): it sleeps until the run completes (see
            // `Shared::complete`) or the next check of the drain and
            // duration limits.
            std::thread::park_timeout(CHECK_EVERY);
            progress.tick(
                "fanout",
                ("published", &shared.published),
                ("delivered", &shared.received),
            );
            if shared.complete() {
                break;
            }
            let received = shared.received.load(Ordering::Relaxed);
            if received != last_received {
                last_received = received;
                last_progress = Instant::now();
            }
            // After the last publish, wait for the deliveries still on their
            // way for as long as they keep coming (a slow client or a busy
            // server is not a loss): stop after `--drain` seconds without one.
            if shared.publishing_done() && last_progress.elapsed().as_secs_f64() > args.drain {
                break;
            }
            if go.elapsed().as_secs_f64() > args.duration {
                break;
            }
        }
    }
    let wall = go.elapsed().as_secs_f64();
    let cpu = server.cpu_since(&cpu_start);
    shared.set_phase(STOP);
    let results = runner.join().expect("bench runner panicked");
    let mut stats = ConnStats::new();
    let mut rtt = report::histogram();
    for (s, r) in results {
        stats.merge(s);
        let _ = rtt.add(&r);
    }

    let published = shared.published.load(Ordering::Relaxed);
    let pub_errors = shared.pub_errors.load(Ordering::Relaxed);
    let lost: u64 = stats
        .per_sub
        .iter()
        .map(|(e, got)| e.saturating_sub(*got))
        .sum();
    let subs_with_loss = stats.per_sub.iter().filter(|(e, got)| got < e).count();
    if let Some(log_file) = log_file {
        // Written even when nothing was delivered, so the file always
        // belongs to this run.
        log_file.write(&mut stats.log.take().unwrap_or_default())?;
    }
    let last_recv = shared.last_recv_us.load(Ordering::Relaxed);
    let last_pub = shared.last_pub_us.load(Ordering::Relaxed);
    let deliver_secs = (last_recv.saturating_sub(go_us) as f64 / 1e6).max(1e-6);
    let pub_secs = (last_pub.saturating_sub(go_us) as f64 / 1e6).max(1e-6);

    let mut s = Summary::new("fanout", &args.label);
    s.ok = setup_ok && pub_errors == 0 && lost == 0 && stats.bad == 0;
    s.set("sub_url", sub_url);
    s.set("pub_url", pub_url);
    s.set("framing", args.framing.name());
    s.set("topics", args.topics);
    s.set("subs_per_topic", args.subs);
    s.set("subscriptions", total_subs);
    s.set("connections", args.connections);
    s.set("publishers", args.publishers);
    s.set("size", args.size);
    s.set("rate", args.rate);
    s.set("in_flight", args.streams);
    s.set("threads", args.threads);
    s.set("setup_s", r3(setup_secs));
    s.set("setup_ok", setup_ok);
    s.set("published", published);
    s.set("publish_errors", pub_errors);
    s.set("pub_msgs_per_s", r1(published as f64 / pub_secs));
    s.set("expected", expected_deliveries);
    s.set("delivered", stats.unique);
    s.set("lost", lost);
    s.set("subs_with_loss", subs_with_loss);
    s.set("duplicates", stats.dups);
    s.set("bad", stats.bad);
    s.set("other_events", stats.other);
    s.set("streams_ended", stats.ended);
    s.set(
        "delivered_msgs_per_s",
        r1(stats.unique as f64 / deliver_secs),
    );
    s.set(
        "delivered_mb_per_s",
        r3(stats.bytes as f64 / deliver_secs / 1e6),
    );
    s.set("deliver_s", r3(deliver_secs));
    s.set("wall_s", r3(wall));
    s.set("latency_us", report::latency_json(&stats.hist));
    s.set("publish_rtt_us", report::latency_json(&rtt));
    if let Some(path) = &args.latency_log {
        s.set("latency_log", path.display().to_string());
    }
    cpu.record(&mut s, &server, "deliveries_per_server_cpu_s", stats.unique);
    if let Some(e) = shared.first_error() {
        s.set("error", e);
    }
    s.line(format!(
        "fanout {} {}: {} topics x {} subs over {} conns, {} publishers, {} msgs of {} B{}",
        args.label,
        args.framing.name(),
        args.topics,
        args.subs,
        args.connections,
        args.publishers,
        args.messages,
        args.size,
        if args.rate > 0.0 {
            format!(" at {}/s", args.rate)
        } else {
            String::new()
        }
    ));
    s.line(format!(
        "  published {published} ({:.0}/s, {pub_errors} errors); delivered {} of {expected_deliveries} ({:.0}/s, {:.1} MB/s); lost {lost}, duplicates {}",
        published as f64 / pub_secs,
        stats.unique,
        stats.unique as f64 / deliver_secs,
        stats.bytes as f64 / deliver_secs / 1e6,
        stats.dups
    ));
    if !stats.hist.is_empty() {
        let h = &stats.hist;
        s.line(format!(
            "  latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        ));
    }
    if let Some(c) = cpu.server {
        s.line(format!(
            "  server CPU {c:.2} s ({:.0} deliveries per CPU-second); client CPU {:.2} s",
            stats.unique as f64 / c.max(1e-9),
            cpu.client.unwrap_or(0.0)
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
