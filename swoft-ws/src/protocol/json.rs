//! The JSON protocol, the default: `{"cmd", "data", "id", "ext"}` in, `{"cmd", "data", "id"}`
//! or `{"cmd", "error", "id"}` out (see the [module docs](super)). The envelope is read without
//! copying: every field is a span of the frame.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::protocol::{AckAnswer, Body, Decoded, Parser, Piece, WsError, span_of};
use crate::ws::RawMessage;

/// The JSON protocol (`{"cmd", "data", "id", "ext"}`); see the [module docs](super).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonParser;

impl Parser for JsonParser {
    fn name(&self) -> &'static str {
        "json"
    }

    fn decode(&self, frame: &RawMessage) -> Result<Decoded, WsError> {
        let RawMessage::Text(text) = frame else {
            return Err(WsError::bad_message(
                "binary frames are not understood here: send a JSON text frame",
            ));
        };
        let text = text.as_str();
        let env: Envelope<'_> = serde_json::from_str(text)
            .map_err(|e| WsError::bad_message(format!("not a JSON command object: {e}")))?;
        let raw = |v: &RawValue| Piece::Span(span_of(text, v.get()));
        let body = match env.data {
            Some(d) => Body::Json(raw(d)),
            None if env.rest.is_empty() => Body::Empty,
            None => {
                // Swoft's rule: without `data`, the other fields are the data.
                let mut obj = String::with_capacity(text.len());
                obj.push('{');
                for (i, (k, v)) in env.rest.iter().enumerate() {
                    if i > 0 {
                        obj.push(',');
                    }
                    push_json_str(&mut obj, k);
                    obj.push(':');
                    obj.push_str(v.get());
                }
                obj.push('}');
                Body::Json(Piece::Owned(obj.into_boxed_str()))
            }
        };
        Ok(Decoded {
            command: env.cmd.map(|c| Piece::of(text, c)),
            body,
            id: env.id.filter(|v| v.get() != "null").map(raw),
            ext: env.ext.map(raw),
        })
    }

    fn encode_reply(&self, command: &str, id: Option<&str>, data: &str) -> RawMessage {
        // Exactly the frame's length (when the command needs no escaping, as routed commands
        // never do): a `String` whose capacity is its length becomes `Bytes` without a second
        // allocation.
        let mut out = String::with_capacity(reply_len(command, id, data));
        out.push_str("{\"cmd\":");
        push_json_str(&mut out, command);
        out.push_str(",\"data\":");
        out.push_str(data);
        push_id(&mut out, id);
        RawMessage::Text(out.into())
    }

    fn encode_error(&self, command: Option<&str>, id: Option<&str>, error: &WsError) -> RawMessage {
        let mut out = String::with_capacity(64 + error.message().len());
        out.push('{');
        if let Some(c) = command {
            out.push_str("\"cmd\":");
            push_json_str(&mut out, c);
            out.push(',');
        }
        out.push_str("\"error\":{\"code\":");
        push_json_str(&mut out, error.code());
        out.push_str(",\"message\":");
        push_json_str(&mut out, error.message());
        out.push('}');
        push_id(&mut out, id);
        RawMessage::Text(out.into())
    }

    fn encode_push(&self, command: &str, data: &str) -> RawMessage {
        self.encode_reply(command, None, data)
    }

    /// `{"cmd":..,"data":..,"off":"O"}` (`"ext":..` before `"off"` when given).
    fn encode_push_at(
        &self,
        command: &str,
        data: &str,
        ext: Option<&str>,
        off: &str,
    ) -> RawMessage {
        let extra = ext.map_or(0, |e| e.len() + 7) + off.len() + 9;
        let mut out = String::with_capacity(reply_len(command, None, data) + extra);
        out.push_str("{\"cmd\":");
        push_json_str(&mut out, command);
        out.push_str(",\"data\":");
        out.push_str(data);
        if let Some(ext) = ext {
            out.push_str(",\"ext\":");
            out.push_str(ext);
        }
        out.push_str(",\"off\":");
        push_json_str(&mut out, off);
        out.push('}');
        RawMessage::Text(out.into())
    }

    /// `{"cmd":..,"data":..,"ack":N}`.
    fn encode_request(&self, command: &str, data: &str, ack: u64) -> Option<RawMessage> {
        let mut out = String::with_capacity(reply_len(command, None, data) + 28);
        out.push_str("{\"cmd\":");
        push_json_str(&mut out, command);
        out.push_str(",\"data\":");
        out.push_str(data);
        out.push_str(",\"ack\":");
        out.push_str(&ack.to_string());
        out.push('}');
        Some(RawMessage::Text(out.into()))
    }

    /// `{"cmd":"$ack","ack":N,"data":R}` or `{"cmd":"$ack","ack":N,"error":{"code","message"}}`.
    fn decode_ack(&self, frame: &RawMessage) -> Result<AckAnswer, WsError> {
        match frame {
            RawMessage::Text(t) => decode_ack(t.as_str()),
            RawMessage::Binary(_) => Err(WsError::bad_message("a `$ack` is a text frame")),
        }
    }

    /// `{"cmd":..,"data":..,"ext":..,"id":..}`.
    fn encode_with_ext(
        &self,
        command: &str,
        id: Option<&str>,
        data: &str,
        ext: &str,
    ) -> RawMessage {
        let mut out = String::with_capacity(reply_len(command, id, data) + ext.len() + 7);
        out.push_str("{\"cmd\":");
        push_json_str(&mut out, command);
        out.push_str(",\"data\":");
        out.push_str(data);
        out.push_str(",\"ext\":");
        out.push_str(ext);
        push_id(&mut out, id);
        RawMessage::Text(out.into())
    }
}

