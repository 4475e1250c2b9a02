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
