//! The chat example's `/chat` protocol, case by case, against the example's own modules
//! (`swoft_ws_examples::chat`) served in-process on 127.0.0.1, with its HTTP routes.

use std::time::Duration;

use serde_json::{Value, json};
use swoft_ws_examples::chat;
use swoft_ws_tests::{QUIET, TestClient, TestServer, http_request, init_tracing, wait_until};

async fn start() -> TestServer {
    init_tracing();
    let app = chat::builder().build().unwrap();
    let server = app.server().clone();
    TestServer::start_with(app, move |ws| chat::with_http(ws, &server, None)).await
}

async fn connect(server: &TestServer, name: &str) -> TestClient {
    server
        .connect(&format!("/chat?name={name}"))
        .await
        .unwrap_or_else(|e| panic!("{name} should be accepted: {e}"))
}

/// Sends a request and returns its successful reply's `data` (panics on an error reply).
async fn ok(c: &mut TestClient, cmd: &str, data: Value) -> Value {
    let reply = c.request(cmd, data).await;
    assert!(reply.get("error").is_none(), "{cmd} failed: {reply}");
    assert_eq!(reply["cmd"], cmd, "{reply}");
    reply["data"].clone()
}

/// Sends a request and returns its error code (panics on a successful reply).
async fn error_code(c: &mut TestClient, cmd: &str, data: Value) -> String {
    let reply = c.request(cmd, data).await;
    reply["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{cmd} should fail: {reply}"))
        .to_owned()
}

#[tokio::test]
async fn handshake_without_a_valid_name_is_refused_with_400_and_no_upgrade() {
    let server = start().await;
    let too_long = "a".repeat(33);
    for query in [
        "/chat".to_owned(),
        "/chat?name=".to_owned(),
        "/chat?nick=alice".to_owned(),
        format!("/chat?name={too_long}"),
        "/chat?name=bad!".to_owned(),
        "/chat?name=two%20words".to_owned(),
        "/chat?name=%C3%A9".to_owned(),
        "/chat?name=a.b".to_owned(),
    ] {
        let err = server.connect(&query).await.expect_err(&query);
        assert_eq!(err.status, Some(400), "{query}: {err}");
    }
    assert_eq!(server.server().connection_count(), 0);

    // The edges are accepted: 1 and 32 characters, every allowed kind.
    let longest = "Az09_-".repeat(6)[..32].to_owned();
    for name in ["a", longest.as_str(), "under_score-dash"] {
        let c = connect(&server, name).await;
        c.close(1000, "").await;
    }
    server.wait_idle().await;
}

#[tokio::test]
async fn join_replies_with_sorted_members_and_tells_the_others_once() {
    let server = start().await;
    let mut bob = connect(&server, "bob").await;
    let mut alice = connect(&server, "alice").await;

    let reply = bob.request("room.join", json!({"room": "lobby"})).await;
    assert_eq!(
        reply,
        json!({"cmd": "room.join", "data": {"room": "lobby", "members": ["bob"]}, "id": 1})
    );
    let reply = alice.request("room.join", json!({"room": "lobby"})).await;
    assert_eq!(reply["id"], 1);
    assert_eq!(
        reply["data"],
        json!({"room": "lobby", "members": ["alice", "bob"]})
    );
    assert_eq!(
        bob.expect_push("room.joined").await,
        json!({"room": "lobby", "name": "alice"})
    );

    // Joining twice: the same reply, and no second notice.
    let again = ok(&mut alice, "room.join", json!({"room": "lobby"})).await;
    assert_eq!(again, json!({"room": "lobby", "members": ["alice", "bob"]}));
    bob.expect_silence(QUIET).await;
    alice.expect_silence(QUIET).await;
}

#[tokio::test]
async fn join_without_data_fields_is_invalid_data_and_unknown_commands_are_answered() {
    let server = start().await;
    let mut a = connect(&server, "a").await;
    assert_eq!(
        error_code(&mut a, "room.join", json!({})).await,
        "invalid_data"
    );
    assert_eq!(
        error_code(&mut a, "room.join", json!({"room": 7})).await,
        "invalid_data"
    );
    assert_eq!(
        error_code(&mut a, "room.dance", json!({"room": "x"})).await,
        "unknown_command"
    );
    // The connection survives every error.
    ok(&mut a, "room.join", json!({"room": "x"})).await;
}

