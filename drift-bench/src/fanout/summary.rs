//! The summary of a fanout run: its JSON keys and its human lines.

use std::sync::atomic::Ordering;

use hdrhistogram::Histogram;

use super::super::BenchArgs;
use super::super::report::{self, CpuUsed, Server, Summary, r1, r3};
use super::deliveries::ConnStats;
use super::shared::Shared;

/// What a run measured, once every task has stopped.
pub(super) struct Outcome<'a> {
    pub args: &'a BenchArgs,
    pub sub_url: &'a str,
    pub pub_url: &'a str,
    pub shared: &'a Shared,
    pub server: &'a Server,
    pub cpu: CpuUsed,
    /// Every connection's figures merged (deliveries already written out).
    pub stats: ConnStats,
    /// Every publisher's round trip times.
    pub rtt: Histogram<u64>,
    pub setup_ok: bool,
    pub setup_secs: f64,
    pub total_subs: u64,
    pub expected_deliveries: u64,
    /// When the measured phase began (µs since the epoch), and how long it
    /// lasted (s).
    pub go_us: u64,
    pub wall: f64,
}

/// The summary of `o`.
pub(super) fn summary(o: Outcome<'_>) -> Summary {
    let Outcome {
        args,
        sub_url,
        pub_url,
        shared,
        server,
        cpu,
        stats,
        rtt,
        setup_ok,
        setup_secs,
        total_subs,
        expected_deliveries,
        go_us,
        wall,
    } = o;
    let published = shared.published.load(Ordering::Relaxed);
    let pub_errors = shared.pub_errors.load(Ordering::Relaxed);
    let lost: u64 = stats
        .per_sub
        .iter()
        .map(|(e, got)| e.saturating_sub(*got))
        .sum();
    let subs_with_loss = stats.per_sub.iter().filter(|(e, got)| got < e).count();
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
    s.set("streams_resumed", stats.resumed);
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
    cpu.record(&mut s, server, "deliveries_per_server_cpu_s", stats.unique);
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
    s
}
