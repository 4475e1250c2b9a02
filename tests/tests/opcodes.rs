//! The frame kinds of replies (Swoft's mapping `opcode` and module `defaultOpcode`) and the
//! control frames app code sends (`Connection::send_ping` / `send_pong`).

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws::testing::{Control, Received, TestServer};

#[ws_module(path = "/test", parser = token_text, controllers = [TestController])]
pub struct TestModule;

#[derive(Default)]
pub struct TestController;

#[ws_controller(prefix = "test")]
impl TestController {
    #[message_mapping("bin", root = true, opcode = binary)]
    fn bin(Data(body): Data<String>) -> String {
        format!("Binary: {body}")
    }

    #[message_mapping("ping", root = true, opcode = pong)]
    fn ping() -> &'static str {
        "pong!"
    }

    #[message_mapping("long", root = true, opcode = pong)]
    fn long() -> String {
        "x".repeat(200)
    }

    #[message_mapping("text", root = true)]
    fn text() -> &'static str {
        "text"
    }

    #[message_mapping("controls", root = true)]
    fn controls(conn: Connection) -> Result<&'static str, WsError> {
        conn.send_ping("are you there")
            .map_err(|e| WsError::internal(e.to_string()))?;
        conn.send_pong(&b"unsolicited"[..])
            .map_err(|e| WsError::internal(e.to_string()))?;
        match conn.send_pong(vec![0u8; 126]) {
            Err(swoft_ws::SendError::ControlTooLong(126)) => Ok("sent"),
            other => Err(WsError::internal(format!("{other:?}"))),
        }
    }
}

#[ws_module(path = "/bin", opcode = binary, controllers = [BinController])]
pub struct BinModule;

#[derive(Default)]
pub struct BinController;

#[ws_controller(prefix = "bin")]
impl BinController {
    #[message_mapping("echo")]
    fn echo(Data(v): Data<serde_json::Value>) -> serde_json::Value {
        v
    }

    #[message_mapping("text", opcode = text)]
    fn text() -> &'static str {
        "as text"
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<TestModule>()
        .module::<BinModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

#[tokio::test]
async fn a_mapping_with_opcode_binary_or_pong_replies_in_that_frame() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("bin:xyz").await;
    assert_eq!(c.recv().await, Received::Binary(b"Binary: xyz".to_vec()));
    c.send_text("ping").await;
    assert_eq!(c.recv_control().await, Control::Pong(b"pong!".to_vec()));
    c.send_text("text").await;
    assert_eq!(c.recv().await, Received::Text("text".into()));
}

#[tokio::test]
async fn a_reply_too_long_for_a_control_frame_is_an_internal_error() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("long").await;
    let e = c.recv_json().await;
    assert_eq!(e["error"]["code"], json!("internal"), "{e}");
}

#[tokio::test]
async fn a_module_with_opcode_binary_replies_in_binary_frames_unless_a_mapping_says_text() {
    let server = server().await;
    let mut c = server.connect("/bin").await.unwrap();
    c.send_json(&json!({"cmd": "bin.echo", "data": 7, "id": 1}))
        .await;
    match c.recv().await {
        Received::Binary(b) => {
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["data"], json!(7), "{v}");
        }
        other => panic!("expected a binary reply, got {other:?}"),
    }
    c.send_json(&json!({"cmd": "nope", "id": 2})).await;
    assert!(
        matches!(c.recv().await, Received::Binary(_)),
        "error replies follow the module's opcode"
    );
    let r = c.request("bin.text", json!(null)).await;
    assert_eq!(r["data"], json!("as text"), "{r}");
}

#[tokio::test]
async fn app_code_sends_ping_and_pong_frames_to_a_connection() {
    let server = server().await;
    let mut c = server.connect("/test").await.unwrap();
    c.send_text("controls").await;
    assert_eq!(
        c.recv_control().await,
        Control::Ping(b"are you there".to_vec())
    );
    assert_eq!(
        c.recv_control().await,
        Control::Pong(b"unsolicited".to_vec())
    );
    assert_eq!(c.recv().await, Received::Text("sent".into()));
}
