//! Limits and policies: what a connection may cost and what happens when it crosses a line.
//!
//! Server-wide defaults live in [`Config`] (each with an
//! [`AppBuilder`](crate::AppBuilder) method); the settings that make sense per module can be
//! overridden by `#[ws_module(...)]` options or
//! [`AppBuilder::module_limits`](crate::AppBuilder::module_limits) with a [`ModuleLimits`]. The README's "Limits and failure
//! behaviour" table lists every limit, its default, and what a client sees when it crosses it.
//!
//! This folder is the settings as data and how they resolve per module at build time; the
//! runtime applies them.

mod compression;
mod limits;
#[cfg(feature = "tls")]
pub mod tls;

pub use crate::config::compression::Compression;
pub use crate::config::limits::{Backpressure, ModuleLimits, Origins, RateLimit, Recovery};

use std::time::Duration;

/// The default largest fd, as in Swoft (Swoole's connection table): fds are 1..=16,000,000.
pub const DEFAULT_MAX_FD: u32 = 16_000_000;

/// Server-wide settings. Every setting has a builder method on [`AppBuilder`](crate::AppBuilder); those marked
/// *per module* can be overridden by `#[ws_module(...)]` options or
/// [`AppBuilder::module_limits`](crate::AppBuilder::module_limits). The README's "Limits and failure behaviour" section has the
/// table of every limit and what a client sees when it crosses it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest fd (default 16,000,000). No free fd → HTTP 503 at the handshake.
    pub max_fd: u32,
    /// How many frames may wait in one connection's outbound queue (default 1024). A frame that
    /// does not fit is not queued: the send fails with
    /// [`SendError::QueueFull`](crate::SendError::QueueFull) and [`backpressure`](Self::backpressure)
    /// applies.
    pub outbound_queue: usize,
    /// How many bytes (payloads) may wait in one connection's outbound queue (default 1 MiB).
    /// Same consequences as [`outbound_queue`](Self::outbound_queue). A single frame larger
    /// than this is still accepted into an empty queue.
    pub outbound_bytes: usize,
    /// What happens to a connection whose outbound queue is full (default
    /// [`Backpressure::Disconnect`]: close 1008). *Per module.*
    pub backpressure: Backpressure,
    /// The largest message a client may send, in bytes (default 64 KiB; over it → close 1009).
    /// *Per module.*
    pub max_message_size: usize,
    /// The largest frame a client may send, in bytes (default 64 KiB; over it → close 1009).
    pub max_frame_size: usize,
    /// The most one read takes from a connection's socket, in bytes (default 4 KiB; a frame
    /// whose head announces more gets room for all of it). The buffer is reserved when the
    /// socket is readable and given back once what was read is handled: an idle connection
    /// holds none.
    pub read_buffer_size: usize,
    /// How often the server pings each connection (default 25 s; `None`: never).
    pub ping_interval: Option<Duration>,
    /// A connection from which nothing (no frame of any kind, pongs included) arrived for this
    /// long is closed with 1001 `idle timeout` (default 60 s; `None`: never). It is checked at
    /// every ping tick, so the close comes between this and this plus `ping_interval`. A
    /// fragmented message that never finishes does not count as a sign of life.
    pub idle_timeout: Option<Duration>,
    /// How long a new TCP connection may take to send its HTTP request headers (default 10 s);
    /// after that it is dropped without an answer. Covers a client that connects and sends
    /// nothing, and one that sends a partial request.
    pub handshake_timeout: Duration,
    /// The largest handshake request head a module accepts, in bytes: the request target and
    /// every header line, as sent (default 16 KiB). Over it → HTTP 431, before anything is
    /// allocated; what a connection keeps from its handshake is therefore at most this much.
    /// *Per module.*
    pub max_handshake_head: usize,
    /// The most live WebSocket connections of the whole server (default `None`: limited only
    /// by `max_fd`). Over it → HTTP 503 before the upgrade. (Per module: `max_connections`.)
    pub max_connections: Option<usize>,
    /// Each connection's inbound message rate (default `None`: unlimited). *Per module.*
    pub rate_limit: Option<RateLimit>,
    /// The most rooms one connection may be in at once (default 1,024). A join past it fails
    /// with [`JoinError::TooManyRooms`](crate::JoinError::TooManyRooms) (a handler's `?` turns
    /// it into the error reply `too_many_rooms`) and is counted as
    /// `swoft_ws_limited_total{limit="rooms"}`. Each membership costs the server memory (about
    /// 250 bytes) until the connection leaves or closes. *Per module.*
    pub max_rooms_per_connection: usize,
    /// Which browser origins may connect (default [`Origins::SameOrigin`]; handshakes without
    /// an `Origin` header are always accepted). Others → HTTP 403. *Per module.*
    pub origins: Origins,
    /// How long one message's handling (middleware and handler) may take (default 30 s;
    /// `None`: no limit). Over it, the handler is dropped (its `Context` too) and the client
    /// gets a `timeout` error reply. `#[on_open]` and `#[on_close]` hooks get the same time,
    /// then are dropped (logged). *Per module.*
    pub handler_timeout: Option<Duration>,
    /// How long a connection that ends gets to write what is queued and the close frame
    /// (default 5 s); then the socket is dropped.
    pub close_timeout: Duration,
    /// Graceful shutdown: how long in-flight handlers may run on before they are cancelled
    /// (default 10 s).
    pub shutdown_grace: Duration,
    /// Graceful shutdown: close frames (1001) are sent to this many connections at a time
    /// (default 500) ...
    pub shutdown_batch: usize,
    /// ... with this pause between batches (default 50 ms), so that clients do not all
    /// reconnect at the same instant.
    pub shutdown_batch_pause: Duration,
    /// Whether [`App::serve`](crate::App::serve) and friends shut down gracefully on SIGINT and SIGTERM (default
    /// true).
    pub handle_signals: bool,
    /// How long a request to a client ([`Connection::request`](crate::Connection::request))
    /// waits for its `$ack` answer by default (default 5 s); then it fails with
    /// [`AckError::Timeout`](crate::AckError::Timeout). Each call may set its own
    /// ([`Connection::request_within`](crate::Connection::request_within)).
    pub ack_timeout: Duration,
    /// The most requests one connection may have waiting for their answers (default 64); one
    /// more fails at once with [`AckError::TooManyPending`](crate::AckError::TooManyPending).
    /// Each waiting request costs the server about 100 bytes until it is answered, times out,
    /// or its connection closes.
    pub max_pending_acks: usize,
    /// permessage-deflate (RFC 7692) with clients that offer it (default
    /// [`Compression::OFF`]: every offer declined). *Per module.*
    pub compression: Compression,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_fd: DEFAULT_MAX_FD,
            outbound_queue: 1024,
            outbound_bytes: 1 << 20,
            backpressure: Backpressure::Disconnect,
            max_message_size: 64 << 10,
            max_frame_size: 64 << 10,
            read_buffer_size: 4 << 10,
            ping_interval: Some(Duration::from_secs(25)),
            idle_timeout: Some(Duration::from_secs(60)),
            handshake_timeout: Duration::from_secs(10),
            max_handshake_head: 16 << 10,
            max_connections: None,
            rate_limit: None,
            max_rooms_per_connection: 1024,
            origins: Origins::SameOrigin,
            handler_timeout: Some(Duration::from_secs(30)),
            close_timeout: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(10),
            shutdown_batch: 500,
            shutdown_batch_pause: Duration::from_millis(50),
            handle_signals: true,
            ack_timeout: Duration::from_secs(5),
            max_pending_acks: 64,
            compression: Compression::OFF,
        }
    }
}

