//! The runtime under hostile or broken clients: slow consumers (each backpressure policy),
//! handler timeouts, admission limits, origins, rate limits, panics in every hook, pings and
//! idle connections, handshakes that never complete. Each limit is set small through the
//! config so that every test is quick.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swoft_ws::config::{Origins, RateLimit};
use swoft_ws::prelude::*;
use swoft_ws::{AppBuilder, Delivery, SendError};
use swoft_ws_tests::{Received, TestServer, init_tracing, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};

/// What the hooks saw, per app.
#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(conn: &Connection, e: String) {
        conn.server()
            .state::<Log>()
            .unwrap()
            .0
            .lock()
            .unwrap()
            .push(e);
    }
    fn list(server: &Server) -> Vec<String> {
        server.state::<Log>().unwrap().0.lock().unwrap().clone()
    }
}

fn wants(conn: &Connection, what: &str) -> bool {
    conn.handshake().query_param(what).is_some()
}

#[ws_module(path = "/r", controllers = [RController])]
pub struct RModule;

#[ws_module]
impl RModule {
    #[on_handshake]
    fn handshake(&self, req: &HandshakeRequest) -> Accept {
        assert!(
            req.query_param("panic_handshake").is_none(),
            "handshake boom"
        );
        Accept::new()
    }

    #[on_open]
    fn open(&self, conn: &Connection) {
        Log::push(conn, format!("open {}", conn.fd()));
        assert!(!wants(conn, "panic_open"), "open boom");
    }

    #[on_close]
    fn close(&self, conn: &Connection, info: &CloseInfo) {
        Log::push(
            conn,
            format!("close {} {} {}", conn.fd(), info.code, info.reason),
        );
        assert!(!wants(conn, "panic_close"), "close boom");
    }
}

#[derive(Default)]
pub struct RController;

#[ws_controller(prefix = "r")]
impl RController {
    #[message_mapping("echo")]
    fn echo(Data(v): Data<Value>) -> Value {
        v
    }

    #[message_mapping("fd")]
    fn fd(fd: Fd) -> Fd {
        fd
    }

    #[message_mapping("join")]
    fn join(Data(room): Data<String>, conn: &Connection) -> Result<bool, WsError> {
        Ok(conn.join(&room)?)
    }

    #[message_mapping("sleep")]
    async fn sleep(Data(ms): Data<u64>) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    #[message_mapping("forever")]
    async fn forever() {
        std::future::pending::<()>().await;
    }

    #[message_mapping("panic")]
    fn panic() {
        panic!("handler boom");
    }
}

/// Limits set by `#[ws_module(...)]` options.
#[ws_module(
    path = "/small",
    controllers = [RController],
    max_connections = 2,
    origins = ["https://a.example"]
)]
pub struct SmallModule;

#[ws_module(path = "/rl", controllers = [RController], rate_limit = 5, rate_burst = 5)]
pub struct RateModule;

#[ws_module(path = "/drop", controllers = [RController], backpressure = drop_newest)]
pub struct DropModule;

fn builder() -> AppBuilder {
    init_tracing();
    App::builder()
        .module::<RModule>()
        .module::<SmallModule>()
        .module::<RateModule>()
        .module::<DropModule>()
        .state(Log::default())
}

async fn start(b: AppBuilder) -> TestServer {
    TestServer::start(b.build().unwrap()).await
}

async fn fd_of(c: &mut swoft_ws_tests::TestClient) -> Fd {
    let n = c.request("r.fd", json!(null)).await["data"]
        .as_u64()
        .unwrap();
    Fd::from(u32::try_from(n).unwrap())
}

const FRAME: usize = 8000;
const QUEUE_BYTES: usize = 128 << 10;

