//! Several nodes sharing rooms, pushes and broadcasts through a real Redis (the `redis`
//! feature): each test starts its own `redis-server` on a free loopback port and two or three
//! app nodes in-process (each its own `App`, adapter, node id and port), and drives them with
//! the chat protocol and the `Server` API.
//!
//! Without `redis-server` on the machine, each test prints a loud message and returns (CI sets
//! `CI=true`, which makes them fail instead).
//!
//! `trust.rs`: what a node trusts of its channels — garbage, node ids that collide, and the
//! shared secret that signs what nodes send. `binaries.rs`: the real chat example binary as a
//! node.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swoft_ws::cluster::{ClusterSettings, ConnAddr, Member, NodeId};
use swoft_ws::redis::{RedisAdapter, RedisHandle};
use swoft_ws::{RawMessage, Server};
use swoft_ws_examples::chat;
use swoft_ws_tests::{
    QUIET, RedisServer, TestClient, TestServer, http_request, init_tracing, wait_until,
};

mod binaries;
mod resume;
mod trust;

/// The process's Prometheus recorder (installed once, for the tests that read metrics).
fn recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("install the recorder")
        })
        .clone()
}

/// The value of the series `series` (name and labels) in a Prometheus text rendering.
fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Heartbeats every 250 ms; a node silent for 2 s is dead.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);

fn settings() -> ClusterSettings {
    ClusterSettings::default()
        .heartbeat(Duration::from_millis(250), NODE_TIMEOUT)
        .query_timeout(Duration::from_millis(500))
        .reconnect(Duration::from_millis(50), Duration::from_millis(300))
}

struct Node {
    server: TestServer,
    redis: RedisHandle,
}

impl Node {
    fn api(&self) -> &Server {
        self.server.server()
    }

    async fn connect(&self, name: &str) -> TestClient {
        self.server
            .connect(&format!("/chat?name={name}"))
            .await
            .unwrap_or_else(|e| panic!("{name} should be accepted: {e}"))
    }
}

/// A chat-example node over `redis` as node `id`, with its HTTP routes.
async fn node(redis: &RedisServer, id: &str) -> Node {
    node_with(redis, id, settings()).await
}

/// [`node`] with these settings.
async fn node_with(redis: &RedisServer, id: &str, settings: ClusterSettings) -> Node {
    let adapter = RedisAdapter::connect(&redis.url(), NodeId::new(id), settings)
        .await
        .expect("connect to the test redis");
    let handle = adapter.handle();
    let app = chat::builder().cluster(adapter).build().unwrap();
    let api = app.server().clone();
    let server = TestServer::start_with(app, move |ws| chat::with_http(ws, &api, None)).await;
    Node {
        server,
        redis: handle,
    }
}

/// Starts Redis and `ids.len()` nodes, and waits until every node sees all the others.
async fn cluster(ids: &[&str]) -> Option<(RedisServer, Vec<Node>)> {
    init_tracing();
    let redis = RedisServer::start()?;
    let mut nodes = Vec::new();
    for id in ids {
        nodes.push(node(&redis, id).await);
    }
    let all_see_all = wait_until(Duration::from_secs(5), || {
        nodes.iter().all(|n| n.api().peers().len() == ids.len() - 1)
    })
    .await;
    assert!(
        all_see_all,
        "peers: {:?}",
        nodes.iter().map(|n| n.api().peers()).collect::<Vec<_>>()
    );
    Some((redis, nodes))
}

/// Sends a request and returns its successful reply's `data` (panics on an error reply).
async fn ok(c: &mut TestClient, cmd: &str, data: Value) -> Value {
    let reply = c.request(cmd, data).await;
    assert!(reply.get("error").is_none(), "{cmd} failed: {reply}");
    reply["data"].clone()
}

fn addr(node: &Node, c_fd: swoft_ws::Fd) -> ConnAddr {
    ConnAddr {
        node: node.api().node_id().clone(),
        fd: c_fd,
    }
}

/// The fd of the only connection labelled `name` on `node`.
fn fd_of(node: &Node, name: &str) -> swoft_ws::Fd {
    let fds: Vec<_> = node
        .api()
        .connections_page(None, usize::MAX)
        .into_iter()
        .filter(|c| c.label().as_deref() == Some(name))
        .map(|c| c.fd())
        .collect();
    assert_eq!(fds.len(), 1, "one connection named {name}");
    fds[0]
}

