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

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use crate::protocol::RawMessage;

/// The stable error codes of swoft-ws. Applications add their own codes beside these.
pub mod codes {
    /// The frame is not a message of the module's protocol (not JSON, not an object, `cmd` not
    /// a string, a binary frame to a JSON module, ...).
    pub const BAD_MESSAGE: &str = "bad_message";
    /// No controller method is mapped to the command, and the module has no `#[on_message]`.
    pub const UNKNOWN_COMMAND: &str = "unknown_command";
    /// The payload did not fit the handler's payload type.
    pub const INVALID_DATA: &str = "invalid_data";
    /// The caller may not do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// Something the request names does not exist.
    pub const NOT_FOUND: &str = "not_found";
    /// Too many messages.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The handler took too long.
    pub const TIMEOUT: &str = "timeout";
    /// The handler panicked or failed unexpectedly.
    pub const INTERNAL: &str = "internal";
}

/// An error reply: a stable `code` and a human-readable `message`.
///
/// Handlers return it (or any `E: Into<WsError>`) in the `Err` of a `Result`; extractors return
/// it when the message does not fit them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsError {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl WsError {
    /// An error with an application code.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        WsError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `bad_message`: the frame is not a message of the module's protocol.
    pub fn bad_message(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::BAD_MESSAGE, message)
    }

    /// `unknown_command`.
    pub fn unknown_command(command: &str) -> Self {
        Self::new(
            codes::UNKNOWN_COMMAND,
            format!("no handler for command `{command}`"),
        )
    }

    /// `invalid_data`: the payload did not fit.
    pub fn invalid_data(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::INVALID_DATA, message)
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::FORBIDDEN, message)
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::NOT_FOUND, message)
    }

    /// `internal`: something failed that the client cannot fix.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(codes::INTERNAL, message)
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for WsError {}

impl From<serde_json::Error> for WsError {
    fn from(e: serde_json::Error) -> Self {
        WsError::invalid_data(e.to_string())
    }
}

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
}

impl Reply {
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
    /// The reply.
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
    /// The reply.
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
