//! Response bodies: fixed ones, and the endless body of a subscription that
//! encodes each event in the framing the subscriber chose.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, MissedTickBehavior};

use super::wake_relay::BodyWaker;
use crate::broker::Subscription;
use crate::lock::lock;
use crate::model::{Event, now_us};
use crate::protocol::{Framing, frames, headers, sse};

/// Largest DATA chunk a busy SSE or Drift-frames subscription is given at
/// once: one HTTP/2 frame at the default `SETTINGS_MAX_FRAME_SIZE`.
const BATCH_BYTES: usize = 16 * 1024;

/// The body type of every Drift response.
#[derive(Debug)]
pub struct DriftBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    /// The body, and the waker it registers with what it waits on.
    Subscription(Box<SubscriptionBody>, BodyWaker),
}

impl DriftBody {
    pub(crate) fn empty() -> DriftBody {
        DriftBody {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn full(bytes: Bytes) -> DriftBody {
        DriftBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    pub(crate) fn subscription(
        sub: Subscription,
        framing: Framing,
        heartbeats: &Heartbeats,
    ) -> DriftBody {
        let heartbeat = if framing == Framing::Raw {
            None
        } else {
            heartbeats.join()
        };
        DriftBody {
            kind: Kind::Subscription(
                Box::new(SubscriptionBody {
                    sub,
                    framing,
                    heartbeat,
                    sent_since_tick: false,
                    held: None,
                    state: State::Streaming,
                }),
                BodyWaker::new(),
            ),
        }
    }
}

impl Body for DriftBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Subscription(s, waker) => {
                waker.with(cx, |cx| s.poll_frame(cx).map(|f| f.map(Ok)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Subscription(s, _) => matches!(s.state, State::Done) && s.held.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Subscription(..) => SizeHint::default(),
        }
    }
}

/// Streams one subscription's events to the peer. One `Bytes` per message
/// and framing is shared by every subscriber (see `Message::sse_encoded`).
#[derive(Debug)]
struct SubscriptionBody {
    sub: Subscription,
    framing: Framing,
    heartbeat: Option<HeartbeatSlot>,
    /// Something was written since the last heartbeat tick, so the stream is
    /// not idle and needs no heartbeat.
    sent_since_tick: bool,
    /// An encoded event that did not fit in the last batch.
    held: Option<Bytes>,
    state: State,
}

#[derive(Debug)]
enum State {
    Streaming,
    /// The end was reached; raw framing still owes its trailers.
    Trailers(Box<HeaderMap>),
    Done,
}

impl SubscriptionBody {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        loop {
            // Left over from the last batch (possibly the end event).
            if let Some(held) = self.held.take() {
                return Poll::Ready(Some(Frame::data(self.coalesce(held, cx))));
            }
            match std::mem::replace(&mut self.state, State::Streaming) {
                State::Streaming => {}
                State::Trailers(trailers) => {
                    self.state = State::Done;
                    return Poll::Ready(Some(Frame::trailers(*trailers)));
                }
                State::Done => {
                    self.state = State::Done;
                    return Poll::Ready(None);
                }
            }
            match Pin::new(&mut self.sub).poll_next(cx) {
                Poll::Ready(Some(event)) => {
                    if let Some(bytes) = self.encode(event) {
                        self.sent_since_tick = true;
                        return Poll::Ready(Some(Frame::data(self.coalesce(bytes, cx))));
                    }
                    // Nothing to write for this event in this framing.
                }
                Poll::Ready(None) => {
                    if matches!(self.state, State::Streaming) {
                        self.state = State::Done;
                    }
                }
                Poll::Pending => return self.poll_heartbeat(cx),
            }
        }
    }

    /// Appends the events that are already waiting to `first`, so a busy
    /// subscriber gets one DATA chunk of up to [`BATCH_BYTES`] instead of one
    /// per message: HTTP/2's per-frame work (stream queues, flow control,
    /// frame headers, TLS records) is paid once per batch. A lone event is
    /// passed on as is, without a copy. Raw framing keeps one message per
    /// DATA frame (its message boundaries are the frames).
    fn coalesce(&mut self, first: Bytes, cx: &mut Context<'_>) -> Bytes {
        if self.framing == Framing::Raw {
            return first;
        }
        let mut batch: Option<BytesMut> = None;
        while matches!(self.state, State::Streaming) {
            let len = batch.as_ref().map_or(first.len(), BytesMut::len);
            if len >= BATCH_BYTES {
                break;
            }
            let next = match Pin::new(&mut self.sub).poll_next(cx) {
                Poll::Ready(Some(event)) => match self.encode(event) {
                    Some(next) => next,
                    None => continue,
                },
                Poll::Ready(None) => {
                    self.state = State::Done;
                    break;
                }
                // The subscription registered the waker: nothing is lost.
                Poll::Pending => break,
            };
            if len + next.len() > BATCH_BYTES {
                // Sent first on the next poll.
                self.held = Some(next);
                break;
            }
            let buf = batch.get_or_insert_with(|| {
                let mut buf = BytesMut::with_capacity((4 * (len + next.len())).min(BATCH_BYTES));
                buf.extend_from_slice(&first);
                buf
            });
            buf.extend_from_slice(&next);
        }
        match batch {
            Some(buf) => buf.freeze(),
            None => first,
        }
    }

    /// The bytes for `event`, or `None` when this framing writes nothing.
    fn encode(&mut self, event: Event) -> Option<Bytes> {
        let epoch = self.sub.epoch();
        match (event, self.framing) {
            // An empty raw write makes no DATA frame; skip it (original Drift).
            (Event::Message(m), Framing::Raw) => (!m.payload.is_empty()).then(|| m.payload.clone()),
            (Event::Message(m), Framing::Sse) => Some(m.sse_encoded(epoch)),
            (Event::Message(m), Framing::Frames) => Some(m.frame_encoded()),
            // Raw framing reports gaps in the response header only.
            (Event::Gap(_), Framing::Raw) => None,
            (Event::Gap(g), Framing::Sse) => Some(sse::encode_gap(&g)),
            (Event::Gap(g), Framing::Frames) => Some(frames::Frame::gap(&g, now_us()).encode()),
            (Event::End(reason), framing) => {
                let last = self.sub.last_delivered();
                match framing {
                    Framing::Raw => {
                        // Raw has no in-band end; HTTP/2 peers see a trailer.
                        let mut trailers = HeaderMap::new();
                        if let Ok(v) = HeaderValue::from_str(reason.as_str()) {
                            trailers.insert(headers::END_REASON, v);
                        }
                        self.state = State::Trailers(Box::new(trailers));
                        None
                    }
                    Framing::Sse => {
                        self.state = State::Done;
                        Some(sse::encode_end(&reason))
                    }
                    Framing::Frames => {
                        self.state = State::Done;
                        Some(frames::Frame::end(&reason, last, now_us()).encode())
                    }
                }
            }
        }
    }

    fn poll_heartbeat(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        let Some(slot) = &mut self.heartbeat else {
            return Poll::Pending;
        };
        if slot.tick(cx) {
            if std::mem::take(&mut self.sent_since_tick) {
                return Poll::Pending;
            }
            let bytes = match self.framing {
                Framing::Sse => Bytes::from_static(sse::HEARTBEAT),
                _ => frames::Frame::heartbeat(self.sub.last_delivered(), now_us()).encode(),
            };
            return Poll::Ready(Some(Frame::data(bytes)));
        }
        Poll::Pending
    }
}

/// The heartbeat clock of one service: a single timer task ticks every
/// period and wakes the idle subscriptions registered with it, instead of a
/// timer per subscription (which costs each of them a boxed `Sleep` and a
/// timer-wheel entry). A subscription that wrote nothing during a whole
/// period sends a heartbeat at the next tick.
///
/// A subscription registers its waker for the next tick only (once per
/// tick), and a tick swaps the whole list out under the lock and wakes it
/// after letting go: subscribing and unsubscribing never wait behind the
/// wake-ups of every idle subscription (with 100,000 of them the lock was
/// held ~40 ms per tick; see BENCHMARKS.md).
#[derive(Debug, Clone)]
pub(crate) struct Heartbeats {
    period: Option<Duration>,
    hub: Arc<Hub>,
}

#[derive(Debug, Default)]
struct Hub {
    /// Ticks so far.
    ticks: AtomicU64,
    /// A ticker task is running (it clears this when it is dropped, e.g.
    /// with its runtime, so the next subscription starts another).
    ticking: AtomicBool,
    /// The wakers to wake at the next tick; `ticks` changes under this lock
    /// only, together with taking the list.
    wakers: Mutex<Vec<Waker>>,
    /// The list woken at the last tick, emptied, kept for its capacity.
    spare: Mutex<Vec<Waker>>,
}

impl Heartbeats {
    pub(crate) fn new(period: Option<Duration>) -> Heartbeats {
        Heartbeats {
            period: period.filter(|p| !p.is_zero()),
            hub: Arc::new(Hub::default()),
        }
    }

    /// A slot for one subscription; `None` when heartbeats are off.
    fn join(&self) -> Option<HeartbeatSlot> {
        let period = self.period?;
        self.hub.ensure_ticker(period);
        let seen = self.hub.ticks.load(Ordering::Acquire);
        Some(HeartbeatSlot {
            hub: self.hub.clone(),
            seen,
            registered: None,
        })
    }
}

impl Hub {
    fn ensure_ticker(self: &Arc<Hub>, period: Duration) {
        if self.ticking.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.ticking.store(false, Ordering::Release);
            return;
        };
        let hub = Arc::downgrade(self);
        runtime.spawn(async move {
            struct Ticking(Weak<Hub>);
            impl Drop for Ticking {
                fn drop(&mut self) {
                    if let Some(hub) = self.0.upgrade() {
                        hub.ticking.store(false, Ordering::Release);
                    }
                }
            }
            let _ticking = Ticking(hub.clone());
            let mut interval = tokio::time::interval_at(Instant::now() + period, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let Some(hub) = hub.upgrade() else { break };
                hub.tick();
            }
        });
    }

    /// One tick: wakes every subscription registered, outside the lock.
    fn tick(&self) {
        let mut woken = lock(&self.spare);
        {
            let mut wakers = lock(&self.wakers);
            self.ticks.fetch_add(1, Ordering::AcqRel);
            std::mem::swap(&mut *wakers, &mut *woken);
        }
        for waker in woken.drain(..) {
            waker.wake();
        }
    }
}

/// One subscription's place on the heartbeat clock. A slot dropped leaves
/// its waker in the list until the next tick, which wakes it for nothing.
#[derive(Debug)]
struct HeartbeatSlot {
    hub: Arc<Hub>,
    /// The last tick this subscription has seen.
    seen: u64,
    /// The tick count when the waker was last put on the list, and that
    /// waker: registered for the tick after that count.
    registered: Option<(u64, Waker)>,
}

impl HeartbeatSlot {
    /// Registers the task to be woken by the next tick; true when a tick
    /// passed since the last call.
    fn tick(&mut self, cx: &mut Context<'_>) -> bool {
        let mut ticks = self.hub.ticks.load(Ordering::Acquire);
        let listed = self
            .registered
            .as_ref()
            .is_some_and(|(at, w)| *at == ticks && w.will_wake(cx.waker()));
        if !listed {
            let waker = cx.waker().clone();
            let mut wakers = lock(&self.hub.wakers);
            // Read under the lock: the next tick takes this list.
            ticks = self.hub.ticks.load(Ordering::Acquire);
            wakers.push(waker.clone());
            drop(wakers);
            self.registered = Some((ticks, waker));
        }
        if ticks == self.seen {
            return false;
        }
        self.seen = ticks;
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;
    use std::time::Instant;

    use super::*;

    /// Records whether the heartbeat registry was free when it was woken.
    struct Probe {
        hub: Arc<Hub>,
        woken: AtomicUsize,
        registry_free: AtomicBool,
    }

    impl Wake for Probe {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            let free = self.hub.wakers.try_lock().is_ok();
            self.registry_free.store(free, Ordering::SeqCst);
            self.woken.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn hub_of(heartbeats: &Heartbeats) -> Arc<Hub> {
        heartbeats.hub.clone()
    }

    #[test]
    fn a_tick_wakes_idle_subscriptions_outside_the_registry_lock() {
        // No runtime: no ticker task; the test ticks by hand.
        let heartbeats = Heartbeats::new(Some(Duration::from_secs(1)));
        let hub = hub_of(&heartbeats);
        let probe = Arc::new(Probe {
            hub: hub.clone(),
            woken: AtomicUsize::new(0),
            registry_free: AtomicBool::new(false),
        });
        let waker = Waker::from(probe.clone());
        let mut cx = Context::from_waker(&waker);
        let mut slot = heartbeats.join().expect("heartbeats are on");
        assert!(!slot.tick(&mut cx), "no tick yet");
        hub.tick();
        assert_eq!(probe.woken.load(Ordering::SeqCst), 1);
        assert!(
            probe.registry_free.load(Ordering::SeqCst),
            "woken with the registry locked: subscribing waits for every wake-up"
        );
        assert!(slot.tick(&mut cx), "the tick is seen");
        assert!(!slot.tick(&mut cx), "and seen once");
        hub.tick();
        assert_eq!(probe.woken.load(Ordering::SeqCst), 2, "woken at every tick");
        assert!(slot.tick(&mut cx));
        // A slot dropped before a tick is not woken by it.
        drop(slot);
        let gone = probe.woken.load(Ordering::SeqCst);
        hub.tick();
        hub.tick();
        assert!(probe.woken.load(Ordering::SeqCst) <= gone + 1);
    }

    /// How long a tick takes, and how long a subscription joining or leaving
    /// the heartbeat clock meanwhile waits, with 100,000 idle subscriptions
    /// (each a task waiting on its slot, as a subscription body does).
    /// Figures in BENCHMARKS.md.
    #[test]
    #[ignore = "a measurement: cargo test --release -p drift-core --lib heartbeat_tick_with -- --ignored --nocapture"]
    fn heartbeat_tick_with_100k_idle_subscriptions() {
        const IDLE: usize = 100_000;
        const TICKS: usize = 10;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a runtime");
        // A period that never passes within the test: it ticks by hand.
        let heartbeats = Heartbeats::new(Some(Duration::from_secs(3600)));
        let hub = hub_of(&heartbeats);
        let registered = Arc::new(AtomicUsize::new(0));
        let woken = Arc::new(AtomicUsize::new(0));
        let _guard = rt.enter();
        for _ in 0..IDLE {
            let mut slot = heartbeats.join().expect("heartbeats are on");
            let (registered, woken) = (registered.clone(), woken.clone());
            rt.spawn(async move {
                let mut first = true;
                loop {
                    std::future::poll_fn(|cx| {
                        let ticked = slot.tick(cx);
                        if std::mem::take(&mut first) {
                            registered.fetch_add(1, Ordering::SeqCst);
                        }
                        if ticked {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                    woken.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        while registered.load(Ordering::SeqCst) < IDLE {
            std::thread::yield_now();
        }
        // Meanwhile another thread subscribes and unsubscribes in a loop.
        let stop = Arc::new(AtomicBool::new(false));
        let joiner = {
            let (heartbeats, stop) = (heartbeats.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                let mut joins = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let t = Instant::now();
                    drop(heartbeats.join());
                    worst = worst.max(t.elapsed());
                    joins += 1;
                }
                (worst, joins)
            })
        };
        let mut ticks = Vec::new();
        let mut rounds = Vec::new();
        for k in 1..=TICKS {
            let t = Instant::now();
            hub.tick();
            ticks.push(t.elapsed());
            while woken.load(Ordering::SeqCst) < k * IDLE {
                std::thread::yield_now();
            }
            rounds.push(t.elapsed());
        }
        stop.store(true, Ordering::SeqCst);
        let (worst, joins) = joiner.join().expect("the joining thread");
        ticks.sort();
        rounds.sort();
        println!(
            "{IDLE} idle subscriptions, {TICKS} ticks: tick call median {:?} max {:?}; \
             all woken and polled median {:?} max {:?}; \
             join+leave meanwhile: {joins}, the slowest {worst:?}",
            ticks[TICKS / 2],
            ticks[TICKS - 1],
            rounds[TICKS / 2],
            rounds[TICKS - 1],
        );
        rt.shutdown_background();
    }
}
