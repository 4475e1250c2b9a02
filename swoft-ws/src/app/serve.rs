//! The accept loop: hyper's HTTP/1 server with a header read timeout (a TCP connection that
//! sends no complete request in time is dropped), TLS (feature `tls`: the handshake within the
//! same timeout), upgrades, the peer address for handshake hooks, and graceful shutdown on a
//! future, on [`Server::shutdown`] or on SIGINT/SIGTERM.

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

/// What [`App::serve_listener`](crate::App::serve_listener), its siblings and
/// [`serve_router`](crate::serve_router) accept connections on: a bound TCP listener, plain
/// (`ws://`) or, with feature `tls`, wrapped in TLS (`wss://`, `Listener::tls`). A
/// [`TcpListener`] converts into a plain one, so those functions take either.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    #[cfg(feature = "tls")]
    tls: Option<crate::config::tls::TlsConfig>,
}

impl From<TcpListener> for Listener {
    fn from(tcp: TcpListener) -> Listener {
        Listener {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl Listener {
    /// `tcp`, each accepted connection served over TLS with `tls` (read at each handshake, so
    /// a [`TlsConfig::reload`](crate::tls::TlsConfig::reload) applies to the next one). The
    /// TLS handshake must end within the app's
    /// [`handshake_timeout`](crate::Config::handshake_timeout), else the connection is dropped
    /// (as is one whose TLS handshake fails); the HTTP request head then has the same time
    /// again.
    #[cfg(feature = "tls")]
    pub fn tls(tcp: TcpListener, tls: crate::config::tls::TlsConfig) -> Listener {
        Listener {
            tcp,
            tls: Some(tls),
        }
    }

    /// The address it listens on.
    ///
    /// # Errors
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Whether connections are served over TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
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
    listener: Listener,
    router: Router,
    opts: ServeOpts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, tls = listener.is_tls(), "swoft-ws listening");
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
            accepted = listener.tcp.accept() => match accepted {
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
        let stop = stop.clone();
        #[cfg(feature = "tls")]
        if let Some(tls) = &listener.tls {
            let (config, builder) = (tls.current(), builder.clone());
            let timeout = opts.handshake_timeout;
            tracker.spawn(async move {
                if let Some(tls) = tls_accept(config, tcp, peer, timeout, &stop).await {
                    serve_http(&builder, TokioIo::new(tls), service, &stop).await;
                }
            });
            continue;
        }
        let conn = builder
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades();
        tracker.spawn(async move { finish_http(conn, peer, &stop).await });
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

/// Serves one HTTP connection over `io` (a TLS stream) until it ends, upgrades, or `stop`.
#[cfg(feature = "tls")]
async fn serve_http<I>(
    builder: &http1::Builder,
    io: I,
    service: ConnService,
    stop: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let peer = service.peer;
    let conn = builder.serve_connection(io, service).with_upgrades();
    finish_http(conn, peer, stop).await;
}

/// Runs one HTTP connection until it ends or upgrades; at `stop`, shuts it down gracefully.
/// A request head not read in time is counted (`limit="handshake_timeout"`) and logged.
async fn finish_http<I>(
    conn: http1::UpgradeableConnection<I, ConnService>,
    peer: SocketAddr,
    stop: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
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
}

/// The TLS handshake of one accepted connection, within `timeout` (the app's handshake
/// timeout); `None` when it fails, times out (both counted in
/// `swoft_ws_tls_handshake_failures_total` and logged at debug: a port scan or a plain-HTTP
/// client must not fill the log) or the server stops meanwhile.
#[cfg(feature = "tls")]
async fn tls_accept(
    config: std::sync::Arc<rustls::ServerConfig>,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    timeout: Duration,
    stop: &CancellationToken,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
    let reason = tokio::select! {
        r = tokio::time::timeout(timeout, accept) => match r {
            Ok(Ok(tls)) => return Some(tls),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed: connection dropped");
                "error"
            }
            Err(_) => {
                tracing::debug!(%peer, ?timeout, "TLS handshake timeout: connection dropped");
                "timeout"
            }
        },
        _ = stop.cancelled() => return None,
    };
    metrics::counter!(crate::runtime::metrics::TLS_FAILED, "reason" => reason).increment(1);
    None
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
