//! Property tests of the parsers, through their public API: whatever a client sends, decoding
//! never panics and gives either a well-formed [`Decoded`] (every piece resolves within the
//! frame, JSON pieces are JSON) or an error with the stable code `bad_message`; and whatever a
//! handler answers, the frames the parsers pack are valid JSON that carry the command, the id
//! and the data back unchanged.
//!
//! 2,000 cases per property (a few seconds in all).

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use swoft_ws::protocol::{Body, Decoded, JsonParser, Parser, Piece, RawParser};
use swoft_ws::{RawMessage, WsError};

const CASES: u32 = 2_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A short string of any Unicode (quotes, escapes, control characters, astral planes).
fn arb_string() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..12).prop_map(|v| v.into_iter().collect())
}

/// Longer text, heavy on JSON's own characters.
fn arb_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => prop::sample::select(vec!['{', '}', '[', ']', '"', ':', ',', '\\', 'c', 'm', 'd', '1', ' ']),
        1 => any::<char>(),
    ];
    prop::collection::vec(c, 0..128).prop_map(|v| v.into_iter().collect())
}

/// Numbers that print and parse back exactly (no float rounding questions).
fn arb_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (any::<i32>(), 0..4i32).prop_map(|(m, e)| Value::from(f64::from(m) / 2f64.powi(e))),
    ]
}

/// Any JSON value, a few levels deep, with arbitrary Unicode in strings and keys.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number(),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys: the protocol's own names often, anything else otherwise.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec!["cmd", "data", "id", "ext", "room", ""]).prop_map(str::to_owned),
        3 => arb_string(),
    ]
}

/// A lowercase word.
fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::char::range('a', 'z'), 1..8).prop_map(|v| v.into_iter().collect())
}

/// A command object as a client would send it, with some fields left out and some odd ones in.
fn arb_command_object() -> impl Strategy<Value = Value> {
    let cmd = prop_oneof![
        4 => (word(), word()).prop_map(|(a, b)| Value::String(format!("{a}.{b}"))),
        1 => arb_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => arb_number(),
    ];
    let id = prop_oneof![
        any::<u64>().prop_map(Value::from),
        arb_string().prop_map(Value::String),
        Just(Value::Null),
    ];
    (
        prop::option::of(cmd),
        prop::option::of(arb_json()),
        prop::option::of(id),
        prop::option::of(arb_json()),
        prop::collection::btree_map(arb_string(), arb_json(), 0..2),
    )
        .prop_map(|(cmd, data, id, ext, extra)| {
            let mut o = Map::new();
            for (k, v) in extra {
                o.insert(k, v);
            }
            for (k, v) in [("cmd", cmd), ("data", data), ("id", id), ("ext", ext)] {
                if let Some(v) = v {
                    o.insert(k.to_owned(), v);
                }
            }
            Value::Object(o)
        })
}

/// How a well-formed command text gets broken.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Delete(usize),
    Insert(usize, char),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let c = prop_oneof![
        prop::sample::select(vec![
            '{', '}', '[', ']', '"', ':', ',', '\\', 'u', '0', '-', 'e', ' '
        ]),
        any::<char>(),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), c.clone()).prop_map(|(i, c)| Mutation::Insert(i, c)),
        (any::<usize>(), c).prop_map(|(i, c)| Mutation::Replace(i, c)),
        (any::<usize>(), 1..16usize).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match *m {
            Mutation::Truncate(i) => chars.truncate(at(i, chars.len())),
            Mutation::Delete(i) if !chars.is_empty() => {
                chars.remove(i % chars.len());
            }
            Mutation::Delete(_) => {}
            Mutation::Insert(i, c) => chars.insert(at(i, chars.len()), c),
            Mutation::Replace(i, c) if !chars.is_empty() => {
                let i = i % chars.len();
                chars[i] = c;
            }
            Mutation::Replace(_, _) => {}
            Mutation::Duplicate(i, n) => {
                let start = at(i, chars.len());
                let end = (start + n).min(chars.len());
                let piece: Vec<char> = chars[start..end].to_vec();
                chars.splice(start..start, piece);
            }
        }
    }
    chars.into_iter().collect()
}

/// The text of a piece, which must resolve within the frame.
fn resolve<'a>(
    piece: &'a Piece,
    frame: &'a RawMessage,
    what: &str,
) -> Result<&'a str, TestCaseError> {
    piece.resolve(frame).ok_or_else(|| {
        TestCaseError::fail(format!("{what} {piece:?} does not resolve in the frame"))
    })
}

/// The text of a piece that must be one JSON value (checked without building it, so depth does
/// not matter).
fn resolve_json<'a>(
    piece: &'a Piece,
    frame: &'a RawMessage,
    what: &str,
) -> Result<&'a str, TestCaseError> {
    let text = resolve(piece, frame, what)?;
    serde_json::from_str::<&RawValue>(text)
        .map_err(|e| TestCaseError::fail(format!("{what} is not JSON ({e}): {text:?}")))?;
    Ok(text)
}

