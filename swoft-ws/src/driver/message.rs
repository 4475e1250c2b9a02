//! One message, from the frame to the reply: decode with the module's parser, route to a
//! handler (or `#[on_message]`, or an `unknown_command` error), run the middleware chain and
//! the handler under the message's Context within the handler timeout, and queue the reply.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use crate::ws::Message;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::driver::panic_message;
use crate::protocol::Decoded;
use crate::protocol::{Recipients, Reply, Routed, WsError};
use crate::runtime::broadcast::deliver_reply;
use crate::runtime::connection::Connection;
use crate::runtime::context::Context;
use crate::runtime::events::{WsEvent, emit};
use crate::runtime::metrics::CommandMetrics;
use crate::runtime::middleware::{Endpoint, Middleware, Next};
use crate::runtime::module::{ModuleRuntime, Route};
use crate::ws::{Opcode, RawMessage};

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

/// Whether a decoded frame is a client's answer to a request (`$ack`): the runtime's, never
/// a controller's. A byte compare on the message path (routed commands never start with `$`).
pub(crate) fn is_ack(decoded: &Decoded, frame: &RawMessage) -> bool {
    decoded
        .command
        .as_ref()
        .and_then(|p| p.resolve(frame))
        .is_some_and(|c| c.as_bytes().first() == Some(&b'$') && c == crate::protocol::ACK_COMMAND)
}

/// One message: decode, route, dispatch under its Context (within the handler timeout),
/// reply. With `rejected`, the message is answered with that error and not dispatched. A
/// `$ack` goes to the request it answers (`runtime::ack`), not to a handler.
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
            if cmd.is_some_and(|c| c.as_bytes().first() == Some(&b'$')) && is_ack(&decoded, &frame)
            {
                crate::runtime::ack::receive(conn, &frame);
                return;
            }
            let (target, command) = route(module, cmd);
            (decoded, target, command)
        }
    };
    let (metrics, opcode) = match &target {
        Target::Route(r) => (&*r.metrics, r.opcode),
        _ => (&module.metrics.unmapped, module.opcode),
    };
    metrics.messages_in.increment(1);
    emit(conn, WsEvent::MessageBefore, None);
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
                    emit(conn, WsEvent::MessageError, Some("the handler timed out"));
                    span.in_scope(|| {
                        tracing::warn!(
                            fd = %cx.fd(), timeout = ?module.limits.handler_timeout,
                            "handler timed out; answering `timeout`"
                        );
                    });
                    Reply::Error(WsError::new(
                        crate::protocol::codes::TIMEOUT,
                        "the handler took too long",
                    ))
                }
                Err(Stop::Aborted) => Reply::None,
            }
        }
    };
    let outcome = send_reply(&cx, module, metrics, opcode, reply);
    emit(conn, WsEvent::MessageAfter, None);
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
            let panic = panic_message(&*panic);
            tracing::error!(
                fd = %cx.fd(), command = cx.command(), panic = %panic,
                "handler panicked; answering `internal`"
            );
            emit(cx.connection(), WsEvent::MessageError, Some(&panic));
            Reply::Error(WsError::internal("the handler failed"))
        }
    }
}

/// An error reply, in the module's frame kind (text or binary: never a control frame).
fn error_frame(
    module: &ModuleRuntime,
    command: Option<&str>,
    id: Option<&str>,
    e: &WsError,
) -> (Message, std::borrow::Cow<'static, str>) {
    tracing::debug!(code = e.code(), message = e.message(), "error reply");
    module.metrics.error_reply(e.code());
    let packed = module.parser.encode_error(command, id, e);
    let frame = match module.opcode {
        Opcode::Binary => Message::Binary(packed.into_bytes()),
        _ => packed.into_ws(),
    };
    (frame, e.code().to_owned().into())
}

/// Packs and queues the reply; returns the outcome for the log (`ok`, `none`, an error code).
fn send_reply(
    cx: &Context,
    module: &ModuleRuntime,
    metrics: &CommandMetrics,
    opcode: Opcode,
    reply: Reply,
) -> std::borrow::Cow<'static, str> {
    let Reply::Routed(routed) = reply else {
        let Some((frame, outcome)) = pack(module, opcode, reply, cx.command(), cx.id()) else {
            return "none".into();
        };
        match cx.connection().send_ws(frame) {
            Ok(()) => metrics.messages_out.increment(1),
            Err(e) => tracing::warn!(error = %e, "reply not delivered"),
        }
        return outcome;
    };
    let Routed { reply, to, command } = *routed;
    let command = command.as_deref().or(cx.command());
    // A reply to others answers nobody's request: no id.
    let id = if to == Recipients::Sender {
        cx.id()
    } else {
        None
    };
    let Some((frame, outcome)) = pack(module, opcode, reply, command, id) else {
        return "none".into();
    };
    let d = deliver_reply(cx.connection(), &to, frame);
    metrics.messages_out.increment(d.delivered as u64);
    tracing::debug!(
        ?to,
        delivered = d.delivered,
        queue_full = d.queue_full,
        closed = d.closed,
        "re-targeted reply"
    );
    outcome
}

/// The reply's frame under `command` and `id`, by the module's parser in the route's frame
/// kind, and the outcome for the log; `None` for no reply.
fn pack(
    module: &ModuleRuntime,
    opcode: Opcode,
    reply: Reply,
    command: Option<&str>,
    id: Option<&str>,
) -> Option<(Message, std::borrow::Cow<'static, str>)> {
    let parser = &module.parser;
    let packed = match reply {
        Reply::None => return None,
        Reply::Raw(m) => return Some((m.into_ws(), "ok".into())),
        Reply::Error(e) => return Some(error_frame(module, command, id, &e)),
        // Built only by `Reply::routed`, which never nests one in another.
        Reply::Routed(r) => return pack(module, opcode, r.reply, command, id),
        Reply::Data(data) => parser.encode_reply(command.unwrap_or(""), id, &data),
        Reply::DataExt { data, ext } => {
            parser.encode_with_ext(command.unwrap_or(""), id, &data, &ext)
        }
    };
    Some(match opcode.frame(packed) {
        Some(frame) => (frame, "ok".into()),
        None => {
            tracing::warn!(
                ?opcode,
                "a reply over 125 bytes cannot go in a control frame"
            );
            let e = WsError::internal("the reply is too long for a control frame");
            error_frame(module, command, id, &e)
        }
    })
}
