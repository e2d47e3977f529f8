//! `GET /v1/t/{topic}`: a subscription, answered at once with its headers and
//! then streamed for as long as the topic lives and the peer listens.

use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};

use super::body::{DriftBody, StreamEnd};
use super::context::Context;
use super::engine::BodyWaker;
use super::response::{self, LaterResponse};
use crate::broker::{Access, Subscription};
use crate::error::Result;
use crate::model::HistoryRequest;
use crate::protocol::history::SubscribeParams;
use crate::protocol::{Framing, headers};

/// The answer to a subscribe: at once when the store answered at once (the
/// memory store always does, and then no future is kept for the stream), or
/// once the store has.
pub(crate) enum Subscribed {
    Now(Response<DriftBody>),
    Later(LaterResponse),
}

pub(crate) fn subscribe<B>(
    cx: &Context,
    req: &Request<B>,
    topic: &str,
    access: &Access<'_>,
) -> Subscribed {
    let h = req.headers();
    // A header that is not visible ASCII is as malformed as a bad number.
    let get = |name: &str| -> Result<Option<&str>, String> {
        h.get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| format!("malformed {name}: not visible ASCII"))
            })
            .transpose()
    };
    let parsed = (|| -> Result<_, String> {
        let params = SubscribeParams {
            history_length: get(headers::HISTORY_LENGTH)?,
            history_since: get(headers::HISTORY_SINCE)?,
            last_event_id: get(headers::LAST_EVENT_ID)?,
            on_slow: get(headers::ON_SLOW)?,
            query: req.uri().query(),
        };
        let (history, policy) = HistoryRequest::parse(params).map_err(|e| e.to_string())?;
        let format = query_value(req.uri().query(), "format");
        let framing = Framing::negotiate(get(header::ACCEPT.as_str())?, format.as_deref())
            .map_err(|e| e.to_string())?;
        Ok((history, policy, framing))
    })();
    let (history, policy, framing) = match parsed {
        Ok(p) => p,
        Err(reason) => {
            return Subscribed::Now(response::error(StatusCode::BAD_REQUEST, &reason));
        }
    };
    // Made now, while the connection is polled, even when the store answers
    // later: the body's wake-ups then go through the connection's relay.
    let waker = BodyWaker::new();
    let end = StreamEnd {
        framing,
        trailers: headers::accepts_trailers(h),
    };
    match cx.broker.subscribe(topic, history, policy, access).now() {
        Ok(outcome) => Subscribed::Now(respond(cx, outcome, end, waker)),
        Err(later) => {
            let cx = cx.clone();
            Subscribed::Later(Box::pin(
                async move { respond(&cx, later.await, end, waker) },
            ))
        }
    }
}

/// The response that starts a subscription's stream (or says why not).
fn respond(
    cx: &Context,
    outcome: Result<Subscription>,
    end: StreamEnd,
    waker: BodyWaker,
) -> Response<DriftBody> {
    let framing = end.framing;
    let sub = match outcome {
        Ok(s) => s,
        Err(e) => return response::from_error(&e),
    };

    let mut res = Response::new(DriftBody::empty());
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(framing.content_type().unwrap_or("application/octet-stream")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells buffering reverse proxies (nginx) to pass each message through.
    h.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    h.insert(
        HeaderName::from_static(headers::EPOCH),
        response::num(sub.epoch()),
    );
    h.insert(
        HeaderName::from_static(headers::LAST_SEQ),
        response::num(sub.start_last_seq()),
    );
    // As the original: only a topic that existed before says whether it keeps history.
    if !sub.created_topic() {
        h.insert(
            HeaderName::from_static(headers::HISTORY_ENABLED),
            response::history_enabled(sub.history_enabled()),
        );
    }
    if let Some(gap) = sub.initial_gap()
        && let Ok(v) = HeaderValue::from_str(&gap.to_string())
    {
        h.insert(HeaderName::from_static(headers::GAP), v);
    }
    *res.body_mut() = DriftBody::subscription(
        sub,
        end,
        &cx.heartbeats,
        waker,
        cx.broker.metrics().cloned(),
    );
    res
}

/// The (undecoded) value of `key` in a query string.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}
