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

mod cases;
mod ping_flood;
mod upgrade;

use cases::cases;

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

/// Writes `bytes` on a fresh TCP connection and reads until the status line is in or the
/// server closes (`Err` if neither happens within `wait`): what came back.
async fn first_line(server: &TestServer, bytes: &[u8], wait: Duration) -> Result<Vec<u8>, String> {
    let mut tcp = TcpStream::connect(server.addr())
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(bytes)
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\r\n") {
        match tokio::time::timeout(wait, tcp.read(&mut buf)).await {
            Err(_) => return Err(format!("no answer and no close within {wait:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(got)
}

/// The status code of an HTTP/1.1 answer's status line.
fn http_status(got: &[u8]) -> Option<u16> {
    std::str::from_utf8(got)
        .ok()
        .and_then(|s| s.strip_prefix("HTTP/1.1 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
}

/// Writes `bytes` on a fresh TCP connection and reads what comes back until the server closes.
async fn run_tcp_case(server: &TestServer, bytes: &[u8], expect: &Expect) -> Result<(), String> {
    let got = first_line(server, bytes, HANDSHAKE + WAIT).await?;
    match (expect, http_status(&got)) {
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
