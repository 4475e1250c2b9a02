//! What a second node costs a broadcast: two swoft-ws nodes in this process, sharing a
//! `redis-server` on loopback (started here on a free port, `--save "" --appendonly no`;
//! `redis-server` must be installed).
//!
//! 1. **Latency.** One client on node A (local to the sender) and one on node B, both in room
//!    `r`. Node A pushes to the room from the `Server` API, one push at a time (the next once
//!    both clients have it); each client stamps the arrival. Reports p50/p99 of the local and
//!    the cross-node latency, and of the difference (what the second node adds).
//! 2. **Fan-out throughput.** `--members` clients on node B in room `r`; node A pushes
//!    `--messages` pushes in windows of `--window` (waits until every member has the window
//!    before the next); reports pushes/s and deliveries/s on node B.
//!
//! `cluster [--samples 5000] [--members 50] [--messages 20000] [--window 500]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use swoft_ws::cluster::{ClusterSettings, NodeId};
use swoft_ws::prelude::*;
use swoft_ws::redis::RedisAdapter;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// `/b`: clients with `?room=1` join room `r` when they open.
#[ws_module(path = "/b", parser = raw)]
struct BenchModule;

#[ws_module]
impl BenchModule {
    #[on_open]
    fn open(conn: &Connection) {
        if conn.handshake().query_param("room").is_some() {
            conn.join("r").expect("one room");
        }
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

/// A redis-server on a free loopback port, killed on drop.
struct Redis(std::process::Child, u16, std::path::PathBuf);

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("swoft-ws-bench-redis-{port}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Redis(child, port, dir);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

async fn node(url: &str, id: &str) -> (Server, String) {
    let adapter = RedisAdapter::connect(url, NodeId::new(id), ClusterSettings::default())
        .await
        .expect("connect to redis");
    let app = App::builder()
        .module::<BenchModule>()
        .outbound_queue(1 << 16)
        .outbound_bytes(64 << 20)
        .cluster(adapter)
        .build()
        .expect("build");
    let server = app.server().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let _ = app.serve_listener(listener).await;
    });
    (server, addr)
}

/// A client in room `r` that stamps every frame: `seen` counts frames, `stamps[i]` holds the
/// arrival time (ns since `epoch`) of the frame whose text is `i`; `wake` is notified.
async fn member(
    addr: &str,
    epoch: Instant,
    stamps: Option<Arc<Vec<AtomicU64>>>,
    seen: Arc<AtomicU64>,
    wake: Arc<Notify>,
) {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/b?room=1"))
        .await
        .expect("connect");
    let (_, mut rx) = ws.split();
    tokio::spawn(async move {
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Text(t) = m {
                let now = epoch.elapsed().as_nanos() as u64;
                let i = t.as_str().parse::<usize>().ok();
                if let Some(slot) = stamps.as_ref().zip(i).and_then(|(st, i)| st.get(i)) {
                    slot.store(now, Ordering::Release);
                }
                seen.fetch_add(1, Ordering::AcqRel);
                wake.notify_one();
            }
        }
    });
}

/// Waits (up to 30 s) until `cond`, woken by the members' arrivals (no busy loop: the two
/// cores are the servers', Redis's and the clients').
async fn wait(wake: &Notify, cond: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        let _ = tokio::time::timeout(left.min(Duration::from_millis(50)), wake.notified()).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let samples = arg("--samples", 5000);
    let members = arg("--members", 50);
    let messages = arg("--messages", 20000);
    let window = arg("--window", 500).max(1);

    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}", redis.1);
    let (a, addr_a) = node(&url, "a").await;
    let (b, addr_b) = node(&url, "b").await;
    let wake = Arc::new(Notify::new());
    wait(
        &wake,
        || a.peers().len() == 1 && b.peers().len() == 1,
        "the nodes to meet",
    )
    .await;

    // 1. Latency, local vs cross-node.
    let epoch = Instant::now();
    let local_st: Arc<Vec<AtomicU64>> = Arc::new((0..samples).map(|_| AtomicU64::new(0)).collect());
    let remote_st: Arc<Vec<AtomicU64>> =
        Arc::new((0..samples).map(|_| AtomicU64::new(0)).collect());
    let (local_seen, remote_seen) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    member(
        &addr_a,
        epoch,
        Some(local_st.clone()),
        local_seen.clone(),
        wake.clone(),
    )
    .await;
    member(
        &addr_b,
        epoch,
        Some(remote_st.clone()),
        remote_seen.clone(),
        wake.clone(),
    )
    .await;
    wait(
        &wake,
        || a.rooms().size("r") == 1 && b.rooms().size("r") == 1,
        "members",
    )
    .await;
    // Warm up.
    for _ in 0..200 {
        let _ = a.room("r").send(RawMessage::text("warm"));
    }
    wait(
        &wake,
        || remote_seen.load(Ordering::Acquire) >= 200,
        "warm-up",
    )
    .await;
    let (mut local, mut remote, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..samples {
        let (l0, r0) = (
            local_seen.load(Ordering::Acquire),
            remote_seen.load(Ordering::Acquire),
        );
        let sent = epoch.elapsed().as_nanos() as u64;
        let _ = a.room("r").send(RawMessage::text(i.to_string()));
        wait(
            &wake,
            || local_seen.load(Ordering::Acquire) > l0 && remote_seen.load(Ordering::Acquire) > r0,
            "a sample",
        )
        .await;
        let l = (local_st[i].load(Ordering::Acquire) - sent) as f64 / 1000.0;
        let r = (remote_st[i].load(Ordering::Acquire) - sent) as f64 / 1000.0;
        local.push(l);
        remote.push(r);
        added.push(r - l);
    }
    println!("latency over {samples} room broadcasts from node a (µs): p50 / p99");
    println!(
        "  local member (node a):       {:8.1} / {:8.1}",
        pct(&mut local, 0.5),
        pct(&mut local, 0.99)
    );
    println!(
        "  cross-node member (node b):  {:8.1} / {:8.1}",
        pct(&mut remote, 0.5),
        pct(&mut remote, 0.99)
    );
    println!(
        "  added by the second node:    {:8.1} / {:8.1}",
        pct(&mut added, 0.5),
        pct(&mut added, 0.99)
    );

    // 2. Fan-out throughput to `members` clients on node b.
    let seen = Arc::new(AtomicU64::new(0));
    for _ in 0..members {
        member(&addr_b, epoch, None, seen.clone(), wake.clone()).await;
    }
    wait(&wake, || b.rooms().size("r") == members + 1, "members on b").await;
    let base_remote = remote_seen.load(Ordering::Acquire);
    let base_local = local_seen.load(Ordering::Acquire);
    let payload = RawMessage::text("x".repeat(64));
    let started = Instant::now();
    let mut sent = 0;
    while sent < messages {
        let n = window.min(messages - sent);
        for _ in 0..n {
            let _ = a.room("r").send(payload.clone());
        }
        sent += n;
        let want = (sent * members) as u64;
        wait(&wake, || seen.load(Ordering::Acquire) >= want, "a window").await;
    }
    let took = started.elapsed().as_secs_f64();
    let _ = (base_remote, base_local);
    println!(
        "fan-out: {messages} pushes (64 B) from node a to {members} members on node b in windows of {window}: \
         {:.2} s, {:.0} pushes/s, {:.0} deliveries/s on node b",
        took,
        messages as f64 / took,
        (messages * members) as f64 / took
    );
    drop(redis);
}
