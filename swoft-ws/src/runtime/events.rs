//! App-wide event listeners, Swoft's `@Listener(WsServerEvent::...)`: a plain `fn` marked
//! `#[ws_listener(event = "open.after")]` runs at that point of every connection of every
//! module, with the connection (none before the handshake is accepted) and, for the `*.error`
//! events, the error. Listeners are collected once at start-up; an event nobody listens to
//! costs a length check. A panicking listener is caught and logged; the connection goes on.
//!
//! | event | when | [`Event::connection`] | [`Event::error`] |
//! |---|---|---|---|
//! | `handshake.before` | a valid upgrade request, before `#[on_handshake]` | none | none |
//! | `handshake.after` | the hook accepted | none | none |
//! | `handshake.error` | the hook panicked (the client gets 500) | none | the panic |
//! | `open.before`, `open.after` | around `#[on_open]` (with or without one) | yes | none |
//! | `open.error` | `#[on_open]` panicked | yes | the panic |
//! | `message.before`, `message.after` | around each message (after: its reply queued) | yes | none |
//! | `message.error` | a handler or middleware panicked, or ran past its timeout | yes | what happened |
//! | `close.before`, `close.after` | around `#[on_close]` (with or without one) | yes | none |
//! | `close.error` | `#[on_close]` panicked | yes | the panic |

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::handshake::HandshakeRequest;
use crate::runtime::connection::Connection;

/// The events a listener can listen to; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WsEvent {
    /// `handshake.before`
    HandshakeBefore,
    /// `handshake.after`
    HandshakeAfter,
    /// `handshake.error`
    HandshakeError,
    /// `open.before`
    OpenBefore,
    /// `open.after`
    OpenAfter,
    /// `open.error`
    OpenError,
    /// `message.before`
    MessageBefore,
    /// `message.after`
    MessageAfter,
    /// `message.error`
    MessageError,
    /// `close.before`
    CloseBefore,
    /// `close.after`
    CloseAfter,
    /// `close.error`
    CloseError,
}

const COUNT: usize = 12;

impl WsEvent {
    /// The event's name, as `#[ws_listener(event = "...")]` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            WsEvent::HandshakeBefore => "handshake.before",
            WsEvent::HandshakeAfter => "handshake.after",
            WsEvent::HandshakeError => "handshake.error",
            WsEvent::OpenBefore => "open.before",
            WsEvent::OpenAfter => "open.after",
            WsEvent::OpenError => "open.error",
            WsEvent::MessageBefore => "message.before",
            WsEvent::MessageAfter => "message.after",
            WsEvent::MessageError => "message.error",
            WsEvent::CloseBefore => "close.before",
            WsEvent::CloseAfter => "close.after",
            WsEvent::CloseError => "close.error",
        }
    }
}

/// What a listener is told.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    kind: WsEvent,
    request: &'a HandshakeRequest,
    conn: Option<&'a Connection>,
    error: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub(crate) fn new(kind: WsEvent, request: &'a HandshakeRequest) -> Self {
        Event {
            kind,
            request,
            conn: None,
            error: None,
        }
    }

    pub(crate) fn of(kind: WsEvent, conn: &'a Connection) -> Self {
        Event {
            kind,
            request: conn.handshake(),
            conn: Some(conn),
            error: None,
        }
    }

    pub(crate) fn with_error(mut self, error: &'a str) -> Self {
        self.error = Some(error);
        self
    }

    /// Which event this is.
    pub fn kind(&self) -> WsEvent {
        self.kind
    }

    /// The handshake request of the connection (or of the handshake under way).
    pub fn request(&self) -> &'a HandshakeRequest {
        self.request
    }

    /// The connection; `None` for the `handshake.*` events (it does not exist yet).
    pub fn connection(&self) -> Option<&'a Connection> {
        self.conn
    }

    /// For the `*.error` events: what went wrong (a panic's message, a timeout).
    pub fn error(&self) -> Option<&'a str> {
        self.error
    }
}

/// A listener: what `#[ws_listener]` registers.
pub type ListenerFn = fn(&Event<'_>);

/// The app's listeners by event, built once at start-up.
#[derive(Default)]
pub(crate) struct Listeners {
    by_event: [Box<[ListenerFn]>; COUNT],
}

impl Listeners {
    pub(crate) fn new(list: impl IntoIterator<Item = (WsEvent, ListenerFn)>) -> Self {
        let mut by_event: [Vec<ListenerFn>; COUNT] = Default::default();
        for (event, f) in list {
            by_event[event as usize].push(f);
        }
        Listeners {
            by_event: by_event.map(Vec::into_boxed_slice),
        }
    }

    /// Whether anyone listens to `event` (check before building the [`Event`]).
    pub(crate) fn wants(&self, event: WsEvent) -> bool {
        !self.by_event[event as usize].is_empty()
    }

    /// Calls every listener of the event, in registration order; a panic is logged.
    pub(crate) fn emit(&self, event: &Event<'_>) {
        for f in &self.by_event[event.kind as usize] {
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(event))) {
                let msg = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(not a string)");
                tracing::error!(event = event.kind.name(), panic = msg, "listener panicked");
            }
        }
    }
}

/// Tells the app's listeners of `event` (if any) about this connection.
pub(crate) fn emit(conn: &Connection, event: WsEvent, error: Option<&str>) {
    let listeners = conn.server().listeners();
    if listeners.wants(event) {
        let ev = Event::of(event, conn);
        listeners.emit(&match error {
            Some(e) => ev.with_error(e),
            None => ev,
        });
    }
}
