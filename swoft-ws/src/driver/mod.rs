//! The path of a connection: handshake, upgrade, the read loop that dispatches messages in
//! order, the writer task, and the clean-up that runs whatever way the connection ends.

mod accept;

use std::any::Any;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use std::task::{Poll, ready};

use axum::extract::Request;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use axum::response::{IntoResponse, Response};
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use http::StatusCode;
use hyper::upgrade::OnUpgrade;
use tracing::Instrument;

use crate::config::limits::RateLimit;
use crate::driver::accept::{Admission, Full};
use crate::handshake::{Accept, HandshakeRequest};
use crate::protocol::Decoded;
use crate::protocol::reply::{Reply, WsError};
use crate::runtime::connection::{CloseInfo, ClosedBy, ConnParts, Connection};
use crate::runtime::context::Context;
use crate::runtime::fd::FdGuard;
use crate::runtime::metrics::CommandMetrics;
use crate::runtime::middleware::{Endpoint, Middleware, Next};
use crate::runtime::module::{ModuleRuntime, Route};
use crate::runtime::server::Server;
use crate::ws::RawMessage;
use crate::ws::close_code;
use crate::ws::codec::Incoming;
use crate::ws::outbound::{Flushed, OutboundRx};
use crate::ws::transport::{self, Event, Transport};

/// The axum handler of a module's path: the handshake.
pub(crate) async fn upgrade(server: Server, module: Arc<ModuleRuntime>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let upgrade = match transport::check(&parts.method, &parts.headers, &mut parts.extensions) {
        Ok(u) => u,
        Err(response) => return *response,
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if server.shutdown_state().draining.is_cancelled() {
        module.metrics.refused_busy.increment(1);
        return (StatusCode::SERVICE_UNAVAILABLE, "server shutting down").into_response();
    }
    if !module.limits.origins.allows(&parts.headers) {
        module.metrics.refused_origin.increment(1);
        tracing::info!(
            path = module.path, peer = ?peer, origin = ?parts.headers.get(http::header::ORIGIN),
            "handshake refused: origin not allowed"
        );
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let admission = match Admission::try_new(&server, &module) {
        Ok(a) => a,
        Err(full) => {
            module.metrics.full.increment(1);
            let reason = match full {
                Full::Server => "server is full",
                Full::Module => "module is full",
            };
            tracing::warn!(path = module.path, peer = ?peer, "handshake refused: {reason}");
            return (StatusCode::SERVICE_UNAVAILABLE, reason).into_response();
        }
    };
    let request = Arc::new(
        HandshakeRequest::new(parts.uri, parts.headers, peer).with_extensions(parts.extensions),
    );

    let accept = match &module.hooks.handshake {
        None => Accept::new(),
        Some(hook) => {
            // Called inside the future: a plain `fn` hook panics when called, not when polled.
            let fut = async { hook(&*module.instance, &request).await };
            match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(accept)) => accept,
                Ok(Err(reject)) => {
                    module.metrics.rejected.increment(1);
                    tracing::info!(
                        path = module.path, peer = ?peer, status = %reject.status,
                        reason = %reject.reason, "handshake rejected"
                    );
                    return (reject.status, reject.reason).into_response();
                }
                Err(panic) => {
                    module.metrics.failed.increment(1);
                    tracing::error!(
                        path = module.path,
                        panic = panic_message(&*panic),
                        "#[on_handshake] panicked; answering 500"
                    );
                    return (StatusCode::INTERNAL_SERVER_ERROR, "handshake failed").into_response();
                }
            }
        }
    };

    let fd = match server.fds_arc().allocate_guarded() {
        Ok(fd) => fd,
        Err(e) => {
            module.metrics.full.increment(1);
            tracing::warn!(error = %e, "handshake refused: no free fd");
            return (StatusCode::SERVICE_UNAVAILABLE, "server is full").into_response();
        }
    };

    let Accept {
        headers,
        protocol,
        session,
    } = accept;
    let protocol = protocol.filter(|p| {
        let offered = request.protocols().iter().any(|o| o == p);
        if !offered {
            tracing::warn!(protocol = %p, "chosen subprotocol was not offered by the client; left out");
        }
        offered
    });
    module.metrics.accepted.increment(1);
    let mut response = upgrade.response(protocol.as_deref());
    tokio::spawn(run(
        upgrade.on_upgrade,
        ConnParts {
            fd: fd.fd(),
            request,
            module,
            server,
            protocol,
            session,
        },
        fd,
        admission,
    ));
    response.headers_mut().extend(headers);
    response
}

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
fn run(
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
    let (mut transport, tcp) = Transport::new(
        upgraded,
        cfg.read_buffer_size,
        limits.max_frame_size,
        limits.max_message_size,
    );
    let (tx, rx) = crate::ws::outbound::queue(cfg.outbound_queue, tcp);
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
    let frame = match info.by {
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
    };
    if info.by != ClosedBy::Transport {
        rx.push_control(Message::Close(frame), true);
        let close_timeout = conn.server().config().close_timeout;
        let flushed = tokio::time::timeout(
            close_timeout,
            std::future::poll_fn(|cx| {
                loop {
                    match ready!(transport.poll_flush(cx, &rx, false)) {
                        Ok(Flushed::Close(..)) => continue,
                        Ok(Flushed::Empty) => return Poll::Ready(true),
                        Err(_) => return Poll::Ready(false),
                    }
                }
            }),
        )
        .await;
        match flushed {
            Ok(true) => transport.shutdown().await,
            Ok(false) => {}
            // A client that does not read: its socket is dropped without the close frame.
            Err(_) => {
                tracing::debug!(fd = %conn.fd(), "close not written in time; dropping the socket")
            }
        }
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
) -> (CloseInfo, Option<CloseFrame>) {
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
            Step::WriteFailed(e) => {
                tracing::debug!(fd = %conn.fd(), error = %e, "write failed");
                break (
                    CloseInfo {
                        code: close_code::ABNORMAL,
                        reason: e.to_string(),
                        by: ClosedBy::Transport,
                    },
                    None,
                );
            }
        };
        let now = Instant::now();
        conn.seen(now);
        let frame = match read_frame(conn, rx, event) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(end) => break end,
        };
        if let Some(b) = &mut bucket {
            match b.take(now) {
                Verdict::Pass => {}
                Verdict::Limited => {
                    module.metrics.rate_limited.increment(1);
                    let e = WsError::new(
                        crate::protocol::reply::codes::RATE_LIMITED,
                        "too many messages",
                    );
                    Box::pin(handle_message(conn, module, frame, now, Some(e))).await;
                    continue;
                }
                Verdict::Abuse => {
                    module.metrics.closed_abuse.increment(1);
                    tracing::warn!(fd = %conn.fd(), "rate limit exceeded again and again: closing (1008)");
                    let reason = "rate limit exceeded";
                    conn.force_close(close_code::POLICY, reason);
                    break (
                        CloseInfo {
                            code: close_code::POLICY,
                            reason: reason.to_owned(),
                            by: ClosedBy::Server,
                        },
                        None,
                    );
                }
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
    if let Some(mut inflight) = inflight {
        let _ = tokio::time::timeout(cfg.close_timeout, async {
            while inflight.next().await.is_some() {}
        })
        .await;
    }
    info
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

/// A token bucket per connection, in the read loop (no sharing, no atomics).
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    strikes: u32,
    window_start: Instant,
}

enum Verdict {
    Pass,
    Limited,
    Abuse,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        let now = Instant::now();
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
            strikes: 0,
            window_start: now,
        }
    }

    fn take(&mut self, now: Instant) -> Verdict {
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(self.limit.per_second);
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Pass;
        }
        if now.duration_since(self.window_start) > self.limit.window {
            self.window_start = now;
            self.strikes = 0;
        }
        self.strikes += 1;
        if self.strikes > self.limit.close_after {
            Verdict::Abuse
        } else {
            Verdict::Limited
        }
    }
}

