//! Connections and the session manager.
//!
//! A [`Connection`] is created when a handshake is accepted and lives until the socket closes.
//! The [`SessionManager`] maps each live fd to its connection; the entry is removed when the
//! connection closes, whatever the cause (a close frame, a dropped socket, a server-side
//! disconnect, a panic).
//!
//! A `Connection` is a cheap handle (an `Arc`). Keeping one after the socket closed is safe: its
//! sends fail with [`SendError::Closed`] and can never reach a later connection that happens to
//! get the same fd, because every connection has its own queue and its own never-reused
//! [`ConnectionId`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;

use crate::handshake::{HandshakeRequest, SessionData};
use crate::runtime::fd::Fd;
use crate::runtime::module::ModuleRuntime;
use crate::runtime::server::Server;
pub(crate) use crate::runtime::signal::Signal;
use crate::ws::deflate::Once;
use crate::ws::outbound::{OutboundTx, QueueError};
use crate::ws::{Message, RawMessage, close_code};

tokio::task_local! {
    /// The connection whose `#[on_open]` or `#[on_close]` hook the task is running.
    static HOOK_CONN: Connection;
}

/// A connection's identity that is never reused (unlike its [`Fd`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConnectionId(u64);

impl ConnectionId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number: unique for the life of the server (never reused, unlike an fd),
    /// for logs and for telling a connection from a later one on the same fd.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why a send to a connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is closed (or closing).
    #[error("the connection is closed")]
    Closed,
    /// The connection's outbound queue is full (in frames or bytes): the client is not reading
    /// fast enough. The frame was not queued; under the default
    /// [`Backpressure::Disconnect`](crate::config::Backpressure::Disconnect) the connection is
    /// also being closed (1008).
    #[error("the connection's outbound queue is full")]
    QueueFull,
    /// No live connection has this fd.
    #[error("no live connection has fd {0}")]
    NoSuchFd(Fd),
    /// The data could not be serialized.
    #[error("the data could not be serialized: {0}")]
    Encode(String),
    /// A control frame's payload is over 125 bytes (RFC 6455 §5.5); it holds the length.
    #[error("a control frame carries at most 125 bytes, not {0}")]
    ControlTooLong(usize),
}

/// Why [`Connection::join`] (or [`Rooms::join`](crate::Rooms::join)) did not add the
/// connection to a room.
///
/// A handler turns it into an error reply with `?` (it is `Into<WsError>`): the client gets
/// `too_many_rooms` ([`codes::TOO_MANY_ROOMS`](crate::protocol::codes::TOO_MANY_ROOMS)) and
/// the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The connection is already in its module's `max_rooms_per_connection` rooms (default
    /// 1,024; [`Config::max_rooms_per_connection`](crate::Config::max_rooms_per_connection)).
    /// Counted as `swoft_ws_limited_total{limit="rooms"}`.
    #[error("this connection is already in {limit} rooms, the most it may join")]
    TooManyRooms {
        /// The limit.
        limit: usize,
    },
}

impl From<JoinError> for crate::protocol::WsError {
    fn from(e: JoinError) -> Self {
        crate::protocol::WsError::new(crate::protocol::codes::TOO_MANY_ROOMS, e.to_string())
    }
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedBy {
    /// The client sent a close frame.
    Client,
    /// The server closed it (a disconnect, a protocol violation, shutdown).
    Server,
    /// The socket ended without a close frame, or failed.
    Transport,
}

/// How a connection ended: what `#[on_close]` hooks receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The close code (1006 when the socket ended without a close frame).
    pub code: u16,
    /// The close reason (may be empty).
    pub reason: String,
    /// Who ended it.
    pub by: ClosedBy,
    /// What became of the connection's resumable session (`#[ws_module(recovery)]`): kept
    /// for a resume, ended, or taken over by a resume on a new connection. Presence notices
    /// read it: a session taken over has not left.
    pub session: SessionEnd,
}

