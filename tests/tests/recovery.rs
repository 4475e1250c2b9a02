//! Resumable sessions on one node (issue 16, part 1): the `$session` frame, the pushes'
//! `off`, a resume with `?resume=T&off=O` that replays exactly what was missed (byte for byte,
//! in order, once) with rooms and label restored, and every way a resume is refused. Every
//! receive has a timeout (the test kit's, 5 s).

use std::time::Duration;

use serde_json::{Value, json};
use swoft_ws::prelude::*;
use swoft_ws::{App, Server};
use swoft_ws_tests::resume::{drop_and_wait, fresh_member, next_text};
use swoft_ws_tests::{QUIET, TestClient, TestServer, init_tracing, wait_until};

#[ws_module(path = "/r", controllers = [RoomCtl], recovery)]
pub struct Resumable;

#[ws_module]
impl Resumable {
    /// Refuses a resume that asks to be refused (`&deny`): as a hook whose credentials no
    /// longer pass would.
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        if req.resume_token().is_some() && req.query_param("deny").is_some() {
            return Err(Reject::forbidden("not any more"));
        }
        Ok(Accept::new())
    }

    /// Labels the connection `?name=`, and greets a fresh one (a push, with its offset).
    #[on_open]
    fn open(conn: &Connection) {
        if let Some(n) = conn.handshake().query_param("name") {
            conn.set_label(&n);
        }
        if conn.handshake().resume_token().is_none() {
            let _ = conn.push("hello", &json!({"fd": conn.fd()}));
        }
    }
}

/// What the hooks of `/life` saw, in order: `open Fresh`, `close Kept`, ...
static LIFE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Records how each session began and ended, as presence notices would read it.
#[ws_module(path = "/life", recovery)]
pub struct Lifecycle;

#[ws_module]
impl Lifecycle {
    #[on_open]
    fn open(conn: &Connection) {
        LIFE.lock()
            .unwrap()
            .push(format!("open {:?}", conn.session_start()));
    }

    #[on_close]
    fn close(_conn: &Connection, info: &CloseInfo) {
        LIFE.lock()
            .unwrap()
            .push(format!("close {:?}", info.session));
    }
}

#[ws_module(path = "/small", controllers = [RoomCtl], recovery(max_messages = 10))]
pub struct SmallHistory;

#[ws_module(path = "/short", controllers = [RoomCtl], recovery(window_secs = 1))]
pub struct ShortWindow;

#[ws_module(path = "/plain", controllers = [RoomCtl])]
pub struct Plain;

#[derive(Default)]
pub struct RoomCtl;

#[ws_controller(prefix = "room")]
impl RoomCtl {
    #[message_mapping("join")]
    fn join(&self, conn: &Connection, Data(room): Data<String>) -> Result<bool, WsError> {
        Ok(conn.join(&room)?)
    }

    #[message_mapping("leave")]
    fn leave(&self, conn: &Connection, Data(room): Data<String>) -> bool {
        conn.leave(&room)
    }

    /// Says `text` to the room `room`, the sender left out (as the chat example's room.send).
    #[message_mapping("say")]
    fn say(&self, conn: &Connection, Data(v): Data<Value>) -> usize {
        let room = v["room"].as_str().unwrap_or_default();
        let d = conn
            .server()
            .room(room)
            .except(conn.fd())
            .push("said", &v["text"])
            .unwrap();
        d.delivered
    }
}

async fn start() -> TestServer {
    init_tracing();
    let app = App::builder()
        .module::<Resumable>()
        .module::<SmallHistory>()
        .module::<ShortWindow>()
        .module::<Plain>()
        .module::<Lifecycle>()
        .build()
        .unwrap();
    TestServer::start(app).await
}

/// The `$session` frame's data (the test kit checks that it came first).
async fn session(c: &mut TestClient) -> Value {
    c.expect_session().await
}

