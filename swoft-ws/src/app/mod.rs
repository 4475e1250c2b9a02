//! Building and serving an app.

mod describe;
pub(crate) mod registry;
pub(crate) mod serve;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request};
use axum::routing::get;
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::app::registry::{BuildError, Instance, Module, ModuleDef};
use crate::app::serve::{Listener, ServeOpts};
use crate::config::Config;
use crate::config::{Backpressure, Limits, ModuleLimits, Origins, RateLimit};
use crate::handshake::PathParams;
use crate::runtime::context::ContextManager;
use crate::runtime::fd::FdAllocator;
use crate::runtime::middleware::Middleware;
use crate::runtime::module::ModuleRuntime;
use crate::runtime::module::deflate_params;
use crate::runtime::remote::Remote;
use crate::runtime::rooms::Rooms;
use crate::runtime::server::{Server, ServerInner};
use crate::runtime::sessions::SessionManager;

/// Builds an [`App`]: which modules (discovered, or named one by one), shared state, settings.
///
/// ```no_run
/// # use swoft_ws::prelude::*;
/// # #[ws_module(path = "/echo")] pub struct EchoModule;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let app = App::builder()
///     .module::<EchoModule>()
///     .max_message_size(16 << 10)
///     .build()?;
/// app.serve("127.0.0.1:8080").await?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct AppBuilder {
    modules: Vec<&'static ModuleDef>,
    discover: bool,
    config: Config,
    state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    instances: HashMap<TypeId, Instance>,
    cluster: Option<Arc<dyn crate::cluster::ClusterAdapter>>,
    middleware: Vec<Arc<dyn Middleware>>,
    module_limits: HashMap<TypeId, ModuleLimits>,
}