/// A `$ack` frame's fields (the others, `cmd` included, are skipped).
#[derive(serde::Deserialize)]
struct AckFrame<'a> {
    ack: Option<u64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    error: Option<AckErrorBody<'a>>,
}

/// The client's error in a `$ack`: a `code` (a string, or any JSON value taken as its text)
/// and an optional `message`.
#[derive(serde::Deserialize)]
struct AckErrorBody<'a> {
    #[serde(borrow)]
    code: &'a RawValue,
    #[serde(default)]
    message: Option<String>,
}

/// Read with `from_slice`, not `from_str`: serde_json's reader for `&str` is the envelope's,
/// and sharing its generic functions with a second caller moved them out of line on the
/// message path (+50 instructions per `echo.send`, measured with `bench/callgrind_guard.sh`).
fn decode_ack(text: &str) -> Result<AckAnswer, WsError> {
    let f: AckFrame<'_> = serde_json::from_slice(text.as_bytes())
        .map_err(|e| WsError::bad_message(format!("not a `$ack` object: {e}")))?;
    let ack = f
        .ack
        .ok_or_else(|| WsError::bad_message("a `$ack` needs `ack`, the request's number"))?;
    let result = match f.error {
        Some(e) => {
            let code = serde_json::from_str::<String>(e.code.get())
                .unwrap_or_else(|_| e.code.get().to_owned());
            Err(WsError::new(code, e.message.unwrap_or_default()))
        }
        None => Ok(f
            .data
            .map_or_else(|| "null".to_owned(), |d| d.get().to_owned())),
    };
    Ok(AckAnswer::new(ack, result))
}

/// The length of `{"cmd":"COMMAND","data":DATA,"id":ID}` for a command that needs no escaping.
fn reply_len(command: &str, id: Option<&str>, data: &str) -> usize {
    r#"{"cmd":"","data":}"#.len()
        + command.len()
        + data.len()
        + id.map_or(0, |id| r#","id":"#.len() + id.len())
}

fn push_id(out: &mut String, id: Option<&str>) {
    if let Some(id) = id {
        out.push_str(",\"id\":");
        out.push_str(id);
    }
    out.push('}');
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    let plain = s
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f);
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // serde_json's escaping; writing a &str to a String cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// The fields of a JSON command object, borrowed from the frame where possible.
#[derive(Default)]
struct Envelope<'a> {
    cmd: Option<Cow<'a, str>>,
    data: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    ext: Option<&'a RawValue>,
    rest: Vec<(Cow<'a, str>, &'a RawValue)>,
}

// The envelope's `deserialize`, `visit_map` and `CowStr::deserialize` are `#[inline]` so that
// every codegen unit that decodes gets its own copy to inline serde_json's map access into:
// without it, where the partitioner puts these generic instantiations decides whether they
// inline, and unrelated code elsewhere in the crate moved the `echo.send` path by ~230
// instructions per message (BENCHMARKS.md, issue 14).
impl<'de> Deserialize<'de> for Envelope<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object like {\"cmd\": \"prefix.action\", \"data\": ...}")
    }

    #[inline]
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Envelope::default();
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            match &*key {
                "cmd" => env.cmd = map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0),
                "data" => env.data = Some(map.next_value()?),
                "id" => env.id = Some(map.next_value()?),
                "ext" => env.ext = Some(map.next_value()?),
                _ => {
                    let v = map.next_value()?;
                    env.rest.push((key, v));
                }
            }
        }
        Ok(env)
    }
}

