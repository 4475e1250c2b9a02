//! The raw axum baseline: the same jobs as `swoft_server`, done the plain way.
//!
//! - `/raw`: `socket.recv()` → `socket.send()` (a write and a flush per message).
//! - `/echo`: the same, parsing the JSON envelope with serde (borrowed) and writing the reply
//!   `{"cmd":..,"data":..,"id":..}` by hand (an informative figure; the issue's targets compare
//!   swoft-ws's JSON echo with this server's `/raw`).
//! - `/room`: `?member=1` registers the connection in a shared map; every connection has a
//!   writer task fed by a bounded mpsc of `Message` clones (`try_send`, as swoft-ws); a frame
//!   from any connection is cloned to every other member.
//! - `/hs`: reads the `name` query parameter (400 without it) and keeps it for the connection.
//!
//! Every handler completes the close handshake (answers the client's close frame), as
//! swoft-ws does. Same read buffer, message limit and queue size as swoft-ws; served by
//! `axum::serve` (`TCP_NODELAY`, one thread). `axum_server [--addr 127.0.0.1:0] [--cert PEM
//! --key PEM]` (with both: over TLS, tokio-rustls under `axum::serve`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use swoft_ws_bench::{Args, MAX_MESSAGE, OUTBOUND_QUEUE, READ_BUFFER, current_thread, serve};
use tokio::sync::mpsc;

#[derive(Default)]
struct Room {
    next: AtomicU64,
    members: Mutex<HashMap<u64, mpsc::Sender<Message>>>,
}

fn limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
}

async fn raw(ws: WebSocketUpgrade) -> Response {
    limits(ws).on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                // The next recv sends tungstenite's close reply, then ends: the close
                // handshake completes, as RFC 6455 requires and swoft-ws does.
                Message::Close(_) => continue,
                Message::Ping(_) | Message::Pong(_) => {}
                data => {
                    if socket.send(data).await.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    cmd: &'a str,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

fn echo_reply(text: &str) -> String {
    match serde_json::from_str::<Envelope<'_>>(text) {
        Ok(env) if env.cmd == "echo.send" => {
            let data = env.data.map_or("null", RawValue::get);
            let mut out = String::with_capacity(text.len() + 16);
            out.push_str("{\"cmd\":\"echo.send\",\"data\":");
            out.push_str(data);
            if let Some(id) = env.id {
                out.push_str(",\"id\":");
                out.push_str(id.get());
            }
            out.push('}');
            out
        }
        _ => r#"{"error":{"code":"bad_message","message":"bad message"}}"#.to_owned(),
    }
}

async fn echo(ws: WebSocketUpgrade) -> Response {
    limits(ws).on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(msg)) = socket.recv().await {
            match msg {
                Message::Text(t) => {
                    let reply = echo_reply(t.as_str());
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        break;
                    }
                }
                // The next recv sends tungstenite's close reply, then ends: the close
                // handshake completes, as RFC 6455 requires and swoft-ws does.
                Message::Close(_) => continue,
                _ => {}
            }
        }
    })
}

async fn room(ws: WebSocketUpgrade, State(room): State<Arc<Room>>, q: RawQuery) -> Response {
    let member = q.0.as_deref().is_some_and(|q| q.contains("member"));
    limits(ws).on_upgrade(move |socket: WebSocket| async move {
        let id = room.next.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
        let writer = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        if member {
            room.members.lock().unwrap().insert(id, tx);
        }
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Text(_) | Message::Binary(_) => {
                    let members = room.members.lock().unwrap();
                    for (other, tx) in members.iter() {
                        if *other != id {
                            let _ = tx.try_send(msg.clone());
                        }
                    }
                }
                // The next recv sends tungstenite's close reply, then ends: the close
                // handshake completes, as RFC 6455 requires and swoft-ws does.
                Message::Close(_) => continue,
                _ => {}
            }
        }
        room.members.lock().unwrap().remove(&id);
        writer.abort();
    })
}

async fn hs(ws: WebSocketUpgrade, q: RawQuery) -> Response {
    let name = q.0.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("name="))
            .map(str::to_owned)
    });
    let Some(name) = name else {
        return (StatusCode::BAD_REQUEST, "name is required").into_response();
    };
    limits(ws).on_upgrade(move |mut socket: WebSocket| async move {
        let _name: Utf8Bytes = name.into();
        // Until the close handshake is done: after the client's close, the next recv sends
        // tungstenite's close reply and ends (RFC 6455 requires the reply; swoft-ws sends it).
        while let Some(Ok(_)) = socket.recv().await {}
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::from_env();
    let addr = args.str("addr").unwrap_or("127.0.0.1:0").to_owned();
    swoft_ws_bench::procfs::raise_nofile();
    let router = Router::new()
        .route("/raw", get(raw))
        .route("/echo", get(echo))
        .route("/room", get(room))
        .route("/hs", get(hs))
        .with_state(Arc::new(Room::default()));
    // `--cert/--key`: over TLS (tokio-rustls under axum::serve), for the echo-over-TLS figure.
    match (args.str("cert"), args.str("key")) {
        (Some(cert), Some(key)) => {
            let config = swoft_ws_bench::tls::server_config(cert.as_ref(), key.as_ref())?;
            current_thread(swoft_ws_bench::serve_tls(router, &addr, config))?;
        }
        _ => current_thread(serve(router, &addr))?,
    }
    Ok(())
}
