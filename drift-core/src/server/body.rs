//! Response bodies: fixed ones, and the endless body of a subscription that
//! encodes each event in the framing the subscriber chose.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};

use tokio::sync::mpsc;

use super::engine::{BodyWaker, HeartbeatSlot, Heartbeats};
use super::streamed::Chunk;
use crate::broker::Subscription;
use crate::metrics::Metrics;
use crate::model::{Event, now_us};
use crate::protocol::{Framing, frames, headers, sse};

/// Largest DATA chunk a busy SSE or Drift-frames subscription is given at
/// once: one HTTP/2 frame at the default `SETTINGS_MAX_FRAME_SIZE`.
const BATCH_BYTES: usize = 16 * 1024;
/// Deliveries a busy subscription counts locally before it adds them to
/// the server's counters (it adds them anyway whenever it waits).
const COUNT_EVERY: u32 = 64;

/// How a subscription's stream is written and ended: its framing, and
/// whether the request accepts trailers (`TE: trailers`), which raw framing
/// uses to say why it ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamEnd {
    pub(crate) framing: Framing,
    pub(crate) trailers: bool,
}

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
    /// A long streamed publish's answer (see `streamed`).
    StreamedIds(Box<StreamedIds>),
}

/// The ids of a streamed publish as they are assigned, then its outcome.
#[derive(Debug)]
struct StreamedIds {
    rx: mpsc::Receiver<Chunk>,
    /// The request accepts trailers (`TE: trailers`).
    trailers: bool,
    /// Trailers still to send after the outcome's line.
    pending: Option<HeaderMap>,
}

impl StreamedIds {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        if let Some(t) = self.pending.take() {
            return Poll::Ready(Some(Frame::trailers(t)));
        }
        match std::task::ready!(self.rx.poll_recv(cx)) {
            Some(Chunk::Ids(ids)) => Poll::Ready(Some(Frame::data(ids))),
            Some(Chunk::End { count, error }) => {
                self.rx.close();
                let (line, trailers) = Chunk::end(count, error);
                let trailers = self.trailers.then_some(trailers);
                match (line, trailers) {
                    (Some(line), trailers) => {
                        self.pending = trailers;
                        Poll::Ready(Some(Frame::data(line)))
                    }
                    (None, Some(t)) => Poll::Ready(Some(Frame::trailers(t))),
                    (None, None) => Poll::Ready(None),
                }
            }
            None => Poll::Ready(None),
        }
    }
}

impl DriftBody {
    pub(crate) fn empty() -> DriftBody {
        DriftBody {
            kind: Kind::Full(None),
        }
    }

    /// The answer of a long streamed publish: what `rx` is sent.
    pub(crate) fn streamed_ids(rx: mpsc::Receiver<Chunk>, trailers: bool) -> DriftBody {
        DriftBody {
            kind: Kind::StreamedIds(Box::new(StreamedIds {
                rx,
                trailers,
                pending: None,
            })),
        }
    }

    pub(crate) fn full(bytes: Bytes) -> DriftBody {
        DriftBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The body of a subscription. `waker` must have been made while the
    /// stream's connection was polled (see [`BodyWaker::new`]).
    pub(crate) fn subscription(
        sub: Subscription,
        end: StreamEnd,
        heartbeats: &Heartbeats,
        waker: BodyWaker,
        metrics: Option<Arc<Metrics>>,
    ) -> DriftBody {
        let StreamEnd { framing, trailers } = end;
        if let Some(m) = &metrics {
            m.subscription_opened(framing);
        }
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
                    trailers,
                    heartbeat,
                    sent_since_tick: false,
                    held: None,
                    state: State::Streaming,
                    counts: metrics.map(|metrics| Counts {
                        metrics,
                        messages: 0,
                        bytes: 0,
                        waited: true,
                        ended: false,
                    }),
                }),
                waker,
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
            Kind::Subscription(s, waker) => waker.with(cx, |cx| {
                let polled = s.poll_frame(cx);
                if let Some(counts) = &mut s.counts {
                    counts.polled(s.framing, polled.is_pending());
                }
                polled.map(|f| f.map(Ok))
            }),
            Kind::StreamedIds(s) => s.poll_frame(cx).map(|f| f.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Subscription(s, _) => matches!(s.state, State::Done) && s.held.is_none(),
            Kind::StreamedIds(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Subscription(..) | Kind::StreamedIds(_) => SizeHint::default(),
        }
    }
}

