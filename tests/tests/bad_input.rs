//! Bad input, one table: every way a client can send something wrong, what it gets back (an
//! error reply, a close code, an HTTP status), and that a well-behaved client on the same server
//! is served all the while.
//!
//! One server runs every case. A bystander client sends an echo request every few milliseconds
//! for the whole run; after each case the test waits until the bystander has been answered again.
//! A case whose connection stays open is then asked a good request too: an error reply never
//! closes the connection. At the end every client is gone and the server is idle (no session,
//! context or fd left behind).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};

/// The server's message (and frame) size limit in this test: large enough for 100,000 `[`.
const MAX_MESSAGE: usize = 256 << 10;
/// How long any single receive may take.
const WAIT: Duration = Duration::from_secs(5);
/// The server's idle timeout in this test (pings go out every `PING`).
const IDLE: Duration = Duration::from_millis(1500);
const PING: Duration = Duration::from_millis(250);
/// How long a TCP connection may take to send its request headers here.
const HANDSHAKE: Duration = Duration::from_millis(1500);

#[ws_module(path = "/bad", controllers = [BadController])]
pub struct BadModule;

/// The same handlers, with a default command for messages that name none.
#[ws_module(path = "/bad-default", controllers = [BadController], default_command = "t.echo")]
pub struct DefaultModule;

#[derive(Default)]
pub struct BadController;

/// Two numbers; unknown fields are ignored (serde's default).
#[derive(Deserialize)]
pub struct Add {
    a: u64,
    b: u64,
}

/// A payload that refuses unknown fields.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Strict {
    name: String,
}

/// Numbers of fixed width.
#[derive(Deserialize, Serialize)]
pub struct Nums {
    n: u64,
    x: f64,
}

#[ws_controller(prefix = "t")]
impl BadController {
    #[message_mapping("echo")]
    fn echo(Data(v): Data<Value>) -> Value {
        v
    }

    #[message_mapping("add")]
    fn add(Data(add): Data<Add>) -> u64 {
        add.a.saturating_add(add.b)
    }

    #[message_mapping("strict")]
    fn strict(Data(s): Data<Strict>) -> Strict {
        s
    }

    #[message_mapping("nums")]
    fn nums(Data(n): Data<Nums>) -> Nums {
        n
    }

    /// `Result<T, String>`: a reply or an error reply (code `error`), never `{"Ok": ..}`.
    #[message_mapping("fails")]
    fn fails(Data(fail): Data<bool>) -> Result<u32, String> {
        if fail { Err("nope".to_owned()) } else { Ok(7) }
    }
}

/// What a case sends.
enum Input {
    /// One text frame.
    Text(String),
    /// One text frame, on a connection to this path (the others go to `/bad`).
    TextAt(&'static str, String),
    /// One binary frame.
    Binary(Vec<u8>),
    /// Frames built by hand (fragments, odd opcodes), masked by the client as the RFC requires.
    Frames(Vec<Frame>),
    /// This many pings as fast as they go.
    Pings(usize),
    /// Bytes written straight to the socket after the WebSocket handshake.
    RawAfterHandshake(Vec<u8>),
    /// Bytes written to a fresh TCP connection instead of a handshake.
    Tcp(Vec<u8>),
    /// These frames, then silence: the client reads the socket raw, so it answers no ping.
    FramesThenSilence(Vec<Frame>),
}

/// What a case must get back.
enum Expect {
    /// A reply whose `data` is this.
    Reply(Value),
    /// An error reply with this code whose message mentions this text; the connection stays
    /// open.
    ErrorReply(&'static str, &'static str),
    /// A close frame with this code.
    Close(u16),
    /// A close frame with this code, read from the raw socket, after at least this long.
    CloseAfter(u16, Duration),
    /// Pongs (at least one), and the connection still answers requests.
    Pongs,
    /// An HTTP response with a status in this range, or the connection closed without one.
    HttpOrClosed(std::ops::RangeInclusive<u16>),
    /// An HTTP response with a status in this range.
    Http(std::ops::RangeInclusive<u16>),
}

struct Case {
    name: &'static str,
    send: fn() -> Input,
    expect: Expect,
}

fn text(s: &str) -> Input {
    Input::Text(s.to_owned())
}

fn nested(open: &str, depth: usize) -> String {
    open.repeat(depth)
}

/// A 400-digit integer.
fn huge_int() -> String {
    format!("1{}", "0".repeat(399))
}

/// A client frame header (FIN, opcode, MASK bit set) announcing `len` bytes, with a zero mask
/// key, and no payload after it.
fn header_announcing(len: u64) -> Vec<u8> {
    let mut b = vec![0x82, 0x80 | 127];
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b
}

fn cases() -> Vec<Case> {
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

/// `[[[...]]]`, `depth` deep.
fn nested_value(depth: usize) -> Value {
    (1..depth).fold(json!([]), |inner, _| json!([inner]))
}

type Ws = WebSocketStream<TcpStream>;

async fn connect(server: &TestServer, path: &str) -> Ws {
    let tcp = TcpStream::connect(server.addr())
        .await
        .expect("tcp connect");
    let url = server.url(path);
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tcp))
        .await
        .expect("handshake timed out")
        .expect("handshake failed");
    ws
}

