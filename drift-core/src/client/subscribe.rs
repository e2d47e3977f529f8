//! [`Subscription`]: a `Stream` that decodes the server's frames and
//! resumes by itself after a disconnect.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use http::HeaderMap;
use http_body::Body;
use hyper::body::Incoming;

use super::Client;
use super::event::{ReceivedMessage, SubscriptionEvent};
use super::interruption::Interruption;
use super::open::{OpenRequest, Opened, open};
use super::options::{SubscribeOptions, backoff_delay, retryable};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EndReason, Gap, GapReason, HistoryRequest, MessageId, now_us};
use crate::protocol::frames::{Frame, FrameDecoder, FrameKind};
use crate::protocol::headers;

/// Largest frame payload a subscription accepts (a message larger than this
/// ends the subscription with [`ErrorKind::TooLarge`]).
pub const MAX_FRAME_PAYLOAD: usize = 64 << 20;

/// A subscription to one topic: a [`Stream`] of [`SubscriptionEvent`]s.
///
/// The stream yields `Err` once for a failure it cannot get past (a `4xx`
/// answer on resume, a protocol violation, retries exhausted, or a broken
/// connection with resume off) and then ends. Dropping it (or
/// [`Subscription::close`]) resets its HTTP/2 stream at once.
///
/// Like every `Stream` it works only while polled: one that nobody reads
/// neither notices a broken connection nor reconnects until it is read
/// again, and then resumes after the last message it delivered (as far as
/// the server's history reaches; beyond that it reports a gap).
///
/// `Send` but not `Sync`: poll it from one task at a time.
pub struct Subscription {
    client: Client,
    topic: Arc<str>,
    options: SubscribeOptions,
    state: State,
    /// Events made by the client itself, delivered before reading on.
    queued: VecDeque<SubscriptionEvent>,
    /// The current stream's epoch and framing.
    epoch: Option<u64>,
    frames: bool,
    /// The current stream was requested with `after`, so the server itself
    /// reports an epoch change.
    sent_after: bool,
    /// Epoch and newest seq when the first stream started.
    start: Option<MessageId>,
    /// Where a resume continues from: the last message delivered, moved on
    /// past reported gaps.
    position: Option<MessageId>,
    last_id: Option<MessageId>,
    /// The last gap reported since the last message, to drop its repeat when
    /// a request is re-sent unchanged.
    last_gap: Option<Gap>,
    history_enabled: Option<bool>,
    /// Consecutive failed attempts to reopen.
    failures: u32,
    /// The current stream has sent something: a reopen succeeded for real,
    /// it did not merely get a response that ended at once.
    progressed: bool,
    /// Set from the end or break of a stream until the next one is open.
    interruption: Option<Interruption>,
}

enum State {
    Streaming {
        body: Incoming,
        /// `None` for a raw stream.
        decoder: Option<FrameDecoder>,
    },
    Opening(Pin<Box<dyn Future<Output = Result<Opened>> + Send>>),
    Waiting(Pin<Box<tokio::time::Sleep>>),
    Done,
}

/// What reading the current stream produced.
enum Step {
    Frame(Frame),
    Raw(Bytes),
    Trailers(HeaderMap),
    /// The stream broke or ended without saying why.
    Broken(Option<hyper::Error>),
    Fatal(Error),
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Streaming { .. } => "streaming",
            State::Opening(_) => "opening",
            State::Waiting(_) => "waiting to retry",
            State::Done => "done",
        };
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("state", &state)
            .field("epoch", &self.epoch)
            .field("last_id", &self.last_id)
            .finish()
    }
}

