//! Several nodes: two (or more) processes share their connections through Redis pub/sub, so
//! a push to a module (or a room, or everyone) reaches clients on every node.
//!
//! Run a Redis and two nodes:
//!
//! ```sh
//! redis-server --port 6379 --save "" --appendonly no &
//! SWOFT_WS_REDIS_URL=redis://127.0.0.1:6379 SWOFT_WS_NODE_ID=one SWOFT_WS_ADDR=127.0.0.1:8087 \
//!   cargo run -p swoft-ws-examples --example several_nodes &
//! SWOFT_WS_REDIS_URL=redis://127.0.0.1:6379 SWOFT_WS_NODE_ID=two SWOFT_WS_ADDR=127.0.0.1:8088 \
//!   cargo run -p swoft-ws-examples --example several_nodes &
//! ```
//!
//! Connect one client to `ws://127.0.0.1:8087/news` and one to `ws://127.0.0.1:8088/news`, and
//! send `{"cmd":"news.post","data":{"text":"hi"},"id":1}` from either: both get the push
//! `news.posted` `{"text":"hi","node":"one"}`. Without `SWOFT_WS_REDIS_URL` the node runs alone,
//! in memory. The README's "Several nodes" has the rest (rooms, member lists, the secret).

use serde::{Deserialize, Serialize};
use swoft_ws::cluster::{ClusterSettings, NodeId};
use swoft_ws::prelude::*;
use swoft_ws::redis::RedisAdapter;

/// Serves `/news`: every connection, on every node, gets every post.
#[ws_module(path = "/news", controllers = [NewsController])]
struct NewsModule;

/// The `news.*` commands.
#[derive(Default)]
struct NewsController;

/// The payload of `news.post`.
#[derive(Deserialize)]
struct Post {
    text: String,
}

/// The push `news.posted`: the text and the node it was posted on.
#[derive(Serialize)]
struct Posted {
    text: String,
    node: String,
}

/// This node's name, shared state for the handler.
struct NodeName(String);

#[ws_controller(prefix = "news")]
impl NewsController {
    /// `news.post {"text"}`: pushes `news.posted` to every `/news` connection of every node;
    /// replies with how many of this node's connections got it.
    #[message_mapping("post")]
    fn post(
        Data(post): Data<Post>,
        State(node): State<NodeName>,
        server: &Server,
    ) -> Result<usize, WsError> {
        let posted = Posted {
            text: post.text,
            node: node.0.clone(),
        };
        let delivery = server.module("/news").push("news.posted", &posted);
        delivery
            .map(|d| d.delivered)
            .map_err(|e| WsError::internal(e.to_string()))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt::init();
    let node = std::env::var("SWOFT_WS_NODE_ID").unwrap_or_else(|_| "solo".to_owned());
    let mut builder = App::builder()
        .module::<NewsModule>()
        .state(NodeName(node.clone()));
    if let Ok(url) = std::env::var("SWOFT_WS_REDIS_URL") {
        // Fails at start (unreachable Redis, node id in use) rather than at the first push.
        let adapter =
            RedisAdapter::connect(&url, NodeId::new(&node), ClusterSettings::default()).await?;
        builder = builder.cluster(adapter);
    }
    let app = builder.build()?;
    let addr = std::env::var("SWOFT_WS_ADDR").unwrap_or_else(|_| "127.0.0.1:8087".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    app.serve_listener(listener).await?;
    Ok(())
}
