//! The socket layer, frame by frame, with a hand-written client: replies to pipelined frames
//! come in order, fragments and pings interleave, bytes sent with the handshake are kept, the
//! close handshake completes, and all of it the same over `App::serve` (where a connection owns
//! its TCP socket and senders write to it directly) and over `axum::serve` of `into_router()`
//! (any other socket).

use std::net::SocketAddr;
use std::time::Duration;

use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every receive waits at most this long.
const WAIT: Duration = Duration::from_secs(5);

/// `/raw`: every frame back as it came.
#[ws_module(path = "/raw", parser = raw)]
struct RawModule;

#[ws_module]
impl RawModule {
    #[on_message]
    fn echo(frame: RawMessage) -> RawMessage {
        frame
    }
}

fn app() -> App {
    App::builder()
        .module::<RawModule>()
        .max_message_size(1 << 20)
        .build()
        .unwrap()
}

/// Where the app is served, and what keeps it served.
enum Served {
    Swoft(TestServer),
    Axum(SocketAddr, tokio::task::JoinHandle<()>),
}

impl Served {
    async fn swoft() -> Served {
        Served::Swoft(TestServer::start(app()).await)
    }

    async fn axum() -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app().into_router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Served::Axum(addr, task)
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Served::Swoft(s) => s.addr(),
            Served::Axum(a, _) => *a,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Served::Axum(_, task) = self {
            task.abort();
        }
    }
}