/// A busy room with a fast reader and a client that stopped reading. Pushes `max` frames of
/// about 8 KB, paced so that the fast reader keeps up, until `stop` says so. Returns the
/// fast reader's count and the pushes made; checks on the way that the slow client's queued
/// bytes stay within the limit.
async fn busy_room(
    server: &TestServer,
    path: &str,
    slow_fd: Fd,
    max: usize,
    mut stop: impl FnMut(&Delivery) -> bool,
) -> (tokio::task::JoinHandle<usize>, usize) {
    let mut fast = server.connect(path).await.unwrap();
    fast.request("r.join", json!("busy")).await;
    let reader = tokio::spawn(async move {
        let mut n = 0;
        loop {
            match fast.recv().await {
                Received::Text(t) if t.contains("\"tick\"") => n += 1,
                Received::Text(t) if t.contains("\"done\"") => return n,
                other => panic!("fast reader got {other:?}"),
            }
        }
    });
    let s = server.server();
    let payload = "x".repeat(FRAME);
    let mut pushed = 0;
    for i in 0..max {
        let d = s.room("busy").push("tick", &payload).unwrap();
        pushed += 1;
        if let Some(c) = s.connection(slow_fd) {
            assert!(
                c.queued_bytes() <= QUEUE_BYTES,
                "queued {} > {QUEUE_BYTES}",
                c.queued_bytes()
            );
        }
        if stop(&d) {
            break;
        }
        if i % 4 == 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    s.room("busy").push("done", &()).unwrap();
    (reader, pushed)
}

#[tokio::test]
async fn a_slow_consumer_in_a_busy_room_is_closed_1008_and_the_others_keep_receiving() {
    let server = start(
        builder()
            .outbound_bytes(QUEUE_BYTES)
            .close_timeout(Duration::from_millis(300)),
    )
    .await;
    let mut slow = server.connect("/r").await.unwrap();
    slow.request("r.join", json!("busy")).await;
    let slow_fd = fd_of(&mut slow).await;
    let s = server.server().clone();
    let (reader, pushed) = busy_room(&server, "/r", slow_fd, 6000, |_| !s.is_live(slow_fd)).await;
    assert!(!s.is_live(slow_fd), "the slow consumer was never closed");
    // The fast reader got every push, none dropped.
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, pushed);
    // The server closed it with 1008; a client that reads nothing may only see the TCP end.
    assert!(
        wait_until(Duration::from_secs(3), || {
            Log::list(&s).contains(&format!("close {slow_fd} 1008 slow consumer"))
        })
        .await
    );
    slow.set_timeout(Duration::from_secs(10));
    let (code, _) = slow.expect_close().await;
    assert!(code == 1008 || code == 1006, "{code}");
    server.wait_idle().await;
}

#[tokio::test]
async fn drop_newest_keeps_the_slow_consumer_and_a_push_to_its_full_queue_fails_at_once() {
    let server = start(builder().outbound_bytes(QUEUE_BYTES)).await;
    let mut slow = server.connect("/drop").await.unwrap();
    slow.request("r.join", json!("busy")).await;
    let slow_fd = fd_of(&mut slow).await;
    let (reader, pushed) = busy_room(&server, "/drop", slow_fd, 6000, |d| d.queue_full > 0).await;
    let got = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, pushed, "the fast reader lost pushes");
    let s = server.server();
    assert!(s.is_live(slow_fd));
    // A push to the full queue: a typed error, at once.
    let t = Instant::now();
    let r = s.push_to(slow_fd, "tick", &"x".repeat(FRAME));
    assert_eq!(r, Err(SendError::QueueFull));
    assert!(t.elapsed() < Duration::from_millis(50));
    assert!(s.connection(slow_fd).unwrap().queued_bytes() <= QUEUE_BYTES);
    // Once it reads again, it is served.
    slow.set_timeout(Duration::from_secs(10));
    let r = slow.request("r.echo", json!("back")).await;
    assert_eq!(r["data"], "back");
    assert!(s.is_live(slow_fd));
    drop(slow);
    server.wait_idle().await;
}

