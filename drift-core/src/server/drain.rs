//! Refused request bodies are read to their end before the stream closes.
//! A request answered before its body was read (413 for a message over the
//! limit, 400 for a bad topic name, 404, 405) used to close its stream at
//! once: over HTTP/2 with RST_STREAM(NO_ERROR), legal but shown by Debian
//! 12's curl as `(92) Stream error in the HTTP/2 framing layer` instead of
//! the answer; over HTTP/1.1 by closing the socket under a client still
//! sending (`(55) Broken pipe`). A body dropped before its end is therefore
//! handed to a task that reads and discards it, up to [`DRAIN_BYTES`] within
//! [`DRAIN_TIME`], so the client finishes sending and then reads the answer;
//! past either bound the stream is reset (HTTP/2) or the connection closed
//! (HTTP/1.1) as before.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

/// The most of a refused body that is read and discarded.
pub const DRAIN_BYTES: usize = 16 << 20;
/// The longest a refused body is waited for.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body that, dropped before its end, is drained by a task.
#[derive(Debug)]
pub(crate) struct Drained<B: Body + Send + Unpin + 'static> {
    /// Taken by drop.
    inner: Option<B>,
}

impl<B: Body + Send + Unpin + 'static> Drained<B> {
    pub(crate) fn new(body: B) -> Drained<B> {
        Drained { inner: Some(body) }
    }
}

impl<B: Body + Send + Unpin + 'static> Body for Drained<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match &mut self.inner {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl<B: Body + Send + Unpin + 'static> Drop for Drained<B> {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        // Outside a runtime (a body dropped at shutdown) there is nothing to
        // drain it with; it is then closed as before.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(drain(body));
        }
    }
}

/// Reads and discards `body` up to the bounds, then drops it.
async fn drain<B: Body + Unpin>(mut body: B) {
    let read = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen += data.remaining();
                if seen > DRAIN_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}
