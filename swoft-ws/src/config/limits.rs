//! The settings that can be overridden per module, and their resolution at build time.

use std::time::Duration;

use http::HeaderMap;

/// What happens when a connection's outbound queue is full (the client does not read fast
/// enough): the frame that does not fit is never queued, the sender gets
/// [`SendError::QueueFull`](crate::SendError::QueueFull) at once (a send never waits), and
/// `swoft_ws_outbound_dropped_total{module, reason}` counts it. Then:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backpressure {
    /// The connection is closed with **1008** (policy violation, reason `slow consumer`); the
    /// frames still queued are dropped. The default: a client that cannot keep up reconnects
    /// and resynchronizes instead of silently missing messages.
    #[default]
    Disconnect,
    /// The frame is dropped (counted with reason `queue_full`); the connection stays open and
    /// gets the frames that fit later.
    DropNewest,
}

/// A per-connection token bucket for inbound messages.
///
/// Each connection may send `burst` messages at once and `per_second` on average. A message
/// over the limit is not handled: it gets a `rate_limited` error reply (with its command and
/// id). A connection with more than `close_after` rate-limited messages within `window` is
/// closed with **1008** (`rate limit exceeded`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages per second, on average. 0 turns the limit off (for a module overriding a
    /// server-wide limit).
    pub per_second: u32,
    /// Messages that may arrive at once (the bucket's size; at least 1).
    pub burst: u32,
    /// Rate-limited messages tolerated within `window` before the connection is closed
    /// (default 20).
    pub close_after: u32,
    /// The window of `close_after` (default 10 s).
    pub window: Duration,
}

impl RateLimit {
    /// `per_second` on average, `burst` at once; closes after 20 rate-limited messages within
    /// 10 s.
    pub const fn new(per_second: u32, burst: u32) -> Self {
        RateLimit {
            per_second,
            burst: if burst == 0 { 1 } else { burst },
            close_after: 20,
            window: Duration::from_secs(10),
        }
    }

    /// Closes the connection (1008) after more than `n` rate-limited messages within `window`.
    pub const fn close_after(mut self, n: u32, window: Duration) -> Self {
        self.close_after = n;
        self.window = window;
        self
    }

    /// No limit.
    pub const OFF: RateLimit = RateLimit::new(0, 1);

    pub(crate) fn is_on(&self) -> bool {
        self.per_second > 0
    }
}

/// Which browser origins may open a WebSocket (cross-site WebSocket hijacking defence).
///
/// Browsers always send an `Origin` header with a WebSocket handshake, and a page of any site
/// can open a WebSocket to any server, with the user's cookies. So the check matters whenever a
/// handshake trusts cookies. A refused origin gets **HTTP 403** before the upgrade.
///
/// **The default is [`Origins::SameOrigin`]**: a handshake with an `Origin` header is accepted
/// only if the origin's host (and port) equals the request's `Host` header. A handshake
/// **without** an `Origin` header (a non-browser client: a CLI, a server, a test) is accepted
/// under every policy — only browsers are subject to the attack, and they cannot leave the
/// header out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Origins {
    /// The origin's `host[:port]` must equal the `Host` header (the default).
    #[default]
    SameOrigin,
    /// Any origin (turns the check off).
    Any,
    /// Only these origins, compared exactly but case-insensitively (`https://app.example`,
    /// `http://localhost:3000`; scheme, host and port as the browser sends them). An entry
    /// `"*"` allows any origin.
    List(Vec<String>),
}

impl Origins {
    /// A list of allowed origins.
    pub fn list<S: Into<String>>(origins: impl IntoIterator<Item = S>) -> Self {
        Origins::List(origins.into_iter().map(Into::into).collect())
    }