/// The next text frame or close (code), skipping pings and pongs; counts the pongs.
async fn next_answer(ws: &mut Ws, pongs: &mut usize) -> Result<Answer, String> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| format!("nothing within {WAIT:?}"))?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t)
                    .map(Answer::Json)
                    .map_err(|e| format!("reply is not JSON ({e}): {t}"));
            }
            Some(Ok(Message::Close(f))) => {
                return Ok(Answer::Close(f.map_or(1005, |f| f.code.into())));
            }
            Some(Ok(Message::Pong(_))) => *pongs += 1,
            Some(Ok(Message::Ping(_))) => {}
            Some(Ok(other)) => return Err(format!("unexpected frame {other:?}")),
            Some(Err(e)) => return Err(format!("connection failed: {e}")),
            None => return Err("connection ended without a close frame".to_owned()),
        }
    }
}

#[derive(Debug)]
enum Answer {
    Json(Value),
    Close(u16),
}

/// The connection still answers a good request after the case.
async fn still_served(ws: &mut Ws, pongs: &mut usize) -> Result<(), String> {
    let req = json!({"cmd": "t.echo", "data": "after", "id": "after"});
    ws.send(Message::text(req.to_string()))
        .await
        .map_err(|e| format!("send after the case failed: {e}"))?;
    loop {
        match next_answer(ws, pongs).await? {
            Answer::Json(v) if v["id"] == "after" => {
                return if v["data"] == "after" {
                    Ok(())
                } else {
                    Err(format!("bad answer after the case: {v}"))
                };
            }
            Answer::Json(_) => {}
            Answer::Close(code) => return Err(format!("closed ({code}) after the case")),
        }
    }
}

async fn send_ws(ws: &mut Ws, input: Input) -> Result<(), String> {
    let res = match input {
        Input::Text(t) => ws.send(Message::text(t)).await,
        Input::Binary(b) => ws.send(Message::binary(b)).await,
        Input::Frames(frames) => {
            for f in frames {
                // The server may close mid-way (the size limit): stop sending then.
                if ws.send(Message::Frame(f)).await.is_err() {
                    break;
                }
            }
            Ok(())
        }
        Input::Pings(n) => {
            for i in 0..n {
                ws.feed(Message::Ping(
                    u32::try_from(i).unwrap_or(0).to_be_bytes().to_vec().into(),
                ))
                .await
                .map_err(|e| format!("ping {i} failed: {e}"))?;
                if i % 256 == 255 {
                    ws.flush().await.map_err(|e| format!("flush failed: {e}"))?;
                }
            }
            ws.flush().await
        }
        Input::RawAfterHandshake(bytes) => {
            let tcp = ws.get_mut();
            tcp.write_all(&bytes)
                .await
                .map_err(|e| format!("raw write failed: {e}"))?;
            tcp.flush()
                .await
                .map_err(|e| format!("raw flush failed: {e}"))?;
            Ok(())
        }
        Input::Tcp(_) | Input::FramesThenSilence(_) | Input::TextAt(..) => {
            unreachable!("not sent this way")
        }
    };
    res.map_err(|e| format!("send failed: {e}"))
}