#[tokio::test]
async fn send_reaches_every_other_member_once_and_reports_how_many() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut carol = connect(&server, "carol").await;
    let mut outsider = connect(&server, "dave").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        ok(c, "room.join", json!({"room": "r"})).await;
    }
    ok(&mut outsider, "room.join", json!({"room": "elsewhere"})).await;

    let reply = alice
        .request("room.send", json!({"room": "r", "text": "hi all"}))
        .await;
    assert_eq!(
        reply,
        json!({"cmd": "room.send", "data": {"delivered": 2}, "id": 2})
    );
    let msg = json!({"room": "r", "from": "alice", "text": "hi all"});
    assert_eq!(bob.expect_push("room.message").await, msg);
    assert_eq!(carol.expect_push("room.message").await, msg);

    // Nothing for the sender, nothing twice, nothing for other rooms.
    let _ = bob.expect_push("room.joined").await; // carol's arrival
    alice.expect_push("room.joined").await;
    alice.expect_push("room.joined").await;
    for c in [&mut alice, &mut bob, &mut carol, &mut outsider] {
        c.expect_silence(QUIET).await;
    }
}

#[tokio::test]
async fn send_to_a_room_one_is_not_in_is_forbidden_and_reaches_nobody() {
    let server = start().await;
    let mut member = connect(&server, "member").await;
    let mut stranger = connect(&server, "stranger").await;
    ok(&mut member, "room.join", json!({"room": "club"})).await;

    let code = error_code(
        &mut stranger,
        "room.send",
        json!({"room": "club", "text": "let me in"}),
    )
    .await;
    assert_eq!(code, "forbidden");
    // A room nobody is in: forbidden too.
    let code = error_code(
        &mut stranger,
        "room.send",
        json!({"room": "void", "text": "anyone?"}),
    )
    .await;
    assert_eq!(code, "forbidden");
    member.expect_silence(QUIET).await;
}

#[tokio::test]
async fn leave_replies_tells_the_others_and_stops_the_messages() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    ok(&mut alice, "room.join", json!({"room": "r"})).await;
    ok(&mut bob, "room.join", json!({"room": "r"})).await;
    alice.expect_push("room.joined").await;

    let reply = bob.request("room.leave", json!({"room": "r"})).await;
    assert_eq!(
        reply,
        json!({"cmd": "room.leave", "data": {"room": "r"}, "id": 2})
    );
    assert_eq!(
        alice.expect_push("room.left").await,
        json!({"room": "r", "name": "bob"})
    );
    assert_eq!(
        ok(&mut alice, "room.members", json!({"room": "r"})).await,
        json!({"room": "r", "members": ["alice"]})
    );
    let sent = ok(
        &mut alice,
        "room.send",
        json!({"room": "r", "text": "gone?"}),
    )
    .await;
    assert_eq!(sent, json!({"delivered": 0}));
    bob.expect_silence(QUIET).await;

    // Leaving a room one is not in: the same reply, nobody told.
    ok(&mut bob, "room.leave", json!({"room": "r"})).await;
    alice.expect_silence(QUIET).await;

    // The last member leaving removes the room.
    ok(&mut alice, "room.leave", json!({"room": "r"})).await;
    assert_eq!(server.server().rooms().count(), 0);
}

#[tokio::test]
async fn members_are_sorted_and_empty_for_a_room_nobody_is_in() {
    let server = start().await;
    let mut zed = connect(&server, "zed").await;
    let mut amy = connect(&server, "amy").await;
    let mut amy2 = connect(&server, "amy").await;
    let mut asker = connect(&server, "asker").await;
    for c in [&mut zed, &mut amy, &mut amy2] {
        ok(c, "room.join", json!({"room": "m"})).await;
    }
    assert_eq!(
        ok(&mut asker, "room.members", json!({"room": "m"})).await,
        json!({"room": "m", "members": ["amy", "amy", "zed"]})
    );
    assert_eq!(
        ok(&mut asker, "room.members", json!({"room": "nobody-here"})).await,
        json!({"room": "nobody-here", "members": []})
    );
}

