//! The request body of every client request: a few `Bytes` chunks already in
//! memory, sent without copying (a streamed publish interleaves small frame
//! headers with the caller's payloads).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// A body made of chunks; cheap to clone (so a refused request can be sent
/// again on a new connection).
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    /// An empty body.
    pub(crate) fn empty() -> Chunks {
        Chunks::default()
    }

    /// A body of one chunk.
    pub(crate) fn one(data: Bytes) -> Chunks {
        let mut c = Chunks::empty();
        c.push(data);
        c
    }

    /// Appends a chunk (empty chunks are skipped: they would be empty DATA frames).
    pub(crate) fn push(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.remaining += data.len() as u64;
            self.chunks.push_back(data);
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.pop_front();
        if let Some(chunk) = &next {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
