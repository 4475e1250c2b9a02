//! Resumable sessions across nodes (issue 16, part 3): a session dropped on one node resumes on
//! another with exactly what it missed, in order; a drain sends clients to another node
//! without loss.

use std::time::Duration;

use serde_json::{Value, json};
use swoft_ws::App;
use swoft_ws::cluster::NodeId;
use swoft_ws::prelude::*;
use swoft_ws::redis::RedisAdapter;
use swoft_ws::testing::Received;
use swoft_ws_tests::resume::{drop_and_wait, fresh_member, next_text, offset_of, push_ticks};
use swoft_ws_tests::{QUIET, RedisServer, TestClient, TestServer, init_tracing, wait_until};

#[ws_module(path = "/r", controllers = [RoomCtl], recovery)]
pub struct Resumable;

/// The same, with a window of one second (the `expired` case).
#[ws_module(path = "/short", controllers = [RoomCtl], recovery(window_secs = 1))]
pub struct ShortWindow;

/// The same, telling its rooms when a member leaves (the member itself left out), as the chat
/// example's presence notices do.
#[ws_module(path = "/n", controllers = [RoomCtl], recovery)]
pub struct Noticed;

#[ws_module]
impl Noticed {
    #[on_close]
    fn close(conn: &Connection) {
        for room in conn.rooms() {
            let _ = conn
                .server()
                .room(&room)
                .except(conn.fd())
                .push("left", &json!(conn.fd()));
        }
    }
}

#[derive(Default)]
pub struct RoomCtl;

#[ws_controller(prefix = "room")]
impl RoomCtl {
    #[message_mapping("join")]
    fn join(&self, conn: &Connection, Data(room): Data<String>) -> Result<bool, WsError> {
        Ok(conn.join(&room)?)
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

async fn node(redis: &RedisServer, id: &str) -> TestServer {
    let adapter = RedisAdapter::connect(
        &redis.url(),
        NodeId::new(id),
        super::settings().shared_recovery(true),
    )
    .await
    .expect("connect to the test redis");
    let app = App::builder()
        .module::<Resumable>()
        .module::<ShortWindow>()
        .module::<Noticed>()
        .cluster(adapter)
        .build()
        .unwrap();
    let ts = TestServer::start(app).await;
    // The node reads the shared log from its end: give it time to start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    ts
}

#[tokio::test]
async fn a_session_dropped_on_one_node_resumes_on_another_with_exactly_what_it_missed() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "ra").await, node(&redis, "rb").await);
    let (mut ann, token) = fresh_member(&a, "/r", "lobby").await;
    let (mut watcher, _) = fresh_member(&b, "/r", "lobby").await;
    push_ticks(a.server(), "lobby", 0, 3);
    let mut last = String::new();
    for _ in 0..3 {
        let t = next_text(&mut ann).await;
        assert_eq!(
            t,
            next_text(&mut watcher).await,
            "the same bytes on both nodes"
        );
        last = offset_of(&t);
    }
    drop_and_wait(&a, ann, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the record reaches the store
    push_ticks(a.server(), "lobby", 3, 25);
    push_ticks(b.server(), "lobby", 28, 25);
    let mut missed = Vec::new();
    for _ in 0..50 {
        missed.push(next_text(&mut watcher).await);
    }
    let mut again = b
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = again.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(50)),
        "{s}"
    );
    for want in &missed {
        assert_eq!(&next_text(&mut again).await, want);
    }
    push_ticks(a.server(), "lobby", 53, 1);
    let live: Value = serde_json::from_str(&next_text(&mut again).await).unwrap();
    assert_eq!(live["data"], json!({"n": 53}));
    again.expect_silence(QUIET).await;

    // The same token again: taken already → unknown; a made-up one → unknown.
    for t in [token.clone(), "0".repeat(32)] {
        let mut c = a
            .connect(&format!("/r?resume={t}&off={last}"))
            .await
            .unwrap();
        let s = c.expect_session().await;
        assert_eq!(
            (&s["resumed"], &s["reason"]),
            (&json!(false), &json!("unknown")),
            "{s}"
        );
    }
}

#[tokio::test]
async fn a_resume_from_before_a_node_started_reading_the_log_is_evicted() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "ea").await;
    let (mut ann, token) = fresh_member(&a, "/r", "lobby").await;
    push_ticks(a.server(), "lobby", 0, 1);
    let first = offset_of(&next_text(&mut ann).await);
    push_ticks(a.server(), "lobby", 1, 1);
    let _ = next_text(&mut ann).await;
    drop_and_wait(&a, ann, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // B starts after both pushes: it cannot replay the second one.
    let b = node(&redis, "eb").await;
    let mut c = b
        .connect(&format!("/r?resume={token}&off={first}"))
        .await
        .unwrap();
    let s = c.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["reason"]),
        (&json!(false), &json!("evicted")),
        "{s}"
    );
}

