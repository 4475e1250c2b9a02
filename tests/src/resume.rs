//! Steps shared by the tests of resumable sessions (`tests/recovery.rs` on one node,
//! `tests/cluster/resume.rs` across nodes): the frames as they came, their offsets, a fresh
//! member of a room, a run of room pushes.

use serde_json::{Value, json};
use std::time::Duration;

use swoft_ws::Server;
use swoft_ws::testing::{Received, TestClient, TestServer, wait_until};

/// The next text frame, as it came (a replay is checked byte for byte).
pub async fn next_text(c: &mut TestClient) -> String {
    match c.recv().await {
        Received::Text(t) => t,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The offset (`"off"`) of a push frame.
pub fn offset_of(frame: &str) -> String {
    let v: Value = serde_json::from_str(frame).expect("a JSON frame");
    v["off"]
        .as_str()
        .unwrap_or_else(|| panic!("a push without an offset: {frame}"))
        .to_owned()
}

/// Connects to `path` as a fresh session (checking its `$session` frame says so) and joins
/// `room` with the command `room.join`; the client and its session token.
pub async fn fresh_member(ts: &TestServer, path: &str, room: &str) -> (TestClient, String) {
    let mut c = ts.connect(path).await.expect("connect");
    let s = c.expect_session().await;
    assert_eq!(s["resumed"], false, "{s}");
    assert!(s.get("reason").is_none(), "{s}");
    let token = s["token"].as_str().expect("a token").to_owned();
    assert_eq!(token.len(), 32, "128 bits as hex: {token}");
    let reply = c.request("room.join", json!(room)).await;
    assert!(reply.get("error").is_none(), "{reply}");
    (c, token)
}

/// Pushes `tick` `{"n": i}` to `room` for `i` in `from..from + n`.
pub fn push_ticks(server: &Server, room: &str, from: u32, n: u32) {
    for i in from..from + n {
        server
            .room(room)
            .push("tick", &json!({ "n": i }))
            .expect("a push");
    }
}

/// Drops `c` without a close frame and waits (at most 5 s) until `ts` keeps `dropped` dropped
/// sessions in all.
pub async fn drop_and_wait(ts: &TestServer, c: TestClient, dropped: usize) {
    c.drop_abruptly();
    assert!(
        wait_until(Duration::from_secs(5), || ts
            .server()
            .stats()
            .dropped_sessions
            == dropped)
        .await,
        "the session is kept as dropped"
    );
}