#[tokio::test]
async fn a_handler_past_its_timeout_gets_timeout_and_the_connection_and_others_go_on() {
    let server = start(builder().handler_timeout(Some(Duration::from_millis(200)))).await;
    let mut a = server.connect("/r").await.unwrap();
    let mut b = server.connect("/r").await.unwrap();
    let t = Instant::now();
    a.send_json(&json!({"cmd": "r.forever", "id": 7})).await;
    // Meanwhile another connection is served at once.
    assert_eq!(b.request("r.echo", json!(1)).await["data"], 1);
    assert!(t.elapsed() < Duration::from_millis(150));
    let r = a.reply_to(&json!(7)).await;
    assert_eq!(r["error"]["code"], "timeout");
    assert_eq!(r["cmd"], "r.forever");
    assert!(t.elapsed() >= Duration::from_millis(200));
    // The same connection (concurrency 1) is served again; the context was dropped.
    assert_eq!(a.request("r.echo", json!(2)).await["data"], 2);
    assert_eq!(a.request("r.sleep", json!(20)).await["data"], 20);
    assert_eq!(server.server().stats().contexts, 0);
    drop((a, b));
    server.wait_idle().await;
}

#[tokio::test]
async fn over_max_connections_the_handshake_gets_503_server_wide_and_per_module() {
    let server = start(builder().max_connections(3)).await;
    // Per module: /small takes 2.
    let s1 = server.connect("/small").await.unwrap();
    let _s2 = server.connect("/small").await.unwrap();
    let e = server.connect("/small").await.unwrap_err();
    assert_eq!((e.status, e.body.as_str()), (Some(503), "module is full"));
    // Server-wide: 3 in all.
    let _r = server.connect("/r").await.unwrap();
    let e = server.connect("/r").await.unwrap_err();
    assert_eq!((e.status, e.body.as_str()), (Some(503), "server is full"));
    // A slot comes back when a connection ends.
    s1.close(1000, "").await;
    let s = server.server().clone();
    assert!(wait_until(Duration::from_secs(2), || s.stats().admitted == 2).await);
    let _again = server.connect("/small").await.unwrap();
}

