//! The main example as a user runs it: the real `chat` example binary, started with
//! `SWOFT_WS_ADDR=127.0.0.1:0`, answering on `/echo`, `/raw` and `/chat`, with its HTTP routes.
//! (The `/chat` protocol case by case is in `chat_protocol.rs`, in-process.) With
//! `SWOFT_WS_TLS_CERT`/`SWOFT_WS_TLS_KEY` it serves wss, reloads on SIGHUP, and refuses to
//! start on a bad certificate path.

use std::time::{Duration, Instant};

use serde_json::json;
use swoft_ws_tests::tls::{TempDir, TestCa};
use swoft_ws_tests::{QUIET, Received, TestClient, build_example, http_request, start_example};

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

#[tokio::test]
async fn chat_example_serves_wss_reloads_its_certificate_on_sighup_and_closes_1001_on_sigterm() {
    let ca = TestCa::new();
    let dir = TempDir::new("example-tls");
    let (first, second) = (ca.server_cert("first"), ca.server_cert("second"));
    let (cert, key) = first.write_to(dir.path());
    let (cert, key) = (cert.to_string_lossy(), key.to_string_lossy());
    let mut example = start_example(
        "chat",
        &[("SWOFT_WS_TLS_CERT", &cert), ("SWOFT_WS_TLS_KEY", &key)],
    );
    assert_eq!(example.scheme, "wss", "prints `listening on wss://ADDR`");
    let url = format!("wss://{}/echo", example.addr);
    let mut old = TestClient::connect_tls(&url, &[], ca.client_config())
        .await
        .unwrap();
    assert_eq!(old.peer_certificates().first(), Some(&first.der));
    let cmd = r#"{"cmd":"echo.send","data":"over wss","id":1}"#;
    old.send_text(cmd).await;
    assert_eq!(old.recv().await, Received::Text(cmd.to_owned()));
    // Plain ws on the TLS port gets no WebSocket.
    assert!(
        TestClient::connect(&format!("ws://{}/echo", example.addr), &[])
            .await
            .is_err()
    );

    second.write_to(dir.path());
    let pid = example.pid().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status();
    assert!(hup.expect("run kill").success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let new = TestClient::connect_tls(&url, &[], ca.client_config())
            .await
            .unwrap();
        if new.peer_certificates().first() == Some(&second.der) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new certificate 10 s after SIGHUP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    old.send_text(cmd).await;
    assert_eq!(old.recv().await, Received::Text(cmd.to_owned()));

    let exited = tokio::task::spawn_blocking(move || example.terminate(Duration::from_secs(10)));
    assert_eq!(old.expect_close().await.0, 1001);
    drop(old);
    let status = exited
        .await
        .unwrap()
        .expect("the example exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn chat_example_with_a_bad_certificate_path_says_which_and_exits_non_zero() {
    let bin = build_example("chat");
    let missing = std::env::temp_dir().join("swoft-ws-no-such-dir/cert.pem");
    let mut child = std::process::Command::new(bin)
        .env("SWOFT_WS_ADDR", "127.0.0.1:0")
        .env("SWOFT_WS_TLS_CERT", &missing)
        .env("SWOFT_WS_TLS_KEY", &missing)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the example");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit within 30 s on a bad certificate path");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("its output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{:?}", out.status);
    assert!(
        stderr.contains(&*missing.to_string_lossy()) && stderr.contains("No such file"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "it never listened"
    );
}
