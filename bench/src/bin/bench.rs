//! The driver: runs swoft-ws and the raw axum baseline alternately, each figure several times,
//! and prints a markdown table of medians and ratios with the machine it ran on.
//!
//! ```text
//! cargo run --release -p swoft-ws-bench --bin bench -- all        # the full run (~5 min)
//! cargo run --release -p swoft-ws-bench --bin bench -- --smoke    # ~1 s per mode, tiny counts
//! bench all [--reps 3] [--only echo|idle|broadcast|handshake] [--out FILE] [--no-nice]
//! bench all --only idle,rec_ --reps 3       # issue 16: the resumable-session figures
//! ```
//!
//! `--only` takes keys or key prefixes: a word that is a figure's whole key selects that figure
//! only (`idle` is the idle figure, not `idlez`), any other word every key it begins
//! (`json`: `json32`, `json4k`, `json4kw`, `json4kz`).
//!
//! The `rec_` figures (issue 16) measure swoft-ws against itself: `rec_bcast` and `rec_idle`
//! run the JSON room module with resumable sessions (`/bcast_json_rec`) in the swoft-ws column
//! and its twin without (`/bcast_json`) in the second one, alternately like the others;
//! `rec_resume` is 10,000 clients resuming at once (swoft-ws only), `rec_resume_paced` the same
//! with 1,000 connecting at a time.
//!
//! Each measurement starts a fresh server (`taskset -c 1`, one thread) and the load generator
//! (`taskset -c 0`), both at a raised priority (`nice -n -10`, when root, unless `--no-nice`)
//! so that other work on the machine disturbs them less. Servers are killed when a
//! measurement ends, also on error. Every wait is bounded.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use swoft_ws_bench::stats::median;
use swoft_ws_bench::{Args, Outcome};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    Swoft,
    Axum,
}

impl Server {
    fn bin(self) -> &'static str {
        match self {
            Server::Swoft => "swoft_server",
            Server::Axum => "axum_server",
        }
    }
}

