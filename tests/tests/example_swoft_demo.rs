//! The `swoft_demo` example as a user runs it (the real binary over TCP): the WebSocket part of
//! Swoft's demo app, frame for frame (issue 14, "The proof"), and our `/room/{id}`.

use std::time::Duration;

use serde_json::json;
use swoft_ws::testing::Control;
use swoft_ws_tests::{Received, TestClient, start_example};

const SILENCE: Duration = Duration::from_millis(300);

fn text(s: impl Into<String>) -> Received {
    Received::Text(s.into())
}

/// Connects and reads the `Opened, welcome!(FD: N)` greeting; returns the client and N.
async fn connect_welcomed(addr: &str, path: &str) -> (TestClient, String) {
    let mut c = TestClient::connect(&format!("ws://{addr}{path}"), &[])
        .await
        .unwrap();
    let Received::Text(greeting) = c.recv().await else {
        panic!("a text greeting on {path}")
    };
    let fd = greeting
        .strip_prefix("Opened, welcome!(FD: ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("a welcome with the fd, got {greeting:?}"))
        .to_owned();
    (c, fd)
}

#[tokio::test]
async fn swoft_demo_echo_welcomes_with_the_fd_and_echoes_with_recv() {
    let example = start_example("swoft_demo", &[]);
    let mut c = TestClient::connect(&format!("ws://{}/echo", example.addr), &[])
        .await
        .unwrap();
    let Received::Text(greeting) = c.recv().await else {
        panic!("a text greeting")
    };
    let fd = greeting
        .strip_prefix("Opened, welcome #")
        .and_then(|s| s.strip_suffix('!'))
        .expect("`Opened, welcome #FD!`");
    assert!(fd.parse::<u32>().is_ok(), "{greeting:?}");
    c.send_text("abc").await;
    assert_eq!(c.recv().await, text("Recv: abc"));
}

#[tokio::test]
async fn swoft_demo_chat_answers_home_commands_as_text_and_json() {
    let example = start_example("swoft_demo", &[]);
    let (mut c, _) = connect_welcomed(&example.addr, "/chat").await;
    let Received::Text(help) = c.recv().await else {
        panic!("a help text")
    };
    assert!(help.contains("home.index"), "{help:?}");

    c.send_text(r#"{"cmd":"home.index","data":"hello"}"#).await;
    assert_eq!(c.recv().await, text("hi, this is home.index"));
    c.send_text(r#"{"cmd":"home.echo","data":"x"}"#).await;
    assert_eq!(c.recv().await, text("(home.echo)Recv: x"));
    c.send_text(r#"{"cmd":"home.ar","data":"x"}"#).await;
    assert_eq!(
        c.recv_json().await,
        json!({"cmd": "home.ar", "data": "(home.ar)Recv: x"})
    );
    c.send_text(r#"{"cmd":"help","data":"x"}"#).await;
    assert_eq!(
        c.recv_json().await,
        json!({"cmd": "help", "data": "(home.ar)Recv: x"})
    );
}

#[tokio::test]
async fn swoft_demo_test_module_speaks_token_text_with_binary_pong_and_default_command() {
    let example = start_example("swoft_demo", &[]);
    let (mut c, _) = connect_welcomed(&example.addr, "/test").await;
    c.send_text("test.index").await;
    assert_eq!(c.recv().await, text("hi, this is test.index"));
    c.send_text("echo:abc").await;
    assert_eq!(c.recv().await, text("(echo)Recv: abc"));
    c.send_text("bin:xyz").await;
    assert_eq!(c.recv().await, Received::Binary(b"Binary: xyz".to_vec()));
    c.send_text("ping").await;
    assert_eq!(c.recv_control().await, Control::Pong(b"pong!".to_vec()));
    c.send_text("test.ar:abc").await;
    assert_eq!(c.recv().await, text("(home.ar)Recv: abc"));
    c.send_text("test.msg:hello").await;
    let Received::Text(msg) = c.recv().await else {
        panic!("a text")
    };
    assert!(
        msg.starts_with("message data: ") && msg.contains("hello"),
        "{msg:?}"
    );
}

#[tokio::test]
async fn swoft_demo_hi_reaches_the_named_fd_only_and_close_closes_it() {
    let example = start_example("swoft_demo", &[]);
    let (mut one, fd1) = connect_welcomed(&example.addr, "/test").await;
    let (mut two, fd2) = connect_welcomed(&example.addr, "/test").await;

    one.send_text(&format!("hi:{fd2}")).await;
    assert_eq!(two.recv().await, text(format!("Hi #{fd2}, I am #{fd1}")));
    one.expect_silence(SILENCE).await;

    one.send_text("hi:0").await;
    assert_eq!(one.recv().await, text("data must be an integer"));

    one.send_text(&format!("close:{fd2}")).await;
    assert_eq!(one.recv().await, text(format!("hi, will close conn {fd2}")));
    assert_eq!(two.expect_close().await.0, 1000);
}

#[tokio::test]
async fn swoft_demo_room_sends_its_id_and_refuses_a_non_digit_id() {
    let example = start_example("swoft_demo", &[]);
    let mut c = TestClient::connect(&format!("ws://{}/room/42", example.addr), &[])
        .await
        .unwrap();
    assert_eq!(c.recv().await, text("room 42"));
    let refused = TestClient::connect(&format!("ws://{}/room/abc", example.addr), &[])
        .await
        .unwrap_err();
    assert_eq!(refused.status, Some(404));
}