impl fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppBuilder")
            .field(
                "modules",
                &self.modules.iter().map(|m| m.path).collect::<Vec<_>>(),
            )
            .field("discover", &self.discover)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// Adds every module registered in this binary by `#[ws_module]`.
    pub fn discover(mut self) -> Self {
        self.discover = true;
        self
    }

    /// Adds module `M` (and its controllers and hooks).
    pub fn module<M: Module>(mut self) -> Self {
        self.modules.push(M::DEF);
        self
    }

    /// Registers shared state, available to handlers as [`State<T>`](crate::State) and from
    /// [`Server::state`].
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// Uses `value` as the instance of a module or controller type, instead of its `Default`.
    pub fn instance<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.instances.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// Adds a global message middleware: it wraps every message of every module (outermost
    /// first, in the order added). See [`middleware`](mod@crate::runtime::middleware).
    pub fn middleware(mut self, m: impl Middleware) -> Self {
        self.middleware.push(Arc::new(m));
        self
    }

    /// Makes this app one node of a cluster: rooms, broadcasts and membership queries reach
    /// every node that shares the adapter's store (see [`crate::cluster`]). The app must be
    /// built inside a tokio runtime.
    pub fn cluster(mut self, adapter: impl crate::cluster::ClusterAdapter) -> Self {
        self.cluster = Some(Arc::new(adapter));
        self
    }

    /// Replaces all settings.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The largest fd; after it the count wraps to 1 (default 16,000,000).
    pub fn max_fd(mut self, max: u32) -> Self {
        self.config.max_fd = max;
        self
    }

    /// How many frames may wait in one connection's outbound queue.
    pub fn outbound_queue(mut self, frames: usize) -> Self {
        self.config.outbound_queue = frames.max(1);
        self
    }

    /// The largest message (and frame) a client may send, in bytes.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes;
        self.config.max_frame_size = bytes;
        self
    }

    /// The most one read takes from a connection's socket, in bytes (see
    /// [`Config::read_buffer_size`]).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.read_buffer_size = bytes;
        self
    }

    /// How many bytes may wait in one connection's outbound queue (default 1 MiB).
    pub fn outbound_bytes(mut self, bytes: usize) -> Self {
        self.config.outbound_bytes = bytes.max(1);
        self
    }

    /// What happens to a connection whose outbound queue is full (default: close 1008).
    pub fn backpressure(mut self, policy: Backpressure) -> Self {
        self.config.backpressure = policy;
        self
    }

    /// How often the server pings (default 25 s; `None`: never).
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.config.ping_interval = every;
        self
    }

    /// Closes (1001) connections silent for this long (default 60 s; `None`: never).
    pub fn idle_timeout(mut self, after: Option<Duration>) -> Self {
        self.config.idle_timeout = after;
        self
    }

    /// Drops TCP connections that have not sent their request headers within this time
    /// (default 10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// The most live connections of the server (default: unlimited but for `max_fd`); over it
    /// → HTTP 503.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = Some(max);
        self
    }

    /// The most rooms one connection may be in at once (default 1,024; see
    /// [`Config::max_rooms_per_connection`](crate::Config::max_rooms_per_connection)).
    pub fn max_rooms_per_connection(mut self, rooms: usize) -> Self {
        self.config.max_rooms_per_connection = rooms;
        self
    }

    /// The largest handshake request head a module accepts (default 16 KiB; see
    /// [`Config::max_handshake_head`](crate::Config::max_handshake_head)); past it → HTTP 431.
    pub fn max_handshake_head(mut self, bytes: usize) -> Self {
        self.config.max_handshake_head = bytes;
        self
    }

    /// permessage-deflate (RFC 7692) with clients that offer it (default off; see
    /// [`Compression`](crate::config::Compression) and README's "Compression").
    pub fn compression(mut self, compression: crate::config::Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// Each connection's inbound message rate (default: unlimited).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.config.rate_limit = Some(limit).filter(RateLimit::is_on);
        self
    }

    /// Which browser origins may connect (default: same origin; no `Origin` header: allowed).
    pub fn origins(mut self, origins: Origins) -> Self {
        self.config.origins = origins;
        self
    }

    /// How long one message's handling may take (default 30 s; `None`: no limit).
    pub fn handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.handler_timeout = timeout;
        self
    }

    /// How long a connection that ends gets to write the close frame (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.config.close_timeout = timeout;
        self
    }

    /// Graceful shutdown: how long in-flight handlers may finish (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Graceful shutdown: close `batch` connections at a time, `pause` apart (default 500,
    /// 50 ms).
    pub fn shutdown_batches(mut self, batch: usize, pause: Duration) -> Self {
        self.config.shutdown_batch = batch.max(1);
        self.config.shutdown_batch_pause = pause;
        self
    }

    /// Whether `serve*` shut down gracefully on SIGINT/SIGTERM (default true).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.config.handle_signals = on;
        self
    }

    /// How long a request to a client waits for its `$ack` by default (default 5 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.config.ack_timeout = timeout;
        self
    }

    /// The most requests a connection may have waiting for answers (default 64; at least 1).
    pub fn max_pending_acks(mut self, requests: usize) -> Self {
        self.config.max_pending_acks = requests.max(1);
        self
    }

    /// Overrides server-wide limits for module `M` (on top of its `#[ws_module(...)]` options:
    /// the fields set here win).
    pub fn module_limits<M: Module>(mut self, limits: ModuleLimits) -> Self {
        let slot = self
            .module_limits
            .entry((M::DEF.type_id)())
            .or_insert(ModuleLimits::NONE);
        *slot = slot.overridden_by(limits);
        self
    }

    /// Builds the app's tables, checking everything. All problems are reported together.
    pub fn build(self) -> Result<App, BuildError> {
        let mut defs = self.modules;
        if self.discover {
            defs.extend(registry::registered_modules());
        }
        let state = &self.state;
        let built = registry::build(
            &defs,
            self.discover,
            &self.instances,
            &self.middleware,
            &|t| state.contains_key(&t),
        )?;
        for (def, m) in &built {
            tracing::debug!(
                path = m.path,
                module = m.label,
                type_name = m.name,
                at = %def.location,
                commands = m.routes.len(),
                parser = m.parser.name(),
                "ws module registered"
            );
        }
        let defs: Arc<[&'static ModuleDef]> = built.iter().map(|(def, _)| *def).collect();
        let mut problems = Vec::new();
        let modules: Vec<Arc<ModuleRuntime>> = built
            .into_iter()
            .map(|(def, mut m)| {
                let mut limits = def.limits;
                if let Some(over) = self.module_limits.get(&(def.type_id)()) {
                    limits = limits.overridden_by(*over);
                }
                m.limits = Limits::resolve(&self.config, limits);
                if m.limits.recovery.is_some() && m.parser.name() != "json" {
                    problems.push(registry::Problem::RecoveryNeedsJson {
                        module: m.name.to_owned(),
                        parser: m.parser.name().to_owned(),
                        at: def.location,
                    });
                }
                m.deflate = deflate_params(m.path, &m.limits.compression);
                Arc::new(m)
            })
            .collect();
        if !problems.is_empty() {
            return Err(BuildError::new(problems));
        }
        let recovery = crate::runtime::recovery::RecoveryStore::new(&modules);
        let server = Server::new(ServerInner {
            fds: Arc::new(FdAllocator::new(self.config.max_fd)),
            config: self.config,
            modules,
            admitted: Default::default(),
            claimed: Default::default(),
            sweeping: Default::default(),
            listeners: crate::runtime::events::Listeners::new(
                crate::app::registry::registered_listeners(),
            ),
            shutdown: Default::default(),
            acks: Default::default(),
            recovery,
            sessions: SessionManager::default(),
            contexts: ContextManager::default(),
            state: self.state,
            rooms: Rooms::new(
                self.cluster
                    .map(|a| crate::cluster::ClusterNode::new(a) as Arc<dyn Remote>),
            ),
        });
        server.rooms().attach(&server);
        Ok(App { server, defs })
    }
}

