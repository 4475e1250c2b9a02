//! Middleware: code around the handlers, at the app, module, controller or method level. One
//! app-wide middleware times every message; one on a controller refuses messages without a
//! token and hands the token to the handler.
//!
//! Run with `cargo run -p swoft-ws-examples --example middleware` (listens on `127.0.0.1:8085`,
//! or on `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`), connect to
//! `ws://127.0.0.1:8085/admin` and send `{"cmd":"admin.stats","id":1}`: the reply is an error,
//! `forbidden`, `token required`. `{"cmd":"admin.stats","ext":{"token":"t1"},"id":2}` is
//! answered with `{"token":"t1","connections":1}`. `RUST_LOG=info` shows each message's time.

use serde::Serialize;
use swoft_ws::middleware::{BoxFuture, Middleware, Next};
use swoft_ws::prelude::*;

/// App-wide (`App::builder().middleware(..)`): logs each message's command and time. It sees
/// every message of every module, mapped or not.
struct Timing;

impl Middleware for Timing {
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let reply = next.run(cx).await; // the next middleware, then the handler
            tracing::info!(command = cx.command().unwrap_or(""), elapsed = ?cx.started().elapsed(), "handled");
            reply
        })
    }
}

/// On a controller (`#[ws_controller(middleware = [RequireToken])]`): refuses messages whose
/// `ext` has no `token`, and hands the token to the handler (`Extension<Token>`).
#[derive(Default)]
struct RequireToken;

/// What [`RequireToken`] found.
#[derive(Clone)]
struct Token(String);

impl Middleware for RequireToken {
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let token = cx
                .ext()
                .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
                .and_then(|e| e["token"].as_str().map(str::to_owned));
            let Some(token) = token else {
                // Short-circuits: the handler does not run, the client gets this error.
                return Reply::Error(WsError::forbidden("token required"));
            };
            cx.insert(Token(token));
            next.run(cx).await
        })
    }
}

/// Serves `/admin`.
#[ws_module(path = "/admin", controllers = [AdminController])]
struct AdminModule;

/// The `admin.*` commands, all behind [`RequireToken`].
#[derive(Default)]
struct AdminController;

/// The reply of `admin.stats`.
#[derive(Serialize)]
struct Stats {
    token: String,
    connections: usize,
}

#[ws_controller(prefix = "admin", middleware = [RequireToken])]
impl AdminController {
    /// `admin.stats`: the caller's token and the number of connections.
    #[message_mapping("stats")]
    fn stats(Extension(token): Extension<Token>, server: &Server) -> Stats {
        Stats {
            token: token.0,
            connections: server.connection_count(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let app = App::builder()
        .module::<AdminModule>()
        .middleware(Timing)
        .build()?;
    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8085".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    app.serve_listener(listener).await?;
    Ok(())
}