/// Checks the JSON parser's answer to any frame: a well-formed `Decoded`, or `bad_message`.
fn check_json_decode(frame: &RawMessage) -> Result<Option<Decoded>, TestCaseError> {
    match JsonParser.decode(frame) {
        Ok(d) => {
            if let Some(c) = d.command() {
                resolve(c, frame, "command")?;
            }
            match d.body() {
                Body::Empty => {}
                Body::Json(p) => {
                    resolve_json(p, frame, "body")?;
                }
                other => return Err(TestCaseError::fail(format!("unexpected body {other:?}"))),
            }
            if let Some(id) = d.id() {
                let text = resolve_json(id, frame, "id")?;
                prop_assert_ne!(text, "null", "a null id counts as none");
            }
            if let Some(ext) = d.ext() {
                resolve_json(ext, frame, "ext")?;
            }
            Ok(Some(d))
        }
        Err(e) => {
            prop_assert_eq!(e.code(), "bad_message", "error {}", e);
            prop_assert!(!e.message().is_empty());
            Ok(None)
        }
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// What the JSON parser must make of a JSON value sent as a text frame.
fn check_value_decodes_as_documented(v: &Value) -> Result<(), TestCaseError> {
    check_text_decodes_as_documented(v, v.to_string())
}

/// What the JSON parser must make of `text`, which is `v` printed one way or another.
fn check_text_decodes_as_documented(v: &Value, text: String) -> Result<(), TestCaseError> {
    let frame = RawMessage::text(text);
    let decoded = check_json_decode(&frame)?;
    let Value::Object(o) = v else {
        prop_assert!(decoded.is_none(), "a non-object decoded: {}", v);
        return Ok(());
    };
    if !matches!(o.get("cmd"), None | Some(Value::String(_) | Value::Null)) {
        prop_assert!(decoded.is_none(), "a non-string cmd decoded: {}", v);
        return Ok(());
    }
    let Some(d) = decoded else {
        return Err(TestCaseError::fail(format!(
            "a command object was refused: {v}"
        )));
    };
    let command = d.command().map(|p| p.resolve(&frame).unwrap_or_default());
    prop_assert_eq!(command, o.get("cmd").and_then(Value::as_str));
    let id = d.id().map(|p| parse(p.resolve(&frame).unwrap_or_default()));
    prop_assert_eq!(id.as_ref(), o.get("id").filter(|i| !i.is_null()));
    let ext = d
        .ext()
        .map(|p| parse(p.resolve(&frame).unwrap_or_default()));
    prop_assert_eq!(ext.as_ref(), o.get("ext"));
    let rest: Map<String, Value> = o
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "cmd" | "data" | "id" | "ext"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match (d.body(), o.get("data")) {
        (Body::Json(p), Some(data)) => {
            prop_assert_eq!(&parse(p.resolve(&frame).unwrap_or_default()), data);
        }
        // Without `data`, the other fields are the data.
        (Body::Json(p), None) => {
            prop_assert!(!rest.is_empty());
            prop_assert_eq!(
                parse(p.resolve(&frame).unwrap_or_default()),
                Value::Object(rest)
            );
        }
        (Body::Empty, None) => prop_assert!(rest.is_empty()),
        (body, data) => {
            return Err(TestCaseError::fail(format!(
                "body {body:?} for data {data:?}"
            )));
        }
    }
    Ok(())
}

/// A request id as a client may send it: raw JSON.
fn arb_id() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        arb_string().prop_map(|s| Value::String(s).to_string()),
    ])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn json_decode_of_any_text_is_well_formed_or_bad_message(s in arb_text()) {
        check_json_decode(&RawMessage::text(s))?;
    }

    #[test]
    fn json_decode_of_any_binary_frame_is_bad_message(b in prop::collection::vec(any::<u8>(), 0..256)) {
        let e = JsonParser.decode(&RawMessage::binary(b)).expect_err("binary frames are refused");
        prop_assert_eq!(e.code(), "bad_message");
    }

    #[test]
    fn json_decode_of_lossy_bytes_is_well_formed_or_bad_message(b in prop::collection::vec(any::<u8>(), 0..256)) {
        check_json_decode(&RawMessage::text(String::from_utf8_lossy(&b).into_owned()))?;
    }

    #[test]
    fn json_decode_of_any_json_value_follows_the_wire_protocol(v in arb_json()) {
        check_value_decodes_as_documented(&v)?;
    }

    #[test]
    fn json_decode_of_command_objects_follows_the_wire_protocol(v in arb_command_object()) {
        check_value_decodes_as_documented(&v)?;
        // Pretty-printed (whitespace everywhere) means the same.
        check_text_decodes_as_documented(&v, serde_json::to_string_pretty(&v).unwrap())?;
    }

    #[test]
    fn json_decode_of_mutated_command_objects_is_well_formed_or_bad_message(
        v in arb_command_object(),
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let text = mutate(&v.to_string(), &mutations);
        check_json_decode(&RawMessage::text(text))?;
    }

    #[test]
    fn raw_decode_hands_over_every_frame_untouched(
        b in prop::collection::vec(any::<u8>(), 0..256),
        s in arb_string(),
    ) {
        let bin = RawMessage::binary(b);
        let d = RawParser.decode(&bin).expect("the raw parser takes every frame");
        prop_assert!(d.command().is_none() && d.id().is_none() && d.ext().is_none());
        prop_assert_eq!(d.body(), &Body::Binary);

        let text = RawMessage::text(s.clone());
        let d = RawParser.decode(&text).expect("the raw parser takes every frame");
        prop_assert!(d.command().is_none() && d.id().is_none() && d.ext().is_none());
        let Body::Text(p) = d.body() else {
            return Err(TestCaseError::fail(format!("body {:?}", d.body())));
        };
        prop_assert_eq!(p.resolve(&text), Some(s.as_str()));
    }

    #[test]
    fn json_replies_are_json_that_round_trips_command_id_and_data(
        command in arb_string(),
        id in arb_id(),
        data in arb_json(),
    ) {
        let frame = JsonParser.encode_reply(&command, id.as_deref(), &data.to_string());
        let v = parse(frame.as_text().expect("a text frame"));
        prop_assert_eq!(v["cmd"].as_str(), Some(command.as_str()));
        prop_assert_eq!(&v["data"], &data);
        let want_id = id.as_deref().map(parse);
        prop_assert_eq!(v.get("id"), want_id.as_ref());
        prop_assert_eq!(v.as_object().unwrap().len(), 2 + usize::from(id.is_some()));
        // A reply is itself a command object: the decoder finds the same command and id.
        let d = check_json_decode(&frame)?.expect("a reply decodes");
        prop_assert_eq!(d.command().and_then(|p| p.resolve(&frame)), Some(command.as_str()));
        prop_assert_eq!(d.id().and_then(|p| p.resolve(&frame)), id.as_deref());
    }

    #[test]
    fn json_errors_are_json_that_round_trip_command_id_code_and_message(
        command in prop::option::of(arb_string()),
        id in arb_id(),
        code in arb_string(),
        message in arb_string(),
    ) {
        let e = WsError::new(code.clone(), message.clone());
        let frame = JsonParser.encode_error(command.as_deref(), id.as_deref(), &e);
        let v = parse(frame.as_text().expect("a text frame"));
        prop_assert_eq!(v.get("cmd").and_then(Value::as_str), command.as_deref());
        prop_assert_eq!(&v["error"], &json!({"code": code, "message": message}));
        let want_id = id.as_deref().map(parse);
        prop_assert_eq!(v.get("id"), want_id.as_ref());
        prop_assert!(v.get("data").is_none());
    }

    #[test]
    fn json_pushes_are_json_with_the_command_and_data_and_no_id(
        command in arb_string(),
        data in arb_json(),
    ) {
        let frame = JsonParser.encode_push(&command, &data.to_string());
        let v = parse(frame.as_text().expect("a text frame"));
        prop_assert_eq!(v["cmd"].as_str(), Some(command.as_str()));
        prop_assert_eq!(&v["data"], &data);
        prop_assert!(v.get("id").is_none());
    }

    #[test]
    fn raw_replies_are_the_data_as_text_and_raw_errors_are_json(
        data in arb_string(),
        code in arb_string(),
        message in arb_string(),
    ) {
        // A handler's data is serialized to JSON before the parser packs it: a string comes
        // back as itself, not JSON-quoted (Swoft's raw-text parser sends scalars as they are).
        let json = serde_json::to_string(&data).unwrap();
        let reply = RawParser.encode_reply("x", Some("1"), &json);
        prop_assert_eq!(reply.as_text(), Some(data.as_str()));
        let push = RawParser.encode_push("x", &json);
        prop_assert_eq!(push.as_text(), Some(data.as_str()));
        let e = WsError::new(code.clone(), message.clone());
        let v = parse(RawParser.encode_error(Some("x"), Some("1"), &e).as_text().expect("text"));
        prop_assert_eq!(v, json!({"error": {"code": code, "message": message}}));
    }
}

#[test]
fn deep_nesting_decodes_without_overflowing_the_stack() {
    for open in ["[", "{\"a\":"] {
        let deep = open.repeat(200_000);
        check_json_decode(&RawMessage::text(deep.clone())).unwrap();
        let in_data = format!("{{\"cmd\":\"a.b\",\"data\":{deep}");
        check_json_decode(&RawMessage::text(in_data)).unwrap();
    }
    let closed = format!(
        "{{\"cmd\":\"a.b\",\"data\":{}{}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let frame = RawMessage::text(closed);
    let d = check_json_decode(&frame)
        .unwrap()
        .expect("balanced nesting is one JSON value");
    assert!(matches!(d.body(), Body::Json(_)));
}
