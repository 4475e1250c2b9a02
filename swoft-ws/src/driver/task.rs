//! The task of one upgraded connection, from open to close: the session and its clean-up, the
//! open and close hooks, the read loop (which reads frames, applies the rate limit and hands
//! messages to [`super::message`], in order or up to the module's `concurrency` at once, and
//! writes the replies in batches), and the close sequence.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::driver::accept::Admission;
use crate::driver::message::handle_message;
use crate::driver::panic_message;
use crate::driver::rate::{Bucket, Verdict};
use crate::protocol::reply::WsError;
use crate::runtime::connection::{CloseInfo, ClosedBy, ConnParts, Connection};
use crate::runtime::fd::FdGuard;
use crate::runtime::module::ModuleRuntime;
use crate::ws::RawMessage;
use crate::ws::close_code;
use crate::ws::codec::Incoming;
use crate::ws::outbound::{Flushed, OutboundRx};
use crate::ws::transport::{Event, Transport};

/// Removes the session and frees the fd when dropped, whatever way the task ends.
struct Cleanup {
    conn: Connection,
    _fd: FdGuard,
    _admission: Admission,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.conn.module().metrics.connections.decrement(1);
        let server = self.conn.server();
        // Normally done after #[on_close]; again here for a task that was cancelled.
        server.rooms().leave_all(self.conn.fd());
        server.sessions().remove(self.conn.fd(), self.conn.id());
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
    run_connection(on_upgrade, parts, fd, admission).instrument(span)
}

/// Waits for the upgrade, then drives the connection over the upgraded socket.
async fn run_connection(
    on_upgrade: OnUpgrade,
    parts: ConnParts,
    fd: FdGuard,
    admission: Admission,
) {
    let upgraded = match on_upgrade.await {
        Ok(u) => u,
        Err(e) => {
            tracing::debug!(error = %e, "the upgrade failed");
            return;
        }
    };
    let cfg = parts.server.config();
    let limits = &parts.module.limits;
    let (transport, tcp) = Transport::new(
        upgraded,
        cfg.read_buffer_size,
        limits.max_frame_size,
        limits.max_message_size,
    );
    drive(transport, tcp, parts, fd, admission).await;
}

/// The connection over its transport, from open to close: it goes live, runs its
/// `#[on_open]` hook, reads and handles messages until it ends, writes its close, runs its
/// `#[on_close]` hook and cleans up. `tcp` is the socket the queue may write to directly (see
/// [`Transport::new`]). The unit tests start here, over an in-memory stream.
pub(super) async fn drive(
    mut transport: Transport,
    tcp: Option<Arc<TcpStream>>,
    parts: ConnParts,
    fd: FdGuard,
    admission: Admission,
) {
    let (tx, rx) = crate::ws::outbound::queue(parts.server.config().outbound_queue, tcp);
    let (conn, cleanup) = go_live(parts, tx, fd, admission);
    let module = conn.module().clone();
    tracing::debug!(fd = %conn.fd(), id = %conn.id(), path = module.path, "connection open");

    if let Some(open) = module.hooks.open {
        // Boxed, as the close hook: run once, they would otherwise add their size to every
        // connection's task for its whole life.
        let hook = Box::pin(run_hook("on_open", &conn, async {
            open(&*module.instance, &conn).await
        }));
        with_writes(&conn, &mut transport, &rx, hook).await;
    }

    let (info, reply) = read_loop(&conn, &module, &mut transport, &rx).await;
    conn.start_closing();
    // What is queued goes out first (the slow-consumer close dropped it already), then the
    // close frame; a client that does not read gets its socket dropped after `close_timeout`.
    rx.refuse();
    if info.by != ClosedBy::Transport
        && write_close(&conn, &mut transport, &rx, close_frame(&conn, &info, reply)).await
    {
        transport.shutdown().await;
    }
    drop(rx);

    tracing::debug!(fd = %conn.fd(), code = info.code, by = ?info.by, "connection closed");
    if let Some(close) = module.hooks.close {
        let hook = async { close(&*module.instance, &conn, &info).await };
        Box::pin(run_hook("on_close", &conn, hook)).await;
    }
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

/// Queues the close frame after what is queued, and writes them within the close timeout.
/// True once written (the socket may be shut down); false when the socket failed, or when the
/// client did not read in time (its socket is then dropped without the close frame).
async fn write_close(
    conn: &Connection,
    transport: &mut Transport,
    rx: &OutboundRx,
    frame: Option<CloseFrame>,
) -> bool {
    rx.push_control(Message::Close(frame), true);
    let close_timeout = conn.server().config().close_timeout;
    let flushed = tokio::time::timeout(
        close_timeout,
        std::future::poll_fn(|cx| {
            loop {
                match ready!(transport.poll_flush(cx, rx, false)) {
                    Ok(Flushed::Close(..)) => continue,
                    Ok(Flushed::Empty) => return Poll::Ready(true),
                    Err(_) => return Poll::Ready(false),
                }
            }
        }),
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

/// What the queue's writer stopped at, applied to the connection: a close it reached starts
/// the close; a failed socket ends the connection.
fn flushed(conn: &Connection, r: Poll<std::io::Result<Flushed>>) {
    match r {
        Poll::Ready(Ok(Flushed::Close(code, reason))) => conn.force_close(code, &reason),
        Poll::Ready(Err(e)) => {
            tracing::debug!(fd = %conn.fd(), error = %e, "write failed");
            conn.start_closing();
        }
        Poll::Ready(Ok(Flushed::Empty)) | Poll::Pending => {}
    }
}

/// Runs `fut` while writing what gets queued for the connection meanwhile.
async fn with_writes<F: std::future::Future>(
    conn: &Connection,
    transport: &mut Transport,
    rx: &OutboundRx,
    fut: F,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        flushed(conn, transport.poll_flush(cx, rx, false));
        Poll::Pending
    })
    .await
}

/// Runs an open/close hook: a panic is logged, and a hook past the module's handler timeout is
/// dropped (logged), so that no hook holds its connection forever.
async fn run_hook(kind: &str, conn: &Connection, fut: impl std::future::Future<Output = ()>) {
    let caught = AssertUnwindSafe(fut).catch_unwind();
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
        tracing::error!(
            hook = kind, fd = %conn.fd(), panic = panic_message(&*panic),
            "hook panicked; the connection goes on"
        );
    }
}

