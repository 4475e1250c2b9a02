//! # swoft-ws
//!
//! A WebSocket application framework in which attribute macros declare the application. It is
//! the design of Swoft's WebSocket server, rebuilt on tokio and axum.
//!
//! ## Contents
//!
//! [The model](#the-model) · [An application](#an-application) ·
//! [Handlers](#handlers-extractors-in-replies-out) ·
//! [Discovery](#discovery-and-the-explicit-builder) · [Rooms and pushes](#rooms-and-pushes) ·
//! [Several nodes](#several-nodes) · [Middleware](#middleware-state-and-session-data) ·
//! [Ordering](#ordering-and-concurrency) · [Testing, tracing, metrics](#testing-tracing-metrics) ·
//! [Limits](#limits-and-failure-behaviour) · [Serving](#serving) ·
//! [The public API](#the-public-api) · [Feature flags](#feature-flags)
//!
//! ## The model
//!
//! - A **module** serves one path (`/chat`). It decides whether a handshake is accepted, owns
//!   the connections made on its path, and names the **controllers** that handle their
//!   messages. It may have lifecycle hooks: `#[on_handshake]`, `#[on_open]`, `#[on_message]`
//!   (for anything no controller maps) and `#[on_close]`.
//! - A **controller** groups handlers under a command prefix (`room`). Each handler is a method
//!   mapped to an action (`join`), so it serves the **command** `room.join`.
//! - Every accepted socket becomes a [`Connection`] with an [`Fd`] (unique among live
//!   connections, reused after close) and a never-reused [`ConnectionId`];
//!   [`Server::connection`] finds a live connection by its fd.
//! - Every message gets a [`Context`] (its connection, the frame, the command, the request id),
//!   reachable from anywhere in the task that handles it ([`Context::current`]). The module's
//!   [`protocol::Parser`] finds the command and body in the frame (JSON by default:
//!   `{"cmd": "room.join", "data": {...}, "id": 7}`); the controller method mapped to the
//!   command runs; its return value is packed into the reply, which carries the request's id.
//! - Messages of one connection are handled one after another, in order.
//!
//! ```text
//! GET /chat (Upgrade) → module by path → #[on_handshake] → accept → fd, Connection, #[on_open]
//!   per frame: Context → parse (cmd, data, id) → controller method → reply → Context dropped
//!   close → #[on_close] → session removed → fd free for reuse
//! ```
//!
//! ## An application
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use swoft_ws::prelude::*;
//!
//! #[ws_module(path = "/echo", controllers = [EchoController])]
//! pub struct EchoModule;
//!
//! #[derive(Default)]
//! pub struct EchoController;
//!
//! #[derive(Deserialize, Serialize)]
//! pub struct Text { text: String }
//!
//! #[ws_controller(prefix = "echo")]
//! impl EchoController {
//!     /// `{"cmd": "echo.send", "data": {"text": "hi"}, "id": 1}` is answered with
//!     /// `{"cmd": "echo.send", "data": {"text": "hi"}, "id": 1}`.
//!     #[message_mapping("send")]
//!     fn send(Data(msg): Data<Text>) -> Text {
//!         msg
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     App::discover()?.serve("127.0.0.1:8080").await?;
//!     Ok(())
//! }
//! ```
//!
//! ## Handlers: extractors in, replies out
//!
//! A handler is an `async fn` or a plain `fn`, with `&self` or without. Its arguments are
//! [extractors](extract) — [`Data<T>`] for the payload, `&Connection`, [`Fd`], `&Context`,
//! [`Server`], [`State<T>`], [`Session<T>`], [`RawMessage`] — and its return value is the reply
//! ([`Reply`], [`IntoReply`]): `()` for none, any `T: Serialize`, or `Result<T, E>` with `E: Into<WsError>`
//! for an error reply. A payload that does not fit its type is answered with `invalid_data`; a
//! command nobody maps with `unknown_command`; a frame that is not a command object with
//! `bad_message`; a panicking handler with `internal`. None of these closes the connection.
//!
//! ## Discovery and the explicit builder
//!
//! The macros register every module, controller and hook block with [`inventory`]; the app
//! finds them wherever their files sit, so a folder per module and one `controller/` folder
//! both work. [`App::discover`] takes them all; [`App::builder`] with
//! [`module::<M>()`](AppBuilder::module) takes exactly the modules it names (tests should use
//! it). Building checks everything at once and fails with a [`BuildError`] that lists each
//! problem with its `file:line` (two modules on a path, a command mapped twice, ...).
//!
//! Limits of discovery: modules and controllers defined in a library crate are registered only
//! if the final binary links that crate (name something from it, or `use my_modules as _;`);
//! each test file, example and doctest is its own binary with its own registry (tests should
//! build apps from explicit modules); two versions of swoft-ws in one build have two
//! registries (`cargo tree -d` shows them).
//!
//! ## Rooms and pushes
//!
//! [`Connection::join`] puts a connection in a named room; [`Server::room`] pushes to its
//! members (`.except(fd)` leaves the sender out), [`Server::to_fds`], [`Server::module`] and
//! [`Server::all`] to others. A push encodes its frame once and shares the bytes; it reports a
//! [`Delivery`]. Rooms live in the server's memory; see [`Rooms`].
//!
//! ## Several nodes
//!
//! [`AppBuilder::cluster`] makes an app one node of several sharing rooms and broadcasts: with
//! the `redis` feature, `swoft_ws::redis::RedisAdapter` carries them over Redis pub/sub. The
//! same calls then reach every node; a connection's cluster-wide address is a [`ConnAddr`](cluster::ConnAddr)
//! ([`Connection::addr`]), and [`Rooms::cluster_members`] asks every node. See [`cluster`].
//!
//! ## Middleware, state and session data
//!
//! Message [`middleware`](mod@middleware) wraps dispatch at four levels — global
//! ([`AppBuilder::middleware`]), module (`#[ws_module(middleware = [..])]`), controller
//! (`#[ws_controller(middleware = [..])]`) and method (`#[middleware(..)]`) — in that order. It
//! can short-circuit with a reply, act after the handler, and hand data to it
//! ([`Context::insert`], [`Extension<T>`]). Shared state is registered once
//! ([`AppBuilder::state`]) and extracted by type ([`State<T>`]); per-connection session data is
//! set at the handshake ([`Accept::with`]) or later ([`Connection::insert`]) and extracted by
//! type ([`Session<T>`]). Handshake-time concerns (auth by token, CORS) are ordinary tower
//! layers on [`App::into_router`]; the layer's request extensions reach `#[on_handshake]`
//! ([`HandshakeRequest::extension`]).
//!
//! ## Ordering and concurrency
//!
//! Messages of one connection are handled one at a time, in order. A module can opt in to
//! handling up to N messages of one connection at once with `#[ws_module(concurrency = N)]`
//! (replies then come in the order handlers finish). Different connections always run in
//! parallel.
//!
//! ## Testing, tracing, metrics
//!
//! With the `testing` feature, `swoft_ws::testing` starts an app on a loopback port and
//! drives it with real clients; every wait has a timeout. Each connection runs in a `ws.conn`
//! span (module, fd, peer) and each message in a `ws.msg` span (command, id) that ends with a
//! debug event carrying its outcome and duration. [`metrics`] lists the series recorded through
//! the `metrics` facade.
//!
//! ## Limits and failure behaviour
//!
//! Every limit is a [`Config`] setting with a builder method, and the ones that make sense per
//! module are `#[ws_module(...)]` options too (see [`config`]): message size (close 1009),
//! outbound queue in frames and bytes with a [`Backpressure`](config::Backpressure) policy (close
//! 1008 by default, or drop), ping and idle timeout (close 1001), handshake timeout, live
//! connections (HTTP 503), allowed origins (HTTP 403; same origin by default), a per-connection
//! rate limit (`rate_limited` replies, then close 1008), and a handler timeout (`timeout`
//! reply). Panics in hooks and handlers are caught. Each crossing is counted in [`metrics`] and
//! logged. [`Server::stats`] shows what the server holds (all zero when idle).
//!
//! ## Compression
//!
//! permessage-deflate (RFC 7692) is negotiated with clients that offer it when a module has it
//! on (`#[ws_module(compression = deflate)]`, or [`Config::compression`] for every module; off
//! by default): see [`Compression`](config::Compression) for the settings, their defaults and
//! the trade-off of context takeover. A broadcast is compressed once for every member that
//! agreed to the same terms; inflating counts against the message size limit as it grows
//! (close 1009); malformed offers are declined, never refused.
//!
//! ## Serving
//!
//! [`App::serve`] listens on an address; [`App::into_router`] gives an axum [`Router`](axum::Router)
//! to merge with your own routes, served by [`App::serve_with`] or [`serve_router`]. Both shut
//! down gracefully on SIGINT/SIGTERM, on [`Server::shutdown`] or on a future: in-flight messages
//! finish, every client gets close 1001 (in batches), every `#[on_close]` runs, then `serve`
//! returns. [`Server`] (from [`App::server`], or as an extractor) pushes to any connection from
//! anywhere.
//!
//! Each connection is one task that reads, handles and writes; swoft-ws speaks RFC 6455 itself.
//! Served by `App::serve*` (or `serve_router`), a connection owns its TCP socket, and a frame
//! sent to a connection that waits with nothing queued is written by the sender at once (a
//! broadcast is one `send()` per member, no task wake-up). The router served by another HTTP
//! server (`axum::serve`) works the same, through the socket's `AsyncRead`/`AsyncWrite`.
//!
//! With the feature `tls`, `App::serve_tls` (and [`Listener`]`::tls` for the other `serve*`
//! functions) serves `https`/`wss` with the same limits, metrics and graceful shutdown; the
//! certificate is reloaded without a restart through the `tls::TlsConfig` handle.
//!
//! Import the macros and the common types with `use swoft_ws::prelude::*;`.
//!
//! ## The public API
//!
//! | where | what |
//! |---|---|
//! | the root | building and serving ([`App`], [`AppBuilder`], [`Config`], [`Listener`], [`serve_router`], [`BuildError`]); the running app ([`Server`], [`ServerStats`], [`Connection`], [`ConnectionId`], [`Fd`], [`Context`], [`Rooms`], [`Broadcast`], [`Delivery`], [`CloseInfo`], [`ClosedBy`], [`SessionStart`], [`SessionEnd`], [`SendError`]); handler input and output ([`FromContext`], [`Data`], [`Ext`], [`Extension`], [`State`], [`Session`], [`RawMessage`], [`Reply`], [`IntoReply`], [`WsError`]); the handshake ([`HandshakeRequest`], [`Accept`], [`Reject`], [`IntoHandshake`]); the traits the macros implement ([`Module`], [`Controller`]); the macros; `axum` and `http`, re-exported |
//! | [`prelude`] | the macros and the types most handlers use |
//! | [`extract`] | every extractor, in a table |
//! | [`protocol`] | parsers ([`Parser`](protocol::Parser), [`JsonParser`](protocol::JsonParser), [`RawParser`](protocol::RawParser)), what a parser finds, the error reply codes |
//! | [`events`] | app-wide event listeners ([`ws_listener`], [`Event`](events::Event), [`WsEvent`](events::WsEvent)) |
//! | [`middleware`](mod@middleware) | message middleware ([`Middleware`](middleware::Middleware), [`Next`](middleware::Next)) |
//! | [`config`] | the per-module settings ([`ModuleLimits`](config::ModuleLimits), [`RateLimit`](config::RateLimit), [`Origins`](config::Origins), [`Backpressure`](config::Backpressure), [`Compression`](config::Compression): permessage-deflate, RFC 7692) |
//! | [`ws`] | RFC 6455 words: `RawMessage` (also at the root), [`close_code`](ws::close_code), [`Utf8Bytes`](ws::Utf8Bytes) |
//! | [`cluster`] | several nodes: [`ClusterAdapter`](cluster::ClusterAdapter), addresses, settings |
//! | [`metrics`] | a table of every metric series: names, kinds, labels |
//! | [`error`] | every error type, in one place |
//! | `testing`, `redis`, `tls` | behind the feature flags below |
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `deflate` | **on** | permessage-deflate (RFC 7692): [`Compression`](config::Compression) settings negotiated at the handshake, messages compressed and inflated by flate2 over zlib-rs (pure Rust, no C toolchain). Off: the settings still compile, and every offer is declined |
//! | `testing` | off | `swoft_ws::testing`: start an app on a loopback port and drive it with real clients (`TestServer`, `TestClient`); pulls in `tokio-tungstenite` |
//! | `redis` | off | `swoft_ws::redis::RedisAdapter`: several nodes sharing rooms and broadcasts over Redis pub/sub; pulls in `redis` |
//! | `tls` | off | `App::serve_tls`, `Listener::tls`, `swoft_ws::tls::TlsConfig`: https/wss with rustls (the `ring` provider), certificates from PEM or a rustls `ServerConfig`, reloaded at run time; pulls in `rustls`, `tokio-rustls`, `arc-swap` |
//! | `__codec` | off | not API: the frame decoder, for the differential test and the fuzz target |
//! | `schema` | off | JSON Schemas in [`App::describe`] (and so in the AsyncAPI document and the TypeScript types) for payload, reply and push types that implement `schemars::JsonSchema`; re-exports [`schemars`]; pulls in `schemars` |
//! | `__bench` | off | not API: socket-less connections for the benchmarks in `bench/` |

