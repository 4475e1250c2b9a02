//! The text protocols of Swoft: [`TokenTextParser`] (`cmd:body`) and what both text parsers
//! (it and [`RawParser`]) send back — the data as text, not as JSON.

use crate::protocol::json::JsonParser;
use crate::protocol::{Body, Decoded, Parser, Piece, WsError};
use crate::ws::RawMessage;

/// Every frame is handed to the module's `#[on_message]` untouched; see the
/// [module docs](super).
#[derive(Debug, Default, Clone, Copy)]
pub struct RawParser;

impl Parser for RawParser {
    fn name(&self) -> &'static str {
        "raw"
    }

    fn decode(&self, frame: &RawMessage) -> Result<Decoded, WsError> {
        let body = match frame {
            RawMessage::Text(t) => Body::Text(Piece::Span(0..t.len())),
            RawMessage::Binary(_) => Body::Binary,
        };
        Ok(Decoded::new().with_body(body))
    }

    fn encode_reply(&self, _command: &str, _id: Option<&str>, data: &str) -> RawMessage {
        data_as_text(data)
    }

    fn encode_error(
        &self,
        _command: Option<&str>,
        _id: Option<&str>,
        error: &WsError,
    ) -> RawMessage {
        JsonParser.encode_error(None, None, error)
    }

    fn encode_push(&self, _command: &str, data: &str) -> RawMessage {
        data_as_text(data)
    }
}

/// Swoft's token-text protocol: a text frame `cmd:body` names its command before the first
/// `:`, and the rest is the body (`room.join:lobby`, `echo:hello world`). Replies and pushes are
/// the data as text (a string as it is, a structure as JSON); error replies are JSON, as with
/// [`RawParser`].
///
/// Decoding follows Swoft's `TokenTextParser` exactly:
/// 1. `:` and spaces are trimmed from both ends of the frame;
/// 2. with a `:` left, the command is what comes before the first one and the body what comes
///    after, each trimmed of whitespace (`echo : hi` → `echo`, `hi`);
/// 3. without one, a lone word of fewer than 16 characters, all `A-Z a-z 0-9 _ -`, is a command
///    with an empty body (`ping`);
/// 4. anything else is a body for the module's default command (`hello world`).
///
/// A command without a `.` takes the module's `default_prefix` like any other. A binary frame
/// has no command: its body is the frame, for the default command or `#[on_message]`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokenTextParser;

/// The longest lone word (exclusive) that is read as a command, as in Swoft.
const MAX_LONE_COMMAND: usize = 16;

impl Parser for TokenTextParser {
    fn name(&self) -> &'static str {
        "token_text"
    }

    fn decode(&self, frame: &RawMessage) -> Result<Decoded, WsError> {
        let RawMessage::Text(text) = frame else {
            return Ok(Decoded::new().with_body(Body::Binary));
        };
        let (command, body) = split(text.as_str());
        let mut decoded = Decoded::new().with_body(Body::Text(Piece::Span(body)));
        if let Some(command) = command {
            decoded = decoded.with_command(Piece::Span(command));
        }
        Ok(decoded)
    }

    fn encode_reply(&self, _command: &str, _id: Option<&str>, data: &str) -> RawMessage {
        data_as_text(data)
    }

    fn encode_error(
        &self,
        _command: Option<&str>,
        _id: Option<&str>,
        error: &WsError,
    ) -> RawMessage {
        JsonParser.encode_error(None, None, error)
    }

    fn encode_push(&self, _command: &str, data: &str) -> RawMessage {
        data_as_text(data)
    }
}

/// The command's and the body's byte ranges in `text` (Swoft's rules, above).
fn split(text: &str) -> (Option<std::ops::Range<usize>>, std::ops::Range<usize>) {
    let outer = text.trim_matches(|c| c == ':' || c == ' ');
    let start = outer.as_ptr() as usize - text.as_ptr() as usize;
    let range = |part: &str| {
        let at = part.as_ptr() as usize - text.as_ptr() as usize;
        at..at + part.len()
    };
    if let Some((cmd, body)) = outer.split_once(':') {
        let (cmd, body) = (trim_php(cmd), trim_php(body));
        // A command that trims to nothing (` : x`) is no command, as Swoft's `''`.
        let cmd = (!cmd.is_empty()).then(|| range(cmd));
        return (cmd, range(body));
    }
    let lone = outer.len() < MAX_LONE_COMMAND
        && !outer.is_empty()
        && outer
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if lone {
        (Some(range(outer)), start + outer.len()..start + outer.len())
    } else {
        (None, range(trim_php(outer)))
    }
}

/// PHP's `trim` with its default characters: space, tab, newline, carriage return, NUL and
/// vertical tab.
fn trim_php(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\0' | '\x0B'))
}

/// What a text protocol sends for `data` (JSON text, as handlers' replies are serialized): a
/// string as its text, `null` as an empty text, and any other value — a number, `true`, an
/// array, an object — as its JSON. Swoft's raw-text and token-text parsers send scalars as
/// they are and arrays as JSON the same way.
pub(crate) fn data_as_text(data: &str) -> RawMessage {
    if data.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(data) {
            return RawMessage::text(s);
        }
    } else if data == "null" {
        return RawMessage::text("");
    }
    RawMessage::text(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(frame: &str) -> (Option<&str>, &str) {
        let (cmd, body) = split(frame);
        (cmd.map(|r| &frame[r]), &frame[body])
    }

    #[test]
    fn a_token_names_the_command_before_the_first_colon() {
        assert_eq!(parts("echo:abc"), (Some("echo"), "abc"));
        assert_eq!(parts("test.ar:a:b"), (Some("test.ar"), "a:b"));
        assert_eq!(parts("  hi : 42 "), (Some("hi"), "42"));
        assert_eq!(parts("::login:body::"), (Some("login"), "body"));
    }

    #[test]
    fn a_lone_short_word_is_a_command_with_an_empty_body() {
        assert_eq!(parts("ping"), (Some("ping"), ""));
        assert_eq!(parts("a-b_C9"), (Some("a-b_C9"), ""));
        assert_eq!(parts("fifteen_chars__"), (Some("fifteen_chars__"), ""));
    }

    #[test]
    fn anything_else_is_a_body_for_the_default_command() {
        assert_eq!(parts("sixteen_chars___"), (None, "sixteen_chars___"));
        assert_eq!(parts("hello world"), (None, "hello world"));
        assert_eq!(parts("test.index"), (None, "test.index"));
        assert_eq!(parts(""), (None, ""));
        assert_eq!(parts(" : "), (None, ""));
        assert_eq!(parts("é"), (None, "é"));
    }

    #[test]
    fn text_replies_send_scalars_as_they_are_and_structures_as_json() {
        let text = |d: &str| data_as_text(d).as_text().map(str::to_owned);
        assert_eq!(text(r#""hi""#).as_deref(), Some("hi"));
        assert_eq!(text(r#""a\"b\n""#).as_deref(), Some("a\"b\n"));
        assert_eq!(text("42").as_deref(), Some("42"));
        assert_eq!(text("true").as_deref(), Some("true"));
        assert_eq!(text("null").as_deref(), Some(""));
        assert_eq!(text(r#"{"a":[1,2]}"#).as_deref(), Some(r#"{"a":[1,2]}"#));
    }

    #[test]
    fn a_binary_frame_has_no_command_and_is_the_body() {
        let d = TokenTextParser
            .decode(&RawMessage::binary(vec![1, 2, 3]))
            .unwrap();
        assert_eq!(d.command(), None);
        assert_eq!(d.body(), &Body::Binary);
    }
}
