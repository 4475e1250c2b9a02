//! Frames that break the protocol's rules close the connection with the code that says why,
//! and nobody else notices: oversized messages (1009), invalid UTF-8 in text (1007), protocol
//! errors (1002).

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data as OpData, OpCode};

#[ws_module(path = "/l", controllers = [LController])]
pub struct LModule;

#[derive(Default)]
pub struct LController;

#[ws_controller(prefix = "l")]
impl LController {
    #[message_mapping("echo")]
    fn echo(Data(v): Data<serde_json::Value>) -> serde_json::Value {
        v
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<LModule>()
        .max_message_size(1024)
        .build()
        .unwrap();
    TestServer::start(app).await
}

/// A well-behaved client keeps being served while another is closed.
async fn bystander_is_served(server: &TestServer, bystander: &mut swoft_ws_tests::TestClient) {
    let r = bystander.request("l.echo", json!("still here")).await;
    assert_eq!(r["data"], "still here");
    let mut fresh = server.connect("/l").await.unwrap();
    assert_eq!(fresh.request("l.echo", json!(1)).await["data"], 1);
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let server = server().await;
    let mut bystander = server.connect("/l").await.unwrap();
    let mut c = server.connect("/l").await.unwrap();
    let ok = "x".repeat(900);
    assert_eq!(c.request("l.echo", json!(ok)).await["data"], ok);
    c.send_text(&format!(
        r#"{{"cmd":"l.echo","data":"{}"}}"#,
        "x".repeat(2000)
    ))
    .await;
    assert_eq!(c.expect_close().await.0, 1009);
    bystander_is_served(&server, &mut bystander).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = server().await;
    let mut bystander = server.connect("/l").await.unwrap();
    let mut c = server.connect("/l").await.unwrap();
    let frame = Frame::message(
        vec![b'{', 0xff, 0xfe, b'}'],
        OpCode::Data(OpData::Text),
        true,
    );
    c.send(Message::Frame(frame)).await;
    assert_eq!(c.expect_close().await.0, 1007);
    bystander_is_served(&server, &mut bystander).await;
}

#[tokio::test]
async fn a_reserved_opcode_closes_with_1002() {
    let server = server().await;
    let mut bystander = server.connect("/l").await.unwrap();
    let mut c = server.connect("/l").await.unwrap();
    let frame = Frame::message(vec![1, 2, 3], OpCode::Data(OpData::Reserved(3)), true);
    c.send(Message::Frame(frame)).await;
    assert_eq!(c.expect_close().await.0, 1002);
    bystander_is_served(&server, &mut bystander).await;
    drop(c);
    drop(bystander);
    server.wait_idle().await;
}
