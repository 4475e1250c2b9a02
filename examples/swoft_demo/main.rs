//! The WebSocket part of Swoft's demo app (`swoft-cloud/swoft`, `app/WebSocket/`), ported
//! frame for frame: `/echo`, `/chat` and `/test` answer as the demo does, and `/room/{id}`
//! (ours) shows path variables. The README's "Porting from Swoft" maps each Swoft spelling to
//! ours.
//!
//! Run with `cargo run -p swoft-ws-examples --example swoft_demo` (listens on `127.0.0.1:8082`,
//! or on `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`), then connect to
//! `ws://127.0.0.1:8082/test` and send `echo:abc`, or to `/chat` and send
//! `{"cmd":"home.index","data":"hello"}`.
//!
//! The files follow Swoft's folder-per-module layout: a file per module (`ws/chat_module.rs`)
//! and its controllers in a folder of the module's name (`ws/chat/home_controller.rs`). The
//! demo's middleware (a global one and `DemoMiddleware` on `TestController`, which wrap every
//! reply in `>before ... after>`) is left out. This binary does not use the examples library,
//! so only the demo's modules are registered in it.

mod ws;

use swoft_ws::App;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let app = App::discover()?;
    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8082".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    // Stops gracefully on SIGINT or SIGTERM (serve_router listens for them).
    swoft_ws::serve_router(listener, app.into_router(), std::future::pending()).await?;
    Ok(())
}