/// What one turn of the socket gave the read loop.
enum Step {
    Event(Event),
    /// The writer reached a close the server asked for.
    Close(u16, Utf8Bytes),
    WriteFailed(std::io::Error),
}

/// Reads frames and handles them until the connection ends; returns how it ended, and, when
/// the client closed, the close frame to answer with.
///
/// With the module's `concurrency` at 1 (the default) each message is handled to the end
/// before the next frame is read: in order, and a slow handler slows only its own connection.
/// Above 1, up to that many messages of the connection are handled at once (replies in the
/// order they finish); reading pauses while the limit is reached.
///
/// Every frame already read is handled before the replies are written: their replies go out
/// in one write. The same loop marks when the client was last heard from (for the server's
/// liveness sweeper, which pings and closes idle connections); applies the rate limit; and,
/// once the server drains, stops reading new messages (in-flight ones finish).
async fn read_loop(
    conn: &Connection,
    module: &Arc<ModuleRuntime>,
    transport: &mut Transport,
    rx: &OutboundRx,
) -> End {
    let limit = usize::from(module.concurrency.max(1));
    let cfg = conn.server().config();
    // Only with concurrency above 1: `FuturesUnordered::new` allocates a stub task as large
    // as `handle_message`'s future (~2 KiB), on every connection.
    let mut inflight = None;
    let mut slot = None;
    let closing = conn.closing().cancelled();
    let mut closing = std::pin::pin!(closing);
    let draining_fut = conn.draining().cancelled();
    let mut draining_fut = std::pin::pin!(draining_fut);
    let mut draining = conn.draining().is_cancelled();
    let mut bucket = module.limits.rate_limit.map(Bucket::new);
    let mut turn = Turn::default();
    let info = loop {
        let read = !draining && pending(&inflight) < limit;
        let direct = read && pending(&inflight) == 0;
        let step = tokio::select! {
            biased;
            _ = &mut closing => break (server_close(conn), None),
            _ = &mut draining_fut, if !draining => {
                draining = true;
                continue;
            }
            Some(()) = next_done(&mut inflight), if pending(&inflight) > 0 => {
                if pending(&inflight) == 0 {
                    conn.seen(Instant::now());
                }
                continue;
            }
            step = std::future::poll_fn(|cx| {
                poll_step(cx, transport, rx, read, direct, &mut turn)
            }) => step,
        };
        let event = match step {
            Step::Event(ev) => ev,
            Step::Close(code, reason) => {
                conn.force_close(code, &reason);
                continue;
            }
            Step::WriteFailed(e) => break write_failed(conn, &e),
        };
        let now = Instant::now();
        conn.seen(now);
        let frame = match read_frame(conn, rx, event) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(end) => break end,
        };
        if let Some(b) = &mut bucket {
            match rate_limit(conn, module, b, now) {
                Ok(None) => {}
                Ok(Some(e)) => {
                    Box::pin(handle_message(conn, module, frame, now, Some(e))).await;
                    continue;
                }
                Err(end) => break end,
            }
        }
        if limit == 1 {
            // In a slot of its own, allocated at the first message and reused: inline, the
            // message's future (~2 KiB) would be part of every connection's task, also idle ones
            // that never send anything.
            let slot = slot.get_or_insert_with(|| Box::pin(None));
            conn.busy();
            slot.set(Some(handle_message(conn, module, frame, now, None)));
            // A handler that waits: what it sends meanwhile goes out meanwhile.
            let handled = std::future::poll_fn(|cx| match slot.as_mut().as_pin_mut() {
                Some(f) => f.poll(cx),
                None => Poll::Ready(()),
            });
            with_writes(conn, transport, rx, handled).await;
            slot.set(None);
            // Nothing was read while the handler ran: its end counts as the last sign of life.
            conn.seen(Instant::now());
        } else {
            conn.busy();
            inflight
                .get_or_insert_with(FuturesUnordered::new)
                .push(handle_message(conn, module, frame, now, None));
        }
    };
    // Messages still being handled may finish (replies to a closed socket are dropped).
    if let Some(inflight) = inflight {
        finish(inflight, cfg.close_timeout).await;
    }
    info
}

