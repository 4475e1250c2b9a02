//! The apps behind the examples, as a library so that the example binaries and the integration
//! tests build the very same modules.
//!
//! - [`chat`]: the main example (`cargo run -p swoft-ws-examples --example chat`): `/echo`,
//!   `/raw` and `/chat` (rooms, whispers), plus HTTP routes (`/`, `POST /rooms/{room}/messages`,
//!   `/metrics`). Its files sit in `examples/chat/` in the folder-per-module layout (A).
//!
//! The ticker example (`examples/ticker`, layout B) is a binary only: it is not part of this
//! library, so discovery in the chat binary never sees its module, and the other way round.
//!
//! Discovery caveat: every binary that links this library (the chat example, a test) has the
//! chat modules registered with `inventory`. Tests therefore build from explicit modules
//! ([`chat::builder`]).

#[path = "../chat/app.rs"]
pub mod chat;
