//! What a node can trust of what arrives on its channels: garbage is dropped and counted; node
//! ids are unique (a second process with an id in use refuses to start, and a collision seen
//! later is logged and counted on both); and with a shared secret every message is signed, and
//! what is not signed with it is dropped and counted — including messages published straight to
//! Redis.

use std::time::{Duration, Instant};

use hmac::Mac;
use serde_json::json;
use swoft_ws::cluster::{ClusterSettings, NodeId};
use swoft_ws::redis::{ConnectErrorKind, RedisAdapter};
use swoft_ws_tests::{QUIET, RedisServer, init_tracing, wait_until};

use super::{Node, addr, cluster, counter, fd_of, node, node_with, ok, recorder, settings};

const SECRET: &str = "a secret of the test cluster, 32+";
const OTHER_SECRET: &str = "another cluster's secret, 32 bytes";

/// The wire format's signed flag and kinds (`swoft-ws/src/cluster/packet.rs`).
const SIGNED: u8 = 1;
const K_HEARTBEAT: u8 = 1;
const K_DISCONNECT: u8 = 4;

/// An inter-node message as the wire format (version 2) has it: the head (version, flags,
/// kind, origin, instance tag), then `fields`.
fn packet(flags: u8, kind: u8, origin: &str, fields: &[u8]) -> Vec<u8> {
    let mut b = vec![2, flags, kind];
    b.extend((origin.len() as u32).to_be_bytes());
    b.extend(origin.as_bytes());
    b.extend(0x5eed_u64.to_be_bytes());
    b.extend(fields);
    b
}

/// A disconnect's fields: fd, close code, reason.
fn disconnect(fd: u32, code: u16, reason: &str) -> Vec<u8> {
    let mut b = fd.to_be_bytes().to_vec();
    b.extend(code.to_be_bytes());
    b.extend((reason.len() as u32).to_be_bytes());
    b.extend(reason.as_bytes());
    b
}

/// `msg` with its HMAC-SHA256 under `secret` appended, as a node with that secret signs.
fn signed_with(secret: &str, msg: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(msg);
    [msg, &mac.finalize().into_bytes()[..]].concat()
}

fn with_secret(secret: &str) -> ClusterSettings {
    settings().secret(secret)
}

async fn wait_for_stats(node: &Node, what: &str, cond: impl Fn(&Node) -> bool) {
    assert!(
        wait_until(Duration::from_secs(3), || cond(node)).await,
        "{what}: {:?}",
        node.api().cluster_stats()
    );
}

#[tokio::test]
async fn a_node_whose_id_is_in_use_refuses_to_start_and_starts_once_the_other_is_gone() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let first = node(&redis, "dup").await;
    let err = RedisAdapter::connect(&redis.url(), NodeId::new("dup"), settings())
        .await
        .expect_err("node id dup is in use");
    assert_eq!(err.kind, ConnectErrorKind::NodeIdInUse, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("node id dup is in use"), "{msg}");
    assert!(msg.contains("swoft-ws#node#dup"), "{msg}");
    // Another id is fine, and the first node never noticed anything.
    let other = node(&redis, "other").await;
    assert!(
        wait_until(Duration::from_secs(3), || first.api().peers().len() == 1).await,
        "the first node sees the other"
    );
    assert_eq!(first.api().cluster_stats().node_id_collisions, 0);

    // Once the first process is gone (its app dropped), its id is free again.
    drop(first);
    let mut restarted = None;
    for _ in 0..100 {
        match RedisAdapter::connect(&redis.url(), NodeId::new("dup"), settings()).await {
            Ok(adapter) => {
                restarted = Some(adapter);
                break;
            }
            Err(e) => assert_eq!(e.kind, ConnectErrorKind::NodeIdInUse, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        restarted.is_some(),
        "the id stayed in use after its node was dropped"
    );
    drop(other);
}

#[tokio::test]
async fn a_node_id_collision_after_start_is_logged_and_counted_on_both_nodes() {
    init_tracing();
    let metrics = recorder();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Node one re-subscribes 1.5 s after losing its subscription: a window in which a second
    // process with its id passes the start-up check.
    let slow = settings().reconnect(Duration::from_millis(1500), Duration::from_secs(2));
    let one = node_with(&redis, "twin", slow).await;
    let killed = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "client",
            "kill",
            "type",
            "pubsub",
        ])
        .output()
        .expect("redis-cli");
    assert!(killed.status.success(), "{killed:?}");
    let two = node(&redis, "twin").await;
    for n in [&one, &two] {
        wait_for_stats(n, "the collision is seen on both nodes", |n| {
            n.api().cluster_stats().node_id_collisions == 1
                && n.api().cluster_stats().rejected_node_id_collision >= 1
        })
        .await;
    }
    assert!(
        counter(
            &metrics.render(),
            "swoft_ws_cluster_node_id_collisions_total"
        ) >= 2.0,
        "{}",
        metrics.render()
    );
    // Neither takes the other for a peer.
    assert!(one.api().peers().is_empty() && two.api().peers().is_empty());
    // Heard again (heartbeats every 250 ms), it is still one collision each.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(one.api().cluster_stats().node_id_collisions, 1);
    assert_eq!(two.api().cluster_stats().node_id_collisions, 1);
}

