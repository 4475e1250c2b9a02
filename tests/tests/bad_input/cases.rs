//! The table: every bad input a client can send over an upgraded connection, and its answer.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    use Expect::*;
    vec![
        // --- frames that are not a JSON command object: `bad_message`, the connection stays.
        Case {
            name: "not JSON",
            send: || text("hello there"),
            expect: ErrorReply("bad_message", "not a JSON command object"),
        },
        Case {
            name: "JSON array",
            send: || text(r#"["t.echo", 1]"#),
            expect: ErrorReply("bad_message", "invalid type: sequence"),
        },
        Case {
            name: "JSON number",
            send: || text("42"),
            expect: ErrorReply("bad_message", "invalid type: integer"),
        },
        Case {
            name: "JSON string",
            send: || text(r#""t.echo""#),
            expect: ErrorReply("bad_message", "invalid type: string"),
        },
        Case {
            name: "JSON null",
            send: || text("null"),
            expect: ErrorReply("bad_message", "invalid type: null"),
        },
        Case {
            name: "trailing bytes after the object",
            send: || text(r#"{"cmd":"t.echo","data":1} {}"#),
            expect: ErrorReply("bad_message", "trailing characters"),
        },
        Case {
            name: "cmd is a number",
            send: || text(r#"{"cmd":5,"data":1,"id":1}"#),
            expect: ErrorReply("bad_message", "expected a string"),
        },
        Case {
            name: "cmd is an object",
            send: || text(r#"{"cmd":{"a":1},"id":1}"#),
            expect: ErrorReply("bad_message", "expected a string"),
        },
        Case {
            name: "empty text frame",
            send: || text(""),
            expect: ErrorReply("bad_message", "EOF"),
        },
        Case {
            name: "binary frame to a JSON module",
            send: || Input::Binary(br#"{"cmd":"t.echo","data":1}"#.to_vec()),
            expect: ErrorReply("bad_message", "binary frames are not understood"),
        },
        Case {
            name: "empty binary frame",
            send: || Input::Binary(Vec::new()),
            expect: ErrorReply("bad_message", "binary frames are not understood"),
        },
        // --- no command, or one nobody serves (this module has no default command).
        Case {
            name: "missing cmd",
            send: || text(r#"{"data":1,"id":1}"#),
            expect: ErrorReply("unknown_command", "no handler"),
        },
        Case {
            name: "cmd null counts as missing",
            send: || text(r#"{"cmd":null,"data":1,"id":1}"#),
            expect: ErrorReply("unknown_command", "no handler"),
        },
        Case {
            name: "empty cmd counts as missing",
            send: || text(r#"{"cmd":"","data":1,"id":1}"#),
            expect: ErrorReply("unknown_command", "no handler"),
        },
        Case {
            name: "missing cmd, module with a default command",
            send: || Input::TextAt("/bad-default", r#"{"data":"d","id":1}"#.to_owned()),
            expect: Reply(json!("d")),
        },
        Case {
            name: "cmd null, module with a default command",
            send: || {
                Input::TextAt(
                    "/bad-default",
                    r#"{"cmd":null,"data":"d","id":1}"#.to_owned(),
                )
            },
            expect: Reply(json!("d")),
        },
        Case {
            name: "unknown command, module with a default command",
            send: || {
                Input::TextAt(
                    "/bad-default",
                    r#"{"cmd":"t.nope","data":"d","id":1}"#.to_owned(),
                )
            },
            expect: ErrorReply("unknown_command", "t.nope"),
        },
        Case {
            name: "unknown command",
            send: || text(r#"{"cmd":"t.nope","data":1,"id":1}"#),
            expect: ErrorReply("unknown_command", "t.nope"),
        },
        // --- deep nesting: serde_json's recursion limit (128) answers, the stack never blows.
        Case {
            name: "100,000 [ at the top level",
            send: || Input::Text(nested("[", 100_000)),
            expect: ErrorReply("bad_message", "invalid type: sequence"),
        },
        Case {
            name: "40,000 {\"a\": at the top level, never closed",
            send: || Input::Text(nested(r#"{"a":"#, 40_000)),
            expect: ErrorReply("bad_message", "EOF while parsing"),
        },
        Case {
            name: "40,000-deep object without cmd, closed",
            send: || {
                Input::Text(format!(
                    "{}1{}",
                    nested(r#"{"a":"#, 40_000),
                    nested("}", 40_000)
                ))
            },
            expect: ErrorReply("unknown_command", "no handler"),
        },
        Case {
            name: "data nested 100,000 deep, never closed",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.echo","id":1,"data":{}"#,
                    nested("[", 100_000)
                ))
            },
            expect: ErrorReply("bad_message", "EOF while parsing"),
        },
        Case {
            name: "data nested 100,000 deep into a JSON value",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.echo","id":1,"data":{}{}}}"#,
                    nested("[", 100_000),
                    nested("]", 100_000)
                ))
            },
            expect: ErrorReply("invalid_data", "recursion limit exceeded"),
        },
        Case {
            name: "100,000-deep unknown field is skipped",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.add","id":1,"data":{{"a":1,"b":2,"deep":{}{}}}}}"#,
                    nested("[", 100_000),
                    nested("]", 100_000)
                ))
            },
            expect: Reply(json!(3)),
        },
        Case {
            name: "data nested 100 deep is fine",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.echo","id":1,"data":{}{}}}"#,
                    nested("[", 100),
                    nested("]", 100)
                ))
            },
            expect: Reply(nested_value(100)),
        },
        // --- payloads that do not fit the handler's type: `invalid_data`, naming the problem.
        Case {
            name: "1e400 into an f64",
            send: || text(r#"{"cmd":"t.nums","id":1,"data":{"n":1,"x":1e400}}"#),
            expect: ErrorReply("invalid_data", "number out of range"),
        },
        Case {
            name: "400-digit integer into a u64",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.nums","id":1,"data":{{"n":{},"x":1}}}}"#,
                    huge_int()
                ))
            },
            expect: ErrorReply("invalid_data", "number out of range"),
        },
        Case {
            name: "400-digit integer into a JSON value",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.echo","id":1,"data":{}}}"#,
                    huge_int()
                ))
            },
            expect: ErrorReply("invalid_data", "number out of range"),
        },
        Case {
            name: "u64::MAX + 1 into a u64",
            send: || text(r#"{"cmd":"t.nums","id":1,"data":{"n":18446744073709551616,"x":1}}"#),
            expect: ErrorReply("invalid_data", "expected u64"),
        },
        Case {
            name: "negative into a u64",
            send: || text(r#"{"cmd":"t.nums","id":1,"data":{"n":-1,"x":1}}"#),
            expect: ErrorReply("invalid_data", "expected u64"),
        },
        Case {
            name: "u64::MAX fits",
            send: || text(r#"{"cmd":"t.nums","id":1,"data":{"n":18446744073709551615,"x":0.5}}"#),
            expect: Reply(json!({"n": u64::MAX, "x": 0.5})),
        },
        Case {
            name: "wrong type: string for u64",
            send: || text(r#"{"cmd":"t.add","id":1,"data":{"a":"1","b":2}}"#),
            expect: ErrorReply("invalid_data", "invalid type: string \"1\", expected u64"),
        },
        Case {
            name: "wrong type: object for a struct is a number",
            send: || text(r#"{"cmd":"t.add","id":1,"data":7}"#),
            expect: ErrorReply("invalid_data", "invalid type: integer `7`"),
        },
        Case {
            name: "missing field",
            send: || text(r#"{"cmd":"t.add","id":1,"data":{"a":1}}"#),
            expect: ErrorReply("invalid_data", "missing field `b`"),
        },
        Case {
            name: "no data at all for a struct",
            send: || text(r#"{"cmd":"t.add","id":1}"#),
            expect: ErrorReply("invalid_data", "invalid type: null"),
        },
        // --- unknown fields: accepted unless the payload type denies them.
        Case {
            name: "unknown field in data is ignored",
            send: || text(r#"{"cmd":"t.add","id":1,"data":{"a":1,"b":2,"c":3}}"#),
            expect: Reply(json!(3)),
        },
        Case {
            name: "unknown top-level field without data is part of the data",
            send: || text(r#"{"cmd":"t.add","id":1,"a":1,"b":2,"c":3}"#),
            expect: Reply(json!(3)),
        },
        Case {
            name: "unknown top-level field beside data is ignored",
            send: || text(r#"{"cmd":"t.add","id":1,"data":{"a":1,"b":2},"extra":true}"#),
            expect: Reply(json!(3)),
        },
        Case {
            name: "unknown field denied by the payload type",
            send: || text(r#"{"cmd":"t.strict","id":1,"data":{"name":"a","admin":true}}"#),
            expect: ErrorReply("invalid_data", "unknown field `admin`"),
        },
        // --- protocol violations: the connection closes with the code that says why.
        Case {
            name: "oversized message",
            send: || {
                Input::Text(format!(
                    r#"{{"cmd":"t.echo","data":"{}"}}"#,
                    "x".repeat(MAX_MESSAGE)
                ))
            },
            expect: Close(1009),
        },
        Case {
            name: "frame header announcing 1 TiB",
            send: || Input::RawAfterHandshake(header_announcing(1 << 40)),
            expect: Close(1009),
        },
        Case {
            name: "fragments that keep coming past the limit",
            send: || {
                let chunk = vec![b'x'; 32 << 10];
                let mut frames = vec![Frame::message(
                    chunk.clone(),
                    OpCode::Data(OpData::Text),
                    false,
                )];
                for _ in 0..(MAX_MESSAGE / chunk.len()) {
                    frames.push(Frame::message(
                        chunk.clone(),
                        OpCode::Data(OpData::Continue),
                        false,
                    ));
                }
                Input::Frames(frames)
            },
            expect: Close(1009),
        },
        Case {
            name: "a fragment whose final fragment never comes",
            send: || {
                Input::FramesThenSilence(vec![Frame::message(
                    br#"{"cmd":"t.echo","data":"#.to_vec(),
                    OpCode::Data(OpData::Text),
                    false,
                )])
            },
            // Fragments are no sign of life: the idle timeout closes the connection.
            expect: CloseAfter(1001, IDLE),
        },
        Case {
            name: "invalid UTF-8 in a text frame",
            send: || {
                Input::Frames(vec![Frame::message(
                    vec![b'{', 0xc3, 0x28, b'}'],
                    OpCode::Data(OpData::Text),
                    true,
                )])
            },
            expect: Close(1007),
        },
        Case {
            name: "invalid UTF-8 split across fragments",
            send: || {
                Input::Frames(vec![
                    Frame::message(b"{\"cmd\":\"".to_vec(), OpCode::Data(OpData::Text), false),
                    Frame::message(vec![0xed, 0xa0, 0x80], OpCode::Data(OpData::Continue), true),
                ])
            },
            expect: Close(1007),
        },
        Case {
            name: "continuation with nothing to continue",
            send: || {
                Input::Frames(vec![Frame::message(
                    b"x".to_vec(),
                    OpCode::Data(OpData::Continue),
                    true,
                )])
            },
            expect: Close(1002),
        },
        Case {
            name: "reserved opcode",
            send: || {
                Input::Frames(vec![Frame::message(
                    vec![1],
                    OpCode::Data(OpData::Reserved(3)),
                    true,
                )])
            },
            expect: Close(1002),
        },
        Case {
            name: "ping with a 126-byte payload",
            send: || Input::Frames(vec![Frame::ping(vec![0; 126])]),
            expect: Close(1002),
        },
        Case {
            name: "unmasked frame from the client",
            send: || Input::RawAfterHandshake(vec![0x81, 0x02, b'h', b'i']),
            expect: Close(1002),
        },
        // --- a handler's `Result<T, String>`.
        Case {
            name: "a handler's Err(String)",
            send: || text(r#"{"cmd": "t.fails", "data": true, "id": 1}"#),
            expect: ErrorReply("error", "nope"),
        },
        Case {
            name: "a handler's Ok from a Result<T, String>",
            send: || text(r#"{"cmd": "t.fails", "data": false, "id": 1}"#),
            expect: Reply(json!(7)),
        },
        // --- control frames.
        Case {
            name: "10,000 pings",
            send: || Input::Pings(10_000),
            expect: Pongs,
        },
        // --- not WebSocket at all.
        Case {
            name: "garbage instead of a handshake",
            send: || {
                Input::Tcp(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec())
            },
            expect: HttpOrClosed(400..=499),
        },
        Case {
            name: "half a request line, then silence",
            send: || Input::Tcp(b"GET /bad HTT".to_vec()),
            // Dropped without an answer after the handshake timeout.
            expect: HttpOrClosed(400..=499),
        },
        Case {
            name: "plain HTTP GET on a module path",
            send: || {
                Input::Tcp(
                    b"GET /bad HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_vec(),
                )
            },
            expect: Http(400..=499),
        },
        Case {
            name: "POST with WebSocket headers",
            send: || {
                Input::Tcp(
                    b"POST /bad HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                      Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                      Content-Length: 0\r\n\r\n"
                        .to_vec(),
                )
            },
            expect: Http(400..=499),
        },
        Case {
            name: "upgrade without Sec-WebSocket-Key",
            send: || {
                Input::Tcp(
                    b"GET /bad HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                      Sec-WebSocket-Version: 13\r\n\r\n"
                        .to_vec(),
                )
            },
            expect: Http(400..=499),
        },
        Case {
            name: "WebSocket handshake on an unknown path",
            send: || {
                Input::Tcp(
                    b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                      Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                        .to_vec(),
                )
            },
            expect: Http(404..=404),
        },
    ]
}
