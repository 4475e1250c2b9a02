//! The load generator: drives one server in one mode and prints one `RESULT {json}` line (an
//! [`Outcome`]).
//!
//! ```text
//! loadgen echo      --url ws://H:P/raw  --conns 64 --inflight 16 --size 32 [--json] --secs 2 --server-pid PID
//! loadgen idle      --url ws://H:P/raw  --conns 19000 --server-pid PID
//! loadgen broadcast --url ws://H:P/room --members 10000 --rounds 10 --server-pid PID
//! loadgen handshake --url ws://H:P/hs?name=bench --conns 16 --secs 2 --server-pid PID
//! loadgen broadcast --url ws://H:P/bcast_json_rec --json --members 10000 --rounds 10 --server-pid PID
//! loadgen resume    --url ws://H:P/bcast_json_rec --clients 10000 --missed 1 --server-pid PID
//! ```
//!
//! `broadcast --json` drives the JSON room modules (`room.say` → `room.message`), skipping the
//! `$session` frame a recovery module sends first. `resume` (issue 16): see [`resume`].
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
            "resume" => resume(&args, &common).await,
            other => Err(format!(
                "unknown mode {other:?}: echo, idle, broadcast, handshake, resume"
            )
            .into()),
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
    connect_many_with(n, at_once, wait, || connect(url)).await
}

