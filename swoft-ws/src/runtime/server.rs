//! The [`Server`] handle: the running app's sessions, contexts and fds, and pushes to
//! connections from anywhere (handlers, background tasks, HTTP routes).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::config::Config;
use crate::runtime::broadcast::Broadcast;
use crate::runtime::connection::{Connection, SendError};
use crate::runtime::context::ContextManager;
use crate::runtime::fd::{Fd, FdAllocator};
use crate::runtime::module::ModuleRuntime;
use crate::runtime::rooms::Rooms;
use crate::runtime::sessions::SessionManager;
use crate::ws::RawMessage;

/// A handle to a running (or ready to run) app. Cheap to clone; usable from any task.
#[derive(Clone)]
pub struct Server {
    inner: Arc<ServerInner>,
}

pub(crate) struct ServerInner {
    pub(crate) config: Config,
    pub(crate) modules: Vec<Arc<ModuleRuntime>>,
    pub(crate) sessions: SessionManager,
    pub(crate) contexts: ContextManager,
    pub(crate) fds: Arc<FdAllocator>,
    pub(crate) state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    pub(crate) rooms: Rooms,
    /// Live connections admitted (handshake accepted, not yet ended).
    pub(crate) admitted: AtomicUsize,
    pub(crate) shutdown: crate::runtime::shutdown::ShutdownState,
    /// Served by `App::serve*` (so `serve_router` leaves it alone).
    pub(crate) claimed: std::sync::atomic::AtomicBool,
    /// The liveness sweeper runs (started with the first connection).
    pub(crate) sweeping: std::sync::atomic::AtomicBool,
    /// The app-wide event listeners.
    pub(crate) listeners: crate::runtime::events::Listeners,
    /// Requests to clients waiting for their answers.
    pub(crate) acks: crate::runtime::ack::AckTable,
    /// Resumable sessions and their history (only with a `recovery` module).
    pub(crate) recovery: Option<crate::runtime::recovery::RecoveryStore>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("modules", &self.module_paths())
            .field("connections", &self.inner.sessions.len())
            .finish_non_exhaustive()
    }
}

/// A handle to a server that does not keep it alive: what outlives-or-not the app (the list of
/// apps turned into routers, a cluster node) holds, so that dropping the app ends it.
#[derive(Debug, Clone, Default)]
pub(crate) struct WeakServer(std::sync::Weak<ServerInner>);

