//! The idle scenario: hold T × S subscriptions and measure what they cost
//! the server in memory (RSS per subscription) and CPU while idle.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use drift_core::Result;
use serde_json::json;

use super::fanout::{STOP, Shared, SubPlan, join_ok, run_sharded, spawn_mine, sub_connection};
use super::net::TlsChoice;
use super::report::{Progress, Server, Summary, r1, r3};
use super::{BenchArgs, topic_names};

pub(crate) fn run(args: &BenchArgs, sub_url: &str, tls: &TlsChoice) -> Result<Summary> {
    let names = topic_names(&args.topic_prefix, args.topics);
    let plan = Arc::new(SubPlan::new(
        args,
        sub_url,
        tls,
        &names,
        vec![Vec::new(); args.topics],
        vec![0; args.topics],
    )?);
    let total = plan.total() as u64;
    let server = Server::new(&args.server_pid);
    let rss0 = server.rss();
    let shared = Shared::new(0, 0);
    let (threads, connections) = (args.threads, args.connections);
    let (pl, sh) = (plan.clone(), shared.clone());
    let start = Instant::now();
    let runner = std::thread::spawn(move || {
        run_sharded(threads, move |shard| {
            let (pl, sh) = (pl.clone(), sh.clone());
            async move {
                let tasks = spawn_mine(shard, threads, connections, |c| {
                    sub_connection(pl.clone(), sh.clone(), c)
                });
                join_ok(tasks).await.iter().map(|s| s.ended).sum::<u64>()
            }
        })
    });
    let mut progress = Progress::new(args.quiet);
    loop {
        let ready = shared.subs_ready.load(Ordering::Relaxed);
        let failed = shared.subs_failed.load(Ordering::Relaxed);
        if ready + failed >= total || start.elapsed() > Duration::from_secs(180) {
            break;
        }
        progress.tick(
            "idle",
            ("subscribed", &shared.subs_ready),
            ("failed", &shared.subs_failed),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let setup_secs = start.elapsed().as_secs_f64();
    let ready = shared.subs_ready.load(Ordering::Relaxed);
    // Let allocations settle before reading the RSS.
    std::thread::sleep(Duration::from_secs(1));
    let rss1 = server.rss();
    let cpu0 = server.cpu();
    let hold = Instant::now();
    while hold.elapsed().as_secs_f64() < args.hold {
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu1 = server.cpu();
    let rss2 = server.rss();
    let still_open = ready.saturating_sub(shared.subs_failed.load(Ordering::Relaxed));
    shared.set_phase(STOP);
    let ended: u64 = runner.join().expect("bench runner panicked").iter().sum();

    let per_sub = rss0
        .zip(rss1)
        .filter(|_| ready > 0)
        .map(|(a, b)| b.saturating_sub(a) as f64 / ready as f64);
    let mut s = Summary::new("idle", &args.label);
    s.ok = ready == total && ended == 0;
    s.set("sub_url", sub_url);
    s.set("framing", args.framing.name());
    s.set("topics", args.topics);
    s.set("subs_per_topic", args.subs);
    s.set("connections", connections);
    s.set("subscriptions", total);
    s.set("open", ready);
    s.set("ended_while_held", ended);
    s.set("still_open", still_open);
    s.set("setup_s", r3(setup_secs));
    s.set("hold_s", args.hold);
    s.set("server_pids", json!(server.pids()));
    s.set("rss_before", rss0);
    s.set("rss_after", rss1);
    s.set("rss_end", rss2);
    s.set("rss_per_sub_bytes", per_sub.map(r1));
    s.set("idle_cpu_s", cpu0.zip(cpu1).map(|(a, b)| r3(b - a)));
    if let Some(e) = shared.first_error() {
        s.set("error", e);
    }
    s.line(format!(
        "idle {}: {ready} of {total} subscriptions open over {connections} conns in {setup_secs:.1} s",
        args.label
    ));
    if let (Some(a), Some(b), Some(p)) = (rss0, rss1, per_sub) {
        s.line(format!(
            "  server RSS {:.1} MB -> {:.1} MB: {p:.0} bytes per subscription",
            a as f64 / 1e6,
            b as f64 / 1e6
        ));
    }
    if let Some(e) = shared.first_error() {
        s.line(format!("  first error: {e}"));
    }
    if !server.known() {
        s.line("  (no --server-pid: no RSS figures)".to_string());
    }
    Ok(s)
}
