//! The test kit fails fast: every wait has a timeout, and running out of it fails the test
//! with what was awaited, instead of hanging.

use std::time::{Duration, Instant};

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws_tests::{Received, TestServer};

#[ws_module(path = "/kit", controllers = [KitController])]
pub struct KitModule;

#[derive(Default)]
pub struct KitController;

#[ws_controller(prefix = "kit")]
impl KitController {
    #[message_mapping("silent")]
    fn silent() {}

    #[message_mapping("hello")]
    fn hello() -> &'static str {
        "hello"
    }
}

async fn server() -> TestServer {
    TestServer::start(App::builder().module::<KitModule>().build().unwrap()).await
}

#[tokio::test]
#[should_panic(expected = "timed out after 100ms waiting for a reply with id 1")]
async fn waiting_for_a_reply_that_never_comes_fails_after_the_timeout() {
    let server = server().await;
    let mut c = server.connect("/kit").await.unwrap();
    c.set_timeout(Duration::from_millis(100));
    c.request("kit.silent", json!(null)).await;
}

#[tokio::test]
#[should_panic(expected = "timed out after 100ms waiting for a frame")]
async fn recv_fails_after_the_timeout() {
    let server = server().await;
    let mut c = server.connect("/kit").await.unwrap();
    c.set_timeout(Duration::from_millis(100));
    c.recv().await;
}

#[tokio::test]
#[should_panic(expected = "timed out after 100ms waiting for a push `news`")]
async fn waiting_for_a_push_fails_after_the_timeout() {
    let server = server().await;
    let mut c = server.connect("/kit").await.unwrap();
    c.set_timeout(Duration::from_millis(100));
    c.expect_push("news").await;
}

#[tokio::test]
#[should_panic(expected = "expected silence")]
async fn expect_silence_fails_when_something_arrives() {
    let server = server().await;
    let mut c = server.connect("/kit").await.unwrap();
    c.send_json(&json!({"cmd": "kit.hello"})).await;
    c.expect_silence(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn timeouts_are_short_and_frames_seen_while_waiting_are_kept() {
    let server = server().await;
    let mut c = server.connect("/kit").await.unwrap();
    // A frame that arrives while waiting for another reply is kept for recv.
    c.send_json(&json!({"cmd": "kit.hello", "id": "first"}))
        .await;
    let second = c.request("kit.hello", json!(null)).await;
    assert_eq!(second["id"], 1);
    assert_eq!(
        c.recv().await,
        Received::Text(r#"{"cmd":"kit.hello","data":"hello","id":"first"}"#.to_owned())
    );
    // expect_silence returns after its window, not the default timeout.
    let t = Instant::now();
    c.expect_silence(Duration::from_millis(50)).await;
    assert!(t.elapsed() < Duration::from_secs(1));
    // A refused handshake comes back as an error, with its status.
    assert_eq!(
        server.connect("/nowhere").await.unwrap_err().status,
        Some(404)
    );
}
