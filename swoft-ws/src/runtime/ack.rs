//! Requests to clients and their answers: [`Connection::request`] sends
//! `{"cmd":C,"data":D,"ack":N}` and waits for the client's `{"cmd":"$ack","ack":N,...}`.
//!
//! The answers are routed by the runtime, never to a controller: the read loop reads them
//! while a handler of the same connection waits (see `driver/backlog.rs`), so a handler that
//! asks its own client and awaits the answer is answered at any `concurrency`, 1 included.
//!
//! The waiting requests are in one server-wide [`AckTable`] keyed by connection, not in the
//! connection: a connection that never asks anything costs nothing for it. Each entry is
//! removed however its request ends (answered, timed out, dropped, its connection closed): a
//! drop guard, as `ClusterNode::ask`'s. `Server::stats().pending_acks` counts them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::protocol::{AckAnswer, Parser, WsError};
use crate::runtime::broadcast::Broadcast;
use crate::runtime::connection::{Connection, ConnectionId, SendError};
use crate::runtime::fd::Fd;
use crate::runtime::remote::ConnAddr;
use crate::ws::RawMessage;

/// Why a request to a client ([`Connection::request`]) got no answer to use.
///
/// `Timeout` and `Closed` are the usual ones; `Rejected` is the client's own error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No answer within the timeout (default [`Config::ack_timeout`](crate::Config::ack_timeout),
    /// 5 s).
    #[error("the client did not answer in time")]
    Timeout,
    /// The connection closed (or started closing, or the client sent its close frame) before
    /// the answer came: reported at once, not at the timeout.
    #[error("the connection closed before the client answered")]
    Closed,
    /// The client answered with an error: `{"cmd":"$ack","ack":N,"error":{"code","message"}}`.
    #[error("the client refused: {code}: {message}")]
    Rejected {
        /// The client's error code (its JSON text if it was not a string).
        code: String,
        /// The client's message (empty if it sent none).
        message: String,
    },
    /// The client's answer did not fit the type asked for (serde's message).
    #[error("the client's answer did not fit: {0}")]
    Decode(String),
    /// The connection already has [`Config::max_pending_acks`](crate::Config::max_pending_acks)
    /// requests waiting (default 64): nothing was sent.
    #[error("too many requests are waiting for this client's answers")]
    TooManyPending,
    /// The connection's protocol has no place for a request (the text parsers): nothing was
    /// sent.
    #[error("this connection's protocol cannot carry requests")]
    Unsupported,
    /// The connection's outbound queue was full: nothing was sent (and under
    /// [`Backpressure::Disconnect`](crate::config::Backpressure::Disconnect) the connection
    /// is being closed).
    #[error("the connection's outbound queue is full")]
    QueueFull,
    /// The request's data could not be serialized: nothing was sent.
    #[error("the data could not be serialized: {0}")]
    Encode(String),
}

impl AckError {
    /// The label of this outcome in `swoft_ws_requests_total{outcome}`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            AckError::Timeout => "timeout",
            AckError::Closed => "closed",
            AckError::Rejected { .. } => "rejected",
            AckError::Decode(_) => "decode",
            AckError::TooManyPending => "too_many_pending",
            AckError::Unsupported => "unsupported",
            AckError::QueueFull => "queue_full",
            AckError::Encode(_) => "encode",
        }
    }

    fn from_send(e: SendError) -> Self {
        match e {
            SendError::QueueFull => AckError::QueueFull,
            SendError::Encode(m) => AckError::Encode(m),
            _ => AckError::Closed,
        }
    }
}

/// What a waiting request receives: the answer's JSON data, or the client's error.
type Answer = Result<String, WsError>;

/// One connection's waiting requests.
#[derive(Default)]
struct Slot {
    /// The client can no longer answer (it sent its close frame, or its socket ended): new
    /// requests fail with `Closed` at once. The slot is removed when the connection ends.
    closed: bool,
    pending: Vec<(u64, oneshot::Sender<Answer>)>,
}

/// The waiting requests of every connection of a server.
#[derive(Default)]
pub(crate) struct AckTable {
    slots: DashMap<ConnectionId, Slot>,
    /// Request numbers: unique in the server's life, so a late answer never matches a later
    /// request (of any connection).
    next: AtomicU64,
    /// `$ack`s ignored: malformed, or matching no waiting request (duplicate, late, unknown).
    ignored: AtomicU64,
}

