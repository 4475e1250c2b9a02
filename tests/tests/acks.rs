//! Server → client requests with acks (issue 16, part 2): `Connection::request` sends
//! `{"cmd","data","ack":N}` and awaits the client's `{"cmd":"$ack","ack":N,...}`; the room
//! form (`Broadcast::request`) yields one result per member, on one node and across three
//! (Redis). Every receive has a timeout (the test kit's, 5 s, unless set).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swoft_ws::cluster::{ClusterSettings, NodeId};
use swoft_ws::prelude::*;
use swoft_ws::redis::RedisAdapter;
use swoft_ws::{AckError, App, Server};
use swoft_ws_tests::{QUIET, RedisServer, TestClient, TestServer, init_tracing, wait_until};

/// What handlers saw when their request ended: the outcome and when.
#[derive(Default)]
struct Outcomes(Mutex<Vec<(Instant, String)>>);

#[ws_module(path = "/ask", controllers = [AskController])]
pub struct AskModule;

#[ws_module]
impl AskModule {
    /// With `?hello`, asks the client in the open hook and pushes what it answered.
    #[on_open]
    async fn open(&self, conn: &Connection) {
        if conn.handshake().query_param("hello").is_some() {
            let r = conn.request::<Value, _>("hello", &json!({"v": 1})).await;
            let _ = conn.push("hello.result", &format!("{r:?}"));
        }
    }
}

#[derive(Default)]
pub struct AskController;

#[ws_controller(prefix = "ask")]
impl AskController {
    /// Asks its own client `question` with the message's data and answers what it said.
    #[message_mapping("self")]
    async fn ask_self(&self, conn: &Connection, Data(q): Data<Value>) -> Value {
        let r = conn.request::<Value, _>("question", &q).await;
        if let Some(o) = conn.server().state::<Outcomes>() {
            o.0.lock().unwrap().push((Instant::now(), format!("{r:?}")));
        }
        match r {
            Ok(v) => json!({"ok": v}),
            Err(e) => json!({"err": format!("{e:?}")}),
        }
    }

    #[message_mapping("echo")]
    fn echo(&self, Data(v): Data<Value>) -> Value {
        v
    }

    #[message_mapping("join")]
    fn join(&self, conn: &Connection) -> Result<Fd, WsError> {
        conn.join("all")?;
        Ok(conn.fd())
    }
}

/// The same controller, two messages handled at once.
#[ws_module(path = "/ask2", controllers = [AskController], concurrency = 2)]
pub struct AskTwoModule;

#[ws_module(path = "/text", parser = token_text)]
pub struct TextModule;

fn builder() -> swoft_ws::AppBuilder {
    App::builder()
        .module::<AskModule>()
        .module::<TextModule>()
        .module::<AskTwoModule>()
        .state(Outcomes::default())
}

async fn start() -> TestServer {
    init_tracing();
    TestServer::start(builder().build().unwrap()).await
}

/// The only live connection's handle.
fn only(server: &Server) -> Connection {
    let fds = server.live_fds();
    assert_eq!(fds.len(), 1, "{fds:?}");
    server.connection(fds[0]).unwrap()
}

/// Reads the next frame, which must be a request, and returns (command, data, ack).
async fn expect_request(c: &mut TestClient) -> (String, Value, Value) {
    let v = c.recv_json().await;
    let ack = v
        .get("ack")
        .cloned()
        .unwrap_or_else(|| panic!("a request: {v}"));
    assert!(ack.is_u64(), "{v}");
    assert!(v.get("id").is_none(), "{v}");
    (
        v["cmd"].as_str().unwrap().to_owned(),
        v["data"].clone(),
        ack,
    )
}

