//! Swoft's `ext` beside a reply's or a push's data (`{cmd, data, ext}`), written by the JSON
//! parser only when set, left out by the text parsers.

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws::testing::{Received, TestServer};

#[ws_module(path = "/chat", controllers = [HomeController])]
pub struct ChatModule;

#[ws_module(path = "/test", parser = token_text, controllers = [HomeController])]
pub struct TextModule;

#[derive(Default)]
pub struct HomeController;

#[ws_controller(prefix = "home")]
impl HomeController {
    #[message_mapping("ar")]
    fn ar(Data(text): Data<String>) -> Reply {
        Reply::data(&format!("(home.ar)Recv: {text}")).with_ext(&json!({"page": 2}))
    }

    #[message_mapping("plain")]
    fn plain() -> &'static str {
        "plain"
    }

    #[message_mapping("notify")]
    fn notify(conn: Connection) -> Reply {
        conn.push_with_ext("home.notice", "hello", &json!(["a"]))
            .expect("queued");
        Reply::None
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<ChatModule>()
        .module::<TextModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

#[tokio::test]
async fn a_reply_and_a_push_carry_ext_when_set_and_only_then() {
    let server = server().await;
    let mut c = server.connect("/chat").await.unwrap();
    let r = c.request("home.ar", json!("x")).await;
    assert_eq!(r["cmd"], json!("home.ar"), "{r}");
    assert_eq!(r["data"], json!("(home.ar)Recv: x"), "{r}");
    assert_eq!(r["ext"], json!({"page": 2}), "{r}");
    let r = c.request("home.plain", json!(null)).await;
    assert!(r.get("ext").is_none(), "{r}");
    c.send_json(&json!({"cmd": "home.notify"})).await;
    let v = c.recv_json().await;
    assert_eq!(
        v,
        json!({"cmd": "home.notice", "data": "hello", "ext": ["a"]})
    );
}

#[tokio::test]
async fn a_text_parser_leaves_ext_out() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("home.ar:abc").await;
    assert_eq!(c.recv().await, Received::Text("(home.ar)Recv: abc".into()));
}
