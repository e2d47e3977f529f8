//! The OpenMetrics text of a broker's [`Metrics`], through
//! prometheus-client: one [`Collector`] reads the sharded counters and the
//! broker's own figures at scrape time, so nothing is registered or
//! updated in between.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::broker::Broker;
use crate::metrics::{
    END_LABELS, FRAMINGS, GAP_REASONS, Metrics, Protocol, Snapshot, StoreOp, framing_label,
};

type Fmt = Result<(), std::fmt::Error>;

/// The whole exposition (ending with `# EOF`) of `broker`'s metrics.
pub(crate) fn exposition(broker: &Broker, metrics: &std::sync::Arc<Metrics>) -> String {
    let mut registry = Registry::with_prefix("drift");
    registry.register_collector(Box::new(Scrape {
        broker: broker.clone(),
        metrics: metrics.clone(),
    }));
    let mut text = String::with_capacity(8 * 1024);
    // Writing to a String does not fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

#[derive(Debug)]
struct Scrape {
    broker: Broker,
    metrics: std::sync::Arc<Metrics>,
}

/// Label pairs and a value, for one series of a family.
type Series = Vec<(Vec<(&'static str, String)>, u64)>;

fn one(v: u64) -> Series {
    vec![(Vec::new(), v)]
}

fn labelled(key: &'static str, values: impl IntoIterator<Item = (String, u64)>) -> Series {
    values
        .into_iter()
        .map(|(l, v)| (vec![(key, l)], v))
        .collect()
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: &Series,
) -> Fmt {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, v) in series {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    series: &Series,
) -> Fmt {
    let mut m = e.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, v) in series {
        let v = i64::try_from(*v).unwrap_or(i64::MAX);
        ConstGauge::new(v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

/// `s` with its bounds and sum divided by `scale` (nanoseconds to seconds).
fn histogram(m: &mut prometheus_client::encoding::MetricEncoder, s: &Snapshot, scale: f64) -> Fmt {
    let mut buckets: Vec<(f64, u64)> = s
        .buckets
        .iter()
        .map(|&(bound, n)| (bound as f64 / scale, n))
        .collect();
    let counted: u64 = s.buckets.iter().map(|&(_, n)| n).sum();
    buckets.push((f64::INFINITY, s.count.saturating_sub(counted)));
    m.encode_histogram::<NoLabelSet>(s.sum as f64 / scale, s.count, &buckets, None)
}

const TLS: [(bool, &str); 2] = [(false, "false"), (true, "true")];

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Fmt {
        let m = &*self.metrics;
        let e = &mut e;

        let mut open = Series::new();
        let mut accepted = Series::new();
        for p in Protocol::ALL {
            for (tls, tls_label) in TLS {
                let labels = vec![
                    ("protocol", p.as_str().to_owned()),
                    ("tls", tls_label.to_owned()),
                ];
                open.push((labels.clone(), m.connections_open(p, tls)));
                accepted.push((labels, m.connections_opened(p, tls)));
            }
        }
        gauge(
            e,
            "connections",
            "Open connections, by HTTP version (h1, h2) and TLS; counted from their first request.",
            None,
            &open,
        )?;
        counter(
            e,
            "connections_accepted",
            "Connections that made a request, by HTTP version and TLS.",
            None,
            &accepted,
        )?;

        gauge(
            e,
            "topics",
            "Topics the server holds (with the readiness probe's own).",
            None,
            &one(self.broker.topic_count() as u64),
        )?;

        let by_framing = |value: &dyn Fn(crate::protocol::Framing) -> u64| {
            labelled(
                "framing",
                FRAMINGS
                    .iter()
                    .map(|&f| (framing_label(f).to_owned(), value(f))),
            )
        };
        gauge(
            e,
            "subscriptions",
            "Open subscription streams, by framing (raw, sse, drift).",
            None,
            &by_framing(&|f| m.subscriptions_open(f)),
        )?;
        counter(
            e,
            "subscriptions_started",
            "Subscription streams started, by framing.",
            None,
            &by_framing(&|f| m.subscriptions_opened(f)),
        )?;
        let ends = labelled(
            "reason",
            END_LABELS
                .iter()
                .zip(m.ends())
                .map(|(r, n)| ((*r).to_owned(), n)),
        );
        counter(
            e,
            "subscriptions_ended",
            "Subscription streams ended, by reason (closed: the client went away first).",
            None,
            &ends,
        )?;

        let (published, published_bytes) = m.publishes();
        counter(
            e,
            "published_messages",
            "Messages accepted by publishes (a streamed publish counts each).",
            None,
            &one(published),
        )?;
        counter(
            e,
            "published_payload",
            "Payload bytes of the messages accepted.",
            Some(&Unit::Bytes),
            &one(published_bytes),
        )?;
        counter(
            e,
            "delivered_messages",
            "Messages handed to subscription streams, by framing.",
            None,
            &by_framing(&|f| m.deliveries(f).0),
        )?;
        counter(
            e,
            "delivered_payload",
            "Payload bytes of the messages handed to subscription streams, by framing.",
            Some(&Unit::Bytes),
            &by_framing(&|f| m.deliveries(f).1),
        )?;

        let gaps = labelled(
            "reason",
            GAP_REASONS
                .iter()
                .map(|&r| (r.as_str().to_owned(), m.gap_count(r))),
        );
        counter(
            e,
            "gaps",
            "Gaps reported to subscribers, by reason (expired, epoch, dropped).",
            None,
            &gaps,
        )?;
        let refused = labelled(
            "status",
            m.refused().into_iter().map(|(s, n)| (s.to_string(), n)),
        );
        counter(
            e,
            "refused_requests",
            "Requests answered with a 4xx or 5xx status, by status.",
            None,
            &refused,
        )?;

        let held = self.broker.held();
        gauge(
            e,
            "history_messages",
            "Messages retained in history, over every topic held.",
            None,
            &one(held.retained),
        )?;
        gauge(
            e,
            "history_payload",
            "Payload bytes retained in history, over every topic held.",
            Some(&Unit::Bytes),
            &one(held.retained_bytes),
        )?;

        gauge(
            e,
            "queued_messages",
            "Messages live rings hold for subscribers that have not read them, over every topic held.",
            None,
            &one(held.queued),
        )?;
        gauge(
            e,
            "queued",
            "Their charged bytes (payload and 200 bytes each).",
            Some(&Unit::Bytes),
            &one(held.queued_bytes),
        )?;
        if let Some(memory) = self.broker.history_memory() {
            gauge(
                e,
                "history_memory",
                "What the history held in this process's memory costs: each retained message's payload and 200 bytes of overhead, over every topic (the disk store's caches).",
                Some(&Unit::Bytes),
                &one(memory.held),
            )?;
            gauge(
                e,
                "history_memory_limit",
                "The history memory budget (history_memory).",
                Some(&Unit::Bytes),
                &one(memory.limit),
            )?;
            counter(
                e,
                "history_evicted_messages",
                "Messages evicted from memory to keep within the history memory budget (for the disk store, from its cache only).",
                None,
                &one(memory.evicted_messages),
            )?;
        }

        if let Some(c) = self.broker.store_commits() {
            counter(
                e,
                "store_commits",
                "Transactions the store committed: appends queued together share one (drift_published_messages_total over this is how many).",
                None,
                &one(c.commits),
            )?;
            counter(
                e,
                "store_syncs",
                "fdatasyncs of the store's log: with --fsync always one covers every commit written before it, with an interval one per interval that wrote anything.",
                None,
                &one(c.syncs),
            )?;
        }

        let store = self.broker.config().store.kind();
        let mut info = e.encode_descriptor(
            "store",
            "The store that keeps topics and history.",
            None,
            MetricType::Info,
        )?;
        info.encode_info(&[("store", store)])?;

        let mut latency = e.encode_descriptor(
            "store_operation_duration",
            "Time the store took to answer, by operation.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for op in StoreOp::ALL {
            let labels = [("op", op.as_str()), ("store", store)];
            histogram(
                &mut latency.encode_family(&labels)?,
                &m.store_latency(op),
                1e9,
            )?;
        }

        let mut lag = e.encode_descriptor(
            "subscriber_lag_messages",
            "How many messages behind the topic's newest a subscriber was when it was handed a batch.",
            None,
            MetricType::Histogram,
        )?;
        histogram(&mut lag, &m.lag_snapshot(), 1.0)
    }
}