/// A built app: turn it into an axum [`Router`] or serve it.
#[derive(Debug, Clone)]
pub struct App {
    server: Server,
    /// The modules' records, for [`App::describe`].
    defs: Arc<[&'static ModuleDef]>,
}

impl App {
    /// An empty builder.
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// An app of every module registered in this binary, with default settings.
    pub fn discover() -> Result<App, BuildError> {
        Self::builder().discover().build()
    }

    /// The app's typed contract: every module (path, variables, parser, resumable sessions), its
    /// commands (payload type, reply type, declared error codes) and the pushes declared for it
    /// (`#[push("room.message", module = ChatModule)]`), built from what the macros registered.
    /// With the `schema` feature, types that implement `schemars::JsonSchema` come with their
    /// JSON Schema; without it every type is described by its name only ("any"). See
    /// [`contract`](crate::contract) for the AsyncAPI document and the TypeScript module made
    /// from it. Built on each call (nothing is kept for it); cheap enough for start-up or a
    /// command-line flag, not meant for the message path.
    pub fn describe(&self) -> crate::contract::Description {
        // `defs` and the server's modules are in the same order (both made from one list).
        let modules: Vec<_> = self
            .defs
            .iter()
            .zip(self.server.modules())
            .map(|(def, m)| (*def, m.limits.recovery))
            .collect();
        describe::describe(&modules)
    }

    /// The server handle (sessions, pushes); stays valid after the app is turned into a router.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// An axum router with one WebSocket route per module path. Merge it with your own routes;
    /// serve it with connect info (`into_make_service_with_connect_info::<SocketAddr>()`) so
    /// handshake hooks see the peer address. Other paths get 404.
    ///
    /// [`serve_router`](crate::serve_router) and [`serve_with`](Self::serve_with) serve it with
    /// the peer address, the handshake timeout and the drain at shutdown. With `axum::serve`,
    /// keep a clone of [`server`](Self::server) and await [`Server::drain`] in its graceful
    /// shutdown future: axum's own shutdown does not wait for upgraded WebSocket connections.
    /// A tower CORS layer does not open these routes to other sites: the handshake's `Origin`
    /// is checked by the [`origins`](AppBuilder::origins) setting.
    pub fn into_router(self) -> Router {
        let mut router = Router::new();
        for module in self.server.modules() {
            let module = module.clone();
            let server = self.server.clone();
            let path = module.path;
            router = if path.contains('{') {
                // A path with variables (`/rooms/{id}`): axum's router matches the segments,
                // `upgrade` checks the values against their constraints.
                router.route(
                    path,
                    get(
                        move |Path(values): Path<Vec<(String, String)>>, req: Request| {
                            let params = PathParams::new(values);
                            crate::driver::upgrade(server.clone(), module.clone(), params, req)
                        },
                    ),
                )
            } else {
                router.route(
                    path,
                    get(move |req: Request| {
                        let params = PathParams::default();
                        crate::driver::upgrade(server.clone(), module.clone(), params, req)
                    }),
                )
            };
        }
        crate::app::serve::routed(&self.server);
        router
    }

    /// Serves the app on `addr` until SIGINT or SIGTERM (unless
    /// [`handle_signals`](AppBuilder::handle_signals) is off) or [`Server::shutdown`], then
    /// shuts down gracefully (see [`serve_with_shutdown`](Self::serve_with_shutdown)).
    pub async fn serve(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_listener(listener).await
    }

