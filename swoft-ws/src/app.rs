//! Building and serving an app.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::context::ContextManager;
use crate::fd::{DEFAULT_MAX_FD, FdAllocator};
use crate::middleware::Middleware;
use crate::registry::{self, BuildError, Instance, Module, ModuleDef};
use crate::rooms::{Adapter, LocalAdapter, Rooms};
use crate::server::{Server, ServerInner};
use crate::session::SessionManager;

/// Server-wide settings. Every setting has a builder method on [`AppBuilder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The largest fd (default 16,000,000).
    pub max_fd: u32,
    /// How many frames may wait in one connection's outbound queue (default 1024). A push to a
    /// full queue fails with [`SendError::QueueFull`](crate::SendError::QueueFull).
    pub outbound_queue: usize,
    /// The largest message a client may send, in bytes (default 64 KiB).
    pub max_message_size: usize,
    /// The largest frame a client may send, in bytes (default 64 KiB).
    pub max_frame_size: usize,
    /// Each connection's read buffer, in bytes (default 4 KiB; axum's own default of 128 KiB
    /// costs that much memory per idle connection).
    pub read_buffer_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_fd: DEFAULT_MAX_FD,
            outbound_queue: 1024,
            max_message_size: 64 << 10,
            max_frame_size: 64 << 10,
            read_buffer_size: 4 << 10,
        }
    }
}

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
    adapter: Option<Arc<dyn Adapter>>,
    middleware: Vec<Arc<dyn Middleware>>,
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
    /// first, in the order added). See [`middleware`](mod@crate::middleware).
    pub fn middleware(mut self, m: impl Middleware) -> Self {
        self.middleware.push(Arc::new(m));
        self
    }

    /// Where rooms live (default: [`LocalAdapter`], in this process's memory).
    pub fn adapter(mut self, adapter: impl Adapter) -> Self {
        self.adapter = Some(Arc::new(adapter));
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

    /// Each connection's read buffer, in bytes.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.config.read_buffer_size = bytes;
        self
    }

    /// Builds the app's tables, checking everything. All problems are reported together.
    pub fn build(self) -> Result<App, BuildError> {
        let mut defs = self.modules;
        if self.discover {
            defs.extend(registry::registered_modules());
        }
        let built = registry::build(&defs, self.discover, &self.instances, &self.middleware)?;
        for m in &built {
            tracing::debug!(
                path = m.path,
                module = m.def.name,
                at = %m.def.location,
                commands = m.routes.len(),
                parser = m.parser.name(),
                "ws module registered"
            );
        }
        let server = Server::new(ServerInner {
            fds: Arc::new(FdAllocator::new(self.config.max_fd)),
            config: self.config,
            modules: built.into_iter().map(Arc::new).collect(),
            sessions: SessionManager::default(),
            contexts: ContextManager::default(),
            state: self.state,
            rooms: Rooms::new(
                self.adapter
                    .unwrap_or_else(|| Arc::new(LocalAdapter::new())),
            ),
        });
        Ok(App { server })
    }
}

/// A built app: turn it into an axum [`Router`] or serve it.
#[derive(Debug, Clone)]
pub struct App {
    server: Server,
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

    /// The server handle (sessions, pushes); stays valid after the app is turned into a router.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// An axum router with one WebSocket route per module path. Merge it with your own routes;
    /// serve it with connect info (`into_make_service_with_connect_info::<SocketAddr>()`) so
    /// handshake hooks see the peer address. Other paths get 404.
    pub fn into_router(self) -> Router {
        let mut router = Router::new();
        for module in self.server.modules() {
            let module = module.clone();
            let server = self.server.clone();
            router = router.route(
                module.path,
                get(move |req: Request| crate::conn::upgrade(server.clone(), module.clone(), req)),
            );
        }
        router
    }

    /// Serves the app on `addr` until the process ends.
    pub async fn serve(self, addr: impl ToSocketAddrs) -> std::io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_listener(listener).await
    }

    /// Serves the app on a bound listener until the process ends.
    pub async fn serve_listener(self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves the app on a bound listener until `shutdown` completes.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(paths = ?self.server.module_paths(), "swoft-ws modules");
        serve_router(listener, self.into_router(), shutdown).await
    }
}

/// Serves a router — typically [`App::into_router`] merged with your own HTTP routes — on a
/// bound listener until `shutdown` completes, with the peer address available to handshake
/// hooks.
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
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "swoft-ws listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