/// One figure: a load-generator mode against one path, with its arguments.
struct Figure {
    key: &'static str,
    mode: &'static str,
    path: &'static str,
    args: Vec<String>,
    /// What one unit is ("msg", "delivery", "handshake", "conn").
    unit: &'static str,
    /// Over TLS: both servers with the run's certificate, the load generator over `wss://`.
    tls: bool,
    /// Measured on swoft-ws only (permessage-deflate: the axum baseline has none; its twin
    /// without compression is the comparison).
    swoft_only: bool,
    /// The second column is swoft-ws at this path instead of axum (the `rec_` figures: the
    /// same module without recovery).
    vs: Option<&'static str>,
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn figures(smoke: bool) -> Vec<Figure> {
    let (echo, idle, bcast, hs, resume) = if smoke {
        (
            "--conns 4 --inflight 2 --warmup-ms 100 --secs 0.4",
            "--conns 50 --settle-ms 200",
            "--members 20 --rounds 2",
            "--conns 2 --warmup-ms 100 --secs 0.4",
            "--clients 20 --missed 1",
        )
    } else {
        (
            "--conns 64 --inflight 16 --warmup-ms 500 --secs 2",
            "--conns 19000 --settle-ms 1000",
            "--members 10000 --rounds 10",
            "--conns 16 --warmup-ms 300 --secs 2",
            "--clients 10000 --missed 1",
        )
    };
    let fig = |key, mode, path, extra: &str, base: &str, unit| Figure {
        key,
        mode,
        path,
        args: args(&format!("{base} {extra}")),
        unit,
        tls: false,
        swoft_only: false,
        vs: None,
    };
    let tls = |key, extra| Figure {
        tls: true,
        ..fig(key, "echo", "/raw", extra, echo, "msg")
    };
    let solo = |key, mode, path, extra: &str, base: &str, unit| Figure {
        swoft_only: true,
        ..fig(key, mode, path, extra, base, unit)
    };
    let mut all = vec![
        fig("raw32", "echo", "/raw", "--size 32", echo, "msg"),
        fig(
            "raw32x1",
            "echo",
            "/raw",
            "--size 32 --inflight 1",
            echo,
            "msg",
        ),
        fig("raw4k", "echo", "/raw", "--size 4096", echo, "msg"),
        tls("tlsecho32", "--size 32"),
        tls("tlsecho4k", "--size 4096"),
        fig("json32", "echo", "/echo", "--size 32 --json", echo, "msg"),
        fig("json4k", "echo", "/echo", "--size 4096 --json", echo, "msg"),
        fig("idle", "idle", "/raw", "", idle, "conn"),
        fig(
            "broadcast",
            "broadcast",
            "/room",
            "--size 32",
            bcast,
            "delivery",
        ),
        fig(
            "handshake",
            "handshake",
            "/hs?name=bench",
            "",
            hs,
            "handshake",
        ),
    ];
    // permessage-deflate (swoft-ws only), beside plain twins; `--wire` counts the bytes.
    let wire = "--wire --size 4096";
    let z = "--wire --size 4096 --deflate";
    all.extend([
        solo("bcast4k", "broadcast", "/room", wire, bcast, "delivery"),
        solo("bcast4kz", "broadcast", "/room", z, bcast, "delivery"),
        solo("idlez", "idle", "/raw", "--wire --deflate", idle, "conn"),
        solo("json4kw", "echo", "/echo", wire, echo, "msg"),
        solo("json4kz", "echo", "/echo", z, echo, "msg"),
    ]);
    // Resumable sessions (issue 16): recovery on (swoft-ws column) vs off (second column).
    let rec = "/bcast_json_rec";
    let twin = |key, mode, extra: &str, base: &str, unit| Figure {
        vs: Some("/bcast_json"),
        ..fig(key, mode, rec, extra, base, unit)
    };
    all.extend([
        twin(
            "rec_bcast",
            "broadcast",
            "--size 32 --json",
            bcast,
            "delivery",
        ),
        twin("rec_idle", "idle", "", idle, "conn"),
        solo("rec_resume", "resume", rec, "", resume, "resume"),
        // The same, 1,000 reconnecting at a time: under the listen backlog (tokio's 1,024),
        // so no SYN is dropped and retried a second later.
        solo(
            "rec_resume_paced",
            "resume",
            rec,
            "--at-once 1000",
            resume,
            "resume",
        ),
    ]);
    all
}

/// Kills its child when dropped, whatever way the measurement ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Runner {
    dir: PathBuf,
    /// The run's CA, server certificate and key (PEM files), for the TLS figures.
    certs: (PathBuf, PathBuf, PathBuf),
    pin: bool,
    nice: bool,
}

impl Runner {
    fn command(&self, core: u32, bin: &str) -> Command {
        let mut words: Vec<String> = Vec::new();
        if self.nice {
            words.extend(args("nice -n -10"));
        }
        if self.pin {
            words.extend(["taskset".to_owned(), "-c".to_owned(), core.to_string()]);
        }
        words.push(self.dir.join(bin).display().to_string());
        let mut c = Command::new(&words[0]);
        c.args(&words[1..]);
        c
    }

    /// Starts a server and waits (≤ 10 s) for the address it prints.
    fn start(&self, server: Server, tls: bool) -> Result<(Killed, String), String> {
        let mut cmd = self.command(1, server.bin());
        if tls {
            cmd.arg("--cert")
                .arg(&self.certs.1)
                .arg("--key")
                .arg(&self.certs.2);
        }
        let mut child = cmd
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", server.bin()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let guard = Killed(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("{} did not start in 10 s", server.bin()))?;
        let addr = line
            .trim()
            .strip_prefix("listening on ws://")
            .ok_or_else(|| format!("{} printed {line:?}", server.bin()))?
            .to_owned();
        Ok((guard, addr))
    }

