//! The accept loop: hyper's HTTP/1 server with a header read timeout (a TCP connection that
//! sends no complete request in time is dropped), upgrades, the peer address for handshake
//! hooks, and graceful shutdown on a future, on [`Server::shutdown`] or on SIGINT/SIGTERM.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::extract::connect_info::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runtime::server::{Server, WeakServer};

/// Apps turned into routers (weakly): what `serve_router` drains.
static ROUTED: std::sync::Mutex<Vec<WeakServer>> = std::sync::Mutex::new(Vec::new());

/// Notes that `server`'s app was turned into a router.
pub(crate) fn routed(server: &Server) {
    let mut list = ROUTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    list.retain(|w| !w.is_gone());
    list.push(server.downgrade());
}

/// The live apps turned into routers and not served by `App::serve*`.
pub(crate) fn unclaimed() -> Vec<Server> {
    let list = ROUTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    list.iter()
        .filter_map(Server::upgrade)
        .filter(|s| !s.is_claimed())
        .collect()
}

/// How [`serve`] runs.
#[derive(Debug)]
pub(crate) struct ServeOpts {
    pub(crate) handshake_timeout: Duration,
    pub(crate) signals: bool,
    /// The app whose WebSocket connections are drained at shutdown.
    pub(crate) server: Option<Server>,
}

/// How long HTTP connections (not WebSocket ones) get to finish after shutdown.
const HTTP_GRACE: Duration = Duration::from_secs(5);

/// One TCP connection's service: the router, with the peer address in every request.
#[derive(Clone)]
struct ConnService {
    router: Router,
    peer: SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = axum::routing::future::RouteFuture<Infallible>;

    fn call(&self, mut req: hyper::Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let req: Request = req.map(axum::body::Body::new);
        tower_service::Service::call(&mut self.router.clone(), req)
    }
}

pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    opts: ServeOpts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "swoft-ws listening");
    // Server::shutdown of the app served (for serve_router: of any app it may drain).
    let requested = CancellationToken::new();
    let watched = match &opts.server {
        Some(s) => vec![s.clone()],
        None => unclaimed(),
    };
    for s in watched {
        let (requested, asked) = (requested.clone(), s.shutdown_state().requested.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = asked.cancelled() => requested.cancel(),
                _ = requested.cancelled() => {}
            }
        });
    }
    let _stop_watchers = requested.clone().drop_guard();
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(opts.handshake_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut signal = std::pin::pin!(signal(opts.signals));
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = requested.cancelled() => break,
            name = &mut signal => {
                tracing::info!(signal = name, "shutting down");
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of fds (EMFILE/ENFILE) or a connection reset before accept: wait a
                    // little and go on, as hyper and axum do.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let service = ConnService {
            router: router.clone(),
            peer,
        };
        let conn = builder
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        let stop = stop.clone();
        tracker.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                if e.is_timeout() {
                    metrics::counter!(crate::runtime::metrics::LIMITED, "module" => "", "limit" => "handshake_timeout")
                        .increment(1);
                    tracing::debug!(%peer, "handshake timeout: connection dropped");
                } else {
                    tracing::debug!(%peer, error = %e, "http connection failed");
                }
            }
        });
    }
    drop(listener);
    match &opts.server {
        Some(server) => crate::runtime::shutdown::drain(server).await,
        None => {
            let servers = unclaimed();
            futures_util::future::join_all(servers.iter().map(crate::runtime::shutdown::drain))
                .await;
        }
    }
    stop.cancel();
    tracker.close();
    if tokio::time::timeout(HTTP_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::debug!("http connections still open after the grace; leaving them");
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (with `on`; never without), naming the signal. The signal
/// handlers are installed when this is called, not when the future is first polled: from
/// then on a SIGTERM is this future's, never the default action that ends the process.
fn signal(on: bool) -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    let listeners = on.then(|| {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => Some((term, int)),
            _ => {
                tracing::warn!("cannot listen for signals; shut down with Server::shutdown");
                None
            }
        }
    });
    async move {
        #[cfg(unix)]
        {
            let Some(Some((mut term, mut int))) = listeners else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            if !on {
                return std::future::pending().await;
            }
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}
