//! The chat app: an echo module at `/echo`, a raw echo module at `/raw`, and a chat module at
//! `/chat` with rooms and whispers; beside them, HTTP routes for the browser page (`/`), for
//! pushing into a room from outside (`POST /rooms/{room}/messages`) and for Prometheus
//! (`/metrics`).
//!
//! The WebSocket side follows layout A: a file per module (`ws/chat_module.rs`) and a folder per
//! module's controllers (`ws/chat/`). Nothing lists them: `#[ws_module]` and `#[ws_controller]`
//! register themselves, and `App::builder().discover()` finds them (the example binary does
//! that). [`builder`] names them one by one instead, for tests.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use swoft_ws_examples::chat;
//!
//! let app = chat::builder().build()?;
//! let router = chat::router(app, None);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! swoft_ws::serve_router(listener, router, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod http;
pub mod ws;

use swoft_ws::cluster::{ClusterSettings, NodeId};
use swoft_ws::redis::RedisAdapter;
use swoft_ws::tls::TlsConfig;
use swoft_ws::{App, AppBuilder};

pub use http::{CLIENT_JS, INDEX_HTML, router, with_http};
pub use ws::chat::ChatName;
pub use ws::chat_module::ChatModule;
pub use ws::echo_module::EchoModule;
pub use ws::raw_module::RawModule;

/// What the chat app needs besides its modules: nothing today (names are connection labels,
/// kept by the runtime); the hook stays so that binaries and tests build the same app.
pub fn setup(builder: AppBuilder) -> AppBuilder {
    builder
}

/// The Redis adapter the environment asks for: `SWOFT_WS_REDIS_URL` (e.g.
/// `redis://127.0.0.1:6379`) makes this node one of a cluster, as node `SWOFT_WS_NODE_ID`
/// (default: a random id), signing what it sends the other nodes with
/// `SWOFT_WS_CLUSTER_SECRET` if set (every node needs the same one, at least 16 bytes), with
/// sessions resumable on any node ([`ClusterSettings::shared_recovery`]). Without the URL, `Ok(None)`: one node, in memory. An unreachable Redis, a node id in use or
/// a secret too short is an error naming the URL.
pub async fn cluster_from_env() -> Result<Option<RedisAdapter>, swoft_ws::redis::ConnectError> {
    let Some(url) = std::env::var("SWOFT_WS_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    let node = std::env::var("SWOFT_WS_NODE_ID")
        .ok()
        .filter(|n| !n.is_empty())
        .map_or_else(NodeId::random, |n| NodeId::new(&n));
    // `/chat` keeps sessions resumable: across the nodes, a client resumes on any of them.
    let mut settings = ClusterSettings::default().shared_recovery(true);
    if let Some(secret) = std::env::var_os("SWOFT_WS_CLUSTER_SECRET").filter(|s| !s.is_empty()) {
        settings = settings.secret(secret.as_encoded_bytes());
    }
    RedisAdapter::connect(&url, node, settings).await.map(Some)
}

/// The TLS configuration the environment asks for: `SWOFT_WS_TLS_CERT` and `SWOFT_WS_TLS_KEY`,
/// the paths of the PEM certificate chain and private key, make the example serve `https` and
/// `wss`. Without them, `Ok(None)`: plain `http`/`ws`. Only one of the two set, or a file that
/// cannot be read or holds no certificate or key, is an error naming the variable or the file.
pub fn tls_from_env() -> Result<Option<TlsConfig>, Box<dyn std::error::Error>> {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    match (var("SWOFT_WS_TLS_CERT"), var("SWOFT_WS_TLS_KEY")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsConfig::from_pem_files(cert, key)?)),
        (Some(_), None) => Err("SWOFT_WS_TLS_CERT is set but SWOFT_WS_TLS_KEY is not".into()),
        (None, Some(_)) => Err("SWOFT_WS_TLS_KEY is set but SWOFT_WS_TLS_CERT is not".into()),
    }
}

/// The one command that regenerates the chat app's contract files (the golden files
/// `examples/chat/contract/*`, compared by `tests/tests/contract.rs`), from the workspace root.
pub const REGENERATE: &str = "cargo run -p swoft-ws-examples --example chat -- --asyncapi examples/chat/contract/chat.asyncapi.json --typescript examples/chat/contract/chat.ts";

/// The chat app's AsyncAPI 3.0 document ([`App::describe`]), as pretty JSON ending in a newline.
pub fn asyncapi(app: &App) -> String {
    let doc = app
        .describe()
        .to_asyncapi("swoft-ws chat example", env!("CARGO_PKG_VERSION"));
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The chat app's TypeScript module: its types and a typed wrapper per JSON module over the
/// `swoft-ws-client` npm package (`clients/typescript`).
pub fn typescript(app: &App) -> String {
    let options = swoft_ws::contract::TypeScriptOptions {
        regenerate: Some(REGENERATE.to_owned()),
        ..Default::default()
    };
    app.describe().to_typescript(&options)
}

/// The app's three modules named one by one, plus [`setup`]: what tests build from (a test
/// binary may hold other modules, which discovery would pick up too).
pub fn builder() -> AppBuilder {
    setup(
        App::builder()
            .module::<EchoModule>()
            .module::<RawModule>()
            .module::<ChatModule>(),
    )
}
