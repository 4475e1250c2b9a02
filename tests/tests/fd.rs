//! Fds as a real server hands them out with a small maximum (the allocator's own rules —
//! counting up, wrapping, skipping live fds, reuse, exhaustion, concurrency — are unit tests in
//! `swoft-ws/src/runtime/fd.rs`).

use std::time::Duration;

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws_tests::{QUIET, TestClient, TestServer, wait_until};

// ---- through a server ---------------------------------------------------------------------

#[ws_module(path = "/fd", controllers = [FdController])]
pub struct FdModule;

#[derive(Default)]
pub struct FdController;

#[ws_controller(prefix = "fd")]
impl FdController {
    #[message_mapping("mine")]
    fn mine(fd: Fd) -> Fd {
        fd
    }
}

/// The fd the server gave this client, as its handler sees it.
async fn fd_of(c: &mut TestClient) -> u64 {
    let reply = c.request("fd.mine", json!(null)).await;
    reply["data"].as_u64().expect("an fd")
}

#[tokio::test]
async fn a_server_with_max_fd_3_reuses_a_closed_connections_fd_and_refuses_a_fourth_with_503() {
    let app = App::builder()
        .module::<FdModule>()
        .max_fd(3)
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let mut c1 = server.connect("/fd").await.unwrap();
    let mut c2 = server.connect("/fd").await.unwrap();
    let mut c3 = server.connect("/fd").await.unwrap();
    assert_eq!(
        [
            fd_of(&mut c1).await,
            fd_of(&mut c2).await,
            fd_of(&mut c3).await
        ],
        [1, 2, 3]
    );

    c2.close(1000, "done").await;
    let s = server.server();
    assert!(
        wait_until(Duration::from_secs(5), || s.stats().fds == 2).await,
        "fd 2 freed after its connection closed"
    );
    // The count wraps after 3: 1 is live (skipped), 2 is free again.
    let mut c4 = server.connect("/fd").await.unwrap();
    assert_eq!(fd_of(&mut c4).await, 2);

    // Three live connections hold all three fds: a fourth is refused before the upgrade.
    let refused = server.connect("/fd").await.unwrap_err();
    assert_eq!(refused.status, Some(503), "{refused}");
    assert_eq!(s.connection_count(), 3);
    assert_eq!(s.stats().fds, 3, "the refused handshake leaked no fd");

    // The others are untouched by the refusal.
    assert_eq!(fd_of(&mut c1).await, 1);
    c3.expect_silence(QUIET).await;

    for c in [c1, c3, c4] {
        c.close(1000, "bye").await;
    }
    server.wait_idle().await;
    // All free again; the count goes on from 2, so the next connection gets 3.
    let mut c5 = server.connect("/fd").await.unwrap();
    assert_eq!(fd_of(&mut c5).await, 3);
}
