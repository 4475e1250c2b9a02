//! The app's router served by `axum::serve` itself, as the README's "Your own routes and
//! server" shows: with `into_make_service_with_connect_info::<SocketAddr>()` the handshake
//! hook sees the peer address, and with `Server::drain` in the shutdown future the WebSocket
//! connections get close 1001 and their `#[on_close]` before `axum::serve` returns. A tower
//! CORS-style layer does not open the WebSocket route to other origins: `origins` does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use swoft_ws::config::Origins;
use swoft_ws::prelude::*;
use swoft_ws_tests::TestClient;

static CLOSED: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Debug)]
struct Peer(SocketAddr);

#[ws_module(path = "/ws", controllers = [PeerController])]
pub struct PeerModule;

#[ws_module]
impl PeerModule {
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        let peer = req
            .peer_addr()
            .ok_or_else(|| Reject::bad_request("no peer address"))?;
        Ok(Accept::new().with(Peer(peer)))
    }

    #[on_close]
    fn close() {
        CLOSED.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
pub struct PeerController;

#[ws_controller(prefix = "peer")]
impl PeerController {
    #[message_mapping("addr")]
    fn addr(Session(peer): Session<Peer>) -> String {
        peer.0.to_string()
    }
}

#[tokio::test]
async fn axum_serve_with_connect_info_and_drain_keeps_the_peer_address_and_the_graceful_close() {
    let app = App::builder().module::<PeerModule>().build().unwrap();
    let server = app.server().clone();
    let router = app.into_router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        swoft_ws::axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await; // e.g. tokio::signal::ctrl_c()
            server.drain().await; // close 1001 to every client, every #[on_close] run
        })
        .await
    });

    let mut c = TestClient::connect(&format!("ws://{addr}/ws"), &[])
        .await
        .unwrap();
    let reply = c.request("peer.addr", json!(null)).await;
    let peer: SocketAddr = reply["data"].as_str().unwrap().parse().unwrap();
    assert_eq!(peer.ip(), addr.ip(), "{reply}");

    stop.send(()).unwrap();
    assert_eq!(c.expect_close().await.0, 1001);
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("axum::serve returns after the drain")
        .unwrap()
        .unwrap();
    assert_eq!(CLOSED.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_cors_style_layer_does_not_admit_other_origins_but_origins_does() {
    // What a CORS layer does to every response; it does not change the Origin check.
    let cors = |r: swoft_ws::axum::Router| {
        r.layer(swoft_ws::axum::middleware::map_response(
            |mut res: swoft_ws::axum::response::Response| async move {
                res.headers_mut().insert(
                    "access-control-allow-origin",
                    swoft_ws::http::HeaderValue::from_static("*"),
                );
                res
            },
        ))
    };
    let other = [("Origin", "https://elsewhere.example")];

    let app = App::builder().module::<PeerModule>().build().unwrap();
    let server = swoft_ws::testing::TestServer::start_with(app, cors).await;
    let refused = server.connect_with("/ws", &other).await.unwrap_err();
    assert_eq!(refused.status, Some(403), "{refused}");

    let app = App::builder()
        .module::<PeerModule>()
        .origins(Origins::list(["https://elsewhere.example"]))
        .build()
        .unwrap();
    let server = swoft_ws::testing::TestServer::start_with(app, cors).await;
    server.connect_with("/ws", &other).await.unwrap();
}