#[tokio::test]
async fn a_handler_that_asks_its_own_client_is_answered_at_concurrency_1() {
    let ts = start().await;
    let mut c = ts.connect("/ask").await.unwrap();
    c.send_json(&json!({"cmd": "ask.self", "data": {"q": "name?"}, "id": 1}))
        .await;
    let (cmd, data, ack) = expect_request(&mut c).await;
    assert_eq!((cmd.as_str(), data), ("question", json!({"q": "name?"})));
    // A message sent before the answer waits (in order) behind the handler that asks...
    c.send_json(&json!({"cmd": "ask.echo", "data": "after", "id": 2}))
        .await;
    c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": {"name": "ann"}}))
        .await;
    // ... and the `$ack` itself reaches no controller and gets no reply.
    assert_eq!(
        c.recv_json().await,
        json!({"cmd": "ask.self", "data": {"ok": {"name": "ann"}}, "id": 1})
    );
    assert_eq!(
        c.recv_json().await,
        json!({"cmd": "ask.echo", "data": "after", "id": 2})
    );
    c.expect_silence(QUIET).await;
    assert_eq!(ts.server().stats().pending_acks, 0);
}

#[tokio::test]
async fn with_every_handler_waiting_for_an_answer_the_answers_are_still_read() {
    let ts = start().await;
    let mut c = ts.connect("/ask2").await.unwrap();
    // Two handlers (the module's `concurrency`) wait for answers; a third message is held.
    for id in [1, 2] {
        c.send_json(&json!({"cmd": "ask.self", "data": id, "id": id}))
            .await;
    }
    let first = expect_request(&mut c).await;
    let second = expect_request(&mut c).await;
    c.send_json(&json!({"cmd": "ask.echo", "data": "held", "id": 3}))
        .await;
    for (_, data, ack) in [second, first] {
        c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": data}))
            .await;
    }
    let mut replies = Vec::new();
    for _ in 0..3 {
        let v = c.recv_json().await;
        replies.push((v["id"].as_u64().unwrap(), v["data"].clone()));
    }
    replies.sort_by_key(|r| r.0);
    assert_eq!(
        replies,
        [
            (1, json!({"ok": 1})),
            (2, json!({"ok": 2})),
            (3, json!("held"))
        ]
    );
    assert_eq!(ts.server().stats().pending_acks, 0);
}

/// A handler that asks its own client (`ask.self`) waits while `held` other requests come
/// in, then the answer: the server, the client, and the handler's reply (what its request
/// got). The other requests' replies follow it, in order.
async fn answer_behind(
    held: u64,
    ack_timeout: Duration,
    answer: &str,
) -> (TestServer, TestClient, Value) {
    init_tracing();
    let app = builder().ack_timeout(ack_timeout).build().unwrap();
    let ts = TestServer::start(app).await;
    let mut c = ts.connect("/ask").await.unwrap();
    c.send_json(&json!({"cmd": "ask.self", "data": 0, "id": 0}))
        .await;
    let (_, _, ack) = expect_request(&mut c).await;
    for id in 1..=held {
        c.send_json(&json!({"cmd": "ask.echo", "data": id, "id": id}))
            .await;
    }
    c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": answer}))
        .await;
    let first = c.recv_json().await;
    (ts, c, first)
}

#[tokio::test]
async fn past_16_held_messages_reading_pauses_and_a_later_answer_comes_too_late() {
    // Behind 17 messages: reading pauses with 17 held, before this answer.
    let (ts, mut c, first) = answer_behind(17, Duration::from_millis(300), "late").await;
    assert_eq!(first["data"], json!({"err": "Timeout"}), "{first}");
    for id in 1..=17 {
        assert_eq!(c.recv_json().await["id"], json!(id));
    }
    assert!(
        wait_until(Duration::from_secs(5), || ts.server().stats().acks_ignored
            == 1)
        .await
    );
    assert_eq!(ts.server().stats().pending_acks, 0);
}

/// The boundary of the README's rule: an answer behind exactly 16 other messages is still
/// read (it was not: reading paused with 16 held, one short of the answer).
#[tokio::test]
async fn an_answer_behind_exactly_16_held_messages_is_still_read() {
    let (ts, mut c, first) = answer_behind(16, Duration::from_millis(1_000), "in time").await;
    assert_eq!(first["data"], json!({"ok": "in time"}), "{first}");
    for id in 1..=16 {
        assert_eq!(c.recv_json().await["id"], json!(id));
    }
    assert_eq!(ts.server().stats().acks_ignored, 0);
    assert_eq!(ts.server().stats().pending_acks, 0);
}

