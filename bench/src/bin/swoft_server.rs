//! The swoft-ws side of the benchmark: the same four jobs as `axum_server`, written the
//! swoft-ws way.
//!
//! - `/raw`: raw parser, `#[on_message]` returns the frame (raw echo).
//! - `/echo`: JSON parser, `echo.send` returns its data untouched (as the chat example).
//! - `/room`: raw parser; `?member=1` joins the room `bench` in `#[on_open]`; every frame a
//!   connection sends is broadcast to the room (except the sender) with one shared copy.
//! - `/hs`: a handshake hook that does trivial work (reads a query parameter into session
//!   data); used by the handshake figure.
//! - `/bcast_json` and `/bcast_json_rec` (issue 16): the same JSON-parser module twice, the
//!   second with resumable sessions (`recovery`). `?member=1` joins the room named after the
//!   module's path in `#[on_open]`; `room.say` pushes its data as `room.message` to the room
//!   (except the sender), no reply. With recovery every push carries `"off"` and is recorded,
//!   which the recovery figures measure: broadcast CPU per delivery on vs off, idle memory,
//!   and 10,000 clients resuming at once.
//!
//! Compression (permessage-deflate, the defaults) is on for every module: a client that offers
//! it (the `--deflate` figures) gets it, the others plain frames.
//!
//! `swoft_server [--addr 127.0.0.1:0] [--cert PEM --key PEM]`: prints `listening on ws://ADDR`
//! (with `--cert/--key` it serves TLS there), serves until killed, on one thread.

use serde_json::value::RawValue;
use swoft_ws::prelude::*;
use swoft_ws_bench::modules::{EchoModule, RawModule};
use swoft_ws_bench::{Args, MAX_MESSAGE, OUTBOUND_QUEUE, READ_BUFFER, current_thread};

/// `/room`: members join in `#[on_open]`; any frame is broadcast to the room. Compression at
/// level 6 for members that offer it: a broadcast is compressed once, so the level's cost is
/// paid once per broadcast, not per member.
#[ws_module(path = "/room", parser = raw, compression = deflate(level = 6))]
struct RoomModule;

#[ws_module]
impl RoomModule {
    #[on_open]
    fn open(conn: &Connection) {
        if conn.handshake().query_param("member").is_some() {
            conn.join("bench").expect("one room");
        }
    }

    #[on_message]
    fn say(frame: RawMessage, conn: &Connection) {
        let _ = conn.server().room("bench").except(conn.fd()).send(frame);
    }
}

/// `/bcast_json`: JSON parser, no recovery; twin of [`BcastJsonRecModule`].
#[ws_module(path = "/bcast_json", controllers = [SayController])]
struct BcastJsonModule;

#[ws_module]
impl BcastJsonModule {
    #[on_open]
    fn open(conn: &Connection) {
        join_if_member(conn);
    }
}

/// `/bcast_json_rec`: as `/bcast_json`, with resumable sessions (the README's settings).
#[ws_module(
    path = "/bcast_json_rec",
    controllers = [SayController],
    recovery(window_secs = 120, max_messages = 500, max_bytes = 524288)
)]
struct BcastJsonRecModule;

#[ws_module]
impl BcastJsonRecModule {
    #[on_open]
    fn open(conn: &Connection) {
        join_if_member(conn);
    }
}

/// `?member=1`: joins the room named after the connection's module path.
fn join_if_member(conn: &Connection) {
    if conn.handshake().query_param("member").is_some() {
        conn.join(conn.module_path()).expect("one room");
    }
}

/// `room.say DATA`: pushes `room.message DATA` to the sender's module room, except the sender.
#[derive(Debug, Default)]
struct SayController;

#[ws_controller(prefix = "room")]
impl SayController {
    #[message_mapping("say")]
    fn say(Data(data): Data<&RawValue>, conn: &Connection) {
        let _ = conn
            .server()
            .room(conn.module_path())
            .except(conn.fd())
            .push("room.message", data);
    }
}

/// The name a `/hs` client gave in its query.
#[derive(Clone)]
struct Name(#[allow(dead_code)] String);

/// `/hs`: a handshake hook that does trivial work.
#[ws_module(path = "/hs", parser = raw)]
struct HsModule;

#[ws_module]
impl HsModule {
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        let name = req
            .query_param("name")
            .ok_or_else(|| Reject::bad_request("name is required"))?;
        Ok(Accept::new().with(Name(name.into_owned())))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::from_env();
    let addr = args.str("addr").unwrap_or("127.0.0.1:0").to_owned();
    swoft_ws_bench::procfs::raise_nofile();
    let app = App::builder()
        .module::<RawModule>()
        .module::<EchoModule>()
        .module::<RoomModule>()
        .module::<HsModule>()
        .module::<BcastJsonModule>()
        .module::<BcastJsonRecModule>()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .outbound_queue(OUTBOUND_QUEUE)
        // permessage-deflate with the defaults, for the clients that offer it (the `--deflate`
        // figures); the others, tungstenite's included, get plain frames as before.
        .compression(swoft_ws::config::Compression::deflate())
        // The idle figure opens 19,000 connections from one loaded core; some send their
        // request more than the default 10 s after connecting. axum::serve has no such limit.
        .handshake_timeout(std::time::Duration::from_secs(120))
        .build()?;
    // Served as swoft-ws apps are: `App::serve*`, swoft-ws's own HTTP/1 accept loop (with
    // `TCP_NODELAY`), where its connections own their TCP sockets (see ARCHITECTURE.md).
    let tls = match (args.str("cert"), args.str("key")) {
        (Some(cert), Some(key)) => Some(swoft_ws::tls::TlsConfig::from_pem_files(cert, key)?),
        _ => None,
    };
    current_thread(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        swoft_ws_bench::announce(listener.local_addr()?)?;
        // `--cert/--key`: over TLS (`Listener::tls`), for the echo-over-TLS figure.
        let listener = match tls {
            Some(tls) => swoft_ws::Listener::tls(listener, tls),
            None => listener.into(),
        };
        app.serve_listener(listener).await
    })?;
    Ok(())
}
