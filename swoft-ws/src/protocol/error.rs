//! Error replies: the `code` and `message` a client gets when its message could not be
//! handled. An error reply never closes the connection.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

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
    /// A handler's `Err` given as a plain message (`String` or `&'static str`): the message is
    /// the handler's.
    pub const ERROR: &str = "error";
    /// The connection is already in as many rooms as its module allows
    /// (`max_rooms_per_connection`); see `JoinError`.
    pub const TOO_MANY_ROOMS: &str = "too_many_rooms";
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

    /// The stable code clients match on ([`codes`] for swoft-ws's own; apps add theirs).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message for people (logs, a UI); clients should not parse it.
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

/// A handler's `Err(String)`: code [`codes::ERROR`], the string as the message.
impl From<String> for WsError {
    fn from(message: String) -> Self {
        WsError::new(codes::ERROR, message)
    }
}

/// A handler's `Err("...")`: code [`codes::ERROR`], the string as the message.
impl From<&'static str> for WsError {
    fn from(message: &'static str) -> Self {
        WsError::new(codes::ERROR, message)
    }
}

/// `invalid_data` with serde's message, without its position: the text deserialized is a
/// piece of the frame (the envelope's `data`, `ext`), so serde's "at line 1 column 2" would
/// point into something the client did not write.
impl From<serde_json::Error> for WsError {
    fn from(e: serde_json::Error) -> Self {
        WsError::invalid_data(serde_message(&e))
    }
}

/// serde's message for `e` without the ` at line L column C` it appends.
pub(crate) fn serde_message(e: &serde_json::Error) -> String {
    let mut s = e.to_string();
    if e.line() != 0 {
        let position = format!(" at line {} column {}", e.line(), e.column());
        if s.ends_with(&position) {
            s.truncate(s.len() - position.len());
        }
    }
    s
}
