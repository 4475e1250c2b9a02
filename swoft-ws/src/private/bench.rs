//! **Benchmark hook: not API; may change or go away at any time.**
//!
//! Drives messages through the real per-message path (`driver::handle_message`: decode →
//! route → extract → handler → encode → the connection's queue) on a connection that has
//! no socket, so `bench/benches` can time that path without I/O, and makes socket-less
//! connections for room and broadcast benchmarks. Nothing else uses it.

use std::sync::Arc;
use std::time::Instant;

use crate::ws::Message;

use crate::handshake::HandshakeRequest;
use crate::runtime::connection::{ConnParts, Connection};
use crate::runtime::fd::FdGuard;
use crate::runtime::module::ModuleRuntime;
use crate::runtime::server::Server;
use crate::ws::RawMessage;

/// A connection of the module at `path` with no socket: what is sent to it waits in
/// its queue until [`BenchConn::pop`] or [`BenchConn::drain`].
pub struct BenchConn {
    conn: Connection,
    module: Arc<ModuleRuntime>,
    rx: crate::ws::outbound::OutboundRx,
    _fd: FdGuard,
}

impl std::fmt::Debug for BenchConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchConn")
            .field("conn", &self.conn)
            .finish()
    }
}

impl BenchConn {
    /// A socket-less connection to the module at `path` with an outbound queue of
    /// `queue` frames; `None` if no module serves `path` or no fd is free.
    pub fn new(server: &Server, path: &str, queue: usize) -> Option<Self> {
        let module = server.modules().iter().find(|m| m.path == path)?.clone();
        let fd = server.fds_arc().allocate_guarded().ok()?;
        let request = HandshakeRequest::new(path.parse().ok()?, http::HeaderMap::new(), None);
        let (tx, rx) = crate::ws::outbound::queue(queue, None, None);
        let conn = Connection::new(
            ConnParts {
                fd: fd.fd(),
                request: Arc::new(request),
                module: module.clone(),
                server: server.clone(),
                protocol: None,
                session: crate::handshake::SessionData::default(),
            },
            tx,
        );
        Some(BenchConn {
            conn,
            module,
            rx,
            _fd: fd,
        })
    }

    /// The connection (join rooms with it, push to it).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Handles one inbound frame exactly as the read loop does.
    pub async fn handle(&self, frame: RawMessage) {
        crate::driver::handle_message(&self.conn, &self.module, frame, Instant::now(), None).await
    }

    /// The next frame queued for the client, if any (taken off the queue's byte
    /// count, as a write does).
    pub fn pop(&mut self) -> Option<Message> {
        self.rx.pop()?
    }

    /// Empties the queue; returns how many entries it held.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while self.rx.pop().is_some() {
            n += 1;
        }
        n
    }
}

/// The fd allocator, for its micro-benchmark (`bench/benches/message_path.rs`).
#[derive(Debug)]
pub struct FdAllocator(crate::runtime::fd::FdAllocator);

impl FdAllocator {
    /// An allocator of fds 1..=`max`.
    pub fn new(max: u32) -> Self {
        FdAllocator(crate::runtime::fd::FdAllocator::new(max))
    }

    /// The next free fd; `None` when all are live.
    pub fn allocate(&self) -> Option<crate::Fd> {
        self.0.allocate().ok()
    }

    /// Gives `fd` back.
    pub fn free(&self, fd: crate::Fd) {
        self.0.free(fd);
    }
}
