//! The path of a connection: handshake, upgrade, the read loop that dispatches messages in
//! order, the writer task, and the clean-up that runs whatever way the connection ends.

use std::any::Any;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{FuturesUnordered, SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use http::StatusCode;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::context::Context;
use crate::fd::FdGuard;
use crate::handshake::{Accept, HandshakeRequest};
use crate::metrics::CommandMetrics;
use crate::middleware::{Endpoint, Middleware, Next};
use crate::protocol::{Decoded, RawMessage};
use crate::registry::{ModuleRuntime, Route};
use crate::reply::{Reply, WsError};
use crate::server::Server;
use crate::session::{CloseInfo, ClosedBy, ConnParts, Connection, Outbound, close_code};

/// How long the writer gets to flush and send the close frame once the connection ends.
const WRITER_GRACE: Duration = Duration::from_secs(5);
/// The most frames the writer feeds before it flushes.
const WRITE_BATCH: usize = 64;

/// The axum handler of a module's path: the handshake.
pub(crate) async fn upgrade(server: Server, module: Arc<ModuleRuntime>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let request = Arc::new(
        HandshakeRequest::new(parts.uri, parts.headers, peer).with_extensions(parts.extensions),
    );

    let accept = match &module.hooks.handshake {
        None => Accept::new(),
        Some(hook) => {
            let fut = hook(&*module.instance, &request);
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

    let cfg = server.config();
    let mut ws = ws
        .read_buffer_size(cfg.read_buffer_size)
        .max_message_size(cfg.max_message_size)
        .max_frame_size(cfg.max_frame_size);
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
    if let Some(p) = &protocol {
        ws = ws.protocols([p.clone()]);
    }
    module.metrics.accepted.increment(1);
    let mut response = ws.on_upgrade(move |socket| {
        run(
            socket,
            ConnParts {
                fd: fd.fd(),
                request,
                module,
                server,
                protocol,
                session,
            },
            fd,
        )
    });
    response.headers_mut().extend(headers);
    response
}

/// Removes the session and frees the fd when dropped, whatever way the task ends.
struct Cleanup {
    conn: Connection,
    _fd: FdGuard,
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
async fn run(socket: WebSocket, parts: ConnParts, fd: FdGuard) {
    let span = tracing::info_span!(
        "ws.conn",
        path = parts.module.path,
        fd = %parts.fd,
        peer = ?parts.request.peer_addr(),
    );
    run_connection(socket, parts, fd).instrument(span).await;
}

async fn run_connection(socket: WebSocket, parts: ConnParts, fd: FdGuard) {
    let (sink, mut stream) = socket.split();
    let (tx, rx) = mpsc::channel(parts.server.config().outbound_queue);
    let conn = Connection::new(parts, tx);
    conn.server().sessions().insert(conn.clone());
    conn.module().metrics.connections.increment(1);
    let cleanup = Cleanup {
        conn: conn.clone(),
        _fd: fd,
    };
    let module = conn.module().clone();
    tracing::debug!(fd = %conn.fd(), id = %conn.id(), path = module.path, "connection open");

    let writer = tokio::spawn(write_loop(sink, rx, conn.clone()).in_current_span());

    if let Some(open) = module.hooks.open {
        run_hook("on_open", &conn, open(&*module.instance, &conn)).await;
    }

    let info = read_loop(&conn, &module, &mut stream).await;
    conn.closing().cancel();
    match tokio::time::timeout(WRITER_GRACE, writer).await {
        Ok(_) => {}
        Err(_) => tracing::debug!(fd = %conn.fd(), "writer did not finish in time"),
    }
    drop(stream);

    tracing::debug!(fd = %conn.fd(), code = info.code, by = ?info.by, "connection closed");
    if let Some(close) = module.hooks.close {
        run_hook("on_close", &conn, close(&*module.instance, &conn, &info)).await;
    }
    conn.server().rooms().leave_all(conn.fd());
    drop(cleanup);
}

async fn run_hook(kind: &str, conn: &Connection, fut: impl std::future::Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(fut).catch_unwind().await {
        tracing::error!(
            hook = kind, fd = %conn.fd(), panic = panic_message(&*panic),
            "hook panicked; the connection goes on"
        );
    }
}

/// Reads frames and handles them until the connection ends; returns how it ended.
///
/// With the module's `concurrency` at 1 (the default) each message is handled to the end
/// before the next frame is read: in order, and a slow handler slows only its own connection.
/// Above 1, up to that many messages of the connection are handled at once (replies in the
/// order they finish); reading pauses while the limit is reached.
async fn read_loop(
    conn: &Connection,
    module: &Arc<ModuleRuntime>,
    stream: &mut SplitStream<WebSocket>,
) -> CloseInfo {
    let limit = usize::from(module.def.concurrency.max(1));
    let mut inflight = FuturesUnordered::new();
    let info = loop {
        let next = tokio::select! {
            biased;
            _ = conn.closing().cancelled() => break server_close(conn),
            Some(()) = inflight.next(), if !inflight.is_empty() => continue,
            next = stream.next(), if inflight.len() < limit => next,
        };
        let frame = match read_frame(conn, next) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(info) => break info,
        };
        if limit == 1 {
            handle_message(conn, module, frame).await;
        } else {
            inflight.push(handle_message(conn, module, frame));
        }
    };
    // Messages still being handled may finish (replies to a closed socket are dropped).
    let _ = tokio::time::timeout(WRITER_GRACE, async {
        while inflight.next().await.is_some() {}
    })
    .await;
    info
}

/// A data frame to handle, nothing (a ping or pong), or how the connection ended.
fn read_frame(
    conn: &Connection,
    next: Option<Result<Message, axum::Error>>,
) -> Result<Option<RawMessage>, CloseInfo> {
    match next {
        Some(Ok(Message::Text(t))) => Ok(Some(RawMessage::Text(t))),
        Some(Ok(Message::Binary(b))) => Ok(Some(RawMessage::Binary(b))),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
        Some(Ok(Message::Close(frame))) => {
            let (code, reason) = frame
                .map(|f| (f.code, f.reason.to_string()))
                .unwrap_or((1005, String::new()));
            Err(CloseInfo {
                code,
                reason,
                by: ClosedBy::Client,
            })
        }
        Some(Err(e)) => {
            let e = e.into_inner();
            match violation(&*e) {
                // The client broke the protocol: close with the code that says how.
                Some((code, reason)) => {
                    tracing::info!(fd = %conn.fd(), code, error = %e, "closing: {reason}");
                    conn.force_close(code, reason);
                    Err(CloseInfo {
                        code,
                        reason: reason.to_owned(),
                        by: ClosedBy::Server,
                    })
                }
                None => {
                    tracing::debug!(fd = %conn.fd(), error = %e, "read failed");
                    Err(CloseInfo {
                        code: close_code::ABNORMAL,
                        reason: e.to_string(),
                        by: ClosedBy::Transport,
                    })
                }
            }
        }
        None => Err(CloseInfo {
            code: close_code::ABNORMAL,
            reason: String::new(),
            by: ClosedBy::Transport,
        }),
    }
}

/// The close code and reason for a read error that is the client's violation of the protocol
/// (`None` for a socket that just failed or went away).
fn violation(e: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<(u16, &'static str)> {
    use tungstenite::error::{Error as WsErr, ProtocolError};
    match e.downcast_ref::<WsErr>()? {
        WsErr::Capacity(_) => Some((close_code::TOO_BIG, "message too big")),
        WsErr::Utf8(_) => Some((
            close_code::INVALID_PAYLOAD,
            "invalid UTF-8 in a text message",
        )),
        WsErr::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsErr::Protocol(_) => Some((close_code::PROTOCOL, "protocol error")),
        _ => None,
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
    OnMessage(crate::registry::DispatchFn),
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

/// One message: decode, route, dispatch under its Context, reply.
pub(crate) async fn handle_message(
    conn: &Connection,
    module: &Arc<ModuleRuntime>,
    frame: RawMessage,
) {
    let started = Instant::now();
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
    let reply = cx
        .clone()
        .scope(call(chain, endpoint, &cx))
        .instrument(span.clone())
        .await;
    let outcome = send_reply(&cx, module, metrics, reply);
    let elapsed = started.elapsed();
    metrics.latency.record(elapsed);
    span.in_scope(
        || tracing::debug!(outcome = %outcome, us = elapsed.as_micros() as u64, "message handled"),
    );
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

/// Sends what is queued for the connection: takes everything waiting, feeds it, flushes once.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outbound>,
    conn: Connection,
) {
    let closing = conn.closing().clone();
    'outer: loop {
        let first = tokio::select! {
            biased;
            m = rx.recv() => m,
            _ = closing.cancelled() => None,
        };
        let Some(mut next) = first else { break };
        let mut fed = 0;
        loop {
            match next {
                Outbound::Frame(m) => {
                    if sink.feed(m).await.is_err() {
                        conn.closing().cancel();
                        return;
                    }
                }
                Outbound::Close(code, reason) => {
                    conn.force_close(code, &reason);
                    break 'outer;
                }
            }
            fed += 1;
            if fed >= WRITE_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(m) => next = m,
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            conn.closing().cancel();
            return;
        }
    }
    // Closing: a close the server asked for is sent with its code; otherwise (the client
    // closed, or the socket failed) `close` flushes tungstenite's own close reply.
    let _ = match conn.close_request() {
        Some((code, reason)) => {
            sink.send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await
        }
        None => sink.close().await,
    };
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
