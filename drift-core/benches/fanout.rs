//! Broker fan-out micro-benchmark: publish one message to a topic with N
//! subscribers and drain every subscriber (the broker's share of a fan-out;
//! no HTTP). Run with `cargo bench -p drift-core --bench fanout`.

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use drift_core::Event;
use drift_core::broker::{Access, Broker, BrokerConfig, Subscription};
use drift_core::protocol::{HistoryRequest, SlowPolicy};
use futures_util::FutureExt;

fn subscribers(broker: &Broker, n: usize) -> Vec<Subscription> {
    (0..n)
        .map(|_| {
            broker
                .subscribe(
                    "t",
                    HistoryRequest::default(),
                    SlowPolicy::Disconnect,
                    &Access::default(),
                )
                .now()
                .expect("the memory store answers at once")
                .unwrap()
        })
        .collect()
}

fn drain(subs: &mut [Subscription], sse: bool) -> usize {
    let mut bytes = 0;
    for s in subs.iter_mut() {
        while let Some(Some(Event::Message(m))) = s.next_event().now_or_never() {
            bytes += if sse {
                m.sse_encoded().len()
            } else {
                m.payload.len()
            };
        }
    }
    bytes
}

fn fanout(c: &mut Criterion) {
    let payload = Bytes::from(vec![b'x'; 64]);
    let mut g = c.benchmark_group("publish_and_drain");
    for n in [100usize, 1000] {
        let broker = Broker::new(BrokerConfig::default());
        let mut subs = subscribers(&broker, n);
        g.throughput(Throughput::Elements(n as u64));
        for (framing, sse) in [("raw", false), ("sse", true)] {
            g.bench_with_input(BenchmarkId::new(framing, n), &n, |b, _| {
                b.iter(|| {
                    broker
                        .publish("t", payload.clone(), &Access::default())
                        .now_or_never()
                        .expect("the memory store answers at once")
                        .unwrap();
                    drain(&mut subs, sse)
                })
            });
        }
        // Ten messages queued before anyone reads: the batching case.
        g.throughput(Throughput::Elements(10 * n as u64));
        g.bench_with_input(BenchmarkId::new("burst10_sse", n), &n, |b, _| {
            b.iter(|| {
                for _ in 0..10 {
                    broker
                        .publish("t", payload.clone(), &Access::default())
                        .now_or_never()
                        .expect("the memory store answers at once")
                        .unwrap();
                }
                drain(&mut subs, true)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