/// How a connection ended, and the close frame to answer the client's close with.
type End = (CloseInfo, Option<CloseFrame>);

/// The socket failed to write: the connection ends (1006).
fn write_failed(conn: &Connection, e: &std::io::Error) -> End {
    tracing::debug!(fd = %conn.fd(), error = %e, "write failed");
    (
        CloseInfo {
            code: close_code::ABNORMAL,
            reason: e.to_string(),
            by: ClosedBy::Transport,
        },
        None,
    )
}

/// The rate limit applied to a message: `None` to handle it, the error to answer it with
/// (`rate_limited`), or, for a client over the limit again and again, the end (1008).
fn rate_limit(
    conn: &Connection,
    module: &ModuleRuntime,
    bucket: &mut Bucket,
    now: Instant,
) -> Result<Option<WsError>, End> {
    match bucket.take(now) {
        Verdict::Pass => Ok(None),
        Verdict::Limited => {
            module.metrics.rate_limited.increment(1);
            Ok(Some(WsError::new(
                crate::protocol::reply::codes::RATE_LIMITED,
                "too many messages",
            )))
        }
        Verdict::Abuse => {
            module.metrics.closed_abuse.increment(1);
            tracing::warn!(fd = %conn.fd(), "rate limit exceeded again and again: closing (1008)");
            let reason = "rate limit exceeded";
            conn.force_close(close_code::POLICY, reason);
            Err((
                CloseInfo {
                    code: close_code::POLICY,
                    reason: reason.to_owned(),
                    by: ClosedBy::Server,
                },
                None,
            ))
        }
    }
}

/// Lets the messages still being handled finish, for at most `timeout`.
async fn finish<F: std::future::Future<Output = ()>>(
    mut inflight: FuturesUnordered<F>,
    timeout: std::time::Duration,
) {
    let _ = tokio::time::timeout(timeout, async { while inflight.next().await.is_some() {} }).await;
}

/// Frames handled before their replies are written, at most (then the queue is written even
/// if more frames are waiting).
const BATCH: usize = 32;

/// The socket's side of the read loop between two writes.
#[derive(Default)]
struct Turn {
    /// Frames handled since the queue was last written.
    unflushed: usize,
    /// Senders may be writing to the socket directly (see `crate::ws::outbound`).
    open: bool,
}

