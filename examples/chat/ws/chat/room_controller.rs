//! `room.*`: join, send, leave, members, poll.

use std::time::Duration;

use swoft_ws::AckError;
use swoft_ws::prelude::*;

use super::{
    ChatName, Delivered, Members, PollAnswer, PollArg, PollAsk, PollResult, Presence, RoomArg,
    RoomMessage, RoomReply, SendArg, Tally, check_room, check_text, delivered_in_cluster,
    member_names, push_failed, room_key,
};

/// How long members have to answer a poll when `timeout_ms` is not given.
const POLL_TIMEOUT_MS: u64 = 10_000;

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

    /// `room.poll {"room": R, "question": Q, "options": [...], "timeout_ms": N}` →
    /// `{"room": R, "question": Q, "tallies": [{"option": O, "votes": N}, ...], "refused": N,
    /// "unanswered": N}`. Every member, the caller too, on every node, is asked
    /// `poll.ask {"room": R, "from": NAME, "question": Q, "options": [...]}` and answers
    /// `{"choice": I}`; the reply comes when all have answered or the timeout (default 10 s)
    /// passed. A member whose client refuses (an error answer; `unknown_command` when it does
    /// not handle `poll.ask`) or answers with no valid choice is counted in `refused`, one that
    /// does not answer in time in `unanswered`: neither stops the poll. Not a member →
    /// `forbidden`.
    #[message_mapping("poll", errors = ["forbidden"])]
    async fn poll(
        Data(arg): Data<PollArg>,
        Session(name): Session<ChatName>,
        conn: &Connection,
    ) -> Result<PollResult, WsError> {
        check_room(&arg.room)?;
        check_poll(&arg)?;
        let key = room_key(&arg.room);
        let server = conn.server();
        if !server.rooms().contains(&key, conn.fd()) {
            return Err(WsError::forbidden("join the room first"));
        }
        let ask = PollAsk {
            room: &arg.room,
            from: &name.0,
            question: &arg.question,
            options: &arg.options,
        };
        let timeout = Duration::from_millis(arg.timeout_ms.unwrap_or(POLL_TIMEOUT_MS));
        let answers = server
            .room(&key)
            .request_within::<PollAnswer, _>("poll.ask", &ask, timeout)
            .await
            .map_err(|e| WsError::internal(e.to_string()))?;
        let mut votes = vec![0; arg.options.len()];
        let (mut refused, mut unanswered) = (0, 0);
        for (_, answer) in answers {
            match answer {
                Ok(PollAnswer { choice }) if choice < votes.len() => votes[choice] += 1,
                // An error answer, or one that is not `{"choice": I}` with I an option's index.
                Ok(_) | Err(AckError::Rejected { .. } | AckError::Decode(_)) => refused += 1,
                // No answer in time, a connection closed first, or one that could not be asked
                // (its queue full, too many requests waiting).
                Err(_) => unanswered += 1,
            }
        }
        let tallies = arg
            .options
            .into_iter()
            .zip(votes)
            .map(|(option, votes)| Tally { option, votes })
            .collect();
        Ok(PollResult {
            room: arg.room,
            question: arg.question,
            tallies,
            refused,
            unanswered,
        })
    }
}

/// A poll's question is 1–4096 characters, its options 2–10 of 1–64 characters, its timeout
/// 1–60000 ms.
fn check_poll(arg: &PollArg) -> Result<(), WsError> {
    if arg.question.is_empty() {
        return Err(WsError::invalid_data("`question` must not be empty"));
    }
    check_text(&arg.question)?;
    let option_ok = |o: &String| !o.is_empty() && o.chars().count() <= 64;
    if !(2..=10).contains(&arg.options.len()) || !arg.options.iter().all(option_ok) {
        return Err(WsError::invalid_data(
            "`options` must be 2-10 options of 1-64 characters",
        ));
    }
    if arg.timeout_ms.is_some_and(|t| !(1..=60_000).contains(&t)) {
        return Err(WsError::invalid_data("`timeout_ms` must be 1-60000"));
    }
    Ok(())
}
