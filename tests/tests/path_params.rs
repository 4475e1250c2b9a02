//! Path variables in module paths (Swoft's `@WsModule("/rooms/{id}", params={"id": "\d+"})`):
//! axum's router matches the segments, a constraint refuses values (404, before any hook), and
//! the values reach the handshake hook, the connection and the handlers.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use swoft_ws::error::{BuildError, Problem};
use swoft_ws::http::StatusCode;
use swoft_ws::prelude::*;
use swoft_ws::testing::{Received, TestServer};

static HANDSHAKES: AtomicUsize = AtomicUsize::new(0);

#[ws_module(path = "/rooms/{id}/users/{name}", params(id = r"\d+"), controllers = [RoomController])]
pub struct RoomModule;

#[ws_module]
impl RoomModule {
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        HANDSHAKES.fetch_add(1, Ordering::SeqCst);
        match req.path_param("id") {
            Some(_) => Ok(Accept::new()),
            None => Err(Reject::new(StatusCode::INTERNAL_SERVER_ERROR, "no id")),
        }
    }

    #[on_open]
    fn open(conn: &Connection) {
        let id = conn.path_param("id").unwrap_or("?");
        let name = conn.path_param("name").unwrap_or("?");
        let _ = conn.send(RawMessage::text(format!("room {id} {name}")));
    }
}

#[derive(Default)]
pub struct RoomController;

#[ws_controller(prefix = "room")]
impl RoomController {
    #[message_mapping("id")]
    fn id(params: PathParams) -> Option<u64> {
        params.parse("id")
    }
}

#[ws_module(path = "echo")]
pub struct EchoModule;

#[ws_module(path = "/open/{id}")]
pub struct OpenRoomModule;

#[ws_module(path = "/open/lobby")]
pub struct LobbyModule;

async fn server() -> TestServer {
    let app = App::builder()
        .module::<RoomModule>()
        .module::<EchoModule>()
        .build()
        .expect("the app builds");
    TestServer::start(app).await
}

#[tokio::test]
async fn path_variables_reach_the_handshake_hook_the_connection_and_handlers() {
    let server = server().await;
    let mut c = server.connect("/rooms/42/users/ann").await.unwrap();
    match c.recv().await {
        Received::Text(t) => assert_eq!(t, "room 42 ann"),
        other => panic!("expected the open hook's text, got {other:?}"),
    }
    let r = c.request("room.id", json!(null)).await;
    assert_eq!(r["data"], json!(42), "{r}");
}

#[tokio::test]
async fn a_value_that_fails_its_constraint_is_404_before_any_hook_runs() {
    let server = server().await;
    let before = HANDSHAKES.load(Ordering::SeqCst);
    let err = server.connect("/rooms/abc/users/ann").await.unwrap_err();
    assert_eq!(err.status, Some(404), "{err}");
    assert_eq!(HANDSHAKES.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_path_without_its_leading_slash_is_served_with_one() {
    let server = server().await;
    assert!(server.connect("/echo").await.is_ok());
}

#[test]
fn two_modules_whose_paths_overlap_do_not_build() {
    let err: BuildError = App::builder()
        .module::<OpenRoomModule>()
        .module::<LobbyModule>()
        .build()
        .unwrap_err();
    assert!(
        err.problems()
            .iter()
            .any(|p| matches!(p, Problem::OverlappingPaths { .. })),
        "{err}"
    );
}