/// Runs one case; `Err` says what went wrong.
async fn run_case(server: &TestServer, case: &Case) -> Result<(), String> {
    let input = (case.send)();
    if let Input::Tcp(bytes) = input {
        return run_tcp_case(server, &bytes, &case.expect).await;
    }
    let (path, input) = match input {
        Input::TextAt(path, text) => (path, Input::Text(text)),
        other => ("/bad", other),
    };
    let mut ws = connect(server, path).await;
    if let Input::FramesThenSilence(frames) = input {
        let Expect::CloseAfter(code, after) = case.expect else {
            return Err("FramesThenSilence goes with CloseAfter".to_owned());
        };
        let sent = tokio::time::Instant::now();
        send_ws(&mut ws, Input::Frames(frames)).await?;
        let got = raw_close_code(ws.get_mut()).await?;
        let waited = sent.elapsed();
        if got != code {
            return Err(format!("expected close {code}, got {got}"));
        }
        if waited < after {
            return Err(format!("closed after {waited:?}, before {after:?}"));
        }
        return Ok(());
    }
    send_ws(&mut ws, input).await?;
    let mut pongs = 0;
    match &case.expect {
        Expect::Reply(data) => match next_answer(&mut ws, &mut pongs).await? {
            Answer::Json(v) if v.get("error").is_none() && v["data"] == *data && v["id"] == 1 => {
                still_served(&mut ws, &mut pongs).await
            }
            other => Err(format!("expected a reply with data {data}, got {other:?}")),
        },
        Expect::ErrorReply(code, mentions) => match next_answer(&mut ws, &mut pongs).await? {
            Answer::Json(v) if v["error"]["code"] == *code => {
                let message = v["error"]["message"].as_str().unwrap_or_default();
                if !message.contains(mentions) {
                    return Err(format!(
                        "error message {message:?} does not mention {mentions:?}"
                    ));
                }
                // serde's position is in our envelope, not in anything the client wrote; and
                // Rust type paths are not the client's business.
                if *code == "invalid_data" && message.contains(" at line ") {
                    return Err(format!("error message {message:?} has serde's position"));
                }
                if message.contains("::") {
                    return Err(format!("error message {message:?} names a Rust path"));
                }
                still_served(&mut ws, &mut pongs).await
            }
            other => Err(format!("expected a `{code}` error reply, got {other:?}")),
        },
        Expect::Close(code) => match next_answer(&mut ws, &mut pongs).await? {
            Answer::Close(c) if c == *code => Ok(()),
            other => Err(format!("expected close {code}, got {other:?}")),
        },
        Expect::Pongs => {
            still_served(&mut ws, &mut pongs).await?;
            // The server may answer a burst of pings with fewer pongs (only the latest is
            // kept pending), but it answers: read a little longer for stragglers.
            let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
            while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
                if matches!(m, Message::Pong(_)) {
                    pongs += 1;
                }
            }
            if pongs == 0 {
                return Err("no pong came back".to_owned());
            }
            Ok(())
        }
        Expect::Http(_) | Expect::HttpOrClosed(_) | Expect::CloseAfter(..) => {
            Err("this expectation does not go with this input".to_owned())
        }
    }
}

