//! The answer of a store call: known at once, or a future.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{Error, ErrorKind, Result};

/// The answer of a [`super::TopicStore`] or [`super::TopicLog`] call.
///
/// `Ready` costs nothing to await and lets the broker finish a publish or a
/// subscription without yielding; `Later` is a future the broker awaits (and,
/// for an append, runs to completion even when its caller goes away, so that
/// an accepted message is always fanned out).
pub enum StoreCall<T> {
    /// The answer, known at once.
    Ready(Result<T>),
    /// The answer, once this future completes.
    Later(Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>),
}

impl<T> StoreCall<T> {
    /// A call answered at once with `value`.
    pub fn ok(value: T) -> Self {
        StoreCall::Ready(Ok(value))
    }

    /// A call answered once `future` completes.
    pub fn later(future: impl Future<Output = Result<T>> + Send + 'static) -> Self {
        StoreCall::Later(Box::pin(future))
    }

    /// The answer if it is known without waiting, else the call itself.
    pub fn now(self) -> std::result::Result<Result<T>, StoreCall<T>> {
        match self {
            StoreCall::Ready(r) => Ok(r),
            later => Err(later),
        }
    }
}

impl<T> From<Result<T>> for StoreCall<T> {
    fn from(r: Result<T>) -> Self {
        StoreCall::Ready(r)
    }
}

impl<T> std::fmt::Debug for StoreCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreCall::Ready(_) => "StoreCall::Ready",
            StoreCall::Later(_) => "StoreCall::Later",
        })
    }
}

/// Awaiting a [`StoreCall`].
pub struct StoreFuture<T>(StoreCall<T>);

// The answer is only moved out, never pinned; the future is boxed.
impl<T> Unpin for StoreFuture<T> {}

impl<T> std::fmt::Debug for StoreFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> IntoFuture for StoreCall<T> {
    type Output = Result<T>;
    type IntoFuture = StoreFuture<T>;

    fn into_future(self) -> StoreFuture<T> {
        StoreFuture(self)
    }
}

impl<T> Future for StoreFuture<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        // Both variants are Unpin (the future is boxed).
        let this = self.get_mut();
        match &mut this.0 {
            StoreCall::Ready(r) => {
                let taken = std::mem::replace(r, Err(polled_again()));
                Poll::Ready(taken)
            }
            StoreCall::Later(f) => f.as_mut().poll(cx),
        }
    }
}

fn polled_again() -> Error {
    Error::new(ErrorKind::Internal, "a store answer was awaited twice")
}
