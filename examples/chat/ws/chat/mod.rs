//! The chat module's controllers and the payloads and pushes of its protocol.
//!
//! Rooms of `/chat` are namespaced: the room `R` a client names is the server room `chat:R`
//! ([`room_key`]), so other modules of the same app can use rooms without meeting these.
//!
//! Every call here works the same on one node or many ([`swoft_ws::cluster`]): a connection's
//! name is its label ([`Connection::set_label`]), so member lists come from
//! [`Rooms::cluster_members`](swoft_ws::Rooms::cluster_members) and whispers find their
//! receivers with [`Rooms::find_label`](swoft_ws::Rooms::find_label), on every node.

mod chat_controller;
mod room_controller;

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use swoft_ws::prelude::*;

use super::chat_module::ChatModule;

pub use chat_controller::ChatController;
pub use room_controller::RoomController;

/// The most characters of a room name.
pub const MAX_ROOM_CHARS: usize = 64;
/// The most characters of a message text.
pub const MAX_TEXT_CHARS: usize = 4096;

const ROOM_PREFIX: &str = "chat:";

/// The name a connection gave at the handshake (its session data).
#[derive(Debug, Clone)]
pub struct ChatName(pub Arc<str>);

/// The server room of the chat room `room`.
pub fn room_key(room: &str) -> String {
    let mut key = String::with_capacity(ROOM_PREFIX.len() + room.len());
    key.push_str(ROOM_PREFIX);
    key.push_str(room);
    key
}

/// The chat room of the server room `key`, if it is one of `/chat`'s.
pub fn public_room(key: &str) -> Option<&str> {
    key.strip_prefix(ROOM_PREFIX)
}

/// A room name must be 1–64 characters.
pub fn check_room(room: &str) -> Result<(), WsError> {
    // chars().count() only when the byte length does not already decide it.
    let ok = !room.is_empty()
        && (room.len() <= MAX_ROOM_CHARS || room.chars().count() <= MAX_ROOM_CHARS);
    if ok {
        Ok(())
    } else {
        Err(WsError::invalid_data("`room` must be 1-64 characters"))
    }
}

/// A text must be at most 4096 characters.
pub fn check_text(text: &str) -> Result<(), WsError> {
    if text.len() <= MAX_TEXT_CHARS || text.chars().count() <= MAX_TEXT_CHARS {
        Ok(())
    } else {
        Err(WsError::invalid_data(
            "`text` must be at most 4096 characters",
        ))
    }
}

/// `{"room": R}`: the payload of `room.join`, `room.leave`, `room.members`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RoomArg {
    /// The room (1–64 characters).
    pub room: String,
}

/// `{"room": R, "text": T}`: the payload of `room.send`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendArg {
    /// The room (1–64 characters).
    pub room: String,
    /// The text (at most 4096 characters).
    pub text: String,
}

/// `{"to": NAME, "text": T}`: the payload of `chat.whisper`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WhisperArg {
    /// The name whose connections get it.
    pub to: String,
    /// The text (at most 4096 characters).
    pub text: String,
}

/// `{"room": R, "members": [...]}`: the reply of `room.join` and `room.members`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Members {
    /// The room.
    pub room: String,
    /// The members' names, sorted (a name appears once per connection).
    pub members: Vec<String>,
}

/// `{"room": R}`: the reply of `room.leave`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoomReply {
    /// The room.
    pub room: String,
}

/// `{"delivered": N}`: the reply of `room.send` and `chat.whisper`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Delivered {
    /// How many connections the message was queued for: on this node, those whose queue took
    /// it; on other nodes, those that were members (or had the name) when asked.
    pub delivered: usize,
}

/// `{"room": R, "question": Q, "options": [O, ...], "timeout_ms": N}`: the payload of
/// `room.poll`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PollArg {
    /// The room (1–64 characters); the caller must be a member.
    pub room: String,
    /// The question (1–4096 characters).
    pub question: String,
    /// The choices (2–10, each 1–64 characters).
    pub options: Vec<String>,
    /// How long the members have to answer, in milliseconds (1–60000; default 10000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The request `poll.ask` `{"room": R, "from": NAME, "question": Q, "options": [...]}` the
/// server asks every member of the room with; the client answers with a `PollAnswer`.
#[push("poll.ask", module = ChatModule, reply = PollAnswer)]
#[derive(Debug, Serialize, JsonSchema)]
pub struct PollAsk<'a> {
    /// The room.
    pub room: &'a str,
    /// Who asks.
    pub from: &'a str,
    /// The question.
    pub question: &'a str,
    /// The choices.
    pub options: &'a [String],
}

/// `{"choice": I}`: a member's answer to `poll.ask`, the index of its choice in `options`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct PollAnswer {
    /// The index of the chosen option (from 0).
    pub choice: usize,
}

/// One option of a poll and its votes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Tally {
    /// The option.
    pub option: String,
    /// How many members chose it.
    pub votes: usize,
}

/// `{"room": R, "question": Q, "tallies": [...], "refused": N, "unanswered": N}`: the reply of
/// `room.poll`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PollResult {
    /// The room.
    pub room: String,
    /// The question.
    pub question: String,
    /// Every option, in the order asked, with its votes.
    pub tallies: Vec<Tally>,
    /// Members that refused: their client answered with an error (`unknown_command` when it
    /// does not handle `poll.ask`) or with no valid choice.
    pub refused: usize,
    /// Members that did not answer in time, whose connection closed first, or that could not
    /// be asked (their queue full).
    pub unanswered: usize,
}

/// The pushes `room.joined` and `room.left`: `{"room": R, "name": NAME}`.
#[push("room.joined", "room.left", module = ChatModule)]
#[derive(Debug, Serialize, JsonSchema)]
pub struct Presence<'a> {
    /// The room.
    pub room: &'a str,
    /// Who joined or left.
    pub name: &'a str,
}

/// The push `room.message` `{"room": R, "from": NAME, "text": T}`.
#[push("room.message", module = ChatModule)]
#[derive(Debug, Serialize, JsonSchema)]
pub struct RoomMessage<'a> {
    /// The room.
    pub room: &'a str,
    /// The sender's name (`"server"` for the HTTP route).
    pub from: &'a str,
    /// The text.
    pub text: &'a str,
}

/// The push `chat.whisper` `{"from": NAME, "text": T}`.
#[push("chat.whisper", module = ChatModule)]
#[derive(Debug, Serialize, JsonSchema)]
pub struct Whisper<'a> {
    /// The sender's name.
    pub from: &'a str,
    /// The text.
    pub text: &'a str,
}

/// The sorted names of the members of the server room `key`, on every node (each connection's
/// label is its name).
pub async fn member_names(server: &Server, key: &str) -> Vec<String> {
    let mut names: Vec<String> = server
        .rooms()
        .cluster_members(key)
        .await
        .into_iter()
        .filter_map(|m| m.label.map(|l| l.to_string()))
        .collect();
    names.sort_unstable();
    names
}

/// How many members of the server room `key` a broadcast that reached `local` of this node's
/// reached in all: `local` plus the members on the other nodes (asked, within the cluster's
/// query timeout). On one node, just `local`.
pub async fn delivered_in_cluster(server: &Server, key: &str, local: usize) -> usize {
    let rooms = server.rooms();
    if !rooms.is_clustered() {
        return local;
    }
    let everywhere = rooms.cluster_size(key).await;
    local + everywhere.saturating_sub(rooms.size(key))
}

/// A push that could not be encoded (it cannot happen with these payload types) → `internal`.
fn push_failed(e: &swoft_ws::SendError) -> WsError {
    WsError::internal(e.to_string())
}
