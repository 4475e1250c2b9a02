//! The `--wire` modes: raw-socket clients ([`swoft_ws_bench::rawws`]) that send `json_doc`s,
//! count the bytes on the wire and, with `--deflate`, offer permessage-deflate and inflate
//! what they receive. The same measurements as the tungstenite modes, so that a compressed
//! figure and its plain twin differ only in the offer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use swoft_ws_bench::rawws::{self, Client, Inflater, RSV1};
use swoft_ws_bench::stats::percentile;
use swoft_ws_bench::{Args, Outcome, procfs};
use tokio::time::timeout;

use super::{Common, Error, Phase, connect_many_with, counted_window};

/// The offer to make: `--deflate` → Chrome's.
fn offer(args: &Args) -> Option<&'static str> {
    args.flag("deflate").then_some(rawws::OFFER)
}

/// Connects `n` raw clients, `at_once` at a time, within `wait`.
async fn connect_many(
    url: &str,
    offer: Option<&str>,
    n: usize,
    at_once: usize,
    wait: Duration,
) -> (Vec<Client>, String) {
    let (conns, mut note) =
        connect_many_with(n, at_once, wait, || rawws::connect(url, offer)).await;
    if offer.is_some() && conns.iter().any(|c| c.agreed.is_none()) {
        note = format!("permessage-deflate not agreed; {note}");
    }
    (conns, note)
}

/// The message of a data frame: inflated if it is compressed.
fn message(inflater: &RefCell<Inflater>, b0: u8, payload: Vec<u8>) -> Result<Vec<u8>, Error> {
    if b0 & RSV1 != 0 {
        Ok(inflater.borrow_mut().inflate(&payload)?)
    } else {
        Ok(payload)
    }
}

/// Held connections; the server's RSS per connection (as `idle`).
pub(super) async fn idle(args: &Args, c: &Common, nofile: u64) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let want: usize = args.get("conns", 19_000);
    let settle = Duration::from_millis(args.get("settle-ms", 1000));
    let n = want.min(nofile.saturating_sub(64) as usize);
    let before = procfs::rss_kib(c.pid).ok_or("cannot read the server's RSS")?;
    let cpu0 = c.cpu();
    let t0 = Instant::now();
    let (conns, note) = connect_many(&url, offer(args), n, 128, c.wait * 3).await;
    let elapsed = t0.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = procfs::rss_kib(c.pid).ok_or("cannot read the server's RSS")?;
    let held = conns.len();
    Ok(Outcome {
        units: held as u64,
        secs: elapsed,
        server_cpu_us: c.cpu() - cpu0,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        rss_kib_per_conn: (after as f64 - before as f64) / held.max(1) as f64,
        wire_bytes_per_unit: f64::NAN,
        conns: held as u64,
        note,
    })
}

