//! Commands outside a controller's prefix (Swoft's `@MessageMapping(root=true)`) and the prefix
//! a controller without one takes from its type's name (Swoft's `@WsController()`:
//! `HomeController` → `home`).

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws::testing::TestServer;

#[ws_module(path = "/chat", controllers = [HomeController, LobbyController])]
pub struct ChatModule;

#[derive(Default)]
pub struct HomeController;

#[ws_controller]
impl HomeController {
    #[message_mapping("index")]
    fn index() -> &'static str {
        "hi, this is home.index"
    }

    #[message_mapping("help", root = true)]
    fn help(Data(text): Data<String>) -> String {
        format!("(help)Recv: {text}")
    }

    #[message_mapping(root = true)]
    fn about() -> &'static str {
        "about"
    }
}

#[derive(Default)]
pub struct LobbyController;

#[ws_controller(prefix = "hall")]
impl LobbyController {
    #[message_mapping("list")]
    fn list() -> &'static str {
        "hall.list"
    }

    #[message_mapping("version", root = true)]
    fn version() -> &'static str {
        "1"
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<ChatModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

#[tokio::test]
async fn a_root_mapping_serves_its_command_without_the_prefix() {
    let server = server().await;
    let mut c = server.connect("/chat").await.unwrap();
    let r = c.request("help", json!("x")).await;
    assert_eq!(r["cmd"], json!("help"), "{r}");
    assert_eq!(r["data"], json!("(help)Recv: x"), "{r}");
    let r = c.request("version", json!(null)).await;
    assert_eq!(r["data"], json!("1"), "{r}");
    let r = c.request("about", json!(null)).await;
    assert_eq!(r["data"], json!("about"), "{r}");
    let r = c.request("hall.version", json!(null)).await;
    assert_eq!(r["error"]["code"], json!("unknown_command"), "{r}");
}

#[tokio::test]
async fn a_controller_without_a_prefix_takes_it_from_its_type_name() {
    let server = server().await;
    let mut c = server.connect("/chat").await.unwrap();
    let r = c.request("home.index", json!(null)).await;
    assert_eq!(r["data"], json!("hi, this is home.index"), "{r}");
    let r = c.request("hall.list", json!(null)).await;
    assert_eq!(r["data"], json!("hall.list"), "{r}");
    let r = c.request("index", json!(null)).await;
    assert_eq!(r["error"]["code"], json!("unknown_command"), "{r}");
}
