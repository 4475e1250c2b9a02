//! The whole life of a connection: handshake accepted or rejected, open, messages with replies
//! carrying their ids, the current Context, close with its code, and everything cleaned up.

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::{Value, json};
use swoft_ws::http::StatusCode;
use swoft_ws::prelude::*;
use swoft_ws_tests::{QUIET, TestServer, init_tracing};

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl Events {
    fn push(conn: &Connection, e: String) {
        let ev = conn.server().state::<Events>().expect("Events state");
        ev.0.lock().unwrap().push(e);
    }
    fn list(server: &Server) -> Vec<String> {
        server.state::<Events>().unwrap().0.lock().unwrap().clone()
    }
}

#[derive(Clone)]
struct User(String);

#[ws_module(path = "/life", controllers = [LifeController])]
pub struct LifeModule;

#[ws_module]
impl LifeModule {
    #[on_handshake]
    fn handshake(&self, req: &HandshakeRequest) -> Result<Accept, Reject> {
        match req.query_param("token").as_deref() {
            Some("good") => {
                let name = req.cookie("name").unwrap_or("anon").to_owned();
                let mut accept = Accept::new().header("x-swoft", "yes").with(User(name));
                if req.protocols().iter().any(|p| p == "chat.v2") {
                    accept = accept.protocol("chat.v2");
                }
                Ok(accept)
            }
            Some(_) => Err(Reject::new(StatusCode::UNAUTHORIZED, "bad token")),
            None => Err(Reject::bad_request("token required")),
        }
    }

    #[on_open]
    fn open(&self, conn: &Connection) {
        Events::push(conn, format!("open {}", conn.fd()));
    }

    #[on_close]
    async fn close(&self, conn: &Connection, info: &CloseInfo) {
        tokio::task::yield_now().await;
        // Still reachable by fd while the hook runs; removed right after it.
        let live = conn.server().is_live(conn.fd());
        Events::push(
            conn,
            format!(
                "close {} {} {} by {:?} live={live}",
                conn.fd(),
                info.code,
                info.reason,
                info.by
            ),
        );
    }
}

#[derive(Default)]
pub struct LifeController;

#[derive(Deserialize)]
struct Add {
    a: u64,
    b: u64,
}

#[ws_controller(prefix = "life")]
impl LifeController {
    #[message_mapping("whoami")]
    fn whoami(Session(user): Session<User>, fd: Fd, conn: &Connection) -> Value {
        Events::push(conn, format!("message {fd} life.whoami"));
        json!({"name": user.0, "fd": fd, "peer_ip": conn.handshake().peer_addr().map(|a| a.ip().to_string()), "protocol": conn.protocol()})
    }

    #[message_mapping("ctx")]
    async fn ctx(&self, cx: &Context) -> Value {
        tokio::task::yield_now().await;
        let current = Context::current().expect("a current context in the handler task");
        json!({
            "same_fd": current.fd() == cx.fd(),
            "command": current.command(),
            "live": cx.server().stats().contexts,
        })
    }

    #[message_mapping("add")]
    fn add(Data(a): Data<Add>) -> u64 {
        a.a + a.b
    }

    #[message_mapping("nothing")]
    fn nothing() {}
}

fn app() -> App {
    App::builder()
        .module::<LifeModule>()
        .state(Events::default())
        .build()
        .unwrap()
}