#[tokio::test]
async fn a_rolling_restart_loses_nothing_clients_resume_on_the_other_node() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    const N: usize = 200;
    let (a, b) = (node(&redis, "ka").await, node(&redis, "kb").await);
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(fresh_member(&a, "/r", "feed").await);
    }
    let pusher = {
        let server = b.server().clone();
        tokio::spawn(async move {
            for i in 0..200u32 {
                let _ = server.room("feed").push("tick", &json!({"n": i})).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let drain = {
        let s = a.server().clone();
        tokio::spawn(async move { s.drain().await })
    };
    let mut tasks = Vec::new();
    for (mut c, token) in clients {
        let b_url = format!("ws://{}", b.addr());
        tasks.push(tokio::spawn(async move {
            let mut seen: Vec<u64> = Vec::new();
            let mut last = String::new();
            loop {
                match c.recv().await {
                    Received::Text(t) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        seen.push(v["data"]["n"].as_u64().unwrap());
                        last = v["off"].as_str().unwrap().to_owned();
                    }
                    Received::Close(code, reason) => {
                        assert_eq!(code, 1001);
                        assert!(reason.contains("reconnect"), "{reason}");
                        break;
                    }
                    other => panic!("{other:?}"),
                }
            }
            let mut c = TestClient::connect(&format!("{b_url}/r?resume={token}&off={last}"), &[])
                .await
                .unwrap();
            let s = c.expect_session().await;
            assert_eq!(s["resumed"], true, "{s}");
            while seen.last() != Some(&199) {
                let v: Value = serde_json::from_str(&next_text(&mut c).await).unwrap();
                seen.push(v["data"]["n"].as_u64().unwrap());
            }
            seen
        }));
    }
    pusher.await.unwrap();
    drain.await.unwrap();
    for t in tasks {
        let seen = t.await.unwrap();
        let first = seen[0];
        let want: Vec<u64> = (first..200).collect();
        assert_eq!(seen, want, "every push once, in order");
    }
}

#[tokio::test]
async fn a_resume_on_another_node_while_the_old_connection_looks_open_closes_it_with_4000() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "ha").await, node(&redis, "hb").await);
    let (mut old, token) = fresh_member(&a, "/r", "lobby").await;
    push_ticks(a.server(), "lobby", 0, 2);
    let _ = next_text(&mut old).await;
    let last = offset_of(&next_text(&mut old).await);
    // Half-open: these reach the old socket, but the client never reads them.
    push_ticks(b.server(), "lobby", 2, 5);
    let mut missed = Vec::new();
    for _ in 0..5 {
        missed.push(next_text(&mut old).await);
    }
    assert_eq!(
        a.server().stats().dropped_sessions,
        0,
        "the old one is live"
    );
    let mut new = b
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = new.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(5)),
        "{s}"
    );
    for want in &missed {
        assert_eq!(
            &next_text(&mut new).await,
            want,
            "the replay, byte for byte"
        );
    }
    let (code, reason) = old.expect_close().await;
    assert_eq!(
        (code, reason.as_str()),
        (4000, "session resumed by a new connection")
    );
    assert!(
        wait_until(Duration::from_secs(5), || a.server().stats().connections
            == 0)
        .await,
        "the old connection is gone from node A"
    );
    assert_eq!(
        a.server().stats().dropped_sessions,
        0,
        "and its session too"
    );
    push_ticks(a.server(), "lobby", 7, 1);
    let live: Value = serde_json::from_str(&next_text(&mut new).await).unwrap();
    assert_eq!(
        live["data"],
        json!({"n": 7}),
        "live pushes reach the new one"
    );
    new.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_resume_on_another_node_after_the_window_is_expired() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "xa").await, node(&redis, "xb").await);
    let (ann, token) = fresh_member(&a, "/short", "lobby").await;
    drop_and_wait(&a, ann, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the 1 s window, and then some
    let mut c = b.connect(&format!("/short?resume={token}")).await.unwrap();
    let s = c.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["reason"]),
        (&json!(false), &json!("expired")),
        "{s}"
    );
    assert_ne!(
        s["token"],
        json!(token),
        "a fresh session, with a new token"
    );
}

/// Resumes `token` on `ts` and checks the outcome: `Ok(new token)` if resumed, else the reason.
async fn resume_on(ts: &TestServer, token: &str) -> (TestClient, Result<String, String>) {
    let mut c = ts.connect(&format!("/r?resume={token}")).await.unwrap();
    let s = c.expect_session().await;
    let new = s["token"].as_str().unwrap().to_owned();
    let outcome = if s["resumed"] == true {
        Ok(new)
    } else {
        Err(s["reason"].as_str().unwrap().to_owned())
    };
    (c, outcome)
}

#[tokio::test]
async fn a_session_resumes_again_and_again_on_the_node_that_holds_it() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "ga").await, node(&redis, "gb").await);
    let (c, mut token) = fresh_member(&a, "/r", "lobby").await;
    drop_and_wait(&a, c, 1).await;
    // Twice on the node that dropped it, then over to B and twice more there.
    for (ts, n) in [(&a, 1), (&a, 1), (&b, 1), (&b, 1)] {
        let (c, outcome) = resume_on(ts, &token).await;
        token = outcome.expect("resumed");
        drop_and_wait(ts, c, n).await;
    }
    assert_eq!(a.server().stats().dropped_sessions, 0, "A let go of it");
}