/// A module's limits, resolved at build time (server-wide defaults + overrides).
#[derive(Debug, Default)]
pub(crate) struct Limits {
    pub(crate) max_connections: Option<usize>,
    pub(crate) origins: Origins,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) handler_timeout: Option<Duration>,
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) backpressure: Backpressure,
    pub(crate) max_rooms_per_connection: usize,
    pub(crate) max_handshake_head: usize,
    /// Resumable sessions, bounded to fit a replay in the outbound queue.
    pub(crate) recovery: Option<Recovery>,
    pub(crate) compression: Compression,
}

impl Limits {
    pub(crate) fn resolve(config: &Config, m: ModuleLimits) -> Self {
        let size = m.max_message_size;
        Limits {
            max_connections: m.max_connections,
            origins: m
                .origins
                .map_or_else(|| config.origins.clone(), Origins::from_static),
            rate_limit: m.rate_limit.or(config.rate_limit).filter(RateLimit::is_on),
            handler_timeout: m.handler_timeout.unwrap_or(config.handler_timeout),
            max_message_size: size.unwrap_or(config.max_message_size),
            max_frame_size: size.unwrap_or(config.max_frame_size),
            backpressure: m.backpressure.unwrap_or(config.backpressure),
            max_rooms_per_connection: m
                .max_rooms_per_connection
                .unwrap_or(config.max_rooms_per_connection),
            max_handshake_head: m.max_handshake_head.unwrap_or(config.max_handshake_head),
            recovery: m.recovery.map(|r| Recovery {
                window: r.window.max(Duration::from_millis(1)),
                max_messages: r
                    .max_messages
                    .clamp(1, config.outbound_queue.saturating_sub(8).max(1)),
                max_bytes: r.max_bytes.clamp(1, (config.outbound_bytes / 2).max(1)),
            }),
            compression: m.compression.unwrap_or(config.compression).clamped(),
        }
    }
}
