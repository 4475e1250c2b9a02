//! The read loop of a connection: reads frames and hands their messages to
//! [`super::message`] (one at a time, or up to the module's `concurrency` at once), writes the
//! replies in batches between reads, answers pings, applies the rate limit ([`super::rate`]),
//! stops reading while the server drains, and returns how the connection ended.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Instant;

use crate::ws::{CloseFrame, WireText};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::driver::backlog::{Backlog, Popped};
use crate::driver::message::handle_message;
use crate::driver::rate::{Bucket, Verdict};
use crate::protocol::WsError;
use crate::runtime::connection::{CloseInfo, ClosedBy, Connection, SessionEnd};
use crate::runtime::module::ModuleRuntime;
use crate::ws::RawMessage;
use crate::ws::close_code;
use crate::ws::codec::Incoming;
use crate::ws::outbound::OutboundRx;
use crate::ws::transport::{Event, Transport};

/// What one turn of the socket gave the read loop.
enum Step {
    Event(Event),
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
pub(super) async fn read_loop(
    conn: &Connection,
    module: &Arc<ModuleRuntime>,
    transport: &mut Transport,
    rx: &OutboundRx,
    backlog: &mut Backlog,
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
        let running = pending(&inflight);
        // What was read while every handler was busy goes first, in order. (An `if let`: its
        // scrutinee is not kept across the reads below, in every connection's task.)
        let (frame, now) =
            if let Some(taken) = take_held(conn, rx, backlog, running < limit, draining) {
                match taken {
                    Ok(frame) => (frame, Instant::now()),
                    Err(Some(end)) => break end,
                    Err(None) => continue,
                }
            } else {
                // Busy (every handler taken) or draining: what is read now is held, not
                // handled — but answers to the server's requests are routed at once.
                let hold = running >= limit || draining;
                let read = !hold || (running > 0 && backlog.has_room());
                let direct = read && running == 0;
                let step = tokio::select! {
                    biased;
                    _ = &mut closing => break (server_close(conn), None),
                    _ = &mut draining_fut, if !draining => {
                        draining = true;
                        continue;
                    }
                    Some(()) = next_done(&mut inflight), if running > 0 => {
                        if pending(&inflight) == 0 {
                            conn.seen(Instant::now());
                        }
                        continue;
                    }
                    step = std::future::poll_fn(|cx| {
                        poll_step(cx, transport, rx, read, direct, &mut turn)
                    }) => step,
                };
                match stepped(conn, rx, backlog, step, hold) {
                    Ok(Some(read)) => read,
                    Ok(None) => continue,
                    Err(end) => break end,
                }
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
            // A handler that waits: what it sends meanwhile goes out meanwhile, and what the
            // client sends meanwhile is read (answers to requests routed, the rest held).
            let handled = std::future::poll_fn(|cx| match slot.as_mut().as_pin_mut() {
                Some(f) => f.poll(cx),
                None => Poll::Ready(()),
            });
            with_reads(conn, transport, rx, handled, backlog).await;
            slot.set(None);
            // Nothing was handled while the handler ran: its end counts as the last sign of life.
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

/// What one step of the socket read: a frame to handle now (and when it came), nothing (a
/// control frame, or a frame held while the handlers are busy: `hold`), or the end.
fn stepped(
    conn: &Connection,
    rx: &OutboundRx,
    backlog: &mut Backlog,
    step: Step,
    hold: bool,
) -> Result<Option<(RawMessage, Instant)>, End> {
    let event = match step {
        Step::Event(ev) => ev,
        Step::WriteFailed(e) => return Err(write_failed(conn, &e)),
    };
    let now = Instant::now();
    conn.seen(now);
    if hold {
        backlog.absorb(conn, rx, event);
        return Ok(None);
    }
    Ok(read_frame(conn, rx, event)?.map(|frame| (frame, now)))
}

/// The next message read while the handlers were busy, if one may be handled now (`free`: a
/// handler is free): `Ok` to handle; `Err(None)` for nothing to handle now (dropped while
/// draining); `Err(Some(end))` when the connection ends there.
fn take_held(
    conn: &Connection,
    rx: &OutboundRx,
    backlog: &mut Backlog,
    free: bool,
    draining: bool,
) -> Option<Result<RawMessage, Option<End>>> {
    if !free {
        return None;
    }
    Some(match backlog.pop()? {
        Popped::Message(_) if conn.is_closing() => Err(Some((server_close(conn), None))),
        Popped::Message(_) if draining => {
            tracing::debug!(fd = %conn.fd(), "draining: a message read meanwhile is not handled");
            Err(None)
        }
        Popped::Message(frame) => Ok(frame),
        Popped::End(ev) => match read_frame(conn, rx, ev) {
            Err(end) => Err(Some(end)),
            Ok(_) => Err(None),
        },
    })
}

/// How a connection ended, and the close frame to answer the client's close with.
pub(super) type End = (CloseInfo, Option<CloseFrame>);

/// The socket failed to write: the connection ends (1006).
fn write_failed(conn: &Connection, e: &std::io::Error) -> End {
    tracing::debug!(fd = %conn.fd(), error = %e, "write failed");
    (
        CloseInfo {
            code: close_code::ABNORMAL,
            reason: e.to_string(),
            by: ClosedBy::Transport,
            session: SessionEnd::None,
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
                crate::protocol::codes::RATE_LIMITED,
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
                    session: SessionEnd::None,
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
        Poll::Ready(Ok(())) => turn.open = direct,
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
        Event::Frame(Incoming::Text(t)) => {
            Ok(Some(RawMessage::Text(crate::ws::Utf8Bytes::from_wire(t))))
        }
        Event::Frame(Incoming::Binary(b)) => Ok(Some(RawMessage::Binary(b))),
        Event::Frame(Incoming::Ping(p)) => {
            if !conn.is_closing() {
                rx.push_pong(&p);
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
                        session: SessionEnd::None,
                    },
                    // The usual answer: the client's code back.
                    Some(CloseFrame {
                        code,
                        reason: WireText::default(),
                    }),
                ),
                None => (
                    CloseInfo {
                        code: close_code::NO_STATUS,
                        reason: String::new(),
                        by: ClosedBy::Client,
                        session: SessionEnd::None,
                    },
                    None,
                ),
            };
            Err((info, reply))
        }
        Event::Violation(v) => {
            // The client broke the protocol: close with the code that says how.
            tracing::info!(fd = %conn.fd(), code = v.code, "closing: {}", v.reason);
            conn.module().metrics.violation(v.code);
            conn.force_close(v.code, v.reason);
            Err((
                CloseInfo {
                    code: v.code,
                    reason: v.reason.to_owned(),
                    by: ClosedBy::Server,
                    session: SessionEnd::None,
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
                    session: SessionEnd::None,
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
        session: SessionEnd::None,
    }
}

/// What the queue's writer stopped at, applied to the connection: a failed socket ends the
/// connection.
fn flushed(conn: &Connection, r: Poll<std::io::Result<()>>) {
    if let Poll::Ready(Err(e)) = r {
        tracing::debug!(fd = %conn.fd(), error = %e, "write failed");
        conn.start_closing();
    }
}

/// Runs `fut` (a handler, or the open hook) while writing what gets queued for the connection
/// meanwhile, and reading what the client sends meanwhile into `backlog` (answers to the
/// server's requests routed at once: see [`super::backlog`]).
pub(super) fn with_reads<'a, F: std::future::Future + Unpin + 'a>(
    conn: &'a Connection,
    transport: &'a mut Transport,
    rx: &'a OutboundRx,
    mut fut: F,
    backlog: &'a mut Backlog,
) -> impl std::future::Future<Output = F::Output> + 'a {
    // A plain `poll_fn`, not an `async fn`: it sits in every connection's task while a handler
    // waits, and an `async fn` would keep its arguments twice.
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = Pin::new(&mut fut).poll(cx) {
            return Poll::Ready(out);
        }
        while backlog.has_room() {
            let Poll::Ready(ev) = transport.poll_read(cx) else {
                break;
            };
            // An answer (or the end) may be what the handler waits for: poll it again now.
            if backlog.absorb(conn, rx, ev) {
                if let Poll::Ready(out) = Pin::new(&mut fut).poll(cx) {
                    return Poll::Ready(out);
                }
            }
        }
        flushed(conn, transport.poll_flush(cx, rx, false));
        Poll::Pending
    })
}