/// Connects to `path` (a fresh session), skips the greeting, joins `room`; the token and the
/// offset of the last push seen.
async fn member(ts: &TestServer, path: &str, room: &str) -> (TestClient, String, String) {
    let (mut c, token) = fresh_member(ts, path, room).await;
    let mut last = String::new();
    if path.starts_with("/r") {
        let hello: Value = serde_json::from_str(&next_text(&mut c).await).unwrap();
        assert_eq!(hello["cmd"], "hello");
        last = hello["off"].as_str().unwrap().to_owned();
    }
    (c, token, last)
}

fn push_n(server: &Server, room: &str, from: u32, n: u32) {
    for i in from..from + n {
        let d = server.room(room).push("tick", &json!({"n": i})).unwrap();
        assert!(d.delivered <= 2);
    }
}

#[tokio::test]
async fn fifty_missed_pushes_are_replayed_byte_for_byte_in_order_once_then_live_ones() {
    let ts = start().await;
    let (mut a, token, _) = member(&ts, "/r?name=ann", "lobby").await;
    let (mut watcher, _, _) = member(&ts, "/r", "lobby").await;
    push_n(ts.server(), "lobby", 0, 3);
    let mut last = String::new();
    for _ in 0..3 {
        let t = next_text(&mut a).await;
        assert_eq!(
            t,
            next_text(&mut watcher).await,
            "one frame for every receiver"
        );
        last = serde_json::from_str::<Value>(&t).unwrap()["off"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    drop_and_wait(&ts, a, 1).await;
    push_n(ts.server(), "lobby", 3, 50);
    let mut missed = Vec::new();
    for _ in 0..50 {
        missed.push(next_text(&mut watcher).await);
    }
    let mut b = ts
        .connect(&format!("/r?name=ann&resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut b).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(50)),
        "{s}"
    );
    assert_ne!(s["token"], json!(token), "a new token");
    for want in &missed {
        assert_eq!(&next_text(&mut b).await, want);
    }
    // Its room and label came back before the replay: live pushes reach it, once.
    let ann = ts.server().rooms().find_label("ann").await;
    assert_eq!(ann.len(), 1, "{ann:?}");
    let conn = ts.server().connection(ann[0].fd).unwrap();
    assert_eq!(conn.rooms(), [std::sync::Arc::from("lobby")]);
    push_n(ts.server(), "lobby", 53, 1);
    let live: Value = serde_json::from_str(&next_text(&mut b).await).unwrap();
    assert_eq!(live["data"], json!({"n": 53}));
    b.expect_silence(QUIET).await;
    assert_eq!(ts.server().stats().dropped_sessions, 0);
}

#[tokio::test]
async fn a_resume_while_the_old_connection_looks_open_closes_it_with_4000() {
    let ts = start().await;
    let (mut old, token, last) = member(&ts, "/r", "room").await;
    let mut new = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut new).await;
    assert_eq!((&s["resumed"], &s["replayed"]), (&json!(true), &json!(0)));
    let (code, reason) = old.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (4000, "session resumed by a new connection")
    );
    push_n(ts.server(), "room", 0, 1);
    let v: Value = serde_json::from_str(&next_text(&mut new).await).unwrap();
    assert_eq!(v["data"], json!({"n": 0}));
}

#[tokio::test]
async fn a_resume_after_history_dropped_what_it_missed_is_evicted_and_a_fresh_session() {
    let ts = start().await;
    let (c, token, _) = member(&ts, "/small", "x").await;
    drop_and_wait(&ts, c, 1).await;
    push_n(ts.server(), "x", 0, 50);
    let mut b = ts.connect(&format!("/small?resume={token}")).await.unwrap();
    let s = session(&mut b).await;
    assert_eq!(
        (&s["resumed"], &s["reason"]),
        (&json!(false), &json!("evicted"))
    );
    // A fresh session: no rooms, nothing replayed.
    b.expect_silence(QUIET).await;
    push_n(ts.server(), "x", 50, 1);
    b.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_resume_after_the_window_is_expired() {
    let ts = start().await;
    let (c, token, _) = member(&ts, "/short", "x").await;
    drop_and_wait(&ts, c, 1).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Asked twice: still `expired` (as across nodes, where the store keeps the marker).
    for _ in 0..2 {
        let mut b = ts.connect(&format!("/short?resume={token}")).await.unwrap();
        let s = session(&mut b).await;
        assert_eq!(
            (&s["resumed"], &s["reason"]),
            (&json!(false), &json!("expired"))
        );
    }
}

#[tokio::test]
async fn unknown_and_malformed_tokens_and_offsets_are_unknown_and_counted() {
    let ts = start().await;
    let (c, token, _) = member(&ts, "/r", "x").await;
    drop_and_wait(&ts, c, 1).await;
    let wrong = "0123456789abcdef0123456789abcdef";
    for query in [
        format!("resume={wrong}"),
        "resume=short".to_owned(),
        format!("resume={}zz", &token[..30]),
        "resume=%00%01".to_owned(),
        format!("resume={token}&off=-1"),
        format!("resume={token}&off=not-a-number"),
        format!("resume={token}&off=99999999999"),
    ] {
        let mut b = ts.connect(&format!("/r?{query}")).await.unwrap();
        let s = session(&mut b).await;
        assert_eq!(
            (&s["resumed"], &s["reason"]),
            (&json!(false), &json!("unknown")),
            "{query}"
        );
    }
    // A token of another module.
    let (c, small_token, _) = member(&ts, "/small", "y").await;
    c.drop_abruptly();
    let mut b = ts
        .connect(&format!("/r?resume={small_token}"))
        .await
        .unwrap();
    assert_eq!(session(&mut b).await["reason"], "unknown");
}

#[tokio::test]
async fn a_resume_the_handshake_hook_refuses_gets_the_http_refusal() {
    let ts = start().await;
    let (c, token, last) = member(&ts, "/r", "x").await;
    drop_and_wait(&ts, c, 1).await;
    let refused = ts
        .connect(&format!("/r?resume={token}&off={last}&deny"))
        .await
        .unwrap_err();
    assert_eq!(refused.status, Some(403));
    // The session is as it was: a later resume the hook accepts gets it.
    let mut b = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    assert_eq!(session(&mut b).await["resumed"], true);
}

#[tokio::test]
async fn a_client_that_closes_with_1000_ends_its_session() {
    let ts = start().await;
    let (c, token, _) = member(&ts, "/r", "x").await;
    c.close(1000, "bye").await;
    ts.wait_idle().await;
    assert_eq!(ts.server().stats().dropped_sessions, 0);
    let mut b = ts.connect(&format!("/r?resume={token}")).await.unwrap();
    assert_eq!(session(&mut b).await["reason"], "unknown");
}

#[tokio::test]
async fn a_module_without_recovery_sends_no_session_and_no_offsets() {
    let ts = start().await;
    let mut c = ts.connect("/plain").await.unwrap();
    c.request("room.join", json!("p")).await;
    push_n(ts.server(), "p", 0, 1);
    assert_eq!(
        next_text(&mut c).await,
        r#"{"cmd":"tick","data":{"n":0}}"#,
        "the wire is unchanged"
    );
}

#[ws_module(path = "/rawr", parser = raw, recovery)]
pub struct RawRecovery;

#[ws_module]
impl RawRecovery {
    #[on_message]
    fn message(&self) {}
}

#[test]
fn recovery_needs_the_json_parser() {
    let err = App::builder().module::<RawRecovery>().build().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("has `recovery`, which needs the JSON parser, but its parser is `raw`"),
        "{text}"
    );
}

/// Waits until the hooks of `/life` have seen `want` (in this order, after what came before).
async fn life_is(want: &[&str]) {
    let ok = wait_until(Duration::from_secs(5), || {
        let life = LIFE.lock().unwrap();
        life.len() == want.len() && life.iter().zip(want).all(|(a, b)| a == b)
    })
    .await;
    assert!(ok, "hooks saw {:?}, want {want:?}", LIFE.lock().unwrap());
}

#[tokio::test]
async fn hooks_tell_a_fresh_session_a_resume_a_take_over_and_how_each_ended() {
    let ts = start().await;
    let mut c = ts.connect("/life").await.unwrap();
    let token = session(&mut c).await["token"].as_str().unwrap().to_owned();
    life_is(&["open Fresh"]).await;
    c.drop_abruptly();
    life_is(&["open Fresh", "close Kept"]).await;

    let mut resumed = ts.connect(&format!("/life?resume={token}")).await.unwrap();
    let s = session(&mut resumed).await;
    assert_eq!(s["resumed"], true, "{s}");
    life_is(&["open Fresh", "close Kept", "open Resumed"]).await;

    // A resume while that connection still looks open takes the session over.
    let t2 = s["token"].as_str().unwrap();
    let mut over = ts.connect(&format!("/life?resume={t2}")).await.unwrap();
    assert_eq!(session(&mut over).await["resumed"], true);
    assert_eq!(resumed.expect_close().await.0, 4000);
    let ok = wait_until(Duration::from_secs(5), || LIFE.lock().unwrap().len() == 5).await;
    assert!(ok, "{:?}", LIFE.lock().unwrap());
    let mut last_two = LIFE.lock().unwrap()[3..].to_vec();
    last_two.sort();
    assert_eq!(last_two, ["close TakenOver", "open TookOver"]);

    over.close(1000, "bye").await;
    let ok = wait_until(Duration::from_secs(5), || LIFE.lock().unwrap().len() == 6).await;
    assert!(ok);
    assert_eq!(LIFE.lock().unwrap()[5], "close Ended");

    // A resume that cannot be honoured is a fresh session.
    let mut fresh = ts
        .connect(&format!("/life?resume={}", "0".repeat(32)))
        .await
        .unwrap();
    assert_eq!(session(&mut fresh).await["reason"], "unknown");
    let ok = wait_until(Duration::from_secs(5), || LIFE.lock().unwrap().len() == 7).await;
    assert!(ok);
    assert_eq!(LIFE.lock().unwrap()[6], "open Fresh");
}

/// Issue 16, fault 1: a push that left the sender out (`except`) is not replayed to it.
#[tokio::test]
async fn a_push_that_left_the_session_out_is_not_replayed_to_it() {
    let ts = start().await;
    let (mut a, token, last) = member(&ts, "/r", "x").await;
    let (mut b, _, _) = member(&ts, "/r", "x").await;
    let reply = a
        .request("room.say", json!({"room": "x", "text": "hi"}))
        .await;
    assert_eq!(reply["data"], json!(1), "{reply}");
    let heard: Value = serde_json::from_str(&next_text(&mut b).await).unwrap();
    assert_eq!(
        (&heard["cmd"], &heard["data"]),
        (&json!("said"), &json!("hi"))
    );
    a.expect_silence(QUIET).await;
    drop_and_wait(&ts, a, 1).await;
    let mut a2 = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut a2).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(0)),
        "{s}"
    );
    a2.expect_silence(QUIET).await;
    // And a session resumed since is still left out of what left its first connection out.
    let t2 = s["token"].as_str().unwrap().to_owned();
    drop_and_wait(&ts, a2, 1).await;
    let mut a3 = ts
        .connect(&format!("/r?resume={t2}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut a3).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(0)),
        "{s}"
    );
}

