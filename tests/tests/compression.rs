//! permessage-deflate (RFC 7692) over real sockets, with a hand-written client (tungstenite
//! has no permessage-deflate) that compresses and inflates with flate2: the answer to every
//! kind of offer, compressed round trips with and without context takeover, a broadcast
//! sharing one compressed copy, and the close codes of the rules on RSV1 and inflating.

use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;

/// Every receive waits at most this long.
const WAIT: Duration = Duration::from_secs(5);
const RSV1: u8 = 0x40;

/// `/z`: echo, compression with the defaults (no context takeover either way, from 256 B).
#[ws_module(path = "/z", parser = raw, compression = deflate)]
struct Deflate;

#[ws_module]
impl Deflate {
    #[on_message]
    fn echo(frame: RawMessage) -> RawMessage {
        frame
    }
}

/// `/zctx`: echo, each side keeping its window (unless the client asks otherwise).
#[ws_module(
    path = "/zctx",
    parser = raw,
    compression = deflate(level = 6, min_size = 0, server_no_context_takeover = false, client_no_context_takeover = false)
)]
struct DeflateContext;

#[ws_module]
impl DeflateContext {
    #[on_message]
    fn echo(frame: RawMessage) -> RawMessage {
        frame
    }
}

/// `/plain`: echo, no compression (the default).
#[ws_module(path = "/plain", parser = raw)]
struct Plain;