#![warn(missing_docs)]

// Layers, lowest first (ARCHITECTURE.md has the rule; tests/tests/layers.rs enforces it):
// ws → protocol, config, handshake → runtime → extract, driver, cluster → app → this file.
mod app;
pub mod cluster;
pub mod config;
pub mod contract;
mod driver;
pub mod error;
pub mod extract;
mod handshake;
pub mod protocol;
mod runtime;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ws;

#[cfg(feature = "redis")]
pub use crate::cluster::redis;
#[cfg(feature = "tls")]
pub use crate::config::tls;
pub use crate::runtime::{events, metrics, middleware};

#[doc(inline)]
pub use crate::app::registry::BuildError;
#[doc(inline)]
pub use crate::app::registry::{Controller, Module};
#[doc(inline)]
pub use crate::app::serve::Listener;
#[doc(inline)]
pub use crate::app::{App, AppBuilder, serve_router};
#[doc(inline)]
pub use crate::config::Config;
#[doc(inline)]
pub use crate::extract::{Data, Ext, Extension, FromContext, Session, State};
#[doc(inline)]
pub use crate::handshake::{Accept, HandshakeRequest, IntoHandshake, PathParams, Reject};
#[doc(inline)]
pub use crate::protocol::{IntoReply, Reply, Routed, WsError};
#[doc(inline)]
pub use crate::runtime::ack::{AckError, Answers};
pub use crate::runtime::broadcast::{Broadcast, Delivery};
#[doc(inline)]
pub use crate::runtime::connection::{
    CloseInfo, ClosedBy, Connection, ConnectionId, JoinError, SendError, SessionEnd, SessionStart,
};
#[doc(inline)]
pub use crate::runtime::context::Context;
#[doc(inline)]
pub use crate::runtime::fd::Fd;
#[doc(inline)]
pub use crate::runtime::rooms::Rooms;
#[doc(inline)]
pub use crate::runtime::server::{ModuleStats, Server, ServerStats};
#[doc(inline)]
pub use crate::ws::RawMessage;

