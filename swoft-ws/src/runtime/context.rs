//! The per-message [`Context`] and the [`ContextManager`].
//!
//! Every inbound message gets a `Context`: its connection, the frame as received, what the
//! parser found in it (command, body, id, extra fields) and the time it arrived. The context
//! is created when the frame arrives, bound to the task that handles it, and destroyed when the
//! handling ends — after a reply, an error reply, a panic, or when the handling task is
//! cancelled. While it lives, [`Context::current`] returns it from anywhere in that task, so
//! code deep inside a handler can reach the message without having it passed down.
//!
//! The [`ContextManager`] counts live contexts: after all messages are handled, the count is
//! back to 0 (tests and metrics watch it).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::protocol::{Body, Decoded};
use crate::runtime::connection::Connection;
use crate::runtime::fd::Fd;
use crate::runtime::server::Server;
use crate::ws::RawMessage;

tokio::task_local! {
    static CURRENT: Context;
}

/// Counts the live [`Context`]s of a server.
#[derive(Default)]
pub(crate) struct ContextManager {
    live: AtomicUsize,
    created: AtomicU64,
}

impl fmt::Debug for ContextManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextManager")
            .field("live", &self.live())
            .field("created", &self.created())
            .finish()
    }
}

impl ContextManager {
    /// How many contexts are alive now (messages being handled).
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// How many contexts were ever created (messages received).
    pub(crate) fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }
}

/// The context of one inbound message. Cheap to clone.
///
/// Every inbound message gets a `Context`: its connection, the frame as received, what the
/// parser found in it (command, body, id, extra fields) and the time it arrived. The context
/// is created when the frame arrives, bound to the task that handles it, and destroyed when the
/// handling ends — after a reply, an error reply, a panic, or when the handling task is
/// cancelled. While it lives, [`Context::current`] returns it from anywhere in that task, so
/// code deep inside a handler can reach the message without having it passed down.
/// [`ServerStats::contexts`](crate::ServerStats::contexts) counts the live ones: 0 once every
/// message is handled.
#[derive(Clone)]
pub struct Context {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    conn: Connection,
    frame: RawMessage,
    decoded: Decoded,
    /// The command the message was routed by (after the module's defaults were applied).
    command: Option<Arc<str>>,
    started: Instant,
    /// Data middleware adds for the handler (allocated only when used).
    data: Mutex<Option<Box<http::Extensions>>>,
}

impl Drop for ContextInner {
    fn drop(&mut self) {
        self.conn
            .server()
            .contexts()
            .live
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("fd", &self.fd())
            .field("command", &self.command())
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(
        conn: Connection,
        frame: RawMessage,
        decoded: Decoded,
        command: Option<Arc<str>>,
        started: Instant,
    ) -> Self {
        let cm = conn.server().contexts();
        cm.live.fetch_add(1, Ordering::AcqRel);
        cm.created.fetch_add(1, Ordering::Relaxed);
        Context {
            inner: Arc::new(ContextInner {
                conn,
                frame,
                decoded,
                command,
                started,
                data: Mutex::new(None),
            }),
        }
    }

    /// The context of the message the current task is handling, if it is handling one.
    pub fn current() -> Option<Context> {
        CURRENT.try_with(Context::clone).ok()
    }

    /// Runs `fut` with this context as the task's current one.
    pub(crate) async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The connection the message came on.
    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    /// The connection's fd.
    pub fn fd(&self) -> Fd {
        self.inner.conn.fd()
    }

    /// The server, for pushes to other connections.
    pub fn server(&self) -> &Server {
        self.inner.conn.server()
    }

    /// The frame as received.
    pub fn message(&self) -> &RawMessage {
        &self.inner.frame
    }

    /// The command the message was routed by (`room.join`), if it had one.
    pub fn command(&self) -> Option<&str> {
        self.inner.command.as_deref()
    }

    /// The request id as raw JSON (`7`, `"abc"`), if the client sent one.
    pub fn id(&self) -> Option<&str> {
        self.piece(self.inner.decoded.id.as_ref())
    }

    /// The extra fields (`ext`) as raw JSON, if any.
    pub fn ext(&self) -> Option<&str> {
        self.piece(self.inner.decoded.ext.as_ref())
    }

    /// The body as the parser found it.
    pub fn body(&self) -> &Body {
        &self.inner.decoded.body
    }

    /// The body as JSON text (`null` when there is none; a binary body is `None`).
    pub fn body_json(&self) -> Option<&str> {
        match &self.inner.decoded.body {
            Body::Empty => Some("null"),
            Body::Json(p) | Body::Text(p) => p.resolve(&self.inner.frame),
            Body::Binary => None,
        }
    }

    /// When the message arrived.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// Stores `value` in this message's context (replacing an earlier `T`), for the handler
    /// ([`Extension<T>`](crate::extract::Extension)) and the middleware after this one.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        let mut data = self
            .inner
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        data.get_or_insert_with(Default::default).insert(value)
    }

    /// A copy of the context's `T`, if a middleware stored one.
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let data = self
            .inner
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        data.as_ref()?.get::<T>().cloned()
    }

    fn piece<'a>(&'a self, p: Option<&'a crate::protocol::Piece>) -> Option<&'a str> {
        p?.resolve(&self.inner.frame)
    }
}