    pub(crate) fn from_static(list: &'static [&'static str]) -> Self {
        if list.contains(&"*") {
            Origins::Any
        } else {
            Origins::list(list.iter().copied())
        }
    }

    /// Whether a handshake with these headers may open a connection.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        match self {
            Origins::Any => true,
            Origins::List(list) => list
                .iter()
                .any(|o| o == "*" || o.eq_ignore_ascii_case(origin)),
            Origins::SameOrigin => {
                let host = headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok());
                let authority = origin.split_once("://").map(|(_, rest)| rest);
                match (authority, host) {
                    (Some(a), Some(h)) => a.eq_ignore_ascii_case(h),
                    _ => false,
                }
            }
        }
    }
}

/// Per-module overrides of the server-wide limits: what `#[ws_module(...)]` options set, and
/// what [`AppBuilder::module_limits`](crate::AppBuilder::module_limits) takes. `None` fields
/// keep the server-wide setting.
///
/// ```
/// use std::time::Duration;
/// use swoft_ws::config::{Backpressure, ModuleLimits, RateLimit};
///
/// const LIMITS: ModuleLimits = ModuleLimits::NONE
///     .max_connections(10_000)
///     .origins(&["https://app.example"])
///     .rate_limit(RateLimit::new(20, 40))
///     .handler_timeout(Duration::from_secs(5))
///     .backpressure(Backpressure::DropNewest);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ModuleLimits {
    /// Live connections of the module (`#[ws_module(max_connections = N)]`).
    pub max_connections: Option<usize>,
    /// Allowed origins (`origins = ["https://a.example"]`; `"*"` for any).
    pub origins: Option<&'static [&'static str]>,
    /// Inbound message rate per connection (`rate_limit = 20, rate_burst = 40`;
    /// `rate_limit = 0` turns a server-wide limit off for the module).
    pub rate_limit: Option<RateLimit>,
    /// Per-message handler timeout (`handler_timeout_ms = 5000`; 0 for none).
    pub handler_timeout: Option<Option<Duration>>,
    /// The largest inbound message and frame (`max_message_size = 65536`).
    pub max_message_size: Option<usize>,
    /// The slow-consumer policy (`backpressure = drop_newest` or `disconnect`).
    pub backpressure: Option<Backpressure>,
    /// The most rooms one connection may be in (`max_rooms_per_connection = 64`).
    pub max_rooms_per_connection: Option<usize>,
    /// The largest handshake request head (builder only:
    /// `ModuleLimits::NONE.max_handshake_head(bytes)`).
    pub max_handshake_head: Option<usize>,
    /// Resumable sessions (`#[ws_module(recovery)]` or `recovery(window_secs = 120,
    /// max_messages = 500, max_bytes = 524288)`): see [`Recovery`].
    pub recovery: Option<Recovery>,
    /// permessage-deflate (`compression = deflate`, `compression = deflate(level = 6, ...)`,
    /// `compression = off`).
    pub compression: Option<crate::config::compression::Compression>,
}

/// A module's resumable sessions (`#[ws_module(recovery(...))]`): a client that drops (any end
/// but a close with 1000) may reconnect with `?resume=TOKEN&off=OFFSET` within `window` and
/// get the pushes it missed, replayed byte for byte (README, "Reconnects and missed messages").
/// The JSON parser only (the build refuses another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// How long a dropped session is kept (default 2 minutes); a resume later answers
    /// `expired`. History older than this is dropped too.
    pub window: Duration,
    /// The most pushes the module's history keeps (default 500); past it the oldest go, and
    /// a resume that missed one answers `evicted`. At most the outbound queue's frames less 8
    /// (a replay is queued at once).
    pub max_messages: usize,
    /// The most bytes of frames the module's history keeps (default 512 KiB); as
    /// `max_messages`. At most half the outbound queue's bytes.
    pub max_bytes: usize,
}

impl Recovery {
    /// 2 minutes, 500 pushes, 512 KiB.
    pub const DEFAULT: Recovery = Recovery {
        window: Duration::from_secs(120),
        max_messages: 500,
        max_bytes: 512 << 10,
    };

    /// Keeps dropped sessions (and history) this long.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Keeps at most this many pushes of history.
    pub const fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = n;
        self
    }

    /// Keeps at most this many bytes of history.
    pub const fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery::DEFAULT
    }
}