#[tokio::test]
async fn the_open_hook_can_ask_too() {
    let ts = start().await;
    let mut c = ts.connect("/ask?hello").await.unwrap();
    let (cmd, _, ack) = expect_request(&mut c).await;
    assert_eq!(cmd, "hello");
    c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": 42}))
        .await;
    assert_eq!(c.expect_push("hello.result").await, json!("Ok(Number(42))"));
}

#[tokio::test]
async fn an_error_answer_is_rejected_and_a_wrong_type_is_decode() {
    let ts = start().await;
    let mut c = ts.connect("/ask").await.unwrap();
    let conn = only(ts.server());
    let asked = tokio::spawn({
        let conn = conn.clone();
        async move { conn.request::<u32, _>("q", &()).await }
    });
    let (_, data, ack) = expect_request(&mut c).await;
    assert_eq!(data, Value::Null);
    let error = json!({"code": "busy", "message": "later"});
    c.send_json(&json!({"cmd": "$ack", "ack": ack, "error": error}))
        .await;
    let r = tokio::time::timeout(Duration::from_secs(5), asked).await;
    let expected = AckError::Rejected {
        code: "busy".to_owned(),
        message: "later".to_owned(),
    };
    assert_eq!(r.unwrap().unwrap(), Err(expected));

    let asked = tokio::spawn(async move { conn.request::<u32, _>("q", &()).await });
    let (_, _, ack) = expect_request(&mut c).await;
    c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": "not a number"}))
        .await;
    let r = tokio::time::timeout(Duration::from_secs(5), asked).await;
    assert!(matches!(r.unwrap().unwrap(), Err(AckError::Decode(_))));
    assert_eq!(ts.server().stats().pending_acks, 0);
}

#[tokio::test]
async fn a_silent_client_times_out_at_the_default_5_s() {
    let ts = start().await;
    let mut c = ts.connect("/ask").await.unwrap();
    let conn = only(ts.server());
    let asked = tokio::spawn(async move {
        let t0 = Instant::now();
        let r = conn.request::<Value, _>("q", &()).await;
        (r, t0.elapsed())
    });
    expect_request(&mut c).await;
    let (r, took) = tokio::time::timeout(Duration::from_secs(10), asked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Err(AckError::Timeout));
    let off = took.as_secs_f64() - 5.0;
    assert!(
        off.abs() <= 0.1,
        "timed out after {took:?}, not 5 s ± 0.1 s"
    );
    assert_eq!(ts.server().stats().pending_acks, 0);
    // The connection goes on.
    assert_eq!(c.request("ask.echo", json!(1)).await["data"], json!(1));
}

#[tokio::test]
async fn a_per_call_timeout_overrides_the_default() {
    let ts = start().await;
    let _c = ts.connect("/ask").await.unwrap();
    let conn = only(ts.server());
    let t0 = Instant::now();
    let r = conn
        .request_within::<Value, _>("q", &(), Duration::from_millis(200))
        .await;
    assert_eq!(r, Err(AckError::Timeout));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(400),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_client_that_disconnects_mid_wait_is_closed_within_50_ms() {
    let ts = start().await;
    // A request from outside any handler.
    let mut c = ts.connect("/ask").await.unwrap();
    let conn = only(ts.server());
    let asked = tokio::spawn(async move {
        let r = conn.request::<Value, _>("q", &()).await;
        (r, Instant::now())
    });
    expect_request(&mut c).await;
    let t0 = Instant::now();
    c.drop_abruptly();
    let (r, at) = tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Err(AckError::Closed));
    let took = at - t0;
    assert!(took < Duration::from_millis(50), "Closed after {took:?}");

    // A handler of the same connection that waits (at concurrency 1), and a clean close.
    let mut c = ts.connect("/ask").await.unwrap();
    c.send_json(&json!({"cmd": "ask.self", "data": 1, "id": 1}))
        .await;
    expect_request(&mut c).await;
    let t0 = Instant::now();
    c.close(1000, "bye").await;
    let outcomes = ts.server().state::<Outcomes>().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !outcomes
            .0
            .lock()
            .unwrap()
            .is_empty())
        .await
    );
    let (at, what) = outcomes.0.lock().unwrap()[0].clone();
    assert_eq!(what, "Err(Closed)");
    assert!(
        at - t0 < Duration::from_millis(50),
        "Closed after {:?}",
        at - t0
    );
    ts.wait_idle().await;
    assert_eq!(ts.server().stats().pending_acks, 0);
}

