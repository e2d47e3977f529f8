//! Topic routes other than subscribe: publish (`POST`), create (`PUT`),
//! delete (`DELETE`) and exists (`HEAD`).

use bytes::{Buf, Bytes};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;

use super::body::DriftBody;
use super::context::Context;
use super::engine::{BodyWaker, batched, relayed};
use super::{response, streamed};
use crate::broker::{Access, Created, Published, TopicConfigRequest};
use crate::error::{Error, ErrorKind};
use crate::protocol::{FRAMES_MEDIA_TYPE, headers};

/// The largest `PUT` body (a topic configuration, a few fields of JSON).
const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// `HEAD /v1/t/{topic}`: 200 with the topic's state, or 404. Never creates.
pub(crate) async fn inspect(cx: &Context, topic: &str, access: &Access<'_>) -> Response<DriftBody> {
    match cx.broker.inspect(topic, access).await {
        Ok(Some(info)) => {
            let mut res = response::empty(StatusCode::OK);
            let h = res.headers_mut();
            h.insert(
                HeaderName::from_static(headers::EPOCH),
                response::num(info.epoch),
            );
            h.insert(
                HeaderName::from_static(headers::LAST_SEQ),
                response::num(info.last_seq),
            );
            h.insert(
                HeaderName::from_static(headers::HISTORY_ENABLED),
                response::history_enabled(info.config.history),
            );
            res
        }
        Ok(None) => response::empty(StatusCode::NOT_FOUND),
        Err(e) => response::from_error(&e),
    }
}

/// `PUT /v1/t/{topic}`: 201 when created, 200 when it exists with the same
/// configuration, 409 when it exists with another.
pub(crate) async fn create<B>(
    cx: &Context,
    req: Request<B>,
    topic: &str,
    access: &Access<'_>,
) -> Response<DriftBody>
where
    B: Body + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    // A topic config is tiny; refuse anything that is not, by its declared
    // length before reading (before `100 Continue` over HTTP/1.1).
    let config_too_large = || {
        Error::new(
            ErrorKind::TooLarge,
            format!("a topic configuration is at most {MAX_CONFIG_BYTES} bytes"),
        )
    };
    if declared_length(&req).is_some_and(|len| len > MAX_CONFIG_BYTES as u64) {
        return response::from_error(&config_too_large());
    }
    let body = match read_body(req.into_body(), MAX_CONFIG_BYTES).await {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::TooLarge => {
            return response::from_error(&config_too_large());
        }
        Err(e) => return response::from_error(&e),
    };
    let config = match TopicConfigRequest::from_json(&body) {
        Ok(c) => c,
        Err(e) => return response::from_error(&e),
    };
    match cx.broker.create(topic, &config, access).await {
        Ok(Created::New(epoch)) => with_epoch(StatusCode::CREATED, epoch),
        Ok(Created::Existing(epoch)) => with_epoch(StatusCode::OK, epoch),
        Err(e) => response::from_error(&e),
    }
}

/// `DELETE /v1/t/{topic}`: 200, or 404 when there is no such topic.
pub(crate) async fn delete(cx: &Context, topic: &str, access: &Access<'_>) -> Response<DriftBody> {
    match cx.broker.delete(topic, access).await {
        Ok(()) => response::empty(StatusCode::OK),
        Err(e) => response::from_error(&e),
    }
}

/// `POST /v1/t/{topic}`: the body is one message, or with the Drift frames
/// content type, a stream of message frames published one by one.
pub(crate) async fn publish<B>(
    cx: &Context,
    req: Request<B>,
    topic: &str,
    access: &Access<'_>,
    waker: &BodyWaker,
) -> Response<DriftBody>
where
    B: Body + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let max = cx.broker.config().max_message_bytes;
    let streamed = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FRAMES_MEDIA_TYPE));
    if streamed {
        let trailers = headers::accepts_trailers(req.headers());
        return streamed::publish_stream(cx, req.into_body(), topic, access, max, trailers, waker)
            .await;
    }
    if declared_length(&req).is_some_and(|len| len > max as u64) {
        return response::from_error(&too_large(max));
    }
    let payload = match read_body(req.into_body(), max).await {
        Ok(b) => b,
        Err(e) => return response::from_error(&e),
    };
    match relayed(waker, batched(cx.broker.publish(topic, payload, access))).await {
        Ok(p) => published(&p),
        Err(e) => response::from_error(&e),
    }
}

fn published(p: &Published) -> Response<DriftBody> {
    // Always 200, as the original; `Drift-Seq: 1` tells a caller it started the topic.
    let mut res = response::empty(StatusCode::OK);
    let h = res.headers_mut();
    h.insert(
        HeaderName::from_static(headers::EPOCH),
        response::num(p.id.epoch),
    );
    h.insert(
        HeaderName::from_static(headers::SEQ),
        once(response::num(p.id.seq)),
    );
    h.insert(
        HeaderName::from_static(headers::TIME),
        once(response::num(p.time_us)),
    );
    if let Ok(v) = HeaderValue::from_str(&p.id.to_string()) {
        h.insert(HeaderName::from_static(headers::ID), once(v));
    }
    res
}

/// Marks a header value that is sent once and never again (a seq, an id, a
/// time) as not to be indexed by HPACK: adding each to the HTTP/2 header
/// table would only evict useful entries and make every later lookup walk a
/// long chain of dead values (profiled: ~8% of a publish under h2load).
fn once(mut v: HeaderValue) -> HeaderValue {
    v.set_sensitive(true);
    v
}

fn with_epoch(status: StatusCode, epoch: u64) -> Response<DriftBody> {
    let mut res = response::empty(status);
    res.headers_mut().insert(
        HeaderName::from_static(headers::EPOCH),
        response::num(epoch),
    );
    res
}

/// The request's `Content-Length`, checked before reading (over HTTP/1.1,
/// reading is what sends `100 Continue`).
fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

fn too_large(max: usize) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!("message exceeds the limit of {max} bytes"),
    )
}

/// Reads a whole body of at most `max` bytes into an allocation of its own.
///
/// A body that came in one piece is still copied once: it is a slice of the
/// connection's read buffer, and a message kept in history (or in a live
/// ring) would keep that whole buffer alive — 8 KiB or more for a message of
/// a few bytes, none of it counted by the bounds. Measured: 20,000 topics
/// with one 1 KiB message each held 6.2 KB per topic before, 2.0 KB after
/// (BENCHMARKS.md). Once copied, the payload is one `Bytes` that history
/// and every subscriber share.
async fn read_body<B>(mut body: B, max: usize) -> Result<Bytes, Error>
where
    B: Body + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Error::invalid(format!("reading the request body failed: {e}")))?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        len += data.remaining();
        if len > max {
            return Err(too_large(max));
        }
        chunks.push(data.copy_to_bytes(data.remaining()));
    }
    Ok(match chunks.as_slice() {
        [] => Bytes::new(),
        [one] => Bytes::copy_from_slice(one),
        many => Bytes::from(many.concat()),
    })
}
