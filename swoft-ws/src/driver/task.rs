//! The task of one upgraded connection, from open to close: the session and its clean-up
//! ([`Cleanup`]), the `#[on_open]` hook, the read loop ([`super::read`]), the close sequence
//! (the close frame after what is queued, within the close timeout) and the `#[on_close]`
//! hook.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use crate::ws::{CloseFrame, Message};
use futures_util::FutureExt;
use hyper::upgrade::{OnUpgrade, Upgraded};
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::driver::admission::Admission;
use crate::driver::backlog::Backlog;
use crate::driver::panic_message;
use crate::driver::read::{read_loop, with_reads};
use crate::runtime::connection::{CloseInfo, ClosedBy, ConnParts, Connection};
use crate::runtime::events::{WsEvent, emit};
use crate::runtime::fd::FdGuard;
use crate::ws::close_code;
use crate::ws::codec::Decoder;
use crate::ws::deflate::{Inflate, Params};
use crate::ws::outbound::OutboundRx;
use crate::ws::transport::Transport;

/// Removes the session and frees the fd when dropped, whatever way the task ends.
struct Cleanup {
    conn: Connection,
    _fd: FdGuard,
    _admission: Admission,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.conn.module().metrics.connections.decrement(1);
        // A task cancelled before its close: its session (if resumable) is kept, dropped.
        crate::runtime::recovery::closed(&self.conn, None);
        let server = self.conn.server();
        // Closing before the label is forgotten: a concurrent `set_label` sees the flag or is
        // undone here (see `Rooms::set_label`).
        self.conn.start_closing();
        server.rooms().forget(self.conn.fd(), self.conn.id());
        // Normally done after #[on_close]; again here for a task that was cancelled.
        server.rooms().leave_all(self.conn.fd());
        server.sessions().remove(self.conn.fd(), self.conn.id());
        // Requests still waiting for this connection's answers fail with `Closed`.
        server.acks().remove(self.conn.id());
        // `_fd` drops after this: the fd is free only once the session is gone.
    }
}

/// One upgraded connection, from open to close, in a span naming its module, fd and peer.
///
/// Not an `async fn`: one would hold its arguments beside the inner future that holds them
/// too, in every connection's task.
pub(super) fn run(
    on_upgrade: OnUpgrade,
    parts: ConnParts,
    fd: FdGuard,
    admission: Admission,
) -> impl std::future::Future<Output = ()> {
    let span = tracing::info_span!(
        "ws.conn",
        path = parts.module.path,
        fd = %parts.fd,
        peer = ?parts.request.peer_addr(),
    );
    drive(on_upgrade, parts, fd, admission).instrument(span)
}

/// Where a connection's socket comes from: the HTTP upgrade's result, or (in the unit tests) a
/// transport made already over an in-memory stream.
pub(super) trait Socket {
    /// The transport, and the TCP socket its queue may write to directly (see
    /// [`Transport::new`]); `None` if there is no socket (the upgrade failed).
    fn into_transport(self, parts: &ConnParts) -> Option<(Transport, Option<Arc<TcpStream>>)>;
}

impl Socket for hyper::Result<Upgraded> {
    fn into_transport(self, parts: &ConnParts) -> Option<(Transport, Option<Arc<TcpStream>>)> {
        match self {
            Ok(upgraded) => Some(Transport::new(
                upgraded,
                parts.server.config().read_buffer_size,
                decoder(parts),
            )),
            Err(e) => {
                tracing::debug!(error = %e, "the upgrade failed");
                None
            }
        }
    }
}

/// The frame decoder of a connection: its module's limits, and permessage-deflate's inflater
/// if the handshake agreed it.
pub(super) fn decoder(parts: &ConnParts) -> Decoder {
    let limits = &parts.module.limits;
    let inflate = agreed(parts).map(|p| Inflate::new(&p));
    Decoder::new(limits.max_frame_size, limits.max_message_size, inflate)
}