#[tokio::test]
async fn a_cluster_secret_under_16_bytes_is_refused_at_connect() {
    init_tracing();
    let err = RedisAdapter::connect(
        "redis://127.0.0.1:1",
        NodeId::new("x"),
        settings().secret("short"),
    )
    .await
    .expect_err("a 5-byte secret");
    assert_eq!(err.kind, ConnectErrorKind::SecretTooShort, "{err}");
    assert!(err.to_string().contains("at least 16"), "{err}");
}

#[tokio::test]
async fn nodes_with_a_secret_work_together_and_drop_unsigned_or_forged_messages() {
    init_tracing();
    let metrics = recorder();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node_with(&redis, "s1", with_secret(SECRET)).await;
    let b = node_with(&redis, "s2", with_secret(SECRET)).await;
    assert!(
        wait_until(Duration::from_secs(5), || a.api().peers().len() == 1
            && b.api().peers().len() == 1)
        .await,
        "signed heartbeats are taken"
    );
    let mut alice = a.connect("alice").await;
    let mut bob = b.connect("bob").await;
    ok(&mut alice, "room.join", json!({"room": "lobby"})).await;
    let r = ok(&mut bob, "room.join", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob"]));
    assert_eq!(alice.expect_push("room.joined").await["name"], "bob");
    let r = ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "hi"}),
    )
    .await;
    assert_eq!(r["delivered"], 1);
    assert_eq!(bob.expect_push("room.message").await["text"], "hi");

    // A disconnect for bob, claiming to come from node s1, published straight to Redis.
    let fb = fd_of(&b, "bob").get();
    let to_b = "swoft-ws#node#s2";
    let unsigned = packet(0, K_DISCONNECT, "s1", &disconnect(fb, 4000, "forged"));
    assert_eq!(publish_raw(&redis, to_b, &unsigned), 1);
    wait_for_stats(&b, "unsigned", |n| {
        n.api().cluster_stats().rejected_unsigned == 1
    })
    .await;
    let fields = disconnect(fb, 4000, "forged");
    let forged = signed_with(OTHER_SECRET, &packet(SIGNED, K_DISCONNECT, "s1", &fields));
    assert_eq!(publish_raw(&redis, to_b, &forged), 1);
    let garbage = [&packet(SIGNED, K_DISCONNECT, "s1", &fields)[..], &[0; 32]].concat();
    assert_eq!(publish_raw(&redis, to_b, &garbage), 1);
    // A phantom node's heartbeat, unsigned, for every node.
    let phantom = packet(0, K_HEARTBEAT, "phantom", &[]);
    assert_eq!(publish_raw(&redis, "swoft-ws#all", &phantom), 2);
    wait_for_stats(&b, "bad signatures", |n| {
        let s = n.api().cluster_stats();
        s.rejected_bad_signature == 2 && s.rejected_unsigned == 2
    })
    .await;
    wait_for_stats(&a, "the phantom", |n| {
        n.api().cluster_stats().rejected_unsigned == 1
    })
    .await;
    bob.expect_silence(QUIET).await;
    assert_eq!(a.api().peers(), [NodeId::new("s2")], "no phantom peer");
    assert_eq!(b.api().peers(), [NodeId::new("s1")]);
    let text = metrics.render();
    for reason in ["unsigned", "bad_signature"] {
        let series = format!("swoft_ws_cluster_rejected_total{{reason=\"{reason}\"}}");
        assert!(counter(&text, &series) >= 2.0, "{series}: {text}");
    }

    // The same disconnect signed with the cluster's secret is acted on: the rejected ones were
    // well-formed, dropped only for their signature.
    let real = signed_with(
        SECRET,
        &packet(SIGNED, K_DISCONNECT, "s1", &disconnect(fb, 4000, "signed")),
    );
    assert_eq!(publish_raw(&redis, to_b, &real), 1);
    assert_eq!(bob.expect_close().await, (4000, "signed".to_owned()));
    assert_eq!(alice.expect_push("room.left").await["name"], "bob");
}