pub use axum;
pub use http;
#[cfg(feature = "schema")]
pub use schemars;

/// Declares a module (on a struct) or its lifecycle hooks (on an `impl` block).
///
/// On a struct: `#[ws_module(path = "/chat", controllers = [A, B], parser = json,
/// default_command = "chat.send", default_prefix = "chat")]`; only `path` is required. `parser`
/// is `json` (default), `raw`, or the path of a type implementing
/// [`protocol::Parser`] + `Default`. A unit struct is built as it is; any other struct
/// must implement `Default` (or be given with [`AppBuilder::instance`]).
///
/// The path may hold variables, whole segments in braces, each with an optional constraint
/// (a regex, the `regex` crate's syntax, matched against the whole value), as Swoft's
/// `@WsModule("/rooms/{id}", params={"id": "\d+"})`:
/// `#[ws_module(path = "/rooms/{id}", params(id = r"\d+"))]`. A value that fails its
/// constraint is answered 404 before any hook runs; the values are read with
/// [`HandshakeRequest::path_param`], [`Connection::path_param`] and the [`PathParams`]
/// extractor. Two modules whose paths one request path could match do not build
/// ([`error::Problem::OverlappingPaths`]). A path without its leading `/` means the path with
/// one (`"echo"` is `/echo`), as in Swoft.
///
/// `name = "chat"` (Swoft's `@WsModule(name="chat")`) names the module in logs (the `module`
/// field), in [`Server::module_stats`] and in the `swoft_ws_module_info` series; the other
/// metrics keep the path as their `module` label (see [`metrics`](mod@metrics)). Without it,
/// the type's name is used.
///
/// `protocols = ["v2", "v1"]` lists the subprotocols the module speaks, preferred first: the
/// 101 carries the first of them the client offers (none if it offers none of them), with no
/// hook code; a protocol an `#[on_handshake]` hook chooses ([`Accept::protocol`]) wins.
///
/// `opcode = binary` (Swoft's `defaultOpcode`) sends the module's replies, error replies
/// included, in binary frames (see [`ws::Opcode`]).
///
/// On an `impl` block of a module struct: methods marked `#[on_handshake]`
/// (`(&self, req: &HandshakeRequest) -> impl IntoHandshake`), `#[on_open]`
/// (`(&self, conn: &Connection)`), `#[on_message]` (a handler, like a controller method) and
/// `#[on_close]` (`(&self, conn: &Connection, info: &CloseInfo)`). Each is optional, may be
/// `async`, and may leave out `&self` or trailing arguments.
pub use swoft_ws_macros::ws_module;