impl Client {
    /// Subscribes to `topic`. Returns once the server has answered, so a
    /// message published after this returns is delivered.
    ///
    /// # Errors
    ///
    /// The server's answer as an error (e.g. [`ErrorKind::InvalidInput`] for
    /// a malformed history request, [`ErrorKind::NotFound`] on a server that
    /// requires topics to be created), or a connection error. The first
    /// attempt is not retried.
    pub async fn subscribe(&self, topic: &str, options: SubscribeOptions) -> Result<Subscription> {
        let topic: Arc<str> = Arc::from(topic);
        let req = OpenRequest {
            history: options.history,
            on_slow: options.on_slow,
            raw: options.raw,
        };
        let opened = open(self.clone(), topic.clone(), req).await?;
        // Where a resume with nothing delivered and no history asked for
        // continues: after the newest message when the stream started.
        let start = opened.epoch.map(|epoch| MessageId {
            epoch,
            seq: opened.last_seq.unwrap_or(0),
        });
        let mut sub = Subscription {
            client: self.clone(),
            topic,
            options,
            state: State::Done,
            queued: VecDeque::new(),
            epoch: None,
            frames: true,
            sent_after: req.history.after.is_some(),
            start,
            position: None,
            last_id: None,
            last_gap: None,
            history_enabled: None,
            failures: 0,
            progressed: false,
            interruption: None,
        };
        sub.on_opened(opened, false);
        Ok(sub)
    }
}

