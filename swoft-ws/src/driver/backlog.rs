//! What the read loop reads while the connection's handlers are all busy (one at `concurrency`
//! 1, or the module's `concurrency`): answers to the server's requests (`$ack`) are routed at
//! once, so a handler that awaits its own client's answer is answered; pings are answered;
//! other messages are held, in order, and handled once a handler is free.
//!
//! An answer is read behind up to [`BACKLOG`] held messages: reading goes on while at most
//! that many are held, so one more frame is read then (routed if it is a `$ack`, else held as
//! the last), and pauses with `BACKLOG + 1` held until a handler finishes (a `$ack` sent after
//! more than `BACKLOG` other messages is not read in time: its request times out). The
//! client's close frame, or the socket's end, stops reading too: the
//! connection's waiting requests fail with `Closed` at once (the client can no longer answer),
//! and the end is handled after the held messages, as it would have been before. Nothing is
//! allocated until a frame arrives while a handler waits.

use std::collections::VecDeque;

use crate::runtime::connection::Connection;
use crate::ws::RawMessage;
use crate::ws::codec::Incoming;
use crate::ws::outbound::OutboundRx;
use crate::ws::transport::Event;

/// Messages an answer may come behind and still be read while handlers are busy (README:
/// "behind more than 16 other messages comes too late"); reading pauses once one more is held.
pub(crate) const BACKLOG: usize = 16;

/// The next thing to handle from the backlog.
pub(super) enum Popped {
    Message(RawMessage),
    /// The client's close, a violation, or the socket's end: after every held message.
    End(Event),
}

/// Frames read while the handlers were busy (nothing allocated while there are none).
#[derive(Default)]
pub(super) struct Backlog(Option<Box<Inner>>);

#[derive(Default)]
struct Inner {
    messages: VecDeque<RawMessage>,
    end: Option<Event>,
}

impl Backlog {
    /// Whether reading may go on while the handlers are busy.
    pub(super) fn has_room(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|b| b.end.is_none() && b.messages.len() <= BACKLOG)
    }

    /// The next held message, then the end; `None` when there is nothing (and the memory is
    /// given back).
    pub(super) fn pop(&mut self) -> Option<Popped> {
        let inner = self.0.as_mut()?;
        let next = match inner.messages.pop_front() {
            Some(m) => Some(Popped::Message(m)),
            None => inner.end.take().map(Popped::End),
        };
        if next.is_none() || (inner.messages.is_empty() && inner.end.is_none()) {
            self.0 = None;
        }
        next
    }

    fn inner(&mut self) -> &mut Inner {
        self.0.get_or_insert_with(Box::default)
    }

    /// Takes a frame read while the handlers were busy: a `$ack` routed now, a ping answered,
    /// a message held, the end kept. True if it may have woken a waiting handler (an answer
    /// routed, the end).
    pub(super) fn absorb(&mut self, conn: &Connection, rx: &OutboundRx, ev: Event) -> bool {
        let frame = match ev {
            Event::Frame(Incoming::Text(t)) => RawMessage::Text(crate::ws::Utf8Bytes::from_wire(t)),
            Event::Frame(Incoming::Binary(b)) => RawMessage::Binary(b),
            Event::Frame(Incoming::Ping(p)) => {
                if !conn.is_closing() {
                    rx.push_pong(&p);
                }
                return false;
            }
            Event::Frame(Incoming::Pong(_)) => return false,
            Event::Violation(v) => {
                // Logged when it is handled, after the held messages (`read::read_frame`).
                conn.force_close(v.code, v.reason);
                self.inner().end = Some(ev);
                return true;
            }
            end => {
                // The client closed or vanished: it can no longer answer.
                conn.server().acks().close(conn.id());
                self.inner().end = Some(end);
                return true;
            }
        };
        if may_be_ack(&frame) {
            let decoded = conn.module().parser.decode(&frame);
            if decoded
                .as_ref()
                .is_ok_and(|d| crate::driver::message::is_ack(d, &frame))
            {
                crate::runtime::ack::receive(conn, &frame);
                return true;
            }
        }
        // Decoded when it is handled: once, as any message.
        self.inner().messages.push_back(frame);
        false
    }
}

/// Whether the frame holds the bytes `$ack` (its command unescaped, as every JSON encoder
/// writes it): only such a frame is decoded here, so a held message is decoded once, when it
/// is handled. (A `$ack` whose `$` is escaped, `\u0024ack`, is still an answer: routed when it
/// is handled, after the messages held before it.)
fn may_be_ack(frame: &RawMessage) -> bool {
    let bytes: &[u8] = match frame {
        RawMessage::Text(t) => t.as_str().as_bytes(),
        RawMessage::Binary(b) => b,
    };
    let needle = crate::protocol::ACK_COMMAND.as_bytes();
    bytes.windows(needle.len()).any(|w| w == needle)
}
