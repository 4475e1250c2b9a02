//! The main example: an echo module at `/echo` and a raw echo module at `/raw`.
//!
//! Run with `cargo run -p swoft-ws-examples --example chat` (listens on `127.0.0.1:8080`, or on
//! `$SWOFT_WS_ADDR`), then send `{"cmd":"echo.send","data":"hi","id":1}` to
//! `ws://127.0.0.1:8080/echo`.
//!
//! The module files follow layout A: a folder per module (`ws/echo_module.rs` with its
//! controllers in `ws/echo/`). Nothing here lists them: `#[ws_module]` and `#[ws_controller]`
//! register themselves, and `App::discover()` finds them.

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

    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let app = App::discover()?;
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    app.serve_listener(listener).await?;
    Ok(())
}