/// Streams one subscription's events to the peer. One `Bytes` per message
/// and framing is shared by every subscriber (see `Message::sse_encoded`).
#[derive(Debug)]
struct SubscriptionBody {
    sub: Subscription,
    framing: Framing,
    /// The request accepts trailers (`TE: trailers`).
    trailers: bool,
    heartbeat: Option<HeartbeatSlot>,
    /// Something was written since the last heartbeat tick, so the stream is
    /// not idle and needs no heartbeat.
    sent_since_tick: bool,
    /// An encoded event that did not fit in the last batch.
    held: Option<Bytes>,
    state: State,
    /// What it has delivered and not yet added to the server's counters
    /// (`None` when the server does not count).
    counts: Option<Counts>,
}

/// A subscription's deliveries, counted here and added to the server's
/// counters once per wait or per [`COUNT_EVERY`] messages: a delivery costs
/// two additions to fields of the body, not atomic operations.
#[derive(Debug)]
struct Counts {
    metrics: Arc<Metrics>,
    messages: u32,
    bytes: u64,
    /// The body waited (returned `Pending`) since its last message: the
    /// next message starts a batch, whose lag is observed.
    waited: bool,
    /// Its end event was made (otherwise the client went away first).
    ended: bool,
}

impl Counts {
    fn message(&mut self, sub: &Subscription, seq: u64, len: usize) {
        if std::mem::take(&mut self.waited) {
            self.metrics.lag(sub.newest_seq().saturating_sub(seq));
        }
        self.messages += 1;
        self.bytes += len as u64;
    }

    /// After each poll of the body: adds what it delivered when it waits
    /// or has counted enough.
    fn polled(&mut self, framing: Framing, pending: bool) {
        if pending {
            self.waited = true;
        }
        if self.messages > 0 && (pending || self.messages >= COUNT_EVERY || self.ended) {
            self.flush(framing);
        }
    }

    fn flush(&mut self, framing: Framing) {
        self.metrics
            .delivered(framing, u64::from(self.messages), self.bytes);
        self.messages = 0;
        self.bytes = 0;
    }
}

impl Drop for SubscriptionBody {
    fn drop(&mut self) {
        let framing = self.framing;
        if let Some(counts) = &mut self.counts {
            counts.flush(framing);
            if !counts.ended {
                counts.metrics.ended_by_client();
            }
            counts.metrics.subscription_closed(framing);
        }
    }
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
        if let Some(counts) = &mut self.counts {
            match &event {
                Event::Message(m) => counts.message(&self.sub, m.seq, m.payload.len()),
                Event::Gap(g) => counts.metrics.gaps(g.reason, 1),
                Event::End(reason) => {
                    counts.ended = true;
                    counts.metrics.ended(reason);
                }
            }
        }
        match (event, self.framing) {
            // An empty raw write makes no DATA frame; skip it (original Drift).
            (Event::Message(m), Framing::Raw) => (!m.payload.is_empty()).then(|| m.payload.clone()),
            (Event::Message(m), Framing::Sse) => Some(m.sse_encoded()),
            (Event::Message(m), Framing::Frames) => Some(m.frame_encoded()),
            // Raw framing reports gaps in the response header only.
            (Event::Gap(_), Framing::Raw) => None,
            (Event::Gap(g), Framing::Sse) => Some(sse::encode_gap(&g)),
            (Event::Gap(g), Framing::Frames) => Some(frames::Frame::gap(&g, now_us()).encode()),
            (Event::End(reason), framing) => {
                let last = self.sub.last_delivered();
                match framing {
                    Framing::Raw if self.trailers => {
                        // Raw has no in-band end: the reason is a trailer.
                        let mut trailers = HeaderMap::new();
                        if let Ok(v) = HeaderValue::from_str(reason.as_str()) {
                            trailers.insert(headers::END_REASON, v);
                        }
                        self.state = State::Trailers(Box::new(trailers));
                        None
                    }
                    // A client that did not ask for trailers gets a plain
                    // END_STREAM (on an empty DATA frame over HTTP/2).
                    Framing::Raw => {
                        self.state = State::Done;
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