#[tokio::test]
async fn accepted_connection_runs_hooks_replies_with_ids_and_is_cleaned_up_on_close() {
    init_tracing();
    let server = TestServer::start(app()).await;
    let mut c = server
        .connect_with("/life?token=good", &[("cookie", "a=1; name=alice")])
        .await
        .unwrap();
    assert_eq!(c.response_headers()["x-swoft"], "yes");
    assert_eq!(server.server().connection_count(), 1);

    let who = c.request("life.whoami", json!(null)).await;
    assert_eq!(who["cmd"], "life.whoami");
    assert_eq!(who["data"]["name"], "alice");
    assert_eq!(who["data"]["fd"], 1);
    assert_eq!(who["data"]["peer_ip"], "127.0.0.1");
    assert_eq!(who["id"], 1);

    // The id is echoed verbatim, whatever JSON it is.
    c.send_text(r#"{"cmd":"life.add","data":{"a":2,"b":3},"id":"req-7"}"#)
        .await;
    assert_eq!(
        c.recv_json().await,
        json!({"cmd":"life.add","data":5,"id":"req-7"})
    );
    // Without `data`, the other fields are the data (Swoft's rule); without `id`, no id.
    c.send_text(r#"{"cmd":"life.add","a":1,"b":1}"#).await;
    assert_eq!(c.recv_json().await, json!({"cmd":"life.add","data":2}));
    // `()` means no reply.
    c.send_text(r#"{"cmd":"life.nothing","id":9}"#).await;
    c.expect_silence(QUIET).await;

    c.close(4001, "bye").await;
    server.wait_idle().await;
    // Open before the first message, the close hook last, with the client's code and reason.
    assert_eq!(
        Events::list(server.server()),
        [
            "open 1",
            "message 1 life.whoami",
            "close 1 4001 bye by Client live=true"
        ]
    );
    // The session is gone, and so are every context and the fd.
    let s = server.server();
    assert!(s.connection(Fd::new(1)).is_none());
    assert_eq!(s.connection_count(), 0);
    assert!(s.connection_count() == 0);
    assert_eq!(s.stats().contexts, 0);
    assert_eq!(s.stats().contexts_created, 4, "one context per message");
    assert_eq!(s.stats().fds, 0);
}

#[tokio::test]
async fn closing_one_connection_removes_only_its_session() {
    let server = TestServer::start(app()).await;
    let mut a = server.connect("/life?token=good").await.unwrap();
    let mut b = server.connect("/life?token=good").await.unwrap();
    assert_eq!(a.request("life.whoami", json!(null)).await["data"]["fd"], 1);
    assert_eq!(b.request("life.whoami", json!(null)).await["data"]["fd"], 2);
    let s = server.server();
    assert_eq!(s.live_fds(), [Fd::new(1), Fd::new(2)]);

    a.close(1000, "").await;
    assert!(
        swoft_ws_tests::wait_until(QUIET * 20, || !s.is_live(Fd::new(1))).await,
        "a's session removed"
    );
    assert_eq!(s.live_fds(), [Fd::new(2)]);
    let r = b.request("life.add", json!({"a": 20, "b": 22})).await;
    assert_eq!(r["data"], 42);
    assert_eq!(r["id"], 2);
    b.close(1000, "").await;
    server.wait_idle().await;
}

#[tokio::test]
async fn rejected_handshake_gets_the_hooks_status_and_reason_and_no_session() {
    let server = TestServer::start(app()).await;
    let e = server.connect("/life").await.unwrap_err();
    assert_eq!(e.status, Some(400));
    assert_eq!(e.body, "token required");
    let e = server.connect("/life?token=bad").await.unwrap_err();
    assert_eq!(e.status, Some(401));
    assert_eq!(e.body, "bad token");
    server.wait_idle().await;
    assert!(Events::list(server.server()).is_empty(), "no hook ran");
}

#[tokio::test]
async fn unknown_path_is_404_without_upgrade() {
    let server = TestServer::start(app()).await;
    let e = server.connect("/nope?token=good").await.unwrap_err();
    assert_eq!(e.status, Some(404));
}

#[tokio::test]
async fn chosen_subprotocol_is_answered_only_when_offered() {
    let server = TestServer::start(app()).await;
    let mut c = server
        .connect_with(
            "/life?token=good",
            &[("sec-websocket-protocol", "chat.v1, chat.v2")],
        )
        .await
        .unwrap();
    assert_eq!(c.response_headers()["sec-websocket-protocol"], "chat.v2");
    let who = c.request("life.whoami", json!(null)).await;
    assert_eq!(who["data"]["protocol"], "chat.v2");
    let plain = server.connect("/life?token=good").await.unwrap();
    assert!(
        plain
            .response_headers()
            .get("sec-websocket-protocol")
            .is_none()
    );
}

#[tokio::test]
async fn context_is_current_in_the_handler_task_and_destroyed_after_the_reply() {
    let server = TestServer::start(app()).await;
    let mut c = server.connect("/life?token=good").await.unwrap();
    let r = c.request("life.ctx", json!(null)).await;
    assert_eq!(r["data"]["same_fd"], true);
    assert_eq!(r["data"]["command"], "life.ctx");
    assert_eq!(
        r["data"]["live"], 1,
        "exactly this message's context is alive"
    );
    assert!(swoft_ws_tests::wait_until(QUIET * 10, || server.server().stats().contexts == 0).await);
    assert!(Context::current().is_none(), "no context outside a handler");
}

#[tokio::test]
async fn abrupt_disconnect_runs_on_close_with_1006_and_frees_the_fd() {
    let server = TestServer::start(app()).await;
    let c = server.connect("/life?token=good").await.unwrap();
    c.drop_abruptly();
    server.wait_idle().await;
    let events = Events::list(server.server());
    // No close frame: 1006, ended by the transport (the reason says what the socket did).
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], "open 1");
    assert!(events[1].starts_with("close 1 1006 "), "{events:?}");
    assert!(events[1].ends_with(" by Transport live=true"), "{events:?}");
}

#[tokio::test]
async fn server_push_reaches_a_connection_by_fd_and_disconnect_closes_it_with_the_code() {
    let server = TestServer::start(app()).await;
    let mut c = server.connect("/life?token=good").await.unwrap();
    let fd = server.server().live_fds()[0];
    server
        .server()
        .push_to(fd, "news.flash", &json!({"t": 1}))
        .unwrap();
    assert_eq!(c.expect_push("news.flash").await, json!({"t": 1}));
    server.server().disconnect(fd, 4100, "kicked").unwrap();
    assert_eq!(c.expect_close().await, (4100, "kicked".to_owned()));
    server.wait_idle().await;
    assert_eq!(
        Events::list(server.server()).last().unwrap(),
        "close 1 4100 kicked by Server live=true"
    );
    assert!(server.server().push_to(fd, "x", &1).is_err());
}

#[test]
fn app_state_is_shared_by_arc() {
    let app = app();
    let a: Arc<Events> = app.server().state().unwrap();
    let b: Arc<Events> = app.server().state().unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}