#[tokio::test]
async fn nodes_with_different_secrets_or_none_do_not_deliver_to_each_other_and_count_drops() {
    init_tracing();
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let x = node_with(&redis, "x", with_secret(SECRET)).await;
    let y = node_with(&redis, "y", with_secret(OTHER_SECRET)).await;
    let z = node(&redis, "z").await;
    // Each hears the others' heartbeats (every 250 ms) and drops them.
    wait_for_stats(&x, "x", |n| {
        let s = n.api().cluster_stats();
        s.rejected_bad_signature >= 2 && s.rejected_unsigned >= 2
    })
    .await;
    wait_for_stats(&y, "y", |n| {
        let s = n.api().cluster_stats();
        s.rejected_bad_signature >= 2 && s.rejected_unsigned >= 2
    })
    .await;
    wait_for_stats(&z, "z", |n| n.api().cluster_stats().rejected_no_secret >= 4).await;
    for n in [&x, &y, &z] {
        assert!(n.api().peers().is_empty(), "{:?}", n.api().peers());
    }

    let mut alice = x.connect("alice").await;
    let mut bob = y.connect("bob").await;
    let mut carol = z.connect("carol").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        ok(c, "room.join", json!({"room": "lobby"})).await;
    }
    let r = ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "x only"}),
    )
    .await;
    assert_eq!(r["delivered"], 0);
    let bob_addr = addr(&y, fd_of(&y, "bob"));
    let before = y.api().cluster_stats().rejected_bad_signature;
    x.api()
        .push_to_addr(&bob_addr, "direct", &json!("from x"))
        .unwrap();
    wait_for_stats(&y, "the push from x", |n| {
        n.api().cluster_stats().rejected_bad_signature > before
    })
    .await;
    bob.expect_silence(QUIET).await;
    carol.expect_silence(QUIET).await;
}

#[tokio::test]
async fn garbage_on_the_channels_is_ignored() {
    let Some((redis, nodes)) = cluster(&["g1", "g2"]).await else {
        return;
    };
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut alice = a.connect("alice").await;
    let mut bob = b.connect("bob").await;
    ok(&mut alice, "room.join", json!({"room": "lobby"})).await;
    ok(&mut bob, "room.join", json!({"room": "lobby"})).await;
    // Not our format (version 1, the one before instance tags), a truncated header, a known
    // kind with a cut body, huge counts.
    let z = [0u8; 8];
    let payloads: [Vec<u8>; 7] = [
        b"hello".to_vec(),
        Vec::new(),
        vec![1],
        [&[1u8, 3, 0, 0, 0, 2][..], b"zz", &[0]].concat(),
        [&[1u8, 3, 0, 0, 0, 2][..], b"zz", &[3, 255, 255, 255, 255]].concat(),
        [
            &[1u8, 6, 0, 0, 0, 2][..],
            b"zz",
            &z,
            &[0, 255, 255, 255, 255],
        ]
        .concat(),
        [&[1u8, 5, 0, 0, 0, 2][..], b"zz", &z, &[9]].concat(),
    ];
    for payload in &payloads {
        for (channel, subscribers) in [("swoft-ws#all", 2), ("swoft-ws#node#g1", 1)] {
            let got = publish_raw(&redis, channel, payload);
            assert_eq!(got, subscribers, "{channel} reached its subscribers");
        }
    }
    // Each was dropped and counted: node g1 got them on both channels, g2 on one.
    let n = payloads.len() as u64;
    assert!(
        wait_until(Duration::from_secs(3), || {
            a.api().cluster_stats().rejected_malformed == 2 * n
                && b.api().cluster_stats().rejected_malformed == n
        })
        .await,
        "{:?} {:?}",
        a.api().cluster_stats(),
        b.api().cluster_stats()
    );
    // No phantom node: the stray messages' origin is not taken for a peer.
    assert_eq!(a.api().peers(), [NodeId::new("g2")]);
    assert_eq!(b.api().peers(), [NodeId::new("g1")]);
    let asked = Instant::now();
    let r = ok(
        &mut alice,
        "room.send",
        json!({"room": "lobby", "text": "still fine"}),
    )
    .await;
    assert!(
        asked.elapsed() < settings().query_timeout,
        "nobody waited for a phantom"
    );
    assert_eq!(r["delivered"], 1);
    assert_eq!(bob.expect_push("room.message").await["text"], "still fine");
    let r = ok(&mut bob, "room.members", json!({"room": "lobby"})).await;
    assert_eq!(r["members"], json!(["alice", "bob"]));
}

/// Publishes `payload` as it is on `channel` (through `redis-cli`: a Lua string with decimal
/// escapes carries any bytes); how many subscribers got it.
fn publish_raw(redis: &RedisServer, channel: &str, payload: &[u8]) -> usize {
    let lua: String = payload.iter().map(|b| format!("\\{b:03}")).collect();
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "eval"])
        .arg(format!("return redis.call('publish', KEYS[1], '{lua}')"))
        .args(["1", channel])
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "{out:?}");
    let got = String::from_utf8_lossy(&out.stdout);
    got.trim()
        .parse()
        .unwrap_or_else(|_| panic!("PUBLISH answered {got:?}"))
}