impl WeakServer {
    /// Whether the server is gone.
    pub(crate) fn is_gone(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl Server {
    pub(crate) fn new(inner: ServerInner) -> Self {
        Server {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakServer {
        WeakServer(Arc::downgrade(&self.inner))
    }

    pub(crate) fn upgrade(weak: &WeakServer) -> Option<Server> {
        weak.0.upgrade().map(|inner| Server { inner })
    }

    /// Starts the server's liveness sweeper once: every `ping_interval` (or `idle_timeout`
    /// without pings) it closes the connections idle for `idle_timeout` (1001) and pings the
    /// others. One task and one timer for the whole server, not one per connection: a timer
    /// per connection costs memory while idle and a wake-up of the timer driver per handshake.
    pub(crate) fn start_sweeper(&self) {
        let cfg = self.config();
        let Some(period) = cfg.ping_interval.or(cfg.idle_timeout) else {
            return;
        };
        if self.inner.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = self.downgrade();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now() + period;
            let mut ticks = tokio::time::interval_at(start, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // Ends with the server.
                let Some(server) = Server::upgrade(&weak) else {
                    return;
                };
                server
                    .inner
                    .sessions
                    .for_each(crate::runtime::connection::Connection::liveness_tick);
            }
        });
    }

    pub(crate) fn claim(&self) {
        self.inner.claimed.store(true, Ordering::Release);
    }

    pub(crate) fn is_claimed(&self) -> bool {
        self.inner.claimed.load(Ordering::Acquire)
    }

    pub(crate) fn listeners(&self) -> &crate::runtime::events::Listeners {
        &self.inner.listeners
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn admitted(&self) -> &AtomicUsize {
        &self.inner.admitted
    }

    pub(crate) fn recovery(&self) -> Option<&crate::runtime::recovery::RecoveryStore> {
        self.inner.recovery.as_ref()
    }

    pub(crate) fn acks(&self) -> &crate::runtime::ack::AckTable {
        &self.inner.acks
    }

    pub(crate) fn shutdown_state(&self) -> &crate::runtime::shutdown::ShutdownState {
        &self.inner.shutdown
    }

    /// A snapshot of what the server holds: every count is 0 on an idle server (after
    /// connections ended, whatever way).
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            connections: self.inner.sessions.len(),
            admitted: self.inner.admitted.load(Ordering::Acquire),
            contexts: self.inner.contexts.live(),
            contexts_created: self.inner.contexts.created(),
            fds: self.inner.fds.live(),
            rooms: self.inner.rooms.count(),
            labels: self.inner.rooms.label_count(),
            queued_bytes: {
                let mut n = 0;
                self.inner.sessions.for_each(|c| n += c.queued_bytes());
                n
            },
            pending_acks: self.inner.acks.pending(),
            acks_ignored: self.inner.acks.ignored(),
            dropped_sessions: self.inner.recovery.as_ref().map_or(0, |r| r.stats().0),
            history_bytes: self.inner.recovery.as_ref().map_or(0, |r| r.stats().1),
            handshake_bytes: {
                let mut n = 0;
                self.inner
                    .sessions
                    .for_each(|c| n += c.handshake().retained_bytes());
                n
            },
        }
    }

    pub(crate) fn modules(&self) -> &[Arc<ModuleRuntime>] {
        &self.inner.modules
    }

    /// Each module's name, path and live connections, by path: Swoft's modules by name
    /// (`#[ws_module(name = "chat")]`, else the type's name).
    pub fn module_stats(&self) -> Vec<ModuleStats> {
        self.inner
            .modules
            .iter()
            .map(|m| ModuleStats {
                name: m.label,
                path: m.path,
                connections: m.live.load(Ordering::Acquire),
            })
            .collect()
    }

    /// The paths the app serves, sorted.
    pub fn module_paths(&self) -> Vec<&'static str> {
        self.inner.modules.iter().map(|m| m.path).collect()
    }

    /// The live connections, by fd.
    pub(crate) fn sessions(&self) -> &SessionManager {
        &self.inner.sessions
    }

    /// The live message contexts.
    pub(crate) fn contexts(&self) -> &ContextManager {
        &self.inner.contexts
    }

    /// The rooms of this server: membership queries (local and, with a cluster, on every
    /// node) and connection labels. To push to a room, use [`room`](Self::room).
    pub fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }

    /// A push to the members of `room` (add `.except(fd)` to leave some out).
    pub fn room<'a>(&'a self, room: &'a str) -> Broadcast<'a> {
        Broadcast::room(self, room)
    }

    /// A push to these fds (fds not live are counted as `closed`).
    pub fn to_fds<'a>(&'a self, fds: &'a [Fd]) -> Broadcast<'a> {
        Broadcast::fds(self, fds)
    }

    /// A push to every connection of the module at `path`.
    pub fn module<'a>(&'a self, path: &'a str) -> Broadcast<'a> {
        Broadcast::module(self, path)
    }

    /// A push to every live connection.
    pub fn all(&self) -> Broadcast<'_> {
        Broadcast::all(self)
    }

    pub(crate) fn fds_arc(&self) -> &Arc<FdAllocator> {
        &self.inner.fds
    }

    /// The shared state of type `T`, if the app was given one.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let any = self.inner.state.get(&TypeId::of::<T>())?.clone();
        any.downcast::<T>().ok()
    }

    /// The live connection with this fd, if any: a handle that can send to it, read its session
    /// data or close it. `None` once it closed (the fd may later name another connection).
    pub fn connection(&self, fd: Fd) -> Option<Connection> {
        self.inner.sessions.get(fd)
    }

    /// Whether a connection with this fd is live.
    pub fn is_live(&self, fd: Fd) -> bool {
        self.inner.sessions.contains(fd)
    }

    /// How many connections are live.
    pub fn connection_count(&self) -> usize {
        self.inner.sessions.len()
    }

    /// The fds of the live connections, sorted (Swoft's `$server->connections`). For many
    /// connections, page through them with [`connections_page`](Self::connections_page).
    pub fn live_fds(&self) -> Vec<Fd> {
        self.inner.sessions.fds()
    }

    /// Up to `limit` live connections with fds above `after` (from the first for `None`),
    /// sorted by fd: pass the last fd of a page to get the next. Each page is a fresh look at
    /// the table, so a connection that opens or closes meanwhile may or may not be seen.
    pub fn connections_page(&self, after: Option<Fd>, limit: usize) -> Vec<Connection> {
        self.inner.sessions.page(after, limit)
    }

    /// Sends a frame, as it is, to the connection with this fd.
    pub fn send_to(&self, fd: Fd, msg: RawMessage) -> Result<(), SendError> {
        self.connection(fd)
            .ok_or(SendError::NoSuchFd(fd))?
            .send(msg)
    }

    /// Pushes `{"cmd": command, "data": data}` (packed by that connection's module parser) to
    /// the connection with this fd.
    pub fn push_to<T: Serialize + ?Sized>(
        &self,
        fd: Fd,
        command: &str,
        data: &T,
    ) -> Result<(), SendError> {
        self.connection(fd)
            .ok_or(SendError::NoSuchFd(fd))?
            .push(command, data)
    }

    /// Closes the connection with this fd (after what is already queued for it).
    pub fn disconnect(&self, fd: Fd, code: u16, reason: &str) -> Result<(), SendError> {
        self.connection(fd)
            .ok_or(SendError::NoSuchFd(fd))?
            .close(code, reason);
        Ok(())
    }
}

