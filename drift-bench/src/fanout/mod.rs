//! The fanout scenario, and the subscriber machinery the idle scenario
//! shares with it.
//!
//! One file per part: `shared.rs` (phases and counters), `tasks.rs` (shards
//! and their tasks), `assign.rs` (messages over publishers and topics),
//! `subscriber.rs` and `deliveries.rs` (the subscriber side and what it
//! counts), `publisher.rs` (the publisher side), `summary.rs` (the report);
//! this file runs the phases.

mod assign;
mod deliveries;
mod publisher;
mod shared;
mod subscriber;
mod summary;
mod tasks;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use drift_core::Result;

use super::latency_log::LatencyLog;
use super::net::{Endpoint, TlsChoice, topic_uris};
use super::report::{self, Progress, Server, Summary};
use super::{BenchArgs, invalid, now_us, topic_names};
use assign::assign;
use deliveries::ConnStats;
use publisher::{PubPlan, publisher};
use shared::WARMUP;
use summary::{Outcome, summary};

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

    if let Some(log_file) = log_file {
        // Written even when nothing was delivered, so the file always
        // belongs to this run.
        log_file.write(&mut stats.log.take().unwrap_or_default())?;
    }
    Ok(summary(Outcome {
        args,
        sub_url,
        pub_url,
        shared: &shared,
        server: &server,
        cpu,
        stats,
        rtt,
        setup_ok,
        setup_secs,
        total_subs,
        expected_deliveries,
        go_us,
        wall,
    }))
}