    /// One measurement: a fresh server, the load generator against it (≤ 120 s).
    fn measure(&self, server: Server, fig: &Figure) -> Result<Outcome, String> {
        // The `rec_` twins: the second column is swoft-ws too, at the twin's path.
        let (server, path) = match (server, fig.vs) {
            (Server::Axum, Some(vs)) => (Server::Swoft, vs),
            _ => (server, fig.path),
        };
        let (guard, addr) = self.start(server, fig.tls)?;
        let pid = guard.0.id();
        let mut cmd = self.command(0, "loadgen");
        if fig.tls {
            cmd.arg("--ca").arg(&self.certs.0);
        }
        let scheme = if fig.tls { "wss" } else { "ws" };
        cmd.arg(fig.mode)
            .args(["--url", &format!("{scheme}://{addr}{path}")])
            .args(&fig.args)
            .args(["--server-pid", &pid.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut lg = Killed(
            cmd.spawn()
                .map_err(|e| format!("cannot start loadgen: {e}"))?,
        );
        let mut out = lg.0.stdout.take().ok_or("no stdout")?;
        let mut err = lg.0.stderr.take().ok_or("no stderr")?;
        let reader = std::thread::spawn(move || {
            let (mut o, mut e) = (String::new(), String::new());
            let _ = out.read_to_string(&mut o);
            let _ = err.read_to_string(&mut e);
            (o, e)
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            match lg.0.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => return Err("loadgen took over 120 s; killed".to_owned()),
                Err(e) => return Err(e.to_string()),
            }
        };
        let (stdout, stderr) = reader.join().map_err(|_| "reader thread panicked")?;
        drop(guard);
        if !status.success() {
            return Err(format!("loadgen failed ({status}): {}", stderr.trim()));
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("RESULT "))
            .ok_or_else(|| format!("no RESULT line in {stdout:?}"))?;
        serde_json::from_str(line).map_err(|e| format!("bad RESULT line: {e}"))
    }
}

fn sh(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!(
        "- date: {}\n- machine: {} cores (`nproc`), CPU `{}`, kernel {}\n- {}\n- load average at start: {}\n",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        sh("nproc", &[]),
        cpu,
        sh("uname", &["-r"]),
        sh("rustc", &["--version"]),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim(),
    )
}

/// Finds the sibling binaries; builds them (release) if one is missing.
fn bin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = exe.parent().ok_or("no exe dir")?.to_path_buf();
    let have = |d: &Path| {
        ["swoft_server", "axum_server", "loadgen"]
            .iter()
            .all(|b| d.join(b).exists())
    };
    if !have(&dir) {
        eprintln!("building the harness binaries (release) ...");
        let ok = Command::new("cargo")
            .args(["build", "--release", "-p", "swoft-ws-bench", "--bins"])
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if !ok || !have(&dir) {
            return Err("cannot build the harness binaries".to_owned());
        }
    }
    Ok(dir)
}

#[derive(Default)]
struct Cell {
    cpu: Vec<f64>,
    rate: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    secs: Vec<f64>,
    rss: Vec<f64>,
    wire: Vec<f64>,
    conns: Vec<f64>,
    notes: Vec<String>,
}

impl Cell {
    fn add(&mut self, o: &Outcome) {
        self.cpu.push(o.cpu_per_unit());
        self.rate.push(o.rate());
        self.p50.push(o.p50_us);
        self.p99.push(o.p99_us);
        self.secs.push(o.secs);
        self.rss.push(o.rss_kib_per_conn);
        self.wire.push(o.wire_bytes_per_unit);
        self.conns.push(o.conns as f64);
        if !o.note.is_empty() {
            self.notes.push(o.note.clone());
        }
    }
}

fn deflate_or_not(key: &str) -> &'static str {
    if key.ends_with('z') {
        "permessage-deflate"
    } else {
        "uncompressed"
    }
}

fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "–".to_owned()
    }
}

fn lat(c: &Cell) -> String {
    let (a, b) = (median(&c.p50), median(&c.p99));
    if !a.is_finite() {
        return "–".to_owned();
    }
    let f = |us: f64| {
        if us >= 1000.0 {
            format!("{:.1} ms", us / 1000.0)
        } else {
            format!("{us:.0} µs")
        }
    };
    format!("{} / {}", f(a), f(b))
}

struct Target {
    text: &'static str,
    ratio_of: (&'static str, &'static str),
    max_ratio: f64,
    /// The base is the second figure's swoft-ws column (else its axum column).
    base_swoft: bool,
}

