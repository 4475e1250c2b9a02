//! How the runtime calls user code: the signatures of the shims the macros generate, and the
//! future type they return.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use crate::handshake::{Accept, HandshakeRequest, Reject};
use crate::protocol::Reply;
use crate::runtime::connection::{CloseInfo, Connection};
use crate::runtime::context::Context;

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

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<T> {
        match self.get_mut() {
            MaybeReady::Ready(v) => match v.take() {
                Some(v) => Poll::Ready(v),
                None => panic!("MaybeReady polled after completion"),
            },
            MaybeReady::Boxed(f) => f.as_mut().poll(cx),
        }
    }
}

/// A module or controller instance, shared by all its connections.
pub type Instance = Arc<dyn Any + Send + Sync>;
/// Builds an instance at start-up.
pub(crate) type MakeFn = fn() -> Instance;
/// Calls handler number `index` of a controller (or the `#[on_message]` hook, index 0).
pub(crate) type DispatchFn =
    for<'a> fn(&'a (dyn Any + Send + Sync), u16, &'a Context) -> MaybeReady<'a, Reply>;
/// Calls an `#[on_handshake]` hook.
pub(crate) type HandshakeFn = for<'a> fn(
    &'a (dyn Any + Send + Sync),
    &'a HandshakeRequest,
) -> MaybeReady<'a, Result<Accept, Reject>>;
/// Calls an `#[on_open]` hook.
pub(crate) type OpenFn =
    for<'a> fn(&'a (dyn Any + Send + Sync), &'a Connection) -> MaybeReady<'a, ()>;
/// Calls an `#[on_close]` hook.
pub(crate) type CloseFn =
    for<'a> fn(&'a (dyn Any + Send + Sync), &'a Connection, &'a CloseInfo) -> MaybeReady<'a, ()>;