/// Declares a controller: `#[ws_controller(prefix = "room")]` on an `impl` block whose methods
/// marked `#[message_mapping("join")]` serve the commands `room.join`, ... The type must
/// implement `Default` (or be given with [`AppBuilder::instance`]).
///
/// Without a prefix, `#[ws_controller]` takes it from the type's name, as Swoft's
/// `@WsController()` takes it from the class: the last name of the type, without a
/// `Controller` suffix, first letter lowercased (`HomeController` → `home`,
/// `ChatRoomController` → `chatRoom`, `Lobby` → `lobby`). A command outside the prefix is
/// mapped with `root = true` (see [`message_mapping`]).
pub use swoft_ws_macros::ws_controller;

/// Maps a controller method to an action (`"join"` → `prefix.join`) or to a full command
/// (`"room.join"`); `#[message_mapping]` alone maps the method's name. Only valid inside a
/// `#[ws_controller]` impl block.
///
/// `#[message_mapping("help", root = true)]` serves `help` itself, without the controller's
/// prefix (Swoft's `@MessageMapping("help", root=true)`); a root command is one name, so a
/// dotted one with `root` is a compile error.
///
/// `opcode = binary` (or `text`, `ping`, `pong`) sends the method's replies in that kind of
/// frame, as Swoft's mapping `opcode`; without it, the module's `opcode` (default `text`)
/// applies. See [`ws::Opcode`].
///
/// `errors = ["forbidden", "not_found"]` declares the error codes the handler may answer with
/// (besides [`contract::COMMON_ERRORS`]), for the typed contract ([`App::describe`]): 1–64
/// characters of `a-z`, `0-9`, `_`, `.`, `-`, starting with a letter. Nothing checks them at
/// run time.
pub use swoft_ws_macros::message_mapping;