#[tokio::test]
async fn a_connection_may_have_only_so_many_requests_waiting() {
    init_tracing();
    let app = builder().max_pending_acks(2).build().unwrap();
    let ts = TestServer::start(app).await;
    let _c = ts.connect("/ask").await.unwrap();
    let conn = only(ts.server());
    let t = Duration::from_millis(300);
    let (a, b, third) = tokio::join!(
        conn.request_within::<Value, _>("q", &(), t),
        conn.request_within::<Value, _>("q", &(), t),
        async {
            // After the first two registered.
            tokio::task::yield_now().await;
            conn.request_within::<Value, _>("q", &(), t).await
        },
    );
    assert_eq!((a, b), (Err(AckError::Timeout), Err(AckError::Timeout)));
    assert_eq!(third, Err(AckError::TooManyPending));
    assert_eq!(ts.server().stats().pending_acks, 0);
}

#[tokio::test]
async fn unmatched_duplicate_late_and_malformed_acks_are_ignored_and_counted() {
    let ts = start().await;
    let mut c = ts.connect("/ask").await.unwrap();
    let conn = only(ts.server());
    let asked = tokio::spawn(async move { conn.request::<Value, _>("q", &()).await });
    let (_, _, ack) = expect_request(&mut c).await;
    c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": "first"}))
        .await;
    assert_eq!(asked.await.unwrap(), Ok(json!("first")));
    for bad in [
        json!({"cmd": "$ack", "ack": ack, "data": "duplicate"}),
        json!({"cmd": "$ack", "ack": 999_999_999, "data": "unknown"}),
        json!({"cmd": "$ack", "data": "no number"}),
        json!({"cmd": "$ack", "ack": "1"}),
        json!({"cmd": "$ack", "ack": -1}),
        json!({"cmd": "$ack", "ack": 1, "error": "not an object"}),
    ] {
        c.send_json(&bad).await;
    }
    c.send_text(r#"{"cmd":"$ack","ack":1,"ack":2}"#).await;
    // No reply to any of them; the connection goes on.
    assert_eq!(
        c.request("ask.echo", json!("on")).await["data"],
        json!("on")
    );
    c.expect_silence(QUIET).await;
    let stats = ts.server().stats();
    assert_eq!((stats.acks_ignored, stats.pending_acks), (7, 0));
    // A late answer: after its request timed out.
    let conn = only(ts.server());
    let r = conn
        .request_within::<Value, _>("q", &(), Duration::from_millis(50))
        .await;
    assert_eq!(r, Err(AckError::Timeout));
    let (_, _, ack) = expect_request(&mut c).await;
    c.send_json(&json!({"cmd": "$ack", "ack": ack})).await;
    assert_eq!(c.request("ask.echo", json!(2)).await["data"], json!(2));
    assert_eq!(ts.server().stats().acks_ignored, 8);
}

#[tokio::test]
async fn a_text_protocol_cannot_carry_requests() {
    let ts = start().await;
    let _c = ts.connect("/text").await.unwrap();
    let conn = only(ts.server());
    let r = conn.request::<Value, _>("q", &()).await;
    assert_eq!(r, Err(AckError::Unsupported));
}

/// A client that answers every request with `{"who": name, "asked": data}`, until the server
/// closes or the test ends; returns the number of requests it answered.
fn answering(mut c: TestClient, name: String) -> tokio::task::JoinHandle<usize> {
    c.set_timeout(Duration::from_secs(120));
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let v = match c.recv().await {
                swoft_ws::testing::Received::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
                _ => return n,
            };
            if let Some(ack) = v.get("ack") {
                let answer = json!({"who": name, "asked": v["data"]});
                c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": answer}))
                    .await;
                n += 1;
            }
        }
    })
}