/// What became of a connection's resumable session when the connection ended
/// (`#[ws_module(recovery)]`; see the README's "Reconnects and missed messages").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The module keeps no sessions (no `recovery`).
    None,
    /// Ended: a close with 1000 (nothing to resume).
    Ended,
    /// Kept for the module's window: the client may resume it, its rooms and label back.
    Kept,
    /// A resume on a new connection took it over (this one was closed with 4000): the
    /// session goes on there, in the same rooms.
    TakenOver,
}

/// How a connection's resumable session began (`#[ws_module(recovery)]`), as
/// [`Connection::session_start`] tells `#[on_open]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionStart {
    /// The module keeps no sessions (no `recovery`).
    None,
    /// A new session (no resume asked, or one that could not be honoured).
    Fresh,
    /// A session resumed after its connection had dropped: its rooms and label are back
    /// (it had left its rooms when it dropped: presence notices say it is back).
    Resumed,
    /// A session taken over from a connection that still looked open (closed with 4000, on
    /// this node or another): it never left its rooms.
    TookOver,
}

impl SessionStart {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => SessionStart::Fresh,
            2 => SessionStart::Resumed,
            3 => SessionStart::TookOver,
            _ => SessionStart::None,
        }
    }

    pub(crate) fn as_u8(self) -> u8 {
        match self {
            SessionStart::None => 0,
            SessionStart::Fresh => 1,
            SessionStart::Resumed => 2,
            SessionStart::TookOver => 3,
        }
    }
}

/// The close reason of a connection closed by [`Backpressure::Disconnect`](crate::config::Backpressure::Disconnect).
pub(crate) const SLOW_CONSUMER: &str = "slow consumer";

/// `last_seen` while a message is being handled.
const BUSY: u64 = u64::MAX;

/// A live (or recently closed) WebSocket connection.
///
/// Cheap to clone. Reachable from handlers (`conn: &Connection`), from hooks, and through the
/// [`Server`] handle by fd.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnInner>,
}

struct ConnInner {
    fd: Fd,
    id: ConnectionId,
    request: Arc<HandshakeRequest>,
    module: Arc<ModuleRuntime>,
    server: Server,
    connected_at: SystemTime,
    started: Instant,
    protocol: Option<String>,
    session: Mutex<SessionData>,
    tx: OutboundTx,
    /// The close started: sends fail, the read loop stops (sends check the flag, once per
    /// frame of a broadcast to every member: an atomic load).
    closing: Signal,
    /// The server drains: stop reading new messages (per connection, so that the message path
    /// never touches a token shared by every connection).
    draining: Signal,
    /// The shutdown grace is over: drop the handlers still running.
    abort: Signal,
    /// When the client was last heard from, in ms since `started` ([`BUSY`] while a message
    /// is being handled): what the liveness sweeper reads.
    last_seen: AtomicU64,
    /// The close the server asked for, if it did: its close frame is the last one written.
    close_request: Mutex<Option<(u16, String)>>,
    /// How its resumable session began ([`SessionStart`], as a byte).
    session_start: std::sync::atomic::AtomicU8,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.inner.fd)
            .field("id", &self.inner.id)
            .field("module", &self.inner.module.path)
            .field("peer", &self.inner.request.peer_addr())
            .finish_non_exhaustive()
    }
}

pub(crate) struct ConnParts {
    pub(crate) fd: Fd,
    pub(crate) request: Arc<HandshakeRequest>,
    pub(crate) module: Arc<ModuleRuntime>,
    pub(crate) server: Server,
    pub(crate) protocol: Option<String>,
    pub(crate) session: SessionData,
}

impl Connection {
    pub(crate) fn new(p: ConnParts, tx: OutboundTx) -> Self {
        Connection {
            inner: Arc::new(ConnInner {
                fd: p.fd,
                id: ConnectionId::next(),
                request: p.request,
                module: p.module,
                server: p.server,
                connected_at: SystemTime::now(),
                started: Instant::now(),
                protocol: p.protocol,
                session: Mutex::new(p.session),
                tx,
                closing: Signal::new(),
                draining: Signal::new(),
                abort: Signal::new(),
                close_request: Mutex::new(None),
                last_seen: AtomicU64::new(0),
                session_start: std::sync::atomic::AtomicU8::new(0),
            }),
        }
    }

