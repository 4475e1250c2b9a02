//! The swoft-ws benchmark harness (issue 6): what the load generator, the two servers and the
//! driver share.
//!
//! - [`procfs`]: a process's CPU time and resident memory, read from `/proc`.
//! - [`Outcome`]: what one measurement found, printed by the load generator as one line
//!   (`RESULT {json}`) and read back by the driver.
//! - [`stats`]: medians and percentiles.
//! - [`Args`]: a tiny `--key value` parser (no clap: build time).
//! - [`serve`]: how both servers serve a router (one thread, `TCP_NODELAY`, connect info).
//! - [`modules`]: the swoft-ws echo modules that the bench server and the micro-benchmarks share.
//! - [`rawws`]: a raw-socket client that offers permessage-deflate and inflates (flate2), for
//!   the compressed figures.
//!
//! See `BENCHMARKS.md` at the repository root for how to run it and what it found.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The read buffer both servers give each connection (swoft-ws's default, 4 KiB).
pub const READ_BUFFER: usize = 4 << 10;
/// The largest message both servers accept (swoft-ws's default, 64 KiB).
pub const MAX_MESSAGE: usize = 64 << 10;
/// The outbound queue of each connection in both servers (swoft-ws's default).
pub const OUTBOUND_QUEUE: usize = 1024;

pub mod rawws;
pub mod tls;

/// The swoft-ws echo modules measured by the bench server (`swoft_server`), the criterion
/// benchmarks and the callgrind counter. Registered by attribute; every user names them with
/// `App::builder().module::<..>()` (nothing here discovers).
pub mod modules {
    use serde_json::value::RawValue;
    use swoft_ws::prelude::*;

    /// `/raw`: every frame back as it came.
    #[ws_module(path = "/raw", parser = raw)]
    #[derive(Debug)]
    pub struct RawModule;

    #[ws_module]
    impl RawModule {
        #[on_message]
        fn echo(frame: RawMessage) -> RawMessage {
            frame
        }
    }

    /// `/echo`: the JSON `echo.send` command, answered with its data untouched (as the chat
    /// example).
    #[ws_module(path = "/echo", controllers = [EchoController])]
    #[derive(Debug)]
    pub struct EchoModule;

    /// `echo.*`.
    #[derive(Debug, Default)]
    pub struct EchoController;

    #[ws_controller(prefix = "echo")]
    impl EchoController {
        #[message_mapping("send")]
        fn send(Data(data): Data<&RawValue>) -> &RawValue {
            data
        }
    }
}

/// Reading `/proc/PID/stat` and `/proc/PID/status`.
pub mod procfs {
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, almost always 100).
    pub fn clk_tck() -> u64 {
        // SAFETY: sysconf only reads a configuration value; it has no preconditions.
        #[allow(unsafe_code)]
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 { t as u64 } else { 100 }
    }

    /// The process's user + system CPU time so far, in microseconds (fields 14 and 15 of
    /// `/proc/PID/stat`).
    pub fn cpu_us(pid: u32) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        let after = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // `after` starts at field 3, so field N is at index N - 3.
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) as f64 * 1e6 / clk_tck() as f64)
    }

    /// The process's resident set size in KiB (`VmRSS` of `/proc/PID/status`).
    pub fn rss_kib(pid: u32) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// How many file descriptors the process has open (entries of `/proc/PID/fd`).
    pub fn fd_count(pid: u32) -> Option<usize> {
        Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
    }

    /// Raises this process's soft open-file limit to its hard limit; returns the new soft
    /// limit.
    pub fn raise_nofile() -> u64 {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write the plain struct we pass; no other
        // memory is touched.
        #[allow(unsafe_code)]
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return 0;
            }
            if lim.rlim_cur < lim.rlim_max {
                let want = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
        }
        #[allow(clippy::unnecessary_cast)] // `rlim_t` is not u64 on every target
        let cur = lim.rlim_cur as u64;
        cur
    }
}