#[tokio::test]
async fn a_room_request_yields_one_result_per_member() {
    let ts = start().await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut c = ts.connect("/ask").await.unwrap();
        c.request("ask.join", json!(null)).await;
        clients.push(answering(c, format!("m{i}")));
    }
    // A member that never answers.
    let mut silent = ts.connect("/ask").await.unwrap();
    silent.request("ask.join", json!(null)).await;
    let answers = ts
        .server()
        .room("all")
        .request_within::<Value, _>("poll", &json!({"q": 1}), Duration::from_millis(500))
        .await
        .unwrap();
    assert_eq!(answers.len(), 4, "{answers:?}");
    let mut who: Vec<String> = answers
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|v| v["who"].as_str().unwrap().to_owned())
        .collect();
    who.sort();
    assert_eq!(who, ["m0", "m1", "m2"]);
    assert_eq!(
        answers
            .iter()
            .filter(|(_, r)| *r == Err(AckError::Timeout))
            .count(),
        1
    );
    assert_eq!(ts.server().stats().pending_acks, 0);
}

#[tokio::test]
async fn pending_requests_never_leak_through_churn() {
    let ts = start().await;
    for round in 0..20 {
        let mut c = ts.connect("/ask").await.unwrap();
        // One request answered, one left waiting when the client goes.
        c.send_json(&json!({"cmd": "ask.self", "data": round, "id": 1}))
            .await;
        let (_, _, ack) = expect_request(&mut c).await;
        c.send_json(&json!({"cmd": "$ack", "ack": ack, "data": "x"}))
            .await;
        c.reply_to(&json!(1)).await;
        c.send_json(&json!({"cmd": "ask.self", "data": round, "id": 2}))
            .await;
        expect_request(&mut c).await;
        if round % 2 == 0 {
            c.drop_abruptly();
        } else {
            c.close(1000, "").await;
        }
    }
    ts.wait_idle().await;
    let stats = ts.server().stats();
    assert!(stats.is_idle(), "{stats:?}");
    assert_eq!(stats.pending_acks, 0);
}

/// Three nodes on one Redis, 300 members of one room on each: a request from node 0 gets 900
/// answers, one per member, and no node keeps a waiting request afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_of_300_members_answer_900_results() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let settings = ClusterSettings::default()
        .heartbeat(Duration::from_millis(250), Duration::from_secs(2))
        .query_timeout(Duration::from_millis(2000));
    let mut nodes = Vec::new();
    for id in ["a", "b", "c"] {
        let adapter = RedisAdapter::connect(&redis.url(), NodeId::new(id), settings.clone())
            .await
            .expect("connect to the test redis");
        let app = builder().cluster(adapter).build().unwrap();
        nodes.push(TestServer::start(app).await);
    }
    let all_see_all = wait_until(Duration::from_secs(5), || {
        nodes.iter().all(|n| n.server().peers().len() == 2)
    })
    .await;
    assert!(all_see_all);
    let mut clients = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        for m in 0..300 {
            let mut c = node.connect("/ask").await.unwrap();
            c.request("ask.join", json!(null)).await;
            clients.push(answering(c, format!("{i}-{m}")));
        }
    }
    let t0 = Instant::now();
    let answers = nodes[0]
        .server()
        .room("all")
        .request::<Value, _>("poll", &json!({"q": "?"}))
        .await
        .unwrap();
    let took = t0.elapsed();
    assert_eq!(answers.len(), 900, "took {took:?}");
    let mut who: Vec<String> = answers
        .iter()
        .map(|(addr, r)| {
            let v = r.as_ref().unwrap_or_else(|e| panic!("{addr}: {e}"));
            assert_eq!(v["asked"], json!({"q": "?"}));
            v["who"].as_str().unwrap().to_owned()
        })
        .collect();
    who.sort();
    who.dedup();
    assert_eq!(who.len(), 900);
    let mut addrs: Vec<_> = answers.iter().map(|(a, _)| a.clone()).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 900);
    for n in &nodes {
        assert_eq!(n.server().stats().pending_acks, 0);
    }
    eprintln!("900 answers from 3 nodes in {took:?}");
    drop(clients);
}