/// Adds middleware to one handler: `#[middleware(A, B)]` on a `#[message_mapping]` method. See
/// [`middleware`](mod@middleware) for the levels and their order.
pub use swoft_ws_macros::middleware;

/// Marks the module's handshake hook. Only valid inside a `#[ws_module]` impl block.
pub use swoft_ws_macros::on_handshake;

/// Marks the module's open hook. Only valid inside a `#[ws_module]` impl block.
pub use swoft_ws_macros::on_open;

/// Marks the module's catch-all message handler. Only valid inside a `#[ws_module]` impl
/// block.
pub use swoft_ws_macros::on_message;

/// Marks the module's close hook. Only valid inside a `#[ws_module]` impl block.
pub use swoft_ws_macros::on_close;

/// Registers an app-wide event listener (Swoft's `@Listener`): `#[ws_listener(event =
/// "open.after")]` on a plain `fn name(ev: &Event)`. See [`events`] for the events.
pub use swoft_ws_macros::ws_listener;

/// Declares a push for the typed contract ([`App::describe`], [`contract`]): on the struct or
/// enum a push carries as its data, `#[push("room.message", module = ChatModule)]` lists the
/// push `room.message` among `ChatModule`'s (several commands may share one type:
/// `#[push("room.joined", "room.left", module = ChatModule)]`; without `module`, the push is
/// listed for every JSON module). It declares only: pushing stays `server.room(..).push(cmd,
/// &data)`. The type may have lifetimes, not type parameters; with the `schema` feature and a
/// `schemars::JsonSchema` impl its schema is described, else it is "any".
///
/// A request the server asks clients with ([`Connection::request`], a room's
/// [`request`](Broadcast::request)) is declared the same way, with the type of the client's
/// answer: `#[push("poll.ask", module = ChatModule, reply = PollAnswer)]`. The contract lists
/// it as a request (an AsyncAPI `send` operation with a reply; `handle("poll.ask", (q: PollAsk)
/// => PollAnswer)` in the TypeScript wrapper), not as a push. The reply type must implement
/// `serde::Deserialize` and own its data (no lifetimes).
pub use swoft_ws_macros::push;

/// The macros and the types most handlers use: `use swoft_ws::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Accept, App, CloseInfo, Connection, Context, Data, Ext, Extension, Fd, HandshakeRequest,
        PathParams, RawMessage, Reject, Reply, Server, Session, SessionEnd, SessionStart, State,
        WsError,
    };
    pub use crate::{
        message_mapping, middleware, on_close, on_handshake, on_message, on_open, push,
        ws_controller, ws_listener, ws_module,
    };
}

/// Not public API: what the macros' generated code uses.
#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;
