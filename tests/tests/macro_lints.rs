//! The macros' expansion is lint-clean: this file denies clippy's pedantic group and every
//! warning, and uses every feature of the macros, so `cargo clippy --all-targets -- -D
//! warnings` (CI) fails if the generated code trips a lint that `expand/dummy.rs` does not
//! allow by name. trybuild runs rustc, not clippy, so this cannot be a UI pass case.
#![deny(clippy::pedantic)]
#![deny(warnings)]
// Lints off by default that crates commonly turn on (this workspace does, in `[workspace.lints]`).
#![deny(
    rust_2018_idioms,
    unused_qualifications,
    unreachable_pub,
    missing_debug_implementations,
    single_use_lifetimes,
    unused_lifetimes,
    trivial_casts,
    unused_results
)]

use serde::{Deserialize, Serialize};
use swoft_ws::events::Event;
use swoft_ws::middleware::{BoxFuture, Middleware, Next};
use swoft_ws::prelude::*;

#[ws_module(
    path = "/lints",
    controllers = [Room, Bare],
    parser = json,
    default_command = "room.join",
    default_prefix = "room",
    middleware = [Pass],
    concurrency = 2,
    max_connections = 100,
    origins = ["https://example.com"],
    rate_limit = 10,
    rate_burst = 20,
    handler_timeout_ms = 500,
    max_message_size = 65536,
    backpressure = drop_newest,
    compression = deflate(level = 6, min_size = 512, server_no_context_takeover = true, client_no_context_takeover = false, server_max_window_bits = 12, client_max_window_bits = 10),
)]
struct LintModule;

#[ws_module]
impl LintModule {
    #[on_handshake]
    async fn handshake(&self, req: &HandshakeRequest) -> Result<Accept, Reject> {
        self.ready().await;
        if req.query_param("deny").is_some() {
            return Err(Reject::bad_request("denied"));
        }
        Ok(Accept::new())
    }

    #[on_open]
    fn open(&self, conn: &Connection) {
        self.touch(conn.fd());
    }

    #[on_message]
    async fn message(&self, Data(v): Data<serde_json::Value>) -> serde_json::Value {
        self.ready().await;
        v
    }

    #[on_close]
    async fn close(conn: &Connection, info: &CloseInfo) {
        std::future::ready(()).await;
        let _ = (conn.fd(), info.code);
    }

    async fn ready(&self) {
        let _: &Self = std::future::ready(self).await;
    }

    fn touch(&self, fd: Fd) {
        let _ = (self, fd);
    }
}

/// A module made through `Default` (not a unit struct), with the raw parser and no hooks.
#[ws_module(path = "/lints/raw", parser = raw, handler_timeout_ms = 0, backpressure = disconnect, compression = off)]
#[derive(Default)]
struct RawModule {
    _state: u8,
}

#[ws_module(path = "/lints/custom", parser = swoft_ws::protocol::JsonParser)]
struct CustomParserModule;

#[ws_module]
impl CustomParserModule {
    #[on_handshake]
    fn handshake(_req: &HandshakeRequest) -> bool {
        true
    }

    #[on_open]
    async fn open() {
        std::future::ready(()).await;
    }

    #[on_message]
    fn message(msg: RawMessage) -> RawMessage {
        msg
    }

    #[on_close]
    fn close(&self) {
        let _ = self;
    }
}

#[derive(Default)]
struct Pass;

impl Middleware for Pass {
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(next.run(cx))
    }
}

#[derive(Default)]
struct Room {
    greeting: String,
}

#[derive(Deserialize, Serialize)]
struct Join {
    room: String,
}

#[ws_controller(prefix = "room", middleware = [Pass])]
impl Room {
    #[message_mapping("join", errors = ["taken", "too_many_rooms"])]
    #[middleware(Pass)]
    async fn join(&self, Data(j): Data<Join>, conn: &Connection) -> Result<Join, WsError> {
        let _: Fd = std::future::ready(conn.fd()).await;
        if j.room == self.greeting {
            return Err(WsError::forbidden("taken"));
        }
        Ok(j)
    }