fn upgrade_request(addr: SocketAddr, version: &str) -> String {
    format!(
        "GET /raw HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut v = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => v.push(0x80 | n as u8),
        n if n <= 0xffff => {
            v.push(0x80 | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            v.push(0x80 | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

/// A server frame: fin, opcode, payload.
type Frame = (bool, u8, Vec<u8>);

/// A client speaking frames by hand.
struct Raw {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and upgrades, sending `extra` bytes in the same write as the request.
    async fn connect(addr: SocketAddr, extra: &[u8]) -> Raw {
        Raw::upgrade(TcpStream::connect(addr).await.unwrap(), addr, extra).await
    }

    /// Upgrades a connected socket.
    async fn upgrade(mut tcp: TcpStream, addr: SocketAddr, extra: &[u8]) -> Raw {
        let mut req = upgrade_request(addr, "13").into_bytes();
        req.extend_from_slice(extra);
        tcp.write_all(&req).await.unwrap();
        let mut raw = Raw {
            tcp,
            buf: Vec::new(),
        };
        let end = loop {
            if let Some(i) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            raw.fill().await;
        };
        let head = String::from_utf8_lossy(&raw.buf[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{head}"
        );
        raw.buf.drain(..end);
        raw
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("read timed out")
            .unwrap();
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next server frame: (fin, opcode, payload). Server frames are never masked.
    async fn recv(&mut self) -> Frame {
        loop {
            if let Some((f, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return f;
            }
            assert!(self.fill().await > 0, "the server ended the connection");
        }
    }

    /// Waits for the server to end the TCP connection.
    async fn ended(&mut self) {
        while self.fill().await > 0 {}
    }
}

/// The frame at the front of `b` and its length on the wire, once whole.
fn parse(b: &[u8]) -> Option<(Frame, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "a server frame was masked");
    let (len, at) = match b[1] & 0x7f {
        126 => (
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = b.get(at..at + len)?.to_vec();
    Some(((b[0] & 0x80 != 0, b[0] & 0x0f, payload), at + len))
}

async fn pipelined_replies_in_order(served: &Served) {
    let mut c = Raw::connect(served.addr(), &[]).await;
    let burst: Vec<u8> = (0..64)
        .flat_map(|i| frame(true, 1, format!("msg {i}").as_bytes()))
        .collect();
    c.send(&burst).await;
    for i in 0..64 {
        assert_eq!(c.recv().await, (true, 1, format!("msg {i}").into_bytes()));
    }
}

async fn fragments_with_a_ping_between(served: &Served) {
    let mut c = Raw::connect(served.addr(), &[]).await;
    // "héllo" with the two bytes of 'é' split across fragments, a ping in the middle.
    let text = "héllo".as_bytes();
    let mut bytes = frame(false, 1, &text[..2]);
    bytes.extend(frame(true, 9, b"are you there"));
    bytes.extend(frame(false, 0, &text[2..4]));
    bytes.extend(frame(true, 0, &text[4..]));
    // Sent a few bytes at a time: frames and heads split across reads.
    for chunk in bytes.chunks(3) {
        c.send(chunk).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(c.recv().await, (true, 10, b"are you there".to_vec()));
    assert_eq!(c.recv().await, (true, 1, text.to_vec()));
}

async fn bytes_with_the_handshake_are_kept(served: &Served) {
    let mut c = Raw::connect(served.addr(), &frame(true, 2, b"early")).await;
    assert_eq!(c.recv().await, (true, 2, b"early".to_vec()));
}

async fn large_message_whole(served: &Served) {
    let mut c = Raw::connect(served.addr(), &[]).await;
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut bytes = Vec::new();
    for (i, part) in big.chunks(70_000).enumerate() {
        let last = (i + 1) * 70_000 >= big.len();
        bytes.extend(frame(last, if i == 0 { 2 } else { 0 }, part));
    }
    for chunk in bytes.chunks(16_384) {
        c.send(chunk).await;
    }
    let (fin, op, payload) = c.recv().await;
    assert!(fin);
    assert_eq!(op, 2);
    assert_eq!(payload.len(), big.len());
    assert!(payload == big, "the echo differs");
}

async fn close_handshake(served: &Served) {
    let mut c = Raw::connect(served.addr(), &[]).await;
    let mut close = 4321u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    c.send(&frame(true, 8, &close)).await;
    let (fin, op, payload) = c.recv().await;
    assert_eq!((fin, op), (true, 8));
    assert_eq!(
        payload[..2],
        4321u16.to_be_bytes(),
        "the client's code back"
    );
    c.ended().await;
}

#[tokio::test]
async fn pipelined_frames_get_their_replies_in_order_over_both_servers() {
    pipelined_replies_in_order(&Served::swoft().await).await;
    pipelined_replies_in_order(&Served::axum().await).await;
}

#[tokio::test]
async fn a_ping_between_fragments_is_answered_and_the_message_reassembled_over_both_servers() {
    fragments_with_a_ping_between(&Served::swoft().await).await;
    fragments_with_a_ping_between(&Served::axum().await).await;
}

#[tokio::test]
async fn a_frame_sent_in_the_same_write_as_the_handshake_is_not_lost_over_both_servers() {
    bytes_with_the_handshake_are_kept(&Served::swoft().await).await;
    bytes_with_the_handshake_are_kept(&Served::axum().await).await;
}

#[tokio::test]
async fn a_large_fragmented_message_written_in_pieces_arrives_whole_over_both_servers() {
    large_message_whole(&Served::swoft().await).await;
    large_message_whole(&Served::axum().await).await;
}

#[tokio::test]
async fn the_client_close_is_answered_with_its_code_then_the_socket_ends_over_both_servers() {
    close_handshake(&Served::swoft().await).await;
    close_handshake(&Served::axum().await).await;
}

/// A client with a small receive window sends 40 × 8 KB before it reads anything, then a
/// frame the server refuses (unmasked: 1002), and, before it reads, 64 KB more. It gets
/// every reply and the 1002, then the end of the stream, not a reset: the server shuts its
/// write half down and discards what still comes (RFC 6455 section 7.1.1).
async fn replies_and_close_before_a_bad_frame_arrive(served: &Served) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(served.addr()).await.unwrap();
    let mut c = Raw::upgrade(tcp, served.addr(), &[]).await;
    let payload = vec![7u8; 8192];
    let mut bytes = Vec::new();
    for _ in 0..40 {
        bytes.extend(frame(true, 2, &payload));
    }
    // Unmasked: the server closes (1002) while its replies still wait for the client's window.
    bytes.extend([0x82, 126, 0x20, 0x00]);
    bytes.extend(&payload);
    c.send(&bytes).await;
    // The client goes on sending (it has not read the close yet): without the server reading
    // and dropping it, this data would hit a closed socket, which answers with a reset.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::time::timeout(WAIT, c.send(&vec![0u8; 64 << 10]))
        .await
        .expect("the server takes what is sent");
    for i in 0..40 {
        assert_eq!(c.recv().await, (true, 2, payload.clone()), "reply {i}");
    }
    let (fin, op, close) = c.recv().await;
    assert_eq!((fin, op), (true, 8));
    assert_eq!(close[..2], 1002u16.to_be_bytes());
    c.ended().await;
}

#[tokio::test]
async fn replies_and_the_close_frame_reach_a_slow_reader_after_a_protocol_error_over_both_servers()
{
    replies_and_close_before_a_bad_frame_arrive(&Served::swoft().await).await;
    replies_and_close_before_a_bad_frame_arrive(&Served::axum().await).await;
}

#[tokio::test]
async fn a_handshake_with_an_unknown_version_gets_426_naming_version_13() {
    let served = Served::swoft().await;
    let mut tcp = TcpStream::connect(served.addr()).await.unwrap();
    tcp.write_all(upgrade_request(served.addr(), "8").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
            .await
            .expect("read timed out")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        got.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 426"), "{head}");
    assert!(head.contains("sec-websocket-version: 13"), "{head}");
}
