//! The main example as a user runs it: the real `chat` example binary, started with
//! `SWOFT_WS_ADDR=127.0.0.1:0`, answering on `/echo`, `/raw` and `/chat`, with its HTTP routes.
//! (The `/chat` protocol case by case is in `chat_protocol.rs`, in-process.)

use serde_json::json;
use swoft_ws_tests::{QUIET, Received, TestClient, http_request, start_example};

#[tokio::test]
async fn chat_example_echoes_commands_with_their_id_and_raw_frames_byte_for_byte() {
    let example = start_example("chat", &[]);
    let addr = &example.addr;

    let mut echo = TestClient::connect(&format!("ws://{addr}/echo"), &[])
        .await
        .unwrap();
    echo.send_text(r#"{"cmd":"echo.send","data":{"text":"hi","n":[1,2.5,null]},"id":42}"#)
        .await;
    assert_eq!(
        echo.recv_json().await,
        json!({"cmd":"echo.send","data":{"text":"hi","n":[1,2.5,null]},"id":42})
    );

    let mut raw = TestClient::connect(&format!("ws://{addr}/raw"), &[])
        .await
        .unwrap();
    let bytes: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    raw.send_binary(&bytes).await;
    assert_eq!(raw.recv().await, Received::Binary(bytes));
    raw.send_text("héllo, raw").await;
    assert_eq!(raw.recv().await, Received::Text("héllo, raw".to_owned()));
}

#[tokio::test]
async fn chat_example_serves_rooms_whispers_the_page_and_the_http_push_route() {
    let example = start_example("chat", &[]);
    let addr = example.addr.as_str();
    let url = |name: &str| format!("ws://{addr}/chat?name={name}");

    let refused = TestClient::connect(&format!("ws://{addr}/chat"), &[])
        .await
        .unwrap_err();
    assert_eq!(refused.status, Some(400));

    let mut alice = TestClient::connect(&url("alice"), &[]).await.unwrap();
    let mut bob = TestClient::connect(&url("bob"), &[]).await.unwrap();
    alice.request("room.join", json!({"room": "lobby"})).await;
    let reply = bob.request("room.join", json!({"room": "lobby"})).await;
    assert_eq!(
        reply,
        json!({"cmd": "room.join", "data": {"room": "lobby", "members": ["alice", "bob"]}, "id": 1})
    );
    assert_eq!(
        alice.expect_push("room.joined").await,
        json!({"room": "lobby", "name": "bob"})
    );

    let reply = bob
        .request("room.send", json!({"room": "lobby", "text": "hello"}))
        .await;
    assert_eq!(reply["data"], json!({"delivered": 1}));
    assert_eq!(
        alice.expect_push("room.message").await,
        json!({"room": "lobby", "from": "bob", "text": "hello"})
    );

    let reply = alice
        .request("chat.whisper", json!({"to": "bob", "text": "psst"}))
        .await;
    assert_eq!(reply["data"], json!({"delivered": 1}));
    assert_eq!(
        bob.expect_push("chat.whisper").await,
        json!({"from": "alice", "text": "psst"})
    );

    let resp = http_request(addr, "POST", "/rooms/lobby/messages", "from outside").await;
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (200, r#"{"delivered":2}"#)
    );
    let msg = json!({"room": "lobby", "from": "server", "text": "from outside"});
    assert_eq!(alice.expect_push("room.message").await, msg);
    assert_eq!(bob.expect_push("room.message").await, msg);

    let page = http_request(addr, "GET", "/", "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html"), "{}", page.body);

    bob.close(1000, "bye").await;
    assert_eq!(
        alice.expect_push("room.left").await,
        json!({"room": "lobby", "name": "bob"})
    );
    alice.expect_silence(QUIET).await;
}