    /// Serves the app on a bound listener (a [`TcpListener`], or a [`Listener`], e.g. with
    /// TLS) until SIGINT/SIGTERM or [`Server::shutdown`], then shuts down gracefully.
    pub async fn serve_listener(self, listener: impl Into<Listener>) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves the app over TLS (`https`, `wss`) on `addr`, as [`serve`](Self::serve) does over
    /// TCP: the same limits, metrics, graceful shutdown (close 1001, every `#[on_close]` run)
    /// and signals. Each TLS handshake reads `tls` anew, so [`TlsConfig::reload`] (on a clone
    /// kept for it) changes the certificate of the next connections without a restart. A TLS
    /// handshake not done within [`Config::handshake_timeout`], or failing (a plain-HTTP
    /// client, garbage), drops its connection (counted in
    /// `swoft_ws_tls_handshake_failures_total`).
    ///
    /// [`TlsConfig::reload`]: crate::tls::TlsConfig::reload
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        self,
        addr: impl ToSocketAddrs,
        tls: crate::config::tls::TlsConfig,
    ) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_listener_tls(listener, tls).await
    }

    /// [`serve_tls`](Self::serve_tls) on a bound listener: `serve_listener(Listener::tls(..))`.
    #[cfg(feature = "tls")]
    pub async fn serve_listener_tls(
        self,
        listener: TcpListener,
        tls: crate::config::tls::TlsConfig,
    ) -> std::io::Result<()> {
        self.serve_listener(Listener::tls(listener, tls)).await
    }

    /// Serves the app on a bound listener until `shutdown` completes (or SIGINT/SIGTERM, or
    /// [`Server::shutdown`]), then shuts down gracefully: stops accepting, lets in-flight
    /// handlers finish (up to [`Config::shutdown_grace`]), sends close 1001 to every
    /// connection in batches, waits until every `#[on_close]` ran, and returns `Ok(())`.
    pub async fn serve_with_shutdown(
        self,
        listener: impl Into<Listener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.serve_with(listener, |r| r, shutdown).await
    }

    /// Like [`serve_with_shutdown`](Self::serve_with_shutdown), serving the app's router after
    /// `customize` (merge your own routes, add tower layers).
    pub async fn serve_with(
        self,
        listener: impl Into<Listener>,
        customize: impl FnOnce(Router) -> Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let signals = self.server.config().handle_signals;
        let server = self.server.clone();
        let router = customize(self.into_router());
        serve_app(server, router, listener.into(), shutdown, signals).await
    }
}

/// Serves an app's (customized) router, draining `server`'s connections at shutdown.
pub(crate) async fn serve_app(
    server: Server,
    router: Router,
    listener: Listener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    signals: bool,
) -> std::io::Result<()> {
    tracing::info!(paths = ?server.module_paths(), "swoft-ws modules");
    server.claim();
    let opts = ServeOpts {
        handshake_timeout: server.config().handshake_timeout,
        signals,
        server: Some(server),
    };
    crate::app::serve::serve(listener, router, opts, shutdown).await
}

/// Serves a router — typically [`App::into_router`] merged with your own HTTP routes — on a
/// bound listener (a [`TcpListener`], or a [`Listener`], e.g. with TLS) until `shutdown` completes or SIGINT/SIGTERM, with the peer address
/// available to handshake hooks and the app's handshake (request header) timeout. At shutdown
/// (`shutdown` completes, SIGINT/SIGTERM, or [`Server::shutdown`]) it stops accepting, drains
/// the WebSocket connections of every app turned into a router in this process and not served
/// by [`App::serve_with`] and friends (usually: the one app whose router this is), ends HTTP
/// connections gracefully, and returns. For exact control over which app is drained, use
/// [`App::serve_with`] (your routes go in its `customize`), or call [`Server::drain`].
///
/// ```no_run
/// # use swoft_ws::prelude::*;
/// # #[ws_module(path = "/chat")] pub struct ChatModule;
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use swoft_ws::axum::routing::get;
///
/// let app = App::builder().module::<ChatModule>().build()?;
/// let router = app.into_router().route("/health", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// swoft_ws::serve_router(listener, router, std::future::pending()).await?;
/// # Ok(()) }
/// ```
pub async fn serve_router(
    listener: impl Into<Listener>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let opts = ServeOpts {
        handshake_timeout: crate::app::serve::unclaimed()
            .iter()
            .map(|s| s.config().handshake_timeout)
            .min()
            .unwrap_or(Config::default().handshake_timeout),
        signals: true,
        server: None,
    };
    crate::app::serve::serve(listener.into(), router, opts, shutdown).await
}
