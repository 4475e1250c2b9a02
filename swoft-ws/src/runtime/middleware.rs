//! Message middleware: code that wraps the dispatch of every message.
//!
//! A middleware sees the message's [`Context`] (fd, command, payload, `ext`, session data),
//! and decides: call [`Next::run`] to go on (and look at the reply afterwards: timing,
//! logging), or return a reply of its own without going on (short-circuit: an auth check, a
//! rate limit). It can add data to the Context ([`Context::insert`]) that handlers read with
//! the [`Extension`](crate::extract::Extension) extractor.
//!
//! # Where middleware is registered, and the order it runs in
//!
//! | level | how | runs for |
//! |---|---|---|
//! | global | [`AppBuilder::middleware`](crate::AppBuilder::middleware) | every message of every module, including ones no handler maps and ones that fail to decode |
//! | module | `#[ws_module(path = "...", middleware = [A, B])]` | every message of that module (likewise) |
//! | controller | `#[ws_controller(prefix = "...", middleware = [A])]` | messages routed to that controller |
//! | method | `#[middleware(A, B)]` on a `#[message_mapping]` method | messages routed to that method |
//!
//! The chain is global → module → controller → method, each level in the order written; the
//! first wraps all the others (it runs first before the handler and last after it). Chains are
//! built once at start-up; a message whose chain is empty pays nothing for the feature.
//!
//! Middleware named in attributes is built once with `Default` (one instance per type, shared
//! by every level that names it). Handshake-time concerns (authentication by token, CORS,
//! request limits) are not message middleware: put ordinary tower layers on the router from
//! [`App::into_router`](crate::App::into_router) (see the crate docs).
//!
//! ```
//! use swoft_ws::middleware::{BoxFuture, Middleware, Next};
//! use swoft_ws::{Context, Reply, WsError};
//!
//! /// Refuses `admin.*` commands to connections without an `Admin` session value.
//! #[derive(Default)]
//! struct AdminOnly;
//!
//! #[derive(Clone)]
//! struct Admin;
//!
//! impl Middleware for AdminOnly {
//!     fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
//!         Box::pin(async move {
//!             let admin_cmd = cx.command().is_some_and(|c| c.starts_with("admin."));
//!             if admin_cmd && cx.connection().get::<Admin>().is_none() {
//!                 return Reply::Error(WsError::forbidden("admins only"));
//!             }
//!             next.run(cx).await
//!         })
//!     }
//! }
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::protocol::{Reply, WsError};
use crate::runtime::context::Context;
use crate::runtime::handler::DispatchFn;

/// A boxed, sendable future: what [`Middleware::call`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Wraps the dispatch of messages; see the [module docs](self).
pub trait Middleware: Send + Sync + 'static {
    /// Handles one message: usually `Box::pin(async move { ...; next.run(cx).await })`.
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply>;
}

impl fmt::Debug for dyn Middleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Middleware")
    }
}

/// A chain of middleware, built at start-up.
pub(crate) type Chain = Arc<[Arc<dyn Middleware>]>;

/// What the chain ends in.
#[derive(Clone, Copy)]
pub(crate) enum Endpoint<'a> {
    /// A handler shim.
    Handler {
        dispatch: DispatchFn,
        instance: &'a (dyn Any + Send + Sync),
        index: u16,
    },
    /// No handler: this error is the reply (unknown command, a frame that did not decode).
    Fail(&'a WsError),
}

impl Endpoint<'_> {
    pub(crate) async fn call(self, cx: &Context) -> Reply {
        match self {
            Endpoint::Handler {
                dispatch,
                instance,
                index,
            } => dispatch(instance, index, cx).await,
            Endpoint::Fail(e) => Reply::Error(e.clone()),
        }
    }
}

/// The rest of the chain after a middleware: the next middleware, or the handler.
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    endpoint: Endpoint<'a>,
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("remaining", &self.rest.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Next<'a> {
    pub(crate) fn new(chain: &'a [Arc<dyn Middleware>], endpoint: Endpoint<'a>) -> Self {
        Next {
            rest: chain,
            endpoint,
        }
    }

    /// Runs the rest of the chain and the handler; returns the reply.
    pub async fn run(self, cx: &'a Context) -> Reply {
        match self.rest.split_first() {
            Some((first, rest)) => {
                first
                    .call(
                        cx,
                        Next {
                            rest,
                            endpoint: self.endpoint,
                        },
                    )
                    .await
            }
            None => self.endpoint.call(cx).await,
        }
    }
}

/// How the macros name a middleware type: its `TypeId` and how to build it.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub struct MiddlewareRef {
    /// The type's id (one instance per type per app).
    pub type_id: fn() -> std::any::TypeId,
    /// The type's name, for logs.
    pub name: &'static str,
    /// Builds it (with `Default`).
    pub make: fn() -> Arc<dyn Middleware>,
}