impl Subscription {
    /// The next event; `None` once the subscription is over.
    pub async fn next_event(&mut self) -> Option<Result<SubscriptionEvent>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Ends the subscription now, resetting its HTTP/2 stream (the same as
    /// dropping it).
    pub fn close(self) {}

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The id of the last message delivered, `None` before the first (and
    /// always from a server without Drift framing).
    pub fn last_id(&self) -> Option<MessageId> {
        self.last_id
    }

    /// The epoch of the topic incarnation currently streamed, if the server
    /// said.
    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// Whether the topic keeps history, if the server said.
    pub fn history_enabled(&self) -> Option<bool> {
        self.history_enabled
    }

    /// Why the subscription is resuming, while it is: its stream ended
    /// (`shutdown`, `slow consumer`) or broke and no new one is open yet.
    /// `None` while streaming and once over. The state changes only while
    /// the subscription is read, so a reader that wants to tell its user
    /// looks after each poll that found nothing to deliver.
    pub fn interruption(&self) -> Option<&Interruption> {
        self.interruption.as_ref()
    }

    /// Takes in a newly opened stream. `resumed` when it replaces a broken one.
    fn on_opened(&mut self, opened: Opened, resumed: bool) {
        self.progressed = false;
        self.interruption = None;
        if resumed {
            if !opened.frames {
                // Without ids nothing tells what was missed while away.
                self.queued.push_back(SubscriptionEvent::Gap(unknown_gap()));
            } else if !self.sent_after
                && self.epoch.is_some()
                && opened.epoch.is_some()
                && opened.epoch != self.epoch
            {
                // Re-sent without a resume id (nothing was delivered yet),
                // so the server cannot know what this subscriber missed of
                // the old incarnation; say so rather than stay silent.
                self.queued.push_back(SubscriptionEvent::Gap(unknown_gap()));
            }
        }
        if !opened.frames
            && let Some(gap) = opened.gap
        {
            self.queued.push_back(SubscriptionEvent::Gap(gap));
        }
        self.frames = opened.frames;
        self.epoch = opened.epoch;
        self.history_enabled = opened.history_enabled.or(self.history_enabled);
        let decoder = opened.frames.then(|| FrameDecoder::new(MAX_FRAME_PAYLOAD));
        self.state = State::Streaming {
            body: opened.body,
            decoder,
        };
    }

    /// The history request that continues where this subscription is.
    fn resume_request(&self) -> HistoryRequest {
        if !self.frames {
            return HistoryRequest::default(); // no ids: live from now on
        }
        if let Some(after) = self.position {
            return HistoryRequest {
                after: Some(after),
                ..Default::default()
            };
        }
        if !self.options.history.is_empty() {
            // Nothing delivered yet: the original replay is still owed.
            return self.options.history;
        }
        // Nothing asked and nothing delivered: continue after what was the
        // newest message when the subscription started, so nothing
        // published since is lost.
        HistoryRequest {
            after: self.start,
            ..Default::default()
        }
    }

    /// Reopens after the stream ended: at once if it had carried something,
    /// else as after a failed attempt, so that a server that answers and
    /// hangs up straight away is not hammered.
    fn resume(&mut self, why: Error) -> Option<Result<SubscriptionEvent>> {
        if self.progressed {
            self.failures = 0;
            self.reopen();
            None
        } else {
            self.on_open_failed(why)
        }
    }

    /// Starts reopening the stream (at once; waits come after failures).
    fn reopen(&mut self) {
        let history = self.resume_request();
        self.sent_after = history.after.is_some();
        let req = OpenRequest {
            history,
            on_slow: self.options.on_slow,
            raw: self.options.raw,
        };
        tracing::debug!(topic = %self.topic, ?history, "resuming subscription");
        let fut = open(self.client.clone(), self.topic.clone(), req);
        self.state = State::Opening(Box::pin(fut));
    }

    /// The stream broke (`error`) or ended without an end frame.
    fn on_broken(&mut self, error: Option<hyper::Error>) -> Option<Result<SubscriptionEvent>> {
        let server = self.client.server();
        let topic = &self.topic;
        if self.options.resume {
            let why = match &error {
                Some(e) => format!("subscription to {topic:?} on {server} lost: {e}"),
                None => format!("subscription to {topic:?} on {server} ended at once"),
            };
            tracing::debug!("{why}");
            self.interruption = Some(Interruption::new(None));
            return self.resume(Error::new(ErrorKind::Connect, why));
        }
        self.state = State::Done;
        let err = match error {
            Some(e) => Error::new(
                ErrorKind::Connect,
                format!("subscription to {topic:?} on {server} lost"),
            )
            .with_source(e),
            None if !self.frames => return None, // raw streams just end
            None => Error::new(
                ErrorKind::Protocol,
                format!("subscription to {topic:?} on {server} ended without an end frame"),
            ),
        };
        Some(Err(err))
    }

    /// The server ended the stream for `reason`.
    fn on_end(&mut self, reason: EndReason) -> Option<Result<SubscriptionEvent>> {
        let resumable = matches!(
            reason,
            EndReason::Shutdown | EndReason::SlowConsumer | EndReason::Reset
        );
        if resumable && self.options.resume {
            tracing::debug!(topic = %self.topic, %reason, "subscription ended by the server");
            let why = format!(
                "the server ended the subscription to {:?}: {reason}",
                self.topic
            );
            self.interruption = Some(Interruption::new(Some(reason)));
            return self.resume(Error::new(ErrorKind::Unavailable, why));
        }
        self.state = State::Done;
        Some(Ok(SubscriptionEvent::End(reason)))
    }

    /// Reopening failed: wait and retry, or give up with `error`.
    fn on_open_failed(&mut self, error: Error) -> Option<Result<SubscriptionEvent>> {
        self.failures += 1;
        let limit = self.options.reconnect.max_attempts;
        if !retryable(&error) || limit.is_some_and(|max| self.failures >= max) {
            self.state = State::Done;
            self.interruption = None;
            return Some(Err(error));
        }
        let interruption = self
            .interruption
            .get_or_insert_with(|| Interruption::new(None));
        interruption.failed_attempts += 1;
        interruption.last_error = Some(error.to_string());
        let delay = backoff_delay(&self.options.reconnect, self.failures);
        tracing::debug!(topic = %self.topic, ?delay, "cannot resume yet: {error}");
        self.state = State::Waiting(Box::pin(tokio::time::sleep(delay)));
        None
    }

    fn on_frame(&mut self, frame: Frame) -> Option<Result<SubscriptionEvent>> {
        match frame.kind {
            FrameKind::Message => {
                let epoch = self.epoch.unwrap_or(0);
                if let Some(pos) = self.position
                    && pos.epoch == epoch
                    && frame.seq <= pos.seq
                {
                    return None; // already delivered (defensive: the server never repeats)
                }
                let id = self.epoch.map(|epoch| MessageId {
                    epoch,
                    seq: frame.seq,
                });
                if id.is_some() {
                    self.position = id;
                }
                self.last_id = id;
                self.last_gap = None;
                Some(Ok(SubscriptionEvent::Message(ReceivedMessage {
                    payload: frame.payload,
                    seq: frame.seq,
                    epoch,
                    time_us: frame.time_us,
                    id,
                })))
            }
            FrameKind::Gap => {
                let gap = match frame.as_gap() {
                    Ok(gap) => gap,
                    Err(e) => return Some(Err(self.fatal(e))),
                };
                if self.last_gap == Some(gap) {
                    return None; // the repeat of a gap already reported
                }
                self.last_gap = Some(gap);
                if gap.reason != GapReason::Epoch
                    && let Some(epoch) = self.epoch
                {
                    // Resume after the gap, not into it: it was reported.
                    let seq = self
                        .position
                        .filter(|p| p.epoch == epoch)
                        .map_or(0, |p| p.seq);
                    self.position = Some(MessageId {
                        epoch,
                        seq: seq.max(gap.to),
                    });
                }
                Some(Ok(SubscriptionEvent::Gap(gap)))
            }
            FrameKind::Heartbeat => None,
            FrameKind::End => match frame.as_end_reason() {
                Ok(reason) => self.on_end(reason),
                Err(e) => Some(Err(self.fatal(e))),
            },
        }
    }

    fn on_raw(&mut self, data: Bytes) -> Option<Result<SubscriptionEvent>> {
        // An empty DATA frame (often the one carrying END_STREAM) is no message.
        if data.is_empty() {
            return None;
        }
        Some(Ok(SubscriptionEvent::Message(ReceivedMessage {
            payload: data,
            seq: 0,
            epoch: 0,
            time_us: now_us(),
            id: None,
        })))
    }

    fn fatal(&mut self, error: Error) -> Error {
        self.state = State::Done;
        error
    }

    /// Reads the current stream until it yields something to act on.
    fn poll_stream(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        let State::Streaming { body, decoder } = &mut self.state else {
            return Poll::Ready(Step::Broken(None));
        };
        loop {
            // Whole frames already received come first, also when the
            // connection has since broken.
            if let Some(decoder) = decoder.as_mut() {
                match decoder.next_frame() {
                    Ok(Some(frame)) => return Poll::Ready(Step::Frame(frame)),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Step::Fatal(e)),
                }
            }
            let frame = match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Step::Broken(Some(e))),
                None => return Poll::Ready(Step::Broken(None)),
            };
            match frame.into_data() {
                Ok(data) => match decoder.as_mut() {
                    Some(decoder) => decoder.extend(&data),
                    None => return Poll::Ready(Step::Raw(data)),
                },
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return Poll::Ready(Step::Trailers(trailers));
                    }
                }
            }
        }
    }
}

