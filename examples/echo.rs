//! Echo: the app of the crate docs, one module and one command.
//!
//! Run with `cargo run -p swoft-ws-examples --example echo` (listens on `127.0.0.1:8083`, or on
//! `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`), connect to `ws://127.0.0.1:8083/echo` and
//! send `{"cmd":"echo.send","data":{"text":"hi"},"id":1}`: the same frame comes back.
//! `{"cmd":"echo.send","data":{"text":""},"id":2}` gets an error reply with the code
//! `invalid_data`.

use serde::{Deserialize, Serialize};
use swoft_ws::prelude::*;

/// Serves `/echo` with the JSON protocol (the default parser).
#[ws_module(path = "/echo", controllers = [EchoController])]
struct EchoModule;

/// The `echo.*` commands.
#[derive(Default)]
struct EchoController;

/// The payload of `echo.send`, and its reply.
#[derive(Deserialize, Serialize)]
struct Text {
    text: String,
}

#[ws_controller(prefix = "echo")]
impl EchoController {
    /// `echo.send`: the payload back, or `invalid_data` for an empty text.
    #[message_mapping("send")]
    fn send(Data(msg): Data<Text>) -> Result<Text, WsError> {
        if msg.text.is_empty() {
            return Err(WsError::invalid_data("text is empty"));
        }
        Ok(msg)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8083".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    // Every `#[ws_module]` of this binary; stops gracefully on SIGINT/SIGTERM.
    App::discover()?.serve_listener(listener).await?;
    Ok(())
}