#[ws_module]
impl Plain {
    #[on_message]
    fn echo(frame: RawMessage) -> RawMessage {
        frame
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<Deflate>()
        .module::<DeflateContext>()
        .module::<Plain>()
        .build()
        .unwrap();
    TestServer::start(app).await
}

/// The raw-socket client the load generator uses for its compressed figures (tungstenite has
/// no permessage-deflate): one client for both. Its JSON document helpers are not used here.
#[path = "../../bench/src/rawws.rs"]
#[allow(dead_code)]
mod rawws;

use rawws::Client;

/// A frame from the server.
#[derive(Debug)]
struct Frame {
    b0: u8,
    payload: Vec<u8>,
}

/// Opens `path` with these extra header lines: the status, the `Sec-WebSocket-Extensions`
/// answer, and the client.
async fn open(server: &TestServer, path: &str, extra: &[&str]) -> (u16, Option<String>, Client) {
    let (status, client) = tokio::time::timeout(WAIT, rawws::open(&server.url(path), extra))
        .await
        .expect("an answer in time")
        .expect("an HTTP answer");
    (status, client.agreed.clone(), client)
}

/// Writes a masked frame with first byte `b0`.
async fn write(c: &mut Client, b0: u8, payload: &[u8]) {
    c.send(b0, payload).await.expect("written");
}

/// The next frame from the server.
async fn read(c: &mut Client) -> Frame {
    let (b0, payload) = tokio::time::timeout(WAIT, c.recv())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("the server closed the socket without a frame");
    Frame { b0, payload }
}

/// The code of the close frame the server sends next.
async fn close_code(c: &mut Client) -> u16 {
    let f = read(c).await;
    assert_eq!(f.b0 & 0x0F, 0x8, "a close frame: {f:?}");
    u16::from_be_bytes([f.payload[0], f.payload[1]])
}

/// A message compressed as a client does, sync flush and its tail taken off (RFC 7692 §7.2.1).
fn compress(c: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    c.compress_vec(msg, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A server message inflated, its tail put back (RFC 7692 §7.2.2).
fn inflate(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
        .unwrap();
    out
}

fn json(len: usize) -> String {
    let mut s = String::from(r#"{"cmd":"room.message","data":{"room":"lobby","text":""#);
    let mut i = 0u32;
    while s.len() < len - 3 {
        s.push_str(["hello ", "world ", "swoft ", "chat "][(i % 4) as usize]);
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    s.push_str(r#""}}"#);
    s
}

/// A module's path, the request's extra header lines, and the `Sec-WebSocket-Extensions` of
/// the 101.
type Row = (&'static str, Vec<&'static str>, Option<String>);

/// `/z`'s answer with no context takeover either way (its defaults).
const BOTH: &str = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// Offers accepted, one kind each.
fn accepted() -> Vec<Row> {
    let both = BOTH;
    vec![
        ("/z", vec![], None),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate"],
            Some(both.into()),
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover"],
            Some(both.into()),
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover"],
            Some(both.into()),
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"],
            Some(format!("{both}; server_max_window_bits=10")),
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=\"11\""],
            Some(format!("{both}; server_max_window_bits=11")),
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
            Some(both.into()),
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12"],
            Some(format!("{both}; client_max_window_bits=12")),
        ),
        // Several offers, the first declined (zlib has no 256-byte window): the second taken.
        (
            "/z",
            vec![
                "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits=9",
            ],
            Some(format!("{both}; client_max_window_bits=9")),
        ),
        // Repeated header lines: one list; other extensions ignored.
        (
            "/z",
            vec![
                "Sec-WebSocket-Extensions: x-webkit-deflate-frame",
                "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9",
            ],
            Some(format!("{both}; server_max_window_bits=9")),
        ),
    ]
}

/// Offers declined, and modules that answer less.
fn declined() -> Vec<Row> {
    vec![
        // Malformed offers: declined, the handshake succeeds without the extension.
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; foo"],
            None,
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits"],
            None,
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16"],
            None,
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=07"],
            None,
        ),
        (
            "/z",
            vec![
                "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            ],
            None,
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover=yes"],
            None,
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=\"10"],
            None,
        ),
        (
            "/z",
            vec!["Sec-WebSocket-Extensions: permessage-deflate; =1"],
            None,
        ),
        ("/z", vec!["Sec-WebSocket-Extensions: ; x"], None),
        // A module without compression answers no offer; one keeping context says less.
        (
            "/plain",
            vec!["Sec-WebSocket-Extensions: permessage-deflate"],
            None,
        ),
        (
            "/zctx",
            vec!["Sec-WebSocket-Extensions: permessage-deflate"],
            Some("permessage-deflate".into()),
        ),
        (
            "/zctx",
            vec![
                "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits",
            ],
            Some("permessage-deflate; client_no_context_takeover".into()),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_to_each_kind_of_offer() {
    swoft_ws_tests::init_tracing();
    let server = server().await;
    let rows: Vec<Row> = accepted().into_iter().chain(declined()).collect();
    let mut failures = Vec::new();
    for (path, lines, want) in &rows {
        let (status, got, _client) = open(&server, path, lines).await;
        if status != 101 || got != *want {
            failures.push(format!(
                "{path} {lines:?}: expected 101 {want:?}, got {status} {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "rows failed:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_round_trips_with_and_without_context_takeover() {
    swoft_ws_tests::init_tracing();
    let server = server().await;
    // No context takeover: each message from an empty window, both ways.
    let (_, ext, mut c) = open(
        &server,
        "/z",
        &["Sec-WebSocket-Extensions: permessage-deflate"],
    )
    .await;
    assert!(ext.is_some());
    let msg = json(4096);
    for _ in 0..3 {
        let mut z = Compress::new(Compression::new(6), false);
        write(&mut c, 0x80 | RSV1 | 0x1, &compress(&mut z, msg.as_bytes())).await;
        let f = read(&mut c).await;
        assert_eq!(f.b0, 0x80 | RSV1 | 0x1, "a compressed text frame");
        assert!(
            f.payload.len() * 3 < msg.len(),
            "{} bytes for {}",
            f.payload.len(),
            msg.len()
        );
        let mut d = Decompress::new(false);
        assert_eq!(inflate(&mut d, &f.payload), msg.as_bytes());
    }
    // Under min_size (256 B) the reply goes out as it is; an uncompressed message is fine.
    write(&mut c, 0x81, b"short").await;
    let f = read(&mut c).await;
    assert_eq!((f.b0, &f.payload[..]), (0x81, &b"short"[..]));

    // Context takeover both ways: one compressor and one inflater per side for all messages.
    let (_, ext, mut c) = open(
        &server,
        "/zctx",
        &["Sec-WebSocket-Extensions: permessage-deflate"],
    )
    .await;
    assert_eq!(ext.as_deref(), Some("permessage-deflate"));
    let (mut z, mut d) = (
        Compress::new(Compression::new(6), false),
        Decompress::new(false),
    );
    let mut sizes = Vec::new();
    for i in 0..4 {
        // A binary message in two fragments, RSV1 on the first only.
        let data = format!("{msg}{i}").into_bytes();
        let compressed = compress(&mut z, &data);
        let (a, b) = compressed.split_at(compressed.len() / 2);
        write(&mut c, RSV1 | 0x2, a).await;
        write(&mut c, 0x80, b).await;
        let f = read(&mut c).await;
        assert_eq!(f.b0, 0x80 | RSV1 | 0x2);
        assert_eq!(inflate(&mut d, &f.payload), data);
        sizes.push(f.payload.len());
    }
    // The second message refers to the first, in the window kept: smaller than the first.
    assert!(sizes[1] < sizes[0] * 2 / 3, "the window is kept: {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_shares_one_compressed_copy() {
    swoft_ws_tests::init_tracing();
    let server = server().await;
    let offer = ["Sec-WebSocket-Extensions: permessage-deflate"];
    let mut shared = Vec::new();
    for _ in 0..3 {
        shared.push(open(&server, "/z", &offer).await.2);
    }
    let mut ctx = open(&server, "/zctx", &offer).await.2;
    let mut plain = open(&server, "/plain", &offer).await.2;
    let small = open(
        &server,
        "/z",
        &["Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"],
    )
    .await;
    let mut small = small.2;
    assert!(swoft_ws::testing::wait_until(WAIT, || server.server().stats().connections == 6).await);
    let msg = json(4096);
    let d = server.server().all().send(RawMessage::text(msg.clone()));
    assert_eq!(d.delivered, 6);
    let mut first = None;
    for c in &mut shared {
        let f = read(c).await;
        assert_eq!(f.b0, 0x80 | RSV1 | 0x1);
        // The same bytes for every member with the same terms.
        assert_eq!(first.get_or_insert_with(|| f.payload.clone()), &f.payload);
    }
    let f = read(&mut small).await;
    assert_eq!(
        inflate(&mut Decompress::new_with_window_bits(false, 10), &f.payload),
        msg.as_bytes()
    );
    let f = read(&mut ctx).await;
    assert_eq!(f.b0, 0x80 | RSV1 | 0x1);
    assert_eq!(
        inflate(&mut Decompress::new(false), &f.payload),
        msg.as_bytes()
    );
    let f = read(&mut plain).await;
    assert_eq!((f.b0, f.payload), (0x81, msg.into_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsv1_where_it_may_not_be_is_1002_and_bad_data_1007() {
    swoft_ws_tests::init_tracing();
    let server = server().await;
    let offer = ["Sec-WebSocket-Extensions: permessage-deflate"];
    // RSV1 without the extension: on a module without it, and on one that has it, not agreed.
    for (path, lines) in [("/plain", &offer[..]), ("/z", &[][..])] {
        let (_, _, mut c) = open(&server, path, lines).await;
        write(&mut c, 0x80 | RSV1 | 0x1, b"x").await;
        assert_eq!(close_code(&mut c).await, 1002, "{path}");
    }
    // RSV1 on a control frame.
    let (_, _, mut c) = open(&server, "/z", &offer).await;
    write(&mut c, 0x80 | RSV1 | 0x9, b"").await;
    assert_eq!(close_code(&mut c).await, 1002);
    // RSV1 on a continuation frame.
    let (_, _, mut c) = open(&server, "/z", &offer).await;
    let mut z = Compress::new(Compression::new(6), false);
    let data = compress(&mut z, json(1000).as_bytes());
    write(&mut c, RSV1 | 0x1, &data[..10]).await;
    write(&mut c, 0x80 | RSV1, &data[10..]).await;
    assert_eq!(close_code(&mut c).await, 1002);
    // Not deflate data.
    let (_, _, mut c) = open(&server, "/z", &offer).await;
    write(&mut c, 0x80 | RSV1 | 0x2, &[0xff; 64]).await;
    assert_eq!(close_code(&mut c).await, 1007);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_frame_inflating_past_the_message_limit_is_1009() {
    swoft_ws_tests::init_tracing();
    let server = server().await;
    let (_, _, mut c) = open(
        &server,
        "/z",
        &["Sec-WebSocket-Extensions: permessage-deflate"],
    )
    .await;
    // 16 MiB of zeros is about 16 KiB compressed: one frame, far under the 64 KiB limit.
    let mut z = Compress::new(Compression::new(9), false);
    let bomb = compress(&mut z, &vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    write(&mut c, 0x80 | RSV1 | 0x2, &bomb).await;
    assert_eq!(close_code(&mut c).await, 1009);
    // The server is fine: another connection is served.
    let (_, _, mut c) = open(&server, "/z", &[]).await;
    write(&mut c, 0x81, b"still here").await;
    assert_eq!(read(&mut c).await.payload, b"still here");
    drop(c);
    server.wait_idle().await;
}
