//! What the decoder yields: a whole message or a control frame ([`Incoming`]), or the way the
//! client broke the protocol ([`Violation`], with the close code to answer with, RFC 6455
//! §7.4.1). Shared by the frame decoder (`codec.rs`) and the reassembly of fragments
//! (`fragment.rs`).

use crate::ws::WireText;
use bytes::Bytes;

use crate::ws::close_code;

/// One whole message (reassembled from its fragments) or one control frame.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// A text message.
    Text(WireText),
    /// A binary message.
    Binary(Bytes),
    /// A ping, with its payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong, with its payload (at most 125 bytes).
    Pong(Bytes),
    /// A close frame: its code and reason; None for an empty close payload.
    Close(Option<(u16, WireText)>),
}

/// The client broke the protocol: the close code to answer with, and why (for the log and the close reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The close code to send (1002, 1007 or 1009).
    pub(crate) code: u16,
    /// What was wrong, short enough for a close reason.
    pub(crate) reason: &'static str,
}

/// Text that is not UTF-8 (1007, RFC 6455 §8.1).
pub(crate) const INVALID_UTF8: Violation = Violation {
    code: close_code::INVALID_PAYLOAD,
    reason: "invalid UTF-8",
};
