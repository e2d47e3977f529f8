//! A streaming response read frame by frame: raw chunks, Drift frames
//! (`application/vnd.drift.frames`) or SSE events.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use drift_core::protocol::sse::{SseDecoder, SseEvent};
use drift_core::protocol::{Frame, FrameDecoder};
use http::{HeaderMap, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::hyper_client::header_str;

/// A streaming response, read frame by frame.
pub struct Sub {
    /// Status code.
    pub status: StatusCode,
    /// Protocol version.
    pub version: Version,
    /// Response headers.
    pub headers: HeaderMap,
    body: Incoming,
    /// Trailers, once the stream has ended with some.
    pub trailers: Option<HeaderMap>,
    ended: bool,
    frames: FrameDecoder,
    sse: SseDecoder,
    sse_events: VecDeque<SseEvent>,
}

impl Sub {
    pub(super) fn new(res: Response<Incoming>) -> Sub {
        let (parts, body) = res.into_parts();
        Sub {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
            trailers: None,
            ended: false,
            frames: FrameDecoder::new(usize::MAX >> 1),
            sse: SseDecoder::new(),
            sse_events: VecDeque::new(),
        }
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_str(&self.headers, name)
    }

    /// A response header parsed as a number; panics when missing.
    pub fn num(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .parse()
            .expect("numeric header")
    }

    /// The next body data frame (over HTTP/2: one DATA frame), or `None`
    /// once the stream ended (END_STREAM; trailers are kept in `trailers`).
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.ended {
                return None;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Some(data),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                    }
                },
                Some(Err(e)) => panic!("subscription body failed: {e}"),
                None => self.ended = true,
            }
        }
    }

    /// Like [`Sub::next_chunk`] but returns the transport error instead of
    /// panicking.
    pub async fn try_next_chunk(&mut self) -> Result<Option<Bytes>, hyper::Error> {
        loop {
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Ok(Some(data)),
                    Err(frame) => {
                        if let Ok(t) = frame.into_trailers() {
                            self.trailers = Some(t);
                        }
                    }
                },
                Some(Err(e)) => return Err(e),
                None => self.ended = true,
            }
        }
    }

    /// Reads exactly `n` body bytes, across as many frames as they take.
    pub async fn read_bytes(&mut self, n: usize) -> Bytes {
        let mut buf = BytesMut::new();
        while buf.len() < n {
            let chunk = self
                .next_chunk()
                .await
                .unwrap_or_else(|| panic!("stream ended after {} of {n} bytes", buf.len()));
            buf.extend_from_slice(&chunk);
        }
        assert_eq!(buf.len(), n, "read past the expected bytes");
        buf.freeze()
    }

    /// The next Drift frame (`application/vnd.drift.frames`), or `None` at
    /// the end of the stream (which must not fall inside a frame).
    pub async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.frames.next_frame().expect("well-formed Drift frames") {
                return Some(f);
            }
            match self.next_chunk().await {
                Some(chunk) => self.frames.extend(&chunk),
                None => {
                    assert_eq!(self.frames.buffered(), 0, "stream ended inside a frame");
                    return None;
                }
            }
        }
    }

    /// The next SSE event (comments skipped), or `None` at the end.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(ev) = self.sse_events.pop_front() {
                return Some(ev);
            }
            let chunk = self.next_chunk().await?;
            self.sse_events.extend(self.sse.feed(&chunk));
        }
    }

    /// Asserts that the stream ends now (END_STREAM, no more data; an empty
    /// DATA frame, which may carry the END_STREAM, is no data).
    pub async fn expect_end(&mut self) {
        while let Some(chunk) = self.next_chunk().await {
            assert!(
                chunk.is_empty(),
                "expected the end of the stream, got {chunk:?}"
            );
        }
    }
}
