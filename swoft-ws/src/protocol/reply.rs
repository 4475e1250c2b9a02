//! Replies and errors: what a handler's return value becomes.
//!
//! A handler returns anything that turns into a [`Reply`]:
//!
//! | return type | what the client gets |
//! |---|---|
//! | `()` | nothing |
//! | `T: Serialize` | a reply frame with the same command, `T` as its `data`, the request's `id` |
//! | `Result<T, E>` where `E: Into<WsError>` | `Ok`: as above (`Ok(())`: nothing); `Err`: an error frame |
//! | [`RawMessage`] | that frame, untouched (for raw modules) |
//! | [`Reply`] | exactly what it says |
//!
//! A reply can also go elsewhere, as Swoft's `Response` can (`setFd`, `toAll`, `broadcast`,
//! `setCmd`): [`Reply::to`] another connection, [`Reply::to_fds`] some, [`Reply::to_all`] every
//! connection of the server, [`Reply::broadcast`] all but the sender, and [`Reply::command`]
//! under another command. The reply is packed once by the sender's module parser, in the
//! route's frame kind, and queued on each receiver like a push: the receivers that took it,
//! had a full queue or were gone are counted (a [`Delivery`](crate::Delivery), logged at debug
//! with the message and counted in `swoft_ws_messages_out_total`). A re-targeted reply carries
//! no request `id` (it answers nobody's request); one only given another command keeps it. A
//! middleware can re-target the reply it gets from `next.run(cx)` the same way.
//!
//! An error never closes the connection. Its `code` is a stable string ([`codes`]) that clients
//! can match on; its `message` is for people.

use serde::Serialize;

use crate::protocol::error::WsError;
use crate::ws::RawMessage;

/// What a handler's return value becomes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reply {
    /// Send nothing.
    None,
    /// A reply with this data (JSON text), packed by the module's parser with the request's
    /// command and id.
    Data(String),
    /// An error reply.
    Error(WsError),
    /// This frame, untouched.
    Raw(RawMessage),
    /// A reply with data and `ext` (both JSON text): Swoft's `{cmd, data, ext}`. Made with
    /// [`Reply::with_ext`].
    DataExt {
        /// The data, JSON text.
        data: String,
        /// The extra value, JSON text.
        ext: String,
    },
    /// A reply that goes to other connections or under another command. Made with
    /// [`Reply::to`], [`Reply::to_fds`], [`Reply::to_all`], [`Reply::broadcast`] or
    /// [`Reply::command`].
    Routed(Box<Routed>),
}

/// A re-targeted reply: what it is, who gets it, under which command. See [`Reply::Routed`].
#[derive(Debug, Clone)]
pub struct Routed {
    pub(crate) reply: Reply,
    pub(crate) to: Recipients,
    pub(crate) command: Option<Box<str>>,
}

/// Who gets a re-targeted reply (fds as numbers: this layer knows no `Fd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recipients {
    /// The sender, as an ordinary reply.
    Sender,
    /// These connections of this node.
    Fds(Vec<u32>),
    /// Every connection of the server.
    All,
    /// Every connection of the server but the sender.
    AllButSender,
}

impl Reply {
    /// A data reply from any serializable value: `Reply::new("hi").to(fd)`. The same as
    /// [`Reply::data`], taking the value.
    pub fn new<T: Serialize>(data: T) -> Reply {
        Reply::data(&data)
    }

    /// The reply, re-targeted (the wrapper made once; later calls change it).
    pub(crate) fn routed(self, f: impl FnOnce(&mut Routed)) -> Reply {
        let mut r = match self {
            Reply::Routed(r) => r,
            reply => Box::new(Routed {
                reply,
                to: Recipients::Sender,
                command: None,
            }),
        };
        f(&mut r);
        Reply::Routed(r)
    }

    /// Sends the reply under `command` instead of the request's (Swoft's `setCmd`).
    #[must_use]
    pub fn command(self, command: &str) -> Reply {
        self.routed(|r| r.command = Some(command.into()))
    }

    /// Sends the reply to every connection of the server (Swoft's `toAll`), the sender
    /// included, on this node and, with a cluster adapter, on the others.
    #[must_use]
    pub fn to_all(self) -> Reply {
        self.routed(|r| r.to = Recipients::All)
    }

    /// Sends the reply to every connection of the server but the sender (Swoft's
    /// `broadcast`), on this node and, with a cluster adapter, on the others.
    #[must_use]
    pub fn broadcast(self) -> Reply {
        self.routed(|r| r.to = Recipients::AllButSender)
    }
}