/// Issue 16, fault 2a: pushes to a room from before the session joined it are not replayed.
#[tokio::test]
async fn pushes_to_a_room_from_before_the_session_joined_it_are_not_replayed() {
    let ts = start().await;
    let (mut a, token, last) = member(&ts, "/r", "x").await;
    let (mut w, _, _) = member(&ts, "/r", "y").await;
    push_n(ts.server(), "y", 0, 2);
    next_text(&mut w).await;
    next_text(&mut w).await;
    a.expect_silence(QUIET).await;
    let reply = a.request("room.join", json!("y")).await;
    assert_eq!(reply["data"], json!(true), "{reply}");
    drop_and_wait(&ts, a, 1).await;
    push_n(ts.server(), "y", 2, 1);
    let missed = next_text(&mut w).await;
    let mut a2 = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut a2).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(1)),
        "{s}"
    );
    assert_eq!(
        next_text(&mut a2).await,
        missed,
        "only the push after the join"
    );
    a2.expect_silence(QUIET).await;
}

/// Issue 16, fault 2b: a push sent while the session was a member of a room it then left is
/// replayed (it was lost: the replay looked only at the rooms held at the drop).
#[tokio::test]
async fn a_push_sent_while_a_member_of_a_room_it_left_since_is_replayed() {
    let ts = start().await;
    let (mut a, token, last) = member(&ts, "/r", "x").await;
    push_n(ts.server(), "x", 0, 1);
    let unread = next_text(&mut a).await;
    let reply = a.request("room.leave", json!("x")).await;
    assert_eq!(reply["data"], json!(true), "{reply}");
    push_n(ts.server(), "x", 1, 1);
    drop_and_wait(&ts, a, 1).await;
    let mut a2 = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut a2).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(1)),
        "{s}"
    );
    assert_eq!(next_text(&mut a2).await, unread, "byte for byte");
    a2.expect_silence(QUIET).await;
}

