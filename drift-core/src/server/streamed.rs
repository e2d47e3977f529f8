//! `POST` with `Content-Type: application/vnd.drift.frames`: a streamed
//! publish, any number of messages in one request, each published as soon
//! as its frame is complete (the messages of one read are one batch: one
//! append, one commit of a durable store, one round of wake-ups).
//!
//! The answer lists every id, each with its publish time. A short stream is answered when it ends, as
//! any publish (status, `Drift-Count`, `Drift-Epoch`, the ids). A long one
//! would hold every line until then (about 41 bytes a message: a day at
//! 1000 messages/s is 2 GB), so once its ids pass [`BUFFERED_IDS`] the
//! answer starts — `200`, the ids so far — and each batch's ids follow as
//! they are assigned, through a bounded channel: memory stays flat however
//! long the stream lasts. Such an answer ends with its outcome: nothing more
//! when every message was published, else a last line `error: STATUS
//! REASON`; and with trailers `drift-count` (and `drift-error`) for a
//! request that accepts them (`TE: trailers`).

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use super::body::DriftBody;
use super::context::Context;
use super::engine::{BodyWaker, batched, relayed};
use super::response;
use crate::broker::{Access, Published, Publisher};
use crate::error::Error;
use crate::protocol::{FrameDecoder, FrameKind, headers};

/// Id text a streamed publish collects before its answer starts streaming.
pub(crate) const BUFFERED_IDS: usize = 64 * 1024;

/// Chunks of id text in flight to a streaming answer.
const IN_FLIGHT: usize = 4;

/// What a streaming answer is sent.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Id lines.
    Ids(Bytes),
    /// The outcome, once the request body has ended or failed.
    End {
        count: u64,
        error: Option<(StatusCode, String)>,
    },
}

impl Chunk {
    /// The bytes and trailers that end a streaming answer.
    pub(crate) fn end(
        count: u64,
        error: Option<(StatusCode, String)>,
    ) -> (Option<Bytes>, HeaderMap) {
        let mut trailers = HeaderMap::new();
        trailers.insert(
            HeaderName::from_static(headers::COUNT),
            response::num(count),
        );
        let line = error.map(|(status, reason)| {
            let reason = reason.replace(['\r', '\n'], " ");
            let text = format!("{} {reason}", status.as_u16());
            if let Ok(v) = HeaderValue::from_str(&text) {
                trailers.insert(HeaderName::from_static(headers::ERROR), v);
            }
            Bytes::from(format!("error: {text}\n"))
        });
        (line, trailers)
    }
}

/// The request body, decoded into messages as it arrives.
struct Frames<B> {
    body: B,
    decoder: FrameDecoder,
}

/// One read's complete messages, and what ended the stream after them.
struct Read {
    payloads: Vec<Bytes>,
    end: Option<Result<(), Error>>,
}

impl<B> Frames<B>
where
    B: Body + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    /// Reads until a message is complete or the stream ends. A bad frame
    /// ends the stream after the good ones before it.
    async fn read(&mut self) -> Read {
        let mut payloads = Vec::new();
        loop {
            loop {
                match self.decoder.next_frame() {
                    Ok(Some(frame)) if frame.kind == FrameKind::Message => {
                        payloads.push(frame.payload);
                    }
                    Ok(Some(_)) => {
                        let e =
                            Error::invalid("a streamed publish may contain only message frames");
                        return Read {
                            payloads,
                            end: Some(Err(e)),
                        };
                    }
                    Ok(None) => break,
                    Err(e) => {
                        return Read {
                            payloads,
                            end: Some(Err(e)),
                        };
                    }
                }
            }
            if !payloads.is_empty() {
                return Read {
                    payloads,
                    end: None,
                };
            }
            let end = match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.decoder.extend(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                    }
                    continue;
                }
                Some(Err(e)) => Err(Error::invalid(format!(
                    "reading the request body failed: {e}"
                ))),
                None if self.decoder.buffered() > 0 => {
                    Err(Error::invalid("the request body ends inside a frame"))
                }
                None => Ok(()),
            };
            return Read {
                payloads,
                end: Some(end),
            };
        }
    }
}