/// `echo.send` of a `json_doc` of `--size` bytes, `--inflight` at a time on `--conns`
/// connections (as `echo --json`); compressed once by the client (no context takeover: the
/// same bytes are valid for every message) with `--deflate`. Replies are counted, and the
/// first of each connection inflated and checked.
pub(super) async fn echo(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let conns: usize = args.get("conns", 64);
    let inflight: usize = args.get("inflight", 16).max(1);
    let size: usize = args.get("size", 4096);
    let warmup = Duration::from_millis(args.get("warmup-ms", 500));
    let secs = Duration::from_millis((args.get("secs", 2.0f64) * 1000.0) as u64);
    let (clients, note) = connect_many(&url, offer(args), conns, 64, c.wait).await;
    if clients.is_empty() {
        return Err(format!("no connection: {note}").into());
    }
    let doc = rawws::json_doc(size.saturating_sub(40), 1);
    let request = format!(r#"{{"cmd":"echo.send","data":{doc}}}"#);
    let frame = match offer(args) {
        Some(_) => rawws::frame(0x80 | RSV1 | 0x1, &rawws::deflate(request.as_bytes(), 1)),
        None => rawws::frame(0x81, request.as_bytes()),
    };
    let phase = Rc::new(Phase::default());
    let wire = Rc::new(Cell::new(0u64));
    let mut tasks = Vec::new();
    for client in clients {
        let (frame, phase, wire) = (frame.clone(), phase.clone(), wire.clone());
        let wait = c.wait;
        tasks.push(tokio::task::spawn_local(echo_conn(
            client, frame, inflight, phase, wire, wait,
        )));
    }
    let (server_cpu_us, elapsed) = counted_window(c, &phase, warmup, secs).await;
    let (mut count, mut lat, mut errors) = (0u64, Vec::new(), String::new());
    for t in tasks {
        let (n, l, e) = timeout(c.wait, t)
            .await
            .map_err(|_| "a connection did not finish")??;
        count += n;
        lat.extend(l);
        if errors.is_empty() {
            errors = e;
        }
    }
    Ok(Outcome {
        units: count,
        secs: elapsed,
        server_cpu_us,
        p50_us: percentile(&mut lat, 50.0),
        p99_us: percentile(&mut lat, 99.0),
        rss_kib_per_conn: f64::NAN,
        wire_bytes_per_unit: wire.get() as f64 / count.max(1) as f64,
        conns: conns as u64,
        note: [note, errors]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// One echo connection: replies counted while `phase.counting`, with their round trips and
/// the bytes they took on the wire.
async fn echo_conn(
    mut client: Client,
    frame: Vec<u8>,
    inflight: usize,
    phase: Rc<Phase>,
    wire: Rc<Cell<u64>>,
    wait: Duration,
) -> (u64, Vec<f64>, String) {
    let (mut count, mut lat) = (0u64, Vec::new());
    let mut sent = std::collections::VecDeque::with_capacity(inflight);
    let inflater = RefCell::new(Inflater::default());
    let r: Result<(), Error> = async {
        for _ in 0..inflight {
            client.send_raw(&frame).await?;
            sent.push_back(Instant::now());
        }
        let mut checked = false;
        while let Some(at) = sent.pop_front() {
            let before = client.wire_in;
            let (b0, payload) = timeout(wait, client.recv())
                .await
                .map_err(|_| "no reply in time")??
                .ok_or("the server closed the connection")?;
            if b0 & 0x0F != 0x1 {
                return Err(format!("not a text reply: {b0:#x}").into());
            }
            if !checked {
                let reply = message(&inflater, b0, payload)?;
                if !reply.starts_with(br#"{"cmd":"echo.send""#) {
                    return Err("not the echo".into());
                }
                checked = true;
            }
            if phase.counting.load(std::sync::atomic::Ordering::Relaxed) {
                count += 1;
                lat.push(at.elapsed().as_secs_f64() * 1e6);
                wire.set(wire.get() + client.wire_in - before);
            }
            if !phase.stop.load(std::sync::atomic::Ordering::Relaxed) {
                client.send_raw(&frame).await?;
                sent.push_back(Instant::now());
            }
        }
        Ok(())
    }
    .await;
    client.close().await;
    (
        count,
        lat,
        r.err().map(|e| e.to_string()).unwrap_or_default(),
    )
}

/// What the members of a broadcast share: counts, the clock, and one inflater (this process is
/// one thread, and each message is inflated from an empty window).
#[derive(Clone)]
struct Member {
    received: Rc<Cell<u64>>,
    wire: Rc<Cell<u64>>,
    counting: Rc<Cell<bool>>,
    lat: Rc<RefCell<Vec<f64>>>,
    inflater: Rc<RefCell<Inflater>>,
    base: Instant,
}

/// One member: reads (and inflates) every broadcast, counting deliveries, their fan-out
/// latency and their bytes on the wire while `counting`.
async fn member(mut client: Client, m: Member) {
    loop {
        let before = client.wire_in;
        let Ok(Some((b0, payload))) = client.recv().await else {
            break;
        };
        let Ok(doc) = message(&m.inflater, b0, payload) else {
            break;
        };
        if m.counting.get() {
            if let Some(ns) = rawws::read_ts(&doc) {
                let now = m.base.elapsed().as_nanos() as u64;
                m.lat.borrow_mut().push(now.saturating_sub(ns) as f64 / 1e3);
            }
            m.wire.set(m.wire.get() + client.wire_in - before);
        }
        m.received.set(m.received.get() + 1);
    }
}

/// `--members` in the room and one sender broadcasting a `json_doc` of `--size` bytes, round
/// by round (as `broadcast`); members inflate what they get with `--deflate`. Also the bytes
/// each delivery took on the wire.
pub(super) async fn broadcast(args: &Args, c: &Common) -> Result<Outcome, Error> {
    let url = args.str("url").ok_or("--url is required")?.to_owned();
    let members: usize = args.get("members", 10_000);
    let rounds: u64 = args.get("rounds", 10);
    let size: usize = args.get("size", 4096);
    let sep = if url.contains('?') { '&' } else { '?' };
    let member_url = format!("{url}{sep}member=1");
    let (socks, note) = connect_many(&member_url, offer(args), members, 128, c.wait * 3).await;
    let m = socks.len() as u64;
    if m == 0 {
        return Err(format!("no member connected: {note}").into());
    }
    let mut sender = rawws::connect(&url, None).await?;
    let base = Instant::now();
    let received = Rc::new(Cell::new(0u64));
    let wire = Rc::new(Cell::new(0u64));
    let counting = Rc::new(Cell::new(false));
    let lat = Rc::new(RefCell::new(Vec::<f64>::new()));
    let shared = Member {
        received: received.clone(),
        wire: wire.clone(),
        counting: counting.clone(),
        lat: lat.clone(),
        inflater: Rc::new(RefCell::new(Inflater::default())),
        base,
    };
    let tasks: Vec<_> = socks
        .into_iter()
        .map(|client| tokio::task::spawn_local(member(client, shared.clone())))
        .collect();
    let wait_for = |target: u64| {
        let received = received.clone();
        async move {
            let deadline = Instant::now() + c.wait;
            while received.get() < target && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            received.get() >= target
        }
    };
    let stamp = |size| rawws::json_doc(size, base.elapsed().as_nanos() as u64);
    let mut warm = false;
    for _ in 0..20 {
        received.set(0);
        sender.send(0x81, stamp(size).as_bytes()).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if wait_for(m).await && received.get() == m {
            warm = true;
            break;
        }
    }
    if !warm {
        return Err(format!(
            "members never all got a warm-up broadcast ({} of {m})",
            received.get()
        )
        .into());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    received.set(0);
    counting.set(true);
    let cpu0 = c.cpu();
    let t0 = Instant::now();
    let mut note = note;
    for r in 1..=rounds {
        sender.send(0x81, stamp(size).as_bytes()).await?;
        if !wait_for(m * r).await {
            note = format!("round {r}: only {} deliveries", received.get());
            break;
        }
    }
    let cpu1 = c.cpu();
    let elapsed = t0.elapsed().as_secs_f64();
    counting.set(false);
    let deliveries = received.get();
    sender.close().await;
    for t in &tasks {
        t.abort();
    }
    let mut lat = std::mem::take(&mut *lat.borrow_mut());
    Ok(Outcome {
        units: deliveries,
        secs: elapsed,
        server_cpu_us: cpu1 - cpu0,
        p50_us: percentile(&mut lat, 50.0),
        p99_us: percentile(&mut lat, 99.0),
        rss_kib_per_conn: f64::NAN,
        wire_bytes_per_unit: wire.get() as f64 / deliveries.max(1) as f64,
        conns: m,
        note,
    })
}
