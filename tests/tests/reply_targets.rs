//! Re-targeting a reply (Swoft's `Response::setFd`, `toAll`, `broadcast`, `setCmd`):
//! `Reply::to`, `to_fds`, `to_all`, `broadcast` and `command`, packed by the module's parser,
//! and re-targeted by a middleware too.

use std::time::Duration;

use serde_json::json;
use swoft_ws::middleware::{BoxFuture, Middleware, Next};
use swoft_ws::prelude::*;
use swoft_ws::testing::{Received, TestClient, TestServer};

const SILENCE: Duration = Duration::from_millis(200);

fn fds(body: &str) -> Vec<Fd> {
    body.split(',')
        .filter_map(|s| s.trim().parse::<u32>().ok())
        .map(Fd::from)
        .collect()
}

#[ws_module(path = "/text", parser = token_text, controllers = [TextController])]
pub struct TextModule;

#[ws_module]
impl TextModule {
    #[on_open]
    fn open(conn: &Connection) {
        let _ = conn.send(RawMessage::text(format!("fd {}", conn.fd())));
    }
}

#[derive(Default)]
pub struct TextController;

#[ws_controller(prefix = "t")]
impl TextController {
    #[message_mapping("hi", root = true)]
    fn hi(fd: Fd, Data(body): Data<String>) -> Reply {
        Reply::new(format!("Hi #{body}, I am #{fd}")).to_fds(fds(&body))
    }

    #[message_mapping("one", root = true)]
    fn one(fd: Fd, Data(body): Data<String>) -> Reply {
        match fds(&body).first() {
            Some(to) => Reply::new(format!("from #{fd}")).to(*to),
            None => Reply::new("no fd"),
        }
    }

    #[message_mapping("all", root = true)]
    fn all(Data(body): Data<String>) -> Reply {
        Reply::new(format!("all: {body}")).to_all()
    }

    #[message_mapping("others", root = true)]
    fn others(fd: Fd, Data(body): Data<String>) -> Reply {
        Reply::new(format!("#{fd} says {body}")).broadcast()
    }

    #[message_mapping("bin", root = true, opcode = binary)]
    fn bin(Data(body): Data<String>) -> Reply {
        Reply::new(format!("bin: {body}")).broadcast()
    }
}

#[ws_module(path = "/json", controllers = [JsonController])]
pub struct JsonModule;

#[derive(Default)]
pub struct JsonController;

/// Sends `mw.loud`'s reply to everyone, under the command `mw.shout`.
#[derive(Default)]
pub struct Loud;

impl Middleware for Loud {
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move { next.run(cx).await.command("mw.shout").to_all() })
    }
}

#[ws_controller(prefix = "mw")]
impl JsonController {
    #[message_mapping("renamed")]
    fn renamed(Data(v): Data<serde_json::Value>) -> Reply {
        Reply::new(v).command("mw.other")
    }

    #[message_mapping("others")]
    fn others(Data(v): Data<serde_json::Value>) -> Reply {
        Reply::new(v).with_ext(&json!({"k": 1})).broadcast()
    }

    #[message_mapping("loud")]
    #[middleware(Loud)]
    fn loud(Data(v): Data<serde_json::Value>) -> serde_json::Value {
        v
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<TextModule>()
        .module::<JsonModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

/// A `/text` client and its fd, read from the greeting.
async fn text_client(server: &TestServer) -> (TestClient, String) {
    let mut c = server.connect("/text").await.unwrap();
    let Received::Text(greeting) = c.recv().await else {
        panic!("a text greeting")
    };
    let fd = greeting.strip_prefix("fd ").expect("`fd N`").to_owned();
    (c, fd)
}

#[tokio::test]
async fn a_reply_to_an_fd_reaches_that_connection_and_not_the_sender() {
    let server = server().await;
    let (mut a, fd_a) = text_client(&server).await;
    let (mut b, fd_b) = text_client(&server).await;
    a.send_text(&format!("one:{fd_b}")).await;
    assert_eq!(b.recv().await, Received::Text(format!("from #{fd_a}")));
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn a_reply_to_fds_reaches_each_listed_connection_only() {
    let server = server().await;
    let (mut a, fd_a) = text_client(&server).await;
    let (mut b, fd_b) = text_client(&server).await;
    let (mut c, _) = text_client(&server).await;
    a.send_text(&format!("hi:{fd_a},{fd_b}")).await;
    let text = format!("Hi #{fd_a},{fd_b}, I am #{fd_a}");
    assert_eq!(a.recv().await, Received::Text(text.clone()));
    assert_eq!(b.recv().await, Received::Text(text));
    c.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn to_all_reaches_every_connection_and_broadcast_all_but_the_sender() {
    let server = server().await;
    let (mut a, fd_a) = text_client(&server).await;
    let (mut b, _) = text_client(&server).await;
    let mut j = server.connect("/json").await.unwrap();

    a.send_text("all:x").await;
    assert_eq!(a.recv().await, Received::Text("all: x".into()));
    assert_eq!(b.recv().await, Received::Text("all: x".into()));
    // Every connection of the server, whatever its module; packed by the sender's parser.
    assert_eq!(j.recv().await, Received::Text("all: x".into()));

    a.send_text("others:y").await;
    assert_eq!(b.recv().await, Received::Text(format!("#{fd_a} says y")));
    assert_eq!(j.recv().await, Received::Text(format!("#{fd_a} says y")));
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn a_retargeted_reply_keeps_the_routes_frame_kind() {
    let server = server().await;
    let (mut a, _) = text_client(&server).await;
    let (mut b, _) = text_client(&server).await;
    a.send_text("bin:z").await;
    assert_eq!(b.recv().await, Received::Binary(b"bin: z".to_vec()));
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn another_command_keeps_the_id_and_a_reply_to_others_has_none() {
    let server = server().await;
    let mut a = server.connect("/json").await.unwrap();
    let mut b = server.connect("/json").await.unwrap();
    a.send_text(r#"{"cmd":"mw.renamed","data":"x","id":7}"#)
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"cmd": "mw.other", "data": "x", "id": 7})
    );
    a.send_text(r#"{"cmd":"mw.others","data":"y","id":8}"#)
        .await;
    assert_eq!(
        b.recv_json().await,
        json!({"cmd": "mw.others", "data": "y", "ext": {"k": 1}})
    );
    a.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn a_middleware_can_retarget_the_handlers_reply() {
    let server = server().await;
    let mut a = server.connect("/json").await.unwrap();
    let mut b = server.connect("/json").await.unwrap();
    a.send_text(r#"{"cmd":"mw.loud","data":"hey","id":1}"#)
        .await;
    let shout = json!({"cmd": "mw.shout", "data": "hey"});
    assert_eq!(a.recv_json().await, shout);
    assert_eq!(b.recv_json().await, shout);
}