    #[message_mapping("room.leave")]
    fn leave(fd: Fd) -> u32 {
        fd.get()
    }

    #[message_mapping]
    fn list(&self, _cx: &Context, _server: Server) -> Vec<String> {
        vec![self.greeting.clone()]
    }

    #[message_mapping("raw")]
    fn raw(msg: RawMessage) -> RawMessage {
        msg
    }

    #[message_mapping("maybe")]
    fn maybe(data: Option<Data<Join>>) -> Option<Join> {
        data.map(|Data(j)| j)
    }

    #[message_mapping("nothing")]
    fn nothing() {}

    #[message_mapping("reply")]
    fn reply() -> Reply {
        Reply::None
    }
}

#[derive(Default)]
struct Bare;

#[ws_controller]
impl Bare {
    #[message_mapping("ping")]
    fn ping() -> &'static str {
        "pong"
    }
}

/// Issue 14's module arguments: path variables with a constraint, a name, subprotocols, the
/// token-text parser with a default command, and binary replies by default.
#[ws_module(
    path = "lints/rooms/{id}",
    params(id = r"\d+"),
    name = "rooms",
    protocols = ["v2", "v1"],
    parser = token_text,
    default_command = "home.index",
    opcode = binary,
    controllers = [HomeController]
)]
struct RoomsModule;

#[derive(Default)]
struct HomeController;

/// The prefix from the type's name (`home`), root commands and per-mapping opcodes.
#[ws_controller]
impl HomeController {
    #[message_mapping("index")]
    fn index(conn: &Connection) -> String {
        conn.path_param("id").unwrap_or_default().to_owned()
    }

    #[message_mapping("help", root = true, opcode = text)]
    fn help() -> Reply {
        Reply::new("help").command("home.help").with_ext(&1)
    }

    #[message_mapping("ping", root = true, opcode = pong)]
    fn ping() -> &'static str {
        "pong!"
    }
}

/// An app-wide listener (issue 14, item 8).
#[ws_listener(event = "open.after")]
fn opened(ev: &Event<'_>) {
    let _ = ev.connection().map(Connection::fd);
}

/// Declared pushes (issue 17): with a lifetime and a schema, and without a module or a schema.
#[push("room.joined", "room.left", module = LintModule)]
#[derive(Serialize, swoft_ws::schemars::JsonSchema)]
#[schemars(crate = "swoft_ws::schemars")]
struct Joined<'a> {
    room: &'a str,
}

#[push("room.any")]
#[derive(Serialize)]
struct Anything(u8);

/// A declared server request, with the type of the client's answer.
#[push("room.vote", module = LintModule, reply = Vote)]
#[derive(Serialize, swoft_ws::schemars::JsonSchema)]
#[schemars(crate = "swoft_ws::schemars")]
struct Ballot<'a> {
    options: &'a [String],
}

#[derive(Deserialize, swoft_ws::schemars::JsonSchema)]
#[schemars(crate = "swoft_ws::schemars")]
struct Vote {
    choice: usize,
}

#[test]
fn an_app_of_every_macro_feature_builds() {
    let _ = (Joined { room: "r" }.room, Anything(1).0);
    let _ = (Ballot { options: &[] }.options, Vote { choice: 0 }.choice);
    let app = App::builder()
        .module::<LintModule>()
        .module::<RawModule>()
        .module::<CustomParserModule>()
        .module::<RoomsModule>()
        .build();
    assert!(app.is_ok(), "{:?}", app.err());
    let described = app.map_or_else(|_| Vec::new(), |a| a.describe().modules);
    let lints = described.iter().find(|m| m.path == "/lints");
    assert_eq!(lints.map(|m| m.pushes.len()), Some(4));
}
