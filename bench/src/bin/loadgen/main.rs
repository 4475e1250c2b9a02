//! The load generator: drives one server in one mode and prints one `RESULT {json}` line (an
//! [`Outcome`]).
//!
//! ```text
//! loadgen echo      --url ws://H:P/raw  --conns 64 --inflight 16 --size 32 [--json] --secs 2 --server-pid PID
//! loadgen idle      --url ws://H:P/raw  --conns 19000 --server-pid PID
//! loadgen broadcast --url ws://H:P/room --members 10000 --rounds 10 --server-pid PID
//! loadgen handshake --url ws://H:P/hs?name=bench --conns 16 --secs 2 --server-pid PID
//! ```
//!
//! With `--wire` (`echo`, `idle`, `broadcast`), the clients are raw sockets ([`wire`]) that
//! send and receive `json_doc`s and count the bytes on the wire; with `--deflate` as well they
//! offer permessage-deflate (as Chrome does) and inflate what they get.
//!
//! It runs on one thread (the driver pins it to core 0). To stay out of the way it pipelines
//! (P frames in flight per connection, one flush per batch of replies), counts replies without
//! parsing them, and reuses one frame (shared bytes) for every send. Every loop is bounded in
//! count and in time (`--timeout-secs`, default 20, for each wait).

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt, stream};
use swoft_ws_bench::stats::percentile;
use swoft_ws_bench::{Args, Outcome, procfs};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_tls_with_config};

mod wire;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Error = Box<dyn std::error::Error>;

/// Small client buffers, so 19,000 held connections fit in the client's memory too.
fn client_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

/// The TLS client configuration when `--ca PEM` is given (for `wss://` URLs).
static TLS: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();

async fn connect(url: &str) -> Result<Ws, Error> {
    let connector = TLS
        .get()
        .map(|c| tokio_tungstenite::Connector::Rustls(c.clone()));
    let (ws, _) =
        connect_async_tls_with_config(url, Some(client_config()), true, connector).await?;
    Ok(ws)
}

struct Common {
    pid: u32,
    wait: Duration,
}

impl Common {
    fn cpu(&self) -> f64 {
        procfs::cpu_us(self.pid).unwrap_or(f64::NAN)
    }
}