#[tokio::test]
async fn over_the_rate_limit_messages_get_rate_limited_and_abuse_closes_1008() {
    let server = start(builder()).await;
    let mut c = server.connect("/rl").await.unwrap();
    for id in 1..=40 {
        c.send_json(&json!({"cmd": "r.echo", "data": id, "id": id}))
            .await;
    }
    let (mut ok, mut limited) = (0, 0);
    let code = loop {
        match c.recv().await {
            Received::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["error"]["code"] == "rate_limited" {
                    assert_eq!(v["cmd"], "r.echo");
                    assert!(v["id"].is_u64(), "{v}");
                    limited += 1;
                } else {
                    assert_eq!(v["data"], v["id"]);
                    ok += 1;
                }
            }
            Received::Close(code, reason) => {
                assert_eq!(reason, "rate limit exceeded");
                break code;
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 1008);
    assert!((5..=7).contains(&ok), "{ok} passed");
    assert_eq!(limited, 20, "20 rate-limited replies before the close");
    // Other modules have no limit (the default).
    let mut r = server.connect("/r").await.unwrap();
    for id in 1..=40 {
        r.send_json(&json!({"cmd": "r.echo", "data": id, "id": id}))
            .await;
    }
    assert_eq!(r.reply_to(&json!(40)).await["data"], 40);
}

#[tokio::test]
async fn a_server_wide_rate_limit_applies_to_every_module() {
    let server =
        start(builder().rate_limit(RateLimit::new(1, 2).close_after(100, Duration::from_secs(1))))
            .await;
    let mut c = server.connect("/r").await.unwrap();
    assert_eq!(c.request("r.echo", json!(1)).await["data"], 1);
    assert_eq!(c.request("r.echo", json!(2)).await["data"], 2);
    let r = c.request("r.echo", json!(3)).await;
    assert_eq!(r["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn origins_are_checked_before_the_upgrade() {
    let server = start(builder()).await;
    let own = format!("http://{}", server.addr());
    // The default: same origin, or no Origin header at all.
    server.connect("/r").await.unwrap();
    server
        .connect_with("/r", &[("origin", &own)])
        .await
        .unwrap();
    let e = server
        .connect_with("/r", &[("origin", "https://evil.example")])
        .await
        .unwrap_err();
    assert_eq!(
        (e.status, e.body.as_str()),
        (Some(403), "origin not allowed")
    );
    // A module's list (`origins = ["https://a.example"]`).
    server
        .connect_with("/small", &[("origin", "https://a.example")])
        .await
        .unwrap();
    let e = server
        .connect_with("/small", &[("origin", &own)])
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(403));
    server.wait_idle().await;
    // Origins::Any turns the check off.
    let any = start(builder().origins(Origins::Any)).await;
    any.connect_with("/r", &[("origin", "https://evil.example")])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_panic_in_any_hook_or_handler_is_contained() {
    let server = start(builder()).await;
    let s = server.server().clone();
    // on_handshake → 500, nothing allocated.
    let e = server.connect("/r?panic_handshake=1").await.unwrap_err();
    assert_eq!(e.status, Some(500));
    assert!(s.stats().is_idle(), "{:?}", s.stats());
    // on_open → logged; the connection works and its state is consistent.
    let mut c = server.connect("/r?panic_open=1").await.unwrap();
    let fd = fd_of(&mut c).await;
    assert!(Log::list(&s).contains(&format!("open {fd}")));
    assert!(s.is_live(fd));
    c.request("r.join", json!("after-panic")).await;
    assert_eq!(s.rooms().size("after-panic"), 1);
    // A handler → `internal`, the connection goes on.
    let r = c.request("r.panic", json!(null)).await;
    assert_eq!(r["error"]["code"], "internal");
    assert_eq!(c.request("r.echo", json!("ok")).await["data"], "ok");
    c.close(1000, "bye").await;
    assert!(
        wait_until(Duration::from_secs(2), || Log::list(&s)
            .contains(&format!("close {fd} 1000 bye")))
        .await
    );
    // on_close → logged; everything is released anyway.
    let c = server.connect("/r?panic_close=1").await.unwrap();
    c.drop_abruptly();
    server.wait_idle().await;
    assert_eq!(s.rooms().count(), 0);
}

#[tokio::test]
async fn pings_keep_a_reading_client_alive_and_a_silent_one_is_closed_1001() {
    let server = start(
        builder()
            .ping_interval(Some(Duration::from_millis(100)))
            .idle_timeout(Some(Duration::from_millis(350)))
            // The silent client never answers the close: it is gone at this deadline.
            .close_timeout(Duration::from_millis(200)),
    )
    .await;
    let s = server.server().clone();
    let mut alive = server.connect("/r").await.unwrap();
    let alive_fd = fd_of(&mut alive).await;
    let mut silent = server.connect("/r").await.unwrap();
    let silent_fd = fd_of(&mut silent).await;
    // `alive` reads (and so answers pings); `silent` does not.
    alive.expect_silence(Duration::from_millis(900)).await;
    assert!(s.is_live(alive_fd));
    assert!(!s.is_live(silent_fd));
    assert!(Log::list(&s).contains(&format!("close {silent_fd} 1001 idle timeout")));
    // The close frame is sent; a client that reads only now may lose it to the TCP reset that
    // answers its late pongs.
    let (code, _) = silent.expect_close().await;
    assert!(code == 1001 || code == 1006, "{code}");
    assert_eq!(alive.request("r.echo", json!(1)).await["data"], 1);
}

#[tokio::test]
async fn a_fragmented_message_that_never_ends_does_not_keep_a_connection_alive() {
    let server = start(
        builder()
            .ping_interval(Some(Duration::from_millis(100)))
            .idle_timeout(Some(Duration::from_millis(300)))
            .close_timeout(Duration::from_millis(200)),
    )
    .await;
    let mut c = server.connect("/r").await.unwrap();
    let first = Frame::message(b"{\"cmd\":".to_vec(), OpCode::Data(OpData::Text), false);
    c.send(Message::Frame(first)).await;
    let t = Instant::now();
    // Continuation frames without FIN, no pongs (the client does not read).
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let more = Frame::message(b" ".to_vec(), OpCode::Data(OpData::Continue), false);
        if !c.try_send(Message::Frame(more)).await {
            break;
        }
    }
    let s = server.server().clone();
    assert!(
        wait_until(Duration::from_secs(2), || Log::list(&s)
            .iter()
            .any(|e| e.ends_with(" 1001 idle timeout")))
        .await
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    server.wait_idle().await;
}

async fn dropped_within(server: &TestServer, send: &[u8], within: Duration) {
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    tcp.write_all(send).await.unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(within, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return 0,
                Ok(n) => {
                    // hyper may answer 408 first; the connection ends after it.
                    assert!(buf[..n].starts_with(b"HTTP/1.1 4"), "{:?}", &buf[..n]);
                }
            }
        }
    })
    .await
    .expect("the server did not drop the connection in time");
    assert_eq!(n, 0);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_handshake_that_never_completes_and_a_silent_tcp_client_are_dropped() {
    let server = start(builder().handshake_timeout(Duration::from_millis(200))).await;
    let bound = Duration::from_secs(2);
    dropped_within(&server, b"", bound).await;
    dropped_within(
        &server,
        b"GET /r HTTP/1.1\r\nHost: x\r\nUpgrade: webso",
        bound,
    )
    .await;
    // A real client is not affected.
    let mut c = server.connect("/r").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.request("r.echo", json!(1)).await["data"], 1);
}