impl Stream for Subscription {
    type Item = Result<SubscriptionEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(event) = this.queued.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            let item = match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.reopen();
                    None
                }
                State::Opening(fut) => match ready!(fut.as_mut().poll(cx)) {
                    Ok(opened) => {
                        this.on_opened(opened, true);
                        None
                    }
                    Err(e) => this.on_open_failed(e),
                },
                State::Streaming { .. } => match ready!(this.poll_stream(cx)) {
                    Step::Frame(frame) => {
                        // An end frame alone is no progress: a server that
                        // only ever says "shutdown" must not be hammered.
                        if frame.kind != FrameKind::End {
                            this.progressed = true;
                        }
                        this.on_frame(frame)
                    }
                    Step::Raw(data) => {
                        this.progressed = true;
                        this.on_raw(data)
                    }
                    Step::Trailers(trailers) => {
                        // Raw framing says why it ended in a trailer.
                        match trailers
                            .get(headers::END_REASON)
                            .and_then(|v| v.to_str().ok())
                        {
                            Some(reason) => this.on_end(EndReason::parse(reason)),
                            None => None,
                        }
                    }
                    Step::Broken(e) => this.on_broken(e),
                    Step::Fatal(e) => Some(Err(this.fatal(e))),
                },
            };
            if let Some(item) = item {
                return Poll::Ready(Some(item));
            }
        }
    }
}

/// A gap whose extent is unknown (reported as an epoch change: anything
/// after the last delivered message may be missing).
fn unknown_gap() -> Gap {
    Gap {
        from: 0,
        to: 0,
        reason: GapReason::Epoch,
    }
}