impl AckTable {
    /// A fresh request number.
    pub(crate) fn number(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Requests waiting, over all connections.
    pub(crate) fn pending(&self) -> usize {
        self.slots.iter().map(|s| s.pending.len()).sum()
    }

    /// `$ack` frames ignored since the server started.
    pub(crate) fn ignored(&self) -> u64 {
        self.ignored.load(Ordering::Relaxed)
    }

    /// Registers request `n` of `conn`: its answer comes through the waiter.
    fn register<'a>(
        &'a self,
        conn: &Connection,
        n: u64,
        max: usize,
    ) -> Result<Waiter<'a>, AckError> {
        if conn.is_closing() {
            return Err(AckError::Closed);
        }
        let (tx, rx) = oneshot::channel();
        let mut slot = self.slots.entry(conn.id()).or_default();
        if slot.closed {
            return Err(AckError::Closed);
        }
        if slot.pending.len() >= max {
            return Err(AckError::TooManyPending);
        }
        slot.pending.push((n, tx));
        drop(slot);
        Ok(Waiter {
            table: self,
            id: conn.id(),
            n,
            rx,
        })
    }

    /// Hands an answer to its waiting request; false if none waits for it.
    fn answer(&self, id: ConnectionId, a: AckAnswer) -> bool {
        let tx = {
            let Some(mut slot) = self.slots.get_mut(&id) else {
                return false;
            };
            let Some(i) = slot.pending.iter().position(|(n, _)| *n == a.ack) else {
                return false;
            };
            slot.pending.swap_remove(i).1
        };
        // A waiter dropped meanwhile (its caller gave up) is as late as a late answer.
        tx.send(a.result).is_ok()
    }

    /// Removes request `n` of connection `id` (the slot too once it is empty).
    fn forget(&self, id: ConnectionId, n: u64) {
        if let Some(mut slot) = self.slots.get_mut(&id) {
            slot.pending.retain(|(k, _)| *k != n);
        }
        self.slots
            .remove_if(&id, |_, s| s.pending.is_empty() && !s.closed);
    }

    /// The client can no longer answer: the waiting requests fail with `Closed` now, and new
    /// ones at once (until [`remove`](Self::remove)).
    pub(crate) fn close(&self, id: ConnectionId) {
        // The senders drop outside the map's lock.
        let pending = {
            let mut slot = self.slots.entry(id).or_default();
            slot.closed = true;
            std::mem::take(&mut slot.pending)
        };
        drop(pending);
    }

    /// The connection ended: its slot goes, and whatever still waits fails with `Closed`.
    pub(crate) fn remove(&self, id: ConnectionId) {
        let slot = self.slots.remove(&id);
        drop(slot);
    }
}

/// A registered request's answer to come; its table entry is removed when this is dropped.
struct Waiter<'a> {
    table: &'a AckTable,
    id: ConnectionId,
    n: u64,
    rx: oneshot::Receiver<Answer>,
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.table.forget(self.id, self.n);
    }
}

impl Waiter<'_> {
    /// The answer, the connection's close, or the timeout, whichever comes first.
    async fn wait(mut self, conn: &Connection, timeout: Duration) -> Result<String, AckError> {
        let closing = conn.closing();
        tokio::select! {
            biased;
            r = &mut self.rx => match r {
                Ok(Ok(data)) => Ok(data),
                Ok(Err(e)) => Err(AckError::Rejected {
                    code: e.code().to_owned(),
                    message: e.message().to_owned(),
                }),
                // The slot was closed or removed: the connection is gone.
                Err(_) => Err(AckError::Closed),
            },
            () = closing.cancelled() => Err(AckError::Closed),
            () = tokio::time::sleep(timeout) => Err(AckError::Timeout),
        }
    }
}

/// Counts and logs a request's outcome.
fn count(conn: &Connection, command: &str, r: &Result<String, AckError>) {
    let outcome = match r {
        Ok(_) => "ok",
        Err(e) => {
            tracing::debug!(fd = %conn.fd(), command, error = %e, "request to the client failed");
            e.outcome()
        }
    };
    crate::runtime::metrics::request_outcome(conn.module_path(), outcome);
}