/// What has been published so far.
#[derive(Default)]
struct Tally {
    count: u64,
    epoch: Option<u64>,
}

impl Tally {
    /// Notes a published batch of `n`; appends a line per message to
    /// `ids`: its id and the batch's publish time (`EPOCH-SEQ TIME_US`).
    fn add(&mut self, first: &Published, n: usize, ids: &mut String) {
        use std::fmt::Write;
        for id in first.batch_ids(n) {
            // Writing to a String cannot fail.
            let _ = writeln!(ids, "{id} {}", first.time_us);
        }
        self.count += n as u64;
        self.epoch = Some(first.id.epoch);
    }
}

/// Publishes every message of `body`, and answers (see the module).
pub(crate) async fn publish_stream<B>(
    cx: &Context,
    body: B,
    topic: &str,
    access: &Access<'_>,
    max: usize,
    trailers: bool,
    waker: &BodyWaker,
) -> Response<DriftBody>
where
    B: Body + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let mut frames = Frames {
        body,
        decoder: FrameDecoder::new(max),
    };
    let mut tally = Tally::default();
    let mut ids = String::new();
    // Made at the first message, so that a body without messages is answered as before.
    let mut publisher: Option<Publisher> = None;
    let outcome = loop {
        let read = frames.read().await;
        if !read.payloads.is_empty() {
            let p = match &mut publisher {
                Some(p) => p,
                None => match cx.broker.publisher(topic, access) {
                    Ok(p) => publisher.insert(p),
                    Err(e) => break Err(e),
                },
            };
            match relayed(waker, batched(p.publish_batch(&read.payloads))).await {
                Ok(first) => tally.add(&first, read.payloads.len(), &mut ids),
                Err(e) => break Err(e),
            }
        }
        if let Some(end) = read.end {
            break end;
        }
        if ids.len() > BUFFERED_IDS
            && let Some(p) = publisher.take()
        {
            return stream_the_rest(frames, p, tally, ids, trailers);
        }
    };
    // Messages published before an error stay published; the count says how many.
    let mut res = match outcome {
        Ok(()) => response::text(StatusCode::OK, ids, "text/plain; charset=utf-8"),
        Err(e) => response::from_error(&e),
    };
    res.headers_mut().insert(
        HeaderName::from_static(headers::COUNT),
        response::num(tally.count),
    );
    if let Some(epoch) = tally.epoch {
        res.headers_mut().insert(
            HeaderName::from_static(headers::EPOCH),
            response::num(epoch),
        );
    }
    res
}

/// Answers now with the ids so far, and goes on publishing in a task that
/// streams the next ids as they are assigned.
fn stream_the_rest<B>(
    mut frames: Frames<B>,
    mut publisher: Publisher,
    mut tally: Tally,
    ids: String,
    trailers: bool,
) -> Response<DriftBody>
where
    B: Body + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let epoch = tally.epoch;
    tokio::spawn(async move {
        // A client that stopped reading the answer holds the publish back;
        // one that went away ends it.
        if tx.send(Chunk::Ids(Bytes::from(ids))).await.is_err() {
            return;
        }
        let outcome = loop {
            let read = frames.read().await;
            if !read.payloads.is_empty() {
                let mut ids = String::new();
                match batched(publisher.publish_batch(&read.payloads)).await {
                    Ok(first) => tally.add(&first, read.payloads.len(), &mut ids),
                    Err(e) => break Err(e),
                }
                if tx.send(Chunk::Ids(Bytes::from(ids))).await.is_err() {
                    return;
                }
            }
            if let Some(end) = read.end {
                break end;
            }
        };
        let error = outcome
            .err()
            .map(|e| (response::status_of(&e), e.to_string()));
        let _ = tx
            .send(Chunk::End {
                count: tally.count,
                error,
            })
            .await;
    });
    let mut res = Response::new(DriftBody::streamed_ids(rx, trailers));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(epoch) = epoch {
        res.headers_mut().insert(
            HeaderName::from_static(headers::EPOCH),
            response::num(epoch),
        );
    }
    res
}
