//! Testing an app with the kit (swoft-ws' feature `testing`): `TestServer` starts the app on a
//! free loopback port, `TestClient`s talk to it, every wait has a timeout.
//!
//! Run the app with `cargo run -p swoft-ws-examples --example testing` (listens on
//! `127.0.0.1:8086`, or on `$SWOFT_WS_ADDR`; prints `listening on ws://ADDR`), and its tests
//! with `cargo test -p swoft-ws-examples --example testing`.
//!
//! The tests sit in this file because an example is one binary. In an app, put the modules in
//! the library (`src/lib.rs`), keep `src/main.rs` to start it, and write the tests in
//! `tests/*.rs` against the library: the README's "Getting started" shows the layout.

use serde::{Deserialize, Serialize};
use swoft_ws::prelude::*;

/// Serves `/greet`: greets each new connection, and answers `greet.hello`.
#[ws_module(path = "/greet", controllers = [GreetController])]
struct GreetModule;

#[ws_module]
impl GreetModule {
    /// Pushes `greet.welcome` `{"fd": N}` to each new connection.
    #[on_open]
    fn open(conn: &Connection) {
        let _ = conn.push("greet.welcome", &serde_json::json!({ "fd": conn.fd() }));
    }
}

/// The `greet.*` commands.
#[derive(Default)]
struct GreetController;

/// The payload of `greet.hello`.
#[derive(Deserialize)]
struct Hello {
    name: String,
}

/// The reply of `greet.hello`.
#[derive(Serialize)]
struct Greeting {
    greeting: String,
}

#[ws_controller(prefix = "greet")]
impl GreetController {
    /// `greet.hello {"name": N}` → `{"greeting": "hello, N"}`; an empty name is `invalid_data`.
    #[message_mapping("hello")]
    fn hello(Data(hello): Data<Hello>) -> Result<Greeting, WsError> {
        if hello.name.is_empty() {
            return Err(WsError::invalid_data("name is empty"));
        }
        Ok(Greeting {
            greeting: format!("hello, {}", hello.name),
        })
    }
}

/// The app: what `main` serves and what the tests start.
fn app() -> Result<App, swoft_ws::BuildError> {
    App::builder().module::<GreetModule>().build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8086".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    app()?.serve_listener(listener).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use swoft_ws::testing::TestServer;

    #[tokio::test]
    async fn a_new_connection_is_welcomed_and_greeted_by_name() {
        let server = TestServer::start(super::app().unwrap()).await; // 127.0.0.1, a free port
        let mut client = server.connect("/greet").await.unwrap();
        let welcome = client.expect_push("greet.welcome").await; // waits at most 5 s
        assert!(welcome["fd"].as_u64().is_some());

        let reply = client.request("greet.hello", json!({"name": "ada"})).await;
        assert_eq!(reply["data"], json!({"greeting": "hello, ada"}));

        let reply = client.request("greet.hello", json!({"name": ""})).await;
        assert_eq!(reply["error"]["code"], "invalid_data");

        client.close(1000, "bye").await;
        server.wait_idle().await; // no connection, fd or context left
    }

    #[tokio::test]
    async fn an_unknown_path_is_refused_with_404() {
        let server = TestServer::start(super::app().unwrap()).await;
        let refused = server.connect("/nowhere").await.unwrap_err();
        assert_eq!(refused.status, Some(404));
    }
}