#[tokio::test]
async fn whisper_reaches_every_connection_with_that_name_and_no_one_else() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let mut bob1 = connect(&server, "bob").await;
    let mut bob2 = connect(&server, "bob").await;
    let mut carol = connect(&server, "carol").await;

    let reply = alice
        .request("chat.whisper", json!({"to": "bob", "text": "psst"}))
        .await;
    assert_eq!(
        reply,
        json!({"cmd": "chat.whisper", "data": {"delivered": 2}, "id": 1})
    );
    let w = json!({"from": "alice", "text": "psst"});
    assert_eq!(bob1.expect_push("chat.whisper").await, w);
    assert_eq!(bob2.expect_push("chat.whisper").await, w);
    carol.expect_silence(QUIET).await;
    alice.expect_silence(QUIET).await;

    // One bob gone: the other still gets whispers.
    bob1.close(1000, "").await;
    assert!(
        wait_until(QUIET * 10, || server.server().connection_count() == 3).await,
        "bob1's session should end"
    );
    let d = ok(
        &mut carol,
        "chat.whisper",
        json!({"to": "bob", "text": "x"}),
    )
    .await;
    assert_eq!(d, json!({"delivered": 1}));
    assert_eq!(
        bob2.expect_push("chat.whisper").await,
        json!({"from": "carol", "text": "x"})
    );
}

#[tokio::test]
async fn whisper_to_a_name_nobody_has_is_not_found() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let code = error_code(
        &mut alice,
        "chat.whisper",
        json!({"to": "ghost", "text": "boo"}),
    )
    .await;
    assert_eq!(code, "not_found");

    // A name that left is gone from the directory too.
    let bob = connect(&server, "bob").await;
    bob.close(1000, "").await;
    assert!(wait_until(QUIET * 10, || server.server().connection_count() == 1).await);
    let code = error_code(
        &mut alice,
        "chat.whisper",
        json!({"to": "bob", "text": "hi"}),
    )
    .await;
    assert_eq!(code, "not_found");
}

#[tokio::test]
async fn room_names_of_0_or_65_characters_and_texts_over_4096_are_invalid_data() {
    let server = start().await;
    let mut a = connect(&server, "a").await;
    let mut b = connect(&server, "b").await;
    let r65 = "r".repeat(65);
    let t4097 = "t".repeat(4097);
    for room in ["", r65.as_str()] {
        for cmd in ["room.join", "room.leave", "room.members"] {
            assert_eq!(
                error_code(&mut a, cmd, json!({"room": room})).await,
                "invalid_data",
                "{cmd} {} chars",
                room.len()
            );
        }
        assert_eq!(
            error_code(&mut a, "room.send", json!({"room": room, "text": "x"})).await,
            "invalid_data"
        );
    }
    ok(&mut a, "room.join", json!({"room": "ok"})).await;
    assert_eq!(
        error_code(&mut a, "room.send", json!({"room": "ok", "text": t4097})).await,
        "invalid_data"
    );
    assert_eq!(
        error_code(&mut a, "chat.whisper", json!({"to": "b", "text": t4097})).await,
        "invalid_data"
    );
    assert_eq!(server.server().rooms().count(), 1, "no room was made");

    // The limits themselves are fine, counted in characters, not bytes.
    let r64 = "é".repeat(64);
    ok(&mut a, "room.join", json!({"room": r64})).await;
    ok(&mut b, "room.join", json!({"room": r64})).await;
    a.expect_push("room.joined").await;
    let t4096 = "ü".repeat(4096);
    let d = ok(&mut a, "room.send", json!({"room": r64, "text": t4096})).await;
    assert_eq!(d, json!({"delivered": 1}));
    assert_eq!(b.expect_push("room.message").await["text"], t4096);
    let d = ok(&mut a, "chat.whisper", json!({"to": "b", "text": t4096})).await;
    assert_eq!(d, json!({"delivered": 1}));
}

/// Reads `c`'s frames up to the next server request `poll.ask` (skipping pushes) and returns
/// its `data` and `ack`.
async fn expect_poll_ask(c: &mut TestClient) -> (Value, Value) {
    loop {
        let v = c.recv_json().await;
        if v["cmd"] == "poll.ask" {
            assert!(v.get("id").is_none() && v["ack"].is_u64(), "{v}");
            return (v["data"].clone(), v["ack"].clone());
        }
        assert!(v.get("ack").is_none(), "another request: {v}");
    }
}