/// Issue 16, fault 3: a busy room that overflows the history does not evict the resume of a
/// session that was never in it.
#[tokio::test]
async fn traffic_in_another_room_does_not_make_a_resume_evicted() {
    let ts = start().await;
    let (a, token, _) = member(&ts, "/small", "quiet").await;
    let (mut w, _, _) = member(&ts, "/small", "busy").await;
    drop_and_wait(&ts, a, 1).await;
    push_n(ts.server(), "busy", 0, 50);
    for _ in 0..50 {
        next_text(&mut w).await;
    }
    let mut a2 = ts.connect(&format!("/small?resume={token}")).await.unwrap();
    let s = session(&mut a2).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(0)),
        "{s}"
    );
    // Its room came back.
    push_n(ts.server(), "quiet", 50, 1);
    let v: Value = serde_json::from_str(&next_text(&mut a2).await).unwrap();
    assert_eq!(v["data"], json!({"n": 50}));
}

/// Issue 16, fault 4: a refused resume leaves the session as it was: its live connection
/// open, and a later resume gets it.
#[tokio::test]
async fn a_refused_resume_leaves_the_live_connection_and_the_session_alone() {
    let ts = start().await;
    let (mut old, token, last) = member(&ts, "/r", "x").await;
    for off in ["999999999", "abc", "+1"] {
        let mut b = ts
            .connect(&format!("/r?resume={token}&off={off}"))
            .await
            .unwrap();
        let s = session(&mut b).await;
        assert_eq!(
            (&s["resumed"], &s["reason"]),
            (&json!(false), &json!("unknown")),
            "{off}: {s}"
        );
    }
    // Still live, still a member.
    push_n(ts.server(), "x", 0, 1);
    let v: Value = serde_json::from_str(&next_text(&mut old).await).unwrap();
    assert_eq!(v["data"], json!({"n": 0}));
    let mut new = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut new).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(1)),
        "{s}"
    );
    let (code, _) = old.expect_close().await;
    assert_eq!(code, 4000);
}

/// Issue 16, fault 5: an `off` is plain digits, not above the latest offset and not below
/// the session's start; anything else is `unknown` (and the session stays resumable).
#[tokio::test]
async fn an_off_below_the_session_start_or_with_a_sign_is_unknown() {
    let ts = start().await;
    let (_w, _, _) = member(&ts, "/r", "x").await;
    push_n(ts.server(), "x", 0, 3);
    let (a, token, last) = member(&ts, "/r", "x").await;
    let last_n: u64 = last.parse().unwrap();
    assert!(last_n >= 5, "{last}");
    drop_and_wait(&ts, a, 1).await;
    for off in [
        "0".to_owned(),
        "1".to_owned(),
        format!("+{last}"),
        format!("%20{last}"),
    ] {
        let mut b = ts
            .connect(&format!("/r?resume={token}&off={off}"))
            .await
            .unwrap();
        let s = session(&mut b).await;
        assert_eq!(
            (&s["resumed"], &s["reason"]),
            (&json!(false), &json!("unknown")),
            "off={off}: {s}"
        );
    }
    let mut b = ts
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = session(&mut b).await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(0)),
        "{s}"
    );
}