#[tokio::test]
async fn when_no_fd_is_free_the_handshake_gets_503() {
    let server = start(builder().max_fd(2)).await;
    let _a = server.connect("/r").await.unwrap();
    let _b = server.connect("/r").await.unwrap();
    let e = server.connect("/r").await.unwrap_err();
    assert_eq!((e.status, e.body.as_str()), (Some(503), "server is full"));
    assert_eq!(server.server().stats().admitted, 2);
}

#[tokio::test]
async fn the_builder_overrides_a_modules_limits() {
    use swoft_ws::config::ModuleLimits;
    let server = start(
        builder().module_limits::<RModule>(
            ModuleLimits::NONE
                .max_connections(1)
                .origins(&["*"])
                .handler_timeout(Duration::from_millis(100)),
        ),
    )
    .await;
    let mut a = server
        .connect_with("/r", &[("origin", "https://evil.example")])
        .await
        .unwrap();
    let e = server.connect("/r").await.unwrap_err();
    assert_eq!((e.status, e.body.as_str()), (Some(503), "module is full"));
    let r = a.request("r.sleep", json!(1000)).await;
    assert_eq!(r["error"]["code"], "timeout");
    // Other modules keep the server-wide settings.
    server.connect("/small").await.unwrap();
}

#[tokio::test]
async fn a_connection_busy_in_a_long_handler_is_not_idle() {
    let server = start(
        builder()
            .ping_interval(Some(Duration::from_millis(100)))
            .idle_timeout(Some(Duration::from_millis(300)))
            .handler_timeout(None),
    )
    .await;
    let mut c = server.connect("/r").await.unwrap();
    let fd = fd_of(&mut c).await;
    assert_eq!(c.request("r.sleep", json!(700)).await["data"], 700);
    c.expect_silence(Duration::from_millis(150)).await;
    assert!(server.server().is_live(fd));
    assert_eq!(c.request("r.echo", json!(1)).await["data"], 1);
}

/// Hooks that never return.
#[ws_module(path = "/hang", controllers = [RController])]
pub struct HangModule;

#[ws_module]
impl HangModule {
    #[on_open]
    async fn open(&self, _conn: &Connection) {
        std::future::pending::<()>().await;
    }

    #[on_close]
    async fn close(&self, _conn: &Connection, _info: &CloseInfo) {
        std::future::pending::<()>().await;
    }
}

#[tokio::test]
async fn open_and_close_hooks_past_the_handler_timeout_are_dropped() {
    let server = start(
        builder()
            .module::<HangModule>()
            .handler_timeout(Some(Duration::from_millis(200))),
    )
    .await;
    let t = Instant::now();
    let mut c = server.connect("/hang").await.unwrap();
    // Messages wait for on_open; it is dropped at the timeout and the connection goes on.
    assert_eq!(c.request("r.echo", json!(1)).await["data"], 1);
    assert!(t.elapsed() >= Duration::from_millis(200));
    c.drop_abruptly();
    // on_close never returns either: dropped, and everything is released.
    server.wait_idle().await;
}
