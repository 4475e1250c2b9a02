//! `/chat?name=NAME`: named connections that join rooms, talk in them and whisper to each
//! other. The commands are served by [`RoomController`] (`room.*`) and [`ChatController`]
//! (`chat.*`); this file holds the module and its lifecycle hooks.

use std::sync::Arc;

use swoft_ws::prelude::*;

use super::chat::{ChatController, ChatName, Presence, RoomController, public_room};

/// Serves `/chat` with the JSON protocol.
///
/// The handshake needs `?name=NAME`, 1–32 characters of `[A-Za-z0-9_-]` (names need not be
/// unique); anything else is refused with HTTP 400 and no upgrade.
///
/// Sessions are resumable (`recovery`: a dropped client reconnects with
/// `?name=NAME&resume=TOKEN&off=OFFSET` within 2 minutes and gets the pushes it missed; README,
/// "Reconnects and missed messages").
///
/// permessage-deflate (RFC 7692) with the defaults: a browser's offer is accepted, messages
/// from 256 bytes go compressed, and a room's broadcast is compressed once for all members.
#[ws_module(
    path = "/chat",
    controllers = [RoomController, ChatController],
    recovery,
    compression = deflate
)]
#[derive(Debug)]
pub struct ChatModule;

/// Whether `name` is 1–32 characters of `[A-Za-z0-9_-]`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[ws_module]
impl ChatModule {
    /// Accepts `?name=NAME` with a valid name, and keeps the name as session data.
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> Result<Accept, Reject> {
        match req.query_param("name") {
            Some(name) if valid_name(&name) => Ok(Accept::new().with(ChatName(Arc::from(&*name)))),
            Some(_) => Err(Reject::bad_request(
                "`name` must be 1-32 characters of A-Z, a-z, 0-9, `_` and `-`",
            )),
            None => Err(Reject::bad_request("`name` is required: /chat?name=NAME")),
        }
    }

    /// Labels the connection with its name: what member lists show and whispers look up, on
    /// every node (the runtime forgets the label when the connection closes). A session
    /// resumed after a drop is back in its rooms: their other members get `room.joined`, as
    /// they got `room.left` when it dropped. A take-over never left: no notice.
    #[on_open]
    fn open(conn: &Connection) {
        if let Some(name) = conn.get::<ChatName>() {
            conn.set_label(&name.0);
            if conn.session_start() == SessionStart::Resumed {
                tell_rooms(conn, &name.0, "room.joined");
            }
        }
    }

    /// Tells the other members of each of its rooms, on every node, that it left (the runtime
    /// removes it from the rooms after this hook) — unless a resume on a new connection took
    /// its session over, which stays in the rooms.
    #[on_close]
    fn close(conn: &Connection, info: &CloseInfo) {
        if info.session == SessionEnd::TakenOver {
            return;
        }
        if let Some(name) = conn.get::<ChatName>() {
            tell_rooms(conn, &name.0, "room.left");
        }
    }
}

/// Pushes `command` (`room.joined` or `room.left`) about `name` to the other members of each
/// public room of `conn`.
fn tell_rooms(conn: &Connection, name: &str, command: &str) {
    let server = conn.server();
    for key in conn.rooms() {
        if let Some(room) = public_room(&key) {
            let _ = server
                .room(&key)
                .except(conn.fd())
                .push(command, &Presence { room, name });
        }
    }
}
