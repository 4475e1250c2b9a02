//! The main example as a user runs it: the real `chat` example binary, started with
//! `SWOFT_WS_ADDR=127.0.0.1:0`, answering on `/echo` and `/raw`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use swoft_ws_tests::{Received, TestClient};

/// Kills the example when the test ends, however it ends.
struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example_binary() -> PathBuf {
    // target/debug/deps/example_chat-HASH → target/debug/examples/chat
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX));
    // Up to date after `cargo test --workspace`; built (or rebuilt) here otherwise.
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "swoft-ws-examples", "--example", "chat"])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the chat example failed");
    assert!(bin.exists(), "no example binary at {}", bin.display());
    bin
}

/// Starts the example on a free port and returns it with the address it printed.
fn start_example() -> (Example, String) {
    let mut child = Command::new(example_binary())
        .env("SWOFT_WS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the chat example");
    let stdout = child.stdout.take().expect("stdout");
    let example = Example(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the example prints `listening on ws://ADDR` within 30 s");
    let addr = line
        .strip_prefix("listening on ws://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    (example, addr)
}

#[tokio::test]
async fn chat_example_echoes_commands_with_their_id_and_raw_frames_byte_for_byte() {
    let (_example, addr) = start_example();

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