impl Reply {
    /// Adds `ext` to a data reply, as Swoft's JSON replies carry `{cmd, data, ext}`: the JSON
    /// parser writes it after `data` (the text parsers have no place for it and leave it
    /// out). Swoft always sends `ext` (`[]` when empty); swoft-ws writes it only when set. On
    /// a reply that is not data (none, an error, a raw frame) it does nothing; a value that
    /// fails to serialize becomes an `internal` error reply.
    #[must_use]
    pub fn with_ext<E: Serialize + ?Sized>(self, ext: &E) -> Reply {
        let data = match self {
            Reply::Data(d) | Reply::DataExt { data: d, .. } => d,
            Reply::Routed(mut r) => {
                r.reply = r.reply.with_ext(ext);
                return Reply::Routed(r);
            }
            other => return other,
        };
        match serde_json::to_string(ext) {
            Ok(ext) => Reply::DataExt { data, ext },
            Err(e) => {
                tracing::error!(error = %e, "reply ext failed to serialize");
                Reply::Error(WsError::internal("reply failed to serialize"))
            }
        }
    }

    /// A data reply from any serializable value.
    ///
    /// A value that fails to serialize (a map with non-string keys, say) becomes an `internal`
    /// error reply.
    pub fn data<T: Serialize + ?Sized>(value: &T) -> Reply {
        match serde_json::to_string(value) {
            Ok(s) => Reply::Data(s),
            Err(e) => {
                tracing::error!(error = %e, "reply failed to serialize");
                Reply::Error(WsError::internal("reply failed to serialize"))
            }
        }
    }
}

/// Turns a handler's return value into a [`Reply`].
///
/// Implemented for `()`, [`Reply`], [`RawMessage`], [`WsError`] and `Result<T, E>`; any other
/// `T: Serialize` is a data reply too (the macros pick that path for you).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a handler's reply",
    label = "not a reply",
    note = "return `()`, a `T: serde::Serialize`, `Result<T, E>` with `E: Into<WsError>`, `RawMessage` or `Reply`"
)]
pub trait IntoReply {
    /// What the client gets back: a reply frame, an error reply, a raw frame, or nothing.
    fn into_reply(self) -> Reply;
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::None
    }
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for RawMessage {
    fn into_reply(self) -> Reply {
        Reply::Raw(self)
    }
}

impl IntoReply for WsError {
    fn into_reply(self) -> Reply {
        Reply::Error(self)
    }
}

impl<T: ReplyValue, E: Into<WsError>> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(v) => v.into_reply_value(),
            Err(e) => Reply::Error(e.into()),
        }
    }
}

/// The `Ok` side of a handler's `Result`: `()` for no reply, a raw frame, or any
/// `T: Serialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the `Ok` of a handler's reply",
    note = "use `()`, a `T: serde::Serialize`, `RawMessage` or `Reply`"
)]
pub trait ReplyValue {
    /// The reply an `Ok(self)` becomes.
    fn into_reply_value(self) -> Reply;
}

impl<T: Serialize> ReplyValue for T {
    fn into_reply_value(self) -> Reply {
        if is_unit::<T>() {
            Reply::None
        } else {
            Reply::data(&self)
        }
    }
}

impl ReplyValue for RawMessage {
    fn into_reply_value(self) -> Reply {
        Reply::Raw(self)
    }
}

impl ReplyValue for Reply {
    fn into_reply_value(self) -> Reply {
        self
    }
}

/// Whether `T` is `()`, decided by the type alone (so `Ok(())` means "no reply" while a unit
/// struct still serializes to `null`). Only zero-sized types get the name check; the name of
/// `()` is `"()"` (pinned by the tests below).
fn is_unit<T: Serialize>() -> bool {
    std::mem::size_of::<T>() == 0 && std::any::type_name::<T>() == "()"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_unit_is_no_reply() {
        let r: Result<(), WsError> = Ok(());
        assert!(matches!(r.into_reply(), Reply::None));
    }

    #[test]
    fn ok_value_is_data() {
        let r: Result<u32, WsError> = Ok(3);
        assert!(matches!(r.into_reply(), Reply::Data(s) if s == "3"));
    }

    #[test]
    fn unit_struct_is_still_data() {
        #[derive(Serialize)]
        struct Done;
        assert!(matches!(Done.into_reply_value(), Reply::Data(s) if s == "null"));
    }
}