    /// How this connection's resumable session began (`#[ws_module(recovery)]`): fresh,
    /// resumed after a drop, or taken over from a connection that still looked open; set
    /// before `#[on_open]` runs. `SessionStart::None` for a module without `recovery`.
    pub fn session_start(&self) -> SessionStart {
        SessionStart::from_u8(self.inner.session_start.load(Ordering::Relaxed))
    }

    pub(crate) fn set_session_start(&self, start: SessionStart) {
        self.inner
            .session_start
            .store(start.as_u8(), Ordering::Relaxed);
    }

    /// The connection the current task works for, as Swoft's `Session::current()`: in
    /// `#[on_open]` and `#[on_close]`, in every handler, `#[on_message]` and middleware, and in
    /// what they await (not in tasks they spawn). Its session data (`get`, `insert`, ...)
    /// comes with it.
    ///
    /// `None` elsewhere, and in `#[on_handshake]`: there is no connection yet. Its fd is
    /// allocated only once the hook accepts, so that a refused handshake never holds an fd (a
    /// flood of refused handshakes cannot use the fds up); the hook sees the
    /// [`HandshakeRequest`] instead, and `#[on_open]` is the first place the fd is known.
    pub fn current() -> Option<Connection> {
        crate::runtime::context::Context::current()
            .map(|cx| cx.connection().clone())
            .or_else(|| HOOK_CONN.try_with(Connection::clone).ok())
    }