#[tokio::test]
async fn chat_across_three_nodes_rooms_members_notices_and_whispers() {
    let Some((_redis, nodes)) = cluster(&["a", "b", "c"]).await else {
        return;
    };
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut alice = a.connect("alice").await;
    let mut bob = b.connect("bob").await;
    let mut carol = c.connect("carol").await;
    let mut dave = c.connect("dave").await;

    let r = ok(&mut alice, "room.join", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice"]));
    let r = ok(&mut bob, "room.join", json!({"room": "lobby"})).await;
    assert_eq!(
        r["members"],
        json!(["alice", "bob"]),
        "alice is on another node"
    );
    assert_eq!(
        alice.expect_push("room.joined").await,
        json!({"room": "lobby", "name": "bob"})
    );
    let r = ok(&mut carol, "room.join", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob", "carol"]));
    assert_eq!(alice.expect_push("room.joined").await["name"], "carol");
    assert_eq!(bob.expect_push("room.joined").await["name"], "carol");

    // Anyone, anywhere, sees the whole room.
    let r = ok(&mut dave, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob", "carol"]));

    // A message reaches the members on every node, once; not the sender, not dave.
    let r = ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "hi all"}),
    )
    .await;
    assert_eq!(r["delivered"], 2, "bob (node b) and carol (node c)");
    let msg = json!({"room": "lobby", "from": "alice", "text": "hi all"});
    assert_eq!(bob.expect_push("room.message").await, msg);
    assert_eq!(carol.expect_push("room.message").await, msg);
    alice.expect_silence(QUIET).await;
    bob.expect_silence(QUIET).await;
    carol.expect_silence(QUIET).await;
    dave.expect_silence(QUIET).await;

    // Whispers find names on other nodes.
    let r = ok(
        &mut carol,
        "chat.whisper",
        json!({"to": "alice", "text": "psst"}),
    )
    .await;
    assert_eq!(r["delivered"], 1);
    assert_eq!(
        alice.expect_push("chat.whisper").await,
        json!({"from": "carol", "text": "psst"})
    );
    let mut bob2 = a.connect("bob").await; // a second "bob", on node a
    let r = ok(
        &mut carol,
        "chat.whisper",
        json!({"to": "bob", "text": "both"}),
    )
    .await;
    assert_eq!(r["delivered"], 2, "one bob on node a, one on node b");
    assert_eq!(bob.expect_push("chat.whisper").await["text"], "both");
    assert_eq!(bob2.expect_push("chat.whisper").await["text"], "both");
    let reply = carol
        .request("chat.whisper", json!({"to": "nobody", "text": "?"}))
        .await;
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");

    // The HTTP route pushes to the whole room, from any node.
    let resp = http_request(
        &c.server.addr().to_string(),
        "POST",
        "/rooms/lobby/messages",
        "from outside",
    )
    .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.body, r#"{"delivered":3}"#);
    for client in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(client.expect_push("room.message").await["from"], "server");
    }

    // Leaving and closing are told on every node.
    ok(&mut bob, "room.leave", json!({"room": "lobby"})).await;
    assert_eq!(alice.expect_push("room.left").await["name"], "bob");
    assert_eq!(carol.expect_push("room.left").await["name"], "bob");
    carol.close(1000, "bye").await;
    assert_eq!(
        alice.expect_push("room.left").await,
        json!({"room": "lobby", "name": "carol"})
    );
    let r = ok(&mut dave, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice"]));
    bob.expect_silence(QUIET).await;
}