/// Sends request `n` (already packed as `frame`) to `conn` and waits for its answer.
async fn ask(
    conn: &Connection,
    n: u64,
    frame: Result<RawMessage, AckError>,
    timeout: Duration,
) -> Result<String, AckError> {
    let server = conn.server();
    let waiter = server
        .acks()
        .register(conn, n, server.config().max_pending_acks)?;
    conn.send(frame?).map_err(AckError::from_send)?;
    waiter.wait(conn, timeout).await
}

/// Packs a request with the connection's parser.
fn pack(parser: &dyn Parser, command: &str, data: &str, n: u64) -> Result<RawMessage, AckError> {
    parser
        .encode_request(command, data, n)
        .ok_or(AckError::Unsupported)
}

impl Connection {
    /// Asks the client and waits for its answer (the server's default timeout,
    /// [`Config::ack_timeout`](crate::Config::ack_timeout), 5 s).
    ///
    /// Sends `{"cmd": command, "data": data, "ack": N}` (the JSON parser; `N` a number unique
    /// in the server's life); the client answers `{"cmd": "$ack", "ack": N, "data": R}`, which
    /// is deserialized into `T`, or `{"cmd": "$ack", "ack": N, "error": {"code": C, "message":
    /// M}}`, which is [`AckError::Rejected`]. The answer is read even while a handler of this
    /// connection waits for it (at `concurrency` 1 too), and never reaches a controller.
    ///
    /// # Errors
    ///
    /// [`AckError`]: `Timeout`; `Closed` as soon as the connection closes; `Rejected`;
    /// `Decode` (the answer is not a `T`); `TooManyPending` (over
    /// [`Config::max_pending_acks`](crate::Config::max_pending_acks), 64, waiting on this
    /// connection); `Unsupported` (a text protocol); `QueueFull`; `Encode`.
    pub async fn request<T: DeserializeOwned, D: Serialize + ?Sized>(
        &self,
        command: &str,
        data: &D,
    ) -> Result<T, AckError> {
        let timeout = self.server().config().ack_timeout;
        self.request_within(command, data, timeout).await
    }

    /// [`request`](Self::request) with its own timeout.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn request_within<T: DeserializeOwned, D: Serialize + ?Sized>(
        &self,
        command: &str,
        data: &D,
        timeout: Duration,
    ) -> Result<T, AckError> {
        let data = serde_json::to_string(data).map_err(|e| AckError::Encode(e.to_string()));
        let raw = match data {
            Ok(data) => self.request_raw(command, &data, timeout).await,
            Err(e) => Err(e),
        };
        decode(raw)
    }

    /// A request whose data is JSON text already; the answer's data as JSON text.
    pub(crate) async fn request_raw(
        &self,
        command: &str,
        data: &str,
        timeout: Duration,
    ) -> Result<String, AckError> {
        let n = self.server().acks().number();
        let frame = pack(&*self.module().parser, command, data, n);
        let r = ask(self, n, frame, timeout).await;
        count(self, command, &r);
        r
    }
}

/// The answer's JSON data as a `T`.
pub(crate) fn decode<T: DeserializeOwned>(raw: Result<String, AckError>) -> Result<T, AckError> {
    serde_json::from_str(&raw?).map_err(|e| AckError::Decode(e.to_string()))
}

/// Asks each of `members` (one request number and one frame per parser for all of them) and
/// waits for every answer, each within `timeout`.
pub(crate) async fn request_all(
    members: Vec<Connection>,
    command: &str,
    data: &str,
    timeout: Duration,
) -> Vec<(Fd, Result<String, AckError>)> {
    let Some(first) = members.first() else {
        return Vec::new();
    };
    let n = first.server().acks().number();
    // Packed once per parser (members of one module share one), keyed by the parser's address.
    let mut frames: Vec<(usize, Result<RawMessage, AckError>)> = Vec::with_capacity(1);
    let mut frame_for = |c: &Connection| {
        let key = std::sync::Arc::as_ptr(&c.module().parser).cast::<()>() as usize;
        if let Some((_, f)) = frames.iter().find(|(k, _)| *k == key) {
            return f.clone();
        }
        let f = pack(&*c.module().parser, command, data, n);
        frames.push((key, f.clone()));
        f
    };
    let asks: Vec<_> = members
        .iter()
        .map(|c| {
            let frame = frame_for(c);
            async move {
                let r = ask(c, n, frame, timeout).await;
                count(c, command, &r);
                (c.fd(), r)
            }
        })
        .collect();
    futures_util::future::join_all(asks).await
}

