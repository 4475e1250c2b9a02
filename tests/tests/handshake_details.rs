//! The handshake's details as Swoft's handshake hook sets them on its response: a refusal with
//! headers (`WWW-Authenticate`, `Retry-After`), and a module's subprotocols chosen without
//! hook code.

use std::time::Duration;

use swoft_ws::prelude::*;
use swoft_ws::testing::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[ws_module(path = "/private")]
pub struct PrivateModule;

#[ws_module]
impl PrivateModule {
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        match req.query_param("token").as_deref() {
            Some("ok") => Ok(Accept::new()),
            Some("busy") => Err(Reject::new(
                swoft_ws::http::StatusCode::SERVICE_UNAVAILABLE,
                "try later",
            )
            .header("Retry-After", "30")),
            _ => Err(Reject::unauthorized("token required")
                .header("WWW-Authenticate", r#"Bearer realm="chat""#)),
        }
    }
}

#[ws_module(path = "/proto", protocols = ["v2", "v1"])]
pub struct ProtoModule;

#[ws_module(path = "/proto-hook", protocols = ["v2", "v1"])]
pub struct HookProtoModule;

#[ws_module]
impl HookProtoModule {
    #[on_handshake]
    fn handshake() -> Accept {
        Accept::new().protocol("v1")
    }
}

async fn server() -> TestServer {
    let app = App::builder()
        .module::<PrivateModule>()
        .module::<ProtoModule>()
        .module::<HookProtoModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

/// The response head of an upgrade request for `path`.
async fn handshake_head(server: &TestServer, path: &str) -> String {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(server.addr()).await?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 1024];
        while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&raw).to_lowercase())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("a response within 5 s")
        .expect("the exchange")
}

#[tokio::test]
async fn a_refusal_carries_the_headers_the_hook_gave_it() {
    let server = server().await;
    let head = handshake_head(&server, "/private").await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(
        head.contains("www-authenticate: bearer realm=\"chat\""),
        "{head}"
    );
    let head = handshake_head(&server, "/private?token=busy").await;
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("retry-after: 30"), "{head}");
    assert!(server.connect("/private?token=ok").await.is_ok());
}

#[tokio::test]
async fn a_module_answers_with_the_first_of_its_protocols_the_client_offers() {
    let server = server().await;
    let chosen = |c: &swoft_ws::testing::TestClient| {
        c.response_headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let c = server
        .connect_with("/proto", &[("Sec-WebSocket-Protocol", "v1, v2")])
        .await
        .unwrap();
    assert_eq!(chosen(&c).as_deref(), Some("v2"));
    let c = server
        .connect_with("/proto", &[("Sec-WebSocket-Protocol", "v0, v1")])
        .await
        .unwrap();
    assert_eq!(chosen(&c).as_deref(), Some("v1"));
    let c = server.connect("/proto").await.unwrap();
    assert_eq!(chosen(&c), None);
    let c = server
        .connect_with("/proto-hook", &[("Sec-WebSocket-Protocol", "v1, v2")])
        .await
        .unwrap();
    assert_eq!(chosen(&c).as_deref(), Some("v1"), "the hook's choice wins");
}
