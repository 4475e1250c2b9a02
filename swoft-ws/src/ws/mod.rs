//! RFC 6455: frames, the upgrade, the socket and the outbound queue; RFC 7692's
//! permessage-deflate (its negotiation and the compression of frames). Knows no modules,
//! commands or connections' sessions: what is above it gives it bytes and takes bytes back.
//!
//! Public here: [`RawMessage`] (a data frame as the app sees it), [`Utf8Bytes`] (its text),
//! [`Opcode`] (the frame kind of replies) and [`close_code`] (the close codes swoft-ws uses).

pub(crate) mod codec;
pub(crate) mod deflate;
pub(crate) mod extensions;
mod fragment;
mod frame;
pub(crate) mod outbound;
pub(crate) mod transport;
pub(crate) mod upgrade;

use std::fmt;
use std::ops::Deref;

/// The frame vocabulary the layers above speak inside the crate — the outbound queue's
/// messages, close frames, the codec's text — in one place: only this file names
/// `axum::extract::ws`, so replacing it is a change here, not in eight files.
pub(crate) use axum::extract::ws::{CloseFrame, Message};
/// Text known to be UTF-8, as the codec and the outbound queue hold it (the public face of it
/// is [`Utf8Bytes`]).
pub(crate) type WireText = axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

/// The kind of frame a reply goes out in, as Swoft's `opcode` of a mapping and
/// `defaultOpcode` of a module (`WEBSOCKET_OPCODE_*`): `#[ws_module(opcode = binary)]`,
/// `#[message_mapping("ping", opcode = pong)]`. The reply is packed by the module's parser
/// as usual and its bytes sent in a frame of this kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Opcode {
    /// A text frame (the default).
    #[default]
    Text,
    /// A binary frame.
    Binary,
    /// A ping frame (a control frame: its payload is at most 125 bytes, RFC 6455 §5.5).
    Ping,
    /// A pong frame (a control frame: at most 125 bytes).
    Pong,
}

/// The most a control frame (ping, pong, close) may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

impl Opcode {
    /// `msg` (packed by a parser) as a frame of this kind; `None` for a control frame whose
    /// payload is over [`MAX_CONTROL_PAYLOAD`].
    pub(crate) fn frame(self, msg: RawMessage) -> Option<Message> {
        match self {
            Opcode::Text => Some(msg.into_ws()),
            Opcode::Binary => Some(Message::Binary(msg.into_bytes())),
            Opcode::Ping | Opcode::Pong => {
                let b = msg.into_bytes();
                (b.len() <= MAX_CONTROL_PAYLOAD).then(|| {
                    if self == Opcode::Ping {
                        Message::Ping(b)
                    } else {
                        Message::Pong(b)
                    }
                })
            }
        }
    }
}

/// One WebSocket data frame, as received or as sent: text or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawMessage {
    /// A text frame (always valid UTF-8).
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

impl RawMessage {
    /// A text frame.
    pub fn text(s: impl Into<Utf8Bytes>) -> Self {
        RawMessage::Text(s.into())
    }

    /// A binary frame.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        RawMessage::Binary(b.into())
    }

    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            RawMessage::Text(t) => t.as_bytes(),
            RawMessage::Binary(b) => b,
        }
    }

    /// The text of a text frame; `None` for a binary frame (use [`as_bytes`](Self::as_bytes)).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            RawMessage::Text(t) => Some(t.as_str()),
            RawMessage::Binary(_) => None,
        }
    }

    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The payload, whatever the frame kind.
    pub(crate) fn into_bytes(self) -> Bytes {
        match self {
            RawMessage::Text(t) => Bytes::from(t.0),
            RawMessage::Binary(b) => b,
        }
    }

    pub(crate) fn into_ws(self) -> Message {
        match self {
            RawMessage::Text(t) => Message::Text(t.0),
            RawMessage::Binary(b) => Message::Binary(b),
        }
    }
}

/// The payload of a text frame: bytes that are valid UTF-8, shared without copying (cloning is
/// a reference count). Derefs to `str`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Utf8Bytes(pub(crate) WireText);

impl Utf8Bytes {
    /// A text that borrows nothing: `&'static str` without a copy.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(WireText::from_static(s))
    }

    /// The text, borrowed (no copy, no validation: it was checked when made).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::hash::Hash for Utf8Bytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(s.into())
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(s.into())
    }
}

impl From<&String> for Utf8Bytes {
    fn from(s: &String) -> Self {
        Utf8Bytes(s.as_str().into())
    }
}

impl From<Box<str>> for Utf8Bytes {
    fn from(s: Box<str>) -> Self {
        Utf8Bytes(String::from(s).into())
    }
}

impl Utf8Bytes {
    /// The codec's text, as the app sees it (no copy).
    pub(crate) fn from_wire(t: WireText) -> Self {
        Utf8Bytes(t)
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that `bytes` are UTF-8; no copy.
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        WireText::try_from(bytes).map(Utf8Bytes)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(t: Utf8Bytes) -> Bytes {
        Bytes::from(t.0)
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Utf8Bytes {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// Standard close codes (RFC 6455 §7.4.1) used by swoft-ws.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// Protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// A data type the endpoint cannot accept.
    pub const UNSUPPORTED: u16 = 1003;
    /// The client's close frame had no code (never sent on the wire).
    pub const NO_STATUS: u16 = 1005;
    /// No close frame was received (never sent on the wire).
    pub const ABNORMAL: u16 = 1006;
    /// Invalid frame payload data (e.g. invalid UTF-8 in a text frame).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// Policy violation.
    pub const POLICY: u16 = 1008;
    /// The message is too big.
    pub const TOO_BIG: u16 = 1009;
    /// The server hit an unexpected condition.
    pub const INTERNAL: u16 = 1011;
    /// The server is overloaded; try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// Sent by swoft-ws to a connection whose resumable session a new connection resumed (a
    /// half-open connection the client left): `4000 session resumed by a new connection`.
    pub const SESSION_RESUMED: u16 = 4000;
}