fn main() {
    let args = Args::from_env();
    let nofile = procfs::raise_nofile();
    if let Some(ca) = args.str("ca") {
        match swoft_ws_bench::tls::client_config(ca.as_ref()) {
            Ok(config) => {
                let _ = TLS.set(config);
            }
            Err(e) => {
                eprintln!("loadgen: --ca {ca}: {e}");
                std::process::exit(2);
            }
        }
    }
    let common = Common {
        pid: args.get("server-pid", 0),
        wait: Duration::from_secs(args.get("timeout-secs", 20)),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let local = tokio::task::LocalSet::new();
    let mode = args.mode.clone().unwrap_or_default();
    let result = local.block_on(&rt, async {
        match mode.as_str() {
            "echo" if args.flag("wire") => wire::echo(&args, &common).await,
            "idle" if args.flag("wire") => wire::idle(&args, &common, nofile).await,
            "broadcast" if args.flag("wire") => wire::broadcast(&args, &common).await,
            "echo" => echo(&args, &common).await,
            "idle" => idle(&args, &common, nofile).await,
            "broadcast" => broadcast(&args, &common).await,
            "handshake" => handshake(&args, &common).await,
            other => {
                Err(format!("unknown mode {other:?}: echo, idle, broadcast, handshake").into())
            }
        }
    });
    match result {
        Ok(outcome) => {
            println!(
                "RESULT {}",
                serde_json::to_string(&outcome).expect("an outcome serializes")
            );
        }
        Err(e) => {
            eprintln!("loadgen {mode}: {e}");
            std::process::exit(1);
        }
    }
}

/// Connects `n` clients to `url`, `at_once` at a time, within `wait`; returns those that
/// connected and the first error, if any.
async fn connect_many(url: &str, n: usize, at_once: usize, wait: Duration) -> (Vec<Ws>, String) {
    let deadline = Instant::now() + wait;
    let mut conns = Vec::with_capacity(n);
    let mut note = String::new();
    let mut attempts = stream::iter(0..n)
        .map(|_| async {
            timeout(
                deadline.saturating_duration_since(Instant::now()),
                connect(url),
            )
            .await
        })
        .buffer_unordered(at_once);
    while let Some(r) = attempts.next().await {
        match r {
            Ok(Ok(ws)) => conns.push(ws),
            Ok(Err(e)) if note.is_empty() => note = format!("connect failed: {e}"),
            Err(_) if note.is_empty() => note = "connect timed out".to_owned(),
            _ => {}
        }
    }
    (conns, note)
}

/// What the measuring loop tells the connection tasks.
#[derive(Default)]
struct Phase {
    counting: AtomicBool,
    stop: AtomicBool,
}

#[derive(Default)]
struct EchoStats {
    count: u64,
    lat_us: Vec<f64>,
    error: Option<String>,
}

/// Lets the tasks warm up, then counts for `secs` (the tasks count while `phase.counting`),
/// then tells them to stop: the server CPU time used in the window (µs) and its length (s).
async fn counted_window(c: &Common, phase: &Phase, warmup: Duration, secs: Duration) -> (f64, f64) {
    tokio::time::sleep(warmup).await;
    let cpu0 = c.cpu();
    let t0 = Instant::now();
    phase.counting.store(true, Ordering::Relaxed);
    tokio::time::sleep(secs).await;
    phase.counting.store(false, Ordering::Relaxed);
    let cpu1 = c.cpu();
    let elapsed = t0.elapsed().as_secs_f64();
    phase.stop.store(true, Ordering::Relaxed);
    (cpu1 - cpu0, elapsed)
}

/// C connections, P frames in flight on each, until told to stop; counts the replies received
/// while `counting` is set and their round-trip times.
async fn echo(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let conns: usize = args.get("conns", 64);
    let inflight: usize = args.get("inflight", 16).max(1);
    let size: usize = args.get("size", 32);
    let warmup = Duration::from_millis(args.get("warmup-ms", 500));
    let secs = Duration::from_millis((args.get("secs", 2.0f64) * 1000.0) as u64);

    let (sockets, note) = connect_many(&url, conns, 64, c.wait).await;
    if sockets.is_empty() {
        return Err(format!("no connection: {note}").into());
    }
    let n = sockets.len();
    let phase = Rc::new(Phase::default());
    let mut tasks = Vec::with_capacity(n);
    for (i, ws) in sockets.into_iter().enumerate() {
        let payload = "x".repeat(size);
        let frame = if args.flag("json") {
            Message::text(format!(
                r#"{{"cmd":"echo.send","data":"{payload}","id":{i}}}"#
            ))
        } else {
            Message::text(payload)
        };
        tasks.push(tokio::task::spawn_local(echo_conn(
            ws,
            frame,
            inflight,
            phase.clone(),
            c.wait,
        )));
    }
    let (server_cpu_us, elapsed) = counted_window(c, &phase, warmup, secs).await;

    let mut total = EchoStats::default();
    for t in tasks {
        let s = timeout(c.wait, t)
            .await
            .map_err(|_| "a connection did not finish")??;
        total.count += s.count;
        total.lat_us.extend(s.lat_us);
        if total.error.is_none() {
            total.error = s.error;
        }
    }
    let mut lat = total.lat_us;
    Ok(Outcome {
        units: total.count,
        secs: elapsed,
        server_cpu_us,
        p50_us: percentile(&mut lat, 50.0),
        p99_us: percentile(&mut lat, 99.0),
        rss_kib_per_conn: f64::NAN,
        wire_bytes_per_unit: f64::NAN,
        conns: n as u64,
        note: [note, total.error.unwrap_or_default()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

async fn echo_conn(
    mut ws: Ws,
    frame: Message,
    inflight: usize,
    phase: Rc<Phase>,
    wait: Duration,
) -> EchoStats {
    let mut stats = EchoStats::default();
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(inflight);
    let r: Result<(), Error> = async {
        for _ in 0..inflight {
            ws.feed(frame.clone()).await?;
            sent.push_back(Instant::now());
        }
        ws.flush().await?;
        while !sent.is_empty() {
            let first = timeout(wait, ws.next())
                .await
                .map_err(|_| "no reply in time")?;
            let mut next = first;
            loop {
                match next {
                    Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                        let at = sent.pop_front().ok_or("a reply nobody asked for")?;
                        if phase.counting.load(Ordering::Relaxed) {
                            stats.count += 1;
                            stats.lat_us.push(at.elapsed().as_secs_f64() * 1e6);
                        }
                        if !phase.stop.load(Ordering::Relaxed) {
                            ws.feed(frame.clone()).await?;
                            sent.push_back(Instant::now());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err("the server closed the connection".into()),
                }
                // Take every reply already read before flushing once.
                match ws.next().now_or_never() {
                    Some(m) => next = m,
                    None => break,
                }
            }
            ws.flush().await?;
        }
        Ok(())
    }
    .await;
    if let Err(e) = r {
        stats.error = Some(e.to_string());
    }
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    stats
}

/// N connections held open; the server's RSS before and after, per connection.
async fn idle(args: &Args, c: &Common, nofile: u64) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let want: usize = args.get("conns", 19_000);
    let settle = Duration::from_millis(args.get("settle-ms", 1000));
    // Leave room for stdio and the runtime's own descriptors.
    let n = want.min(nofile.saturating_sub(64) as usize);
    let before = procfs::rss_kib(c.pid).ok_or("cannot read the server's RSS")?;
    let cpu0 = c.cpu();
    let t0 = Instant::now();
    let (conns, mut note) = connect_many(&url, n, 128, c.wait * 3).await;
    let elapsed = t0.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = procfs::rss_kib(c.pid).ok_or("cannot read the server's RSS")?;
    let cpu1 = c.cpu();
    if n < want {
        note = format!("{n} of {want} asked (open-file limit {nofile}); {note}");
    }
    let held = conns.len();
    drop(conns);
    Ok(Outcome {
        units: held as u64,
        secs: elapsed,
        server_cpu_us: cpu1 - cpu0,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        rss_kib_per_conn: (after as f64 - before as f64) / held.max(1) as f64,
        wire_bytes_per_unit: f64::NAN,
        conns: held as u64,
        note,
    })
}

/// The nanoseconds since `base` in the payload `b:NANOS:` padded to `size`.
fn stamp(base: Instant, size: usize) -> String {
    let mut s = format!("b:{}:", base.elapsed().as_nanos());
    while s.len() < size {
        s.push('.');
    }
    s
}

fn read_stamp(text: &str) -> Option<u64> {
    text.strip_prefix("b:")?.split(':').next()?.parse().ok()
}

/// M members in a room and one sender; each round the sender sends one frame and waits until
/// every member got it. Fan-out latency from the send to each member's receipt; server CPU per
/// delivery.
async fn broadcast(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let members: usize = args.get("members", 10_000);
    let rounds: u64 = args.get("rounds", 10);
    let size: usize = args.get("size", 32);
    let sep = if url.contains('?') { '&' } else { '?' };
    let (member_socks, note) =
        connect_many(&format!("{url}{sep}member=1"), members, 128, c.wait * 3).await;
    let m = member_socks.len() as u64;
    if m == 0 {
        return Err(format!("no member connected: {note}").into());
    }
    let mut sender = connect(&url).await?;
    let base = Instant::now();
    let received = Rc::new(AtomicU64::new(0));
    let counting = Rc::new(AtomicBool::new(false));
    let lat = Rc::new(std::cell::RefCell::new(Vec::<f64>::with_capacity(
        (m * rounds) as usize,
    )));
    let mut tasks = Vec::with_capacity(member_socks.len());
    for mut ws in member_socks {
        let (received, counting, lat) = (received.clone(), counting.clone(), lat.clone());
        tasks.push(tokio::task::spawn_local(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(t) = msg else { continue };
                if counting.load(Ordering::Relaxed)
                    && let Some(ns) = read_stamp(t.as_str())
                {
                    let now = base.elapsed().as_nanos() as u64;
                    lat.borrow_mut().push(now.saturating_sub(ns) as f64 / 1e3);
                }
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Members join in the server's open hook, which may run just after the handshake
    // answered: broadcast until a round reaches everyone (a few tries, bounded).
    let wait_for = |target: u64| {
        let received = received.clone();
        async move {
            let deadline = Instant::now() + c.wait;
            while received.load(Ordering::Relaxed) < target && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            received.load(Ordering::Relaxed) >= target
        }
    };
    let mut warm = false;
    for _ in 0..20 {
        received.store(0, Ordering::Relaxed);
        sender.send(Message::text(stamp(base, size))).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if wait_for(m).await && received.load(Ordering::Relaxed) == m {
            warm = true;
            break;
        }
    }
    if !warm {
        return Err(format!(
            "members never all received a warm-up broadcast ({} of {m})",
            received.load(Ordering::Relaxed)
        )
        .into());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    received.store(0, Ordering::Relaxed);
    counting.store(true, Ordering::Relaxed);
    let cpu0 = c.cpu();
    let t0 = Instant::now();
    let mut done = 0;
    let mut note = note;
    for r in 1..=rounds {
        sender.send(Message::text(stamp(base, size))).await?;
        if !wait_for(m * r).await {
            note = format!(
                "round {r}: only {} deliveries",
                received.load(Ordering::Relaxed)
            );
            break;
        }
        done = r;
    }
    let cpu1 = c.cpu();
    let elapsed = t0.elapsed().as_secs_f64();
    counting.store(false, Ordering::Relaxed);
    let deliveries = received.load(Ordering::Relaxed);
    let _ = timeout(Duration::from_secs(1), sender.close(None)).await;
    for t in &tasks {
        t.abort();
    }
    let mut lat = std::mem::take(&mut *lat.borrow_mut());
    let _ = done;
    Ok(Outcome {
        units: deliveries,
        secs: elapsed,
        server_cpu_us: cpu1 - cpu0,
        p50_us: percentile(&mut lat, 50.0),
        p99_us: percentile(&mut lat, 99.0),
        rss_kib_per_conn: f64::NAN,
        wire_bytes_per_unit: f64::NAN,
        conns: m,
        note,
    })
}

/// `--conns` loops, each: connect (handshake), close, wait for the server's close; counts the
/// handshakes finished in the window and their latency.
async fn handshake(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let loops: usize = args.get("conns", 16);
    let warmup = Duration::from_millis(args.get("warmup-ms", 300));
    let secs = Duration::from_millis((args.get("secs", 2.0f64) * 1000.0) as u64);
    let phase = Rc::new(Phase::default());
    let mut tasks = Vec::new();
    for _ in 0..loops {
        let (url, phase, wait) = (url.clone(), phase.clone(), c.wait);
        tasks.push(tokio::task::spawn_local(async move {
            let mut stats = EchoStats::default();
            // Bounded: stops when told, and never runs more than a million handshakes.
            for _ in 0..1_000_000 {
                if phase.stop.load(Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                let mut ws = match timeout(wait, connect(&url)).await {
                    Ok(Ok(ws)) => ws,
                    Ok(Err(e)) => {
                        stats.error = Some(e.to_string());
                        break;
                    }
                    Err(_) => {
                        stats.error = Some("handshake timed out".to_owned());
                        break;
                    }
                };
                if phase.counting.load(Ordering::Relaxed) {
                    stats.count += 1;
                    stats.lat_us.push(t.elapsed().as_secs_f64() * 1e6);
                }
                let _ = timeout(wait, async {
                    let _ = ws.close(None).await;
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }
            stats
        }));
    }
    let (server_cpu_us, elapsed) = counted_window(c, &phase, warmup, secs).await;
    let mut count = 0;
    let mut lat = Vec::new();
    let mut note = String::new();
    for t in tasks {
        let s = timeout(c.wait, t)
            .await
            .map_err(|_| "a loop did not finish")??;
        count += s.count;
        lat.extend(s.lat_us);
        if note.is_empty() {
            note = s.error.unwrap_or_default();
        }
    }
    Ok(Outcome {
        units: count,
        secs: elapsed,
        server_cpu_us,
        p50_us: percentile(&mut lat, 50.0),
        p99_us: percentile(&mut lat, 99.0),
        rss_kib_per_conn: f64::NAN,
        wire_bytes_per_unit: f64::NAN,
        conns: loops as u64,
        note,
    })
}