/// Reads server frames straight off the socket (answering nothing, pings included) until a
/// close frame, and returns its code (1005 without one).
async fn raw_close_code(tcp: &mut TcpStream) -> Result<u16, String> {
    let mut got: Vec<u8> = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + IDLE + WAIT;
    loop {
        // Whole frames in `got`: server frames are unmasked; control frames are short.
        while got.len() >= 2 {
            let opcode = got[0] & 0x0f;
            let len = usize::from(got[1] & 0x7f);
            if len > 125 {
                return Err(format!(
                    "unexpected data frame (opcode {opcode}, length {len})"
                ));
            }
            if got.len() < 2 + len {
                break;
            }
            if opcode == 0x8 {
                return Ok(if len >= 2 {
                    u16::from_be_bytes([got[2], got[3]])
                } else {
                    1005
                });
            }
            got.drain(..2 + len);
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return Err("no close frame came".to_owned()),
            Ok(Ok(0)) => return Err("connection ended without a close frame".to_owned()),
            Ok(Err(e)) => return Err(format!("read failed: {e}")),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `bytes` on a fresh TCP connection and reads what comes back until the server closes.
async fn run_tcp_case(server: &TestServer, bytes: &[u8], expect: &Expect) -> Result<(), String> {
    let mut tcp = TcpStream::connect(server.addr())
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(bytes)
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the status line is in, or the server closes.
    loop {
        match tokio::time::timeout(HANDSHAKE + WAIT, tcp.read(&mut buf)).await {
            Err(_) => {
                return Err(format!(
                    "no answer and no close within {:?}",
                    HANDSHAKE + WAIT
                ));
            }
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(2).any(|w| w == b"\r\n") {
                    break;
                }
            }
        }
    }
    let status = std::str::from_utf8(&got)
        .ok()
        .and_then(|s| s.strip_prefix("HTTP/1.1 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok());
    match (expect, status) {
        (Expect::Http(range) | Expect::HttpOrClosed(range), Some(s)) if range.contains(&s) => {
            Ok(())
        }
        (Expect::HttpOrClosed(_), None) if got.is_empty() => Ok(()),
        _ => Err(format!(
            "unexpected answer: {:?}",
            String::from_utf8_lossy(&got)
        )),
    }
}

/// Counts the bystander's answered requests; the task panics (and so stops counting) if a
/// request goes unanswered within the client's timeout.
fn spawn_bystander(
    mut client: swoft_ws_tests::TestClient,
    served: Arc<AtomicU64>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<swoft_ws_tests::TestClient> {
    tokio::spawn(async move {
        let mut n = 0u64;
        while !*stop.borrow() {
            n += 1;
            let reply = client.request("t.echo", json!(n)).await;
            assert_eq!(reply["data"], json!(n), "bystander got a wrong answer");
            served.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        client
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_documented_answer_and_a_bystander_is_served_throughout() {
    swoft_ws_tests::init_tracing();
    let app = App::builder()
        .module::<BadModule>()
        .module::<DefaultModule>()
        .max_message_size(MAX_MESSAGE)
        .idle_timeout(Some(IDLE))
        .ping_interval(Some(PING))
        .handshake_timeout(HANDSHAKE)
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let served = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let bystander = spawn_bystander(
        server.connect("/bad").await.unwrap(),
        served.clone(),
        stop_rx,
    );

    let mut failures = Vec::new();
    for case in cases() {
        let before = served.load(Ordering::SeqCst);
        let outcome = tokio::time::timeout(Duration::from_secs(20), run_case(&server, &case)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", case.name)),
            Err(_) => failures.push(format!("{}: did not finish within 20 s", case.name)),
        }
        let bystander_ok =
            swoft_ws_tests::wait_until(WAIT, || served.load(Ordering::SeqCst) > before + 1).await;
        assert!(
            bystander_ok,
            "the bystander was not served during or after case `{}` (failures so far: {failures:#?})",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "cases failed:\n{}",
        failures.join("\n")
    );

    stop_tx.send(true).unwrap();
    let client = tokio::time::timeout(WAIT, bystander)
        .await
        .expect("bystander stops")
        .expect("bystander task");
    client.close(1000, "done").await;
    server.wait_idle().await;
}

/// The key of RFC 6455 section 1.3's example, and a second valid one.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const KEY2: &str = "eHh4eHh4eHh4eHh4eHh4eA==";

/// A handshake for `/bad` on `host`: the request line, these header lines (`{host}` replaced),
/// and the blank line.
fn upgrade_request(host: &str, lines: &[&str]) -> Vec<u8> {
    let mut r = String::from("GET /bad HTTP/1.1\r\n");
    for l in lines {
        r.push_str(&l.replace("{host}", host));
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The usual header lines of a valid handshake, with `key`, less those named in `without`
/// (by header name, case-insensitively), plus `extra`.
fn upgrade_lines(key: &str, without: &[&str], extra: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = [
        "Host: {host}".to_owned(),
        "Connection: Upgrade".to_owned(),
        "Upgrade: websocket".to_owned(),
        "Sec-WebSocket-Version: 13".to_owned(),
        format!("Sec-WebSocket-Key: {key}"),
    ]
    .into_iter()
    .filter(|l| {
        let name = l.split(':').next().unwrap_or_default();
        !without.iter().any(|w| w.eq_ignore_ascii_case(name))
    })
    .collect();
    lines.extend(extra.iter().cloned());
    lines
}

/// The status of the answer to `bytes` written on a fresh TCP connection (read with a timeout).
async fn status_of(server: &TestServer, bytes: &[u8]) -> Result<u16, String> {
    let mut tcp = TcpStream::connect(server.addr())
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(bytes)
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
            Err(_) => return Err("no answer in time".to_owned()),
            Ok(Ok(0)) | Ok(Err(_)) => return Err("closed without an answer".to_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    std::str::from_utf8(&got)
        .ok()
        .and_then(|s| s.strip_prefix("HTTP/1.1 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&got)))
}

/// RFC 6455 section 4.2.1 and RFC 7230, one row per input: the request's header lines
/// (`{host}` is the server's address) and the status it must get. Every MUST: a header that
/// appears once is refused when repeated or malformed; the list headers are read as lists
/// over all their lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_upgrade_request_gets_400_and_the_valid_variants_get_101() {
    swoft_ws_tests::init_tracing();
    let app = App::builder().module::<BadModule>().build().unwrap();
    let server = TestServer::start(app).await;
    let host = server.addr().to_string();
    let none: &[String] = &[];
    let with = |extra: &[&str]| extra.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let key = |k: &str| upgrade_lines(k, &[], none);
    let long_key = "A".repeat(8 << 10);
    let rows: Vec<(&str, Vec<String>, u16)> = vec![
        ("the valid request", key(KEY), 101),
        // Sec-WebSocket-Key: base64 of exactly 16 bytes, once.
        ("key `x`", key("x"), 400),
        ("empty key", key(""), 400),
        (
            "key: base64 of 20 bytes",
            key("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            400,
        ),
        (
            "key: 24 characters, not base64",
            key("!!!!!!!!!!!!!!!!!!!!!!!!"),
            400,
        ),
        (
            "key: 16 bytes without padding",
            key("dGhlIHNhbXBsZSBub25jZQ"),
            400,
        ),
        ("key: 8 KiB", key(&long_key), 400),
        (
            "two keys",
            upgrade_lines(KEY, &[], &with(&[&format!("Sec-WebSocket-Key: {KEY2}")])),
            400,
        ),
        // Host: once, host[:port].
        ("no Host", upgrade_lines(KEY, &["host"], none), 400),
        (
            "two Hosts",
            upgrade_lines(KEY, &[], &with(&["Host: {host}"])),
            400,
        ),
        (
            "Host `a b c`",
            upgrade_lines(KEY, &["host"], &with(&["Host: a b c"])),
            400,
        ),
        (
            "Host with a port that is not one",
            upgrade_lines(KEY, &["host"], &with(&["Host: 127.0.0.1:notaport"])),
            400,
        ),
        (
            "a second Host to pass the same-origin check",
            upgrade_lines(
                KEY,
                &["host"],
                &with(&[
                    "Host: evil.example",
                    "Host: {host}",
                    "Origin: http://evil.example",
                ]),
            ),
            400,
        ),
        // Origin: once, a serialized origin; checked against the one Host.
        (
            "own Origin",
            upgrade_lines(KEY, &[], &with(&["Origin: http://{host}"])),
            101,
        ),
        (
            "other Origin",
            upgrade_lines(KEY, &[], &with(&["Origin: http://evil.example"])),
            403,
        ),
        (
            "two Origins",
            upgrade_lines(
                KEY,
                &[],
                &with(&["Origin: http://{host}", "Origin: http://{host}"]),
            ),
            400,
        ),
        (
            "Origin that is not one",
            upgrade_lines(KEY, &[], &with(&["Origin: {host}"])),
            400,
        ),
        // Sec-WebSocket-Version and Upgrade: once.
        (
            "two versions",
            upgrade_lines(KEY, &[], &with(&["Sec-WebSocket-Version: 13"])),
            400,
        ),
        (
            "version 8",
            upgrade_lines(
                KEY,
                &["sec-websocket-version"],
                &with(&["Sec-WebSocket-Version: 8"]),
            ),
            426,
        ),
        (
            "two Upgrade lines",
            upgrade_lines(KEY, &[], &with(&["Upgrade: websocket"])),
            400,
        ),
        (
            "Upgrade: WebSocket",
            upgrade_lines(KEY, &["upgrade"], &with(&["Upgrade: WebSocket"])),
            101,
        ),
        (
            "Upgrade: h2c",
            upgrade_lines(KEY, &["upgrade"], &with(&["Upgrade: h2c"])),
            400,
        ),
        // List headers: lists over all their lines, case-insensitive, spaces allowed.
        (
            "Connection over two lines",
            upgrade_lines(
                KEY,
                &["connection"],
                &with(&["Connection: keep-alive", "Connection: UPGRADE"]),
            ),
            101,
        ),
        (
            "Connection with spaces and empty elements",
            upgrade_lines(
                KEY,
                &["connection"],
                &with(&["Connection: ,keep-alive ,  upgrade ,"]),
            ),
            101,
        ),
        (
            "Connection without upgrade",
            upgrade_lines(KEY, &["connection"], &with(&["Connection: keep-alive"])),
            400,
        ),
        (
            "Connection that is not a list of tokens",
            upgrade_lines(KEY, &[], &with(&["Connection: up grade"])),
            400,
        ),
        (
            "protocols over two lines",
            upgrade_lines(
                KEY,
                &[],
                &with(&[
                    "Sec-WebSocket-Protocol: chat, v1",
                    "Sec-WebSocket-Protocol: v2",
                ]),
            ),
            101,
        ),
        (
            "a protocol that is not a token",
            upgrade_lines(KEY, &[], &with(&["Sec-WebSocket-Protocol: a b"])),
            400,
        ),
        (
            "extensions with parameters",
            upgrade_lines(
                KEY,
                &[],
                &with(&[
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x; y=\"1,2\"",
                ]),
            ),
            101,
        ),
        // A malformed extension offer is declined, never refused (RFC 7692 section 5; the
        // answers are in compression.rs).
        (
            "an extension that is not one",
            upgrade_lines(KEY, &[], &with(&["Sec-WebSocket-Extensions: ; x"])),
            101,
        ),
    ];
    let mut failures = Vec::new();
    for (name, lines, want) in &rows {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        match status_of(&server, &upgrade_request(&host, &lines)).await {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{name}: expected {want}, got {got}")),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "rows failed:\n{}", failures.join("\n"));
    server.wait_idle().await;
}

/// RFC 6455 section 5.5.3: a client that pings faster than it reads gets pongs for a bounded
/// number of pings (the latest last), outside its outbound queue (8 frames here), so the
/// replies it reads are still sent: it is never closed as a slow consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_takes_bounded_space_and_a_client_that_reads_is_not_closed() {
    swoft_ws_tests::init_tracing();
    let app = App::builder()
        .module::<BadModule>()
        .outbound_queue(8)
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let mut ws = connect(&server, "/bad").await;
    for round in 0..5u32 {
        // 2,000 pings and a request in one burst, nothing read meanwhile.
        for i in 0..2_000u32 {
            ws.feed(Message::Ping(i.to_be_bytes().to_vec().into()))
                .await
                .expect("ping");
        }
        let req = json!({"cmd": "t.echo", "data": round, "id": round});
        ws.feed(Message::text(req.to_string()))
            .await
            .expect("request");
        ws.flush().await.expect("flush");
        let mut pongs = 0;
        match next_answer(&mut ws, &mut pongs).await {
            Ok(Answer::Json(v)) => assert_eq!(v["data"], round, "round {round}: {v}"),
            other => panic!("round {round}: expected the reply, got {other:?}"),
        }
    }
    let mut pongs = 0;
    still_served(&mut ws, &mut pongs)
        .await
        .expect("still served");
    ws.close(None).await.ok();
    server.wait_idle().await;
}
