//! Opening one subscription stream: the request, and what the response head
//! says about the stream that follows.

use std::sync::Arc;

use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, TE};
use http::{HeaderMap, Method};
use hyper::body::Incoming;

use super::Client;
use super::body::Chunks;
use super::request::{header_str, header_u64, topic_path};
use crate::error::{Error, Result};
use crate::model::{Gap, HistoryRequest, SlowPolicy};
use crate::protocol::{FRAMES_MEDIA_TYPE, headers};

/// A subscription response whose head has arrived.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) body: Incoming,
    /// Drift frames; otherwise raw, one message per DATA frame.
    pub(crate) frames: bool,
    /// The topic incarnation (`drift-epoch`), if the server said.
    pub(crate) epoch: Option<u64>,
    /// The topic's newest seq when the stream started (`drift-last-seq`).
    pub(crate) last_seq: Option<u64>,
    /// `x-history-enabled`, if sent.
    pub(crate) history_enabled: Option<bool>,
    /// `drift-gap`: the resume point could not be honoured in full. Frames
    /// carry the same gap in-band, so only raw streams use this.
    pub(crate) gap: Option<Gap>,
}

/// What to ask the server for when opening a stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenRequest {
    pub(crate) history: HistoryRequest,
    pub(crate) on_slow: SlowPolicy,
    /// Do not ask for Drift frames.
    pub(crate) raw: bool,
}

/// Sends the subscription request and waits for the response head (within
/// the client's request timeout). Non-2xx answers are errors.
pub(crate) async fn open(client: Client, topic: Arc<str>, req: OpenRequest) -> Result<Opened> {
    let mut request = client.request(Method::GET, &topic_path(&topic)?, Chunks::empty())?;
    let h = request.headers_mut();
    if req.raw {
        // The end reason of a raw stream comes only as a trailer.
        h.insert(TE, HeaderValue::from_static("trailers"));
    } else {
        h.insert(ACCEPT, HeaderValue::from_static(FRAMES_MEDIA_TYPE));
    }
    for (name, value) in req.history.to_headers() {
        let value = HeaderValue::from_str(&value)
            .map_err(|_| Error::invalid(format!("invalid value for {name}: {value:?}")))?;
        h.insert(HeaderName::from_static(name), value);
    }
    if req.on_slow == SlowPolicy::Drop {
        h.insert(
            headers::ON_SLOW,
            HeaderValue::from_static(SlowPolicy::Drop.as_str()),
        );
    }
    let resp = client.send(request).await?;
    let (parts, body) = resp.into_parts();
    let opened = Opened {
        body,
        frames: is_frames(&parts.headers),
        epoch: header_u64(&parts.headers, headers::EPOCH),
        last_seq: header_u64(&parts.headers, headers::LAST_SEQ),
        history_enabled: header_str(&parts.headers, headers::HISTORY_ENABLED)
            .map(|v| v.eq_ignore_ascii_case("true")),
        gap: header_str(&parts.headers, headers::GAP).and_then(|v| v.parse().ok()),
    };
    client.learn_server_kind(opened.epoch.is_some());
    Ok(opened)
}

fn is_frames(headers: &HeaderMap) -> bool {
    header_str(headers, CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FRAMES_MEDIA_TYPE))
}