fn target(key: &str) -> Option<Target> {
    let t = |text, of, max_ratio| {
        Some(Target {
            text,
            ratio_of: of,
            max_ratio,
            base_swoft: false,
        })
    };
    match key {
        "raw32" => t("CPU/msg ≤ 0.95 × axum /raw 32 B", ("raw32", "raw32"), 0.95),
        "json32" => t("CPU/msg ≤ 1.15 × axum /raw 32 B", ("json32", "raw32"), 1.15),
        "json4k" => t("CPU/msg ≤ 1.3 × axum /raw 4 KiB", ("json4k", "raw4k"), 1.3),
        "broadcast" => t(
            "CPU/delivery ≤ 0.6 × axum; p50 ≤ 100 ms",
            ("broadcast", "broadcast"),
            0.6,
        ),
        "handshake" => t(
            "CPU/handshake ≤ 1.15 × axum",
            ("handshake", "handshake"),
            1.15,
        ),
        "rec_bcast" => Some(Target {
            text: "CPU/delivery ≤ 1.15 × recovery off",
            ratio_of: ("rec_bcast", "rec_bcast"),
            max_ratio: 1.15,
            base_swoft: false,
        }),
        "bcast4kz" => Some(Target {
            text: "CPU/delivery ≤ 1.3 × uncompressed; ≥ 3× fewer bytes on the wire",
            ratio_of: ("bcast4kz", "bcast4k"),
            max_ratio: 1.3,
            base_swoft: true,
        }),
        "json4kz" => Some(Target {
            text: "(no target: ÷ the uncompressed echo)",
            ratio_of: ("json4kz", "json4kw"),
            max_ratio: f64::INFINITY,
            base_swoft: true,
        }),
        _ => None,
    }
}

