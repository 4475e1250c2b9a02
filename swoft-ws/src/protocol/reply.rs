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