/// A `$ack` frame the client sent: handed to its waiting request, or ignored (counted as
/// `swoft_ws_acks_ignored_total{reason}` and logged at debug): a malformed one
/// (`reason="malformed"`), or one no request waits for — a duplicate, a late one, an unknown
/// number (`reason="unmatched"`). Never an error reply, never a controller. Not inlined: it
/// stays off the message path's code.
#[inline(never)]
pub(crate) fn receive(conn: &Connection, frame: &RawMessage) {
    let acks = conn.server().acks();
    let reason = match conn.module().parser.decode_ack(frame) {
        Err(e) => {
            tracing::debug!(fd = %conn.fd(), error = %e.message(), "malformed `$ack` ignored");
            "malformed"
        }
        Ok(a) => {
            let n = a.ack;
            if acks.answer(conn.id(), a) {
                return;
            }
            tracing::debug!(fd = %conn.fd(), ack = n, "`$ack` for no waiting request ignored (duplicate, late or unknown)");
            "unmatched"
        }
    };
    acks.ignored.fetch_add(1, Ordering::Relaxed);
    crate::runtime::metrics::ack_ignored(conn.module_path(), reason);
}

/// One answer per receiver of a [`Broadcast::request`]: where the receiver is, and its answer.
pub type Answers<T> = Vec<(ConnAddr, Result<T, AckError>)>;

impl Broadcast<'_> {
    /// Asks every receiver (a room's members, a module's connections, all, some addresses:
    /// on every node with a cluster) and waits for all their answers, each within the server's
    /// default timeout ([`Config::ack_timeout`](crate::Config::ack_timeout)): one
    /// `(address, result)` per receiver, this node's first (by fd order of the room walk),
    /// then the other nodes'.
    ///
    /// On this node the request is packed once (one request number for every receiver) and
    /// each receiver's answer is read as for [`Connection::request`]. Each other node asks its
    /// own members and answers with all their results at once; a node that does not answer
    /// within the timeout plus the cluster's `query_timeout` contributes no results (counted as
    /// a query timeout), so a receiver on it is missing from the list rather than reported.
    ///
    /// # Errors
    ///
    /// [`AckError::Encode`] if `data` cannot be serialized (nothing is sent). Each receiver's
    /// own outcome is in its result, as for [`Connection::request`].
    pub async fn request<T: DeserializeOwned, D: Serialize + ?Sized>(
        self,
        command: &str,
        data: &D,
    ) -> Result<Answers<T>, AckError> {
        let timeout = self.server().config().ack_timeout;
        self.request_within(command, data, timeout).await
    }

    /// [`request`](Self::request) with its own timeout (for each receiver).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn request_within<T: DeserializeOwned, D: Serialize + ?Sized>(
        self,
        command: &str,
        data: &D,
        timeout: Duration,
    ) -> Result<Answers<T>, AckError> {
        let data = serde_json::to_string(data).map_err(|e| AckError::Encode(e.to_string()))?;
        let server = self.server();
        let node = server.node_id().clone();
        let parts = self.remote_parts();
        let remote = async {
            let Some(cluster) = server.rooms().cluster() else {
                return Vec::new();
            };
            let asks = parts.iter().map(|p| {
                cluster.request(p.to.as_ref(), p.target(), p.except, command, &data, timeout)
            });
            futures_util::future::join_all(asks).await.concat()
        };
        let local = request_all(self.local_receivers(), command, &data, timeout);
        let (local, remote) = futures_util::future::join(local, remote).await;
        let local = local.into_iter().map(|(fd, r)| {
            let addr = ConnAddr {
                node: node.clone(),
                fd,
            };
            (addr, r)
        });
        Ok(local
            .chain(remote)
            .map(|(addr, r)| (addr, decode(r)))
            .collect())
    }
}