#[tokio::test]
async fn a_used_token_does_not_resume_again_on_any_node() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "ua").await, node(&redis, "ub").await);
    let (c, token) = fresh_member(&a, "/r", "lobby").await;
    drop_and_wait(&a, c, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the record is in the store
    let (mut live, outcome) = resume_on(&b, &token).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    for ts in [&b, &a, &b] {
        let (_c, again) = resume_on(ts, &token).await;
        assert_eq!(again, Err("unknown".to_owned()), "the old token, once used");
    }
    push_ticks(b.server(), "lobby", 0, 1);
    let v: Value = serde_json::from_str(&next_text(&mut live).await).unwrap();
    assert_eq!(
        v["data"],
        json!({"n": 0}),
        "the resumed client is still live"
    );
}

#[tokio::test]
async fn a_resume_on_another_node_right_after_the_drop_resumes() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "qa").await, node(&redis, "qb").await);
    for round in 0..20 {
        let (c, token) = fresh_member(&a, "/r", "lobby").await;
        c.drop_abruptly(); // no wait: the save races the resume
        let (again, outcome) = resume_on(&b, &token).await;
        assert!(outcome.is_ok(), "round {round}: {outcome:?}");
        again.close(1000, "done").await;
    }
}

/// A push that left the sender out (`except`) on node A is not replayed to it when its
/// session resumes on node B: the history keeps whom each push left out, the session's
/// record the connections it was live on.
#[tokio::test]
async fn a_push_that_left_the_session_out_is_not_replayed_on_another_node() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "xa").await, node(&redis, "xb").await);
    let (mut ann, token) = fresh_member(&a, "/r", "lobby").await;
    let (mut watcher, _) = fresh_member(&b, "/r", "lobby").await;
    push_ticks(a.server(), "lobby", 0, 1);
    let last = offset_of(&next_text(&mut ann).await);
    next_text(&mut watcher).await;
    ann.request("room.say", json!({"room": "lobby", "text": "hi"}))
        .await;
    let heard: Value = serde_json::from_str(&next_text(&mut watcher).await).unwrap();
    assert_eq!(heard["cmd"], "said", "{heard}");
    ann.expect_silence(QUIET).await;
    drop_and_wait(&a, ann, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the record reaches the store
    push_ticks(b.server(), "lobby", 1, 1);
    let missed = next_text(&mut watcher).await;
    let mut again = b
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = again.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(1)),
        "{s}"
    );
    assert_eq!(next_text(&mut again).await, missed);
    again.expect_silence(QUIET).await;
}

#[tokio::test]
async fn a_resume_elsewhere_with_an_offset_never_issued_leaves_the_live_connection_alone() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "fa").await, node(&redis, "fb").await);
    let (mut old, token) = fresh_member(&a, "/r", "lobby").await;
    let mut bogus = b
        .connect(&format!("/r?resume={token}&off=999999999999"))
        .await
        .unwrap();
    let s = bogus.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["reason"]),
        (&json!(false), &json!("unknown")),
        "{s}"
    );
    push_ticks(a.server(), "lobby", 0, 1);
    let v: Value = serde_json::from_str(&next_text(&mut old).await).unwrap();
    assert_eq!(
        v["data"],
        json!({"n": 0}),
        "the old connection is still live"
    );
    // And the session is still there for the real client.
    let last = offset_of(&serde_json::to_string(&v).unwrap());
    let mut again = b
        .connect(&format!("/r?resume={token}&off={last}"))
        .await
        .unwrap();
    assert_eq!(again.expect_session().await["resumed"], true);
    assert_eq!(old.expect_close().await.0, 4000);
}

#[tokio::test]
async fn traffic_in_another_room_does_not_evict_a_resume_across_nodes() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (a, b) = (node(&redis, "va").await, node(&redis, "vb").await);
    // Bob's own drop tells his room (leaving him out): that notice, pushed out of the history
    // by the traffic elsewhere, is nothing bob missed.
    let (mut bob, token) = fresh_member(&a, "/n", "quiet").await;
    let (_carol, _) = fresh_member(&a, "/n", "quiet").await;
    push_ticks(a.server(), "quiet", 0, 1);
    let last = offset_of(&next_text(&mut bob).await);
    drop_and_wait(&a, bob, 1).await;
    let (mut busy, _) = fresh_member(&b, "/n", "busy").await;
    // More than the history holds (500), all to a room bob was never in.
    push_ticks(a.server(), "busy", 1, 600);
    for _ in 0..600 {
        let _ = next_text(&mut busy).await;
    }
    let mut c = a
        .connect(&format!("/n?resume={token}&off={last}"))
        .await
        .unwrap();
    let s = c.expect_session().await;
    assert_eq!(
        (&s["resumed"], &s["replayed"]),
        (&json!(true), &json!(0)),
        "{s}"
    );
}