#[tokio::test]
async fn except_send_to_disconnect_and_membership_across_nodes() {
    let Some((_redis, nodes)) = cluster(&["n1", "n2", "n3"]).await else {
        return;
    };
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut alice = a.connect("alice").await;
    let mut alice2 = a.connect("alice2").await;
    let mut bob = b.connect("bob").await;
    let mut carol = c.connect("carol").await;
    let (fa, fa2, fb, fc) = (
        fd_of(a, "alice"),
        fd_of(a, "alice2"),
        fd_of(b, "bob"),
        fd_of(c, "carol"),
    );
    for (n, fd) in [(a, fa), (a, fa2), (b, fb), (c, fc)] {
        assert_eq!(n.api().connection(fd).unwrap().join("r"), Ok(true));
    }
    let bob_addr = addr(b, fb);
    assert_eq!(
        b.api().connection(fb).unwrap().addr(),
        bob_addr,
        "Connection::addr"
    );

    // Membership: every node answers for the whole cluster, with labels.
    for n in [a, b, c] {
        assert_eq!(n.api().rooms().cluster_size("r").await, 4);
        let members = n.api().rooms().cluster_members("r").await;
        let mut labels: Vec<_> = members
            .iter()
            .map(|m| m.label.as_deref().unwrap().to_owned())
            .collect();
        labels.sort();
        assert_eq!(labels, ["alice", "alice2", "bob", "carol"]);
        assert!(members.contains(&Member {
            addr: bob_addr.clone(),
            label: Some("bob".into()),
        }));
    }
    assert_eq!(a.api().rooms().size("r"), 2, "size stays this node's");
    assert_eq!(a.api().rooms().cluster_size("nobody-here").await, 0);
    assert_eq!(
        c.api().rooms().find_label("bob").await,
        vec![bob_addr.clone()]
    );

    // except: a local fd, and an address on another node.
    let d = a
        .api()
        .room("r")
        .except(fa)
        .except_addr(&bob_addr)
        .push("p", &json!(1))
        .unwrap();
    assert_eq!(d.delivered, 1, "alice2 here");
    assert_eq!(alice2.expect_push("p").await, json!(1));
    assert_eq!(carol.expect_push("p").await, json!(1));
    alice.expect_silence(QUIET).await;
    bob.expect_silence(QUIET).await;

    // Broadcast to all, from node c, except carol by address (a local one).
    let d = c
        .api()
        .all()
        .except_addr(&addr(c, fc))
        .push("all", &json!("x"))
        .unwrap();
    assert_eq!(d.delivered, 0);
    for cl in [&mut alice, &mut alice2, &mut bob] {
        assert_eq!(cl.expect_push("all").await, json!("x"));
    }
    carol.expect_silence(QUIET).await;

    // `local()` stays on this node.
    let d = a.api().room("r").local().push("here", &json!(0)).unwrap();
    assert_eq!(d.delivered, 2);
    assert_eq!(alice.expect_push("here").await, json!(0));
    assert_eq!(alice2.expect_push("here").await, json!(0));
    bob.expect_silence(QUIET).await;
    carol.expect_silence(QUIET).await;

    // send_to / push_to by address, on another node.
    a.api()
        .send_to_addr(&bob_addr, RawMessage::text(r#"{"cmd":"raw","data":7}"#))
        .unwrap();
    assert_eq!(bob.expect_push("raw").await, json!(7));
    a.api()
        .push_to_addr(&addr(c, fc), "direct", &json!({"to": "carol"}))
        .unwrap();
    assert_eq!(carol.expect_push("direct").await, json!({"to": "carol"}));
    a.api()
        .to_addrs(&[addr(a, fa), bob_addr.clone(), addr(c, fc)])
        .push("many", &json!(3))
        .unwrap();
    for cl in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(cl.expect_push("many").await, json!(3));
    }
    alice2.expect_silence(QUIET).await;

    // Disconnect a connection on another node.
    a.api().disconnect_addr(&bob_addr, 4000, "kicked").unwrap();
    assert_eq!(bob.expect_close().await, (4000, "kicked".to_owned()));
    assert!(
        wait_until(Duration::from_secs(3), || b.api().connection_count() == 0).await,
        "bob is gone from node b"
    );
    assert_eq!(a.api().rooms().cluster_size("r").await, 3);
}

#[tokio::test]
async fn redis_unreachable_at_start_is_an_error_naming_the_url() {
    init_tracing();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // free, and nobody listens once the listener is dropped
    let url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    let err = RedisAdapter::connect(&url, NodeId::new("x"), settings())
        .await
        .expect_err("nothing listens there");
    let msg = err.to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.starts_with("cannot connect to Redis at"), "{msg}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let err = RedisAdapter::connect("http://nope", NodeId::new("x"), settings())
        .await
        .expect_err("not a Redis URL");
    assert!(err.to_string().contains("http://nope"), "{err}");
}

#[tokio::test]
async fn a_killed_node_leaves_the_others_rooms_within_the_node_timeout() {
    let Some((_redis, nodes)) = cluster(&["k1", "k2", "k3"]).await else {
        return;
    };
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut alice = a.connect("alice").await;
    let mut bob = b.connect("bob").await;
    let mut carol = c.connect("carol").await;
    for cl in [&mut alice, &mut bob, &mut carol] {
        ok(cl, "room.join", json!({"room": "lobby"})).await;
    }
    let r = ok(&mut alice, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob", "carol"]));

    // Node c dies without a goodbye: no more heartbeats, no answers.
    let metrics = recorder();
    c.redis.kill();
    let killed = Instant::now();
    let dropped = wait_until(NODE_TIMEOUT * 3, || {
        a.api().peers().len() == 1 && b.api().peers().len() == 1
    })
    .await;
    let took = killed.elapsed();
    assert!(dropped, "node c still listed: {:?}", a.api().peers());
    assert!(
        took <= NODE_TIMEOUT + Duration::from_millis(1500),
        "dropped after {took:?}"
    );
    let r = ok(&mut alice, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(
        r["members"],
        json!(["alice", "bob"]),
        "carol's node is gone"
    );
    // Until then, what a and b published for every node reached one node fewer: counted.
    assert!(
        counter(
            &metrics.render(),
            "swoft_ws_cluster_dropped_total{reason=\"no_subscriber\"}"
        ) >= 1.0,
        "{}",
        metrics.render()
    );
    let r = ok(
        &mut bob,
        "room.send",
        json!({"room": "lobby", "text": "still here"}),
    )
    .await;
    assert_eq!(r["delivered"], 1);
    assert_eq!(
        alice.expect_push("room.message").await["text"],
        "still here"
    );
    // Answers come quickly again: nobody waits for the dead node.
    let asked = Instant::now();
    assert_eq!(b.api().rooms().cluster_size("chat:lobby").await, 2);
    assert!(asked.elapsed() < settings().query_timeout);
    drop(carol);
}

#[tokio::test]
async fn redis_restarted_mid_test_the_cluster_recovers() {
    let Some((mut redis, nodes)) = cluster(&["r1", "r2"]).await else {
        return;
    };
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut alice = a.connect("alice").await;
    let mut amy = a.connect("amy").await;
    let mut bob = b.connect("bob").await;
    for cl in [&mut alice, &mut amy, &mut bob] {
        ok(cl, "room.join", json!({"room": "lobby"})).await;
    }
    let r = ok(&mut bob, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "amy", "bob"]));
    // Redis goes away: local delivery goes on; what cannot reach node b is counted.
    let metrics = recorder();
    redis.kill();
    assert!(
        wait_until(Duration::from_secs(3), || !a.redis.is_connected()).await,
        "node a notices (its next heartbeat fails)"
    );
    let r = ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "local"}),
    )
    .await;
    assert_eq!(r["delivered"], 1, "amy, here; node b cannot be asked: {r}");
    assert_eq!(amy.expect_push("room.message").await["text"], "local");
    let dropped = |text: &str| {
        counter(
            text,
            "swoft_ws_cluster_dropped_total{reason=\"unavailable\"}",
        )
    };
    assert!(
        wait_until(Duration::from_secs(3), || dropped(&metrics.render()) >= 1.0).await,
        "the room message for node b is counted as dropped: {}",
        metrics.render()
    );

    // Redis is back on the same port: the nodes reconnect, re-subscribe, re-announce.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut flowed = false;
    for i in 0..100 {
        if Instant::now() > deadline {
            break;
        }
        let text = format!("after restart {i}");
        ok(
            &mut alice,
            "room.send",
            json!({"room": "lobby", "text": text}),
        )
        .await;
        assert_eq!(amy.expect_push("room.message").await["text"], text);
        // Bob's node may not be back yet: drain what arrives within a short window.
        if let Ok(v) = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                let v = bob.expect_push("room.message").await;
                if v["text"] == text {
                    break v;
                }
            }
        })
        .await
        {
            assert_eq!(v["from"], "alice");
            flowed = true;
            break;
        }
    }
    assert!(flowed, "messages never flowed again after Redis restarted");
    assert!(
        wait_until(Duration::from_secs(5), || a.api().peers().len() == 1
            && b.api().peers().len() == 1)
        .await,
        "the nodes see each other again"
    );
    assert!(
        wait_until(Duration::from_secs(5), || a.redis.is_connected()
            && b.redis.is_connected())
        .await,
        "both publishers reconnect"
    );
    let r = ok(&mut bob, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "amy", "bob"]));
    let r = ok(
        &mut bob,
        "chat.whisper",
        json!({"to": "amy", "text": "back"}),
    )
    .await;
    assert_eq!(r["delivered"], 1);
    assert_eq!(amy.expect_push("chat.whisper").await["text"], "back");
}
