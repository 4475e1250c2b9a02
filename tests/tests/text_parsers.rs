//! Swoft's text protocols over a real socket: `parser = token_text` (`cmd:body` frames, a lone
//! word as a command, anything else for the default command) and what both text parsers send
//! back — a reply's data as text (a string as it is, a number as written, a structure as
//! JSON), errors as JSON.

use serde::Serialize;
use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws::testing::{Received, TestClient, TestServer};

#[ws_module(
    path = "/test",
    parser = token_text,
    controllers = [TestController],
    default_command = "test.index",
    default_prefix = "test"
)]
pub struct TestModule;

#[derive(Default)]
pub struct TestController;

#[derive(Serialize)]
pub struct Pair {
    a: u32,
    b: &'static str,
}

#[ws_controller(prefix = "test")]
impl TestController {
    #[message_mapping("index")]
    fn index() -> &'static str {
        "hi, this is test.index"
    }

    #[message_mapping("echo")]
    fn echo(Data(body): Data<String>) -> String {
        format!("(echo)Recv: {body}")
    }

    #[message_mapping("add")]
    fn add(Data(n): Data<u32>) -> Result<u32, WsError> {
        n.checked_add(1)
            .ok_or_else(|| WsError::invalid_data("too big"))
    }

    #[message_mapping("pair")]
    fn pair() -> Pair {
        Pair { a: 1, b: "x" }
    }
}

#[ws_module(path = "/raw", parser = raw)]
pub struct RawModule;

#[ws_module]
impl RawModule {
    #[on_message]
    fn message(Data(text): Data<String>) -> String {
        format!("Recv: {text}")
    }
}

async fn text(c: &mut TestClient) -> String {
    match c.recv().await {
        Received::Text(t) => t,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<TestModule>()
        .module::<RawModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

#[tokio::test]
async fn a_token_text_frame_names_its_command_before_the_colon_and_replies_are_text() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("echo:abc").await;
    assert_eq!(text(&mut c).await, "(echo)Recv: abc");
    c.send_text("test.echo: spaced out ").await;
    assert_eq!(text(&mut c).await, "(echo)Recv: spaced out");
    c.send_text("add:41").await;
    assert_eq!(text(&mut c).await, "42");
    c.send_text("pair").await;
    assert_eq!(text(&mut c).await, r#"{"a":1,"b":"x"}"#);
}

#[tokio::test]
async fn a_body_without_a_command_goes_to_the_default_command() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("test.index").await;
    assert_eq!(text(&mut c).await, "hi, this is test.index");
    c.send_text("hello there, world").await;
    assert_eq!(text(&mut c).await, "hi, this is test.index");
}

#[tokio::test]
async fn token_text_errors_are_json_error_objects() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("add:many").await;
    let e = c.recv_json().await;
    assert_eq!(e["error"]["code"], json!("invalid_data"), "{e}");
    c.send_text("nope:x").await;
    let e = c.recv_json().await;
    assert_eq!(e["error"]["code"], json!("unknown_command"), "{e}");
}

#[tokio::test]
async fn a_raw_module_replies_with_the_string_itself_not_json_quoted() {
    let server = server().await;
    let mut c = server.connect("/raw").await.unwrap();
    c.send_text("abc").await;
    assert_eq!(text(&mut c).await, "Recv: abc");
}
