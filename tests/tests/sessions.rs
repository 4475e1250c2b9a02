//! Sessions past their connection, and panics inside handlers.
//!
//! - A `Connection` handle kept after its connection closed can never reach the later
//!   connection that reuses its fd: its sends fail with `SendError::Closed`, its `close` does
//!   nothing to the new one, while `Server::push_to(fd, ..)` reaches the new one.
//! - A panicking handler costs one `internal` error reply (with the request's id) and one log
//!   line; its connection, the other connections and the context count are unharmed.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use swoft_ws::SendError;
use swoft_ws::prelude::*;
use swoft_ws_tests::{QUIET, TestClient, TestServer, wait_until};

/// Every connection the module opened, as its `#[on_open]` hook saw it.
#[derive(Default)]
struct Handles(Mutex<Vec<Connection>>);

#[ws_module(path = "/s", controllers = [SessionController])]
pub struct SessionModule;

#[ws_module]
impl SessionModule {
    #[on_open]
    fn open(&self, conn: &Connection) {
        let handles = conn.server().state::<Handles>().expect("Handles state");
        handles.0.lock().unwrap().push(conn.clone());
    }
}

#[derive(Default)]
pub struct SessionController;

#[ws_controller(prefix = "s")]
impl SessionController {
    #[message_mapping("fd")]
    fn fd(fd: Fd) -> Fd {
        fd
    }

    #[message_mapping("echo")]
    fn echo(Data(v): Data<Value>) -> Value {
        v
    }

    #[message_mapping("boom")]
    fn boom(Data(v): Data<Value>) -> Value {
        panic!("kaboom {v}");
    }

    #[message_mapping("boom_later")]
    async fn boom_later(Data(v): Data<Value>) -> Value {
        tokio::task::yield_now().await;
        panic!("kaboom later {v}");
    }
}

fn app(max_fd: u32) -> App {
    App::builder()
        .module::<SessionModule>()
        .state(Handles::default())
        .max_fd(max_fd)
        .build()
        .unwrap()
}

/// The `n`th connection the module opened (waits for its `#[on_open]`).
async fn handle(server: &TestServer, n: usize) -> Connection {
    let handles = server.server().state::<Handles>().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || handles.0.lock().unwrap().len()
            > n)
        .await,
        "connection #{n} opened"
    );
    handles.0.lock().unwrap()[n].clone()
}

async fn fd_of(c: &mut TestClient) -> u64 {
    c.request("s.fd", json!(null)).await["data"]
        .as_u64()
        .expect("an fd")
}

