//! Shared helpers of the swoft-ws integration tests. The tests themselves are in `tests/`;
//! they drive real servers over 127.0.0.1 with `swoft_ws::testing`.

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
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Builds (if needed) and starts the example `name` of `swoft-ws-examples` on a free port
/// (`SWOFT_WS_ADDR=127.0.0.1:0` plus `envs`), and waits for its `listening on ws://ADDR` line.
pub fn start_example(name: &str, envs: &[(&str, &str)]) -> Example {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "swoft-ws-examples", "--example", name])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the {name} example failed");
    // target/debug/deps/TEST-HASH → target/debug/examples/NAME
    let exe = std::env::current_exe().expect("test binary path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
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
    example.addr = line
        .strip_prefix("listening on ws://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned();
    example
}
