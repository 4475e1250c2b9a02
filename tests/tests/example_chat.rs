//! The main example as a user runs it: the real `chat` example binary, started with
//! `SWOFT_WS_ADDR=127.0.0.1:0`, answering on `/echo` and `/raw`.

use serde_json::json;
use swoft_ws_tests::{Received, TestClient, start_example};

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