/// `n` connections made by `connect`, `at_once` at a time, within `wait`: those made, and the
/// first error, if any.
async fn connect_many_with<C, E, F>(
    n: usize,
    at_once: usize,
    wait: Duration,
    connect: impl Fn() -> F,
) -> (Vec<C>, String)
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<C, E>>,
{
    let deadline = Instant::now() + wait;
    let mut conns = Vec::with_capacity(n);
    let mut note = String::new();
    let mut attempts = stream::iter(0..n)
        .map(|_| {
            timeout(
                deadline.saturating_duration_since(Instant::now()),
                connect(),
            )
        })
        .buffer_unordered(at_once);
    while let Some(r) = attempts.next().await {
        match r {
            Ok(Ok(c)) => conns.push(c),
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

/// The stamp of a frame: the raw payload `b:NANOS:...`, or a JSON push whose data is it.
fn read_stamp(text: &str) -> Option<u64> {
    let at = text.find("b:")?;
    text[at + 2..].split(':').next()?.parse().ok()
}

/// The first frame a recovery module sends (`$session`), which is no delivery.
fn is_session(text: &str) -> bool {
    text.starts_with(r#"{"cmd":"$session""#)
}

/// What members of the JSON room modules are sent by the sender: `room.say` with the stamp.
fn say(stamp: &str) -> Message {
    Message::text(format!(r#"{{"cmd":"room.say","data":"{stamp}"}}"#))
}

/// M members in a room and one sender; each round the sender sends one frame and waits until
/// every member got it. Fan-out latency from the send to each member's receipt; server CPU per
/// delivery.
async fn broadcast(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let members: usize = args.get("members", 10_000);
    let rounds: u64 = args.get("rounds", 10);
    let size: usize = args.get("size", 32);
    let json = args.flag("json");
    let frame = |stamp: String| {
        if json {
            say(&stamp)
        } else {
            Message::text(stamp)
        }
    };
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
                if is_session(t.as_str()) {
                    continue;
                }
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
        sender.send(frame(stamp(base, size))).await?;
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
        sender.send(frame(stamp(base, size))).await?;
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

/// The text of the next text frame (other frames skipped), within `wait`.
async fn next_text(ws: &mut Ws, wait: Duration) -> Result<String, Error> {
    let deadline = Instant::now() + wait;
    // Bounded: a connection that only sends pings would end at the deadline anyway.
    for _ in 0..1_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, ws.next()).await {
            Err(_) => return Err("no frame in time".into()),
            Ok(None) => return Err("the server closed the connection".into()),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.as_str().to_owned()),
            Ok(Some(Ok(_))) => {}
        }
    }
    Err("no text frame among 1000".into())
}

/// A `$session` frame's data: (token, resumed, replayed).
fn session_of(text: &str) -> Result<(String, bool, u64), Error> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    if v["cmd"] != "$session" {
        return Err(format!("expected $session first, got {text:.80}").into());
    }
    let d = &v["data"];
    let token = d["token"].as_str().ok_or("no token")?.to_owned();
    let resumed = d["resumed"].as_bool().unwrap_or(false);
    let replayed = d["replayed"].as_u64().unwrap_or(0);
    if !resumed && d.get("reason").is_some() {
        return Err(format!("resume refused: {}", d["reason"]).into());
    }
    Ok((token, resumed, replayed))
}

/// The offset (`"off"`) of a push.
fn off_of(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v["off"].as_str().map(str::to_owned)
}

/// Issue 16: N members of a recovery module's room (`?member=1`) record their tokens and, after
/// one warm-up broadcast, their last offset; all their TCP connections are then dropped at once
/// (no close frame: their sessions stay resumable). Once the server has closed them all (its
/// open descriptors back to where they were), the sender broadcasts `--missed` K pushes to the
/// empty room (recorded for the dropped sessions). Then all N reconnect with
/// `resume=T&off=O`, `--at-once` (default: all) at a time; measured from the first reconnect
/// until every client has `$session` with `resumed:true` and its replayed pushes: the time
/// (`secs`), the server CPU per resume, and the p50/p99 of when each client was done.
async fn resume(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let n: usize = args.get("clients", 10_000);
    let missed: usize = args.get("missed", 1);
    let at_once: usize = args.get("at-once", n).max(1);
    let size: usize = args.get("size", 32);
    let sep = if url.contains('?') { '&' } else { '?' };
    let member_url = format!("{url}{sep}member=1");
    let fds0 = procfs::fd_count(c.pid).ok_or("cannot read the server's descriptors")?;

    // 1. N members, each with its token.
    let (socks, mut note) = connect_many(&member_url, n, 128, c.wait * 3).await;
    if socks.len() < n {
        return Err(format!("only {} of {n} members connected: {note}", socks.len()).into());
    }
    let wait = c.wait;
    let mut members: Vec<(Ws, String)> = stream::iter(socks)
        .map(|mut ws| async move {
            let (token, _, _) = session_of(&next_text(&mut ws, wait).await?)?;
            Ok::<_, Error>((ws, token))
        })
        .buffer_unordered(1024)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;

    // 2. A warm-up broadcast, so that every member has an offset (members join in the open
    // hook, which may run just after `$session`: a few tries, bounded).
    let mut sender = connect(&url).await?;
    let base = Instant::now();
    let _ = session_of(&next_text(&mut sender, wait).await?)?;
    let mut offs: Vec<Option<String>> = vec![None; members.len()];
    for _ in 0..5 {
        sender.send(say(&stamp(base, size))).await?;
        let short = Duration::from_secs(2).min(wait);
        let got: Vec<Option<String>> = stream::iter(members.iter_mut().zip(&offs))
            .map(|((ws, _), off)| async move {
                if off.is_some() {
                    return off.clone();
                }
                let t = next_text(ws, short).await.ok()?;
                off_of(&t)
            })
            .buffered(1024)
            .collect()
            .await;
        offs = got;
        if offs.iter().all(Option::is_some) {
            break;
        }
    }
    let missing = offs.iter().filter(|o| o.is_none()).count();
    if missing > 0 {
        return Err(format!("{missing} members never received a warm-up broadcast").into());
    }

    // 3. Every member's TCP connection dropped at once, without a close frame; wait (bounded)
    // until the server has closed them all.
    let clients: Vec<(String, String)> = members
        .into_iter()
        .zip(offs)
        .map(|((ws, token), off)| {
            // Dropped: the socket is closed with no close frame (a 1006 to the server).
            drop(ws);
            (token, off.unwrap_or_default())
        })
        .collect();
    let deadline = Instant::now() + c.wait * 3;
    loop {
        let now = procfs::fd_count(c.pid).ok_or("cannot read the server's descriptors")?;
        // The sender's connection is still open.
        if now <= fds0 + 1 {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!("the server still has {} descriptors open", now - fds0).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // 4. The pushes they miss, recorded for their dropped sessions (then a moment for the
    // server to have read them: the sender gets no reply).
    for _ in 0..missed {
        sender.send(say(&stamp(base, size))).await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 5. All resume, `at_once` at a time; each is done when it has `$session` (resumed) and
    // the pushes replayed. The new connections are held until the CPU is read.
    let me = std::process::id();
    let (cpu0, own0) = (c.cpu(), procfs::cpu_us(me).unwrap_or(f64::NAN));
    let t0 = Instant::now();
    let deadline = t0 + c.wait * 3;
    let results: Vec<Result<(Ws, f64, u64), Error>> = stream::iter(clients)
        .map(|(token, off)| {
            let url = format!("{member_url}&resume={token}&off={off}");
            async move {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut ws = timeout(left, connect(&url))
                    .await
                    .map_err(|_| "resume: connect timed out")??;
                let (_, resumed, replayed) = session_of(&next_text(&mut ws, left).await?)?;
                if !resumed {
                    return Err("not resumed".into());
                }
                for _ in 0..replayed {
                    let t = next_text(&mut ws, left).await?;
                    if off_of(&t).is_none() {
                        return Err(format!("a replayed frame without offset: {t:.80}").into());
                    }
                }
                Ok((ws, t0.elapsed().as_secs_f64(), replayed))
            }
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let (cpu1, own1) = (c.cpu(), procfs::cpu_us(me).unwrap_or(f64::NAN));
    let mut done = Vec::with_capacity(results.len());
    let mut lat = Vec::with_capacity(results.len());
    let (mut replayed, mut failed) = (0, 0);
    for r in results {
        match r {
            Ok((ws, at, k)) => {
                done.push(ws);
                lat.push(at * 1e6);
                replayed += k;
            }
            Err(e) => {
                failed += 1;
                if note.is_empty() {
                    note = format!("resume failed: {e}");
                }
            }
        }
    }
    let all_done = lat.iter().copied().fold(0.0f64, f64::max) / 1e6;
    let ok = done.len();
    drop(done);
    let _ = timeout(Duration::from_secs(1), sender.close(None)).await;
    if ok == 0 {
        return Err(format!("no resume succeeded: {note}").into());
    }
    let note = [
        format!(
            "{ok} of {n} resumed ({replayed} pushes replayed, {failed} failed), all done {all_done:.2} s after the first reconnect; server CPU {:.2} s, load generator CPU {:.2} s (one thread) in that time",
            (cpu1 - cpu0) / 1e6,
            (own1 - own0) / 1e6,
        ),
        note,
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join("; ");
    Ok(Outcome {
        units: ok as u64,
        secs: all_done,
        server_cpu_us: cpu1 - cpu0,
        p50_us: percentile(&mut lat, 50.0),
        p99_us: percentile(&mut lat, 99.0),
        rss_kib_per_conn: f64::NAN,
        wire_bytes_per_unit: f64::NAN,
        conns: n as u64,
        note,
    })
}