    /// Runs a hook's future with this connection as the task's current one.
    pub(crate) async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        HOOK_CONN.scope(self.clone(), fut).await
    }

    /// The connection's fd (unique among live connections; reused after close).
    pub fn fd(&self) -> Fd {
        self.inner.fd
    }

    /// The connection's id (never reused).
    pub fn id(&self) -> ConnectionId {
        self.inner.id
    }

    /// The handshake request, as it was: path, query, headers, cookies, peer address.
    /// (Called `request()` before issue 16, whose [`request`](Self::request) asks the client.)
    pub fn handshake(&self) -> &HandshakeRequest {
        &self.inner.request
    }

    /// A variable of the module's path (`id` of `/rooms/{id}`), as the handshake matched it.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.inner.request.path_param(name)
    }

    /// The path of the module that serves this connection.
    pub fn module_path(&self) -> &str {
        self.inner.module.path
    }

    pub(crate) fn module(&self) -> &Arc<ModuleRuntime> {
        &self.inner.module
    }

    /// The subprotocol chosen at the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// When the connection was accepted.
    pub fn connected_at(&self) -> SystemTime {
        self.inner.connected_at
    }

    /// How long the connection has been open.
    pub fn age(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    /// The server this connection belongs to, for pushes to other connections.
    pub fn server(&self) -> &Server {
        &self.inner.server
    }

    /// Whether the connection is still open (no close has started).
    pub fn is_open(&self) -> bool {
        !self.is_closing() && !self.inner.tx.is_closed()
    }

    /// Queues a frame for this connection, as it is.
    pub fn send(&self, msg: RawMessage) -> Result<(), SendError> {
        self.send_ws(msg.into_ws())
    }

    /// Sends a ping frame (Swoft's `push($fd, $data, WEBSOCKET_OPCODE_PING)`); the client
    /// answers with a pong, which the server takes and drops. At most 125 bytes.
    pub fn send_ping(&self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(payload.into(), Message::Ping)
    }

    /// Sends a pong frame (Swoft's `WEBSOCKET_OPCODE_PONG`), e.g. as an app-level answer
    /// (pings the client sends are answered by the server already). At most 125 bytes. A
    /// close frame is sent with [`close`](Self::close).
    pub fn send_pong(&self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(payload.into(), Message::Pong)
    }

    fn send_control(&self, payload: Bytes, kind: fn(Bytes) -> Message) -> Result<(), SendError> {
        if payload.len() > crate::ws::MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong(payload.len()));
        }
        self.send_ws(kind(payload))
    }

    /// Sends a message the server pushes on its own, packed by the module's parser (for the
    /// JSON parser: `{"cmd": command, "data": data}`).
    ///
    /// In a module with resumable sessions (`recovery`) the push carries its offset
    /// (`"off":"O"`) and is kept in the module's history.
    pub fn push<T: Serialize + ?Sized>(&self, command: &str, data: &T) -> Result<(), SendError> {
        let data = serde_json::to_string(data).map_err(|e| SendError::Encode(e.to_string()))?;
        match self.push_recorded(command, &data, None) {
            Some(r) => r?,
            None => self.send(self.inner.module.parser.encode_push(command, &data))?,
        }
        self.inner.module.metrics.pushes_out.increment(1);
        Ok(())
    }

    /// A push of a recovery module: with its offset, recorded, and queued under the store's
    /// lock (`None` for other modules).
    fn push_recorded(
        &self,
        command: &str,
        data: &str,
        ext: Option<&str>,
    ) -> Option<Result<(), SendError>> {
        let store = self.server().recovery()?;
        if let Some(cluster) = crate::runtime::recovery::shared::shared(self.server()) {
            self.module().limits.recovery?;
            let fds = [self.fd().get()];
            cluster.log_push(&crate::runtime::remote::LogPush {
                to: Some(cluster.id()),
                target: crate::runtime::remote::WireTarget::Fds(&fds),
                except: &[],
                module: Some(self.module_path()),
                session: crate::runtime::recovery::shared::session_of(self.server(), self),
                command,
                data,
                ext,
            });
            return Some(Ok(()));
        }
        let mut p = crate::runtime::recovery::Pushing::new(store, None, None, None);
        let frame = p.frame(self, command, data, ext)?;
        Some(self.send_ws(frame))
    }

    /// [`push`](Self::push) of data already serialized (a broadcast to connections).
    pub(crate) fn push_encoded(&self, command: &str, data: &str) -> Result<(), SendError> {
        match self.push_recorded(command, data, None) {
            Some(r) => r?,
            None => self.send(self.inner.module.parser.encode_push(command, data))?,
        }
        self.inner.module.metrics.pushes_out.increment(1);
        Ok(())
    }

    /// [`push`](Self::push) with Swoft's `ext` beside the data (`{"cmd", "data", "ext"}` with
    /// the JSON parser; the text parsers leave `ext` out).
    pub fn push_with_ext<T: Serialize + ?Sized, E: Serialize + ?Sized>(
        &self,
        command: &str,
        data: &T,
        ext: &E,
    ) -> Result<(), SendError> {
        let data = serde_json::to_string(data).map_err(|e| SendError::Encode(e.to_string()))?;
        let ext = serde_json::to_string(ext).map_err(|e| SendError::Encode(e.to_string()))?;
        match self.push_recorded(command, &data, Some(&ext)) {
            Some(r) => r?,
            None => {
                let frame = self
                    .inner
                    .module
                    .parser
                    .encode_with_ext(command, None, &data, &ext);
                self.send(frame)?;
            }
        }
        self.inner.module.metrics.pushes_out.increment(1);
        Ok(())
    }

    /// Bytes (frame payloads) waiting in this connection's outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.inner.tx.queued_bytes()
    }

    /// Queues a frame, within the queue's bounds (frames and bytes); never waits. A frame that
    /// does not fit is dropped and the module's [`Backpressure`](crate::config::Backpressure)
    /// policy applies.
    pub(crate) fn send_ws(&self, msg: Message) -> Result<(), SendError> {
        self.send_with(msg, None)
    }

    /// [`send_ws`](Self::send_ws) for one receiver of a broadcast: with permessage-deflate
    /// agreed without context takeover, the frame is compressed once per broadcast (`once`)
    /// and the bytes shared by its receivers (RFC 7692 §7.1.1.1).
    pub(crate) fn send_shared(&self, msg: Message, once: &mut Once) -> Result<(), SendError> {
        self.send_with(msg, Some(once))
    }

    #[inline]
    fn send_with(&self, msg: Message, once: Option<&mut Once>) -> Result<(), SendError> {
        let inner = &*self.inner;
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        let limit = inner.server.config().outbound_bytes;
        inner.tx.try_send(msg, limit, once).map_err(|e| match e {
            QueueError::Full => self.queue_full(),
            QueueError::Closed => SendError::Closed,
        })
    }

    /// A frame did not fit: count it and apply the policy.
    #[cold]
    fn queue_full(&self) -> SendError {
        let module = &self.inner.module;
        match module.limits.backpressure {
            crate::config::Backpressure::DropNewest => {
                module.metrics.dropped_full.increment(1);
                tracing::debug!(fd = %self.fd(), "outbound queue full: frame dropped");
            }
            crate::config::Backpressure::Disconnect => {
                module.metrics.dropped_disconnect.increment(1);
                if !self.is_closing() {
                    tracing::warn!(
                        fd = %self.fd(), queued_bytes = self.queued_bytes(),
                        "outbound queue full: closing the slow consumer (1008)"
                    );
                    // What it did not read is dropped, so that the close frame goes next.
                    self.inner.tx.clear();
                    self.force_close(close_code::POLICY, SLOW_CONSUMER);
                }
            }
        }
        SendError::QueueFull
    }

    /// Closes the connection with this code and reason (RFC 6455 section 7.1.2: the server
    /// starts the closing handshake).
    ///
    /// It takes effect at once, whatever the peer does: nothing more can be queued (sends fail
    /// with [`SendError::Closed`]; the reply of a handler that closes its own connection is
    /// not sent either), no further message of the connection is dispatched (the
    /// message being handled, if any, is the last), and the frames already queued go out before
    /// the close frame. The connection is gone within
    /// [`Config::close_timeout`](crate::Config::close_timeout) of the close starting: a peer
    /// that does not read, or does not answer the close frame, has its socket dropped then.
    /// Closing twice does nothing more: the first code and reason are the ones sent.
    pub fn close(&self, code: u16, reason: &str) {
        self.force_close(code, reason);
    }

    /// The same as [`close`](Self::close) (kept for the callers that used it to skip the
    /// queue: every close now takes effect at once).
    ///
    /// A code that may not be sent (RFC 6455 section 7.4: below 1000, 1004–1006, 1015–2999,
    /// 5000 and above; 1005, 1006 and 1015 are reserved for what an endpoint *saw*) is sent as
    /// 1011 (an unexpected condition: the code is a bug of its caller) and logged (`warn`).
    pub fn force_close(&self, code: u16, reason: &str) {
        let code = if crate::ws::codec::valid_close_code(code) {
            code
        } else {
            tracing::warn!(
                fd = %self.fd(), code, "close code may not be sent (RFC 6455 section 7.4): sending 1011"
            );
            close_code::INTERNAL
        };
        let mut req = self
            .inner
            .close_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if req.is_none() {
            *req = Some((code, reason.to_owned()));
        }
        drop(req);
        self.start_closing();
    }

    /// Starts the close: sends fail from now on, and the read loop and the writer stop.
    pub(crate) fn start_closing(&self) {
        self.inner.closing.cancel();
    }

    /// Whether the close has started.
    pub(crate) fn is_closing(&self) -> bool {
        self.inner.closing.is_cancelled()
    }

    pub(crate) fn draining(&self) -> &Signal {
        &self.inner.draining
    }

    pub(crate) fn abort(&self) -> &Signal {
        &self.inner.abort
    }

    pub(crate) fn closing(&self) -> &Signal {
        &self.inner.closing
    }

    /// The close the server asked for, if it did.
    pub(crate) fn close_request(&self) -> Option<(u16, String)> {
        self.inner
            .close_request
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The client was heard from (a frame arrived, or its message was handled) at `at`.
    pub(crate) fn seen(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.inner.started).as_millis();
        self.inner
            .last_seen
            .store(u64::try_from(ms).unwrap_or(BUSY - 1), Ordering::Relaxed);
    }

    /// Busy with its messages (reading may be paused): not idle, whatever the time.
    pub(crate) fn busy(&self) {
        self.inner.last_seen.store(BUSY, Ordering::Relaxed);
    }

    /// At the server's liveness tick: closes the connection (1001) if it was idle for
    /// `idle_timeout`, else pings it (with a `ping_interval`). Not while the server drains.
    pub(crate) fn liveness_tick(&self) {
        let cfg = self.inner.server.config();
        if self.is_closing() || self.inner.draining.is_cancelled() {
            return;
        }
        let seen = self.inner.last_seen.load(Ordering::Relaxed);
        if let Some(idle) = cfg.idle_timeout {
            let age = self.inner.started.elapsed();
            let quiet = age.saturating_sub(std::time::Duration::from_millis(seen));
            if seen != BUSY && quiet >= idle {
                self.inner.module.metrics.closed_idle.increment(1);
                let reason = "idle timeout";
                tracing::info!(fd = %self.fd(), idle = ?quiet, "closing: {reason} (1001)");
                self.force_close(close_code::GOING_AWAY, reason);
                return;
            }
        }
        if cfg.ping_interval.is_some() {
            let _ = self.send_ws(Message::Ping(bytes::Bytes::new()));
        }
    }

    /// Joins `room` (see [`Rooms`](crate::runtime::rooms::Rooms)): `Ok(true)` if it was not a
    /// member, `Ok(false)` if it was (or the connection is closed).
    ///
    /// # Errors
    ///
    /// [`JoinError::TooManyRooms`] when the connection is already in its module's
    /// `max_rooms_per_connection` rooms (default 1,024): a connection could otherwise grow the
    /// server's memory without bound. `?` in a handler turns it into the error reply
    /// `too_many_rooms`.
    pub fn join(&self, room: &str) -> Result<bool, JoinError> {
        self.server().rooms().join(self, room)
    }

    /// Leaves `room`. Whether it was a member.
    pub fn leave(&self, room: &str) -> bool {
        self.server().rooms().leave(self.fd(), room)
    }

    /// The rooms this connection is in, sorted.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.server().rooms().rooms_of(self.fd())
    }

    /// Stores a value of type `T` in the connection's session data (replacing any earlier
    /// `T`), and returns the earlier one.
    pub fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        // Taken out under the lock; dropped or cloned (user code) after it is released.
        let old = self.session().insert(value)?;
        old.downcast::<T>().ok().map(unshare)
    }

    /// A copy of the session's `T`, if one was stored (at the handshake or later).
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let shared = self.session().get::<T>();
        shared.map(|v| T::clone(&v))
    }

    /// Calls `f` with the session's `T` (if any), without cloning it. `f` runs without the
    /// session's lock held: it may call any method of this connection, its session data's
    /// included (a `T` stored meanwhile is seen by later calls, not by this `f`).
    pub fn with<T: Send + Sync + 'static, R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let shared = self.session().get::<T>();
        f(shared.as_deref())
    }

    /// Removes the session's `T` and returns it.
    pub fn remove<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        let taken = self.session().remove::<T>();
        taken.map(unshare)
    }

    fn session(&self) -> std::sync::MutexGuard<'_, SessionData> {
        self.inner
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The value out of its `Arc`: moved if no [`Connection::with`] still reads it, else a copy.
fn unshare<T: Clone>(shared: Arc<T>) -> T {
    Arc::try_unwrap(shared).unwrap_or_else(|shared| T::clone(&shared))
}