/// permessage-deflate's terms, if the handshake agreed them (`driver::accept` puts them in the
/// request's extensions).
fn agreed(parts: &ConnParts) -> Option<Params> {
    parts.request.extension::<Params>().copied()
}

/// The connection, from the upgrade to the close: it waits for `socket` (in production the
/// upgrade, an `OnUpgrade`), goes live, runs its `#[on_open]` hook, reads and handles messages
/// until it ends, writes its close, runs its `#[on_close]` hook and cleans up. The unit tests
/// start here too, with a transport over an in-memory stream.
///
/// The one `async fn` that takes the connection's parts: an outer one handing them to an inner
/// one would keep both copies in every connection's task (arguments live for the whole task),
/// which tokio rounds up to its allocation's alignment: +0.13 KiB per idle connection, measured.
pub(super) async fn drive<S: std::future::Future<Output: Socket>>(
    socket: S,
    parts: ConnParts,
    fd: FdGuard,
    admission: Admission,
) {
    let Some((mut transport, tcp)) = socket.await.into_transport(&parts) else {
        return;
    };
    let (tx, rx) =
        crate::ws::outbound::queue(parts.server.config().outbound_queue, tcp, agreed(&parts));
    let (conn, cleanup) = go_live(parts, tx, fd, admission);
    let module = conn.module().clone();
    tracing::debug!(fd = %conn.fd(), id = %conn.id(), module = module.label, path = module.path, "connection open");

    emit(&conn, WsEvent::OpenBefore, None);
    // What the client sends while the open hook runs (an answer to a request it made, ...).
    let mut backlog = Backlog::default();
    if let Some(open) = module.hooks.open {
        // Boxed, as the close hook: run once, they would otherwise add their size to every
        // connection's task for its whole life.
        let hook = Box::pin(run_hook(WsEvent::OpenError, &conn, async {
            open(&*module.instance, &conn).await
        }));
        with_reads(&conn, &mut transport, &rx, hook, &mut backlog).await;
    }
    emit(&conn, WsEvent::OpenAfter, None);

    let (mut info, reply) = read_loop(&conn, &module, &mut transport, &rx, &mut backlog).await;
    info.session = crate::runtime::recovery::fate(&conn, info.code);
    drop(backlog);
    conn.start_closing();
    // Boxed, as the hooks: run once, its timers and the transport it consumes would otherwise
    // add their size to every connection's task for its whole life.
    Box::pin(close_socket(&conn, transport, rx, &info, reply)).await;

    tracing::debug!(fd = %conn.fd(), code = info.code, by = ?info.by, "connection closed");
    emit(&conn, WsEvent::CloseBefore, None);
    if let Some(close) = module.hooks.close {
        let hook = async { close(&*module.instance, &conn, &info).await };
        Box::pin(run_hook(WsEvent::CloseError, &conn, hook)).await;
    }
    emit(&conn, WsEvent::CloseAfter, None);
    // Before its rooms are left: a resumable session keeps them.
    crate::runtime::recovery::closed(&conn, Some(info.code));
    conn.server().rooms().leave_all(conn.fd());
    drop(cleanup);
}

/// The connection, live: among the server's sessions and counted, and closed at once (1001)
/// if the server began draining meanwhile; with the clean-up that undoes it.
fn go_live(
    parts: ConnParts,
    tx: crate::ws::outbound::OutboundTx,
    fd: FdGuard,
    admission: Admission,
) -> (Connection, Cleanup) {
    let conn = Connection::new(parts, tx);
    conn.server().start_sweeper();
    // The `$session` frame first (and a resume's rooms, label and replay), before anything
    // can reach the connection through the session map.
    crate::runtime::recovery::open(&conn);
    conn.server().sessions().insert(conn.clone());
    conn.module().metrics.connections.increment(1);
    if conn.server().shutdown_state().draining.is_cancelled() {
        // Accepted as the drain began, possibly after it signalled every connection.
        conn.draining().cancel();
        conn.close(close_code::GOING_AWAY, crate::runtime::shutdown::REASON);
    }
    let cleanup = Cleanup {
        conn: conn.clone(),
        _fd: fd,
        _admission: admission,
    };
    (conn, cleanup)
}

