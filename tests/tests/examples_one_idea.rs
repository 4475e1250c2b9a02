//! The one-idea examples as a user runs them (`cargo run -p swoft-ws-examples --example NAME`):
//! each real binary started on a free loopback port, driven over TCP, as its header says.

use serde_json::json;
use swoft_ws_tests::{RedisServer, TestClient, start_example};

#[tokio::test]
async fn echo_example_answers_echo_send_and_refuses_an_empty_text() {
    let example = start_example("echo", &[]);
    let mut c = TestClient::connect(&format!("ws://{}/echo", example.addr), &[])
        .await
        .unwrap();
    let reply = c.request("echo.send", json!({"text": "hi"})).await;
    assert_eq!(
        reply,
        json!({"cmd": "echo.send", "data": {"text": "hi"}, "id": 1})
    );
    let reply = c.request("echo.send", json!({"text": ""})).await;
    assert_eq!(reply["error"]["code"], "invalid_data");
}

#[tokio::test]
async fn handshake_auth_example_refuses_without_a_known_token_and_keeps_the_user() {
    let example = start_example("handshake_auth", &[]);
    let url = format!("ws://{}/private", example.addr);

    let refused = TestClient::connect(&url, &[]).await.unwrap_err();
    assert_eq!(refused.status, Some(401), "{refused}");
    let refused = TestClient::connect(&format!("{url}?token=nope"), &[])
        .await
        .unwrap_err();
    assert_eq!(refused.status, Some(403), "{refused}");

    let bearer = [("Authorization", "Bearer alice-token")];
    let mut alice = TestClient::connect(&url, &bearer).await.unwrap();
    let reply = alice.request("me.whoami", json!(null)).await;
    assert_eq!(reply["data"], json!({"user": "alice"}));

    let mut bob = TestClient::connect(&format!("{url}?token=bob-token"), &[])
        .await
        .unwrap();
    let reply = bob.request("me.whoami", json!(null)).await;
    assert_eq!(reply["data"], json!({"user": "bob"}));
}

#[tokio::test]
async fn middleware_example_needs_a_token_in_ext_and_hands_it_to_the_handler() {
    let example = start_example("middleware", &[]);
    let mut c = TestClient::connect(&format!("ws://{}/admin", example.addr), &[])
        .await
        .unwrap();
    let reply = c.request("admin.stats", json!(null)).await;
    assert_eq!(
        reply["error"],
        json!({"code": "forbidden", "message": "token required"})
    );
    c.send_text(r#"{"cmd":"admin.stats","ext":{"token":"t1"},"id":7}"#)
        .await;
    let reply = c.recv_json().await;
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["data"], json!({"token": "t1", "connections": 1}));
}

#[tokio::test]
async fn testing_example_serves_what_its_own_tests_check() {
    let example = start_example("testing", &[]);
    let mut c = TestClient::connect(&format!("ws://{}/greet", example.addr), &[])
        .await
        .unwrap();
    c.expect_push("greet.welcome").await;
    let reply = c.request("greet.hello", json!({"name": "ada"})).await;
    assert_eq!(reply["data"], json!({"greeting": "hello, ada"}));
}

#[tokio::test]
async fn several_nodes_example_pushes_a_post_to_the_clients_of_both_nodes() {
    let Some(redis) = RedisServer::start() else {
        return; // skipped loudly (fails under CI=true)
    };
    let url = redis.url();
    let one = start_example(
        "several_nodes",
        &[("SWOFT_WS_REDIS_URL", &url), ("SWOFT_WS_NODE_ID", "one")],
    );
    let two = start_example(
        "several_nodes",
        &[("SWOFT_WS_REDIS_URL", &url), ("SWOFT_WS_NODE_ID", "two")],
    );
    let mut a = TestClient::connect(&format!("ws://{}/news", one.addr), &[])
        .await
        .unwrap();
    let mut b = TestClient::connect(&format!("ws://{}/news", two.addr), &[])
        .await
        .unwrap();
    // Both nodes subscribed to Redis before printing `listening on`: the first post reaches b.
    let reply = a.request("news.post", json!({"text": "hi"})).await;
    assert_eq!(reply["data"], 1, "{reply}"); // this node's one client
    let posted = json!({"text": "hi", "node": "one"});
    assert_eq!(a.expect_push("news.posted").await, posted);
    assert_eq!(b.expect_push("news.posted").await, posted);
    drop(redis);
}
