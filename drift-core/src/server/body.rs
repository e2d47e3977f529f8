//! Response bodies: fixed ones, and the endless body of a subscription that
//! encodes each event in the framing the subscriber chose.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::broker::Subscription;
use crate::event::Event;
use crate::message::now_us;
use crate::protocol::{Framing, frames, headers, sse};

/// The body type of every Drift response.
#[derive(Debug)]
pub struct DriftBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Subscription(Box<SubscriptionBody>),
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
        heartbeat: Option<Duration>,
    ) -> DriftBody {
        let heartbeat = heartbeat.filter(|_| framing != Framing::Raw).map(|period| {
            let mut interval = tokio::time::interval_at(Instant::now() + period, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        DriftBody {
            kind: Kind::Subscription(Box::new(SubscriptionBody {
                sub,
                framing,
                heartbeat,
                sent_since_tick: false,
                state: State::Streaming,
            })),
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
            Kind::Subscription(s) => s.poll_frame(cx).map(|f| f.map(Ok)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Subscription(s) => matches!(s.state, State::Done),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Subscription(_) => SizeHint::default(),
        }
    }
}

/// Streams one subscription's events to the peer. One `Bytes` per message
/// and framing is shared by every subscriber (see `Message::sse_encoded`).
#[derive(Debug)]
struct SubscriptionBody {
    sub: Subscription,
    framing: Framing,
    heartbeat: Option<Interval>,
    /// Something was written since the last heartbeat tick, so the stream is
    /// not idle and needs no heartbeat.
    sent_since_tick: bool,
    state: State,
}

#[derive(Debug)]
enum State {
    Streaming,
    /// The end was reached; raw framing still owes its trailers.
    Trailers(HeaderMap),
    Done,
}

impl SubscriptionBody {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        loop {
            match std::mem::replace(&mut self.state, State::Streaming) {
                State::Streaming => {}
                State::Trailers(trailers) => {
                    self.state = State::Done;
                    return Poll::Ready(Some(Frame::trailers(trailers)));
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
                        return Poll::Ready(Some(Frame::data(bytes)));
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
                        self.state = State::Trailers(trailers);
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
        let Some(interval) = &mut self.heartbeat else {
            return Poll::Pending;
        };
        while interval.poll_tick(cx).is_ready() {
            if std::mem::take(&mut self.sent_since_tick) {
                continue;
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