/// One module in [`Server::module_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleStats {
    /// `name = ".."` of the module, else its type's name.
    pub name: &'static str,
    /// The path it serves.
    pub path: &'static str,
    /// Its live connections (admitted, not yet ended).
    pub connections: usize,
}

/// What [`Server::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Live connections: accepted, not yet ended (as [`Server::connection_count`]).
    pub connections: usize,
    /// Connections holding an admission slot (counted against `max_connections`).
    pub admitted: usize,
    /// Live message contexts.
    pub contexts: usize,
    /// Message contexts created since the server started (one per message handled); not part
    /// of what [`is_idle`](Self::is_idle) checks.
    pub contexts_created: u64,
    /// Fds handed out and not yet freed (a connection's fd is freed after its session ends).
    pub fds: usize,
    /// Rooms that exist on this node (a room exists while it has members).
    pub rooms: usize,
    /// Connections of this node with a label ([`Connection::set_label`]); each is found by
    /// [`Rooms::find_label`] under exactly one label.
    pub labels: usize,
    /// Bytes waiting in outbound queues, over all connections.
    pub queued_bytes: usize,
    /// Requests to clients waiting for their answers ([`Connection::request`]), over all
    /// connections: 0 once every request ended (answered, timed out, or its connection
    /// closed).
    pub pending_acks: usize,
    /// `$ack` frames ignored since the server started (malformed, duplicate, late, or for an
    /// unknown number); not part of what [`is_idle`](Self::is_idle) checks.
    pub acks_ignored: u64,
    /// Resumable sessions whose connection dropped, kept for their module's recovery window;
    /// not part of what [`is_idle`](Self::is_idle) checks (they are kept on purpose).
    pub dropped_sessions: usize,
    /// Bytes of push history the recovery modules keep (bounded by their `max_bytes`); not
    /// part of what [`is_idle`](Self::is_idle) checks.
    pub history_bytes: usize,
    /// Bytes the live connections keep from their handshakes (URI, header names and values,
    /// the offered subprotocols once read), over all connections; each connection's share is
    /// at most its module's `max_handshake_head`.
    pub handshake_bytes: usize,
}

impl ServerStats {
    /// Whether nothing is held: no connection, context, fd, room, waiting request or queued
    /// byte.
    pub fn is_idle(&self) -> bool {
        *self
            == ServerStats {
                contexts_created: self.contexts_created,
                acks_ignored: self.acks_ignored,
                dropped_sessions: self.dropped_sessions,
                history_bytes: self.history_bytes,
                ..ServerStats::default()
            }
    }
}