/// A data frame to handle, nothing (a ping or pong), or how the connection ended (with the
/// close frame to answer the client's with).
fn read_frame(
    conn: &Connection,
    rx: &OutboundRx,
    event: Event,
) -> Result<Option<RawMessage>, (CloseInfo, Option<CloseFrame>)> {
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

enum Target<'m> {
    Route(&'m Route),
    OnMessage(crate::runtime::handler::DispatchFn),
    Fail(WsError),
}

impl<'m> Target<'m> {
    /// The middleware chain and what it ends in.
    fn endpoint(&'m self, module: &'m ModuleRuntime) -> (&'m [Arc<dyn Middleware>], Endpoint<'m>) {
        match self {
            Target::Route(r) => (
                &r.chain,
                Endpoint::Handler {
                    dispatch: r.dispatch,
                    instance: &*r.instance,
                    index: r.index,
                },
            ),
            Target::OnMessage(f) => (
                &module.chain,
                Endpoint::Handler {
                    dispatch: *f,
                    instance: &*module.instance,
                    index: 0,
                },
            ),
            Target::Fail(e) => (&module.chain, Endpoint::Fail(e)),
        }
    }
}

/// One message: decode, route, dispatch under its Context (within the handler timeout),
/// reply. With `rejected`, the message is answered with that error and not dispatched.
pub(crate) async fn handle_message(
    conn: &Connection,
    module: &Arc<ModuleRuntime>,
    frame: RawMessage,
    started: Instant,
    rejected: Option<WsError>,
) {
    let (decoded, target, command) = match module.parser.decode(&frame) {
        Err(e) => (Decoded::default(), Target::Fail(e), None),
        Ok(decoded) => {
            let cmd = decoded.command.as_ref().and_then(|p| p.resolve(&frame));
            let (target, command) = route(module, cmd);
            (decoded, target, command)
        }
    };
    let metrics = match &target {
        Target::Route(r) => &*r.metrics,
        _ => &module.metrics.unmapped,
    };
    metrics.messages_in.increment(1);
    let cx = Context::new(conn.clone(), frame, decoded, command, started);
    let (chain, endpoint) = target.endpoint(module);
    let span = tracing::debug_span!("ws.msg", cmd = cx.command(), id = cx.id());
    let reply = match rejected {
        Some(e) => Reply::Error(e),
        None => {
            let run = cx
                .clone()
                .scope(call(chain, endpoint, &cx))
                .instrument(span.clone());
            let deadline = module.limits.handler_timeout.map(|d| started + d);
            match guarded(run, deadline, conn.abort()).await {
                Ok(reply) => reply,
                Err(Stop::Timeout) => {
                    module.metrics.timeouts.increment(1);
                    span.in_scope(|| {
                        tracing::warn!(
                            fd = %cx.fd(), timeout = ?module.limits.handler_timeout,
                            "handler timed out; answering `timeout`"
                        );
                    });
                    Reply::Error(WsError::new(
                        crate::protocol::reply::codes::TIMEOUT,
                        "the handler took too long",
                    ))
                }
                Err(Stop::Aborted) => Reply::None,
            }
        }
    };
    let outcome = send_reply(&cx, module, metrics, reply);
    let elapsed = started.elapsed();
    metrics.latency.record(elapsed);
    span.in_scope(
        || tracing::debug!(outcome = %outcome, us = elapsed.as_micros() as u64, "message handled"),
    );
}

/// Why a handler was stopped.
enum Stop {
    /// It ran past the handler timeout.
    Timeout,
    /// The server's shutdown grace is over.
    Aborted,
}

/// Runs a handler to its end, its deadline, or the shutdown's abort, whichever comes first.
/// A handler that is done at its first poll (every plain `fn` handler) costs no timer.
async fn guarded<F: std::future::Future<Output = Reply>>(
    fut: F,
    deadline: Option<Instant>,
    abort: &crate::runtime::connection::Signal,
) -> Result<Reply, Stop> {
    let mut fut = std::pin::pin!(fut);
    if let Some(reply) = (&mut fut).now_or_never() {
        return Ok(reply);
    }
    let expired = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        reply = &mut fut => Ok(reply),
        _ = abort.cancelled() => Err(Stop::Aborted),
        _ = expired => Err(Stop::Timeout),
    }
}

