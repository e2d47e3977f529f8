//! Framing micro-benchmarks: encoding a message once per framing (what the
//! server does per message) and decoding (what clients do per delivery).
//! Run with `cargo bench -p drift-core --bench framing`.

use std::hint::black_box;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use drift_core::message::now_us;
use drift_core::protocol::FrameDecoder;
use drift_core::protocol::frames::Frame;
use drift_core::protocol::sse::{self, SseDecoder};
use drift_core::{Message, MessageId};

/// A message as a store hands it to the broker.
fn message(payload: Bytes) -> Arc<Message> {
    Arc::new(Message::new(
        MessageId { epoch: 1, seq: 1 },
        now_us(),
        payload,
    ))
}

fn encode(c: &mut Criterion) {
    for size in [64usize, 1024] {
        let msg = message(Bytes::from(vec![b'x'; size]));
        let mut g = c.benchmark_group(format!("encode/{size}B"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("sse", |b| {
            b.iter(|| sse::encode_message(black_box(msg.epoch), &msg))
        });
        g.bench_function("frames", |b| {
            b.iter(|| Frame::message(msg.seq, msg.time_us, msg.payload.clone()).encode())
        });
        // What a subscriber costs per message once the encoding is cached.
        g.bench_function("sse_cached", |b| b.iter(|| msg.sse_encoded()));
        g.bench_function("frames_cached", |b| b.iter(|| msg.frame_encoded()));
        g.finish();
    }
}

fn decode(c: &mut Criterion) {
    for size in [64usize, 1024] {
        let msg = message(Bytes::from(vec![b'x'; size]));
        // 100 messages back to back, as a busy stream delivers them.
        let mut frames = BytesMut::new();
        let mut events = Vec::new();
        for _ in 0..100 {
            frames.extend_from_slice(&msg.frame_encoded());
            events.extend_from_slice(&msg.sse_encoded());
        }
        let mut g = c.benchmark_group(format!("decode100/{size}B"));
        g.throughput(Throughput::Elements(100));
        g.bench_function("frames", |b| {
            b.iter(|| {
                let mut d = FrameDecoder::new(1 << 20);
                d.extend(&frames);
                let mut n = 0;
                while let Some(f) = d.next_frame().unwrap() {
                    n += f.payload.len();
                }
                n
            })
        });
        g.bench_function("sse", |b| {
            b.iter(|| SseDecoder::new().feed(black_box(&events)).len())
        });
        g.finish();
    }
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);