#[tokio::test]
async fn poll_asks_every_member_and_tallies_answers_refusals_and_silence() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut carol = connect(&server, "carol").await;
    let mut dan = connect(&server, "dan").await;
    let mut erin = connect(&server, "erin").await;
    let mut outsider = connect(&server, "zed").await;
    for c in [&mut alice, &mut bob, &mut carol, &mut dan, &mut erin] {
        ok(c, "room.join", json!({"room": "lobby"})).await;
    }
    let poll = json!({
        "room": "lobby",
        "question": "Lunch?",
        "options": ["pizza", "sushi"],
        "timeout_ms": 500,
    });
    // Only members may ask; a bad poll is invalid_data, and asks nobody.
    assert_eq!(
        error_code(&mut outsider, "room.poll", poll.clone()).await,
        "forbidden"
    );
    for bad in [
        json!({"room": "lobby", "question": "", "options": ["a", "b"]}),
        json!({"room": "lobby", "question": "q", "options": ["only one"]}),
        json!({"room": "lobby", "question": "q", "options": ["a", ""]}),
        json!({"room": "lobby", "question": "q", "options": ["a", "b"], "timeout_ms": 0}),
        json!({"room": "lobby", "question": "q", "options": ["a", "b"], "timeout_ms": 60_001}),
    ] {
        assert_eq!(
            error_code(&mut alice, "room.poll", bad.clone()).await,
            "invalid_data",
            "{bad}"
        );
    }

    // Alice asks; every member, alice too, is asked `poll.ask` while her request waits.
    alice
        .send_json(&json!({"cmd": "room.poll", "data": poll, "id": 99}))
        .await;
    let mut asked = Vec::new();
    for c in [&mut alice, &mut bob, &mut carol, &mut dan, &mut erin] {
        asked.push(expect_poll_ask(c).await);
    }
    for (data, _) in &asked {
        assert_eq!(
            data,
            &json!({"room": "lobby", "from": "alice", "question": "Lunch?", "options": ["pizza", "sushi"]})
        );
    }
    let ack = |i: usize| asked[i].1.clone();
    // Alice and bob vote, carol refuses, dan answers with no valid choice, erin stays silent.
    alice
        .send_json(&json!({"cmd": "$ack", "ack": ack(0), "data": {"choice": 1}}))
        .await;
    bob.send_json(&json!({"cmd": "$ack", "ack": ack(1), "data": {"choice": 1}}))
        .await;
    carol
        .send_json(
            &json!({"cmd": "$ack", "ack": ack(2), "error": {"code": "busy", "message": "later"}}),
        )
        .await;
    dan.send_json(&json!({"cmd": "$ack", "ack": ack(3), "data": {"choice": 2}}))
        .await;
    let reply = alice.reply_to(&json!(99)).await;
    assert_eq!(
        reply,
        json!({"cmd": "room.poll", "id": 99, "data": {
            "room": "lobby",
            "question": "Lunch?",
            "tallies": [{"option": "pizza", "votes": 0}, {"option": "sushi", "votes": 2}],
            "refused": 2,
            "unanswered": 1,
        }})
    );
    // Erin's late answer is ignored, and nothing waits any more.
    erin.send_json(&json!({"cmd": "$ack", "ack": ack(4), "data": {"choice": 0}}))
        .await;
    assert!(
        wait_until(Duration::from_secs(5), || {
            server.server().stats().acks_ignored == 1
        })
        .await,
        "the late answer is counted as ignored"
    );
    assert_eq!(server.server().stats().pending_acks, 0);
    outsider.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_closed_connection_leaves_its_rooms_and_their_members_are_told() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut carol = connect(&server, "carol").await;
    for room in ["a", "b"] {
        ok(&mut alice, "room.join", json!({"room": room})).await;
        ok(&mut bob, "room.join", json!({"room": room})).await;
        alice.expect_push("room.joined").await;
    }
    ok(&mut carol, "room.join", json!({"room": "b"})).await;
    ok(&mut carol, "room.join", json!({"room": "c"})).await;
    alice.expect_push("room.joined").await;
    bob.expect_push("room.joined").await;

    // A clean close.
    bob.close(1000, "bye").await;
    let mut left = vec![
        alice.expect_push("room.left").await,
        alice.expect_push("room.left").await,
    ];
    left.sort_by_key(|v| v["room"].to_string());
    assert_eq!(
        left,
        [
            json!({"room": "a", "name": "bob"}),
            json!({"room": "b", "name": "bob"})
        ]
    );
    assert_eq!(
        carol.expect_push("room.left").await,
        json!({"room": "b", "name": "bob"})
    );

    // An abrupt one.
    carol.drop_abruptly();
    assert_eq!(
        alice.expect_push("room.left").await,
        json!({"room": "b", "name": "carol"})
    );
    alice.expect_silence(QUIET).await;
    assert!(
        wait_until(QUIET * 10, || server.server().rooms().count() == 2).await,
        "rooms a and b remain (alice), c is gone: {:?}",
        server.server().rooms().names()
    );
    alice.close(1000, "").await;
    server.wait_idle().await;
    assert_eq!(server.server().rooms().count(), 0);
}

