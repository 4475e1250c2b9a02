//! Parsers: how a frame becomes a command and a body, and how replies are packed.
//!
//! Each module has one [`Parser`]. Three come with swoft-ws:
//!
//! - [`JsonParser`] (the default), the JSON protocol of the README's "Wire protocol". A client sends one text frame
//!   per message, `{"cmd": "room.join", "data": {...}, "id": 7, "ext": {...}}`, and gets
//!   `{"cmd": "room.join", "data": ..., "id": 7}` back, or
//!   `{"cmd": "room.join", "error": {"code": "...", "message": "..."}, "id": 7}`. When `data` is
//!   absent, the object's other fields (all but `cmd`, `id` and `ext`) are the data, so
//!   `{"cmd": "room.join", "room": "lobby"}` works too. A `null` id counts as no id.
//! - [`RawParser`] (`parser = raw`, Swoft's `RawTextParser`), which hands every text or binary
//!   frame to the module's `#[on_message]` hook (or default command) untouched.
//! - [`TokenTextParser`] (`parser = token_text`, Swoft's `TokenTextParser`): `cmd:body` text
//!   frames.
//!
//! The two text parsers send a reply's or a push's data as text: a string as it is (`"hi"` →
//! `hi`), a number or `true` as written, an array or object as JSON; their error replies are
//! JSON (`{"error": {"code", "message"}}`).
//!
//! A custom parser implements [`Parser`] and is named in `#[ws_module(parser = MyParser)]`.

pub(crate) mod error;
mod json;
mod reply;
mod text;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

pub use crate::protocol::error::{WsError, codes};
pub use crate::protocol::json::JsonParser;
pub(crate) use crate::protocol::json::push_json_str;
/// The command of a client's answer to a server request, routed by the runtime (never to a
/// controller): commands starting with `$` are the runtime's.
pub const ACK_COMMAND: &str = "$ack";
pub(crate) use crate::protocol::reply::Recipients;
pub use crate::protocol::reply::{IntoReply, Reply, ReplyValue, Routed};
pub use crate::protocol::text::{RawParser, TokenTextParser};
use crate::ws::RawMessage;

/// A piece of a decoded message: a byte range of the frame, or text the parser built.
#[derive(Clone, PartialEq, Eq)]
pub enum Piece {
    /// These bytes of the frame (they must be valid UTF-8).
    Span(Range<usize>),
    /// Text the parser made (an unescaped command, data gathered from several fields, ...).
    Owned(Box<str>),
}

impl fmt::Debug for Piece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Piece::Span(r) => write!(f, "Span({r:?})"),
            Piece::Owned(s) => write!(f, "Owned({s:?})"),
        }
    }
}

impl Piece {
    /// The text of this piece within `frame`; `None` for a span that is out of bounds or not
    /// UTF-8.
    pub fn resolve<'a>(&'a self, frame: &'a RawMessage) -> Option<&'a str> {
        match self {
            // A text frame is valid UTF-8 already: only the span's ends need checking.
            Piece::Span(r) => match frame {
                RawMessage::Text(t) => t.as_str().get(r.clone()),
                RawMessage::Binary(b) => std::str::from_utf8(b.get(r.clone())?).ok(),
            },
            Piece::Owned(s) => Some(s),
        }
    }

    pub(crate) fn of<'a>(frame_text: &'a str, part: Cow<'a, str>) -> Piece {
        match part {
            Cow::Borrowed(s) => Piece::Span(span_of(frame_text, s)),
            Cow::Owned(s) => Piece::Owned(s.into_boxed_str()),
        }
    }
}

/// Where `part`, a slice of `whole`, sits within it.
pub(crate) fn span_of(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// A message's body, as its parser found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// No body (extractors see JSON `null`).
    #[default]
    Empty,
    /// JSON text.
    Json(Piece),
    /// Plain text (extractors see a JSON value if it parses as one, else a string).
    Text(Piece),
    /// The whole binary frame.
    Binary,
}

/// What a parser found in a frame: the command, the body, the request id and the extra
/// fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    pub(crate) command: Option<Piece>,
    pub(crate) body: Body,
    pub(crate) id: Option<Piece>,
    pub(crate) ext: Option<Piece>,
}