fn main() {
    let a = Args::from_env();
    let smoke = a.flag("smoke") || a.mode.as_deref() == Some("smoke");
    if !smoke && a.mode.as_deref() != Some("all") {
        eprintln!(
            "usage: bench all [--reps 3] [--only KEY,...] [--out FILE] [--no-nice] | bench --smoke"
        );
        std::process::exit(2);
    }
    let reps: usize = if smoke { 1 } else { a.get("reps", 3).max(1) };
    let dir = match bin_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    };
    let cores: usize = sh("nproc", &[]).parse().unwrap_or(1);
    let is_root = sh("id", &["-u"]) == "0";
    let certs_dir = std::env::temp_dir().join(format!("swoft-ws-bench-{}", std::process::id()));
    let certs = std::fs::create_dir_all(&certs_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| swoft_ws_bench::tls::write_certs(&certs_dir).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| {
            eprintln!("bench: cannot make the TLS certificates: {e}");
            std::process::exit(1);
        });
    let runner = Runner {
        dir,
        certs,
        pin: cores >= 2 && !sh("which", &["taskset"]).is_empty(),
        nice: is_root && !a.flag("no-nice") && !smoke,
    };
    let only: Option<Vec<String>> = a
        .str("only")
        .map(|s| s.split(',').map(str::to_owned).collect());
    let all = figures(smoke);
    let keys: Vec<&str> = all.iter().map(|f| f.key).collect();
    // A whole key selects that figure only; any other word is a prefix.
    let picks = |key: &str, word: &str| {
        if keys.contains(&word) {
            key == word
        } else {
            key.starts_with(word)
        }
    };
    let figs: Vec<Figure> = all
        .into_iter()
        .filter(|f| {
            only.as_ref()
                .is_none_or(|o| o.iter().any(|k| picks(f.key, k)))
        })
        .collect();
    let started = Instant::now();
    let header = machine();
    eprint!("{header}");
    let mut cells: Vec<(Cell, Cell)> = figs.iter().map(|_| Default::default()).collect();
    let mut failures = Vec::new();
    for (fi, fig) in figs.iter().enumerate() {
        for rep in 0..reps {
            // Alternate, and swap the order every repetition (ABBA) so drift cancels out.
            let order = if rep % 2 == 0 {
                [Server::Swoft, Server::Axum]
            } else {
                [Server::Axum, Server::Swoft]
            };
            for server in order {
                if fig.swoft_only && server == Server::Axum {
                    continue;
                }
                // The `rec_` twins: the second column is swoft-ws without recovery.
                let who = match (server, fig.vs) {
                    (Server::Axum, Some(vs)) => format!("Swoft({vs})"),
                    _ => format!("{server:?}"),
                };
                match runner.measure(server, fig) {
                    Ok(o) => {
                        eprintln!(
                            "{:>9} {who} #{rep}: {} × {} in {:.2} s, {} µs server CPU/{}, p50 {} µs{}",
                            fig.key,
                            o.units,
                            fig.unit,
                            o.secs,
                            fmt(o.cpu_per_unit(), 2),
                            fig.unit,
                            fmt(o.p50_us, 0),
                            if o.note.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", o.note)
                            }
                        );
                        let c = &mut cells[fi];
                        match server {
                            Server::Swoft => c.0.add(&o),
                            Server::Axum => c.1.add(&o),
                        }
                    }
                    Err(e) => {
                        eprintln!("{:>9} {who} #{rep}: FAILED: {e}", fig.key);
                        failures.push(format!("{} {who}: {e}", fig.key));
                    }
                }
            }
        }
    }

    let key_cell = |k: &str| figs.iter().position(|f| f.key == k).map(|i| &cells[i]);
    let mut t = String::new();
    t.push_str(&format!(
        "{header}- command: `bench {}` ({} repetitions each, medians; swoft-ws and axum alternately, fresh server per measurement; {:.0} s)\n\n",
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        reps,
        started.elapsed().as_secs_f64()
    ));
    t.push_str("| figure | server CPU / unit: swoft-ws | axum (`rec_`: recovery off) | ratio | rate (units/s): swoft-ws | axum | latency p50 / p99: swoft-ws | axum | target | met |\n");
    t.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for (i, fig) in figs.iter().enumerate() {
        let (s, b) = &cells[i];
        let (sc, bc) = (median(&s.cpu), median(&b.cpu));
        let (mut ratio, mut verdict, mut ttext) = (sc / bc, String::new(), String::new());
        if let Some(tg) = target(fig.key) {
            ttext = tg.text.to_owned();
            let base = key_cell(tg.ratio_of.1)
                .map(|c| median(if tg.base_swoft { &c.0.cpu } else { &c.1.cpu }))
                .unwrap_or(f64::NAN);
            ratio = sc / base;
            let mut ok = ratio <= tg.max_ratio;
            if fig.key == "broadcast" {
                ok &= median(&s.p50) <= 100_000.0;
            }
            if fig.key == "bcast4kz" {
                let plain = key_cell("bcast4k").map_or(f64::NAN, |c| median(&c.0.wire));
                ok &= median(&s.wire) * 3.0 <= plain;
            }
            verdict = if !ratio.is_finite() {
                "?".to_owned()
            } else if ok {
                "yes".to_owned()
            } else {
                "no".to_owned()
            };
        }
        let idle = fig.mode == "idle";
        let (cpu_s, cpu_b) = if idle {
            (
                format!("{} KiB RSS/conn", fmt(median(&s.rss), 2)),
                format!("{} KiB RSS/conn", fmt(median(&b.rss), 2)),
            )
        } else {
            (
                format!("{} µs/{}", fmt(sc, 2), fig.unit),
                format!("{} µs/{}", fmt(bc, 2), fig.unit),
            )
        };
        if fig.key == "rec_idle" {
            ratio = median(&s.rss) / median(&b.rss);
            ttext = "(information: ÷ recovery off)".to_owned();
        } else if idle {
            let limit = if fig.key == "idlez" { 8.0 } else { 5.0 };
            ratio = median(&s.rss) / median(&b.rss);
            ttext = format!("≤ {limit} KiB/conn at {} conns", fmt(median(&s.conns), 0));
            let m = median(&s.rss);
            verdict = if !m.is_finite() {
                "?"
            } else if m <= limit {
                "yes"
            } else {
                "no"
            }
            .to_owned();
        }
        let label = match fig.key {
            "raw32" => "`/raw` echo 32 B, 64 conns × 16 in flight".to_owned(),
            "raw32x1" => "`/raw` echo 32 B, 64 conns × 1 in flight (request/response)".to_owned(),
            "raw4k" => "`/raw` echo 4 KiB, 64 × 16".to_owned(),
            "tlsecho32" => "`/raw` echo 32 B over TLS, 64 × 16 (axum: + tokio-rustls)".to_owned(),
            "tlsecho4k" => "`/raw` echo 4 KiB over TLS, 64 × 16 (axum: + tokio-rustls)".to_owned(),
            "json32" => "`echo.send` JSON 32 B, 64 × 16 (axum: its JSON `/echo`)".to_owned(),
            "json4k" => "`echo.send` JSON 4 KiB, 64 × 16 (axum: its JSON `/echo`)".to_owned(),
            "idle" => "idle connections held".to_owned(),
            "broadcast" => format!("broadcast to a {}-member room", fmt(median(&s.conns), 0)),
            "handshake" => "handshake + close, 16 loops (hook, fd, session)".to_owned(),
            "bcast4k" | "bcast4kz" => format!(
                "broadcast of a 4 KiB JSON document to {} members, {} ({} B/delivery on the wire)",
                fmt(median(&s.conns), 0),
                deflate_or_not(fig.key),
                fmt(median(&s.wire), 0)
            ),
            "idlez" => "idle connections held, permessage-deflate agreed".to_owned(),
            "rec_bcast" => format!(
                "JSON `room.message` 32 B to a {}-member room, recovery on (second column: the same module without recovery)",
                fmt(median(&s.conns), 0)
            ),
            "rec_idle" => {
                "idle connections held, JSON module with recovery on (second column: off)"
                    .to_owned()
            }
            "rec_resume" => format!(
                "{} clients resume at once, 1 missed push each: all done in {} s (latency: when each was done)",
                fmt(median(&s.conns), 0),
                fmt(median(&s.secs), 2)
            ),
            "rec_resume_paced" => format!(
                "{} clients resume, 1,000 connecting at a time, 1 missed push each: all done in {} s",
                fmt(median(&s.conns), 0),
                fmt(median(&s.secs), 2)
            ),
            "json4kw" | "json4kz" => format!(
                "`echo.send` JSON 4 KiB, 64 × 16, raw client, {} ({} B/reply on the wire)",
                deflate_or_not(fig.key),
                fmt(median(&s.wire), 0)
            ),
            k => k.to_owned(),
        };
        t.push_str(&format!(
            "| {label} | {cpu_s} | {cpu_b} | {} | {} | {} | {} | {} | {ttext} | {verdict} |\n",
            fmt(ratio, 2),
            fmt(median(&s.rate), 0),
            fmt(median(&b.rate), 0),
            lat(s),
            lat(b),
        ));
    }
    t.push_str("\nRatios in rows with a target are swoft-ws ÷ the axum figure the target names (the JSON rows: ÷ axum's `/raw` echo of the same size, as in issue 6; ÷ axum's own JSON echo is swoft-ws ÷ the axum column). Idle: swoft-ws ÷ axum RSS per connection. The `rec_` rows: recovery on ÷ off (the second column is swoft-ws without recovery).\n");
    let notes: Vec<String> = figs
        .iter()
        .zip(&cells)
        .flat_map(|(f, (s, b))| {
            s.notes
                .iter()
                .map(move |n| format!("- {} swoft-ws: {n}", f.key))
                .chain(
                    b.notes
                        .iter()
                        .map(move |n| format!("- {} axum: {n}", f.key)),
                )
        })
        .chain(failures.iter().map(|f| format!("- FAILED {f}")))
        .collect();
    if !notes.is_empty() {
        t.push_str("\nNotes:\n");
        t.push_str(&notes.join("\n"));
        t.push('\n');
    }
    println!("{t}");
    let _ = std::fs::remove_dir_all(&certs_dir);
    if let Some(path) = a.str("out")
        && let Err(e) = std::fs::write(path, &t)
    {
        eprintln!("cannot write {path}: {e}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
