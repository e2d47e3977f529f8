//! Request bodies for [`Client`](super::Client): whole, streamed through a
//! channel, or a sequence of Drift message frames.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use drift_core::protocol::Frame;
use http_body::{Body, Frame as BodyFrame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use tokio::sync::mpsc;

/// The request body type of [`Client`].
pub type ReqBody = BoxBody<Bytes, Infallible>;

/// A complete body (sent with a length).
pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    let bytes: Bytes = bytes.into();
    if bytes.is_empty() {
        Empty::new().boxed()
    } else {
        Full::new(bytes).boxed()
    }
}

/// A body fed chunk by chunk through the returned sender; it ends when the
/// sender is dropped. Its length is unknown, so HTTP/1.1 sends it chunked.
pub fn channel_body() -> (mpsc::UnboundedSender<Bytes>, ReqBody) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, ChannelBody(rx).boxed())
}

struct ChannelBody(mpsc::UnboundedReceiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|b| Ok(BodyFrame::data(b))))
    }
}

/// A streamed-publish body: each payload as a Drift message frame.
pub fn frames_body<I, P>(payloads: I) -> Bytes
where
    I: IntoIterator<Item = P>,
    P: Into<Bytes>,
{
    let mut buf = BytesMut::new();
    for p in payloads {
        Frame::message(0, 0, p.into()).encode_into(&mut buf);
    }
    buf.freeze()
}
