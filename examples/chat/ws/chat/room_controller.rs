//! `room.*`: join, send, leave, members.

use swoft_ws::prelude::*;

use super::{
    ChatName, Delivered, Members, Presence, RoomArg, RoomMessage, RoomReply, SendArg, check_room,
    check_text, delivered_in_cluster, member_names, push_failed, room_key,
};

/// Rooms of `/chat`: every reply carries the request's `id`.
#[derive(Debug, Default)]
pub struct RoomController;

#[ws_controller(prefix = "room")]
impl RoomController {
    /// `room.join {"room": R}` → `{"room": R, "members": [...]}` (sorted, with the caller, from
    /// every node); the other members get `room.joined {"room": R, "name": NAME}`. Joining
    /// again changes nothing and notifies nobody.
    #[message_mapping("join", errors = ["too_many_rooms"])]
    async fn join(
        Data(arg): Data<RoomArg>,
        Session(name): Session<ChatName>,
        conn: &Connection,
    ) -> Result<Members, WsError> {
        check_room(&arg.room)?;
        let key = room_key(&arg.room);
        if conn.join(&key)? {
            let joined = Presence {
                room: &arg.room,
                name: &name.0,
            };
            conn.server()
                .room(&key)
                .except(conn.fd())
                .push("room.joined", &joined)
                .map_err(|e| push_failed(&e))?;
        }
        let members = member_names(conn.server(), &key).await;
        Ok(Members {
            room: arg.room,
            members,
        })
    }

    /// `room.send {"room": R, "text": T}` → `{"delivered": N}`; the other members, on every
    /// node, get `room.message {"room": R, "from": NAME, "text": T}`. Not a member →
    /// `forbidden`. N counts this node's members whose queue took it plus the members on other
    /// nodes (see [`delivered_in_cluster`]).
    #[message_mapping("send", errors = ["forbidden"])]
    async fn send(
        Data(arg): Data<SendArg>,
        Session(name): Session<ChatName>,
        conn: &Connection,
    ) -> Result<Delivered, WsError> {
        check_room(&arg.room)?;
        check_text(&arg.text)?;
        let key = room_key(&arg.room);
        let server = conn.server();
        if !server.rooms().contains(&key, conn.fd()) {
            return Err(WsError::forbidden("join the room first"));
        }
        let msg = RoomMessage {
            room: &arg.room,
            from: &name.0,
            text: &arg.text,
        };
        let d = server
            .room(&key)
            .except(conn.fd())
            .push("room.message", &msg)
            .map_err(|e| push_failed(&e))?;
        // The sender is a member here, not elsewhere: the other nodes' members are all others.
        let delivered = delivered_in_cluster(server, &key, d.delivered).await;
        Ok(Delivered { delivered })
    }

    /// `room.leave {"room": R}` → `{"room": R}`; the other members get
    /// `room.left {"room": R, "name": NAME}`. Leaving a room one is not in changes nothing and
    /// notifies nobody.
    #[message_mapping("leave")]
    fn leave(
        Data(arg): Data<RoomArg>,
        Session(name): Session<ChatName>,
        conn: &Connection,
    ) -> Result<RoomReply, WsError> {
        check_room(&arg.room)?;
        let key = room_key(&arg.room);
        if conn.leave(&key) {
            let left = Presence {
                room: &arg.room,
                name: &name.0,
            };
            conn.server()
                .room(&key)
                .push("room.left", &left)
                .map_err(|e| push_failed(&e))?;
        }
        Ok(RoomReply { room: arg.room })
    }

    /// `room.members {"room": R}` → `{"room": R, "members": [...]}` (sorted, from every node;
    /// empty for a room nobody is in). Anyone may ask.
    #[message_mapping("members")]
    async fn members(Data(arg): Data<RoomArg>, server: &Server) -> Result<Members, WsError> {
        check_room(&arg.room)?;
        let members = member_names(server, &room_key(&arg.room)).await;
        Ok(Members {
            room: arg.room,
            members,
        })
    }
}