impl Decoded {
    /// A message with no command, no body, no id.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the command.
    pub fn with_command(mut self, command: Piece) -> Self {
        self.command = Some(command);
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Sets the request id: raw JSON (a number or a quoted string), echoed back verbatim.
    pub fn with_id(mut self, id: Piece) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the extra fields (raw JSON).
    pub fn with_ext(mut self, ext: Piece) -> Self {
        self.ext = Some(ext);
        self
    }

    /// The command, if the frame named one (resolve it with [`Piece::resolve`]).
    pub fn command(&self) -> Option<&Piece> {
        self.command.as_ref()
    }

    /// Where the message's payload is in the frame (or that there is none): what
    /// [`Data<T>`](crate::Data) deserializes.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The request id as raw JSON, if the frame had one (a `null` id counts as none).
    pub fn id(&self) -> Option<&Piece> {
        self.id.as_ref()
    }

    /// The extra fields as raw JSON, if the frame had them.
    pub fn ext(&self) -> Option<&Piece> {
        self.ext.as_ref()
    }
}

/// A client's answer to a request the server sent it
/// ([`Connection::request`](crate::Connection::request)): what a parser reads off a frame
/// whose command is `$ack` (JSON: `{"cmd":"$ack","ack":N,"data":R}` or
/// `{"cmd":"$ack","ack":N,"error":{"code":C,"message":M}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckAnswer {
    /// The number of the request it answers (the `ack` of the request frame).
    pub ack: u64,
    /// The answer's data as JSON text (`null` when the client sent none), or the client's
    /// error (its `code` and `message`).
    pub result: Result<String, WsError>,
}

impl AckAnswer {
    /// An answer to request `ack`.
    pub fn new(ack: u64, result: Result<String, WsError>) -> Self {
        AckAnswer { ack, result }
    }
}

/// Decodes frames into commands and bodies, and packs replies, errors and pushes.
///
/// Implementations are shared by every connection of a module, so they must be cheap to call
/// and hold no per-connection state.
pub trait Parser: Send + Sync + 'static {
    /// A short name for logs (`"json"`, `"raw"`).
    fn name(&self) -> &'static str;

    /// Finds the command, body, id and extra fields in a frame. An `Err` is sent to the client
    /// as an error frame (its code is usually `bad_message`); the connection stays open.
    fn decode(&self, frame: &RawMessage) -> Result<Decoded, WsError>;

    /// Packs a reply: `data` is JSON text; `id` is the request's raw id.
    fn encode_reply(&self, command: &str, id: Option<&str>, data: &str) -> RawMessage;

    /// Packs an error reply. `command` is `None` when the frame had none that could be read.
    fn encode_error(&self, command: Option<&str>, id: Option<&str>, error: &WsError) -> RawMessage;

    /// Packs a message the server sends on its own (not a reply): `data` is JSON text.
    fn encode_push(&self, command: &str, data: &str) -> RawMessage;

    /// Packs a reply or a push (`id` `None`) that carries `ext`, JSON text: Swoft's
    /// `{cmd, data, ext}`. The default leaves `ext` out and packs it as
    /// [`encode_reply`](Self::encode_reply) (a protocol without a place for it, as the text
    /// protocols).
    fn encode_with_ext(
        &self,
        command: &str,
        id: Option<&str>,
        data: &str,
        ext: &str,
    ) -> RawMessage {
        let _ = ext;
        self.encode_reply(command, id, data)
    }

    /// Packs a push of a module with resumable sessions: the push's offset `off` beside it
    /// (JSON: `{"cmd":..,"data":..,"off":"O"}`, with `"ext"` before `"off"` when given). The
    /// default leaves `off` out (a protocol without a place for it).
    fn encode_push_at(
        &self,
        command: &str,
        data: &str,
        ext: Option<&str>,
        off: &str,
    ) -> RawMessage {
        let _ = off;
        match ext {
            Some(ext) => self.encode_with_ext(command, None, data, ext),
            None => self.encode_push(command, data),
        }
    }

    /// Packs a request the client must answer with a `$ack` frame carrying `ack` (JSON:
    /// `{"cmd":command,"data":data,"ack":ack}`). The default, `None`, is for a protocol with no
    /// place for it (the text protocols): requests to its connections fail with
    /// [`AckError::Unsupported`](crate::AckError::Unsupported).
    fn encode_request(&self, command: &str, data: &str, ack: u64) -> Option<RawMessage> {
        let _ = (command, data, ack);
        None
    }

    /// Reads a client's answer to a request: a frame [`decode`](Self::decode) found the
    /// command `$ack` in. An `Err` means a malformed answer: it is ignored, logged and counted
    /// (never an error reply: answering an answer could loop). The default refuses every frame.
    fn decode_ack(&self, frame: &RawMessage) -> Result<AckAnswer, WsError> {
        let _ = frame;
        Err(WsError::bad_message("this protocol has no `$ack` answers"))
    }
}

impl fmt::Debug for dyn Parser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Parser({})", self.name())
    }
}
