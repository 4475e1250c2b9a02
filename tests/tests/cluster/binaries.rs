//! The real chat example binary as a cluster node: two of them sharing one Redis, and one that
//! cannot reach Redis.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swoft_ws_tests::{RedisServer, TestClient, example_path, init_tracing, start_example};

use super::ok;

#[tokio::test]
async fn two_chat_example_binaries_sharing_one_redis() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let url = redis.url();
    let n1 = start_example(
        "chat",
        &[("SWOFT_WS_REDIS_URL", &url), ("SWOFT_WS_NODE_ID", "one")],
    );
    let n2 = start_example(
        "chat",
        &[("SWOFT_WS_REDIS_URL", &url), ("SWOFT_WS_NODE_ID", "two")],
    );
    let ws = |addr: &str, name: &str| format!("ws://{addr}/chat?name={name}");
    let mut alice = TestClient::connect(&ws(&n1.addr, "alice"), &[])
        .await
        .unwrap();
    let mut bob = TestClient::connect(&ws(&n2.addr, "bob"), &[])
        .await
        .unwrap();
    let bob_token = bob.expect_session().await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&mut alice, "room.join", json!({"room": "lobby"})).await;
    // The nodes find each other at once (a newcomer's first heartbeat is answered): retry
    // briefly in case bob's join races node two's start.
    let mut members = Value::Null;
    for _ in 0..50 {
        let r = ok(&mut bob, "room.join", json!({"room": "lobby"})).await;
        members = r["members"].clone();
        if members == json!(["alice", "bob"]) {
            break;
        }
        ok(&mut bob, "room.leave", json!({"room": "lobby"})).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(members, json!(["alice", "bob"]));
    assert_eq!(alice.expect_push("room.joined").await["name"], "bob");

    let r = ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "hello bob"}),
    )
    .await;
    assert_eq!(r["delivered"], 1);
    let (message, bob_off) = push_and_offset(&mut bob, "room.message").await;
    assert_eq!(
        message,
        json!({"room": "lobby", "from": "alice", "text": "hello bob"})
    );
    let r = ok(
        &mut bob,
        "chat.whisper",
        json!({"to": "alice", "text": "hi alice"}),
    )
    .await;
    assert_eq!(r["delivered"], 1);
    assert_eq!(
        alice.expect_push("chat.whisper").await,
        json!({"from": "bob", "text": "hi alice"})
    );
    let r = ok(&mut alice, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob"]));
    let r = ok(&mut bob, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob"]));

    // Node two stops gracefully (SIGTERM): bob is closed 1001, and its goodbye makes node one
    // drop it at once — the next membership answer does not wait out the query timeout (1 s).
    let mut n2 = n2;
    assert!(
        n2.terminate(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    assert_eq!(bob.expect_close().await.0, 1001);
    assert_eq!(alice.expect_push("room.left").await["name"], "bob");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let r = ok(&mut alice, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice"]));
    assert!(
        asked.elapsed() < Duration::from_millis(800),
        "node one still waited for node two: {:?}",
        asked.elapsed()
    );

    // Bob was told to reconnect; he resumes on node one and gets what was said meanwhile.
    ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "still there?"}),
    )
    .await;
    let mut bob = TestClient::connect(
        &format!("{}&resume={bob_token}&off={bob_off}", ws(&n1.addr, "bob")),
        &[],
    )
    .await
    .unwrap();
    let s = bob.expect_session().await;
    assert_eq!(s["resumed"], true, "{s}");
    assert_eq!(
        bob.expect_push("room.message").await,
        json!({"room": "lobby", "from": "alice", "text": "still there?"})
    );
    let r = ok(&mut alice, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob"]), "his rooms came back");
    drop(n1);
}

/// The next push `command` on `c`: its data and its offset.
async fn push_and_offset(c: &mut TestClient, command: &str) -> (Value, String) {
    loop {
        let v = c.recv_json().await;
        if v["cmd"] == command && v.get("id").is_none() {
            return (v["data"].clone(), v["off"].as_str().unwrap().to_owned());
        }
    }
}

#[test]
fn the_chat_example_with_an_unreachable_redis_exits_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let mut child = std::process::Command::new(example_path("chat"))
        .env("SWOFT_WS_ADDR", "127.0.0.1:0")
        .env("SWOFT_WS_REDIS_URL", &url)
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the example");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the example did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("error: cannot connect to Redis at {url}")),
        "{stderr}"
    );
    assert!(!stdout.contains("listening"), "{stdout}");
}
