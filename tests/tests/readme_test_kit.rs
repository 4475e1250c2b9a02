//! The test-kit example of the README, run as a test (the README's copy is compiled as a
//! doctest of this crate; keep the two the same).

use serde_json::json;
use swoft_ws::testing::TestServer;
use swoft_ws_examples::chat; // the chat example's modules (layout A), as a library

#[tokio::test]
async fn joining_a_room_lists_the_members() {
    let app = chat::builder().build().unwrap(); // its modules and state
    let server = TestServer::start(app).await; // 127.0.0.1, free port
    let mut alice = server.connect("/chat?name=alice").await.unwrap();
    let mut bob = server.connect("/chat?name=bob").await.unwrap();
    alice.request("room.join", json!({"room": "a"})).await;
    let reply = bob.request("room.join", json!({"room": "a"})).await; // awaits the reply to its id
    assert_eq!(reply["data"]["members"], json!(["alice", "bob"]));
    assert_eq!(alice.expect_push("room.joined").await["name"], "bob");
    bob.expect_silence(std::time::Duration::from_millis(100))
        .await;
    alice.close(1000, "bye").await;
    bob.close(1000, "bye").await;
    server.wait_idle().await; // sessions, contexts, fds: 0
}
