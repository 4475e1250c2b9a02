//! The future type that handler shims return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handler's result: ready at once (a plain `fn` handler, a failed extraction: no
/// allocation) or a boxed future (an `async fn` handler: one box per message).
pub enum MaybeReady<'a, T> {
    /// Already done.
    Ready(Option<T>),
    /// Still running.
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<T> fmt::Debug for MaybeReady<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaybeReady::Ready(_) => f.write_str("MaybeReady::Ready"),
            MaybeReady::Boxed(_) => f.write_str("MaybeReady::Boxed"),
        }
    }
}

impl<'a, T> MaybeReady<'a, T> {
    /// A result that is already there.
    pub fn ready(value: T) -> Self {
        MaybeReady::Ready(Some(value))
    }

    /// A future to run.
    pub fn boxed(fut: impl Future<Output = T> + Send + 'a) -> Self {
        MaybeReady::Boxed(Box::pin(fut))
    }
}

impl<T: Unpin> Future for MaybeReady<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            MaybeReady::Ready(v) => match v.take() {
                Some(v) => Poll::Ready(v),
                None => panic!("MaybeReady polled after completion"),
            },
            MaybeReady::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}