/// The close frame to send: the answer to the client's close, or the close the server asked
/// for (1000 if none); none when the socket ended.
fn close_frame(
    conn: &Connection,
    info: &CloseInfo,
    reply: Option<CloseFrame>,
) -> Option<CloseFrame> {
    match info.by {
        ClosedBy::Client => reply,
        ClosedBy::Server => {
            let (code, reason) = conn
                .close_request()
                .unwrap_or((close_code::NORMAL, String::new()));
            Some(CloseFrame {
                code,
                reason: reason.into(),
            })
        }
        ClosedBy::Transport => None,
    }
}

/// The close of the socket: one deadline for the whole close, whatever the peer does. What is
/// queued goes out first (the slow-consumer close dropped it already), then the close frame,
/// then the socket ends (RFC 6455 section 7.1.1). A peer that does not read or does not answer
/// has its socket dropped at the deadline.
async fn close_socket(
    conn: &Connection,
    mut transport: Transport,
    rx: OutboundRx,
    info: &CloseInfo,
    reply: Option<CloseFrame>,
) {
    let deadline = tokio::time::Instant::now() + conn.server().config().close_timeout;
    rx.refuse();
    let written = info.by != ClosedBy::Transport
        && write_close(
            conn,
            &mut transport,
            &rx,
            close_frame(conn, info, reply),
            deadline,
        )
        .await;
    if written {
        // The server started the close: wait for the peer's close frame (or its end), reading
        // and discarding what it still sends, so the socket ends with a FIN, not a reset.
        let linger = info.by == ClosedBy::Server;
        if !transport.finish(linger, deadline).await {
            tracing::debug!(fd = %conn.fd(), "the peer did not end in time; dropping the socket");
        }
    }
}

/// Queues the close frame after what is queued, and writes them by `deadline`.
/// True once written (the socket may be shut down); false when the socket failed, or when the
/// client did not read in time (its socket is then dropped without the close frame).
async fn write_close(
    conn: &Connection,
    transport: &mut Transport,
    rx: &OutboundRx,
    frame: Option<CloseFrame>,
    deadline: tokio::time::Instant,
) -> bool {
    rx.push_control(Message::Close(frame), true);
    let flushed = tokio::time::timeout_at(
        deadline,
        std::future::poll_fn(|cx| transport.poll_flush(cx, rx, false).map(|r| r.is_ok())),
    )
    .await;
    match flushed {
        Ok(written) => written,
        Err(_) => {
            tracing::debug!(fd = %conn.fd(), "close not written in time; dropping the socket");
            false
        }
    }
}

/// Runs an open/close hook, with its connection as the task's current one (`Connection::current`):
/// a panic is logged, and a hook past the module's handler timeout is
/// dropped (logged), so that no hook holds its connection forever.
async fn run_hook(
    error_event: WsEvent,
    conn: &Connection,
    fut: impl std::future::Future<Output = ()>,
) {
    let kind = match error_event {
        WsEvent::OpenError => "on_open",
        _ => "on_close",
    };
    let caught = AssertUnwindSafe(conn.scope(fut)).catch_unwind();
    let result = match conn.module().limits.handler_timeout {
        Some(t) => match tokio::time::timeout(t, caught).await {
            Ok(r) => r,
            Err(_) => {
                conn.module().metrics.timeouts.increment(1);
                tracing::warn!(hook = kind, fd = %conn.fd(), timeout = ?t, "hook timed out; dropped");
                return;
            }
        },
        None => caught.await,
    };
    if let Err(panic) = result {
        let panic = panic_message(&*panic);
        tracing::error!(
            hook = kind, fd = %conn.fd(), panic = %panic,
            "hook panicked; the connection goes on"
        );
        emit(conn, error_event, Some(&panic));
    }
}
