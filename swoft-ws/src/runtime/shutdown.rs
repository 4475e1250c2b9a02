//! Graceful shutdown: stop taking connections, let in-flight handlers finish (up to
//! [`Config::shutdown_grace`](crate::Config::shutdown_grace)), close every connection with 1001
//! in batches, and wait until every `#[on_close]` ran.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::runtime::server::Server;
use crate::ws::close_code;

/// The server's shutdown signals.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    /// Someone asked for a shutdown ([`Server::shutdown`]): the serve loop stops accepting.
    pub(crate) requested: CancellationToken,
    /// Draining: new handshakes get 503; each connection's own `draining` token is cancelled
    /// too (read loops stop reading new messages).
    pub(crate) draining: CancellationToken,
    /// The grace is over: each connection's `abort` token is cancelled too (in-flight handlers
    /// are dropped).
    pub(crate) abort: CancellationToken,
    /// The drain is complete.
    pub(crate) done: CancellationToken,
}

/// The reason sent with the shutdown close frames: the node is going away, not the service, so
/// the client should reconnect (to another node; with a resumable session, resume it there).
pub(crate) const REASON: &str = "server shutting down: reconnect";

/// Drains `server` (see the module docs). A second call waits for the first to finish.
pub(crate) async fn drain(server: &Server) {
    let st = server.shutdown_state();
    st.requested.cancel();
    if st.draining.is_cancelled() {
        st.done.cancelled().await;
        return;
    }
    st.draining.cancel();
    server.sessions().for_each(|c| c.draining().cancel());
    let cfg = server.config();
    tracing::info!(
        connections = server.connection_count(),
        in_flight = server.contexts().live(),
        "graceful shutdown: draining"
    );

    // 1. In-flight handlers finish, up to the grace; then they are cancelled.
    if !wait_until(cfg.shutdown_grace, || server.contexts().live() == 0).await {
        tracing::warn!(
            in_flight = server.contexts().live(),
            "graceful shutdown: handlers still running after the grace; cancelling them"
        );
    }
    st.abort.cancel();
    server.sessions().for_each(|c| c.abort().cancel());

    // Resumable sessions: their records in the cluster's store before their clients are
    // told to reconnect (elsewhere).
    crate::runtime::recovery::shared::save_all(server).await;

    // 2. Close frames (1001), in batches.
    let mut conns = server.sessions().connections();
    conns.sort_unstable_by_key(crate::runtime::connection::Connection::fd);
    let total = conns.len();
    for (i, batch) in conns.chunks(cfg.shutdown_batch.max(1)).enumerate() {
        if i > 0 {
            tokio::time::sleep(cfg.shutdown_batch_pause).await;
        }
        for c in batch {
            c.close(close_code::GOING_AWAY, REASON);
        }
    }
    drop(conns);

    // 3. Every connection ends and runs its #[on_close].
    let bound = cfg.close_timeout + Duration::from_secs(5);
    if !wait_until(bound, || server.sessions().is_empty()).await {
        tracing::warn!(
            left = server.connection_count(),
            "graceful shutdown: connections still open"
        );
    }
    tracing::info!(closed = total, "graceful shutdown: drained");
    st.done.cancel();
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; whether it held. (Also
/// `swoft_ws::testing::wait_until`.)
pub(crate) async fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Server {
    /// Asks the server to shut down gracefully: `serve*` stops accepting, drains every
    /// WebSocket connection (see [`App::serve_with_shutdown`](crate::App::serve_with_shutdown))
    /// and returns. Returns at once; await [`drain`](Self::drain) to wait for the end.
    pub fn shutdown(&self) {
        self.shutdown_state().requested.cancel();
    }

    /// Whether a shutdown was asked for.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown_state().requested.is_cancelled()
    }

    /// Drains the WebSocket connections now, and returns once they all ended: new handshakes
    /// get 503; in-flight handlers finish (up to `shutdown_grace`, then are cancelled); every
    /// connection gets close 1001 `server shutting down: reconnect`, in batches; every `#[on_close]` runs.
    /// For apps served by your own HTTP server (`into_router`); `serve*` call it for you.
    pub async fn drain(&self) {
        drain(self).await;
    }
}