#[tokio::test]
async fn a_stale_handle_never_reaches_the_connection_that_reuses_its_fd() {
    // One fd only: the second connection must get the first one's fd.
    let server = TestServer::start(app(1)).await;
    let mut first = server.connect("/s").await.unwrap();
    assert_eq!(fd_of(&mut first).await, 1);
    let stale = handle(&server, 0).await;
    assert!(stale.is_open());
    assert_eq!(stale.push("before", &1), Ok(()), "a live handle sends");
    assert_eq!(first.expect_push("before").await, json!(1));

    first.close(1000, "bye").await;
    server.wait_idle().await;
    assert!(!stale.is_open());
    assert_eq!(stale.push("late", &1), Err(SendError::Closed));

    let mut second = server.connect("/s").await.unwrap();
    assert_eq!(fd_of(&mut second).await, 1, "the fd is reused");
    let fresh = handle(&server, 1).await;
    assert_eq!(stale.fd(), fresh.fd());
    assert_ne!(stale.id(), fresh.id(), "ids are never reused");

    // Every way of sending through the stale handle fails, and the new client gets nothing.
    assert_eq!(
        stale.push("stale.push", &json!({"leak": true})),
        Err(SendError::Closed)
    );
    assert_eq!(
        stale.send(RawMessage::text(r#"{"cmd":"stale.raw"}"#)),
        Err(SendError::Closed)
    );
    stale.close(4000, "stale close");
    second.expect_silence(QUIET * 2).await;
    assert!(server.server().is_live(Fd::new(1)));
    assert_eq!(
        server.server().connection(Fd::new(1)).map(|c| c.id()),
        Some(fresh.id()),
        "the session entry is the new connection's"
    );

    // The server, by fd, reaches the connection that holds the fd now.
    server
        .server()
        .push_to(Fd::new(1), "fresh", &json!({"n": 1}))
        .unwrap();
    assert_eq!(second.expect_push("fresh").await, json!({"n": 1}));
    // And the new connection still works.
    let r = second.request("s.echo", json!("still here")).await;
    assert_eq!(r["data"], "still here");

    second.close(1000, "bye").await;
    server.wait_idle().await;
}

#[tokio::test]
async fn a_handle_kept_past_an_abrupt_disconnect_is_closed_too() {
    let server = TestServer::start(app(1)).await;
    let first = server.connect("/s").await.unwrap();
    let stale = handle(&server, 0).await;
    first.drop_abruptly();
    server.wait_idle().await;
    assert_eq!(stale.push("late", &1), Err(SendError::Closed));
    let mut second = server.connect("/s").await.unwrap();
    assert_eq!(fd_of(&mut second).await, 1);
    assert_eq!(stale.push("late", &2), Err(SendError::Closed));
    second.expect_silence(QUIET).await;
}

// ---- panics -------------------------------------------------------------------------------

/// What the test subscriber wrote (every test of this binary logs into it).
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn logs() -> &'static LogBuf {
    static LOGS: OnceLock<LogBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf::default();
        let writer = buf.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .try_init()
            .expect("the only subscriber of this test binary");
        buf
    })
}

/// Asserts that one log line holds every one of `parts`.
async fn assert_logged(parts: &[&str]) {
    let logs = logs();
    let found = wait_until(Duration::from_secs(5), || {
        logs.text()
            .lines()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    })
    .await;
    assert!(found, "no log line with {parts:?} in:\n{}", logs.text());
}

#[tokio::test]
async fn a_panicking_handler_gets_an_internal_error_reply_and_a_log_line_and_nothing_else_breaks() {
    logs();
    let server = TestServer::start(app(100)).await;
    let mut victim = server.connect("/s").await.unwrap();
    let mut bystander = server.connect("/s").await.unwrap();
    assert_eq!(bystander.request("s.echo", json!("hi")).await["data"], "hi");

    // A sync handler panics: an error reply with the request's id, code `internal`.
    let r = victim.request("s.boom", json!(4711)).await;
    assert_eq!(r["cmd"], "s.boom");
    assert_eq!(r["id"], 1);
    assert_eq!(r["error"]["code"], "internal");
    assert!(r.get("data").is_none(), "{r}");
    assert_logged(&["ERROR", "handler panicked", "kaboom 4711", "s.boom"]).await;

    // The same connection goes on working, in order.
    let r = victim.request("s.echo", json!({"after": "panic"})).await;
    assert_eq!(
        r,
        json!({"cmd": "s.echo", "data": {"after": "panic"}, "id": 2})
    );

    // An async handler panicking after an await is caught the same way.
    let r = victim.request("s.boom_later", json!("x")).await;
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(3), json!("internal"))
    );
    assert_logged(&["handler panicked", "s.boom_later", "kaboom later"]).await;

    // Many in a row change nothing.
    for i in 0..20 {
        let r = victim.request("s.boom", json!(i)).await;
        assert_eq!(r["error"]["code"], "internal");
    }
    assert_eq!(victim.request("s.fd", json!(null)).await["data"], 1);

    // The other client saw none of it and is served as before.
    bystander.expect_silence(QUIET).await;
    assert_eq!(
        bystander.request("s.echo", json!("still")).await["data"],
        "still"
    );

    // Every context was destroyed, panicked or not; both connections are live.
    let s = server.server();
    assert!(wait_until(Duration::from_secs(5), || s.stats().contexts == 0).await);
    assert_eq!(s.connection_count(), 2);

    victim.close(1000, "bye").await;
    bystander.close(1000, "bye").await;
    server.wait_idle().await;
}
