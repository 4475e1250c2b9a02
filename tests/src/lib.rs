//! Shared helpers of the swoft-ws integration tests. The tests themselves are in `tests/`;
//! they drive real servers over 127.0.0.1 with `swoft_ws::testing`.

pub mod resume;
pub mod tls;

use std::time::Duration;

pub use swoft_ws::testing::{Received, TestClient, TestServer, wait_until};

/// A short window for "nothing else arrives" checks.
pub const QUIET: Duration = Duration::from_millis(150);

/// Installs a test log subscriber once (honours `RUST_LOG`; silent by default).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A running example binary, killed when dropped.
pub struct Example {
    child: std::process::Child,
    /// The address it printed (`127.0.0.1:PORT`).
    pub addr: String,
    /// The scheme it printed: `ws`, or `wss` when it serves TLS.
    pub scheme: String,
}

impl Example {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `within`) for the process to exit; its exit status, or
    /// `None` if it is still running.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for the example") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds (if needed) and starts the example `name` of `swoft-ws-examples` on a free port
/// (`SWOFT_WS_ADDR=127.0.0.1:0` plus `envs`), and waits for its `listening on ws://ADDR` (or
/// `wss://ADDR`) line.
pub fn start_example(name: &str, envs: &[(&str, &str)]) -> Example {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let bin = build_example(name);
    let mut child = Command::new(&bin)
        .env("SWOFT_WS_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let mut example = Example {
        child,
        addr: String::new(),
        scheme: String::new(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the example prints `listening on ws://ADDR` within 30 s");
    let (scheme, addr) = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.split_once("://"))
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    example.scheme = scheme.to_owned();
    example.addr = addr.to_owned();
    example
}

/// Builds (if needed) the example `name` of `swoft-ws-examples`; the path of its binary.
pub fn build_example(name: &str) -> std::path::PathBuf {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "swoft-ws-examples", "--example", name])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the {name} example failed");
    // target/debug/deps/TEST-HASH → target/debug/examples/NAME
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// An HTTP response read by [`http_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked), as text.
    pub body: String,
}

impl HttpResponse {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) to `addr` (`127.0.0.1:PORT`) over a plain
/// TCP socket and reads the whole response. Panics if it takes over 5 s or the response is not
/// HTTP.
pub async fn http_request(addr: &str, method: &str, path: &str, body: &str) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .unwrap_or_else(|_| panic!("no HTTP response to {method} {path} within 5 s"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The body of a chunked response.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line: {line:?}"));
        let data = &rest[eol + 2..];
        if size == 0 || data.len() < size {
            break;
        }
        body.extend_from_slice(&data[..size]);
        rest = data[size..].strip_prefix(b"\r\n").unwrap_or(&data[size..]);
    }
    body
}

/// A `redis-server` of its own for a test: on a free loopback port, in a temporary directory,
/// with no persistence (`--save "" --appendonly no`); killed when dropped.
pub struct RedisServer {
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl RedisServer {
    /// Starts one, or returns `None` when `redis-server` is not installed — after printing a
    /// loud message; with `CI=true` in the environment it panics instead, so CI never skips.
    pub fn start() -> Option<RedisServer> {
        let found = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            let msg = "redis-server is not installed: the multi-node (Redis) tests are SKIPPED. \
                       Install it (`apt-get install redis-server`, or scripts/setup.sh) to run them.";
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("{msg} (CI=true: failing instead of skipping)");
            }
            eprintln!("\n!!!!!!!!\n!!! {msg}\n!!!!!!!!\n");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("swoft-ws-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir for redis");
        let mut r = RedisServer {
            child: None,
            dir,
            port,
        };
        r.restart();
        Some(r)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): every connection to it drops.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on the same port, and waits (up to 10 s) until it accepts connections.
    pub fn restart(&mut self) {
        use std::process::{Command, Stdio};
        self.kill();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // The port may linger for a moment after a kill: retry the start within the deadline.
        for _ in 0..200 {
            let mut child = Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited (port busy?): start again
                }
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = Some(child);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            if std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server did not start on port {} within 10 s",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds (if needed) the example `name` of `swoft-ws-examples` and returns its path, for tests
/// that run it themselves (e.g. to see it fail at start-up).
pub fn example_path(name: &str) -> std::path::PathBuf {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "swoft-ws-examples", "--example", name])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the {name} example failed");
    std::env::current_exe()
        .expect("test binary path")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The value of the Prometheus series whose line starts with `prefix` (name and labels), or 0.
pub fn metric_value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().expect("a number after the series"))
}

/// The README's Rust examples, compiled (and, where they have a `main`, run) as doctests of
/// this crate, which can name both `swoft_ws` and the chat example's library.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
