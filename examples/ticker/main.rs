//! A stock ticker in layout B: clients subscribe to symbols and a background task pushes
//! their prices.
//!
//! Run with `cargo run -p swoft-ws-examples --example ticker` (listens on `127.0.0.1:8081`, or
//! on `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`), connect to
//! `ws://127.0.0.1:8081/ticker` and send `{"cmd":"ticker.subscribe","data":{"symbol":"ACME"},"id":1}`:
//! `ticker.tick {"symbol": "ACME", "price": 101.25, "seq": 17}` arrives every 200 ms
//! (`TICKER_INTERVAL_MS` changes that) until `ticker.unsubscribe`. `ticker.list` tells the
//! symbols there are and the ones this connection follows.
//!
//! The files follow layout B: the modules side by side in `ws/` and all controllers together
//! in `ws/controller/`. Registration is by attribute, as in layout A, and `App::discover()`
//! finds the module wherever its file sits. This binary does not use the examples library, so
//! only the ticker's module is registered in it.

mod ws;

use std::time::Duration;

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

    let interval = std::env::var("TICKER_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(Duration::from_millis(200), Duration::from_millis);

    let app = App::discover()?;
    tokio::spawn(ws::ticker_module::run_feed(app.server().clone(), interval));

    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    // Stops gracefully on SIGINT or SIGTERM (serve_router listens for them).
    swoft_ws::serve_router(listener, app.into_router(), std::future::pending()).await?;
    Ok(())
}