/// Medians and percentiles.
pub mod stats {
    /// The `p`-th percentile (0..=100) of `v` (sorted in place), nearest rank; 0 if empty.
    pub fn percentile(v: &mut [f64], p: f64) -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }

    /// The median of `v` (the mean of the middle two for an even count); `NaN` if empty.
    pub fn median(v: &[f64]) -> f64 {
        let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
}

/// What one measurement found. Figures that a mode does not measure are `NaN`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Units of work done in the measured window (messages echoed, deliveries, handshakes).
    pub units: u64,
    /// The window's length in seconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub secs: f64,
    /// Server CPU time (user + system) in the window, in microseconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub server_cpu_us: f64,
    /// Latency percentiles in microseconds (round trip, fan-out or handshake).
    #[serde(deserialize_with = "nan_if_null")]
    pub p50_us: f64,
    /// See [`Outcome::p50_us`].
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_us: f64,
    /// Server resident memory added per connection, in KiB (idle mode).
    #[serde(deserialize_with = "nan_if_null")]
    pub rss_kib_per_conn: f64,
    /// Bytes the clients read off their sockets per unit (the compressed figures; else `NaN`).
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub wire_bytes_per_unit: f64,
    /// Connections used.
    pub conns: u64,
    /// Anything worth knowing about the run (errors, timeouts, fewer connections than asked).
    pub note: String,
}

fn nan() -> f64 {
    f64::NAN
}

/// `NaN` is written as `null` in JSON: read it back as `NaN`.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Outcome {
    /// Server CPU microseconds per unit.
    pub fn cpu_per_unit(&self) -> f64 {
        if self.units == 0 {
            f64::NAN
        } else {
            self.server_cpu_us / self.units as f64
        }
    }

    /// Units per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.units as f64 / self.secs
        } else {
            f64::NAN
        }
    }
}

/// `--key value` and `--flag` arguments after a mode word.
#[derive(Debug, Default)]
pub struct Args {
    /// The first argument that is not an option (the mode).
    pub mode: Option<String>,
    opts: HashMap<String, String>,
}

impl Args {
    /// Parses `std::env::args()` (an option followed by another option or nothing is a flag).
    pub fn from_env() -> Self {
        Self::parse(std::env::args().skip(1))
    }

    /// Parses these arguments.
    pub fn parse(it: impl IntoIterator<Item = String>) -> Self {
        let mut a = Args::default();
        let mut it = it.into_iter().peekable();
        while let Some(s) = it.next() {
            if let Some(key) = s.strip_prefix("--") {
                let val = match it.peek() {
                    Some(v) if !v.starts_with("--") => it.next().unwrap_or_default(),
                    _ => "true".to_owned(),
                };
                a.opts.insert(key.to_owned(), val);
            } else if a.mode.is_none() {
                a.mode = Some(s);
            }
        }
        a
    }

    /// The option's value, parsed, or `default`.
    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        self.opts
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// The option's text, if given.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.opts.get(key).map(String::as_str)
    }

    /// Whether the flag was given.
    pub fn flag(&self, key: &str) -> bool {
        self.opts.contains_key(key)
    }
}

/// Serves `router` the same way for both servers: on `addr`, `TCP_NODELAY` on every accepted
/// socket, peer address available (`ConnectInfo`), on the current thread's runtime. Prints
/// `listening on ws://ADDR` once bound.
pub async fn serve(router: axum::Router, addr: &str) -> std::io::Result<()> {
    use axum::serve::ListenerExt;

    let listener = tokio::net::TcpListener::bind(addr).await?;
    announce(listener.local_addr()?)?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Serves `router` with `axum::serve` over TLS (`config`) on `addr`: the axum + tokio-rustls
/// baseline of the echo-over-TLS figure.
pub async fn serve_tls(
    router: axum::Router,
    addr: &str,
    config: std::sync::Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    announce(listener.local_addr()?)?;
    let listener = tls::TlsListener::new(listener, config);
    axum::serve(listener, router.into_make_service()).await
}

/// Prints `listening on ws://ADDR`, the line the driver waits for.
pub fn announce(local: SocketAddr) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on ws://{local}")?;
    out.flush()
}

/// Runs `f` on a current-thread runtime (both servers use one thread; the bench pins them to
/// one core).
pub fn current_thread<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}