fn route<'m>(module: &'m ModuleRuntime, cmd: Option<&str>) -> (Target<'m>, Option<Arc<str>>) {
    let found = match cmd {
        Some(c) if !c.is_empty() => module.routes.get(c),
        _ => module.default_route.as_ref(),
    };
    match found {
        Some(r) => (Target::Route(r), Some(r.command.clone())),
        None => {
            let command = cmd.filter(|c| !c.is_empty()).map(Arc::from);
            match module.hooks.message {
                Some(f) => (Target::OnMessage(f), command),
                None => (
                    Target::Fail(WsError::unknown_command(cmd.unwrap_or(""))),
                    command,
                ),
            }
        }
    }
}

/// Runs the middleware chain (if any) and the handler, turning a panic in either into an
/// `internal` error reply.
async fn call(chain: &[Arc<dyn Middleware>], endpoint: Endpoint<'_>, cx: &Context) -> Reply {
    let fut = async {
        if chain.is_empty() {
            endpoint.call(cx).await
        } else {
            Next::new(chain, endpoint).run(cx).await
        }
    };
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(reply) => reply,
        Err(panic) => {
            tracing::error!(
                fd = %cx.fd(), command = cx.command(), panic = panic_message(&*panic),
                "handler panicked; answering `internal`"
            );
            Reply::Error(WsError::internal("the handler failed"))
        }
    }
}

/// Packs and queues the reply; returns the outcome for the log (`ok`, `none`, an error code).
fn send_reply(
    cx: &Context,
    module: &ModuleRuntime,
    metrics: &CommandMetrics,
    reply: Reply,
) -> std::borrow::Cow<'static, str> {
    let parser = &module.parser;
    let (frame, outcome) = match reply {
        Reply::None => return "none".into(),
        Reply::Raw(m) => (m, "ok".into()),
        Reply::Data(data) => (
            parser.encode_reply(cx.command().unwrap_or(""), cx.id(), &data),
            "ok".into(),
        ),
        Reply::Error(e) => {
            tracing::debug!(code = e.code(), message = e.message(), "error reply");
            module.metrics.error_reply(e.code());
            (
                parser.encode_error(cx.command(), cx.id(), &e),
                e.code().to_owned().into(),
            )
        }
    };
    match cx.connection().send(frame) {
        Ok(()) => metrics.messages_out.increment(1),
        Err(e) => tracing::warn!(error = %e, "reply not delivered"),
    }
    outcome
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