#[tokio::test]
async fn chat_rooms_are_namespaced_apart_from_other_modules_rooms() {
    let server = start().await;
    let mut a = connect(&server, "a").await;
    ok(&mut a, "room.join", json!({"room": "lobby"})).await;
    let names: Vec<String> = server
        .server()
        .rooms()
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["chat:lobby"]);
}

#[tokio::test]
async fn http_route_pushes_a_server_message_into_a_room() {
    let server = start().await;
    let addr = server.addr().to_string();
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let mut other = connect(&server, "other").await;
    ok(&mut alice, "room.join", json!({"room": "news"})).await;
    ok(&mut bob, "room.join", json!({"room": "news"})).await;
    alice.expect_push("room.joined").await;

    let resp = http_request(&addr, "POST", "/rooms/news/messages", "extra, extra").await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&resp.body).unwrap(),
        json!({"delivered": 2})
    );
    let msg = json!({"room": "news", "from": "server", "text": "extra, extra"});
    assert_eq!(alice.expect_push("room.message").await, msg);
    assert_eq!(bob.expect_push("room.message").await, msg);
    other.expect_silence(QUIET).await;

    // Percent-encoded room names are decoded; an empty room reports 0.
    let resp = http_request(&addr, "POST", "/rooms/no%20one/messages", "hello?").await;
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (200, r#"{"delivered":0}"#)
    );

    // Bad input: 400, nothing pushed.
    let long_room = format!("/rooms/{}/messages", "r".repeat(65));
    assert_eq!(
        http_request(&addr, "POST", &long_room, "x").await.status,
        400
    );
    let long_text = "t".repeat(4097);
    let resp = http_request(&addr, "POST", "/rooms/news/messages", &long_text).await;
    assert_eq!(resp.status, 400);
    assert_eq!(
        http_request(&addr, "GET", "/rooms/news/messages", "")
            .await
            .status,
        405
    );
    alice.expect_silence(QUIET).await;
}

#[tokio::test]
async fn the_page_is_served_at_the_root() {
    let server = start().await;
    let resp = http_request(&server.addr().to_string(), "GET", "/", "").await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{resp:?}"
    );
    assert_eq!(resp.body, chat::INDEX_HTML);
}

#[tokio::test]
async fn presence_follows_the_session_a_drop_leaves_a_resume_rejoins_a_take_over_is_silent() {
    let server = start().await;
    let mut alice = connect(&server, "alice").await;
    let mut bob = connect(&server, "bob").await;
    let token = bob.expect_session().await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&mut alice, "room.join", json!({"room": "lobby"})).await;
    ok(&mut bob, "room.join", json!({"room": "lobby"})).await;
    assert_eq!(alice.expect_push("room.joined").await["name"], "bob");

    bob.drop_abruptly();
    assert_eq!(alice.expect_push("room.left").await["name"], "bob");
    let mut bob = server
        .connect(&format!("/chat?name=bob&resume={token}"))
        .await
        .unwrap();
    let s = bob.expect_session().await;
    assert_eq!(s["resumed"], true, "{s}");
    assert_eq!(
        alice.expect_push("room.joined").await,
        json!({"room": "lobby", "name": "bob"}),
        "back in the room"
    );
    bob.expect_silence(QUIET).await; // not its own notices, not in the replay either

    // The old connection still looks open: the new one takes over, nobody left.
    let t2 = s["token"].as_str().unwrap();
    let mut again = server
        .connect(&format!("/chat?name=bob&resume={t2}"))
        .await
        .unwrap();
    assert_eq!(again.expect_session().await["resumed"], true);
    assert_eq!(bob.expect_close().await.0, 4000);
    alice.expect_silence(QUIET).await;
    let members = ok(&mut alice, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(members["members"], json!(["alice", "bob"]));
}