/// A string borrowed from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &'static str) -> (RawMessage, Result<Decoded, WsError>) {
        let m = RawMessage::text(s);
        let d = JsonParser.decode(&m);
        (m, d)
    }

    #[test]
    fn json_finds_every_field() {
        let (m, d) = decode(r#"{"cmd":"room.join","data":{"room":"a"},"id":7,"ext":{"t":1}}"#);
        let d = d.unwrap();
        assert_eq!(d.command.as_ref().unwrap().resolve(&m), Some("room.join"));
        let Body::Json(p) = &d.body else { panic!() };
        assert_eq!(p.resolve(&m), Some(r#"{"room":"a"}"#));
        assert_eq!(d.id.as_ref().unwrap().resolve(&m), Some("7"));
        assert_eq!(d.ext.as_ref().unwrap().resolve(&m), Some(r#"{"t":1}"#));
    }

    #[test]
    fn json_other_fields_are_the_data_without_data() {
        let (m, d) = decode(r#"{"cmd":"room.join","room":"lobby","n":2}"#);
        let Body::Json(p) = &d.unwrap().body else {
            panic!()
        };
        assert_eq!(p.resolve(&m), Some(r#"{"room":"lobby","n":2}"#));
    }

    #[test]
    fn json_escaped_command_is_unescaped() {
        let (m, d) = decode(r#"{"cmd":"room.j\u006fin"}"#);
        assert_eq!(d.unwrap().command.unwrap().resolve(&m), Some("room.join"));
    }

    #[test]
    fn json_rejects_what_is_not_a_command_object() {
        for bad in ["not json", "[1,2]", "42", r#"{"cmd": 5}"#, "", "{"] {
            let (_, d) = decode(bad);
            assert_eq!(d.unwrap_err().code(), "bad_message", "{bad}");
        }
        let bin = JsonParser.decode(&RawMessage::binary(vec![1, 2]));
        assert_eq!(bin.unwrap_err().code(), "bad_message");
    }

    #[test]
    fn spans_resolve_only_on_char_boundaries() {
        let text = RawMessage::text("aé b");
        assert_eq!(Piece::Span(0..3).resolve(&text), Some("aé"));
        assert_eq!(Piece::Span(0..2).resolve(&text), None);
        assert_eq!(Piece::Span(3..9).resolve(&text), None);
        let bin = RawMessage::binary(vec![b'a', 0xff]);
        assert_eq!(Piece::Span(0..1).resolve(&bin), Some("a"));
        assert_eq!(Piece::Span(0..2).resolve(&bin), None);
    }

    #[test]
    fn reply_len_is_the_frame_length() {
        for (cmd, id, data) in [("echo.send", Some("7"), "{\"a\":1}"), ("a", None, "null")] {
            let r = JsonParser.encode_reply(cmd, id, data);
            assert_eq!(reply_len(cmd, id, data), r.len(), "{cmd} {id:?} {data}");
        }
    }

    #[test]
    fn requests_carry_their_ack_number_and_answers_are_read_back() {
        let r = JsonParser
            .encode_request("ask.name", r#"{"q":1}"#, 42)
            .unwrap();
        assert_eq!(
            r.as_text(),
            Some(r#"{"cmd":"ask.name","data":{"q":1},"ack":42}"#)
        );
        let ok = JsonParser.decode_ack(&RawMessage::text(
            r#"{"cmd":"$ack","ack":42,"data":{"a":[1]}}"#,
        ));
        assert_eq!(ok, Ok(AckAnswer::new(42, Ok(r#"{"a":[1]}"#.to_owned()))));
        let none = JsonParser.decode_ack(&RawMessage::text(r#"{"ack":7,"cmd":"$ack"}"#));
        assert_eq!(none, Ok(AckAnswer::new(7, Ok("null".to_owned()))));
        let err = JsonParser
            .decode_ack(&RawMessage::text(
                r#"{"cmd":"$ack","ack":3,"error":{"code":"busy","message":"later"}}"#,
            ))
            .unwrap();
        assert_eq!(err.result, Err(WsError::new("busy", "later")));
        let numeric = JsonParser
            .decode_ack(&RawMessage::text(
                r#"{"cmd":"$ack","ack":3,"error":{"code":409}}"#,
            ))
            .unwrap();
        assert_eq!(numeric.result, Err(WsError::new("409", "")));
    }

    #[test]
    fn malformed_acks_are_errors_not_panics() {
        for bad in [
            r#"{"cmd":"$ack"}"#,
            r#"{"cmd":"$ack","ack":-1}"#,
            r#"{"cmd":"$ack","ack":"1"}"#,
            r#"{"cmd":"$ack","ack":1.5}"#,
            r#"{"cmd":"$ack","ack":18446744073709551616}"#,
            r#"{"cmd":"$ack","ack":1,"ack":2}"#,
            r#"{"cmd":"$ack","ack":1,"error":"no"}"#,
            r#"{"cmd":"$ack","ack":1,"error":{"message":"no code"}}"#,
            "[1]",
        ] {
            let r = JsonParser.decode_ack(&RawMessage::text(bad));
            assert_eq!(r.unwrap_err().code(), "bad_message", "{bad}");
        }
        let bin = JsonParser.decode_ack(&RawMessage::binary(vec![b'{', b'}']));
        assert!(bin.is_err());
    }

    #[test]
    fn json_reply_and_error_frames() {
        let r = JsonParser.encode_reply("echo.send", Some("7"), r#"{"a":1}"#);
        assert_eq!(
            r.as_text(),
            Some(r#"{"cmd":"echo.send","data":{"a":1},"id":7}"#)
        );
        let e = JsonParser.encode_error(Some("x\"y"), None, &WsError::forbidden("no"));
        assert_eq!(
            e.as_text(),
            Some(r#"{"cmd":"x\"y","error":{"code":"forbidden","message":"no"}}"#)
        );
    }
}