/// One turn of the socket: the next frame already read, or read now while the replies of those
/// before it wait (up to `BATCH`: they go out in one write); else the queue is written and the
/// socket read.
fn poll_step(
    cx: &mut std::task::Context<'_>,
    transport: &mut Transport,
    rx: &OutboundRx,
    read: bool,
    direct: bool,
    turn: &mut Turn,
) -> Poll<Step> {
    if read && turn.unflushed < BATCH {
        let next = match transport.buffered() {
            Some(ev) => Some(ev),
            // More may have come meanwhile: a read that finds nothing costs no system call
            // when the socket was not reported readable.
            None if turn.unflushed > 0 => match transport.poll_read(cx) {
                Poll::Ready(ev) => Some(ev),
                Poll::Pending => None,
            },
            None => None,
        };
        if let Some(ev) = next {
            turn.unflushed += 1;
            return Poll::Ready(Step::Event(ev));
        }
    }
    turn.unflushed = 0;
    match transport.poll_flush(cx, rx, direct) {
        Poll::Ready(Ok(Flushed::Empty)) => turn.open = direct,
        Poll::Ready(Ok(Flushed::Close(code, reason))) => {
            return Poll::Ready(Step::Close(code, reason));
        }
        Poll::Ready(Err(e)) => return Poll::Ready(Step::WriteFailed(e)),
        Poll::Pending => {}
    }
    if !read {
        return Poll::Pending;
    }
    let ev = ready!(transport.poll_read(cx));
    if std::mem::take(&mut turn.open) {
        // Busy with what was read: replies and pushes queue up, to go out in one write.
        rx.shut_direct();
    }
    turn.unflushed = 1;
    Poll::Ready(Step::Event(ev))
}

/// How many messages are being handled concurrently (none without the set).
fn pending<F>(inflight: &Option<FuturesUnordered<F>>) -> usize {
    inflight.as_ref().map_or(0, FuturesUnordered::len)
}

/// The next concurrently handled message to finish.
async fn next_done<F: std::future::Future<Output = ()>>(
    inflight: &mut Option<FuturesUnordered<F>>,
) -> Option<()> {
    match inflight {
        Some(f) => f.next().await,
        None => None,
    }
}

/// A data frame to handle, nothing (a ping or pong), or how the connection ended (with the
/// close frame to answer the client's with).
fn read_frame(conn: &Connection, rx: &OutboundRx, event: Event) -> Result<Option<RawMessage>, End> {
    match event {
        Event::Frame(Incoming::Text(t)) => Ok(Some(RawMessage::Text(t.into()))),
        Event::Frame(Incoming::Binary(b)) => Ok(Some(RawMessage::Binary(b))),
        Event::Frame(Incoming::Ping(p)) => {
            if !conn.is_closing() {
                rx.push_control(Message::Pong(p), false);
            }
            Ok(None)
        }
        Event::Frame(Incoming::Pong(_)) => Ok(None),
        Event::Frame(Incoming::Close(frame)) => {
            let (info, reply) = match frame {
                Some((code, reason)) => (
                    CloseInfo {
                        code,
                        reason: reason.to_string(),
                        by: ClosedBy::Client,
                    },
                    // The usual answer: the client's code back.
                    Some(CloseFrame {
                        code,
                        reason: Utf8Bytes::default(),
                    }),
                ),
                None => (
                    CloseInfo {
                        code: close_code::NO_STATUS,
                        reason: String::new(),
                        by: ClosedBy::Client,
                    },
                    None,
                ),
            };
            Err((info, reply))
        }
        Event::Violation(v) => {
            // The client broke the protocol: close with the code that says how.
            tracing::info!(fd = %conn.fd(), code = v.code, "closing: {}", v.reason);
            conn.force_close(v.code, v.reason);
            Err((
                CloseInfo {
                    code: v.code,
                    reason: v.reason.to_owned(),
                    by: ClosedBy::Server,
                },
                None,
            ))
        }
        Event::Ended(e) => {
            if let Some(e) = &e {
                tracing::debug!(fd = %conn.fd(), error = %e, "read failed");
            }
            Err((
                CloseInfo {
                    code: close_code::ABNORMAL,
                    reason: e.map(|e| e.to_string()).unwrap_or_default(),
                    by: ClosedBy::Transport,
                },
                None,
            ))
        }
    }
}

fn server_close(conn: &Connection) -> CloseInfo {
    let (code, reason) = conn
        .close_request()
        .unwrap_or((close_code::NORMAL, String::new()));
    CloseInfo {
        code,
        reason,
        by: ClosedBy::Server,
    }
}