impl ModuleLimits {
    /// No overrides.
    pub const NONE: ModuleLimits = ModuleLimits {
        max_connections: None,
        origins: None,
        rate_limit: None,
        handler_timeout: None,
        max_message_size: None,
        backpressure: None,
        max_rooms_per_connection: None,
        max_handshake_head: None,
        recovery: None,
        compression: None,
    };

    /// Resumable sessions with these settings.
    pub const fn recovery(mut self, settings: Recovery) -> Self {
        self.recovery = Some(settings);
        self
    }

    /// At most `n` live connections of this module.
    pub const fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Only these origins (`"*"`: any).
    pub const fn origins(mut self, list: &'static [&'static str]) -> Self {
        self.origins = Some(list);
        self
    }

    /// This rate limit ([`RateLimit::OFF`] for none).
    pub const fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// How long a handler of this module may take before its client gets a `timeout` error
    /// reply and the handler is dropped (overrides [`Config::handler_timeout`](crate::Config::handler_timeout)).
    pub const fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = Some(Some(timeout));
        self
    }

    /// No handler timeout.
    pub const fn no_handler_timeout(mut self) -> Self {
        self.handler_timeout = Some(None);
        self
    }

    /// The largest inbound message (and frame).
    pub const fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// What happens when a connection of this module does not take its frames fast enough and
    /// its outbound queue is full (overrides [`Config::backpressure`](crate::Config::backpressure)).
    pub const fn backpressure(mut self, policy: Backpressure) -> Self {
        self.backpressure = Some(policy);
        self
    }

    /// At most `n` rooms per connection ([`Connection::join`](crate::Connection::join) fails
    /// past it).
    pub const fn max_rooms_per_connection(mut self, n: usize) -> Self {
        self.max_rooms_per_connection = Some(n);
        self
    }

    /// The largest handshake request head, in bytes (past it → HTTP 431).
    pub const fn max_handshake_head(mut self, bytes: usize) -> Self {
        self.max_handshake_head = Some(bytes);
        self
    }

    /// permessage-deflate for this module (overrides [`Config::compression`](crate::Config::compression)).
    pub const fn compression(
        mut self,
        compression: crate::config::compression::Compression,
    ) -> Self {
        self.compression = Some(compression);
        self
    }

    /// `self`, with the fields `other` sets replaced.
    pub(crate) fn overridden_by(self, other: ModuleLimits) -> Self {
        ModuleLimits {
            max_connections: other.max_connections.or(self.max_connections),
            origins: other.origins.or(self.origins),
            rate_limit: other.rate_limit.or(self.rate_limit),
            handler_timeout: other.handler_timeout.or(self.handler_timeout),
            max_message_size: other.max_message_size.or(self.max_message_size),
            backpressure: other.backpressure.or(self.backpressure),
            max_rooms_per_connection: other
                .max_rooms_per_connection
                .or(self.max_rooms_per_connection),
            max_handshake_head: other.max_handshake_head.or(self.max_handshake_head),
            recovery: other.recovery.or(self.recovery),
            compression: other.compression.or(self.compression),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(http::header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_compares_the_host() {
        let o = Origins::SameOrigin;
        assert!(o.allows(&headers(None, "a.example")));
        assert!(o.allows(&headers(Some("https://a.example"), "a.example")));
        assert!(o.allows(&headers(Some("http://127.0.0.1:80"), "127.0.0.1:80")));
        assert!(!o.allows(&headers(Some("http://127.0.0.1:81"), "127.0.0.1:80")));
        assert!(!o.allows(&headers(Some("https://evil.example"), "a.example")));
        assert!(!o.allows(&headers(Some("null"), "a.example")));
    }

    #[test]
    fn lists_match_exactly() {
        let o = Origins::list(["https://a.example"]);
        assert!(o.allows(&headers(Some("https://A.example"), "x")));
        assert!(!o.allows(&headers(Some("http://a.example"), "x")));
        assert!(o.allows(&headers(None, "x")));
        assert!(Origins::from_static(&["*"]).allows(&headers(Some("null"), "x")));
    }
}
